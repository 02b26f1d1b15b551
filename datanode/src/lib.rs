//! The Tusk datanode: replicas on local disks, the DataTransfer service,
//! and the link to the namenode.
//!
//! # Layout
//! - [`store`]: the [`BlockStore`] trait with the on-disk [`DiskStore`]
//!   (layout and crash safety in `store/disk.rs`, meta format in
//!   `store/meta.rs`) and the in-memory [`MemStore`]; one conformance suite
//!   runs against both.
//! - `transfer`: the DataTransfer gRPC service — WriteBlock pipeline
//!   (`transfer/write.rs`), replica copies for REPLICATE (`transfer/send.rs`),
//!   ReadBlock, BlockChecksum, ReplicaInfo.
//! - `link`: DatanodeProtocol client — register, heartbeats, full and
//!   incremental block reports, namenode commands.
//! - `server`: serving DataTransfer on a bound listener with a shutdown that
//!   ends every connection. `http`: `/metrics` and `/health`.
//! - `webhdfs`: the WebHDFS data endpoints (CREATE, APPEND, OPEN,
//!   GETFILECHECKSUM) the namenode redirects to, acting through a
//!   `tusk_client::DfsClient` as the calling user.
//! - `scanner`: the block scanner (re-reads every replica at a bounded rate,
//!   reports corrupt ones). `volumes`: the volume checker (takes failed data
//!   dirs out of service; stops the datanode past `failed_volumes_tolerated`).
//! - `shortcircuit`: short-circuit local reads — replica files handed to
//!   clients on this host as descriptors over a UNIX domain socket.
//! - `node`: state shared by all of the above; `metrics`: counters;
//!   `convert`: proto ⇄ domain; [`error`]: the crate's error enum and its one
//!   mapping to `tonic::Status`.
//! - `src/bin/datanode.rs`: the binary (flags → config → [`start`]).

mod convert;
pub mod error;
mod http;
mod link;
mod metrics;
mod node;
mod scanner;
mod server;
mod shortcircuit;
pub mod store;
mod transfer;
mod volumes;
mod webhdfs;

pub use error::DatanodeError;
pub use store::disk::{find_replica, ReplicaFiles};
pub use store::{BlockStore, DiskOptions, DiskStore, MemStore};

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use tusk_common::TuskConfig;

/// How long transfers still open at shutdown may go on before their
/// connections are cut.
const TRANSFER_GRACE: Duration = Duration::from_secs(3);

/// A running datanode. Dropping it stops the workers too (their stop
/// channels close), but only [`DatanodeHandle::shutdown`] waits for them.
pub struct DatanodeHandle {
    /// Bound address of the DataTransfer service.
    pub data_addr: SocketAddr,
    /// Bound address of the HTTP server.
    pub http_addr: SocketAddr,
    node: Arc<node::Node>,
    /// Background work in the order it is stopped (see `start`).
    workers: Vec<Worker>,
    /// Why the datanode stopped itself (too many failed volumes), once it did.
    fatal: watch::Receiver<Option<String>>,
}

/// A named background task with its own stop signal.
struct Worker {
    name: &'static str,
    /// Shared with the supervisor, which stops every worker on a fatal error.
    stop: Arc<watch::Sender<bool>>,
    task: JoinHandle<()>,
    /// How long to wait for it after signalling stop before aborting it.
    grace: Duration,
}

impl DatanodeHandle {
    /// The datanode's identity (kept in `datanode.uuid` in every data dir).
    pub fn uuid(&self) -> String {
        self.node.uuid.clone()
    }

    /// Why the datanode stopped itself, if it did (more failed volumes than
    /// `failed_volumes_tolerated`); it serves nothing after that.
    pub fn failure(&self) -> Option<String> {
        self.fatal.borrow().clone()
    }

    /// Waits until the datanode stops itself, and says why. Never returns
    /// for a datanode that keeps running.
    pub async fn failed(&self) -> String {
        let mut rx = self.fatal.clone();
        let res = rx.wait_for(|f| f.is_some()).await.map(|f| f.clone());
        match res {
            Ok(f) => f.unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops servers and workers; files stay on disk so a new start() on the
    /// same dirs resumes.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        for mut w in self.workers {
            w.stop.send_replace(true);
            if tokio::time::timeout(w.grace, &mut w.task).await.is_err() {
                warn!(
                    worker = w.name,
                    "worker did not stop in {:?}; aborting it", w.grace
                );
                w.task.abort();
                let _ = w.task.await;
            }
        }
        // Disk threads of transfers cut short still hold open files: let them
        // notice and close before a restart reuses the directories.
        if !self.node.wait_idle(Duration::from_secs(5)).await {
            warn!(
                xceivers = self.node.xceivers(),
                "transfers still running at shutdown"
            );
        }
        info!(node = %self.node.uuid, "datanode stopped");
        Ok(())
    }
}

/// Opens the data dirs, binds the DataTransfer and HTTP addresses, writes
/// `datanode.addr` / `datanode-http.addr`, and starts serving. Registration
/// with the namenode happens in the background (retrying until it is up).
pub async fn start(cfg: TuskConfig) -> anyhow::Result<DatanodeHandle> {
    let dirs = cfg.datanode.data_dirs.clone();
    let tolerated = volumes::tolerated(cfg.datanode.failed_volumes_tolerated, dirs.len())
        .map_err(anyhow::Error::msg)?;
    let opts = store::DiskOptions::default()
        .with_reserved(cfg.datanode.reserved.0)
        .with_sync_on_close(cfg.datanode.sync_on_close)
        .with_drop_behind_writes(cfg.datanode.drop_behind_writes)
        .with_failed_volumes_tolerated(tolerated);
    let store = tokio::task::spawn_blocking(move || DiskStore::open(&dirs, opts))
        .await
        .context("opening the block store")??;
    start_with_store(cfg, Arc::new(store)).await
}

/// [`start`] with a given block store (tests use a [`MemStore`]). The data
/// dirs of `cfg` are only used as the default state dir.
pub async fn start_with_store(
    cfg: TuskConfig,
    store: Arc<dyn BlockStore>,
) -> anyhow::Result<DatanodeHandle> {
    let dn = &cfg.datanode;
    let tolerated = volumes::tolerated(dn.failed_volumes_tolerated, store.volumes().len())
        .map_err(anyhow::Error::msg)?;
    let data_listener = TcpListener::bind(&dn.data_addr)
        .await
        .with_context(|| format!("cannot bind data address {}", dn.data_addr))?;
    let http_listener = TcpListener::bind(&dn.http_addr)
        .await
        .with_context(|| format!("cannot bind HTTP address {}", dn.http_addr))?;
    let data_addr = data_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let host = tusk_common::net::host_identity(dn.host.as_deref(), data_addr);
    let data_adv = tusk_common::net::advertised(&host, data_addr.port());
    let http_adv = tusk_common::net::advertised(&host, http_addr.port());

    // The cluster secret, loaded once and shared (Arc): node authentication
    // towards the namenode and other datanodes, user tokens on WebHDFS.
    let secret_path = cfg.security.secret_path();
    let secret = Arc::new(
        tusk_common::security::ClusterSecret::load(&secret_path)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let (reports, report_rx) = link::ReportQueue::new();
    let node = Arc::new(
        node::Node::new(
            store,
            host.clone(),
            data_adv.clone(),
            http_adv.clone(),
            dn.packet_size.0 as usize,
            cfg.cluster.block_size.0,
            reports,
        )
        .with_webhdfs(
            webhdfs::Settings::new(dn.namenode.clone())
                .with_idle_timeout(dn.webhdfs_idle_timeout.0)
                .with_max_transfers(dn.webhdfs_max_transfers as usize)
                .with_security(secret.clone(), cfg.security.authentication),
        )
        .with_security(secret.clone(), cfg.security.block_access_tokens),
    );
    if !cfg.security.block_access_tokens {
        warn!("block access tokens are off: anyone who can reach this datanode can read and write its replicas");
    }
    let client = link::namenode_client(&dn.namenode, secret.clone()).map_err(anyhow::Error::msg)?;
    let (registered_tx, registered_rx) = watch::channel(false);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();

    let state_dir: PathBuf = dn
        .state_dir
        .clone()
        .or_else(|| dn.data_dirs.first().cloned())
        .unwrap_or_else(|| PathBuf::from("."));
    let (fatal_tx, fatal_rx) = watch::channel(None::<String>);

    let mut workers = Vec::new();
    let mut spawn = |name, grace, f: Box<dyn FnOnce(watch::Receiver<bool>) -> JoinHandle<()>>| {
        let (stop, stop_rx) = watch::channel(false);
        workers.push(Worker {
            name,
            stop: Arc::new(stop),
            task: f(stop_rx),
            grace,
        });
    };
    // Stop order (the order of `workers`):
    // 0. block-scanner and volume-checker: background disk work ends first;
    //    what they queued for the namenode still goes out through `reports`.
    if dn.scan_bytes_per_sec.0 > 0 {
        let scanner = scanner::Scanner::new(
            node.clone(),
            scanner::ScanConfig {
                rate: dn.scan_bytes_per_sec.0,
                period: dn.scan_period.0,
                cursor_file: Some(state_dir.join(scanner::CURSOR_FILE)),
            },
        );
        let client = client.clone();
        let registered = registered_rx.clone();
        spawn(
            "block-scanner",
            Duration::from_secs(3),
            Box::new(move |stop| {
                tokio::spawn(scanner::run_worker(scanner, client, registered, stop))
            }),
        );
    }
    {
        let checker = volumes::VolumeChecker {
            node: node.clone(),
            interval: dn.volume_check_interval.0,
            tolerated,
            fatal: fatal_tx,
        };
        spawn(
            "volume-checker",
            Duration::from_secs(3),
            Box::new(move |stop| tokio::spawn(checker.run(stop))),
        );
    }
    // 1. shortcircuit: no new local readers (descriptors already handed out
    //    stay valid in the clients), then the data server.
    if let Some(sc) = shortcircuit::Server::bind(
        dn.domain_socket_path.as_deref(),
        &state_dir,
        &host,
        data_addr.port(),
    ) {
        let node = node.clone();
        spawn(
            "shortcircuit",
            Duration::from_secs(3),
            Box::new(move |stop| tokio::spawn(sc.serve(node, stop))),
        );
    }
    //    data-server: no new transfers; open ones get a grace period, so
    //    replicas they finalize are still reported by `reports` below.
    {
        let node = node.clone();
        let limits = cfg.limits.clone();
        let max_transfers = dn.max_transfers as usize;
        spawn(
            "data-server",
            TRANSFER_GRACE + Duration::from_secs(3),
            Box::new(move |stop| {
                tokio::spawn(server::serve_data(
                    node,
                    data_listener,
                    stop,
                    TRANSFER_GRACE,
                    limits,
                    max_transfers,
                ))
            }),
        );
    }
    // 2. http-server: metrics and health go away with the data service.
    {
        let router = http::router(node.clone(), registered_rx.clone());
        let limits = cfg.limits.clone();
        spawn(
            "http-server",
            Duration::from_secs(3),
            Box::new(move |stop| {
                tokio::spawn(async move {
                    tusk_common::net::serve_http_with(
                        http_listener,
                        router,
                        stop,
                        "datanode",
                        &limits,
                    )
                    .await
                })
            }),
        );
    }
    // 3. commands: abort replications in flight (they are clients of other
    //    datanodes; the namenode re-schedules them after a time-out).
    {
        let node = node.clone();
        spawn(
            "commands",
            Duration::from_secs(3),
            Box::new(move |stop| tokio::spawn(link::run_commands(node, cmd_rx, stop))),
        );
    }
    // 4. heartbeat: stop heartbeating; the namenode declares us dead later.
    {
        let hb = link::Heartbeat {
            node: node.clone(),
            namenode: dn.namenode.clone(),
            client: client.clone(),
            interval: cfg.cluster.heartbeat_interval.0,
            registered: registered_tx,
            commands: cmd_tx,
            stop: watch::channel(false).1,
        };
        spawn(
            "heartbeat",
            Duration::from_secs(3),
            Box::new(move |stop| tokio::spawn(link::Heartbeat { stop, ..hb }.run())),
        );
    }
    // 5. reports: last, so every replica finalized above is reported
    //    (one best-effort flush).
    {
        let node = node.clone();
        spawn(
            "reports",
            Duration::from_secs(3),
            Box::new(move |stop| {
                tokio::spawn(link::run_reports(
                    node,
                    client,
                    report_rx,
                    registered_rx,
                    stop,
                ))
            }),
        );
    }

    // Too many failed volumes: stop every worker in order (the data service
    // first, as at shutdown); `DatanodeHandle::failed` tells the owner.
    {
        let stops: Vec<_> = workers.iter().map(|w| w.stop.clone()).collect();
        let mut fatal = fatal_rx.clone();
        tokio::spawn(async move {
            if fatal.wait_for(|f| f.is_some()).await.is_ok() {
                for s in stops {
                    s.send_replace(true);
                }
            }
        });
    }
    tusk_common::sys::write_addr_file(&state_dir, "datanode.addr", &data_adv)
        .with_context(|| format!("cannot write {}/datanode.addr", state_dir.display()))?;
    tusk_common::sys::write_addr_file(&state_dir, "datanode-http.addr", &http_adv)
        .with_context(|| format!("cannot write {}/datanode-http.addr", state_dir.display()))?;
    info!(
        node = %node.uuid,
        data_addr = %data_adv,
        http_addr = %http_adv,
        namenode = %dn.namenode,
        store = %node.store.describe(),
        "datanode started"
    );
    Ok(DatanodeHandle {
        data_addr,
        http_addr,
        node,
        workers,
        fatal: fatal_rx,
    })
}
