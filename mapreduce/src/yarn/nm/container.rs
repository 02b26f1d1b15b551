//! One container: localize, launch as a child process in its own process
//! group and working dir, watch its memory, wait, report.

use super::executor::{self, RunAs};
use super::{localize, Metrics, Nm};
use crate::yarn::exit;
use crate::yarn::pb;
use crate::yarn::pb::ContainerState;
use crate::yarn::scheduler::Res;
use parking_lot::Mutex;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// A container the node manager knows.
pub(crate) struct Entry {
    pub id: String,
    pub app_id: String,
    pub user: String,
    pub resource: Res,
    state: Mutex<St>,
    /// Set once: exit code and reason to report when the container is killed.
    stop_tx: watch::Sender<Option<(i32, String)>>,
    /// True once the container is complete.
    done_tx: watch::Sender<bool>,
    /// The resource manager recorded its completion: stop reporting it.
    acked: AtomicBool,
}

struct St {
    state: ContainerState,
    exit_code: i32,
    diagnostics: String,
    /// The account its process runs as, once known.
    run_as: String,
}

impl Entry {
    pub fn new(id: &str, app_id: &str, user: &str, resource: Res) -> Arc<Entry> {
        Arc::new(Entry {
            id: id.to_string(),
            app_id: app_id.to_string(),
            user: user.to_string(),
            resource,
            state: Mutex::new(St {
                state: ContainerState::Localizing,
                exit_code: 0,
                diagnostics: String::new(),
                run_as: String::new(),
            }),
            stop_tx: watch::channel(None).0,
            done_tx: watch::channel(false).0,
            acked: AtomicBool::new(false),
        })
    }

    /// Asks the container to stop (SIGTERM, then SIGKILL after the grace);
    /// it will report `code`. Later calls are ignored.
    pub fn stop(&self, code: i32, why: &str) {
        self.stop_tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some((code, why.to_string()));
                true
            } else {
                false
            }
        });
    }

    pub async fn wait_done(&self) {
        let mut rx = self.done_tx.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    pub fn is_done(&self) -> bool {
        *self.done_tx.borrow()
    }

    pub fn is_acked(&self) -> bool {
        self.acked.load(Ordering::Relaxed)
    }

    /// Marks a completed container as recorded by the resource manager.
    pub fn ack(&self) {
        if self.is_done() {
            self.acked.store(true, Ordering::Relaxed);
        }
    }

    pub fn status(&self) -> pb::ContainerStatus {
        let s = self.state.lock();
        pb::ContainerStatus {
            container_id: self.id.clone(),
            state: s.state as i32,
            exit_code: s.exit_code,
            diagnostics: s.diagnostics.clone(),
            app_id: self.app_id.clone(),
            run_as: s.run_as.clone(),
        }
    }

    fn set_running(&self) {
        self.state.lock().state = ContainerState::Running;
    }

    fn complete(&self, code: i32, diagnostics: String) {
        {
            let mut s = self.state.lock();
            s.state = ContainerState::Complete;
            s.exit_code = code;
            s.diagnostics = diagnostics;
        }
        self.done_tx.send_replace(true);
    }
}

/// Runs a container to completion and records how it ended.
pub(crate) async fn run(nm: Arc<Nm>, c: Arc<Entry>, spec: pb::LaunchSpec) {
    let (code, diag) = run_inner(&nm, &c, spec).await;
    let m = &nm.metrics;
    Metrics::inc(&m.completed, 1);
    match code {
        0 => {}
        exit::KILLED_EXCEEDED_PMEM => Metrics::inc(&m.killed_pmem, 1),
        exit::KILLED_BY_APPMASTER | exit::KILLED_BY_RESOURCEMANAGER => Metrics::inc(&m.killed, 1),
        _ => Metrics::inc(&m.failed, 1),
    }
    info!(container = %c.id, app = %c.app_id, exit_code = code, "container completed{}{}",
        if diag.is_empty() { "" } else { ": " }, diag);
    c.complete(code, diag);
    nm.heartbeat_now.notify_one();
}

/// Creates the container's directories, owned by `run_as` (mode 0700:
/// the application's local dir, the working dir, the log dirs); the
/// `containers` dir between them stays the node manager's.
fn make_dirs(nm: &Nm, c: &Entry, run_as: &RunAs) -> Result<(), String> {
    let app_dir = nm.app_dir(&c.app_id);
    executor::make_dir(&app_dir, run_as, 0o700)?;
    let containers = app_dir.join("containers");
    std::fs::create_dir_all(&containers)
        .and_then(|()| {
            std::fs::set_permissions(&containers, std::fs::Permissions::from_mode(0o755))
        })
        .map_err(|e| format!("cannot create {}: {e}", containers.display()))?;
    executor::make_dir(&nm.work_dir(&c.app_id, &c.id), run_as, 0o700)?;
    let app_logs = nm.log_dir.join(&c.app_id);
    executor::make_dir(&app_logs, run_as, 0o700)?;
    executor::make_dir(&app_logs.join(&c.id), run_as, 0o700)
}

async fn run_inner(nm: &Arc<Nm>, c: &Arc<Entry>, spec: pb::LaunchSpec) -> (i32, String) {
    let mut stop = c.stop_tx.subscribe();
    let app_dir = nm.app_dir(&c.app_id);
    let work = nm.work_dir(&c.app_id, &c.id);
    let logs = nm.log_dir.join(&c.app_id).join(&c.id);
    let run_as = match nm.executor.run_as(&c.user) {
        Ok(r) => r,
        Err(e) => return (exit::INVALID, format!("container {}: {e}", c.id)),
    };
    c.state.lock().run_as = run_as.account.name.clone();
    if let Some(note) = &run_as.note {
        info!(container = %c.id, app = %c.app_id, "{note}");
    }
    let made = {
        let (nm, c, run_as) = (nm.clone(), c.clone(), run_as.clone());
        tokio::task::spawn_blocking(move || make_dirs(&nm, &c, &run_as)).await
    };
    match made {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return (exit::INVALID, format!("container {}: {e}", c.id)),
        Err(e) => return (exit::INVALID, format!("container {}: {e}", c.id)),
    }
    // Localize, unless stopped meanwhile.
    let localized = tokio::select! {
        r = localize::localize(nm, &c.user, &run_as, &c.app_id, &spec.resources, &work) => r,
        r = wait_stop(&mut stop) => {
            let (code, why) = r.unwrap_or((exit::KILLED_BY_RESOURCEMANAGER, String::new()));
            return (code, format!("container {} killed while localizing: {why}", c.id));
        }
    };
    if let Err(e) = localized {
        Metrics::inc(&nm.metrics.localization_failures, 1);
        return (exit::INVALID, format!("container {}: {e}", c.id));
    }

    let program = resolve_program(&spec.program, &work);
    let open_log = |name: &str| {
        let path = logs.join(name);
        let f = std::fs::File::create(&path)?;
        executor::own(&path, &run_as, 0o600).map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(f)
    };
    let (stdout, stderr) = match (open_log("stdout"), open_log("stderr")) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            return (
                exit::INVALID,
                format!(
                    "container {}: cannot create logs in {}: {e}",
                    c.id,
                    logs.display()
                ),
            )
        }
    };
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&spec.args)
        .current_dir(&work)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .env(crate::yarn::env::CONTAINER_ID, &c.id)
        .env(crate::yarn::env::APP_ID, &c.app_id)
        .env(crate::yarn::env::APP_LOCAL_DIR, &app_dir)
        .env(crate::yarn::env::NAMENODE, &nm.namenode)
        .env(crate::yarn::env::RM, &nm.rm_addr)
        .env(crate::yarn::env::USER, &c.user)
        .env(crate::yarn::env::NM_HOST, &nm.host)
        .env(crate::yarn::env::NM_ADDR, &nm.rpc_adv)
        .env(crate::yarn::env::SHUFFLE_ADDR, &nm.shuffle_adv)
        .env(
            crate::yarn::env::CONTAINER_MEMORY_MB,
            c.resource.memory_mb.to_string(),
        )
        .env("PWD", &work)
        // TLS: the cluster CA alone (TUSK_TLS_CA), never our key.
        .envs(tusk_common::net::tls_child_env())
        .envs(&spec.env);
    if run_as.switch {
        // The node manager's own home and name are not the container's.
        cmd.env("USER", &run_as.account.name)
            .env("LOGNAME", &run_as.account.name)
            .env("HOME", &work);
        executor::switch_user(&mut cmd, &run_as);
    }
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            let mut d = format!(
                "container {}: cannot run {} as user {}: {e}",
                c.id,
                program.display(),
                run_as.account.name
            );
            if run_as.switch && e.kind() == std::io::ErrorKind::PermissionDenied {
                d.push_str(&format!(
                    " (user {} must be able to read and execute it and enter every directory above it; \
                     install it where others can, or set [nodemanager] container_executor = \"process\")",
                    run_as.account.name
                ));
            }
            return (exit::INVALID, d);
        }
    };
    Metrics::inc(&nm.metrics.launched, 1);
    let pid = child.id().unwrap_or(0) as i32;
    // Recorded so a node manager restarted after a crash can kill it.
    let pid_file = nm.local_dir.join("pids").join(&c.id);
    if let Err(e) = std::fs::write(&pid_file, pid.to_string()) {
        warn!(container = %c.id, "cannot write {}: {e}", pid_file.display());
    }
    c.set_running();
    info!(container = %c.id, app = %c.app_id, pid, program = %program.display(), user = %c.user, run_as = %run_as.account.name, "container launched");

    let limit = c.resource.memory_mb << 20;
    let mut tick = tokio::time::interval(nm.memory_check.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            st = child.wait() => break Ok(st),
            _ = tick.tick(), if limit > 0 && pid > 0 => {
                let rss = tokio::task::spawn_blocking(move || group_rss_bytes(pid)).await.unwrap_or(0);
                if rss > limit {
                    kill_group(pid, libc::SIGKILL);
                    let _ = child.wait().await;
                    break Err((exit::KILLED_EXCEEDED_PMEM, format!(
                        "Container {} (pid {pid}) is running beyond physical memory limits. \
                         Current usage: {} of {} physical memory used. Killing container.",
                        c.id, mb(rss), mb(limit))));
                }
            }
            r = wait_stop(&mut stop) => {
                let (code, why) = r.unwrap_or((exit::KILLED_BY_RESOURCEMANAGER, String::new()));
                kill_group(pid, libc::SIGTERM);
                if tokio::time::timeout(nm.kill_grace, child.wait()).await.is_err() {
                    kill_group(pid, libc::SIGKILL);
                    let _ = child.wait().await;
                }
                break Err((code, format!("Container {} killed on request ({why}).", c.id)));
            }
        }
    };
    // Whatever the container left behind in its group goes too.
    kill_group(pid, libc::SIGKILL);
    let _ = std::fs::remove_file(&pid_file);
    match outcome {
        Err(r) => r,
        Ok(Err(e)) => (
            exit::INVALID,
            format!("container {}: waiting for pid {pid}: {e}", c.id),
        ),
        Ok(Ok(st)) => {
            use std::os::unix::process::ExitStatusExt;
            let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            if code == 0 {
                (0, String::new())
            } else {
                let tail = stderr_tail(&logs.join("stderr"), 1024).await;
                let mut d = format!(
                    "Container {} exited with a non-zero exit code {code}.",
                    c.id
                );
                if !tail.is_empty() {
                    d.push_str(" Last of stderr: ");
                    d.push_str(&tail);
                }
                (code, d)
            }
        }
    }
}

/// Waits for a stop request; its exit code and reason (None if the entry is gone).
async fn wait_stop(stop: &mut watch::Receiver<Option<(i32, String)>>) -> Option<(i32, String)> {
    stop.wait_for(|s| s.is_some())
        .await
        .ok()
        .and_then(|v| v.clone())
}

/// A relative program path with a '/' is relative to the working dir; a bare
/// name is looked up on PATH.
fn resolve_program(program: &str, work: &Path) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        work.join(p)
    } else {
        p.to_path_buf()
    }
}

fn kill_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created for the container; it has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
}

/// Resident memory of every process in process group `pgid`, from /proc.
pub(crate) fn group_rss_bytes(pgid: i32) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after "(comm) ": state ppid pgrp ... rss is the 22nd of them.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.get(2).and_then(|s| s.parse::<i32>().ok()) != Some(pgid) {
            continue;
        }
        if let Some(rss) = fields.get(21).and_then(|s| s.parse::<u64>().ok()) {
            total += rss * page;
        }
    }
    total
}

async fn stderr_tail(path: &Path, max: usize) -> String {
    match tokio::fs::read(path).await {
        Ok(b) => {
            let start = b.len().saturating_sub(max);
            String::from_utf8_lossy(&b[start..])
                .trim()
                .replace('\n', " | ")
        }
        Err(e) => {
            warn!("reading {}: {e}", path.display());
            String::new()
        }
    }
}

/// Kills the process groups of containers a previous run of this node
/// manager left behind (it crashed or was killed -9): every
/// `<local_dir>/pids/<container>` whose group still holds a process of that
/// container (its environment names the container, so a reused pid is left
/// alone). Returns the containers killed.
pub(crate) fn kill_leftovers(local_dir: &Path) -> Vec<String> {
    let dir = local_dir.join("pids");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut killed = Vec::new();
    for e in rd.flatten() {
        let cid = e.file_name().to_string_lossy().into_owned();
        let pgid = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(0);
        if pgid > 0 && group_runs_container(pgid, &cid) {
            kill_group(pgid, libc::SIGKILL);
            killed.push(cid);
        }
        let _ = std::fs::remove_file(e.path());
    }
    killed
}

/// Whether a process of group `pgid` has `TUSK_CONTAINER_ID=<cid>` in its environment.
fn group_runs_container(pgid: i32, cid: &str) -> bool {
    let want = format!("{}={cid}", crate::yarn::env::CONTAINER_ID);
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.get(2).and_then(|s| s.parse::<i32>().ok()) != Some(pgid) {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) {
                return true;
            }
        }
    }
    false
}
