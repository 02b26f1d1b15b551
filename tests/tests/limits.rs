//! The `[limits]` that keep a daemon alive under abuse, on a real namenode
//! (RPC and HTTP servers bound on port 0) configured with small limits:
//! an oversized RPC message is refused and the server keeps serving; a
//! connection that sends half an HTTP header, or nothing at all on the RPC
//! port, is closed after the time-out; a directory at its item limit
//! refuses one more entry with `MaxDirectoryItemsExceededException`; too
//! deep and too long paths are refused.
//!
//! Also, on namenodes and datanodes of their own: a datanode at its
//! `[datanode] max_transfers` refuses one more ReadBlock/WriteBlock with
//! RESOURCE_EXHAUSTED and clients read from other replicas and write
//! around it; a server with `[limits] rpc_max_pending` calls in flight
//! sheds the next one ("server busy") without running it, and the client
//! library backs off and retries until it gets through.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Channel;
use tonic::Code;
use tusk_common::config::{Dur, Size};
use tusk_common::TuskConfig;
use tusk_namenode::NamenodeHandle;
use tusk_proto as pb;
use tusk_proto::client_protocol_client::ClientProtocolClient;

const MAX_MESSAGE: u64 = 64 << 10;
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);

async fn namenode(dir: &tempfile::TempDir) -> Result<NamenodeHandle> {
    let mut cfg = TuskConfig::default();
    cfg.namenode.rpc_addr = "127.0.0.1:0".into();
    cfg.namenode.http_addr = "127.0.0.1:0".into();
    cfg.namenode.name_dir = dir.path().join("name");
    cfg.namenode.safemode_threshold = 0.0;
    cfg.namenode.max_directory_items = 3;
    cfg.security.cluster_secret_file = Some(dir.path().join("cluster.secret"));
    cfg.limits.max_rpc_message_size = Size(MAX_MESSAGE);
    cfg.limits.http_header_read_timeout = Dur(HEADER_TIMEOUT);
    cfg.limits.rpc_handshake_timeout = Dur(HEADER_TIMEOUT);
    tusk_namenode::start(cfg).await
}

async fn client(addr: SocketAddr) -> Result<ClientProtocolClient<Channel>> {
    Ok(ClientProtocolClient::connect(format!("http://{addr}")).await?)
}

fn as_root<T>(msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert(tusk_proto::USER_HEADER, "root".parse().unwrap());
    r
}

async fn mkdir(c: &mut ClientProtocolClient<Channel>, path: &str) -> Result<(), tonic::Status> {
    c.mkdirs(as_root(pb::MkdirsRequest {
        path: path.into(),
        permission: 0o755,
        create_parent: true,
    }))
    .await
    .map(|_| ())
}

/// Reads until EOF or error; how long that took, or None if the server
/// still held the connection open after `limit`.
async fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn oversized_rpc_message_is_refused_and_the_namenode_keeps_serving() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nn = namenode(&dir).await?;
    let mut c = client(nn.rpc_addr).await?;
    mkdir(&mut c, "/ok").await?;

    let huge = format!("/{}", "x".repeat(2 * MAX_MESSAGE as usize));
    let err = c
        .get_file_info(as_root(pb::GetFileInfoRequest { path: huge }))
        .await
        .expect_err("a message over the limit must be refused");
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );

    // The same channel and a new one still work.
    let st = c
        .get_file_info(as_root(pb::GetFileInfoRequest { path: "/ok".into() }))
        .await?
        .into_inner();
    assert!(st.status.is_some());
    let mut c2 = client(nn.rpc_addr).await?;
    mkdir(&mut c2, "/ok2").await?;
    nn.shutdown().await
}

#[tokio::test]
async fn a_partial_http_header_is_cut_after_the_time_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nn = namenode(&dir).await?;

    let mut slow = TcpStream::connect(nn.http_addr).await?;
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await?;
    let closed = time_to_close(&mut slow, Duration::from_secs(20))
        .await
        .context("the server kept a half-sent header open for 20 s")?;
    assert!(closed >= HEADER_TIMEOUT / 2, "closed too early: {closed:?}");

    // A whole request on a new connection is answered.
    let mut ok = TcpStream::connect(nn.http_addr).await?;
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    ok.read_to_string(&mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    nn.shutdown().await
}

#[tokio::test]
async fn a_silent_rpc_connection_is_cut_after_the_time_out() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nn = namenode(&dir).await?;
    let mut silent = TcpStream::connect(nn.rpc_addr).await?;
    time_to_close(&mut silent, Duration::from_secs(20))
        .await
        .context("the server kept a silent RPC connection open for 20 s")?;
    let mut c = client(nn.rpc_addr).await?;
    mkdir(&mut c, "/still-serving").await?;
    nn.shutdown().await
}

#[tokio::test]
async fn a_full_directory_refuses_one_more_entry() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nn = namenode(&dir).await?;
    let mut c = client(nn.rpc_addr).await?;
    mkdir(&mut c, "/full").await?;
    for i in 0..3 {
        mkdir(&mut c, &format!("/full/d{i}")).await?;
    }
    let err = mkdir(&mut c, "/full/one-too-many")
        .await
        .expect_err("the fourth entry must be refused");
    let class = err
        .metadata()
        .get(tusk_proto::ERROR_CLASS_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(class, "MaxDirectoryItemsExceededException", "{err:?}");
    assert!(err.message().contains("/full"), "{err:?}");
    nn.shutdown().await
}

#[tokio::test]
async fn too_deep_and_too_long_paths_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let nn = namenode(&dir).await?;
    let mut c = client(nn.rpc_addr).await?;

    let deep = "/d".repeat(tusk_common::path::MAX_DEPTH + 1);
    let err = mkdir(&mut c, &deep).await.expect_err("too deep");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("too deep"), "{}", err.message());

    let component = format!("/{}", "x".repeat(199));
    let long = component.repeat(tusk_common::path::MAX_PATH_LEN / 200 + 1);
    let err = mkdir(&mut c, &long).await.expect_err("too long");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("exceeds the limit"),
        "{}",
        err.message()
    );

    // At the limits exactly: accepted.
    mkdir(&mut c, &"/d".repeat(tusk_common::path::MAX_DEPTH)).await?;
    nn.shutdown().await
}

// ------------------------------------------------ transfers and shedding

/// A namenode and `datanodes` datanodes in this process, each daemon's
/// config adjusted by `nn` / `dn`, sharing a secret in `dir`.
struct Cluster {
    nn: NamenodeHandle,
    dns: Vec<tusk_datanode::DatanodeHandle>,
}

impl Cluster {
    async fn start(
        dir: &tempfile::TempDir,
        datanodes: usize,
        nn: impl Fn(&mut TuskConfig),
        dn: impl Fn(&mut TuskConfig),
    ) -> Result<Cluster> {
        let mut base = TuskConfig::default();
        base.security.cluster_secret_file = Some(dir.path().join("cluster.secret"));
        base.cluster.heartbeat_interval = Dur(Duration::from_millis(300));
        // A datanode wants a block's worth of free space per replica.
        base.cluster.block_size = Size(1 << 20);
        base.namenode.safemode_threshold = 0.0;
        let mut cfg = base.clone();
        cfg.namenode.rpc_addr = "127.0.0.1:0".into();
        cfg.namenode.http_addr = "127.0.0.1:0".into();
        cfg.namenode.name_dir = dir.path().join("name");
        nn(&mut cfg);
        let nn = tusk_namenode::start(cfg).await?;
        let mut dns = Vec::new();
        for i in 0..datanodes {
            let mut cfg = base.clone();
            cfg.datanode.namenode = nn.rpc_addr.to_string();
            cfg.datanode.data_addr = "127.0.0.1:0".into();
            cfg.datanode.http_addr = "127.0.0.1:0".into();
            cfg.datanode.host = Some("127.0.0.1".into());
            cfg.datanode.data_dirs = vec![dir.path().join(format!("dn{i}"))];
            dn(&mut cfg);
            dns.push(tusk_datanode::start(cfg).await?);
        }
        let c = Cluster { nn, dns };
        if datanodes > 0 {
            let client = c.client().await?;
            tusk_tests::wait_for("the datanodes to register", Duration::from_secs(20), || {
                let client = client.clone();
                async move {
                    client
                        .datanode_report()
                        .await
                        .is_ok_and(|r| r.len() >= datanodes)
                }
            })
            .await?;
        }
        Ok(c)
    }

    async fn client(&self) -> Result<tusk_client::DfsClient> {
        let cfg = tusk_client::ClientConfig::default()
            .with_namenode(self.nn.rpc_addr.to_string())
            .with_user("root")
            .with_read_shortcircuit(false);
        Ok(tusk_client::DfsClient::connect(cfg).await?)
    }

    async fn client_with_retry(&self, retry: Duration) -> Result<tusk_client::DfsClient> {
        let cfg = tusk_client::ClientConfig::default()
            .with_namenode(self.nn.rpc_addr.to_string())
            .with_user("root")
            .with_read_shortcircuit(false)
            .with_retry_timeout(retry);
        Ok(tusk_client::DfsClient::connect(cfg).await?)
    }

    async fn shutdown(self) -> Result<()> {
        for d in self.dns {
            d.shutdown().await?;
        }
        self.nn.shutdown().await
    }
}

type DnClient = tusk_proto::data_transfer_client::DataTransferClient<Channel>;

/// A WriteBlock stream that never sends a packet: it holds a transfer slot
/// (and a call slot) on its datanode until dropped.
struct Hold {
    _tx: tokio::sync::mpsc::Sender<pb::WritePacket>,
    _acks: tonic::Streaming<pb::WriteAck>,
}

async fn dn_client(addr: SocketAddr) -> Result<DnClient> {
    Ok(DnClient::connect(format!("http://{addr}")).await?)
}

async fn hold(c: &mut DnClient) -> Result<Hold, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let acks = c.write_block(tokio_stream_from(rx)).await?.into_inner();
    Ok(Hold {
        _tx: tx,
        _acks: acks,
    })
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<pb::WritePacket>,
) -> impl futures::Stream<Item = pb::WritePacket> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

const MAX_TRANSFERS: u32 = 2;

/// `method` calls the cluster's datanodes refused with RESOURCE_EXHAUSTED,
/// from their `/metrics`.
async fn refused(cluster: &Cluster, method: &str) -> Result<u64> {
    let mut total = 0;
    for dn in &cluster.dns {
        let mut s = TcpStream::connect(dn.http_addr).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut page = String::new();
        s.read_to_string(&mut page).await?;
        let method = format!("method=\"{method}\"");
        total += page
            .lines()
            .filter(|l| {
                l.contains("_rpc_requests_total{")
                    && l.contains(&method)
                    && l.contains("code=\"RESOURCE_EXHAUSTED\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

#[tokio::test]
async fn a_datanode_at_max_transfers_refuses_more_and_clients_go_around_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start(
        &dir,
        3,
        |_| {},
        |c| c.datanode.max_transfers = MAX_TRANSFERS,
    )
    .await?;
    let client = cluster.client().await?;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    tusk_tests::put(&client, "/busy/before", &data).await?;

    // Fill every slot of every datanode with silent WriteBlock streams.
    let mut holds: Vec<Vec<Hold>> = Vec::new();
    for dn in &cluster.dns {
        let mut c = dn_client(dn.data_addr).await?;
        let mut h = Vec::new();
        for _ in 0..MAX_TRANSFERS {
            h.push(hold(&mut c).await?);
        }
        // One more is refused at once, naming the node (ReadBlock: below).
        let err = hold(&mut c)
            .await
            .err()
            .expect("a third WriteBlock must be refused");
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let want = format!("too many concurrent transfers ({MAX_TRANSFERS})");
        assert!(err.message().contains(&want), "{}", err.message());
        assert!(
            err.message().contains(&dn.data_addr.port().to_string()),
            "{}",
            err.message()
        );
        holds.push(h);
    }

    // Every replica refuses: after the client's retry time-out, the read
    // fails, naming the cause per node.
    let impatient = cluster
        .client_with_retry(Duration::from_millis(300))
        .await?;
    let err = impatient
        .read_file("/busy/before")
        .await
        .expect_err("no datanode may serve the block");
    assert!(
        matches!(err, tusk_client::DfsError::BlockUnreadable { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("too many concurrent transfers"),
        "{err}"
    );

    // A reader and a writer with time to wait back off while every
    // datanode is busy, and get through once one is free again.
    let (reads0, writes0) = (
        refused(&cluster, "ReadBlock").await?,
        refused(&cluster, "WriteBlock").await?,
    );
    let reader = {
        let c = client.clone();
        tokio::spawn(async move { c.read_file("/busy/before").await })
    };
    let writer = {
        let (c, data) = (client.clone(), data.clone());
        tokio::spawn(async move { tusk_tests::put(&c, "/busy/waited", &data).await })
    };
    // Refused by every replica, before and after fetching the locations
    // again; and by three pipelines: both are backing off now.
    tusk_tests::wait_for(
        "the reader and writer to be refused",
        Duration::from_secs(20),
        || {
            let c = &cluster;
            async move {
                refused(c, "ReadBlock").await.unwrap_or(0) >= reads0 + 6
                    && refused(c, "WriteBlock").await.unwrap_or(0) >= writes0 + 3
            }
        },
    )
    .await?;
    assert!(!reader.is_finished() && !writer.is_finished());
    holds.truncate(2);
    assert_eq!(reader.await??, data);
    writer.await??;
    assert_eq!(client.read_file("/busy/waited").await?, data);

    // Two datanodes free again: reads go to them, writes exclude the busy one.
    holds.truncate(1);
    for _ in 0..5 {
        assert_eq!(client.read_file("/busy/before").await?, data);
    }
    tusk_tests::put(&client, "/busy/during", &data).await?;
    assert_eq!(client.read_file("/busy/during").await?, data);
    let busy = cluster.dns[0].uuid();
    for b in client.block_locations("/busy/during").await? {
        assert!(
            b.locations.iter().all(|l| l.uuid != busy),
            "the busy datanode got a replica: {b:?}"
        );
        assert!(!b.locations.is_empty());
    }

    // Its slots free, the first datanode serves again.
    drop(holds);
    let mut c = dn_client(cluster.dns[0].data_addr).await?;
    let h = hold(&mut c).await?;
    drop(h);
    cluster.shutdown().await
}

#[tokio::test]
async fn a_datanode_sheds_calls_beyond_rpc_max_pending() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start(
        &dir,
        1,
        |_| {},
        |c| {
            c.limits.rpc_max_pending = 2;
            c.datanode.max_transfers = 100;
        },
    )
    .await?;
    let addr = cluster.dns[0].data_addr;
    let mut c = dn_client(addr).await?;
    let h1 = hold(&mut c).await?;
    let _h2 = hold(&mut dn_client(addr).await?).await?;
    let info = |c: &mut DnClient| {
        let mut c = c.clone();
        async move {
            c.replica_info(pb::ReplicaInfoRequest {
                block: Some(pb::Block {
                    block_id: 1,
                    genstamp: 1,
                    num_bytes: 0,
                }),
                ..Default::default()
            })
            .await
        }
    };
    let err = info(&mut c).await.expect_err("a third call must be shed");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().starts_with("server busy"),
        "{}",
        err.message()
    );

    // A stream that ends gives its slot back.
    drop(h1);
    tusk_tests::wait_for("a call slot to free", Duration::from_secs(10), || {
        let f = info(&mut c);
        // Answered (a missing-token refusal counts): not shed.
        async move { !matches!(f.await, Err(s) if s.code() == Code::ResourceExhausted) }
    })
    .await?;
    cluster.shutdown().await
}

#[tokio::test]
async fn a_busy_namenode_sheds_calls_it_never_runs_and_clients_retry() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start(&dir, 0, |c| c.limits.rpc_max_pending = 1, |_| {}).await?;
    const CLIENTS: usize = 16;
    let mut raw = Vec::new();
    for _ in 0..CLIENTS {
        raw.push(client(cluster.nn.rpc_addr).await?);
    }
    // Raw clients (no retry) at once until some calls are shed.
    let mut shed: Vec<String> = Vec::new();
    let mut ran: Vec<String> = Vec::new();
    for round in 0..200 {
        let calls = raw.iter().enumerate().map(|(i, c)| {
            let mut c = c.clone();
            let path = format!("/shed/r{round}-c{i}");
            async move {
                let res = mkdir(&mut c, &path).await;
                (path, res)
            }
        });
        for (path, res) in futures::future::join_all(calls).await {
            match res {
                Ok(()) => ran.push(path),
                Err(s) => {
                    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                    assert!(s.message().starts_with("server busy"), "{}", s.message());
                    shed.push(path);
                }
            }
        }
        if !shed.is_empty() {
            break;
        }
    }
    assert!(
        !shed.is_empty(),
        "16 concurrent calls never exceeded a limit of 1"
    );
    // A shed call never ran; the others did.
    let dfs = cluster.client().await?;
    for p in &shed {
        assert!(!dfs.exists(p).await?, "{p} was shed but created");
    }
    for p in &ran {
        assert!(dfs.exists(p).await?, "{p} was acknowledged but is missing");
    }

    // The library retries busy answers with backoff: every call succeeds.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(cluster.client().await?);
    }
    let calls = clients.iter().enumerate().map(|(i, c)| {
        let c = c.clone();
        async move {
            for j in 0..10 {
                c.mkdirs(&format!("/retry/c{i}/d{j}"), 0o755, true).await?;
            }
            anyhow::Ok(())
        }
    });
    for r in futures::future::join_all(calls).await {
        r?;
    }
    for i in 0..CLIENTS {
        assert_eq!(
            tusk_tests::names(&dfs, &format!("/retry/c{i}"))
                .await?
                .len(),
            10
        );
    }
    cluster.shutdown().await
}
