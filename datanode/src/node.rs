//! The state every part of a running datanode shares.

use crate::link::ReportQueue;
use crate::metrics::Metrics;
use crate::store::BlockStore;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};
use tusk_common::security::{BlockKey, BlockKeyRing, ClusterSecret};
use tusk_proto as pb;
use tusk_proto::data_transfer_client::DataTransferClient;

/// HTTP/2 flow-control windows for block traffic: big enough that a stream of
/// 256 KiB packets is never throttled by window updates on loopback or LAN.
pub const STREAM_WINDOW: u32 = 8 << 20;
pub const CONNECTION_WINDOW: u32 = 32 << 20;
/// Largest HTTP/2 frame we accept.
pub const MAX_FRAME: u32 = 1 << 20;
/// Largest gRPC message accepted (the client's write packets are 256 KiB; clients may
/// choose bigger ones).
pub const MAX_MESSAGE: usize = 64 << 20;

pub(crate) struct Node {
    /// The replicas.
    pub store: Arc<dyn BlockStore>,
    pub uuid: String,
    /// Advertised host (locality identity).
    pub host: String,
    /// Advertised "host:port" of the DataTransfer service.
    pub data_addr: String,
    /// Advertised "host:port" of the HTTP server.
    pub http_addr: String,
    /// Bytes per ReadBlock message and per REPLICATE packet (chunk multiple).
    pub packet_size: usize,
    /// Room a new replica needs on a volume: WriteHeader carries no length,
    /// so the cluster's default block size stands in for it.
    pub expected_block_len: u64,
    pub metrics: Metrics,
    /// Transfers in progress (heartbeats report it).
    xceivers: AtomicU32,
    /// Woken when `xceivers` drops to zero (shutdown waits on it).
    idle: Notify,
    /// Connections to other datanodes, by address (one HTTP/2 connection each,
    /// shared by all pipelines to that node).
    peers: Mutex<HashMap<String, Channel>>,
    /// Incremental block reports to the namenode.
    pub reports: ReportQueue,
    /// WebHDFS data endpoint settings: the namenode it acts against, its
    /// transfer slots and idle time-out.
    pub webhdfs: crate::webhdfs::Settings,
    /// The cluster secret and the block keys: who may do what here.
    pub security: Security,
}

/// How a datanode tells who may touch its replicas.
pub(crate) struct Security {
    /// Signs this datanode's own calls (namenode, other datanodes) and
    /// verifies other daemons' (the namenode's RecoverReplica, replica
    /// copies from other datanodes).
    pub secret: Arc<ClusterSecret>,
    /// `[security] block_access_tokens`: clients need a token from the
    /// namenode for every block access.
    pub block_tokens: bool,
    /// The keys tokens are checked with, replaced by every register and
    /// heartbeat answer.
    pub keys: BlockKeyRing,
}

/// Adds node authentication to every call of a client it wraps.
#[derive(Clone)]
pub(crate) struct NodeAuth(pub Arc<ClusterSecret>);

impl Interceptor for NodeAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        self.0.sign_request(&mut req);
        Ok(req)
    }
}

/// A DataTransfer client of another datanode, authenticated as this one.
pub(crate) type PeerClient = DataTransferClient<InterceptedService<Channel, NodeAuth>>;

/// A block access refused: PERMISSION_DENIED with the message clients match
/// (HDFS's exception class first).
pub(crate) fn token_refused(block_id: u64, cause: impl std::fmt::Display) -> Status {
    Status::permission_denied(format!(
        "InvalidBlockTokenException: blk_{block_id}: {cause}"
    ))
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn BlockStore>,
        host: String,
        data_addr: String,
        http_addr: String,
        packet_size: usize,
        expected_block_len: u64,
        reports: ReportQueue,
    ) -> Self {
        let bpc = crate::store::BYTES_PER_CHECKSUM as usize;
        Self {
            uuid: store.uuid().to_string(),
            store,
            host,
            data_addr,
            http_addr,
            packet_size: (packet_size / bpc).max(1) * bpc,
            expected_block_len,
            metrics: Metrics::default(),
            xceivers: AtomicU32::new(0),
            idle: Notify::new(),
            peers: Mutex::new(HashMap::new()),
            reports,
            webhdfs: crate::webhdfs::Settings::default(),
            // Strict until `with_security`: tokens required, a secret nobody has.
            security: Security {
                secret: Arc::new(ClusterSecret::generate()),
                block_tokens: true,
                keys: BlockKeyRing::default(),
            },
        }
    }

    /// Sets the cluster secret and whether block access tokens are required.
    pub fn with_security(mut self, secret: Arc<ClusterSecret>, block_tokens: bool) -> Self {
        self.security.secret = secret;
        self.security.block_tokens = block_tokens;
        self
    }

    /// Replaces the block keys with the namenode's current set.
    pub fn set_block_keys(&self, keys: &[pb::BlockKey]) {
        let keys: Vec<BlockKey> = keys
            .iter()
            .filter_map(|k| {
                Some(BlockKey {
                    id: k.id,
                    key: k.key.as_ref().try_into().ok()?,
                    expires_ms: k.expires_ms,
                })
            })
            .collect();
        self.security.keys.set(keys);
    }

    /// Whether `req` needs no block token: tokens are off, or it carries
    /// valid node authentication (a daemon holding the cluster secret).
    pub fn token_exempt<T>(&self, req: &Request<T>) -> bool {
        !self.security.block_tokens || self.security.secret.check_request(req).is_ok()
    }

    /// [`Node::check_access`] for the request `req` carrying `token`.
    pub fn check_request_access<T>(
        &self,
        req: &Request<T>,
        token: &[u8],
        block_id: u64,
        mode: u32,
    ) -> Result<(), Status> {
        self.check_access(self.token_exempt(req), token, block_id, mode)
    }

    /// Checks access `mode` ([`tusk_common::security::ACCESS_READ`] /
    /// `ACCESS_WRITE`) to `block_id`: nothing to check when `exempt` (see
    /// [`Node::token_exempt`]), else a valid token is needed.
    pub fn check_access(
        &self,
        exempt: bool,
        token: &[u8],
        block_id: u64,
        mode: u32,
    ) -> Result<(), Status> {
        if exempt || !self.security.block_tokens {
            return Ok(());
        }
        match self.security.keys.verify(token, block_id, mode) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::debug!(block_id, node = %self.uuid, cause = %e, "block access refused");
                Err(token_refused(block_id, e))
            }
        }
    }

    /// Replaces the WebHDFS settings (the default assumes a namenode at
    /// 127.0.0.1:9000).
    pub fn with_webhdfs(mut self, settings: crate::webhdfs::Settings) -> Self {
        self.webhdfs = settings;
        self
    }

    pub fn xceivers(&self) -> u32 {
        self.xceivers.load(Ordering::Relaxed)
    }

    /// Counts a transfer until the guard is dropped.
    pub fn xceiver(self: &Arc<Self>) -> XceiverGuard {
        self.xceivers.fetch_add(1, Ordering::Relaxed);
        XceiverGuard(self.clone())
    }

    /// Waits until no transfer is in progress, at most `limit`.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.idle.notified();
            if self.xceivers() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.xceivers() == 0;
            }
        }
    }

    /// A DataTransfer client for another datanode (connects lazily; the
    /// error of an unreachable node surfaces on the first call).
    pub fn peer(&self, addr: &str) -> Result<PeerClient, String> {
        let mut peers = self.peers.lock();
        let ch = match peers.get(addr) {
            Some(c) => c.clone(),
            None => {
                let ep = tusk_common::net::endpoint(addr)
                    .map_err(|e| format!("bad datanode address: {e}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true)
                    .initial_stream_window_size(STREAM_WINDOW)
                    .initial_connection_window_size(CONNECTION_WINDOW)
                    .max_frame_size(MAX_FRAME)
                    // A peer cut off the network sends no RST: unanswered
                    // pings end its streams within ~10 s (as the client's do)
                    // so a pipeline or a replica copy fails instead of hanging.
                    .http2_keep_alive_interval(PEER_KEEPALIVE)
                    .keep_alive_timeout(PEER_KEEPALIVE)
                    .keep_alive_while_idle(false);
                let ch = ep.connect_lazy();
                peers.insert(addr.to_string(), ch.clone());
                ch
            }
        };
        Ok(
            DataTransferClient::with_interceptor(ch, NodeAuth(self.security.secret.clone()))
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        )
    }
}

/// Decrements the xceiver count on drop.
pub(crate) struct XceiverGuard(Arc<Node>);

impl Drop for XceiverGuard {
    fn drop(&mut self) {
        if self.0.xceivers.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// HTTP/2 ping period and ping time-out on connections to other datanodes
/// and to the namenode.
pub(crate) const PEER_KEEPALIVE: Duration = Duration::from_secs(5);
