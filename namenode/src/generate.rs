//! Writes many empty, closed files straight into a stopped namenode's store
//! (`/bench/d000000/f000000`, ...), for the start-up benchmark. Batched: one
//! store batch per directory group, straight into sled (not through the edit
//! log: a crash mid-way leaves a half-generated benchmark, nothing more), and
//! one checkpoint at the end, when the edit log closes.

use crate::editlog::NameStore;
use crate::error::{NnError, NnResult};
use crate::namespace::{Namespace, Txn, ROOT_ID};
use crate::store::KvStore;
use crate::types::{Inode, InodeKind};
use std::path::Path;
use std::sync::Arc;

/// Inodes written per store batch.
const BATCH_INODES: u64 = 1_000;
/// Each writer flushes after this many batches.
const FLUSH_EVERY_BATCHES: u64 = 50;

fn inode(
    id: u64,
    parent: u64,
    name: String,
    kind: InodeKind,
    owner: &str,
    group: &str,
    now: u64,
) -> Inode {
    Inode {
        owner: owner.to_string(),
        group: group.to_string(),
        permission: if kind == InodeKind::Dir { 0o755 } else { 0o644 },
        mtime_ms: now,
        atime_ms: now,
        ..Inode::blank(id, parent, name, kind)
    }
}

/// What to generate; shared by the writer threads.
struct Spec<'a> {
    n: u64,
    per_dir: u64,
    first: u64,
    bench_id: u64,
    owner: &'a str,
    group: &'a str,
    replication: u32,
    block_size: u64,
    now: u64,
}

impl Spec<'_> {
    /// Writes the given directories and their files, one batch per
    /// `BATCH_INODES` inodes.
    fn write_dirs(&self, store: &dyn KvStore, dirs: impl Iterator<Item = u64>) -> NnResult<()> {
        let mut txn = Txn::default();
        let mut in_batch = 0;
        let mut batches = 0u64;
        for d in dirs {
            let did = self.first + d * (self.per_dir + 1);
            let lo = d * self.per_dir;
            let count = self.per_dir.min(self.n - lo);
            let mut dir = inode(
                did,
                self.bench_id,
                format!("d{d:06}"),
                InodeKind::Dir,
                self.owner,
                self.group,
                self.now,
            );
            dir.children_num = count;
            txn.put_entry(self.bench_id, &dir.name, did);
            txn.put_inode(&dir);
            for j in 0..count {
                let fid = did + 1 + j;
                let mut f = inode(
                    fid,
                    did,
                    format!("f{:06}", lo + j),
                    InodeKind::File,
                    self.owner,
                    self.group,
                    self.now,
                );
                f.replication = self.replication;
                f.block_size = self.block_size;
                txn.put_entry(did, &f.name, fid);
                txn.put_inode(&f);
                in_batch += 1;
                if in_batch >= BATCH_INODES {
                    store.apply(std::mem::take(&mut txn).batch)?;
                    in_batch = 0;
                    batches += 1;
                    if batches == FLUSH_EVERY_BATCHES {
                        // Lets sled write out dirty pages and bound its memory.
                        store.flush()?;
                        batches = 0;
                    }
                }
            }
        }
        if !txn.batch.is_empty() {
            store.apply(txn.batch)?;
        }
        Ok(())
    }
}

/// Adds `n` files under `/bench` (which must not exist yet) in directories of
/// `per_dir` files. Returns the number of directories written.
pub fn generate_files(
    name_dir: &Path,
    cfg: &tusk_common::TuskConfig,
    n: u64,
    per_dir: u64,
) -> NnResult<u64> {
    let per_dir = per_dir.max(1);
    std::fs::create_dir_all(name_dir)
        .map_err(|e| NnError::Storage(format!("{}: {e}", name_dir.display())))?;
    // Opening replays whatever edit log a killed namenode left, before the
    // bulk writes go into sled behind the log's back.
    let store = NameStore::open(name_dir, cfg.namenode.cache_size.0)?;
    let core = crate::fsn::CoreConfig::from_config(cfg);
    let now = tusk_common::sys::now_ms();
    let res = (|| {
        let (mut ns, _) = Namespace::open(
            store.log.clone() as Arc<dyn KvStore>,
            &core.superuser,
            &core.supergroup,
            now,
        )?;
        if ns.child_id(ROOT_ID, "bench")?.is_some() {
            return Err(NnError::AlreadyExists(
                "/bench already exists; generate into a fresh name dir".into(),
            ));
        }
        let owner = core.superuser.clone();
        let group = core.supergroup.clone();
        let mut root = ns
            .inode(ROOT_ID)?
            .ok_or_else(|| NnError::Storage("the root inode is missing".into()))?;
        let bench_id = ns.alloc_inode_id();
        let ndirs = n.div_ceil(per_dir);
        // Ids are laid out up front (directory d gets `first + d * (per_dir + 1)`,
        // its files the ids after it), so threads can write directories in parallel.
        let first = ns.counters().next_inode;
        let spec = Spec {
            n,
            per_dir,
            first,
            bench_id,
            owner: &owner,
            group: &group,
            replication: core.default_replication,
            block_size: core.default_block_size,
            now,
        };
        let threads = std::thread::available_parallelism()
            .map(|p| p.get() as u64)
            .unwrap_or(1)
            .clamp(1, 8);
        let results: Vec<NnResult<()>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (spec, sled) = (&spec, &store.sled);
                    sc.spawn(move || {
                        let dirs = (t..ndirs).step_by(threads as usize);
                        spec.write_dirs(sled.as_ref(), dirs)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(NnError::Storage("generator thread panicked".into()))
                    })
                })
                .collect()
        });
        for r in results {
            r?;
        }
        let c = ns.counters_mut();
        c.next_inode = first + ndirs * (per_dir + 1);
        c.dirs += ndirs + 1;
        c.files += n;
        let mut bench = inode(
            bench_id,
            ROOT_ID,
            "bench".into(),
            InodeKind::Dir,
            &owner,
            &group,
            now,
        );
        bench.children_num = ndirs;
        root.children_num += 1;
        let mut txn = Txn::default();
        txn.put_inode(&bench);
        txn.put_inode(&root);
        txn.put_entry(ROOT_ID, "bench", bench_id);
        ns.commit(txn)?;
        store.log.flush()?;
        Ok(ndirs)
    })();
    store.close()?;
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datanodes::Topology;
    use crate::fsn::{CoreConfig, FsNamesystem};
    use crate::permission::Caller;
    use std::time::Instant;

    #[test]
    fn generated_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = tusk_common::TuskConfig::default();
        cfg.namenode.superuser = Some("root".into());
        let ndirs = generate_files(dir.path(), &cfg, 25, 10).unwrap();
        assert_eq!(ndirs, 3);
        assert!(generate_files(dir.path(), &cfg, 1, 1).is_err());
        let store = NameStore::open(dir.path(), 1 << 20).unwrap();
        let core = CoreConfig {
            superuser: "root".into(),
            ..CoreConfig::default()
        };
        let fsn = FsNamesystem::open(store.log.clone(), core, Topology::default(), Instant::now())
            .unwrap();
        let su = Caller::superuser("root");
        let l = fsn.get_listing(&su, "/bench/d000002", "", 100).unwrap();
        let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["f000020", "f000021", "f000022", "f000023", "f000024"]
        );
        assert_eq!(fsn.fs_stats().total_files, 25);
        let st = fsn
            .get_file_info(&su, "/bench/d000000/f000003")
            .unwrap()
            .unwrap();
        assert!(!st.under_construction);
        drop(fsn);
        store.close().unwrap();
    }
}
