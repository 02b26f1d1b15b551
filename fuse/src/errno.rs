//! The one place where a [`DfsError`] becomes an errno.

use fuser::Errno;
use tusk_client::DfsError;

/// The errno a FUSE caller sees for a client error: Tusk's permission
/// errors are `EACCES`, a missing path `ENOENT`, an existing one `EEXIST`,
/// a full cluster (no datanode can take a block) `ENOSPC`, an unreachable
/// namenode (after the client's bounded retry) and unreadable data `EIO`.
pub fn errno(e: &DfsError) -> Errno {
    Errno::from_i32(code(e))
}

fn code(e: &DfsError) -> i32 {
    match e {
        DfsError::FileNotFound { .. } => libc::ENOENT,
        DfsError::AlreadyExists { .. } => libc::EEXIST,
        DfsError::PermissionDenied { .. } => libc::EACCES,
        DfsError::IsDirectory { .. } => libc::EISDIR,
        DfsError::NotDirectory { .. } => libc::ENOTDIR,
        DfsError::NotEmpty { .. } => libc::ENOTEMPTY,
        // Safe mode refuses every mutation until the namenode leaves it.
        DfsError::SafeMode { .. } => libc::EROFS,
        // Another client holds the file's lease (it is being written).
        DfsError::Lease { .. } => libc::EBUSY,
        DfsError::QuotaExceeded { .. } => libc::EDQUOT,
        DfsError::InvalidPath { msg, .. } if msg.contains("too long") => libc::ENAMETOOLONG,
        DfsError::InvalidPath { .. } | DfsError::InvalidArgument(_) => libc::EINVAL,
        DfsError::Pipeline { cause, .. } if is_no_space(cause) => libc::ENOSPC,
        DfsError::Rpc { code, msg, .. } => rpc_errno(*code, msg),
        DfsError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        DfsError::ChecksumError { .. }
        | DfsError::BlockUnreadable { .. }
        | DfsError::Pipeline { .. }
        | DfsError::Unreachable { .. }
        | DfsError::Protocol(_) => libc::EIO,
    }
}

/// The namenode's words when no datanode can take a block (HDFS's).
fn is_no_space(msg: &str) -> bool {
    msg.contains("could only be written to 0") || msg.contains("No space left")
}

/// A status without a class the client knows.
fn rpc_errno(code: tonic::Code, msg: &str) -> i32 {
    use tonic::Code as C;
    match code {
        C::ResourceExhausted => libc::ENOSPC,
        _ if is_no_space(msg) => libc::ENOSPC,
        C::NotFound => libc::ENOENT,
        C::AlreadyExists => libc::EEXIST,
        C::PermissionDenied | C::Unauthenticated => libc::EACCES,
        C::InvalidArgument | C::OutOfRange => libc::EINVAL,
        C::Unimplemented => libc::ENOSYS,
        _ => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_documented_errors() {
        let p = || "/x".to_string();
        assert_eq!(code(&DfsError::FileNotFound { path: p() }), libc::ENOENT);
        assert_eq!(code(&DfsError::AlreadyExists { path: p() }), libc::EEXIST);
        assert_eq!(
            code(&DfsError::PermissionDenied { msg: "u".into() }),
            libc::EACCES
        );
        assert_eq!(code(&DfsError::NotEmpty { path: p() }), libc::ENOTEMPTY);
        assert_eq!(
            code(&DfsError::Unreachable {
                addr: "nn".into(),
                cause: "refused".into()
            }),
            libc::EIO
        );
        assert_eq!(
            code(&DfsError::Rpc {
                code: tonic::Code::ResourceExhausted,
                class: Some("IOException".into()),
                msg: "File /x could only be written to 0 of the 1 minReplication nodes".into()
            }),
            libc::ENOSPC
        );
        assert_eq!(
            code(&DfsError::Pipeline {
                path: p(),
                block_id: 1,
                datanode: "d".into(),
                cause: "could only be written to 0 of the 1 minReplication nodes".into()
            }),
            libc::ENOSPC
        );
    }
}
