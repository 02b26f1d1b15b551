//! The line between task containers and their application master
//! (Hadoop's TaskUmbilicalProtocol), over gRPC (`tusk.mr.TaskUmbilical`).
//!
//! AM side: [`TaskTable`] holds, per started container, the attempt it
//! runs, its spec, the driver's [`Umbilical`] and where its final report
//! goes; [`serve`] answers the containers (and `mapred`'s `JobClient`
//! status calls) from it, over TLS with the AM's own certificate when TLS
//! is on ([`incoming`], [`super::cert`]).
//!
//! Container side: [`RemoteUmbilical`] is the engine's [`Umbilical`] over
//! that service. The engine calls `progress` and `should_stop` from
//! blocking threads, so they only touch local state; a background loop
//! pings the AM every second with the latest progress and learns whether
//! to stop. An AM that stays unreachable for [`AM_LOST_AFTER`] counts as
//! "stop": a task never outlives its job for long.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::Stream;
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::cert::AmCert;
use super::convert;
use super::pb;
use super::pb::job_client_server::{JobClient, JobClientServer};
use super::pb::task_umbilical_client::TaskUmbilicalClient;
use super::pb::task_umbilical_server::{TaskUmbilical, TaskUmbilicalServer};
use crate::engine::task::{AttemptId, FetchFailure, MapOutputs, TaskReport, Umbilical};

/// How long a long-poll for map outputs waits at the AM.
const MAP_OUTPUTS_WAIT: Duration = Duration::from_secs(20);

/// How often a container pings its AM.
const PING_INTERVAL: Duration = Duration::from_secs(1);

/// A container that cannot reach its AM for this long stops its attempt.
pub const AM_LOST_AFTER: Duration = Duration::from_secs(30);

/// One started container, as the AM knows it.
pub(crate) struct TaskEntry {
    pub attempt: AttemptId,
    pub spec_json: String,
    /// The driver's side of the umbilical.
    pub umb: Arc<dyn Umbilical>,
    /// Where the final report goes (taken by the first Done).
    pub report: Option<oneshot::Sender<TaskReport>>,
    /// When the container last pinged (or was started).
    pub last_seen: Instant,
}

/// The started containers of this AM, by container id.
#[derive(Default)]
pub struct TaskTable {
    entries: Mutex<HashMap<String, TaskEntry>>,
}

impl TaskTable {
    pub(crate) fn insert(&self, container_id: &str, e: TaskEntry) {
        self.entries.lock().insert(container_id.to_string(), e);
    }

    pub(crate) fn remove(&self, container_id: &str) {
        self.entries.lock().remove(container_id);
    }

    /// How long since the container last pinged; None when unknown.
    pub(crate) fn silent_for(&self, container_id: &str) -> Option<Duration> {
        self.entries
            .lock()
            .get(container_id)
            .map(|e| e.last_seen.elapsed())
    }

    fn lookup(&self, container_id: &str) -> Result<(AttemptId, Arc<dyn Umbilical>), Status> {
        self.entries
            .lock()
            .get(container_id)
            .map(|e| (e.attempt.clone(), e.umb.clone()))
            .ok_or_else(|| {
                Status::not_found(format!(
                    "application master: container {container_id} runs no attempt of this job"
                ))
            })
    }
}

/// The job's state as `mapred` sees it while the AM runs.
pub type JobStatusCell = Arc<Mutex<pb::GetJobStatusResponse>>;

struct Service {
    tasks: Arc<TaskTable>,
    status: JobStatusCell,
}

#[tonic::async_trait]
impl TaskUmbilical for Service {
    async fn get_task(
        &self,
        req: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskResponse>, Status> {
        let id = req.into_inner().container_id;
        let mut entries = self.tasks.entries.lock();
        let e = entries.get_mut(&id).ok_or_else(|| {
            Status::not_found(format!(
                "application master: container {id} runs no attempt of this job"
            ))
        })?;
        e.last_seen = Instant::now();
        Ok(Response::new(pb::GetTaskResponse {
            spec_json: e.spec_json.clone(),
        }))
    }

    async fn ping(
        &self,
        req: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingResponse>, Status> {
        let r = req.into_inner();
        let umb = {
            let mut entries = self.tasks.entries.lock();
            match entries.get_mut(&r.container_id) {
                Some(e) => {
                    e.last_seen = Instant::now();
                    e.umb.clone()
                }
                // Not (or no longer) ours: whatever runs there must stop.
                None => return Ok(Response::new(pb::PingResponse { should_stop: true })),
            }
        };
        if !r.attempt_id.is_empty() {
            umb.progress(&r.attempt_id, r.progress);
        }
        Ok(Response::new(pb::PingResponse {
            should_stop: umb.should_stop(),
        }))
    }

    async fn get_map_outputs(
        &self,
        req: Request<pb::GetMapOutputsRequest>,
    ) -> Result<Response<pb::GetMapOutputsResponse>, Status> {
        let r = req.into_inner();
        let (_, umb) = self.tasks.lookup(&r.container_id)?;
        let wait = Duration::from_millis(r.wait_ms as u64).min(MAP_OUTPUTS_WAIT);
        let snap = match tokio::time::timeout(wait, umb.map_outputs(r.seen)).await {
            Ok(m) => m,
            // Nothing new: the current snapshot (version >= 1 > 0 answers at once).
            Err(_) => umb.map_outputs(0).await,
        };
        Ok(Response::new(convert::map_outputs_to_pb(&snap)))
    }

    async fn fetch_failed(
        &self,
        req: Request<pb::FetchFailedRequest>,
    ) -> Result<Response<pb::FetchFailedResponse>, Status> {
        let r = req.into_inner();
        let (_, umb) = self.tasks.lookup(&r.container_id)?;
        umb.fetch_failed(convert::fetch_failure_from_pb(r));
        Ok(Response::new(pb::FetchFailedResponse {}))
    }

    async fn done(
        &self,
        req: Request<pb::DoneRequest>,
    ) -> Result<Response<pb::DoneResponse>, Status> {
        let r = req.into_inner();
        let (attempt, tx) = {
            let mut entries = self.tasks.entries.lock();
            let e = entries.get_mut(&r.container_id).ok_or_else(|| {
                Status::not_found(format!(
                    "application master: container {} runs no attempt of this job",
                    r.container_id
                ))
            })?;
            (e.attempt.clone(), e.report.take())
        };
        if r.attempt_id != attempt.to_string() {
            return Err(Status::invalid_argument(format!(
                "container {} runs {attempt}, not {}",
                r.container_id, r.attempt_id
            )));
        }
        if let Some(tx) = tx {
            let _ = tx.send(convert::done_from_pb(attempt, r));
        }
        Ok(Response::new(pb::DoneResponse {}))
    }
}

#[tonic::async_trait]
impl JobClient for Service {
    async fn get_job_status(
        &self,
        _req: Request<pb::GetJobStatusRequest>,
    ) -> Result<Response<pb::GetJobStatusResponse>, Status> {
        Ok(Response::new(self.status.lock().clone()))
    }
}

/// The connections [`serve`] answers.
pub type Incoming = Pin<
    Box<
        dyn Stream<Item = std::io::Result<tusk_common::net::ServerIo<tusk_common::net::KillableIo>>>
            + Send,
    >,
>;

/// The connections of `listener`: TLS with the AM's own certificate when
/// it has one (TLS on), else plain (as [`tusk_common::net::incoming`]).
pub fn incoming(listener: TcpListener, cert: Option<&AmCert>) -> Result<Incoming, String> {
    Ok(match cert {
        Some(c) => Box::pin(tusk_common::net::incoming_with_cert(
            listener,
            c.cert_pem.as_bytes(),
            c.key_pem(),
        )?),
        None => Box::pin(tusk_common::net::incoming(listener)),
    })
}

/// Serves TaskUmbilical and JobClient on `incoming` until `shutdown`.
pub async fn serve(
    incoming: Incoming,
    tasks: Arc<TaskTable>,
    status: JobStatusCell,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let umb = Service {
        tasks: tasks.clone(),
        status: status.clone(),
    };
    let jc = Service { tasks, status };
    // Only the job's tasks (given its application token) may fetch task
    // specs and report; the AM knows its own token from its environment.
    let want = crate::yarn::security::app_token_from_env();
    let check = move |req: Request<()>| -> Result<Request<()>, Status> {
        match &want {
            None => Ok(req),
            Some(t)
                if crate::yarn::security::app_token_of(&req).is_some_and(|got| {
                    tusk_common::security::ct_eq(got.as_bytes(), t.as_bytes())
                }) =>
            {
                Ok(req)
            }
            Some(_) => Err(Status::unauthenticated(
                "application master: not a task of this job (no or a wrong application token)",
            )),
        }
    };
    tonic::transport::Server::builder()
        .add_service(TaskUmbilicalServer::with_interceptor(umb, check))
        .add_service(JobClientServer::new(jc))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Adds the application token to every umbilical call.
#[derive(Clone)]
pub struct AppTokenInterceptor(Option<String>);

impl tonic::service::Interceptor for AppTokenInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = &self.0 {
            crate::yarn::security::attach_app_token(&mut req, t);
        }
        Ok(req)
    }
}

/// The container side of the umbilical (see the module docs).
pub struct RemoteUmbilical {
    rpc: TaskUmbilicalClient<InterceptedService<Channel, AppTokenInterceptor>>,
    container_id: String,
    /// Latest (attempt, progress) the engine reported.
    progress: Arc<Mutex<(String, f32)>>,
    stop: Arc<AtomicBool>,
    failures: mpsc::UnboundedSender<FetchFailure>,
}

impl RemoteUmbilical {
    /// A client of the AM at `addr`, over TLS trusting only `am_cert_pem`
    /// (the AM's own certificate) unless that is empty; `container_id`
    /// names this container.
    pub fn connect(addr: &str, am_cert_pem: &str, container_id: &str) -> Result<Self, String> {
        // Every call carries the job's application token, which the AM checks.
        let rpc = TaskUmbilicalClient::with_interceptor(
            super::am_channel(addr, am_cert_pem)?,
            AppTokenInterceptor(crate::yarn::security::app_token_from_env()),
        );
        let (tx, mut rx) = mpsc::unbounded_channel::<FetchFailure>();
        let this = Self {
            rpc: rpc.clone(),
            container_id: container_id.to_string(),
            progress: Arc::new(Mutex::new((String::new(), 0.0))),
            stop: Arc::new(AtomicBool::new(false)),
            failures: tx,
        };
        // Fetch failures, in order, with a few retries each.
        let mut c = rpc.clone();
        let cid = container_id.to_string();
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                let req = convert::fetch_failure_to_pb(&cid, f);
                for i in 0..5u32 {
                    match c.fetch_failed(req.clone()).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!("reporting a fetch failure to the AM: {e}");
                            tokio::time::sleep(Duration::from_millis(200 << i)).await;
                        }
                    }
                }
            }
        });
        // Pings: progress out, stop in.
        let (mut c, cid) = (rpc, container_id.to_string());
        let (progress, stop) = (this.progress.clone(), this.stop.clone());
        tokio::spawn(async move {
            let mut last_ok = Instant::now();
            loop {
                tokio::time::sleep(PING_INTERVAL).await;
                let (attempt_id, p) = progress.lock().clone();
                let req = pb::PingRequest {
                    container_id: cid.clone(),
                    attempt_id,
                    progress: p,
                };
                match tokio::time::timeout(Duration::from_secs(10), c.ping(req)).await {
                    Ok(Ok(r)) => {
                        last_ok = Instant::now();
                        if r.into_inner().should_stop {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Ok(Err(e)) => tracing::warn!("ping to the application master failed: {e}"),
                    Err(_) => tracing::warn!("ping to the application master timed out"),
                }
                if last_ok.elapsed() > AM_LOST_AFTER {
                    tracing::warn!(
                        "application master unreachable for {:?}: stopping",
                        AM_LOST_AFTER
                    );
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
        Ok(this)
    }

    /// The spec of the attempt this container runs, as JSON.
    pub async fn get_task(&self) -> Result<String, String> {
        let mut last = String::new();
        for i in 0..5u32 {
            match self
                .rpc
                .clone()
                .get_task(pb::GetTaskRequest {
                    container_id: self.container_id.clone(),
                })
                .await
            {
                Ok(r) => return Ok(r.into_inner().spec_json),
                Err(s) if s.code() == tonic::Code::NotFound => return Err(s.message().into()),
                Err(s) => last = s.message().to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200 << i)).await;
        }
        Err(format!(
            "cannot get the task from the application master: {last}"
        ))
    }

    /// Sends the final report (with retries).
    pub async fn done(&self, report: &TaskReport) -> Result<(), String> {
        let req = convert::done_to_pb(&self.container_id, report);
        let mut last = String::new();
        for i in 0..5u32 {
            match self.rpc.clone().done(req.clone()).await {
                Ok(_) => return Ok(()),
                Err(s) if s.code() == tonic::Code::NotFound => return Err(s.message().into()),
                Err(s) => last = s.message().to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200 << i)).await;
        }
        Err(format!("cannot report to the application master: {last}"))
    }
}

impl Umbilical for RemoteUmbilical {
    fn map_outputs(&self, seen: u64) -> BoxFuture<'_, MapOutputs> {
        Box::pin(async move {
            let mut failing_since: Option<Instant> = None;
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return MapOutputs {
                        stop: true,
                        ..MapOutputs::default()
                    };
                }
                let req = pb::GetMapOutputsRequest {
                    container_id: self.container_id.clone(),
                    seen,
                    wait_ms: MAP_OUTPUTS_WAIT.as_millis() as u32,
                };
                match self.rpc.clone().get_map_outputs(req).await {
                    Ok(r) => {
                        failing_since = None;
                        let m = convert::map_outputs_from_pb(r.into_inner());
                        if m.version > seen || m.stop {
                            return m;
                        }
                    }
                    Err(s) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if s.code() == tonic::Code::NotFound || since.elapsed() > AM_LOST_AFTER {
                            tracing::warn!("map outputs unavailable from the AM: {}", s.message());
                            self.stop.store(true, Ordering::Relaxed);
                        } else {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        })
    }

    fn fetch_failed(&self, failure: FetchFailure) {
        let _ = self.failures.send(failure);
    }

    fn progress(&self, attempt_id: &str, fraction: f32) {
        let mut p = self.progress.lock();
        if p.0 != attempt_id {
            p.0 = attempt_id.to_string();
        }
        p.1 = fraction.clamp(0.0, 1.0);
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
