//! Unit tests of deletes past the deletion increment: detached at once,
//! purged in steps, across restarts (see `fsn_delete.rs`).

use super::tests::*;
use super::*;
use crate::namespace::DETACHED_ID;
use crate::quota::NONE;
use crate::store::MemStore;
use std::ops::ControlFlow;

fn with_increment(store: Arc<MemStore>, n: usize) -> FsNamesystem {
    let cfg = CoreConfig {
        deletion_increment: n,
        ..core()
    };
    FsNamesystem::open(store, cfg, Topology::default(), Instant::now()).unwrap()
}

/// Keys in the store under a one-byte prefix.
fn keys(store: &MemStore, prefix: u8) -> usize {
    let mut n = 0;
    store
        .scan(&[prefix], &[], &mut |_, _| {
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    n
}

/// Purges until nothing is left; returns the number of steps.
fn purge_all(f: &mut FsNamesystem, step: usize) -> usize {
    let mut steps = 0;
    loop {
        let n = f.purge_detached(step).unwrap();
        assert!(n <= step, "a step removed {n} inodes, more than {step}");
        if n == 0 {
            return steps;
        }
        steps += 1;
        assert!(steps < 10_000, "the purge does not end");
    }
}

/// `/big`: `dirs` directories of `files` one-block files each, and a file
/// at the top; returns the number of inodes (the root `/big` included).
fn big_tree(f: &mut FsNamesystem, dirs: usize, files: usize) -> usize {
    let r = root();
    f.mkdirs(&r, "/big", 0o755, false).unwrap();
    write_file(f, "/big/top", 1, 100).unwrap();
    for d in 0..dirs {
        f.mkdirs(&r, &format!("/big/d{d}/deeper"), 0o755, true)
            .unwrap();
        for i in 0..files {
            write_file(f, &format!("/big/d{d}/deeper/f{i}"), 3, 10).unwrap();
        }
    }
    2 + dirs * (2 + files)
}

/// Every block a datanode is told to delete on its next heartbeats.
fn deletes_for(f: &mut FsNamesystem, uuid: &str) -> Vec<u64> {
    let mut out = Vec::new();
    loop {
        let cmds = f.heartbeat(uuid, StorageStats::default(), 0, Instant::now());
        let mut got = false;
        for c in cmds {
            if let Command::Delete(bs) = c {
                got |= !bs.is_empty();
                out.extend(bs.iter().map(|b| b.id));
            }
        }
        if !got {
            return out;
        }
    }
}

#[test]
fn a_tree_past_the_increment_is_detached_at_once_and_purged_in_steps() {
    let store = Arc::new(MemStore::new());
    let mut f = with_increment(store.clone(), 10);
    let r = root();
    let dns = add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/keep", 0o755, false).unwrap();
    write_file(&mut f, "/keep/k", 1, 5).unwrap();
    let inodes = big_tree(&mut f, 4, 6);
    let blocks = 1 + 4 * 6;
    deletes_for(&mut f, &dns[0]);
    let before = f.fs_stats();
    assert_eq!((before.total_files, before.total_dirs), (26, 11));

    assert!(f.delete(&r, "/big", true).unwrap());
    // Gone from the namespace at once; the name is free again.
    assert!(f.get_file_info(&r, "/big/d0/deeper/f0").unwrap().is_none());
    assert_eq!(names(&f.get_listing(&r, "/", "", 100).unwrap()), ["keep"]);
    assert_eq!(f.get_file_info(&r, "/").unwrap().unwrap().children_num, 1);
    f.mkdirs(&r, "/big", 0o755, false).unwrap();
    assert!(f.delete(&r, "/big", false).unwrap());
    // Nothing is purged yet: totals, block map and replicas unchanged.
    assert!(f.purge_pending());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (26, 11));
    assert_eq!(f.block_map().len(), blocks + 1);
    assert!(deletes_for(&mut f, &dns[0]).is_empty());

    let steps = purge_all(&mut f, 10);
    assert!(
        steps >= inodes / 10,
        "{inodes} inodes purged in {steps} steps"
    );
    assert!(!f.purge_pending());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (1, 2));
    assert_eq!(f.block_map().len(), 1);
    // Every replica of the tree is to be deleted; the one kept is not.
    for dn in &dns {
        let mut deleted = deletes_for(&mut f, dn);
        deleted.sort_unstable();
        let want = if dn == &dns[0] { blocks } else { 0 };
        assert_eq!(deleted.len(), want, "deletes for {dn}");
    }
    // The store holds the root, /keep and its file, nothing else.
    assert_eq!(keys(&store, b'i'), 3);
    assert_eq!(keys(&store, b'e'), 2);
    assert_eq!(keys(&store, b'b'), 1);
    assert!(f.ns.children(DETACHED_ID, "", 10).unwrap().0.is_empty());
}

#[test]
fn a_tree_within_the_increment_is_deleted_at_once() {
    let mut f = with_increment(Arc::new(MemStore::new()), 100);
    let r = root();
    add_datanodes(&mut f, 3);
    big_tree(&mut f, 3, 5);
    assert!(f.delete(&r, "/big", true).unwrap());
    assert!(!f.purge_pending());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (0, 1));
    assert_eq!(f.block_map().len(), 0);
}

#[test]
fn a_restart_carries_on_purging_once_out_of_safe_mode() {
    let store = Arc::new(MemStore::new());
    let mut f = with_increment(store.clone(), 7);
    let r = root();
    add_datanodes(&mut f, 3);
    big_tree(&mut f, 3, 8);
    assert!(f.delete(&r, "/big", true).unwrap());
    assert_eq!(f.purge_detached(7).unwrap(), 7);
    assert_eq!(f.purge_detached(7).unwrap(), 7);
    drop(f);

    let mut f = with_increment(store.clone(), 7);
    assert!(f.in_safe_mode(), "blocks are left: safe mode");
    assert!(f.purge_pending());
    assert_eq!(
        f.purge_detached(7).unwrap(),
        0,
        "nothing purged in safe mode"
    );
    assert!(f.purge_pending());
    f.leave_safe_mode();
    add_datanodes(&mut f, 3);
    purge_all(&mut f, 7);
    assert!(!f.purge_pending());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (0, 1));
    assert_eq!(keys(&store, b'i'), 1, "only the root is left");
    assert_eq!(keys(&store, b'e'), 0);
    assert_eq!(keys(&store, b'b'), 0);
    assert_eq!(f.block_map().len(), 0);
    // A new namesystem on the same store finds nothing to purge.
    drop(f);
    assert!(!with_increment(store, 7).purge_pending());
}

#[test]
fn writers_in_a_detached_tree_lose_their_files_and_leases() {
    let store = Arc::new(MemStore::new());
    let mut f = with_increment(store.clone(), 2);
    let r = root();
    add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/w/a", 0o755, true).unwrap();
    for i in 0..4 {
        touch(&mut f, &r, &format!("/w/a/t{i}"));
    }
    f.create(&r, &create_args("/w/a/open", "c"), Instant::now())
        .unwrap();
    let id = f.get_file_info(&r, "/w/a/open").unwrap().unwrap().file_id;
    let b = add_block(&mut f, "/w/a/open", "c", None).unwrap().block;
    // An open file elsewhere keeps its lease.
    f.create(&r, &create_args("/other", "c"), Instant::now())
        .unwrap();
    let other = f.get_file_info(&r, "/other").unwrap().unwrap().file_id;
    assert_eq!(keys(&store, b'u'), 2);

    assert!(f.delete(&r, "/w", true).unwrap());
    assert!(f.purge_pending());
    assert_eq!(f.leases().holder(id), None);
    assert_eq!(f.leases().holder(other), Some("c"));
    assert_eq!(keys(&store, b'u'), 1, "the lease record went with the tree");
    let e = f
        .add_block(&AddBlockArgs {
            path: "/w/a/open",
            client_name: "c",
            file_id: id,
            previous: Some(b),
            excluded: &[],
            writer_host: "",
        })
        .unwrap_err();
    assert!(matches!(e, NnError::NotFound(_)), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = f.complete("/w/a/open", "c", id, Some(b), b"").unwrap_err();
    assert!(matches!(e, NnError::NotFound(_)), "{e:?}");
    purge_all(&mut f, 2);
    assert!(f.ns.inode(id).unwrap().is_none());
    assert_eq!(f.leases().holder(other), Some("c"));
    assert!(f.complete("/other", "c", other, None, b"").unwrap());
}

#[test]
fn quotas_above_stop_counting_a_detached_tree_at_once() {
    let mut f = with_increment(Arc::new(MemStore::new()), 3);
    let r = root();
    add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/q/t/inner", 0o755, true).unwrap();
    f.set_quota(&r, "/q", 100, NONE).unwrap();
    f.set_quota(&r, "/q/t/inner", 50, (10 * MB) as i64).unwrap();
    write_file(&mut f, "/q/kept", 2, 1000).unwrap();
    for i in 0..5 {
        write_file(&mut f, &format!("/q/t/f{i}"), 1, 100).unwrap();
        write_file(&mut f, &format!("/q/t/inner/g{i}"), 3, 100).unwrap();
    }
    assert_eq!(quota_usage(&f, "/q"), (14, 2000 + 500 + 1500));
    assert_eq!(f.ns.quotas().len(), 2);

    assert!(f.delete(&r, "/q/t", true).unwrap());
    assert!(f.purge_pending());
    assert_eq!(
        quota_usage(&f, "/q"),
        (2, 2000),
        "counted off at the delete"
    );
    purge_all(&mut f, 3);
    assert_eq!(quota_usage(&f, "/q"), (2, 2000));
    assert_eq!(
        f.ns.quotas().len(),
        1,
        "the inner quota went with its directory"
    );
    // The freed room is usable.
    for i in 0..98 {
        touch(&mut f, &r, &format!("/q/n{i}"));
    }
    assert!(matches!(
        f.mkdirs(&r, "/q/one-too-many", 0o755, false),
        Err(NnError::NsQuotaExceeded(_))
    ));
}

#[test]
fn a_detach_needs_access_to_every_directory_of_the_tree_first() {
    let mut f = with_increment(Arc::new(MemStore::new()), 3);
    let r = root();
    f.mkdirs(&r, "/home", 0o777, false).unwrap();
    let alice = user("alice", &[]);
    for i in 0..6 {
        touch(&mut f, &alice, &format!("/home/t/a{i}"));
    }
    // Far past the increment, a directory alice may not write.
    f.mkdirs(&alice, "/home/t/z/locked", 0o755, true).unwrap();
    touch(&mut f, &alice, "/home/t/z/locked/f");
    f.set_owner(&r, "/home/t/z/locked", "root", "").unwrap();
    let e = f.delete(&alice, "/home/t", true).unwrap_err();
    assert!(matches!(e, NnError::PermissionDenied(_)), "{e:?}");
    assert!(!f.purge_pending());
    assert!(f.get_file_info(&r, "/home/t/a0").unwrap().is_some());
    assert!(f.get_file_info(&r, "/home/t/z/locked/f").unwrap().is_some());
    // Once allowed, the same delete detaches.
    f.set_owner(&r, "/home/t/z/locked", "alice", "").unwrap();
    assert!(f.delete(&alice, "/home/t", true).unwrap());
    assert!(f.purge_pending());
    purge_all(&mut f, 3);
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (0, 2));
}

#[test]
fn several_detached_trees_and_an_entry_without_inode_are_purged() {
    let store = Arc::new(MemStore::new());
    let mut f = with_increment(store.clone(), 2);
    let r = root();
    for t in ["/x", "/y", "/z"] {
        for i in 0..4 {
            touch(&mut f, &r, &format!("{t}/sub/f{i}"));
        }
        assert!(f.delete(&r, t, true).unwrap());
    }
    // A stray entry in the detached directory (no inode behind it).
    let mut txn = Txn::default();
    txn.put_entry(DETACHED_ID, "999999", 999_999);
    f.ns.commit(txn).unwrap();
    assert_eq!(f.ns.children(DETACHED_ID, "", 10).unwrap().0.len(), 4);
    purge_all(&mut f, 5);
    assert_eq!(keys(&store, b'i'), 1);
    assert_eq!(keys(&store, b'e'), 0);
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (0, 1));
}
