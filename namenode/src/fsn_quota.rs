//! The namesystem's quota operations (`setQuota`, the usage behind
//! `count -q`) and the checks the mutations call before they change
//! anything. The bookkeeping itself is in [`crate::quota`].

use super::*;
use crate::quota::{self, DirQuota, NONE};

/// HDFS's `HdfsConstants.QUOTA_DONT_SET`: leave this quota as it is.
pub const QUOTA_DONT_SET: i64 = i64::MAX;

impl FsNamesystem {
    /// HDFS `setQuota(path, nsQuota, ssQuota)`: each value is a new quota
    /// (> 0 for names, >= 0 for space), [`NONE`] to clear it, or
    /// [`QUOTA_DONT_SET`] to keep it. Superuser only. A quota below the
    /// current usage is accepted (as in HDFS): it only refuses growth.
    pub fn set_quota(
        &mut self,
        caller: &Caller,
        path: &str,
        ns_quota: i64,
        ds_quota: i64,
    ) -> NnResult<()> {
        let valid = |v: i64, min: i64| v == NONE || v == QUOTA_DONT_SET || v >= min;
        if !valid(ns_quota, 1) || !valid(ds_quota, 0) {
            return Err(NnError::InvalidArgument(format!(
                "Illegal value for nsQuota or ssQuota of {path}: {ns_quota} {ds_quota}"
            )));
        }
        if !caller.superuser {
            return Err(NnError::PermissionDenied(format!(
                "Access denied for user {}. Superuser privilege is required to set quotas",
                caller.user
            )));
        }
        let ip = self.resolve(path)?;
        let dir = ip.last().cloned().ok_or_else(|| ip.not_found())?;
        if !dir.is_dir() {
            return Err(NnError::NotFound(format!(
                "Cannot set quota on a file: {path}"
            )));
        }
        self.check_safemode(&format!("Cannot set quota on {path}"))?;
        let old = self.ns.quotas().get(dir.id).copied();
        let pick = |new: i64, old: Option<i64>| {
            if new == QUOTA_DONT_SET {
                old.unwrap_or(NONE)
            } else {
                new
            }
        };
        let ns_q = pick(ns_quota, old.map(|q| q.ns_quota));
        let ds_q = pick(ds_quota, old.map(|q| q.ds_quota));
        if old
            .map(|q| (q.ns_quota, q.ds_quota))
            .unwrap_or((NONE, NONE))
            == (ns_q, ds_q)
        {
            return Ok(());
        }
        let mut txn = Txn::default();
        self.ns.set_quota(&mut txn, &dir, ns_q, ds_q)?;
        self.ns.commit(txn)?;
        tracing::info!(path, ns_quota = ns_q, ds_quota = ds_q, "quota set");
        Ok(())
    }

    /// The quotas and cached usage of a directory; `None` when it has no
    /// quota (or is not a directory). Needs traverse permission only, like
    /// the content summary it goes with.
    pub fn quota_of(&self, caller: &Caller, path: &str) -> NnResult<Option<DirQuota>> {
        if self.ns.quotas().is_empty() {
            return Ok(None);
        }
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let inode = ip.last().ok_or_else(|| ip.not_found())?;
        Ok(self.ns.quotas().get(inode.id).copied())
    }

    /// Refuses adding `names` names and `space` replica bytes under
    /// directory `parent` if any quota above would be exceeded.
    pub(super) fn verify_quota(&self, parent: u64, names: u64, space: u64) -> NnResult<()> {
        quota::verify(&self.ns, parent, names, space, &[])
    }

    /// [`Self::verify_quota`] for the directories `/`…parent of a resolved
    /// path (no store reads).
    pub(super) fn verify_quota_path(&self, dirs: &[Inode], names: u64) -> NnResult<()> {
        if self.ns.quotas().is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = dirs.iter().map(|i| i.id).collect();
        quota::verify_path(&self.ns, &ids, names, 0)
    }

    /// Replica bytes a file would gain going from `before` to `after`
    /// (blocks in `now_complete` count as complete in `after`).
    pub(super) fn file_growth(&self, before: &Inode, after: &Inode, now_complete: &[u64]) -> u64 {
        if self.ns.quotas().is_empty() {
            return 0;
        }
        let old = quota::file_space(before, &|id| self.block_complete(id));
        let new = quota::file_space(after, &|id| {
            now_complete.contains(&id) || (id != u64::MAX && self.block_complete(id))
        });
        new.saturating_sub(old)
    }

    /// The space check of `add_block`: committing `commit` (if any) and
    /// adding a new block under construction, charged as a whole block.
    pub(super) fn verify_add_block(&self, inode: &Inode, commit: Option<Block>) -> NnResult<()> {
        if self.ns.quotas().is_empty() {
            return Ok(());
        }
        let mut after = inode.clone();
        let mut done = Vec::new();
        if let Some(p) = commit {
            if let Some(slot) = after.blocks.iter_mut().find(|b| b.id == p.id) {
                slot.num_bytes = p.num_bytes;
                done.push(p.id);
            }
        }
        // u64::MAX stands for the block about to be allocated (incomplete).
        after.blocks.push(Block {
            id: u64::MAX,
            genstamp: 0,
            num_bytes: 0,
        });
        let grow = self.file_growth(inode, &after, &done);
        self.verify_quota(inode.parent, 0, grow)
    }

    /// The quota check of a rename (HDFS `verifyQuotaForRename`): the moved
    /// tree's names and space, less what an overwritten destination frees,
    /// against the quotas above the destination that are not also above the
    /// source.
    pub(super) fn verify_rename(
        &self,
        node: &Inode,
        src_parent: u64,
        dst_parent: u64,
        existing: Option<&Inode>,
    ) -> NnResult<()> {
        if self.ns.quotas().is_empty() || src_parent == dst_parent {
            return Ok(());
        }
        let mut common = Vec::new();
        let mut cur = src_parent;
        while cur != 0 && common.len() < 4096 {
            common.push(cur);
            if cur == ROOT_ID {
                break;
            }
            cur = self.ns.inode(cur)?.map(|i| i.parent).unwrap_or(0);
        }
        // Any quota directory on the destination side only?
        let mut cur = dst_parent;
        let mut any = false;
        let mut depth = 0;
        while cur != 0 && depth < 4096 && !common.contains(&cur) {
            if self.ns.quotas().get(cur).is_some() {
                any = true;
                break;
            }
            cur = self.ns.inode(cur)?.map(|i| i.parent).unwrap_or(0);
            depth += 1;
        }
        if !any {
            return Ok(());
        }
        let usage = |i: &Inode| -> NnResult<(u64, u64)> {
            match self.ns.quotas().get(i.id) {
                Some(q) => Ok((q.ns_used, q.ds_used)),
                None => quota::subtree_usage(&self.ns, i),
            }
        };
        let (n, s) = usage(node)?;
        let (en, es) = match existing {
            Some(e) => usage(e)?,
            None => (0, 0),
        };
        quota::verify(
            &self.ns,
            dst_parent,
            n.saturating_sub(en),
            s.saturating_sub(es),
            &common,
        )
    }
}
