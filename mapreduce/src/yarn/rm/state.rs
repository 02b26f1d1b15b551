//! The resource manager's state machine: nodes and their liveness,
//! applications and their AM attempts, live containers. Plain Rust: calls
//! take the current time and return the AM containers to launch
//! ([`Launch`]); the gRPC adapter (`rpc.rs`) executes those.
//!
//! Application lifecycle: SUBMITTED → ACCEPTED (AM container requested,
//! then launched) → RUNNING (AM registered) → FINISHED (AM unregistered, with
//! its final status) | FAILED (the AM container exited without unregistering
//! `max_attempts` times; each earlier exit starts a new attempt and kills the
//! old attempt's containers) | KILLED.

use super::store::AppStore;
use crate::yarn::pb;
use crate::yarn::pb::{AppState, FinalStatus};
use crate::yarn::scheduler::{Allocation, Ask, Res, Scheduler, SchedulerConfig};
use crate::yarn::{exit, ids, pb_res, res_of, YarnError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The scheduler request id of an application's AM container (AMs may not use it).
pub(crate) const AM_REQUEST: u64 = u64::MAX;
/// AM container size when the submission gives none.
const DEFAULT_AM_RESOURCE: Res = Res {
    memory_mb: 1024,
    vcores: 1,
};
pub(crate) const DEFAULT_RACK: &str = "/default-rack";

/// Settings of the state machine.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub heartbeat_interval: Duration,
    pub dead_after: Duration,
    pub max_am_attempts: u32,
    pub am_finish_grace: Duration,
    /// An attempt whose AM container is allocated but that has not
    /// registered or allocated for this long fails (the AM hangs).
    pub am_expiry: Duration,
    pub scheduler: SchedulerConfig,
    /// Signs the container token of every allocated container.
    pub secret: tusk_common::security::ClusterSecret,
}

/// An AM container to start on a node manager.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub app_id: String,
    pub attempt_id: String,
    pub user: String,
    pub container: pb::Container,
    pub spec: pb::LaunchSpec,
}

struct NodeInfo {
    report: pb::NodeReport,
    capability: Res,
    last_seen: Instant,
    lost: bool,
    to_kill: Vec<String>,
    finished_apps: Vec<String>,
    /// Completed containers to acknowledge on the next heartbeat.
    acks: Vec<String>,
}

struct Attempt {
    n: u32,
    id: String,
    am_container: Option<String>,
    registered: bool,
    /// Last register/allocate call (or when the liveness worker first saw
    /// the AM container allocated).
    last_contact: Option<Instant>,
    new_allocated: Vec<pb::Container>,
    new_completed: Vec<pb::ContainerStatus>,
}

struct App {
    submission: pb::ApplicationSubmission,
    report: pb::ApplicationReport,
    max_attempts: u32,
    attempt: Option<Attempt>,
    nodes_used: BTreeSet<String>,
    /// When the AM unregistered; node managers are told the app ended once
    /// its AM container completed or `am_finish_grace` passed.
    finished_at: Option<Instant>,
    nodes_notified: bool,
    /// The submitter's user token (`authentication = "token"`), handed to
    /// its AM container as `TUSK_TOKEN`. Kept in memory only.
    user_token: Option<String>,
}

struct Live {
    app: String,
    attempt: u32,
    seq: u64,
    node: String,
    is_am: bool,
}

pub(crate) struct RmState {
    cfg: Settings,
    cluster_ts: u64,
    next_seq: u64,
    sched: Scheduler,
    topology: HashMap<String, String>,
    nodes: BTreeMap<String, NodeInfo>,
    apps: BTreeMap<String, App>,
    live: HashMap<String, Live>,
    store: Arc<dyn AppStore>,
    /// Applications submitted since start.
    pub submitted: u64,
    /// Containers allocated, released (by their AM, or killed because
    /// their attempt or application ended) and completed (reported exited,
    /// or lost with their node) since start, for `/metrics`; allocated =
    /// released + completed + live.
    pub containers_allocated: u64,
    pub containers_released: u64,
    pub containers_completed: u64,
}

fn now_ms() -> u64 {
    tusk_common::sys::now_ms()
}

impl RmState {
    /// Loads the store: finished applications are kept for reports; those
    /// that were still active fail with a reason (applications do not
    /// survive a resource manager restart).
    pub fn new(
        cfg: Settings,
        store: Arc<dyn AppStore>,
        topology: HashMap<String, String>,
    ) -> Result<RmState, String> {
        let mut st = RmState {
            sched: Scheduler::new(cfg.scheduler),
            cfg,
            cluster_ts: now_ms(),
            next_seq: 1,
            topology,
            nodes: BTreeMap::new(),
            apps: BTreeMap::new(),
            live: HashMap::new(),
            store,
            submitted: 0,
            containers_allocated: 0,
            containers_released: 0,
            containers_completed: 0,
        };
        for rec in st.store.load()? {
            let (Some(sub), Some(mut report)) = (rec.submission, rec.report) else {
                continue;
            };
            if !crate::yarn::client::is_final(report.state()) {
                let was = report
                    .state()
                    .as_str_name()
                    .trim_start_matches("APP_STATE_");
                report.set_state(AppState::Failed);
                report.set_final_status(FinalStatus::Failed);
                report.diagnostics = format!(
                    "Application {} failed: the resource manager restarted while it was {was}; \
                     applications do not survive a resource manager restart (resubmit it)",
                    report.app_id
                );
                report.finish_time_ms = now_ms();
                st.store.put(&pb::AppRecord {
                    submission: Some(sub.clone()),
                    report: Some(report.clone()),
                })?;
                warn!(app = %report.app_id, "{}", report.diagnostics);
            }
            st.apps.insert(
                report.app_id.clone(),
                App {
                    submission: sub,
                    max_attempts: 0,
                    attempt: None,
                    nodes_used: report.nm_rpc_addrs.iter().cloned().collect(),
                    report,
                    finished_at: None,
                    nodes_notified: true,
                    user_token: None,
                },
            );
        }
        st.store.flush()?;
        Ok(st)
    }

    pub fn store(&self) -> Arc<dyn AppStore> {
        self.store.clone()
    }

    fn persist(&self, app_id: &str) {
        if let Some(a) = self.apps.get(app_id) {
            let rec = pb::AppRecord {
                submission: Some(a.submission.clone()),
                report: Some(a.report.clone()),
            };
            if let Err(e) = self.store.put(&rec) {
                warn!(app = app_id, "{e}");
            }
        }
    }

    fn rack_of(&self, host: &str) -> String {
        self.topology
            .get(host)
            .cloned()
            .unwrap_or_else(|| DEFAULT_RACK.to_string())
    }

    // ---- applications ------------------------------------------------

    /// A new application; `user_token` (token authentication) goes to
    /// its AM container's environment as `TUSK_TOKEN`.
    pub fn submit(
        &mut self,
        mut sub: pb::ApplicationSubmission,
        user_token: Option<String>,
    ) -> Result<(String, Vec<Launch>), YarnError> {
        let spec = sub.am_spec.as_ref().ok_or_else(|| {
            YarnError::InvalidArgument("submission without an AM launch spec".into())
        })?;
        if spec.program.is_empty() {
            return Err(YarnError::InvalidArgument(
                "submission's AM launch spec has an empty program".into(),
            ));
        }
        let mut am_res = res_of(sub.am_resource.as_ref());
        if am_res.memory_mb == 0 {
            am_res.memory_mb = DEFAULT_AM_RESOURCE.memory_mb;
        }
        if am_res.vcores == 0 {
            am_res.vcores = DEFAULT_AM_RESOURCE.vcores;
        }
        self.check_fits(am_res, "the AM container")?;
        sub.am_resource = Some(pb_res(am_res));
        if sub.queue.is_empty() {
            sub.queue = "default".into();
        }
        if sub.user.is_empty() {
            return Err(YarnError::InvalidArgument(
                "submission without a user".into(),
            ));
        }
        let max_attempts = match sub.max_app_attempts {
            0 => self.cfg.max_am_attempts,
            n => n.min(self.cfg.max_am_attempts),
        }
        .max(1);
        let app_id = ids::app_id(self.cluster_ts, self.next_seq);
        self.next_seq += 1;
        self.submitted += 1;
        let report = pb::ApplicationReport {
            app_id: app_id.clone(),
            name: sub.name.clone(),
            user: sub.user.clone(),
            queue: sub.queue.clone(),
            app_type: sub.app_type.clone(),
            state: AppState::Accepted as i32,
            submit_time_ms: now_ms(),
            ..Default::default()
        };
        info!(app = %app_id, user = %sub.user, name = %sub.name, "application submitted");
        self.apps.insert(
            app_id.clone(),
            App {
                submission: sub,
                report,
                max_attempts,
                attempt: None,
                nodes_used: BTreeSet::new(),
                finished_at: None,
                nodes_notified: false,
                user_token,
            },
        );
        self.sched.add_app(&app_id);
        self.start_attempt(&app_id);
        self.persist(&app_id);
        let launches = self.schedule();
        Ok((app_id, launches))
    }

    fn check_fits(&self, r: Res, what: &str) -> Result<(), YarnError> {
        let max = self.sched.max_capability();
        if max.memory_mb > 0 && !r.fits_in(max) {
            return Err(YarnError::InvalidArgument(format!(
                "{what} asks for {r}, more than the largest node offers ({max})"
            )));
        }
        Ok(())
    }

    /// A new attempt: asks for its AM container.
    fn start_attempt(&mut self, app_id: &str) {
        let Some(a) = self.apps.get_mut(app_id) else {
            return;
        };
        let n = a.attempt.as_ref().map(|t| t.n).unwrap_or(0) + 1;
        let id = ids::attempt_id(app_id, n);
        a.attempt = Some(Attempt {
            n,
            id: id.clone(),
            am_container: None,
            registered: false,
            last_contact: None,
            new_allocated: Vec::new(),
            new_completed: Vec::new(),
        });
        a.report.attempt = n;
        a.report.current_attempt_id = id;
        a.report.am_container_id.clear();
        a.report.am_host.clear();
        a.report.am_rpc_addr.clear();
        a.report.am_cert_pem.clear();
        a.report.set_state(AppState::Accepted);
        let am_res = res_of(a.submission.am_resource.as_ref());
        self.sched
            .add_asks(app_id, vec![Ask::anywhere(AM_REQUEST, am_res, 1)]);
    }

    fn app_of_attempt(&mut self, attempt_id: &str) -> Result<(String, bool), YarnError> {
        let app_id = ids::app_of_attempt(attempt_id).ok_or_else(|| {
            YarnError::InvalidArgument(format!("invalid application attempt id {attempt_id:?}"))
        })?;
        let a = self.apps.get(&app_id).ok_or_else(|| {
            YarnError::NotFound(format!(
                "application {app_id} (of attempt {attempt_id}) is unknown"
            ))
        })?;
        let current = a.attempt.as_ref().is_some_and(|t| t.id == attempt_id)
            && !crate::yarn::client::is_final(a.report.state());
        Ok((app_id, current))
    }

    fn not_current(&self, app_id: &str, attempt_id: &str) -> YarnError {
        let a = &self.apps[app_id];
        YarnError::FailedPrecondition(format!(
            "attempt {attempt_id} is not the current attempt of application {app_id} (state {}, current attempt {})",
            a.report.state().as_str_name().trim_start_matches("APP_STATE_"),
            a.report.current_attempt_id
        ))
    }

    pub fn am_register(
        &mut self,
        r: pb::RegisterApplicationMasterRequest,
        now: Instant,
    ) -> Result<pb::RegisterApplicationMasterResponse, YarnError> {
        let (app_id, current) = self.app_of_attempt(&r.attempt_id)?;
        if !current {
            return Err(self.not_current(&app_id, &r.attempt_id));
        }
        let max = self.sched.max_capability();
        let a = self
            .apps
            .get_mut(&app_id)
            .ok_or_else(|| YarnError::NotFound(app_id.clone()))?;
        if let Some(t) = a.attempt.as_mut() {
            t.registered = true;
            t.last_contact = Some(now);
        }
        a.report.set_state(AppState::Running);
        a.report.am_host = r.host;
        a.report.am_rpc_addr = r.rpc_addr;
        a.report.am_cert_pem = r.cert_pem;
        a.report.tracking_url = r.tracking_url;
        if a.report.start_time_ms == 0 {
            a.report.start_time_ms = now_ms();
        }
        let queue = a.report.queue.clone();
        info!(app = %app_id, attempt = %r.attempt_id, "application master registered");
        self.persist(&app_id);
        Ok(pb::RegisterApplicationMasterResponse {
            app_id,
            max_capability: Some(pb_res(max)),
            queue,
        })
    }

    pub fn allocate(
        &mut self,
        r: pb::AllocateRequest,
        now: Instant,
    ) -> Result<(pb::AllocateResponse, Vec<Launch>), YarnError> {
        let (app_id, current) = self.app_of_attempt(&r.attempt_id)?;
        if !current {
            return Ok((
                pb::AllocateResponse {
                    shutdown: true,
                    ..Default::default()
                },
                Vec::new(),
            ));
        }
        let registered = self.apps[&app_id]
            .attempt
            .as_ref()
            .is_some_and(|t| t.registered);
        if !registered {
            return Err(YarnError::FailedPrecondition(format!(
                "attempt {} must register before it allocates",
                r.attempt_id
            )));
        }
        let mut asks = Vec::new();
        for q in &r.asks {
            let res = res_of(q.resource.as_ref());
            if q.request_id == AM_REQUEST {
                return Err(YarnError::InvalidArgument(format!(
                    "attempt {}: request id {} is reserved",
                    r.attempt_id, AM_REQUEST
                )));
            }
            if res.memory_mb == 0 {
                return Err(YarnError::InvalidArgument(format!(
                    "attempt {}: request {} asks for no memory",
                    r.attempt_id, q.request_id
                )));
            }
            self.check_fits(
                res,
                &format!("request {} of attempt {}", q.request_id, r.attempt_id),
            )?;
            asks.push(Ask {
                request_id: q.request_id,
                priority: q.priority,
                resource: Res::new(res.memory_mb, res.vcores.max(1)),
                count: q.count,
                hosts: q.hosts.clone(),
                racks: q.racks.clone(),
                relax_locality: q.relax_locality,
            });
        }
        for id in &r.cancel_requests {
            self.sched.cancel(&app_id, *id);
        }
        let changed = !asks.is_empty() || !r.releases.is_empty();
        self.sched.add_asks(&app_id, asks);
        // A released container completes for the AM at once, as in YARN
        // ("released by the application master"); its node kills it.
        let mut released = Vec::new();
        for cid in &r.releases {
            if self
                .live
                .get(cid)
                .is_some_and(|l| l.app == app_id && !l.is_am)
            {
                self.drop_container(cid, true);
                released.push(pb::ContainerStatus {
                    container_id: cid.clone(),
                    state: pb::ContainerState::Complete as i32,
                    exit_code: crate::yarn::exit::KILLED_BY_APPMASTER,
                    diagnostics: "Container released by the application master".into(),
                    app_id: app_id.clone(),
                    run_as: String::new(),
                });
            }
        }
        let mut launches = Vec::new();
        if changed {
            launches = self.schedule();
        }
        let nodes = self.nodes.values().filter(|n| !n.lost).count() as u32;
        let a = self
            .apps
            .get_mut(&app_id)
            .ok_or_else(|| YarnError::NotFound(app_id.clone()))?;
        a.report.progress = r.progress.clamp(0.0, 1.0);
        let t = a
            .attempt
            .as_mut()
            .ok_or_else(|| YarnError::Internal(format!("{app_id}: no attempt")))?;
        t.last_contact = Some(now);
        t.new_completed.extend(released);
        Ok((
            pb::AllocateResponse {
                allocated: std::mem::take(&mut t.new_allocated),
                completed: std::mem::take(&mut t.new_completed),
                num_cluster_nodes: nodes,
                shutdown: false,
            },
            launches,
        ))
    }

    pub fn am_finish(
        &mut self,
        r: pb::FinishApplicationMasterRequest,
        now: Instant,
    ) -> Result<(), YarnError> {
        let (app_id, current) = self.app_of_attempt(&r.attempt_id)?;
        if !current {
            return Err(self.not_current(&app_id, &r.attempt_id));
        }
        let status = r.final_status();
        if let Some(a) = self.apps.get_mut(&app_id) {
            if !r.tracking_url.is_empty() {
                a.report.tracking_url = r.tracking_url.clone();
            }
        }
        info!(app = %app_id, final_status = ?status, "application master unregistered");
        self.end_app(&app_id, AppState::Finished, status, r.diagnostics, now);
        Ok(())
    }

    pub fn kill(&mut self, app_id: &str, user: &str, now: Instant) -> Result<(), YarnError> {
        let a = self
            .apps
            .get(app_id)
            .ok_or_else(|| YarnError::NotFound(format!("application {app_id} is unknown")))?;
        if crate::yarn::client::is_final(a.report.state()) {
            return Ok(());
        }
        let who = if user.is_empty() { "a client" } else { user };
        info!(app = app_id, user = who, "application killed");
        self.end_app(
            app_id,
            AppState::Killed,
            FinalStatus::Killed,
            format!("Application {app_id} was killed by user {who}"),
            now,
        );
        Ok(())
    }

    /// Ends an application: kills its containers (except, after a clean
    /// unregister, the AM container, which gets `am_finish_grace` to exit),
    /// records the outcome, and tells the node managers.
    fn end_app(
        &mut self,
        app_id: &str,
        state: AppState,
        status: FinalStatus,
        diag: String,
        now: Instant,
    ) {
        let keep_am = state == AppState::Finished;
        let mine: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.app == app_id && !(keep_am && l.is_am))
            .map(|(c, _)| c.clone())
            .collect();
        for c in mine {
            self.drop_container(&c, true);
        }
        self.sched.cancel_all(app_id);
        let am_live = self.live.values().any(|l| l.app == app_id && l.is_am);
        let Some(a) = self.apps.get_mut(app_id) else {
            return;
        };
        a.report.set_state(state);
        a.report.set_final_status(status);
        a.report.diagnostics = diag;
        a.report.finish_time_ms = now_ms();
        if state == AppState::Finished && status == FinalStatus::Succeeded {
            a.report.progress = 1.0;
        }
        a.finished_at = Some(now);
        a.user_token = None;
        if !am_live {
            self.notify_nodes(app_id);
            self.sched.remove_app(app_id);
        }
        self.persist(app_id);
    }

    fn notify_nodes(&mut self, app_id: &str) {
        let Some(a) = self.apps.get_mut(app_id) else {
            return;
        };
        if a.nodes_notified {
            return;
        }
        a.nodes_notified = true;
        for n in self.nodes.values_mut() {
            n.finished_apps.push(app_id.to_string());
        }
    }

    /// Forgets a live container: frees it in the scheduler and, if `kill`,
    /// has its node manager kill it.
    fn drop_container(&mut self, cid: &str, kill: bool) -> Option<Live> {
        let l = self.live.remove(cid)?;
        if kill {
            self.containers_released += 1;
        } else {
            self.containers_completed += 1;
        }
        self.sched.release(l.seq);
        if kill {
            if let Some(n) = self.nodes.get_mut(&l.node) {
                n.to_kill.push(cid.to_string());
            }
        }
        Some(l)
    }

    /// A live container completed (exited, was killed, or was lost).
    fn complete_container(&mut self, status: pb::ContainerStatus, now: Instant) {
        let Some(l) = self.drop_container(&status.container_id, false) else {
            return;
        };
        let Some(a) = self.apps.get_mut(&l.app) else {
            return;
        };
        let final_app = crate::yarn::client::is_final(a.report.state());
        let current = a.attempt.as_ref().is_some_and(|t| t.n == l.attempt);
        if final_app {
            if l.is_am {
                self.notify_nodes(&l.app);
                self.sched.remove_app(&l.app);
            }
            return;
        }
        if !current {
            return;
        }
        if !l.is_am {
            if let Some(t) = a.attempt.as_mut() {
                t.new_completed.push(status);
            }
            return;
        }
        // The AM container ended without unregistering: a failed attempt.
        let (n, attempt_id, max) = match a.attempt.as_ref() {
            Some(t) => (t.n, t.id.clone(), a.max_attempts),
            None => return,
        };
        let app_id = l.app.clone();
        let why = format!(
            "AM container {} for attempt {attempt_id} exited with exit code {}{}{}",
            status.container_id,
            status.exit_code,
            if status.diagnostics.is_empty() {
                ""
            } else {
                ": "
            },
            status.diagnostics
        );
        warn!(app = %app_id, "{why}");
        // The failed attempt's containers go with it.
        let old: Vec<String> = self
            .live
            .iter()
            .filter(|(_, c)| c.app == app_id)
            .map(|(c, _)| c.clone())
            .collect();
        for c in old {
            self.drop_container(&c, true);
        }
        self.sched.cancel_all(&app_id);
        if n < max {
            if let Some(a) = self.apps.get_mut(&app_id) {
                a.report.diagnostics = format!("{why}; starting attempt {}", n + 1);
            }
            self.start_attempt(&app_id);
            self.persist(&app_id);
        } else {
            self.end_app(
                &app_id,
                AppState::Failed,
                FinalStatus::Failed,
                format!(
                    "Application {app_id} failed {n} times (max attempts {max}); last: {why}. Failing the application."
                ),
                now,
            );
        }
    }

    /// An AM container could not be started on its node manager.
    pub fn am_launch_failed(
        &mut self,
        container_id: &str,
        diag: String,
        now: Instant,
    ) -> Vec<Launch> {
        if let Some(l) = self.live.get(container_id) {
            if let Some(n) = self.nodes.get_mut(&l.node) {
                n.to_kill.push(container_id.to_string());
            }
        }
        self.complete_container(
            pb::ContainerStatus {
                container_id: container_id.to_string(),
                state: pb::ContainerState::Complete as i32,
                exit_code: exit::INVALID,
                diagnostics: diag,
                app_id: String::new(),
                run_as: String::new(),
            },
            now,
        );
        self.schedule()
    }

    /// Runs the scheduler over every node; returns AM containers to launch.
    pub fn schedule(&mut self) -> Vec<Launch> {
        let allocs = self.sched.schedule_all();
        self.apply(allocs)
    }

    fn apply(&mut self, allocs: Vec<Allocation>) -> Vec<Launch> {
        let mut launches = Vec::new();
        for al in allocs {
            let Some(node) = self.nodes.get(&al.node) else {
                self.sched.release(al.container);
                continue;
            };
            let node_report = node.report.clone();
            let Some(a) = self.apps.get_mut(&al.app) else {
                self.sched.release(al.container);
                continue;
            };
            let Some(t) = a.attempt.as_mut() else {
                self.sched.release(al.container);
                continue;
            };
            let cid = ids::container_id(&al.app, t.n, al.container);
            let token = crate::yarn::security::issue_container_token(
                &self.cfg.secret,
                &cid,
                &node_report.node_id,
                &a.submission.user,
                &al.app,
                crate::yarn::security::CONTAINER_TOKEN_LIFETIME,
            );
            let c = pb::Container {
                id: cid.clone(),
                node_id: node_report.node_id.clone(),
                host: node_report.host.clone(),
                rack: node_report.rack.clone(),
                nm_rpc_addr: node_report.rpc_addr.clone(),
                nm_http_addr: node_report.http_addr.clone(),
                shuffle_addr: node_report.shuffle_addr.clone(),
                resource: Some(pb_res(al.resource)),
                request_id: al.request_id,
                priority: al.priority,
                token: Some(token),
            };
            let is_am = al.request_id == AM_REQUEST;
            a.nodes_used.insert(node_report.rpc_addr.clone());
            a.report.nm_rpc_addrs = a.nodes_used.iter().cloned().collect();
            if is_am {
                t.am_container = Some(cid.clone());
                a.report.am_container_id = cid.clone();
                let mut spec = a.submission.am_spec.clone().unwrap_or_default();
                spec.env
                    .insert(crate::yarn::env::APP_ATTEMPT_ID.to_string(), t.id.clone());
                spec.env.insert(
                    crate::yarn::env::APP_TOKEN.to_string(),
                    crate::yarn::security::app_token(&self.cfg.secret, &al.app),
                );
                if let Some(tok) = &a.user_token {
                    spec.env
                        .insert(crate::yarn::env::TOKEN.to_string(), tok.clone());
                }
                launches.push(Launch {
                    app_id: al.app.clone(),
                    attempt_id: t.id.clone(),
                    user: a.submission.user.clone(),
                    container: c,
                    spec,
                });
            } else {
                t.new_allocated.push(c);
            }
            self.containers_allocated += 1;
            self.live.insert(
                cid,
                Live {
                    app: al.app.clone(),
                    attempt: t.n,
                    seq: al.container,
                    node: al.node.clone(),
                    is_am,
                },
            );
        }
        launches
    }

    // ---- nodes -------------------------------------------------------

    pub fn register_node(
        &mut self,
        r: pb::RegisterNodeManagerRequest,
        now: Instant,
    ) -> Result<(pb::RegisterNodeManagerResponse, Vec<Launch>), YarnError> {
        if r.node_id.is_empty() || r.rpc_addr.is_empty() {
            return Err(YarnError::InvalidArgument(
                "node manager registration without a node id or RPC address".into(),
            ));
        }
        let cap = res_of(r.capability.as_ref());
        let rack = self.rack_of(&r.host);
        let known = self.nodes.get(&r.node_id).is_some_and(|n| !n.lost);
        let reported: HashMap<&str, &pb::ContainerStatus> = r
            .containers
            .iter()
            .map(|c| (c.container_id.as_str(), c))
            .collect();
        let mut to_kill = Vec::new();
        if known {
            // A node manager that restarted within dead_after: its live
            // containers it no longer has are lost.
            let mine: Vec<String> = self
                .live
                .iter()
                .filter(|(_, l)| l.node == r.node_id)
                .map(|(c, _)| c.clone())
                .collect();
            for cid in mine {
                let status = match reported.get(cid.as_str()) {
                    Some(s) if s.state() != pb::ContainerState::Complete => continue,
                    Some(s) => (*s).clone(),
                    None => lost_status(
                        &cid,
                        &format!(
                            "Container {cid} lost: node manager {} re-registered without it",
                            r.node_id
                        ),
                    ),
                };
                self.complete_container(status, now);
            }
        } else {
            self.sched.add_node(&r.node_id, &r.host, &rack, cap);
        }
        for c in &r.containers {
            if c.state() != pb::ContainerState::Complete && !self.live.contains_key(&c.container_id)
            {
                to_kill.push(c.container_id.clone());
            }
        }
        let report = pb::NodeReport {
            node_id: r.node_id.clone(),
            host: r.host.clone(),
            rack: rack.clone(),
            rpc_addr: r.rpc_addr.clone(),
            http_addr: r.http_addr.clone(),
            shuffle_addr: r.shuffle_addr.clone(),
            state: pb::NodeState::Running as i32,
            capability: Some(pb_res(cap)),
            used: None,
            num_containers: 0,
            last_heartbeat_ms: now_ms(),
        };
        // Tell the node which of the apps it may have served have ended.
        let finished: Vec<String> = self
            .apps
            .iter()
            .filter(|(_, a)| a.nodes_notified && a.nodes_used.contains(&r.rpc_addr))
            .map(|(id, _)| id.clone())
            .collect();
        info!(node = %r.node_id, host = %r.host, rack = %rack, capability = %cap, "node manager registered");
        self.nodes.insert(
            r.node_id.clone(),
            NodeInfo {
                report,
                capability: cap,
                last_seen: now,
                lost: false,
                to_kill,
                finished_apps: finished,
                acks: Vec::new(),
            },
        );
        let launches = self.schedule();
        Ok((
            pb::RegisterNodeManagerResponse {
                heartbeat_interval_ms: self.cfg.heartbeat_interval.as_millis() as u64,
                rack,
            },
            launches,
        ))
    }

    pub fn heartbeat(
        &mut self,
        r: pb::NodeHeartbeatRequest,
        now: Instant,
    ) -> (pb::NodeHeartbeatResponse, Vec<Launch>) {
        let interval = self.cfg.heartbeat_interval.as_millis() as u64;
        match self.nodes.get_mut(&r.node_id) {
            Some(n) if !n.lost => {
                n.last_seen = now;
                n.report.last_heartbeat_ms = now_ms();
            }
            _ => {
                return (
                    pb::NodeHeartbeatResponse {
                        reregister: true,
                        heartbeat_interval_ms: interval,
                        ..Default::default()
                    },
                    Vec::new(),
                )
            }
        }
        let mut acks = Vec::new();
        let mut kill = Vec::new();
        let mut freed = false;
        for c in r.containers {
            self.note_run_as(&c);
            if c.state() == pb::ContainerState::Complete {
                acks.push(c.container_id.clone());
                if self.live.contains_key(&c.container_id) {
                    freed = true;
                    self.complete_container(c, now);
                }
            } else if !self.live.contains_key(&c.container_id) {
                kill.push(c.container_id);
            }
        }
        let mut launches = self.apply_node_update(&r.node_id);
        if freed {
            launches.extend(self.schedule());
        }
        let Some(n) = self.nodes.get_mut(&r.node_id) else {
            return (pb::NodeHeartbeatResponse::default(), launches);
        };
        n.to_kill.extend(kill);
        n.acks.extend(acks);
        let mut to_kill = std::mem::take(&mut n.to_kill);
        to_kill.sort();
        to_kill.dedup();
        (
            pb::NodeHeartbeatResponse {
                reregister: false,
                containers_to_kill: to_kill,
                finished_apps: std::mem::take(&mut n.finished_apps),
                acknowledged: std::mem::take(&mut n.acks),
                heartbeat_interval_ms: interval,
            },
            launches,
        )
    }

    /// Records the account a live container of an application runs as.
    fn note_run_as(&mut self, c: &pb::ContainerStatus) {
        if c.run_as.is_empty() {
            return;
        }
        let Some(l) = self.live.get(&c.container_id) else {
            return;
        };
        if let Some(a) = self.apps.get_mut(&l.app) {
            if !a.report.run_as.contains(&c.run_as) {
                a.report.run_as.push(c.run_as.clone());
                a.report.run_as.sort();
            }
        }
    }

    fn apply_node_update(&mut self, node: &str) -> Vec<Launch> {
        let allocs = self.sched.node_update(node);
        self.apply(allocs)
    }

    /// Periodic work: declares silent nodes lost (their containers
    /// complete with -100), tells nodes about applications whose AM did not
    /// exit within the grace after unregistering.
    pub fn tick(&mut self, now: Instant) -> Vec<Launch> {
        let dead: Vec<(String, Duration)> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                !n.lost && now.saturating_duration_since(n.last_seen) > self.cfg.dead_after
            })
            .map(|(id, n)| (id.clone(), now.saturating_duration_since(n.last_seen)))
            .collect();
        let mut freed = false;
        for (id, silent) in dead {
            freed = true;
            let host = self
                .nodes
                .get(&id)
                .map(|n| n.report.host.clone())
                .unwrap_or_default();
            warn!(node = %id, "node manager lost: no heartbeat for {silent:.1?}");
            if let Some(n) = self.nodes.get_mut(&id) {
                n.lost = true;
                n.report.set_state(pb::NodeState::Lost);
                n.to_kill.clear();
            }
            let gone = self.sched.remove_node(&id);
            let by_seq: HashMap<u64, String> = self
                .live
                .iter()
                .filter(|(_, l)| l.node == id)
                .map(|(c, l)| (l.seq, c.clone()))
                .collect();
            let mut cids: Vec<String> = gone
                .iter()
                .filter_map(|(s, _)| by_seq.get(s).cloned())
                .collect();
            // Containers allocated on the node but freed from the scheduler
            // another way cannot exist; still, be thorough.
            for c in by_seq.values() {
                if !cids.contains(c) {
                    cids.push(c.clone());
                }
            }
            for cid in cids {
                let st = lost_status(
                    &cid,
                    &format!(
                        "Container {cid} lost: node manager {id} (host {host}) was lost (no heartbeat for {:.1}s)",
                        silent.as_secs_f64()
                    ),
                );
                self.complete_container(st, now);
            }
        }
        // Application masters that stopped talking: fail their attempt.
        let mut expired = Vec::new();
        for (id, a) in self.apps.iter_mut() {
            if crate::yarn::client::is_final(a.report.state()) {
                continue;
            }
            let Some(t) = a.attempt.as_mut() else {
                continue;
            };
            let Some(cid) = t.am_container.clone() else {
                continue;
            };
            let last = *t.last_contact.get_or_insert(now);
            let silent = now.saturating_duration_since(last);
            if silent > self.cfg.am_expiry && self.live.contains_key(&cid) {
                expired.push((id.clone(), t.id.clone(), cid, silent));
            }
        }
        for (app, attempt, cid, silent) in expired {
            warn!(app = %app, attempt = %attempt, "application master expired: silent for {silent:.1?}");
            if let Some(n) = self
                .live
                .get(&cid)
                .and_then(|l| self.nodes.get_mut(&l.node))
            {
                n.to_kill.push(cid.clone());
            }
            let st = pb::ContainerStatus {
                container_id: cid.clone(),
                state: pb::ContainerState::Complete as i32,
                exit_code: exit::ABORTED,
                diagnostics: format!(
                    "application master of attempt {attempt} expired: no register or allocate call for {:.1}s",
                    silent.as_secs_f64()
                ),
                app_id: app.clone(),
                run_as: String::new(),
            };
            self.complete_container(st, now);
            freed = true;
        }
        let overdue: Vec<String> = self
            .apps
            .iter()
            .filter(|(_, a)| {
                !a.nodes_notified
                    && a.finished_at.is_some_and(|t| {
                        now.saturating_duration_since(t) > self.cfg.am_finish_grace
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in overdue {
            let am: Vec<String> = self
                .live
                .iter()
                .filter(|(_, l)| l.app == id)
                .map(|(c, _)| c.clone())
                .collect();
            for c in am {
                self.drop_container(&c, true);
            }
            self.notify_nodes(&id);
            self.sched.remove_app(&id);
            freed = true;
        }
        if freed {
            self.schedule()
        } else {
            Vec::new()
        }
    }

    // ---- reports -----------------------------------------------------

    fn fill(&self, id: &str, a: &App) -> pb::ApplicationReport {
        let mut r = a.report.clone();
        if !crate::yarn::client::is_final(r.state()) {
            r.used = Some(pb_res(self.sched.app_usage(id)));
            r.running_containers = self.live.values().filter(|l| l.app == id).count() as u32;
        }
        r
    }

    pub fn report(&self, app_id: &str) -> Result<pb::ApplicationReport, YarnError> {
        self.apps
            .get(app_id)
            .map(|a| self.fill(app_id, a))
            .ok_or_else(|| YarnError::NotFound(format!("application {app_id} is unknown")))
    }

    pub fn list(&self, states: &HashSet<i32>, user: &str) -> Vec<pb::ApplicationReport> {
        self.apps
            .iter()
            .filter(|(_, a)| states.is_empty() || states.contains(&a.report.state))
            .filter(|(_, a)| user.is_empty() || a.report.user == user)
            .map(|(id, a)| self.fill(id, a))
            .collect()
    }

    pub fn nodes(&self, include_lost: bool) -> Vec<pb::NodeReport> {
        self.nodes
            .iter()
            .filter(|(_, n)| include_lost || !n.lost)
            .map(|(id, n)| {
                let mut r = n.report.clone();
                if let Some((used, _)) = self.sched.node_usage(id) {
                    r.used = Some(pb_res(used));
                }
                r.capability = Some(pb_res(n.capability));
                r.num_containers = self.live.values().filter(|l| l.node == *id).count() as u32;
                r
            })
            .collect()
    }

    pub fn metrics(&self) -> pb::GetClusterMetricsResponse {
        let count =
            |s: AppState| self.apps.values().filter(|a| a.report.state() == s).count() as u32;
        let (used, total) = self.sched.cluster_usage();
        pb::GetClusterMetricsResponse {
            apps_submitted: self.submitted as u32,
            apps_pending: count(AppState::Accepted) + count(AppState::Submitted),
            apps_running: count(AppState::Running),
            apps_completed: count(AppState::Finished),
            apps_failed: count(AppState::Failed),
            apps_killed: count(AppState::Killed),
            active_nodes: self.nodes.values().filter(|n| !n.lost).count() as u32,
            lost_nodes: self.nodes.values().filter(|n| n.lost).count() as u32,
            total: Some(pb_res(total)),
            allocated: Some(pb_res(used)),
            containers_running: self.live.len() as u32,
        }
    }
}

fn lost_status(cid: &str, diag: &str) -> pb::ContainerStatus {
    pb::ContainerStatus {
        container_id: cid.to_string(),
        state: pb::ContainerState::Complete as i32,
        exit_code: exit::ABORTED,
        diagnostics: diag.to_string(),
        app_id: String::new(),
        run_as: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yarn::rm::store::MemStore;

    fn settings() -> Settings {
        Settings {
            heartbeat_interval: Duration::from_millis(100),
            dead_after: Duration::from_secs(1),
            max_am_attempts: 2,
            am_finish_grace: Duration::from_millis(500),
            am_expiry: Duration::from_secs(10),
            scheduler: SchedulerConfig::default(),
            secret: tusk_common::security::ClusterSecret::generate(),
        }
    }

    fn node(st: &mut RmState, id: &str, now: Instant) {
        st.register_node(
            pb::RegisterNodeManagerRequest {
                node_id: id.into(),
                host: id.into(),
                rpc_addr: id.into(),
                capability: Some(pb_res(Res::new(4096, 4))),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    }

    fn submission() -> pb::ApplicationSubmission {
        pb::ApplicationSubmission {
            user: "u".into(),
            am_spec: Some(pb::LaunchSpec {
                program: "/bin/true".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exited(
        st: &mut RmState,
        node: &str,
        cid: &str,
        code: i32,
        now: Instant,
    ) -> (pb::NodeHeartbeatResponse, Vec<Launch>) {
        st.heartbeat(
            pb::NodeHeartbeatRequest {
                node_id: node.into(),
                containers: vec![pb::ContainerStatus {
                    container_id: cid.into(),
                    state: pb::ContainerState::Complete as i32,
                    exit_code: code,
                    ..Default::default()
                }],
            },
            now,
        )
    }

    #[test]
    fn am_exits_twice_then_the_app_fails() {
        let store = Arc::new(MemStore::default());
        let mut st = RmState::new(settings(), store.clone(), HashMap::new()).unwrap();
        let now = Instant::now();
        node(&mut st, "n1", now);
        let (app, l) = st.submit(submission(), None).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(
            l[0].spec.env[crate::yarn::env::APP_ATTEMPT_ID],
            ids::attempt_id(&app, 1)
        );
        let (_, l2) = exited(&mut st, "n1", &l[0].container.id, 1, now);
        assert_eq!(l2.len(), 1, "second attempt launched");
        assert_eq!(st.report(&app).unwrap().attempt, 2);
        assert_eq!(st.report(&app).unwrap().state(), AppState::Accepted);
        let (resp, l3) = exited(&mut st, "n1", &l2[0].container.id, 1, now);
        assert!(l3.is_empty());
        let r = st.report(&app).unwrap();
        assert_eq!(r.state(), AppState::Failed);
        assert!(
            r.diagnostics.contains("failed 2 times"),
            "{}",
            r.diagnostics
        );
        // The node is told to clean up, and that the exits were recorded.
        assert_eq!(resp.finished_apps, vec![app.clone()]);
        assert_eq!(resp.acknowledged, vec![l2[0].container.id.clone()]);
        // Stored: a restart keeps it as it was.
        let st2 = RmState::new(settings(), store, HashMap::new()).unwrap();
        assert_eq!(st2.report(&app).unwrap().state(), AppState::Failed);
    }

    #[test]
    fn restart_fails_active_apps() {
        let store = Arc::new(MemStore::default());
        let mut st = RmState::new(settings(), store.clone(), HashMap::new()).unwrap();
        let (app, _) = st.submit(submission(), None).unwrap();
        assert_eq!(st.report(&app).unwrap().state(), AppState::Accepted);
        let st2 = RmState::new(settings(), store, HashMap::new()).unwrap();
        let r = st2.report(&app).unwrap();
        assert_eq!(r.state(), AppState::Failed);
        assert!(
            r.diagnostics.contains("restarted while it was ACCEPTED"),
            "{}",
            r.diagnostics
        );
    }

    #[test]
    fn silent_node_is_lost_and_its_containers_reported() {
        let mut st =
            RmState::new(settings(), Arc::new(MemStore::default()), HashMap::new()).unwrap();
        let t0 = Instant::now();
        node(&mut st, "n1", t0);
        let (app, l) = st.submit(submission(), None).unwrap();
        node(&mut st, "n2", t0);
        let am_node = l[0].container.node_id.clone();
        let attempt = ids::attempt_id(&app, 1);
        st.am_register(
            pb::RegisterApplicationMasterRequest {
                attempt_id: attempt.clone(),
                ..Default::default()
            },
            t0,
        )
        .unwrap();
        let other = if am_node == "n1" { "n2" } else { "n1" };
        let (resp, _) = st
            .allocate(
                pb::AllocateRequest {
                    attempt_id: attempt.clone(),
                    asks: vec![pb::ResourceRequest {
                        request_id: 1,
                        resource: Some(pb_res(Res::new(512, 1))),
                        count: 1,
                        hosts: vec![other.into()],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                t0,
            )
            .unwrap();
        assert_eq!(resp.allocated.len(), 1);
        assert_eq!(resp.allocated[0].node_id, other);
        // Only the AM's node keeps heartbeating.
        let t1 = t0 + Duration::from_millis(1500);
        st.heartbeat(
            pb::NodeHeartbeatRequest {
                node_id: am_node.clone(),
                containers: vec![],
            },
            t1,
        );
        st.tick(t1);
        let (resp, _) = st
            .allocate(
                pb::AllocateRequest {
                    attempt_id: attempt,
                    ..Default::default()
                },
                t1,
            )
            .unwrap();
        assert_eq!(resp.completed.len(), 1);
        assert_eq!(resp.completed[0].exit_code, exit::ABORTED);
        assert!(resp.completed[0].diagnostics.contains(other));
        assert_eq!(st.metrics().lost_nodes, 1);
    }

    #[test]
    fn unregistered_app_is_cleaned_up_when_its_am_exits() {
        let mut st =
            RmState::new(settings(), Arc::new(MemStore::default()), HashMap::new()).unwrap();
        let now = Instant::now();
        node(&mut st, "n1", now);
        let (app, l) = st.submit(submission(), None).unwrap();
        let attempt = ids::attempt_id(&app, 1);
        st.am_register(
            pb::RegisterApplicationMasterRequest {
                attempt_id: attempt.clone(),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        let (resp, _) = st
            .allocate(
                pb::AllocateRequest {
                    attempt_id: attempt.clone(),
                    asks: vec![pb::ResourceRequest {
                        request_id: 1,
                        resource: Some(pb_res(Res::new(512, 1))),
                        count: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        let task = resp.allocated[0].id.clone();
        st.am_finish(
            pb::FinishApplicationMasterRequest {
                attempt_id: attempt,
                final_status: FinalStatus::Succeeded as i32,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        let r = st.report(&app).unwrap();
        assert_eq!(r.state(), AppState::Finished);
        assert_eq!(r.final_status(), FinalStatus::Succeeded);
        // The task is killed at once; the AM gets its grace, so the node is
        // not told yet.
        let (resp, _) = st.heartbeat(
            pb::NodeHeartbeatRequest {
                node_id: "n1".into(),
                containers: vec![],
            },
            now,
        );
        assert_eq!(resp.containers_to_kill, vec![task]);
        assert!(resp.finished_apps.is_empty());
        // The AM exits: now the node cleans up.
        let (resp, _) = exited(&mut st, "n1", &l[0].container.id, 0, now);
        assert_eq!(resp.finished_apps, vec![app.clone()]);
        assert_eq!(st.metrics().containers_running, 0);
        assert_eq!(st.report(&app).unwrap().state(), AppState::Finished);
    }
}
