//! The balancer on an in-process MiniCluster: files written on three
//! datanodes, a fourth empty one added, `dfs admin balancer` run until it
//! says the cluster is balanced; every node ends within the threshold and
//! every file reads back identical at its replication.

mod common;

use common::{data, read_file};
use std::collections::HashMap;
use std::time::Duration;
use tusk_client::{BalancerAction, CreateOptions, DfsClient};
use tusk_tests::{wait_for, MiniCluster};

const MB: usize = 1 << 20;

/// Output of an in-process `dfs` run.
/// Bytes of replicas per datanode uuid, from the namenode's block locations.
async fn bytes_per_node(c: &DfsClient, files: &[(String, Vec<u8>, u32)]) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for (p, _, _) in files {
        for b in c.block_locations(p).await.expect("locations") {
            for l in &b.locations {
                *m.entry(l.uuid.clone()).or_default() += b.num_bytes;
            }
        }
    }
    m
}

/// Every block of every file has exactly its replication in locations and
/// on disk (no excess replica left behind).
async fn exactly_replicated(
    cluster: &MiniCluster,
    c: &DfsClient,
    files: &[(String, Vec<u8>, u32)],
) -> bool {
    for (p, _, rep) in files {
        let Ok(blocks) = c.block_locations(p).await else {
            return false;
        };
        for b in blocks {
            if b.locations.len() != *rep as usize
                || cluster.replica_holders(b.block_id).len() != *rep as usize
            {
                return false;
            }
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_balancer_fills_a_new_datanode_and_keeps_every_file() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(3)
        .replication(2)
        .build()
        .await?;
    let c = cluster.client().await?;
    let me = tusk_common::sys::login_user();

    // 24 MiB of replicas at replication 2 and 1 on three datanodes.
    let mut files = Vec::new();
    for i in 0..6 {
        let (p, rep) = (format!("/bal/f{i}"), if i % 3 == 2 { 1 } else { 2 });
        let bytes = data(2 * MB + 1000 * i + 17, 40 + i as u64);
        let mut w = c
            .create(
                &p,
                CreateOptions::default()
                    .with_replication(rep)
                    .with_create_parent(true),
            )
            .await?;
        w.write(&bytes).await?;
        w.close().await?;
        files.push((p, bytes, rep));
    }
    let f = files.clone();
    wait_for(
        "every file at its replication",
        Duration::from_secs(20),
        || exactly_replicated(&cluster, &c, &f),
    )
    .await?;

    let added = cluster.add_datanode().await?;
    let new_uuid = cluster.datanode_uuid(added).expect("running");
    let before = bytes_per_node(&c, &files).await;
    assert_eq!(before.get(&new_uuid), None, "the new datanode starts empty");

    // Every datanode shares this machine's disk, so capacities are equal and
    // a threshold of T percentage points is T% of that capacity in bytes:
    // ask for 1.5 MiB around the mean.
    let capacity = c.datanode_report().await?[0].capacity;
    let tolerance = 3 * MB as u64 / 2;
    let threshold = tolerance as f64 * 100.0 / capacity as f64;
    let thr = format!("{threshold:.12}");
    // Only the superuser may start it.
    let (code, _, err) = cluster
        .dfs("mallory", &["admin", "balancer", "-threshold", &thr])
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Superuser privilege"), "{err}");

    let args = ["admin", "balancer", "-threshold", &thr];
    let run = cluster.dfs(&me, &args);
    let (code, out, err) = tokio::time::timeout(Duration::from_secs(60), run).await?;
    println!("{out}");
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("Iteration#") && out.contains("Bytes Already Moved"),
        "{out}"
    );
    assert!(out.contains("The cluster is balanced. Exiting..."), "{out}");

    // The namenode's view: every node within the tolerance of the mean,
    // the new node holding its share.
    let after = bytes_per_node(&c, &files).await;
    let total: u64 = after.values().sum();
    assert_eq!(
        total,
        before.values().sum::<u64>(),
        "{before:?} → {after:?}"
    );
    let mean = total / 4;
    for i in 0..4 {
        let u = cluster.datanode_uuid(i).expect("running");
        let used = after.get(&u).copied().unwrap_or(0);
        assert!(
            used.abs_diff(mean) <= tolerance,
            "datanode {i} holds {used} bytes, mean {mean}: {after:?}"
        );
    }
    assert!(after[&new_uuid] > 0);
    // On disk too: each block at exactly its replication (the source
    // replicas were deleted, not the new ones), every byte intact.
    let f = files.clone();
    wait_for(
        "moved replicas deleted from their sources",
        Duration::from_secs(20),
        || exactly_replicated(&cluster, &c, &f),
    )
    .await?;
    for (p, bytes, _) in &files {
        assert!(&read_file(&c, p).await? == bytes, "{p} content");
    }
    let st = c.balancer(BalancerAction::Status, 0.0).await?;
    assert!(!st.running && st.balanced && st.moves_done > 0, "{st:?}");
    assert!(st.bytes_moved >= after[&new_uuid], "{st:?}");
    let (code, out, _) = cluster.dfs(&me, &["admin", "balancer", "-status"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("The cluster is balanced."), "{out}");
    Ok(())
}
