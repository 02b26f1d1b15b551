//! Entry points of a job binary.
//!
//! A user's own job is a crate depending on `tusk-mapreduce` with a
//! `main` like:
//!
//! ```no_run
//! use std::sync::Arc;
//! use tusk_mapreduce::engine::api::{Context, Job, JobConf, Mapper};
//! use tusk_mapreduce::engine::jobs::JobRegistry;
//! use tusk_mapreduce::engine::Result;
//!
//! struct Upper;
//! struct UpperMapper;
//! impl Mapper for UpperMapper {
//!     fn map(&mut self, _k: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
//!         ctx.emit(&line.to_ascii_uppercase(), b"")
//!     }
//! }
//! impl Job for Upper {
//!     fn name(&self) -> &str { "upper" }
//!     fn mapper(&self, _c: &JobConf) -> Result<Box<dyn Mapper>> { Ok(Box::new(UpperMapper)) }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let mut jobs = JobRegistry::new();
//!     jobs.register(Arc::new(Upper));
//!     tusk_mapreduce::job_main(jobs)
//! }
//! ```
//!
//! `./upper [-D key=value]… IN… OUT` then runs the job (the job name may
//! be given first; it is required when the registry holds several jobs),
//! and `mapred run ./upper -- IN OUT` runs it on the cluster.
//! [`tusk_mapreduce::job_main`](crate::job_main) adds the container roles
//! (application master, task: [`run_task_main`]) to [`run_job_main`],
//! which runs the job's attempts in this process through the
//! [`LocalLauncher`] against the cluster named by `TUSK_NAMENODE`.
//! `examples/inverted-index` in the repository is a whole job crate.

use std::process::ExitCode;
use std::sync::Arc;

use tusk_client::{ClientConfig, DfsClient};

use super::api::JobConf;
use super::driver::{run_job, JobOptions, JobReport};
use super::error::{EngineError, Result};
use super::jobs::JobRegistry;
use super::local::LocalLauncher;
use super::task::{run_task, TaskReport, TaskSpec, TaskStatus, Umbilical};

/// Parsed command line: job name, `-D` settings and the job's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobArgs {
    pub job: String,
    pub conf: JobConf,
    pub args: Vec<String>,
}

/// `[JOB] [-D k=v | -Dk=v]… ARGS…`; the job name may be omitted when the
/// registry has one job.
pub fn parse_job_args(registry: &JobRegistry, argv: &[String]) -> Result<JobArgs> {
    let names = registry.names();
    let mut rest = argv;
    let job = match rest.first() {
        Some(first) if registry.get(first).is_some() => {
            rest = &rest[1..];
            first.clone()
        }
        _ if names.len() == 1 => names[0].to_string(),
        _ => {
            return Err(EngineError::Config(format!(
                "usage: <job> [-D key=value]... <args>; jobs: {}",
                names.join(", ")
            )))
        }
    };
    let mut conf = JobConf::new();
    let mut args = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        if a == "-D" {
            let kv = rest
                .get(i + 1)
                .ok_or_else(|| EngineError::Config("-D needs key=value".into()))?;
            conf.set_pair(kv)?;
            i += 2;
        } else if let Some(kv) = a.strip_prefix("-D").filter(|kv| kv.contains('=')) {
            conf.set_pair(kv)?;
            i += 1;
        } else {
            args.push(a.clone());
            i += 1;
        }
    }
    Ok(JobArgs { job, conf, args })
}

/// Runs a job from parsed arguments on the cluster `client` talks to,
/// printing progress (` map 45% reduce 0%`) to stderr.
pub async fn run_job_cli(
    client: DfsClient,
    registry: JobRegistry,
    a: JobArgs,
) -> Result<JobReport> {
    let job = registry
        .get(&a.job)
        .ok_or_else(|| EngineError::Config(format!("unknown job {:?}", a.job)))?;
    let mut conf = a.conf;
    let paths = job.configure(&a.args, &mut conf)?;
    let dir = std::env::temp_dir().join(format!("tusk-local-{}", std::process::id()));
    let slots = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let launcher = LocalLauncher::for_cluster(client.clone(), registry, &dir, slots).await?;
    let opts = JobOptions::new().with_progress(|p| {
        eprintln!(" map {:.0}% reduce {:.0}%", p.map * 100.0, p.reduce * 100.0);
    });
    let app_id = opts.app_id.clone();
    let report = run_job(&client, job, conf, &paths, Arc::new(launcher.clone()), opts).await;
    launcher.cleanup_app(&app_id);
    let _ = std::fs::remove_dir_all(&dir);
    report
}

/// The `main` of a job binary (see the module docs). Exit status 0 when
/// the job succeeded, 1 otherwise, with a one-line reason on stderr.
pub fn run_job_main(registry: JobRegistry) -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("job: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let res = rt.block_on(async {
        let a = parse_job_args(&registry, &argv)?;
        let client = DfsClient::connect(ClientConfig::from_env()).await?;
        run_job_cli(client, registry, a).await
    });
    match res {
        Ok(report) => {
            eprint!("{}", report.counters.render());
            if report.succeeded {
                eprintln!("Job {} completed successfully", report.app_id);
                ExitCode::SUCCESS
            } else {
                eprintln!("Job {} failed: {}", report.app_id, report.diagnostics);
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("job: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Environment variable naming the application's local directory in a
/// container (map outputs go to `$TUSK_APP_LOCAL_DIR/output/<attempt>/`).
pub const APP_LOCAL_DIR_ENV: &str = "TUSK_APP_LOCAL_DIR";

/// The in-container entry: runs the attempt described by `spec_json`
/// (a [`TaskSpec`] as JSON) with the job from `registry`, reporting to
/// `umbilical` (the application master's RPC client). `local_dir` is taken
/// from `$TUSK_APP_LOCAL_DIR` when set.
pub async fn run_task_main(
    spec_json: &str,
    registry: &JobRegistry,
    umbilical: Arc<dyn Umbilical>,
) -> Result<TaskReport> {
    let mut spec = TaskSpec::from_json(spec_json)?;
    // In a container the node manager names the application's local dir.
    if let Some(dir) = std::env::var_os(APP_LOCAL_DIR_ENV) {
        spec.local_dir = dir.into();
    }
    let job = registry
        .get(&spec.job)
        .ok_or_else(|| EngineError::Config(format!("unknown job {:?}", spec.job)))?;
    let client = DfsClient::connect(
        ClientConfig::from_env()
            .with_namenode(spec.namenode.clone())
            .with_user(spec.user.clone()),
    )
    .await?;
    let report = run_task(spec, job, client, umbilical).await;
    if report.status == TaskStatus::Failed {
        tracing::warn!(attempt = %report.attempt, "{}", report.diagnostics);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_job_name_and_settings() {
        let reg = JobRegistry::builtin();
        let a = parse_job_args(
            &reg,
            &v(&[
                "wordcount",
                "-D",
                "mapreduce.job.reduces=3",
                "/in",
                "-Dx=y",
                "/out",
            ]),
        )
        .unwrap();
        assert_eq!(a.job, "wordcount");
        assert_eq!(a.args, v(&["/in", "/out"]));
        assert_eq!(a.conf.get("mapreduce.job.reduces"), Some("3"));
        assert_eq!(a.conf.get("x"), Some("y"));
        let e = parse_job_args(&reg, &v(&["nosuch", "/in", "/out"])).unwrap_err();
        assert!(e.to_string().contains("wordcount"), "{e}");
        assert!(parse_job_args(&reg, &v(&["wordcount", "-D"])).is_err());
        // One job: the name may be left out.
        let mut one = JobRegistry::new();
        one.register(Arc::new(crate::engine::jobs::wordcount::WordCount));
        let a = parse_job_args(&one, &v(&["/in", "/out"])).unwrap();
        assert_eq!(a.job, "wordcount");
    }
}
