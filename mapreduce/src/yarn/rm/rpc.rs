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

#[tonic::async_trait]
impl ResourceTracker for RmService {
    async fn register_node_manager(
        &self,
        req: Request<pb::RegisterNodeManagerRequest>,
    ) -> Result<Response<pb::RegisterNodeManagerResponse>, Status> {
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
        let sub = req
            .into_inner()
            .submission
            .ok_or_else(|| Status::invalid_argument("empty submission"))?;
        let (app_id, launches, store) = {
            let mut st = self.rm.state.lock();
            let (id, l) = st.submit(sub)?;
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
        let report = self.rm.state.lock().report(&req.into_inner().app_id)?;
        Ok(Response::new(pb::GetApplicationReportResponse {
            report: Some(report),
        }))
    }

    async fn list_applications(
        &self,
        req: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        let r = req.into_inner();
        let states: HashSet<i32> = r.states.into_iter().collect();
        let apps = self.rm.state.lock().list(&states, &r.user);
        Ok(Response::new(pb::ListApplicationsResponse { apps }))
    }

    async fn kill_application(
        &self,
        req: Request<pb::KillApplicationRequest>,
    ) -> Result<Response<pb::KillApplicationResponse>, Status> {
        let r = req.into_inner();
        let launches = {
            let mut st = self.rm.state.lock();
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
        let nodes = self.rm.state.lock().nodes(req.into_inner().include_lost);
        Ok(Response::new(pb::GetClusterNodesResponse { nodes }))
    }

    async fn get_cluster_metrics(
        &self,
        _req: Request<pb::GetClusterMetricsRequest>,
    ) -> Result<Response<pb::GetClusterMetricsResponse>, Status> {
        Ok(Response::new(self.rm.state.lock().metrics()))
    }
}

#[tonic::async_trait]
impl ApplicationMaster for RmService {
    async fn register_application_master(
        &self,
        req: Request<pb::RegisterApplicationMasterRequest>,
    ) -> Result<Response<pb::RegisterApplicationMasterResponse>, Status> {
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
        let launches = {
            let mut st = self.rm.state.lock();
            st.am_finish(req.into_inner(), Instant::now())?;
            st.schedule()
        };
        self.rm.launch(launches);
        Ok(Response::new(pb::FinishApplicationMasterResponse {}))
    }
}
