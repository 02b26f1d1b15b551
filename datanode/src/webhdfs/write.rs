//! CREATE (PUT) and APPEND (POST): the request body streamed into a
//! [`DfsWriter`], one body frame at a time (never the whole body in memory;
//! the writer's pipeline window is the only buffer).
//!
//! A failed CREATE leaves no file under the requested name. The upload goes
//! to a hidden temporary sibling (`.<name>.<random>._COPYING_`, as Hadoop's
//! `-put` does) that is renamed onto the real name only once every byte is
//! acknowledged and the file is complete; on any failure the temporary is
//! deleted. Writing under the real name and deleting it on failure (what
//! Hadoop's datanode does) was rejected: a datanode that dies mid-upload
//! cannot delete anything, and lease recovery would then finalize the partial
//! file under the real name; with `overwrite=true` the old content would be
//! gone too. With the rename, readers of the real name see the old file or
//! the whole new one, never a part. The cost: one more namenode call, and a
//! datanode crash can leave a hidden `._COPYING_` file (lease recovery closes
//! it; it is visible to `ls -a`-style listings only by its dotted name).
//!
//! Uploads run in their own task: when the client goes away, the request's
//! future may be dropped by the HTTP server, but the task still sees the
//! body fail and cleans up.

use super::{io_exception, remote, Transfer, UMASK};
use crate::node::Node;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::time::Duration;
use tusk_client::{CreateOptions, DfsClient, DfsWriter};
use tusk_common::webhdfs::{encode_path, Params, RemoteException};

/// How a body stream failed (before its bytes reached the writer).
#[derive(Debug)]
enum BodyError {
    /// No data for the idle time-out.
    Idle(Duration),
    /// The connection broke (client gone, malformed chunking...).
    Broken(String),
    /// The stream ended before the announced Content-Length.
    Short { got: u64, want: u64 },
}

/// Reads `body` into `writer` until it ends; the number of bytes written.
/// Each wait for the next piece is bounded by `idle`.
async fn pump<S, E>(
    mut body: S,
    writer: &mut DfsWriter,
    idle: Duration,
    content_length: Option<u64>,
) -> Result<u64, Result<BodyError, RemoteException>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut n = 0u64;
    while let Some(piece) = next_piece(&mut body, idle).await.map_err(Ok)? {
        n += piece.len() as u64;
        writer
            .write_bytes(piece)
            .await
            .map_err(|e| Err(remote(&e, writer.path())))?;
    }
    match content_length {
        Some(want) if want != n => Err(Ok(BodyError::Short { got: n, want })),
        _ => Ok(n),
    }
}

/// The next non-empty piece of a body, `None` at its end.
async fn next_piece<S, E>(body: &mut S, idle: Duration) -> Result<Option<Bytes>, BodyError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    loop {
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => return Err(BodyError::Idle(idle)),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(b))) if b.is_empty() => continue,
            Ok(Some(Ok(b))) => return Ok(Some(b)),
        }
    }
}

impl BodyError {
    fn into_remote(self, path: &str, written: &str) -> RemoteException {
        match self {
            BodyError::Idle(d) => RemoteException::new(
                403,
                "SocketTimeoutException",
                "java.net.SocketTimeoutException",
                format!(
                    "{path}: no request data for {} s; upload aborted{written}",
                    d.as_secs()
                ),
            ),
            BodyError::Broken(e) => {
                io_exception(format!("{path}: request body failed: {e}; upload aborted{written}"))
            }
            BodyError::Short { got, want } => io_exception(format!(
                "{path}: request body ended after {got} of {want} bytes (Content-Length); upload aborted{written}"
            )),
        }
    }
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, RemoteException> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| RemoteException::illegal_argument("invalid Content-Length header")),
    }
}

/// CREATE: 201 with `Location: hdfs://<namenode><path>` and an empty body.
pub(super) async fn create(
    node: &Node,
    client: DfsClient,
    path: String,
    params: &Params,
    headers: &HeaderMap,
    body: Body,
    transfer: Transfer,
) -> Result<Response, RemoteException> {
    let overwrite = params.bool_or("overwrite", false)?;
    let replication = match params.u64("replication")? {
        None | Some(0) => None,
        Some(r) if r <= i16::MAX as u64 => Some(r as u32),
        Some(r) => {
            return Err(RemoteException::illegal_argument(format!(
                "Invalid value for webhdfs parameter \"replication\": {r}: too large"
            )))
        }
    };
    let block_size = params.u64("blocksize")?.filter(|&b| b > 0);
    let permission = params.permission("permission")?.unwrap_or(0o644) & !UMASK;
    let create_parent = params.bool_or("createparent", true)?;
    let content_length = content_length(headers)?;

    // What Hadoop's create checks at once, before a byte is read.
    check_target(&client, &path, overwrite).await?;
    let tmp = temp_name(&path);
    let opts = CreateOptions {
        overwrite: false,
        replication,
        block_size,
        permission,
        create_parent,
    };
    let writer = client.create(&tmp, opts).await.map_err(|e| match e {
        // The temporary's name means nothing to the caller.
        tusk_client::DfsError::FileNotFound { .. } => {
            RemoteException::not_found(format!("Parent directory of {path} does not exist."))
        }
        e => remote(&e, &path),
    })?;
    let location = format!("hdfs://{}{}", node.webhdfs.namenode, encode_path(&path));
    let upload = Upload {
        client,
        tmp,
        path,
        overwrite,
        idle: node.webhdfs.idle_timeout,
        content_length,
    };
    let task = tokio::spawn(async move {
        let res = upload.run(writer, body).await;
        if res.is_err() {
            upload.clean_up().await;
        }
        drop(transfer);
        res
    });
    task.await
        .map_err(|e| RemoteException::internal(format!("WebHDFS upload task failed: {e}")))??;
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

/// One CREATE's upload into its temporary.
struct Upload {
    client: DfsClient,
    /// The temporary written, renamed onto `path` at the end.
    tmp: String,
    path: String,
    overwrite: bool,
    idle: Duration,
    content_length: Option<u64>,
}

impl Upload {
    /// Streams the body into the temporary, completes it and renames it
    /// onto the real name.
    async fn run(&self, mut writer: DfsWriter, body: Body) -> Result<(), RemoteException> {
        let path = self.path.as_str();
        match pump(
            body.into_data_stream(),
            &mut writer,
            self.idle,
            self.content_length,
        )
        .await
        {
            Ok(_) => {}
            // Dropping the writer abandons the file; `clean_up` deletes it.
            Err(Ok(b)) => return Err(b.into_remote(path, "")),
            Err(Err(e)) => return Err(e),
        }
        writer.close().await.map_err(|e| remote(&e, path))?;
        // A directory that appeared under the real name meanwhile would
        // swallow the temporary (rename moves into directories).
        check_target(&self.client, path, self.overwrite).await?;
        self.client
            .rename(&self.tmp, path, self.overwrite)
            .await
            .map_err(|e| match e {
                tusk_client::DfsError::AlreadyExists { .. } => already_exists(path),
                e => remote(&e, path),
            })
    }

    /// Deletes the temporary of a failed upload. Its writer is gone
    /// (abandoned or closed), so the file is no live writer's.
    async fn clean_up(&self) {
        match self.client.delete(&self.tmp, false).await {
            Ok(_) => tracing::info!(path = %self.path, "failed WebHDFS upload cleaned up"),
            Err(e) => tracing::warn!(
                path = %self.tmp,
                error = %e,
                "cannot delete the temporary of a failed WebHDFS upload"
            ),
        }
    }
}

/// Refuses a CREATE onto a directory, or onto a file without `overwrite`.
async fn check_target(
    client: &DfsClient,
    path: &str,
    overwrite: bool,
) -> Result<(), RemoteException> {
    match client
        .get_file_info(path)
        .await
        .map_err(|e| remote(&e, path))?
    {
        Some(st) if st.is_dir() => Err(RemoteException::from_class(
            "FileAlreadyExistsException",
            format!("{path} already exists as a directory"),
        )),
        Some(_) if !overwrite => Err(already_exists(path)),
        _ => Ok(()),
    }
}

fn already_exists(path: &str) -> RemoteException {
    RemoteException::from_class(
        "FileAlreadyExistsException",
        format!("{path} already exists"),
    )
}

/// `/d/.name.<16 hex>._COPYING_`: hidden (MapReduce input listings skip
/// dot files), unique per upload, and within the 255-byte component limit.
fn temp_name(path: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    const EXTRA: usize = ".".len() + ".0123456789abcdef._COPYING_".len();
    let mut keep = name.len().min(tusk_common::path::MAX_COMPONENT_LEN - EXTRA);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!(
        "{dir}/.{}.{:016x}._COPYING_",
        &name[..keep],
        rand::random::<u64>()
    )
}

/// APPEND: 200 with an empty body. Each POST appends its own body, so a
/// client may send its data as several POSTs to the same URL.
///
/// A body that fails midway leaves the bytes received before the failure
/// appended (as in Hadoop, an append is not atomic); the file is closed
/// anyway so its lease is released at once and the next APPEND can go on.
pub(super) async fn append(
    node: &Node,
    client: DfsClient,
    path: String,
    headers: &HeaderMap,
    body: Body,
    transfer: Transfer,
) -> Result<Response, RemoteException> {
    let content_length = content_length(headers)?;
    let mut writer = client.append(&path).await.map_err(|e| remote(&e, &path))?;
    let idle = node.webhdfs.idle_timeout;
    let task = tokio::spawn(async move {
        let pumped = pump(body.into_data_stream(), &mut writer, idle, content_length).await;
        let written = writer.bytes_written();
        let closed = writer.close().await.map_err(|e| remote(&e, &path));
        drop(transfer);
        match pumped {
            Ok(_) => closed,
            Err(Err(e)) => Err(e),
            Err(Ok(b)) => {
                Err(b.into_remote(&path, &format!(" ({written} bytes of it were appended)")))
            }
        }
    });
    task.await
        .map_err(|e| RemoteException::internal(format!("WebHDFS append task failed: {e}")))??;
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_unique_siblings_within_limits() {
        let a = temp_name("/d/e/file.csv");
        assert!(
            a.starts_with("/d/e/.file.csv.") && a.ends_with("._COPYING_"),
            "{a}"
        );
        assert_ne!(a, temp_name("/d/e/file.csv"));
        assert!(temp_name("/top").starts_with("/.top."));
        let long = format!("/d/{}", "é".repeat(127));
        let t = temp_name(&long);
        tusk_common::path::validate(&t).unwrap();
    }

    /// A body that sends a piece and then nothing fails after the idle
    /// time-out (on a paused clock), and an erroring body reports its cause.
    #[tokio::test(start_paused = true)]
    async fn idle_and_broken_bodies_fail() {
        let silent = futures::stream::iter(vec![Ok::<_, String>(Bytes::from_static(b"abc"))])
            .chain(futures::stream::pending());
        let mut silent = Box::pin(silent);
        let idle = Duration::from_secs(60);
        assert_eq!(
            next_piece(&mut silent, idle).await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        let t0 = tokio::time::Instant::now();
        match next_piece(&mut silent, idle).await {
            Err(BodyError::Idle(d)) => assert_eq!(d, idle),
            other => panic!("expected an idle time-out, got {other:?}"),
        }
        assert!(t0.elapsed() >= idle);
        let e = BodyError::Idle(idle).into_remote("/f", "");
        assert_eq!(
            (e.status, e.exception.as_str()),
            (403, "SocketTimeoutException")
        );

        let mut broken =
            futures::stream::iter(vec![Ok(Bytes::new()), Err("connection reset".to_string())]);
        match next_piece(&mut broken, idle).await {
            Err(BodyError::Broken(e)) => assert!(e.contains("connection reset")),
            other => panic!("expected a broken body, got {other:?}"),
        }
    }
}
