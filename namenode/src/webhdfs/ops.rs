//! Each WebHDFS operation the namenode serves, over the namesystem with the
//! same permission checks as over RPC. Reads take the read lock for one
//! synchronous call; mutations go through [`NamenodeState::mutate`] (applied
//! under the write lock, durable before the answer).

use super::{json, nn_error, redirect, Ctx, WResult};
use crate::error::{NnError, NnResult};
use crate::fsn::{BYTES_PER_CHECKSUM, WRITE_PACKET_SIZE};
use crate::permission::{self, Caller, EXECUTE, READ, WRITE};
use crate::rpc::NamenodeState;
use crate::types::{DatanodeId, Inode};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use tusk_common::path as tpath;
use tusk_common::webhdfs::{json_ok, RemoteException};

/// Runs operation `op` (a served name from the table in `mod.rs`).
pub(super) async fn run(ctx: &Ctx, op: &str) -> WResult {
    match op {
        "GETFILESTATUS" => get_file_status(ctx),
        "LISTSTATUS" => list_status(ctx),
        "LISTSTATUS_BATCH" => list_status_batch(ctx),
        "GETCONTENTSUMMARY" => content_summary(ctx, false).await,
        "GETQUOTAUSAGE" => content_summary(ctx, true).await,
        "GETHOMEDIRECTORY" => Ok(json_ok(json::path(&home(ctx)))),
        "GETTRASHROOT" => Ok(json_ok(json::path(&format!("{}/.Trash", home(ctx))))),
        "GETSERVERDEFAULTS" => Ok(server_defaults(ctx)),
        "GETSTATUS" => Ok(json_ok(json::fs_status(&ctx.s.read(|f| f.fs_stats())))),
        "GETFILEBLOCKLOCATIONS" => block_locations(ctx),
        "CHECKACCESS" => check_access(ctx),
        "OPEN" => read_redirect(ctx, "OPEN"),
        "GETFILECHECKSUM" => read_redirect(ctx, "GETFILECHECKSUM"),
        "CREATE" => create(ctx),
        "APPEND" => append(ctx),
        "MKDIRS" => mkdirs(ctx).await,
        "RENAME" => rename(ctx).await,
        "SETREPLICATION" => set_replication(ctx).await,
        "SETQUOTA" => set_quota(ctx).await,
        "SETOWNER" => set_owner(ctx).await,
        "SETPERMISSION" => set_permission(ctx).await,
        "SETTIMES" => set_times(ctx).await,
        "DELETE" => delete(ctx).await,
        other => Err(RemoteException::internal(format!(
            "op={other} is listed as served but has no handler"
        ))),
    }
}

/// 200 with no body (SETOWNER, SETPERMISSION, SETTIMES, CHECKACCESS), as Hadoop.
fn empty_ok() -> Response {
    let mut r = (StatusCode::OK, "").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

fn not_found(path: &str) -> RemoteException {
    RemoteException::not_found(format!("File does not exist: {path}"))
}

/// `/user/<name>`, as Hadoop's `getHomeDirectory`.
fn home(ctx: &Ctx) -> String {
    format!("/user/{}", ctx.user)
}

// ------------------------------------------------------------ reads

fn get_file_status(ctx: &Ctx) -> WResult {
    let st = ctx
        .s
        .read(|f| f.get_file_info(&ctx.caller, &ctx.path))
        .map_err(nn_error)?
        .ok_or_else(|| not_found(&ctx.path))?;
    Ok(json_ok(json::file_status_body(&st)))
}

/// The whole listing as `FileStatuses`. A directory is read page by page
/// (`listing_limit` entries, the read lock taken per page) and streamed, so
/// neither memory nor a lock grows with its size; the first page is read
/// before answering, so a missing path or a denial is a proper error.
fn list_status(ctx: &Ctx) -> WResult {
    let first = ctx
        .s
        .read(|f| f.get_listing(&ctx.caller, &ctx.path, "", 0))
        .map_err(nn_error)?;
    let mut head = String::from(json::FILE_STATUSES_HEAD);
    head.push_str(&json::file_status_list(&first.entries));
    let last = match first.entries.last() {
        Some(e) if first.remaining > 0 && !first.is_file => e.name.clone(),
        _ => {
            head.push_str(json::FILE_STATUSES_TAIL);
            return Ok(json_ok(head));
        }
    };
    let pager = Pager {
        s: ctx.s.clone(),
        caller: ctx.caller.clone(),
        path: ctx.path.clone(),
        after: Some(last),
    };
    let rest = futures::stream::unfold(Some(pager), |state| async move {
        let mut p = state?;
        let after = p.after.take()?;
        match p.s.read(|f| f.get_listing(&p.caller, &p.path, &after, 0)) {
            Ok(l) => {
                let mut chunk = String::new();
                if !l.entries.is_empty() {
                    chunk.push(',');
                    chunk.push_str(&json::file_status_list(&l.entries));
                }
                match l.entries.last() {
                    Some(e) if l.remaining > 0 => p.after = Some(e.name.clone()),
                    _ => chunk.push_str(json::FILE_STATUSES_TAIL),
                }
                Some((Ok(chunk), Some(p)))
            }
            Err(e) => {
                // The answer is already under way: end it short, which the
                // client sees as a broken body rather than a partial listing.
                tracing::warn!(path = %p.path, after = %after, error = %e, "LISTSTATUS failed mid-listing");
                Some((Err(std::io::Error::other(e.to_string())), None))
            }
        }
    });
    let body = futures::stream::once(async move { Ok::<String, std::io::Error>(head) }).chain(rest);
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Where a streamed listing stands.
struct Pager {
    s: Arc<NamenodeState>,
    caller: Caller,
    path: String,
    /// The last name sent; None once the listing is complete.
    after: Option<String>,
}

/// One page after `startAfter` (`listing_limit` entries, Hadoop's `dfs.ls.limit`).
/// `remainingEntries` is 0 on the last page; otherwise an upper bound of what
/// follows (the namenode does not count the entries before `startAfter`).
fn list_status_batch(ctx: &Ctx) -> WResult {
    let after = ctx.params.get("startafter").unwrap_or("");
    let l = ctx
        .s
        .read(|f| f.get_listing(&ctx.caller, &ctx.path, after, 0))
        .map_err(nn_error)?;
    Ok(json_ok(json::directory_listing(&l.entries, l.remaining)))
}

/// GETCONTENTSUMMARY, or GETQUOTAUSAGE (the same walk, plus the
/// directory's quotas when it has any).
async fn content_summary(ctx: &Ctx, quota_usage: bool) -> WResult {
    let (s, caller, path) = (ctx.s.clone(), ctx.caller.clone(), ctx.path.clone());
    let (c, q) = tokio::task::spawn_blocking(move || s.content_summary(&caller, &path))
        .await
        .map_err(|e| RemoteException::internal(format!("content summary: {e}")))?
        .map_err(nn_error)?;
    let q = q.map(|q| (q.ns_quota, q.ds_quota));
    Ok(json_ok(if quota_usage {
        json::quota_usage(&c, q)
    } else {
        json::content_summary(&c, q)
    }))
}

fn server_defaults(ctx: &Ctx) -> Response {
    let d = ctx.s.read(|f| json::ServerDefaults {
        block_size: f.config().default_block_size,
        bytes_per_checksum: BYTES_PER_CHECKSUM,
        write_packet_size: WRITE_PACKET_SIZE,
        replication: f.config().default_replication,
    });
    json_ok(json::server_defaults(&d))
}

/// GETFILEBLOCKLOCATIONS: `offset` (default 0), `length` (default: to the
/// end; 0 gives the block holding `offset`, as Hadoop's block manager).
fn block_locations(ctx: &Ctx) -> WResult {
    let offset = ctx.params.u64("offset")?.unwrap_or(0);
    let length = match ctx.params.u64("length")? {
        None => 0,
        Some(0) => 1,
        Some(n) => n,
    };
    let l = ctx
        .s
        .read(|f| f.get_block_locations(&ctx.caller, &ctx.path, offset, length, &ctx.remote_host))
        .map_err(nn_error)?;
    let blocks: Vec<json::BlockLoc> = l
        .blocks
        .iter()
        .map(|b| json::BlockLoc {
            offset: b.offset,
            length: b.block.num_bytes,
            corrupt: b.corrupt,
            replicas: b
                .locations
                .iter()
                .map(|d| json::Replica {
                    host: d.host.clone(),
                    name: d.data_addr.clone(),
                    rack: if d.rack.is_empty() {
                        crate::datanodes::DEFAULT_RACK.to_string()
                    } else {
                        d.rack.clone()
                    },
                })
                .collect(),
        })
        .collect();
    Ok(json_ok(json::block_locations(&blocks)))
}

/// CHECKACCESS `fsaction=rwx` (each letter or `-`): 200 when the user may,
/// 403 AccessControlException otherwise — the RPC permission rules.
fn check_access(ctx: &Ctx) -> WResult {
    let action = ctx.params.get_nonempty("fsaction").ok_or_else(|| {
        RemoteException::illegal_argument(
            "Invalid value for webhdfs parameter \"fsaction\": it is required (e.g. fsaction=r-x)",
        )
    })?;
    let bits = fs_action(action)?;
    let st = ctx
        .s
        .read(|f| f.get_file_info(&ctx.caller, &ctx.path))
        .map_err(nn_error)?
        .ok_or_else(|| not_found(&ctx.path))?;
    let inode = Inode {
        owner: st.owner.clone(),
        group: st.group.clone(),
        permission: st.permission,
        ..Inode::blank(st.file_id, 0, "", st.kind)
    };
    permission::check(&ctx.caller, &inode, &ctx.path, bits).map_err(nn_error)?;
    Ok(empty_ok())
}

/// `[r-][w-][x-]` → permission bits.
fn fs_action(s: &str) -> Result<u32, RemoteException> {
    let b = s.as_bytes();
    let ok = b.len() == 3
        && matches!(b[0], b'r' | b'-')
        && matches!(b[1], b'w' | b'-')
        && matches!(b[2], b'x' | b'-');
    if !ok {
        return Err(RemoteException::illegal_argument(format!(
            "Invalid value for webhdfs parameter \"fsaction\": {s:?} does not match [r-][w-][x-]"
        )));
    }
    Ok((if b[0] == b'r' { READ } else { 0 })
        | (if b[1] == b'w' { WRITE } else { 0 })
        | (if b[2] == b'x' { EXECUTE } else { 0 }))
}

// ------------------------------------------------------------ redirects

/// OPEN (the datanode nearest the client holding the block at `offset`) and
/// GETFILECHECKSUM (one holding the first block). A missing file is a 404, a
/// directory a 404 "Path is not a file", no read permission a 403 — here,
/// before the redirect. A file with no block there goes to any live datanode.
fn read_redirect(ctx: &Ctx, op: &str) -> WResult {
    redirect::validate(ctx)?;
    let offset = if op == "OPEN" {
        ctx.params.u64("offset")?.unwrap_or(0)
    } else {
        0
    };
    let dn = ctx
        .s
        .read(|f| -> NnResult<Option<DatanodeId>> {
            let l = f.get_block_locations(&ctx.caller, &ctx.path, offset, 1, &ctx.remote_host)?;
            let replicas = l.blocks.first().map(|b| &b.locations[..]).unwrap_or(&[]);
            Ok(redirect::choose(ctx, f, replicas))
        })
        .map_err(nn_error)?;
    redirect::answer(ctx, op, dn)
}

/// CREATE, step 1: the datanode nearest the client. Refused here (before
/// any data is sent) when the path is a directory, or an existing file
/// without `overwrite=true`; the namespace is not changed.
fn create(ctx: &Ctx) -> WResult {
    redirect::validate(ctx)?;
    let overwrite = ctx.params.bool_or("overwrite", false)?;
    let (st, dn) = ctx
        .s
        .read(|f| -> NnResult<_> {
            let st = f.get_file_info(&ctx.caller, &ctx.path)?;
            Ok((st, redirect::choose(ctx, f, &[])))
        })
        .map_err(nn_error)?;
    match st {
        Some(s) if s.kind == crate::types::InodeKind::Dir => Err(RemoteException::from_class(
            "FileAlreadyExistsException",
            format!("{} already exists as a directory", ctx.path),
        )),
        Some(_) if !overwrite => Err(RemoteException::from_class(
            "FileAlreadyExistsException",
            format!("{} already exists (overwrite=false)", ctx.path),
        )),
        _ => redirect::answer(ctx, "CREATE", dn),
    }
}

/// APPEND, step 1: a datanode holding the file's last block, else any live
/// one. The file must exist and be a file.
fn append(ctx: &Ctx) -> WResult {
    redirect::validate(ctx)?;
    let dn = ctx
        .s
        .read(|f| -> NnResult<Option<DatanodeId>> {
            let st = f
                .get_file_info(&ctx.caller, &ctx.path)?
                .ok_or_else(|| NnError::NotFound(format!("File does not exist: {}", ctx.path)))?;
            if st.kind != crate::types::InodeKind::File {
                return Err(NnError::NotAFile(ctx.path.clone()));
            }
            let mut last = Vec::new();
            if st.length > 0 {
                // Only a location is looked up (appending needs WRITE, which
                // the datanode's append checks, not READ).
                let internal = Caller::superuser(&ctx.user);
                let mut l = f.get_block_locations(
                    &internal,
                    &ctx.path,
                    st.length - 1,
                    1,
                    &ctx.remote_host,
                )?;
                last = l.blocks.pop().map(|b| b.locations).unwrap_or_default();
            }
            Ok(redirect::choose(ctx, f, &last))
        })
        .map_err(nn_error)?;
    redirect::answer(ctx, "APPEND", dn)
}

// ------------------------------------------------------------ mutations

/// MKDIRS with parents; `permission` default 755, no umask (as Hadoop).
async fn mkdirs(ctx: &Ctx) -> WResult {
    let perm = ctx.params.permission("permission")?.unwrap_or(0o755);
    ctx.s
        .mutate(|f| f.mkdirs(&ctx.caller, &ctx.path, perm, true))
        .await
        .map_err(nn_error)?;
    Ok(json_ok(json::boolean(true)))
}

/// The `destination` of a RENAME: absolute, normalized like Hadoop's `Path`
/// (trailing slashes dropped), valid (no `.`/`..`/empty components: 400).
fn destination(ctx: &Ctx) -> Result<String, RemoteException> {
    let d = ctx.params.get_nonempty("destination").ok_or_else(|| {
        RemoteException::illegal_argument(
            "Invalid value for webhdfs parameter \"destination\": it is required",
        )
    })?;
    if !d.starts_with('/') {
        return Err(RemoteException::illegal_argument(format!(
            "Invalid value for webhdfs parameter \"destination\": {d:?} is not an absolute path"
        )));
    }
    let mut p = d.to_string();
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    tpath::validate(&p).map_err(|e| {
        RemoteException::from_class("InvalidPathException", format!("Invalid path name {e}"))
    })?;
    Ok(p)
}

/// Failures the old-style rename (`ClientProtocol.rename`, which WebHDFS's
/// RENAME calls) reports as `false` rather than an exception: missing
/// source or destination parent, existing destination, a move into itself,
/// the root. Permission, safe mode and storage errors stay errors.
fn rename_is_false(e: &NnError) -> bool {
    matches!(
        e,
        NnError::NotFound(_)
            | NnError::AlreadyExists(_)
            | NnError::ParentNotDirectory(_)
            | NnError::InvalidArgument(_)
            | NnError::NotEmpty(_)
            | NnError::NotAFile(_)
    )
}

/// RENAME `destination` (into it when it is a directory): `{"boolean": …}`.
async fn rename(ctx: &Ctx) -> WResult {
    if let Some(o) = ctx.params.get_nonempty("renameoptions") {
        return Err(RemoteException::unsupported(format!(
            "RENAME with renameoptions={o} (FileContext's rename2) is not supported: use RENAME without it"
        )));
    }
    let dst = destination(ctx)?;
    let done = match ctx
        .s
        .mutate(|f| f.rename(&ctx.caller, &ctx.path, &dst, false))
        .await
    {
        Ok(()) => true,
        Err(e) if rename_is_false(&e) => {
            tracing::debug!(src = %ctx.path, dst = %dst, error = %e, "WebHDFS rename returns false");
            false
        }
        Err(e) => return Err(nn_error(e)),
    };
    Ok(json_ok(json::boolean(done)))
}

/// SETREPLICATION (default: the cluster's): false for a directory.
async fn set_replication(ctx: &Ctx) -> WResult {
    let r = match ctx.params.u64("replication")? {
        Some(r) if r > i16::MAX as u64 => {
            return Err(RemoteException::illegal_argument(format!(
                "Invalid value for webhdfs parameter \"replication\": {r} is out of range (a short)"
            )))
        }
        Some(r) => r as u32,
        None => ctx.s.read(|f| f.config().default_replication),
    };
    let changed = ctx
        .s
        .mutate(|f| f.set_replication(&ctx.caller, &ctx.path, r))
        .await
        .map_err(nn_error)?;
    Ok(json_ok(json::boolean(changed)))
}

/// SETQUOTA (superuser): `namespacequota` and `storagespacequota`, each
/// absent = unchanged (Hadoop's default, `Long.MAX_VALUE`), -1 = cleared.
async fn set_quota(ctx: &Ctx) -> WResult {
    use crate::fsn::quota_ops::QUOTA_DONT_SET;
    let ns = ctx.params.i64("namespacequota")?.unwrap_or(QUOTA_DONT_SET);
    let ds = ctx
        .params
        .i64("storagespacequota")?
        .unwrap_or(QUOTA_DONT_SET);
    let (caller, path) = (ctx.caller.clone(), ctx.path.clone());
    ctx.s
        .mutate_blocking(move |f| f.set_quota(&caller, &path, ns, ds))
        .await
        .map_err(nn_error)?;
    Ok(empty_ok())
}

async fn set_owner(ctx: &Ctx) -> WResult {
    let owner = ctx.params.get_nonempty("owner");
    let group = ctx.params.get_nonempty("group");
    if owner.is_none() && group.is_none() {
        return Err(RemoteException::illegal_argument(
            "Both owner and group are empty.",
        ));
    }
    ctx.s
        .mutate(|f| {
            f.set_owner(
                &ctx.caller,
                &ctx.path,
                owner.unwrap_or(""),
                group.unwrap_or(""),
            )
        })
        .await
        .map_err(nn_error)?;
    Ok(empty_ok())
}

/// SETPERMISSION (default 755, as Hadoop).
async fn set_permission(ctx: &Ctx) -> WResult {
    let perm = ctx.params.permission("permission")?.unwrap_or(0o755);
    ctx.s
        .mutate(|f| f.set_permission(&ctx.caller, &ctx.path, perm))
        .await
        .map_err(nn_error)?;
    Ok(empty_ok())
}

/// SETTIMES; -1 (the default) leaves a time unchanged.
async fn set_times(ctx: &Ctx) -> WResult {
    let mtime = ctx.params.i64("modificationtime")?.unwrap_or(-1);
    let atime = ctx.params.i64("accesstime")?.unwrap_or(-1);
    ctx.s
        .mutate(|f| f.set_times(&ctx.caller, &ctx.path, mtime, atime))
        .await
        .map_err(nn_error)?;
    Ok(empty_ok())
}

/// DELETE (no trash, as Hadoop's WebHDFS): false for a missing path and for
/// `/`; a non-empty directory without `recursive=true` is a 403
/// PathIsNotEmptyDirectoryException.
async fn delete(ctx: &Ctx) -> WResult {
    let recursive = ctx.params.bool_or("recursive", false)?;
    if ctx.path == "/" {
        return Ok(json_ok(json::boolean(false)));
    }
    let (caller, path) = (ctx.caller.clone(), ctx.path.clone());
    let deleted = if recursive {
        ctx.s
            .mutate_blocking(move |f| f.delete(&caller, &path, true))
            .await
    } else {
        ctx.s.mutate(|f| f.delete(&caller, &path, false)).await
    }
    .map_err(nn_error)?;
    Ok(json_ok(json::boolean(deleted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_actions_parse_like_hadoop() {
        assert_eq!(fs_action("rwx").unwrap(), 7);
        assert_eq!(fs_action("r-x").unwrap(), 5);
        assert_eq!(fs_action("---").unwrap(), 0);
        for bad in ["rw", "rwxx", "xwr", "RWX", "7"] {
            assert_eq!(fs_action(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
