//! The namenode's `/metrics` page (Prometheus text format): RPCs per method
//! (from the [`RpcMetrics`] wrapped around both gRPC services), datanode
//! traffic counters, and gauges of the namespace, the block map and the
//! datanodes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tusk_common::metrics::{write_header, write_metric, write_sample};
use tusk_common::rpc_metrics::RpcMetrics;

use crate::sync::GroupCommit;
use crate::types::FsStats;

/// The daemon prefix of every family.
pub const PREFIX: &str = "tusk_namenode";

/// Counters bumped where the work happens, and the RPC table.
#[derive(Default)]
pub struct Metrics {
    /// Calls to ClientProtocol and DatanodeProtocol (see `rpc::serve`).
    pub rpc: Arc<RpcMetrics>,
    /// Datanode heartbeats handled.
    pub heartbeats: AtomicU64,
    /// Full block reports handled.
    pub block_reports: AtomicU64,
    /// Incremental block reports (received/deleted) handled.
    pub incremental_block_reports: AtomicU64,
}

/// Gauges the HTTP handler gathers under the namesystem lock.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub fs: FsStats,
    /// Datanodes being decommissioned.
    pub decommissioning_datanodes: u64,
    /// Datanodes decommissioned (drained).
    pub decommissioned_datanodes: u64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls answered per method (snake_case, all codes, both services):
    /// what the legacy `tusk_namenode_rpc_total` family shows.
    pub fn rpc_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for m in self.rpc.snapshot() {
            *counts.entry(snake_case(&m.method)).or_insert(0) += m.count;
        }
        counts
    }

    /// The whole `/metrics` page.
    pub fn render(&self, g: &Gauges, commit: &GroupCommit) -> String {
        let s = &g.fs;
        let mut out = String::new();
        for (name, help, v) in [
            (
                "mutations_total",
                "Namespace mutations applied.",
                commit.last_applied(),
            ),
            (
                "flushes_total",
                "Durable flushes of the namespace (group commit: several mutations each).",
                commit.flushes(),
            ),
            (
                "heartbeats_total",
                "Datanode heartbeats received.",
                self.heartbeats.load(Ordering::Relaxed),
            ),
            (
                "block_reports_total",
                "Full block reports received from datanodes.",
                self.block_reports.load(Ordering::Relaxed),
            ),
            (
                "incremental_block_reports_total",
                "Incremental block reports (replicas received or deleted) received from datanodes.",
                self.incremental_block_reports.load(Ordering::Relaxed),
            ),
        ] {
            write_metric(&mut out, &format!("{PREFIX}_{name}"), "counter", help, v);
        }
        self.rpc.render(&mut out, PREFIX);
        // Kept for scripts and tests written before the RPC histograms:
        // the same counts, one series per snake_case method.
        let legacy = format!("{PREFIX}_rpc_total");
        write_header(
            &mut out,
            &legacy,
            "counter",
            "RPCs answered, by snake_case method, all services and codes (older form of \
             tusk_namenode_rpc_requests_total).",
        );
        for (m, n) in self.rpc_counts() {
            write_sample(&mut out, &legacy, &[("method", &m)], n);
        }
        let gauges: [(&str, &str, u64); 15] = [
            ("files", "Files in the namespace.", s.total_files),
            ("directories", "Directories in the namespace.", s.total_dirs),
            ("blocks", "Blocks in the block map.", s.total_blocks),
            ("live_datanodes", "Live datanodes.", s.live_datanodes),
            ("dead_datanodes", "Dead datanodes.", s.dead_datanodes),
            (
                "decommissioning_datanodes",
                "Datanodes being decommissioned (replicas moving off them).",
                g.decommissioning_datanodes,
            ),
            (
                "decommissioned_datanodes",
                "Datanodes decommissioned (drained, taking no new replicas).",
                g.decommissioned_datanodes,
            ),
            ("capacity_bytes", "Capacity of live datanodes.", s.capacity),
            ("used_bytes", "Bytes in replicas on live datanodes.", s.used),
            (
                "remaining_bytes",
                "Free bytes on live datanodes.",
                s.remaining,
            ),
            (
                "under_replicated_blocks",
                "Blocks with fewer live replicas than expected.",
                s.under_replicated_blocks,
            ),
            (
                "corrupt_blocks",
                "Blocks with a corrupt replica.",
                s.corrupt_blocks,
            ),
            (
                "missing_blocks",
                "Complete blocks without a live replica.",
                s.missing_blocks,
            ),
            (
                "pending_replication_blocks",
                "Replication queue length: blocks with a copy scheduled and not yet reported by its targets.",
                s.pending_replications,
            ),
            ("safe_mode", "1 while in safe mode.", u64::from(s.safe_mode)),
        ];
        for (name, help, v) in gauges {
            write_metric(&mut out, &format!("{PREFIX}_{name}"), "gauge", help, v);
        }
        out
    }
}

/// `GetFileInfo` → `get_file_info`.
fn snake_case(method: &str) -> String {
    let mut s = String::with_capacity(method.len() + 4);
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_of_grpc_methods() {
        assert_eq!(snake_case("GetFileInfo"), "get_file_info");
        assert_eq!(snake_case("Mkdirs"), "mkdirs");
        assert_eq!(
            snake_case("BlockReceivedAndDeleted"),
            "block_received_and_deleted"
        );
    }
}
