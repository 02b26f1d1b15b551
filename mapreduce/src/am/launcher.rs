//! [`YarnLauncher`]: the engine's [`TaskLauncher`] on a YARN cluster.
//!
//! Each launch asks the resource manager for one container of the task's
//! size, preferring the split's hosts and racks (delay scheduling is the
//! resource manager's job); starts the job binary in it on its node
//! manager with `$TUSK_MR_ROLE=task` and the AM's umbilical address; and
//! resolves when the attempt's report arrives over the umbilical or the
//! container completes without one (exit code, memory kill, lost node),
//! naming the container, node and cause.
//!
//! Reduces are asked for before the maps are done (slow start) and at a
//! higher priority than maps, as in Hadoop, so reducers can fill the
//! cluster while maps still wait. When a map attempt has waited
//! `mapreduce.job.reducer.preempt.delay.sec` for a container, the maps are
//! *starved*: reduce asks are withdrawn and held back until no map waits,
//! and every such delay the most recently started reducer is preempted
//! (its container released, its attempt ended as killed and run again
//! later, not counted as a failure) until a map gets a container.
//!
//! One dispatcher task owns the [`AmHeartbeater`]: launches send it asks
//! and watches over a channel, and it routes allocated containers (by
//! request id) and completed ones (by container id) back to them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::umbilical::{TaskEntry, TaskTable};
use crate::engine::api::JobConf;
use crate::engine::counters::Counters;
use crate::engine::driver::{LaunchRequest, TaskCompletion, TaskLauncher};
use crate::engine::task::{TaskReport, TaskStatus, TaskType, Umbilical};
use crate::yarn::client::{AmEvent, AmHeartbeater, NmClient, RmClient};
use crate::yarn::{exit, pb, YarnError};

/// Memory of a map container, MiB (Hadoop's key and default).
pub const MAP_MEMORY_MB: &str = "mapreduce.map.memory.mb";
/// Memory of a reduce container, MiB.
pub const REDUCE_MEMORY_MB: &str = "mapreduce.reduce.memory.mb";
/// Vcores of a map container.
pub const MAP_CPU_VCORES: &str = "mapreduce.map.cpu.vcores";
/// Vcores of a reduce container.
pub const REDUCE_CPU_VCORES: &str = "mapreduce.reduce.cpu.vcores";
/// An attempt silent (no ping) for this many ms is killed; 0 = never.
pub const TASK_TIMEOUT_MS: &str = "mapreduce.task.timeout";
/// Seconds a map attempt waits for a container before reducers are held
/// back and preempted (Hadoop's key; Tusk's AM sees no headroom figure, so
/// the wait itself is the sign; default 10, at least 1).
pub const REDUCER_PREEMPT_DELAY_SEC: &str = "mapreduce.job.reducer.preempt.delay.sec";

/// Request priorities (lower is served first), as Hadoop's AM: retried
/// maps first, then reduces, then maps.
const PRIORITY_FAILED_MAP: u32 = 5;
const PRIORITY_REDUCE: u32 = 10;
const PRIORITY_MAP: u32 = 20;

/// How long one launch keeps trying to start its attempt on a reachable
/// node before it counts as a failed attempt.
const START_RETRY_FOR: Duration = Duration::from_secs(90);
/// How long a node whose node manager could not be reached is skipped.
const BAD_NODE_FOR: Duration = Duration::from_secs(10);

/// What every task container runs.
#[derive(Debug, Clone)]
pub struct TaskProgram {
    /// Absolute path of an installed binary, or `./job` with `resources`.
    pub program: String,
    pub args: Vec<String>,
    pub env: HashMap<String, String>,
    pub resources: Vec<pb::LocalResource>,
}

/// Container sizes and the task time-out, from the job's configuration.
#[derive(Debug, Clone)]
pub struct TaskResources {
    pub map: pb::Resource,
    pub reduce: pb::Resource,
    pub timeout: Option<Duration>,
    /// See [`REDUCER_PREEMPT_DELAY_SEC`].
    pub preempt_delay: Duration,
}

impl TaskResources {
    pub fn from_conf(conf: &JobConf) -> crate::engine::Result<Self> {
        let timeout_ms = conf.get_u64(TASK_TIMEOUT_MS, 600_000)?;
        Ok(Self {
            map: pb::Resource {
                memory_mb: conf.get_u64(MAP_MEMORY_MB, 1024)?.max(1),
                vcores: conf.get_u64(MAP_CPU_VCORES, 1)?.max(1) as u32,
            },
            reduce: pb::Resource {
                memory_mb: conf.get_u64(REDUCE_MEMORY_MB, 1024)?.max(1),
                vcores: conf.get_u64(REDUCE_CPU_VCORES, 1)?.max(1) as u32,
            },
            timeout: (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms)),
            preempt_delay: Duration::from_secs(conf.get_u64(REDUCER_PREEMPT_DELAY_SEC, 10)?.max(1)),
        })
    }
}

enum Cmd {
    Ask(pb::ResourceRequest, oneshot::Sender<pb::Container>),
    Cancel(u64),
    Watch(String, oneshot::Sender<pb::ContainerStatus>),
    Release(String),
    Progress(f32),
}

struct Inner {
    app_id: String,
    user: String,
    program: TaskProgram,
    umbilical_addr: String,
    umbilical_cert: String,
    resources: TaskResources,
    rm: RmClient,
    tasks: Arc<TaskTable>,
    cmds: mpsc::UnboundedSender<Cmd>,
    next_request: AtomicU64,
    /// Set (with the reason) once the resource manager told the AM to stop.
    shutdown: watch::Receiver<Option<String>>,
    /// Nodes whose node manager could not be reached, and when.
    bad_nodes: parking_lot::Mutex<HashMap<String, Instant>>,
    starvation: parking_lot::Mutex<Starvation>,
}

/// Maps waiting for containers and reducers holding them (see the module
/// docs).
#[derive(Default)]
struct Starvation {
    /// Map attempts waiting for a container, since when.
    waiting_maps: HashMap<String, Instant>,
    /// Set when a map has waited the whole delay; cleared when none waits.
    starved: bool,
    /// Running reduce containers, oldest first.
    reduces: Vec<String>,
    /// Reduce containers released to make room for maps.
    preempted: HashSet<String>,
    last_preempt: Option<Instant>,
}

impl Starvation {
    fn map_waits(&mut self, attempt: &str, now: Instant) {
        self.waiting_maps.insert(attempt.to_string(), now);
    }

    fn map_stops_waiting(&mut self, attempt: &str) {
        self.waiting_maps.remove(attempt);
        if self.waiting_maps.is_empty() {
            self.starved = false;
        }
    }

    /// Called while maps wait: the reduce container to preempt now, if any.
    fn check(&mut self, now: Instant, delay: Duration) -> Option<String> {
        let oldest = self.waiting_maps.values().min()?;
        if now.duration_since(*oldest) < delay {
            return None;
        }
        self.starved = true;
        if self
            .last_preempt
            .is_some_and(|t| now.duration_since(t) < delay)
        {
            return None;
        }
        let victim = self
            .reduces
            .iter()
            .rev()
            .find(|c| !self.preempted.contains(*c))?
            .clone();
        self.preempted.insert(victim.clone());
        self.last_preempt = Some(now);
        Some(victim)
    }

    fn reduce_started(&mut self, cid: &str) {
        self.reduces.push(cid.to_string());
    }

    /// Forgets a reduce container; true when it was preempted.
    fn reduce_ended(&mut self, cid: &str) -> bool {
        self.reduces.retain(|c| c != cid);
        self.preempted.remove(cid)
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct YarnLauncher {
    inner: Arc<Inner>,
}

/// Ends the dispatcher and hands the heartbeater back (to stop it before
/// unregistering).
pub struct Dispatcher {
    stop: oneshot::Sender<()>,
    task: JoinHandle<AmHeartbeater>,
}

impl Dispatcher {
    pub async fn stop(self) -> Option<AmHeartbeater> {
        let _ = self.stop.send(());
        self.task.await.ok()
    }
}

/// Parameters of [`YarnLauncher::start`].
pub struct LauncherConfig {
    pub app_id: String,
    pub user: String,
    pub program: TaskProgram,
    /// `host:port` of this AM's TaskUmbilical service.
    pub umbilical_addr: String,
    /// The AM's own certificate (PEM) when TLS is on, else empty: passed
    /// to every task as `$TUSK_AM_CERT`, its only root for the umbilical.
    pub umbilical_cert: String,
    pub resources: TaskResources,
    pub rm: RmClient,
    pub tasks: Arc<TaskTable>,
}

impl YarnLauncher {
    /// Starts the dispatcher over `hb`. The returned receiver says why the
    /// resource manager wants the AM gone, once it does.
    pub fn start(
        cfg: LauncherConfig,
        hb: AmHeartbeater,
    ) -> (Self, Dispatcher, watch::Receiver<Option<String>>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (shut_tx, shut_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(dispatch(hb, cmd_rx, shut_tx, stop_rx));
        let launcher = Self {
            inner: Arc::new(Inner {
                app_id: cfg.app_id,
                user: cfg.user,
                program: cfg.program,
                umbilical_addr: cfg.umbilical_addr,
                umbilical_cert: cfg.umbilical_cert,
                resources: cfg.resources,
                rm: cfg.rm,
                tasks: cfg.tasks,
                cmds: cmd_tx,
                next_request: AtomicU64::new(1),
                shutdown: shut_rx.clone(),
                bad_nodes: Default::default(),
                starvation: Default::default(),
            }),
        };
        (
            launcher,
            Dispatcher {
                stop: stop_tx,
                task,
            },
            shut_rx,
        )
    }

    /// Progress for the resource manager, 0..=1.
    pub fn set_progress(&self, p: f32) {
        let _ = self.inner.cmds.send(Cmd::Progress(p));
    }
}

async fn dispatch(
    mut hb: AmHeartbeater,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    shutdown: watch::Sender<Option<String>>,
    mut stop: oneshot::Receiver<()>,
) -> AmHeartbeater {
    let mut pending: HashMap<u64, oneshot::Sender<pb::Container>> = HashMap::new();
    let mut watchers: HashMap<String, oneshot::Sender<pb::ContainerStatus>> = HashMap::new();
    let mut completed: HashMap<String, pb::ContainerStatus> = HashMap::new();
    // Released containers nobody watches: their completion is dropped.
    let mut unwatched_releases: HashSet<String> = HashSet::new();
    let mut events_open = true;
    loop {
        tokio::select! {
            _ = &mut stop => return hb,
            Some(cmd) = cmds.recv() => match cmd {
                Cmd::Ask(req, tx) => {
                    if shutdown.borrow().is_some() {
                        continue; // dropping tx fails the launch
                    }
                    pending.insert(req.request_id, tx);
                    hb.ask(req);
                }
                Cmd::Cancel(id) => {
                    pending.remove(&id);
                    hb.cancel(id);
                }
                Cmd::Watch(cid, tx) => match completed.remove(&cid) {
                    Some(st) => { let _ = tx.send(st); }
                    None => { watchers.insert(cid, tx); }
                },
                Cmd::Release(cid) => {
                    if !watchers.contains_key(&cid) {
                        unwatched_releases.insert(cid.clone());
                    }
                    hb.release(&cid);
                }
                Cmd::Progress(p) => hb.set_progress(p),
            },
            ev = hb.next_event(), if events_open => match ev {
                Some(AmEvent::Allocated(c)) => match pending.remove(&c.request_id) {
                    Some(tx) => {
                        if let Err(c) = tx.send(c) {
                            hb.release(&c.id);
                        }
                    }
                    None => hb.release(&c.id),
                },
                Some(AmEvent::Completed(st)) => match watchers.remove(&st.container_id) {
                    Some(tx) => { let _ = tx.send(st); }
                    None if unwatched_releases.remove(&st.container_id) => {}
                    None => { completed.insert(st.container_id.clone(), st); }
                },
                Some(AmEvent::Shutdown) => {
                    shutdown.send_replace(Some("the resource manager ended this application attempt (killed, or a newer attempt runs)".into()));
                    pending.clear();
                    watchers.clear();
                }
                Some(AmEvent::Failed(e)) => {
                    shutdown.send_replace(Some(format!("lost the resource manager: {e}")));
                    pending.clear();
                    watchers.clear();
                }
                None => {
                    events_open = false;
                    if shutdown.borrow().is_none() {
                        shutdown.send_replace(Some("the allocate loop stopped".into()));
                    }
                    pending.clear();
                    watchers.clear();
                }
            },
        }
    }
}

/// Why a container ended, for a task's diagnostics.
fn describe_exit(st: &pb::ContainerStatus, c: &pb::Container) -> String {
    let node = if c.node_id.is_empty() {
        &c.host
    } else {
        &c.node_id
    };
    let cause = match st.exit_code {
        exit::ABORTED => "lost with its node (node manager gone) or aborted".to_string(),
        exit::KILLED_EXCEEDED_PMEM => "killed for exceeding its memory limit".to_string(),
        exit::KILLED_BY_APPMASTER => "stopped by the application master".to_string(),
        exit::KILLED_BY_RESOURCEMANAGER => "killed by the resource manager".to_string(),
        exit::INVALID => "could not be started".to_string(),
        code => format!("exited with code {code}"),
    };
    let mut s = format!("container {} on node {node} {cause}", c.id);
    if !st.diagnostics.is_empty() {
        s.push_str(": ");
        s.push_str(st.diagnostics.trim());
    }
    s
}

/// The last non-empty line of a container's stderr, best effort.
async fn stderr_tail(c: &pb::Container, app_id: &str) -> Option<String> {
    let nm = NmClient::new(&c.nm_rpc_addr).ok()?;
    let logs = tokio::time::timeout(
        Duration::from_secs(3),
        nm.logs(app_id, Some(&c.id), 4096, c.token.as_ref()),
    )
    .await
    .ok()?
    .ok()?;
    let err = logs.iter().find(|l| l.file == "stderr")?;
    String::from_utf8_lossy(&err.data)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().chars().take(400).collect())
}

impl Inner {
    fn failed(&self, req: &LaunchRequest, host: &str, rack: &str, why: String) -> TaskCompletion {
        TaskCompletion {
            report: TaskReport {
                attempt: req.spec.attempt.clone(),
                status: TaskStatus::Failed,
                counters: Counters::new(),
                diagnostics: why,
            },
            host: host.to_string(),
            rack: rack.to_string(),
            shuffle_addr: String::new(),
            preempted: false,
        }
    }

    fn killed(&self, req: &LaunchRequest, why: &str) -> TaskCompletion {
        let mut c = self.failed(req, "", "", why.to_string());
        c.report.status = TaskStatus::Killed;
        c
    }

    /// Hosts/racks/relax for the request: the split's hosts unless the task
    /// failed there; hosts it failed on are avoided while other live nodes
    /// exist.
    async fn placement(&self, req: &LaunchRequest) -> (Vec<String>, Vec<String>, bool) {
        let preferred: Vec<String> = req
            .preferred_hosts
            .iter()
            .filter(|h| !req.avoid_hosts.contains(h))
            .cloned()
            .collect();
        if req.avoid_hosts.is_empty() {
            return (preferred, req.preferred_racks.clone(), true);
        }
        let live: Vec<String> = match self.rm.nodes(false).await {
            Ok(nodes) => nodes.into_iter().map(|n| n.host).collect(),
            Err(e) => {
                tracing::warn!("cannot list nodes to avoid failed hosts: {e}");
                return (preferred, req.preferred_racks.clone(), true);
            }
        };
        let mut others: Vec<String> = live
            .iter()
            .filter(|h| !req.avoid_hosts.contains(h))
            .cloned()
            .collect();
        others.dedup();
        if others.is_empty() {
            // Every node failed it once: anywhere is all there is.
            return (
                req.preferred_hosts.clone(),
                req.preferred_racks.clone(),
                true,
            );
        }
        if !preferred.is_empty() {
            return (preferred, req.preferred_racks.clone(), true);
        }
        (others, Vec::new(), false)
    }

    /// Asks for one container and waits for it; gives the ask up when the
    /// job no longer needs the attempt. A waiting map keeps the starvation
    /// books (and preempts reducers); a reduce holds its ask back while
    /// maps are starved.
    async fn acquire(
        &self,
        req: &LaunchRequest,
        umb: &Arc<dyn Umbilical>,
        resource: pb::Resource,
        priority: u32,
    ) -> Result<pb::Container, TaskCompletion> {
        let attempt = req.spec.attempt.to_string();
        let is_map = req.spec.attempt.task_type == TaskType::Map;
        if is_map {
            self.starvation.lock().map_waits(&attempt, Instant::now());
        }
        let got = self
            .acquire_inner(req, umb, resource, priority, is_map)
            .await;
        if is_map {
            self.starvation.lock().map_stops_waiting(&attempt);
        }
        got
    }

    async fn acquire_inner(
        &self,
        req: &LaunchRequest,
        umb: &Arc<dyn Umbilical>,
        resource: pb::Resource,
        priority: u32,
        is_map: bool,
    ) -> Result<pb::Container, TaskCompletion> {
        let (hosts, racks, relax) = self.placement(req).await;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let starved = || !is_map && self.starvation.lock().starved;
        'ask: loop {
            // A reduce waits while the maps are starved.
            while starved() {
                tick.tick().await;
                if umb.should_stop() {
                    return Err(self.killed(req, "job no longer needs the attempt"));
                }
                if let Some(why) = self.shutdown.borrow().clone() {
                    return Err(self.killed(req, &why));
                }
            }
            let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
            let (tx, mut rx) = oneshot::channel();
            let ask = pb::ResourceRequest {
                request_id,
                priority,
                resource: Some(resource),
                count: 1,
                hosts: hosts.clone(),
                racks: racks.clone(),
                relax_locality: relax,
            };
            if self.cmds.send(Cmd::Ask(ask, tx)).is_err() {
                return Err(self.killed(req, "the application master is stopping"));
            }
            loop {
                tokio::select! {
                    c = &mut rx => return match c {
                        Ok(c) => Ok(c),
                        Err(_) => {
                            let why = self.shutdown.borrow().clone().unwrap_or_else(|| "container request dropped".into());
                            Err(self.killed(req, &why))
                        }
                    },
                    _ = tick.tick() => {
                        let stop = umb.should_stop();
                        if stop || starved() {
                            // Withdraw the ask; a container granted before
                            // the withdrawal arrives on `rx` and goes back.
                            let _ = self.cmds.send(Cmd::Cancel(request_id));
                            if let Ok(c) = rx.await {
                                let _ = self.cmds.send(Cmd::Release(c.id));
                            }
                            if stop {
                                return Err(self.killed(req, "job no longer needs the attempt"));
                            }
                            tracing::info!(attempt = %req.spec.attempt, "maps are starved: reduce ask held back");
                            continue 'ask;
                        }
                        if is_map {
                            self.preempt_if_starved();
                        }
                    }
                }
            }
        }
    }

    /// Releases the newest reducer's container when maps have waited too
    /// long (see [`Starvation::check`]).
    fn preempt_if_starved(&self) {
        let victim = self
            .starvation
            .lock()
            .check(Instant::now(), self.resources.preempt_delay);
        if let Some(cid) = victim {
            tracing::info!(container = %cid, delay_s = self.resources.preempt_delay.as_secs(), "maps waited for containers: preempting a reducer");
            let _ = self.cmds.send(Cmd::Release(cid));
        }
    }

    async fn run(self: Arc<Self>, req: LaunchRequest, umb: Arc<dyn Umbilical>) -> TaskCompletion {
        let mut shutdown = self.shutdown.clone();
        if let Some(why) = shutdown.borrow().clone() {
            return self.killed(&req, &why);
        }
        let a = &req.spec.attempt;
        let (resource, priority) = match a.task_type {
            TaskType::Map if a.attempt > 0 => (self.resources.map, PRIORITY_FAILED_MAP),
            TaskType::Map => (self.resources.map, PRIORITY_MAP),
            TaskType::Reduce => (self.resources.reduce, PRIORITY_REDUCE),
        };
        // Get a container and start the attempt in it. A node manager that
        // cannot be reached (killed, not yet declared lost by the resource
        // manager) is skipped for a while and another container asked for;
        // that is the node's fault, not the attempt's.
        let give_up = Instant::now() + START_RETRY_FOR;
        let (container, mut report_rx, mut watch_rx) = loop {
            let container = match self.acquire(&req, &umb, resource, priority).await {
                Ok(c) => c,
                Err(done) => return done,
            };
            let cid = container.id.clone();
            let recently_bad = self
                .bad_nodes
                .lock()
                .get(&container.node_id)
                .is_some_and(|t| t.elapsed() < BAD_NODE_FOR);
            if recently_bad {
                let _ = self.cmds.send(Cmd::Release(cid));
                if Instant::now() > give_up {
                    return self.failed(
                        &req,
                        &container.host,
                        &container.rack,
                        format!(
                            "no container on a reachable node within {} s (last offered: node {})",
                            START_RETRY_FOR.as_secs(),
                            container.node_id
                        ),
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            tracing::info!(attempt = %req.spec.attempt, container = %cid, node = %container.node_id, user = %self.user, "starting attempt");
            let (report_tx, report_rx) = oneshot::channel();
            self.tasks.insert(
                &cid,
                TaskEntry {
                    attempt: req.spec.attempt.clone(),
                    spec_json: req.spec.to_json(),
                    umb: umb.clone(),
                    report: Some(report_tx),
                    last_seen: Instant::now(),
                },
            );
            let (watch_tx, watch_rx) = oneshot::channel();
            let _ = self.cmds.send(Cmd::Watch(cid.clone(), watch_tx));
            let mut env = self.program.env.clone();
            env.insert(super::env::ROLE.into(), "task".into());
            env.insert(super::env::UMBILICAL.into(), self.umbilical_addr.clone());
            if !self.umbilical_cert.is_empty() {
                env.insert(super::env::AM_CERT.into(), self.umbilical_cert.clone());
            }
            let spec = pb::LaunchSpec {
                program: self.program.program.clone(),
                args: self.program.args.clone(),
                env,
                resources: self.program.resources.clone(),
            };
            // The container token the resource manager issued with the
            // container lets us start it (as the job's user).
            let started = match (NmClient::new(&container.nm_rpc_addr), &container.token) {
                (Ok(nm), Some(token)) => nm.start(token, spec, resource).await,
                (Err(e), _) => Err(e),
                (Ok(_), None) => Err(YarnError::InvalidArgument(format!(
                    "container {cid} came without a container token"
                ))),
            };
            match started {
                Ok(()) => break (container, report_rx, watch_rx),
                Err(e) => {
                    // An unreachable node manager is the node's fault: skip
                    // the node for a while and ask again, until give_up.
                    let unreachable = matches!(e, YarnError::Unavailable(_));
                    if unreachable {
                        tracing::warn!(container = %cid, node = %container.node_id, "cannot start container: {e}");
                    }
                    self.tasks.remove(&cid);
                    let _ = self.cmds.send(Cmd::Release(cid.clone()));
                    if unreachable {
                        self.bad_nodes
                            .lock()
                            .insert(container.node_id.clone(), Instant::now());
                    }
                    if !unreachable || Instant::now() > give_up {
                        return self.failed(
                            &req,
                            &container.host,
                            &container.rack,
                            format!(
                                "cannot start container {cid} on node {}: {e}",
                                container.node_id
                            ),
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let (host, rack) = (container.host.clone(), container.rack.clone());
        let cid = container.id.clone();
        if a.task_type == TaskType::Reduce {
            self.starvation.lock().reduce_started(&cid);
        }
        let mut check = tokio::time::interval(Duration::from_secs(2));
        let completion = loop {
            tokio::select! {
                r = &mut report_rx => match r {
                    Ok(mut report) => {
                        if report.status == TaskStatus::Failed {
                            // The host may be shared by several nodes: name the node.
                            report.diagnostics = format!(
                                "{} (container {cid} on node {})",
                                report.diagnostics.trim(),
                                container.node_id
                            );
                        }
                        // The attempt is done once it has reported (its output is
                        // committed): the job goes on at once. Its container gets a
                        // while to exit on its own before it is released; learning
                        // of the exit takes a heartbeat round, which would otherwise
                        // delay every task's completion (and the job's end).
                        let cmds = self.cmds.clone();
                        let exiting = cid.clone();
                        tokio::spawn(async move {
                            if tokio::time::timeout(Duration::from_secs(10), watch_rx).await.is_err() {
                                let _ = cmds.send(Cmd::Release(exiting));
                            }
                        });
                        break TaskCompletion {
                            report,
                            host: host.clone(),
                            rack: rack.clone(),
                            shuffle_addr: container.shuffle_addr.clone(),
                            preempted: false,
                        };
                    }
                    Err(_) => break self.failed(&req, &host, &rack, format!("container {cid}: report channel closed")),
                },
                st = &mut watch_rx => {
                    // A report sent just before exit wins.
                    if let Ok(report) = report_rx.try_recv() {
                        break TaskCompletion {
                            report,
                            host: host.clone(),
                            rack: rack.clone(),
                            shuffle_addr: container.shuffle_addr.clone(),
                            preempted: false,
                        };
                    }
                    let why = match st {
                        Ok(st) => {
                            let mut why = describe_exit(&st, &container);
                            if st.exit_code > 0 {
                                if let Some(line) = stderr_tail(&container, &self.app_id).await {
                                    why.push_str(&format!("; stderr: {line}"));
                                }
                            }
                            why
                        }
                        Err(_) => shutdown
                            .borrow()
                            .clone()
                            .unwrap_or_else(|| format!("container {cid}: completion unknown")),
                    };
                    break self.failed(&req, &host, &rack, why);
                }
                _ = shutdown.changed() => {
                    let why = shutdown.borrow().clone().unwrap_or_default();
                    break self.killed(&req, &why);
                }
                _ = check.tick() => {
                    if let (Some(limit), Some(silent)) = (self.resources.timeout, self.tasks.silent_for(&cid)) {
                        if silent > limit {
                            let _ = self.cmds.send(Cmd::Release(cid.clone()));
                            break self.failed(&req, &host, &rack, format!(
                                "container {cid} on node {}: attempt timed out after {} s without reporting",
                                container.node_id, silent.as_secs()
                            ));
                        }
                    }
                }
            }
        };
        self.tasks.remove(&cid);
        let preempted = self.starvation.lock().reduce_ended(&cid);
        if preempted && completion.report.status != TaskStatus::Succeeded {
            let mut c = self.killed(
                &req,
                &format!(
                    "container {cid} on node {} preempted: map attempts waited {} s for a container",
                    container.node_id,
                    self.resources.preempt_delay.as_secs()
                ),
            );
            c.host = host;
            c.rack = rack;
            c.preempted = true;
            return c;
        }
        completion
    }
}

impl TaskLauncher for YarnLauncher {
    fn launch(
        &self,
        req: LaunchRequest,
        umbilical: Arc<dyn Umbilical>,
    ) -> BoxFuture<'static, TaskCompletion> {
        Box::pin(self.inner.clone().run(req, umbilical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> pb::Container {
        pb::Container {
            id: "container_1_0001_01_000002".into(),
            node_id: "h1:8040".into(),
            host: "h1".into(),
            ..Default::default()
        }
    }

    fn status(code: i32, diag: &str) -> pb::ContainerStatus {
        pb::ContainerStatus {
            container_id: "container_1_0001_01_000002".into(),
            exit_code: code,
            diagnostics: diag.into(),
            ..Default::default()
        }
    }

    #[test]
    fn exits_name_container_node_and_cause() {
        let d = describe_exit(&status(exit::ABORTED, "node lost"), &container());
        assert!(
            d.contains("container_1_0001_01_000002") && d.contains("h1:8040") && d.contains("lost"),
            "{d}"
        );
        let d = describe_exit(&status(exit::KILLED_EXCEEDED_PMEM, ""), &container());
        assert!(d.contains("memory"), "{d}");
        let d = describe_exit(&status(101, "exit 101"), &container());
        assert!(d.contains("exited with code 101: exit 101"), "{d}");
    }

    #[test]
    fn starved_maps_preempt_the_newest_reducer_once_per_delay() {
        let d = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut s = Starvation::default();
        s.reduce_started("r1");
        s.reduce_started("r2");
        // No map waits: nothing to do.
        assert_eq!(s.check(t0 + d * 5, d), None);
        s.map_waits("m1", t0);
        assert_eq!(s.check(t0 + d / 2, d), None);
        assert!(!s.starved, "not starved before the delay");
        // After the delay: starved, and the newest reducer goes.
        assert_eq!(s.check(t0 + d, d).as_deref(), Some("r2"));
        assert!(s.starved);
        // Not again within the next delay.
        assert_eq!(s.check(t0 + d + d / 2, d), None);
        assert_eq!(s.check(t0 + d * 2, d).as_deref(), Some("r1"));
        // Nothing left to preempt.
        assert_eq!(s.check(t0 + d * 4, d), None);
        assert!(s.reduce_ended("r2"), "r2 was preempted");
        assert!(!s.reduce_ended("r3"), "r3 never was");
        // Starvation ends when no map waits any more.
        s.map_waits("m2", t0 + d * 4);
        s.map_stops_waiting("m1");
        assert!(s.starved, "m2 still waits");
        s.map_stops_waiting("m2");
        assert!(!s.starved);
    }

    #[test]
    fn resources_come_from_hadoop_keys() {
        let conf = JobConf::new()
            .with(MAP_MEMORY_MB, 512)
            .with(REDUCE_CPU_VCORES, 2)
            .with(TASK_TIMEOUT_MS, 0);
        let r = TaskResources::from_conf(&conf).unwrap();
        assert_eq!(r.map.memory_mb, 512);
        assert_eq!(r.reduce.memory_mb, 1024);
        assert_eq!(r.reduce.vcores, 2);
        assert_eq!(r.timeout, None);
        assert_eq!(r.preempt_delay, Duration::from_secs(10));
        assert!(TaskResources::from_conf(&JobConf::new().with(MAP_MEMORY_MB, "x")).is_err());
    }
}
