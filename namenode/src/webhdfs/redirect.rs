//! The first step of WebHDFS's data operations: the namenode picks a
//! datanode and answers `307 Temporary Redirect` to its WebHDFS endpoint (or
//! `200 {"Location": …}` with `noredirect=true`). The namespace is not
//! changed here; the datanode does the work as `user.name`.
//!
//! The URL: `http(s)://<datanode http_addr>/webhdfs/v1/<path>?op=<OP>
//! &namenoderpcaddress=<host:port>&user.name=<effective user>` (with token
//! authentication `&delegation=<the request's user token>` instead of
//! `user.name`: the datanode verifies it) followed by
//! the request's data parameters, validated and re-encoded (the contract
//! with `datanode/src/webhdfs/`).

use super::{json, Ctx, WResult};
use crate::fsn::FsNamesystem;
use crate::placement;
use crate::types::DatanodeId;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use tusk_common::webhdfs::{encode_path, encode_query_value, json_ok, RemoteException};

/// Parameters passed on to the datanode, in this order.
const PASSED_ON: &[&str] = &[
    "overwrite",
    "createparent",
    "replication",
    "blocksize",
    "permission",
    "buffersize",
    "offset",
    "length",
];

/// Hadoop's answer when no datanode can take the request.
pub fn no_datanode() -> RemoteException {
    RemoteException::from_class(
        "IOException",
        "Failed to find datanode, suggest to check cluster health.",
    )
}

/// The datanode for a data operation: the first of `replicas` (already
/// sorted by distance to the client) that the client did not exclude, else
/// the live in-service datanode nearest to the client (same host, then same
/// rack, then any; random among equals) that it did not exclude.
///
/// `excludedatanodes` (Hadoop's client adds a datanode it failed to reach)
/// is a comma-separated list of `host:port` (transfer or HTTP address) or
/// bare hosts.
pub fn choose(ctx: &Ctx, f: &FsNamesystem, replicas: &[DatanodeId]) -> Option<DatanodeId> {
    let excluded: Vec<&str> = ctx
        .params
        .get("excludedatanodes")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect();
    let ok = |d: &DatanodeId| {
        !excluded
            .iter()
            .any(|&x| x == d.data_addr || x == d.http_addr || x == d.host)
    };
    if let Some(d) = replicas.iter().find(|d| ok(d)) {
        return Some(d.clone());
    }
    let live: Vec<&DatanodeId> = f
        .datanodes()
        .iter()
        .filter(|n| n.in_service() && ok(&n.id))
        .map(|n| &n.id)
        .collect();
    let pairs: Vec<(&str, &str)> = live
        .iter()
        .map(|n| (n.host.as_str(), n.rack.as_str()))
        .collect();
    let reader = ctx.remote_host.as_str();
    let rack = f.datanodes().topology().rack_of(reader);
    let order = placement::sort_for_reader(&pairs, reader, &rack, &mut rand::thread_rng());
    order.first().map(|&i| live[i].clone())
}

/// Validates the data parameters the datanode will get, as
/// `name=value` pairs in canonical form (a bad value is a 400 here, before
/// any data is sent).
fn passed_on(ctx: &Ctx) -> Result<Vec<(&'static str, String)>, RemoteException> {
    let p = &ctx.params;
    let mut out = Vec::new();
    for &name in PASSED_ON {
        let v = match name {
            "overwrite" | "createparent" => p.bool(name)?.map(|b| b.to_string()),
            "permission" => p.permission(name)?.map(|m| format!("{m:o}")),
            "replication" => match p.u64(name)? {
                Some(r) if r > i16::MAX as u64 => {
                    return Err(RemoteException::illegal_argument(format!(
                        "Invalid value for webhdfs parameter \"replication\": {r} is out of range (a short)"
                    )))
                }
                r => r.map(|r| r.to_string()),
            },
            _ => p.u64(name)?.map(|n| n.to_string()),
        };
        if let Some(v) = v {
            out.push((name, v));
        }
    }
    Ok(out)
}

/// Checks the parameters of a redirect (data parameters and `noredirect`)
/// before the namespace is looked at: a bad value is a 400 whatever the path.
pub fn validate(ctx: &Ctx) -> Result<(), RemoteException> {
    passed_on(ctx)?;
    ctx.params.bool("noredirect")?;
    Ok(())
}

/// The namenode's RPC address as clients should dial it: the bound one,
/// with a wildcard IP replaced by the host the client used to reach us.
fn namenode_rpc(ctx: &Ctx) -> Option<String> {
    let a = ctx.s.rpc_addr()?;
    if !a.ip().is_unspecified() {
        return Some(a.to_string());
    }
    let host = ctx
        .host_header
        .as_deref()
        .map(|h| match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name,
            _ => h,
        })
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1");
    Some(format!("{host}:{}", a.port()))
}

/// The datanode URL of `op` on `ctx.path`.
pub fn url(ctx: &Ctx, op: &str, dn: &DatanodeId) -> Result<String, RemoteException> {
    let mut u = format!(
        "{}://{}/webhdfs/v1{}?op={op}",
        tusk_common::net::http_scheme(),
        dn.http_addr,
        encode_path(&ctx.path)
    );
    if let Some(nn) = namenode_rpc(ctx) {
        let _ = write!(u, "&namenoderpcaddress={}", encode_query_value(&nn));
    }
    match &ctx.token {
        // Token authentication: the datanode verifies the token itself.
        Some(t) => {
            let _ = write!(u, "&delegation={}", encode_query_value(t));
        }
        None => {
            let _ = write!(u, "&user.name={}", encode_query_value(&ctx.user));
        }
    }
    for (k, v) in passed_on(ctx)? {
        let _ = write!(u, "&{k}={}", encode_query_value(&v));
    }
    Ok(u)
}

/// 307 to `dn` (or 200 `{"Location": …}` with `noredirect=true`).
pub fn answer(ctx: &Ctx, op: &str, dn: Option<DatanodeId>) -> WResult {
    let dn = dn.ok_or_else(no_datanode)?;
    if dn.http_addr.is_empty() {
        return Err(RemoteException::from_class(
            "IOException",
            format!(
                "datanode {} ({}) has no HTTP address for WebHDFS",
                dn.uuid, dn.host
            ),
        ));
    }
    let location = url(ctx, op, &dn)?;
    if ctx.params.bool_or("noredirect", false)? {
        return Ok(json_ok(json::location(&location)));
    }
    let value = HeaderValue::from_str(&location).map_err(|e| {
        RemoteException::internal(format!("redirect URL {location:?} is not a header: {e}"))
    })?;
    let mut r: Response = (StatusCode::TEMPORARY_REDIRECT, "").into_response();
    r.headers_mut().insert(header::LOCATION, value);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(r)
}
