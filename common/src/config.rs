//! The cluster configuration file (`tusk.toml`).
//!
//! All daemons of a cluster can share one file; each reads the sections it
//! needs and ignores the rest. Every field has a default, so an empty file (or
//! none) is a working single-machine configuration. Sizes and durations are
//! strings (`"128MiB"`, `"3s"`); a bare integer is bytes or seconds. Keys are
//! documented in docs/CONFIG.md.

use crate::units::{parse_duration, parse_size};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A byte count read from `"128MiB"`, `"64k"` or a bare integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => parse_size(&s).map(Size).map_err(serde::de::Error::custom),
        }
    }
}

/// A duration read from `"3s"`, `"500ms"` or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            F(f64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Dur(Duration::from_secs(n))),
            Raw::F(f) => Ok(Dur(Duration::from_secs_f64(f))),
            Raw::S(s) => parse_duration(&s)
                .map(Dur)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TuskConfig {
    pub cluster: ClusterConfig,
    pub namenode: NamenodeConfig,
    pub datanode: DatanodeConfig,
    pub resourcemanager: ResourceManagerConfig,
    pub nodemanager: NodeManagerConfig,
    pub limits: LimitsConfig,
    pub security: SecurityConfig,
    pub tls: TlsConfig,
}

/// `[cluster]`: settings every daemon of the cluster must agree on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClusterConfig {
    /// Replication of new files when the client does not ask for one.
    pub replication: u32,
    /// Block size of new files when the client does not ask for one.
    pub block_size: Size,
    /// How often datanodes (and node managers) heartbeat.
    pub heartbeat_interval: Dur,
    /// Silence after which a datanode is declared dead and its replicas re-replicated.
    pub dead_after: Dur,
    /// Optional topology file: lines of `host-or-ip rack`; relative to the config file.
    pub topology: Option<PathBuf>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            replication: 3,
            block_size: Size(128 << 20),
            heartbeat_interval: Dur(Duration::from_secs(3)),
            dead_after: Dur(Duration::from_secs(30)),
            topology: None,
        }
    }
}

/// `[namenode]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NamenodeConfig {
    /// RPC listen address (ClientProtocol and DatanodeProtocol).
    pub rpc_addr: String,
    /// HTTP listen address (status page, /metrics; WebHDFS later).
    pub http_addr: String,
    /// Where the namespace (sled) lives.
    pub name_dir: PathBuf,
    /// Where `namenode.addr` / `namenode-http.addr` are written; defaults to `name_dir`.
    pub state_dir: Option<PathBuf>,
    /// Share of blocks that must have a reported replica before leaving safe mode.
    pub safemode_threshold: f64,
    /// How long to stay in safe mode after the threshold is reached.
    pub safemode_extension: Dur,
    /// Group whose members are superusers (besides the user running the namenode).
    pub supergroup: String,
    /// The superuser; defaults to the user running the namenode.
    pub superuser: Option<String>,
    /// Memory sled may use for its page cache.
    pub cache_size: Size,
    /// How often a datanode sends a full block report.
    pub block_report_interval: Dur,
    /// Lease soft limit: after it, another client may recover the file.
    pub lease_soft_limit: Dur,
    /// Lease hard limit: after it, the namenode recovers the file itself.
    pub lease_hard_limit: Dur,
    /// Maximum entries returned by one listing page.
    pub listing_limit: u32,
    /// Maximum entries in one directory (HDFS: 1,048,576).
    pub max_directory_items: u64,
    /// How often the replication monitor looks for under- and over-replicated
    /// blocks and schedules copies and deletions (HDFS:
    /// `dfs.namenode.redundancy.interval.seconds`, 3 s).
    pub replication_interval: Dur,
    /// A scheduled copy not reported by its targets within this time is
    /// forgotten and retried elsewhere (HDFS:
    /// `dfs.namenode.reconstruction.pending.timeout-sec`, 5 min).
    pub pending_replication_timeout: Dur,
    /// Copies a datanode may be the source of at once (HDFS:
    /// `dfs.namenode.replication.max-streams`, 2); bounds the work handed
    /// to one node per heartbeat so re-replication does not swamp it.
    pub max_replication_streams: u32,
    /// Inodes a recursive delete removes in one step while holding the
    /// namesystem lock (HDFS: `dfs.namenode.block.deletion.increment`,
    /// 1000 blocks). A bigger tree is detached from the namespace at once
    /// and its inodes and blocks are removed in the background, this many
    /// per step.
    pub deletion_increment: u32,
    /// How long a path `dfs rm` moved to the trash stays there, at least
    /// (Hadoop's `fs.trash.interval`); 0 turns the trash off: `dfs rm`
    /// deletes at once and the namenode runs no trash emptier.
    pub trash_interval: Dur,
    /// How often the namenode's trash emptier checkpoints every user's
    /// `.Trash/Current` and deletes checkpoints older than `trash_interval`
    /// (Hadoop's `fs.trash.checkpoint.interval`); 0, or more than
    /// `trash_interval`, means `trash_interval`.
    pub trash_checkpoint_interval: Dur,
}

impl Default for NamenodeConfig {
    fn default() -> Self {
        Self {
            rpc_addr: "0.0.0.0:9000".into(),
            http_addr: "0.0.0.0:9870".into(),
            name_dir: PathBuf::from("name"),
            state_dir: None,
            safemode_threshold: 0.999,
            safemode_extension: Dur(Duration::from_secs(0)),
            supergroup: "supergroup".into(),
            superuser: None,
            cache_size: Size(16 << 20),
            block_report_interval: Dur(Duration::from_secs(6 * 3600)),
            lease_soft_limit: Dur(Duration::from_secs(60)),
            lease_hard_limit: Dur(Duration::from_secs(20 * 60)),
            listing_limit: 1000,
            max_directory_items: 1 << 20,
            replication_interval: Dur(Duration::from_secs(3)),
            pending_replication_timeout: Dur(Duration::from_secs(300)),
            max_replication_streams: 2,
            deletion_increment: 5000,
            trash_interval: Dur(Duration::from_secs(86_400)),
            trash_checkpoint_interval: Dur(Duration::ZERO),
        }
    }
}

/// `[datanode]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatanodeConfig {
    /// The namenode's RPC address.
    pub namenode: String,
    /// DataTransfer listen address.
    pub data_addr: String,
    /// HTTP listen address.
    pub http_addr: String,
    /// Host identity advertised to the namenode (for locality); defaults to the
    /// IP of `data_addr`, or 127.0.0.1 when that is a wildcard.
    pub host: Option<String>,
    /// Directories holding block files (one volume each).
    pub data_dirs: Vec<PathBuf>,
    /// Where `datanode.addr` / `datanode-http.addr` are written; defaults to the first data dir.
    pub state_dir: Option<PathBuf>,
    /// Space to leave free on every volume.
    pub reserved: Size,
    /// Bytes per data transfer message.
    pub packet_size: Size,
    /// fsync a replica's data and meta when it is finalized (HDFS's
    /// `dfs.datanode.synconclose`, also off by default there). Off, a finalized
    /// replica survives a datanode crash (kill -9) but can lose its tail in a
    /// power failure of its machine; the CRC32C check then marks it corrupt and
    /// the other replicas serve and heal it. On, writes run at disk speed.
    pub sync_on_close: bool,
    /// While writing a replica, start writeback of each 8 MiB as it fills and
    /// drop the previous 8 MiB from the page cache (HDFS's
    /// `dfs.datanode.sync.behind.writes` + `drop.cache.behind.writes`, also off
    /// by default there). On, replication-3 writes on a machine that is short
    /// of free memory or slow to hand it out run faster (measured here: ~2x),
    /// but a read straight after a write comes from disk instead of the cache.
    pub drop_behind_writes: bool,
    /// Read rate of the block scanner, which verifies every finalized
    /// replica's CRC32Cs and SHA-256 in the background and reports corrupt
    /// ones to the namenode (HDFS's `dfs.block.scanner.volume.bytes.per.second`,
    /// 1 MiB/s there). "0" turns the scanner off.
    pub scan_bytes_per_sec: Size,
    /// Each replica is scanned once per period (HDFS's
    /// `dfs.datanode.scan.period.hours`, 504 h = 3 weeks); a pass that ends
    /// early waits for the rest of the period.
    pub scan_period: Dur,
    /// How often every volume is probed (a file created, fsynced and removed
    /// in `<dir>/current`); an I/O error on a volume triggers a probe at once.
    /// A volume that fails is taken out of service.
    pub volume_check_interval: Dur,
    /// Failed volumes the datanode survives; one more and it stops. -1 (the
    /// default, also allowed by HDFS's `dfs.datanode.failed.volumes.tolerated`)
    /// keeps serving while at least one volume works; HDFS's default, 0,
    /// stops at the first failure.
    pub failed_volumes_tolerated: i64,
    /// UNIX domain socket on which the datanode hands clients on its own host
    /// the files of finalized replicas (short-circuit local reads, HDFS's
    /// `dfs.domain.socket.path`); `None` = `<state_dir>/dn_socket`, `""` turns
    /// it off. Clients find it through an entry named after the advertised
    /// data address in the per-user rendezvous directory (docs/ARCHITECTURE.md).
    pub domain_socket_path: Option<PathBuf>,
    /// ReadBlock and WriteBlock streams (including the pipeline's and
    /// re-replication's) the DataTransfer service serves at once (HDFS's
    /// `dfs.datanode.max.transfer.threads`, 4096); one more is refused
    /// with RESOURCE_EXHAUSTED and clients move to another replica or
    /// exclude the node from the pipeline.
    pub max_transfers: u32,
    /// WebHDFS CREATE/APPEND/OPEN/GETFILECHECKSUM transfers served at once;
    /// one more gets 503 RetriableException. Each holds a namenode
    /// connection and a few MiB of buffers.
    pub webhdfs_max_transfers: u32,
    /// How long a WebHDFS request body may stay silent (or a response go
    /// unread) before the transfer is aborted and cleaned up (Hadoop: the
    /// 60 s socket time-out).
    pub webhdfs_idle_timeout: Dur,
}

impl Default for DatanodeConfig {
    fn default() -> Self {
        Self {
            namenode: "127.0.0.1:9000".into(),
            data_addr: "0.0.0.0:9866".into(),
            http_addr: "0.0.0.0:9864".into(),
            host: None,
            data_dirs: vec![PathBuf::from("data")],
            state_dir: None,
            reserved: Size(0),
            packet_size: Size(64 << 10),
            sync_on_close: false,
            drop_behind_writes: false,
            scan_bytes_per_sec: Size(8 << 20),
            scan_period: Dur(Duration::from_secs(3 * 7 * 24 * 3600)),
            volume_check_interval: Dur(Duration::from_secs(30)),
            failed_volumes_tolerated: -1,
            domain_socket_path: None,
            max_transfers: 4096,
            webhdfs_max_transfers: 256,
            webhdfs_idle_timeout: Dur(Duration::from_secs(60)),
        }
    }
}

/// `[resourcemanager]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ResourceManagerConfig {
    /// RPC listen address (ApplicationClient, ApplicationMaster, ResourceTracker).
    pub rpc_addr: String,
    /// HTTP listen address (status page, /metrics, /ws/v1/cluster/apps).
    pub http_addr: String,
    /// Where the application store (sled) and `resourcemanager.addr` /
    /// `resourcemanager-http.addr` live.
    pub state_dir: PathBuf,
    /// Missed scheduling opportunities (a node with room offered to an
    /// application none of whose requests at that priority may take it)
    /// after which requests with preferred hosts may take a rack-local
    /// container (Hadoop's `yarn.scheduler.capacity.node-locality-delay`).
    pub node_locality_delay: u32,
    /// Missed scheduling opportunities after which such a request may take a
    /// container anywhere (must be at least `node_locality_delay`).
    pub rack_locality_delay: u32,
    /// Application master attempts before an application fails (Hadoop's
    /// `yarn.resourcemanager.am.max-attempts`, 2); a submission may ask for fewer.
    pub max_am_attempts: u32,
    /// How long an application master may keep running after it unregistered
    /// before the node managers kill it and clean the application up.
    pub am_finish_grace: Dur,
    /// An application master that neither registers nor allocates for this
    /// long is declared hung: its container is killed and the attempt fails
    /// (Hadoop's `yarn.am.liveness-monitor.expiry-interval-ms`, 10 min).
    pub am_expiry: Dur,
}

impl Default for ResourceManagerConfig {
    fn default() -> Self {
        Self {
            rpc_addr: "0.0.0.0:8032".into(),
            http_addr: "0.0.0.0:8088".into(),
            state_dir: PathBuf::from("rm"),
            node_locality_delay: 10,
            rack_locality_delay: 20,
            max_am_attempts: 2,
            am_finish_grace: Dur(Duration::from_secs(5)),
            am_expiry: Dur(Duration::from_secs(600)),
        }
    }
}

/// `[nodemanager]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NodeManagerConfig {
    /// The resource manager's RPC address.
    pub rm: String,
    /// The namenode's RPC address (localization; `TUSK_NAMENODE` of containers).
    pub namenode: String,
    /// ContainerManager listen address.
    pub rpc_addr: String,
    /// Shuffle service listen address.
    pub shuffle_addr: String,
    /// HTTP listen address (`/metrics`, `/health`).
    pub http_addr: String,
    /// Host identity for locality; must match the datanode beside it.
    /// Defaults to the IP of `rpc_addr`, or 127.0.0.1 when that is a wildcard
    /// (the datanode's rule).
    pub host: Option<String>,
    /// Containers' working dirs and applications' local dirs (map outputs).
    pub local_dir: PathBuf,
    /// Container stdout/stderr; defaults to `<local_dir>/logs`.
    pub log_dir: Option<PathBuf>,
    /// Where `nodemanager.addr` and friends are written; defaults to `local_dir`.
    pub state_dir: Option<PathBuf>,
    /// Memory offered to containers.
    pub memory: Size,
    /// Virtual cores offered to containers.
    pub vcores: u32,
    /// How often each container's process tree memory is measured.
    pub memory_check_interval: Dur,
    /// Time between SIGTERM and SIGKILL when a container is stopped.
    pub kill_grace: Dur,
    /// Who containers run as: `auto` (default: as their application's
    /// user when the node manager runs as root, else as the node manager's
    /// own user), `user` (always as the user; the node manager must run as
    /// root) or `process` (always as the node manager's own user). See
    /// `[security] container_*` for which users qualify.
    pub container_executor: ContainerExecutor,
}

/// `[nodemanager] container_executor` (Hadoop: the Linux vs. the default
/// container executor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerExecutor {
    /// `user` when the node manager runs as root, else `process`.
    #[default]
    Auto,
    /// Each container as its application's user (setuid; needs root).
    User,
    /// Every container as the node manager's own user.
    Process,
}

impl Default for NodeManagerConfig {
    fn default() -> Self {
        Self {
            rm: "127.0.0.1:8032".into(),
            namenode: "127.0.0.1:9000".into(),
            rpc_addr: "0.0.0.0:8040".into(),
            shuffle_addr: "0.0.0.0:13562".into(),
            http_addr: "0.0.0.0:8042".into(),
            host: None,
            local_dir: PathBuf::from("nm-local"),
            log_dir: None,
            state_dir: None,
            memory: Size(8 << 30),
            vcores: 8,
            memory_check_interval: Dur(Duration::from_secs(1)),
            kill_grace: Dur(Duration::from_millis(250)),
            container_executor: ContainerExecutor::Auto,
        }
    }
}

/// `[limits]`: what keeps every daemon's servers alive under abuse (huge
/// messages, connections that never speak, slow headers, stream floods).
/// Shared by all daemons of the cluster; applied by `tusk_common::net`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest RPC message a gRPC server decodes; a bigger one is refused
    /// with OUT_OF_RANGE and the connection stays usable (Hadoop:
    /// `ipc.maximum.data.length`, 128 MiB).
    pub max_rpc_message_size: Size,
    /// Concurrent calls (HTTP/2 streams) one gRPC connection may have open;
    /// further calls wait at the client (Hadoop bounds calls per handler
    /// queue instead: `ipc.server.handler.queue.size`).
    pub rpc_max_concurrent_streams: u32,
    /// A gRPC connection that has not sent its first bytes (the HTTP/2
    /// preface) within this time is closed.
    pub rpc_handshake_timeout: Dur,
    /// Interval of HTTP/2 pings on an otherwise idle gRPC connection, and
    /// how long an unanswered ping may wait before the connection is closed
    /// (a peer that vanished without a FIN).
    pub rpc_keepalive_interval: Dur,
    pub rpc_keepalive_timeout: Dur,
    /// An HTTP client must send a whole request header within this time,
    /// else its connection is closed (slowloris; Jetty in Hadoop: 30-60 s).
    pub http_header_read_timeout: Dur,
    /// Calls every gRPC server of the daemon has in flight at once, over all
    /// connections (a streaming call counts until its response stream
    /// ends); one more is shed at once with RESOURCE_EXHAUSTED "server
    /// busy" instead of queueing without bound, and clients retry it with
    /// backoff (Hadoop: `ipc.server.handler.queue.size` and its
    /// RetriableException / backoff).
    pub rpc_max_pending: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_rpc_message_size: Size(128 << 20),
            rpc_max_concurrent_streams: 1024,
            rpc_handshake_timeout: Dur(Duration::from_secs(20)),
            rpc_keepalive_interval: Dur(Duration::from_secs(60)),
            rpc_keepalive_timeout: Dur(Duration::from_secs(20)),
            http_header_read_timeout: Dur(Duration::from_secs(30)),
            rpc_max_pending: 4096,
        }
    }
}

impl LimitsConfig {
    /// `max_rpc_message_size` as tonic takes it.
    pub fn max_message(&self) -> usize {
        usize::try_from(self.max_rpc_message_size.0).unwrap_or(usize::MAX)
    }
}

/// How clients prove who they are (`[security] authentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Hadoop's simple mode: the user name a client claims is believed.
    #[default]
    Simple,
    /// Every client call carries a user token (`dfs admin token create
    /// USER`); a claimed name without a valid token is refused.
    Token,
}

/// `[security]`: the cluster secret, block access tokens, client
/// authentication and who containers run as.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// The shared secret file (64 hex digits, mode 0600). The namenode and
    /// resource manager create it at first start; datanodes and node
    /// managers must be given a copy. Unset: `$TUSK_SECRET_FILE`, else
    /// `$TUSK_HOME/cluster.secret`, else `cluster.secret` in the working
    /// directory (see [`crate::security::secret_path`]). Relative paths are
    /// resolved against the config file's directory.
    pub cluster_secret_file: Option<PathBuf>,
    /// Datanodes refuse block reads and writes without a valid block access
    /// token from the namenode (HDFS: `dfs.block.access.token.enable`).
    pub block_access_tokens: bool,
    /// How long a block access token is valid (HDFS:
    /// `dfs.block.access.token.lifetime`, 600 min).
    pub block_token_lifetime: Dur,
    /// How often the namenode makes a new block key (HDFS:
    /// `dfs.block.access.key.update.interval`, 600 min).
    pub block_key_update_interval: Dur,
    /// `simple` (default) or `token`.
    pub authentication: AuthMode,
    /// Default lifetime of a token made by `dfs admin token create`.
    pub user_token_lifetime: Dur,
    /// Containers run as the submitting user only when its uid is at least
    /// this (Hadoop: `min.user.id`, 1000) and it is not banned; otherwise
    /// as `container_fallback_user`.
    pub container_min_user_id: u32,
    /// The unprivileged account for other containers (Hadoop:
    /// `yarn.nodemanager.linux-container-executor.nonsecure-mode.local-user`).
    pub container_fallback_user: String,
    /// Users whose containers never run as themselves (Hadoop: `banned.users`).
    pub container_banned_users: Vec<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            cluster_secret_file: None,
            block_access_tokens: true,
            block_token_lifetime: Dur(Duration::from_secs(600 * 60)),
            block_key_update_interval: Dur(Duration::from_secs(600 * 60)),
            authentication: AuthMode::Simple,
            user_token_lifetime: Dur(Duration::from_secs(7 * 24 * 3600)),
            container_min_user_id: 1000,
            container_fallback_user: "nobody".to_string(),
            container_banned_users: ["root", "bin", "daemon", "hdfs", "yarn", "mapred"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl SecurityConfig {
    /// Where the cluster secret file is (config, environment, default).
    pub fn secret_path(&self) -> PathBuf {
        crate::security::secret_path(self.cluster_secret_file.as_deref())
    }
}

/// `[tls]`: TLS (rustls) on every RPC and HTTP server of the cluster and
/// on the connections daemons and clients open to them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM certificate chain this daemon presents.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates that peers' certificates must chain to.
    pub ca_file: Option<PathBuf>,
}

/// Failure to read the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Parse { path: String, msg: String },
}

impl TuskConfig {
    /// Reads a config file. Relative paths inside it (topology) are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut cfg = Self::parse(&text).map_err(|msg| ConfigError::Parse {
            path: path.display().to_string(),
            msg,
        })?;
        if let Some(dir) = path.parent() {
            for p in [
                &mut cfg.cluster.topology,
                &mut cfg.security.cluster_secret_file,
                &mut cfg.tls.cert_file,
                &mut cfg.tls.key_file,
                &mut cfg.tls.ca_file,
            ] {
                if let Some(t) = p.as_mut().filter(|t| t.is_relative()) {
                    *t = dir.join(&*t);
                }
            }
        }
        Ok(cfg)
    }

    /// Parses config text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// `load` when a path is given, defaults otherwise.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => Ok(Self::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_default() {
        let c = TuskConfig::parse("").unwrap();
        assert_eq!(c.cluster.replication, 3);
        assert_eq!(c.cluster.block_size, Size(128 << 20));
        assert_eq!(c.cluster.dead_after, Dur(Duration::from_secs(30)));
    }

    #[test]
    fn parses_strings_and_ignores_other_sections() {
        let c = TuskConfig::parse(
            r#"
            [cluster]
            replication = 2
            block_size = "1MiB"
            heartbeat_interval = "500ms"
            dead_after = 10
            [resourcemanager]
            whatever = 1
            "#,
        )
        .unwrap();
        assert_eq!(c.cluster.replication, 2);
        assert_eq!(c.cluster.block_size.0, 1 << 20);
        assert_eq!(c.cluster.heartbeat_interval.0, Duration::from_millis(500));
        assert_eq!(c.cluster.dead_after.0, Duration::from_secs(10));
    }

    #[test]
    fn bad_size_is_a_clear_error() {
        let e = TuskConfig::parse("[cluster]\nblock_size = \"12 parsecs\"").unwrap_err();
        assert!(e.contains("parsecs"), "{e}");
    }
}
