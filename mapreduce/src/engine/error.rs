//! The one error type of the MapReduce engine. Display texts name the path,
//! task attempt or host involved and the cause.

/// Result with an [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file-system call failed (the client error names the path).
    #[error(transparent)]
    Dfs(#[from] tusk_client::DfsError),
    /// A local I/O error; the context names the local file.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An input path matched nothing.
    #[error("Input path does not exist: {0}")]
    InputNotFound(String),
    /// The output directory exists before the job runs.
    #[error("Output directory {0} already exists")]
    OutputExists(String),
    /// A bad configuration value or argument.
    #[error("{0}")]
    Config(String),
    /// Data on disk or on the wire is not what the format allows.
    #[error("corrupt {what}: {cause}")]
    Corrupt { what: String, cause: String },
    /// A reducer could not fetch a map's output from its host.
    #[error("fetch of map output {map_attempt} from {host} failed: {cause}")]
    Fetch {
        map_attempt: String,
        host: String,
        cause: String,
    },
    /// User code (mapper, reducer, ...) reported an error.
    #[error("{0}")]
    Task(String),
    /// The task was told to stop (job finished or failed).
    #[error("task killed: {0}")]
    Killed(String),
    /// A job failed; the text names the task, host and cause.
    #[error("{0}")]
    JobFailed(String),
}

impl EngineError {
    /// An I/O error about a local file.
    pub fn io(context: impl std::fmt::Display, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.to_string(),
            source,
        }
    }

    /// A user-code error with a message.
    pub fn task(msg: impl std::fmt::Display) -> Self {
        EngineError::Task(msg.to_string())
    }
}
