//! The node manager: runs containers as child processes, enforces their
//! memory limits, keeps their logs, serves map outputs (shuffle), and cleans
//! up when an application ends.
//!
//! Workers (stopped in this order by [`NmHandle::shutdown`]):
//! 1. `heartbeat` (`link.rs`): register with the resource manager, then
//!    heartbeat every `heartbeat_interval` (and at once when a container
//!    completes) with every container's status; kills what the resource
//!    manager says to kill, cleans up finished applications.
//! 2. `rpc-server` (`rpc.rs`): ContainerManager.
//! 3. `shuffle-server` (`shuffle.rs`): Shuffle.
//! 4. `http-server` (`http.rs`): `/metrics`, `/health`.
//!
//! Then every container still running is killed (a node manager that stops
//! takes its containers with it, as Hadoop's does).
//!
//! Security: the node manager needs the cluster secret (`[security]
//! cluster_secret_file`) to register and heartbeat (node authentication)
//! and to check the container token of every ContainerManager call
//! (`rpc.rs`, `crate::yarn::security`). Who a container runs as and the
//! permissions of its directories: `executor.rs`.

mod container;
mod executor;
mod http;
mod link;
mod localize;
mod rpc;
pub mod shuffle;

use crate::yarn::pb;
use crate::yarn::scheduler::Res;
use crate::yarn::workers::Workers;
use crate::yarn::{advertised, host_identity, YarnError};
use anyhow::Context as _;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};
use tusk_client::{ClientConfig, DfsClient};
use tusk_common::security::ClusterSecret;
use tusk_common::TuskConfig;

/// A running node manager. Dropping it stops the workers (their stop
/// channels close) but leaves containers running; call [`NmHandle::shutdown`].
pub struct NmHandle {
    /// Bound ContainerManager address.
    pub rpc_addr: SocketAddr,
    /// Bound Shuffle address.
    pub shuffle_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    nm: Arc<Nm>,
    workers: Workers,
}

impl NmHandle {
    /// The node id the resource manager knows this node by (`host:rpc_port`).
    pub fn node_id(&self) -> &str {
        &self.nm.node_id
    }

    /// The host identity used for locality.
    pub fn host(&self) -> &str {
        &self.nm.host
    }

    /// `<local_dir>/apps/<app>`: the application's `TUSK_APP_LOCAL_DIR`.
    pub fn app_dir(&self, app_id: &str) -> PathBuf {
        self.nm.app_dir(app_id)
    }

    /// Where a container's stdout and stderr are kept.
    pub fn container_log_dir(&self, app_id: &str, container_id: &str) -> PathBuf {
        self.nm.log_dir.join(app_id).join(container_id)
    }

    /// Whether the resource manager accepted our registration (and has not
    /// asked us to register again since).
    pub fn is_registered(&self) -> bool {
        *self.nm.registered.borrow()
    }

    /// Stops the workers in order, then kills every container still running
    /// and waits for them. Working dirs stay (a restart does not resume them).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.workers.stop().await;
        let all: Vec<Arc<container::Entry>> = self.nm.containers.lock().values().cloned().collect();
        for c in &all {
            c.stop(
                crate::yarn::exit::KILLED_BY_RESOURCEMANAGER,
                "node manager stopping",
            );
        }
        for c in &all {
            c.wait_done().await;
        }
        info!(node = %self.nm.node_id, "node manager stopped");
        Ok(())
    }
}

/// Counters on `/metrics`.
#[derive(Default)]
pub(crate) struct Metrics {
    pub launched: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub killed: AtomicU64,
    pub killed_pmem: AtomicU64,
    pub localization_failures: AtomicU64,
    pub shuffle_requests: AtomicU64,
    pub shuffle_bytes: AtomicU64,
    pub apps_cleaned: AtomicU64,
    /// Resources downloaded from DFS into a file cache, and their bytes.
    pub localized_files: AtomicU64,
    pub localized_bytes: AtomicU64,
    /// Calls to ContainerManager and Shuffle (`rpc.rs`, `shuffle.rs`).
    pub rpc: Arc<tusk_common::rpc_metrics::RpcMetrics>,
}

impl Metrics {
    pub fn inc(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by the node manager's workers and containers.
pub(crate) struct Nm {
    /// `host:rpc_port`, stable across restarts with the same flags.
    pub node_id: String,
    /// Host identity (locality), same as the datanode beside us.
    pub host: String,
    pub rpc_adv: String,
    pub shuffle_adv: String,
    pub http_adv: String,
    pub rm_addr: String,
    pub namenode: String,
    pub local_dir: PathBuf,
    pub log_dir: PathBuf,
    pub capability: Res,
    pub heartbeat_interval: Duration,
    pub memory_check: Duration,
    pub kill_grace: Duration,
    /// Every container this node manager started, until its application ends.
    pub containers: Mutex<HashMap<String, Arc<container::Entry>>>,
    /// Applications the resource manager said have ended: their containers
    /// are refused, their dirs deleted.
    pub finished_apps: Mutex<HashSet<String>>,
    /// One DFS client per user (localization reads files as the app's user).
    dfs: Mutex<HashMap<String, DfsClient>>,
    /// Per file-cache entry: the download in progress (see `localize`).
    cache_locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    pub metrics: Metrics,
    pub registered: watch::Receiver<bool>,
    /// Wakes the heartbeat worker (a container completed).
    pub heartbeat_now: Notify,
    /// Signs calls to the resource manager; checks container tokens and
    /// node authentication of ContainerManager calls.
    pub secret: Arc<ClusterSecret>,
    /// Who containers run as.
    pub executor: executor::Executor,
}

impl Nm {
    pub fn app_dir(&self, app_id: &str) -> PathBuf {
        self.local_dir.join("apps").join(app_id)
    }

    pub fn work_dir(&self, app_id: &str, container_id: &str) -> PathBuf {
        self.app_dir(app_id).join("containers").join(container_id)
    }

    /// A DFS client acting as `user`: node authentication with the cluster
    /// secret and `x-tusk-user`, which the namenode accepts from daemons
    /// holding the secret even under token authentication.
    pub async fn dfs(&self, user: &str) -> Result<DfsClient, YarnError> {
        if let Some(c) = self.dfs.lock().get(user) {
            return Ok(c.clone());
        }
        let cfg = ClientConfig {
            namenode: self.namenode.clone(),
            user: user.to_string(),
            client_host: Some(self.host.clone()),
            node_auth: Some(tusk_client::config::NodeAuth(self.secret.clone())),
            ..ClientConfig::default()
        };
        let c = DfsClient::connect(cfg)
            .await
            .map_err(|e| YarnError::Unavailable(format!("namenode {}: {e}", self.namenode)))?;
        self.dfs.lock().insert(user.to_string(), c.clone());
        Ok(c)
    }

    /// Memory and cores of the containers that are not complete.
    pub fn used(&self) -> Res {
        self.containers
            .lock()
            .values()
            .filter(|c| !c.is_done())
            .fold(Res::default(), |acc, c| acc.plus(c.resource))
    }

    /// Every known container's status, for heartbeats and registration.
    pub fn statuses(&self, include_acked: bool) -> Vec<pb::ContainerStatus> {
        let mut v: Vec<pb::ContainerStatus> = self
            .containers
            .lock()
            .values()
            .filter(|c| include_acked || !c.is_acked())
            .map(|c| c.status())
            .collect();
        v.sort_by(|a, b| a.container_id.cmp(&b.container_id));
        v
    }

    /// Kills an application's containers, waits for them, deletes its local
    /// dir (working dirs and map outputs). Logs stay.
    pub async fn cleanup_app(self: &Arc<Self>, app_id: &str) {
        if !self.finished_apps.lock().insert(app_id.to_string()) {
            return;
        }
        let mine: Vec<Arc<container::Entry>> = self
            .containers
            .lock()
            .values()
            .filter(|c| c.app_id == app_id)
            .cloned()
            .collect();
        for c in &mine {
            c.stop(
                crate::yarn::exit::KILLED_BY_RESOURCEMANAGER,
                "application finished",
            );
        }
        for c in &mine {
            c.wait_done().await;
        }
        let dir = self.app_dir(app_id);
        let res = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("{}: {e}", dir.display()))
            }
            _ => Ok(()),
        })
        .await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(app = app_id, "cleaning up application: {e}"),
            Err(e) => warn!(app = app_id, "cleaning up application: {e}"),
        }
        self.containers
            .lock()
            .retain(|_, c| c.app_id != app_id || !c.is_acked());
        Metrics::inc(&self.metrics.apps_cleaned, 1);
        info!(app = app_id, node = %self.node_id, containers = mine.len(), "application cleaned up");
    }
}

/// Binds the RPC, shuffle and HTTP addresses, writes `nodemanager.addr`,
/// `nodemanager-shuffle.addr` and `nodemanager-http.addr` to the state dir,
/// and starts serving; registration with the resource manager happens in the
/// background (retrying until it is up).
pub async fn start(cfg: TuskConfig) -> anyhow::Result<NmHandle> {
    let c = &cfg.nodemanager;
    // Without the cluster secret the resource manager would refuse us, and
    // we could not check container tokens: a start-up error.
    let secret = ClusterSecret::load(&cfg.security.secret_path())?;
    let executor = executor::Executor::new(&cfg).map_err(anyhow::Error::msg)?;
    let rpc_l = TcpListener::bind(&c.rpc_addr)
        .await
        .with_context(|| format!("cannot bind node manager RPC address {}", c.rpc_addr))?;
    let shuffle_l = TcpListener::bind(&c.shuffle_addr)
        .await
        .with_context(|| format!("cannot bind shuffle address {}", c.shuffle_addr))?;
    let http_l = TcpListener::bind(&c.http_addr)
        .await
        .with_context(|| format!("cannot bind node manager HTTP address {}", c.http_addr))?;
    let rpc_addr = rpc_l.local_addr()?;
    let shuffle_addr = shuffle_l.local_addr()?;
    let http_addr = http_l.local_addr()?;
    let host = host_identity(c.host.as_deref(), rpc_addr);
    let local_dir = c.local_dir.clone();
    let log_dir = c.log_dir.clone().unwrap_or_else(|| local_dir.join("logs"));
    for d in [&local_dir, &log_dir] {
        std::fs::create_dir_all(d)
            .with_context(|| format!("cannot create node manager dir {}", d.display()))?;
    }
    let local_dir = local_dir.canonicalize()?;
    let log_dir = log_dir.canonicalize()?;
    if executor.user_mode() {
        executor::check_traversable(&local_dir, "node manager local dir")
            .map_err(anyhow::Error::msg)?;
        executor::check_traversable(&log_dir, "node manager log dir")
            .map_err(anyhow::Error::msg)?;
    }
    // Applications' dirs live in `apps`: others pass through, never list.
    let apps = local_dir.join("apps");
    std::fs::create_dir_all(&apps)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&apps, std::fs::Permissions::from_mode(0o711))
        })
        .with_context(|| format!("cannot create {}", apps.display()))?;
    let killed = container::kill_leftovers(&local_dir);
    if !killed.is_empty() {
        warn!(containers = ?killed, "killed containers left running by a previous node manager run");
    }
    std::fs::create_dir_all(local_dir.join("pids"))
        .with_context(|| format!("cannot create {}/pids", local_dir.display()))?;
    let rpc_adv = advertised(&host, rpc_addr.port());
    let (registered_tx, registered_rx) = watch::channel(false);
    let nm = Arc::new(Nm {
        node_id: rpc_adv.clone(),
        host: host.clone(),
        rpc_adv: rpc_adv.clone(),
        shuffle_adv: advertised(&host, shuffle_addr.port()),
        http_adv: advertised(&host, http_addr.port()),
        rm_addr: c.rm.clone(),
        namenode: c.namenode.clone(),
        local_dir,
        log_dir,
        capability: Res::new(c.memory.0 >> 20, c.vcores),
        heartbeat_interval: cfg.cluster.heartbeat_interval.0,
        memory_check: c.memory_check_interval.0,
        kill_grace: c.kill_grace.0,
        containers: Mutex::new(HashMap::new()),
        finished_apps: Mutex::new(HashSet::new()),
        dfs: Mutex::new(HashMap::new()),
        cache_locks: Mutex::new(HashMap::new()),
        metrics: Metrics::default(),
        registered: registered_rx,
        heartbeat_now: Notify::new(),
        secret: Arc::new(secret),
        executor,
    });

    let mut workers = Workers::new("node manager");
    let tracker = crate::yarn::client::tracker_client(&nm.rm_addr)?;
    workers.spawn("heartbeat", |stop| {
        link::run(nm.clone(), tracker, registered_tx, stop)
    });
    let limits = cfg.limits.clone();
    workers.spawn("rpc-server", |stop| {
        rpc::serve(nm.clone(), rpc_l, stop, limits.clone())
    });
    workers.spawn("shuffle-server", |stop| {
        shuffle::serve(nm.clone(), shuffle_l, stop, limits.clone())
    });
    let router = http::router(nm.clone());
    workers.spawn("http-server", |stop| async move {
        tusk_common::net::serve_http_with(http_l, router, stop, "node manager", &limits).await
    });

    let state_dir = c.state_dir.clone().unwrap_or_else(|| nm.local_dir.clone());
    write_addr(&state_dir, "nodemanager.addr", &nm.rpc_adv)?;
    write_addr(&state_dir, "nodemanager-shuffle.addr", &nm.shuffle_adv)?;
    write_addr(&state_dir, "nodemanager-http.addr", &nm.http_adv)?;
    info!(
        node = %nm.node_id,
        host = %nm.host,
        shuffle = %nm.shuffle_adv,
        http = %nm.http_adv,
        rm = %nm.rm_addr,
        memory_mb = nm.capability.memory_mb,
        vcores = nm.capability.vcores,
        container_executor = nm.executor.mode_name(),
        "node manager started"
    );
    Ok(NmHandle {
        rpc_addr,
        shuffle_addr,
        http_addr,
        nm,
        workers,
    })
}

fn write_addr(dir: &Path, name: &str, addr: &str) -> anyhow::Result<()> {
    tusk_common::sys::write_addr_file(dir, name, addr)
        .with_context(|| format!("cannot write {}/{name}", dir.display()))
}
