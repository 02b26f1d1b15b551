//! The MapReduce application master and its YARN glue: what turns the
//! transport-free [`crate::engine`] into jobs running in containers of the
//! [`crate::yarn`] cluster.
//!
//! # Layout
//! - [`launcher`]: [`YarnLauncher`], the engine's
//!   [`crate::engine::driver::TaskLauncher`] over the resource manager
//!   (container requests with locality) and node managers (container
//!   start, completion, lost nodes).
//! - [`umbilical`]: the `tusk.mr.TaskUmbilical` service the AM serves to
//!   its task containers and [`umbilical::RemoteUmbilical`], the engine's
//!   [`crate::engine::task::Umbilical`] a container uses to reach it.
//! - [`appmaster`]: the AM process: load the staged job, register, run
//!   the driver, write the job history, finish with the resource manager.
//! - [`container`]: the entry points of a job binary in a container
//!   ([`job_main`] dispatches on `$TUSK_MR_ROLE`).
//! - [`submit`]: the client side (`mapred`): staging, submission,
//!   progress, counters, list/status/kill/logs.
//! - [`history`]: the job history files under `/tmp/tusk-history`.
//! - [`convert`]: `tusk.mr` proto ⇄ engine types.
//! - [`cert`]: the AM's own self-signed TLS certificate (TLS on), which
//!   its tasks, `mapred` and the resource manager's UI pin.

pub mod appmaster;
pub mod cert;
pub mod container;
pub mod convert;
pub mod history;
pub mod launcher;
pub mod submit;
pub mod umbilical;

pub use container::job_main;
pub use launcher::YarnLauncher;

pub use tusk_proto::mr as pb;

/// Environment variables of MapReduce containers (besides YARN's own).
pub mod env {
    /// `am` or `task`: what a job binary started in a container is to be.
    pub const ROLE: &str = "TUSK_MR_ROLE";
    /// The job's staging directory in DFS (the AM reads `job.json` there).
    pub const STAGING: &str = "TUSK_MR_STAGING";
    /// `host:port` of the application master's TaskUmbilical service.
    pub const UMBILICAL: &str = "TUSK_MR_UMBILICAL";
    /// The application master's certificate (PEM) when TLS is on: the
    /// only root a task trusts when it connects to the umbilical.
    pub const AM_CERT: &str = "TUSK_AM_CERT";
}

/// Where jobs are staged in DFS: `<root>/<user>/<id>/`.
pub const STAGING_ROOT: &str = "/tmp/tusk-staging";

/// The staged job description's file name inside the staging directory.
pub const JOB_FILE: &str = "job.json";

/// A lazily connecting gRPC channel to `addr` (`host:port`), with the
/// keepalive the rest of the compute layer uses, so a vanished peer fails
/// calls instead of hanging them.
pub(crate) fn channel(addr: &str) -> Result<tonic::transport::Channel, String> {
    Ok(tune(tusk_common::net::endpoint(addr)?))
}

/// [`channel`] to an application master at `addr`: over TLS trusting only
/// `cert_pem`, the certificate it made ([`cert`]) and handed out (to its
/// tasks, and to the resource manager for the application report); with
/// no certificate (TLS off), as [`channel`].
pub(crate) fn am_channel(addr: &str, cert_pem: &str) -> Result<tonic::transport::Channel, String> {
    if cert_pem.is_empty() {
        return channel(addr);
    }
    Ok(tune(tusk_common::net::endpoint_trusting(
        addr,
        cert_pem.as_bytes(),
    )?))
}

fn tune(ep: tonic::transport::Endpoint) -> tonic::transport::Channel {
    use std::time::Duration;
    ep.connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .connect_lazy()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
