//! The MapReduce application master process.
//!
//! Started by the resource manager in the job's first container with
//! `$TUSK_MR_ROLE=am` and `$TUSK_MR_STAGING` naming the staging directory,
//! it:
//! 1. reads the [`StagedJob`] (`job.json`) and builds the job from its
//!    registry (the built-in jobs, or those of a user's binary);
//! 2. serves the task umbilical and job status on an ephemeral port (with
//!    TLS on, over TLS with a certificate it makes for itself: [`AmCert`])
//!    and registers with the resource manager (address and certificate);
//! 3. on a later AM attempt, keeps a committed output (`_SUCCESS`) or
//!    clears what the failed attempt left, and runs the job again;
//! 4. runs [`run_job`] with a [`YarnLauncher`], passing progress on to the
//!    resource manager and `mapred`;
//! 5. writes the job history, unregisters (SUCCEEDED or FAILED with the
//!    driver's diagnostic naming task, node and cause) and removes the
//!    staging directory.
//!
//! If the resource manager ends the attempt (the job was killed), the AM
//! aborts the output, records the job as KILLED and exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tusk_client::{ClientConfig, DfsClient};

use super::cert::AmCert;
use super::history::{self, JobHistory};
use super::launcher::{LauncherConfig, TaskProgram, TaskResources, YarnLauncher};
use super::umbilical::{self, JobStatusCell, TaskTable};
use super::{env, now_ms, pb as mrpb, JOB_FILE};
use crate::engine::api::{JobConf, JobPaths};
use crate::engine::committer::{Committer, SUCCESS_MARKER, TEMPORARY};
use crate::engine::driver::{run_job, JobOptions, JobProgress};
use crate::engine::jobs::JobRegistry;
use crate::engine::main::parse_job_args;
use crate::yarn::client::{rm_address, AmRmClient, RmClient};
use crate::yarn::{env as yenv, pb};

/// What `mapred` stages for the AM (`<staging>/job.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagedJob {
    /// `[JOB] [-D k=v]… ARGS…` as the job binary's registry parses them
    /// ([`parse_job_args`]).
    pub argv: Vec<String>,
    /// Settings from `mapred -D`, applied under the job's own `-D`s.
    pub conf: JobConf,
    pub user: String,
    pub submit_time_ms: u64,
    /// What task containers run (the installed `mapred __task`, or the
    /// shipped binary `./job`).
    pub task_program: String,
    pub task_args: Vec<String>,
    /// DFS files the task containers need (the shipped binary).
    pub resources: Vec<StagedResource>,
    /// Extra environment for every container of the job.
    pub env: HashMap<String, String>,
}

/// A DFS file localized into each task container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagedResource {
    pub dfs_path: String,
    pub name: String,
    pub executable: bool,
    /// A tar archive unpacked into the directory `name` (`-archives`).
    #[serde(default)]
    pub archive: bool,
}

/// Runs the application master to the end. `Ok(true)` when it unregistered
/// (whatever the job's outcome); errors mean the resource manager should
/// try another attempt.
pub async fn run_am(registry: JobRegistry) -> anyhow::Result<bool> {
    let staging = std::env::var(env::STAGING).map_err(|_| {
        anyhow::anyhow!(
            "{} is not set: not started as an application master",
            env::STAGING
        )
    })?;
    let app_id =
        std::env::var(yenv::APP_ID).map_err(|_| anyhow::anyhow!("{} is not set", yenv::APP_ID))?;
    let host = std::env::var(yenv::NM_HOST).unwrap_or_else(|_| "127.0.0.1".into());
    let am_rm = AmRmClient::from_env()?;
    let am_attempt: u32 = am_rm
        .attempt_id()
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let client = DfsClient::connect(ClientConfig::from_env()).await?;
    let job_file = format!("{staging}/{JOB_FILE}");
    let staged: StagedJob = serde_json::from_slice(
        &client
            .read_file(&job_file)
            .await
            .map_err(|e| anyhow::anyhow!("reading the staged job: {e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{job_file}: not a staged job: {e}"))?;

    // Serve the umbilical before registering, so the address is real.
    let listener = TcpListener::bind(("0.0.0.0", 0)).await?;
    let port = listener.local_addr()?.port();
    let umb_addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tasks = Arc::new(TaskTable::default());
    let status: JobStatusCell = Arc::new(Mutex::new(mrpb::GetJobStatusResponse {
        app_id: app_id.clone(),
        state: "SETUP".into(),
        ..Default::default()
    }));
    // With TLS on, our own certificate for the host we advertise: we run
    // as the job's user and hold no daemon key. Its key stays in memory.
    let cert = if tusk_common::net::tls_enabled() {
        Some(AmCert::generate(&host, &app_id).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let cert_pem = cert
        .as_ref()
        .map(|c| c.cert_pem.clone())
        .unwrap_or_default();
    let incoming = umbilical::incoming(listener, cert.as_ref()).map_err(anyhow::Error::msg)?;
    drop(cert);
    let (srv_stop, srv_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(umbilical::serve(
        incoming,
        tasks.clone(),
        status.clone(),
        async {
            let _ = srv_stop_rx.await;
        },
    ));
    am_rm
        .register_with_cert(&host, &umb_addr, "", &cert_pem)
        .await?;
    tracing::info!(app = %app_id, attempt = am_attempt, umbilical = %umb_addr, "application master registered");
    let start_time_ms = now_ms();

    let hb = am_rm.heartbeater(Duration::from_millis(300));
    let rm = RmClient::new(&rm_address(None), &staged.user)?;
    let rm_for_kill = rm.clone();

    // The job itself.
    let mut h = JobHistory {
        app_id: app_id.clone(),
        job_name: staged.argv.first().cloned().unwrap_or_default(),
        user: staged.user.clone(),
        state: "FAILED".into(),
        submit_time_ms: staged.submit_time_ms,
        start_time_ms,
        finish_time_ms: 0,
        inputs: Vec::new(),
        output: String::new(),
        maps: 0,
        reduces: 0,
        diagnostics: String::new(),
        counters: Default::default(),
        attempts: Vec::new(),
        am_attempt,
    };
    let prepared = prepare(&registry, &staged, &client);
    let (launcher, dispatcher, mut shutdown) = match &prepared {
        Ok((_, conf, _)) => match TaskResources::from_conf(conf) {
            Ok(resources) => {
                let mut env = staged.env.clone();
                env.entry("RUST_LOG".into())
                    .or_insert_with(|| "warn,tusk_mapreduce=info".into());
                // The job's user token (token authentication), from our
                // container's environment; never in the staged job file.
                for key in [yenv::TOKEN, yenv::APP_TOKEN] {
                    if let Some(t) = std::env::var(key).ok().filter(|t| !t.is_empty()) {
                        env.insert(key.into(), t);
                    }
                }
                let program = TaskProgram {
                    program: staged.task_program.clone(),
                    args: staged.task_args.clone(),
                    env,
                    resources: staged
                        .resources
                        .iter()
                        .map(|r| pb::LocalResource {
                            dfs_path: r.dfs_path.clone(),
                            name: r.name.clone(),
                            executable: r.executable,
                            archive: r.archive,
                        })
                        .collect(),
                };
                let (l, d, s) = YarnLauncher::start(
                    LauncherConfig {
                        app_id: app_id.clone(),
                        user: staged.user.clone(),
                        program,
                        umbilical_addr: umb_addr.clone(),
                        umbilical_cert: cert_pem.clone(),
                        resources,
                        rm,
                        tasks,
                    },
                    hb,
                );
                (Some(l), Some(d), Some(s))
            }
            Err(e) => {
                h.diagnostics = e.to_string();
                drop(hb);
                (None, None, None)
            }
        },
        Err(e) => {
            h.diagnostics = e.clone();
            drop(hb);
            (None, None, None)
        }
    };
    let mut killed = false;
    let mut superseded = false;
    if let (Ok((job, conf, paths)), Some(launcher)) = (prepared, launcher.clone()) {
        h.job_name = job.name().to_string();
        h.inputs = paths.inputs.clone();
        h.output = client
            .resolve(&paths.output)
            .unwrap_or(paths.output.clone());
        status.lock().job_name = h.job_name.clone();
        let recovered = if am_attempt > 1 {
            recover_output(&client, &h.output).await
        } else {
            Ok(false)
        };
        match recovered {
            Err(e) => h.diagnostics = e,
            Ok(true) => {
                // A previous attempt committed; its history stands if written.
                if let Ok(Some(prev)) = history::read(&client, &app_id).await {
                    h = JobHistory { am_attempt, ..prev };
                }
                h.state = "SUCCEEDED".into();
            }
            Ok(false) => {
                let st = status.clone();
                let l2 = launcher.clone();
                let opts = JobOptions {
                    app_id: app_id.clone(),
                    app_attempt: am_attempt,
                    progress: None,
                }
                .with_progress(move |p: JobProgress| {
                    let mut s = st.lock();
                    s.map_progress = p.map;
                    s.reduce_progress = p.reduce;
                    s.maps = p.maps as u32;
                    s.reduces = p.reduces as u32;
                    l2.set_progress(if s.reduces == 0 {
                        p.map
                    } else {
                        (p.map + p.reduce) / 2.0
                    });
                });
                {
                    let mut s = status.lock();
                    s.state = "RUNNING".into();
                    s.reduces = conf.num_reduces().unwrap_or(0);
                }
                let shut = shutdown.as_mut().expect("launcher started");
                let run = run_job(&client, job, conf, &paths, Arc::new(launcher.clone()), opts);
                tokio::pin!(run);
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let mut terminated = false;
                let outcome = tokio::select! {
                    r = &mut run => Some(r),
                    _ = shut.wait_for(|s| s.is_some()) => None,
                    _ = term.recv() => { terminated = true; None }
                };
                match outcome {
                    Some(Ok(report)) => {
                        h.maps = report.maps;
                        h.reduces = report.reduces;
                        h.counters = report.counters;
                        h.attempts = report.attempts;
                        h.diagnostics = report.diagnostics;
                        h.state = if report.succeeded {
                            "SUCCEEDED"
                        } else {
                            "FAILED"
                        }
                        .into();
                    }
                    Some(Err(e)) => h.diagnostics = e.to_string(),
                    None => {
                        // Killed: clean the output up. Superseded by a newer
                        // attempt (this node was declared lost): leave
                        // everything to it.
                        killed = true;
                        h.state = "KILLED".into();
                        if terminated {
                            // The node manager stops us (the job was killed):
                            // a short grace, so the output first.
                            h.diagnostics = "application master terminated (job killed)".into();
                            let c = Committer::new(client.clone(), &h.output, am_attempt);
                            let _ = tokio::time::timeout(Duration::from_millis(150), c.abort_job())
                                .await;
                            let _ = tokio::time::timeout(
                                Duration::from_millis(150),
                                history::write(&client, &h),
                            )
                            .await;
                            std::process::exit(143);
                        }
                        h.diagnostics = shut.borrow().clone().unwrap_or_default();
                        let was_killed = matches!(
                            rm_for_kill.report(&app_id).await.map(|r| r.state()),
                            Ok(pb::AppState::Killed)
                        );
                        if was_killed {
                            let c = Committer::new(client.clone(), &h.output, am_attempt);
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), c.abort_job()).await;
                        } else {
                            superseded = true;
                        }
                    }
                }
            }
        }
    }
    h.finish_time_ms = now_ms();
    {
        let mut s = status.lock();
        s.state = h.state.clone();
        s.maps = h.maps as u32;
    }
    if superseded {
        tracing::warn!(app = %app_id, "a newer application master attempt runs this job; exiting");
        std::process::exit(1);
    }
    if let Err(e) = history::write(&client, &h).await {
        tracing::warn!("{e}");
    }
    let hb = match dispatcher {
        Some(d) => d.stop().await,
        None => None,
    };
    if let Some(hb) = hb {
        hb.stop().await;
    }
    if killed {
        tracing::info!(app = %app_id, "application killed: {}", h.diagnostics);
        let _ = srv_stop.send(());
        return Ok(true);
    }
    let final_status = if h.state == "SUCCEEDED" {
        pb::FinalStatus::Succeeded
    } else {
        pb::FinalStatus::Failed
    };
    tracing::info!(app = %app_id, state = %h.state, "job finished: {}", h.diagnostics);
    am_rm.finish(final_status, &h.diagnostics, "").await?;
    if let Err(e) = client.delete(&staging, true).await {
        tracing::warn!("removing staging directory {staging}: {e}");
    }
    let _ = srv_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(true)
}

type Prepared = (Arc<dyn crate::engine::api::Job>, JobConf, JobPaths);

/// The job, its configuration and paths from the staged arguments.
fn prepare(registry: &JobRegistry, s: &StagedJob, client: &DfsClient) -> Result<Prepared, String> {
    let a = parse_job_args(registry, &s.argv).map_err(|e| e.to_string())?;
    let job = registry
        .get(&a.job)
        .ok_or_else(|| format!("unknown job {:?}", a.job))?;
    let mut conf = s.conf.clone();
    for (k, v) in a.conf.iter() {
        conf.set(k, v);
    }
    let paths = job
        .configure(&a.args, &mut conf)
        .map_err(|e| e.to_string())?;
    client.resolve(&paths.output).map_err(|e| e.to_string())?;
    Ok((job, conf, paths))
}

/// Before a later AM attempt runs the job again: `Ok(true)` when the
/// output was already committed; otherwise removes what an earlier
/// attempt left (an output directory holding only `_temporary`).
async fn recover_output(client: &DfsClient, out: &str) -> Result<bool, String> {
    let fail = |e: &dyn std::fmt::Display| format!("recovering output {out}: {e}");
    if !client.exists(out).await.map_err(|e| fail(&e))? {
        return Ok(false);
    }
    if client
        .exists(&format!("{out}/{SUCCESS_MARKER}"))
        .await
        .map_err(|e| fail(&e))?
    {
        return Ok(true);
    }
    let entries = client.list(out).await.map_err(|e| fail(&e))?;
    if entries.iter().all(|e| e.name == TEMPORARY) {
        tracing::info!(output = out, "removing the output an earlier attempt left");
        client.delete(out, true).await.map_err(|e| fail(&e))?;
        Ok(false)
    } else {
        Err(fail(
            &"Output directory already exists and was not written by this job",
        ))
    }
}
