//! Proto ⇄ domain conversions, and the one place [`NnError`] becomes a
//! `tonic::Status` (code + message + `x-tusk-error` exception class).

use crate::error::NnError;
use crate::types::*;
use tonic::{Code, Status};
use tusk_proto as pb;

/// gRPC code and Hadoop exception class of each error (see [`NnError`]'s docs).
pub fn error_class(e: &NnError) -> (Code, &'static str) {
    match e {
        NnError::InvalidPath(_) => (Code::InvalidArgument, "InvalidPathException"),
        NnError::InvalidArgument(_) => (Code::InvalidArgument, "IOException"),
        NnError::NotFound(_) => (Code::NotFound, "FileNotFoundException"),
        NnError::NotAFile(_) => (Code::FailedPrecondition, "FileNotFoundException"),
        NnError::AlreadyExists(_) => (Code::AlreadyExists, "FileAlreadyExistsException"),
        NnError::ParentNotDirectory(_) => (Code::FailedPrecondition, "ParentNotDirectoryException"),
        NnError::NotEmpty(_) => (Code::FailedPrecondition, "PathIsNotEmptyDirectoryException"),
        NnError::PermissionDenied(_) => (Code::PermissionDenied, "AccessControlException"),
        NnError::SafeMode(_) => (Code::FailedPrecondition, "SafeModeException"),
        NnError::AlreadyBeingCreated(_) => {
            (Code::FailedPrecondition, "AlreadyBeingCreatedException")
        }
        NnError::LeaseExpired(_) => (Code::FailedPrecondition, "LeaseExpiredException"),
        NnError::BadBlock(_) => (Code::FailedPrecondition, "IOException"),
        NnError::NoDatanodes(_) => (Code::ResourceExhausted, "IOException"),
        NnError::TooManyItems(_) => (
            Code::FailedPrecondition,
            "MaxDirectoryItemsExceededException",
        ),
        NnError::NsQuotaExceeded(_) => (Code::ResourceExhausted, "NSQuotaExceededException"),
        NnError::DsQuotaExceeded(_) => (Code::ResourceExhausted, "DSQuotaExceededException"),
        NnError::Storage(_) => (Code::Internal, "IOException"),
        NnError::ShuttingDown => (Code::Unavailable, "IOException"),
    }
}

impl From<NnError> for Status {
    fn from(e: NnError) -> Self {
        let (code, class) = error_class(&e);
        let mut s = Status::new(code, e.to_string());
        if let Ok(v) = class.parse() {
            s.metadata_mut().insert(tusk_proto::ERROR_CLASS_HEADER, v);
        }
        s
    }
}

pub fn block_from(b: &pb::Block) -> Block {
    Block {
        id: b.block_id,
        genstamp: b.genstamp,
        num_bytes: b.num_bytes,
    }
}

pub fn block_to(b: &Block) -> pb::Block {
    pb::Block {
        block_id: b.id,
        genstamp: b.genstamp,
        num_bytes: b.num_bytes,
    }
}

pub fn status_to(s: &FileStatus) -> pb::FileStatus {
    pb::FileStatus {
        name: s.name.clone(),
        file_type: match s.kind {
            InodeKind::File => pb::FileType::File as i32,
            InodeKind::Dir => pb::FileType::Directory as i32,
        },
        length: s.length,
        owner: s.owner.clone(),
        group: s.group.clone(),
        permission: s.permission,
        mtime_ms: s.mtime_ms,
        atime_ms: s.atime_ms,
        replication: s.replication,
        block_size: s.block_size,
        file_id: s.file_id,
        children_num: s.children_num,
        under_construction: s.under_construction,
    }
}

pub fn datanode_to(d: &DatanodeId) -> pb::DatanodeInfo {
    pb::DatanodeInfo {
        uuid: d.uuid.clone(),
        host: d.host.clone(),
        data_addr: d.data_addr.clone(),
        http_addr: d.http_addr.clone(),
        rack: d.rack.clone(),
    }
}

pub fn datanode_from(d: &pb::DatanodeInfo) -> DatanodeId {
    DatanodeId {
        uuid: d.uuid.clone(),
        host: d.host.clone(),
        data_addr: d.data_addr.clone(),
        http_addr: d.http_addr.clone(),
        rack: d.rack.clone(),
    }
}

/// A located block without an access token (see [`located_with_token`]).
pub fn located_to(b: &LocatedBlock) -> pb::LocatedBlock {
    located_with_token(b, prost::bytes::Bytes::new())
}

/// A located block carrying the caller's block access token.
pub fn located_with_token(b: &LocatedBlock, access_token: prost::bytes::Bytes) -> pb::LocatedBlock {
    pb::LocatedBlock {
        block: Some(block_to(&b.block)),
        offset: b.offset,
        locations: b.locations.iter().map(datanode_to).collect(),
        corrupt: b.corrupt,
        access_token,
    }
}

/// Sums a datanode's storage reports (failed volumes count for nothing).
pub fn storage_from(reports: &[pb::StorageReport]) -> StorageStats {
    let mut s = StorageStats::default();
    for r in reports.iter().filter(|r| !r.failed) {
        s.capacity = s.capacity.saturating_add(r.capacity);
        s.used = s.used.saturating_add(r.used);
        s.remaining = s.remaining.saturating_add(r.remaining);
    }
    s
}

pub fn command_to(c: &Command) -> pb::DatanodeCommand {
    use pb::datanode_command::Kind;
    match c {
        Command::Reregister => pb::DatanodeCommand {
            kind: Kind::Reregister as i32,
            blocks: vec![],
            targets: vec![],
        },
        Command::BlockReport => pb::DatanodeCommand {
            kind: Kind::BlockReport as i32,
            blocks: vec![],
            targets: vec![],
        },
        Command::Delete(blocks) => pb::DatanodeCommand {
            kind: Kind::Delete as i32,
            blocks: blocks.iter().map(block_to).collect(),
            targets: vec![],
        },
        Command::Replicate(list) => pb::DatanodeCommand {
            kind: Kind::Replicate as i32,
            blocks: list.iter().map(|(b, _)| block_to(b)).collect(),
            targets: list
                .iter()
                .map(|(_, t)| pb::TargetList {
                    targets: t.iter().map(datanode_to).collect(),
                })
                .collect(),
        },
    }
}

pub fn report_to(r: &DatanodeReport) -> pb::DatanodeReportEntry {
    pb::DatanodeReportEntry {
        info: Some(datanode_to(&r.id)),
        live: r.live,
        capacity: r.capacity,
        used: r.used,
        remaining: r.remaining,
        num_blocks: r.num_blocks,
        last_heartbeat_ms_ago: r.last_heartbeat_ms_ago,
        xceivers: r.xceivers,
        admin_state: r.admin_state.as_str().to_string(),
        blocks_to_replicate: r.blocks_to_replicate,
    }
}

pub fn stats_to(s: &FsStats) -> pb::GetFsStatsResponse {
    pb::GetFsStatsResponse {
        capacity: s.capacity,
        used: s.used,
        remaining: s.remaining,
        live_datanodes: s.live_datanodes,
        dead_datanodes: s.dead_datanodes,
        under_replicated_blocks: s.under_replicated_blocks,
        corrupt_blocks: s.corrupt_blocks,
        missing_blocks: s.missing_blocks,
        total_blocks: s.total_blocks,
        total_files: s.total_files,
        safe_mode: s.safe_mode,
        pending_replication_blocks: s.pending_replications,
    }
}

pub fn safe_mode_action_from(a: pb::SafeModeAction) -> SafeModeAction {
    match a {
        pb::SafeModeAction::Get => SafeModeAction::Get,
        pb::SafeModeAction::Enter => SafeModeAction::Enter,
        pb::SafeModeAction::Leave => SafeModeAction::Leave,
    }
}

pub fn balancer_action_from(a: pb::BalancerAction) -> BalancerAction {
    match a {
        pb::BalancerAction::Status => BalancerAction::Status,
        pb::BalancerAction::Start => BalancerAction::Start,
        pb::BalancerAction::Stop => BalancerAction::Stop,
    }
}

pub fn balancer_status_to(s: &crate::balancer::BalancerStatus) -> pb::BalancerStatus {
    pb::BalancerStatus {
        running: s.running,
        balanced: s.balanced,
        threshold: s.threshold,
        iteration: s.iteration,
        bytes_moved: s.bytes_moved,
        bytes_left: s.bytes_left,
        bytes_being_moved: s.bytes_being_moved,
        moves_done: s.moves_done,
        moves_in_flight: s.moves_in_flight,
        moves_failed: s.moves_failed,
        mean_used_pct: s.mean_used_pct,
        max_deviation_pct: s.max_deviation_pct,
        outcome: s.outcome.clone(),
    }
}

fn health_to(h: BlockHealth) -> pb::BlockHealth {
    match h {
        BlockHealth::Ok => pb::BlockHealth::Ok,
        BlockHealth::UnderReplicated => pb::BlockHealth::UnderReplicated,
        BlockHealth::Corrupt => pb::BlockHealth::Corrupt,
        BlockHealth::Missing => pb::BlockHealth::Missing,
        BlockHealth::UnderConstruction => pb::BlockHealth::UnderConstruction,
    }
}

pub fn fsck_to(r: &FsckReport) -> pb::FsckResponse {
    pb::FsckResponse {
        files: r
            .files
            .iter()
            .map(|f| pb::FsckFile {
                path: f.path.clone(),
                length: f.length,
                replication: f.replication,
                under_construction: f.under_construction,
                blocks: f
                    .blocks
                    .iter()
                    .map(|b| pb::FsckBlock {
                        block: Some(block_to(&b.block)),
                        health: health_to(b.health) as i32,
                        live: b.live,
                        expected: b.expected,
                        locations: b.locations.iter().map(datanode_to).collect(),
                        corrupt_locations: b.corrupt_locations.iter().map(datanode_to).collect(),
                        over_replicated: b.over_replicated,
                        mis_replicated: b.mis_replicated,
                    })
                    .collect(),
            })
            .collect(),
        total_files: r.total_files,
        total_dirs: r.total_dirs,
        total_size: r.total_size,
        total_blocks: r.total_blocks,
        total_replicas: r.total_replicas,
        minimally_replicated: r.minimally_replicated,
        under_replicated: r.under_replicated,
        over_replicated: r.over_replicated,
        mis_replicated: r.mis_replicated,
        corrupt_blocks: r.corrupt_blocks,
        missing_blocks: r.missing_blocks,
        missing_size: r.missing_size,
        default_replication: r.default_replication,
        datanodes: r.datanodes,
        racks: r.racks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_code_and_class() {
        let s: Status = NnError::NotFound("File does not exist: /a".into()).into();
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().contains("does not exist"));
        assert_eq!(
            s.metadata()
                .get(tusk_proto::ERROR_CLASS_HEADER)
                .unwrap()
                .to_str()
                .unwrap(),
            "FileNotFoundException"
        );
        let s: Status = NnError::SafeMode("x".into()).into();
        assert_eq!(s.code(), Code::FailedPrecondition);
    }
}
