//! Unit tests of the namesystem: plain synchronous calls, in-memory store.

use super::*;
use crate::store::MemStore;

const DN_SPACE: u64 = 1 << 40;

pub(super) fn core() -> CoreConfig {
    CoreConfig {
        superuser: "root".into(),
        supergroup: "supergroup".into(),
        default_replication: 3,
        default_block_size: 1 << 20,
        listing_limit: 1000,
        ..CoreConfig::default()
    }
}

pub(super) fn open_with(store: Arc<MemStore>, topo: &str) -> FsNamesystem {
    FsNamesystem::open(store, core(), Topology::parse(topo), Instant::now()).unwrap()
}

pub(super) fn new_fsn() -> (FsNamesystem, Arc<MemStore>) {
    let store = Arc::new(MemStore::new());
    (open_with(store.clone(), ""), store)
}

pub(super) fn root() -> Caller {
    Caller::new("root", vec![], "root", "supergroup")
}

pub(super) fn user(name: &str, groups: &[&str]) -> Caller {
    Caller::new(
        name,
        groups.iter().map(|g| g.to_string()).collect(),
        "root",
        "supergroup",
    )
}

pub(super) fn create_args<'a>(path: &'a str, client: &'a str) -> CreateArgs<'a> {
    CreateArgs {
        path,
        permission: 0o644,
        client_name: client,
        overwrite: false,
        create_parent: true,
        replication: 0,
        block_size: 0,
    }
}

pub(super) fn touch(f: &mut FsNamesystem, c: &Caller, path: &str) {
    f.create(c, &create_args(path, "touch"), Instant::now())
        .unwrap();
    assert!(f.complete(path, "touch", 0, None, b"").unwrap());
}

pub(super) fn add_datanodes(f: &mut FsNamesystem, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let uuid = format!("dn{i}");
            f.register_datanode(
                DatanodeId {
                    uuid: uuid.clone(),
                    host: format!("h{i}"),
                    data_addr: format!("10.0.0.{i}:9866"),
                    http_addr: String::new(),
                    rack: String::new(),
                },
                StorageStats {
                    capacity: DN_SPACE,
                    used: 0,
                    remaining: DN_SPACE,
                },
                Instant::now(),
            );
            uuid
        })
        .collect()
}

pub(super) fn names(l: &Listing) -> Vec<String> {
    l.entries.iter().map(|e| e.name.clone()).collect()
}

pub(super) fn add_block(
    f: &mut FsNamesystem,
    path: &str,
    client: &str,
    prev: Option<Block>,
) -> NnResult<LocatedBlock> {
    f.add_block(&AddBlockArgs {
        path,
        client_name: client,
        file_id: 0,
        previous: prev,
        excluded: &[],
        writer_host: "",
    })
}

#[test]
fn root_is_formatted_for_the_superuser() {
    let (f, _) = new_fsn();
    let st = f.get_file_info(&root(), "/").unwrap().unwrap();
    assert_eq!(
        (st.owner.as_str(), st.group.as_str()),
        ("root", "supergroup")
    );
    assert_eq!(st.permission, 0o755);
    assert_eq!(st.kind, InodeKind::Dir);
    assert!(!f.in_safe_mode(), "no blocks: out of safe mode at once");
}

#[test]
fn mkdirs_and_info() {
    let (mut f, _) = new_fsn();
    let r = root();
    let e = f.mkdirs(&r, "/a/b", 0o755, false).unwrap_err();
    assert!(matches!(e, NnError::NotFound(_)));
    assert!(e.to_string().contains("does not exist"), "{e}");
    f.mkdirs(&r, "/a/b/c", 0o750, true).unwrap();
    f.mkdirs(&r, "/a/b/c", 0o750, false).unwrap(); // existing dir: fine
    let c = f.get_file_info(&r, "/a/b/c").unwrap().unwrap();
    assert_eq!(c.permission, 0o750);
    assert_eq!(f.get_file_info(&r, "/a").unwrap().unwrap().children_num, 1);
    assert!(f.get_file_info(&r, "/nope").unwrap().is_none());
    touch(&mut f, &r, "/a/file");
    assert!(matches!(
        f.mkdirs(&r, "/a/file/x", 0o755, true),
        Err(NnError::ParentNotDirectory(_))
    ));
    assert!(matches!(
        f.mkdirs(&r, "/a/file", 0o755, true),
        Err(NnError::AlreadyExists(_))
    ));
    assert!(f.get_file_info(&r, "/a/file/x").unwrap().is_none());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (1, 4));
}

#[test]
fn bad_paths_are_invalid_argument() {
    let (mut f, _) = new_fsn();
    let r = root();
    let long = format!("/{}", "x".repeat(256));
    for p in [
        "rel/a",
        "/a/../b",
        "/a//b",
        "/a/./b",
        "",
        "/a\0b",
        long.as_str(),
    ] {
        let e = f.mkdirs(&r, p, 0o755, true).unwrap_err();
        assert!(matches!(e, NnError::InvalidPath(_)), "{p:?}: {e:?}");
        assert!(f.get_file_info(&r, p).is_err());
    }
}

#[test]
fn listing_pages_bytewise() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/d", 0o755, false).unwrap();
    for n in ["b", "a", "C", "c10", "c9"] {
        touch(&mut f, &r, &format!("/d/{n}"));
    }
    let all = f.get_listing(&r, "/d", "", 0).unwrap();
    assert_eq!(names(&all), vec!["C", "a", "b", "c10", "c9"]);
    assert_eq!(all.remaining, 0);
    let p1 = f.get_listing(&r, "/d", "", 2).unwrap();
    assert_eq!(names(&p1), vec!["C", "a"]);
    assert!(p1.remaining >= 1);
    let p2 = f.get_listing(&r, "/d", "a", 2).unwrap();
    assert_eq!(names(&p2), vec!["b", "c10"]);
    assert!(p2.remaining >= 1);
    let p3 = f.get_listing(&r, "/d", "c10", 2).unwrap();
    assert_eq!(names(&p3), vec!["c9"]);
    assert_eq!(p3.remaining, 0);
    let file = f.get_listing(&r, "/d/a", "", 0).unwrap();
    assert!(file.is_file);
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].name, "");
    assert!(matches!(
        f.get_listing(&r, "/zz", "", 0),
        Err(NnError::NotFound(_))
    ));
}

#[test]
fn listing_limit_is_capped() {
    let store = Arc::new(MemStore::new());
    let mut cfg = core();
    cfg.listing_limit = 3;
    cfg.max_directory_items = 5;
    let mut f = FsNamesystem::open(store, cfg, Topology::default(), Instant::now()).unwrap();
    let r = root();
    for i in 0..5 {
        touch(&mut f, &r, &format!("/f{i}"));
    }
    assert_eq!(f.get_listing(&r, "/", "", 100).unwrap().entries.len(), 3);
    let e = f
        .create(&r, &create_args("/f9", "c"), Instant::now())
        .unwrap_err();
    assert!(matches!(e, NnError::TooManyItems(_)), "{e:?}");
}

#[test]
fn permissions_follow_hdfs() {
    let (mut f, _) = new_fsn();
    let r = root();
    let alice = user("alice", &["staff"]);
    let bob = user("bob", &["other"]);
    let e = f.mkdirs(&alice, "/x", 0o755, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Permission denied: user=alice, access=WRITE_EXECUTE, inode=\"/\":root:supergroup:drwxr-xr-x"
    );
    f.mkdirs(&r, "/user/alice", 0o755, true).unwrap();
    f.set_owner(&r, "/user/alice", "alice", "staff").unwrap();
    f.mkdirs(&alice, "/user/alice/p", 0o700, false).unwrap();
    let st = f.get_file_info(&r, "/user/alice/p").unwrap().unwrap();
    assert_eq!((st.owner.as_str(), st.group.as_str()), ("alice", "staff"));
    f.create(
        &alice,
        &create_args("/user/alice/p/f", "c1"),
        Instant::now(),
    )
    .unwrap();
    f.complete("/user/alice/p/f", "c1", 0, None, b"").unwrap();
    // Traverse needs execute on /user/alice/p (0700).
    assert!(matches!(
        f.get_file_info(&bob, "/user/alice/p/f"),
        Err(NnError::PermissionDenied(_))
    ));
    // Listing needs read+execute.
    f.set_permission(&alice, "/user/alice/p", 0o711).unwrap();
    assert!(f.get_file_info(&bob, "/user/alice/p/f").unwrap().is_some());
    assert!(matches!(
        f.get_listing(&bob, "/user/alice/p", "", 0),
        Err(NnError::PermissionDenied(_))
    ));
    // Reading a 0600 file.
    f.set_permission(&alice, "/user/alice/p/f", 0o600).unwrap();
    assert!(matches!(
        f.get_block_locations(&bob, "/user/alice/p/f", 0, 0, ""),
        Err(NnError::PermissionDenied(_))
    ));
    assert!(f
        .get_block_locations(&alice, "/user/alice/p/f", 0, 0, "")
        .is_ok());
    // chmod: owner or superuser only.
    assert!(matches!(
        f.set_permission(&bob, "/user/alice/p/f", 0o777),
        Err(NnError::PermissionDenied(_))
    ));
    // chown: owner change only by the superuser; group to one of the owner's groups.
    assert!(f.set_owner(&alice, "/user/alice/p/f", "bob", "").is_err());
    assert!(f.set_owner(&alice, "/user/alice/p/f", "", "other").is_err());
    f.set_owner(&alice, "/user/alice/p/f", "", "staff").unwrap();
    f.set_owner(&r, "/user/alice/p/f", "bob", "other").unwrap();
    // setTimes: the owner, or WRITE.
    f.set_times(&bob, "/user/alice/p/f", 5, -1).unwrap();
    assert!(f.set_times(&alice, "/user/alice/p/f", 6, -1).is_err());
    assert_eq!(
        f.get_file_info(&r, "/user/alice/p/f")
            .unwrap()
            .unwrap()
            .mtime_ms,
        5
    );
    // Delete needs write on the parent.
    assert!(matches!(
        f.delete(&bob, "/user/alice/p/f", false),
        Err(NnError::PermissionDenied(_))
    ));
    // Supergroup members are superusers.
    let admin = user("carol", &["supergroup"]);
    assert!(f.delete(&admin, "/user/alice/p/f", false).unwrap());
}

#[test]
fn sticky_bit_protects_entries() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/tmp", 0o1777, false).unwrap();
    let alice = user("alice", &[]);
    let bob = user("bob", &[]);
    touch(&mut f, &alice, "/tmp/a");
    let e = f.delete(&bob, "/tmp/a", false).unwrap_err();
    assert!(e.to_string().contains("sticky bit"), "{e}");
    assert!(f.rename(&bob, "/tmp/a", "/tmp/b", false).is_err());
    f.rename(&alice, "/tmp/a", "/tmp/b", false).unwrap();
    assert!(f.delete(&alice, "/tmp/b", false).unwrap());
}

#[test]
fn recursive_delete_needs_access_to_the_subtree() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/home", 0o777, false).unwrap();
    let alice = user("alice", &[]);
    f.mkdirs(&alice, "/home/t/locked", 0o755, true).unwrap();
    touch(&mut f, &alice, "/home/t/locked/f");
    f.set_owner(&r, "/home/t/locked", "root", "").unwrap();
    let e = f.delete(&alice, "/home/t", true).unwrap_err();
    assert!(matches!(e, NnError::PermissionDenied(_)), "{e:?}");
    assert!(f.get_file_info(&r, "/home/t/locked/f").unwrap().is_some());
    assert!(f.delete(&r, "/home/t", true).unwrap());
}

#[test]
fn delete_rules() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/d/e", 0o755, true).unwrap();
    touch(&mut f, &r, "/d/e/f");
    let e = f.delete(&r, "/d", false).unwrap_err();
    assert!(matches!(e, NnError::NotEmpty(_)));
    assert!(matches!(
        f.delete(&r, "/", true),
        Err(NnError::InvalidArgument(_))
    ));
    assert!(!f.delete(&r, "/missing", true).unwrap());
    assert!(f.delete(&r, "/d", true).unwrap());
    assert!(f.get_file_info(&r, "/d/e").unwrap().is_none());
    let s = f.fs_stats();
    assert_eq!((s.total_files, s.total_dirs), (0, 1));
    assert_eq!(f.get_file_info(&r, "/").unwrap().unwrap().children_num, 0);
    // The store holds nothing but the root and counters.
    f.mkdirs(&r, "/empty", 0o755, false).unwrap();
    assert!(f.delete(&r, "/empty", false).unwrap());
}

#[test]
fn rename_edge_cases() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/a/b", 0o755, true).unwrap();
    f.mkdirs(&r, "/dst", 0o755, false).unwrap();
    touch(&mut f, &r, "/a/f");
    touch(&mut f, &r, "/g");
    // Into an existing directory.
    f.rename(&r, "/a/f", "/dst", false).unwrap();
    assert!(f.get_file_info(&r, "/dst/f").unwrap().is_some());
    assert!(f.get_file_info(&r, "/a/f").unwrap().is_none());
    assert_eq!(f.get_file_info(&r, "/a").unwrap().unwrap().children_num, 1);
    // Plain rename to a new name.
    f.rename(&r, "/dst/f", "/dst/f2", false).unwrap();
    // Existing file: only with overwrite.
    assert!(matches!(
        f.rename(&r, "/g", "/dst/f2", false),
        Err(NnError::AlreadyExists(_))
    ));
    f.rename(&r, "/g", "/dst/f2", true).unwrap();
    assert_eq!(f.fs_stats().total_files, 1);
    assert_eq!(
        f.get_file_info(&r, "/dst").unwrap().unwrap().children_num,
        1
    );
    // A directory into itself or below.
    assert!(matches!(
        f.rename(&r, "/a", "/a/b", false),
        Err(NnError::InvalidArgument(_))
    ));
    assert!(matches!(
        f.rename(&r, "/a", "/a/b/c", false),
        Err(NnError::InvalidArgument(_))
    ));
    // The root.
    assert!(matches!(
        f.rename(&r, "/", "/x", false),
        Err(NnError::InvalidArgument(_))
    ));
    // Missing source / destination parent.
    assert!(matches!(
        f.rename(&r, "/nope", "/x", false),
        Err(NnError::NotFound(_))
    ));
    let e = f.rename(&r, "/a", "/no/such/x", false).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    // Destination under a file.
    assert!(matches!(
        f.rename(&r, "/a", "/dst/f2/x", false),
        Err(NnError::ParentNotDirectory(_))
    ));
    // Same path: no-op.
    f.rename(&r, "/dst/f2", "/dst/f2", false).unwrap();
    f.rename(&r, "/dst/f2", "/dst", false).unwrap();
    // A directory moves with its subtree.
    touch(&mut f, &r, "/a/b/deep");
    f.rename(&r, "/a", "/dst/moved", false).unwrap();
    assert!(f.get_file_info(&r, "/dst/moved/b/deep").unwrap().is_some());
    // Directory onto a file: refused even with overwrite.
    assert!(f.rename(&r, "/dst/moved", "/dst/f2", true).is_err());
}

#[test]
fn write_path_with_datanodes() {
    let (mut f, _) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 3);
    f.create(&r, &create_args("/f", "c1"), Instant::now())
        .unwrap();
    // Another client cannot create or append while c1 writes.
    let e = f
        .create(
            &r,
            &CreateArgs {
                overwrite: true,
                ..create_args("/f", "c2")
            },
            Instant::now(),
        )
        .unwrap_err();
    assert!(matches!(e, NnError::AlreadyBeingCreated(_)));
    assert!(e.to_string().contains("currently owned by c1"), "{e}");
    // Nor add blocks.
    assert!(matches!(
        add_block(&mut f, "/f", "c2", None),
        Err(NnError::LeaseExpired(_))
    ));
    let b1 = add_block(&mut f, "/f", "c1", None).unwrap();
    assert_eq!(b1.locations.len(), 3);
    assert_eq!(b1.offset, 0);
    // Retry of the same add_block returns the same block.
    let again = add_block(&mut f, "/f", "c1", None).unwrap();
    assert_eq!(again.block.id, b1.block.id);
    // A wrong previous block is refused.
    let bogus = Block {
        id: 42,
        genstamp: 1,
        num_bytes: 5,
    };
    assert!(matches!(
        add_block(&mut f, "/f", "c1", Some(bogus)),
        Err(NnError::BadBlock(_))
    ));
    let mut p1 = b1.block;
    p1.num_bytes = 1000;
    for d in &dns {
        f.block_received_and_deleted(d, &[p1], &[]);
    }
    let b2 = add_block(&mut f, "/f", "c1", Some(p1)).unwrap();
    assert_eq!(b2.offset, 1000);
    let mut p2 = b2.block;
    p2.num_bytes = 10;
    // Not yet reported: completed = false.
    assert!(!f.complete("/f", "c1", 0, Some(p2), b"sha").unwrap());
    f.block_received_and_deleted(&dns[0], &[p2], &[]);
    assert!(f.complete("/f", "c1", 0, Some(p2), b"sha").unwrap());
    // A retried complete is fine.
    assert!(f.complete("/f", "c1", 0, Some(p2), b"sha").unwrap());
    let st = f.get_file_info(&r, "/f").unwrap().unwrap();
    assert_eq!(st.length, 1010);
    assert!(!st.under_construction);
    assert_eq!(f.file_checksum(&r, "/f").unwrap(), (b"sha".to_vec(), 1010));
    let locs = f.get_block_locations(&r, "/f", 0, 0, "h1").unwrap();
    assert_eq!(locs.blocks.len(), 2);
    assert_eq!(locs.blocks[0].locations.len(), 3);
    assert_eq!(locs.blocks[0].locations[0].host, "h1", "same host first");
    assert_eq!(locs.blocks[1].locations.len(), 1);
    let tail = f.get_block_locations(&r, "/f", 1005, 1, "").unwrap();
    assert_eq!(tail.blocks.len(), 1);
    assert_eq!(tail.blocks[0].offset, 1000);
    // Append: a new block after the finalized ones; checksum unknown after.
    f.append(&r, "/f", "c3", Instant::now()).unwrap();
    let b3 = add_block(&mut f, "/f", "c3", None).unwrap();
    assert_eq!(b3.offset, 1010);
    f.abandon_block("/f", "c3", 0, b3.block).unwrap();
    assert!(f.complete("/f", "c3", 0, None, b"").unwrap());
    assert!(f.file_checksum(&r, "/f").unwrap().0.is_empty());
    // Delete queues DELETE commands for every replica.
    assert!(f.delete(&r, "/f", false).unwrap());
    let cmds = f.heartbeat(&dns[0], StorageStats::default(), 0, Instant::now());
    match &cmds[..] {
        [Command::Delete(blocks)] => {
            let ids: HashSet<u64> = blocks.iter().map(|b| b.id).collect();
            assert_eq!(ids, [p1.id, p2.id].into());
        }
        other => panic!("expected one DELETE, got {other:?}"),
    }
    assert_eq!(f.fs_stats().total_blocks, 0);
}

#[test]
fn no_datanodes_is_a_clear_error() {
    let (mut f, _) = new_fsn();
    f.create(&root(), &create_args("/f", "c"), Instant::now())
        .unwrap();
    let e = add_block(&mut f, "/f", "c", None).unwrap_err();
    assert!(matches!(e, NnError::NoDatanodes(_)));
    assert!(e
        .to_string()
        .contains("could only be written to 0 of the 1 minReplication nodes"));
    // Nothing was allocated.
    assert!(f
        .get_block_locations(&root(), "/f", 0, 0, "")
        .unwrap()
        .blocks
        .is_empty());
}

#[test]
fn block_reports_and_corruption() {
    let (mut f, _) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 2);
    f.create(&r, &create_args("/f", "c"), Instant::now())
        .unwrap();
    let b = add_block(&mut f, "/f", "c", None).unwrap().block;
    let good = Block {
        num_bytes: 100,
        ..b
    };
    f.block_received_and_deleted(&dns[0], &[good], &[]);
    assert!(f.complete("/f", "c", 0, Some(good), b"").unwrap());
    // dn1 reports the block with the wrong length, an unknown block and a stale genstamp.
    let unknown = Block {
        id: 7,
        genstamp: 1,
        num_bytes: 1,
    };
    let wrong_len = Block {
        num_bytes: 99,
        ..good
    };
    let cmds = f.block_report(&dns[1], &[wrong_len, unknown], &[], Instant::now());
    assert_eq!(cmds, vec![Command::Delete(vec![unknown])]);
    let info = f.block_map().get(b.id).unwrap();
    assert_eq!(info.locations, vec![dns[0].clone()]);
    assert_eq!(info.corrupt, vec![dns[1].clone()]);
    let locs = f.get_block_locations(&r, "/f", 0, 0, "").unwrap();
    assert_eq!(locs.blocks[0].locations.len(), 1);
    assert!(!locs.blocks[0].corrupt);
    // The good replica reported bad too: served but flagged.
    f.report_bad_blocks(&[(good, dns[0].clone())]);
    let locs = f.get_block_locations(&r, "/f", 0, 0, "").unwrap();
    assert!(locs.blocks[0].corrupt);
    assert_eq!(locs.blocks[0].locations.len(), 2);
    let s = f.fs_stats();
    assert_eq!((s.corrupt_blocks, s.missing_blocks), (1, 1));
    // A full report without the block removes the location.
    f.block_report(&dns[0], &[], &[], Instant::now());
    assert!(f.block_map().get(b.id).unwrap().corrupt.len() == 1);
    // An unknown datanode is told to re-register.
    assert_eq!(
        f.block_report("ghost", &[], &[], Instant::now()),
        vec![Command::Reregister]
    );
    assert_eq!(
        f.heartbeat("ghost", StorageStats::default(), 0, Instant::now()),
        vec![Command::Reregister]
    );
}

#[test]
fn dead_datanodes_lose_their_replicas() {
    let (mut f, _) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 2);
    f.create(&r, &create_args("/f", "c"), Instant::now())
        .unwrap();
    let b = Block {
        num_bytes: 5,
        ..add_block(&mut f, "/f", "c", None).unwrap().block
    };
    f.block_received_and_deleted(&dns[0], &[b], &[]);
    f.block_received_and_deleted(&dns[1], &[b], &[]);
    assert!(f.complete("/f", "c", 0, Some(b), b"").unwrap());
    let later = Instant::now() + f.config().dead_after + Duration::from_secs(1);
    f.heartbeat(
        &dns[1],
        StorageStats {
            capacity: 1,
            used: 0,
            remaining: 1,
        },
        0,
        later,
    );
    f.tick(later);
    assert_eq!(
        f.block_map().get(b.id).unwrap().locations,
        vec![dns[1].clone()]
    );
    let s = f.fs_stats();
    assert_eq!(
        (
            s.live_datanodes,
            s.dead_datanodes,
            s.under_replicated_blocks
        ),
        (1, 1, 1)
    );
    assert_eq!(f.under_replicated().len(), 1);
    let rep = f.datanode_report(later);
    assert_eq!(rep.iter().filter(|d| !d.live).count(), 1);
    // The dead node's heartbeat asks it to re-register.
    assert_eq!(
        f.heartbeat(&dns[0], StorageStats::default(), 0, later),
        vec![Command::Reregister]
    );
}

#[test]
fn restart_rebuilds_blocks_leases_and_safe_mode() {
    let (mut f, store) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 1);
    f.create(&r, &create_args("/done", "c"), Instant::now())
        .unwrap();
    let b = Block {
        num_bytes: 3,
        ..add_block(&mut f, "/done", "c", None).unwrap().block
    };
    f.block_received_and_deleted(&dns[0], &[b], &[]);
    assert!(f.complete("/done", "c", 0, Some(b), b"").unwrap());
    f.create(&r, &create_args("/open", "writer"), Instant::now())
        .unwrap();
    drop(f);

    let mut f = open_with(store, "");
    assert!(f.in_safe_mode());
    let e = f.mkdirs(&r, "/x", 0o755, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Cannot create directory /x. Name node is in safe mode."
    );
    assert!(matches!(e, NnError::SafeMode(_)));
    // Reads work in safe mode.
    assert!(f.get_file_info(&r, "/done").unwrap().is_some());
    // The lease survived: another client cannot take the open file.
    assert_eq!(
        f.leases()
            .holder(f.get_file_info(&r, "/open").unwrap().unwrap().file_id),
        Some("writer")
    );
    assert!(matches!(
        f.append(&r, "/open", "other", Instant::now()),
        Err(NnError::AlreadyBeingCreated(_))
    ));
    // The datanode comes back and reports: safe mode ends.
    add_datanodes(&mut f, 1);
    f.block_report(&dns[0], &[b], &[], Instant::now());
    assert!(!f.in_safe_mode());
    f.mkdirs(&r, "/x", 0o755, false).unwrap();
    assert_eq!(
        f.block_map().get(b.id).unwrap().locations,
        vec![dns[0].clone()]
    );
}

#[test]
fn rack_aware_placement_through_the_namesystem() {
    let store = Arc::new(MemStore::new());
    let mut f = open_with(store, "h0 /r1\nh1 /r1\nh2 /r2\nh3 /r2\n");
    let dns = add_datanodes(&mut f, 4);
    assert_eq!(f.datanodes().get(&dns[2]).unwrap().id.rack, "/r2");
    f.create(&root(), &create_args("/f", "c"), Instant::now())
        .unwrap();
    let lb = f
        .add_block(&AddBlockArgs {
            path: "/f",
            client_name: "c",
            file_id: 0,
            previous: None,
            excluded: &[],
            writer_host: "h0",
        })
        .unwrap();
    let racks: Vec<&str> = lb.locations.iter().map(|d| d.rack.as_str()).collect();
    assert_eq!(lb.locations[0].host, "h0");
    assert_eq!(racks, vec!["/r1", "/r2", "/r2"]);
}

#[test]
fn content_summary_and_replication() {
    let (mut f, _) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/s/t", 0o755, true).unwrap();
    touch(&mut f, &r, "/s/t/empty");
    f.create(&r, &create_args("/s/data", "c"), Instant::now())
        .unwrap();
    let b = Block {
        num_bytes: 10,
        ..add_block(&mut f, "/s/data", "c", None).unwrap().block
    };
    f.block_received_and_deleted(&dns[0], &[b], &[]);
    assert!(f.complete("/s/data", "c", 0, Some(b), b"").unwrap());
    let cs = f.content_summary(&r, "/s").unwrap();
    assert_eq!(
        cs,
        ContentSummary {
            length: 10,
            file_count: 2,
            directory_count: 2,
            space_consumed: 30
        }
    );
    assert!(f.set_replication(&r, "/s/data", 1).unwrap());
    assert!(!f.set_replication(&r, "/s", 2).unwrap());
    assert!(f.set_replication(&r, "/s/data", 0).is_err());
    assert_eq!(f.block_map().get(b.id).unwrap().replication, 1);
    assert_eq!(f.content_summary(&r, "/s").unwrap().space_consumed, 10);
}

#[test]
fn a_content_summary_in_steps_counts_the_same_and_survives_changes_between_steps() {
    let (mut f, _) = new_fsn();
    let r = root();
    // /w/d<d>/e<e> holding 10d + e empty files each: 40d + 6 per d.
    for d in 0..6 {
        for e in 0..4 {
            f.mkdirs(&r, &format!("/w/d{d}/e{e}"), 0o755, true).unwrap();
            for i in 0..(d * 10 + e) {
                touch(&mut f, &r, &format!("/w/d{d}/e{e}/f{i}"));
            }
        }
    }
    let whole = f.content_summary(&r, "/w").unwrap();
    assert_eq!(
        (whole.directory_count, whole.file_count),
        (1 + 6 + 24, (0..6).map(|d| 40 * d + 6).sum::<u64>())
    );
    for budget in [0, 1, 7, 100, 5000] {
        let (mut w, mut s) = f.content_summary_begin(&r, "/w").unwrap();
        let mut steps = 1;
        while !f.content_summary_step(&mut w, &r, &mut s, budget).unwrap() {
            steps += 1;
        }
        assert_eq!(s, whole, "budget {budget}");
        // A step ends after the directory page that reaches its budget.
        let enough = match budget {
            0 | 1 => steps >= 30, // one per directory (31)
            7 => steps >= 15,
            100 => steps >= 2,
            _ => steps == 1,
        };
        assert!(enough, "budget {budget}: {steps} steps");
    }

    // Between steps (where the RPC gives the lock back) directories go: one
    // whose entries were not listed yet is skipped, nothing fails.
    let (mut w, mut s) = f.content_summary_begin(&r, "/w").unwrap();
    assert!(!f.content_summary_step(&mut w, &r, &mut s, 1).unwrap());
    assert_eq!((s.directory_count, s.file_count), (7, 0), "/w and its page");
    assert!(f.delete(&r, "/w/d5", true).unwrap());
    assert!(f.delete(&r, "/w/d0", true).unwrap());
    f.mkdirs(&r, "/w/d9", 0o755, true).unwrap();
    while !f.content_summary_step(&mut w, &r, &mut s, 1).unwrap() {}
    assert_eq!(s.directory_count, whole.directory_count - 8);
    assert_eq!(s.file_count, whole.file_count - 6 - 206);

    // Permissions are still checked on every directory reached.
    f.set_permission(&r, "/w/d3/e2", 0o700).unwrap();
    let bob = user("bob", &["users"]);
    let (mut w, mut s) = f.content_summary_begin(&bob, "/w").unwrap();
    let e = loop {
        match f.content_summary_step(&mut w, &bob, &mut s, 1) {
            Ok(true) => panic!("walked into /w/d3/e2"),
            Ok(false) => {}
            Err(e) => break e,
        }
    };
    assert!(e.to_string().contains("/w/d3/e2"), "{e}");
}

#[test]
fn absurd_lengths_do_not_panic() {
    let (mut f, _) = new_fsn();
    let r = root();
    let dns = add_datanodes(&mut f, 1);
    f.create(&r, &create_args("/big", "c"), Instant::now())
        .unwrap();
    let b1 = Block {
        num_bytes: u64::MAX,
        ..add_block(&mut f, "/big", "c", None).unwrap().block
    };
    f.block_received_and_deleted(&dns[0], &[b1], &[]);
    let b2 = Block {
        num_bytes: u64::MAX,
        ..add_block(&mut f, "/big", "c", Some(b1)).unwrap().block
    };
    f.block_received_and_deleted(&dns[0], &[b2], &[]);
    assert!(f.complete("/big", "c", 0, Some(b2), b"").unwrap());
    assert_eq!(
        f.get_file_info(&r, "/big").unwrap().unwrap().length,
        u64::MAX
    );
    assert_eq!(
        f.get_block_locations(&r, "/big", u64::MAX - 1, 10, "")
            .unwrap()
            .blocks
            .len(),
        1
    );
    assert_eq!(f.content_summary(&r, "/").unwrap().space_consumed, u64::MAX);
}

// ------------------------------------------------------------ quotas

pub(super) const MB: u64 = 1 << 20;

/// The cached usage of a quota directory agrees with a fresh walk.
pub(super) fn quota_usage(f: &FsNamesystem, path: &str) -> (u64, u64) {
    let q = f.quota_of(&root(), path).unwrap().expect("a quota dir");
    let ip = f.resolve(path).unwrap();
    let walked = crate::quota::subtree_usage(&f.ns, ip.last().unwrap()).unwrap();
    assert_eq!((q.ns_used, q.ds_used), walked, "cached usage of {path}");
    walked
}

/// Writes a closed file of `len` bytes in one block (replication `repl`).
pub(super) fn write_file(f: &mut FsNamesystem, path: &str, repl: u32, len: u64) -> NnResult<()> {
    let a = CreateArgs {
        replication: repl,
        ..create_args(path, "w")
    };
    f.create(&root(), &a, Instant::now())?;
    let b = add_block(f, path, "w", None)?.block;
    let b = Block {
        num_bytes: len,
        ..b
    };
    f.block_received_and_deleted("dn0", &[b], &[]);
    assert!(f.complete(path, "w", 0, Some(b), b"").unwrap());
    Ok(())
}

#[test]
fn name_quota_counts_files_and_dirs_and_refuses_before_changing_anything() {
    let (mut f, _) = new_fsn();
    let r = root();
    f.mkdirs(&r, "/q", 0o755, false).unwrap();
    f.set_quota(&r, "/q", 3, quota_ops::QUOTA_DONT_SET).unwrap();
    assert_eq!(quota_usage(&f, "/q"), (1, 0));
    f.mkdirs(&r, "/q/a", 0o755, false).unwrap();
    touch(&mut f, &r, "/q/f");
    assert_eq!(quota_usage(&f, "/q"), (3, 0));
    let e = f
        .create(&r, &create_args("/q/g", "c"), Instant::now())
        .unwrap_err();
    assert!(matches!(e, NnError::NsQuotaExceeded(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "The NameSpace quota (directories and files) of directory /q is exceeded: quota=3 file count=4"
    );
    // mkdir -p of two levels: refused whole, nothing created.
    assert!(matches!(
        f.mkdirs(&r, "/q/x/y", 0o755, true),
        Err(NnError::NsQuotaExceeded(_))
    ));
    assert!(f.get_file_info(&r, "/q/x").unwrap().is_none());
    // A deeper path is checked against the quota above it.
    assert!(matches!(
        f.mkdirs(&r, "/q/a/b", 0o755, false),
        Err(NnError::NsQuotaExceeded(_))
    ));
    assert_eq!(quota_usage(&f, "/q"), (3, 0));
    // Deleting frees names; clearing lifts the limit.
    f.delete(&r, "/q/f", false).unwrap();
    touch(&mut f, &r, "/q/g");
    f.set_quota(&r, "/q", -1, quota_ops::QUOTA_DONT_SET)
        .unwrap();
    assert!(f.quota_of(&r, "/q").unwrap().is_none());
    touch(&mut f, &r, "/q/h");
    // The superuser is not exempt, and only the superuser sets quotas.
    f.set_quota(&r, "/q", 4, -1).unwrap();
    assert!(matches!(
        f.mkdirs(&r, "/q/z", 0o755, false),
        Err(NnError::NsQuotaExceeded(_))
    ));
    let bob = user("bob", &[]);
    let e = f.set_quota(&bob, "/q", 100, -1).unwrap_err();
    assert!(matches!(e, NnError::PermissionDenied(_)), "{e:?}");
    assert!(matches!(
        f.set_quota(&r, "/q/g", 5, -1),
        Err(NnError::NotFound(_))
    ));
    assert!(matches!(
        f.set_quota(&r, "/q", 0, -1),
        Err(NnError::InvalidArgument(_))
    ));
}

#[test]
fn space_quota_charges_whole_blocks_at_add_block_and_corrects_at_completion() {
    let (mut f, _) = new_fsn();
    let r = root();
    add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/s", 0o755, false).unwrap();
    f.set_quota(&r, "/s", quota_ops::QUOTA_DONT_SET, (5 * MB) as i64)
        .unwrap();
    // Replication 3, block size 1 MiB: a new block is charged 3 MiB.
    f.create(&r, &create_args("/s/f", "c"), Instant::now())
        .unwrap();
    let b1 = add_block(&mut f, "/s/f", "c", None).unwrap().block;
    assert_eq!(quota_usage(&f, "/s"), (2, 3 * MB));
    // The next block would make 3 MiB (b1 full) + 3 MiB: refused, and the
    // first block stays open (nothing changed).
    let full = Block {
        num_bytes: MB,
        ..b1
    };
    let e = add_block(&mut f, "/s/f", "c", Some(full)).unwrap_err();
    assert!(matches!(e, NnError::DsQuotaExceeded(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "The DiskSpace quota of /s is exceeded: quota = 5242880 B = 5 MB but diskspace consumed = 6291456 B = 6 MB"
    );
    assert_eq!(quota_usage(&f, "/s"), (2, 3 * MB));
    assert!(!f.block_complete(b1.id));
    // Completing with 100 bytes corrects the charge to 300.
    let done = Block {
        num_bytes: 100,
        ..b1
    };
    f.block_received_and_deleted("dn0", &[done], &[]);
    assert!(f.complete("/s/f", "c", 0, Some(done), b"").unwrap());
    assert_eq!(quota_usage(&f, "/s"), (2, 300));
    // setrep raising beyond the quota is refused; lowering is fine.
    assert!(f.set_replication(&r, "/s/f", 10).is_ok()); // 1000 bytes
    assert_eq!(quota_usage(&f, "/s"), (2, 1000));
    write_file(&mut f, "/s/g", 1, 4 * MB).unwrap(); // 4 MiB + 1000
    let e = f.set_replication(&r, "/s/g", 2).unwrap_err();
    assert!(matches!(e, NnError::DsQuotaExceeded(_)), "{e:?}");
    assert_eq!(f.get_file_info(&r, "/s/g").unwrap().unwrap().replication, 1);
    f.set_replication(&r, "/s/f", 1).unwrap();
    assert_eq!(quota_usage(&f, "/s"), (3, 4 * MB + 100));
    // Append reopens without a charge; its new block is charged and refused.
    f.append(&r, "/s/f", "a", Instant::now()).unwrap();
    assert_eq!(quota_usage(&f, "/s"), (3, 4 * MB + 100));
    assert!(matches!(
        add_block(&mut f, "/s/f", "a", None),
        Err(NnError::DsQuotaExceeded(_))
    ));
    assert!(f.complete("/s/f", "a", 0, None, b"").unwrap());
    // Deleting frees the space.
    f.delete(&r, "/s/g", false).unwrap();
    assert_eq!(quota_usage(&f, "/s"), (2, 100));
}

#[test]
fn rename_checks_the_destination_and_frees_the_source() {
    let (mut f, _) = new_fsn();
    let r = root();
    add_datanodes(&mut f, 3);
    for d in ["/full", "/roomy", "/out/deep"] {
        f.mkdirs(&r, d, 0o755, true).unwrap();
    }
    f.set_quota(&r, "/full", 2, -1).unwrap();
    f.set_quota(&r, "/roomy", 100, (2 * MB) as i64).unwrap();
    touch(&mut f, &r, "/full/one");
    write_file(&mut f, "/out/deep/big", 3, MB).unwrap(); // 3 MiB
    touch(&mut f, &r, "/out/small");
    // Into a full name quota: refused, nothing moved.
    let e = f
        .rename(&r, "/out/small", "/full/small", false)
        .unwrap_err();
    assert!(matches!(e, NnError::NsQuotaExceeded(_)), "{e:?}");
    assert!(f.get_file_info(&r, "/out/small").unwrap().is_some());
    // A directory brings its whole tree: 2 names and 3 MiB > 2 MiB.
    let e = f.rename(&r, "/out/deep", "/roomy", false).unwrap_err();
    assert!(matches!(e, NnError::DsQuotaExceeded(_)), "{e:?}");
    f.rename(&r, "/out/small", "/roomy/small", false).unwrap();
    assert_eq!(quota_usage(&f, "/roomy"), (2, 0));
    // Out of a quota directory frees its names; within it changes nothing.
    f.rename(&r, "/full/one", "/out/one", false).unwrap();
    assert_eq!(quota_usage(&f, "/full"), (1, 0));
    f.rename(&r, "/roomy/small", "/roomy/renamed", false)
        .unwrap();
    assert_eq!(quota_usage(&f, "/roomy"), (2, 0));
    // Nested quota directories move with their usage.
    f.mkdirs(&r, "/roomy/inner", 0o755, false).unwrap();
    f.set_quota(&r, "/roomy/inner", 10, -1).unwrap();
    touch(&mut f, &r, "/roomy/inner/x");
    f.rename(&r, "/roomy/inner", "/out/inner", false).unwrap();
    assert_eq!(quota_usage(&f, "/roomy"), (2, 0));
    assert_eq!(quota_usage(&f, "/out/inner"), (2, 0));
    // Deleting a quota directory drops its quota record.
    f.delete(&r, "/out/inner", true).unwrap();
    f.mkdirs(&r, "/out/inner", 0o755, false).unwrap();
    assert!(f.quota_of(&r, "/out/inner").unwrap().is_none());
    assert_eq!(f.ns.quotas().len(), 2);
}

#[test]
fn quotas_and_usage_survive_a_restart() {
    let (mut f, store) = new_fsn();
    let r = root();
    add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/p/sub", 0o755, true).unwrap();
    f.set_quota(&r, "/p", 10, (20 * MB) as i64).unwrap();
    f.set_quota(&r, "/p/sub", 3, -1).unwrap();
    write_file(&mut f, "/p/sub/a", 2, 1000).unwrap();
    f.create(&r, &create_args("/p/open", "w"), Instant::now())
        .unwrap();
    add_block(&mut f, "/p/open", "w", None).unwrap(); // charged 3 MiB
    let before = (quota_usage(&f, "/p"), quota_usage(&f, "/p/sub"));
    assert_eq!(before, ((4, 2000 + 3 * MB), (2, 2000)));
    drop(f);

    let mut f = open_with(store, "");
    assert_eq!((quota_usage(&f, "/p"), quota_usage(&f, "/p/sub")), before);
    let q = f.quota_of(&r, "/p").unwrap().unwrap();
    assert_eq!((q.ns_quota, q.ds_quota), (10, (20 * MB) as i64));
    f.leave_safe_mode();
    touch(&mut f, &r, "/p/sub/b");
    assert!(matches!(
        f.mkdirs(&r, "/p/sub/c", 0o755, false),
        Err(NnError::NsQuotaExceeded(_))
    ));
}

#[test]
fn lease_recovery_corrects_the_space_charge() {
    let (mut f, _) = new_fsn();
    let r = root();
    add_datanodes(&mut f, 3);
    f.mkdirs(&r, "/l", 0o755, false).unwrap();
    f.set_quota(&r, "/l", -1, (10 * MB) as i64).unwrap();
    f.create(&r, &create_args("/l/f", "gone"), Instant::now())
        .unwrap();
    add_block(&mut f, "/l/f", "gone", None).unwrap();
    assert_eq!(quota_usage(&f, "/l"), (2, 3 * MB));
    let later = Instant::now() + Duration::from_secs(7200);
    let (closed, rec) = f.recover_lease("/l/f", "admin", later).unwrap();
    assert!(!closed);
    let rec = rec.expect("a block recovery");
    f.commit_block_synchronization(
        &rec,
        &lease::RecoveryOutcome::Finalized {
            len: 10,
            nodes: vec!["dn0".into()],
        },
    )
    .unwrap();
    assert!(
        !f.get_file_info(&r, "/l/f")
            .unwrap()
            .unwrap()
            .under_construction
    );
    assert_eq!(quota_usage(&f, "/l"), (2, 30));
}
