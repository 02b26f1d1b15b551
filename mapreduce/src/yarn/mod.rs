//! YARN-like resource management: a resource manager that hands out
//! containers, node managers that run them. Knows nothing of MapReduce.
//!
//! # Layout
//! - [`scheduler`]: the pure scheduler (delay scheduling, fair sharing) with
//!   its unit tests.
//! - [`rm`]: the resource manager — application lifecycle and AM attempts
//!   (`rm/state.rs`, plain Rust), node liveness, gRPC adapters (`rm/rpc.rs`),
//!   the application store (sled, `rm/store.rs`), HTTP (`rm/http.rs`).
//! - [`nm`]: the node manager — containers as child processes with memory
//!   enforcement and logs (`nm/container.rs`), localization of DFS files
//!   (`nm/localize.rs`), the link to the resource manager (`nm/link.rs`), the
//!   ContainerManager service (`nm/rpc.rs`), the Shuffle service
//!   (`nm/shuffle.rs`), HTTP (`nm/http.rs`).
//! - [`client`]: what applications and tools use: [`client::RmClient`],
//!   [`client::AmRmClient`], [`client::NmClient`].
//! - [`ids`]: application, attempt and container ids (Hadoop's formats).
//! - [`security`]: container tokens (what lets a caller start a container
//!   on a node manager, and as whom it runs).
//! - [`error`]: [`YarnError`] and its one mapping to `tonic::Status`.
//! - `src/bin/resourcemanager.rs`, `src/bin/nodemanager.rs`: the binaries.

pub mod client;
pub mod error;
pub mod ids;
mod net;
pub mod nm;
pub mod rm;
pub mod scheduler;
pub mod security;
mod workers;

pub use error::YarnError;
pub use tusk_proto::yarn as pb;

use std::time::Duration;
use tonic::transport::Channel;

/// Environment variables every container gets (besides its spec's).
pub mod env {
    /// The container's id.
    pub const CONTAINER_ID: &str = "TUSK_CONTAINER_ID";
    /// The application's id.
    pub const APP_ID: &str = "TUSK_APP_ID";
    /// Only in application master containers: the attempt id to register with.
    pub const APP_ATTEMPT_ID: &str = "TUSK_APP_ATTEMPT_ID";
    /// A per-application directory on the node's local disk, shared by the
    /// application's containers on that node, deleted when the application ends.
    pub const APP_LOCAL_DIR: &str = "TUSK_APP_LOCAL_DIR";
    /// The namenode's RPC address.
    pub const NAMENODE: &str = "TUSK_NAMENODE";
    /// The resource manager's RPC address.
    pub const RM: &str = "TUSK_RM";
    /// The submitting user.
    pub const USER: &str = "TUSK_USER";
    /// The node's host identity (same as its datanode's).
    pub const NM_HOST: &str = "TUSK_NM_HOST";
    /// The node manager's ContainerManager address.
    pub const NM_ADDR: &str = "TUSK_NM_ADDR";
    /// The node manager's Shuffle address.
    pub const SHUFFLE_ADDR: &str = "TUSK_SHUFFLE_ADDR";
    /// The container's memory limit in MiB.
    pub const CONTAINER_MEMORY_MB: &str = "TUSK_CONTAINER_MEMORY_MB";
    /// The submitter's user token (`[security] authentication = "token"`):
    /// the application master and tasks talk to the namenode and resource
    /// manager with it. Only the container's own user can read a process's
    /// environment.
    pub const TOKEN: &str = "TUSK_TOKEN";
    /// The application's token (see [`crate::yarn::security::app_token`]):
    /// given by the resource manager to the application master, by it to
    /// its tasks.
    pub const APP_TOKEN: &str = "TUSK_APP_TOKEN";
}

/// Exit codes of containers that did not exit on their own (Hadoop's
/// `ContainerExitStatus`).
pub mod exit {
    /// Lost with its node, or released before it ran.
    pub const ABORTED: i32 = -100;
    /// Over its physical memory limit.
    pub const KILLED_EXCEEDED_PMEM: i32 = -104;
    /// Stopped on the application master's request.
    pub const KILLED_BY_APPMASTER: i32 = -105;
    /// Killed by the resource manager (application ended, node resync).
    pub const KILLED_BY_RESOURCEMANAGER: i32 = -106;
    /// Could not be started (localization or exec failure).
    pub const INVALID: i32 = -1000;
}

/// HTTP/2 keepalive on every compute-layer connection, so a peer cut off
/// the network fails calls instead of hanging them (as the storage client).
const KEEPALIVE: Duration = Duration::from_secs(5);

/// A lazily connecting channel to `addr` (`host:port` or a URI).
pub(crate) fn channel(addr: &str) -> Result<Channel, YarnError> {
    let ep = tusk_common::net::endpoint(addr).map_err(YarnError::InvalidArgument)?;
    Ok(ep
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .connect_lazy())
}

pub(crate) use tusk_common::net::{advertised, host_identity};

/// Sleeps `d` unless `stop` fires first (returns true then).
pub(crate) async fn sleep_or_stop(
    d: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        r = stop.wait_for(|s| *s) => { let _ = r; true }
    }
}

/// Converts a resource between its wire and scheduler forms.
pub(crate) fn res_of(r: Option<&pb::Resource>) -> scheduler::Res {
    r.map(|r| scheduler::Res::new(r.memory_mb, r.vcores))
        .unwrap_or_default()
}

pub(crate) fn pb_res(r: scheduler::Res) -> pb::Resource {
    pb::Resource {
        memory_mb: r.memory_mb,
        vcores: r.vcores,
    }
}
