//! Target `webhdfs`: the query-string parser, URL path decoding, and the
//! namenode's op dispatch (its real axum router over an in-process
//! namesystem).
//!
//! Invariants: nothing panics; every parse error is a 400 with a message;
//! percent-encoding then decoding gives back any string; a valid path
//! survives the URL round trip; the router answers every request with a
//! status below 500 and a `RemoteException` body for errors.

use crate::gen;
use crate::rpc::InProcessNamenode;
use crate::Target;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use tower::ServiceExt;
use tusk_common::webhdfs::{
    decode_component, encode_path, encode_query_value, fs_path, Params, RemoteException, PREFIX,
};

const NAMES: &[&str] = &[
    "op",
    "OP",
    "Op",
    "offset",
    "length",
    "permission",
    "user.name",
    "doas",
    "recursive",
    "destination",
    "buffersize",
    "replication",
    "blocksize",
    "overwrite",
    "modificationtime",
    "accesstime",
    "owner",
    "group",
    "noredirect",
    "createparent",
    "startAfter",
    "newlength",
    "unknown",
];

const OPS: &[&str] = &[
    "GETFILESTATUS",
    "LISTSTATUS",
    "LISTSTATUS_BATCH",
    "GETCONTENTSUMMARY",
    "GETQUOTAUSAGE",
    "GETFILECHECKSUM",
    "GETHOMEDIRECTORY",
    "GETSERVERDEFAULTS",
    "OPEN",
    "MKDIRS",
    "CREATE",
    "RENAME",
    "SETPERMISSION",
    "SETOWNER",
    "SETREPLICATION",
    "SETTIMES",
    "APPEND",
    "CONCAT",
    "TRUNCATE",
    "DELETE",
    "CHECKACCESS",
    "getfilestatus",
    "NOSUCHOP",
    "",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "99999999999999999999999",
    "755",
    "1777",
    "2000",
    "8",
    "true",
    "TRUE",
    "false",
    "maybe",
    "root",
    "nobody",
    "/a/b",
    "/",
    "%",
    "%2",
    "%zz",
    "%C3%A9",
    "%FF%FE",
    "%00",
    "+",
    "a+b",
    "=",
];

pub struct WebHdfsTarget {
    nn: InProcessNamenode,
}

impl WebHdfsTarget {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            nn: InProcessNamenode::new()?,
        })
    }
}

#[derive(Debug)]
pub struct WebHdfsInput {
    pub query: String,
    pub raw: String,
    pub url_path: String,
    /// Sent through the namenode's router when set.
    pub method: Option<&'static str>,
}

fn query(rng: &mut StdRng) -> String {
    let mut q = String::new();
    for _ in 0..rng.gen_range(0..6) {
        if rng.gen_bool(0.1) {
            q.push_str(&gen::random_string(rng, 16));
        } else {
            let name = NAMES.choose(rng).unwrap();
            q.push_str(name);
            if rng.gen_bool(0.95) {
                q.push('=');
            }
            let value = if name.eq_ignore_ascii_case("op") && rng.gen_bool(0.8) {
                OPS.choose(rng).unwrap().to_string()
            } else if rng.gen_bool(0.2) {
                encode_query_value(&gen::path_like(rng))
            } else {
                VALUES.choose(rng).unwrap().to_string()
            };
            q.push_str(&value);
        }
        q.push(if rng.gen_bool(0.95) { '&' } else { ';' });
    }
    q
}

impl Target for WebHdfsTarget {
    type Input = WebHdfsInput;

    fn generate(&mut self, rng: &mut StdRng) -> WebHdfsInput {
        let raw = if rng.gen_bool(0.5) {
            gen::random_string(rng, 32)
        } else {
            gen::path_like(rng)
        };
        let url_path = match rng.gen_range(0..4) {
            0 => format!("{PREFIX}{}", encode_path(&gen::valid_path(rng))),
            1 => format!("{PREFIX}{}", encode_path(&gen::path_like(rng))),
            2 => format!("{PREFIX}{}", gen::path_like(rng)),
            _ => gen::random_string(rng, 24),
        };
        let method = if rng.gen_bool(0.5) {
            Some(
                *["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]
                    .choose(rng)
                    .unwrap(),
            )
        } else {
            None
        };
        WebHdfsInput {
            query: query(rng),
            raw,
            url_path,
            method,
        }
    }

    fn check(&mut self, i: &WebHdfsInput) -> Result<(), String> {
        let is_400 = |e: &RemoteException, what: &str| -> Result<(), String> {
            if e.status != 400 || e.message.is_empty() {
                return Err(format!("{what}: error {} {:?}", e.status, e.message));
            }
            Ok(())
        };
        match Params::parse(&i.query) {
            Ok(p) => {
                for name in NAMES {
                    let _ = p.get(name);
                    for r in [
                        p.i64(name).map(|_| ()),
                        p.u64(name).map(|_| ()),
                        p.bool(name).map(|_| ()),
                        p.permission(name).map(|_| ()),
                        p.op().map(|_| ()),
                    ] {
                        if let Err(e) = r {
                            is_400(&e, name)?;
                        }
                    }
                }
                let _ = p.user();
            }
            Err(e) => is_400(&e, "parse")?,
        }
        for (encoded, plus) in [
            (encode_query_value(&i.raw), true),
            (encode_path(&i.raw), false),
        ] {
            match decode_component(&encoded, plus) {
                Ok(d) if d == i.raw => {}
                other => return Err(format!("round trip of {encoded:?}: {other:?}")),
            }
        }
        let _ = decode_component(&i.raw, true);
        match fs_path(&i.url_path) {
            Ok(p) => {
                tusk_common::path::validate(&p)
                    .map_err(|e| format!("fs_path gave an invalid path: {e}"))?;
                if fs_path(&format!("{PREFIX}{}", encode_path(&p))).as_deref() != Ok(p.as_str()) {
                    return Err(format!("fs_path round trip of {p:?}"));
                }
            }
            Err(e) => is_400(&e, "fs_path")?,
        }
        if let Some(method) = i.method {
            self.dispatch(method, i)?;
        }
        Ok(())
    }
}

impl WebHdfsTarget {
    fn dispatch(&mut self, method: &str, i: &WebHdfsInput) -> Result<(), String> {
        let uri = format!("{}?{}", i.url_path, i.query);
        let Ok(req) = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
            .uri(&uri)
            .extension(ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                40000,
            ))))
            .body(Body::empty())
        else {
            // Not a URI hyper would have accepted: nothing reaches the router.
            return Ok(());
        };
        let router = tusk_namenode::webhdfs::router(self.nn.state.clone());
        let (status, body) = self.nn.rt.block_on(async move {
            let resp = router.oneshot(req).await.expect("router is infallible");
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            (status, body)
        });
        if status.is_server_error() {
            return Err(format!(
                "{method} {uri}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        // HEAD answers carry no body.
        if status.is_client_error()
            && method != "HEAD"
            && status.as_u16() != 404
            && status.as_u16() != 405
            && !body.starts_with(b"{\"RemoteException\"")
        {
            return Err(format!(
                "{method} {uri}: {status} without a RemoteException: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }
}
