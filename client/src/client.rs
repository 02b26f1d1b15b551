//! [`DfsClient`]: the connection to the namenode, namespace calls, trash.

use crate::config::ClientConfig;
use crate::convert;
use crate::error::{DfsError, Result};
use crate::types::*;
use futures::{Stream, TryStreamExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tusk_common::path as tpath;
use tusk_proto as pb;
use tusk_proto::client_protocol_client::ClientProtocolClient;
use tusk_proto::data_transfer_client::DataTransferClient;

pub(crate) type NnClient = ClientProtocolClient<InterceptedService<Channel, UserInterceptor>>;
pub(crate) type DnClient = DataTransferClient<Channel>;

/// Largest message the client accepts (listings of 1000 entries, data chunks).
const MAX_MESSAGE: usize = 64 << 20;

/// [`DfsClient::set_quota`]: clear this quota (HDFS `QUOTA_RESET`).
pub const QUOTA_RESET: i64 = -1;
/// [`DfsClient::set_quota`]: leave this quota as it is (HDFS `QUOTA_DONT_SET`).
pub const QUOTA_DONT_SET: i64 = i64::MAX;

/// Puts the caller's user name on every namenode call, with its proof when
/// the client has one: the user token (`authorization: Bearer`), or node
/// authentication with the cluster secret (daemons acting for users).
#[derive(Clone)]
pub(crate) struct UserInterceptor {
    user: MetadataValue<Ascii>,
    /// `Bearer <token>`, made once.
    bearer: Option<MetadataValue<Ascii>>,
    node_auth: Option<Arc<tusk_common::security::ClusterSecret>>,
}

impl Interceptor for UserInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert(tusk_proto::USER_HEADER, self.user.clone());
        if let Some(b) = &self.bearer {
            req.metadata_mut()
                .insert(tusk_common::security::AUTHORIZATION_KEY, b.clone());
        }
        if let Some(s) = &self.node_auth {
            s.sign_request(&mut req);
        }
        Ok(req)
    }
}

/// A handle on a Tusk file system. Cheap to clone; all clones share one
/// namenode connection, the datanode connections and the lease renewer.
///
/// Paths may be absolute or relative to the home directory `/user/<user>`;
/// they are normalized (`a//b/`, `.`, `..`) before they are sent.
#[derive(Clone)]
pub struct DfsClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// What the client was built from.
    pub(crate) config: ClientConfig,
    /// Lease holder name, `DFSClient_<random>_<pid>`.
    pub(crate) client_name: String,
    /// `/user/<user>`, against which relative paths resolve.
    pub(crate) home: String,
    /// The namenode, with the user interceptor.
    pub(crate) nn: NnClient,
    /// One lazily connected channel per datanode data address.
    datanodes: Mutex<HashMap<String, DnClient>>,
    /// Open writers and whether the lease renewer runs (one lock so a writer
    /// opening while the renewer retires cannot be missed).
    pub(crate) leases: Mutex<LeaseState>,
}

#[derive(Default)]
pub(crate) struct LeaseState {
    pub(crate) writers: usize,
    pub(crate) renewer_running: bool,
}

/// One page of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Entries sorted by name; for a file, the file itself.
    pub entries: Vec<FileStatus>,
    /// 0 on the last page, else a positive estimate of the entries left.
    pub remaining: u64,
}

impl ListPage {
    /// More entries follow the last one of this page.
    pub fn has_more(&self) -> bool {
        self.remaining > 0 && !self.entries.is_empty()
    }
}

/// HTTP/2 PING period on every connection, and how long an unanswered PING
/// may wait before the connection is dropped: a peer cut off the network
/// (no RST ever comes) fails its streams within ~10 s, so a reader moves to
/// the next replica instead of waiting forever (HDFS: the 60 s socket
/// time-out).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Jittered exponential backoff until a deadline: how the client waits for
/// an unreachable or busy namenode and for busy datanodes (jitter, so that
/// the clients one restart or overload turned away do not all come back at
/// once).
pub(crate) struct Backoff {
    deadline: Instant,
    delay: Duration,
    max: Duration,
}

impl Backoff {
    /// Delays doubling from 50 ms to 2 s.
    pub(crate) fn new(deadline: Instant) -> Backoff {
        Backoff {
            deadline,
            delay: Duration::from_millis(50),
            max: Duration::from_secs(2),
        }
    }

    /// The same, with delays doubling only up to `max`.
    pub(crate) fn capped(mut self, max: Duration) -> Backoff {
        self.max = max;
        self
    }

    /// The next wait (0.5 to 1.5 times the current delay), or `None` when
    /// it would end past the deadline.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        let wait = self.delay.mul_f64(rand::random::<f64>() + 0.5);
        if Instant::now() + wait > self.deadline {
            return None;
        }
        self.delay = (self.delay * 2).min(self.max);
        Some(wait)
    }
}

/// A call a server shed because too many were in flight
/// (`tusk_common::shed`): RESOURCE_EXHAUSTED without an error class (the
/// namenode's own RESOURCE_EXHAUSTED errors, quotas and no datanodes,
/// always carry one).
fn is_busy_status(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::ResourceExhausted
        && s.metadata().get(tusk_proto::ERROR_CLASS_HEADER).is_none()
}

/// The settings of every connection a Tusk client opens to `addr`
/// (time-outs, HTTP/2 keep-alive and windows, `TCP_NODELAY`; TLS when the
/// process has it on). Public so that tools measuring the RPC layer itself
/// (`tusk-bench nn --echo`) connect as [`DfsClient`] does.
pub fn endpoint(addr: &str) -> Result<Endpoint> {
    tusk_common::net::endpoint(addr)
        .map_err(DfsError::InvalidArgument)
        .map(|e| {
            e.connect_timeout(Duration::from_secs(5))
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_timeout(KEEPALIVE_TIMEOUT)
                .keep_alive_while_idle(true)
                .tcp_nodelay(true)
                .initial_stream_window_size(Some(4 << 20))
                .initial_connection_window_size(Some(16 << 20))
                .http2_adaptive_window(false)
                .max_frame_size(Some(1 << 20))
        })
}

impl DfsClient {
    /// Builds a client. The connection is made lazily on the first call (so
    /// this succeeds while the namenode is still starting); calls retry an
    /// unreachable namenode for `config.retry_timeout`.
    pub async fn connect(mut config: ClientConfig) -> Result<DfsClient> {
        // With a user token the namenode acts as the token's user whatever
        // name is claimed: take that name, so relative paths resolve
        // against the right home directory.
        if let Some(t) = config
            .token
            .as_deref()
            .and_then(tusk_common::security::UserToken::peek)
        {
            if t.user != config.user {
                tracing::debug!(claimed = %config.user, token_user = %t.user, "acting as the user token's user");
                config.user = t.user;
            }
        }
        let user = MetadataValue::try_from(config.user.as_str()).map_err(|_| {
            DfsError::InvalidArgument(format!("user name {:?} is not ASCII", config.user))
        })?;
        if config.user.is_empty() || config.user.contains('/') {
            return Err(DfsError::InvalidArgument(format!(
                "invalid user name {:?}",
                config.user
            )));
        }
        if let Some(e) = &config.token_error {
            return Err(DfsError::InvalidArgument(e.clone()));
        }
        let bearer = match &config.token {
            Some(t) => Some(
                MetadataValue::<Ascii>::try_from(format!("Bearer {t}")).map_err(|_| {
                    DfsError::InvalidArgument(
                        "user token: not a valid header value (it should look like tusk1.<hex>.<hex>)"
                            .to_string(),
                    )
                })?,
            ),
            None => None,
        };
        let interceptor = UserInterceptor {
            user,
            bearer,
            node_auth: config.node_auth.as_ref().map(|n| n.0.clone()),
        };
        let channel = endpoint(&config.namenode)?.connect_lazy();
        let nn = ClientProtocolClient::with_interceptor(channel, interceptor)
            .max_decoding_message_size(MAX_MESSAGE);
        let client_name = format!("DFSClient_{}_{}", rand::random::<u32>(), std::process::id());
        let home = format!("/user/{}", config.user);
        Ok(DfsClient {
            inner: Arc::new(Inner {
                config,
                client_name,
                home,
                nn,
                datanodes: Mutex::new(HashMap::new()),
                leases: Mutex::new(LeaseState::default()),
            }),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The user calls run as.
    pub fn user(&self) -> &str {
        &self.inner.config.user
    }

    /// The lease holder name, `DFSClient_<random>_<pid>`.
    pub fn client_name(&self) -> &str {
        &self.inner.client_name
    }

    /// `/user/<user>`: where relative paths resolve.
    pub fn home_dir(&self) -> &str {
        &self.inner.home
    }

    /// Normalizes `path` against the home directory.
    pub fn resolve(&self, path: &str) -> Result<String> {
        Ok(tpath::normalize(&self.inner.home, path)?)
    }

    /// Calls the namenode, retrying while it cannot be reached (connection
    /// refused, transport down) for up to `retry_timeout`. `path` names the
    /// subject in errors.
    pub(crate) async fn nn_call<T, F, Fut>(&self, path: &str, f: F) -> Result<T>
    where
        F: Fn(NnClient) -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + self.inner.config.retry_timeout;
        // One schedule for both waits: a namenode coming back from a
        // restart, and one shedding calls.
        let mut backoff = Backoff::new(deadline).capped(Duration::from_secs(1));
        loop {
            match f(self.inner.nn.clone()).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) if DfsError::is_unreachable_status(&s) => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(DfsError::Unreachable {
                            addr: format!("namenode {}", self.inner.config.namenode),
                            cause: s.message().to_string(),
                        });
                    };
                    tracing::debug!(namenode = %self.inner.config.namenode, cause = %s.message(), "namenode unreachable; retrying");
                    tokio::time::sleep(wait).await;
                }
                // Shed by a busy namenode before it ran the call (see
                // tusk_common::shed), so any call may be sent again: back
                // off with jitter, so that the shed clients do not all
                // come back at once (Hadoop: RetriableException, backoff).
                Err(s) if is_busy_status(&s) => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(DfsError::Rpc {
                            code: s.code(),
                            class: None,
                            msg: format!(
                                "{path}: namenode {} still busy after {:?}: {}",
                                self.inner.config.namenode,
                                self.inner.config.retry_timeout,
                                s.message()
                            ),
                        });
                    };
                    tracing::debug!(namenode = %self.inner.config.namenode, cause = %s.message(), "namenode busy; backing off");
                    tokio::time::sleep(wait).await;
                }
                Err(s) => return Err(DfsError::from_status(s, path)),
            }
        }
    }

    /// A (cached, lazily connected) client for a datanode's data address.
    pub(crate) fn datanode(&self, addr: &str) -> Result<DnClient> {
        let mut map = self.inner.datanodes.lock();
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let ch = endpoint(addr)?.connect_lazy();
        let c = DataTransferClient::new(ch).max_decoding_message_size(MAX_MESSAGE);
        map.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    // ------------------------------------------------------------ namespace

    /// Creates a directory (`parents`: like `mkdir -p`). `permission` is
    /// used as given (apply a umask before).
    pub async fn mkdirs(&self, path: &str, permission: u32, parents: bool) -> Result<()> {
        let p = self.resolve(path)?;
        let req = pb::MkdirsRequest {
            path: p.clone(),
            permission,
            create_parent: parents,
        };
        self.nn_call(&p, |mut c| {
            let r = req.clone();
            async move { c.mkdirs(r).await }
        })
        .await?;
        Ok(())
    }

    /// The status of a path, `None` when it does not exist.
    pub async fn get_file_info(&self, path: &str) -> Result<Option<FileStatus>> {
        let p = self.resolve(path)?;
        let req = pb::GetFileInfoRequest { path: p.clone() };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.get_file_info(r).await }
            })
            .await?;
        Ok(r.status.map(|s| convert::file_status(s, p)))
    }

    /// The status of a path; `FileNotFound` when it does not exist.
    pub async fn status(&self, path: &str) -> Result<FileStatus> {
        let p = self.resolve(path)?;
        self.get_file_info(&p)
            .await?
            .ok_or(DfsError::FileNotFound { path: p })
    }

    /// True when the path exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.get_file_info(path).await?.is_some())
    }

    /// One page of a listing: entries strictly after `start_after` (`""` =
    /// from the start). For a file, the page is the file itself.
    pub async fn list_page(&self, path: &str, start_after: &str) -> Result<ListPage> {
        let p = self.resolve(path)?;
        let req = pb::GetListingRequest {
            path: p.clone(),
            start_after: start_after.to_string(),
            limit: 0,
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.get_listing(r).await }
            })
            .await?;
        if r.is_file {
            let entries = r
                .entries
                .into_iter()
                .take(1)
                .map(|s| convert::file_status(s, p.clone()))
                .collect();
            return Ok(ListPage {
                entries,
                remaining: 0,
            });
        }
        let remaining = r.remaining;
        let entries = r
            .entries
            .into_iter()
            .map(|s| {
                let full = tpath::join(&p, &s.name);
                convert::file_status(s, full)
            })
            .collect();
        Ok(ListPage { entries, remaining })
    }

    /// Every entry of a directory (all pages, fetched as the stream is
    /// consumed), or the file itself.
    pub fn list_stream(
        &self,
        path: &str,
    ) -> impl Stream<Item = Result<FileStatus>> + Send + 'static {
        let client = self.clone();
        let path = path.to_string();
        futures::stream::try_unfold(Some(String::new()), move |after| {
            let client = client.clone();
            let path = path.clone();
            async move {
                let Some(after) = after else {
                    return Ok::<_, DfsError>(None);
                };
                let page = client.list_page(&path, &after).await?;
                let next = match (page.has_more(), page.entries.last()) {
                    (true, Some(last)) => Some(last.name.clone()),
                    _ => None,
                };
                Ok(Some((
                    futures::stream::iter(page.entries.into_iter().map(Ok)),
                    next,
                )))
            }
        })
        .try_flatten()
    }

    /// Every entry of a directory (all pages), or the file itself. See
    /// [`DfsClient::list_stream`] for huge directories.
    pub async fn list(&self, path: &str) -> Result<Vec<FileStatus>> {
        self.list_stream(path).try_collect().await
    }

    /// HDFS rename: into `dst` when it is a directory; `overwrite` replaces
    /// an existing file.
    pub async fn rename(&self, src: &str, dst: &str, overwrite: bool) -> Result<()> {
        let s = self.resolve(src)?;
        let d = self.resolve(dst)?;
        let req = pb::RenameRequest {
            src: s.clone(),
            dst: d,
            overwrite,
        };
        self.nn_call(&s, |mut c| {
            let r = req.clone();
            async move { c.rename(r).await }
        })
        .await?;
        Ok(())
    }

    /// Deletes a path; `false` when it did not exist. A non-empty directory
    /// needs `recursive`.
    pub async fn delete(&self, path: &str, recursive: bool) -> Result<bool> {
        let p = self.resolve(path)?;
        let req = pb::DeleteRequest {
            path: p.clone(),
            recursive,
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.delete(r).await }
            })
            .await?;
        Ok(r.deleted)
    }

    /// Sets the mode bits.
    pub async fn set_permission(&self, path: &str, permission: u32) -> Result<()> {
        let p = self.resolve(path)?;
        let req = pb::SetPermissionRequest {
            path: p.clone(),
            permission,
        };
        self.nn_call(&p, |mut c| {
            let r = req.clone();
            async move { c.set_permission(r).await }
        })
        .await?;
        Ok(())
    }

    /// Sets owner and/or group (`""` = unchanged, as in the protocol).
    pub async fn set_owner(&self, path: &str, owner: &str, group: &str) -> Result<()> {
        let p = self.resolve(path)?;
        let req = pb::SetOwnerRequest {
            path: p.clone(),
            owner: owner.to_string(),
            group: group.to_string(),
        };
        self.nn_call(&p, |mut c| {
            let r = req.clone();
            async move { c.set_owner(r).await }
        })
        .await?;
        Ok(())
    }

    /// Sets a file's replication; `false` when the path is a directory.
    pub async fn set_replication(&self, path: &str, replication: u32) -> Result<bool> {
        let p = self.resolve(path)?;
        let req = pb::SetReplicationRequest {
            path: p.clone(),
            replication,
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.set_replication(r).await }
            })
            .await?;
        Ok(r.is_file)
    }

    /// HDFS `setQuota` (superuser only): `ns_quota` limits the names
    /// (files + directories, the directory itself included) under `path`,
    /// `space_quota` the bytes of all replicas. Each value: the new quota,
    /// [`QUOTA_RESET`] to clear it, or [`QUOTA_DONT_SET`] to leave it.
    pub async fn set_quota(&self, path: &str, ns_quota: i64, space_quota: i64) -> Result<()> {
        let p = self.resolve(path)?;
        let req = pb::SetQuotaRequest {
            path: p.clone(),
            ns_quota,
            space_quota,
        };
        self.nn_call(&p, |mut c| {
            let r = req.clone();
            async move { c.set_quota(r).await }
        })
        .await?;
        Ok(())
    }

    /// Sets modification and/or access time (ms since the epoch; `None` =
    /// unchanged).
    pub async fn set_times(
        &self,
        path: &str,
        mtime_ms: Option<u64>,
        atime_ms: Option<u64>,
    ) -> Result<()> {
        let p = self.resolve(path)?;
        let req = pb::SetTimesRequest {
            path: p.clone(),
            mtime_ms: mtime_ms.map(|v| v as i64).unwrap_or(-1),
            atime_ms: atime_ms.map(|v| v as i64).unwrap_or(-1),
        };
        self.nn_call(&p, |mut c| {
            let r = req.clone();
            async move { c.set_times(r).await }
        })
        .await?;
        Ok(())
    }

    /// Sizes and counts below a path.
    pub async fn content_summary(&self, path: &str) -> Result<ContentSummary> {
        let p = self.resolve(path)?;
        let req = pb::GetContentSummaryRequest { path: p.clone() };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.get_content_summary(r).await }
            })
            .await?;
        Ok(convert::content_summary(r))
    }

    /// The SHA-256 recorded when the file was closed.
    pub async fn file_checksum(&self, path: &str) -> Result<FileChecksum> {
        let p = self.resolve(path)?;
        let req = pb::GetFileChecksumRequest { path: p.clone() };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.get_file_checksum(r).await }
            })
            .await?;
        Ok(convert::file_checksum(r))
    }

    /// Cluster capacity, usage and health.
    pub async fn fs_stats(&self) -> Result<FsStats> {
        let r = self
            .nn_call("/", |mut c| async move {
                c.get_fs_stats(pb::GetFsStatsRequest {}).await
            })
            .await?;
        Ok(convert::fs_stats(r))
    }

    /// The namenode's defaults for new files.
    pub async fn server_defaults(&self) -> Result<ServerDefaults> {
        let r = self
            .nn_call("/", |mut c| async move {
                c.get_server_defaults(pb::GetServerDefaultsRequest {}).await
            })
            .await?;
        Ok(convert::server_defaults(r))
    }

    /// Every datanode the namenode knows, live or dead.
    pub async fn datanode_report(&self) -> Result<Vec<DatanodeReport>> {
        let r = self
            .nn_call("/", |mut c| async move {
                c.datanode_report(pb::DatanodeReportRequest {}).await
            })
            .await?;
        Ok(r.datanodes
            .into_iter()
            .map(convert::datanode_report)
            .collect())
    }

    // ------------------------------------------------------------ admin

    /// Asks (`Get`, anyone) or changes (superuser) safe mode; returns
    /// whether the namenode is in safe mode afterwards.
    pub async fn set_safe_mode(&self, action: SafeModeAction) -> Result<bool> {
        let req = pb::SetSafeModeRequest {
            action: convert::safe_mode_action_to_pb(action) as i32,
        };
        let r = self
            .nn_call(
                "safemode",
                |mut c| async move { c.set_safe_mode(req).await },
            )
            .await?;
        Ok(r.safe_mode)
    }

    /// The namenode's balancer: `Status` (anyone) reports the current or
    /// last run; `Start` (superuser) starts one that moves replicas until
    /// every live datanode's use is within `threshold` percentage points of
    /// the mean (0 → 10), or re-thresholds the running one; `Stop` ends it.
    pub async fn balancer(&self, action: BalancerAction, threshold: f64) -> Result<BalancerStatus> {
        let req = pb::BalancerRequest {
            action: convert::balancer_action_to_pb(action) as i32,
            threshold,
            max_moves_per_node: 0,
        };
        let r = self
            .nn_call("balancer", |mut c| {
                let r = req;
                async move { c.balancer(r).await }
            })
            .await?;
        Ok(convert::balancer_status(r.status.unwrap_or_default()))
    }

    /// Starts decommissioning the datanodes `node` names (uuid, data
    /// address or host); returns them. Superuser only.
    pub async fn decommission(&self, node: &str) -> Result<Vec<DatanodeInfo>> {
        let req = pb::DecommissionRequest { node: node.into() };
        let r = self
            .nn_call(node, |mut c| {
                let r = req.clone();
                async move { c.decommission(r).await }
            })
            .await?;
        Ok(r.nodes.into_iter().map(convert::datanode_info).collect())
    }

    /// Returns decommissioning/decommissioned datanodes to service.
    /// Superuser only.
    pub async fn recommission(&self, node: &str) -> Result<Vec<DatanodeInfo>> {
        let req = pb::RecommissionRequest { node: node.into() };
        let r = self
            .nn_call(node, |mut c| {
                let r = req.clone();
                async move { c.recommission(r).await }
            })
            .await?;
        Ok(r.nodes.into_iter().map(convert::datanode_info).collect())
    }

    /// The health of every block below `path` (`all_files`: list healthy
    /// files too) with HDFS's summary. Superuser only.
    pub async fn fsck(&self, path: &str, all_files: bool) -> Result<FsckReport> {
        let p = self.resolve(path)?;
        let req = pb::FsckRequest {
            path: p.clone(),
            all_files,
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.fsck(r).await }
            })
            .await?;
        Ok(convert::fsck_report(r))
    }

    /// Every block of a file with its replicas (sorted by distance to this
    /// client).
    pub async fn block_locations(&self, path: &str) -> Result<Vec<LocatedBlock>> {
        Ok(self.get_block_locations(path, 0, 0).await?.blocks)
    }

    /// The blocks of `path` overlapping `[offset, offset+length)` (`length`
    /// 0 = to the end), replicas sorted by distance to this client, with the
    /// file's length.
    pub async fn get_block_locations(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<BlockLocations> {
        let p = self.resolve(path)?;
        let req = pb::GetBlockLocationsRequest {
            path: p.clone(),
            offset,
            length,
            client_host: self.inner.config.client_host.clone().unwrap_or_default(),
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.get_block_locations(r).await }
            })
            .await?;
        Ok(convert::block_locations(r))
    }

    /// Tells the namenode that these replicas are corrupt.
    pub async fn report_bad_blocks(&self, bad: &[(Block, String)]) -> Result<()> {
        let req = pb::ReportBadBlocksRequest {
            blocks: bad.iter().map(|(b, _)| convert::block_to_pb(b)).collect(),
            datanode_uuids: bad.iter().map(|(_, u)| u.clone()).collect(),
        };
        self.nn_call("/", |mut c| {
            let r = req.clone();
            async move { c.report_bad_blocks(r).await }
        })
        .await?;
        Ok(())
    }

    /// Renews every lease this client holds.
    /// Asks the namenode to recover the lease of `path` (HDFS's
    /// `recoverLease`): true when the file is closed, false when recovery
    /// started or is running (ask again). Refused while the writer's lease
    /// is within its soft limit.
    pub async fn recover_lease(&self, path: &str) -> Result<bool> {
        let p = self.resolve(path)?;
        let req = pb::RecoverLeaseRequest {
            path: p.clone(),
            client_name: self.inner.client_name.clone(),
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.recover_lease(r).await }
            })
            .await?;
        Ok(r.closed)
    }

    pub async fn renew_lease(&self) -> Result<()> {
        let req = pb::RenewLeaseRequest {
            client_name: self.inner.client_name.clone(),
        };
        self.nn_call("/", |mut c| {
            let r = req.clone();
            async move { c.renew_lease(r).await }
        })
        .await?;
        Ok(())
    }

    // ------------------------------------------------------------ trash

    /// `/user/<user>/.Trash`.
    pub fn trash_root(&self) -> String {
        format!("{}/.Trash", self.inner.home)
    }

    /// Moves `path` to `/user/<user>/.Trash/Current/<path>` (parents made
    /// with mode 0700; a name already there gets the time in ms appended, as
    /// Hadoop does) and returns where it went. A path already inside a
    /// `.Trash` directory is deleted for real (`Ok(None)`).
    pub async fn move_to_trash(&self, path: &str) -> Result<Option<String>> {
        let p = self.resolve(path)?;
        let st = self.status(&p).await?;
        if tpath::components(&p).any(|c| c == ".Trash") {
            self.delete(&p, true).await?;
            return Ok(None);
        }
        let root = self.trash_root();
        if tpath::is_under(&root, &p) {
            return Err(DfsError::InvalidArgument(format!(
                "cannot move \"{p}\" to the trash, as it contains the trash"
            )));
        }
        let current = format!("{root}/Current");
        let mut target = format!("{current}{p}");
        if let Some(parent) = tpath::parent(&target) {
            match self.get_file_info(parent).await? {
                Some(s) if s.is_dir() => {}
                Some(_) => {
                    return Err(DfsError::NotDirectory {
                        path: parent.to_string(),
                    })
                }
                None => self.mkdirs(parent, 0o700, true).await?,
            }
        }
        if self.exists(&target).await? {
            target = format!("{target}{}", tusk_common::sys::now_ms());
        }
        self.rename(&p, &target, false).await?;
        tracing::debug!(path = %p, trash = %target, dir = st.is_dir(), "moved to trash");
        Ok(Some(target))
    }

    /// `hadoop fs -expunge`: in the caller's trash, deletes the checkpoints
    /// older than the namenode's trash interval, then checkpoints `Current`
    /// (renames it to the time, see [`tusk_common::trash`]). With
    /// `immediate` (`-expunge -immediate`), checkpoints first and then
    /// deletes every checkpoint. Returns what changed, in order.
    pub async fn expunge(&self, immediate: bool) -> Result<Vec<TrashChange>> {
        use tusk_common::trash::{self, Entry};
        let root = self.trash_root();
        let interval = self.server_defaults().await?.trash_interval.as_millis() as u64;
        let now = tusk_common::sys::now_ms();
        let mut out = Vec::new();
        let names = match self.list(&root).await {
            Ok(v) => v,
            Err(DfsError::FileNotFound { .. }) => return Ok(out),
            Err(e) => return Err(e),
        };
        let doomed = |name: &str, all: bool| match trash::classify(name, now, interval) {
            Entry::Expired => true,
            Entry::Kept => all,
            Entry::Current | Entry::Unknown => false,
        };
        if !immediate {
            for st in &names {
                if doomed(&st.name, false) {
                    self.delete(&st.path, true).await?;
                    out.push(TrashChange::Deleted(st.path.clone()));
                }
            }
        }
        if names.iter().any(|st| st.name == trash::CURRENT) {
            let from = format!("{root}/{}", trash::CURRENT);
            let mut attempt = 0;
            let to = loop {
                let to = format!("{root}/{}", trash::checkpoint_name(now, attempt));
                if !self.exists(&to).await? {
                    break to;
                }
                attempt += 1;
            };
            self.rename(&from, &to, false).await?;
            out.push(TrashChange::Checkpointed(to));
        }
        if immediate {
            for st in self.list(&root).await? {
                if doomed(&st.name, true) {
                    self.delete(&st.path, true).await?;
                    out.push(TrashChange::Deleted(st.path.clone()));
                }
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ helpers

    /// Walks `path` recursively (directories before their contents), calling
    /// `f` on every entry including `path` itself.
    pub async fn walk(&self, path: &str) -> Result<Vec<FileStatus>> {
        let root = self.status(path).await?;
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(st) = stack.pop() {
            let is_dir = st.is_dir();
            let p = st.path.clone();
            out.push(st);
            if is_dir {
                let mut children = self.list(&p).await?;
                children.reverse();
                stack.extend(children);
            }
        }
        Ok(out)
    }
}

impl std::fmt::Debug for DfsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsClient")
            .field("namenode", &self.inner.config.namenode)
            .field("user", &self.inner.config.user)
            .field("client_name", &self.inner.client_name)
            .finish()
    }
}
