//! The block store conformance suite: every check runs against [`DiskStore`]
//! and [`MemStore`]; the disk-only checks (restart, on-disk layout, corruption
//! on disk) follow.

use super::meta::{MetaHeader, HEADER_LEN};
use super::*;
use sha2::{Digest, Sha256};

/// The disk store as tests use it: with fsync, as in production with
/// `sync_on_close`, so the crash-safe path is the one exercised.
fn opts() -> DiskOptions {
    DiskOptions::default().with_sync_on_close(true)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u32) as u8
        })
        .collect()
}

/// Writes `data` as a pipeline would (64 KiB packets), without finalizing.
fn write_rbw(store: &dyn BlockStore, block: BlockRef, data: &[u8]) -> Box<dyn ReplicaWriter> {
    let mut w = store.create(block, data.len() as u64).unwrap();
    let mut crcs = Vec::new();
    for p in data.chunks(64 << 10) {
        crcs.clear();
        compute_crcs(p, &mut crcs);
        w.append(p, &crcs).unwrap();
    }
    w
}

fn write(store: &dyn BlockStore, block: BlockRef, data: &[u8]) -> Replica {
    write_rbw(store, block, data).finalize().unwrap()
}

fn read_all(store: &dyn BlockStore, block: BlockRef) -> Vec<u8> {
    let mut r = store.open(block).unwrap();
    let mut buf = vec![0u8; r.len() as usize];
    r.read_at(0, &mut buf).unwrap();
    buf
}

fn write_finalize_read(store: &dyn BlockStore) {
    for (id, len) in [
        (1u64, 0usize),
        (2, 1),
        (3, 512),
        (4, 513),
        (5, 1 << 20),
        (6, (1 << 20) + 77),
    ] {
        let b = BlockRef::new(id, 1000 + id);
        let data = pattern(len, id as u8);
        let r = write(store, b, &data);
        assert_eq!(r.block, b);
        assert_eq!(r.len, len as u64);
        assert_eq!(read_all(store, b), data, "{b}");
        let mut rd = store.open(b).unwrap();
        assert_eq!(
            rd.sha256().unwrap(),
            <[u8; 32]>::from(Sha256::digest(&data))
        );
        let n = chunks_for(len as u64) as usize;
        let mut crcs = vec![0; n];
        rd.crcs_at(0, &mut crcs).unwrap();
        let mut want = Vec::new();
        compute_crcs(&data, &mut want);
        assert_eq!(crcs, want);
        verify_replica(store, b).unwrap();
        assert_eq!(store.state(id), Some(ReplicaState::Finalized(r)));
    }
    let mut ids: Vec<u64> = store.finalized().iter().map(|r| r.block.id).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
}

fn read_errors_name_the_block(store: &dyn BlockStore) {
    let e = store.open(BlockRef::new(42, 1)).err().unwrap();
    assert!(matches!(e, DatanodeError::ReplicaNotFound { .. }));
    assert!(e.to_string().contains("blk_42_1 does not exist"), "{e}");
    write(store, BlockRef::new(42, 7), b"hello");
    let e = store.open(BlockRef::new(42, 6)).err().unwrap();
    assert!(
        matches!(e, DatanodeError::GenstampMismatch { have: 7, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("blk_42_6 does not exist"), "{e}");
    let mut r = store.open(BlockRef::new(42, 7)).unwrap();
    let mut buf = [0u8; 10];
    assert!(matches!(
        r.read_at(0, &mut buf),
        Err(DatanodeError::OutOfRange { .. })
    ));
}

fn refuses_existing_replica(store: &dyn BlockStore) {
    let b = BlockRef::new(7, 1);
    write(store, b, &pattern(1000, 1));
    let e = store.create(b, 10).err().unwrap();
    assert!(matches!(e, DatanodeError::AlreadyExists { .. }), "{e}");
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    // Even with a newer genstamp: a finalized replica is never overwritten.
    assert!(store.create(BlockRef::new(7, 2), 10).is_err());
}

fn live_writer_blocks_same_genstamp_but_newer_supersedes(store: &dyn BlockStore) {
    let old = BlockRef::new(8, 1);
    let mut w1 = write_rbw(store, old, &pattern(1024, 2));
    assert!(matches!(
        store.create(old, 10),
        Err(DatanodeError::AlreadyExists { .. })
    ));
    assert_eq!(
        store.state(8),
        Some(ReplicaState::BeingWritten {
            block: old,
            len: 1024
        })
    );
    let new = BlockRef::new(8, 2);
    let w2 = write_rbw(store, new, &pattern(600, 3));
    // The old writer is cancelled; its data never becomes the replica.
    let mut crcs = Vec::new();
    compute_crcs(&[1u8; 512], &mut crcs);
    assert!(w1.append(&[1u8; 512], &crcs).is_err());
    assert!(w1.finalize().is_err());
    w2.finalize().unwrap();
    assert_eq!(read_all(store, new), pattern(600, 3));
}

fn abandoned_rbw_is_replaced_and_aborted_rbw_removed(store: &dyn BlockStore) {
    let b = BlockRef::new(9, 1);
    drop(write_rbw(store, b, &pattern(2048, 4)));
    assert_eq!(
        store.state(9),
        Some(ReplicaState::BeingWritten {
            block: b,
            len: 2048
        })
    );
    assert!(
        store.finalized().is_empty(),
        "rbw replicas are not finalized"
    );
    assert!(matches!(
        store.open(b),
        Err(DatanodeError::ReplicaNotFound { .. })
    ));
    // A new writer of the same block takes over an abandoned replica.
    let w = write_rbw(store, b, &pattern(100, 5));
    w.abort();
    assert_eq!(store.state(9), None);
}

fn partial_chunk_must_be_last(store: &dyn BlockStore) {
    let mut w = store.create(BlockRef::new(10, 1), 4096).unwrap();
    let mut crcs = Vec::new();
    compute_crcs(&[1u8; 700], &mut crcs);
    w.append(&[1u8; 700], &crcs).unwrap();
    crcs.clear();
    compute_crcs(&[2u8; 512], &mut crcs);
    let e = w.append(&[2u8; 512], &crcs).unwrap_err();
    assert!(matches!(e, DatanodeError::Protocol { .. }), "{e}");
    // Wrong number of checksums.
    let mut w = store.create(BlockRef::new(11, 1), 4096).unwrap();
    assert!(w.append(&[0u8; 1024], &[0]).is_err());
}

fn delete_respects_genstamp(store: &dyn BlockStore) {
    let b = BlockRef::new(12, 5);
    write(store, b, &pattern(3000, 6));
    assert!(
        !store.delete(BlockRef::new(12, 4)).unwrap(),
        "older genstamp must not delete a newer replica"
    );
    assert!(store.open(b).is_ok());
    assert!(store.delete(b).unwrap());
    assert!(store.state(12).is_none());
    assert!(!store.delete(b).unwrap());
    // The id can be written again after deletion.
    write(store, BlockRef::new(12, 6), b"again");
    // Deleting an rbw replica.
    drop(write_rbw(store, BlockRef::new(13, 1), b"partial"));
    assert!(!store.delete(BlockRef::new(13, 1)).unwrap());
    assert!(store.state(13).is_none());
}

fn space_accounting_and_no_space(store: &dyn BlockStore) {
    let before: u64 = store.volumes().iter().map(|v| v.used).sum();
    write(store, BlockRef::new(14, 1), &pattern(10_000, 7));
    let after: u64 = store.volumes().iter().map(|v| v.used).sum();
    assert_eq!(after - before, 10_000);
    let e = store
        .create(BlockRef::new(15, 1), u64::MAX / 4)
        .err()
        .unwrap();
    assert!(matches!(e, DatanodeError::NoSpace { .. }), "{e}");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    assert!(e.to_string().contains("no space left on"), "{e}");
    // The failed create leaves nothing behind.
    assert!(store.state(15).is_none());
    store.create(BlockRef::new(15, 1), 10).unwrap().abort();
}

fn checksum_summary_is_md5_of_be_crcs(store: &dyn BlockStore) {
    let data = pattern(5000, 8);
    let b = BlockRef::new(16, 3);
    write(store, b, &data);
    let s = checksum_summary(store, b).unwrap();
    let mut crcs = Vec::new();
    compute_crcs(&data, &mut crcs);
    let be: Vec<u8> = crcs.iter().flat_map(|c| c.to_be_bytes()).collect();
    assert_eq!(s.md5_of_crcs, <[u8; 16]>::from(md5::Md5::digest(&be)));
    assert_eq!(s.crcs, 10);
    assert_eq!(s.len, 5000);
    assert_eq!(s.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
}

/// Appends `data` at the writer's end in 64 KiB packets.
fn append_all(w: &mut Box<dyn ReplicaWriter>, data: &[u8]) {
    let mut crcs = Vec::new();
    for p in data.chunks(64 << 10) {
        crcs.clear();
        compute_crcs(p, &mut crcs);
        w.append(p, &crcs).unwrap();
    }
}

fn recover_live_rbw_and_resume(store: &dyn BlockStore) {
    let data = pattern(300_000, 3);
    let old = BlockRef::new(40, 5);
    // A live writer that got further than what the client will resend from.
    let mut stale = write_rbw(store, old, &data[..196_608]);
    let new = BlockRef::new(40, 6);
    let mut w = store.recover(new, 131_072).unwrap();
    assert_eq!(w.block(), new);
    assert_eq!(w.len(), 131_072);
    // The old writer is cancelled.
    let e = stale.append(
        &data[196_608..197_120],
        &[crc32c::crc32c(&data[196_608..197_120])],
    );
    assert!(matches!(e, Err(DatanodeError::Cancelled { .. })), "{e:?}");
    drop(stale);
    append_all(&mut w, &data[131_072..]);
    let r = w.finalize().unwrap();
    assert_eq!(r.block, new);
    assert_eq!(read_all(store, new), data);
    verify_replica(store, new).unwrap();
    let sum = checksum_summary(store, new).unwrap();
    assert_eq!(sum.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
    assert!(store.open(old).is_err(), "the old stamp is gone");
    // Same or older stamp: refused.
    assert!(matches!(
        store.recover(new, 0).err().unwrap(),
        DatanodeError::AlreadyExists { .. }
    ));
    assert!(matches!(
        store.recover(BlockRef::new(41, 9), 0).err().unwrap(),
        DatanodeError::ReplicaNotFound { .. }
    ));
}

fn recover_finalized_and_mid_chunk(store: &dyn BlockStore) {
    let data = pattern(5000, 4);
    let old = BlockRef::new(50, 1);
    write(store, old, &data);
    // Lease recovery to a length inside a chunk: finalized again at once.
    let new = BlockRef::new(50, 2);
    let r = store.recover(new, 4000).unwrap().finalize().unwrap();
    assert_eq!((r.block, r.len), (new, 4000));
    assert_eq!(read_all(store, new), &data[..4000]);
    verify_replica(store, new).unwrap();
    assert_eq!(
        checksum_summary(store, new).unwrap().sha256,
        <[u8; 32]>::from(Sha256::digest(&data[..4000]))
    );
    // Asking for more than the replica holds fails, and the stale replica goes.
    let e = store.recover(BlockRef::new(50, 3), 4001).err().unwrap();
    assert!(matches!(e, DatanodeError::Unrecoverable { .. }), "{e}");
    assert!(e.to_string().contains("4000 bytes are good"), "{e}");
    assert!(store.state(50).is_none());
}

fn stop_writer_freezes_the_length(store: &dyn BlockStore) {
    let data = pattern(70_000, 5);
    let mut w = write_rbw(store, BlockRef::new(60, 1), &data[..65_536]);
    let st = store.stop_writer(60, 2);
    assert_eq!(
        st,
        Some(ReplicaState::BeingWritten {
            block: BlockRef::new(60, 1),
            len: 65_536
        })
    );
    let e = w.append(
        &data[65_536..66_048],
        &[crc32c::crc32c(&data[65_536..66_048])],
    );
    assert!(e.is_err());
    drop(w);
    assert_eq!(store.stop_writer(61, 2), None);
    let r = store
        .recover(BlockRef::new(60, 2), 65_536)
        .unwrap()
        .finalize()
        .unwrap();
    assert_eq!(r.len, 65_536);
}

fn a_deferred_sha256_is_the_one_given(store: &dyn BlockStore) {
    let data = pattern(100_000, 6);
    let want = <[u8; 32]>::from(Sha256::digest(&data));
    // A writer that hashes knows the digest of what it has so far.
    let w = write_rbw(store, BlockRef::new(70, 1), &data);
    assert_eq!(w.sha256(), Some(want));
    w.abort();
    // Deferred: no digest until one is given, and finalize refuses without
    // it (the replica stays in rbw, unreported, for recovery to take over).
    let b = BlockRef::new(71, 1);
    let mut w = store.create(b, data.len() as u64).unwrap();
    w.defer_sha256();
    append_all(&mut w, &data);
    assert_eq!(w.sha256(), None);
    let e = w.finalize().unwrap_err();
    assert!(matches!(e, DatanodeError::Protocol { .. }), "{e}");
    assert!(e.to_string().contains("blk_71_1"), "{e}");
    assert!(matches!(
        store.state(71),
        Some(ReplicaState::BeingWritten { .. })
    ));
    // Given: recorded as given.
    let b = BlockRef::new(72, 1);
    let mut w = store.create(b, data.len() as u64).unwrap();
    w.defer_sha256();
    append_all(&mut w, &data);
    w.set_sha256(want);
    assert_eq!(w.sha256(), Some(want));
    w.finalize().unwrap();
    assert_eq!(checksum_summary(store, b).unwrap().sha256, want);
    verify_replica(store, b).unwrap();
    // A recovered writer may defer too: the digest given covers the whole
    // replica, the bytes kept as well.
    let nb = BlockRef::new(72, 2);
    let mut w = store.recover(nb, 65_536).unwrap();
    w.defer_sha256();
    let more = pattern(1000, 7);
    append_all(&mut w, &more);
    let mut whole = data[..65_536].to_vec();
    whole.extend_from_slice(&more);
    let whole_sha = <[u8; 32]>::from(Sha256::digest(&whole));
    w.set_sha256(whole_sha);
    w.finalize().unwrap();
    assert_eq!(read_all(store, nb), whole);
    assert_eq!(checksum_summary(store, nb).unwrap().sha256, whole_sha);
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            suite!(@tests $make; write_finalize_read, read_errors_name_the_block,
                refuses_existing_replica, live_writer_blocks_same_genstamp_but_newer_supersedes,
                abandoned_rbw_is_replaced_and_aborted_rbw_removed, partial_chunk_must_be_last,
                delete_respects_genstamp, space_accounting_and_no_space,
                checksum_summary_is_md5_of_be_crcs, recover_live_rbw_and_resume,
                recover_finalized_and_mid_chunk, stop_writer_freezes_the_length,
                a_deferred_sha256_is_the_one_given);
        }
    };
    (@tests $make:expr; $($t:ident),*) => {
        $(
            #[test]
            fn $t() {
                let (_guard, store) = $make;
                super::$t(&*store);
            }
        )*
    };
}

suite!(disk, {
    let dir = tempfile::tempdir().unwrap();
    let store: Box<dyn BlockStore> =
        Box::new(DiskStore::open(&[dir.path().join("d1"), dir.path().join("d2")], opts()).unwrap());
    (dir, store)
});

suite!(memory, {
    let store: Box<dyn BlockStore> = Box::new(MemStore::new(1 << 30));
    ((), store)
});

// ---------------------------------------------------------------- disk only

use super::disk::{find_replica, rbw_files, UUID_FILE};
use std::path::PathBuf;

fn dirs(root: &std::path::Path) -> Vec<PathBuf> {
    vec![root.join("a"), root.join("b")]
}

#[test]
fn restart_rescans_finalized_and_ignores_rbw() {
    let root = tempfile::tempdir().unwrap();
    let d = dirs(root.path());
    let uuid;
    {
        let s = DiskStore::open(&d, opts()).unwrap();
        uuid = s.uuid().to_string();
        for id in 0..20u64 {
            write(
                &s,
                BlockRef::new(id << 8 | id, 1),
                &pattern(1000 + id as usize, id as u8),
            );
        }
        drop(write_rbw(&s, BlockRef::new(5000, 1), &pattern(4096, 1)));
        // Volumes are used round-robin.
        assert!(s.volumes().iter().all(|v| v.used > 0));
    }
    // A crash between the two renames of a finalize: meta moved, data not.
    let orphan = BlockRef::new(6000, 1);
    {
        let s = DiskStore::open(&d, opts()).unwrap();
        drop(write_rbw(&s, orphan, &pattern(100, 1)));
    }
    let fin = d[0].join("current/finalized").join("subdir0/subdir23");
    std::fs::create_dir_all(&fin).unwrap();
    let (_, meta) = rbw_files(&d[0], orphan);
    if meta.exists() {
        std::fs::rename(&meta, fin.join("blk_6000_1.meta")).unwrap();
    }

    let s = DiskStore::open(&d, opts()).unwrap();
    assert_eq!(s.uuid(), uuid);
    let mut fin: Vec<_> = s.finalized();
    fin.sort_by_key(|r| r.block.id);
    assert_eq!(fin.len(), 20, "only the finalized replicas: {fin:?}");
    for (id, r) in (0..20u64).zip(&fin) {
        assert_eq!(r.block, BlockRef::new(id << 8 | id, 1));
        assert_eq!(read_all(&s, r.block), pattern(1000 + id as usize, id as u8));
    }
    assert!(matches!(
        s.state(5000),
        Some(ReplicaState::BeingWritten { len: 4096, .. })
    ));
    assert!(s.open(BlockRef::new(5000, 1)).is_err());
    assert!(
        s.state(6000).is_none() || matches!(s.state(6000), Some(ReplicaState::BeingWritten { .. }))
    );
}

#[test]
fn recovery_after_restart_finds_the_rbw_replica_and_rejects_a_torn_tail() {
    let root = tempfile::tempdir().unwrap();
    let d = dirs(root.path());
    let data = pattern(10_000, 7);
    let b = BlockRef::new(70, 1);
    {
        let s = DiskStore::open(&d, opts()).unwrap();
        drop(write_rbw(&s, b, &data));
    }
    // A crash tore the last chunk: its bytes no longer match the CRC.
    let (dp, _) = [&d[0], &d[1]]
        .iter()
        .map(|v| rbw_files(v, b))
        .find(|(p, _)| p.exists())
        .unwrap();
    let mut bytes = std::fs::read(&dp).unwrap();
    bytes[9_999] ^= 0xff;
    std::fs::write(&dp, &bytes).unwrap();
    let s = DiskStore::open(&d, opts()).unwrap();
    let e = s.recover(BlockRef::new(70, 2), 10_000).err().unwrap();
    assert!(e.to_string().contains("9728 bytes are good"), "{e}");

    // Recovering to the good prefix works.
    {
        let s = DiskStore::open(&d, opts()).unwrap();
        drop(write_rbw(&s, BlockRef::new(71, 1), &data));
    }
    let s = DiskStore::open(&d, opts()).unwrap();
    let r = s
        .recover(BlockRef::new(71, 2), 9_728)
        .unwrap()
        .finalize()
        .unwrap();
    assert_eq!(r.len, 9_728);
    drop(s);
    let s = DiskStore::open(&d, opts()).unwrap();
    assert_eq!(read_all(&s, BlockRef::new(71, 2)), &data[..9_728]);
}

#[test]
fn on_disk_layout_and_meta_format() {
    let root = tempfile::tempdir().unwrap();
    let d = vec![root.path().join("only")];
    let s = DiskStore::open(&d, opts()).unwrap();
    let id = (3u64 << 16) | (17 << 8) | 5;
    let b = BlockRef::new(id, 1001);
    let data = pattern(1300, 9);
    write(&s, b, &data);
    let f = find_replica(&d, id).unwrap();
    assert_eq!(f.genstamp, 1001);
    assert_eq!(
        f.data,
        d[0].join(format!("current/finalized/subdir3/subdir17/blk_{id}"))
    );
    assert_eq!(
        f.meta,
        d[0].join(format!(
            "current/finalized/subdir3/subdir17/blk_{id}_1001.meta"
        ))
    );
    assert_eq!(std::fs::read(&f.data).unwrap(), data);
    let meta = std::fs::read(&f.meta).unwrap();
    assert_eq!(meta.len(), HEADER_LEN + 3 * 4);
    let h = MetaHeader::decode(&meta).unwrap();
    assert!(h.is_finalized());
    assert_eq!(h.bytes_per_checksum, 512);
    assert_eq!(h.len, 1300);
    assert_eq!(h.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
    for (i, chunk) in data.chunks(512).enumerate() {
        let at = HEADER_LEN + 4 * i;
        let stored = u32::from_be_bytes(meta[at..at + 4].try_into().unwrap());
        assert_eq!(stored, crc32c::crc32c(chunk), "chunk {i}");
    }
    assert!(find_replica(&d, id + 1).is_none());
    // rbw is empty after finalize.
    assert_eq!(
        std::fs::read_dir(d[0].join("current/rbw")).unwrap().count(),
        0
    );
    assert!(d[0].join(UUID_FILE).is_file());
}

#[test]
fn corrupt_data_is_detected_by_crc_check() {
    let root = tempfile::tempdir().unwrap();
    let d = vec![root.path().join("v")];
    let s = DiskStore::open(&d, opts()).unwrap();
    let b = BlockRef::new(77, 1);
    write(&s, b, &pattern(4000, 1));
    verify_replica(&s, b).unwrap();
    let f = find_replica(&d, 77).unwrap();
    let mut bytes = std::fs::read(&f.data).unwrap();
    bytes[2100] ^= 0x40;
    std::fs::write(&f.data, &bytes).unwrap();
    let e = verify_replica(&s, b).unwrap_err();
    match &e {
        DatanodeError::Checksum { offset, .. } => assert_eq!(*offset, 2048),
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(e.to_string().contains("blk_77_1"), "{e}");
    // A deleted replica file reads as missing (and leaves the map).
    std::fs::remove_file(&f.data).unwrap();
    assert!(matches!(
        s.open(b),
        Err(DatanodeError::ReplicaNotFound { .. })
    ));
    assert!(s.state(77).is_none());
}

#[test]
fn data_dirs_must_agree_on_uuid() {
    let root = tempfile::tempdir().unwrap();
    let a = vec![root.path().join("a")];
    let b = vec![root.path().join("b")];
    let ua = DiskStore::open(&a, opts()).unwrap().uuid().to_string();
    let ub = DiskStore::open(&b, opts()).unwrap().uuid().to_string();
    assert_ne!(ua, ub);
    let both = vec![a[0].clone(), b[0].clone()];
    let e = DiskStore::open(&both, opts()).err().unwrap().to_string();
    assert!(
        e.contains(&*a[0].to_string_lossy()) && e.contains(&*b[0].to_string_lossy()),
        "{e}"
    );
    // A new, empty dir joins the existing identity.
    let grown = vec![a[0].clone(), root.path().join("c")];
    assert_eq!(DiskStore::open(&grown, opts()).unwrap().uuid(), ua);
    assert_eq!(
        std::fs::read_to_string(root.path().join("c").join(UUID_FILE))
            .unwrap()
            .trim(),
        ua
    );
}

#[test]
fn an_unusable_dir_at_open_is_out_of_service_when_tolerated() {
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good");
    // A regular file where a data dir should be: nothing can be created in it.
    let bad = root.path().join("bad");
    std::fs::write(&bad, b"not a directory").unwrap();
    let d = vec![bad.clone(), good.clone()];

    let e = DiskStore::open(&d, opts()).err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("1 of 2 data dirs unusable") && msg.contains(&*bad.to_string_lossy()),
        "{msg}"
    );

    let s = DiskStore::open(&d, opts().with_failed_volumes_tolerated(1)).unwrap();
    let vols = s.volumes();
    assert!(vols[0].failed && !vols[1].failed, "{vols:?}");
    for id in 0..4 {
        let r = write(&s, BlockRef::new(id, 1), &pattern(1000, id as u8));
        assert_eq!(r.volume, 1, "new replicas go to the good dir");
    }
    // Every dir unusable is never tolerated.
    let e = DiskStore::open(
        std::slice::from_ref(&bad),
        opts().with_failed_volumes_tolerated(1),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("1 of 1 data dirs unusable"), "{e}");
    // The good dir's replicas survive a restart with the bad dir still bad.
    drop(s);
    let s = DiskStore::open(&d, opts().with_failed_volumes_tolerated(1)).unwrap();
    assert_eq!(s.finalized().len(), 4);
}

#[test]
fn reserved_space_is_honoured() {
    let root = tempfile::tempdir().unwrap();
    let s = DiskStore::open(&[root.path().join("v")], opts().with_reserved(u64::MAX / 2)).unwrap();
    let e = s.create(BlockRef::new(1, 1), 1).err().unwrap();
    assert!(matches!(e, DatanodeError::NoSpace { .. }), "{e}");
    assert!(
        e.to_string().contains(&*root.path().to_string_lossy()),
        "{e}"
    );
}

#[test]
fn drop_behind_writes_keep_the_replica_intact() {
    let root = tempfile::tempdir().unwrap();
    let s = DiskStore::open(&dirs(root.path()), opts().with_drop_behind_writes(true)).unwrap();
    // Several drop-behind steps and a tail that stays cached.
    let data = pattern((21 << 20) + 333, 9);
    let b = BlockRef::new(77, 1);
    let r = write(&s, b, &data);
    assert_eq!(r.len, data.len() as u64);
    assert!(read_all(&s, b) == data);
    let mut h = Sha256::new();
    h.update(&data);
    let sum = checksum_summary(&s, b).unwrap();
    assert_eq!(sum.sha256, <[u8; 32]>::from(h.finalize()));
}
