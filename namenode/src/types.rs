//! Domain types of the namenode core (no proto, tonic or sled types); the
//! wire forms live in `tusk_proto` and [`crate::convert`] maps between them.

/// A block: id + generation stamp + length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Block {
    pub id: u64,
    pub genstamp: u64,
    pub num_bytes: u64,
}

/// What kind of inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeKind {
    File,
    Dir,
}

/// One inode, as stored (see `InodeRecord` in tusk.proto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub id: u64,
    pub parent: u64,
    pub name: String,
    pub kind: InodeKind,
    pub owner: String,
    pub group: String,
    /// Low 12 bits: sticky + rwxrwxrwx.
    pub permission: u32,
    pub mtime_ms: u64,
    pub atime_ms: u64,
    pub replication: u32,
    pub block_size: u64,
    pub blocks: Vec<Block>,
    /// Lease holder while under construction; empty when closed.
    pub client_name: String,
    pub sha256: Vec<u8>,
    /// Sum of the committed blocks' lengths.
    pub length: u64,
    pub children_num: u64,
}

impl Inode {
    /// An inode with no owner, permissions, times, blocks or children yet;
    /// callers fill in what they know with struct-update syntax.
    pub fn blank(id: u64, parent: u64, name: impl Into<String>, kind: InodeKind) -> Inode {
        Inode {
            id,
            parent,
            name: name.into(),
            kind,
            owner: String::new(),
            group: String::new(),
            permission: 0,
            mtime_ms: 0,
            atime_ms: 0,
            replication: 0,
            block_size: 0,
            blocks: Vec::new(),
            client_name: String::new(),
            sha256: Vec::new(),
            length: 0,
            children_num: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == InodeKind::Dir
    }
    pub fn is_file(&self) -> bool {
        self.kind == InodeKind::File
    }
    pub fn under_construction(&self) -> bool {
        !self.client_name.is_empty()
    }
}

/// A file or directory as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Final component; "" for the path asked for itself.
    pub name: String,
    pub kind: InodeKind,
    pub length: u64,
    pub owner: String,
    pub group: String,
    pub permission: u32,
    pub mtime_ms: u64,
    pub atime_ms: u64,
    pub replication: u32,
    pub block_size: u64,
    pub file_id: u64,
    pub children_num: u64,
    pub under_construction: bool,
}

impl FileStatus {
    pub fn of(inode: &Inode, name: &str) -> Self {
        let dir = inode.is_dir();
        FileStatus {
            name: name.to_string(),
            kind: inode.kind,
            length: if dir { 0 } else { inode.length },
            owner: inode.owner.clone(),
            group: inode.group.clone(),
            permission: inode.permission,
            mtime_ms: inode.mtime_ms,
            atime_ms: inode.atime_ms,
            replication: if dir { 0 } else { inode.replication },
            block_size: if dir { 0 } else { inode.block_size },
            file_id: inode.id,
            children_num: if dir { inode.children_num } else { 0 },
            under_construction: inode.under_construction(),
        }
    }
}

/// Identity and addresses of a datanode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatanodeId {
    pub uuid: String,
    pub host: String,
    pub data_addr: String,
    pub http_addr: String,
    pub rack: String,
}

/// A block with where to read or write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedBlock {
    pub block: Block,
    pub offset: u64,
    pub locations: Vec<DatanodeId>,
    pub corrupt: bool,
}

/// Block locations of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocations {
    pub file_length: u64,
    pub blocks: Vec<LocatedBlock>,
    pub under_construction: bool,
    pub file_id: u64,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub entries: Vec<FileStatus>,
    pub remaining: u64,
    pub is_file: bool,
}

/// `du`/`count` figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContentSummary {
    pub length: u64,
    pub file_count: u64,
    pub directory_count: u64,
    pub space_consumed: u64,
}

impl ContentSummary {
    /// Counts one inode.
    pub fn add(&mut self, i: &Inode) {
        if i.is_dir() {
            self.directory_count += 1;
        } else {
            self.file_count += 1;
            self.length = self.length.saturating_add(i.length);
            self.space_consumed = self
                .space_consumed
                .saturating_add(i.length.saturating_mul(i.replication as u64));
        }
    }
}

/// Usage of one storage directory of a datanode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageStats {
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
}

/// What the namenode tells a datanode to do (in heartbeat/report answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Register again and send a full block report.
    Reregister,
    /// Delete these replicas.
    Delete(Vec<Block>),
    /// Copy each block to its target list (used by the replication monitor).
    Replicate(Vec<(Block, Vec<DatanodeId>)>),
    /// Send a full block report now.
    BlockReport,
}

/// Cluster-wide figures (GetFsStats).
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
    pub total_dirs: u64,
    pub safe_mode: bool,
    /// Blocks with a copy scheduled and not yet reported.
    pub pending_replications: u64,
}

/// One line of the datanode report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatanodeReport {
    pub id: DatanodeId,
    pub live: bool,
    pub capacity: u64,
    pub used: u64,
    pub remaining: u64,
    pub num_blocks: u64,
    pub last_heartbeat_ms_ago: u64,
    pub xceivers: u32,
    pub admin_state: AdminState,
    /// While decommissioning: its blocks still short of replicas elsewhere.
    pub blocks_to_replicate: u64,
}

/// A datanode's administrative state (HDFS's decommissioning states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminState {
    /// Takes new replicas; its replicas count as live.
    #[default]
    InService,
    /// Being drained: serves reads and is a replication source, but takes no
    /// new replicas and its replicas do not count as live.
    Decommissioning,
    /// Drained: every block it holds has enough replicas elsewhere.
    Decommissioned,
}

impl AdminState {
    /// The words HDFS's `dfsadmin -report` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::InService => "In Service",
            AdminState::Decommissioning => "Decommission in progress",
            AdminState::Decommissioned => "Decommissioned",
        }
    }
}

/// Safe-mode admin actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeModeAction {
    Get,
    Enter,
    Leave,
}

/// `dfs admin balancer`: ask, start (or re-threshold) or stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerAction {
    Status,
    Start,
    Stop,
}

/// How one block stands (fsck).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockHealth {
    Ok,
    UnderReplicated,
    /// Every remaining replica is known corrupt.
    Corrupt,
    /// No replica on a live datanode.
    Missing,
    UnderConstruction,
}

/// One block in an fsck report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckBlock {
    pub block: Block,
    pub health: BlockHealth,
    /// Good replicas on live in-service datanodes.
    pub live: u32,
    pub expected: u32,
    /// Good replicas on live datanodes (decommissioning ones included).
    pub locations: Vec<DatanodeId>,
    pub corrupt_locations: Vec<DatanodeId>,
    pub over_replicated: bool,
    pub mis_replicated: bool,
}

/// One file in an fsck report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckFile {
    pub path: String,
    pub length: u64,
    pub replication: u32,
    pub under_construction: bool,
    pub blocks: Vec<FsckBlock>,
}

/// `fsck PATH`: the files asked for and HDFS's summary.
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
