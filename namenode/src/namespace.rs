//! How the namespace is laid out in the [`KvStore`], and the reads and
//! batched writes the namesystem builds its operations from.
//!
//! Keys (one ordered keyspace, first byte = kind):
//!
//! | key                            | value                                      |
//! |--------------------------------|--------------------------------------------|
//! | `i` inode id (u64 BE)          | prost-encoded `tusk_proto::InodeRecord`    |
//! | `e` parent id (u64 BE) name    | child inode id (u64 BE)                    |
//! | `b` block id (u64 BE)          | [`BlockRecord`] (fixed 29 bytes)           |
//! | `u` inode id (u64 BE)          | lease holder (client name) of an open file |
//! | `m` counter name               | u64 BE                                     |
//! | `q` directory id (u64 BE)      | name quota, space quota (i64 BE each; -1 = none) |
//!
//! Directory entries sort by name bytewise under their parent's prefix, which
//! gives paged listings for free. Nothing here is cached: the namespace lives
//! in the store, not in RAM — except the usage of quota directories
//! ([`crate::quota`]), rebuilt at open and kept current by [`Namespace::commit`].

use crate::error::NnResult;
use crate::permission::{self, Caller};
use crate::store::{Batch, KvStore};
use crate::types::{AdminState, Block, Inode, InodeKind};
use prost::Message;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Inode id of `/`.
pub const ROOT_ID: u64 = 1;
/// The directory that holds subtrees detached by a big recursive delete
/// until they are purged (see `fsn_delete.rs`). Its children are named by
/// their inode id. It has no inode record and no entry in any directory,
/// so no path reaches it; ids below [`FIRST_INODE_ID`] are reserved.
pub const DETACHED_ID: u64 = 2;
/// First inode id handed out after the root.
const FIRST_INODE_ID: u64 = 16386;
/// First block id, as HDFS (`1 << 30`).
const FIRST_BLOCK_ID: u64 = 1 << 30;
/// First generation stamp, as HDFS.
const FIRST_GENSTAMP: u64 = 1001;

pub fn inode_key(id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'i');
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn entry_prefix(parent: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'e');
    k.extend_from_slice(&parent.to_be_bytes());
    k
}

pub fn entry_key(parent: u64, name: &str) -> Vec<u8> {
    let mut k = entry_prefix(parent);
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn block_key(id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'b');
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn uc_key(inode: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'u');
    k.extend_from_slice(&inode.to_be_bytes());
    k
}

/// Where a directory's quotas are kept (only directories that have one).
pub fn quota_key(dir: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(b'q');
    k.extend_from_slice(&dir.to_be_bytes());
    k
}

pub fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![b'm'];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Prefix of the keys holding datanodes' admin states (`m` + `admin/` + uuid).
pub const ADMIN_PREFIX: &str = "admin/";

/// Where a datanode's admin state (decommissioning, decommissioned) is kept.
pub fn admin_key(uuid: &str) -> Vec<u8> {
    meta_key(&format!("{ADMIN_PREFIX}{uuid}"))
}

fn be_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

/// The `b` index entry of a block: enough to rebuild the block map at start
/// without reading any inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRecord {
    pub inode: u64,
    pub genstamp: u64,
    pub num_bytes: u64,
    /// Expected replication (the file's).
    pub replication: u32,
    /// Length committed by the writer (add_block of the next / complete).
    pub complete: bool,
}

impl BlockRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(29);
        v.extend_from_slice(&self.inode.to_be_bytes());
        v.extend_from_slice(&self.genstamp.to_be_bytes());
        v.extend_from_slice(&self.num_bytes.to_be_bytes());
        v.extend_from_slice(&self.replication.to_be_bytes());
        v.push(self.complete as u8);
        v
    }

    pub fn decode(v: &[u8]) -> Option<Self> {
        if v.len() != 29 {
            return None;
        }
        Some(BlockRecord {
            inode: be_u64(&v[0..])?,
            genstamp: be_u64(&v[8..])?,
            num_bytes: be_u64(&v[16..])?,
            replication: u32::from_be_bytes(v[24..28].try_into().ok()?),
            complete: v[28] != 0,
        })
    }
}

pub fn encode_inode(i: &Inode) -> Vec<u8> {
    let rec = tusk_proto::InodeRecord {
        id: i.id,
        parent: i.parent,
        name: i.name.clone(),
        file_type: match i.kind {
            InodeKind::File => tusk_proto::FileType::File as i32,
            InodeKind::Dir => tusk_proto::FileType::Directory as i32,
        },
        owner: i.owner.clone(),
        group: i.group.clone(),
        permission: i.permission,
        mtime_ms: i.mtime_ms,
        atime_ms: i.atime_ms,
        replication: i.replication,
        block_size: i.block_size,
        blocks: i
            .blocks
            .iter()
            .map(|b| tusk_proto::Block {
                block_id: b.id,
                genstamp: b.genstamp,
                num_bytes: b.num_bytes,
            })
            .collect(),
        client_name: i.client_name.clone(),
        sha256: i.sha256.clone().into(),
        length: i.length,
        children_num: i.children_num,
        ns_quota: -1,
        ds_quota: -1,
    };
    rec.encode_to_vec()
}

pub fn decode_inode(v: &[u8]) -> NnResult<Inode> {
    let r = tusk_proto::InodeRecord::decode(v)
        .map_err(|e| crate::error::NnError::Storage(format!("corrupt inode record: {e}")))?;
    Ok(Inode {
        id: r.id,
        parent: r.parent,
        name: r.name,
        kind: if r.file_type == tusk_proto::FileType::Directory as i32 {
            InodeKind::Dir
        } else {
            InodeKind::File
        },
        owner: r.owner,
        group: r.group,
        permission: r.permission,
        mtime_ms: r.mtime_ms,
        atime_ms: r.atime_ms,
        replication: r.replication,
        block_size: r.block_size,
        blocks: r
            .blocks
            .iter()
            .map(|b| Block {
                id: b.block_id,
                genstamp: b.genstamp,
                num_bytes: b.num_bytes,
            })
            .collect(),
        client_name: r.client_name,
        sha256: r.sha256.to_vec(),
        length: r.length,
        children_num: r.children_num,
    })
}

/// Counters kept under `m` keys; written with every batch that changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub next_inode: u64,
    pub next_block: u64,
    pub genstamp: u64,
    pub files: u64,
    pub dirs: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            next_inode: FIRST_INODE_ID,
            next_block: FIRST_BLOCK_ID,
            genstamp: FIRST_GENSTAMP,
            files: 0,
            dirs: 1,
        }
    }
}

const COUNTER_NAMES: [&str; 5] = ["next_inode", "next_block", "genstamp", "files", "dirs"];

impl Counters {
    fn values(&self) -> [u64; 5] {
        [
            self.next_inode,
            self.next_block,
            self.genstamp,
            self.files,
            self.dirs,
        ]
    }

    /// Writes every counter (all = true) or those that differ from `old`.
    fn write(&self, old: &Counters, all: bool, batch: &mut Batch) {
        for ((n, v), o) in COUNTER_NAMES.iter().zip(self.values()).zip(old.values()) {
            if all || v != o {
                batch.put(meta_key(n), v.to_be_bytes().to_vec());
            }
        }
    }
}

/// The store plus the counters; every read and write of namespace keys goes
/// through here. Not thread-safe by itself: the namesystem lock serializes
/// writers.
pub struct Namespace {
    store: Arc<dyn KvStore>,
    counters: Counters,
    /// Counters as last written, to skip rewriting unchanged ones.
    written: Counters,
    /// Quota directories with their cached usage (see [`crate::quota`]).
    quotas: crate::quota::Quotas,
}

impl Namespace {
    /// Opens the namespace in `store`, formatting it (root owned by
    /// `owner:group`, 0755) when empty. Returns whether it formatted.
    pub fn open(
        store: Arc<dyn KvStore>,
        owner: &str,
        group: &str,
        now_ms: u64,
    ) -> NnResult<(Self, bool)> {
        let mut ns = Namespace {
            store,
            counters: Counters::default(),
            written: Counters::default(),
            quotas: crate::quota::Quotas::default(),
        };
        let formatted = if ns.store.get(&inode_key(ROOT_ID))?.is_none() {
            let root = Inode {
                owner: owner.to_string(),
                group: group.to_string(),
                permission: 0o755,
                mtime_ms: now_ms,
                atime_ms: now_ms,
                ..Inode::blank(ROOT_ID, 0, "", InodeKind::Dir)
            };
            let mut txn = Txn::default();
            txn.put_inode(&root);
            ns.counters.write(&ns.written, true, &mut txn.batch);
            ns.store.apply(txn.batch)?;
            ns.store.flush()?;
            true
        } else {
            let mut vals = Counters::default().values();
            for (i, n) in COUNTER_NAMES.iter().enumerate() {
                if let Some(v) = ns.store.get(&meta_key(n))? {
                    if let Some(x) = be_u64(&v) {
                        vals[i] = x;
                    }
                }
            }
            ns.counters = Counters {
                next_inode: vals[0],
                next_block: vals[1],
                genstamp: vals[2],
                files: vals[3],
                dirs: vals[4],
            };
            false
        };
        ns.written = ns.counters;
        ns.quotas = crate::quota::Quotas::load(&ns)?;
        Ok((ns, formatted))
    }

    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    pub fn quotas(&self) -> &crate::quota::Quotas {
        &self.quotas
    }

    /// Sets or clears (both `NONE`) a directory's quotas, durably in `txn`
    /// (applied by the caller's commit), and its cached usage.
    pub fn set_quota(
        &mut self,
        txn: &mut Txn,
        dir: &Inode,
        ns_quota: i64,
        ds_quota: i64,
    ) -> NnResult<()> {
        use crate::quota::{DirQuota, NONE};
        if ns_quota == NONE && ds_quota == NONE {
            txn.batch.delete(quota_key(dir.id));
            self.quotas.remove(dir.id);
        } else {
            let (ns_used, ds_used) = match self.quotas.get(dir.id) {
                Some(q) => (q.ns_used, q.ds_used),
                None => crate::quota::subtree_usage(self, dir)?,
            };
            txn.batch.put(
                quota_key(dir.id),
                crate::quota::encode_record(ns_quota, ds_quota),
            );
            self.quotas.set(
                dir.id,
                DirQuota {
                    ns_quota,
                    ds_quota,
                    ns_used,
                    ds_used,
                },
            );
        }
        Ok(())
    }

    pub fn alloc_inode_id(&mut self) -> u64 {
        let id = self.counters.next_inode;
        self.counters.next_inode += 1;
        id
    }

    pub fn alloc_block(&mut self) -> (u64, u64) {
        let id = self.counters.next_block;
        self.counters.next_block += 1;
        self.counters.genstamp += 1;
        (id, self.counters.genstamp)
    }

    /// Every datanode admin state recorded with [`Txn::put_admin`].
    pub fn admin_states(&self) -> NnResult<Vec<(String, AdminState)>> {
        let prefix = admin_key("");
        let mut out = Vec::new();
        self.store.scan(&prefix, &prefix, &mut |k, v| {
            let uuid = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
            let state = match v {
                b if b == AdminState::Decommissioning.as_str().as_bytes() => {
                    Some(AdminState::Decommissioning)
                }
                b if b == AdminState::Decommissioned.as_str().as_bytes() => {
                    Some(AdminState::Decommissioned)
                }
                _ => None,
            };
            if let Some(s) = state {
                out.push((uuid, s));
            }
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    pub fn inode(&self, id: u64) -> NnResult<Option<Inode>> {
        match self.store.get(&inode_key(id))? {
            Some(v) => Ok(Some(decode_inode(&v)?)),
            None => Ok(None),
        }
    }

    pub fn child_id(&self, parent: u64, name: &str) -> NnResult<Option<u64>> {
        Ok(self
            .store
            .get(&entry_key(parent, name))?
            .and_then(|v| be_u64(&v)))
    }

    pub fn child(&self, parent: u64, name: &str) -> NnResult<Option<Inode>> {
        match self.child_id(parent, name)? {
            Some(id) => self.inode(id),
            None => Ok(None),
        }
    }

    /// Up to `limit` children of `parent` named strictly after `start_after`,
    /// bytewise by name, plus whether more follow.
    pub fn children(
        &self,
        parent: u64,
        start_after: &str,
        limit: usize,
    ) -> NnResult<(Vec<(String, u64)>, bool)> {
        let prefix = entry_prefix(parent);
        let mut start = entry_key(parent, start_after);
        if !start_after.is_empty() {
            start.push(0); // strictly after
        }
        let mut out = Vec::new();
        let mut more = false;
        self.store.scan(&prefix, &start, &mut |k, v| {
            if out.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some(id) = be_u64(v) {
                out.push((name, id));
            }
            ControlFlow::Continue(())
        })?;
        Ok((out, more))
    }

    /// Every `(key id, value)` under a one-byte prefix whose key is the prefix
    /// plus a u64 (used to rebuild soft state at start).
    pub fn scan_ids(&self, prefix: u8, visit: &mut dyn FnMut(u64, &[u8])) -> NnResult<()> {
        self.store.scan(&[prefix], &[], &mut |k, v| {
            if let Some(id) = be_u64(&k[1..]) {
                visit(id, v);
            }
            ControlFlow::Continue(())
        })?;
        Ok(())
    }

    /// Applies `txn` (plus changed counters) atomically. Durability comes
    /// later, from the group-commit flusher.
    pub fn commit(&mut self, mut txn: Txn) -> NnResult<()> {
        self.counters.write(&self.written, false, &mut txn.batch);
        if txn.batch.is_empty() {
            return Ok(());
        }
        // Quota usage follows every inode the batch writes (no-op without quotas).
        let tracked = if self.quotas.is_empty() {
            None
        } else {
            let t = crate::quota::track(self, &txn.batch)?;
            for id in &t.removed {
                txn.batch.delete(quota_key(*id));
            }
            Some(t)
        };
        self.store.apply(txn.batch)?;
        self.written = self.counters;
        if let Some(t) = tracked {
            crate::quota::apply(&mut self.quotas, t);
        }
        Ok(())
    }
}

/// Children read per store scan when walking a subtree.
pub const WALK_PAGE: usize = 1024;

/// A walk of a subtree taken in steps ([`SubtreeWalk::step`]), so a long
/// one can give the namesystem lock back between steps, as HDFS's content
/// summary does every `dfs.content-summary.limit` entries. It keeps one
/// listing cursor per directory still open (a few per level of depth), not
/// the subtree. Between steps the namespace may change: a directory deleted
/// meanwhile is skipped, one renamed is finished under its old path, and
/// entries added or removed behind a cursor are missed or counted once, as
/// in HDFS.
pub struct SubtreeWalk {
    /// Directories to list: id, path, name of the last child listed.
    dirs: Vec<(u64, String, String)>,
    access: Option<u32>,
}

impl SubtreeWalk {
    /// Starts a walk: visits `root`, and lists nothing yet. With `access`,
    /// every directory reached must allow it to `caller`.
    pub fn begin(
        root: &Inode,
        root_path: &str,
        caller: &Caller,
        access: Option<u32>,
        visit: &mut dyn FnMut(&Inode, &str),
    ) -> NnResult<SubtreeWalk> {
        let mut w = SubtreeWalk {
            dirs: Vec::new(),
            access,
        };
        if root.is_dir() {
            if let Some(a) = access {
                permission::check(caller, root, root_path, a)?;
            }
            w.dirs.push((root.id, root_path.to_string(), String::new()));
        }
        visit(root, root_path);
        Ok(w)
    }

    /// Visits about `budget` more inodes (at least one page of a directory
    /// listing when `budget` is 0). Returns whether the walk is done.
    pub fn step(
        &mut self,
        ns: &Namespace,
        caller: &Caller,
        budget: usize,
        visit: &mut dyn FnMut(&Inode, &str),
    ) -> NnResult<bool> {
        let mut seen = 0usize;
        while let Some((dir, path, after)) = self.dirs.last_mut() {
            if seen >= budget.max(1) {
                return Ok(false);
            }
            let (dir, path) = (*dir, path.clone());
            // A directory deleted since the last step lists nothing.
            let (page, more) = ns.children(dir, after, WALK_PAGE)?;
            match page.last() {
                Some((name, _)) if more => *after = name.clone(),
                _ => {
                    self.dirs.pop();
                }
            }
            for (name, id) in &page {
                seen += 1;
                let Some(child) = ns.inode(*id)? else {
                    continue;
                };
                let child_path = tusk_common::path::join(&path, name);
                if child.is_dir() {
                    if let Some(a) = self.access {
                        permission::check(caller, &child, &child_path, a)?;
                    }
                    self.dirs
                        .push((child.id, child_path.clone(), String::new()));
                }
                visit(&child, &child_path);
            }
        }
        Ok(true)
    }
}

/// The writes of one namespace operation, applied in one batch.
#[derive(Default)]
pub struct Txn {
    pub batch: Batch,
}

impl Txn {
    pub fn put_inode(&mut self, i: &Inode) {
        self.batch.put(inode_key(i.id), encode_inode(i));
    }
    pub fn del_inode(&mut self, id: u64) {
        self.batch.delete(inode_key(id));
    }
    pub fn put_entry(&mut self, parent: u64, name: &str, child: u64) {
        self.batch
            .put(entry_key(parent, name), child.to_be_bytes().to_vec());
    }
    pub fn del_entry(&mut self, parent: u64, name: &str) {
        self.batch.delete(entry_key(parent, name));
    }
    pub fn put_block(&mut self, id: u64, r: &BlockRecord) {
        self.batch.put(block_key(id), r.encode());
    }
    pub fn del_block(&mut self, id: u64) {
        self.batch.delete(block_key(id));
    }
    pub fn put_uc(&mut self, inode: u64, client: &str) {
        self.batch.put(uc_key(inode), client.as_bytes().to_vec());
    }
    pub fn del_uc(&mut self, inode: u64) {
        self.batch.delete(uc_key(inode));
    }
    /// Records a datanode's admin state; in service is the absence of a key.
    pub fn put_admin(&mut self, uuid: &str, state: AdminState) {
        match state {
            AdminState::InService => self.batch.delete(admin_key(uuid)),
            s => self
                .batch
                .put(admin_key(uuid), s.as_str().as_bytes().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_record_roundtrip() {
        let r = BlockRecord {
            inode: 7,
            genstamp: 1002,
            num_bytes: 12345,
            replication: 3,
            complete: true,
        };
        assert_eq!(BlockRecord::decode(&r.encode()), Some(r));
        assert_eq!(BlockRecord::decode(b"short"), None);
    }

    #[test]
    fn listing_is_bytewise_and_paged() {
        let store: Arc<dyn KvStore> = Arc::new(crate::store::MemStore::new());
        let (mut ns, formatted) = Namespace::open(store, "root", "supergroup", 1).unwrap();
        assert!(formatted);
        let mut txn = Txn::default();
        for (i, n) in ["b", "a", "B", "é", "aa"].iter().enumerate() {
            txn.put_entry(ROOT_ID, n, 100 + i as u64);
        }
        ns.commit(txn).unwrap();
        let (all, more) = ns.children(ROOT_ID, "", 100).unwrap();
        let names: Vec<_> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["B", "a", "aa", "b", "é"]);
        assert!(!more);
        let (page, more) = ns.children(ROOT_ID, "a", 2).unwrap();
        let names: Vec<_> = page.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["aa", "b"]);
        assert!(more);
    }
}
