//! Short-circuit local reads on an in-process MiniCluster: the datanodes and
//! the client share this host, so reads take the block files handed over the
//! datanodes' domain sockets. Each test checks which path served the bytes
//! with the datanodes' own counters: `shortcircuit_reads_total` rises for a
//! local read, `bytes_read_total` (bytes sent over the network) does not.

mod common;

use common::{data, read_file, write_file};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tusk_client::{ClientConfig, DfsClient};
use tusk_tests::{wait_for, MiniCluster};

/// `GET /metrics` of a datanode, as text.
async fn metrics(addr: SocketAddr) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// (short-circuit grants, bytes sent to readers) summed over the running
/// datanodes.
async fn counters(cluster: &MiniCluster) -> anyhow::Result<(u64, u64)> {
    let (mut sc, mut net) = (0, 0);
    for i in 0..cluster.num_datanodes() {
        if let Some(dn) = cluster.datanode(i) {
            let m = metrics(dn.http_addr).await?;
            sc += metric(&m, "tusk_datanode_shortcircuit_reads_total");
            net += metric(&m, "tusk_datanode_bytes_read_total");
        }
    }
    Ok((sc, net))
}

/// Waits until the datanodes have counted `want` bytes sent over the
/// network (a datanode counts a message's bytes just after queueing it, so
/// the reader may finish first).
async fn network_bytes_reach(cluster: &MiniCluster, want: u64) -> anyhow::Result<()> {
    wait_for(
        &format!("{want} bytes read over the network"),
        Duration::from_secs(10),
        || async move { counters(cluster).await.is_ok_and(|(_, net)| net >= want) },
    )
    .await
}

async fn client(cluster: &MiniCluster, shortcircuit: bool) -> anyhow::Result<DfsClient> {
    let cfg = ClientConfig::default()
        .with_namenode(cluster.nn_addr().to_string())
        .with_user(tusk_common::sys::login_user())
        .with_read_shortcircuit(shortcircuit);
    Ok(DfsClient::connect(cfg).await?)
}

/// File shapes around chunk (512 B) and block (1 MiB) boundaries.
const SHAPES: [(&str, usize); 6] = [
    ("/sc/empty", 0),
    ("/sc/small", 300),
    ("/sc/chunk", 512),
    ("/sc/block", 1 << 20),
    ("/sc/multi", (5 << 20) / 2 + 300),
    ("/sc/tail", (1 << 20) + 1),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_reads_bypass_the_network_and_return_what_was_written() -> anyhow::Result<()> {
    let cluster = MiniCluster::start().await?;
    let c = client(&cluster, true).await?;
    for (i, (path, len)) in SHAPES.iter().enumerate() {
        write_file(&c, path, &data(*len, i as u64)).await?;
    }
    let (sc0, net0) = counters(&cluster).await?;

    for (i, (path, len)) in SHAPES.iter().enumerate() {
        let want = data(*len, i as u64);
        assert!(read_file(&c, path).await? == want, "{path}: whole file");
        assert!(c.read_file(path).await? == want, "{path}: read_file");
        // Positional reads at chunk and block edges, and seeks.
        let r = c.open(path).await?;
        for off in [0, 1, 511, 512, 513, 4096, (1 << 20) - 1, 1 << 20, *len] {
            let off = off.min(*len);
            let mut buf = vec![0u8; 1500];
            let n = r.read_at(off as u64, &mut buf).await?;
            let end = (off + 1500).min(*len);
            assert_eq!(n, end - off, "{path}: read_at({off}) length");
            assert!(buf[..n] == want[off..end], "{path}: read_at({off}) bytes");
        }
        let mut r = c.open(path).await?;
        let from = len / 3;
        r.seek(from as u64);
        assert!(
            r.read_to_end().await? == want[from..],
            "{path}: seek({from})"
        );
    }

    let (sc1, net1) = counters(&cluster).await?;
    // Every non-empty file's blocks were handed over at least once.
    assert!(sc1 >= sc0 + 7, "short-circuit grants {sc0} -> {sc1}");
    assert_eq!(net1, net0, "no byte went over the network");

    // Turned off, the same reads go over the network.
    let off = client(&cluster, false).await?;
    for (i, (path, len)) in SHAPES.iter().enumerate() {
        assert!(
            read_file(&off, path).await? == data(*len, i as u64),
            "{path}"
        );
    }
    let total: usize = SHAPES.iter().map(|s| s.1).sum();
    network_bytes_reach(&cluster, net1 + total as u64).await?;
    let (sc2, _) = counters(&cluster).await?;
    assert_eq!(sc2, sc1, "no grant with short-circuit reads off");
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_replica_found_locally_is_reported_and_skipped() -> anyhow::Result<()> {
    // Replication 2 on 3 nodes, a slow replication monitor so the corrupt
    // replica is still known as such when the test looks, and no block
    // scanner: only the reader can find the corruption.
    let cluster = MiniCluster::builder()
        .replication(2)
        .replication_interval(Duration::from_secs(600))
        .scanner(0, Duration::from_secs(3600))
        .build()
        .await?;
    let c = client(&cluster, true).await?;
    let bytes = data(700_000, 9);
    write_file(&c, "/sc/victim", &bytes).await?;
    let blocks = c.block_locations("/sc/victim").await?;
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    let bad_uuid = b.locations[0].uuid.clone();
    let bad = cluster.datanode_index(&bad_uuid).expect("known datanode");
    cluster.corrupt_replica(bad, b.block_id)?;
    let (_, net0) = counters(&cluster).await?;

    // Readers pick either replica first; every read returns the written
    // bytes, and the first that meets the corrupt one reports it.
    wait_for(
        "the corrupt replica to be reported",
        Duration::from_secs(30),
        || {
            let c = c.clone();
            let bytes = bytes.clone();
            async move {
                let back = read_file(&c, "/sc/victim").await.expect("read succeeds");
                assert!(back == bytes, "read falls back to the good replica");
                c.fs_stats().await.is_ok_and(|s| s.corrupt_blocks >= 1)
            }
        },
    )
    .await?;
    let now = c.block_locations("/sc/victim").await?;
    assert!(
        now[0].locations.iter().all(|l| l.uuid != bad_uuid),
        "the namenode no longer offers the corrupt replica"
    );
    // Found by the client's own CRC check on the files, not on the network.
    let (_, net1) = counters(&cluster).await?;
    assert_eq!(net1, net0, "no byte went over the network");
    cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socket_gone_falls_back_to_the_network_and_a_restart_restores_it() -> anyhow::Result<()> {
    let mut cluster = MiniCluster::builder()
        .datanodes(1)
        .replication(1)
        .build()
        .await?;
    let c = client(&cluster, true).await?;
    let bytes = data((3 << 20) / 2, 4);
    write_file(&c, "/sc/f", &bytes).await?;

    let (sc0, net0) = counters(&cluster).await?;
    assert!(read_file(&c, "/sc/f").await? == bytes);
    let (sc1, net1) = counters(&cluster).await?;
    assert!(
        sc1 >= sc0 + 2 && net1 == net0,
        "local: {sc0}->{sc1}, {net0}->{net1}"
    );

    // A reader that already holds the files keeps reading them across the
    // datanode's restart.
    let mut held = c.open("/sc/f").await?;
    let mut first = vec![0u8; 1000];
    let mut n = 0;
    while n < first.len() {
        n += held.read(&mut first[n..]).await?;
    }
    let (sc1, net1) = counters(&cluster).await?;

    // The socket file disappears while the datanode runs: reads go over the
    // network to the same datanode.
    let socket = cluster.datanode_dirs(0)[0].join("dn_socket");
    std::fs::remove_file(&socket)?;
    assert!(read_file(&c, "/sc/f").await? == bytes);
    network_bytes_reach(&cluster, net1 + bytes.len() as u64).await?;
    let (sc2, _) = counters(&cluster).await?;
    assert_eq!(sc2, sc1, "no grant without a socket");

    // Restarted, the datanode binds and advertises its socket again.
    cluster.restart_datanode(0).await?;
    cluster.wait_active().await?;
    let rest = held.read_to_end().await?;
    assert!(
        first.iter().chain(rest.iter()).eq(bytes.iter()),
        "held reader"
    );
    wait_for("reads to go local again", Duration::from_secs(30), || {
        let c = c.clone();
        let cluster = &cluster;
        let bytes = bytes.clone();
        async move {
            let (sc_before, _) = counters(cluster).await.expect("metrics");
            let back = read_file(&c, "/sc/f").await.expect("read succeeds");
            assert!(back == bytes);
            let (sc_after, _) = counters(cluster).await.expect("metrics");
            sc_after > sc_before
        }
    })
    .await?;
    cluster.shutdown().await
}
