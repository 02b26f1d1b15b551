//! The storage core on an in-process MiniCluster: files of every shape,
//! replication, checksums, corruption, restarts, permissions, bad input.

mod common;

use common::{data, read_file, sha256_hex, write_file};
use std::time::Duration;
use tusk_client::{CreateOptions, DfsError};
use tusk_tests::{wait_for, MiniCluster};

const MB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_shape_round_trip_with_their_checksum() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?; // 1 MiB blocks
    let c = cluster.client().await?;
    c.mkdirs("/shapes", 0o755, true).await?;
    for (name, len) in [
        ("empty", 0),
        ("one-byte", 1),
        ("one-chunk-minus-one", 511),
        ("exactly-one-block", MB),
        ("several-blocks-and-a-tail", 3 * MB + 12_345),
    ] {
        let path = format!("/shapes/{name}");
        let bytes = data(len, len as u64);
        write_file(&c, &path, &bytes).await?;
        let back = read_file(&c, &path).await?;
        assert_eq!(back.len(), bytes.len(), "{path}: length");
        assert!(back == bytes, "{path}: content differs");
        let st = c.get_file_info(&path).await?.expect("file exists");
        assert_eq!(st.length, len as u64, "{path}: recorded length");
        let sum = c.file_checksum(&path).await?;
        assert_eq!(hex::encode(sum), sha256_hex(&bytes), "{path}: SHA-256");
        let blocks = c.block_locations(&path).await?;
        assert_eq!(blocks.len(), len.div_ceil(MB), "{path}: block count");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_puts_each_replica_on_a_different_datanode() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder().datanodes(4).build().await?;
    let c = cluster.client().await?;
    write_file(&c, "/r3", &data(2 * MB + 7, 1)).await?;
    let opts = CreateOptions::default().with_replication(2);
    let mut w = c.create("/r2", opts).await?;
    w.write(&data(MB + 3, 2)).await?;
    w.close().await?;

    for (path, want) in [("/r3", 3), ("/r2", 2)] {
        for b in c.block_locations(path).await? {
            let mut hosts: Vec<String> = b.locations.iter().map(|d| d.uuid.clone()).collect();
            hosts.sort();
            hosts.dedup();
            assert_eq!(
                hosts.len(),
                want,
                "{path} blk_{}: distinct locations",
                b.block_id
            );
            // And the bytes really are on that many datanodes' disks, each
            // replica with the SHA-256 and CRCs of its own data (only the
            // first datanode of the pipeline hashed it).
            assert_eq!(
                cluster.check_replicas(b.block_id)?.len(),
                want,
                "{path} blk_{} on disk",
                b.block_id
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_missing_replica_is_survived_reported_and_healed() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    let bytes = data(2 * MB + 100, 3);
    write_file(&c, "/victim", &bytes).await?;
    let blocks = c.block_locations("/victim").await?;
    let index_of = |uuid: &str| {
        (0..cluster.num_datanodes())
            .find(|&i| cluster.datanode_uuid(i).as_deref() == Some(uuid))
            .expect("a datanode with that uuid")
    };

    // Leave exactly one good replica of every block: corrupt the others, except
    // that one replica of the first block is deleted outright.
    for (n, b) in blocks.iter().enumerate() {
        assert_eq!(b.locations.len(), 3);
        for (k, loc) in b.locations.iter().enumerate().skip(1) {
            if n == 0 && k == 2 {
                cluster.delete_replica(index_of(&loc.uuid), b.block_id)?;
            } else {
                cluster.corrupt_replica(index_of(&loc.uuid), b.block_id)?;
            }
        }
    }

    // Every read succeeds from the one good replica. Readers report the bad
    // ones they meet and the datanode reports the vanished one; the namenode
    // stops offering them, copies the good replica back to full replication and
    // deletes the corrupt ones. In the end every replica on disk is good again.
    let dirs: Vec<_> = (0..cluster.num_datanodes())
        .map(|i| cluster.datanode_dirs(i).to_vec())
        .collect();
    wait_for(
        "every block healed to 3 good replicas",
        Duration::from_secs(30),
        || {
            let c = c.clone();
            let bytes = bytes.clone();
            let blocks = blocks.clone();
            let dirs = dirs.clone();
            async move {
                let back = read_file(&c, "/victim").await.expect("read succeeds");
                assert!(back == bytes, "read must fall back to a good replica");
                let now = c.block_locations("/victim").await.expect("locations");
                now.iter().all(|b| b.locations.len() == 3)
                    && blocks.iter().all(|b| {
                        let want = &bytes[b.offset as usize..(b.offset + b.num_bytes) as usize];
                        let on_disk: Vec<_> = dirs
                            .iter()
                            .filter_map(|d| tusk_datanode::find_replica(d, b.block_id))
                            .map(|r| std::fs::read(r.data).unwrap_or_default())
                            .collect();
                        on_disk.len() == 3 && on_disk.iter().all(|d| d == want)
                    })
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_restart_keeps_the_namespace_and_rebuilds_the_block_map() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    c.mkdirs("/keep/a/b", 0o750, true).await?;
    let bytes = data(3 * MB + 5, 4);
    write_file(&c, "/keep/a/file", &bytes).await?;
    c.rename("/keep/a/file", "/keep/a/b/moved", false).await?;
    c.set_permission("/keep/a/b/moved", 0o600).await?;
    drop(c);

    cluster.restart_namenode().await?;
    cluster.wait_active().await?;
    let c = cluster.client().await?;
    let st = c.get_file_info("/keep/a/b").await?.expect("dir survives");
    assert_eq!(st.permission, 0o750);
    let f = c
        .get_file_info("/keep/a/b/moved")
        .await?
        .expect("file survives");
    assert_eq!(f.permission, 0o600);
    assert!(c.get_file_info("/keep/a/file").await?.is_none());
    // Locations come back from block reports, and the data reads.
    let back = read_file(&c, "/keep/a/b/moved").await?;
    assert!(back == bytes);
    assert_eq!(
        hex::encode(c.file_checksum("/keep/a/b/moved").await?),
        sha256_hex(&bytes)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_restart_keeps_its_replicas() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(1)
        .replication(1)
        .build()
        .await?;
    let c = cluster.client().await?;
    let bytes = data(MB + 1, 5);
    write_file(&c, "/solo", &bytes).await?;
    cluster.restart_datanode(0).await?;
    cluster.wait_active().await?;
    wait_for("the datanode's block report", Duration::from_secs(10), || {
        let c = c.clone();
        async move {
            matches!(c.block_locations("/solo").await, Ok(b) if b.iter().all(|b| !b.locations.is_empty()))
        }
    })
    .await?;
    assert!(read_file(&c, "/solo").await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_directories_are_listed_in_pages() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    c.mkdirs("/big", 0o755, false).await?;
    let n = 2_345;
    let futs: Vec<_> = (0..n)
        .map(|i| {
            let c = c.clone();
            async move { c.mkdirs(&format!("/big/d{i:05}"), 0o755, false).await }
        })
        .collect();
    for r in futures_join(futs).await {
        r?;
    }
    let first = c.list_page("/big", "").await?;
    assert!(first.entries.len() <= 1000, "a page is bounded");
    assert!(first.remaining > 0);
    let all = c.list("/big").await?;
    assert_eq!(all.len(), n);
    let names: Vec<_> = all.iter().map(|s| s.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listing is sorted");
    assert_eq!(names[0], "d00000");
    Ok(())
}

async fn futures_join<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    // Run in batches of 64 so the test stays a burst of concurrent RPCs.
    let mut futs = futs;
    while !futs.is_empty() {
        let rest = futs.split_off(futs.len().min(64));
        let batch = std::mem::replace(&mut futs, rest);
        let handles: Vec<_> = batch.into_iter().map(|f| Box::pin(f)).collect();
        for h in handles {
            out.push(h.await);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_delete_follow_hdfs_semantics() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    c.mkdirs("/src/inner", 0o755, true).await?;
    c.mkdirs("/dst", 0o755, true).await?;
    write_file(&c, "/src/f", b"hello").await?;

    // Into a directory when the destination is one.
    c.rename("/src/f", "/dst", false).await?;
    assert!(c.get_file_info("/dst/f").await?.is_some());
    // A directory cannot move into itself.
    assert!(c.rename("/src", "/src/inner/x", false).await.is_err());
    // Missing source.
    assert!(matches!(
        c.rename("/nope", "/x", false).await,
        Err(DfsError::FileNotFound { .. })
    ));
    // Existing file at the destination without overwrite.
    write_file(&c, "/dst/g", b"g").await?;
    assert!(c.rename("/dst/f", "/dst/g", false).await.is_err());
    c.rename("/dst/f", "/dst/g", true).await?;
    assert_eq!(read_file(&c, "/dst/g").await?, b"hello");

    // Non-empty directory needs recursive.
    assert!(c.delete("/src", false).await.is_err());
    assert!(
        c.get_file_info("/src/inner").await?.is_some(),
        "nothing deleted"
    );
    assert!(c.delete("/src", true).await?);
    assert!(c.get_file_info("/src").await?.is_none());
    assert!(
        !c.delete("/src", true).await?,
        "deleting a missing path says so"
    );
    Ok(())
}

/// A tree past `[namenode] deletion_increment` is detached at once and
/// purged in the background: the path is gone when the delete returns, and
/// soon after every replica of its files is deleted from the datanodes and
/// the totals drop; a file next to it is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_delete_returns_at_once_and_the_purge_frees_every_replica() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder().deletion_increment(4).build().await?;
    let c = cluster.client().await?;
    write_file(&c, "/keep/k", b"kept").await?;
    let mut blocks = Vec::new();
    for d in 0..3 {
        for i in 0..5 {
            let p = format!("/big/d{d}/f{i}");
            write_file(&c, &p, &data(3000 + i * 100, (d * 10 + i) as u64)).await?;
            blocks.extend(c.block_locations(&p).await?.iter().map(|b| b.block().id));
        }
    }
    for b in &blocks {
        let held = cluster.check_replicas(*b)?;
        assert_eq!(held.len(), 3, "blk_{b} has 3 replicas before the delete");
    }
    assert_eq!(c.fs_stats().await?.total_files, 16);

    assert!(c.delete("/big", true).await?);
    assert!(c.get_file_info("/big").await?.is_none());
    assert!(c.get_file_info("/big/d1/f2").await?.is_none());
    // The name is free at once.
    c.mkdirs("/big", 0o755, false).await?;

    let nn = cluster.namenode().expect("namenode runs").state().clone();
    wait_for("the purge to finish", Duration::from_secs(30), || {
        let done = !nn.read(|f| f.purge_pending());
        async move { done }
    })
    .await?;
    assert_eq!(c.fs_stats().await?.total_files, 1);
    wait_for(
        "every replica of the deleted files to be deleted",
        Duration::from_secs(30),
        || {
            let left = blocks
                .iter()
                .filter(|b| !cluster.replica_holders(**b).is_empty())
                .count();
            async move { left == 0 }
        },
    )
    .await?;
    assert_eq!(read_file(&c, "/keep/k").await?, b"kept");
    Ok(())
}

/// `ls -t -S -r -u -C` order and show entries as Hadoop's `Ls`: by name,
/// newest or largest first, reversed, by access time; each directory of
/// `-R` on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_sorts_by_time_and_size_like_hadoop() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    const DAY: u64 = 86_400_000;
    // name, size, mtime (days), atime (days)
    for (name, len, m, a) in [("a", 300, 3, 400), ("b", 100, 1, 430), ("c", 200, 2, 420)] {
        let p = format!("/ls/{name}");
        write_file(&c, &p, &vec![b'x'; len]).await?;
        c.set_times(&p, Some(m * DAY), Some(a * DAY)).await?;
    }
    write_file(&c, "/ls/sub/big", &[0u8; 1000]).await?;
    write_file(&c, "/ls/sub/small", &[0u8; 10]).await?;
    c.set_times("/ls/sub", Some(DAY / 2), Some(DAY / 2)).await?;
    let ls = |args: &'static [&'static str]| {
        let cluster = &cluster;
        async move {
            let mut argv = vec!["ls", "-C"];
            argv.extend_from_slice(args);
            argv.push("/ls");
            let (code, out, err) = cluster.dfs("root", &argv).await;
            assert_eq!(code, 0, "ls {args:?}: {err}");
            out.lines()
                .map(|l| l.trim_start_matches("/ls/").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ls(&[]).await, ["a", "b", "c", "sub"]);
    assert_eq!(ls(&["-r"]).await, ["sub", "c", "b", "a"]);
    assert_eq!(ls(&["-t"]).await, ["a", "c", "b", "sub"]);
    assert_eq!(ls(&["-t", "-r"]).await, ["sub", "b", "c", "a"]);
    assert_eq!(ls(&["-S"]).await, ["a", "c", "b", "sub"]);
    assert_eq!(ls(&["-t", "-u"]).await, ["b", "c", "a", "sub"]);
    assert_eq!(
        ls(&["-R", "-S"]).await,
        ["a", "c", "b", "sub", "sub/big", "sub/small"]
    );
    assert_eq!(
        ls(&["-R", "-S", "-r"]).await,
        ["sub", "sub/small", "sub/big", "b", "c", "a"]
    );
    // -u shows the access time (1971) instead of the modification time (1970).
    let (_, plain, _) = cluster.dfs("root", &["ls", "/ls/a"]).await;
    let (_, access, _) = cluster.dfs("root", &["ls", "-u", "/ls/a"]).await;
    assert!(plain.contains(" 1970-01-0"), "{plain}");
    assert!(access.contains(" 1971-0"), "{access}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_changes_nothing() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    write_file(&c, "/file", b"x").await?;
    c.mkdirs("/dir", 0o755, false).await?;

    // A path under a file.
    let e = c.mkdirs("/file/sub", 0o755, true).await.unwrap_err();
    assert!(e.to_string().contains("/file"), "{e}");
    // Creating an existing file without overwrite.
    let e = c
        .create("/file", CreateOptions::default())
        .await
        .expect_err("exists");
    assert!(matches!(e, DfsError::AlreadyExists { .. }), "{e}");
    assert_eq!(
        read_file(&c, "/file").await?,
        b"x",
        "the old file is intact"
    );
    // Reading a directory.
    assert!(c.open("/dir").await.is_err());
    // Missing path.
    let e = c.open("/missing").await.expect_err("missing");
    assert!(matches!(e, DfsError::FileNotFound { .. }), "{e}");
    assert!(e.to_string().contains("/missing"), "{e}");
    // Invalid names: too long a component.
    let long = format!("/{}", "n".repeat(256));
    assert!(c.mkdirs(&long, 0o755, false).await.is_err());
    // A file held open by another writer.
    let other = cluster.client().await?;
    let mut w = c.create("/open", CreateOptions::default()).await?;
    w.write(b"partial").await?;
    let e = other
        .create("/open", CreateOptions::default().with_overwrite(true))
        .await
        .expect_err("held by a writer");
    assert!(e.to_string().contains("/open"), "{e}");
    w.close().await?;
    assert_eq!(read_file(&c, "/open").await?, b"partial");
    // Nothing unexpected appeared.
    let names: Vec<_> = c.list("/").await?.into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["dir", "file", "open"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_checked_on_every_operation() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let root = cluster.client().await?;
    root.mkdirs("/user/alice", 0o755, true).await?;
    root.set_owner("/user/alice", "alice", "alice").await?;
    root.set_permission("/user/alice", 0o700).await?;
    let alice = cluster.client_as("alice").await?;
    let bob = cluster.client_as("bob").await?;

    write_file(&alice, "/user/alice/secret", b"alice's").await?;
    let st = alice.get_file_info("/user/alice/secret").await?.unwrap();
    assert_eq!(st.owner, "alice");
    assert_eq!(
        st.group, "alice",
        "group is inherited from the parent directory"
    );

    // bob can neither traverse, read, list, create nor delete there.
    assert!(matches!(
        bob.open("/user/alice/secret").await,
        Err(DfsError::PermissionDenied { .. })
    ));
    assert!(bob.list("/user/alice").await.is_err());
    assert!(bob.mkdirs("/user/alice/x", 0o755, false).await.is_err());
    assert!(bob.delete("/user/alice/secret", false).await.is_err());
    // bob cannot write in / (owned by the superuser, 0755).
    let e = bob.mkdirs("/bobdir", 0o755, false).await.unwrap_err();
    assert!(matches!(e, DfsError::PermissionDenied { .. }), "{e}");
    assert!(e.to_string().contains("bob"), "{e}");
    // Only the owner (or superuser) may chmod; only the superuser may chown.
    assert!(bob.set_permission("/user/alice", 0o777).await.is_err());
    assert!(alice
        .set_owner("/user/alice/secret", "bob", "")
        .await
        .is_err());
    // Opened up, bob can read.
    alice.set_permission("/user/alice", 0o755).await?;
    alice.set_permission("/user/alice/secret", 0o644).await?;
    assert_eq!(read_file(&bob, "/user/alice/secret").await?, b"alice's");
    // But still not write.
    assert!(bob
        .create(
            "/user/alice/secret",
            CreateOptions::default().with_overwrite(true)
        )
        .await
        .is_err());
    assert_eq!(read_file(&alice, "/user/alice/secret").await?, b"alice's");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_truncated_rpc_bytes_hurt_no_daemon() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    write_file(&c, "/before", b"safe").await?;
    let dn = cluster.datanode(0).expect("running").data_addr;
    // HTTP/2 preface followed by garbage frames; a preface cut short; plain noise.
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut frames = preface.clone();
    frames.extend_from_slice(&data(4096, 77));
    let attacks: Vec<Vec<u8>> = vec![frames, preface[..10].to_vec(), data(100_000, 78)];
    for addr in [cluster.nn_addr(), dn] {
        for bytes in &attacks {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            // The server may hang up mid-write; that is its right.
            let _ = s.write_all(bytes).await;
            let _ = s.shutdown().await;
        }
    }
    // Both keep serving, and nothing changed.
    c.mkdirs("/after", 0o755, false).await?;
    assert_eq!(read_file(&c, "/before").await?, b"safe");
    write_file(&c, "/after/f", &data(MB + 1, 79)).await?;
    let names: Vec<_> = c.list("/").await?.into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["after", "before"]);
    Ok(())
}
