//! The block map: soft state, in memory, rebuilt at start from the `b` index
//! (blocks) and then from datanode block reports (locations).

use crate::types::Block;
use std::collections::HashMap;

/// What the namenode knows about one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// The file it belongs to.
    pub inode: u64,
    pub genstamp: u64,
    pub num_bytes: u64,
    /// Expected number of replicas (the file's replication).
    pub replication: u32,
    /// Length committed by the writer; replicas of another length are corrupt.
    pub complete: bool,
    /// Datanodes (uuids) holding a good finalized replica.
    pub locations: Vec<String>,
    /// Datanodes holding a replica known to be corrupt.
    pub corrupt: Vec<String>,
}

impl BlockInfo {
    pub fn block(&self, id: u64) -> Block {
        Block {
            id,
            genstamp: self.genstamp,
            num_bytes: self.num_bytes,
        }
    }
}

/// An under-replicated block, for the replication monitor (issue 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnderReplicated {
    pub block_id: u64,
    pub live: usize,
    pub expected: u32,
}

/// Block id → [`BlockInfo`].
#[derive(Debug, Default)]
pub struct BlockMap {
    blocks: HashMap<u64, BlockInfo>,
}

impl BlockMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Every block (arbitrary order).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &BlockInfo)> {
        self.blocks.iter().map(|(&id, b)| (id, b))
    }

    pub fn get(&self, id: u64) -> Option<&BlockInfo> {
        self.blocks.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut BlockInfo> {
        self.blocks.get_mut(&id)
    }

    pub fn insert(&mut self, id: u64, info: BlockInfo) {
        self.blocks.insert(id, info);
    }

    pub fn remove(&mut self, id: u64) -> Option<BlockInfo> {
        self.blocks.remove(&id)
    }

    /// Records a good replica on `node`. Returns false when the block is
    /// unknown.
    pub fn add_location(&mut self, id: u64, node: &str) -> bool {
        match self.blocks.get_mut(&id) {
            Some(b) => {
                if !b.locations.iter().any(|n| n == node) && !b.corrupt.iter().any(|n| n == node) {
                    b.locations.push(node.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Forgets `node`'s replica (good or corrupt).
    pub fn remove_location(&mut self, id: u64, node: &str) {
        if let Some(b) = self.blocks.get_mut(&id) {
            b.locations.retain(|n| n != node);
            b.corrupt.retain(|n| n != node);
        }
    }

    /// Marks `node`'s replica corrupt (it stays known so it is never served
    /// while a good one exists and can be deleted once replaced).
    pub fn mark_corrupt(&mut self, id: u64, node: &str) -> bool {
        match self.blocks.get_mut(&id) {
            Some(b) => {
                b.locations.retain(|n| n != node);
                if !b.corrupt.iter().any(|n| n == node) {
                    b.corrupt.push(node.to_string());
                }
                true
            }
            None => false,
        }
    }

    /// Complete blocks and how many of them have at least one good replica
    /// (the safe-mode ratio).
    pub fn safe_counts(&self) -> (u64, u64) {
        let mut total = 0;
        let mut safe = 0;
        for b in self.blocks.values().filter(|b| b.complete) {
            total += 1;
            if !b.locations.is_empty() {
                safe += 1;
            }
        }
        (total, safe)
    }

    /// Complete blocks with fewer good replicas than expected, fewest first
    /// (the replication monitor's queue order).
    pub fn under_replicated(&self) -> Vec<UnderReplicated> {
        let mut v: Vec<UnderReplicated> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.complete && b.locations.len() < b.replication as usize)
            .map(|(&id, b)| UnderReplicated {
                block_id: id,
                live: b.locations.len(),
                expected: b.replication,
            })
            .collect();
        v.sort_by_key(|u| (u.live, u.block_id));
        v
    }

    /// (under-replicated, with a corrupt replica, missing = complete with no good replica).
    pub fn health_counts(&self) -> (u64, u64, u64) {
        let (mut under, mut corrupt, mut missing) = (0, 0, 0);
        for b in self.blocks.values() {
            if !b.corrupt.is_empty() {
                corrupt += 1;
            }
            if b.complete {
                if b.locations.is_empty() {
                    missing += 1;
                } else if b.locations.len() < b.replication as usize {
                    under += 1;
                }
            }
        }
        (under, corrupt, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(complete: bool, repl: u32) -> BlockInfo {
        BlockInfo {
            inode: 5,
            genstamp: 1001,
            num_bytes: 10,
            replication: repl,
            complete,
            locations: vec![],
            corrupt: vec![],
        }
    }

    #[test]
    fn locations_and_corruption() {
        let mut m = BlockMap::new();
        m.insert(1, info(true, 2));
        assert!(m.add_location(1, "a"));
        assert!(m.add_location(1, "a"));
        assert!(!m.add_location(2, "a"));
        assert_eq!(m.get(1).unwrap().locations, vec!["a".to_string()]);
        assert_eq!(m.under_replicated().len(), 1);
        m.add_location(1, "b");
        assert!(m.under_replicated().is_empty());
        m.mark_corrupt(1, "b");
        // A corrupt replica is not re-added by a later report.
        m.add_location(1, "b");
        let b = m.get(1).unwrap();
        assert_eq!(b.locations, vec!["a".to_string()]);
        assert_eq!(b.corrupt, vec!["b".to_string()]);
        assert_eq!(m.health_counts(), (1, 1, 0));
        m.remove_location(1, "a");
        assert_eq!(m.health_counts(), (0, 1, 1));
        assert_eq!(m.safe_counts(), (1, 0));
    }

    #[test]
    fn under_replicated_fewest_first() {
        let mut m = BlockMap::new();
        m.insert(1, info(true, 3));
        m.insert(2, info(true, 3));
        m.insert(3, info(false, 3));
        m.add_location(1, "a");
        m.add_location(1, "b");
        let u = m.under_replicated();
        assert_eq!(u.iter().map(|u| u.block_id).collect::<Vec<_>>(), vec![2, 1]);
    }
}
