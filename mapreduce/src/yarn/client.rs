//! Clients of the resource manager and node managers, for application
//! masters, `mapred`, and the daemons themselves.
//!
//! - [`RmClient`]: submit, report, list, kill applications; cluster nodes
//!   and metrics (ApplicationClient).
//! - [`AmRmClient`]: an application master's register / allocate / finish
//!   (ApplicationMaster), and [`AmHeartbeater`], which keeps allocating in
//!   the background and hands out granted and completed containers as
//!   [`AmEvent`]s.
//! - [`NmClient`]: start, stop, status, logs of containers (ContainerManager).
//! - [`fetch_partition`]: one map output partition from a node manager's
//!   Shuffle service, whole (tests and tools; reducers stream).
//!
//! Every connection is lazy: building a client never fails because a daemon
//! is not up yet; calls fail with [`YarnError::Unavailable`] naming it.

use crate::yarn::pb;
use crate::yarn::pb::application_client_client::ApplicationClientClient;
use crate::yarn::pb::application_master_client::ApplicationMasterClient;
use crate::yarn::pb::container_manager_client::ContainerManagerClient;
use crate::yarn::pb::resource_tracker_client::ResourceTrackerClient;
use crate::yarn::{channel, env, YarnError};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tusk_common::security::ClusterSecret;

type Result<T> = std::result::Result<T, YarnError>;

/// The resource manager's default RPC address.
pub const DEFAULT_RM: &str = "127.0.0.1:8032";

/// The resource manager to use: `explicit` (`--rm`), else `TUSK_RM`, else
/// 127.0.0.1:8032.
pub fn rm_address(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var(env::RM).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_RM.to_string())
}

/// Whether an application in this state will not change any more.
pub fn is_final(state: pb::AppState) -> bool {
    matches!(
        state,
        pb::AppState::Finished | pb::AppState::Failed | pb::AppState::Killed
    )
}

pub(crate) fn tracker_client(addr: &str) -> Result<ResourceTrackerClient<Channel>> {
    Ok(ResourceTrackerClient::new(channel(addr)?))
}

/// A client of the resource manager's ApplicationClient service.
#[derive(Clone)]
pub struct RmClient {
    addr: String,
    user: String,
    /// Sent as `authorization: Bearer` on every call (token authentication).
    token: Option<String>,
    rpc: ApplicationClientClient<Channel>,
}

impl RmClient {
    /// A client of the resource manager at `addr`, acting as `user`, with
    /// the user token of this process if it has one
    /// ([`tusk_common::security::token_from_env`]: `TUSK_TOKEN`,
    /// `TUSK_TOKEN_FILE`, `~/.config/tusk/token`); an unreadable token file
    /// is an error naming it.
    pub fn new(addr: &str, user: &str) -> Result<RmClient> {
        let token = tusk_common::security::token_from_env().map_err(YarnError::InvalidArgument)?;
        Ok(RmClient {
            addr: addr.to_string(),
            user: user.to_string(),
            token,
            rpc: ApplicationClientClient::new(channel(addr)?),
        })
    }

    /// Replaces the user token sent with every call (`None`: none).
    pub fn with_token(mut self, token: Option<String>) -> RmClient {
        self.token = token;
        self
    }

    fn err(&self, s: tonic::Status) -> YarnError {
        YarnError::from_status(&format!("resource manager {}", self.addr), s)
    }

    /// `m` as a request carrying the user token, if any.
    fn req<T>(&self, m: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        if let Some(t) = &self.token {
            tusk_common::security::attach_user_token(&mut r, t);
        }
        r
    }

    /// Container logs of an application (of one container when given)
    /// from every node manager that ran one of its containers, fetched by
    /// the resource manager; only the last `tail_bytes` of each file when
    /// non-zero.
    pub async fn logs(
        &self,
        app_id: &str,
        container_id: Option<&str>,
        tail_bytes: u64,
    ) -> Result<Vec<pb::NodeLogs>> {
        let r = self
            .rpc
            .clone()
            .max_decoding_message_size(512 << 20)
            .get_application_logs(self.req(pb::GetApplicationLogsRequest {
                app_id: app_id.to_string(),
                container_id: container_id.unwrap_or("").to_string(),
                tail_bytes,
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().nodes)
    }

    /// Submits an application; returns its id. An empty `user` in the
    /// submission is filled with this client's user.
    pub async fn submit(&self, mut sub: pb::ApplicationSubmission) -> Result<String> {
        if sub.user.is_empty() {
            sub.user = self.user.clone();
        }
        let r = self
            .rpc
            .clone()
            .submit_application(self.req(pb::SubmitApplicationRequest {
                submission: Some(sub),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().app_id)
    }

    pub async fn report(&self, app_id: &str) -> Result<pb::ApplicationReport> {
        let r = self
            .rpc
            .clone()
            .get_application_report(self.req(pb::GetApplicationReportRequest {
                app_id: app_id.to_string(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        r.into_inner().report.ok_or_else(|| {
            YarnError::Internal(format!("resource manager: empty report of {app_id}"))
        })
    }

    /// Applications in `states` (empty = all) of `user` (None = everyone's),
    /// oldest first.
    pub async fn list(
        &self,
        states: &[pb::AppState],
        user: Option<&str>,
    ) -> Result<Vec<pb::ApplicationReport>> {
        let r = self
            .rpc
            .clone()
            .list_applications(self.req(pb::ListApplicationsRequest {
                states: states.iter().map(|s| *s as i32).collect(),
                user: user.unwrap_or("").to_string(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().apps)
    }

    /// Kills an application (a no-op for one that already ended).
    pub async fn kill(&self, app_id: &str) -> Result<()> {
        self.rpc
            .clone()
            .kill_application(self.req(pb::KillApplicationRequest {
                app_id: app_id.to_string(),
                user: self.user.clone(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    pub async fn nodes(&self, include_lost: bool) -> Result<Vec<pb::NodeReport>> {
        let r = self
            .rpc
            .clone()
            .get_cluster_nodes(self.req(pb::GetClusterNodesRequest { include_lost }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().nodes)
    }

    pub async fn metrics(&self) -> Result<pb::GetClusterMetricsResponse> {
        let r = self
            .rpc
            .clone()
            .get_cluster_metrics(self.req(pb::GetClusterMetricsRequest {}))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner())
    }

    /// Polls the report every `poll` until the application ends; returns the
    /// final report.
    pub async fn wait_for_completion(
        &self,
        app_id: &str,
        poll: Duration,
    ) -> Result<pb::ApplicationReport> {
        loop {
            let r = self.report(app_id).await?;
            if is_final(r.state()) {
                return Ok(r);
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// An application master's client of the resource manager.
#[derive(Clone)]
pub struct AmRmClient {
    addr: String,
    attempt_id: String,
    /// The application token every call carries (`TUSK_APP_TOKEN`).
    app_token: Option<String>,
    rpc: ApplicationMasterClient<Channel>,
}

impl AmRmClient {
    /// With the application token of this process's environment, if any
    /// (see [`AmRmClient::with_app_token`]).
    pub fn new(rm_addr: &str, attempt_id: &str) -> Result<AmRmClient> {
        Ok(AmRmClient {
            addr: rm_addr.to_string(),
            attempt_id: attempt_id.to_string(),
            app_token: crate::yarn::security::app_token_from_env(),
            rpc: ApplicationMasterClient::new(channel(rm_addr)?),
        })
    }

    /// Sends `token` as the application token.
    pub fn with_app_token(mut self, token: Option<String>) -> AmRmClient {
        self.app_token = token;
        self
    }

    fn req<T>(&self, m: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        if let Some(t) = &self.app_token {
            crate::yarn::security::attach_app_token(&mut r, t);
        }
        r
    }

    /// From the AM container's environment (`TUSK_RM`, `TUSK_APP_ATTEMPT_ID`).
    pub fn from_env() -> Result<AmRmClient> {
        let attempt = std::env::var(env::APP_ATTEMPT_ID).map_err(|_| {
            YarnError::InvalidArgument(format!(
                "{} is not set: not running as an application master",
                env::APP_ATTEMPT_ID
            ))
        })?;
        AmRmClient::new(&rm_address(None), &attempt)
    }

    pub fn attempt_id(&self) -> &str {
        &self.attempt_id
    }

    fn err(&self, s: tonic::Status) -> YarnError {
        YarnError::from_status(&format!("resource manager {}", self.addr), s)
    }

    /// Registers the AM serving at `rpc_addr` on `host`, with no
    /// certificate of its own (TLS off).
    pub async fn register(
        &self,
        host: &str,
        rpc_addr: &str,
        tracking_url: &str,
    ) -> Result<pb::RegisterApplicationMasterResponse> {
        self.register_with_cert(host, rpc_addr, tracking_url, "")
            .await
    }

    /// [`AmRmClient::register`] for an AM serving TLS with a certificate of
    /// its own (`cert_pem`, PEM; empty = none), which the resource manager
    /// hands to the AM's clients in the application report.
    pub async fn register_with_cert(
        &self,
        host: &str,
        rpc_addr: &str,
        tracking_url: &str,
        cert_pem: &str,
    ) -> Result<pb::RegisterApplicationMasterResponse> {
        let r = self
            .rpc
            .clone()
            .register_application_master(self.req(pb::RegisterApplicationMasterRequest {
                attempt_id: self.attempt_id.clone(),
                host: host.to_string(),
                rpc_addr: rpc_addr.to_string(),
                tracking_url: tracking_url.to_string(),
                cert_pem: cert_pem.to_string(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner())
    }

    /// One allocate call: new asks, withdrawn request ids, released
    /// containers, progress in [0, 1].
    pub async fn allocate(
        &self,
        asks: Vec<pb::ResourceRequest>,
        cancel_requests: Vec<u64>,
        releases: Vec<String>,
        progress: f32,
    ) -> Result<pb::AllocateResponse> {
        let r = self
            .rpc
            .clone()
            .allocate(self.req(pb::AllocateRequest {
                attempt_id: self.attempt_id.clone(),
                asks,
                cancel_requests,
                releases,
                progress,
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner())
    }

    /// Unregisters: the application ends with `status`.
    pub async fn finish(
        &self,
        status: pb::FinalStatus,
        diagnostics: &str,
        tracking_url: &str,
    ) -> Result<()> {
        self.rpc
            .clone()
            .finish_application_master(self.req(pb::FinishApplicationMasterRequest {
                attempt_id: self.attempt_id.clone(),
                final_status: status as i32,
                diagnostics: diagnostics.to_string(),
                tracking_url: tracking_url.to_string(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// Starts allocating in the background every `interval` (and at once
    /// after `ask`, `cancel` or `release`).
    pub fn heartbeater(&self, interval: Duration) -> AmHeartbeater {
        let queue = Arc::new(Mutex::new(Queued::default()));
        let wake = Arc::new(Notify::new());
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(heartbeat_loop(
            self.clone(),
            queue.clone(),
            wake.clone(),
            tx,
            stop_rx,
            interval,
        ));
        AmHeartbeater {
            queue,
            wake,
            events: rx,
            stop,
            task,
        }
    }
}

/// What the background allocate loop reports.
// A container (with its token) is bigger than the other events; there are
// a handful per container, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AmEvent {
    Allocated(pb::Container),
    Completed(pb::ContainerStatus),
    /// The application was killed or this attempt is no longer current:
    /// the AM should stop.
    Shutdown,
    /// Allocate has kept failing for `AM_RM_GIVE_UP`; the loop stopped.
    Failed(YarnError),
}

/// How long the background allocate loop retries an unreachable resource
/// manager before giving up.
pub const AM_RM_GIVE_UP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Queued {
    asks: Vec<pb::ResourceRequest>,
    cancels: Vec<u64>,
    releases: Vec<String>,
    progress: f32,
}

/// See [`AmRmClient::heartbeater`].
pub struct AmHeartbeater {
    queue: Arc<Mutex<Queued>>,
    wake: Arc<Notify>,
    events: mpsc::UnboundedReceiver<AmEvent>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AmHeartbeater {
    /// Queues a request (sent at once).
    pub fn ask(&self, req: pb::ResourceRequest) {
        self.queue.lock().asks.push(req);
        self.wake.notify_one();
    }

    /// Withdraws what is not yet granted of a request.
    pub fn cancel(&self, request_id: u64) {
        self.queue.lock().cancels.push(request_id);
        self.wake.notify_one();
    }

    /// Gives a container back (killed if running).
    pub fn release(&self, container_id: &str) {
        self.queue.lock().releases.push(container_id.to_string());
        self.wake.notify_one();
    }

    /// Progress in [0, 1], sent with the next allocate.
    pub fn set_progress(&self, p: f32) {
        self.queue.lock().progress = p.clamp(0.0, 1.0);
    }

    /// The next event; None once the loop has stopped and all were read.
    pub async fn next_event(&mut self) -> Option<AmEvent> {
        self.events.recv().await
    }

    /// Stops the loop (call before [`AmRmClient::finish`]).
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

async fn heartbeat_loop(
    am: AmRmClient,
    queue: Arc<Mutex<Queued>>,
    wake: Arc<Notify>,
    tx: mpsc::UnboundedSender<AmEvent>,
    mut stop: watch::Receiver<bool>,
    interval: Duration,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        let (asks, cancels, releases, progress) = {
            let mut q = queue.lock();
            (
                std::mem::take(&mut q.asks),
                std::mem::take(&mut q.cancels),
                std::mem::take(&mut q.releases),
                q.progress,
            )
        };
        match am
            .allocate(asks.clone(), cancels.clone(), releases.clone(), progress)
            .await
        {
            Ok(r) => {
                failing_since = None;
                for c in r.allocated {
                    let _ = tx.send(AmEvent::Allocated(c));
                }
                for c in r.completed {
                    let _ = tx.send(AmEvent::Completed(c));
                }
                if r.shutdown {
                    let _ = tx.send(AmEvent::Shutdown);
                    return;
                }
            }
            Err(YarnError::NotFound(_) | YarnError::FailedPrecondition(_)) => {
                let _ = tx.send(AmEvent::Shutdown);
                return;
            }
            Err(e) => {
                // Not delivered: put the work back for the next try.
                {
                    let mut q = queue.lock();
                    q.asks.splice(0..0, asks);
                    q.cancels.splice(0..0, cancels);
                    q.releases.splice(0..0, releases);
                }
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() > AM_RM_GIVE_UP {
                    let _ = tx.send(AmEvent::Failed(e));
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A client of one node manager's ContainerManager. Calls about a
/// container carry its container token; a client made
/// [`NmClient::with_secret`] (daemons holding the cluster secret) also signs
/// every call with node authentication.
#[derive(Clone)]
pub struct NmClient {
    addr: String,
    rpc: ContainerManagerClient<Channel>,
    secret: Option<Arc<ClusterSecret>>,
}

impl NmClient {
    /// `addr` is the node manager's RPC address (`Container::nm_rpc_addr`).
    pub fn new(addr: &str) -> Result<NmClient> {
        Ok(NmClient {
            addr: addr.to_string(),
            rpc: ContainerManagerClient::new(channel(addr)?).max_decoding_message_size(256 << 20),
            secret: None,
        })
    }

    /// Signs every call with node authentication.
    pub fn with_secret(mut self, secret: Arc<ClusterSecret>) -> NmClient {
        self.secret = Some(secret);
        self
    }

    fn err(&self, s: tonic::Status) -> YarnError {
        YarnError::from_status(&format!("node manager {}", self.addr), s)
    }

    fn req<T>(&self, m: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        if let Some(s) = &self.secret {
            s.sign_request(&mut r);
        }
        r
    }

    /// Starts a container granted by the resource manager, with the token
    /// it came with.
    pub async fn start_container(&self, c: &pb::Container, spec: pb::LaunchSpec) -> Result<()> {
        let token = c.token.as_ref().ok_or_else(|| {
            YarnError::InvalidArgument(format!("container {} came without a container token", c.id))
        })?;
        self.start(token, spec, c.resource.unwrap_or_default())
            .await
    }

    /// Starts the container `token` names (its id, application and user).
    pub async fn start(
        &self,
        token: &pb::ContainerToken,
        spec: pb::LaunchSpec,
        resource: pb::Resource,
    ) -> Result<()> {
        self.rpc
            .clone()
            .start_container(self.req(pb::StartContainerRequest {
                container_id: token.container_id.clone(),
                app_id: token.app_id.clone(),
                user: token.user.clone(),
                spec: Some(spec),
                resource: Some(resource),
                token: Some(token.clone()),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// Stops a container (SIGTERM, then SIGKILL); it completes with -105.
    /// Needs its token, or node authentication.
    pub async fn stop(&self, container_id: &str, token: Option<&pb::ContainerToken>) -> Result<()> {
        self.rpc
            .clone()
            .stop_container(self.req(pb::StopContainerRequest {
                container_id: container_id.to_string(),
                token: token.cloned(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// A container's state. Needs its token, or node authentication.
    pub async fn status(
        &self,
        container_id: &str,
        token: Option<&pb::ContainerToken>,
    ) -> Result<pb::ContainerStatus> {
        let r = self
            .rpc
            .clone()
            .get_container_status(self.req(pb::GetContainerStatusRequest {
                container_id: container_id.to_string(),
                token: token.cloned(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        r.into_inner().status.ok_or_else(|| {
            YarnError::Internal(format!(
                "node manager {}: empty status of {container_id}",
                self.addr
            ))
        })
    }

    /// stdout and stderr of one container (`Some`) or of every container of
    /// the application on this node; only the last `tail_bytes` of each when
    /// non-zero. Needs a token of a container of the application, or node
    /// authentication.
    pub async fn logs(
        &self,
        app_id: &str,
        container_id: Option<&str>,
        tail_bytes: u64,
        token: Option<&pb::ContainerToken>,
    ) -> Result<Vec<pb::ContainerLog>> {
        let r = self
            .rpc
            .clone()
            .get_container_logs(self.req(pb::GetContainerLogsRequest {
                app_id: app_id.to_string(),
                container_id: container_id.unwrap_or("").to_string(),
                tail_bytes,
                token: token.cloned(),
            }))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().logs)
    }
}

/// Fetches one partition of a map attempt's output from the Shuffle service
/// at `shuffle_addr` (`Container::shuffle_addr`), whole.
pub async fn fetch_partition(
    shuffle_addr: &str,
    app_id: &str,
    map_attempt_id: &str,
    partition: u32,
    app_token: Option<&str>,
) -> Result<Vec<u8>> {
    let peer = format!("shuffle {shuffle_addr}");
    let mut c = crate::yarn::pb::shuffle_client::ShuffleClient::new(channel(shuffle_addr)?)
        .max_decoding_message_size(64 << 20);
    let mut stream = c
        .fetch_map_output({
            let mut r = tonic::Request::new(pb::FetchMapOutputRequest {
                app_id: app_id.to_string(),
                map_attempt_id: map_attempt_id.to_string(),
                partition,
            });
            if let Some(t) = app_token {
                crate::yarn::security::attach_app_token(&mut r, t);
            }
            r
        })
        .await
        .map_err(|s| YarnError::from_status(&peer, s))?
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| YarnError::from_status(&peer, s))?
    {
        out.extend_from_slice(&chunk.data);
    }
    Ok(out)
}
