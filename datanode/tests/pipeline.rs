//! In-process pipeline tests: three real datanodes (port 0, temp dirs)
//! against a fake namenode that records what they report, a minimal writer
//! written here, and reads through ReadBlock.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};
use tusk_common::TuskConfig;
use tusk_datanode::{find_replica, DatanodeHandle};
use tusk_proto::data_transfer_client::DataTransferClient;
use tusk_proto::datanode_command::Kind;
use tusk_proto::datanode_protocol_server::{DatanodeProtocol, DatanodeProtocolServer};
use tusk_proto::{self as pb, AckStatus};

// ---------------------------------------------------------------- fake namenode

#[derive(Default)]
struct Fake {
    registered: Mutex<Vec<pb::DatanodeInfo>>,
    /// (uuid, block) per incremental `received` entry.
    received: Mutex<Vec<(String, pb::Block)>>,
    deleted: Mutex<Vec<(String, pb::Block)>>,
    /// Latest full block report per uuid.
    reports: Mutex<HashMap<String, Vec<pb::Block>>>,
    heartbeats: Mutex<HashMap<String, u64>>,
    /// Commands to hand out with the next heartbeat, per uuid.
    commands: Mutex<HashMap<String, Vec<pb::DatanodeCommand>>>,
}

struct FakeNamenode(Arc<Fake>);

#[tonic::async_trait]
impl DatanodeProtocol for FakeNamenode {
    async fn register(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let info = r.into_inner().info.unwrap_or_default();
        let mut reg = self.0.registered.lock();
        reg.retain(|i| i.uuid != info.uuid);
        reg.push(info);
        Ok(Response::new(pb::RegisterResponse {
            rack: "/default-rack".into(),
            heartbeat_interval_ms: 100,
            block_report_interval_ms: 0,
            block_keys: vec![],
        }))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let uuid = r.into_inner().uuid;
        *self.0.heartbeats.lock().entry(uuid.clone()).or_default() += 1;
        if !self.0.registered.lock().iter().any(|i| i.uuid == uuid) {
            // As the real namenode does for a node it does not know.
            return Ok(Response::new(pb::HeartbeatResponse {
                commands: vec![pb::DatanodeCommand {
                    kind: Kind::Reregister as i32,
                    ..Default::default()
                }],
                block_keys: vec![],
            }));
        }
        let commands = self.0.commands.lock().remove(&uuid).unwrap_or_default();
        Ok(Response::new(pb::HeartbeatResponse {
            commands,
            block_keys: vec![],
        }))
    }

    async fn block_report(
        &self,
        r: Request<pb::BlockReportRequest>,
    ) -> Result<Response<pb::BlockReportResponse>, Status> {
        let r = r.into_inner();
        self.0.reports.lock().insert(r.uuid, r.finalized);
        Ok(Response::new(pb::BlockReportResponse::default()))
    }

    async fn block_received_and_deleted(
        &self,
        r: Request<pb::BlockReceivedAndDeletedRequest>,
    ) -> Result<Response<pb::BlockReceivedAndDeletedResponse>, Status> {
        let r = r.into_inner();
        for b in r.received {
            self.0.received.lock().push((r.uuid.clone(), b));
        }
        for b in r.deleted {
            self.0.deleted.lock().push((r.uuid.clone(), b));
        }
        Ok(Response::new(Default::default()))
    }

    async fn report_corrupt(
        &self,
        _r: Request<pb::ReportCorruptRequest>,
    ) -> Result<Response<pb::ReportCorruptResponse>, Status> {
        Ok(Response::new(Default::default()))
    }
}

async fn start_fake_namenode() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let svc = DatanodeProtocolServer::new(FakeNamenode(fake.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(l))
            .await
            .unwrap();
    });
    (fake, addr)
}

// ---------------------------------------------------------------- helpers

/// Datanode logs in test output when RUST_LOG is set (e.g. `tusk_datanode=debug`).
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every datanode of a test gets a copy of one secret (the fake namenode
/// checks no node authentication) and checks no block tokens: the writer
/// and reader here talk to datanodes directly, as only the namenode's
/// tokens would allow (tests/tests/block_tokens.rs covers tokens).
fn config(namenode: &str, dir: &std::path::Path) -> TuskConfig {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut cfg = TuskConfig::default();
    std::fs::create_dir_all(dir).unwrap();
    let secret = dir.join("cluster.secret");
    if !secret.exists() {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret)
            .unwrap();
        writeln!(f, "{}", "5e".repeat(32)).unwrap();
    }
    cfg.security.cluster_secret_file = Some(secret);
    cfg.security.block_access_tokens = false;
    cfg.cluster.heartbeat_interval.0 = Duration::from_millis(100);
    cfg.cluster.block_size.0 = 8 << 20;
    cfg.datanode.namenode = namenode.to_string();
    cfg.datanode.data_addr = "127.0.0.1:0".into();
    cfg.datanode.http_addr = "127.0.0.1:0".into();
    cfg.datanode.data_dirs = vec![dir.join("v1"), dir.join("v2")];
    cfg
}

fn info(dn: &DatanodeHandle) -> pb::DatanodeInfo {
    pb::DatanodeInfo {
        uuid: dn.uuid(),
        host: "127.0.0.1".into(),
        data_addr: dn.data_addr.to_string(),
        http_addr: dn.http_addr.to_string(),
        rack: String::new(),
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn crcs(data: &[u8]) -> Vec<u32> {
    data.chunks(512).map(crc32c::crc32c).collect()
}

/// The minimal writer: sends `data` in 64 KiB packets (then an empty last
/// packet) to `first` with `targets` downstream, and collects the acks.
/// `corrupt` flips a checksum of that seqno.
async fn write_block(
    first: &str,
    block: pb::Block,
    targets: Vec<pb::DatanodeInfo>,
    data: &[u8],
    corrupt: Option<u64>,
) -> Result<Vec<pb::WriteAck>, Status> {
    send_packets(first, make_packets(block, targets, data, corrupt)).await
}

fn make_packets(
    block: pb::Block,
    targets: Vec<pb::DatanodeInfo>,
    data: &[u8],
    corrupt: Option<u64>,
) -> Vec<pb::WritePacket> {
    let mut packets = Vec::new();
    let mut header = Some(pb::WriteHeader {
        block: Some(block),
        targets,
        client_name: "test-writer".into(),
        bytes_per_checksum: 512,
        ..Default::default()
    });
    let mut off = 0;
    for (seqno, chunk) in data.chunks(64 << 10).enumerate() {
        let mut checksums = crcs(chunk);
        if corrupt == Some(seqno as u64) {
            checksums[0] ^= 1;
        }
        packets.push(pb::WritePacket {
            header: header.take(),
            seqno: seqno as u64,
            offset: off as u64,
            data: bytes::Bytes::copy_from_slice(chunk),
            checksums,
            last: false,
            ..Default::default()
        });
        off += chunk.len();
    }
    packets.push(pb::WritePacket {
        header: header.take(),
        seqno: packets.len() as u64,
        offset: off as u64,
        last: true,
        ..Default::default()
    });
    packets
}

async fn send_packets(
    first: &str,
    packets: Vec<pb::WritePacket>,
) -> Result<Vec<pb::WriteAck>, Status> {
    let mut client = DataTransferClient::connect(format!("http://{first}"))
        .await
        .unwrap();
    let mut acks_stream = client
        .write_block(tokio_stream::iter(packets))
        .await?
        .into_inner();
    let mut acks = Vec::new();
    while let Some(a) = acks_stream.message().await? {
        acks.push(a);
    }
    Ok(acks)
}

/// Reads `[offset, offset+length)` through ReadBlock, checking every CRC;
/// returns (first offset, bytes).
async fn read_block(
    addr: &str,
    block: pb::Block,
    offset: u64,
    length: u64,
) -> Result<(u64, Vec<u8>), Status> {
    let mut client = DataTransferClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut s = client
        .read_block(pb::ReadBlockRequest {
            block: Some(block),
            offset,
            length,
            client_name: "test-reader".into(),
            verify_checksum: true,
            access_token: Default::default(),
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    let mut first = None;
    while let Some(m) = s.message().await? {
        let start = *first.get_or_insert(m.offset);
        assert_eq!(m.offset, start + out.len() as u64, "contiguous");
        assert_eq!(m.bytes_per_checksum, 512);
        assert_eq!(m.checksums, crcs(&m.data), "stored CRCs match the data");
        out.extend_from_slice(&m.data);
    }
    Ok((first.unwrap_or(0), out))
}

async fn block_checksum(addr: &str, block: pb::Block) -> Result<pb::BlockChecksumResponse, Status> {
    let mut client = DataTransferClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client
        .block_checksum(pb::BlockChecksumRequest {
            block: Some(block),
            access_token: Default::default(),
        })
        .await
        .map(|r| r.into_inner())
}

fn blk(id: u64, gs: u64) -> pb::Block {
    pb::Block {
        block_id: id,
        genstamp: gs,
        num_bytes: 0,
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

struct Cluster {
    fake: Arc<Fake>,
    nn: String,
    dns: Vec<DatanodeHandle>,
    dirs: Vec<PathBuf>,
    _tmp: tempfile::TempDir,
}

async fn cluster(n: usize) -> Cluster {
    let (fake, nn) = start_fake_namenode().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut dns = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..n {
        let dir = tmp.path().join(format!("dn{i}"));
        dns.push(tusk_datanode::start(config(&nn, &dir)).await.unwrap());
        dirs.push(dir);
    }
    let f = fake.clone();
    wait_for("registration", Duration::from_secs(10), || {
        f.registered.lock().len() == n
    })
    .await;
    Cluster {
        fake,
        nn,
        dns,
        dirs,
        _tmp: tmp,
    }
}

impl Cluster {
    fn data_dirs(&self, i: usize) -> Vec<PathBuf> {
        vec![self.dirs[i].join("v1"), self.dirs[i].join("v2")]
    }

    fn received_by(&self, uuid: &str, id: u64) -> bool {
        self.fake
            .received
            .lock()
            .iter()
            .any(|(u, b)| u == uuid && b.block_id == id)
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_node_pipeline_write_read_and_failures() {
    logs();
    let c = cluster(3).await;
    let data = pattern((1 << 20) + 123, 1);
    let b1 = blk(1, 1001);
    let targets = vec![info(&c.dns[1]), info(&c.dns[2])];

    // Registration carried the advertised addresses; a full report followed.
    {
        let reg = c.fake.registered.lock();
        let r0 = reg.iter().find(|i| i.uuid == c.dns[0].uuid()).unwrap();
        assert_eq!(r0.data_addr, c.dns[0].data_addr.to_string());
        assert_eq!(r0.host, "127.0.0.1");
    }
    let f = c.fake.clone();
    wait_for("full block reports", Duration::from_secs(5), || {
        f.reports.lock().len() == 3
    })
    .await;

    // --- a block through the 3-node pipeline
    let acks = write_block(
        &c.dns[0].data_addr.to_string(),
        b1,
        targets.clone(),
        &data,
        None,
    )
    .await
    .unwrap();
    let n_packets = data.len().div_ceil(64 << 10) + 1;
    assert_eq!(acks.len(), n_packets);
    for (i, a) in acks.iter().enumerate() {
        assert_eq!(a.seqno, i as u64);
        assert_eq!(a.statuses, vec![AckStatus::Success as i32; 3], "{a:?}");
    }
    // The last ack came after finalization on every node.
    for i in 0..3 {
        let f = find_replica(&c.data_dirs(i), 1).expect("replica on every node");
        assert_eq!(f.genstamp, 1001);
        assert_eq!(std::fs::read(&f.data).unwrap(), data, "node {i}");
        let meta = std::fs::read(&f.meta).unwrap();
        let stored: Vec<u32> = meta[64..]
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(stored, crcs(&data), "node {i}");
    }
    for dn in &c.dns {
        let u = dn.uuid();
        wait_for("incremental report", Duration::from_secs(5), || {
            c.received_by(&u, 1)
        })
        .await;
    }

    // --- an empty block: one packet (header + last), three empty replicas
    let acks = write_block(
        &c.dns[0].data_addr.to_string(),
        blk(7, 1),
        targets.clone(),
        b"",
        None,
    )
    .await
    .unwrap();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].statuses, vec![AckStatus::Success as i32; 3]);
    for i in 0..3 {
        let f = find_replica(&c.data_dirs(i), 7).unwrap();
        assert_eq!(std::fs::metadata(&f.data).unwrap().len(), 0);
    }
    let (_, got) = read_block(&c.dns[2].data_addr.to_string(), blk(7, 1), 0, 0)
        .await
        .unwrap();
    assert!(got.is_empty());

    // --- reads
    let (start, got) = read_block(&c.dns[1].data_addr.to_string(), b1, 0, 0)
        .await
        .unwrap();
    assert_eq!((start, got.as_slice()), (0, data.as_slice()));
    let (start, got) = read_block(&c.dns[2].data_addr.to_string(), b1, 1000, 5000)
        .await
        .unwrap();
    assert_eq!(start, 512, "chunk-aligned start");
    assert!(got.len() >= 5000 + 488 && got.len() % 512 == 0);
    assert_eq!(got, data[512..512 + got.len()]);
    let e = read_block(&c.dns[0].data_addr.to_string(), blk(1, 999), 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(
        e.message().contains("blk_1_999 does not exist") && e.message().contains("1001"),
        "{}",
        e.message()
    );
    let e = read_block(&c.dns[0].data_addr.to_string(), blk(404, 1), 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    assert!(e.message().contains("does not exist"), "{}", e.message());

    // --- BlockChecksum and ReplicaInfo. Only the first node hashed the
    // data; the others recorded the digest it sent with the last packet.
    use sha2::Digest;
    for dn in &c.dns {
        let cs = block_checksum(&dn.data_addr.to_string(), b1).await.unwrap();
        assert_eq!(
            cs.sha256.as_ref(),
            sha2::Sha256::digest(&data).as_slice(),
            "{}",
            dn.data_addr
        );
        assert_eq!(cs.num_bytes, data.len() as u64);
        assert_eq!(cs.crcs_per_block, data.len().div_ceil(512) as u64);
        let be: Vec<u8> = crcs(&data).iter().flat_map(|c| c.to_be_bytes()).collect();
        assert_eq!(cs.md5_of_crcs.as_ref(), md5::Md5::digest(&be).as_slice());
    }
    let mut client = DataTransferClient::connect(format!("http://{}", c.dns[2].data_addr))
        .await
        .unwrap();
    let ri = client
        .replica_info(pb::ReplicaInfoRequest {
            block: Some(b1),
            access_token: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ri.exists && ri.finalized && ri.genstamp == 1001 && ri.num_bytes == data.len() as u64);

    // --- a single-packet block (it goes downstream with the header, before
    // any digest exists): every node hashes it itself
    let small = pattern(3000, 9);
    write_block(
        &c.dns[0].data_addr.to_string(),
        blk(8, 1),
        targets.clone(),
        &small,
        None,
    )
    .await
    .unwrap();
    for dn in &c.dns {
        let cs = block_checksum(&dn.data_addr.to_string(), blk(8, 1))
            .await
            .unwrap();
        assert_eq!(cs.sha256.as_ref(), sha2::Sha256::digest(&small).as_slice());
    }

    // --- a header saying the digest comes from upstream: the node records
    // the one in the last packet, and refuses a last packet without one
    // (nothing finalized, the cause named)
    let mut packets = make_packets(blk(9, 1), vec![], &data, None);
    packets[0].header.as_mut().unwrap().sha256_from_upstream = true;
    packets.last_mut().unwrap().sha256 = sha2::Sha256::digest(&data).to_vec().into();
    send_packets(&c.dns[1].data_addr.to_string(), packets)
        .await
        .unwrap();
    let cs = block_checksum(&c.dns[1].data_addr.to_string(), blk(9, 1))
        .await
        .unwrap();
    assert_eq!(cs.sha256.as_ref(), sha2::Sha256::digest(&data).as_slice());
    for digest in [&[][..], &[7u8; 5][..]] {
        let mut packets = make_packets(blk(10, 1), targets[1..].to_vec(), &data, None);
        packets[0].header.as_mut().unwrap().sha256_from_upstream = true;
        packets.last_mut().unwrap().sha256 = digest.to_vec().into();
        let e = send_packets(&c.dns[1].data_addr.to_string(), packets)
            .await
            .unwrap_err();
        assert!(
            e.message().contains("blk_10_1") && e.message().contains("SHA-256"),
            "{e:?}"
        );
        for i in 1..3 {
            assert!(find_replica(&c.data_dirs(i), 10).is_none(), "node {i}");
        }
    }

    // --- a packet with a bad CRC is refused, nothing is finalized
    let acks = write_block(
        &c.dns[0].data_addr.to_string(),
        blk(2, 1),
        targets.clone(),
        &data,
        Some(1),
    )
    .await
    .unwrap();
    let bad = acks.last().unwrap();
    assert_eq!(bad.seqno, 1);
    assert_eq!(bad.statuses[0], AckStatus::ErrorChecksum as i32, "{bad:?}");
    assert!(
        bad.message.contains("blk_2_1") && bad.message.contains("offset 65536"),
        "{}",
        bad.message
    );
    for i in 0..3 {
        assert!(find_replica(&c.data_dirs(i), 2).is_none());
    }

    // --- the same block again: refused with ALREADY_EXISTS
    let e = write_block(&c.dns[0].data_addr.to_string(), b1, vec![], b"x", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains("blk_1_1001"), "{}", e.message());

    // --- an unreachable downstream: ERROR for that index, with the cause
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let mut t = info(&c.dns[1]);
    t.data_addr = dead_addr.clone();
    let acks = write_block(
        &c.dns[0].data_addr.to_string(),
        blk(3, 1),
        vec![t],
        &data,
        None,
    )
    .await
    .unwrap();
    let a = acks.last().unwrap();
    assert_eq!(
        a.statuses,
        vec![AckStatus::Success as i32, AckStatus::Error as i32],
        "{a:?}"
    );
    assert!(a.message.contains(&dead_addr), "{}", a.message);

    // ... and at the end of a 3-node pipeline: the middle node passes it up.
    let mut t2 = info(&c.dns[2]);
    t2.data_addr = dead_addr.clone();
    let acks = write_block(
        &c.dns[0].data_addr.to_string(),
        blk(5, 1),
        vec![info(&c.dns[1]), t2],
        &data,
        None,
    )
    .await
    .unwrap();
    let a = acks.last().unwrap();
    let (s, e) = (AckStatus::Success as i32, AckStatus::Error as i32);
    assert_eq!(a.statuses, vec![s, s, e], "{a:?}");
    assert!(a.message.contains(&dead_addr), "{}", a.message);

    // --- a replica whose files vanished reads as missing and is reported deleted
    write_block(
        &c.dns[1].data_addr.to_string(),
        blk(6, 1),
        vec![],
        b"gone soon",
        None,
    )
    .await
    .unwrap();
    let f6 = find_replica(&c.data_dirs(1), 6).unwrap();
    std::fs::remove_file(&f6.data).unwrap();
    let e = read_block(&c.dns[1].data_addr.to_string(), blk(6, 1), 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let u1 = c.dns[1].uuid();
    let f = c.fake.clone();
    wait_for("vanished replica reported", Duration::from_secs(5), || {
        f.deleted
            .lock()
            .iter()
            .any(|(u, b)| *u == u1 && b.block_id == 6)
    })
    .await;

    // --- REPLICATE and DELETE commands
    let b4 = blk(4, 7);
    let small = pattern(200_000, 4);
    write_block(&c.dns[0].data_addr.to_string(), b4, vec![], &small, None)
        .await
        .unwrap();
    c.fake.commands.lock().insert(
        c.dns[0].uuid(),
        vec![pb::DatanodeCommand {
            kind: Kind::Replicate as i32,
            blocks: vec![b4],
            targets: vec![pb::TargetList {
                targets: vec![info(&c.dns[1]), info(&c.dns[2])],
            }],
        }],
    );
    for i in 1..3 {
        let d = c.data_dirs(i);
        wait_for("replication", Duration::from_secs(10), || {
            find_replica(&d, 4).is_some()
        })
        .await;
        let f = find_replica(&d, 4).unwrap();
        assert_eq!(std::fs::read(f.data).unwrap(), small);
    }
    c.fake.commands.lock().insert(
        c.dns[2].uuid(),
        vec![pb::DatanodeCommand {
            kind: Kind::Delete as i32,
            blocks: vec![b4],
            targets: vec![],
        }],
    );
    let d2 = c.data_dirs(2);
    wait_for("deletion", Duration::from_secs(10), || {
        find_replica(&d2, 4).is_none()
    })
    .await;
    let u2 = c.dns[2].uuid();
    let f = c.fake.clone();
    wait_for("deleted report", Duration::from_secs(5), || {
        f.deleted
            .lock()
            .iter()
            .any(|(u, b)| *u == u2 && b.block_id == 4)
    })
    .await;

    // --- /metrics and /health
    let m = http_get(c.dns[0].http_addr, "/metrics").await;
    assert!(m.contains("tusk_datanode_bytes_written_total"), "{m}");
    assert!(m.contains("tusk_datanode_checksum_errors_total 1"), "{m}");
    assert!(
        m.contains("tusk_datanode_volume_capacity_bytes{dir="),
        "{m}"
    );
    let h = http_get(c.dns[0].http_addr, "/health").await;
    assert!(h.contains("\"status\":\"ok\""), "{h}");

    // --- restart on the same dirs: same identity, replicas reported again
    let mut c = c;
    let dn0 = c.dns.remove(0);
    let uuid = dn0.uuid();
    dn0.shutdown().await.unwrap();
    c.fake.reports.lock().remove(&uuid);
    let dn0 = tusk_datanode::start(config(&c.nn, &c.dirs[0]))
        .await
        .unwrap();
    assert_eq!(dn0.uuid(), uuid);
    let f = c.fake.clone();
    wait_for(
        "block report after restart",
        Duration::from_secs(10),
        || {
            f.reports.lock().get(&uuid).is_some_and(|r| {
                r.iter()
                    .any(|b| b.block_id == 1 && b.num_bytes == data.len() as u64)
            })
        },
    )
    .await;
    let (_, got) = read_block(&dn0.data_addr.to_string(), b1, 0, 0)
        .await
        .unwrap();
    assert_eq!(got, data);
    assert_eq!(
        std::fs::read_to_string(c.dirs[0].join("v1").join("datanode.addr"))
            .unwrap()
            .trim(),
        dn0.data_addr.to_string()
    );
    dn0.shutdown().await.unwrap();
    for dn in c.dns.drain(..) {
        dn.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_before_the_namenode_and_registers_when_it_comes() {
    logs();
    // Reserve a port for the namenode, start the datanode, then the namenode.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nn = l.local_addr().unwrap().to_string();
    drop(l);
    let tmp = tempfile::tempdir().unwrap();
    let dn = tusk_datanode::start(config(&nn, tmp.path())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fake = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind(&nn).await.unwrap();
    let svc = DatanodeProtocolServer::new(FakeNamenode(fake.clone()));
    let (stop_fake, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let f = fake.clone();
    wait_for("late registration", Duration::from_secs(10), || {
        f.registered.lock().len() == 1 && f.reports.lock().len() == 1
    })
    .await;

    // The namenode goes away and comes back (same address, empty state):
    // the datanode notices through failing heartbeats and registers again.
    stop_fake.send(()).unwrap();
    let _ = server.await;
    let fake2 = Arc::new(Fake::default());
    let listener = tokio::net::TcpListener::bind(&nn).await.unwrap();
    let svc = DatanodeProtocolServer::new(FakeNamenode(fake2.clone()));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let f = fake2.clone();
    wait_for(
        "registration with the returning namenode",
        Duration::from_secs(15),
        || f.registered.lock().len() == 1 && f.reports.lock().len() == 1,
    )
    .await;

    // REREGISTER (a namenode that forgot us): register again + full report.
    f.reports.lock().clear();
    f.commands.lock().insert(
        dn.uuid(),
        vec![pb::DatanodeCommand {
            kind: Kind::Reregister as i32,
            ..Default::default()
        }],
    );
    wait_for("re-registration", Duration::from_secs(10), || {
        f.reports.lock().len() == 1
    })
    .await;

    // A client connection left open (idle) does not hold up shutdown, and a
    // restart can bind the same ports at once.
    let mut idle = DataTransferClient::connect(format!("http://{}", dn.data_addr))
        .await
        .unwrap();
    let _ = idle
        .replica_info(pb::ReplicaInfoRequest {
            block: Some(blk(1, 1)),
            access_token: Default::default(),
        })
        .await
        .unwrap();
    let mut cfg = config(&nn, tmp.path());
    cfg.datanode.data_addr = dn.data_addr.to_string();
    cfg.datanode.http_addr = dn.http_addr.to_string();
    let t = Instant::now();
    dn.shutdown().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    let dn = tusk_datanode::start(cfg).await.unwrap();
    dn.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_transfers_that_do_not_finish() {
    logs();
    let c = cluster(1).await;
    // Bigger than the HTTP/2 windows, so that the reader really stalls the server.
    let data = pattern(40 << 20, 3);
    let addr = c.dns[0].data_addr.to_string();
    write_block(&addr, blk(1, 1), vec![], &data, None)
        .await
        .unwrap();
    // A reader that takes one message and then stalls, and a writer that
    // sends a header and then nothing: neither may hold up shutdown for long.
    let mut client = DataTransferClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut stalled = client
        .read_block(pb::ReadBlockRequest {
            block: Some(blk(1, 1)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stalled.message().await.unwrap().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(make_packets(blk(2, 1), vec![], b"abc", None).remove(0))
        .await
        .unwrap();
    let mut writer = client.clone();
    let _pending = tokio::spawn(async move {
        writer
            .write_block(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let mut c = c;
    let t = Instant::now();
    c.dns.remove(0).shutdown().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "shutdown took {:?}",
        t.elapsed()
    );
    // The stalled stream is cut, not served on by a zombie connection task.
    let mut got = 64 << 10;
    let cut = loop {
        match stalled.message().await {
            Ok(Some(m)) => got += m.data.len(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(
        cut && got < data.len(),
        "the stream was cut after {got} bytes"
    );
    drop(tx);
}

/// Throughput of a single-replica write and a read on loopback (a benchmark
/// program, not a timed test): `cargo test -p tusk-datanode --release --test
/// pipeline -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn throughput() {
    let c = cluster(1).await;
    let block_len = 128usize << 20;
    let blocks = 4u64;
    let data = pattern(block_len, 9);
    let addr = c.dns[0].data_addr.to_string();
    // Packets are built before the clock starts: this measures the datanode.
    let packets: Vec<_> = (0..blocks)
        .map(|id| make_packets(blk(100 + id, 1), vec![], &data, None))
        .collect();
    let t = Instant::now();
    for p in packets {
        send_packets(&addr, p).await.unwrap();
    }
    let w = t.elapsed();
    let t = Instant::now();
    for id in 0..blocks {
        let (_, got) = read_block(&addr, blk(100 + id, 1), 0, 0).await.unwrap();
        assert_eq!(got.len(), block_len);
    }
    let r = t.elapsed();
    let mb = (blocks as f64 * block_len as f64) / 1e6;
    println!(
        "1 replica: write {:.0} MB/s, read (with CRC check in the reader) {:.0} MB/s",
        mb / w.as_secs_f64(),
        mb / r.as_secs_f64()
    );
    for dn in c.dns {
        dn.shutdown().await.unwrap();
    }

    let c = cluster(3).await;
    let targets = vec![info(&c.dns[1]), info(&c.dns[2])];
    let packets: Vec<_> = (0..blocks)
        .map(|id| make_packets(blk(200 + id, 1), targets.clone(), &data, None))
        .collect();
    let t = Instant::now();
    for p in packets {
        send_packets(&c.dns[0].data_addr.to_string(), p)
            .await
            .unwrap();
    }
    println!(
        "3 replicas (one process, shared cores): write {:.0} MB/s",
        mb / t.elapsed().as_secs_f64()
    );
}
