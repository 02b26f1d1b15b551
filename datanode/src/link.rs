//! The datanode's side of DatanodeProtocol: registration, heartbeats, block
//! reports and the commands the namenode sends back.
//!
//! Three workers (started by `lib.rs`):
//! - `heartbeat`: registers (retrying with backoff until the namenode is up),
//!   sends a full block report, then heartbeats; re-registers whenever the
//!   namenode forgets us or comes back after being unreachable. Commands from
//!   heartbeat/report responses go to the `commands` worker.
//! - `commands`: executes DELETE and REPLICATE off the heartbeat path.
//! - `reports`: incremental reports. Newly finalized and deleted replicas are
//!   queued by whoever finalized/deleted them; the worker sends whatever has
//!   accumulated as one RPC as soon as it can (coalescing concurrent ones),
//!   without waiting for a heartbeat, and keeps them until delivered.

use crate::convert::{block_of, storage_report};
use crate::node::{Node, NodeAuth};
use crate::store::BlockRef;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::{debug, error, info, warn};
use tusk_common::security::ClusterSecret;
use tusk_proto as pb;
use tusk_proto::datanode_command::Kind;
use tusk_proto::datanode_protocol_client::DatanodeProtocolClient;

/// Block reports when the namenode does not say (HDFS's default: 6 hours).
const DEFAULT_BLOCK_REPORT_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Concurrent REPLICATE transfers.
const MAX_REPLICATIONS: usize = 4;
const RPC_TIMEOUT: Duration = Duration::from_secs(15);
const BLOCK_REPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// One incremental report entry.
pub(crate) enum Report {
    /// A newly finalized replica; the sender (if any) fires once the namenode has it.
    Received(pb::Block, Option<oneshot::Sender<()>>),
    Deleted(pb::Block),
}

/// Where finalizations and deletions are queued for the `reports` worker.
#[derive(Clone)]
pub(crate) struct ReportQueue {
    tx: mpsc::UnboundedSender<Report>,
}

impl ReportQueue {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Queues a finalized replica; the returned receiver completes (Ok) when
    /// the namenode acknowledged the report, or errs if it never will be.
    pub fn received(&self, b: pb::Block) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Report::Received(b, Some(tx)));
        rx
    }

    pub fn deleted(&self, b: pb::Block) {
        let _ = self.tx.send(Report::Deleted(b));
    }
}

/// Exponential backoff with jitter for reconnecting to the namenode.
struct Backoff {
    cur: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    fn new(max: Duration) -> Self {
        Self {
            cur: Duration::from_millis(100),
            max,
            failures: 0,
        }
    }

    fn next(&mut self) -> Duration {
        self.failures += 1;
        let d = self.cur;
        self.cur = (self.cur * 2).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        d.mul_f64(jitter)
    }

    fn reset(&mut self) {
        self.cur = Duration::from_millis(100);
        self.failures = 0;
    }

    /// Log the first failure and then every tenth, not every retry.
    fn should_log(&self) -> bool {
        self.failures % 10 == 1
    }
}

/// Sleeps `d` unless shutdown is signalled first (returns true then).
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

/// The namenode's DatanodeProtocol, every call signed with the cluster
/// secret (node authentication).
pub(crate) type NnClient = DatanodeProtocolClient<InterceptedService<Channel, NodeAuth>>;

/// A lazily-connecting client of the namenode's DatanodeProtocol.
pub(crate) fn namenode_client(addr: &str, secret: Arc<ClusterSecret>) -> Result<NnClient, String> {
    let ep = tusk_common::net::endpoint(addr)
        .map_err(|e| format!("bad namenode address: {e}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(crate::node::PEER_KEEPALIVE)
        .keep_alive_timeout(crate::node::PEER_KEEPALIVE);
    Ok(
        DatanodeProtocolClient::with_interceptor(ep.connect_lazy(), NodeAuth(secret))
            .max_decoding_message_size(crate::node::MAX_MESSAGE),
    )
}

/// What the heartbeat worker needs.
pub(crate) struct Heartbeat {
    pub node: Arc<Node>,
    /// The namenode's address, for messages.
    pub namenode: String,
    pub client: NnClient,
    /// `[cluster] heartbeat_interval`, used until the namenode says otherwise.
    pub interval: Duration,
    /// Set while registered; the reports worker only sends then.
    pub registered: watch::Sender<bool>,
    pub commands: mpsc::UnboundedSender<pb::DatanodeCommand>,
    pub stop: watch::Receiver<bool>,
}

enum After {
    /// Keep heartbeating.
    Continue,
    /// Register again (the namenode forgot us, or we lost it).
    Reregister,
}

impl Heartbeat {
    fn info(&self) -> pb::DatanodeInfo {
        pb::DatanodeInfo {
            uuid: self.node.uuid.clone(),
            host: self.node.host.clone(),
            data_addr: self.node.data_addr.clone(),
            http_addr: self.node.http_addr.clone(),
            rack: String::new(),
        }
    }

    fn storages(&self) -> Vec<pb::StorageReport> {
        self.node
            .store
            .volumes()
            .iter()
            .map(storage_report)
            .collect()
    }

    pub async fn run(mut self) {
        let mut backoff = Backoff::new(Duration::from_secs(5).max(self.interval));
        'register: loop {
            self.registered.send_replace(false);
            let req = pb::RegisterRequest {
                info: Some(self.info()),
                storages: self.storages(),
            };
            let resp = match timeout(RPC_TIMEOUT, self.client.register(req)).await {
                Ok(Ok(r)) => r.into_inner(),
                Ok(Err(e)) if e.code() == tonic::Code::Unauthenticated => {
                    // Not a transient fault: say so loudly, and keep trying
                    // (the operator may fix the secret file and restart the
                    // namenode, or this datanode).
                    if backoff.should_log() {
                        error!(node = %self.node.uuid, "namenode refused us: {} (is this datanode's cluster secret file a copy of the namenode's?); will retry", e.message());
                    }
                    if sleep_or_stop(backoff.next(), &mut self.stop).await {
                        return;
                    }
                    continue;
                }
                Ok(Err(e)) => {
                    if backoff.should_log() {
                        warn!(node = %self.node.uuid, "cannot register with the namenode at {} (will retry): {}", self.namenode, e.message());
                    }
                    if sleep_or_stop(backoff.next(), &mut self.stop).await {
                        return;
                    }
                    continue;
                }
                Err(_) => {
                    if backoff.should_log() {
                        warn!(node = %self.node.uuid, "registration with the namenode at {} timed out (will retry)", self.namenode);
                    }
                    if sleep_or_stop(backoff.next(), &mut self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            self.node.set_block_keys(&resp.block_keys);
            let interval = match resp.heartbeat_interval_ms {
                0 => self.interval,
                ms => Duration::from_millis(ms),
            };
            let report_interval = match resp.block_report_interval_ms {
                0 => DEFAULT_BLOCK_REPORT_INTERVAL,
                ms => Duration::from_millis(ms),
            };
            info!(node = %self.node.uuid, rack = %resp.rack, ?interval, "registered with the namenode at {}", self.namenode);
            if let Err(e) = self.block_report().await {
                warn!(node = %self.node.uuid, "full block report failed: {e}");
                if sleep_or_stop(backoff.next(), &mut self.stop).await {
                    return;
                }
                continue;
            }
            backoff.reset();
            self.registered.send_replace(true);
            let mut next_report = Instant::now() + report_interval;
            loop {
                if sleep_or_stop(interval, &mut self.stop).await {
                    return;
                }
                match self.heartbeat().await {
                    Ok(After::Continue) => {}
                    Ok(After::Reregister) => continue 'register,
                    Err(e) => {
                        warn!(node = %self.node.uuid, "heartbeat to the namenode at {} failed, re-registering: {e}", self.namenode);
                        self.registered.send_replace(false);
                        if sleep_or_stop(backoff.next(), &mut self.stop).await {
                            return;
                        }
                        continue 'register;
                    }
                }
                if Instant::now() >= next_report {
                    next_report = Instant::now() + report_interval;
                    if let Err(e) = self.block_report().await {
                        warn!(node = %self.node.uuid, "periodic block report failed: {e}");
                        continue 'register;
                    }
                }
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<After, String> {
        let req = pb::HeartbeatRequest {
            uuid: self.node.uuid.clone(),
            storages: self.storages(),
            xceivers: self.node.xceivers(),
        };
        let resp = match timeout(RPC_TIMEOUT, self.client.heartbeat(req)).await {
            Ok(Ok(r)) => {
                crate::metrics::Metrics::add(&self.node.metrics.heartbeats, 1);
                r.into_inner()
            }
            Ok(Err(s))
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::FailedPrecondition
                ) =>
            {
                info!(node = %self.node.uuid, "namenode does not know this datanode: {}", s.message());
                return Ok(After::Reregister);
            }
            Ok(Err(s)) => return Err(s.message().to_string()),
            Err(_) => return Err("heartbeat timed out".into()),
        };
        self.node.set_block_keys(&resp.block_keys);
        self.handle(resp.commands).await
    }

    async fn block_report(&mut self) -> Result<(), String> {
        let store = self.node.store.clone();
        let (finalized, rbw) =
            tokio::task::spawn_blocking(move || (store.finalized(), store.being_written()))
                .await
                .map_err(|e| e.to_string())?;
        let n = finalized.len();
        let req = pb::BlockReportRequest {
            uuid: self.node.uuid.clone(),
            finalized: finalized.iter().map(block_of).collect(),
            being_written: rbw
                .iter()
                .map(|(b, len)| pb::Block {
                    block_id: b.id,
                    genstamp: b.genstamp,
                    num_bytes: *len,
                })
                .collect(),
        };
        let resp = match timeout(BLOCK_REPORT_TIMEOUT, self.client.block_report(req)).await {
            Ok(Ok(r)) => {
                crate::metrics::Metrics::add(&self.node.metrics.block_reports, 1);
                r.into_inner()
            }
            Ok(Err(s)) => return Err(s.message().to_string()),
            Err(_) => return Err("block report timed out".into()),
        };
        debug!(node = %self.node.uuid, replicas = n, "full block report sent");
        // A REREGISTER in answer to a report is handled by the next heartbeat.
        let _ = Box::pin(self.handle(resp.commands)).await;
        Ok(())
    }

    async fn handle(&mut self, commands: Vec<pb::DatanodeCommand>) -> Result<After, String> {
        let mut after = After::Continue;
        for c in commands {
            match c.kind() {
                Kind::Reregister => after = After::Reregister,
                Kind::BlockReport => {
                    if matches!(after, After::Continue) {
                        Box::pin(self.block_report()).await?;
                    }
                }
                Kind::Delete | Kind::Replicate => {
                    let _ = self.commands.send(c);
                }
                Kind::Unspecified => debug!("ignoring unspecified datanode command"),
            }
        }
        Ok(after)
    }
}

/// Executes DELETE and REPLICATE commands. Stops (aborting transfers in
/// flight) when `stop` fires.
pub(crate) async fn run_commands(
    node: Arc<Node>,
    mut rx: mpsc::UnboundedReceiver<pb::DatanodeCommand>,
    mut stop: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_REPLICATIONS));
    let mut tasks = JoinSet::new();
    loop {
        let cmd = tokio::select! {
            c = rx.recv() => match c { Some(c) => c, None => break },
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match cmd.kind() {
            Kind::Delete => {
                let node = node.clone();
                let blocks = cmd.blocks;
                tasks.spawn(async move {
                    let store = node.store.clone();
                    let res = tokio::task::spawn_blocking(move || {
                        blocks
                            .into_iter()
                            .map(|b| {
                                let r = store.delete(BlockRef::new(b.block_id, b.genstamp));
                                (b, r)
                            })
                            .collect::<Vec<_>>()
                    })
                    .await;
                    for (b, r) in res.unwrap_or_default() {
                        match r {
                            Ok(true) => {
                                crate::metrics::Metrics::add(&node.metrics.blocks_deleted, 1);
                                info!(block_id = b.block_id, node = %node.uuid, "deleted replica blk_{}_{}", b.block_id, b.genstamp);
                                node.reports.deleted(b);
                            }
                            // Nothing (finalized) to delete: report it only if
                            // no replica of the id is left, so that a newer
                            // replica's location is not dropped by mistake.
                            Ok(false) if node.store.state(b.block_id).is_none() => {
                                node.reports.deleted(b);
                            }
                            Ok(false) => {}
                            Err(e) => warn!(block_id = b.block_id, "delete failed: {e}"),
                        }
                    }
                });
            }
            Kind::Replicate => {
                for (i, b) in cmd.blocks.into_iter().enumerate() {
                    let targets = cmd
                        .targets
                        .get(i)
                        .map(|t| t.targets.clone())
                        .unwrap_or_default();
                    if targets.is_empty() {
                        warn!(block_id = b.block_id, "REPLICATE without targets ignored");
                        continue;
                    }
                    let node = node.clone();
                    let limit = limit.clone();
                    tasks.spawn(async move {
                        let Ok(_permit) = limit.acquire_owned().await else {
                            return;
                        };
                        let block = BlockRef::new(b.block_id, b.genstamp);
                        let to: Vec<String> = targets.iter().map(|t| t.data_addr.clone()).collect();
                        match crate::transfer::send_replica(&node, block, targets).await {
                            Ok(()) => {
                                crate::metrics::Metrics::add(&node.metrics.blocks_replicated, 1);
                                info!(block_id = block.id, targets = ?to, "replicated {block}");
                            }
                            Err(e) => {
                                warn!(block_id = block.id, targets = ?to, "replication failed: {e}")
                            }
                        }
                    });
                }
            }
            _ => {}
        }
    }
    tasks.shutdown().await;
}

/// Sends incremental reports while registered; stops when `stop` fires,
/// after one last best-effort flush.
pub(crate) async fn run_reports(
    node: Arc<Node>,
    mut client: NnClient,
    mut rx: mpsc::UnboundedReceiver<Report>,
    mut registered: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut received: Vec<pb::Block> = Vec::new();
    let mut deleted: Vec<pb::Block> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut backoff = Backoff::new(Duration::from_secs(2));
    let mut stopping = false;
    loop {
        if received.is_empty() && deleted.is_empty() {
            if stopping {
                return;
            }
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => push(r, &mut received, &mut deleted, &mut waiters),
                    None => return,
                },
                _ = stop.changed() => return,
            }
        }
        // Coalesce everything queued meanwhile into one RPC.
        while let Ok(r) = rx.try_recv() {
            push(r, &mut received, &mut deleted, &mut waiters);
        }
        if !*registered.borrow() {
            if stopping {
                return;
            }
            tokio::select! {
                r = registered.wait_for(|r| *r) => if r.is_err() { return },
                _ = stop.changed() => return,
            }
            continue;
        }
        let req = pb::BlockReceivedAndDeletedRequest {
            uuid: node.uuid.clone(),
            received: received.clone(),
            deleted: deleted.clone(),
        };
        let limit = if stopping {
            Duration::from_secs(1)
        } else {
            RPC_TIMEOUT
        };
        match timeout(limit, client.block_received_and_deleted(req)).await {
            Ok(Ok(_)) => {
                debug!(node = %node.uuid, received = received.len(), deleted = deleted.len(), "incremental block report sent");
                received.clear();
                deleted.clear();
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
                backoff.reset();
            }
            res => {
                let why = match res {
                    Ok(Err(s)) => s.message().to_string(),
                    _ => "timed out".into(),
                };
                if stopping {
                    warn!(node = %node.uuid, "final incremental block report failed: {why}");
                    return;
                }
                if backoff.should_log() {
                    warn!(node = %node.uuid, "incremental block report failed (will retry): {why}");
                }
                if sleep_or_stop(backoff.next(), &mut stop).await {
                    stopping = true;
                }
            }
        }
    }
}

fn push(
    r: Report,
    received: &mut Vec<pb::Block>,
    deleted: &mut Vec<pb::Block>,
    waiters: &mut Vec<oneshot::Sender<()>>,
) {
    match r {
        Report::Received(b, w) => {
            received.push(b);
            waiters.extend(w);
        }
        Report::Deleted(b) => {
            received.retain(|x| x.block_id != b.block_id);
            deleted.push(b)
        }
    }
}
