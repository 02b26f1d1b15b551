//! OPEN (GET): `[offset, offset + length)` of a file, streamed from a
//! [`tusk_client::DfsReader`] (checksums verified, the next replica on a bad
//! one) into the response. A producer task reads ahead by at most a couple
//! of pieces; a reader that stops reading for the idle time-out ends the
//! transfer and frees its slot.

use super::{io_exception, remote, Transfer};
use crate::node::Node;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tusk_client::DfsClient;
use tusk_common::webhdfs::{Params, RemoteException};

/// Pieces read ahead of the HTTP connection (each up to a packet, 64 KiB).
const READ_AHEAD: usize = 4;

pub(super) async fn open(
    node: &Node,
    client: DfsClient,
    path: String,
    params: &Params,
    transfer: Transfer,
) -> Result<Response, RemoteException> {
    let offset = params.u64("offset")?.unwrap_or(0);
    let length = params.u64("length")?;
    let mut reader = client.open(&path).await.map_err(|e| remote(&e, &path))?;
    let len = reader.len();
    // Hadoop's namenode refuses these before redirecting; a request that
    // comes here directly gets the same answer.
    if offset > len || (offset == len && len > 0) {
        return Err(io_exception(format!(
            "Offset={offset} out of the range [0, {len}); OPEN, path={path}"
        )));
    }
    let n = match length {
        Some(l) => l.min(len - offset),
        None => len - offset,
    };
    let mut r = if n == 0 {
        drop(transfer);
        Body::empty().into_response()
    } else {
        reader.seek(offset);
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(READ_AHEAD);
        let idle = node.webhdfs.idle_timeout;
        tokio::spawn(async move {
            let _transfer = transfer;
            let mut left = n;
            while left > 0 {
                let piece = match reader.next_chunk().await {
                    Ok(Some(mut b)) => {
                        if b.len() as u64 > left {
                            b.truncate(left as usize);
                        }
                        left -= b.len() as u64;
                        Ok(b)
                    }
                    Ok(None) => Err(format!(
                        "{path}: file ended {left} bytes before the {n} bytes announced"
                    )),
                    Err(e) => Err(e.to_string()),
                };
                let failed = piece.is_err();
                let item = piece.map_err(|e| {
                    tracing::warn!(path = %path, error = %e, "WebHDFS OPEN failed midway");
                    std::io::Error::other(e)
                });
                // The connection aborts on an error item, or when the body
                // ends short of its Content-Length (after a time-out here).
                match tx.send_timeout(item, idle).await {
                    Ok(()) if !failed => {}
                    Ok(()) => return,
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        tracing::info!(path = %path, "WebHDFS reader idle for {idle:?}; OPEN aborted");
                        return;
                    }
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                }
            }
        });
        Body::from_stream(ReceiverStream::new(rx)).into_response()
    };
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    // As Hadoop's datanode: the web UI's file preview fetches this by AJAX.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(r)
}
