//! The gRPC adapters: `ClientProtocol` and `DatanodeProtocol` over the
//! namesystem. Each method converts the request, calls [`FsNamesystem`]
//! under the lock, and — for mutations — waits for group commit after
//! releasing it.

use crate::block_tokens::BlockTokens;
use crate::convert::*;
use crate::error::{NnError, NnResult};
use crate::fsn::{AddBlockArgs, CreateArgs, FsNamesystem, BYTES_PER_CHECKSUM, WRITE_PACKET_SIZE};
use crate::metrics::Metrics;
use crate::permission::Caller;
use crate::quota::DirQuota;
use crate::sync::GroupCommit;
use crate::types::{ContentSummary, FsckReport};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tusk_common::config::AuthMode;
use tusk_common::security::{self, ClusterSecret};
use tusk_common::security::{ACCESS_READ, ACCESS_WRITE};
use tusk_proto as pb;
use tusk_proto::client_protocol_server::{ClientProtocol, ClientProtocolServer};
use tusk_proto::datanode_protocol_server::{DatanodeProtocol, DatanodeProtocolServer};

/// How long a user's groups are cached (HDFS: hadoop.security.groups.cache.secs).
const GROUPS_TTL: Duration = Duration::from_secs(300);

/// Everything the servers and workers share.
pub struct NamenodeState {
    /// The namesystem, behind HDFS's one big lock (reads share it).
    pub fsn: RwLock<FsNamesystem>,
    /// Durability of applied mutations.
    pub commit: Arc<GroupCommit>,
    /// RPC table and counters for `/metrics`.
    pub metrics: Metrics,
    /// user → (groups, when looked up): `/etc/group` is not read per call.
    groups: Mutex<HashMap<String, (Vec<String>, Instant)>>,
    /// Copied from the config so identifying a caller takes no namesystem lock.
    superuser: String,
    supergroup: String,
    /// Told to datanodes at registration.
    pub heartbeat_interval: Duration,
    pub block_report_interval: Duration,
    pub started: Instant,
    /// The bound RPC address, set when the RPC server starts (WebHDFS
    /// redirects name it as `namenoderpcaddress`).
    rpc_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// The cluster secret (loaded once in `lib.rs::start`): node
    /// authentication of daemons and verification of user tokens.
    pub secret: Arc<ClusterSecret>,
    /// `[security] authentication`: whether a claimed user name needs a token.
    pub auth: AuthMode,
    /// Block keys and access tokens (`[security] block_access_tokens`).
    pub block_tokens: Arc<BlockTokens>,
}

impl NamenodeState {
    pub fn new(
        fsn: FsNamesystem,
        commit: Arc<GroupCommit>,
        heartbeat_interval: Duration,
        block_report_interval: Duration,
    ) -> Self {
        let superuser = fsn.config().superuser.clone();
        let supergroup = fsn.config().supergroup.clone();
        NamenodeState {
            superuser,
            supergroup,
            fsn: RwLock::new(fsn),
            commit,
            metrics: Metrics::default(),
            groups: Mutex::new(HashMap::new()),
            heartbeat_interval,
            block_report_interval,
            started: Instant::now(),
            rpc_addr: std::sync::OnceLock::new(),
            // A fresh random secret nobody else holds until `with_security`.
            secret: Arc::new(ClusterSecret::generate()),
            auth: AuthMode::Simple,
            block_tokens: Arc::new(BlockTokens::disabled()),
        }
    }

    /// Sets the cluster secret and the client authentication mode.
    pub fn with_security(mut self, secret: Arc<ClusterSecret>, auth: AuthMode) -> Self {
        self.secret = secret;
        self.auth = auth;
        self
    }

    /// Sets the block keys (tokens are off until then).
    pub fn with_block_tokens(mut self, tokens: Arc<BlockTokens>) -> Self {
        self.block_tokens = tokens;
        self
    }

    /// The bound RPC address, once the RPC server runs.
    pub fn rpc_addr(&self) -> Option<std::net::SocketAddr> {
        self.rpc_addr.get().copied()
    }

    fn groups_of(&self, user: &str) -> Vec<String> {
        let now = Instant::now();
        if let Some((g, t)) = self.groups.lock().get(user) {
            if now.duration_since(*t) < GROUPS_TTL {
                return g.clone();
            }
        }
        let g = tusk_common::sys::user_groups(user);
        self.groups
            .lock()
            .insert(user.to_string(), (g.clone(), now));
        g
    }

    /// The caller of a ClientProtocol request: the user [`authenticate`]
    /// found (by the interceptor of [`serve`], or here when the service
    /// is called directly).
    ///
    /// [`authenticate`]: NamenodeState::authenticate
    pub fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let user = match req.extensions().get::<AuthenticatedUser>() {
            Some(u) => u.0.clone(),
            None => self.authenticate(req)?,
        };
        Ok(self.caller_for_user(&user))
    }

    /// Who a ClientProtocol request runs as.
    ///
    /// - `simple`: the claimed `x-tusk-user`, else "nobody" (Hadoop's
    ///   simple authentication believes the client).
    /// - `token`: the user of a valid `authorization: Bearer` user token
    ///   (any `x-tusk-user` is ignored); without a token, a daemon holding
    ///   the cluster secret (valid node authentication: node managers
    ///   localizing files, datanodes serving WebHDFS) may act as the user it
    ///   names in `x-tusk-user`, like Hadoop's trusted proxy users. Anything
    ///   else is UNAUTHENTICATED with a one-line reason.
    pub fn authenticate<T>(&self, req: &Request<T>) -> Result<String, Status> {
        let claimed = || {
            req.metadata()
                .get(tusk_proto::USER_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.is_empty())
                .unwrap_or("nobody")
                .to_string()
        };
        if self.auth == AuthMode::Simple {
            return Ok(claimed());
        }
        if let Some(token) = security::user_token_of(req) {
            return match self.secret.verify_user_token(token) {
                Ok(t) => Ok(t.user),
                Err(e) => Err(auth_failed(format!("user token refused: {e}"))),
            };
        }
        if req.metadata().get(security::NODE_AUTH_KEY).is_some() {
            return match self.secret.check_request(req) {
                Ok(()) => Ok(claimed()),
                Err(e) => Err(auth_failed(e.message().to_string())),
            };
        }
        Err(auth_failed(
            "no user token (this cluster has [security] authentication = \"token\": \
             get one from an admin (dfs admin token create USER) and set TUSK_TOKEN, \
             TUSK_TOKEN_FILE or ~/.config/tusk/token)"
                .to_string(),
        ))
    }

    /// The caller for a user named by other means (WebHDFS `user.name`),
    /// with groups from the same cached lookup as RPC callers.
    pub fn caller_for_user(&self, user: &str) -> Caller {
        let groups = self.groups_of(user);
        Caller::new(user, groups, &self.superuser, &self.supergroup)
    }

    /// Runs a mutation under the write lock, then (on success) waits,
    /// outside the lock, until it is durable.
    pub async fn mutate<T>(&self, f: impl FnOnce(&mut FsNamesystem) -> NnResult<T>) -> NnResult<T> {
        let (res, seq) = self.apply(f);
        let v = res?;
        self.commit.wait(seq).await?;
        Ok(v)
    }

    /// [`Self::mutate`] for an operation that may run for seconds (a
    /// recursive delete or a quota over a big tree): the locked part runs
    /// on a blocking thread, so the async workers keep serving connections
    /// meanwhile. Held on a worker, a delete of 1,000,000 files that took
    /// ~10 s (under heaptrack) starved the caller's HTTP/2 pings and `dfs rm`
    /// failed with "http2 error" while the delete went on.
    pub async fn mutate_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut FsNamesystem) -> NnResult<T> + Send + 'static,
    ) -> NnResult<T> {
        let s = self.clone();
        let (res, seq) = tokio::task::spawn_blocking(move || s.apply(f))
            .await
            .map_err(|e| NnError::Storage(format!("namesystem operation failed: {e}")))?;
        let v = res?;
        self.commit.wait(seq).await?;
        Ok(v)
    }

    /// Runs `f` under the write lock; on success, the sequence number whose
    /// durability the reply must wait for.
    fn apply<T>(&self, f: impl FnOnce(&mut FsNamesystem) -> NnResult<T>) -> (NnResult<T>, u64) {
        let mut g = self.fsn.write();
        let r = f(&mut g);
        let seq = if r.is_ok() { self.commit.applied() } else { 0 };
        (r, seq)
    }

    pub fn read<T>(&self, f: impl FnOnce(&FsNamesystem) -> T) -> T {
        f(&self.fsn.read())
    }

    /// `du`/`count` of `path`, with its quotas. The walk holds the read
    /// lock for [`SUMMARY_STEP`] inodes at a time, so writers get in
    /// between steps however big the subtree. It blocks for as long as the
    /// walk takes: call it from `spawn_blocking`, not an async worker.
    pub fn content_summary(
        &self,
        caller: &Caller,
        path: &str,
    ) -> NnResult<(ContentSummary, Option<DirQuota>)> {
        let (mut walk, mut sum, quota) = {
            let f = self.fsn.read();
            let (w, s) = f.content_summary_begin(caller, path)?;
            (w, s, f.quota_of(caller, path)?)
        };
        while !self
            .fsn
            .read()
            .content_summary_step(&mut walk, caller, &mut sum, SUMMARY_STEP)?
        {
            std::thread::yield_now();
        }
        Ok((sum, quota))
    }

    /// `fsck PATH`, walking in steps like [`Self::content_summary`] (and
    /// blocking like it).
    pub fn fsck(&self, caller: &Caller, path: &str, all_files: bool) -> NnResult<FsckReport> {
        let mut walk = self.fsn.read().fsck_begin(caller, path, all_files)?;
        while !self.fsn.read().fsck_step(&mut walk, caller, SUMMARY_STEP)? {
            std::thread::yield_now();
        }
        Ok(walk.finish())
    }
}

/// Inodes a content summary or fsck visits per hold of the namesystem's
/// read lock (HDFS's `dfs.content-summary.limit` is 5000): a few
/// milliseconds.
pub const SUMMARY_STEP: usize = 5000;

/// The user [`NamenodeState::authenticate`] found, put in the request's
/// extensions by the interceptor of [`serve`] so handlers do not verify
/// the token twice.
#[derive(Debug, Clone)]
struct AuthenticatedUser(String);

/// The Hadoop class of a refused authentication: `dfs` prints the message
/// after the path ("dfs: /p: authentication failed: token expired …").
pub const AUTHENTICATION_EXCEPTION: &str =
    "org.apache.hadoop.security.authentication.client.AuthenticationException";

/// UNAUTHENTICATED, "authentication failed: <reason>", with the Hadoop class.
fn auth_failed(reason: String) -> Status {
    let mut s = Status::unauthenticated(format!("authentication failed: {reason}"));
    s.metadata_mut().insert(
        tusk_proto::ERROR_CLASS_HEADER,
        tonic::metadata::MetadataValue::from_static(AUTHENTICATION_EXCEPTION),
    );
    s
}

fn peer_host<T>(req: &Request<T>, given: &str) -> String {
    if !given.is_empty() {
        return given.to_string();
    }
    req.remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

fn required_block(b: &Option<pb::Block>, what: &str) -> Result<crate::types::Block, Status> {
    b.as_ref()
        .map(block_from)
        .ok_or_else(|| NnError::InvalidArgument(format!("{what}: block is required")).into())
}

/// ClientProtocol.
#[derive(Clone)]
pub struct ClientService(pub Arc<NamenodeState>);

/// DatanodeProtocol.
#[derive(Clone)]
pub struct DatanodeService(pub Arc<NamenodeState>);

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ClientProtocol for ClientService {
    async fn get_file_info(
        &self,
        req: Request<pb::GetFileInfoRequest>,
    ) -> R<pb::GetFileInfoResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let st = s.read(|f| f.get_file_info(&caller, &req.get_ref().path))?;
        Ok(Response::new(pb::GetFileInfoResponse {
            status: st.as_ref().map(status_to),
        }))
    }

    async fn mkdirs(&self, req: Request<pb::MkdirsRequest>) -> R<pb::MkdirsResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        s.mutate(|f| f.mkdirs(&caller, &r.path, r.permission, r.create_parent))
            .await?;
        Ok(Response::new(pb::MkdirsResponse {}))
    }

    async fn get_listing(&self, req: Request<pb::GetListingRequest>) -> R<pb::GetListingResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let l = s.read(|f| f.get_listing(&caller, &r.path, &r.start_after, r.limit))?;
        Ok(Response::new(pb::GetListingResponse {
            entries: l.entries.iter().map(status_to).collect(),
            remaining: l.remaining,
            is_file: l.is_file,
        }))
    }

    async fn create(&self, req: Request<pb::CreateRequest>) -> R<pb::CreateResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let args = CreateArgs {
            path: &r.path,
            permission: r.permission,
            client_name: &r.client_name,
            overwrite: r.overwrite,
            create_parent: r.create_parent,
            replication: r.replication,
            block_size: r.block_size,
        };
        let st = s
            .mutate(|f| f.create(&caller, &args, Instant::now()))
            .await?;
        Ok(Response::new(pb::CreateResponse {
            status: Some(status_to(&st)),
        }))
    }

    async fn append(&self, req: Request<pb::AppendRequest>) -> R<pb::AppendResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let st = s
            .mutate(|f| f.append(&caller, &r.path, &r.client_name, Instant::now()))
            .await?;
        Ok(Response::new(pb::AppendResponse {
            status: Some(status_to(&st)),
        }))
    }

    async fn add_block(&self, req: Request<pb::AddBlockRequest>) -> R<pb::AddBlockResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let writer = peer_host(&req, &req.get_ref().client_host);
        let r = req.get_ref();
        let args = AddBlockArgs {
            path: &r.path,
            client_name: &r.client_name,
            file_id: r.file_id,
            previous: r.previous.as_ref().map(block_from),
            excluded: &r.excluded_uuids,
            writer_host: &writer,
        };
        let lb = s.mutate(|f| f.add_block(&args)).await?;
        let token = s
            .block_tokens
            .token(lb.block.id, ACCESS_READ | ACCESS_WRITE, &caller.user);
        Ok(Response::new(pb::AddBlockResponse {
            block: Some(located_with_token(&lb, token)),
        }))
    }

    async fn abandon_block(
        &self,
        req: Request<pb::AbandonBlockRequest>,
    ) -> R<pb::AbandonBlockResponse> {
        let s = &self.0;
        let r = req.get_ref();
        let b = required_block(&r.block, "abandonBlock")?;
        s.mutate(|f| f.abandon_block(&r.path, &r.client_name, r.file_id, b))
            .await?;
        Ok(Response::new(pb::AbandonBlockResponse {}))
    }

    async fn update_pipeline(
        &self,
        req: Request<pb::UpdatePipelineRequest>,
    ) -> R<pb::UpdatePipelineResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let b = required_block(&r.block, "updatePipeline")?;
        let located = s
            .mutate(|f| f.update_pipeline(&r.path, &r.client_name, r.file_id, b, &r.node_uuids))
            .await?;
        let token =
            s.block_tokens
                .token(located.block.id, ACCESS_READ | ACCESS_WRITE, &caller.user);
        Ok(Response::new(pb::UpdatePipelineResponse {
            block: Some(located_with_token(&located, token)),
        }))
    }

    async fn recover_lease(
        &self,
        req: Request<pb::RecoverLeaseRequest>,
    ) -> R<pb::RecoverLeaseResponse> {
        let s = &self.0;
        let r = req.get_ref();
        let (closed, rec) = s
            .mutate(|f| f.recover_lease(&r.path, &r.client_name, Instant::now()))
            .await?;
        if let Some(rec) = rec {
            tokio::spawn(crate::recovery::run(s.clone(), rec));
        }
        Ok(Response::new(pb::RecoverLeaseResponse { closed }))
    }

    async fn complete(&self, req: Request<pb::CompleteRequest>) -> R<pb::CompleteResponse> {
        let s = &self.0;
        let r = req.get_ref();
        let last = r.last.as_ref().map(block_from);
        let completed = s
            .mutate(|f| f.complete(&r.path, &r.client_name, r.file_id, last, &r.sha256))
            .await?;
        Ok(Response::new(pb::CompleteResponse { completed }))
    }

    async fn get_block_locations(
        &self,
        req: Request<pb::GetBlockLocationsRequest>,
    ) -> R<pb::GetBlockLocationsResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let reader = peer_host(&req, &req.get_ref().client_host);
        let r = req.get_ref();
        let l = s.read(|f| f.get_block_locations(&caller, &r.path, r.offset, r.length, &reader))?;
        Ok(Response::new(pb::GetBlockLocationsResponse {
            file_length: l.file_length,
            // After the permission check in get_block_locations: READ tokens.
            blocks: l
                .blocks
                .iter()
                .map(|b| {
                    let token = s.block_tokens.token(b.block.id, ACCESS_READ, &caller.user);
                    located_with_token(b, token)
                })
                .collect(),
            under_construction: l.under_construction,
            file_id: l.file_id,
        }))
    }

    async fn rename(&self, req: Request<pb::RenameRequest>) -> R<pb::RenameResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        s.mutate(|f| f.rename(&caller, &r.src, &r.dst, r.overwrite))
            .await?;
        Ok(Response::new(pb::RenameResponse {}))
    }

    async fn delete(&self, req: Request<pb::DeleteRequest>) -> R<pb::DeleteResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.into_inner();
        let deleted = if r.recursive {
            s.mutate_blocking(move |f| f.delete(&caller, &r.path, true))
                .await?
        } else {
            s.mutate(|f| f.delete(&caller, &r.path, false)).await?
        };
        Ok(Response::new(pb::DeleteResponse { deleted }))
    }

    async fn set_permission(
        &self,
        req: Request<pb::SetPermissionRequest>,
    ) -> R<pb::SetPermissionResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        s.mutate(|f| f.set_permission(&caller, &r.path, r.permission))
            .await?;
        Ok(Response::new(pb::SetPermissionResponse {}))
    }

    async fn set_owner(&self, req: Request<pb::SetOwnerRequest>) -> R<pb::SetOwnerResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        s.mutate(|f| f.set_owner(&caller, &r.path, &r.owner, &r.group))
            .await?;
        Ok(Response::new(pb::SetOwnerResponse {}))
    }

    async fn set_replication(
        &self,
        req: Request<pb::SetReplicationRequest>,
    ) -> R<pb::SetReplicationResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let is_file = s
            .mutate(|f| f.set_replication(&caller, &r.path, r.replication))
            .await?;
        Ok(Response::new(pb::SetReplicationResponse { is_file }))
    }

    async fn set_quota(&self, req: Request<pb::SetQuotaRequest>) -> R<pb::SetQuotaResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.into_inner();
        // Setting a quota measures the directory's tree.
        s.mutate_blocking(move |f| f.set_quota(&caller, &r.path, r.ns_quota, r.space_quota))
            .await?;
        Ok(Response::new(pb::SetQuotaResponse {}))
    }

    async fn set_times(&self, req: Request<pb::SetTimesRequest>) -> R<pb::SetTimesResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        s.mutate(|f| f.set_times(&caller, &r.path, r.mtime_ms, r.atime_ms))
            .await?;
        Ok(Response::new(pb::SetTimesResponse {}))
    }

    async fn get_content_summary(
        &self,
        req: Request<pb::GetContentSummaryRequest>,
    ) -> R<pb::GetContentSummaryResponse> {
        let s = self.0.clone();
        let caller = s.caller(&req)?;
        let path = req.into_inner().path;
        let (c, q) = tokio::task::spawn_blocking(move || s.content_summary(&caller, &path))
            .await
            .map_err(|e| Status::internal(format!("content summary: {e}")))??;
        Ok(Response::new(pb::GetContentSummaryResponse {
            length: c.length,
            file_count: c.file_count,
            directory_count: c.directory_count,
            space_consumed: c.space_consumed,
            quota: q.map_or(-1, |q| q.ns_quota),
            space_quota: q.map_or(-1, |q| q.ds_quota),
        }))
    }

    async fn get_file_checksum(
        &self,
        req: Request<pb::GetFileChecksumRequest>,
    ) -> R<pb::GetFileChecksumResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let (sha, length) = s.read(|f| f.file_checksum(&caller, &req.get_ref().path))?;
        Ok(Response::new(pb::GetFileChecksumResponse {
            sha256: sha.into(),
            length,
        }))
    }

    async fn renew_lease(&self, req: Request<pb::RenewLeaseRequest>) -> R<pb::RenewLeaseResponse> {
        let s = &self.0;
        s.fsn
            .write()
            .renew_lease(&req.get_ref().client_name, Instant::now());
        Ok(Response::new(pb::RenewLeaseResponse {}))
    }

    async fn report_bad_blocks(
        &self,
        req: Request<pb::ReportBadBlocksRequest>,
    ) -> R<pb::ReportBadBlocksResponse> {
        let s = &self.0;
        let r = req.get_ref();
        let bad: Vec<_> = r
            .blocks
            .iter()
            .zip(r.datanode_uuids.iter())
            .map(|(b, u)| (block_from(b), u.clone()))
            .collect();
        s.fsn.write().report_bad_blocks(&bad);
        Ok(Response::new(pb::ReportBadBlocksResponse {}))
    }

    async fn get_fs_stats(
        &self,
        _req: Request<pb::GetFsStatsRequest>,
    ) -> R<pb::GetFsStatsResponse> {
        let s = &self.0;
        Ok(Response::new(stats_to(&s.read(|f| f.fs_stats()))))
    }

    async fn get_server_defaults(
        &self,
        _req: Request<pb::GetServerDefaultsRequest>,
    ) -> R<pb::GetServerDefaultsResponse> {
        let s = &self.0;
        let c = s.read(|f| f.config().clone());
        Ok(Response::new(pb::GetServerDefaultsResponse {
            block_size: c.default_block_size,
            replication: c.default_replication,
            bytes_per_checksum: BYTES_PER_CHECKSUM,
            write_packet_size: WRITE_PACKET_SIZE,
            superuser: c.superuser,
            supergroup: c.supergroup,
            trash_interval_ms: Some(c.trash_interval.as_millis() as u64),
        }))
    }

    async fn datanode_report(
        &self,
        _req: Request<pb::DatanodeReportRequest>,
    ) -> R<pb::DatanodeReportResponse> {
        let s = &self.0;
        let r = s.read(|f| f.datanode_report(Instant::now()));
        Ok(Response::new(pb::DatanodeReportResponse {
            datanodes: r.iter().map(report_to).collect(),
        }))
    }

    async fn set_safe_mode(
        &self,
        req: Request<pb::SetSafeModeRequest>,
    ) -> R<pb::SetSafeModeResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let action = safe_mode_action_from(req.get_ref().action());
        let safe_mode = s.fsn.write().set_safe_mode(&caller, action)?;
        Ok(Response::new(pb::SetSafeModeResponse { safe_mode }))
    }

    async fn decommission(
        &self,
        req: Request<pb::DecommissionRequest>,
    ) -> R<pb::DecommissionResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let nodes = s.fsn.write().decommission(&caller, &req.get_ref().node)?;
        Ok(Response::new(pb::DecommissionResponse {
            nodes: nodes.iter().map(datanode_to).collect(),
        }))
    }

    async fn recommission(
        &self,
        req: Request<pb::RecommissionRequest>,
    ) -> R<pb::RecommissionResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let nodes = s.fsn.write().recommission(&caller, &req.get_ref().node)?;
        Ok(Response::new(pb::RecommissionResponse {
            nodes: nodes.iter().map(datanode_to).collect(),
        }))
    }

    async fn fsck(&self, req: Request<pb::FsckRequest>) -> R<pb::FsckResponse> {
        let s = self.0.clone();
        let caller = s.caller(&req)?;
        let r = req.into_inner();
        let report = tokio::task::spawn_blocking(move || s.fsck(&caller, &r.path, r.all_files))
            .await
            .map_err(|e| Status::internal(format!("fsck: {e}")))??;
        Ok(Response::new(fsck_to(&report)))
    }

    async fn balancer(&self, req: Request<pb::BalancerRequest>) -> R<pb::BalancerResponse> {
        let s = &self.0;
        let caller = s.caller(&req)?;
        let r = req.get_ref();
        let action = balancer_action_from(r.action());
        let status =
            s.fsn
                .write()
                .balancer(&caller, action, r.threshold, r.max_moves_per_node as usize)?;
        Ok(Response::new(pb::BalancerResponse {
            status: Some(balancer_status_to(&status)),
        }))
    }
}

#[tonic::async_trait]
impl DatanodeProtocol for DatanodeService {
    async fn register(&self, req: Request<pb::RegisterRequest>) -> R<pb::RegisterResponse> {
        let s = &self.0;
        self.authenticate(&req, "register")?;
        let r = req.get_ref();
        let info = r
            .info
            .as_ref()
            .ok_or_else(|| NnError::InvalidArgument("register: info is required".into()))?;
        if info.uuid.is_empty() {
            return Err(NnError::InvalidArgument("register: datanode uuid is empty".into()).into());
        }
        let mut id = datanode_from(info);
        if id.host.is_empty() {
            id.host = peer_host(&req, "");
        }
        let stats = storage_from(&r.storages);
        let rack = s.fsn.write().register_datanode(id, stats, Instant::now());
        Ok(Response::new(pb::RegisterResponse {
            rack,
            heartbeat_interval_ms: s.heartbeat_interval.as_millis() as u64,
            block_report_interval_ms: s.block_report_interval.as_millis() as u64,
            block_keys: s.block_tokens.keys_pb(),
        }))
    }

    async fn heartbeat(&self, req: Request<pb::HeartbeatRequest>) -> R<pb::HeartbeatResponse> {
        let s = &self.0;
        self.authenticate(&req, "heartbeat")?;
        Metrics::inc(&s.metrics.heartbeats);
        let r = req.get_ref();
        let cmds = s.fsn.write().heartbeat(
            &r.uuid,
            storage_from(&r.storages),
            r.xceivers,
            Instant::now(),
        );
        Ok(Response::new(pb::HeartbeatResponse {
            commands: cmds.iter().map(command_to).collect(),
            block_keys: s.block_tokens.keys_pb(),
        }))
    }

    async fn block_report(
        &self,
        req: Request<pb::BlockReportRequest>,
    ) -> R<pb::BlockReportResponse> {
        let s = &self.0;
        self.authenticate(&req, "block report")?;
        Metrics::inc(&s.metrics.block_reports);
        let r = req.get_ref();
        let blocks: Vec<_> = r.finalized.iter().map(block_from).collect();
        let rbw: Vec<_> = r.being_written.iter().map(block_from).collect();
        let cmds = s
            .fsn
            .write()
            .block_report(&r.uuid, &blocks, &rbw, Instant::now());
        Ok(Response::new(pb::BlockReportResponse {
            commands: cmds.iter().map(command_to).collect(),
        }))
    }

    async fn block_received_and_deleted(
        &self,
        req: Request<pb::BlockReceivedAndDeletedRequest>,
    ) -> R<pb::BlockReceivedAndDeletedResponse> {
        let s = &self.0;
        self.authenticate(&req, "incremental block report")?;
        Metrics::inc(&s.metrics.incremental_block_reports);
        let r = req.get_ref();
        let received: Vec<_> = r.received.iter().map(block_from).collect();
        let deleted: Vec<_> = r.deleted.iter().map(block_from).collect();
        s.fsn
            .write()
            .block_received_and_deleted(&r.uuid, &received, &deleted);
        Ok(Response::new(pb::BlockReceivedAndDeletedResponse {}))
    }

    async fn report_corrupt(
        &self,
        req: Request<pb::ReportCorruptRequest>,
    ) -> R<pb::ReportCorruptResponse> {
        let s = &self.0;
        self.authenticate(&req, "corrupt replica report")?;
        let r = req.get_ref();
        tracing::warn!(node = %r.uuid, blocks = r.blocks.len(), reason = %r.reason, "datanode reports corrupt replicas");
        let bad: Vec<_> = r
            .blocks
            .iter()
            .map(|b| (block_from(b), r.uuid.clone()))
            .collect();
        s.fsn.write().report_bad_blocks(&bad);
        Ok(Response::new(pb::ReportCorruptResponse {}))
    }
}

impl DatanodeService {
    /// Node authentication (the cluster secret) of a DatanodeProtocol call,
    /// checked before the handler touches any state: a process without the
    /// secret cannot register, heartbeat, report or receive commands.
    fn authenticate<T>(&self, req: &Request<T>, call: &str) -> Result<(), Status> {
        self.0.secret.check_request(req).inspect_err(|e| {
            tracing::warn!(peer = ?req.remote_addr(), call, "datanode call refused: {}", e.message());
        })
    }
}

/// Serves both RPC services on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<NamenodeState>,
    shutdown: watch::Receiver<bool>,
    limits: &tusk_common::config::LimitsConfig,
) -> Result<(), tonic::transport::Error> {
    if let Ok(a) = listener.local_addr() {
        let _ = state.rpc_addr.set(a);
    }
    // Both services counted in one table (`/metrics`: tusk_namenode_rpc_*).
    // Full block reports of big datanodes exceed tonic's 4 MiB default:
    // the limit is `[limits] max_rpc_message_size` (128 MiB).
    let rpc = state.metrics.rpc.clone();
    // Every ClientProtocol call is authenticated before its handler runs
    // (in `token` mode, calls without a valid token end here).
    let auth = {
        let state = state.clone();
        move |mut req: Request<()>| -> Result<Request<()>, Status> {
            let user = state.authenticate(&req)?;
            req.extensions_mut().insert(AuthenticatedUser(user));
            Ok(req)
        }
    };
    let router = tusk_common::net::grpc_server(limits)
        .add_service(
            rpc.wrap(InterceptedService::new(
                ClientProtocolServer::new(ClientService(state.clone()))
                    .max_decoding_message_size(limits.max_message()),
                auth,
            )),
        )
        .add_service(
            rpc.wrap(
                DatanodeProtocolServer::new(DatanodeService(state))
                    .max_decoding_message_size(limits.max_message()),
            ),
        );
    tusk_common::net::serve_grpc_with(
        router,
        listener,
        shutdown,
        Duration::from_secs(5),
        "namenode RPC",
        limits,
    )
    .await;
    Ok(())
}
