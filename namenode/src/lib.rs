//! The Tusk namenode: the namespace (in sled), the block map, the datanode
//! manager, placement, leases and safe mode, served over gRPC
//! (`ClientProtocol`, `DatanodeProtocol`) and HTTP (web UI, WebHDFS, `/metrics`).
//!
//! # Layout
//! - [`store`]: the ordered key-value trait with its sled and in-memory
//!   implementations; [`editlog`]: the edit log in front of sled (every
//!   batch is a synced record before it is acknowledged; sled is flushed at
//!   checkpoints) and its replay at start.
//!   implementations (one conformance suite).
//! - [`namespace`]: the key layout (`i`/`e`/`b`/`u`/`m` prefixes), inode
//!   encoding, counters and batched writes ([`namespace::Txn`]).
//! - [`fsn`]: the namesystem — every operation as a plain synchronous method
//!   over domain types, permission checks included. The core of the crate.
//! - [`permission`]: HDFS permission rules (owner/group/other, sticky bit).
//! - [`quota`]: name and space quotas — the quota directories' cached usage,
//!   the checks, and how a batch changes the usage (applied by
//!   [`namespace::Namespace::commit`]); the operations are in `fsn_quota.rs`.
//! - [`blockmap`]: block → replicas, corrupt replicas, under-replicated query.
//! - [`datanodes`]: registration, heartbeats, liveness, topology (racks),
//!   queued commands.
//! - [`placement`]: where replicas go and the order readers try them (pure).
//! - [`replication`]: the replication monitor's decisions — which blocks to
//!   copy from where to where, which replicas to delete, pending copies and
//!   their time-outs (pure; applied by `fsn_heal.rs`, the namesystem's
//!   self-healing and admin half: decommission, safe mode, fsck).
//! - [`balancer`]: the balancer's decisions — which replicas move from
//!   over-used to under-used datanodes, keeping racks, bounded per node
//!   (pure; applied in the replication pass in `fsn_heal.rs`).
//! - [`leases`]: one writer per file; the hook for lease recovery.
//! - [`sync`]: group commit — apply under the lock, flush outside it, one
//!   fsync for many mutations.
//! - [`block_tokens`]: block keys (persisted, rotated by a worker, sent to
//!   datanodes in heartbeats) and the access tokens on located blocks.
//! - [`types`]: domain types; [`convert`]: proto ⇄ domain and the single
//!   [`error::NnError`] → `tonic::Status` mapping; [`error`]: the error enum.
//! - [`rpc`]: the tonic services (thin adapters); [`http`]: the axum server
//!   (`/metrics`, `/health`); [`ui`]: the web UI; [`webhdfs`]: the WebHDFS
//!   REST API; [`metrics`]: Prometheus gauges and counters.
//! - [`generate`]: writes N empty files into a stopped namenode's store (benchmarks).
//!
//! Start a namenode with [`start`]; stop it with [`NamenodeHandle::shutdown`].

pub mod balancer;
pub mod block_tokens;
pub mod blockmap;
pub mod convert;
pub mod datanodes;
pub mod editlog;
pub mod error;
pub mod fsn;
pub mod generate;
pub mod http;
pub mod leases;
pub mod metrics;
pub mod namespace;
pub mod packed;
pub mod permission;
pub mod placement;
pub mod quota;
pub mod recovery;
pub mod replication;
pub mod rpc;
pub mod store;
pub mod sync;
pub mod trash;
pub mod types;
pub mod ui;
pub mod webhdfs;

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::datanodes::Topology;
use crate::editlog::NameStore;
use crate::fsn::{CoreConfig, FsNamesystem};
use crate::rpc::NamenodeState;
use crate::store::KvStore;
use crate::sync::GroupCommit;

/// How long shutdown waits for each server to drain before aborting it.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running namenode.
pub struct NamenodeHandle {
    /// The bound RPC address (ClientProtocol + DatanodeProtocol).
    pub rpc_addr: SocketAddr,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// Turned to true to stop servers and workers.
    shutdown: watch::Sender<bool>,
    rpc: JoinHandle<()>,
    http: JoinHandle<()>,
    monitor: JoinHandle<()>,
    replication: JoinHandle<()>,
    /// Removes the trees big deletes detached.
    purger: JoinHandle<()>,
    /// Checkpoints and empties the users' trash.
    trash_emptier: JoinHandle<()>,
    /// Block key rotation.
    block_keys: JoinHandle<()>,
    /// Shared state; dropped before the store is closed.
    state: Arc<NamenodeState>,
    /// The only owner of the sled `Db` and the edit log (closed explicitly
    /// at shutdown).
    store: Arc<NameStore>,
}

/// Opens (formatting if empty) the namespace in `cfg.namenode.name_dir`,
/// binds the RPC and HTTP addresses (port 0 allowed), writes
/// `namenode.addr` / `namenode-http.addr` into the state dir, and serves.
pub async fn start(cfg: tusk_common::TuskConfig) -> anyhow::Result<NamenodeHandle> {
    let nn = &cfg.namenode;
    std::fs::create_dir_all(&nn.name_dir)
        .with_context(|| format!("creating name dir {}", nn.name_dir.display()))?;
    let topology = match &cfg.cluster.topology {
        Some(p) => {
            Topology::load(p).with_context(|| format!("reading topology file {}", p.display()))?
        }
        None => Topology::default(),
    };
    let core = CoreConfig::from_config(&cfg);
    let name_dir = nn.name_dir.clone();
    let cache = nn.cache_size.0;
    let (store, fsn) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Arc::new(
            NameStore::open(&name_dir, cache)
                .with_context(|| format!("opening the namespace in {}", name_dir.display()))?,
        );
        match FsNamesystem::open(
            store.log.clone() as Arc<dyn KvStore>,
            core,
            topology,
            Instant::now(),
        ) {
            Ok(fsn) => Ok((store, fsn)),
            Err(e) => {
                let _ = store.close();
                Err(anyhow::anyhow!("loading the namespace: {e}"))
            }
        }
    })
    .await??;

    let bind = async {
        let rpc = TcpListener::bind(&nn.rpc_addr)
            .await
            .with_context(|| format!("binding RPC address {}", nn.rpc_addr))?;
        let http = TcpListener::bind(&nn.http_addr)
            .await
            .with_context(|| format!("binding HTTP address {}", nn.http_addr))?;
        anyhow::Ok((rpc, http))
    };
    let (rpc_listener, http_listener) = match bind.await {
        Ok(l) => l,
        Err(e) => {
            drop(fsn);
            let _ = store.close();
            return Err(e);
        }
    };
    let rpc_addr = rpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

    // The cluster secret, loaded once and shared (Arc) by everything that
    // authenticates: DatanodeProtocol node auth, user tokens (RPC, WebHDFS, UI).
    let secret_path = cfg.security.secret_path();
    let secret = match tusk_common::security::ClusterSecret::load_or_create(&secret_path) {
        Ok((s, created)) => {
            if created {
                tracing::info!(path = %secret_path.display(), "created the cluster secret");
            }
            Arc::new(s)
        }
        Err(e) => {
            drop(fsn);
            let _ = store.close();
            return Err(e.into());
        }
    };
    let block_tokens = {
        let (log, sec, hb) = (
            store.log.clone() as Arc<dyn KvStore>,
            cfg.security.clone(),
            cfg.cluster.heartbeat_interval.0,
        );
        let opened = tokio::task::spawn_blocking(move || {
            block_tokens::BlockTokens::open(Some(log), &sec, hb)
        })
        .await
        .context("opening the block keys")?;
        match opened {
            Ok(t) => Arc::new(t),
            Err(e) => {
                drop(fsn);
                let _ = store.close();
                return Err(anyhow::anyhow!("block access tokens: {e}"));
            }
        }
    };
    let commit = Arc::new(GroupCommit::new(store.log.clone()));
    let state = Arc::new(
        NamenodeState::new(
            fsn,
            commit.clone(),
            cfg.cluster.heartbeat_interval.0,
            nn.block_report_interval.0,
        )
        .with_security(secret, cfg.security.authentication)
        .with_block_tokens(block_tokens.clone()),
    );
    let (shutdown, shutdown_rx) = watch::channel(false);

    let monitor = tokio::spawn(run_monitor(
        state.clone(),
        cfg.cluster.heartbeat_interval.0,
        shutdown_rx.clone(),
    ));
    // Key rotation: ticks often enough to hand a new key over on time.
    let block_keys = tokio::spawn(block_tokens::run(
        block_tokens,
        (cfg.security.block_key_update_interval.0 / 4)
            .min(cfg.cluster.heartbeat_interval.0)
            .min(Duration::from_secs(30)),
        shutdown_rx.clone(),
    ));
    let replication = tokio::spawn(run_replication_monitor(
        state.clone(),
        nn.replication_interval.0,
        shutdown_rx.clone(),
    ));
    let purger = tokio::spawn(run_purger(state.clone(), shutdown_rx.clone()));
    let trash_emptier = tokio::spawn(run_trash_emptier(
        state.clone(),
        nn.trash_interval.0,
        nn.trash_checkpoint_interval.0,
        shutdown_rx.clone(),
    ));
    let rpc = {
        let (st, rx, limits) = (state.clone(), shutdown_rx.clone(), cfg.limits.clone());
        tokio::spawn(async move {
            if let Err(e) = rpc::serve(rpc_listener, st, rx, &limits).await {
                tracing::error!(error = %e, "RPC server failed");
            }
        })
    };
    let http = {
        let (st, rx, limits) = (state.clone(), shutdown_rx, cfg.limits.clone());
        tokio::spawn(async move {
            if let Err(e) = http::serve(http_listener, st, rx, &limits).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        })
    };

    let handle = NamenodeHandle {
        rpc_addr,
        http_addr,
        shutdown,
        rpc,
        http,
        monitor,
        replication,
        purger,
        trash_emptier,
        block_keys,
        state,
        store,
    };
    let state_dir = nn.state_dir.clone().unwrap_or_else(|| nn.name_dir.clone());
    let written =
        tusk_common::sys::write_addr_file(&state_dir, "namenode.addr", &advertised(rpc_addr))
            .and_then(|_| {
                tusk_common::sys::write_addr_file(
                    &state_dir,
                    "namenode-http.addr",
                    &advertised(http_addr),
                )
            });
    if let Err(e) = written {
        let _ = handle.shutdown().await;
        return Err(anyhow::anyhow!(
            "writing address files in {}: {e}",
            state_dir.display()
        ));
    }
    tracing::info!(rpc = %rpc_addr, http = %http_addr, name_dir = %nn.name_dir.display(), "namenode serving");
    Ok(handle)
}

/// "ip:port" as clients should dial it (a wildcard bind → 127.0.0.1).
fn advertised(a: SocketAddr) -> String {
    if a.ip().is_unspecified() {
        format!("127.0.0.1:{}", a.port())
    } else {
        a.to_string()
    }
}

/// The monitor worker: liveness of datanodes, the end of safe mode, lease
/// recovery (each block recovery runs in its own task, see [`recovery`]).
async fn run_monitor(
    state: Arc<NamenodeState>,
    heartbeat_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = heartbeat_interval
        .min(Duration::from_millis(500))
        .max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                let recoveries = {
                    let mut f = state.fsn.write();
                    f.tick(now);
                    f.lease_recoveries(now)
                };
                for r in recoveries {
                    tokio::spawn(recovery::run(state.clone(), r));
                }
            }
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
}

/// The replication monitor worker: every `interval`, one pass of
/// [`FsNamesystem::compute_replication_work`] (copies of under-replicated
/// blocks, deletions of corrupt and excess replicas, decommission progress),
/// whose commands go out on the datanodes' next heartbeats.
async fn run_replication_monitor(
    state: Arc<NamenodeState>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                state.fsn.write().compute_replication_work(Instant::now());
            }
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
}

/// How often the purge worker looks for detached trees when idle.
const PURGE_POLL: Duration = Duration::from_millis(100);

/// The purge worker: while deleted trees wait (see `fsn_delete.rs`),
/// removes `deletion_increment` inodes at a time on a blocking thread, each
/// step one hold of the write lock, so other operations get in between.
async fn run_purger(state: Arc<NamenodeState>, mut shutdown: watch::Receiver<bool>) {
    let step = state.read(|f| f.config().deletion_increment);
    let mut tick = tokio::time::interval(PURGE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        while state.read(|f| f.purge_pending()) && !*shutdown.borrow() {
            let s = state.clone();
            let t0 = Instant::now();
            let r = tokio::task::spawn_blocking(move || s.fsn.write().purge_detached(step)).await;
            match r {
                Ok(Ok(0)) => break,
                // Rest as long as the step took: the purge takes at most
                // about half of a core (and of the edit log's applier), so
                // foreground operations keep their latency.
                Ok(Ok(_)) => tokio::time::sleep(t0.elapsed()).await,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "purging deleted trees failed; retrying later");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the purge step panicked");
                    break;
                }
            }
        }
    }
}

/// The trash emptier (see [`trash`]): a pass at every multiple of the
/// checkpoint interval (0, or more than `interval`: `interval`), skipped in
/// safe mode. Not started when `interval` is zero (no trash).
async fn run_trash_emptier(
    state: Arc<NamenodeState>,
    interval: Duration,
    checkpoint: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    if interval.is_zero() {
        return;
    }
    let checkpoint = if checkpoint.is_zero() || checkpoint > interval {
        interval
    } else {
        checkpoint
    };
    let every = (checkpoint.as_millis() as u64).max(1);
    tracing::info!(
        interval_s = interval.as_secs_f64(),
        checkpoint_s = checkpoint.as_secs_f64(),
        "trash emptier started"
    );
    loop {
        let now = tusk_common::sys::now_ms();
        let wait = tusk_common::trash::next_pass_ms(now, every) - now;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        if state.read(|f| f.in_safe_mode()) {
            continue;
        }
        match trash::pass(&state, tusk_common::sys::now_ms(), interval).await {
            Ok(r) => tracing::debug!(
                made = r.checkpoints_made,
                deleted = r.checkpoints_deleted,
                "trash emptier pass"
            ),
            Err(e) => tracing::warn!(error = %e, "trash emptier pass failed"),
        }
    }
}

impl NamenodeHandle {
    /// The shared state (namesystem, metrics), for in-process tests and tools.
    pub fn state(&self) -> &Arc<NamenodeState> {
        &self.state
    }

    /// Stops the RPC and HTTP servers and background workers, flushes and
    /// closes the sled db, so the same name_dir can be reopened by another
    /// [`start`] in this process.
    ///
    /// Order: servers first (no new requests; in-flight ones finish), then
    /// the monitor, the replication monitor, the purge worker (between two
    /// steps), the trash emptier and the block key rotation (no new work),
    /// then the store:
    /// the edit log syncs what is pending and checkpoints, then sled closes.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        for (name, mut h) in [("rpc", self.rpc), ("http", self.http)] {
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut h).await.is_err() {
                tracing::warn!(server = name, "server did not drain in time; aborting it");
                h.abort();
                let _ = h.await;
            }
        }
        let _ = self.monitor.await;
        let _ = self.replication.await;
        let _ = self.purger.await;
        let _ = self.trash_emptier.await;
        let _ = self.block_keys.await;
        drop(self.state);
        let store = self.store;
        tokio::task::spawn_blocking(move || store.close())
            .await
            .context("closing the namespace store")?
            .context("closing the namespace store")?;
        tracing::info!("namenode stopped");
        Ok(())
    }
}
