//! Writers that lose a datanode, and writers that die: pipeline recovery
//! and lease recovery, on the in-process MiniCluster and on the real
//! binaries (kill -9).

mod common;

use common::{data, ok, read_file, sha256_hex};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tusk_client::{CreateOptions, DfsClient, DfsError};
use tusk_tests::{wait_for, LocalCluster, MiniCluster};

const MB: usize = 1 << 20;
const HEAL: Duration = Duration::from_secs(30);

/// Every block of `path` has `n` live locations.
async fn every_block_has(c: &DfsClient, path: &str, n: usize) -> bool {
    match c.block_locations(path).await {
        Ok(bs) => bs.iter().all(|b| b.locations.len() == n),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_datanode_lost_mid_write_does_not_fail_the_write() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(3)
        .dead_after(Duration::from_secs(2))
        .build()
        .await?;
    let c = cluster.client().await?;
    let bytes = data(6 * MB + 12_345, 21);
    let mut w = c
        .create("/pr/f", CreateOptions::default().with_replication(3))
        .await?;
    // Two whole blocks and part of the third, then a pipeline member goes.
    w.write(&bytes[..2 * MB + 700_000]).await?;
    let third = wait_third_block(&c, "/pr/f").await?;
    // Replication 3 on three datanodes: every one is in the pipeline. The
    // victim goes once it holds part of the third block (the writer's
    // packets are on their way when `write` returns).
    let victim = 1;
    let rbw = |d: &std::path::PathBuf| d.join(format!("current/rbw/blk_{}", third.block_id));
    let dirs = cluster.datanode_dirs(victim).to_vec();
    wait_for(
        "the victim to hold part of the third block in rbw",
        HEAL,
        || async {
            dirs.iter()
                .any(|d| std::fs::metadata(rbw(d)).is_ok_and(|m| m.len() > 0))
        },
    )
    .await?;
    cluster.stop_datanode(victim).await?;
    w.write(&bytes[2 * MB + 700_000..]).await?;
    w.close().await?;

    assert!(read_file(&c, "/pr/f").await? == bytes, "content differs");
    let st = c.status("/pr/f").await?;
    assert_eq!(st.length, bytes.len() as u64);
    let blocks = c.block_locations("/pr/f").await?;
    let recovered = blocks
        .iter()
        .find(|b| b.block_id == third.block_id)
        .expect("the third block");
    assert!(
        recovered.genstamp > third.genstamp,
        "the recovered block has a new generation stamp: {} vs {}",
        recovered.genstamp,
        third.genstamp
    );
    assert_eq!(recovered.locations.len(), 2, "{recovered:?}");
    let sum = c.file_checksum("/pr/f").await?;
    assert_eq!(hex::encode(sum.sha256.expect("sha256")), sha256_hex(&bytes));

    // The datanode comes back with a stale replica of the third block: it is
    // never served, and the block returns to three good replicas.
    cluster.restart_datanode(victim).await?;
    wait_for("three replicas of every block", HEAL, || {
        every_block_has(&c, "/pr/f", 3)
    })
    .await?;
    let blocks = c.block_locations("/pr/f").await?;
    let b = blocks
        .iter()
        .find(|b| b.block_id == third.block_id)
        .unwrap();
    assert_eq!(b.genstamp, recovered.genstamp);
    assert!(read_file(&c, "/pr/f").await? == bytes);
    // Its stale rbw replica (old stamp) was reported and deleted.
    wait_for("the stale rbw replica deleted", HEAL, || async {
        dirs.iter().all(|d| !rbw(d).exists())
    })
    .await?;
    let fsck = c.fsck("/pr", false).await?;
    assert!(fsck.is_healthy(), "{fsck:?}");
    // Every replica, the recovered ones too, records its own data's SHA-256.
    for b in c.block_locations("/pr/f").await? {
        assert_eq!(
            cluster.check_replicas(b.block_id)?.len(),
            3,
            "blk_{}",
            b.block_id
        );
    }
    Ok(())
}

/// The third block of a file being written, once the namenode has it.
async fn wait_third_block(c: &DfsClient, path: &str) -> anyhow::Result<tusk_client::LocatedBlock> {
    wait_for("the third block allocated", HEAL, || async {
        matches!(c.block_locations(path).await, Ok(bs) if bs.len() >= 3)
    })
    .await?;
    Ok(c.block_locations(path).await?.swap_remove(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_file_is_closed_at_the_length_its_replicas_agree_on() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder()
        .datanodes(3)
        .lease_limits(Duration::from_secs(1), Duration::from_secs(3))
        .build()
        .await?;
    let c = cluster.client().await?;
    let other = cluster.client().await?;
    let bytes = data(2 * MB + 300_000, 22);
    let mut w = c.create("/lease/f", CreateOptions::default()).await?;
    w.write(&bytes).await?;
    wait_third_block(&c, "/lease/f").await?;
    // Another writer is refused while the lease is held.
    let e = other.append("/lease/f").await.unwrap_err();
    assert!(e.to_string().contains("/lease/f"), "{e}");
    // The writer dies without closing: its lease is no longer renewed.
    drop(w);

    wait_for("the namenode closes the file", HEAL, || async {
        matches!(c.get_file_info("/lease/f").await, Ok(Some(st)) if !st.under_construction)
    })
    .await?;
    let st = c.status("/lease/f").await?;
    let len = st.length as usize;
    assert!(
        (2 * MB..=bytes.len()).contains(&len),
        "length {len}: at least the two committed blocks, at most what was written"
    );
    let got = read_file(&c, "/lease/f").await?;
    assert_eq!(got.len(), len);
    assert!(
        got == bytes[..len],
        "content is a prefix of what was written"
    );
    // Every replica of every block has the agreed length.
    for b in c.block_locations("/lease/f").await? {
        for i in cluster.replica_holders(b.block_id) {
            let dirs = cluster.datanode_dirs(i);
            let f = tusk_datanode::find_replica(dirs, b.block_id).expect("replica files");
            assert_eq!(f.genstamp, b.genstamp, "blk_{} on dn{i}", b.block_id);
            assert_eq!(std::fs::metadata(&f.data)?.len(), b.num_bytes);
        }
    }
    // The file is closed: appending works.
    let mut a = other.append("/lease/f").await?;
    a.write(b"more").await?;
    a.close().await?;
    assert_eq!(c.status("/lease/f").await?.length, len as u64 + 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recover_lease_after_the_soft_limit() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder()
        .datanodes(3)
        .lease_limits(Duration::from_secs(2), Duration::from_secs(3600))
        .build()
        .await?;
    let c = cluster.client().await?;
    let other = cluster.client().await?;
    let bytes = data(MB + 1000, 23);
    let mut w = c.create("/soft/f", CreateOptions::default()).await?;
    w.write(&bytes).await?;
    // Within the soft limit the holder keeps its file.
    match other.recover_lease("/soft/f").await {
        Err(DfsError::Lease { msg, .. }) => assert!(msg.contains("soft limit"), "{msg}"),
        r => panic!("expected a refusal, got {r:?}"),
    }
    drop(w);
    wait_for("recoverLease closes the file", HEAL, || async {
        matches!(other.recover_lease("/soft/f").await, Ok(true))
    })
    .await?;
    let st = c.status("/soft/f").await?;
    assert!(!st.under_construction);
    assert!(st.length >= MB as u64, "the first block was committed");
    let got = read_file(&c, "/soft/f").await?;
    assert!(got == bytes[..got.len()]);
    // A closed file: recoverLease says so at once, in the shell too.
    assert!(other.recover_lease("/soft/f").await?);
    let (code, out, err) = cluster
        .dfs(
            &tusk_common::sys::login_user(),
            &["admin", "recoverLease", "-retries", "3", "/soft/f"],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("recoverLease SUCCEEDED on /soft/f"), "{out}");
    let (code, _, err) = cluster
        .dfs(
            &tusk_common::sys::login_user(),
            &["admin", "recoverLease", "/soft/missing"],
        )
        .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("/soft/missing: No such file or directory"),
        "{err}"
    );
    Ok(())
}

/// Length of a file as the namenode reports it (committed blocks while it
/// is being written).
async fn length(c: &DfsClient, path: &str) -> u64 {
    match c.get_file_info(path).await {
        Ok(Some(st)) => st.length,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_a_datanode_during_a_300_mib_write_loses_nothing() -> anyhow::Result<()> {
    let cl = LocalCluster::start(
        3,
        Some(
            "[cluster]\nblock_size = \"32MiB\"\nheartbeat_interval = \"1s\"\ndead_after = \"4s\"\n\
             [namenode]\nreplication_interval = \"500ms\"\n",
        ),
    )?;
    let c = cl.client().await?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("big.bin");
    let bytes = data(300 * MB, 24);
    std::fs::write(&src, &bytes)?;
    let want = sha256_hex(&bytes);
    drop(bytes);

    let put = Command::new(cl.bin_dir.join("dfs"))
        .args(["put", src.to_str().unwrap(), "/big.bin"])
        .env("TUSK_NAMENODE", cl.nn_addr())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    wait_for("two blocks written", HEAL, || async {
        length(&c, "/big.bin").await >= 64 * MB as u64
    })
    .await?;
    cl.kill9("datanode-2")?;
    let out = tokio::task::spawn_blocking(move || put.wait_with_output()).await??;
    ok(&out);
    let sum = ok(&cl.dfs(&["checksum", "/big.bin"]));
    assert!(sum.contains(&want), "{sum} vs {want}");

    // The dead datanode is noticed; with it back, every block returns to
    // three replicas and fsck is healthy.
    cl.script("start")?;
    wait_for(
        "every block at three replicas",
        Duration::from_secs(120),
        || every_block_has(&c, "/big.bin", 3),
    )
    .await?;
    let fsck = ok(&cl.dfs(&["fsck", "/"]));
    assert!(fsck.contains("HEALTHY"), "{fsck}");
    let sum = ok(&cl.dfs(&["checksum", "/big.bin"]));
    assert!(sum.contains(&want), "{sum}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_a_writing_client_leaves_a_file_closed_by_lease_recovery() -> anyhow::Result<()> {
    let cl = LocalCluster::start(
        3,
        Some(
            "[cluster]\nblock_size = \"1MiB\"\nheartbeat_interval = \"1s\"\n\
             [namenode]\nlease_soft_limit = \"1s\"\nlease_hard_limit = \"3s\"\n",
        ),
    )?;
    let c = cl.client().await?;
    let bytes = data(3 * MB, 25);
    let mut put = Command::new(cl.bin_dir.join("dfs"))
        .args(["put", "-", "/piped.bin"])
        .env("TUSK_NAMENODE", cl.nn_addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = put.stdin.take().expect("stdin");
    stdin.write_all(&bytes[..2 * MB + 500_000])?;
    stdin.flush()?;
    // `dfs put` writes to `<target>._COPYING_` and renames at the end.
    let tmp = "/piped.bin._COPYING_";
    wait_for("two blocks committed", HEAL, || async {
        length(&c, tmp).await >= 2 * MB as u64
    })
    .await?;
    put.kill()?; // SIGKILL
    put.wait()?;
    drop(stdin);

    wait_for("lease recovery closes the file", HEAL, || async {
        matches!(c.get_file_info(tmp).await, Ok(Some(st)) if !st.under_construction)
    })
    .await?;
    let len = c.status(tmp).await?.length as usize;
    assert!((2 * MB..=2 * MB + 500_000).contains(&len), "length {len}");
    let got = read_file(&c, tmp).await?;
    assert!(got == bytes[..len], "content is what the client wrote");
    let fsck = ok(&cl.dfs(&["fsck", "/"]));
    assert!(fsck.contains("HEALTHY"), "{fsck}");
    Ok(())
}
