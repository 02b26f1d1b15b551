//! gRPC adapters of the resource manager: convert, lock the state, call it,
//! launch what it decided. No logic here.

use super::Rm;
use crate::yarn::pb;
use crate::yarn::pb::application_client_server::{ApplicationClient, ApplicationClientServer};
use crate::yarn::pb::application_master_server::{ApplicationMaster, ApplicationMasterServer};
use crate::yarn::pb::resource_tracker_server::{ResourceTracker, ResourceTrackerServer};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tusk_common::config::AuthMode;

#[derive(Clone)]
pub(crate) struct RmService {
    rm: Arc<Rm>,
}

pub(crate) async fn serve(
    rm: Arc<Rm>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    limits: tusk_common::config::LimitsConfig,
) {
    let m = rm.rpc.clone();
    let svc = RmService { rm };
    let max = limits.max_message();
    let router = tusk_common::net::grpc_server(&limits)
        .add_service(m.wrap(ResourceTrackerServer::new(svc.clone()).max_decoding_message_size(max)))
        .add_service(
            m.wrap(ApplicationClientServer::new(svc.clone()).max_decoding_message_size(max)),
        )
        .add_service(m.wrap(ApplicationMasterServer::new(svc).max_decoding_message_size(max)));
    crate::yarn::net::serve_grpc_with(
        router,
        listener,
        stop,
        Duration::from_secs(1),
        "resource manager RPC",
        &limits,
    )
    .await;
}

impl RmService {
    /// Node managers must hold the cluster secret.
    fn check_node<T>(&self, req: &Request<T>) -> Result<(), Status> {
        self.rm.secret.check_request(req).inspect_err(|s| {
            let peer = req
                .remote_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "?".into());
            tracing::warn!(peer = %peer, "refused a node manager call: {}", s.message());
        })
    }

    /// An ApplicationMaster call must carry the application token of the
    /// attempt's application (given to the AM container only).
    fn check_am<T>(&self, req: &Request<T>, attempt_id: &str) -> Result<(), Status> {
        let app = crate::yarn::ids::app_of_attempt(attempt_id).ok_or_else(|| {
            Status::invalid_argument(format!("invalid application attempt id {attempt_id:?}"))
        })?;
        crate::yarn::security::verify_app_token(
            &self.rm.secret,
            &app,
            crate::yarn::security::app_token_of(req),
        )
        .map_err(|e| {
            Status::unauthenticated(format!(
                "not the application master of {app}: application token: {e}"
            ))
        })
    }

    /// The authenticated user of an ApplicationClient call: with token
    /// authentication, the user of its valid bearer token (else
    /// UNAUTHENTICATED naming why); in simple mode `None` (callers are
    /// believed).
    fn caller<T>(&self, req: &Request<T>) -> Result<Option<String>, Status> {
        Ok(self.authenticate(req)?.map(|(user, _)| user))
    }

    /// [`RmService::caller`] with the token it was proved by.
    fn authenticate<T>(&self, req: &Request<T>) -> Result<Option<(String, String)>, Status> {
        if self.rm.auth != AuthMode::Token {
            return Ok(None);
        }
        let token = tusk_common::security::user_token_of(req).ok_or_else(|| {
            Status::unauthenticated(
                "authentication failed: no user token (set TUSK_TOKEN or TUSK_TOKEN_FILE; \
                 `dfs admin token create USER` mints one)",
            )
        })?;
        match self.rm.secret.verify_user_token(token) {
            Ok(t) => Ok(Some((t.user, token.to_string()))),
            Err(e) => Err(Status::unauthenticated(format!(
                "authentication failed: {e}"
            ))),
        }
    }
}

#[tonic::async_trait]
impl ResourceTracker for RmService {
    async fn register_node_manager(
        &self,
        req: Request<pb::RegisterNodeManagerRequest>,
    ) -> Result<Response<pb::RegisterNodeManagerResponse>, Status> {
        self.check_node(&req)?;
        let (resp, launches) = self
            .rm
            .state
            .lock()
            .register_node(req.into_inner(), Instant::now())?;
        self.rm.launch(launches);
        Ok(Response::new(resp))
    }

    async fn node_heartbeat(
        &self,
        req: Request<pb::NodeHeartbeatRequest>,
    ) -> Result<Response<pb::NodeHeartbeatResponse>, Status> {
        self.check_node(&req)?;
        let (resp, launches) = self
            .rm
            .state
            .lock()
            .heartbeat(req.into_inner(), Instant::now());
        self.rm.launch(launches);
        Ok(Response::new(resp))
    }
}

#[tonic::async_trait]
impl ApplicationClient for RmService {
    async fn submit_application(
        &self,
        req: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::SubmitApplicationResponse>, Status> {
        let auth = self.authenticate(&req)?;
        let mut sub = req
            .into_inner()
            .submission
            .ok_or_else(|| Status::invalid_argument("empty submission"))?;
        // With token authentication the token decides the user, and goes
        // to the job's containers.
        let token = auth.map(|(user, token)| {
            sub.user = user;
            token
        });
        let (app_id, launches, store) = {
            let mut st = self.rm.state.lock();
            let (id, l) = st.submit(sub, token)?;
            (id, l, st.store())
        };
        // Acknowledged once durable.
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(Status::internal)?;
        self.rm.launch(launches);
        Ok(Response::new(pb::SubmitApplicationResponse { app_id }))
    }

    async fn get_application_report(
        &self,
        req: Request<pb::GetApplicationReportRequest>,
    ) -> Result<Response<pb::GetApplicationReportResponse>, Status> {
        self.caller(&req)?;
        let report = self.rm.state.lock().report(&req.into_inner().app_id)?;
        Ok(Response::new(pb::GetApplicationReportResponse {
            report: Some(report),
        }))
    }

    async fn list_applications(
        &self,
        req: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        self.caller(&req)?;
        let r = req.into_inner();
        let states: HashSet<i32> = r.states.into_iter().collect();
        let apps = self.rm.state.lock().list(&states, &r.user);
        Ok(Response::new(pb::ListApplicationsResponse { apps }))
    }

    async fn kill_application(
        &self,
        req: Request<pb::KillApplicationRequest>,
    ) -> Result<Response<pb::KillApplicationResponse>, Status> {
        let caller = self.caller(&req)?;
        let mut r = req.into_inner();
        let launches = {
            let mut st = self.rm.state.lock();
            if let Some(user) = caller {
                // An authenticated caller may kill only its own applications.
                let owner = st.report(&r.app_id)?.user;
                if owner != user {
                    return Err(Status::permission_denied(format!(
                        "user {user} may not kill application {} of user {owner}",
                        r.app_id
                    )));
                }
                r.user = user;
            }
            st.kill(&r.app_id, &r.user, Instant::now())?;
            st.schedule()
        };
        self.rm.launch(launches);
        Ok(Response::new(pb::KillApplicationResponse {}))
    }

    async fn get_cluster_nodes(
        &self,
        req: Request<pb::GetClusterNodesRequest>,
    ) -> Result<Response<pb::GetClusterNodesResponse>, Status> {
        self.caller(&req)?;
        let nodes = self.rm.state.lock().nodes(req.into_inner().include_lost);
        Ok(Response::new(pb::GetClusterNodesResponse { nodes }))
    }

    async fn get_cluster_metrics(
        &self,
        req: Request<pb::GetClusterMetricsRequest>,
    ) -> Result<Response<pb::GetClusterMetricsResponse>, Status> {
        self.caller(&req)?;
        Ok(Response::new(self.rm.state.lock().metrics()))
    }

    async fn get_application_logs(
        &self,
        req: Request<pb::GetApplicationLogsRequest>,
    ) -> Result<Response<pb::GetApplicationLogsResponse>, Status> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let report = self.rm.state.lock().report(&r.app_id)?;
        if let Some(user) = caller {
            if user != report.user {
                return Err(Status::permission_denied(format!(
                    "user {user} may not read the logs of application {} of user {}",
                    r.app_id, report.user
                )));
            }
        }
        let container = (!r.container_id.is_empty()).then_some(r.container_id.as_str());
        let nodes = super::fetch_logs(&self.rm, &report, container, r.tail_bytes).await;
        Ok(Response::new(pb::GetApplicationLogsResponse { nodes }))
    }
}

#[tonic::async_trait]
impl ApplicationMaster for RmService {
    async fn register_application_master(
        &self,
        req: Request<pb::RegisterApplicationMasterRequest>,
    ) -> Result<Response<pb::RegisterApplicationMasterResponse>, Status> {
        self.check_am(&req, &req.get_ref().attempt_id)?;
        Ok(Response::new(
            self.rm
                .state
                .lock()
                .am_register(req.into_inner(), Instant::now())?,
        ))
    }

    async fn allocate(
        &self,
        req: Request<pb::AllocateRequest>,
    ) -> Result<Response<pb::AllocateResponse>, Status> {
        self.check_am(&req, &req.get_ref().attempt_id)?;
        let (resp, launches) = self
            .rm
            .state
            .lock()
            .allocate(req.into_inner(), Instant::now())?;
        self.rm.launch(launches);
        Ok(Response::new(resp))
    }

    async fn finish_application_master(
        &self,
        req: Request<pb::FinishApplicationMasterRequest>,
    ) -> Result<Response<pb::FinishApplicationMasterResponse>, Status> {
        self.check_am(&req, &req.get_ref().attempt_id)?;
        let launches = {
            let mut st = self.rm.state.lock();
            st.am_finish(req.into_inner(), Instant::now())?;
            st.schedule()
        };
        self.rm.launch(launches);
        Ok(Response::new(pb::FinishApplicationMasterResponse {}))
    }
}
