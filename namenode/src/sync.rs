//! Group commit: mutations are applied under the namesystem lock, then wait
//! for durability outside it. Durability comes from the edit log
//! ([`LoggedStore`]): its one syncer thread writes and `fdatasync`s every
//! record pending when it starts a sync, and releases every waiter that sync
//! covered, so many concurrent mutations share one `fdatasync` — and none
//! waits for a flush of sled, which is written behind the log and flushed
//! only at checkpoints.

use crate::editlog::LoggedStore;
use crate::error::{NnError, NnResult};
use crate::store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tusk_common::metrics::write_metric;

/// The namesystem's view of durability: which point a mutation waits for.
pub struct GroupCommit {
    /// The log every namespace batch goes through.
    log: Arc<LoggedStore>,
    /// Mutations applied (for `/metrics`).
    mutations: AtomicU64,
}

impl GroupCommit {
    pub fn new(log: Arc<LoggedStore>) -> Self {
        GroupCommit {
            log,
            mutations: AtomicU64::new(0),
        }
    }

    /// Called under the namesystem lock after a mutation applied its
    /// batches; returns the point to [`wait`](Self::wait) for: the log's last
    /// record, which is this mutation's own (or a later one's).
    pub fn applied(&self) -> u64 {
        self.mutations.fetch_add(1, Ordering::Relaxed);
        self.log.last_appended()
    }

    /// `fdatasync`s of the edit log so far (mutations per sync shows the
    /// grouping).
    pub fn flushes(&self) -> u64 {
        self.log.stats().syncs
    }

    /// Mutations applied so far.
    pub fn last_applied(&self) -> u64 {
        self.mutations.load(Ordering::Relaxed)
    }

    /// Waits until everything up to `seq` is durable.
    pub async fn wait(&self, seq: u64) -> NnResult<()> {
        self.log.wait_durable(seq).await.map_err(|e| match e {
            StoreError::Closed => NnError::ShuttingDown,
            e => NnError::Storage(e.to_string()),
        })
    }

    /// The edit log's figures in Prometheus text, for `/metrics`.
    pub fn render_metrics(&self) -> String {
        let s = self.log.stats();
        let mut out = String::new();
        let per_sync = if s.syncs == 0 {
            0.0
        } else {
            s.records_synced as f64 / s.syncs as f64
        };
        for (name, kind, help, v) in [
            (
                "edits_synced_total",
                "counter",
                "Edit log records written and fdatasynced.",
                s.records_synced.to_string(),
            ),
            (
                "edit_syncs_total",
                "counter",
                "fdatasyncs of the edit log (one per group commit).",
                s.syncs.to_string(),
            ),
            (
                "edit_bytes_synced_total",
                "counter",
                "Bytes of edit log records synced.",
                s.bytes_synced.to_string(),
            ),
            (
                "edits_per_sync",
                "gauge",
                "Mean edit log records per fdatasync since start.",
                format!("{per_sync:.2}"),
            ),
            (
                "checkpoints_total",
                "counter",
                "Checkpoints (sled flushed, covered edit segments deleted).",
                s.checkpoints.to_string(),
            ),
            (
                "edits_since_checkpoint",
                "gauge",
                "Edit log records a restart would replay at most.",
                s.appended.saturating_sub(s.checkpointed).to_string(),
            ),
        ] {
            write_metric(&mut out, &format!("tusk_namenode_{name}"), kind, help, v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::editlog::EditLogConfig;
    use crate::store::{Batch, KvStore, MemStore};

    #[tokio::test]
    async fn waiters_are_released_after_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            LoggedStore::open(
                dir.path(),
                Arc::new(MemStore::new()),
                EditLogConfig::default(),
            )
            .unwrap(),
        );
        let gc = Arc::new(GroupCommit::new(log.clone()));
        let mut waits = Vec::new();
        for i in 0..50u32 {
            let mut b = Batch::default();
            b.put(i.to_be_bytes().to_vec(), vec![1]);
            log.apply(b).unwrap();
            let seq = gc.applied();
            assert_eq!(seq, u64::from(i) + 1);
            let g = gc.clone();
            waits.push(tokio::spawn(async move { g.wait(seq).await }));
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        assert!(log.durable() >= 50);
        assert_eq!(gc.last_applied(), 50);
        assert!(gc.flushes() >= 1 && gc.flushes() <= 50);
        assert!(gc
            .render_metrics()
            .contains("tusk_namenode_edits_synced_total 50"));
        // A mutation that applied nothing waits for what came before it.
        let seq = gc.applied();
        gc.wait(seq).await.unwrap();
        log.close().unwrap();
        // After close, a new waiter is told so instead of hanging.
        assert_eq!(gc.wait(seq + 1).await, Err(NnError::ShuttingDown));
        gc.wait(seq).await.unwrap();
    }
}
