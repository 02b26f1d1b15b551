//! The crate's one error type, and its mapping to `tonic::Status` (the only
//! place where a datanode error becomes a gRPC status code).

use crate::store::BlockRef;
use std::io;

/// Everything that can go wrong inside a datanode. Messages name the block
/// (`blk_<id>_<gs>`) and the cause; a missing replica's message contains
/// "does not exist" (clients and WebHDFS match on it).
#[derive(Debug, thiserror::Error)]
pub enum DatanodeError {
    /// No replica (finalized or being written) with this block id.
    #[error("replica {block} does not exist")]
    ReplicaNotFound { block: BlockRef },

    /// A replica with this id exists but with another generation stamp.
    #[error("replica {block} does not exist (this datanode has genstamp {have})")]
    GenstampMismatch { block: BlockRef, have: u64 },

    /// A finalized replica (or a live writer) already holds this block id.
    #[error("replica {block} already exists: {why}")]
    AlreadyExists { block: BlockRef, why: String },

    /// No volume has room for the replica.
    #[error("datanode {node}: no space left on {dirs} for {block} ({needed} bytes needed)")]
    NoSpace {
        node: String,
        dirs: String,
        block: BlockRef,
        needed: u64,
    },

    /// A packet's data does not match its CRC32C.
    #[error("checksum error in {block} at offset {offset}: expected crc32c {expected:08x}, got {actual:08x}")]
    Checksum {
        block: BlockRef,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    /// A disk operation on a replica failed (ENOSPC, EIO, ...).
    #[error("{block}: {op}: {source}")]
    Io {
        block: BlockRef,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// A peer broke the DataTransfer protocol (bad offset, missing header...).
    #[error("{block}: {msg}")]
    Protocol { block: BlockRef, msg: String },

    /// A read outside the replica.
    #[error("{block}: {msg}")]
    OutOfRange { block: BlockRef, msg: String },

    /// The next datanode of a pipeline (or a replication target) failed.
    #[error("{block}: datanode {node}: {msg}")]
    Downstream {
        block: BlockRef,
        node: String,
        msg: String,
    },

    /// A writer was superseded by a newer one (pipeline recovery) or the
    /// datanode is shutting down.
    #[error("{block}: write cancelled: {why}")]
    Cancelled { block: BlockRef, why: String },

    /// A replica cannot be recovered to the length asked for (pipeline or
    /// lease recovery): too short, or a chunk below that length is corrupt.
    #[error("{block}: cannot recover: {msg}")]
    Unrecoverable { block: BlockRef, msg: String },

    /// The data directories cannot be used (unreadable, disagreeing uuids, ...).
    #[error("{0}")]
    Storage(String),
}

impl DatanodeError {
    /// Wraps an I/O error on `block` during `op`.
    pub fn io(block: BlockRef, op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| DatanodeError::Io { block, op, source }
    }

    /// The gRPC status code this error maps to.
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            DatanodeError::ReplicaNotFound { .. } | DatanodeError::GenstampMismatch { .. } => {
                Code::NotFound
            }
            DatanodeError::AlreadyExists { .. } => Code::AlreadyExists,
            DatanodeError::NoSpace { .. } => Code::ResourceExhausted,
            DatanodeError::Checksum { .. } => Code::DataLoss,
            DatanodeError::Io { source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => Code::ResourceExhausted,
                _ => Code::Internal,
            },
            DatanodeError::Protocol { .. } => Code::InvalidArgument,
            DatanodeError::OutOfRange { .. } => Code::OutOfRange,
            DatanodeError::Downstream { .. } => Code::Unavailable,
            DatanodeError::Cancelled { .. } => Code::Aborted,
            DatanodeError::Unrecoverable { .. } => Code::FailedPrecondition,
            DatanodeError::Storage(_) => Code::Internal,
        }
    }

    /// The Hadoop exception class a WebHDFS client expects for this error.
    pub fn hadoop_class(&self) -> &'static str {
        match self {
            DatanodeError::ReplicaNotFound { .. } | DatanodeError::GenstampMismatch { .. } => {
                "ReplicaNotFoundException"
            }
            DatanodeError::Checksum { .. } => "ChecksumException",
            DatanodeError::AlreadyExists { .. } => "ReplicaAlreadyExistsException",
            DatanodeError::NoSpace { .. } => "DiskOutOfSpaceException",
            _ => "IOException",
        }
    }
}

impl From<DatanodeError> for tonic::Status {
    fn from(e: DatanodeError) -> Self {
        let mut status = tonic::Status::new(e.code(), e.to_string());
        if let Ok(v) = e.hadoop_class().parse() {
            status
                .metadata_mut()
                .insert(tusk_proto::ERROR_CLASS_HEADER, v);
        }
        status
    }
}

/// Result alias for the crate.
pub type Result<T, E = DatanodeError> = std::result::Result<T, E>;
