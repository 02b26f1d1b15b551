//! The real servers in-process on port 0: RPC round trips with identities and
//! error metadata, HTTP endpoints, restart on the same name dir, and a group
//! commit throughput figure (printed, not asserted).

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tusk_proto as pb;
use tusk_proto::client_protocol_client::ClientProtocolClient;
use tusk_proto::datanode_protocol_client::DatanodeProtocolClient;

fn config(dir: &std::path::Path) -> tusk_common::TuskConfig {
    let mut cfg = tusk_common::TuskConfig::default();
    cfg.namenode.rpc_addr = "127.0.0.1:0".into();
    cfg.namenode.http_addr = "127.0.0.1:0".into();
    cfg.namenode.name_dir = dir.join("name");
    cfg.namenode.state_dir = Some(dir.join("state"));
    cfg.namenode.superuser = Some("root".into());
    cfg.security.cluster_secret_file = Some(dir.join("cluster.secret"));
    cfg.cluster.replication = 1;
    cfg.cluster.block_size = tusk_common::config::Size(1 << 20);
    cfg
}

fn req<T>(user: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        tusk_proto::USER_HEADER,
        MetadataValue::try_from(user).unwrap(),
    );
    r
}

async fn client(addr: std::net::SocketAddr) -> ClientProtocolClient<Channel> {
    ClientProtocolClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn mkdir(path: &str) -> pb::MkdirsRequest {
    pb::MkdirsRequest {
        path: path.into(),
        permission: 0o755,
        create_parent: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_restart_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let nn = tusk_namenode::start(cfg.clone()).await.unwrap();
    let addr_file = std::fs::read_to_string(dir.path().join("state/namenode.addr")).unwrap();
    assert_eq!(addr_file.trim(), nn.rpc_addr.to_string());
    assert!(dir.path().join("state/namenode-http.addr").exists());

    let mut c = client(nn.rpc_addr).await;
    c.mkdirs(req("root", mkdir("/user/alice"))).await.unwrap();
    c.set_owner(req(
        "root",
        pb::SetOwnerRequest {
            path: "/user/alice".into(),
            owner: "alice".into(),
            group: String::new(),
        },
    ))
    .await
    .unwrap();
    // alice writes an empty file in her home.
    let st = c
        .create(req(
            "alice",
            pb::CreateRequest {
                path: "/user/alice/f".into(),
                permission: 0o644,
                client_name: "DFSClient_test".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(st.owner, "alice");
    assert!(st.under_construction);
    let done = c
        .complete(req(
            "alice",
            pb::CompleteRequest {
                path: "/user/alice/f".into(),
                client_name: "DFSClient_test".into(),
                file_id: st.file_id,
                last: None,
                sha256: vec![1, 2, 3].into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(done.completed);

    // Errors: code, message, exception class.
    let e = c
        .get_listing(req(
            "alice",
            pb::GetListingRequest {
                path: "/nope".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("does not exist"), "{}", e.message());
    assert_eq!(
        e.metadata().get(tusk_proto::ERROR_CLASS_HEADER).unwrap(),
        "FileNotFoundException"
    );
    let e = c.mkdirs(req("bob", mkdir("/forbidden"))).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("user=bob, access=WRITE"),
        "{}",
        e.message()
    );
    // No identity = "nobody".
    let e = c.mkdirs(Request::new(mkdir("/anon"))).await.unwrap_err();
    assert!(e.message().contains("user=nobody"), "{}", e.message());
    let e = c.mkdirs(req("root", mkdir("relative"))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c
        .add_block(req(
            "alice",
            pb::AddBlockRequest {
                path: "/user/alice/f".into(),
                client_name: "DFSClient_test".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // A datanode registers and heartbeats (signed with the cluster secret
    // the namenode created); the report shows it.
    let secret =
        tusk_common::security::ClusterSecret::load(&dir.path().join("cluster.secret")).unwrap();
    let signed = |msg| {
        let mut r = Request::new(msg);
        secret.sign_request(&mut r);
        r
    };
    let mut d = DatanodeProtocolClient::connect(format!("http://{}", nn.rpc_addr))
        .await
        .unwrap();
    let registration = pb::RegisterRequest {
        info: Some(pb::DatanodeInfo {
            uuid: "dn-1".into(),
            host: "127.0.0.1".into(),
            data_addr: "127.0.0.1:1".into(),
            http_addr: "127.0.0.1:2".into(),
            rack: String::new(),
        }),
        storages: vec![pb::StorageReport {
            dir: "/d".into(),
            capacity: 1 << 30,
            used: 0,
            remaining: 1 << 30,
            failed: false,
        }],
    };
    // Without node authentication: refused, nothing registered.
    let e = d.register(registration.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("cluster secret"), "{}", e.message());
    let reg = d.register(signed(registration)).await.unwrap().into_inner();
    assert_eq!(reg.rack, "/default-rack");
    assert!(
        !reg.block_keys.is_empty(),
        "block keys come with registration"
    );
    let hb = d
        .heartbeat(Request::new(pb::HeartbeatRequest {
            uuid: "unknown".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(hb.code(), Code::Unauthenticated);
    let mut hb_req = Request::new(pb::HeartbeatRequest {
        uuid: "unknown".into(),
        ..Default::default()
    });
    secret.sign_request(&mut hb_req);
    let hb = d.heartbeat(hb_req).await.unwrap().into_inner();
    assert!(!hb.block_keys.is_empty(), "block keys come with heartbeats");
    assert_eq!(
        hb.commands[0].kind,
        pb::datanode_command::Kind::Reregister as i32
    );
    let report = c
        .datanode_report(req("root", pb::DatanodeReportRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.datanodes.len(), 1);
    assert!(report.datanodes[0].live);
    let stats = c
        .get_fs_stats(req("root", pb::GetFsStatsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!stats.safe_mode);
    assert_eq!((stats.live_datanodes, stats.total_files), (1, 1));

    // HTTP.
    assert!(http_get(nn.http_addr, "/health").await.contains("OK"));
    let m = http_get(nn.http_addr, "/metrics").await;
    assert!(
        m.contains("tusk_namenode_rpc_total{method=\"mkdirs\"}"),
        "{m}"
    );
    assert!(m.contains("tusk_namenode_files 1"), "{m}");
    let page = http_get(nn.http_addr, "/").await;
    assert!(page.contains("Tusk namenode"), "{page}");
    let page = http_get(nn.http_addr, "/datanodes").await;
    assert!(page.contains("127.0.0.1:1"), "{page}");

    drop(c);
    drop(d);
    nn.shutdown().await.unwrap();
    // No handle to the db survived shutdown: sled (which locks its directory)
    // opens it again right away in this process.
    let again = tusk_namenode::store::SledStore::open(&cfg.namenode.name_dir, 1 << 20)
        .expect("the db is closed after shutdown");
    again.close().unwrap();

    // Same name dir, same process: the db was closed, the namespace is back.
    let nn = tusk_namenode::start(cfg.clone()).await.unwrap();
    let mut c = client(nn.rpc_addr).await;
    let st = c
        .get_file_info(req(
            "alice",
            pb::GetFileInfoRequest {
                path: "/user/alice/f".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(st.owner, "alice");
    assert!(!st.under_construction);
    let sum = c
        .get_file_checksum(req(
            "alice",
            pb::GetFileChecksumRequest {
                path: "/user/alice/f".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&sum.sha256[..], &[1, 2, 3]);
    nn.shutdown().await.unwrap();
    // Shutdown with a client still connected (no request in flight).
    let nn = tusk_namenode::start(cfg).await.unwrap();
    let mut c = client(nn.rpc_addr).await;
    c.mkdirs(req("root", mkdir("/again"))).await.unwrap();
    let t = Instant::now();
    nn.shutdown().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "shutdown waited {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_creates() {
    let dir = tempfile::tempdir().unwrap();
    let nn = tusk_namenode::start(config(dir.path())).await.unwrap();
    let mut c = client(nn.rpc_addr).await;
    c.mkdirs(req("root", mkdir("/bench"))).await.unwrap();
    let flushes_before = nn.state().commit.flushes();
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 250;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let addr = nn.rpc_addr;
        tasks.push(tokio::spawn(async move {
            let mut c = client(addr).await;
            for i in 0..PER_CLIENT {
                let path = format!("/bench/c{k}-{i}");
                let name = format!("DFSClient_{k}");
                let st = c
                    .create(req(
                        "root",
                        pb::CreateRequest {
                            path: path.clone(),
                            permission: 0o644,
                            client_name: name.clone(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner()
                    .status
                    .unwrap();
                let done = c
                    .complete(req(
                        "root",
                        pb::CompleteRequest {
                            path,
                            client_name: name,
                            file_id: st.file_id,
                            ..Default::default()
                        },
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                assert!(done.completed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = CLIENTS * PER_CLIENT;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{n} durable create+complete over RPC with {CLIENTS} clients in {secs:.2}s = {:.0}/s ({} build)",
        n as f64 / secs,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    let flushes = nn.state().commit.flushes() - flushes_before;
    assert!(flushes < 2 * n as u64, "group commit shares flushes");
    eprintln!(
        "{flushes} flushes for {} mutations ({:.1} per flush)",
        2 * n,
        2.0 * n as f64 / flushes.max(1) as f64
    );
    let l = c
        .get_listing(req(
            "root",
            pb::GetListingRequest {
                path: "/bench".into(),
                start_after: String::new(),
                limit: 100,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(l.entries.len(), 100);
    assert!(l.remaining > 0);
    drop(c);
    nn.shutdown().await.unwrap();
}

/// Starts the real binary on `dir` and returns it with its RPC address.
async fn spawn_binary(dir: &std::path::Path) -> (tokio::process::Child, std::net::SocketAddr) {
    let state = dir.join("state");
    let _ = std::fs::remove_file(state.join("namenode.addr"));
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_namenode"))
        .arg("--name-dir")
        .arg(dir.join("name"))
        .arg("--state-dir")
        .arg(&state)
        .args(["--rpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        // The secret goes with the test's files, not the working directory.
        .env("TUSK_SECRET_FILE", dir.join("cluster.secret"))
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = std::fs::read_to_string(state.join("namenode.addr")) {
            if let Ok(a) = s.trim().parse() {
                return (child, a);
            }
        }
        assert!(Instant::now() < deadline, "namenode did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// kill -9 during a burst of mkdirs: every acknowledged mkdir is there after restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mkdirs_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_binary(dir.path()).await;
    let acked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for k in 0..4 {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = client(addr).await;
            for i in 0.. {
                let p = format!("/burst/w{k}/d{i}");
                if c.mkdirs(req("root", mkdir(&p))).await.is_err() {
                    break;
                }
                acked.lock().push(p);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().clone();
    assert!(
        acked.len() > 10,
        "only {} mkdirs before the kill",
        acked.len()
    );

    let (_child, addr) = spawn_binary(dir.path()).await;
    let mut c = client(addr).await;
    for p in &acked {
        let st = c
            .get_file_info(req("root", pb::GetFileInfoRequest { path: p.clone() }))
            .await
            .unwrap()
            .into_inner()
            .status;
        assert!(st.is_some(), "acknowledged mkdir {p} lost by kill -9");
    }
}
