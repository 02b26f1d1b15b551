//! The ContainerManager service: a thin adapter over [`Nm`] and `container.rs`.

use super::{container, Nm};
use crate::yarn::ids::is_safe_component;
use crate::yarn::pb;
use crate::yarn::pb::container_manager_server::{ContainerManager, ContainerManagerServer};
use crate::yarn::{exit, res_of, security, YarnError};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::warn;

/// UNAUTHENTICATED with the reason, in the words every caller sees.
fn refused(why: &str) -> Status {
    Status::unauthenticated(format!(
        "not authorized: {why} (a container token from the resource manager, or node authentication, is required)"
    ))
}

pub(crate) struct ContainerManagerService {
    nm: Arc<Nm>,
}

pub(crate) async fn serve(
    nm: Arc<Nm>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    limits: tusk_common::config::LimitsConfig,
) {
    let rpc = nm.metrics.rpc.clone();
    let router = tusk_common::net::grpc_server(&limits).add_service(
        rpc.wrap(
            ContainerManagerServer::new(ContainerManagerService { nm })
                .max_decoding_message_size(limits.max_message())
                .max_encoding_message_size(256 << 20),
        ),
    );
    crate::yarn::net::serve_grpc_with(
        router,
        listener,
        stop,
        Duration::from_secs(1),
        "container manager",
        &limits,
    )
    .await;
}

impl ContainerManagerService {
    fn find(&self, id: &str) -> Result<Arc<container::Entry>, YarnError> {
        self.nm.containers.lock().get(id).cloned().ok_or_else(|| {
            YarnError::NotFound(format!(
                "container {id} is unknown to node manager {}",
                self.nm.node_id
            ))
        })
    }

    /// A call about `container_id` needs that container's token (its MAC,
    /// not its expiry) or node authentication.
    fn check_container<T>(
        &self,
        req: &Request<T>,
        container_id: &str,
        token: Option<&pb::ContainerToken>,
    ) -> Result<(), Status> {
        if token.is_none() && self.nm.secret.check_request(req).is_ok() {
            return Ok(());
        }
        match security::verify_container_token(&self.nm.secret, token, &self.nm.node_id) {
            Ok(t) if t.container_id == container_id => Ok(()),
            Ok(t) => Err(refused(
                &security::ContainerTokenError::WrongContainer {
                    token: t.container_id,
                    wanted: container_id.to_string(),
                }
                .to_string(),
            )),
            Err(e) => Err(refused(&e.to_string())),
        }
    }

    fn start(&self, r: pb::StartContainerRequest) -> Result<(), YarnError> {
        let node = &self.nm.node_id;
        if !is_safe_component(&r.container_id) || !is_safe_component(&r.app_id) {
            return Err(YarnError::InvalidArgument(format!(
                "invalid container id {:?} or application id {:?}",
                r.container_id, r.app_id
            )));
        }
        // Only the resource manager's word says what may run here, and as
        // whom: the token's user, never the request's `user`.
        let token = security::check_start(
            &self.nm.secret,
            r.token.as_ref(),
            node,
            &r.container_id,
            &r.app_id,
        )
        .map_err(|e| {
            YarnError::Unauthenticated(format!(
                "container {} refused on node {node}: {e}",
                r.container_id
            ))
        })?;
        let spec = r.spec.ok_or_else(|| {
            YarnError::InvalidArgument(format!("container {}: no launch spec", r.container_id))
        })?;
        if spec.program.is_empty() {
            return Err(YarnError::InvalidArgument(format!(
                "container {}: empty program",
                r.container_id
            )));
        }
        if self.nm.finished_apps.lock().contains(&r.app_id) {
            return Err(YarnError::FailedPrecondition(format!(
                "container {}: application {} has finished (node {node})",
                r.container_id, r.app_id
            )));
        }
        let user = token.user;
        let entry = container::Entry::new(
            &r.container_id,
            &r.app_id,
            &user,
            res_of(r.resource.as_ref()),
        );
        {
            let mut m = self.nm.containers.lock();
            if m.contains_key(&r.container_id) {
                return Err(YarnError::AlreadyExists(format!(
                    "container {} already started on node {node}",
                    r.container_id
                )));
            }
            m.insert(r.container_id.clone(), entry.clone());
        }
        tokio::spawn(container::run(self.nm.clone(), entry, spec));
        Ok(())
    }

    async fn logs(
        &self,
        r: pb::GetContainerLogsRequest,
    ) -> Result<Vec<pb::ContainerLog>, YarnError> {
        let node = &self.nm.node_id;
        if !is_safe_component(&r.app_id)
            || (!r.container_id.is_empty() && !is_safe_component(&r.container_id))
        {
            return Err(YarnError::InvalidArgument(format!(
                "invalid application id {:?} or container id {:?}",
                r.app_id, r.container_id
            )));
        }
        let app_logs = self.nm.log_dir.join(&r.app_id);
        let mut containers = Vec::new();
        if r.container_id.is_empty() {
            let mut rd = tokio::fs::read_dir(&app_logs).await.map_err(|_| {
                YarnError::NotFound(format!(
                    "no logs of application {} on node {node}",
                    r.app_id
                ))
            })?;
            while let Ok(Some(e)) = rd.next_entry().await {
                if let Some(n) = e.file_name().to_str() {
                    containers.push(n.to_string());
                }
            }
            containers.sort();
        } else {
            if !app_logs.join(&r.container_id).is_dir() {
                return Err(YarnError::NotFound(format!(
                    "no logs of container {} of application {} on node {node}",
                    r.container_id, r.app_id
                )));
            }
            containers.push(r.container_id.clone());
        }
        let mut out = Vec::new();
        for c in containers {
            for file in ["stdout", "stderr"] {
                let path = app_logs.join(&c).join(file);
                let Ok(mut f) = tokio::fs::File::open(&path).await else {
                    continue;
                };
                let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
                let start = if r.tail_bytes > 0 {
                    len.saturating_sub(r.tail_bytes)
                } else {
                    0
                };
                let mut data = Vec::new();
                f.seek(std::io::SeekFrom::Start(start))
                    .await
                    .map_err(|e| YarnError::io(path.display(), e))?;
                f.read_to_end(&mut data)
                    .await
                    .map_err(|e| YarnError::io(path.display(), e))?;
                out.push(pb::ContainerLog {
                    container_id: c.clone(),
                    file: file.to_string(),
                    data: Bytes::from(data),
                    length: len,
                });
            }
        }
        Ok(out)
    }
}

#[tonic::async_trait]
impl ContainerManager for ContainerManagerService {
    async fn start_container(
        &self,
        req: Request<pb::StartContainerRequest>,
    ) -> Result<Response<pb::StartContainerResponse>, Status> {
        let r = req.into_inner();
        let cid = r.container_id.clone();
        self.start(r).inspect_err(|e| {
            if matches!(e, YarnError::Unauthenticated(_)) {
                warn!(container = %cid, "{e}");
            }
        })?;
        Ok(Response::new(pb::StartContainerResponse {}))
    }

    async fn stop_container(
        &self,
        req: Request<pb::StopContainerRequest>,
    ) -> Result<Response<pb::StopContainerResponse>, Status> {
        self.check_container(
            &req,
            &req.get_ref().container_id,
            req.get_ref().token.as_ref(),
        )?;
        let c = self.find(&req.into_inner().container_id)?;
        c.stop(
            exit::KILLED_BY_APPMASTER,
            "stopped by the application master",
        );
        Ok(Response::new(pb::StopContainerResponse {}))
    }

    async fn get_container_status(
        &self,
        req: Request<pb::GetContainerStatusRequest>,
    ) -> Result<Response<pb::GetContainerStatusResponse>, Status> {
        self.check_container(
            &req,
            &req.get_ref().container_id,
            req.get_ref().token.as_ref(),
        )?;
        let c = self.find(&req.into_inner().container_id)?;
        Ok(Response::new(pb::GetContainerStatusResponse {
            status: Some(c.status()),
        }))
    }

    async fn get_container_logs(
        &self,
        req: Request<pb::GetContainerLogsRequest>,
    ) -> Result<Response<pb::GetContainerLogsResponse>, Status> {
        // Any container token of the application, or node authentication
        // (the resource manager fetching logs for a client or its UI).
        let r = req.get_ref();
        if r.token.is_some() || self.nm.secret.check_request(&req).is_err() {
            match security::verify_container_token(
                &self.nm.secret,
                r.token.as_ref(),
                &self.nm.node_id,
            ) {
                Ok(t) if t.app_id == r.app_id => {}
                Ok(t) => {
                    return Err(refused(
                        &security::ContainerTokenError::WrongApp {
                            token: t.app_id,
                            wanted: r.app_id.clone(),
                        }
                        .to_string(),
                    ))
                }
                Err(e) => return Err(refused(&e.to_string())),
            }
        }
        let logs = self.logs(req.into_inner()).await?;
        Ok(Response::new(pb::GetContainerLogsResponse { logs }))
    }
}
