//! Self-healing on an in-process MiniCluster: dead datanodes, returning
//! datanodes, corrupt replicas, setrep, decommissioning, and the admin
//! commands (safe mode, fsck, report) with their permission checks.

mod common;

use common::{data, read_file, write_file};
use std::time::Duration;
use tusk_client::{DfsClient, DfsError, SafeModeAction};
use tusk_tests::{wait_for, MiniCluster};

const MB: usize = 1 << 20;
const HEAL: Duration = Duration::from_secs(20);

/// A 4-datanode cluster that declares a silent datanode dead after 2 s.
async fn four_nodes() -> anyhow::Result<MiniCluster> {
    MiniCluster::builder()
        .datanodes(4)
        .dead_after(Duration::from_secs(2))
        .build()
        .await
}

/// Every block of `path` has exactly `n` good locations (none on `not_on`)
/// and exactly `n` replicas on the disks of the datanodes other than `not_on`.
async fn replicated(
    cluster: &MiniCluster,
    c: &DfsClient,
    path: &str,
    n: usize,
    not_on: Option<usize>,
) -> bool {
    let Ok(blocks) = c.block_locations(path).await else {
        return false;
    };
    let skip = not_on.and_then(|i| cluster.datanode_uuid(i));
    blocks.iter().all(|b| {
        let locs = b
            .locations
            .iter()
            .filter(|l| Some(&l.uuid) != skip.as_ref())
            .count();
        let disks = cluster
            .replica_holders(b.block_id)
            .into_iter()
            .filter(|&i| Some(i) != not_on)
            .count();
        locs == n && disks == n && (skip.is_none() || locs == b.locations.len())
    })
}

/// Output of an in-process `dfs` run.
fn me() -> String {
    tusk_common::sys::login_user()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_datanode_is_healed_and_its_return_leaves_exactly_three() -> anyhow::Result<()> {
    let mut cluster = four_nodes().await?;
    let c = cluster.client().await?;
    let bytes = data(3 * MB + 4321, 11);
    write_file(&c, "/dead/f", &bytes).await?;
    wait_for("3 replicas of every block", HEAL, || {
        replicated(&cluster, &c, "/dead/f", 3, None)
    })
    .await?;

    let first = c.block_locations("/dead/f").await?[0].locations[0]
        .uuid
        .clone();
    let victim = cluster.datanode_index(&first).expect("a datanode index");
    cluster.stop_datanode(victim).await?;
    wait_for(
        "every block back to 3 live replicas on the other datanodes",
        HEAL,
        || replicated(&cluster, &c, "/dead/f", 3, Some(victim)),
    )
    .await?;
    assert!(
        read_file(&c, "/dead/f").await? == bytes,
        "content after healing"
    );

    // It comes back with its replicas: the excess is deleted, back to 3.
    cluster.restart_datanode(victim).await?;
    wait_for("exactly 3 replicas on disk again", HEAL, || {
        replicated(&cluster, &c, "/dead/f", 3, None)
    })
    .await?;
    assert!(
        read_file(&c, "/dead/f").await? == bytes,
        "content after return"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quick_datanode_restart_copies_nothing() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(4)
        .dead_after(Duration::from_secs(10))
        .build()
        .await?;
    let c = cluster.client().await?;
    write_file(&c, "/quick/f", &data(2 * MB + 1, 12)).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/quick/f", 3, None)
    })
    .await?;
    let scheduled = |cl: &MiniCluster| {
        cl.namenode()
            .expect("namenode runs")
            .state()
            .read(|f| f.replications_scheduled())
    };
    let before = scheduled(&cluster);
    let holder = c.block_locations("/quick/f").await?[0].locations[0]
        .uuid
        .clone();
    let i = cluster.datanode_index(&holder).expect("index");
    cluster.restart_datanode(i).await?;
    // Back: registered, its block report counted (its replica listed again).
    wait_for(
        "the restarted datanode to report its replicas",
        HEAL,
        || {
            let c = c.clone();
            let holder = holder.clone();
            async move {
                match c.datanode_report().await {
                    Ok(r) => r
                        .iter()
                        .any(|d| d.info.uuid == holder && d.live && d.num_blocks > 0),
                    Err(_) => false,
                }
            }
        },
    )
    .await?;
    assert!(replicated(&cluster, &c, "/quick/f", 3, None).await);
    assert_eq!(scheduled(&cluster), before, "no replication was scheduled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_replica_is_replaced_then_deleted() -> anyhow::Result<()> {
    let cluster = four_nodes().await?;
    let c = cluster.client().await?;
    let bytes = data(MB / 2 + 17, 13);
    write_file(&c, "/bad/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/bad/f", 3, None)
    })
    .await?;
    let b = c.block_locations("/bad/f").await?[0].clone();
    let bad_uuid = b.locations[1].uuid.clone();
    let bad = cluster.datanode_index(&bad_uuid).expect("index");
    cluster.corrupt_replica(bad, b.block_id)?;

    // Reads (which try replicas in random order) meet the corrupt one and
    // report it; every read returns the right bytes.
    wait_for("the corrupt replica to be reported", HEAL, || {
        let (c, bytes, bad_uuid) = (c.clone(), bytes.clone(), bad_uuid.clone());
        async move {
            let back = read_file(&c, "/bad/f").await.expect("read succeeds");
            assert!(back == bytes, "a read returned wrong bytes");
            let now = c.block_locations("/bad/f").await.expect("locations");
            !now[0].locations.iter().any(|l| l.uuid == bad_uuid)
        }
    })
    .await?;
    // Replaced from a good replica, then deleted from the bad node.
    wait_for("3 good replicas and none on the bad node", HEAL, || {
        replicated(&cluster, &c, "/bad/f", 3, Some(bad))
    })
    .await?;
    wait_for("the corrupt replica deleted from disk", HEAL, || async {
        !cluster.replica_holders(b.block_id).contains(&bad)
    })
    .await?;
    assert!(read_file(&c, "/bad/f").await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setrep_lowers_and_raises_replication() -> anyhow::Result<()> {
    let cluster = four_nodes().await?;
    let c = cluster.client().await?;
    let bytes = data(2 * MB + 99, 14);
    write_file(&c, "/rep/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/rep/f", 3, None)
    })
    .await?;
    c.set_replication("/rep/f", 2).await?;
    wait_for("2 replicas", HEAL, || {
        replicated(&cluster, &c, "/rep/f", 2, None)
    })
    .await?;
    // `dfs setrep -w` waits until it is done.
    let (code, out, err) = cluster.dfs(&me(), &["setrep", "-w", "4", "/rep/f"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Replication 4 set: /rep/f"), "{out}");
    assert!(
        out.contains("Waiting for /rep/f ") && out.trim_end().ends_with("done"),
        "{out}"
    );
    let blocks = c.block_locations("/rep/f").await?;
    assert!(blocks.iter().all(|b| b.locations.len() == 4));
    wait_for("4 replicas on disk", HEAL, || {
        replicated(&cluster, &c, "/rep/f", 4, None)
    })
    .await?;
    assert!(read_file(&c, "/rep/f").await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decommissioning_copies_replicas_away_while_reads_go_on() -> anyhow::Result<()> {
    let mut cluster = four_nodes().await?;
    let c = cluster.client().await?;
    let bytes = data(3 * MB + 5, 15);
    write_file(&c, "/dec/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/dec/f", 3, None)
    })
    .await?;
    let uuid = c.block_locations("/dec/f").await?[0].locations[0]
        .uuid
        .clone();
    let idx = cluster.datanode_index(&uuid).expect("index");
    let (code, out, err) = cluster.dfs(&me(), &["admin", "decommission", &uuid]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Decommission started for"), "{out}");

    wait_for("the datanode to be Decommissioned", HEAL, || {
        let (c, uuid, bytes) = (c.clone(), uuid.clone(), bytes.clone());
        async move {
            // Reads keep working throughout.
            let back = read_file(&c, "/dec/f").await.expect("read succeeds");
            assert!(back == bytes);
            let r = c.datanode_report().await.expect("report");
            r.iter()
                .any(|d| d.info.uuid == uuid && d.admin_state == "Decommissioned")
        }
    })
    .await?;
    // Every block has 3 replicas on the other datanodes, on disk too (the
    // decommissioned node keeps its own and still serves reads).
    for b in c.block_locations("/dec/f").await? {
        let elsewhere = |v: Vec<usize>| v.into_iter().filter(|&i| i != idx).count();
        assert_eq!(elsewhere(cluster.replica_holders(b.block_id)), 3);
        let live_elsewhere = b.locations.iter().filter(|l| l.uuid != uuid).count();
        assert_eq!(live_elsewhere, 3, "blk_{}", b.block_id);
    }
    let (_, report, _) = cluster.dfs(&me(), &["admin", "report"]).await;
    assert!(
        report.contains("Decommission Status : Decommissioned"),
        "{report}"
    );

    // The state survives a namenode restart (HDFS keeps it in its exclude
    // file): the node comes back Decommissioned, not in service.
    cluster.restart_namenode().await?;
    let c = cluster.client().await?;
    wait_for("the datanodes to re-register", HEAL, || async {
        matches!(c.datanode_report().await, Ok(r) if r.iter().filter(|d| d.live).count() == 4)
    })
    .await?;
    let r = c.datanode_report().await?;
    let me_state = r
        .iter()
        .find(|d| d.info.uuid == uuid)
        .map(|d| d.admin_state.clone());
    assert_eq!(me_state.as_deref(), Some("Decommissioned"), "{r:?}");

    // Back in service: the surplus replicas are deleted.
    c.recommission(&uuid).await?;
    wait_for("exactly 3 replicas after recommission", HEAL, || {
        replicated(&cluster, &c, "/dec/f", 3, None)
    })
    .await?;
    assert!(read_file(&c, "/dec/f").await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fsck_is_healthy_then_corrupt_when_every_replica_is_bad() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    write_file(&c, "/fsck/a", &data(MB + 10, 16)).await?;
    write_file(&c, "/fsck/b", &data(1000, 17)).await?;
    let (code, out, err) = cluster
        .dfs(&me(), &["fsck", "/fsck", "-files", "-blocks", "-locations"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("/fsck/a 1048586 bytes, replicated: replication=3, 2 block(s):  OK"),
        "{out}"
    );
    assert!(out.contains("Live_repl=3"), "{out}");
    assert!(out.contains("Status: HEALTHY"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("The filesystem under path '/fsck' is HEALTHY"),
        "{out}"
    );

    // Corrupt every replica of /fsck/b's block; a read meets them all.
    let b = c.block_locations("/fsck/b").await?[0].clone();
    for i in cluster.replica_holders(b.block_id) {
        cluster.corrupt_replica(i, b.block_id)?;
    }
    assert!(
        read_file(&c, "/fsck/b").await.is_err(),
        "no good replica left"
    );
    wait_for("fsck to see the corrupt block", HEAL, || {
        let c = c.clone();
        async move {
            c.fsck("/", false)
                .await
                .is_ok_and(|r| r.corrupt_blocks == 1)
        }
    })
    .await?;
    let located = c.block_locations("/fsck/b").await?;
    assert!(located[0].corrupt, "served only flagged as corrupt");
    let (code, out, _) = cluster.dfs(&me(), &["fsck", "/"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("/fsck/b: CORRUPT block blk_{}", b.block_id)),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("The filesystem under path '/' is CORRUPT"),
        "{out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_mode_and_admin_permissions() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = cluster.client().await?;
    let (code, out, _) = cluster.dfs(&me(), &["admin", "safemode", "enter"]).await;
    assert_eq!((code, out.as_str()), (0, "Safe mode is ON\n"));
    let e = c.mkdirs("/x", 0o755, true).await.unwrap_err();
    assert!(matches!(e, DfsError::SafeMode { .. }), "{e:?}");
    assert!(e.to_string().contains("safe mode"), "{e}");
    assert!(c.set_safe_mode(SafeModeAction::Get).await?);
    let (_, out, _) = cluster.dfs(&me(), &["admin", "safemode", "get"]).await;
    assert_eq!(out, "Safe mode is ON\n");
    let (code, out, _) = cluster.dfs(&me(), &["admin", "safemode", "leave"]).await;
    assert_eq!((code, out.as_str()), (0, "Safe mode is OFF\n"));
    c.mkdirs("/x", 0o755, true).await?;
    let (code, out, _) = cluster.dfs(&me(), &["admin", "safemode", "wait"]).await;
    assert_eq!((code, out.as_str()), (0, "Safe mode is OFF\n"));

    // Not a superuser: denied, except asking.
    let m = cluster.client_as("mallory").await?;
    let uuid = cluster.datanode_uuid(0).expect("datanode 0 runs");
    for r in [
        m.set_safe_mode(SafeModeAction::Enter).await.map(|_| ()),
        m.decommission(&uuid).await.map(|_| ()),
        m.recommission(&uuid).await.map(|_| ()),
        m.fsck("/", false).await.map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert!(matches!(e, DfsError::PermissionDenied { .. }), "{e:?}");
        assert!(e.to_string().contains("mallory"), "{e}");
    }
    assert!(!m.set_safe_mode(SafeModeAction::Get).await?);
    let (code, _, err) = cluster
        .dfs("mallory", &["admin", "safemode", "enter"])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("Permission denied"), "{err}");
    // Unknown datanode: a clear error naming it.
    let (code, _, err) = cluster
        .dfs(&me(), &["admin", "decommission", "no.such.host"])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("no.such.host"), "{err}");

    // The report lists the three live datanodes.
    let (code, out, _) = cluster.dfs(&me(), &["admin", "report"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Live datanodes (3):"), "{out}");
    assert_eq!(
        out.matches("Decommission Status : Normal").count(),
        3,
        "{out}"
    );
    Ok(())
}
