//! What the namenode's and the datanodes' WebHDFS endpoints share: the query
//! parameter parser and the `RemoteException` error body with Hadoop's status
//! mapping.
//!
//! Parameter rules, as Hadoop's WebHDFS server applies them:
//! - names are case-insensitive (`op`, `OP`), values are percent-decoded
//!   (`+` is a space in a query string);
//! - a repeated parameter is tolerated, the first value wins;
//! - unknown parameters are ignored;
//! - booleans are `true`/`false` in any case;
//! - a value that does not parse is a 400 `IllegalArgumentException` naming the
//!   parameter.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

/// The path prefix of every WebHDFS URL.
pub const PREFIX: &str = "/webhdfs/v1";

/// Decoded query parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// (lower-cased name, decoded value), in request order.
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string (without the `?`).
    pub fn parse(query: &str) -> Result<Params, RemoteException> {
        let mut pairs = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = decode_component(k, true)
                .map_err(|e| RemoteException::illegal_argument(format!("query parameter: {e}")))?;
            let v = decode_component(v, true).map_err(|e| {
                RemoteException::illegal_argument(format!("query parameter {k}: {e}"))
            })?;
            pairs.push((k.to_ascii_lowercase(), v));
        }
        Ok(Params { pairs })
    }

    /// The first value of `name` (case-insensitive), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, treating an empty value as absent (Hadoop
    /// uses the parameter's default for `name=`).
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The operation, upper-cased. Missing: 400.
    pub fn op(&self) -> Result<String, RemoteException> {
        self.get_nonempty("op")
            .map(|s| s.to_ascii_uppercase())
            .ok_or_else(|| {
                RemoteException::illegal_argument(
                    "Invalid value for webhdfs parameter \"op\": op is missing",
                )
            })
    }

    /// A boolean parameter (`true`/`false`, any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, RemoteException> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(bad_value(name, v, "expected true or false")),
        }
    }

    /// A boolean parameter with its default.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, RemoteException> {
        Ok(self.bool(name)?.unwrap_or(default))
    }

    /// A signed integer parameter (times use -1 for "unchanged").
    pub fn i64(&self, name: &str) -> Result<Option<i64>, RemoteException> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| bad_value(name, v, "expected an integer")),
        }
    }

    /// A non-negative integer parameter (offset, length, blocksize, …).
    pub fn u64(&self, name: &str) -> Result<Option<u64>, RemoteException> {
        match self.i64(name)? {
            None => Ok(None),
            Some(n) if n < 0 => Err(bad_value(name, &n.to_string(), "must be non-negative")),
            Some(n) => Ok(Some(n as u64)),
        }
    }

    /// An octal permission (`permission=755`), at most 0o1777.
    pub fn permission(&self, name: &str) -> Result<Option<u32>, RemoteException> {
        match self.get_nonempty(name) {
            None => Ok(None),
            Some(v) => match u32::from_str_radix(v, 8) {
                Ok(p) if p <= 0o1777 => Ok(Some(p)),
                _ => Err(bad_value(
                    name,
                    v,
                    "expected an octal permission up to 1777",
                )),
            },
        }
    }

    /// The effective user: `doas` when given (proxying), else `user.name`.
    /// None when the request names no user.
    pub fn user(&self) -> Option<&str> {
        self.get_nonempty("doas")
            .or_else(|| self.get_nonempty("user.name"))
    }

    /// The user token of a request (token authentication): `delegation=`,
    /// else the `Authorization: Bearer` header.
    pub fn user_token<'a>(&'a self, headers: &'a header::HeaderMap) -> Option<&'a str> {
        self.get_nonempty("delegation").or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::security::bearer)
        })
    }

    /// Token authentication of a WebHDFS request: the verified
    /// [`Params::user_token`] and its user, else the 401 `SecurityException`
    /// (no token, or a forged or expired one; `user.name` is not believed).
    pub fn authenticate<'a>(
        &'a self,
        headers: &'a header::HeaderMap,
        secret: &crate::security::ClusterSecret,
    ) -> Result<(String, &'a str), RemoteException> {
        let token = self.user_token(headers).ok_or_else(|| {
            RemoteException::unauthorized(
                "authentication failed: no user token (this cluster has [security] authentication = \"token\": pass delegation=TOKEN or Authorization: Bearer TOKEN; user.name alone is not believed)",
            )
        })?;
        let t = secret.verify_user_token(token).map_err(|e| {
            RemoteException::unauthorized(format!("authentication failed: user token refused: {e}"))
        })?;
        Ok((t.user, token))
    }

    /// Every (name, value) pair, names lower-cased.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn bad_value(name: &str, value: &str, why: &str) -> RemoteException {
    RemoteException::illegal_argument(format!(
        "Invalid value for webhdfs parameter \"{name}\": {value:?}: {why}"
    ))
}

/// Percent-decodes one URL component. `plus_is_space` for query strings.
/// Errors on a malformed escape or bytes that are not UTF-8.
pub fn decode_component(s: &str, plus_is_space: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(format!("malformed percent-encoding in {s:?}")),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoding of {s:?} is not UTF-8"))
}

/// Percent-encodes a path for a URL (keeps `/` and the unreserved set).
pub fn encode_path(path: &str) -> String {
    encode(path, true)
}

/// Percent-encodes a query value (everything but the unreserved set).
pub fn encode_query_value(v: &str) -> String {
    encode(v, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || (keep_slash && c == b'/') {
            o.push(c as char);
        } else {
            let _ = write!(o, "%{c:02X}");
        }
    }
    o
}

/// The file system path of a WebHDFS URL path (`/webhdfs/v1/a/b%20c` →
/// `/a/b c`), validated as a Tusk path. `..`, `.` and empty components are
/// refused (400), never resolved.
pub fn fs_path(url_path: &str) -> Result<String, RemoteException> {
    let rest = url_path.strip_prefix(PREFIX).ok_or_else(|| {
        RemoteException::illegal_argument(format!(
            "{url_path}: not a WebHDFS path (expected {PREFIX}/…)"
        ))
    })?;
    let decoded = decode_component(rest, false)
        .map_err(|e| RemoteException::illegal_argument(format!("{rest}: {e}")))?;
    // Hadoop accepts `/webhdfs/v1` and `/webhdfs/v1/` for the root and a
    // trailing slash on any path.
    let mut p = if decoded.is_empty() {
        "/".to_string()
    } else {
        decoded
    };
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    crate::path::validate(&p).map_err(|e| {
        RemoteException::new(
            400,
            "InvalidPathException",
            "org.apache.hadoop.fs.InvalidPathException",
            format!("Invalid path name {e}"),
        )
    })?;
    Ok(p)
}

pub use crate::escape::json_str;

/// A WebHDFS error: `{"RemoteException":{"exception","javaClassName","message"}}`
/// with the HTTP status Hadoop's `ExceptionHandler` gives that class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteException {
    pub status: u16,
    /// Simple class name, e.g. `FileNotFoundException`.
    pub exception: String,
    /// Fully qualified, e.g. `java.io.FileNotFoundException`.
    pub java_class: String,
    pub message: String,
}

impl RemoteException {
    pub fn new(
        status: u16,
        exception: impl Into<String>,
        java_class: impl Into<String>,
        message: impl Into<String>,
    ) -> RemoteException {
        RemoteException {
            status,
            exception: exception.into(),
            java_class: java_class.into(),
            message: message.into(),
        }
    }

    /// 400 `IllegalArgumentException`.
    pub fn illegal_argument(message: impl Into<String>) -> RemoteException {
        Self::new(
            400,
            "IllegalArgumentException",
            "java.lang.IllegalArgumentException",
            message,
        )
    }

    /// 400 `UnsupportedOperationException`.
    pub fn unsupported(message: impl Into<String>) -> RemoteException {
        Self::new(
            400,
            "UnsupportedOperationException",
            "java.lang.UnsupportedOperationException",
            message,
        )
    }

    /// 404 `FileNotFoundException`; the message should say "does not exist".
    pub fn not_found(message: impl Into<String>) -> RemoteException {
        Self::new(
            404,
            "FileNotFoundException",
            "java.io.FileNotFoundException",
            message,
        )
    }

    /// 403 `AccessControlException`.
    pub fn access_denied(message: impl Into<String>) -> RemoteException {
        Self::new(
            403,
            "AccessControlException",
            "org.apache.hadoop.security.AccessControlException",
            message,
        )
    }

    /// 401 `SecurityException` (no or bad credentials).
    pub fn unauthorized(message: impl Into<String>) -> RemoteException {
        Self::new(
            401,
            "SecurityException",
            "java.lang.SecurityException",
            message,
        )
    }

    /// 500 `RuntimeException`: a server-side failure that is not an I/O error.
    pub fn internal(message: impl Into<String>) -> RemoteException {
        Self::new(
            500,
            "RuntimeException",
            "java.lang.RuntimeException",
            message,
        )
    }

    /// The error for a Hadoop exception class name (simple or qualified), as
    /// carried by Tusk's RPC errors. Status as Hadoop's `ExceptionHandler`:
    /// SecurityException 401; AccessControlException and other IOExceptions
    /// 403 (so FileAlreadyExistsException is 403, as in Hadoop);
    /// FileNotFoundException 404; IllegalArgument/UnsupportedOperation and
    /// InvalidPathException (an IllegalArgumentException in Hadoop) 400;
    /// anything else 500.
    pub fn from_class(class: &str, message: impl Into<String>) -> RemoteException {
        let simple = class.rsplit('.').next().unwrap_or(class);
        let (status, qualified): (u16, String) = match simple {
            "FileNotFoundException" => (404, "java.io.FileNotFoundException".into()),
            "SecurityException" => (401, "java.lang.SecurityException".into()),
            "IllegalArgumentException" => (400, "java.lang.IllegalArgumentException".into()),
            "UnsupportedOperationException" => {
                (400, "java.lang.UnsupportedOperationException".into())
            }
            "AccessControlException" => (
                403,
                "org.apache.hadoop.security.AccessControlException".into(),
            ),
            "IOException" => (403, "java.io.IOException".into()),
            // An IllegalArgumentException in Hadoop (via
            // HadoopIllegalArgumentException): 400, like a bad parameter.
            "InvalidPathException" => (400, "org.apache.hadoop.fs.InvalidPathException".into()),
            "FileAlreadyExistsException" | "ParentNotDirectoryException" => {
                (403, format!("org.apache.hadoop.fs.{simple}"))
            }
            "PathIsNotEmptyDirectoryException" => (403, format!("org.apache.hadoop.fs.{simple}")),
            "SafeModeException" | "AlreadyBeingCreatedException" | "LeaseExpiredException" => (
                403,
                format!("org.apache.hadoop.hdfs.server.namenode.{simple}"),
            ),
            "NSQuotaExceededException" | "DSQuotaExceededException" | "QuotaExceededException" => {
                (403, format!("org.apache.hadoop.hdfs.protocol.{simple}"))
            }
            "MaxDirectoryItemsExceededException" => (
                403,
                format!("org.apache.hadoop.hdfs.protocol.FSLimitException.{simple}"),
            ),
            s if s.ends_with("Exception") && class.contains('.') => (500, class.to_string()),
            _ => (500, "java.lang.RuntimeException".into()),
        };
        let exception = qualified.rsplit('.').next().unwrap_or(simple).to_string();
        RemoteException::new(status, exception, qualified, message)
    }

    /// The JSON body.
    pub fn json(&self) -> String {
        format!(
            "{{\"RemoteException\":{{\"exception\":{},\"javaClassName\":{},\"message\":{}}}}}\n",
            json_str(&self.exception),
            json_str(&self.java_class),
            json_str(&self.message)
        )
    }
}

impl std::fmt::Display for RemoteException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.exception, self.message)
    }
}

impl std::error::Error for RemoteException {}

impl IntoResponse for RemoteException {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, self.json()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// A 200 response with a JSON body.
pub fn json_ok(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_case_insensitive_first_wins_and_decoded() {
        let p =
            Params::parse("OP=LISTSTATUS&op=mkdirs&user.name=al%20ice&x=1&overwrite=True").unwrap();
        assert_eq!(p.op().unwrap(), "LISTSTATUS");
        assert_eq!(p.get("USER.NAME"), Some("al ice"));
        assert_eq!(p.bool("overwrite").unwrap(), Some(true));
        assert_eq!(p.bool("recursive").unwrap(), None);
        assert_eq!(p.user(), Some("al ice"));
        let p = Params::parse("user.name=a&doas=b").unwrap();
        assert_eq!(p.user(), Some("b"));
    }

    #[test]
    fn bad_values_are_400_naming_the_parameter() {
        let p = Params::parse("overwrite=yes&offset=-3&permission=999&length=abc").unwrap();
        for e in [
            p.bool("overwrite").unwrap_err(),
            p.u64("offset").unwrap_err(),
            p.permission("permission").unwrap_err(),
            p.u64("length").unwrap_err(),
        ] {
            assert_eq!(e.status, 400);
            assert!(e.message.contains("webhdfs parameter"), "{e}");
        }
        assert_eq!(Params::parse("op=%zz").unwrap_err().status, 400);
        assert_eq!(Params::parse("").unwrap().op().unwrap_err().status, 400);
    }

    #[test]
    fn paths_decode_and_refuse_traversal() {
        assert_eq!(fs_path("/webhdfs/v1").unwrap(), "/");
        assert_eq!(fs_path("/webhdfs/v1/").unwrap(), "/");
        assert_eq!(fs_path("/webhdfs/v1/a/b%20c/").unwrap(), "/a/b c");
        for bad in [
            "/webhdfs/v1/a/../b",
            "/webhdfs/v1/a//b",
            "/webhdfs/v1/a/%2E%2E/b",
            "/webhdfs/v1/a%00b",
            "/webhdfs/v1/%G1",
            "/other",
        ] {
            let e = fs_path(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}: {e}");
        }
        assert_eq!(encode_path("/a b/ü"), "/a%20b/%C3%BC");
        assert_eq!(
            decode_component(&encode_path("/a b/ü"), false).unwrap(),
            "/a b/ü"
        );
    }

    #[test]
    fn exceptions_map_like_hadoop() {
        assert_eq!(
            RemoteException::from_class("FileNotFoundException", "x does not exist").status,
            404
        );
        let e = RemoteException::from_class("FileAlreadyExistsException", "exists");
        assert_eq!(
            (e.status, e.java_class.as_str()),
            (403, "org.apache.hadoop.fs.FileAlreadyExistsException")
        );
        assert_eq!(
            RemoteException::from_class("AccessControlException", "no").status,
            403
        );
        assert_eq!(RemoteException::from_class("Whatever", "?").status, 500);
        let j = RemoteException::not_found("File /a \"b\" does not exist.").json();
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["RemoteException"]["exception"], "FileNotFoundException");
        assert_eq!(
            v["RemoteException"]["javaClassName"],
            "java.io.FileNotFoundException"
        );
        assert_eq!(
            v["RemoteException"]["message"],
            "File /a \"b\" does not exist."
        );
    }
}
