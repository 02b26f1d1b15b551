//! The volume checker: a background worker that probes the data dirs every
//! `volume_check_interval`, and at once when the store reports an I/O error
//! (see `store/disk/health.rs` for what a probe is). A failed volume's
//! replicas are reported deleted to the namenode (an incremental report),
//! which re-replicates them from the other datanodes; heartbeats then carry
//! `failed = true` for it. When more volumes have failed than
//! `failed_volumes_tolerated`, the datanode stops.

use crate::convert::block_of;
use crate::metrics::Metrics;
use crate::node::Node;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::error;

/// What the checker needs.
pub(crate) struct VolumeChecker {
    pub node: Arc<Node>,
    pub interval: Duration,
    /// Failed volumes survived; one more stops the datanode.
    pub tolerated: usize,
    /// Set (with the reason) when the datanode must stop.
    pub fatal: watch::Sender<Option<String>>,
}

/// The volumes a datanode with `volumes` data dirs survives losing, from
/// `[datanode] failed_volumes_tolerated` (-1 = all but one).
pub(crate) fn tolerated(configured: i64, volumes: usize) -> Result<usize, String> {
    match configured {
        -1 => Ok(volumes.saturating_sub(1)),
        n if n >= 0 && (n as u64) < volumes as u64 => Ok(n as usize),
        n => Err(format!(
            "[datanode] failed_volumes_tolerated = {n}: must be -1 or less than the number of data dirs ({volumes})"
        )),
    }
}

impl VolumeChecker {
    /// Checks now: takes failed volumes out, reports their replicas, and
    /// decides whether the datanode can go on. Returns false when it must stop.
    pub async fn check(&self) -> bool {
        let store = self.node.store.clone();
        let Ok((failed, volumes)) = tokio::task::spawn_blocking(move || {
            let f = store.check_volumes();
            (f, store.volumes())
        })
        .await
        else {
            return true;
        };
        if failed.is_empty() {
            return true;
        }
        for f in &failed {
            Metrics::add(&self.node.metrics.volume_failures, 1);
            for r in &f.replicas {
                self.node.reports.deleted(block_of(r));
            }
        }
        let down: Vec<&str> = volumes
            .iter()
            .filter(|v| v.failed)
            .map(|v| v.dir.as_str())
            .collect();
        if down.len() > self.tolerated || down.len() == volumes.len() {
            let why = format!(
                "{} of {} volumes failed ({}), more than failed_volumes_tolerated = {}",
                down.len(),
                volumes.len(),
                down.join(", "),
                self.tolerated
            );
            error!(node = %self.node.uuid, "datanode stopping: {why}");
            self.fatal.send_replace(Some(why));
            return false;
        }
        true
    }

    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let errors = self.node.store.io_errors();
        loop {
            let io_error = async {
                match &errors {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = io_error => {}
                _ = stop.changed() => return,
            }
            if !self.check().await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{Report, ReportQueue};
    use crate::store::{compute_crcs, BlockRef, BlockStore, DiskOptions, DiskStore};

    fn write(store: &dyn BlockStore, b: BlockRef, len: usize) -> usize {
        let data = vec![b.id as u8; len];
        let mut w = store.create(b, len as u64).unwrap();
        let mut crcs = Vec::new();
        compute_crcs(&data, &mut crcs);
        w.append(&data, &crcs).unwrap();
        w.finalize().unwrap().volume
    }

    #[test]
    fn tolerated_defaults_to_all_but_one() {
        assert_eq!(tolerated(-1, 3), Ok(2));
        assert_eq!(tolerated(-1, 1), Ok(0));
        assert_eq!(tolerated(1, 3), Ok(1));
        assert!(tolerated(3, 3).is_err());
        assert!(tolerated(-2, 3).is_err());
    }

    #[tokio::test]
    async fn a_failed_volume_leaves_the_map_is_reported_and_gets_no_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("d1"), tmp.path().join("d2")];
        let store = Arc::new(DiskStore::open(&dirs, DiskOptions::default()).unwrap());
        let mut on = [Vec::new(), Vec::new()];
        for id in 1..=6 {
            let v = write(store.as_ref(), BlockRef::new(id, 1), 1000);
            on[v].push(id);
        }
        assert!(!on[0].is_empty() && !on[1].is_empty());
        // Writers in progress on both volumes (round-robin: 6 creates so
        // far, so d1 then d2).
        let mut w1 = store.create(BlockRef::new(100, 1), 10).unwrap();
        let mut w2 = store.create(BlockRef::new(101, 1), 10).unwrap();
        let (reports, mut rx) = ReportQueue::new();
        let node = Arc::new(Node::new(
            store.clone(),
            "h".into(),
            "h:1".into(),
            "h:2".into(),
            64 << 10,
            1 << 20,
            reports,
        ));
        let (fatal, fatal_rx) = watch::channel(None);
        let checker = VolumeChecker {
            node: node.clone(),
            interval: Duration::from_secs(3600),
            tolerated: 1,
            fatal,
        };
        assert!(checker.check().await, "healthy volumes pass");
        assert!(rx.try_recv().is_err());

        // The disk goes away: its directory tree vanishes.
        std::fs::rename(&dirs[1], tmp.path().join("gone")).unwrap();
        assert!(checker.check().await, "one failure is tolerated");
        assert!(fatal_rx.borrow().is_none());
        let mut deleted = Vec::new();
        while let Ok(r) = rx.try_recv() {
            if let Report::Deleted(b) = r {
                deleted.push(b.block_id);
            }
        }
        deleted.sort();
        assert_eq!(deleted, on[1]);
        for id in &on[1] {
            assert!(store.state(*id).is_none(), "blk_{id} left the map");
        }
        for id in &on[0] {
            assert!(store.state(*id).is_some(), "blk_{id} still served");
        }
        assert_eq!(store.finalized().len(), on[0].len());
        let vols = store.volumes();
        assert!(!vols[0].failed && vols[1].failed);
        // Its writer is cancelled, the other goes on; new writes all go to d1.
        let mut crcs = Vec::new();
        compute_crcs(&[7u8; 10], &mut crcs);
        assert!(w1.append(&[7u8; 10], &crcs).is_ok());
        assert!(w2.append(&[7u8; 10], &crcs).is_err());
        assert!(w1.finalize().is_ok());
        for id in 200..210 {
            assert_eq!(write(store.as_ref(), BlockRef::new(id, 1), 100), 0);
        }
        // Checked again: nothing new.
        assert!(checker.check().await);
        assert!(rx.try_recv().is_err());
        let m = node.metrics.render(0, 0, &store.volumes());
        assert!(m.contains("tusk_datanode_volume_failures_total 1"), "{m}");

        // The last volume fails: the datanode must stop.
        std::fs::remove_dir_all(dirs[0].join("current")).unwrap();
        assert!(!checker.check().await);
        let why = fatal_rx.borrow().clone().unwrap();
        assert!(why.contains("2 of 2 volumes failed"), "{why}");
    }
}
