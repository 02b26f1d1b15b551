//! Counters the datanode exports on `/metrics` (Prometheus text format).

use crate::store::VolumeReport;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tusk_common::metrics::{write_header, write_metric, write_sample};
use tusk_common::rpc_metrics::RpcMetrics;

/// Monotonic counters, bumped where the work happens.
#[derive(Default)]
pub struct Metrics {
    pub bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
    pub blocks_written: AtomicU64,
    pub blocks_read: AtomicU64,
    /// Replicas handed to local clients as file descriptors (short-circuit
    /// reads, also counted in `blocks_read`; their bytes never pass here).
    pub shortcircuit_reads: AtomicU64,
    pub blocks_replicated: AtomicU64,
    pub blocks_deleted: AtomicU64,
    pub checksum_errors: AtomicU64,
    pub write_errors: AtomicU64,
    /// Replicas the block scanner has verified (or found gone / corrupt).
    pub scan_replicas: AtomicU64,
    pub scan_bytes: AtomicU64,
    /// Corrupt replicas the block scanner found (and reported).
    pub scan_corrupt: AtomicU64,
    /// Volumes taken out of service since start.
    pub volume_failures: AtomicU64,
    /// Heartbeats the namenode answered.
    pub heartbeats: AtomicU64,
    /// Full block reports the namenode accepted.
    pub block_reports: AtomicU64,
    /// Calls to the DataTransfer service (see `server::serve_data`).
    pub rpc: Arc<RpcMetrics>,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Renders the counters plus the gauges passed in.
    pub fn render(&self, replicas: usize, xceivers: u32, volumes: &[VolumeReport]) -> String {
        let mut out = String::new();
        let counters = [
            (
                "tusk_datanode_bytes_written_total",
                "Bytes written to replicas",
                &self.bytes_written,
            ),
            (
                "tusk_datanode_bytes_read_total",
                "Bytes sent to readers",
                &self.bytes_read,
            ),
            (
                "tusk_datanode_blocks_written_total",
                "Replicas finalized",
                &self.blocks_written,
            ),
            (
                "tusk_datanode_blocks_read_total",
                "Block reads served",
                &self.blocks_read,
            ),
            (
                "tusk_datanode_shortcircuit_reads_total",
                "Replicas handed to local clients as file descriptors (short-circuit reads)",
                &self.shortcircuit_reads,
            ),
            (
                "tusk_datanode_blocks_replicated_total",
                "Replicas copied to other datanodes",
                &self.blocks_replicated,
            ),
            (
                "tusk_datanode_blocks_deleted_total",
                "Replicas deleted on namenode command",
                &self.blocks_deleted,
            ),
            (
                "tusk_datanode_checksum_errors_total",
                "Packets refused for a bad CRC32C",
                &self.checksum_errors,
            ),
            (
                "tusk_datanode_write_errors_total",
                "Block writes that failed",
                &self.write_errors,
            ),
            (
                "tusk_datanode_scanner_replicas_total",
                "Replicas the block scanner has verified",
                &self.scan_replicas,
            ),
            (
                "tusk_datanode_scanner_bytes_total",
                "Bytes the block scanner has read",
                &self.scan_bytes,
            ),
            (
                "tusk_datanode_scanner_corrupt_total",
                "Corrupt replicas found by the block scanner",
                &self.scan_corrupt,
            ),
            (
                "tusk_datanode_volume_failures_total",
                "Volumes taken out of service",
                &self.volume_failures,
            ),
            (
                "tusk_datanode_heartbeats_total",
                "Heartbeats sent to the namenode and answered",
                &self.heartbeats,
            ),
            (
                "tusk_datanode_block_reports_total",
                "Full block reports sent to the namenode and accepted",
                &self.block_reports,
            ),
        ];
        for (name, help, c) in counters {
            write_metric(&mut out, name, "counter", help, c.load(Ordering::Relaxed));
        }
        write_metric(
            &mut out,
            "tusk_datanode_replicas",
            "gauge",
            "Finalized replicas",
            replicas,
        );
        write_metric(
            &mut out,
            "tusk_datanode_xceivers",
            "gauge",
            "Transfers in progress",
            xceivers,
        );
        for (name, help) in [
            ("tusk_datanode_volume_capacity_bytes", "Volume capacity"),
            (
                "tusk_datanode_volume_used_bytes",
                "Bytes in replicas on the volume",
            ),
            (
                "tusk_datanode_volume_remaining_bytes",
                "Free bytes on the volume minus the reserve",
            ),
            (
                "tusk_datanode_volume_failed",
                "1 when the volume is out of service",
            ),
        ] {
            write_header(&mut out, name, "gauge", help);
            for v in volumes {
                let val = match name {
                    "tusk_datanode_volume_capacity_bytes" => v.capacity,
                    "tusk_datanode_volume_used_bytes" => v.used,
                    "tusk_datanode_volume_failed" => v.failed as u64,
                    _ => v.remaining,
                };
                write_sample(&mut out, name, &[("dir", &v.dir)], val);
            }
        }
        self.rpc.render(&mut out, "tusk_datanode");
        out
    }
}
