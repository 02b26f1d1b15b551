//! `hadoop`: the command that tools written for Hadoop drive, on Tusk.
//!
//! - `hadoop version`
//! - `hadoop fs|dfs ARGS…`: the `dfs` shell (same commands and flags as
//!   Hadoop's `FsShell`), with `hdfs://HOST:PORT/path` and `webhdfs://…`
//!   URIs accepted wherever a path goes.
//! - `hadoop jar PATH/hadoop-streaming*.jar [GENERIC] STREAMING_OPTIONS…`:
//!   a Hadoop Streaming job (any jar whose name contains `streaming`).
//!   Other jars fail with a clear message: Tusk runs no Java.
//!
//! In a container (`$TUSK_MR_ROLE`, or `__am` / `__task`) it is the
//! application master or a task of a job it submitted, as `mapred` is.

use std::process::ExitCode;

use tusk_client::{ClientConfig, DfsClient};
use tusk_mapreduce::am::container::builtin_container_main;
use tusk_mapreduce::am::submit::Session;
use tusk_mapreduce::engine::api::JobConf;
use tusk_mapreduce::streaming::options::{fs_uri_authority, is_dfs_uri, strip_fs_uri};
use tusk_mapreduce::yarn::client::{rm_address, RmClient};

/// The Hadoop release whose command line this mirrors (tools parse
/// `hadoop version`'s first line as `Hadoop X.Y.Z`).
const HADOOP_COMPAT: &str = "3.3.6";

/// `RunJar`'s status for a jar it cannot run (-1).
const EXIT_BAD_JAR: u8 = 255;

const USAGE: &str = "\
Usage: hadoop [--config DIR] COMMAND [ARGS...]
  version                          print the version
  fs | dfs ARGS...                 the file system shell (see `hadoop fs -help`)
  jar hadoop-streaming*.jar ARGS   run a Hadoop Streaming job (see `hadoop jar hadoop-streaming.jar -help`)
Paths may be plain DFS paths or hdfs://HOST:PORT/path and webhdfs://HOST:PORT/path URIs.
";

fn main() -> ExitCode {
    // TLS first, for the container roles too: containers get the cluster
    // CA from the node manager's TUSK_TLS_CA (an application master serves
    // with a certificate of its own, am/cert.rs); users from TUSK_TLS_CA or
    // the client config.
    let tls = tusk_common::net::tls_with_env(&Default::default());
    if let Err(e) = tusk_common::net::install_tls(&tls)
        .and_then(|()| tusk_client::ClientConfig::from_env().install_tls())
    {
        eprintln!("hadoop: {e}");
        return ExitCode::FAILURE;
    }
    // In a container: be what the application master asked for.
    if let Some(code) = builtin_container_main() {
        return code;
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Options of the hadoop script itself that mean nothing here.
    while let Some(a) = args.first() {
        match a.as_str() {
            "--config" | "--loglevel" | "--hosts" | "--hostnames" | "--workers" => {
                args.drain(..args.len().min(2));
            }
            "--debug" | "--daemon" => {
                args.remove(0);
            }
            _ => break,
        }
    }
    let Some(cmd) = args.first().cloned() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let rest = args[1..].to_vec();
    match cmd.as_str() {
        "version" => {
            println!("Hadoop {HADOOP_COMPAT}");
            println!(
                "Tusk {}: Hadoop-compatible `hadoop fs` and `hadoop jar hadoop-streaming.jar`",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        "fs" | "dfs" => fs(rest),
        "jar" => jar(rest),
        "help" | "--help" | "-h" | "-help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("hadoop: {other}: unknown command (Tusk's hadoop runs version, fs, jar)");
            eprint!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("hadoop: cannot start the runtime: {e}");
            None
        }
    }
}

/// Commands whose operands include local paths (`file://` URIs become
/// plain local paths there).
const LOCAL_PATH_COMMANDS: &[&str] = &[
    "put",
    "copyFromLocal",
    "moveFromLocal",
    "get",
    "copyToLocal",
    "getmerge",
    "appendToFile",
];

/// `hadoop fs` arguments as the `dfs` shell takes them: URIs reduced to
/// paths; the namenode of the first `hdfs://HOST:PORT` URI used when none
/// is configured (`-fs`, `$TUSK_NAMENODE`).
fn fs_args(args: Vec<String>, namenode_env: Option<String>) -> Vec<String> {
    let configured = namenode_env.is_some()
        || args.iter().any(|a| {
            a == "-fs"
                || a == "--fs"
                || a.starts_with("--namenode")
                || a.starts_with("-Dfs.defaultFS")
                || a.starts_with("fs.defaultFS=")
        });
    let command = args
        .iter()
        .find(|a| a.starts_with('-') && !a.starts_with("-D") && a.as_str() != "-fs")
        .map(|a| a.trim_start_matches('-').to_string())
        .unwrap_or_default();
    let local = LOCAL_PATH_COMMANDS.contains(&command.as_str());
    let mut namenode = None;
    let mut out: Vec<String> = Vec::with_capacity(args.len() + 2);
    let mut prev_fs = false;
    for a in args {
        if prev_fs {
            // `-fs hdfs://h:p`: the client takes the URI as it is.
            out.push(a);
            prev_fs = false;
            continue;
        }
        prev_fs = a == "-fs" || a == "--fs";
        if is_dfs_uri(&a) {
            if namenode.is_none() && a.starts_with("hdfs://") {
                namenode = fs_uri_authority(&a);
            }
            out.push(strip_fs_uri(&a));
        } else if local && a.starts_with("file://") {
            out.push(a["file://".len()..].to_string());
        } else {
            out.push(a);
        }
    }
    if let (false, Some(nn)) = (configured, namenode) {
        out.splice(0..0, ["--namenode".to_string(), nn]);
    }
    out
}

fn fs(args: Vec<String>) -> ExitCode {
    tusk_common::logging::init("error");
    let argv = fs_args(args, std::env::var("TUSK_NAMENODE").ok());
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let out = Box::new(std::io::BufWriter::with_capacity(
        1 << 20,
        std::io::stdout(),
    ));
    let code = rt.block_on(tusk_client::shell::run(
        &argv,
        out,
        Box::new(std::io::stderr()),
    ));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn jar(args: Vec<String>) -> ExitCode {
    let Some(jar) = args.first() else {
        eprintln!("hadoop jar: usage: hadoop jar <jar> [mainClass] args...");
        return ExitCode::from(EXIT_BAD_JAR);
    };
    let name = jar.rsplit('/').next().unwrap_or(jar);
    if !name.to_ascii_lowercase().contains("streaming") {
        let is_file = std::fs::metadata(jar).map(|m| m.is_file()).unwrap_or(false);
        if !is_file {
            eprintln!("hadoop: JAR does not exist or is not a normal file: {jar}");
            return ExitCode::from(EXIT_BAD_JAR);
        }
        eprintln!(
            "hadoop: {jar}: Tusk runs no Java code; `hadoop jar` runs only Hadoop Streaming \
             (a jar whose name contains \"streaming\"); built-in jobs run with `mapred`"
        );
        return ExitCode::FAILURE;
    }
    let mut rest = args[1..].to_vec();
    if rest
        .first()
        .map(|a| a.ends_with("HadoopStreaming") || a.ends_with("StreamJob"))
        == Some(true)
    {
        rest.remove(0);
    }
    tusk_common::logging::init("warn");
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let code = rt.block_on(async move {
        let cfg = ClientConfig::from_env();
        let user = cfg.user.clone();
        let rm = match RmClient::new(&rm_address(None), &user) {
            Ok(rm) => rm,
            Err(e) => {
                eprintln!("hadoop: {e}");
                return 1;
            }
        };
        let dfs = match DfsClient::connect(cfg).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("hadoop: {e}");
                return 1;
            }
        };
        let s = Session { rm, dfs, user };
        tusk_mapreduce::streaming::submit::run(&s, &rest, JobConf::new(), false, "hadoop").await
    });
    if code != 0 {
        eprintln!("Streaming Command Failed!");
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fs_arguments_lose_their_uris() {
        assert_eq!(
            fs_args(v(&["-ls", "-R", "hdfs://nn:9000/a/b"]), None),
            v(&["--namenode", "nn:9000", "-ls", "-R", "/a/b"])
        );
        assert_eq!(
            fs_args(v(&["-ls", "hdfs://nn:9000/a"]), Some("x:1".into())),
            v(&["-ls", "/a"])
        );
        assert_eq!(
            fs_args(
                v(&["-put", "file:///tmp/x", "webhdfs://h:9870/y"]),
                Some("x:1".into())
            ),
            v(&["-put", "/tmp/x", "/y"])
        );
        assert_eq!(
            fs_args(v(&["-fs", "hdfs://nn:1", "-cat", "hdfs:///f"]), None),
            v(&["-fs", "hdfs://nn:1", "-cat", "/f"])
        );
    }
}
