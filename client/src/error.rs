//! The one error type of the client, and the one place where a gRPC status
//! becomes a [`DfsError`].

use tusk_proto::ERROR_CLASS_HEADER;

/// Result with a [`DfsError`].
pub type Result<T, E = DfsError> = std::result::Result<T, E>;

/// Everything that can go wrong in a file-system call. Display texts name the
/// path (or block) and the cause; [`DfsError::cause`] gives the cause alone,
/// as the shell prints it after `dfs: <path>: `.
#[derive(Debug, thiserror::Error)]
pub enum DfsError {
    /// The path does not exist.
    #[error("{path}: No such file or directory")]
    FileNotFound { path: String },
    /// The path exists and the operation needs it not to.
    #[error("{path}: File exists")]
    AlreadyExists { path: String },
    /// The namenode refused the caller (the message names user, access, inode).
    #[error("Permission denied: {msg}")]
    PermissionDenied { msg: String },
    /// A file was expected.
    #[error("{path}: Is a directory")]
    IsDirectory { path: String },
    /// A directory was expected (or a parent is a file).
    #[error("{path}: Not a directory")]
    NotDirectory { path: String },
    /// A non-recursive delete of a non-empty directory.
    #[error("{path}: Directory is not empty")]
    NotEmpty { path: String },
    /// The namenode is in safe mode and refuses mutations.
    #[error("Name node is in safe mode: {msg}")]
    SafeMode { msg: String },
    /// Another client holds the file's lease, or ours expired.
    #[error("{path}: {msg}")]
    Lease { path: String, msg: String },
    /// A namespace or space quota would be exceeded.
    #[error("{path}: quota exceeded: {msg}")]
    QuotaExceeded { path: String, msg: String },
    /// The path is malformed (relative, `..`, NUL, too long...).
    #[error("{path}: invalid path: {msg}")]
    InvalidPath { path: String, msg: String },
    /// Every replica of a block failed checksum verification.
    #[error("checksum error reading block blk_{block_id} of {path}: {causes}")]
    ChecksumError {
        path: String,
        block_id: u64,
        /// One `datanode: cause` entry per replica tried, `; `-separated.
        causes: String,
    },
    /// Every replica of a block failed (missing, dead datanode, bad data).
    #[error("could not read block blk_{block_id} of {path} from any replica: {causes}")]
    BlockUnreadable {
        path: String,
        block_id: u64,
        /// One `datanode: cause` entry per replica tried, `; `-separated.
        causes: String,
    },
    /// A write pipeline failed after data was acknowledged, or setup failed
    /// on every attempt.
    #[error("write of {path} failed at block blk_{block_id} on datanode {datanode}: {cause}")]
    Pipeline {
        path: String,
        block_id: u64,
        datanode: String,
        cause: String,
    },
    /// The namenode (or a datanode) could not be reached within the retry time.
    #[error("cannot reach {addr}: {cause}")]
    Unreachable { addr: String, cause: String },
    /// Any other error status from a server.
    #[error("{msg}")]
    Rpc {
        code: tonic::Code,
        /// The `x-tusk-error` class name, when the server sent one.
        class: Option<String>,
        msg: String,
    },
    /// The server answered something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A local I/O error (the context names the local file).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An invalid argument given by the caller (bad size, bad mode...).
    #[error("{0}")]
    InvalidArgument(String),
}

impl DfsError {
    /// Maps a status from a call about `path` (the path is used where the
    /// error names one). The class in `x-tusk-error` wins over the code.
    pub fn from_status(status: tonic::Status, path: &str) -> DfsError {
        let class = status
            .metadata()
            .get(ERROR_CLASS_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.rsplit('.').next().unwrap_or(s).to_string());
        let msg = status.message().to_string();
        let path = path.to_string();
        // The cause is printed after our own "Permission denied: ".
        let denied = || DfsError::PermissionDenied {
            msg: msg
                .strip_prefix("Permission denied: ")
                .unwrap_or(&msg)
                .to_string(),
        };
        use tonic::Code;
        match (class.as_deref(), status.code()) {
            (Some("FileNotFoundException"), _) => DfsError::FileNotFound { path },
            (Some("FileAlreadyExistsException"), _) => DfsError::AlreadyExists { path },
            (Some("AccessControlException"), _) => denied(),
            (Some("ParentNotDirectoryException"), _) => DfsError::NotDirectory { path },
            (Some("PathIsNotEmptyDirectoryException"), _) => DfsError::NotEmpty { path },
            (Some("PathIsDirectoryException") | Some("IsDirectoryException"), _) => {
                DfsError::IsDirectory { path }
            }
            (Some("PathIsNotDirectoryException"), _) => DfsError::NotDirectory { path },
            (Some("SafeModeException"), _) => DfsError::SafeMode { msg },
            (Some("AlreadyBeingCreatedException") | Some("LeaseExpiredException"), _) => {
                DfsError::Lease { path, msg }
            }
            (Some("NSQuotaExceededException") | Some("DSQuotaExceededException"), _)
            | (Some("QuotaExceededException"), _) => DfsError::QuotaExceeded { path, msg },
            (Some("InvalidPathException"), _) => DfsError::InvalidPath { path, msg },
            (None, Code::NotFound) => DfsError::FileNotFound { path },
            (None, Code::AlreadyExists) => DfsError::AlreadyExists { path },
            (None, Code::PermissionDenied) | (None, Code::Unauthenticated) => denied(),
            (None, Code::Unavailable) => DfsError::Unreachable {
                addr: String::new(),
                cause: msg,
            },
            (_, code) => {
                // A class we do not know, or none: keep the server's words,
                // which name the path; a missing path still reads as one.
                if msg.contains("does not exist") {
                    DfsError::FileNotFound { path }
                } else {
                    DfsError::Rpc { code, class, msg }
                }
            }
        }
    }

    /// The cause alone, as `dfs` prints it after `dfs: <path>: `.
    pub fn cause(&self) -> String {
        match self {
            DfsError::FileNotFound { .. } => "No such file or directory".into(),
            DfsError::AlreadyExists { .. } => "File exists".into(),
            DfsError::PermissionDenied { msg } => format!("Permission denied: {msg}"),
            DfsError::IsDirectory { .. } => "Is a directory".into(),
            DfsError::NotDirectory { .. } => "Not a directory".into(),
            DfsError::NotEmpty { .. } => "Directory is not empty".into(),
            DfsError::InvalidPath { msg, .. } => format!("Invalid path: {msg}"),
            DfsError::Lease { msg, .. } => msg.clone(),
            DfsError::QuotaExceeded { msg, .. } => msg.clone(),
            DfsError::Io { source, .. } => io_cause(source),
            other => other.to_string(),
        }
    }

    /// True when a status means the server was never reached (connection
    /// refused, DNS, transport broken before an answer): worth retrying.
    pub(crate) fn is_unreachable_status(status: &tonic::Status) -> bool {
        status.code() == tonic::Code::Unavailable
            && status.metadata().get(ERROR_CLASS_HEADER).is_none()
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> DfsError {
        DfsError::Io {
            context: context.into(),
            source,
        }
    }
}

/// An I/O error as a shell prints it (`No such file or directory`, ...).
pub fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => "No such file or directory".into(),
        K::AlreadyExists => "File exists".into(),
        K::PermissionDenied => "Permission denied".into(),
        K::IsADirectory => "Is a directory".into(),
        K::NotADirectory => "Not a directory".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

impl From<tusk_common::path::PathError> for DfsError {
    fn from(e: tusk_common::path::PathError) -> Self {
        use tusk_common::path::PathError as P;
        let path = match &e {
            P::NotAbsolute(p) | P::Empty(p) | P::Nul(p) | P::TooDeep(p) => p.clone(),
            P::BadComponent { path, .. }
            | P::TooLong { path, .. }
            | P::PathTooLong { path, .. } => path.clone(),
        };
        let full = e.to_string();
        let msg = full
            .strip_prefix(&format!("{path}: "))
            .unwrap_or(&full)
            .to_string();
        DfsError::InvalidPath { path, msg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn status(code: tonic::Code, msg: &str, class: Option<&str>) -> tonic::Status {
        let mut s = tonic::Status::new(code, msg);
        if let Some(c) = class {
            s.metadata_mut()
                .insert(ERROR_CLASS_HEADER, MetadataValue::try_from(c).unwrap());
        }
        s
    }

    #[test]
    fn maps_classes_first() {
        let e = DfsError::from_status(
            status(
                tonic::Code::NotFound,
                "/a/b does not exist",
                Some("FileNotFoundException"),
            ),
            "/a/b",
        );
        assert!(matches!(&e, DfsError::FileNotFound { path } if path == "/a/b"));
        assert_eq!(e.cause(), "No such file or directory");
        assert_eq!(e.to_string(), "/a/b: No such file or directory");

        let e = DfsError::from_status(
            status(
                tonic::Code::FailedPrecondition,
                "x",
                Some("org.apache.hadoop.fs.FileAlreadyExistsException"),
            ),
            "/x",
        );
        assert!(matches!(e, DfsError::AlreadyExists { .. }));

        let e = DfsError::from_status(
            status(
                tonic::Code::PermissionDenied,
                "user=bob, access=WRITE, inode=\"/\"",
                Some("AccessControlException"),
            ),
            "/x",
        );
        assert_eq!(
            e.cause(),
            "Permission denied: user=bob, access=WRITE, inode=\"/\""
        );
        let e = DfsError::from_status(
            status(
                tonic::Code::FailedPrecondition,
                "m",
                Some("SafeModeException"),
            ),
            "/x",
        );
        assert!(matches!(e, DfsError::SafeMode { .. }));
        let e = DfsError::from_status(
            status(
                tonic::Code::FailedPrecondition,
                "m",
                Some("PathIsNotEmptyDirectoryException"),
            ),
            "/d",
        );
        assert_eq!(e.to_string(), "/d: Directory is not empty");
    }

    #[test]
    fn maps_codes_without_class() {
        let e = DfsError::from_status(status(tonic::Code::NotFound, "gone", None), "/p");
        assert!(matches!(e, DfsError::FileNotFound { .. }));
        let e = DfsError::from_status(
            status(tonic::Code::Internal, "/q does not exist", None),
            "/q",
        );
        assert!(matches!(e, DfsError::FileNotFound { .. }));
        let e = DfsError::from_status(status(tonic::Code::Internal, "boom", None), "/q");
        assert!(matches!(
            e,
            DfsError::Rpc {
                code: tonic::Code::Internal,
                ..
            }
        ));
        assert!(DfsError::is_unreachable_status(&status(
            tonic::Code::Unavailable,
            "tcp connect error",
            None
        )));
        assert!(!DfsError::is_unreachable_status(&status(
            tonic::Code::Unavailable,
            "safe",
            Some("SafeModeException")
        )));
    }

    #[test]
    fn path_errors_become_invalid_path() {
        let e: DfsError = tusk_common::path::validate("/a/../b").unwrap_err().into();
        assert!(matches!(&e, DfsError::InvalidPath { path, .. } if path == "/a/../b"));
    }
}
