//! The namenode's one error type. Each variant carries the full message (it
//! names the path or block and the cause, worded like HDFS) and maps to one
//! gRPC code and one Hadoop exception class in [`crate::convert`].

use crate::store::StoreError;

/// Every failure the namenode reports to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NnError {
    /// Malformed path (relative, `..`, long component, NUL): INVALID_ARGUMENT,
    /// `InvalidPathException`.
    #[error("Invalid path: {0}")]
    InvalidPath(String),
    /// Other bad arguments (replication out of range, renaming `/`, moving a
    /// directory into itself): INVALID_ARGUMENT, `IOException`.
    #[error("{0}")]
    InvalidArgument(String),
    /// A missing path; the message contains "does not exist": NOT_FOUND,
    /// `FileNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// The path is a directory where a file is needed (open, append,
    /// checksum): FAILED_PRECONDITION, `FileNotFoundException` (as HDFS).
    #[error("Path is not a file: {0}")]
    NotAFile(String),
    /// ALREADY_EXISTS, `FileAlreadyExistsException`.
    #[error("{0}")]
    AlreadyExists(String),
    /// A path component is a file: FAILED_PRECONDITION, `ParentNotDirectoryException`.
    #[error("{0}")]
    ParentNotDirectory(String),
    /// Non-recursive delete of a non-empty directory: FAILED_PRECONDITION,
    /// `PathIsNotEmptyDirectoryException`.
    #[error("`{0}' is non empty': Directory is not empty")]
    NotEmpty(String),
    /// PERMISSION_DENIED, `AccessControlException`.
    #[error("{0}")]
    PermissionDenied(String),
    /// Mutation during safe mode: FAILED_PRECONDITION, `SafeModeException`
    /// (not UNAVAILABLE: the caller must not blindly retry for minutes).
    #[error("{0}")]
    SafeMode(String),
    /// The file is open for writing by another client: FAILED_PRECONDITION,
    /// `AlreadyBeingCreatedException`.
    #[error("{0}")]
    AlreadyBeingCreated(String),
    /// The caller does not hold the file's lease: FAILED_PRECONDITION,
    /// `LeaseExpiredException`.
    #[error("{0}")]
    LeaseExpired(String),
    /// A block argument that does not match the namespace (wrong `previous`,
    /// unknown block): FAILED_PRECONDITION, `IOException`.
    #[error("{0}")]
    BadBlock(String),
    /// No datanode can take a block ("could only be written to 0 of the 1
    /// minReplication nodes"): RESOURCE_EXHAUSTED, `IOException` — the
    /// cluster is out of usable space/nodes, which retrying right away won't fix.
    #[error("{0}")]
    NoDatanodes(String),
    /// max_directory_items exceeded: FAILED_PRECONDITION,
    /// `MaxDirectoryItemsExceededException`.
    #[error("{0}")]
    TooManyItems(String),
    /// A name quota would be exceeded: RESOURCE_EXHAUSTED, `NSQuotaExceededException`.
    #[error("{0}")]
    NsQuotaExceeded(String),
    /// A space quota would be exceeded: RESOURCE_EXHAUSTED, `DSQuotaExceededException`.
    #[error("{0}")]
    DsQuotaExceeded(String),
    /// The storage layer failed: INTERNAL, `IOException`.
    #[error("{0}")]
    Storage(String),
    /// The namenode is shutting down: UNAVAILABLE, `IOException` (retry elsewhere/later).
    #[error("namenode is shutting down")]
    ShuttingDown,
}

impl From<StoreError> for NnError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => NnError::ShuttingDown,
            e => NnError::Storage(e.to_string()),
        }
    }
}

impl From<tusk_common::path::PathError> for NnError {
    fn from(e: tusk_common::path::PathError) -> Self {
        NnError::InvalidPath(e.to_string())
    }
}

/// Shorthand for the crate's results.
pub type NnResult<T> = Result<T, NnError>;
