//! The shuffle over `tusk.yarn.Shuffle/FetchMapOutput`: a server that
//! streams one partition of a finished map attempt's `file.out` from a
//! local directory, and the reducer's fetch client.
//!
//! The server finds an attempt's directory through a caller-supplied
//! resolver `(app_id, map_attempt_id) -> Option<dir>`; the directory holds
//! `file.out` and `file.out.index` (see [`super::ifile`]). It streams the
//! partition's bytes unchanged in [`CHUNK`]-sized messages; the fetcher
//! reassembles them and verifies the segment's CRC32C trailer, so a
//! corrupted or truncated transfer is detected end to end.

use std::future::Future;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};
use tusk_proto::yarn::shuffle_client::ShuffleClient;
use tusk_proto::yarn::shuffle_server::{Shuffle, ShuffleServer};
use tusk_proto::yarn::{FetchMapOutputRequest, MapOutputChunk};

use super::ifile::{parse_index, verify_segment, FILE_INDEX, FILE_OUT, INDEX_ENTRY_LEN};

/// Bytes per streamed message.
pub const CHUNK: usize = 256 << 10;

/// Maps `(app_id, map_attempt_id)` to the attempt's output directory.
pub type OutputResolver = Arc<dyn Fn(&str, &str) -> Option<PathBuf> + Send + Sync>;

/// Ids become path components: only `[A-Za-z0-9_.-]`, not `.`/`..`.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The gRPC service; build it with [`service`] or run it with [`serve`].
pub struct ShuffleService {
    resolver: OutputResolver,
}

/// The tonic service over `resolver`, to add to a server of one's own
/// (the node manager).
pub fn service(resolver: OutputResolver) -> ShuffleServer<ShuffleService> {
    ShuffleServer::new(ShuffleService { resolver })
}

/// Serves the shuffle on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    resolver: OutputResolver,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(service(resolver))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

#[tonic::async_trait]
impl Shuffle for ShuffleService {
    type FetchMapOutputStream = ReceiverStream<Result<MapOutputChunk, Status>>;

    async fn fetch_map_output(
        &self,
        request: Request<FetchMapOutputRequest>,
    ) -> Result<Response<Self::FetchMapOutputStream>, Status> {
        let req = request.into_inner();
        if !is_safe_id(&req.app_id) || !is_safe_id(&req.map_attempt_id) {
            return Err(Status::invalid_argument(format!(
                "bad application or attempt id: {:?} {:?}",
                req.app_id, req.map_attempt_id
            )));
        }
        let dir = (self.resolver)(&req.app_id, &req.map_attempt_id).ok_or_else(|| {
            Status::not_found(format!(
                "no output of {} in application {}",
                req.map_attempt_id, req.app_id
            ))
        })?;
        let index_path = dir.join(FILE_INDEX);
        let out_path = dir.join(FILE_OUT);
        let index = tokio::fs::read(&index_path).await.map_err(|e| {
            Status::not_found(format!(
                "map output {} index {}: {e}",
                req.map_attempt_id,
                index_path.display()
            ))
        })?;
        let entries = parse_index(&index)
            .map_err(|e| Status::data_loss(format!("{}: {e}", index_path.display())))?;
        let p = req.partition as usize;
        let Some(&(offset, length)) = entries.get(p) else {
            return Err(Status::invalid_argument(format!(
                "map output {} has {} partitions, asked for {p}",
                req.map_attempt_id,
                index.len() / INDEX_ENTRY_LEN
            )));
        };
        let mut file = tokio::fs::File::open(&out_path)
            .await
            .map_err(|e| Status::not_found(format!("{}: {e}", out_path.display())))?;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| Status::internal(format!("{}: {e}", out_path.display())))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut left = length;
            while left > 0 {
                let n = (left as usize).min(CHUNK);
                let mut buf = vec![0u8; n];
                if let Err(e) = file.read_exact(&mut buf).await {
                    let _ = tx
                        .send(Err(Status::data_loss(format!(
                            "{}: short read at {}: {e}",
                            out_path.display(),
                            offset + length - left
                        ))))
                        .await;
                    return;
                }
                left -= n as u64;
                if tx
                    .send(Ok(MapOutputChunk { data: buf.into() }))
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

/// Fetches one partition of one map attempt from the shuffle server at
/// `addr` (`host:port`) and verifies its trailer. Errors are one line
/// naming the cause (the caller adds the attempt and host).
pub async fn fetch_segment(
    addr: &str,
    app_id: &str,
    map_attempt_id: &str,
    partition: u32,
    timeout: Duration,
) -> Result<Bytes, String> {
    let work = async {
        let endpoint = tusk_common::net::endpoint(addr)
            .map_err(|e| format!("bad shuffle address: {e}"))?
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let mut client = ShuffleClient::new(channel).max_decoding_message_size(CHUNK * 4);
        let mut stream = client
            .fetch_map_output({
                let mut r = tonic::Request::new(FetchMapOutputRequest {
                    app_id: app_id.to_string(),
                    map_attempt_id: map_attempt_id.to_string(),
                    partition,
                });
                // The job's application token (`TUSK_APP_TOKEN`): node
                // managers serve map outputs only to the application's tasks.
                if let Some(t) = crate::yarn::security::app_token_from_env() {
                    crate::yarn::security::attach_app_token(&mut r, &t);
                }
                r
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| s.message().to_string())?
        {
            buf.extend_from_slice(&chunk.data);
        }
        let data = buf.freeze();
        verify_segment(&data)?;
        Ok(data)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out after {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ifile::{write_index, SegmentWriter};

    fn seg(n: usize) -> Vec<u8> {
        let mut w = SegmentWriter::new(Vec::new());
        for i in 0..n {
            w.append(format!("key{i:08}").as_bytes(), &[7u8; 100])
                .unwrap();
        }
        w.finish().unwrap().0
    }

    #[tokio::test]
    async fn serves_partitions_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let att = dir.path().join("attempt_1_m_000000_0");
        std::fs::create_dir_all(&att).unwrap();
        // Partition 1 spans several chunks.
        let (a, b, c) = (seg(3), seg(5000), seg(0));
        let mut out = a.clone();
        out.extend_from_slice(&b);
        out.extend_from_slice(&c);
        std::fs::write(att.join(FILE_OUT), &out).unwrap();
        let la = a.len() as u64;
        let lb = b.len() as u64;
        write_index(
            &att.join(FILE_INDEX),
            &[(0, la), (la, lb), (la + lb, c.len() as u64)],
        )
        .unwrap();
        let root = dir.path().to_path_buf();
        let resolver: OutputResolver =
            Arc::new(move |app, attempt| (app == "app1").then(|| root.join(attempt)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, resolver, async {
            let _ = stop_rx.await;
        }));
        let t = Duration::from_secs(10);
        let got = fetch_segment(&addr, "app1", "attempt_1_m_000000_0", 1, t)
            .await
            .unwrap();
        assert_eq!(&got[..], &b[..]);
        let got = fetch_segment(&addr, "app1", "attempt_1_m_000000_0", 2, t)
            .await
            .unwrap();
        assert_eq!(&got[..], &c[..]);
        let e = fetch_segment(&addr, "app1", "attempt_1_m_000000_0", 3, t)
            .await
            .unwrap_err();
        assert!(e.contains("3 partitions"), "{e}");
        let e = fetch_segment(&addr, "app2", "attempt_1_m_000000_0", 0, t)
            .await
            .unwrap_err();
        assert!(e.contains("no output"), "{e}");
        let e = fetch_segment(&addr, "app1", "..", 0, t).await.unwrap_err();
        assert!(e.contains("bad"), "{e}");
        // Flip a byte inside partition 1: the fetcher notices.
        out[la as usize + 10] ^= 1;
        std::fs::write(att.join(FILE_OUT), &out).unwrap();
        let e = fetch_segment(&addr, "app1", "attempt_1_m_000000_0", 1, t)
            .await
            .unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
