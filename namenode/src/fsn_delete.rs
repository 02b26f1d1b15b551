//! Deletes (HDFS's `FSDirDeleteOp`, with its incremental removal of blocks).
//!
//! A file, an empty directory or a tree of at most `deletion_increment`
//! inodes is deleted in one transaction: every inode, directory entry,
//! block record and lease at once, and the replicas queued for deletion.
//!
//! A bigger tree would be one transaction of millions of keys: deleting
//! 1,000,000 files that way held the lock for 4 s and took the namenode to
//! 822 MiB (BENCHMARKS.md). HDFS unlinks such a tree in one small edit and
//! then removes its blocks 1000 at a time, giving the lock back in between.
//! Here the delete *detaches* the tree in one small transaction: its entry
//! leaves the parent and its root is entered, under its inode id as name,
//! in the detached directory ([`DETACHED_ID`]), which no path reaches. The
//! quota directories above stop counting the tree (quota tracking sees a
//! move), the writers of files inside lose their leases, and the reply goes
//! out once that transaction is durable. The namenode's purge worker then
//! calls [`FsNamesystem::purge_detached`], which removes the tree bottom-up,
//! `deletion_increment` inodes (with their blocks) per transaction. It only
//! ever removes an inode that has no children left, so every state in
//! between is a smaller detached tree, and after a restart the worker just
//! carries on. Until a tree is purged, its files and directories still count
//! in the totals (`fs_stats`) and its blocks stay in the block map.

use super::*;
use crate::namespace::DETACHED_ID;

/// Parent chains longer than this are treated as broken.
const MAX_DEPTH: usize = 4096;

impl FsNamesystem {
    /// Deletes a path; false when it did not exist.
    pub fn delete(&mut self, caller: &Caller, path: &str, recursive: bool) -> NnResult<bool> {
        let ip = self.resolve(path)?;
        if ip.comps.is_empty() {
            return Err(NnError::InvalidArgument(
                "Cannot delete the root directory /".into(),
            ));
        }
        ip.check_traverse(caller)?;
        let Some(node) = ip.last().cloned() else {
            return Ok(false);
        };
        self.check_safemode(&format!("Cannot delete {path}"))?;
        let parent = ip.inodes[ip.comps.len() - 1].clone();
        let parent_path = ip.prefix(ip.comps.len() - 1);
        permission::check(caller, &parent, &parent_path, WRITE | EXECUTE)?;
        permission::check_sticky(caller, &parent, &parent_path, &node, path)?;
        let mut doomed = Vec::new();
        let mut detach = false;
        if node.is_dir() && node.children_num > 0 {
            if !recursive {
                return Err(NnError::NotEmpty(path.to_string()));
            }
            // Collect up to one increment; past it, detach instead.
            let limit = self.cfg.deletion_increment.max(1);
            let access = Some(READ | WRITE | EXECUTE);
            let mut w = SubtreeWalk::begin(&node, path, caller, access, &mut |i, _| {
                doomed.push(i.clone())
            })?;
            let mut done = false;
            while !done && doomed.len() <= limit {
                let budget = limit + 1 - doomed.len();
                done = w.step(&self.ns, caller, budget, &mut |i, _| doomed.push(i.clone()))?;
            }
            if doomed.len() > limit {
                detach = true;
                doomed = Vec::new();
                // As in HDFS, every directory of the tree must allow the
                // caller everything before anything is deleted.
                if !caller.superuser {
                    while !w.step(&self.ns, caller, usize::MAX, &mut |_, _| {})? {}
                }
            }
        } else {
            doomed.push(node.clone());
        }
        let mut txn = Txn::default();
        if detach {
            self.detach(&node, &mut txn)?;
        } else {
            for i in &doomed {
                self.drop_inode(i, &mut txn);
            }
        }
        let mut parent = parent;
        parent.children_num = parent.children_num.saturating_sub(1);
        parent.mtime_ms = now_ms();
        txn.put_inode(&parent);
        self.ns.commit(txn)?;
        if detach {
            self.detached_pending = true;
            tracing::info!(
                path,
                inode = node.id,
                "deleted; the tree is purged in the background"
            );
        } else {
            tracing::debug!(path, inodes = doomed.len(), "deleted");
        }
        Ok(true)
    }

    /// Moves `root` out of the namespace into the detached directory (see
    /// the module doc) and takes the leases of the files being written in it.
    fn detach(&mut self, root: &Inode, txn: &mut Txn) -> NnResult<()> {
        txn.del_entry(root.parent, &root.name);
        let mut moved = root.clone();
        moved.parent = DETACHED_ID;
        moved.name = root.id.to_string();
        txn.put_entry(DETACHED_ID, &moved.name, moved.id);
        txn.put_inode(&moved);
        let open: Vec<u64> = self.leases.files().collect();
        for id in open {
            if self.is_below(id, root.id)? {
                self.leases.remove(id);
                txn.del_uc(id);
            }
        }
        Ok(())
    }

    /// Whether inode `id` lies in the tree of directory `ancestor`.
    fn is_below(&self, id: u64, ancestor: u64) -> NnResult<bool> {
        Ok(self.climb(id, ancestor)? == ancestor)
    }

    /// Whether a path still leads to `inode` (HDFS's `isFileDeleted`, the
    /// other way round): false once a delete has detached a tree holding
    /// it. Operations that find a file by inode id check this.
    pub(crate) fn reachable(&self, inode: &Inode) -> NnResult<bool> {
        if !self.detached_pending || inode.id == ROOT_ID {
            return Ok(true);
        }
        Ok(self.climb(inode.parent, ROOT_ID)? == ROOT_ID)
    }

    /// Follows parent links up from inode `from` until `stop`, `/`, the
    /// detached directory or a broken link; returns where it stopped (0 for
    /// a missing inode or a chain past [`MAX_DEPTH`]).
    fn climb(&self, from: u64, stop: u64) -> NnResult<u64> {
        let mut cur = from;
        for _ in 0..MAX_DEPTH {
            if cur == stop || matches!(cur, 0 | ROOT_ID | DETACHED_ID) {
                return Ok(cur);
            }
            match self.ns.inode(cur)? {
                Some(i) => cur = i.parent,
                None => return Ok(0),
            }
        }
        Ok(0)
    }

    /// Whether detached trees are waiting to be purged.
    pub fn purge_pending(&self) -> bool {
        self.detached_pending
    }

    /// Removes up to about `budget` inodes of detached trees, deepest first,
    /// in one transaction (see the module doc); returns how many. 0 means
    /// nothing is left to purge, or the namenode is in safe mode (HDFS
    /// deletes no replicas then either).
    pub fn purge_detached(&mut self, budget: usize) -> NnResult<usize> {
        if !self.detached_pending || self.safe.on {
            return Ok(0);
        }
        let budget = budget.max(1);
        let mut txn = Txn::default();
        let mut removed = 0usize;
        let mut after = String::new();
        while removed < budget {
            let (roots, more) = self.ns.children(DETACHED_ID, &after, 64)?;
            for (name, id) in &roots {
                if removed >= budget {
                    break;
                }
                after = name.clone();
                if self.ns.inode(*id)?.is_none() {
                    txn.del_entry(DETACHED_ID, name);
                    removed += 1;
                    continue;
                }
                let before = removed;
                if self.purge_tree(*id, budget, &mut removed, &mut txn)? {
                    tracing::info!(inode = id, "purged a deleted tree");
                }
                debug_assert!(removed > before);
            }
            if !more {
                break;
            }
        }
        if removed == 0 {
            self.detached_pending = false;
            return Ok(0);
        }
        self.ns.commit(txn)?;
        tracing::debug!(inodes = removed, "purged");
        Ok(removed)
    }

    /// Removes inodes of the detached tree `root` bottom-up into `txn`
    /// until `*removed` reaches `budget`; returns whether the whole tree
    /// (its root included) is gone.
    fn purge_tree(
        &mut self,
        root: u64,
        budget: usize,
        removed: &mut usize,
        txn: &mut Txn,
    ) -> NnResult<bool> {
        // Directories from `root` down to the one being emptied, each with
        // the last child looked at. Every child before it has been removed
        // in `txn`: a budget running out ends the call before any directory
        // with children left could be removed.
        struct Level {
            id: u64,
            after: String,
        }
        let mut stack = vec![Level {
            id: root,
            after: String::new(),
        }];
        while let Some(top) = stack.last_mut() {
            if *removed >= budget {
                return Ok(false);
            }
            let room = (budget - *removed).min(WALK_PAGE);
            let (page, _) = self.ns.children(top.id, &top.after, room)?;
            if page.is_empty() {
                let done = stack.pop().expect("non-empty");
                if let Some(dir) = self.ns.inode(done.id)? {
                    self.drop_inode(&dir, txn);
                }
                *removed += 1;
                continue;
            }
            let dir = top.id;
            let mut down = None;
            for (name, id) in &page {
                top.after = name.clone();
                match self.ns.inode(*id)? {
                    // An entry whose inode is gone: drop the entry.
                    None => txn.del_entry(dir, name),
                    Some(i) if i.is_dir() => {
                        down = Some(i.id);
                        break;
                    }
                    Some(i) => self.drop_inode(&i, txn),
                }
                *removed += 1;
            }
            // Either a directory to go into or, when the budget ran out
            // mid-page, stop; the loop's head sees that.
            if let Some(id) = down {
                stack.push(Level {
                    id,
                    after: String::new(),
                });
            }
        }
        Ok(true)
    }
}
