//! Leases: one writer per file. Soft state, rebuilt at start from the `u`
//! index (every open file gets a fresh lease for its recorded holder).
//!
//! Recovery of a silent writer's files (finalizing the last block and closing
//! the file) is in `fsn_lease.rs`; [`Leases::expired`] is the query it polls.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// One client's lease over all the files it has open.
#[derive(Debug, Clone)]
pub struct Lease {
    pub last_renewed: Instant,
    pub files: BTreeSet<u64>,
}

/// Client name → lease; inode → holder.
#[derive(Debug, Default)]
pub struct Leases {
    by_holder: HashMap<String, Lease>,
    holder_of: HashMap<u64, String>,
}

impl Leases {
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives `holder` the lease on `inode` (renewing its lease).
    pub fn add(&mut self, holder: &str, inode: u64, now: Instant) {
        self.remove(inode);
        let l = self.by_holder.entry(holder.to_string()).or_insert(Lease {
            last_renewed: now,
            files: BTreeSet::new(),
        });
        l.last_renewed = now;
        l.files.insert(inode);
        self.holder_of.insert(inode, holder.to_string());
    }

    /// Drops the lease on `inode` (file closed or deleted).
    pub fn remove(&mut self, inode: u64) {
        if let Some(h) = self.holder_of.remove(&inode) {
            if let Some(l) = self.by_holder.get_mut(&h) {
                l.files.remove(&inode);
                if l.files.is_empty() {
                    self.by_holder.remove(&h);
                }
            }
        }
    }

    /// Renews every lease of `holder`; false when it holds none.
    pub fn renew(&mut self, holder: &str, now: Instant) -> bool {
        match self.by_holder.get_mut(holder) {
            Some(l) => {
                l.last_renewed = now;
                true
            }
            None => false,
        }
    }

    /// When `holder` last renewed, if it holds any lease.
    pub fn last_renewed(&self, holder: &str) -> Option<Instant> {
        self.by_holder.get(holder).map(|l| l.last_renewed)
    }

    /// The files `holder` has open.
    pub fn files_of(&self, holder: &str) -> Vec<u64> {
        self.by_holder
            .get(holder)
            .map(|l| l.files.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn holder(&self, inode: u64) -> Option<&str> {
        self.holder_of.get(&inode).map(|s| s.as_str())
    }

    /// Every file under a lease.
    pub fn files(&self) -> impl Iterator<Item = u64> + '_ {
        self.holder_of.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.holder_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.holder_of.is_empty()
    }

    /// Holders not renewed for longer than `limit`, with their files: the
    /// hook for lease recovery (soft limit: another client may take over;
    /// hard limit: the namenode recovers the files itself).
    pub fn expired(&self, now: Instant, limit: Duration) -> Vec<(String, Vec<u64>)> {
        self.by_holder
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_renewed) > limit)
            .map(|(h, l)| (h.clone(), l.files.iter().copied().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_renew_expire_remove() {
        let t0 = Instant::now();
        let mut l = Leases::new();
        l.add("c1", 10, t0);
        l.add("c1", 11, t0);
        l.add("c2", 12, t0);
        assert_eq!(l.holder(10), Some("c1"));
        assert!(l.renew("c1", t0 + Duration::from_secs(50)));
        assert!(!l.renew("nobody", t0));
        let exp = l.expired(t0 + Duration::from_secs(61), Duration::from_secs(60));
        assert_eq!(exp, vec![("c2".to_string(), vec![12])]);
        l.remove(10);
        l.remove(11);
        assert!(!l.renew("c1", t0));
        // Re-adding a file to another holder moves it.
        l.add("c3", 12, t0);
        assert_eq!(l.holder(12), Some("c3"));
        assert!(!l.renew("c2", t0));
        assert_eq!(l.len(), 1);
    }
}
