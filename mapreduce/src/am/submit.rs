//! The client side of MapReduce on YARN (what `mapred` calls): checks and
//! stages a job, submits its application master, follows its progress,
//! prints its counters; lists, shows, kills jobs and prints their logs.
//!
//! Built-in jobs run the installed `mapred` binary on every node (by its
//! absolute path: the same install on every node); `mapred run` ships the
//! user's binary in the staging directory and the node managers localize it.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use tusk_client::{CreateOptions, DfsClient};

use super::appmaster::{StagedJob, StagedResource};
use super::history::{self, JobHistory};
use super::pb::job_client_client::JobClientClient;
use super::{env, now_ms, pb as mrpb, JOB_FILE, STAGING_ROOT};
use crate::engine::api::JobConf;
use crate::engine::jobs::JobRegistry;
use crate::yarn::client::{is_final, RmClient};
use crate::yarn::pb;

/// Memory of the AM container, MiB (Hadoop's key and default 1536; ours 1024).
pub const AM_MEMORY_MB: &str = "yarn.app.mapreduce.am.resource.mb";
/// AM attempts for this job; 0 = the resource manager's default.
pub const AM_MAX_ATTEMPTS: &str = "mapreduce.am.max-attempts";

/// Who and where: the resource manager, the file system, the user.
pub struct Session {
    pub rm: RmClient,
    pub dfs: DfsClient,
    pub user: String,
}

/// How to submit.
pub struct SubmitOptions {
    /// Return after submission (print the job id) instead of following it.
    pub detach: bool,
    /// `mapred -D` settings.
    pub conf: JobConf,
}

/// A file the tasks of a built-in job need in their working directory
/// (Hadoop Streaming's `-file`, `-files`, `-archives`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipFile {
    pub source: ShipSource,
    /// Its name in the working directory.
    pub name: String,
    /// Localized with mode 755 (else 644).
    pub executable: bool,
    /// A tar archive, unpacked into the directory `name`.
    pub archive: bool,
}

/// Where a shipped file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipSource {
    /// Uploaded from this machine into the job's staging directory.
    Local(std::path::PathBuf),
    /// Already in DFS: localized from there.
    Dfs(String),
}

/// `application_X_Y` from `job_X_Y` or itself.
pub fn app_id_of(job: &str) -> String {
    match job.strip_prefix("job_") {
        Some(rest) => format!("application_{rest}"),
        None => job.to_string(),
    }
}

impl Session {
    /// Checks a built-in job's arguments and paths before anything is
    /// submitted: a missing input or an existing output is an error naming
    /// the path.
    pub async fn check_builtin(&self, argv: &[String], conf: &JobConf) -> anyhow::Result<()> {
        let registry = JobRegistry::builtin();
        let a = crate::engine::main::parse_job_args(&registry, argv)?;
        let job = registry
            .get(&a.job)
            .ok_or_else(|| anyhow!("unknown job {:?}", a.job))?;
        let mut c = conf.clone();
        for (k, v) in a.conf.iter() {
            c.set(k, v);
        }
        let paths = job.configure(&a.args, &mut c)?;
        for input in &paths.inputs {
            if self.dfs.glob(input).await?.is_empty() {
                bail!("{input}: Input path does not exist");
            }
        }
        let out = self.dfs.resolve(&paths.output)?;
        if self.dfs.exists(&out).await? {
            bail!("{}: Output directory already exists", paths.output);
        }
        Ok(())
    }

    /// A fresh staging directory `/tmp/tusk-staging/<user>/<id>`.
    async fn staging_dir(&self) -> anyhow::Result<String> {
        if !self.dfs.exists(STAGING_ROOT).await? {
            self.dfs.mkdirs(STAGING_ROOT, 0o1777, true).await?;
            let _ = self.dfs.set_permission(STAGING_ROOT, 0o1777).await;
        }
        let dir = format!(
            "{STAGING_ROOT}/{}/job_{}_{:04}",
            self.user,
            now_ms(),
            rand::random::<u16>() % 10000
        );
        self.dfs.mkdirs(&dir, 0o700, true).await?;
        Ok(dir)
    }

    async fn write_file(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        let mut w = self
            .dfs
            .create(path, CreateOptions::default().with_overwrite(true))
            .await?;
        w.write_all(data).await?;
        w.close().await?;
        Ok(())
    }

    /// Submits a job run by `program` (the installed `mapred`, or `./job`
    /// with `binary` shipped); returns the application id.
    async fn submit(
        &self,
        argv: Vec<String>,
        opts: &SubmitOptions,
        program: String,
        task_args: Vec<String>,
        binary: Option<&Path>,
        ship: &[ShipFile],
    ) -> anyhow::Result<String> {
        let staging = self.staging_dir().await?;
        let mut resources = Vec::new();
        if let Some(bin) = binary {
            let data = tokio::fs::read(bin)
                .await
                .with_context(|| format!("{}", bin.display()))?;
            let dfs_path = format!("{staging}/job");
            self.write_file(&dfs_path, &data).await?;
            resources.push(StagedResource {
                dfs_path,
                name: "job".into(),
                executable: true,
                archive: false,
            });
        }
        // The application master needs only the job binary.
        let am_resources = resources.clone();
        for f in ship {
            let dfs_path = match &f.source {
                ShipSource::Dfs(p) => p.clone(),
                ShipSource::Local(local) => {
                    let dfs_path = format!("{staging}/files/{}", f.name);
                    let data = tokio::fs::read(local)
                        .await
                        .with_context(|| format!("{}", local.display()))?;
                    let mut w = self
                        .dfs
                        .create(
                            &dfs_path,
                            CreateOptions::default()
                                .with_overwrite(true)
                                .with_create_parent(true),
                        )
                        .await?;
                    w.write_all(&data).await?;
                    w.close().await?;
                    dfs_path
                }
            };
            resources.push(StagedResource {
                dfs_path,
                name: f.name.clone(),
                executable: f.executable,
                archive: f.archive,
            });
        }
        let mut job_env = HashMap::new();
        if let Ok(l) = std::env::var("RUST_LOG") {
            job_env.insert("RUST_LOG".to_string(), l);
        } else {
            job_env.insert(
                "RUST_LOG".to_string(),
                "warn,tusk_mapreduce=info".to_string(),
            );
        }
        // Container logs are files: no terminal colours in them.
        job_env.insert("NO_COLOR".to_string(), "1".to_string());
        let name = argv.first().cloned().unwrap_or_else(|| "job".into());
        let staged = StagedJob {
            argv,
            conf: opts.conf.clone(),
            user: self.user.clone(),
            submit_time_ms: now_ms(),
            task_program: program.clone(),
            task_args,
            resources: resources.clone(),
            env: job_env.clone(),
        };
        self.write_file(
            &format!("{staging}/{JOB_FILE}"),
            &serde_json::to_vec_pretty(&staged)?,
        )
        .await?;
        let mut am_env = job_env;
        am_env.insert(env::ROLE.into(), "am".into());
        am_env.insert(env::STAGING.into(), staging.clone());
        let am_args = if binary.is_some() {
            Vec::new()
        } else {
            vec!["__am".to_string()]
        };
        let sub = pb::ApplicationSubmission {
            name,
            queue: "default".into(),
            user: self.user.clone(),
            app_type: "MAPREDUCE".into(),
            am_spec: Some(pb::LaunchSpec {
                program,
                args: am_args,
                env: am_env,
                resources: am_resources
                    .iter()
                    .map(|r| pb::LocalResource {
                        dfs_path: r.dfs_path.clone(),
                        name: r.name.clone(),
                        executable: r.executable,
                        archive: false,
                    })
                    .collect(),
            }),
            am_resource: Some(pb::Resource {
                memory_mb: opts.conf.get_u64(AM_MEMORY_MB, 1024)?.max(64),
                vcores: 1,
            }),
            max_app_attempts: opts.conf.get_u64(AM_MAX_ATTEMPTS, 0)? as u32,
        };
        match self.rm.submit(sub).await {
            Ok(id) => Ok(id),
            Err(e) => {
                let _ = self.dfs.delete(&staging, true).await;
                Err(e.into())
            }
        }
    }

    /// Submits a built-in job (`argv` = job name, its `-D`s and arguments)
    /// run by this very binary on the nodes.
    pub async fn submit_builtin(
        &self,
        argv: Vec<String>,
        opts: &SubmitOptions,
    ) -> anyhow::Result<String> {
        self.submit_builtin_shipping(argv, opts, &[]).await
    }

    /// [`Session::submit_builtin`] with files for the tasks' working
    /// directories.
    pub async fn submit_builtin_shipping(
        &self,
        argv: Vec<String>,
        opts: &SubmitOptions,
        ship: &[ShipFile],
    ) -> anyhow::Result<String> {
        self.check_builtin(&argv, &opts.conf).await?;
        let exe = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("locating the mapred binary")?;
        self.submit(
            argv,
            opts,
            exe.to_string_lossy().into_owned(),
            vec!["__task".into()],
            None,
            ship,
        )
        .await
    }

    /// Ships `binary` and submits the job its arguments name.
    pub async fn submit_binary(
        &self,
        binary: &Path,
        argv: Vec<String>,
        opts: &SubmitOptions,
    ) -> anyhow::Result<String> {
        let meta = std::fs::metadata(binary).map_err(|e| anyhow!("{}: {}", binary.display(), e))?;
        if !meta.is_file() {
            bail!("{}: not a file", binary.display());
        }
        self.submit(argv, opts, "./job".into(), Vec::new(), Some(binary), &[])
            .await
    }

    /// Follows a job to its end: progress lines (or a bar on a terminal),
    /// then the counters. `Ok(true)` when it succeeded.
    pub async fn follow(&self, app_id: &str) -> anyhow::Result<bool> {
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new(200);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let mut last: Option<(i32, i32)> = None;
        // The AM's address and certificate, and a client of it.
        type Am = (String, String);
        let mut job_client: Option<(Am, JobClientClient<tonic::transport::Channel>)> = None;
        let mut rm_failing: Option<tokio::time::Instant> = None;
        let report = loop {
            // Ride out a resource manager restart for a while.
            let r = match self.rm.report(app_id).await {
                Ok(r) => {
                    rm_failing = None;
                    r
                }
                Err(e) => {
                    let since = *rm_failing.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > Duration::from_secs(30) {
                        return Err(e.into());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if is_final(r.state()) {
                break r;
            }
            let mut progress = None;
            if r.state() == pb::AppState::Running && !r.am_rpc_addr.is_empty() {
                let am = (r.am_rpc_addr.clone(), r.am_cert_pem.clone());
                if job_client.as_ref().map(|(a, _)| a != &am).unwrap_or(true) {
                    // A new AM (attempt): TLS trusting only its certificate.
                    job_client = super::am_channel(&am.0, &am.1)
                        .ok()
                        .map(|ch| (am, JobClientClient::new(ch)));
                }
                if let Some((_, c)) = job_client.as_mut() {
                    if let Ok(Ok(s)) = tokio::time::timeout(
                        Duration::from_secs(2),
                        c.get_job_status(mrpb::GetJobStatusRequest {}),
                    )
                    .await
                    {
                        let s = s.into_inner();
                        if s.state != "SETUP" {
                            progress = Some((s.map_progress, s.reduce_progress));
                        }
                    }
                }
            }
            if let Some((m, red)) = progress {
                let pct = ((m * 100.0).floor() as i32, (red * 100.0).floor() as i32);
                if last != Some(pct) {
                    last = Some(pct);
                    let line = format!(" map {}% reduce {}%", pct.0, pct.1);
                    match &bar {
                        Some(b) => {
                            b.set_position((pct.0 + pct.1) as u64);
                            b.set_message(line);
                        }
                        None => eprintln!("{line}"),
                    }
                }
            }
            // Hadoop's client polls every 5 s; a job here can take well under
            // a second, and a status call costs the RM microseconds.
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let hist = history::read(&self.dfs, app_id).await.unwrap_or(None);
        let succeeded = report.state() == pb::AppState::Finished
            && report.final_status() == pb::FinalStatus::Succeeded;
        if let Some(h) = &hist {
            if succeeded && last != Some((100, 100)) {
                let r = if h.reduces == 0 { 0 } else { 100 };
                if last != Some((100, r)) {
                    eprintln!(" map 100% reduce {r}%");
                }
            }
            eprint!("{}", h.counters.render());
        }
        if succeeded {
            eprintln!("Job {app_id} completed successfully");
            return Ok(true);
        }
        let diag = if !report.diagnostics.is_empty() {
            report.diagnostics.clone()
        } else {
            hist.map(|h| h.diagnostics).unwrap_or_default()
        };
        let what = if report.state() == pb::AppState::Killed {
            "was killed"
        } else {
            "failed"
        };
        eprintln!("Job {app_id} {what}: {}", diag.trim());
        Ok(false)
    }

    /// Running jobs (all with `all`, plus the job history), one a line.
    pub async fn list(&self, all: bool) -> anyhow::Result<String> {
        let states: &[pb::AppState] = if all {
            &[]
        } else {
            &[
                pb::AppState::Submitted,
                pb::AppState::Accepted,
                pb::AppState::Running,
            ]
        };
        let apps = self.rm.list(states, None).await?;
        let mut rows: Vec<(u64, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let hist = if all {
            history::list(&self.dfs).await.map_err(|e| anyhow!(e))?
        } else {
            Vec::new()
        };
        let by_id: HashMap<&str, &JobHistory> =
            hist.iter().map(|h| (h.app_id.as_str(), h)).collect();
        for a in &apps {
            seen.insert(a.app_id.clone());
            let state = match by_id.get(a.app_id.as_str()) {
                Some(h) if is_final(a.state()) => h.state.clone(),
                _ => app_state_name(a),
            };
            let name = by_id
                .get(a.app_id.as_str())
                .map(|h| h.job_name.clone())
                .unwrap_or_else(|| a.name.clone());
            rows.push((
                a.submit_time_ms,
                format!(
                    "{:<32} {:<10} {:<10} {:>5.0}% {:<20} {}",
                    a.app_id,
                    state,
                    a.user,
                    a.progress * 100.0,
                    fmt_time(a.start_time_ms.max(a.submit_time_ms)),
                    name
                ),
            ));
        }
        for h in &hist {
            if seen.contains(&h.app_id) {
                continue;
            }
            rows.push((
                h.submit_time_ms,
                format!(
                    "{:<32} {:<10} {:<10} {:>5.0}% {:<20} {}",
                    h.app_id,
                    h.state,
                    h.user,
                    if h.state == "SUCCEEDED" { 100.0 } else { 0.0 },
                    fmt_time(h.start_time_ms),
                    h.job_name
                ),
            ));
        }
        rows.sort_by_key(|r| r.0);
        let mut out = format!(
            "{:<32} {:<10} {:<10} {:>6} {:<20} {}\n",
            "JobId", "State", "User", "Done", "Started", "Name"
        );
        for (_, r) in rows {
            out.push_str(r.trim_end());
            out.push('\n');
        }
        Ok(out)
    }

    /// A job's state, times, diagnostics and counters.
    pub async fn status(&self, job: &str) -> anyhow::Result<String> {
        let app_id = app_id_of(job);
        let report = self.rm.report(&app_id).await.ok();
        let hist = history::read(&self.dfs, &app_id)
            .await
            .map_err(|e| anyhow!(e))?;
        if report.is_none() && hist.is_none() {
            bail!("{job}: no such job");
        }
        let mut out = format!("Job: {app_id}\n");
        if let Some(h) = &hist {
            out.push_str(&format!(
                "Name: {}\nUser: {}\nState: {}\n",
                h.job_name, h.user, h.state
            ));
            out.push_str(&format!(
                "Submitted: {}\nStarted: {}\nFinished: {}\n",
                fmt_time(h.submit_time_ms),
                fmt_time(h.start_time_ms),
                fmt_time(h.finish_time_ms)
            ));
            out.push_str(&format!(
                "Input: {}\nOutput: {}\nMaps: {}\nReduces: {}\n",
                h.inputs.join(","),
                h.output,
                h.maps,
                h.reduces
            ));
            let failed = h
                .attempts
                .iter()
                .filter(|a| a.status != crate::engine::task::TaskStatus::Succeeded)
                .count();
            out.push_str(&format!(
                "Attempts: {} ({} not successful)\nAM attempt: {}\n",
                h.attempts.len(),
                failed,
                h.am_attempt
            ));
            if !h.diagnostics.is_empty() {
                out.push_str(&format!("Diagnostics: {}\n", h.diagnostics));
            }
            out.push_str(&h.counters.render());
        } else if let Some(r) = &report {
            out.push_str(&format!(
                "Name: {}\nUser: {}\nState: {}\nProgress: {:.0}%\nSubmitted: {}\n",
                r.name,
                r.user,
                app_state_name(r),
                r.progress * 100.0,
                fmt_time(r.submit_time_ms)
            ));
            if r.state() == pb::AppState::Running && !r.am_rpc_addr.is_empty() {
                if let Ok(ch) = super::am_channel(&r.am_rpc_addr, &r.am_cert_pem) {
                    let mut c = JobClientClient::new(ch);
                    if let Ok(Ok(s)) = tokio::time::timeout(
                        Duration::from_secs(2),
                        c.get_job_status(mrpb::GetJobStatusRequest {}),
                    )
                    .await
                    {
                        let s = s.into_inner();
                        out.push_str(&format!(
                            "Map: {:.0}%\nReduce: {:.0}%\n",
                            s.map_progress * 100.0,
                            s.reduce_progress * 100.0
                        ));
                    }
                }
            }
            if !r.diagnostics.is_empty() {
                out.push_str(&format!("Diagnostics: {}\n", r.diagnostics));
            }
        }
        Ok(out)
    }

    /// Kills a job and waits (briefly) until the resource manager says so.
    pub async fn kill(&self, job: &str) -> anyhow::Result<()> {
        let app_id = app_id_of(job);
        let r = self.rm.report(&app_id).await?;
        if is_final(r.state()) {
            bail!("{job}: job already ended ({})", app_state_name(&r));
        }
        self.rm.kill(&app_id).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if is_final(self.rm.report(&app_id).await?.state()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("{job}: kill requested, but the job has not ended within 15 s")
    }

    /// stdout and stderr of every container of the job, from each node
    /// manager that ran one (the resource manager fetches them: node
    /// managers give logs only to holders of the cluster secret or of a
    /// container token of the job).
    pub async fn logs(&self, job: &str) -> anyhow::Result<String> {
        let app_id = app_id_of(job);
        let nodes = self.rm.logs(&app_id, None, 0).await?;
        let mut out = String::new();
        let mut errors = Vec::new();
        for n in nodes {
            let addr = &n.nm_rpc_addr;
            if !n.error.is_empty() {
                errors.push(format!("node manager {addr}: {}", n.error));
                continue;
            }
            for l in n.logs {
                out.push_str(&format!(
                    "==> {} {} (node {addr}, {} bytes) <==\n",
                    l.container_id, l.file, l.length
                ));
                out.push_str(&String::from_utf8_lossy(&l.data));
                if !l.data.ends_with(b"\n") && !l.data.is_empty() {
                    out.push('\n');
                }
            }
        }
        if out.is_empty() && !errors.is_empty() {
            bail!("{job}: no logs: {}", errors.join("; "));
        }
        for e in errors {
            out.push_str(&format!("(logs unavailable: {e})\n"));
        }
        Ok(out)
    }
}

fn app_state_name(r: &pb::ApplicationReport) -> String {
    match r.state() {
        pb::AppState::Finished => match r.final_status() {
            pb::FinalStatus::Succeeded => "SUCCEEDED",
            pb::FinalStatus::Failed => "FAILED",
            pb::FinalStatus::Killed => "KILLED",
            pb::FinalStatus::Undefined => "FINISHED",
        },
        pb::AppState::Failed => "FAILED",
        pb::AppState::Killed => "KILLED",
        pb::AppState::Running => "RUNNING",
        pb::AppState::Accepted => "ACCEPTED",
        pb::AppState::Submitted => "SUBMITTED",
        pb::AppState::Unspecified => "UNKNOWN",
    }
    .to_string()
}

fn fmt_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_map_to_application_ids() {
        assert_eq!(app_id_of("job_17_0001"), "application_17_0001");
        assert_eq!(app_id_of("application_17_0001"), "application_17_0001");
    }

    #[test]
    fn staged_job_round_trips() {
        let s = StagedJob {
            argv: vec!["wordcount".into(), "/in".into(), "/out".into()],
            conf: JobConf::new().with("mapreduce.job.reduces", 2),
            user: "u".into(),
            submit_time_ms: 5,
            task_program: "/opt/tusk/bin/mapred".into(),
            task_args: vec!["__task".into()],
            resources: vec![StagedResource {
                dfs_path: "/tmp/tusk-staging/u/j/job".into(),
                name: "job".into(),
                executable: true,
                archive: false,
            }],
            env: HashMap::from([("RUST_LOG".to_string(), "info".to_string())]),
        };
        let back: StagedJob = serde_json::from_slice(&serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
