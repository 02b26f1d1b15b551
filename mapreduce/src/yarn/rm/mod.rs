//! The resource manager: node managers register and heartbeat, clients
//! submit applications, application masters allocate containers.
//!
//! Workers (stopped in this order by [`RmHandle::shutdown`]):
//! 1. `rpc-server` (`rpc.rs`): ResourceTracker, ApplicationClient,
//!    ApplicationMaster on one port.
//! 2. `http-server` (`http.rs`): `/`, `/metrics`, `/ws/v1/cluster/apps`.
//! 3. `liveness`: every `min(heartbeat_interval, dead_after / 4)`, declares
//!    silent node managers lost and finishes applications whose AM outlived
//!    its grace (`state.rs`, [`state::RmState::tick`]).
//!
//! The state machine (`state.rs`) is plain Rust behind one mutex; AM
//! containers it decides to launch are started here, off the lock.
//! Applications are stored in sled (`store.rs`); see docs/ARCHITECTURE.md
//! ("Compute layer") for what a restart does to them.

mod http;
mod rpc;
pub(crate) mod state;
pub(crate) mod store;
mod ui;

use crate::yarn::advertised;
use crate::yarn::client::NmClient;
use crate::yarn::scheduler::SchedulerConfig;
use crate::yarn::workers::Workers;
use anyhow::Context as _;
use parking_lot::Mutex;
use state::{Launch, RmState, Settings};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::{info, warn};
use tusk_common::config::AuthMode;
use tusk_common::security::ClusterSecret;
use tusk_common::TuskConfig;

/// A running resource manager.
pub struct RmHandle {
    /// Bound RPC address.
    pub rpc_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    rm: Arc<Rm>,
    workers: Workers,
}

impl RmHandle {
    /// Stops the workers in order. Application state is in the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.workers.stop().await;
        let store = self.rm.state.lock().store();
        tokio::task::spawn_blocking(move || store.flush())
            .await?
            .map_err(anyhow::Error::msg)?;
        info!("resource manager stopped");
        Ok(())
    }
}

/// Shared by the RPC services, the HTTP server and the liveness worker.
pub(crate) struct Rm {
    pub state: Mutex<RmState>,
    pub started_ms: u64,
    /// Calls to the three RPC services (`rpc.rs`), for `/metrics`.
    pub rpc: Arc<tusk_common::rpc_metrics::RpcMetrics>,
    /// Checks node managers' node authentication; signs calls to node
    /// managers (logs) and container tokens (in `state`).
    pub secret: Arc<ClusterSecret>,
    /// How ApplicationClient callers prove who they are.
    pub auth: AuthMode,
}

impl Rm {
    /// Starts AM containers on their node managers, off the lock; a launch
    /// that fails fails the attempt (which may launch the next one).
    pub fn launch(self: &Arc<Self>, launches: Vec<Launch>) {
        for l in launches {
            let rm = self.clone();
            tokio::spawn(async move {
                let addr = l.container.nm_rpc_addr.clone();
                // The AM container is started like any other: with the
                // container token issued with it.
                let res = match NmClient::new(&addr) {
                    Ok(nm) => nm.start_container(&l.container, l.spec).await,
                    Err(e) => Err(e),
                };
                match res {
                    Ok(()) => {
                        info!(app = %l.app_id, attempt = %l.attempt_id, user = %l.user, container = %l.container.id, node = %l.container.node_id, "AM container launched");
                    }
                    Err(e) => {
                        let diag = format!(
                            "cannot launch AM container {} on node manager {}: {e}",
                            l.container.id, l.container.node_id
                        );
                        warn!(app = %l.app_id, "{diag}");
                        let more =
                            rm.state
                                .lock()
                                .am_launch_failed(&l.container.id, diag, Instant::now());
                        rm.launch(more);
                    }
                }
            });
        }
    }
}

/// How long the resource manager waits for one node manager's logs.
const LOGS_TIMEOUT: Duration = Duration::from_secs(10);

/// Container logs of an application from every node manager that ran one
/// of its containers, in parallel, with node authentication (the resource
/// manager holds the cluster secret); a node that fails is reported in its
/// entry's `error`.
pub(crate) async fn fetch_logs(
    rm: &Rm,
    report: &crate::yarn::pb::ApplicationReport,
    container: Option<&str>,
    tail_bytes: u64,
) -> Vec<crate::yarn::pb::NodeLogs> {
    let calls = report.nm_rpc_addrs.iter().map(|addr| {
        let secret = rm.secret.clone();
        async move {
            let got = match NmClient::new(addr) {
                Ok(nm) => {
                    let nm = nm.with_secret(secret);
                    match tokio::time::timeout(
                        LOGS_TIMEOUT,
                        nm.logs(&report.app_id, container, tail_bytes, None),
                    )
                    .await
                    {
                        Ok(r) => r.map_err(|e| e.to_string()),
                        Err(_) => Err(format!("no answer within {LOGS_TIMEOUT:?}")),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let (logs, error) = match got {
                Ok(l) => (l, String::new()),
                Err(e) => (Vec::new(), e),
            };
            crate::yarn::pb::NodeLogs {
                nm_rpc_addr: addr.clone(),
                logs,
                error,
            }
        }
    });
    futures::future::join_all(calls).await
}

/// Reads a topology file (`host-or-ip rack` lines, `#` comments).
fn read_topology(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read topology file {}", path.display()))?;
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut parts = line.split_whitespace();
        if let (Some(h), Some(r)) = (parts.next(), parts.next()) {
            map.insert(h.to_string(), r.to_string());
        }
    }
    Ok(map)
}

/// Opens the application store under `state_dir` (failing applications that
/// were active at the last stop), binds the RPC and HTTP addresses, writes
/// `resourcemanager.addr` / `resourcemanager-http.addr`, and starts serving.
pub async fn start(cfg: TuskConfig) -> anyhow::Result<RmHandle> {
    let c = &cfg.resourcemanager;
    let secret_path = cfg.security.secret_path();
    let (secret, created) = ClusterSecret::load_or_create(&secret_path)?;
    if created {
        info!(path = %secret_path.display(), "created the cluster secret (copy it to every node manager and datanode host)");
    }
    std::fs::create_dir_all(&c.state_dir)
        .with_context(|| format!("cannot create {}", c.state_dir.display()))?;
    let topology = match &cfg.cluster.topology {
        Some(p) => read_topology(p)?,
        None => HashMap::new(),
    };
    let settings = Settings {
        heartbeat_interval: cfg.cluster.heartbeat_interval.0,
        dead_after: cfg.cluster.dead_after.0,
        max_am_attempts: c.max_am_attempts.max(1),
        am_finish_grace: c.am_finish_grace.0,
        am_expiry: c.am_expiry.0,
        scheduler: SchedulerConfig {
            node_locality_delay: c.node_locality_delay,
            rack_locality_delay: c.rack_locality_delay.max(c.node_locality_delay),
        },
        secret: secret.clone(),
    };
    let dir = c.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || store::SledStore::open(&dir))
        .await?
        .map_err(anyhow::Error::msg)?;
    let state =
        RmState::new(settings.clone(), Arc::new(store), topology).map_err(anyhow::Error::msg)?;
    let rpc_l = TcpListener::bind(&c.rpc_addr)
        .await
        .with_context(|| format!("cannot bind resource manager RPC address {}", c.rpc_addr))?;
    let http_l = TcpListener::bind(&c.http_addr)
        .await
        .with_context(|| format!("cannot bind resource manager HTTP address {}", c.http_addr))?;
    let rpc_addr = rpc_l.local_addr()?;
    let http_addr = http_l.local_addr()?;
    let rm = Arc::new(Rm {
        state: Mutex::new(state),
        started_ms: tusk_common::sys::now_ms(),
        rpc: Default::default(),
        secret: Arc::new(secret),
        auth: cfg.security.authentication,
    });

    let mut workers = Workers::new("resource manager");
    let limits = cfg.limits.clone();
    workers.spawn("rpc-server", |stop| {
        rpc::serve(rm.clone(), rpc_l, stop, limits.clone())
    });
    let router = http::router(rm.clone());
    workers.spawn("http-server", |stop| async move {
        tusk_common::net::serve_http_with(http_l, router, stop, "resource manager", &limits).await
    });
    let every = settings
        .heartbeat_interval
        .min(settings.dead_after / 4)
        .max(Duration::from_millis(10));
    let liveness_rm = rm.clone();
    workers.spawn("liveness", move |mut stop| async move {
        loop {
            if crate::yarn::sleep_or_stop(every, &mut stop).await {
                return;
            }
            let launches = liveness_rm.state.lock().tick(Instant::now());
            liveness_rm.launch(launches);
        }
    });
    let host = crate::yarn::host_identity(None, rpc_addr);
    let rpc_adv = advertised(&host, rpc_addr.port());
    let http_adv = advertised(&host, http_addr.port());
    tusk_common::sys::write_addr_file(&c.state_dir, "resourcemanager.addr", &rpc_adv)
        .with_context(|| {
            format!(
                "cannot write {}/resourcemanager.addr",
                c.state_dir.display()
            )
        })?;
    tusk_common::sys::write_addr_file(&c.state_dir, "resourcemanager-http.addr", &http_adv)
        .with_context(|| {
            format!(
                "cannot write {}/resourcemanager-http.addr",
                c.state_dir.display()
            )
        })?;
    info!(rpc_addr = %rpc_adv, http_addr = %http_adv, state_dir = %c.state_dir.display(), "resource manager started");
    Ok(RmHandle {
        rpc_addr,
        http_addr,
        rm,
        workers,
    })
}
