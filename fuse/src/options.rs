//! What a mount is configured with (from `dfs-fuse`'s command line).

use std::path::PathBuf;
use std::time::Duration;

/// A mount's settings. `Default` is a local cluster as the login user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    /// Where the namespace appears.
    pub mountpoint: PathBuf,
    /// Namenode RPC address, `host:port`.
    pub namenode: String,
    /// The Tusk user every operation runs as (whoever the local caller is).
    pub user: String,
    /// Let other local users (and root) use the mount (`allow_other`).
    pub allow_other: bool,
    /// Have fusermount3 unmount when this process dies, however it dies.
    pub auto_unmount: bool,
    /// How long the kernel and the mount cache attributes and entries;
    /// zero disables both caches.
    pub attr_ttl: Duration,
    /// How long a call retries an unreachable namenode before it fails with
    /// EIO.
    pub retry_timeout: Duration,
    /// The longest any one operation may take before it fails with EIO, so
    /// the mount never hangs a caller.
    pub op_timeout: Duration,
    /// Refuse every change with EROFS.
    pub read_only: bool,
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            mountpoint: PathBuf::new(),
            namenode: tusk_client::config::DEFAULT_NAMENODE.into(),
            user: tusk_common::sys::login_user(),
            allow_other: false,
            auto_unmount: false,
            attr_ttl: Duration::from_secs(1),
            retry_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(120),
            read_only: false,
        }
    }
}
