//! The compute layer's error type, and its one mapping to and from
//! `tonic::Status`.

/// What went wrong, with a message naming the app, container or node.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum YarnError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The call does not fit the object's state (e.g. allocate after finish).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A daemon could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The caller did not prove who it is (no or a bad user token, container
    /// token or node authentication).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Internal(String),
}

impl YarnError {
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> YarnError {
        YarnError::Io(format!("{what}: {e}"))
    }
}

impl From<YarnError> for tonic::Status {
    fn from(e: YarnError) -> tonic::Status {
        use tonic::Status;
        match e {
            YarnError::NotFound(m) => Status::not_found(m),
            YarnError::InvalidArgument(m) => Status::invalid_argument(m),
            YarnError::AlreadyExists(m) => Status::already_exists(m),
            YarnError::FailedPrecondition(m) => Status::failed_precondition(m),
            YarnError::Unavailable(m) => Status::unavailable(m),
            YarnError::Unauthenticated(m) => Status::unauthenticated(m),
            YarnError::PermissionDenied(m) => Status::permission_denied(m),
            YarnError::Io(m) | YarnError::Internal(m) => Status::internal(m),
        }
    }
}

impl YarnError {
    /// A client-side error from a status returned by (or on the way to) `peer`.
    pub fn from_status(peer: &str, s: tonic::Status) -> YarnError {
        use tonic::Code;
        let m = s.message().to_string();
        match s.code() {
            Code::NotFound => YarnError::NotFound(m),
            Code::InvalidArgument => YarnError::InvalidArgument(m),
            Code::AlreadyExists => YarnError::AlreadyExists(m),
            Code::FailedPrecondition => YarnError::FailedPrecondition(m),
            Code::Unauthenticated => YarnError::Unauthenticated(format!("{peer}: {m}")),
            Code::PermissionDenied => YarnError::PermissionDenied(format!("{peer}: {m}")),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                YarnError::Unavailable(format!("{peer}: {m}"))
            }
            _ => YarnError::Internal(format!("{peer}: {m}")),
        }
    }
}
