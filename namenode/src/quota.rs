//! Name and space quotas (HDFS's `DirectoryWithQuotaFeature`).
//!
//! Only directories with a quota carry counters, as in HDFS: a map from the
//! directory's inode id to its quotas and its cached usage (names = files +
//! directories of the tree, the directory itself included; space = bytes of
//! all replicas). The quotas are durable under `q` keys (see
//! [`crate::namespace`]); the usage is rebuilt at start by walking each quota
//! directory's tree, so it can never disagree with the inodes on disk.
//!
//! The usage is kept current in one place, [`Namespace::commit`]: before a
//! batch is applied, [`track`] compares every inode the batch writes with its
//! stored version and charges the difference to the quota directories above
//! it (old place and new place for a rename). Checks happen earlier, in the
//! namesystem operations, before anything changes ([`verify`]).
//!
//! Space of a file: every block's length × replication, except that the last
//! block of a file being written, while not complete, counts as a whole block
//! (HDFS charges `preferredBlockSize × replication` at `addBlock` and
//! corrects it when the block is committed).

use crate::error::{NnError, NnResult};
use crate::namespace::{self, BlockRecord, Namespace, SubtreeWalk, ROOT_ID};
use crate::permission::Caller;
use crate::store::{Batch, Op};
use crate::types::Inode;
use std::collections::HashMap;

/// `HdfsConstants.QUOTA_RESET`: no quota.
pub const NONE: i64 = -1;

/// One quota directory: its quotas (`NONE` when unset) and cached usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirQuota {
    pub ns_quota: i64,
    pub ds_quota: i64,
    /// Names in the tree, the directory itself included.
    pub ns_used: u64,
    /// Bytes of all replicas in the tree.
    pub ds_used: u64,
}

/// The quota directories, by inode id.
#[derive(Debug, Default)]
pub struct Quotas {
    dirs: HashMap<u64, DirQuota>,
}

impl Quotas {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }
    pub fn get(&self, id: u64) -> Option<&DirQuota> {
        self.dirs.get(&id)
    }
    pub fn len(&self) -> usize {
        self.dirs.len()
    }
    pub(crate) fn set(&mut self, id: u64, q: DirQuota) {
        self.dirs.insert(id, q);
    }
    pub(crate) fn remove(&mut self, id: u64) {
        self.dirs.remove(&id);
    }

    /// Reads the `q` records and rebuilds every quota directory's usage.
    pub(crate) fn load(ns: &Namespace) -> NnResult<Quotas> {
        let mut found = Vec::new();
        ns.scan_ids(b'q', &mut |id, v| {
            if let Some(q) = decode_record(v) {
                found.push((id, q));
            }
        })?;
        let mut dirs = HashMap::new();
        for (id, (ns_quota, ds_quota)) in found {
            let Some(dir) = ns.inode(id)? else {
                tracing::warn!(inode = id, "quota record of a missing directory ignored");
                continue;
            };
            let (ns_used, ds_used) = subtree_usage(ns, &dir)?;
            dirs.insert(
                id,
                DirQuota {
                    ns_quota,
                    ds_quota,
                    ns_used,
                    ds_used,
                },
            );
        }
        if !dirs.is_empty() {
            tracing::info!(directories = dirs.len(), "quota usage rebuilt");
        }
        Ok(Quotas { dirs })
    }
}

/// The value of a `q` record: name quota and space quota, i64 BE each.
pub fn encode_record(ns_quota: i64, ds_quota: i64) -> Vec<u8> {
    let mut v = ns_quota.to_be_bytes().to_vec();
    v.extend_from_slice(&ds_quota.to_be_bytes());
    v
}

fn decode_record(v: &[u8]) -> Option<(i64, i64)> {
    Some((
        i64::from_be_bytes(v.get(..8)?.try_into().ok()?),
        i64::from_be_bytes(v.get(8..16)?.try_into().ok()?),
    ))
}

/// Bytes of all replicas of a file (see the module docs); `complete` says
/// whether a block is complete.
pub fn file_space(inode: &Inode, complete: &dyn Fn(u64) -> bool) -> u64 {
    if !inode.is_file() {
        return 0;
    }
    let n = inode.blocks.len();
    let bytes = inode.blocks.iter().enumerate().fold(0u64, |acc, (k, b)| {
        let charged = if k + 1 == n && inode.under_construction() && !complete(b.id) {
            b.num_bytes.max(inode.block_size)
        } else {
            b.num_bytes
        };
        acc.saturating_add(charged)
    });
    bytes.saturating_mul(u64::from(inode.replication))
}

/// Whether a block's `b` record says complete (a missing record counts as
/// complete: nothing is being written into it).
fn stored_complete(ns: &Namespace, id: u64) -> bool {
    match ns.store().get(&namespace::block_key(id)) {
        Ok(Some(v)) => BlockRecord::decode(&v).map(|r| r.complete).unwrap_or(true),
        _ => true,
    }
}

/// Names and replica bytes of a tree (the root included), read from the
/// store by a [`SubtreeWalk`] (a cursor per open directory, not the tree).
pub fn subtree_usage(ns: &Namespace, root: &Inode) -> NnResult<(u64, u64)> {
    let complete = |id| stored_complete(ns, id);
    let (mut names, mut space) = (0u64, 0u64);
    let mut count = |i: &Inode, _: &str| {
        names += 1;
        space = space.saturating_add(file_space(i, &complete));
    };
    // No access is checked: the caller is never consulted.
    let nobody = Caller::superuser("");
    let mut w = SubtreeWalk::begin(root, "/", &nobody, None, &mut count)?;
    while !w.step(ns, &nobody, usize::MAX, &mut count)? {}
    Ok((names, space))
}

/// The path of a directory, from the names up its parent chain.
pub fn path_of(ns: &Namespace, id: u64) -> String {
    let mut names = Vec::new();
    let mut cur = id;
    while cur != ROOT_ID && cur != 0 && names.len() < 4096 {
        match ns.inode(cur) {
            Ok(Some(i)) => {
                names.push(i.name);
                cur = i.parent;
            }
            _ => break,
        }
    }
    names.reverse();
    format!("/{}", names.join("/"))
}

/// Hadoop's `StringUtils.TraditionalBinaryPrefix.long2String(n, "B", 2)`.
pub fn long2string(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut shift = 10;
    let mut k = 0;
    while k + 1 < UNITS.len() && n >> (shift + 10) > 0 {
        shift += 10;
        k += 1;
    }
    if n & ((1u64 << shift) - 1) == 0 {
        format!("{} {}B", n >> shift, UNITS[k])
    } else {
        format!("{:.2} {}B", n as f64 / (1u64 << shift) as f64, UNITS[k])
    }
}

/// Checks that adding `names` names and `space` bytes under directory
/// `parent` (and so to every directory above it) stays within every quota;
/// directories in `skip` are not checked (a rename's common ancestors).
/// The superuser is not exempt, as in HDFS.
pub fn verify(ns: &Namespace, parent: u64, names: u64, space: u64, skip: &[u64]) -> NnResult<()> {
    if ns.quotas().is_empty() || (names == 0 && space == 0) {
        return Ok(());
    }
    let mut cur = parent;
    let mut depth = 0;
    while cur != 0 && depth < 4096 {
        if !skip.contains(&cur) {
            check_one(ns, cur, names, space)?;
        }
        if cur == ROOT_ID {
            break;
        }
        cur = match ns.inode(cur)? {
            Some(i) => i.parent,
            None => break,
        };
        depth += 1;
    }
    Ok(())
}

/// [`verify`] when the caller already holds the directories from `/` down
/// to the parent (a resolved path): no store reads.
pub fn verify_path(ns: &Namespace, dirs: &[u64], names: u64, space: u64) -> NnResult<()> {
    if ns.quotas().is_empty() || (names == 0 && space == 0) {
        return Ok(());
    }
    for &id in dirs.iter().rev() {
        check_one(ns, id, names, space)?;
    }
    Ok(())
}

/// Checks one directory's quotas (if it has any) against the growth.
fn check_one(ns: &Namespace, id: u64, names: u64, space: u64) -> NnResult<()> {
    let Some(q) = ns.quotas().get(id) else {
        return Ok(());
    };
    let n = q.ns_used.saturating_add(names);
    if names > 0 && q.ns_quota >= 0 && n > q.ns_quota as u64 {
        return Err(NnError::NsQuotaExceeded(format!(
            "The NameSpace quota (directories and files) of directory {} is exceeded: quota={} file count={n}",
            path_of(ns, id),
            q.ns_quota
        )));
    }
    let s = q.ds_used.saturating_add(space);
    if space > 0 && q.ds_quota >= 0 && s > q.ds_quota as u64 {
        return Err(NnError::DsQuotaExceeded(format!(
            "The DiskSpace quota of {} is exceeded: quota = {} B = {} but diskspace consumed = {s} B = {}",
            path_of(ns, id),
            q.ds_quota,
            long2string(q.ds_quota as u64),
            long2string(s)
        )));
    }
    Ok(())
}

/// What a batch does to the quota directories: usage deltas, and quota
/// directories it deletes.
#[derive(Debug, Default)]
pub struct Tracked {
    pub deltas: HashMap<u64, (i64, i64)>,
    pub removed: Vec<u64>,
}

/// Computes [`Tracked`] for `batch` against the store (before it is applied).
pub fn track(ns: &Namespace, batch: &Batch) -> NnResult<Tracked> {
    // The batch's final word on each inode and block record.
    let mut inodes: HashMap<u64, Option<&[u8]>> = HashMap::new();
    let mut blocks: HashMap<u64, Option<&[u8]>> = HashMap::new();
    // Inodes given a directory entry: created or moved. Any other inode the
    // batch writes keeps its place, so a directory among them changes no
    // usage and needs no read.
    let mut entered: std::collections::HashSet<u64> = std::collections::HashSet::new();
    for op in &batch.ops {
        let (k, v) = match op {
            Op::Put(k, v) => (k, Some(v.as_slice())),
            Op::Delete(k) => (k, None),
        };
        if k.first() == Some(&b'e') {
            if let Some(child) = v
                .and_then(|v| v.get(..8))
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
            {
                entered.insert(child);
            }
            continue;
        }
        let Some(id) = k
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
        else {
            continue;
        };
        if k.len() != 9 {
            continue;
        }
        match k[0] {
            b'i' => {
                inodes.insert(id, v);
            }
            b'b' => {
                blocks.insert(id, v);
            }
            _ => {}
        }
    }
    let new_complete = |id: u64| match blocks.get(&id) {
        Some(Some(v)) => BlockRecord::decode(v).map(|r| r.complete).unwrap_or(true),
        Some(None) => true,
        None => stored_complete(ns, id),
    };
    let old_complete = |id: u64| stored_complete(ns, id);
    let mut decoded_new: HashMap<u64, Option<Inode>> = HashMap::new();
    for (id, v) in &inodes {
        decoded_new.insert(*id, v.map(namespace::decode_inode).transpose()?);
    }
    let mut t = Tracked::default();
    // Parent of a directory, before (store) or after (batch, then store).
    let parent_old = |id: u64| -> NnResult<Option<u64>> { Ok(ns.inode(id)?.map(|i| i.parent)) };
    let parent_new = |id: u64| -> NnResult<Option<u64>> {
        match decoded_new.get(&id) {
            Some(Some(i)) => Ok(Some(i.parent)),
            Some(None) => Ok(None),
            None => parent_old(id),
        }
    };
    // Quota directories from a parent up to `/`, memoized per parent (a
    // deleted tree shares few parents), before and after the batch.
    let mut memo_old: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut memo_new: HashMap<u64, Vec<u64>> = HashMap::new();
    let chain = |start: u64,
                 parent_of: &dyn Fn(u64) -> NnResult<Option<u64>>,
                 memo: &mut HashMap<u64, Vec<u64>>|
     -> NnResult<Vec<u64>> {
        if let Some(c) = memo.get(&start) {
            return Ok(c.clone());
        }
        let mut out = Vec::new();
        let mut cur = start;
        let mut depth = 0;
        while cur != 0 && depth < 4096 {
            if ns.quotas().get(cur).is_some() {
                out.push(cur);
            }
            if cur == ROOT_ID {
                break;
            }
            match parent_of(cur)? {
                Some(p) => cur = p,
                None => break,
            }
            depth += 1;
        }
        memo.insert(start, out.clone());
        Ok(out)
    };
    let charge = |t: &mut Tracked, dirs: Vec<u64>, names: i64, space: i64| {
        for d in dirs {
            let e = t.deltas.entry(d).or_insert((0, 0));
            e.0 += names;
            e.1 += space;
        }
    };
    for (id, new) in &decoded_new {
        if new.as_ref().is_some_and(|n| n.is_dir()) && !entered.contains(id) {
            continue;
        }
        let old = ns.inode(*id)?;
        match (&old, new) {
            (None, None) => {}
            (None, Some(n)) => {
                let s = file_space(n, &new_complete) as i64;
                charge(&mut t, chain(n.parent, &parent_new, &mut memo_new)?, 1, s);
            }
            (Some(o), None) => {
                let s = file_space(o, &old_complete) as i64;
                charge(&mut t, chain(o.parent, &parent_old, &mut memo_old)?, -1, -s);
                if ns.quotas().get(*id).is_some() {
                    t.removed.push(*id);
                }
            }
            (Some(o), Some(n)) if o.parent == n.parent => {
                if o.is_file() {
                    let d =
                        file_space(n, &new_complete) as i64 - file_space(o, &old_complete) as i64;
                    if d != 0 {
                        charge(&mut t, chain(n.parent, &parent_new, &mut memo_new)?, 0, d);
                    }
                }
            }
            (Some(o), Some(n)) => {
                // Moved: the whole tree leaves the old ancestors and joins
                // the new ones (descendants' records are unchanged).
                let from = chain(o.parent, &parent_old, &mut memo_old)?;
                let to = chain(n.parent, &parent_new, &mut memo_new)?;
                if from.is_empty() && to.is_empty() {
                    continue;
                }
                let (old_use, new_use) = if o.is_file() {
                    (
                        (1, file_space(o, &old_complete)),
                        (1, file_space(n, &new_complete)),
                    )
                } else {
                    let u = match ns.quotas().get(*id) {
                        Some(q) => (q.ns_used, q.ds_used),
                        None => subtree_usage(ns, o)?,
                    };
                    (u, u)
                };
                charge(&mut t, from, -(old_use.0 as i64), -(old_use.1 as i64));
                charge(&mut t, to, new_use.0 as i64, new_use.1 as i64);
            }
        }
    }
    Ok(t)
}

/// Applies [`Tracked`] deltas to the cached usage (after the batch is applied).
pub(crate) fn apply(quotas: &mut Quotas, t: Tracked) {
    for id in t.removed {
        quotas.remove(id);
    }
    for (id, (dn, ds)) in t.deltas {
        if let Some(q) = quotas.dirs.get_mut(&id) {
            q.ns_used = q.ns_used.saturating_add_signed(dn);
            q.ds_used = q.ds_used.saturating_add_signed(ds);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long2string_matches_hadoop() {
        assert_eq!(long2string(512), "512 B");
        assert_eq!(long2string(1024), "1 KB");
        assert_eq!(long2string(1536), "1.50 KB");
        assert_eq!(long2string(10 << 30), "10 GB");
        assert_eq!(long2string(3 << 20), "3 MB");
    }

    #[test]
    fn record_roundtrip() {
        assert_eq!(decode_record(&encode_record(-1, 42)), Some((-1, 42)));
        assert_eq!(decode_record(b"short"), None);
    }
}
