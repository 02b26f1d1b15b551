//! WebHDFS REST API on the namenode's HTTP port (`/webhdfs/v1/<path>?op=…`),
//! as Hadoop's `NamenodeWebHdfsMethods`: metadata operations answered here,
//! data operations (CREATE, APPEND, OPEN, GETFILECHECKSUM) redirected to a
//! datanode (307, see [`redirect`]).
//!
//! # Layout
//! - this file: the routes, the table of every Hadoop WebHDFS operation
//!   (its HTTP method and whether Tusk serves it), request checks (method,
//!   user, declared body size) and the one [`NnError`] → `RemoteException`
//!   mapping.
//! - [`ops`]: each operation over [`FsNamesystem`](crate::fsn::FsNamesystem)
//!   (reads under the read lock, mutations through
//!   [`NamenodeState::mutate`], so they are durable before the answer).
//! - [`redirect`]: which datanode serves a data operation, and its URL.
//! - [`json`]: the JSON bodies with Hadoop's field names (`JsonUtil`).
//!
//! Locks are taken only around synchronous namesystem calls; a response is
//! written after the lock is released, so a slow client holds no lock.

mod json;
mod ops;
mod redirect;

use crate::error::NnError;
use crate::permission::Caller;
use crate::rpc::NamenodeState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tusk_common::config::AuthMode;
use tusk_common::webhdfs::{fs_path, Params, RemoteException};

/// The user of a request that names none: Hadoop's static web user in simple
/// mode (`hadoop.http.staticuser.user`).
const DEFAULT_USER: &str = "dr.who";

/// The largest request body the namenode accepts on a metadata operation. It
/// never needs one: file data goes to the datanode after the redirect (the
/// body of a CREATE/APPEND sent to the namenode is ignored, as in Hadoop).
const MAX_BODY: u64 = 64 << 10;

pub fn router(state: Arc<NamenodeState>) -> Router {
    Router::new()
        .route("/webhdfs/v1", any(handle))
        .route("/webhdfs/v1/", any(handle))
        .route("/webhdfs/v1/{*path}", any(handle))
        .with_state(state)
}

/// The HTTP methods WebHDFS operations use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Put,
    Post,
    Delete,
}

impl Verb {
    fn of(m: &Method) -> Option<Verb> {
        match *m {
            Method::GET | Method::HEAD => Some(Verb::Get),
            Method::PUT => Some(Verb::Put),
            Method::POST => Some(Verb::Post),
            Method::DELETE => Some(Verb::Delete),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Put => "PUT",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// Why Tusk does not serve an operation (None: it does).
type Unsupported = Option<&'static str>;

const NO_ACL: Unsupported = Some("Tusk has no ACLs (permissions are owner/group/mode only)");
const NO_XATTR: Unsupported = Some("Tusk has no extended attributes");
const NO_SNAPSHOT: Unsupported = Some("Tusk has no snapshots");
const NO_POLICY: Unsupported = Some("Tusk has no storage policies (every replica is on DISK)");
const NO_EC: Unsupported = Some("Tusk has no erasure coding (files are replicated)");
const NO_TOKEN: Unsupported = Some(
    "Tusk has no delegation token operations: user tokens are made by an administrator (dfs admin token create USER) and passed as delegation=TOKEN",
);
const NO_SYMLINK: Unsupported = Some("Tusk has no symbolic links");
const NO_QUOTA: Unsupported =
    Some("Tusk has no quotas by storage type (every replica is on DISK): use SETQUOTA");
const NO_NN_OP: Unsupported = Some("the Tusk namenode has no such operation");

/// Every operation of Hadoop's WebHDFS (3.3): name, method, support.
const OPS: &[(&str, Verb, Unsupported)] = &[
    ("OPEN", Verb::Get, None),
    ("GETFILESTATUS", Verb::Get, None),
    ("LISTSTATUS", Verb::Get, None),
    ("LISTSTATUS_BATCH", Verb::Get, None),
    ("GETCONTENTSUMMARY", Verb::Get, None),
    ("GETQUOTAUSAGE", Verb::Get, None),
    ("GETFILECHECKSUM", Verb::Get, None),
    ("GETHOMEDIRECTORY", Verb::Get, None),
    ("GETTRASHROOT", Verb::Get, None),
    ("GETSERVERDEFAULTS", Verb::Get, None),
    ("GETSTATUS", Verb::Get, None),
    ("GETFILEBLOCKLOCATIONS", Verb::Get, None),
    ("CHECKACCESS", Verb::Get, None),
    (
        "GET_BLOCK_LOCATIONS",
        Verb::Get,
        Some("use GETFILEBLOCKLOCATIONS"),
    ),
    ("GETDELEGATIONTOKEN", Verb::Get, NO_TOKEN),
    ("GETXATTRS", Verb::Get, NO_XATTR),
    ("LISTXATTRS", Verb::Get, NO_XATTR),
    ("GETACLSTATUS", Verb::Get, NO_ACL),
    ("GETALLSTORAGEPOLICY", Verb::Get, NO_POLICY),
    ("GETSTORAGEPOLICY", Verb::Get, NO_POLICY),
    ("GETSNAPSHOTDIFF", Verb::Get, NO_SNAPSHOT),
    ("GETSNAPSHOTDIFFLISTING", Verb::Get, NO_SNAPSHOT),
    ("GETSNAPSHOTTABLEDIRECTORYLIST", Verb::Get, NO_SNAPSHOT),
    ("GETSNAPSHOTLIST", Verb::Get, NO_SNAPSHOT),
    ("GETECPOLICY", Verb::Get, NO_EC),
    ("GETECPOLICIES", Verb::Get, NO_EC),
    ("GETECCODECS", Verb::Get, NO_EC),
    ("GETLINKTARGET", Verb::Get, NO_SYMLINK),
    ("GETFILELINKSTATUS", Verb::Get, NO_SYMLINK),
    ("CREATE", Verb::Put, None),
    ("MKDIRS", Verb::Put, None),
    ("RENAME", Verb::Put, None),
    ("SETREPLICATION", Verb::Put, None),
    ("SETOWNER", Verb::Put, None),
    ("SETPERMISSION", Verb::Put, None),
    ("SETTIMES", Verb::Put, None),
    ("CREATESYMLINK", Verb::Put, NO_SYMLINK),
    ("RENEWDELEGATIONTOKEN", Verb::Put, NO_TOKEN),
    ("CANCELDELEGATIONTOKEN", Verb::Put, NO_TOKEN),
    ("MODIFYACLENTRIES", Verb::Put, NO_ACL),
    ("REMOVEACLENTRIES", Verb::Put, NO_ACL),
    ("REMOVEDEFAULTACL", Verb::Put, NO_ACL),
    ("REMOVEACL", Verb::Put, NO_ACL),
    ("SETACL", Verb::Put, NO_ACL),
    ("ALLOWSNAPSHOT", Verb::Put, NO_SNAPSHOT),
    ("DISALLOWSNAPSHOT", Verb::Put, NO_SNAPSHOT),
    ("CREATESNAPSHOT", Verb::Put, NO_SNAPSHOT),
    ("RENAMESNAPSHOT", Verb::Put, NO_SNAPSHOT),
    ("SETXATTR", Verb::Put, NO_XATTR),
    ("REMOVEXATTR", Verb::Put, NO_XATTR),
    ("SETSTORAGEPOLICY", Verb::Put, NO_POLICY),
    ("SATISFYSTORAGEPOLICY", Verb::Put, NO_POLICY),
    ("ENABLEECPOLICY", Verb::Put, NO_EC),
    ("DISABLEECPOLICY", Verb::Put, NO_EC),
    ("SETECPOLICY", Verb::Put, NO_EC),
    ("SETQUOTA", Verb::Put, None),
    ("SETQUOTABYSTORAGETYPE", Verb::Put, NO_QUOTA),
    ("APPEND", Verb::Post, None),
    ("CONCAT", Verb::Post, NO_NN_OP),
    ("TRUNCATE", Verb::Post, NO_NN_OP),
    ("UNSETSTORAGEPOLICY", Verb::Post, NO_POLICY),
    ("UNSETECPOLICY", Verb::Post, NO_EC),
    ("DELETE", Verb::Delete, None),
    ("DELETESNAPSHOT", Verb::Delete, NO_SNAPSHOT),
];

/// One request, checked: what every operation needs.
pub(crate) struct Ctx {
    pub s: Arc<NamenodeState>,
    /// The file system path (decoded, validated).
    pub path: String,
    pub params: Params,
    /// The effective user (`doas`, else `user.name`, else `dr.who`; with
    /// token authentication, the token's user).
    pub user: String,
    /// The verified user token of the request (token authentication only):
    /// redirects pass it on as `delegation=` so the datanode can check it.
    pub token: Option<String>,
    pub caller: Caller,
    /// The client's IP address ("" when the server does not pass it on):
    /// datanodes are chosen nearest to it.
    pub remote_host: String,
    /// The `Host` header, for naming the namenode in redirects when it is
    /// bound to a wildcard address.
    pub host_header: Option<String>,
}

/// Every WebHDFS answer or its error.
pub(crate) type WResult = Result<Response, RemoteException>;

/// The WebHDFS error for a namesystem error: its Hadoop class (the same as
/// over RPC, [`crate::convert::error_class`]) with Hadoop's HTTP status.
pub(crate) fn nn_error(e: NnError) -> RemoteException {
    let (_, class) = crate::convert::error_class(&e);
    RemoteException::from_class(class, e.to_string())
}

async fn handle(State(s): State<Arc<NamenodeState>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    match serve(s, req).await {
        Ok(r) => r,
        Err(e) => {
            // The path only: the query may hold a user token (delegation=).
            tracing::debug!(%method, path = uri.path(), error = %e, "WebHDFS request refused");
            e.into_response()
        }
    }
}

async fn serve(s: Arc<NamenodeState>, req: Request) -> WResult {
    let verb = Verb::of(req.method()).ok_or_else(|| {
        RemoteException::illegal_argument(format!(
            "HTTP method {} is not used by WebHDFS (GET, PUT, POST, DELETE)",
            req.method()
        ))
    })?;
    let params = Params::parse(req.uri().query().unwrap_or(""))?;
    let op = params.op()?;
    let (name, want, unsupported) = *OPS.iter().find(|(n, _, _)| *n == op).ok_or_else(|| {
        RemoteException::illegal_argument(format!(
            "Invalid value for webhdfs parameter \"op\": {op} is not a WebHDFS operation"
        ))
    })?;
    if want != verb {
        return Err(RemoteException::illegal_argument(format!(
            "Invalid value for webhdfs parameter \"op\": {name} is not a valid {} operation (it takes {})",
            verb.name(),
            want.name()
        )));
    }
    if let Some(why) = unsupported {
        return Err(RemoteException::unsupported(format!(
            "op={name} is not supported: {why}"
        )));
    }
    if !matches!(name, "CREATE" | "APPEND") {
        check_body(&req, name)?;
    }
    let path = fs_path(req.uri().path())?;
    let (user, token) = authenticate(&s, &params, req.headers())?;
    let caller = s.caller_for_user(&user);
    let remote_host = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(String::from);
    // The body is never read: drop it before the (possibly long) operation.
    drop(req);
    let ctx = Ctx {
        s,
        path,
        params,
        user,
        token,
        caller,
        remote_host,
        host_header,
    };
    ops::run(&ctx, name).await
}

/// Who a request acts as, and its verified user token.
///
/// Simple authentication: `doas`, else `user.name`, else `dr.who` (Hadoop
/// believes the name). Token authentication (`[security] authentication =
/// "token"`): the user of the token in `delegation=` or `Authorization:
/// Bearer`, checked with the cluster secret; no token, or a forged or
/// expired one, is a 401 `SecurityException` whatever `user.name` says;
/// `doas` naming someone else is a 403 (no proxy users).
fn authenticate(
    s: &NamenodeState,
    params: &Params,
    headers: &header::HeaderMap,
) -> Result<(String, Option<String>), RemoteException> {
    if s.auth == AuthMode::Simple {
        let user = match params.user() {
            Some(u) => valid_user(u)?.to_string(),
            None => DEFAULT_USER.to_string(),
        };
        return Ok((user, None));
    }
    let (user, token) = params.authenticate(headers, &s.secret)?;
    if let Some(doas) = params.get_nonempty("doas").filter(|d| *d != user) {
        return Err(RemoteException::from_class(
            "AccessControlException",
            format!("User: {user} is not allowed to impersonate {doas}"),
        ));
    }
    Ok((user, Some(token.to_string())))
}

/// Metadata operations carry no body: refuse a big declared one (413) rather
/// than leave it unread on the connection.
fn check_body(req: &Request, op: &str) -> Result<(), RemoteException> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY => Err(RemoteException::new(
            413,
            "IOException",
            "java.io.IOException",
            format!(
                "op={op}: request body of {n} bytes exceeds the namenode's limit of {MAX_BODY} bytes (file data goes to a datanode, after the redirect of CREATE or APPEND)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Hadoop's default user name pattern (`dfs.webhdfs.user.provider.user.pattern`):
/// `^[A-Za-z_][A-Za-z0-9._-]*[$]?$`.
fn valid_user(u: &str) -> Result<&str, RemoteException> {
    let b = u.as_bytes();
    let body = b.strip_suffix(b"$").unwrap_or(b);
    let ok = !body.is_empty()
        && (body[0].is_ascii_alphabetic() || body[0] == b'_')
        && body[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if ok {
        Ok(u)
    } else {
        Err(RemoteException::illegal_argument(format!(
            "Invalid value for webhdfs parameter \"user.name\": {u:?} does not match the pattern ^[A-Za-z_][A-Za-z0-9._-]*[$]?$"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_table_has_each_name_once() {
        let mut names: Vec<&str> = OPS.iter().map(|(n, _, _)| *n).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn user_names_follow_hadoops_pattern() {
        for ok in ["alice", "dr.who", "_svc", "a-b_c.d", "machine$"] {
            assert!(valid_user(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1abc", "a b", "a/b", "$", "ü", "a$b"] {
            assert_eq!(valid_user(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
