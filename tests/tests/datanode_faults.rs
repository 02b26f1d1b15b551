//! Faults inside a datanode on an in-process MiniCluster: a replica rotting
//! on disk (found by the block scanner, with no reader involved) and a data
//! dir that fails while the datanode keeps serving the other one.

mod common;

use common::{data, read_file, write_file};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tusk_client::DfsClient;
use tusk_tests::{wait_for, MiniCluster};

const MB: usize = 1 << 20;
const HEAL: Duration = Duration::from_secs(20);

/// Every block of `path` has exactly `n` good locations and exactly `n`
/// replicas on the datanodes' disks; block `not_on.1` none on datanode
/// `not_on.0`.
async fn replicated(
    cluster: &MiniCluster,
    c: &DfsClient,
    path: &str,
    n: usize,
    not_on: Option<(usize, u64)>,
) -> bool {
    let Ok(blocks) = c.block_locations(path).await else {
        return false;
    };
    blocks.iter().all(|b| {
        let holders = cluster.replica_holders(b.block_id);
        let excluded = match not_on {
            Some((i, id)) if id == b.block_id => cluster.datanode_uuid(i).map(|u| (i, u)),
            _ => None,
        };
        b.locations.len() == n
            && holders.len() == n
            && excluded.is_none_or(|(i, u)| {
                !holders.contains(&i) && !b.locations.iter().any(|l| l.uuid == u)
            })
    })
}

/// `GET /metrics` of a datanode, as text.
async fn metrics(addr: SocketAddr) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// The value of a metric line starting with `name` (labels included).
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_block_scanner_finds_a_flipped_byte_without_any_read() -> anyhow::Result<()> {
    // A fast scanner with a short period, so a replica written after a pass
    // began is scanned within a second or two.
    let cluster = MiniCluster::builder()
        .datanodes(4)
        .scanner(64 << 20, Duration::from_millis(500))
        .build()
        .await?;
    let c = cluster.client().await?;
    let bytes = data(MB + MB / 3, 31);
    write_file(&c, "/scan/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/scan/f", 3, None)
    })
    .await?;

    // Heartbeats carry the bytes in replicas (`dfs admin report`'s DFS Used).
    wait_for("DFS used to count the replicas", HEAL, || async {
        let Ok(s) = c.fs_stats().await else {
            return false;
        };
        s.used >= 3 * bytes.len() as u64
    })
    .await?;
    for d in c.datanode_report().await? {
        if d.num_blocks > 0 {
            assert!(
                d.used > 0,
                "{} holds blocks but reports used = 0",
                d.info.uuid
            );
        }
    }

    let b = c.block_locations("/scan/f").await?[1].clone();
    let bad = cluster
        .datanode_index(&b.locations[0].uuid)
        .expect("a datanode index");
    cluster.corrupt_replica(bad, b.block_id)?;

    // No reads from here on until healed: only the scanner can notice.
    wait_for(
        "the corrupt replica replaced elsewhere and deleted from its node",
        HEAL,
        || replicated(&cluster, &c, "/scan/f", 3, Some((bad, b.block_id))),
    )
    .await?;
    let http = cluster.datanode(bad).expect("running").http_addr;
    let m = metrics(http).await?;
    assert!(
        metric(&m, "tusk_datanode_scanner_corrupt_total").unwrap_or(0) >= 1,
        "{m}"
    );
    assert!(metric(&m, "tusk_datanode_scanner_replicas_total").unwrap_or(0) >= 1);
    assert!(metric(&m, "tusk_datanode_scanner_bytes_total").unwrap_or(0) > 0);

    assert!(
        read_file(&c, "/scan/f").await? == bytes,
        "content after healing"
    );
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_data_dir_is_taken_out_and_its_blocks_healed_elsewhere() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(4)
        .volume_check_interval(Duration::from_millis(200))
        .build()
        .await?;
    let c = cluster.client().await?;
    let bytes = data(6 * MB + 123, 32);
    write_file(&c, "/disk/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/disk/f", 3, None)
    })
    .await?;

    // The victim: a datanode with replicas on both of its data dirs.
    let blocks = c.block_locations("/disk/f").await?;
    let on_dir = |i: usize, d: usize| -> Vec<u64> {
        let dir = [cluster.datanode_dirs(i)[d].clone()];
        blocks
            .iter()
            .map(|b| b.block_id)
            .filter(|&id| tusk_datanode::find_replica(&dir, id).is_some())
            .collect()
    };
    let victim = (0..cluster.num_datanodes())
        .find(|&i| !on_dir(i, 0).is_empty() && !on_dir(i, 1).is_empty())
        .expect("a datanode using both data dirs");
    let lost = on_dir(victim, 1);
    let kept = on_dir(victim, 0);
    let uuid = cluster.datanode_uuid(victim).expect("running");
    let capacity_before = c
        .datanode_report()
        .await?
        .into_iter()
        .find(|d| d.info.uuid == uuid)
        .expect("victim in the report")
        .capacity;

    // The disk goes away: its whole tree vanishes from under the datanode.
    let dead = cluster.datanode_dirs(victim)[1].clone();
    std::fs::rename(&dead, dead.with_extension("gone"))?;

    wait_for(
        "the lost blocks back at 3 replicas, the rest untouched",
        HEAL,
        || async {
            let Ok(now) = c.block_locations("/disk/f").await else {
                return false;
            };
            let here = |id: u64| {
                now.iter()
                    .find(|b| b.block_id == id)
                    .is_some_and(|b| b.locations.iter().any(|l| l.uuid == uuid))
            };
            // Lost replicas may come back to the victim's good dir later;
            // the kept ones never leave.
            kept.iter().all(|&id| here(id)) && replicated(&cluster, &c, "/disk/f", 3, None).await
        },
    )
    .await?;
    assert!(!dead.exists(), "nothing recreated the failed dir");
    // Its replicas were all lost with it (they are still in the renamed tree).
    let gone = [dead.with_extension("gone")];
    assert!(lost
        .iter()
        .all(|&id| tusk_datanode::find_replica(&gone, id).is_some()));

    // The node is still live and serving; its failed volume is out of the
    // capacity and flagged in /metrics.
    let dn = cluster.datanode(victim).expect("still running");
    assert!(dn.failure().is_none());
    let me = c
        .datanode_report()
        .await?
        .into_iter()
        .find(|d| d.info.uuid == uuid)
        .expect("victim in the report");
    assert!(me.live);
    assert!(
        me.capacity < capacity_before,
        "capacity {} -> {}",
        capacity_before,
        me.capacity
    );
    let m = metrics(dn.http_addr).await?;
    assert_eq!(
        metric(&m, "tusk_datanode_volume_failures_total"),
        Some(1),
        "{m}"
    );
    let dead_label = format!("tusk_datanode_volume_failed{{dir=\"{}\"}}", dead.display());
    assert_eq!(metric(&m, &dead_label), Some(1), "{m}");

    // New writes still succeed (the failed dir is never chosen), and all
    // the data reads back.
    let more = data(2 * MB + 5, 33);
    write_file(&c, "/disk/g", &more).await?;
    assert!(!dead.exists(), "a write recreated the failed dir");
    assert!(
        read_file(&c, "/disk/f").await? == bytes,
        "content after healing"
    );
    assert!(
        read_file(&c, "/disk/g").await? == more,
        "content written after the failure"
    );

    // The node restarts with the disk still dead (a file where its dir
    // was): it starts with that volume out of service and serves the rest.
    std::fs::write(&dead, b"dead disk")?;
    cluster.restart_datanode(victim).await?;
    wait_for(
        "the restarted datanode live again with its good dir's replicas",
        HEAL,
        || async {
            let Ok(now) = c.block_locations("/disk/f").await else {
                return false;
            };
            kept.iter().all(|&id| {
                now.iter()
                    .find(|b| b.block_id == id)
                    .is_some_and(|b| b.locations.iter().any(|l| l.uuid == uuid))
            })
        },
    )
    .await?;
    let m = metrics(cluster.datanode(victim).expect("running").http_addr).await?;
    assert_eq!(metric(&m, &dead_label), Some(1), "{m}");
    assert!(
        read_file(&c, "/disk/f").await? == bytes,
        "content after the restart"
    );
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_datanode_past_its_failed_volume_tolerance_stops_and_is_healed_around(
) -> anyhow::Result<()> {
    // HDFS's default: no failed volume tolerated.
    let cluster = MiniCluster::builder()
        .datanodes(4)
        .dead_after(Duration::from_secs(2))
        .volume_check_interval(Duration::from_millis(200))
        .failed_volumes_tolerated(0)
        .build()
        .await?;
    let c = cluster.client().await?;
    let bytes = data(3 * MB + 7, 34);
    write_file(&c, "/stop/f", &bytes).await?;
    wait_for("3 replicas", HEAL, || {
        replicated(&cluster, &c, "/stop/f", 3, None)
    })
    .await?;
    let victim = c.block_locations("/stop/f").await?[0].locations[0]
        .uuid
        .clone();
    let victim = cluster.datanode_index(&victim).expect("a datanode index");
    let dead = cluster.datanode_dirs(victim)[1].clone();
    std::fs::remove_dir_all(dead.join("current"))?;

    let dn = cluster.datanode(victim).expect("running");
    wait_for("the datanode to stop itself", HEAL, || async {
        dn.failure().is_some()
    })
    .await?;
    let why = dn.failure().unwrap_or_default();
    assert!(why.contains("1 of 2 volumes failed"), "{why}");
    assert!(why.contains("failed_volumes_tolerated = 0"), "{why}");
    // It no longer serves; the namenode declares it dead and heals around it.
    let uuid = cluster.datanode_uuid(victim).expect("handle kept");
    wait_for("every block at 3 live replicas elsewhere", HEAL, || async {
        let Ok(blocks) = c.block_locations("/stop/f").await else {
            return false;
        };
        blocks
            .iter()
            .all(|b| b.locations.len() == 3 && !b.locations.iter().any(|l| l.uuid == uuid))
    })
    .await?;
    assert!(
        read_file(&c, "/stop/f").await? == bytes,
        "content after healing"
    );
    cluster.shutdown().await
}
