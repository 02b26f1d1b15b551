//! Group commit: mutations are applied under the namesystem lock, then wait
//! for durability outside it. One flusher worker flushes the store whenever
//! something is pending and releases every waiter its flush covered, so many
//! concurrent mutations share one fsync.

use crate::error::{NnError, NnResult};
use crate::store::KvStore;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// Sequence numbers of applied and durable mutations.
pub struct GroupCommit {
    /// Bumped (under the namesystem lock) after each applied batch.
    applied: AtomicU64,
    /// The highest sequence number known durable; `u64::MAX` marks a failed
    /// flush (the store is unusable and every waiter gets an error).
    durable: watch::Sender<u64>,
    /// Wakes the flusher.
    pending: Notify,
    /// What the flusher's last flush covered when it stopped.
    closed_at: AtomicU64,
    /// Flushes done (for `/metrics`: mutations per flush shows the grouping).
    flushes: AtomicU64,
}

/// Yields to other tasks before each flush to gather more mutations.
const GATHER_YIELDS: usize = 4;

/// Marks a failed flush in the `durable` channel.
const FAILED: u64 = u64::MAX;
/// Marks a stopped flusher in the `durable` channel (see `closed_at`).
const CLOSED: u64 = u64::MAX - 1;

impl Default for GroupCommit {
    fn default() -> Self {
        Self::new()
    }
}

impl GroupCommit {
    pub fn new() -> Self {
        GroupCommit {
            applied: AtomicU64::new(0),
            durable: watch::channel(0).0,
            pending: Notify::new(),
            closed_at: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    /// Records one applied batch; returns its sequence number.
    pub fn applied(&self) -> u64 {
        self.applied.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Flushes done so far.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// The latest applied sequence number.
    pub fn last_applied(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Waits until everything up to `seq` is durable.
    pub async fn wait(&self, seq: u64) -> NnResult<()> {
        let mut rx = self.durable.subscribe();
        let current = *rx.borrow();
        if current < CLOSED && current >= seq {
            return Ok(());
        }
        self.pending.notify_one();
        let v = match rx.wait_for(|d| *d >= seq).await {
            Ok(v) => *v,
            Err(_) => CLOSED,
        };
        match v {
            FAILED => Err(NnError::Storage(
                "the namespace store failed to flush".into(),
            )),
            CLOSED if seq > self.closed_at.load(Ordering::SeqCst) => Err(NnError::ShuttingDown),
            _ => Ok(()),
        }
    }

    /// The flusher worker: runs until `shutdown` resolves, then does a last
    /// flush so nothing applied is left unflushed.
    pub async fn run_flusher(
        self: Arc<Self>,
        store: Arc<dyn KvStore>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = self.pending.notified() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            // Let request handlers that are already running apply their
            // batches first, so this flush covers more of them.
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
            if !self.flush_once(&store).await {
                return;
            }
        }
        if self.flush_once(&store).await {
            let done = *self.durable.borrow();
            self.closed_at.store(done, Ordering::SeqCst);
            self.durable.send_replace(CLOSED);
        }
    }

    /// Flushes whatever is applied; false once a flush failed.
    async fn flush_once(&self, store: &Arc<dyn KvStore>) -> bool {
        let target = self.last_applied();
        let done = *self.durable.borrow();
        if done >= CLOSED {
            return false;
        }
        if done >= target {
            return true;
        }
        let s = store.clone();
        let res = tokio::task::spawn_blocking(move || s.flush()).await;
        match res {
            Ok(Ok(())) => {
                self.flushes.fetch_add(1, Ordering::Relaxed);
                self.durable.send_modify(|d| *d = (*d).max(target));
                true
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "flushing the namespace failed; refusing further mutations");
                self.durable.send_replace(FAILED);
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "flush task failed");
                self.durable.send_replace(FAILED);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    #[tokio::test]
    async fn waiters_are_released_after_flush() {
        let gc = Arc::new(GroupCommit::new());
        let (tx, rx) = watch::channel(false);
        let store: Arc<dyn KvStore> = Arc::new(MemStore::new());
        let worker = tokio::spawn(gc.clone().run_flusher(store, rx));
        let mut waits = Vec::new();
        for _ in 0..50 {
            let seq = gc.applied();
            let g = gc.clone();
            waits.push(tokio::spawn(async move { g.wait(seq).await }));
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        assert!(*gc.durable.borrow() >= 50);
        let before = gc.applied();
        tx.send(true).unwrap();
        worker.await.unwrap();
        // The final flush covered what was applied before shutdown.
        gc.wait(before).await.unwrap();
        // After shutdown a new waiter is told so instead of hanging.
        let seq = gc.applied();
        assert_eq!(gc.wait(seq).await, Err(NnError::ShuttingDown));
    }
}
