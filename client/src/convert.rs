//! Proto ⇄ domain conversions, in one place.

use crate::types::*;
use tusk_proto as pb;

pub(crate) fn file_status(s: pb::FileStatus, path: String) -> FileStatus {
    FileStatus {
        name: tusk_common::path::file_name(&path).to_string(),
        path,
        file_type: if s.file_type == pb::FileType::Directory as i32 {
            FileType::Directory
        } else {
            FileType::File
        },
        length: s.length,
        owner: s.owner,
        group: s.group,
        permission: s.permission & 0o7777,
        mtime_ms: s.mtime_ms,
        atime_ms: s.atime_ms,
        replication: s.replication,
        block_size: s.block_size,
        file_id: s.file_id,
        children_num: s.children_num,
        under_construction: s.under_construction,
    }
}

pub(crate) fn content_summary(r: pb::GetContentSummaryResponse) -> ContentSummary {
    ContentSummary {
        length: r.length,
        file_count: r.file_count,
        directory_count: r.directory_count,
        space_consumed: r.space_consumed,
        quota: u64::try_from(r.quota).ok(),
        space_quota: u64::try_from(r.space_quota).ok(),
    }
}

pub(crate) fn fs_stats(r: pb::GetFsStatsResponse) -> FsStats {
    FsStats {
        capacity: r.capacity,
        used: r.used,
        remaining: r.remaining,
        live_datanodes: r.live_datanodes,
        dead_datanodes: r.dead_datanodes,
        under_replicated_blocks: r.under_replicated_blocks,
        corrupt_blocks: r.corrupt_blocks,
        missing_blocks: r.missing_blocks,
        total_blocks: r.total_blocks,
        total_files: r.total_files,
        safe_mode: r.safe_mode,
        pending_replications: r.pending_replication_blocks,
    }
}

pub(crate) fn server_defaults(r: pb::GetServerDefaultsResponse) -> ServerDefaults {
    ServerDefaults {
        block_size: r.block_size,
        replication: r.replication,
        bytes_per_checksum: r.bytes_per_checksum,
        write_packet_size: r.write_packet_size,
        superuser: r.superuser,
        supergroup: r.supergroup,
        // An older namenode does not say: its trash is on (one day).
        trash_interval: std::time::Duration::from_millis(r.trash_interval_ms.unwrap_or(86_400_000)),
    }
}

pub(crate) fn datanode_info(d: pb::DatanodeInfo) -> DatanodeInfo {
    DatanodeInfo {
        uuid: d.uuid,
        host: d.host,
        data_addr: d.data_addr,
        http_addr: d.http_addr,
        rack: d.rack,
    }
}

pub(crate) fn datanode_info_to_pb(d: &DatanodeInfo) -> pb::DatanodeInfo {
    pb::DatanodeInfo {
        uuid: d.uuid.clone(),
        host: d.host.clone(),
        data_addr: d.data_addr.clone(),
        http_addr: d.http_addr.clone(),
        rack: d.rack.clone(),
    }
}

pub(crate) fn datanode_report(e: pb::DatanodeReportEntry) -> DatanodeReport {
    DatanodeReport {
        info: datanode_info(e.info.unwrap_or_default()),
        live: e.live,
        capacity: e.capacity,
        used: e.used,
        remaining: e.remaining,
        num_blocks: e.num_blocks,
        last_heartbeat_ms_ago: e.last_heartbeat_ms_ago,
        xceivers: e.xceivers,
        admin_state: e.admin_state,
        blocks_to_replicate: e.blocks_to_replicate,
    }
}

pub(crate) fn safe_mode_action_to_pb(a: SafeModeAction) -> pb::SafeModeAction {
    match a {
        SafeModeAction::Get => pb::SafeModeAction::Get,
        SafeModeAction::Enter => pb::SafeModeAction::Enter,
        SafeModeAction::Leave => pb::SafeModeAction::Leave,
    }
}

pub(crate) fn balancer_action_to_pb(a: BalancerAction) -> pb::BalancerAction {
    match a {
        BalancerAction::Status => pb::BalancerAction::Status,
        BalancerAction::Start => pb::BalancerAction::Start,
        BalancerAction::Stop => pb::BalancerAction::Stop,
    }
}

pub(crate) fn balancer_status(s: pb::BalancerStatus) -> BalancerStatus {
    BalancerStatus {
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
        outcome: s.outcome,
    }
}

fn block_from_pb(b: Option<pb::Block>) -> Block {
    let b = b.unwrap_or_default();
    Block {
        id: b.block_id,
        genstamp: b.genstamp,
        num_bytes: b.num_bytes,
    }
}

fn block_health(h: i32) -> BlockHealth {
    match pb::BlockHealth::try_from(h).unwrap_or(pb::BlockHealth::Unspecified) {
        pb::BlockHealth::Ok => BlockHealth::Ok,
        pb::BlockHealth::UnderReplicated => BlockHealth::UnderReplicated,
        pb::BlockHealth::Corrupt => BlockHealth::Corrupt,
        pb::BlockHealth::Missing | pb::BlockHealth::Unspecified => BlockHealth::Missing,
        pb::BlockHealth::UnderConstruction => BlockHealth::UnderConstruction,
    }
}

pub(crate) fn fsck_report(r: pb::FsckResponse) -> FsckReport {
    FsckReport {
        files: r
            .files
            .into_iter()
            .map(|f| FsckFile {
                path: f.path,
                length: f.length,
                replication: f.replication,
                under_construction: f.under_construction,
                blocks: f
                    .blocks
                    .into_iter()
                    .map(|b| FsckBlock {
                        block: block_from_pb(b.block),
                        health: block_health(b.health),
                        live: b.live,
                        expected: b.expected,
                        locations: b.locations.into_iter().map(datanode_info).collect(),
                        corrupt_locations: b
                            .corrupt_locations
                            .into_iter()
                            .map(datanode_info)
                            .collect(),
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

pub(crate) fn block_to_pb(b: &Block) -> pb::Block {
    pb::Block {
        block_id: b.id,
        genstamp: b.genstamp,
        num_bytes: b.num_bytes,
    }
}

pub(crate) fn located_block(b: pb::LocatedBlock) -> LocatedBlock {
    let blk = b.block.unwrap_or_default();
    LocatedBlock {
        block_id: blk.block_id,
        genstamp: blk.genstamp,
        num_bytes: blk.num_bytes,
        offset: b.offset,
        locations: b.locations.into_iter().map(datanode_info).collect(),
        corrupt: b.corrupt,
        access_token: b.access_token,
    }
}

pub(crate) fn block_locations(r: pb::GetBlockLocationsResponse) -> BlockLocations {
    BlockLocations {
        file_length: r.file_length,
        file_id: r.file_id,
        under_construction: r.under_construction,
        blocks: r.blocks.into_iter().map(located_block).collect(),
    }
}

pub(crate) fn file_checksum(r: pb::GetFileChecksumResponse) -> FileChecksum {
    FileChecksum {
        sha256: <[u8; 32]>::try_from(&r.sha256[..]).ok(),
        length: r.length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_summary() {
        let s = file_status(
            pb::FileStatus {
                name: "x".into(),
                file_type: pb::FileType::Directory as i32,
                permission: 0o40755,
                ..Default::default()
            },
            "/a/x".into(),
        );
        assert!(s.is_dir());
        assert_eq!(s.permission, 0o755);
        assert_eq!(s.name, "x");
        let c = content_summary(pb::GetContentSummaryResponse {
            quota: -1,
            space_quota: 100,
            ..Default::default()
        });
        assert_eq!(c.quota, None);
        assert_eq!(c.space_quota, Some(100));
        let k = file_checksum(pb::GetFileChecksumResponse {
            sha256: Default::default(),
            length: 3,
        });
        assert_eq!(k.sha256, None);
        let k = file_checksum(pb::GetFileChecksumResponse {
            sha256: vec![0xab; 32].into(),
            length: 3,
        });
        assert_eq!(k.hex().unwrap(), "ab".repeat(32));
    }
}
