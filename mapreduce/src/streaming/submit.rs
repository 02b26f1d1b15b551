//! The client side of a streaming job, shared by `mapred streaming` and
//! `hadoop jar hadoop-streaming.jar`: checks the command line and the
//! paths, ships `-file`/`-files`/`-archives`, submits the built-in
//! `streaming` job and follows it. Its output files are Hadoop
//! Streaming's `part-NNNNN` (the job sets `tusk.output.old.part.names`).
//!
//! Exit status as Hadoop Streaming's `StreamJob`: 0 success, 1 bad
//! arguments or a failed job, 4 output directory exists, 5 the job could
//! not be launched (e.g. an input path does not exist).

use std::path::PathBuf;

use super::options::{self, StreamingOptions};
use super::JOB_NAME;
use crate::am::submit::{Session, ShipFile, ShipSource, SubmitOptions};
use crate::engine::api::JobConf;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Bad arguments, or the job failed.
pub const EXIT_FAILED: u8 = 1;
/// The output directory exists.
pub const EXIT_OUTPUT_EXISTS: u8 = 4;
/// The job could not be launched.
pub const EXIT_LAUNCH: u8 = 5;

/// A failure: exit status and the one-line message.
struct Fail(u8, String);

/// Runs the streaming command line `args` (generic and streaming options)
/// on the cluster of `session`, with `conf` (settings given before them)
/// underneath. Prints progress, counters and errors (`PROG: …`) on
/// stderr; returns the exit status.
pub async fn run(
    session: &Session,
    args: &[String],
    conf: JobConf,
    detach: bool,
    prog: &str,
) -> u8 {
    match run_inner(session, args, conf, detach).await {
        Ok(code) => code,
        Err(Fail(code, msg)) => {
            eprintln!("{prog}: {msg}");
            code
        }
    }
}

async fn run_inner(
    session: &Session,
    args: &[String],
    conf: JobConf,
    detach: bool,
) -> Result<u8, Fail> {
    let bad = |e: &dyn std::fmt::Display| Fail(EXIT_FAILED, e.to_string());
    let opts = options::parse_args(args).map_err(|e| bad(&e))?;
    if opts.help {
        print!("{}", options::USAGE);
        return Ok(EXIT_OK);
    }
    opts.validate().map_err(|e| bad(&e))?;
    let mut job_conf = conf.clone();
    opts.apply(&mut job_conf).map_err(|e| bad(&e))?;
    let dfs = &session.dfs;
    let launch = |e: &dyn std::fmt::Display| Fail(EXIT_LAUNCH, format!("Error launching job: {e}"));
    for input in opts.input_paths() {
        if dfs.glob(&input).await.map_err(|e| launch(&e))?.is_empty() {
            return Err(Fail(
                EXIT_LAUNCH,
                format!("{input}: Input path does not exist"),
            ));
        }
    }
    let output = opts.output_path().unwrap_or_default();
    let out_abs = dfs.resolve(&output).map_err(|e| bad(&e))?;
    if dfs.exists(&out_abs).await.map_err(|e| launch(&e))? {
        return Err(Fail(
            EXIT_OUTPUT_EXISTS,
            format!("{output}: Output directory already exists"),
        ));
    }
    let ship = ship_files(session, &opts).await?;
    let mut argv = vec![JOB_NAME.to_string()];
    argv.extend(args.iter().cloned());
    let submit = SubmitOptions { detach, conf };
    let app_id = session
        .submit_builtin_shipping(argv, &submit, &ship)
        .await
        .map_err(|e| launch(&format!("{e:#}")))?;
    if detach {
        println!("{app_id}");
        return Ok(EXIT_OK);
    }
    eprintln!("Submitted job {app_id}");
    let ok = session
        .follow(&app_id)
        .await
        .map_err(|e| Fail(EXIT_FAILED, format!("{app_id}: {e:#}")))?;
    if !ok {
        return Ok(EXIT_FAILED);
    }
    eprintln!("Output directory: {output}");
    Ok(EXIT_OK)
}

/// The files and archives to localize, checked: each exists, is a file,
/// and names are unique.
async fn ship_files(session: &Session, opts: &StreamingOptions) -> Result<Vec<ShipFile>, Fail> {
    let fail = |m: String| Fail(EXIT_FAILED, m);
    let mut out: Vec<ShipFile> = Vec::new();
    let all = opts
        .files
        .iter()
        .map(|f| (f, false))
        .chain(opts.archives.iter().map(|a| (a, true)));
    for (spec, archive) in all {
        if out.iter().any(|f| f.name == spec.name) || spec.name == "job" {
            return Err(fail(format!(
                "{}: a second file named {:?} in the working directory",
                spec.source, spec.name
            )));
        }
        let (source, executable) = match spec.dfs_path() {
            Some(p) => {
                let st = session
                    .dfs
                    .get_file_info(&p)
                    .await
                    .map_err(|e| fail(format!("{}: {}", spec.source, e)))?
                    .ok_or_else(|| fail(format!("{}: No such file or directory", spec.source)))?;
                if !st.is_file() {
                    return Err(fail(format!("{}: not a file", spec.source)));
                }
                (ShipSource::Dfs(st.path.clone()), st.permission & 0o111 != 0)
            }
            None => {
                let path = PathBuf::from(&spec.source);
                let meta = std::fs::metadata(&path).map_err(|e| {
                    let cause = if e.kind() == std::io::ErrorKind::NotFound {
                        "No such file or directory".to_string()
                    } else {
                        e.to_string()
                    };
                    fail(format!("{}: {cause}", spec.source))
                })?;
                if meta.is_dir() {
                    return Err(fail(format!(
                        "{}: is a directory (ship a directory as a tar archive with -archives)",
                        spec.source
                    )));
                }
                use std::os::unix::fs::PermissionsExt;
                let exec = meta.permissions().mode() & 0o111 != 0;
                (ShipSource::Local(path), exec)
            }
        };
        out.push(ShipFile {
            source,
            name: spec.name.clone(),
            executable: executable && !archive,
            archive,
        });
    }
    Ok(out)
}
