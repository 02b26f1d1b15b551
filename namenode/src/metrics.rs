//! Counters exported on `/metrics` (Prometheus text format).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use tusk_common::metrics::{write_header, write_metric};

use crate::sync::GroupCommit;
use crate::types::FsStats;

/// RPC counts per method.
#[derive(Default)]
pub struct Metrics {
    rpcs: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn count(&self, method: &'static str) {
        *self.rpcs.lock().entry(method).or_insert(0) += 1;
    }

    pub fn rpc_counts(&self) -> BTreeMap<&'static str, u64> {
        self.rpcs.lock().clone()
    }

    /// The whole `/metrics` page.
    pub fn render(&self, s: &FsStats, commit: &GroupCommit) -> String {
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
        ] {
            write_metric(
                &mut out,
                &format!("tusk_namenode_{name}"),
                "counter",
                help,
                v,
            );
        }
        write_header(
            &mut out,
            "tusk_namenode_rpc_total",
            "counter",
            "RPCs served, by method.",
        );
        for (m, n) in self.rpc_counts() {
            let _ = writeln!(out, "tusk_namenode_rpc_total{{method=\"{m}\"}} {n}");
        }
        let gauges: [(&str, &str, u64); 13] = [
            ("files", "Files in the namespace.", s.total_files),
            ("directories", "Directories in the namespace.", s.total_dirs),
            ("blocks", "Blocks in the block map.", s.total_blocks),
            ("live_datanodes", "Live datanodes.", s.live_datanodes),
            ("dead_datanodes", "Dead datanodes.", s.dead_datanodes),
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
                "Blocks with a copy scheduled and not yet reported by its targets.",
                s.pending_replications,
            ),
            ("safe_mode", "1 while in safe mode.", u64::from(s.safe_mode)),
        ];
        for (name, help, v) in gauges {
            write_metric(&mut out, &format!("tusk_namenode_{name}"), "gauge", help, v);
        }
        out
    }
}
