//! `mapred`: submits MapReduce jobs to the resource manager and follows
//! them; lists, shows, kills jobs and prints their logs. In a container
//! (`$TUSK_MR_ROLE`, or the hidden `__am` / `__task` subcommands) it is the
//! application master or a task of a built-in job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tusk_client::{ClientConfig, DfsClient};
use tusk_mapreduce::am::container::builtin_container_main;
use tusk_mapreduce::am::submit::{Session, SubmitOptions};
use tusk_mapreduce::engine::api::JobConf;
use tusk_mapreduce::engine::jobs::JobRegistry;
use tusk_mapreduce::yarn::client::{rm_address, RmClient};

#[derive(Parser, Debug)]
#[command(
    name = "mapred",
    about = "Run MapReduce jobs on a Tusk cluster",
    after_help = "Hadoop settings go in -D KEY=VALUE (e.g. -D mapreduce.job.reduces=4)."
)]
struct Cli {
    /// Resource manager RPC address (else TUSK_RM, else 127.0.0.1:8032).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    rm: Option<String>,
    /// Namenode RPC address (else TUSK_NAMENODE, else the config file, else 127.0.0.1:9000).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    namenode: Option<String>,
    /// User to act as (else TUSK_USER, else the login name).
    #[arg(long, global = true)]
    user: Option<String>,
    /// A job setting, repeatable (Hadoop key names).
    #[arg(short = 'D', global = true, value_name = "KEY=VALUE")]
    define: Vec<String>,
    /// Submit and print the job id without waiting for the job.
    #[arg(long, global = true)]
    detach: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Counts words: IN... OUT.
    Wordcount {
        #[arg(required = true, value_name = "IN... OUT", allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Counts the matches of REGEX: IN OUT REGEX.
    Grep {
        #[arg(
            required = true,
            value_name = "IN OUT REGEX",
            allow_hyphen_values = true
        )]
        args: Vec<String>,
    },
    /// Sorts lines: IN... OUT.
    Sort {
        #[arg(required = true, value_name = "IN... OUT", allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Generates ROWS 100-byte rows: ROWS OUT.
    Teragen {
        #[arg(required = true, value_name = "ROWS OUT")]
        args: Vec<String>,
    },
    /// Sorts teragen output in total order: IN OUT.
    Terasort {
        #[arg(required = true, value_name = "IN OUT")]
        args: Vec<String>,
    },
    /// Checks terasort output: IN OUT.
    Teravalidate {
        #[arg(required = true, value_name = "IN OUT")]
        args: Vec<String>,
    },
    /// Analyses web server and syslog logs: IN... OUT [--format F] [--top N]
    /// [--bucket 1h|5m|1d] [--json-fields time=NAME,...] [--year YYYY]
    /// [--report FILE.html]; TSV sections under OUT, a summary on stdout.
    Loganalysis {
        #[arg(required = true, value_name = "IN... OUT", allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Hadoop Streaming: -input IN -output OUT -mapper CMD [-combiner CMD]
    /// [-reducer CMD|NONE] [-file F] [-files F,G#ALIAS] [-archives A.tgz]
    /// [-cmdenv N=V] [-numReduceTasks N] [-D k=v]... (`mapred streaming -help`).
    Streaming {
        #[arg(
            value_name = "OPTIONS",
            allow_hyphen_values = true,
            trailing_var_arg = true
        )]
        args: Vec<String>,
    },
    /// Ships JOB_BINARY (a binary built against tusk-mapreduce) and runs it:
    /// `mapred run ./myjob -- [JOB] [-D k=v]... ARGS`.
    Run {
        binary: PathBuf,
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Running jobs; with --all also finished ones (job history).
    List {
        #[arg(long)]
        all: bool,
    },
    /// A job's state, diagnostics and counters.
    Status { job: String },
    /// Kills a job.
    Kill { job: String },
    /// The stdout and stderr of a job's containers.
    Logs { job: String },
    /// Any other job of the built-in registry: `mapred JOB ARGS...`.
    #[command(external_subcommand)]
    Other(Vec<String>),
    #[command(name = "__am", hide = true)]
    Am,
    #[command(name = "__task", hide = true)]
    Task,
}

fn main() -> ExitCode {
    // TLS first, for the container roles too: containers get the cluster
    // CA from the node manager's TUSK_TLS_CA (an application master serves
    // with a certificate of its own, am/cert.rs); users from TUSK_TLS_CA or
    // the client config.
    let tls = tusk_common::net::tls_with_env(&Default::default());
    if let Err(e) = tusk_common::net::install_tls(&tls)
        .and_then(|()| tusk_client::ClientConfig::from_env().install_tls())
    {
        eprintln!("mapred: {e}");
        return ExitCode::FAILURE;
    }
    // In a container: be what the application master asked for.
    if let Some(code) = builtin_container_main() {
        return code;
    }
    let cli = Cli::parse();
    tusk_common::logging::init("warn");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mapred: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mapred: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Error texts on one line (some causes, e.g. regex errors, span several).
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut cfg = ClientConfig::from_env();
    if let Some(nn) = &cli.namenode {
        cfg = cfg.with_namenode(nn.clone());
    }
    if let Some(u) = &cli.user {
        cfg = cfg.with_user(u.clone());
    }
    let user = cfg.user.clone();
    let mut conf = JobConf::new();
    for kv in &cli.define {
        conf.set_pair(kv)?;
    }
    let rm = RmClient::new(&rm_address(cli.rm.as_deref()), &user)?;
    let dfs = DfsClient::connect(cfg).await?;
    let s = Session { rm, dfs, user };
    let opts = SubmitOptions {
        detach: cli.detach,
        conf,
    };
    let builtin = |name: &str, args: Vec<String>| {
        let mut argv = vec![name.to_string()];
        argv.extend(args);
        argv
    };
    let app_id = match cli.cmd {
        Cmd::Wordcount { args } => s.submit_builtin(builtin("wordcount", args), &opts).await?,
        Cmd::Grep { args } => s.submit_builtin(builtin("grep", args), &opts).await?,
        Cmd::Sort { args } => s.submit_builtin(builtin("sort", args), &opts).await?,
        Cmd::Teragen { args } => s.submit_builtin(builtin("teragen", args), &opts).await?,
        Cmd::Terasort { args } => s.submit_builtin(builtin("terasort", args), &opts).await?,
        Cmd::Teravalidate { args } => {
            s.submit_builtin(builtin("teravalidate", args), &opts)
                .await?
        }
        Cmd::Loganalysis { args } => {
            use tusk_mapreduce::engine::jobs::loganalysis::finish;
            let la = finish::ClientArgs::parse(&args)?;
            let app_id = s
                .submit_builtin(builtin("loganalysis", args), &opts)
                .await?;
            if opts.detach {
                println!("{app_id}");
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("Submitted job {app_id}");
            if !s.follow(&app_id).await? {
                return Ok(ExitCode::FAILURE);
            }
            print!("{}", finish::finish(&s.dfs, &la).await?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Streaming { args } => {
            let code = tusk_mapreduce::streaming::submit::run(
                &s,
                &args,
                opts.conf.clone(),
                opts.detach,
                "mapred",
            )
            .await;
            return Ok(ExitCode::from(code));
        }
        Cmd::Run { binary, args } => s.submit_binary(&binary, args, &opts).await?,
        Cmd::List { all } => {
            print!("{}", s.list(all).await?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Status { job } => {
            print!("{}", s.status(&job).await?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Kill { job } => {
            s.kill(&job).await?;
            eprintln!("Killed job {job}");
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Logs { job } => {
            print!("{}", s.logs(&job).await?);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Other(argv) => {
            let registry = JobRegistry::builtin();
            match argv.first() {
                Some(job) if registry.get(job).is_some() => s.submit_builtin(argv, &opts).await?,
                Some(other) => anyhow::bail!(
                    "{other}: unknown command or job (jobs: {}; see mapred --help)",
                    registry.names().join(", ")
                ),
                None => anyhow::bail!("no command given (see mapred --help)"),
            }
        }
        Cmd::Am | Cmd::Task => unreachable!("dispatched before parsing"),
    };
    if opts.detach {
        println!("{app_id}");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("Submitted job {app_id}");
    Ok(if s.follow(&app_id).await? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
