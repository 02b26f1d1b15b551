//! Short-circuit local reads, the datanode side (HDFS's domain socket
//! server for `dfs.client.read.shortcircuit`).
//!
//! The datanode listens on a UNIX domain socket (`[datanode]
//! domain_socket_path`, default `<state_dir>/dn_socket`) and advertises it to
//! clients on its host with a symlink named after its advertised host and
//! data port in the rendezvous directory (see `tusk_client::shortcircuit`,
//! which also holds the framing and descriptor passing both sides use).
//!
//! Each connection carries one request: a block id, generation stamp, this
//! datanode's uuid, and a READ block access token (checked as ReadBlock
//! checks it; refused with ACCESS_DENIED "InvalidBlockTokenException: …").
//! The answer grants only a finalized replica
//! with that very stamp — never one being written — and carries its block
//! file and meta file, opened read-only here, as two descriptors. The client
//! verifies every chunk's CRC32C itself and reports a corrupt replica to the
//! namenode as a network reader does. Each grant counts as a block read and
//! in `tusk_datanode_shortcircuit_reads_total`; the bytes the client then
//! reads never pass through the datanode, so they are not in
//! `tusk_datanode_bytes_read_total`.

use crate::metrics::Metrics;
use crate::node::Node;
use crate::store::disk::find_replica;
use crate::store::meta::{MetaHeader, HEADER_LEN};
use crate::store::ReplicaState;
use prost::Message as _;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use tusk_client::shortcircuit as sc;
use tusk_common::security::ACCESS_READ;
use tusk_proto as pb;
use tusk_proto::ShortCircuitStatus as Status;

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound socket and its advertisement, ready to serve.
pub(crate) struct Server {
    listener: UnixListener,
    socket: PathBuf,
    /// The rendezvous entry pointing at `socket` (`None`: not advertised).
    entry: Option<PathBuf>,
}

impl Server {
    /// Binds the socket (`configured`, else `<state_dir>/dn_socket`; an empty
    /// path turns the feature off) and advertises it for `host:data_port`.
    /// Failures only disable short-circuit reads: clients read over the
    /// network as before.
    pub(crate) fn bind(
        configured: Option<&Path>,
        state_dir: &Path,
        host: &str,
        data_port: u16,
    ) -> Option<Server> {
        let socket = match configured {
            Some(p) if p.as_os_str().is_empty() => return None,
            Some(p) => p.to_path_buf(),
            None => state_dir.join(sc::SOCKET_FILE),
        };
        // A socket file left by an earlier run of this datanode.
        if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&socket);
        }
        let listener = match UnixListener::bind(&socket) {
            Ok(l) => l,
            Err(e) => {
                warn!(socket = %socket.display(), error = %e, "cannot bind the short-circuit socket; local clients will read over the network");
                return None;
            }
        };
        let entry = sc::rendezvous_entry(&sc::rendezvous_dir(), host, data_port);
        let entry = match sc::advertise(&entry, &socket) {
            Ok(()) => Some(entry),
            Err(e) => {
                warn!(entry = %entry.display(), error = %e, "cannot advertise the short-circuit socket; local clients will read over the network");
                None
            }
        };
        info!(socket = %socket.display(), "short-circuit local reads enabled");
        Some(Server {
            listener,
            socket,
            entry,
        })
    }

    /// Serves until `stop`, then withdraws the advertisement and removes
    /// the socket file. Requests already accepted finish on their own
    /// (each is a few system calls, bounded by a time-out).
    pub(crate) async fn serve(self, node: Arc<Node>, mut stop: watch::Receiver<bool>) {
        loop {
            let conn = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                c = self.listener.accept() => c,
            };
            let stream = match conn.and_then(|(s, _)| s.into_std()) {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "short-circuit accept failed");
                    continue;
                }
            };
            let node = node.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = handle(&node, stream) {
                    debug!(error = %e, "short-circuit request failed");
                }
            });
        }
        if let Some(entry) = &self.entry {
            sc::withdraw(entry, &self.socket);
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Answers one connection's request (blocking).
fn handle(node: &Node, stream: UnixStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let body = sc::read_frame(&mut &stream, Vec::new())?;
    let req = pb::ShortCircuitRequest::decode(body.as_slice())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let (resp, files) = decide(node, &req);
    let frame = sc::encode_frame(&resp);
    match files {
        Some((data, meta)) => {
            // Counted before the client can see the answer, so a reader that
            // checks the counters after its read always finds its grant.
            Metrics::add(&node.metrics.shortcircuit_reads, 1);
            Metrics::add(&node.metrics.blocks_read, 1);
            sc::send_with_fds(&stream, &frame, &[data.as_raw_fd(), meta.as_raw_fd()])?;
            debug!(block_id = req.block_id, client = %req.client_name, "short-circuit read granted");
        }
        None => {
            debug!(block_id = req.block_id, client = %req.client_name, why = %resp.message, "short-circuit read refused");
            (&stream).write_all(&frame)?;
        }
    }
    Ok(())
}

/// The answer to a request, and the opened files when it is granted.
fn decide(
    node: &Node,
    req: &pb::ShortCircuitRequest,
) -> (pb::ShortCircuitResponse, Option<(File, File)>) {
    let blk = format!("blk_{}_{}", req.block_id, req.genstamp);
    let refuse = |status: Status, message: String| {
        (
            pb::ShortCircuitResponse {
                status: status as i32,
                message,
                datanode_uuid: node.uuid.clone(),
                replica_length: 0,
            },
            None,
        )
    };
    if req.datanode_uuid != node.uuid {
        return refuse(
            Status::ShortCircuitWrongNode,
            format!("this is datanode {}, not {}", node.uuid, req.datanode_uuid),
        );
    }
    if let Err(e) = node.check_access(false, &req.access_token, req.block_id, ACCESS_READ) {
        return refuse(Status::ShortCircuitAccessDenied, e.message().to_string());
    }
    let replica = match node.store.state(req.block_id) {
        Some(ReplicaState::Finalized(r)) if r.block.genstamp == req.genstamp => r,
        Some(ReplicaState::Finalized(r)) => {
            return refuse(
                Status::ShortCircuitNoReplica,
                format!("{blk}: the replica here is {}", r.block),
            )
        }
        Some(ReplicaState::BeingWritten { .. }) => {
            return refuse(
                Status::ShortCircuitNotFinalized,
                format!("{blk}: replica is being written"),
            )
        }
        None => {
            return refuse(
                Status::ShortCircuitNoReplica,
                format!("{blk}: no replica here"),
            )
        }
    };
    let Some(dir) = node
        .store
        .volumes()
        .get(replica.volume)
        .map(|v| PathBuf::from(&v.dir))
    else {
        return refuse(
            Status::ShortCircuitUnsupported,
            format!("{blk}: volume {} unknown", replica.volume),
        );
    };
    let files = match find_replica(std::slice::from_ref(&dir), req.block_id) {
        Some(f) if f.genstamp == req.genstamp => f,
        _ => {
            return refuse(
                Status::ShortCircuitUnsupported,
                format!("{blk}: no replica files under {}", dir.display()),
            )
        }
    };
    let opened = File::open(&files.data).and_then(|d| Ok((d, File::open(&files.meta)?)));
    let (data, meta) = match opened {
        Ok(f) => f,
        Err(e) => {
            return refuse(
                Status::ShortCircuitUnsupported,
                format!("{blk}: {}: {e}", files.data.display()),
            )
        }
    };
    // The replica may have been reopened for append between the map lookup
    // and the open: hand out only files whose header still says finalized.
    let mut h = [0u8; HEADER_LEN];
    match meta
        .read_exact_at(&mut h, 0)
        .ok()
        .and_then(|_| MetaHeader::decode(&h).ok())
    {
        Some(h) if h.is_finalized() => (
            pb::ShortCircuitResponse {
                status: Status::ShortCircuitGranted as i32,
                message: String::new(),
                datanode_uuid: node.uuid.clone(),
                replica_length: h.len,
            },
            Some((data, meta)),
        ),
        _ => refuse(
            Status::ShortCircuitNotFinalized,
            format!("{blk}: replica is no longer finalized"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ReportQueue;
    use crate::store::{BlockRef, BlockStore, DiskOptions, DiskStore, MemStore};

    /// A node that does not check block tokens (see `tokens_are_checked`).
    fn node(store: Arc<dyn BlockStore>) -> Arc<Node> {
        node_with_tokens(store, false)
    }

    fn node_with_tokens(store: Arc<dyn BlockStore>, tokens: bool) -> Arc<Node> {
        let (reports, _rx) = ReportQueue::new();
        Arc::new(
            Node::new(
                store,
                "127.0.0.1".into(),
                "127.0.0.1:1".into(),
                "127.0.0.1:2".into(),
                65536,
                1 << 20,
                reports,
            )
            .with_security(
                Arc::new(tusk_common::security::ClusterSecret::generate()),
                tokens,
            ),
        )
    }

    fn write(store: &dyn BlockStore, b: BlockRef, data: &[u8], finalize: bool) {
        let mut w = store.create(b, data.len() as u64).unwrap();
        let mut crcs = Vec::new();
        crate::store::compute_crcs(data, &mut crcs);
        w.append(data, &crcs).unwrap();
        if finalize {
            w.finalize().unwrap();
        } else {
            std::mem::forget(w);
        }
    }

    fn ask(node: &Node, id: u64, gs: u64) -> Result<sc::LocalReplica, sc::LocalError> {
        let (a, b) = UnixStream::pair().unwrap();
        let req = pb::ShortCircuitRequest {
            block_id: id,
            genstamp: gs,
            datanode_uuid: node.uuid.clone(),
            ..Default::default()
        };
        (&a).write_all(&sc::encode_frame(&req)).unwrap();
        handle(node, b).unwrap();
        let mut buf = vec![0u8; 512];
        let (n, fds) = sc::recv_with_fds(&a, &mut buf, 2).unwrap();
        buf.truncate(n);
        let body = sc::read_frame(&mut &a, buf).unwrap();
        let resp = pb::ShortCircuitResponse::decode(body.as_slice()).unwrap();
        if resp.status != Status::ShortCircuitGranted as i32 {
            return Err(sc::LocalError {
                cause: resp.message,
                checksum: false,
            });
        }
        let mut fds = fds.into_iter();
        sc::LocalReplica::from_files(
            File::from(fds.next().unwrap()),
            File::from(fds.next().unwrap()),
            "pair".into(),
        )
    }

    #[test]
    fn grants_finalized_replicas_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(&[dir.path().join("d")], DiskOptions::default()).unwrap();
        let node = node(Arc::new(store));
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        write(node.store.as_ref(), BlockRef::new(1, 3), &data, true);
        write(node.store.as_ref(), BlockRef::new(2, 3), &data, false);

        let r = ask(&node, 1, 3).unwrap();
        assert_eq!(&r.read(0, 5000).unwrap()[..], &data[..]);
        assert_eq!(
            node.metrics
                .shortcircuit_reads
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let e = ask(&node, 1, 2).unwrap_err();
        assert!(e.cause.contains("blk_1_3"), "{e}");
        let e = ask(&node, 2, 3).unwrap_err();
        assert!(e.cause.contains("being written"), "{e}");
        let e = ask(&node, 9, 1).unwrap_err();
        assert!(e.cause.contains("no replica"), "{e}");
    }

    #[test]
    fn tokens_are_checked() {
        use std::time::Duration;
        use tusk_common::security::BlockKeyManager;
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(&[dir.path().join("d")], DiskOptions::default()).unwrap();
        let node = node_with_tokens(Arc::new(store), true);
        write(node.store.as_ref(), BlockRef::new(1, 3), b"abc", true);
        let keys = BlockKeyManager::new(vec![], Duration::from_secs(600), Duration::from_secs(600));
        node.security.keys.set(keys.keys().to_vec());
        let mut req = pb::ShortCircuitRequest {
            block_id: 1,
            genstamp: 3,
            datanode_uuid: node.uuid.clone(),
            ..Default::default()
        };
        let (resp, files) = decide(&node, &req);
        assert_eq!(resp.status, Status::ShortCircuitAccessDenied as i32);
        assert!(
            resp.message
                .starts_with("InvalidBlockTokenException: blk_1: no token"),
            "{}",
            resp.message
        );
        assert!(files.is_none());
        req.access_token = keys.issue(2, ACCESS_READ, "u").into();
        assert_eq!(
            decide(&node, &req).0.status,
            Status::ShortCircuitAccessDenied as i32
        );
        req.access_token = keys.issue(1, ACCESS_READ, "u").into();
        let (resp, files) = decide(&node, &req);
        assert_eq!(
            resp.status,
            Status::ShortCircuitGranted as i32,
            "{}",
            resp.message
        );
        assert!(files.is_some());
    }

    #[test]
    fn refuses_other_nodes_and_memory_stores() {
        let node = node(Arc::new(MemStore::new(1 << 30)));
        write(node.store.as_ref(), BlockRef::new(1, 1), b"abc", true);
        let e = ask(&node, 1, 1).unwrap_err();
        assert!(e.cause.contains("no replica files"), "{e}");
        let req = pb::ShortCircuitRequest {
            block_id: 1,
            genstamp: 1,
            datanode_uuid: "someone-else".into(),
            ..Default::default()
        };
        let (resp, files) = decide(&node, &req);
        assert_eq!(resp.status, Status::ShortCircuitWrongNode as i32);
        assert!(files.is_none());
    }
}
