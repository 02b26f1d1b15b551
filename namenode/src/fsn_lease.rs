//! Pipeline recovery and lease recovery, the namesystem's side (HDFS's
//! `updatePipeline`, `recoverLease` and `commitBlockSynchronization`).
//!
//! Pipeline recovery: a writer whose pipeline lost a datanode after data
//! was acknowledged asks [`FsNamesystem::update_pipeline`] for a new
//! generation stamp for its last block, naming the survivors. The stamp is
//! durable before the answer; replicas still carrying the old stamp are
//! stale from then on (never located for readers, deleted when reported).
//!
//! Lease recovery: a writer that stopped renewing its lease for the hard
//! limit (or for the soft limit, when another client asks with
//! `RecoverLease`) loses the file to the namenode. If the last block is
//! committed, the file is simply closed. Otherwise the lease passes to
//! [`RECOVERY_HOLDER`] (durably, so the old writer can no longer add or
//! complete) and a [`BlockRecovery`] is handed to the monitor, which runs it
//! against the datanodes outside the lock (`recovery.rs`): every replica
//! holder stops its writer and reports its length; the length all
//! remaining replicas agree on is the finalized replicas' length, else the
//! shortest being-written replica at the current stamp; the holders cut their
//! replicas to it and finalize them under a new stamp; then
//! [`FsNamesystem::commit_block_synchronization`] records the block and closes
//! the file. A recovery that fails (no holder answered) is retried after
//! [`RECOVERY_RETRY`].

use super::{file_length, FsNamesystem};
use crate::error::{NnError, NnResult};
use crate::namespace::{BlockRecord, Txn};
use crate::types::*;
use std::time::{Duration, Instant};
use tusk_common::sys::now_ms;

/// The lease holder of a file whose lease the namenode is recovering
/// (HDFS: `HDFS_NameNode`).
pub const RECOVERY_HOLDER: &str = "TUSK_NameNode";

/// How long a started block recovery may take before it is started again.
pub const RECOVERY_RETRY: Duration = Duration::from_secs(20);

/// A block recovery to run against datanodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecovery {
    /// For messages: the file's path when known, else `inode <id>`.
    pub file: String,
    pub inode: u64,
    /// The block as the namenode knows it (the current stamp).
    pub block: Block,
    pub new_genstamp: u64,
    /// Datanodes that may hold a replica: (uuid, data address).
    pub targets: Vec<(String, String)>,
}

/// What a datanode said it holds, in a recovery's first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub uuid: String,
    pub finalized: bool,
    pub genstamp: u64,
    pub len: u64,
}

/// The length the replicas agree on and the holders that can provide it,
/// from every holder's answer; `None` when nobody holds a usable replica.
/// Replicas with a stamp older than the block's are stale (they left the
/// pipeline earlier) and take no part.
pub fn agreed_length(block: Block, answers: &[ReplicaState]) -> Option<(u64, Vec<String>)> {
    let current: Vec<&ReplicaState> = answers
        .iter()
        .filter(|a| a.genstamp >= block.genstamp)
        .collect();
    // A finalized replica got every byte the writer sent for the block:
    // its length wins. Otherwise every replica has at least the shortest
    // one's bytes.
    let len = match current.iter().filter(|a| a.finalized).map(|a| a.len).min() {
        Some(l) => l,
        None => current.iter().map(|a| a.len).min()?,
    };
    let holders = current
        .iter()
        .filter(|a| a.len >= len)
        .map(|a| a.uuid.clone())
        .collect();
    Some((len, holders))
}

/// How a block recovery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryOutcome {
    /// These datanodes finalized the block at this length and new stamp.
    Finalized { len: u64, nodes: Vec<String> },
    /// Every holder answered and none has a replica: the block never got
    /// any data to a datanode; it is dropped from the file.
    NoReplicas,
    /// Not enough answers to decide; try again later.
    Failed(String),
}

impl FsNamesystem {
    /// Gives the file's last block a new generation stamp and `nodes` as
    /// its pipeline (see the module doc).
    pub fn update_pipeline(
        &mut self,
        path: &str,
        client: &str,
        file_id: u64,
        block: Block,
        nodes: &[String],
    ) -> NnResult<LocatedBlock> {
        self.check_safemode(&format!("Cannot update the pipeline of {path}"))?;
        let mut inode = self.file_for_write(path, file_id, client)?;
        let last = inode.blocks.last().copied();
        match last {
            Some(l) if l.id == block.id && !self.block_complete(l.id) => {
                if l.genstamp != block.genstamp {
                    return Err(NnError::BadBlock(format!(
                        "Cannot update the pipeline of blk_{}_{} of {path}: the namenode has generation stamp {}",
                        block.id, block.genstamp, l.genstamp
                    )));
                }
            }
            _ => {
                return Err(NnError::BadBlock(format!(
                    "Cannot update the pipeline of blk_{} of {path}: it is not the file's last uncommitted block",
                    block.id
                )))
            }
        }
        if nodes.is_empty() {
            return Err(NnError::InvalidArgument(format!(
                "Cannot update the pipeline of blk_{} of {path}: no datanodes given",
                block.id
            )));
        }
        let mut located = Vec::with_capacity(nodes.len());
        for u in nodes {
            let n = self.dns.live(u).ok_or_else(|| {
                NnError::InvalidArgument(format!(
                    "Cannot update the pipeline of blk_{} of {path}: datanode {u} is not live",
                    block.id
                ))
            })?;
            located.push(n.id.clone());
        }
        let genstamp = self.next_genstamp();
        if let Some(l) = inode.blocks.last_mut() {
            l.genstamp = genstamp;
        }
        let mut txn = Txn::default();
        txn.put_inode(&inode);
        txn.put_block(
            block.id,
            &BlockRecord {
                inode: inode.id,
                genstamp,
                num_bytes: 0,
                replication: inode.replication,
                complete: false,
            },
        );
        self.ns.commit(txn)?;
        self.restamp(block, genstamp, nodes);
        tracing::info!(
            path,
            block_id = block.id,
            old = block.genstamp,
            new = genstamp,
            nodes = ?nodes,
            "pipeline updated"
        );
        Ok(LocatedBlock {
            block: Block {
                id: block.id,
                genstamp,
                num_bytes: 0,
            },
            offset: inode.length,
            locations: located,
            corrupt: false,
        })
    }

    /// The replicas in rbw a datanode reported (full block report) that
    /// are stale and must go: an unknown block, an older generation stamp,
    /// or a complete block that has finalized replicas. Replicas of blocks
    /// still being written at the current stamp stay (lease recovery may
    /// need them).
    pub(crate) fn stale_being_written(&self, uuid: &str, rbw: &[Block]) -> Vec<Block> {
        if self.dns.live(uuid).is_none() {
            return Vec::new();
        }
        let stale: Vec<Block> = rbw
            .iter()
            .filter(|b| match self.blocks.get(b.id) {
                None => true,
                Some(info) => {
                    b.genstamp < info.genstamp || (info.complete && !info.locations.is_empty())
                }
            })
            .copied()
            .collect();
        if !stale.is_empty() {
            tracing::info!(
                node = uuid,
                replicas = stale.len(),
                "deleting stale replicas left in rbw"
            );
        }
        stale
    }

    /// A new generation stamp (made durable by the next commit).
    fn next_genstamp(&mut self) -> u64 {
        let c = self.ns.counters_mut();
        c.genstamp += 1;
        c.genstamp
    }

    /// The block map's side of a new stamp: replicas reported with the old
    /// one are stale; those on nodes outside `keep` are deleted.
    fn restamp(&mut self, block: Block, genstamp: u64, keep: &[String]) {
        if let Some(info) = self.blocks.get_mut(block.id) {
            info.genstamp = genstamp;
            let stale: Vec<String> = std::mem::take(&mut info.locations);
            for u in stale {
                if !keep.contains(&u) {
                    self.dns.queue_delete(&u, block);
                }
                if let Some(n) = self.dns.live_mut(&u) {
                    n.blocks.remove(&block.id);
                }
            }
        }
        self.pipelines.insert(block.id, keep.to_vec());
    }

    /// `RecoverLease` from a client: closes `path` if its writer's lease
    /// passed the soft limit (or the caller is the writer). Returns whether
    /// the file is closed now, and the block recovery to run when not.
    pub fn recover_lease(
        &mut self,
        path: &str,
        client: &str,
        now: Instant,
    ) -> NnResult<(bool, Option<BlockRecovery>)> {
        self.check_safemode(&format!("Cannot recover the lease of {path}"))?;
        let ip = self.resolve(path)?;
        let inode = ip.last().cloned().ok_or_else(|| ip.not_found())?;
        if !inode.is_file() {
            return Err(NnError::NotAFile(path.to_string()));
        }
        if !inode.under_construction() {
            return Ok((true, None));
        }
        let holder = inode.client_name.clone();
        if holder != RECOVERY_HOLDER && holder != client {
            let renewed = self.leases.last_renewed(&holder);
            if renewed.is_some_and(|t| now.saturating_duration_since(t) < self.cfg.lease_soft_limit)
            {
                return Err(NnError::AlreadyBeingCreated(format!(
                    "Failed to recover the lease of {path}: it is held by {holder}, whose lease is within the soft limit ({}s)",
                    self.cfg.lease_soft_limit.as_secs()
                )));
            }
        }
        if holder == RECOVERY_HOLDER {
            if let Some(&t) = self.recovering.get(&inode.id) {
                if now.saturating_duration_since(t) < RECOVERY_RETRY {
                    return Ok((false, None));
                }
            }
        }
        let rec = self.start_recovery(inode, path, now)?;
        Ok((rec.is_none(), rec))
    }

    /// The monitor's part: files whose lease passed the hard limit, and
    /// recoveries that need another try. Each is started; those that need
    /// datanodes come back as [`BlockRecovery`]s.
    pub fn lease_recoveries(&mut self, now: Instant) -> Vec<BlockRecovery> {
        if self.in_safe_mode() {
            return Vec::new();
        }
        let mut due: Vec<u64> = Vec::new();
        for (holder, files) in self.leases.expired(now, self.cfg.lease_hard_limit) {
            if holder != RECOVERY_HOLDER {
                tracing::warn!(holder = %holder, files = files.len(), "lease passed the hard limit: recovering its files");
                due.extend(files);
            }
        }
        for id in self.leases.files_of(RECOVERY_HOLDER) {
            let stuck = self
                .recovering
                .get(&id)
                .is_none_or(|&t| now.saturating_duration_since(t) >= RECOVERY_RETRY);
            if stuck {
                due.push(id);
            }
        }
        let mut out = Vec::new();
        for id in due {
            let inode = match self.ns.inode(id) {
                Ok(Some(i)) => i,
                Ok(None) => {
                    self.leases.remove(id);
                    self.recovering.remove(&id);
                    continue;
                }
                Err(e) => {
                    tracing::error!(inode = id, error = %e, "lease recovery: cannot read the inode");
                    continue;
                }
            };
            let file = format!("inode {id} ({})", inode.name);
            match self.start_recovery(inode, &file, now) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(file = %file, error = %e, "lease recovery failed to start")
                }
            }
        }
        out
    }

    /// Closes the file if its last block is committed; otherwise takes the
    /// lease and returns the block recovery to run.
    fn start_recovery(
        &mut self,
        mut inode: Inode,
        file: &str,
        now: Instant,
    ) -> NnResult<Option<BlockRecovery>> {
        if !inode.under_construction() {
            self.leases.remove(inode.id);
            self.recovering.remove(&inode.id);
            return Ok(None);
        }
        let last = inode.blocks.last().copied();
        let open_block = last.filter(|b| !self.block_complete(b.id));
        let Some(block) = open_block else {
            let mut txn = Txn::default();
            self.close_recovered(&mut inode, &mut txn);
            self.ns.commit(txn)?;
            tracing::info!(file, length = inode.length, "lease recovered: file closed");
            return Ok(None);
        };
        let new_genstamp = self.next_genstamp();
        inode.client_name = RECOVERY_HOLDER.to_string();
        let mut txn = Txn::default();
        txn.put_inode(&inode);
        txn.put_uc(inode.id, RECOVERY_HOLDER);
        self.ns.commit(txn)?;
        self.leases.add(RECOVERY_HOLDER, inode.id, now);
        self.recovering.insert(inode.id, now);
        let expected = self.pipelines.get(&block.id);
        let mut targets: Vec<(String, String)> = expected
            .into_iter()
            .flatten()
            .filter_map(|u| self.dns.live(u))
            .map(|n| (n.id.uuid.clone(), n.id.data_addr.clone()))
            .collect();
        if targets.is_empty() {
            // Unknown pipeline (the namenode restarted since the block was
            // allocated) or all of it gone: ask every live datanode.
            targets = self
                .dns
                .iter()
                .filter(|n| self.dns.live(&n.id.uuid).is_some())
                .map(|n| (n.id.uuid.clone(), n.id.data_addr.clone()))
                .collect();
        }
        tracing::info!(
            file,
            block_id = block.id,
            new_genstamp,
            targets = targets.len(),
            "lease recovery: recovering the last block"
        );
        Ok(Some(BlockRecovery {
            file: file.to_string(),
            inode: inode.id,
            block,
            new_genstamp,
            targets,
        }))
    }

    /// Drops the lease and marks the file closed in `txn` (length from its
    /// blocks; the whole-file SHA-256 is unknown after a recovery).
    fn close_recovered(&mut self, inode: &mut Inode, txn: &mut Txn) {
        inode.client_name.clear();
        inode.sha256.clear();
        inode.mtime_ms = now_ms();
        inode.length = file_length(&inode.blocks);
        txn.put_inode(inode);
        txn.del_uc(inode.id);
        self.leases.remove(inode.id);
        self.recovering.remove(&inode.id);
    }

    /// Records the end of a block recovery and closes the file (HDFS's
    /// `commitBlockSynchronization`). A recovery overtaken by events (the
    /// file deleted, or recovered by a later attempt) changes nothing.
    pub fn commit_block_synchronization(
        &mut self,
        rec: &BlockRecovery,
        outcome: &RecoveryOutcome,
    ) -> NnResult<()> {
        let file = rec.file.as_str();
        let Some(mut inode) = self.ns.inode(rec.inode)? else {
            return Ok(());
        };
        let current = inode.client_name == RECOVERY_HOLDER
            && inode.blocks.last().map(|b| (b.id, b.genstamp))
                == Some((rec.block.id, rec.block.genstamp));
        if !current {
            tracing::info!(
                file,
                block_id = rec.block.id,
                "block recovery overtaken; ignored"
            );
            return Ok(());
        }
        let mut txn = Txn::default();
        match outcome {
            RecoveryOutcome::Failed(why) => {
                tracing::warn!(file, block_id = rec.block.id, why = %why, "block recovery failed; will retry");
                return Ok(());
            }
            RecoveryOutcome::NoReplicas => {
                let dropped = Inode {
                    blocks: inode.blocks.pop().into_iter().collect(),
                    ..inode.clone()
                };
                self.drop_blocks(&dropped, &mut txn);
                self.pipelines.remove(&rec.block.id);
                tracing::info!(
                    file,
                    block_id = rec.block.id,
                    "lease recovery: no replica of the last block exists; dropped it"
                );
            }
            RecoveryOutcome::Finalized { len, nodes } => {
                let b = Block {
                    id: rec.block.id,
                    genstamp: rec.new_genstamp,
                    num_bytes: *len,
                };
                if let Some(l) = inode.blocks.last_mut() {
                    *l = b;
                }
                txn.put_block(
                    b.id,
                    &BlockRecord {
                        inode: inode.id,
                        genstamp: b.genstamp,
                        num_bytes: b.num_bytes,
                        replication: inode.replication,
                        complete: true,
                    },
                );
                self.restamp(rec.block, b.genstamp, nodes);
                self.pipelines.remove(&b.id);
                if let Some(info) = self.blocks.get_mut(b.id) {
                    info.num_bytes = b.num_bytes;
                    info.complete = true;
                }
                for u in nodes {
                    if self.blocks.add_location(b.id, u) {
                        self.repl.replica_added(b.id, u);
                    }
                    if let Some(n) = self.dns.live_mut(u) {
                        n.blocks.insert(b.id);
                    }
                }
                tracing::info!(
                    file,
                    block_id = b.id,
                    genstamp = b.genstamp,
                    length = len,
                    replicas = nodes.len(),
                    "lease recovery: last block finalized"
                );
            }
        }
        self.close_recovered(&mut inode, &mut txn);
        self.ns.commit(txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uuid: &str, finalized: bool, genstamp: u64, len: u64) -> ReplicaState {
        ReplicaState {
            uuid: uuid.into(),
            finalized,
            genstamp,
            len,
        }
    }

    #[test]
    fn agreed_length_prefers_finalized_and_ignores_stale() {
        let b = Block {
            id: 1,
            genstamp: 10,
            num_bytes: 0,
        };
        // Being written everywhere: the shortest.
        let a = [st("a", false, 10, 500), st("b", false, 10, 300)];
        assert_eq!(
            agreed_length(b, &a),
            Some((300, vec!["a".into(), "b".into()]))
        );
        // A finalized replica wins; shorter ones cannot provide it.
        let a = [
            st("a", true, 10, 700),
            st("b", false, 10, 300),
            st("c", false, 10, 700),
        ];
        assert_eq!(
            agreed_length(b, &a),
            Some((700, vec!["a".into(), "c".into()]))
        );
        // A replica left behind by an earlier pipeline takes no part.
        let a = [st("a", false, 9, 100), st("b", false, 10, 300)];
        assert_eq!(agreed_length(b, &a), Some((300, vec!["b".into()])));
        // A stamp from an earlier attempt of this recovery counts.
        let a = [st("a", true, 11, 300), st("b", false, 10, 400)];
        assert_eq!(
            agreed_length(b, &a),
            Some((300, vec!["a".into(), "b".into()]))
        );
        assert_eq!(agreed_length(b, &[st("a", false, 9, 100)]), None);
        assert_eq!(agreed_length(b, &[]), None);
    }
}
