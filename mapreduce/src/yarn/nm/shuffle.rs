//! The Shuffle service: one partition of one map attempt's output, streamed
//! from `<app local dir>/output/<attempt>/file.out` at the offset and length
//! its `file.out.index` gives (16-byte entries: offset u64 LE, length u64 LE).

use super::{Metrics, Nm};
use crate::yarn::ids::is_safe_component;
use crate::yarn::pb;
use crate::yarn::pb::shuffle_server::{Shuffle, ShuffleServer};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Bytes per streamed chunk.
const CHUNK: usize = 256 << 10;

pub(crate) struct ShuffleService {
    nm: Arc<Nm>,
}

pub(crate) async fn serve(
    nm: Arc<Nm>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    limits: tusk_common::config::LimitsConfig,
) {
    let rpc = nm.metrics.rpc.clone();
    let router = tusk_common::net::grpc_server(&limits).add_service(rpc.wrap(
        ShuffleServer::new(ShuffleService { nm }).max_decoding_message_size(limits.max_message()),
    ));
    crate::yarn::net::serve_grpc_with(
        router,
        listener,
        stop,
        Duration::from_secs(3),
        "shuffle",
        &limits,
    )
    .await;
}

#[tonic::async_trait]
impl Shuffle for ShuffleService {
    type FetchMapOutputStream = ReceiverStream<Result<pb::MapOutputChunk, Status>>;

    async fn fetch_map_output(
        &self,
        req: Request<pb::FetchMapOutputRequest>,
    ) -> Result<Response<Self::FetchMapOutputStream>, Status> {
        // Only the application's own tasks (holding its token) fetch.
        crate::yarn::security::verify_app_token(
            &self.nm.secret,
            &req.get_ref().app_id,
            crate::yarn::security::app_token_of(&req),
        )
        .map_err(|e| {
            Status::unauthenticated(format!(
                "shuffle: not a task of application {}: application token: {e}",
                req.get_ref().app_id
            ))
        })?;
        let r = req.into_inner();
        let (app, attempt, part) = (r.app_id, r.map_attempt_id, r.partition);
        if !is_safe_component(&app) || !is_safe_component(&attempt) {
            return Err(Status::invalid_argument(format!(
                "shuffle: invalid application {app:?} or map attempt {attempt:?}"
            )));
        }
        let dir = self.nm.app_dir(&app).join("output").join(&attempt);
        let not_found = |what: &str| {
            Status::not_found(format!(
                "shuffle: no {what} for map attempt {attempt} of application {app} on node {}",
                self.nm.node_id
            ))
        };
        let mut index = tokio::fs::File::open(dir.join("file.out.index"))
            .await
            .map_err(|_| not_found("output index (file.out.index)"))?;
        let index_len = index
            .metadata()
            .await
            .map_err(|e| Status::internal(format!("shuffle: {}: {e}", dir.display())))?
            .len();
        let partitions = index_len / 16;
        if part as u64 >= partitions {
            return Err(Status::invalid_argument(format!(
                "shuffle: map attempt {attempt} of application {app} has {partitions} partitions; partition {part} asked"
            )));
        }
        let mut entry = [0u8; 16];
        index
            .seek(std::io::SeekFrom::Start(part as u64 * 16))
            .await
            .and(index.read_exact(&mut entry).await.map(|_| 0))
            .map_err(|e| Status::internal(format!("shuffle: reading index of {attempt}: {e}")))?;
        let offset = u64::from_le_bytes(entry[..8].try_into().unwrap_or([0; 8]));
        let length = u64::from_le_bytes(entry[8..].try_into().unwrap_or([0; 8]));
        let mut data = tokio::fs::File::open(dir.join("file.out"))
            .await
            .map_err(|_| not_found("output (file.out)"))?;
        let data_len = data.metadata().await.map(|m| m.len()).unwrap_or(0);
        if offset.checked_add(length).is_none_or(|end| end > data_len) {
            return Err(Status::data_loss(format!(
                "shuffle: index of map attempt {attempt} of application {app} points past the end of file.out (partition {part}: {offset}+{length} > {data_len})"
            )));
        }
        Metrics::inc(&self.nm.metrics.shuffle_requests, 1);
        let (tx, rx) = mpsc::channel(4);
        let nm = self.nm.clone();
        tokio::spawn(async move {
            if let Err(e) = data.seek(std::io::SeekFrom::Start(offset)).await {
                let _ = tx
                    .send(Err(Status::internal(format!("shuffle: seek: {e}"))))
                    .await;
                return;
            }
            let mut left = length;
            while left > 0 {
                let n = (left as usize).min(CHUNK);
                let mut buf = vec![0u8; n];
                if let Err(e) = data.read_exact(&mut buf).await {
                    let _ = tx
                        .send(Err(Status::internal(format!(
                            "shuffle: reading output of {attempt}: {e}"
                        ))))
                        .await;
                    return;
                }
                left -= n as u64;
                Metrics::inc(&nm.metrics.shuffle_bytes, n as u64);
                if tx
                    .send(Ok(pb::MapOutputChunk {
                        data: Bytes::from(buf),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
