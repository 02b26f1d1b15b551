//! The WebHDFS data endpoints on the datanode's HTTP port: where the
//! namenode redirects CREATE, APPEND, OPEN and GETFILECHECKSUM
//! (`/webhdfs/v1/<path>?op=…&user.name=…`, see docs/ARCHITECTURE.md,
//! "WebHDFS data path").
//!
//! As in Hadoop, the datanode acts as a file-system client on behalf of the
//! user named by `user.name` (the namenode already resolved `doas`) — with
//! `[security] authentication = "token"`, of the user of the token in
//! `delegation=`, which it verifies and passes on to the namenode: each
//! request gets its own [`DfsClient`] connected to the namenode this datanode
//! is configured with. The `namenoderpcaddress` parameter is ignored: trusting
//! it would let a URL point the datanode at any server.
//!
//! # Layout
//! - here: routing, the caller, transfer slots, and the one mapping of
//!   [`DfsError`] to [`RemoteException`];
//! - `write.rs`: CREATE and APPEND, streaming the request body into a
//!   writer, with the idle time-out and the clean-up of failed uploads;
//! - `read.rs`: OPEN, streaming a verified reader into the response;
//! - `checksum.rs`: GETFILECHECKSUM, Hadoop's MD5-of-MD5-of-CRC32C from the
//!   replicas' stored CRCs.

mod checksum;
mod read;
mod write;

use crate::node::{Node, XceiverGuard};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tusk_client::{ClientConfig, DfsClient, DfsError};
use tusk_common::config::AuthMode;
use tusk_common::security::ClusterSecret;
use tusk_common::shed::Slots;
use tusk_common::webhdfs::{fs_path, Params, RemoteException, PREFIX};

/// How long a request body may stay silent (or a response go unread) before
/// the transfer is aborted and cleaned up (Hadoop: the 60 s socket time-out).
/// `[datanode] webhdfs_idle_timeout` sets it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// WebHDFS transfers a datanode serves at once; more are refused with 503
/// (Hadoop bounds them with `dfs.datanode.max.transfer.threads`). Each one
/// holds a namenode connection and up to a few MiB of buffers.
/// `[datanode] webhdfs_max_transfers` sets it.
pub const DEFAULT_MAX_TRANSFERS: usize = 256;

/// Applied to the `permission` of CREATE, as Hadoop's client applies
/// `fs.permissions.umask-mode` (default 022).
pub const UMASK: u32 = 0o022;

/// The user of a request that names none: Hadoop's static web user
/// (`hadoop.http.staticuser.user`) in simple-auth mode.
pub const STATIC_USER: &str = "dr.who";

/// What the WebHDFS endpoints need to know beyond the node's own state.
#[derive(Clone)]
pub struct Settings {
    /// The namenode's RPC address (from `[datanode] namenode`); it is also
    /// the authority of the `hdfs://` Location CREATE answers.
    pub namenode: String,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// One per transfer in progress (see [`DEFAULT_MAX_TRANSFERS`]).
    slots: Slots,
    /// `[security] authentication`: in `token` mode the user comes from a
    /// user token (`delegation=` or `Authorization: Bearer`), verified here
    /// with the cluster secret, and is passed on to the namenode.
    auth: AuthMode,
    /// The cluster secret (the datanode's one copy), set with the mode.
    secret: Option<Arc<ClusterSecret>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new(tusk_client::config::DEFAULT_NAMENODE.to_string())
    }
}

impl Settings {
    /// Settings with the defaults for the namenode at `namenode`.
    pub fn new(namenode: String) -> Settings {
        Settings {
            namenode,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            slots: Slots::new(DEFAULT_MAX_TRANSFERS),
            auth: AuthMode::Simple,
            secret: None,
        }
    }

    /// The client authentication mode and the secret user tokens are
    /// verified with.
    pub fn with_security(mut self, secret: Arc<ClusterSecret>, auth: AuthMode) -> Settings {
        self.secret = Some(secret);
        self.auth = auth;
        self
    }

    /// `[datanode] webhdfs_idle_timeout`.
    pub fn with_idle_timeout(mut self, d: Duration) -> Settings {
        self.idle_timeout = d;
        self
    }

    /// `[datanode] webhdfs_max_transfers` (at least 1).
    pub fn with_max_transfers(mut self, n: usize) -> Settings {
        self.slots = Slots::new(n);
        self
    }
}

/// One transfer in progress: a slot, and a count in the xceivers the
/// heartbeats report as load. Dropped when the transfer ends, including
/// from tasks that outlive the request (a body still being drained).
pub(crate) struct Transfer {
    _slot: OwnedSemaphorePermit,
    _xceiver: XceiverGuard,
}

impl Transfer {
    fn begin(node: &Arc<Node>) -> Result<Transfer, RemoteException> {
        let slot = node.webhdfs.slots.try_take().ok_or_else(|| {
            RemoteException::new(
                503,
                "RetriableException",
                "org.apache.hadoop.ipc.RetriableException",
                format!(
                    "datanode {} is serving its limit of {} WebHDFS transfers; retry later",
                    node.http_addr,
                    node.webhdfs.slots.max()
                ),
            )
        })?;
        Ok(Transfer {
            _slot: slot,
            _xceiver: node.xceiver(),
        })
    }
}

pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route(PREFIX, any(handle))
        .route(&format!("{PREFIX}/"), any(handle))
        .route(&format!("{PREFIX}/{{*path}}"), any(handle))
        .with_state(node)
}

async fn handle(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match dispatch(node, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            // The path only: the query may hold a user token (delegation=).
            tracing::debug!(path = uri.path(), error = %e, "WebHDFS request failed");
            e.into_response()
        }
    }
}

/// The operations served here, by method.
const PUT_OPS: &[&str] = &["CREATE"];
const POST_OPS: &[&str] = &["APPEND"];
const GET_OPS: &[&str] = &["OPEN", "GETFILECHECKSUM"];

async fn dispatch(
    node: Arc<Node>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RemoteException> {
    let params = Params::parse(uri.query().unwrap_or(""))?;
    let path = fs_path(uri.path())?;
    let op = params.op()?;
    let ops = match method {
        Method::PUT => PUT_OPS,
        Method::POST => POST_OPS,
        Method::GET => GET_OPS,
        Method::DELETE => &[][..],
        ref m => {
            return Err(RemoteException::unsupported(format!(
                "{m} is not a WebHDFS method"
            )))
        }
    };
    if !ops.contains(&op.as_str()) {
        // Hadoop's datanode: any other op is "not supported" there (the
        // namenode serves the metadata operations).
        return Err(RemoteException::unsupported(format!(
            "{op} is not supported by the datanode for {method} (path {path})"
        )));
    }
    let (user, token) = caller(&node, &params, headers)?;
    let transfer = Transfer::begin(&node)?;
    let client = connect(&node, &user, token).await?;
    match op.as_str() {
        "CREATE" => write::create(&node, client, path, &params, headers, body, transfer).await,
        "APPEND" => write::append(&node, client, path, headers, body, transfer).await,
        "OPEN" => read::open(&node, client, path, &params, transfer).await,
        _ => checksum::get_file_checksum(&node, client, path, transfer).await,
    }
}

/// Who a request acts as, and the user token to pass on to the namenode.
///
/// Simple authentication: `user.name` (the namenode resolved `doas` into it,
/// the contract), else [`STATIC_USER`]. Token authentication: the user of
/// the token in `delegation=` (what the namenode's redirect carries) or
/// `Authorization: Bearer`, verified with the cluster secret; `user.name`
/// alone is refused with 401, as a forged or expired token is.
fn caller(
    node: &Node,
    params: &Params,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), RemoteException> {
    let simple = || {
        params
            .get_nonempty("user.name")
            .unwrap_or(STATIC_USER)
            .to_string()
    };
    if node.webhdfs.auth == AuthMode::Simple {
        return Ok((simple(), None));
    }
    // `with_security` sets the mode and the secret together.
    let Some(secret) = &node.webhdfs.secret else {
        return Err(RemoteException::internal(
            "token authentication is on but the datanode has no cluster secret",
        ));
    };
    let (user, token) = params.authenticate(headers, secret)?;
    Ok((user, Some(token.to_string())))
}

/// A client of the configured namenode acting as `user` (proved by
/// `token` when the cluster needs one); placement and replica sorting see
/// this datanode's host as the writer/reader (so the first replica of a
/// CREATE is local, as in Hadoop).
async fn connect(
    node: &Node,
    user: &str,
    token: Option<String>,
) -> Result<DfsClient, RemoteException> {
    let mut cfg = ClientConfig::default()
        .with_namenode(node.webhdfs.namenode.clone())
        .with_user(user)
        .with_client_host(node.host.clone());
    // Not the environment's token: only the request's.
    cfg.token = token;
    DfsClient::connect(cfg).await.map_err(|e| remote(&e, "/"))
}

/// The one mapping of a client error to the WebHDFS error body, with the
/// Hadoop exception class a Hadoop datanode would have reported. `path`
/// names the subject where the error does not.
pub(crate) fn remote(e: &DfsError, path: &str) -> RemoteException {
    let ioe = |class: &str, qualified: &str, msg: String| {
        RemoteException::new(403, class, qualified, msg)
    };
    match e {
        DfsError::FileNotFound { path } => RemoteException::from_class(
            "FileNotFoundException",
            format!("File {path} does not exist."),
        ),
        DfsError::AlreadyExists { path } => RemoteException::from_class(
            "FileAlreadyExistsException",
            format!("{path} already exists"),
        ),
        DfsError::PermissionDenied { .. } => {
            RemoteException::from_class("AccessControlException", e.to_string())
        }
        DfsError::IsDirectory { path } => RemoteException::from_class(
            "FileNotFoundException",
            format!("Path is not a file: {path}"),
        ),
        DfsError::NotDirectory { path } => RemoteException::from_class(
            "ParentNotDirectoryException",
            format!("{path}: a parent is not a directory"),
        ),
        DfsError::NotEmpty { path } => RemoteException::from_class(
            "PathIsNotEmptyDirectoryException",
            format!("{path} is non empty"),
        ),
        DfsError::SafeMode { .. } => {
            RemoteException::from_class("SafeModeException", e.to_string())
        }
        DfsError::Lease { msg, .. } => {
            let class = if msg.to_ascii_lowercase().contains("expired") {
                "LeaseExpiredException"
            } else {
                "AlreadyBeingCreatedException"
            };
            RemoteException::from_class(class, e.to_string())
        }
        DfsError::QuotaExceeded { .. } => {
            RemoteException::from_class("QuotaExceededException", e.to_string())
        }
        DfsError::InvalidPath { .. } => {
            RemoteException::from_class("InvalidPathException", e.to_string())
        }
        DfsError::ChecksumError { .. } => ioe(
            "ChecksumException",
            "org.apache.hadoop.fs.ChecksumException",
            e.to_string(),
        ),
        DfsError::BlockUnreadable { .. } => ioe(
            "BlockMissingException",
            "org.apache.hadoop.hdfs.BlockMissingException",
            e.to_string(),
        ),
        DfsError::Unreachable { .. } => ioe(
            "ConnectException",
            "java.net.ConnectException",
            e.to_string(),
        ),
        DfsError::InvalidArgument(msg) => {
            RemoteException::illegal_argument(format!("{path}: {msg}"))
        }
        DfsError::Rpc { code, class, msg } => match (class, code) {
            (_, tonic::Code::Unauthenticated) => RemoteException::unauthorized(msg.clone()),
            (Some(c), _) => RemoteException::from_class(c, msg.clone()),
            (None, tonic::Code::InvalidArgument | tonic::Code::OutOfRange) => {
                RemoteException::illegal_argument(msg.clone())
            }
            (None, tonic::Code::Unimplemented) => RemoteException::unsupported(msg.clone()),
            (None, _) => ioe("IOException", "java.io.IOException", msg.clone()),
        },
        DfsError::Pipeline { .. } | DfsError::Protocol(_) | DfsError::Io { .. } => {
            ioe("IOException", "java.io.IOException", e.to_string())
        }
    }
}

/// A 403 `IOException`, Hadoop's answer to most failures of a transfer.
pub(crate) fn io_exception(msg: impl Into<String>) -> RemoteException {
    RemoteException::new(403, "IOException", "java.io.IOException", msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_map_to_hadoop_classes() {
        let nf = remote(&DfsError::FileNotFound { path: "/a".into() }, "/a");
        assert_eq!(
            (nf.status, nf.exception.as_str()),
            (404, "FileNotFoundException")
        );
        assert!(nf.message.contains("does not exist"), "{nf}");
        let ex = remote(&DfsError::AlreadyExists { path: "/a".into() }, "/a");
        assert_eq!(
            (ex.status, ex.java_class.as_str()),
            (403, "org.apache.hadoop.fs.FileAlreadyExistsException")
        );
        let dir = remote(&DfsError::IsDirectory { path: "/d".into() }, "/d");
        assert_eq!(
            (dir.status, dir.message.as_str()),
            (404, "Path is not a file: /d")
        );
        let denied = remote(
            &DfsError::PermissionDenied {
                msg: "user=bob".into(),
            },
            "/a",
        );
        assert_eq!(
            (denied.status, denied.exception.as_str()),
            (403, "AccessControlException")
        );
        let rpc = remote(
            &DfsError::Rpc {
                code: tonic::Code::FailedPrecondition,
                class: Some("org.apache.hadoop.hdfs.server.namenode.SafeModeException".into()),
                msg: "safe".into(),
            },
            "/a",
        );
        assert_eq!(
            (rpc.status, rpc.exception.as_str()),
            (403, "SafeModeException")
        );
        let bad = remote(&DfsError::InvalidArgument("bad".into()), "/a");
        assert_eq!(bad.status, 400);
    }

    /// Sends one HTTP/1.1 request and returns the response head and body.
    async fn http(addr: std::net::SocketAddr, method: &str, target: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Requests beyond the transfer limit are refused with 503 while the
    /// slots are taken; ops and methods the datanode does not serve are 400.
    #[tokio::test]
    async fn transfer_slots_bound_concurrency_and_other_ops_are_refused() {
        use std::future::IntoFuture as _;
        // A "namenode" that accepts connections and never answers, so the
        // first transfer holds its slot.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        let keep = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = silent.accept().await {
                conns.push(c);
            }
        });
        let (reports, _rx) = crate::link::ReportQueue::new();
        let node = Arc::new(
            Node::new(
                Arc::new(crate::store::MemStore::new(1 << 30)),
                "127.0.0.1".into(),
                "127.0.0.1:1".into(),
                "127.0.0.1:2".into(),
                64 << 10,
                1 << 20,
                reports,
            )
            .with_webhdfs(
                Settings::new(silent_addr.to_string())
                    .with_max_transfers(1)
                    .with_idle_timeout(Duration::from_secs(5)),
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(axum::serve(listener, router(node.clone())).into_future());
        let first = tokio::spawn(http(addr, "GET", "/webhdfs/v1/f?op=OPEN&user.name=u"));
        while node.xceivers() == 0 {
            assert!(!first.is_finished(), "the first request ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = http(addr, "GET", "/webhdfs/v1/f?op=GETFILECHECKSUM").await;
        assert!(second.starts_with("HTTP/1.1 503"), "{second}");
        assert!(second.contains("RetriableException"), "{second}");

        let wrong_method = http(addr, "PUT", "/webhdfs/v1/f?op=OPEN").await;
        assert!(wrong_method.starts_with("HTTP/1.1 400"), "{wrong_method}");
        assert!(
            wrong_method.contains("UnsupportedOperationException"),
            "{wrong_method}"
        );
        let metadata_op = http(addr, "GET", "/webhdfs/v1/f?op=GETFILESTATUS").await;
        assert!(metadata_op.starts_with("HTTP/1.1 400"), "{metadata_op}");
        let traversal = http(addr, "GET", "/webhdfs/v1/a/../b?op=OPEN").await;
        assert!(traversal.starts_with("HTTP/1.1 400"), "{traversal}");
        first.abort();
        server.abort();
        keep.abort();
    }
}
