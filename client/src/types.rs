//! Public domain types returned by [`crate::DfsClient`]; proto types stay private
//! (conversions in `convert.rs`).

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Directory,
}

/// What the namenode knows about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Absolute path of the entry.
    pub path: String,
    /// Its last component (`""` for `/`).
    pub name: String,
    pub file_type: FileType,
    /// Bytes; 0 for directories.
    pub length: u64,
    pub owner: String,
    pub group: String,
    /// Low 12 bits: sticky + rwxrwxrwx.
    pub permission: u32,
    /// Milliseconds since the epoch.
    pub mtime_ms: u64,
    pub atime_ms: u64,
    /// 0 for directories.
    pub replication: u32,
    /// 0 for directories.
    pub block_size: u64,
    /// Inode id.
    pub file_id: u64,
    /// Number of children (directories only).
    pub children_num: u64,
    /// The file is open for writing.
    pub under_construction: bool,
}

impl FileStatus {
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }
}

/// Sizes and counts below a path (`du`, `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContentSummary {
    pub length: u64,
    pub file_count: u64,
    /// Includes the path itself when it is a directory.
    pub directory_count: u64,
    /// Length × replication, summed.
    pub space_consumed: u64,
    /// Namespace quota; `None` = none.
    pub quota: Option<u64>,
    /// Space quota in bytes; `None` = none.
    pub space_quota: Option<u64>,
}

/// The recorded whole-file checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecksum {
    /// SHA-256 of the file's content; `None` when unknown (after an append).
    pub sha256: Option<[u8; 32]>,
    pub length: u64,
}

impl FileChecksum {
    /// Lower-case hex of the SHA-256, as `sha256sum` prints it.
    pub fn hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }
}

/// The SHA-256 bytes (empty when unknown), so `hex::encode(checksum)` works.
impl AsRef<[u8]> for FileChecksum {
    fn as_ref(&self) -> &[u8] {
        match &self.sha256 {
            Some(s) => s,
            None => &[],
        }
    }
}

/// Cluster totals (`df`, `admin report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStats {
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
    pub live_datanodes: u64,
    pub dead_datanodes: u64,
    pub under_replicated_blocks: u64,
    pub corrupt_blocks: u64,
    pub missing_blocks: u64,
    pub total_blocks: u64,
    pub total_files: u64,
    pub safe_mode: bool,
    /// Blocks with a copy scheduled and not yet reported.
    pub pending_replications: u64,
}

/// A change `expunge` made to the trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrashChange {
    /// This checkpoint was deleted.
    Deleted(String),
    /// `Current` became this checkpoint.
    Checkpointed(String),
}

/// The namenode's defaults for new files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDefaults {
    pub block_size: u64,
    pub replication: u32,
    pub bytes_per_checksum: u32,
    pub write_packet_size: u32,
    pub superuser: String,
    pub supergroup: String,
    /// How long the trash keeps what `rm` moves into it; zero: no trash.
    pub trash_interval: std::time::Duration,
}

/// Where a datanode is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatanodeInfo {
    /// Stable identity.
    pub uuid: String,
    /// Host name or IP, for locality.
    pub host: String,
    /// `ip:port` of its data transfer service.
    pub data_addr: String,
    /// `ip:port` of its HTTP server.
    pub http_addr: String,
    pub rack: String,
}

/// One datanode in `datanode_report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatanodeReport {
    pub info: DatanodeInfo,
    pub live: bool,
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
    pub num_blocks: u64,
    pub last_heartbeat_ms_ago: u64,
    pub xceivers: u32,
    /// "In Service", "Decommission in progress" or "Decommissioned".
    pub admin_state: String,
    /// While decommissioning: its blocks still short of replicas elsewhere.
    pub blocks_to_replicate: u64,
}

/// A block: id, generation stamp, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    pub id: u64,
    pub genstamp: u64,
    pub num_bytes: u64,
}

/// A block of a file with its replicas' locations (sorted by distance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedBlock {
    pub block_id: u64,
    /// Generation stamp the replicas must have.
    pub genstamp: u64,
    /// Length of the block (final for complete blocks).
    pub num_bytes: u64,
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    pub locations: Vec<DatanodeInfo>,
    /// Every replica is known corrupt.
    pub corrupt: bool,
    /// The block access token the namenode issued with these locations
    /// (opaque; sent to the datanodes; empty when tokens are off).
    pub access_token: bytes::Bytes,
}

impl LocatedBlock {
    /// Id, generation stamp and length.
    pub fn block(&self) -> Block {
        Block {
            id: self.block_id,
            genstamp: self.genstamp,
            num_bytes: self.num_bytes,
        }
    }
}

/// The block layout of a file (for readers and MapReduce splits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLocations {
    pub file_length: u64,
    pub file_id: u64,
    pub under_construction: bool,
    pub blocks: Vec<LocatedBlock>,
}

/// Options of [`crate::DfsClient::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// Replace an existing file.
    pub overwrite: bool,
    /// `None` = the client's configured value, else the cluster default.
    pub replication: Option<u32>,
    /// `None` = the client's configured value, else the cluster default.
    pub block_size: Option<u64>,
    /// Mode bits (default 0o644).
    pub permission: u32,
    /// Create missing parent directories (default true, as `FileSystem.create`).
    pub create_parent: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            overwrite: false,
            replication: None,
            block_size: None,
            permission: 0o644,
            create_parent: true,
        }
    }
}

impl CreateOptions {
    pub fn with_overwrite(mut self, v: bool) -> Self {
        self.overwrite = v;
        self
    }
    pub fn with_replication(mut self, v: u32) -> Self {
        self.replication = Some(v);
        self
    }
    pub fn with_block_size(mut self, v: u64) -> Self {
        self.block_size = Some(v);
        self
    }
    pub fn with_permission(mut self, v: u32) -> Self {
        self.permission = v;
        self
    }
    pub fn with_create_parent(mut self, v: bool) -> Self {
        self.create_parent = v;
        self
    }
}

/// `set_safe_mode` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeModeAction {
    /// Only ask (anyone may).
    Get,
    /// Enter; stays on until `Leave` (superuser).
    Enter,
    /// Leave (superuser).
    Leave,
}

/// `balancer` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerAction {
    /// Only ask (anyone may).
    Status,
    /// Start a run, or change the running one's threshold (superuser).
    Start,
    /// Stop the running one (superuser).
    Stop,
}

/// The namenode's balancer: the current or last run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalancerStatus {
    pub running: bool,
    /// Every live datanode within the threshold and no move in flight.
    pub balanced: bool,
    /// Percentage points around the mean use.
    pub threshold: f64,
    pub iteration: u64,
    pub bytes_moved: u64,
    pub bytes_left: u64,
    pub bytes_being_moved: u64,
    pub moves_done: u64,
    pub moves_in_flight: u64,
    pub moves_failed: u64,
    pub mean_used_pct: f64,
    pub max_deviation_pct: f64,
    /// Why the run ended; empty while it runs (and before any run).
    pub outcome: String,
}

/// How one block stands in an fsck report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockHealth {
    Ok,
    /// Fewer live (in-service) replicas than the file's replication.
    UnderReplicated,
    /// Every remaining replica is known corrupt.
    Corrupt,
    /// No replica on a live datanode.
    Missing,
    /// Still being written.
    UnderConstruction,
}

/// One block of an fsck report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckBlock {
    pub block: Block,
    pub health: BlockHealth,
    /// Good replicas on live in-service datanodes.
    pub live: u32,
    pub expected: u32,
    /// Good replicas on live datanodes (decommissioning ones included).
    pub locations: Vec<DatanodeInfo>,
    pub corrupt_locations: Vec<DatanodeInfo>,
    pub over_replicated: bool,
    /// All replicas on one rack of a multi-rack cluster.
    pub mis_replicated: bool,
}

/// One file of an fsck report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckFile {
    pub path: String,
    pub length: u64,
    pub replication: u32,
    pub under_construction: bool,
    pub blocks: Vec<FsckBlock>,
}

/// `fsck PATH`: the files (all, or only unhealthy ones) and the summary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsckReport {
    pub files: Vec<FsckFile>,
    pub total_files: u64,
    pub total_dirs: u64,
    pub total_size: u64,
    pub total_blocks: u64,
    pub total_replicas: u64,
    pub minimally_replicated: u64,
    pub under_replicated: u64,
    pub over_replicated: u64,
    pub mis_replicated: u64,
    pub corrupt_blocks: u64,
    pub missing_blocks: u64,
    pub missing_size: u64,
    pub default_replication: u32,
    pub datanodes: u64,
    pub racks: u64,
}

impl FsckReport {
    /// No corrupt or missing block (HDFS's HEALTHY).
    pub fn is_healthy(&self) -> bool {
        self.corrupt_blocks == 0 && self.missing_blocks == 0
    }
}
