//! The DataTransfer gRPC service: a thin adapter from the proto to the block
//! store and the write pipeline.
//!
//! - `write.rs`: WriteBlock, the receiving side of a pipeline.
//! - `send.rs`: the sending side, used to copy a replica (REPLICATE).
//! - here: ReadBlock, BlockChecksum, ReplicaInfo, RecoverReplica.

mod send;
mod write;

pub(crate) use send::send_replica;

use crate::convert::{self, block_ref, required_block};
use crate::error::DatanodeError;
use crate::metrics::Metrics;
use crate::node::{Node, XceiverGuard};
use crate::store::{
    checksum_summary, chunks_for, BlockRef, ReplicaReader, ReplicaState, BYTES_PER_CHECKSUM,
};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::sync::OwnedSemaphorePermit;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tusk_common::security::ACCESS_READ;
use tusk_common::shed::Slots;
use tusk_proto as pb;
use tusk_proto::data_transfer_server::DataTransfer;

/// The service, sharing the node's state.
pub(crate) struct DataTransferService {
    pub node: Arc<Node>,
    /// ReadBlock/WriteBlock streams in progress (`[datanode] max_transfers`).
    pub slots: Slots,
}

/// A slot for one ReadBlock or WriteBlock stream (HDFS's
/// `dfs.datanode.max.transfer.threads`, `[datanode] max_transfers`), held
/// until the transfer ends: one more is refused with RESOURCE_EXHAUSTED
/// before any work, so a flood of transfers cannot exhaust the datanode's
/// threads, memory or file descriptors; clients treat the refusal like an
/// unreachable replica.
fn take_slot(slots: &Slots, node: &Node, what: &str) -> Result<OwnedSemaphorePermit, Status> {
    slots.try_take().ok_or_else(|| {
        tracing::debug!(node = %node.uuid, max = slots.max(), "{what} refused: too many transfers");
        Status::resource_exhausted(format!(
            "datanode {}: {} ({})",
            node.data_addr,
            tusk_common::shed::TRANSFERS_BUSY,
            slots.max()
        ))
    })
}

fn join_error(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("datanode task failed: {e}"))
}

#[tonic::async_trait]
impl DataTransfer for DataTransferService {
    type WriteBlockStream = ReceiverStream<Result<pb::WriteAck, Status>>;

    async fn write_block(
        &self,
        request: Request<Streaming<pb::WritePacket>>,
    ) -> Result<Response<Self::WriteBlockStream>, Status> {
        // Answer at once and run the pipeline in its own task: header errors
        // arrive as the stream's status, whichever way the client waits.
        // Another datanode (pipeline, replica copy) signs with the cluster
        // secret; a client's header must carry a WRITE token.
        let exempt = self.node.token_exempt(&request);
        let slot = take_slot(&self.slots, &self.node, "WriteBlock")?;
        let (tx, rx) = mpsc::channel(64);
        let node = self.node.clone();
        tokio::spawn(async move {
            let _slot = slot;
            write::serve_write(node, request.into_inner(), tx, exempt).await
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type ReadBlockStream = ReceiverStream<Result<pb::ReadBlockResponse, Status>>;

    async fn read_block(
        &self,
        request: Request<pb::ReadBlockRequest>,
    ) -> Result<Response<Self::ReadBlockStream>, Status> {
        let r = request.get_ref();
        let b = required_block(r.block.as_ref(), "ReadBlock")?;
        self.node
            .check_request_access(&request, &r.access_token, b.block_id, ACCESS_READ)?;
        let req = request.into_inner();
        let slot = take_slot(&self.slots, &self.node, "ReadBlock")?;
        let block = block_ref(&b);
        let guard = self.node.xceiver();
        let store = self.node.store.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let was_there = matches!(store.state(block.id), Some(ReplicaState::Finalized(_)));
            (store.open(block), was_there)
        })
        .await
        .map_err(join_error)?;
        let reader = match opened {
            (Ok(r), _) => r,
            (Err(e @ DatanodeError::ReplicaNotFound { .. }), true) => {
                // Its files vanished from under the store: tell the namenode
                // now rather than at the next full block report.
                self.node.reports.deleted(convert::block_of_ref(block));
                return Err(e.into());
            }
            (Err(e), _) => return Err(e.into()),
        };
        let len = reader.len();
        let visible = match b.num_bytes {
            0 => len,
            n if n > len => {
                return Err(DatanodeError::OutOfRange {
                    block,
                    msg: format!("replica has {len} bytes, the reader expects {n}"),
                }
                .into())
            }
            n => n,
        };
        if req.offset > visible {
            return Err(DatanodeError::OutOfRange {
                block,
                msg: format!("offset {} beyond the replica's {visible} bytes", req.offset),
            }
            .into());
        }
        let end = match req.length {
            0 => visible,
            l => visible.min(req.offset.saturating_add(l)),
        };
        let bpc = BYTES_PER_CHECKSUM as u64;
        let start = req.offset / bpc * bpc;
        // Whole chunks, so the reader can check the last one's CRC.
        let end = end.div_ceil(bpc).saturating_mul(bpc).min(len);
        let (tx, rx) = mpsc::channel(8);
        let node = self.node.clone();
        let with_crcs = req.verify_checksum;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            stream_replica(&node, reader, start, end, with_crcs, tx, guard)
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn block_checksum(
        &self,
        request: Request<pb::BlockChecksumRequest>,
    ) -> Result<Response<pb::BlockChecksumResponse>, Status> {
        let b = required_block(request.get_ref().block.as_ref(), "BlockChecksum")?;
        self.node.check_request_access(
            &request,
            &request.get_ref().access_token,
            b.block_id,
            ACCESS_READ,
        )?;
        let block = block_ref(&b);
        let store = self.node.store.clone();
        let s = tokio::task::spawn_blocking(move || checksum_summary(store.as_ref(), block))
            .await
            .map_err(join_error)??;
        Ok(Response::new(pb::BlockChecksumResponse {
            md5_of_crcs: Bytes::copy_from_slice(&s.md5_of_crcs),
            bytes_per_checksum: BYTES_PER_CHECKSUM,
            crcs_per_block: s.crcs,
            sha256: Bytes::copy_from_slice(&s.sha256),
            num_bytes: s.len,
        }))
    }

    async fn replica_info(
        &self,
        request: Request<pb::ReplicaInfoRequest>,
    ) -> Result<Response<pb::ReplicaInfoResponse>, Status> {
        let b = required_block(request.get_ref().block.as_ref(), "ReplicaInfo")?;
        self.node.check_request_access(
            &request,
            &request.get_ref().access_token,
            b.block_id,
            ACCESS_READ,
        )?;
        let st = replica_info(self.node.store.state(b.block_id));
        Ok(Response::new(pb::ReplicaInfoResponse {
            exists: st.exists,
            finalized: st.finalized,
            genstamp: st.genstamp,
            num_bytes: st.num_bytes,
        }))
    }

    async fn recover_replica(
        &self,
        request: Request<pb::RecoverReplicaRequest>,
    ) -> Result<Response<pb::RecoverReplicaResponse>, Status> {
        use pb::recover_replica_request::Phase;
        // Only the namenode may stop writers and cut replicas: node
        // authentication, never a block token.
        if let Err(e) = self.node.security.secret.check_request(&request) {
            return Err(Status::unauthenticated(format!(
                "RecoverReplica blk_{}: {}",
                request.get_ref().block_id,
                e.message()
            )));
        }
        let r = request.into_inner();
        let store = self.node.store.clone();
        match Phase::try_from(r.phase) {
            Ok(Phase::Init) => {
                let st = tokio::task::spawn_blocking(move || {
                    store.stop_writer(r.block_id, r.new_genstamp)
                })
                .await
                .map_err(join_error)?;
                Ok(Response::new(replica_info(st)))
            }
            Ok(Phase::Finalize) => {
                let block = BlockRef::new(r.block_id, r.new_genstamp);
                // A retried FINALIZE finds its work done.
                if let Some(ReplicaState::Finalized(done)) = store.state(block.id) {
                    if done.block == block && done.len == r.length {
                        return Ok(Response::new(replica_info(Some(ReplicaState::Finalized(
                            done,
                        )))));
                    }
                }
                let len = r.length;
                let replica =
                    tokio::task::spawn_blocking(move || store.recover(block, len)?.finalize())
                        .await
                        .map_err(join_error)??;
                write::finalized_replica(&self.node, replica.clone()).await;
                Ok(Response::new(replica_info(Some(ReplicaState::Finalized(
                    replica,
                )))))
            }
            _ => Err(Status::invalid_argument(format!(
                "RecoverReplica blk_{}: phase must be INIT or FINALIZE",
                r.block_id
            ))),
        }
    }
}

/// What the datanode holds of a block, as ReplicaInfo / RecoverReplica answer.
fn replica_info(st: Option<ReplicaState>) -> pb::RecoverReplicaResponse {
    match st {
        None => pb::RecoverReplicaResponse::default(),
        Some(ReplicaState::Finalized(r)) => pb::RecoverReplicaResponse {
            exists: true,
            finalized: true,
            genstamp: r.block.genstamp,
            num_bytes: r.len,
        },
        Some(ReplicaState::BeingWritten { block, len }) => pb::RecoverReplicaResponse {
            exists: true,
            finalized: false,
            genstamp: block.genstamp,
            num_bytes: len,
        },
    }
}

/// Sends `[start, end)` of a replica in `packet_size` messages (blocking
/// thread). Always sends at least one message, carrying the replica length.
fn stream_replica(
    node: &Node,
    mut reader: Box<dyn ReplicaReader>,
    start: u64,
    end: u64,
    with_crcs: bool,
    tx: mpsc::Sender<Result<pb::ReadBlockResponse, Status>>,
    _guard: XceiverGuard,
) {
    let bpc = BYTES_PER_CHECKSUM as u64;
    let len = reader.len();
    let mut off = start;
    let mut first = true;
    loop {
        let n = (node.packet_size as u64).min(end.saturating_sub(off)) as usize;
        let mut data = vec![0u8; n];
        let mut crcs = Vec::new();
        let res = reader.read_at(off, &mut data).and_then(|()| {
            if with_crcs {
                crcs = vec![0u32; chunks_for(n as u64) as usize];
                reader.crcs_at(off / bpc, &mut crcs)
            } else {
                Ok(())
            }
        });
        if let Err(e) = res {
            let _ = tx.blocking_send(Err(e.into()));
            return;
        }
        let msg = pb::ReadBlockResponse {
            offset: off,
            data: Bytes::from(data),
            checksums: crcs,
            bytes_per_checksum: BYTES_PER_CHECKSUM,
            replica_length: if first { len } else { 0 },
        };
        if tx.blocking_send(Ok(msg)).is_err() {
            return;
        }
        Metrics::add(&node.metrics.bytes_read, n as u64);
        first = false;
        off += n as u64;
        if off >= end {
            break;
        }
    }
    Metrics::add(&node.metrics.blocks_read, 1);
}
