//! The sending side of a pipeline: copies a finalized replica to other
//! datanodes with WriteBlock, as a client would (client_name "").

use crate::error::DatanodeError;
use crate::node::Node;
use crate::store::{chunks_for, BlockRef, ReplicaReader, BYTES_PER_CHECKSUM};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tusk_proto::{self as pb, AckStatus};

/// Copies replica `block` to `targets` (pipeline order) and waits for the
/// last ack from all of them.
pub(crate) async fn send_replica(
    node: &Arc<Node>,
    block: BlockRef,
    targets: Vec<pb::DatanodeInfo>,
) -> Result<(), DatanodeError> {
    let _xceiver = node.xceiver();
    let Some(first) = targets.first().map(|t| t.data_addr.clone()) else {
        return Ok(());
    };
    let downstream = |msg: String| DatanodeError::Downstream {
        block,
        node: first.clone(),
        msg,
    };
    let store = node.store.clone();
    let reader = tokio::task::spawn_blocking(move || store.open(block))
        .await
        .map_err(|e| DatanodeError::Storage(format!("{block}: {e}")))??;
    let len = reader.len();
    let header = pb::WriteHeader {
        block: Some(pb::Block {
            block_id: block.id,
            genstamp: block.genstamp,
            num_bytes: len,
        }),
        targets: targets[1..].to_vec(),
        client_name: String::new(),
        bytes_per_checksum: BYTES_PER_CHECKSUM,
        ..Default::default()
    };
    let packet = node.packet_size as u64;
    let last_seqno = len.div_ceil(packet).max(1) - 1;
    let (tx, rx) = mpsc::channel(16);
    let producer = tokio::task::spawn_blocking(move || produce(reader, header, packet, tx));

    let mut client = node.peer(&first).map_err(downstream)?;
    let mut acks = client
        .write_block(ReceiverStream::new(rx))
        .await
        .map_err(|s| downstream(s.message().to_string()))?
        .into_inner();
    let outcome = loop {
        match acks.message().await {
            Ok(Some(a)) => {
                if a.statuses.iter().any(|s| *s != AckStatus::Success as i32) {
                    break Err(downstream(format!(
                        "pipeline failed at packet {}: {}",
                        a.seqno, a.message
                    )));
                }
                if a.seqno >= last_seqno {
                    break Ok(());
                }
            }
            Ok(None) => break Err(downstream("pipeline closed before the last ack".into())),
            Err(s) => break Err(downstream(s.message().to_string())),
        }
    };
    // A local read error explains a broken pipeline better than the pipeline does.
    match producer.await {
        Ok(Err(e)) => Err(e),
        _ => outcome,
    }
}

/// Reads the replica into packets (blocking thread).
fn produce(
    mut reader: Box<dyn ReplicaReader>,
    header: pb::WriteHeader,
    packet: u64,
    tx: mpsc::Sender<pb::WritePacket>,
) -> Result<(), DatanodeError> {
    let len = reader.len();
    let mut header = Some(header);
    let mut off = 0u64;
    let mut seqno = 0u64;
    loop {
        let n = packet.min(len - off) as usize;
        let mut data = vec![0u8; n];
        reader.read_at(off, &mut data)?;
        let mut crcs = vec![0u32; chunks_for(n as u64) as usize];
        reader.crcs_at(off / BYTES_PER_CHECKSUM as u64, &mut crcs)?;
        let last = off + n as u64 >= len;
        let p = pb::WritePacket {
            header: header.take(),
            seqno,
            offset: off,
            data: Bytes::from(data),
            checksums: crcs,
            last,
            sha256: Bytes::new(),
        };
        if tx.blocking_send(p).is_err() || last {
            return Ok(());
        }
        off += n as u64;
        seqno += 1;
    }
}
