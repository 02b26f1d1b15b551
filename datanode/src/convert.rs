//! Conversions between proto messages and the crate's domain types.

use crate::error::DatanodeError;
use crate::store::{BlockRef, Replica, VolumeReport};
use tusk_proto as pb;

pub fn block_ref(b: &pb::Block) -> BlockRef {
    BlockRef::new(b.block_id, b.genstamp)
}

/// The block of a request, or INVALID_ARGUMENT when it is missing.
pub fn required_block(b: Option<&pb::Block>, what: &str) -> Result<pb::Block, tonic::Status> {
    b.cloned()
        .ok_or_else(|| tonic::Status::invalid_argument(format!("{what}: missing block")))
}

pub fn block_of(r: &Replica) -> pb::Block {
    pb::Block {
        block_id: r.block.id,
        genstamp: r.block.genstamp,
        num_bytes: r.len,
    }
}

pub fn block_of_ref(b: BlockRef) -> pb::Block {
    pb::Block {
        block_id: b.id,
        genstamp: b.genstamp,
        num_bytes: 0,
    }
}

pub fn storage_report(v: &VolumeReport) -> pb::StorageReport {
    pb::StorageReport {
        dir: v.dir.clone(),
        capacity: v.capacity,
        used: v.used,
        remaining: v.remaining,
        failed: v.failed,
    }
}

/// The ack status a failed local write reports for this datanode.
pub fn ack_status_of(e: &DatanodeError) -> pb::AckStatus {
    match e {
        DatanodeError::Checksum { .. } => pb::AckStatus::ErrorChecksum,
        _ => pb::AckStatus::Error,
    }
}
