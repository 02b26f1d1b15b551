//! Block access tokens and the cluster secret on a real cluster (in-process
//! MiniCluster, plus the `datanode` binary for start-up and log checks).
//!
//! - A datanode reached directly refuses ReadBlock, BlockChecksum,
//!   ReplicaInfo and WriteBlock without a valid token (none, a flipped MAC
//!   byte, raised modes, another block's token, a token signed by a key the
//!   namenode never made, an expired one), and RecoverReplica without node
//!   authentication; a valid token works.
//! - A user who may not read a file gets no locations, and guessing the
//!   block id does not help.
//! - A reader that outlives its tokens re-fetches them and finishes.
//! - Keys survive a namenode restart; a rotated key is handed over before
//!   it signs.
//! - A datanode without the cluster secret cannot register; raw
//!   DatanodeProtocol calls without node authentication are refused.

mod common;

use common::{data, read_file, write_file};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codegen::Bytes;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tusk_client::{ClientConfig, DfsClient, LocatedBlock};
use tusk_common::security::{BlockKeyManager, BlockTokenIdentifier, ClusterSecret, ACCESS_READ};
use tusk_common::TuskConfig;
use tusk_proto as pb;
use tusk_proto::data_transfer_client::DataTransferClient;
use tusk_proto::datanode_protocol_client::DatanodeProtocolClient;
use tusk_tests::{wait_for, MiniCluster};

async fn dn(addr: &str) -> DataTransferClient<Channel> {
    DataTransferClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the datanode")
}

fn pb_block(b: &LocatedBlock) -> pb::Block {
    pb::Block {
        block_id: b.block_id,
        genstamp: b.genstamp,
        num_bytes: b.num_bytes,
    }
}

/// ReadBlock of the whole replica, straight from a datanode.
async fn read_direct(addr: &str, b: &LocatedBlock, token: Bytes) -> Result<Vec<u8>, Status> {
    let mut s = dn(addr)
        .await
        .read_block(pb::ReadBlockRequest {
            block: Some(pb_block(b)),
            offset: 0,
            length: 0,
            client_name: "block-tokens-test".into(),
            verify_checksum: false,
            access_token: token,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = s.message().await? {
        out.extend_from_slice(&m.data);
    }
    Ok(out)
}

async fn checksum_direct(
    addr: &str,
    b: &LocatedBlock,
    token: Bytes,
) -> Result<pb::BlockChecksumResponse, Status> {
    dn(addr)
        .await
        .block_checksum(pb::BlockChecksumRequest {
            block: Some(pb_block(b)),
            access_token: token,
        })
        .await
        .map(|r| r.into_inner())
}

async fn replica_info_direct(
    addr: &str,
    b: &LocatedBlock,
    token: Bytes,
) -> Result<pb::ReplicaInfoResponse, Status> {
    dn(addr)
        .await
        .replica_info(pb::ReplicaInfoRequest {
            block: Some(pb_block(b)),
            access_token: token,
        })
        .await
        .map(|r| r.into_inner())
}

/// A WriteBlock of `block` (one packet with the header); the first answer.
async fn write_direct(addr: &str, block: pb::Block, token: Bytes) -> Result<pb::WriteAck, Status> {
    let payload = b"intruder".to_vec();
    let crcs = tusk_client::packet::chunk_checksums(&payload, 512);
    let packet = pb::WritePacket {
        header: Some(pb::WriteHeader {
            block: Some(block),
            targets: vec![],
            client_name: "block-tokens-test".into(),
            bytes_per_checksum: 512,
            access_token: token,
            ..Default::default()
        }),
        seqno: 0,
        offset: 0,
        data: payload.into(),
        checksums: crcs,
        last: true,
        ..Default::default()
    };
    let mut acks = dn(addr)
        .await
        .write_block(futures::stream::iter(vec![packet]))
        .await?
        .into_inner();
    acks.message()
        .await?
        .ok_or_else(|| Status::internal("no ack"))
}

/// The call was refused for its block token, with `cause` in the message.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(r: Result<T, Status>, what: &str, cause: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.code(), Code::PermissionDenied, "{what}: {e:?}");
    assert!(
        e.message().starts_with("InvalidBlockTokenException: blk_"),
        "{what}: {}",
        e.message()
    );
    assert!(e.message().contains(cause), "{what}: {}", e.message());
}

/// The token's identifier (expiry, user, modes).
fn ident(token: &[u8]) -> BlockTokenIdentifier {
    BlockTokenIdentifier::decode(token).expect("a token").0
}

/// Calls answered by the namenode for `method` with `code` (e.g. "OK").
fn nn_calls(c: &MiniCluster, method: &str, code: &str) -> u64 {
    c.namenode()
        .expect("namenode running")
        .state()
        .metrics
        .rpc
        .snapshot()
        .iter()
        .filter(|m| m.method == method)
        .flat_map(|m| m.codes.iter())
        .filter(|(c, _)| *c == code)
        .map(|(_, n)| n)
        .sum()
}

/// A client that reads over the network only (no short-circuit reads).
async fn network_client(c: &MiniCluster, user: &str) -> anyhow::Result<DfsClient> {
    let cfg = ClientConfig::default()
        .with_namenode(c.nn_addr().to_string())
        .with_user(user)
        .with_read_shortcircuit(false);
    Ok(DfsClient::connect(cfg).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanodes_refuse_missing_forged_and_foreign_tokens() -> anyhow::Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let content = data(300_000, 1);
    write_file(&client, "/t/a", &content).await?;
    write_file(&client, "/t/b", &data(1000, 2)).await?;
    let a = client.block_locations("/t/a").await?.remove(0);
    let b = client.block_locations("/t/b").await?.remove(0);
    let addr = a.locations[0].data_addr.clone();
    let token = a.access_token.clone();
    let id = ident(&token);
    assert_eq!(id.block_id, a.block_id);
    assert_eq!(id.modes, ACCESS_READ, "GetBlockLocations gives READ only");
    assert_eq!(id.user, client.user());

    // A valid token reads the replica, its checksum and its state.
    assert_eq!(read_direct(&addr, &a, token.clone()).await?, content);
    assert_eq!(
        checksum_direct(&addr, &a, token.clone()).await?.num_bytes,
        content.len() as u64
    );
    assert!(
        replica_info_direct(&addr, &a, token.clone())
            .await?
            .finalized
    );

    let mut flipped = token.to_vec();
    *flipped.last_mut().unwrap() ^= 1;
    let mut raised = token.to_vec();
    raised[24] |= 2; // the low byte of the modes: READ -> READ|WRITE
    let random_key = BlockKeyManager::new(
        vec![],
        Duration::from_secs(600),
        Duration::from_secs(600),
    )
    .issue(a.block_id, ACCESS_READ, client.user());
    let forged: [(&str, Bytes, &str); 5] = [
        ("no token", Bytes::new(), "no token"),
        (
            "flipped MAC byte",
            flipped.clone().into(),
            "does not verify",
        ),
        ("raised modes", raised.clone().into(), "does not verify"),
        (
            "another block's token",
            b.access_token.clone(),
            "is for block",
        ),
        (
            "a key the namenode never made",
            random_key.into(),
            "unknown key",
        ),
    ];
    for (what, t, cause) in &forged {
        assert_refused(read_direct(&addr, &a, t.clone()).await, what, cause);
        assert_refused(checksum_direct(&addr, &a, t.clone()).await, what, cause);
        assert_refused(replica_info_direct(&addr, &a, t.clone()).await, what, cause);
    }

    // Writes: no token, the READ token, the READ token with raised modes.
    let new_block = pb::Block {
        block_id: a.block_id + 1_000_000,
        genstamp: a.genstamp,
        num_bytes: 0,
    };
    for (what, t, cause) in [
        ("no token", Bytes::new(), "no token"),
        ("a READ token", token.clone(), "is for block"),
        (
            "raised modes",
            Bytes::from(raised.clone()),
            "does not verify",
        ),
    ] {
        assert_refused(write_direct(&addr, new_block, t).await, what, cause);
    }
    // A READ token of the very block does not grant WRITE (an existing
    // replica would be refused anyway: the token is checked first).
    assert_refused(
        write_direct(&addr, pb_block(&a), token.clone()).await,
        "READ token for WRITE",
        "does not grant write",
    );
    assert!(
        c.replica_holders(new_block.block_id).is_empty(),
        "no refused write left a replica"
    );

    // RecoverReplica (truncates replicas) needs node authentication; a
    // block token is no substitute.
    let mut d = dn(&addr).await;
    let e = d
        .recover_replica(pb::RecoverReplicaRequest {
            phase: pb::recover_replica_request::Phase::Finalize as i32,
            block_id: a.block_id,
            new_genstamp: a.genstamp + 1,
            length: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let other = ClusterSecret::generate();
    let mut req = Request::new(pb::RecoverReplicaRequest {
        phase: pb::recover_replica_request::Phase::Init as i32,
        block_id: a.block_id,
        new_genstamp: a.genstamp + 1,
        length: 0,
    });
    other.sign_request(&mut req);
    assert_eq!(
        d.recover_replica(req).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Nothing was cut: the replica still reads in full, and so does the file.
    assert_eq!(read_direct(&addr, &a, token.clone()).await?, content);
    assert_eq!(read_file(&client, "/t/a").await?, content);

    // The cluster's own work goes on: a write pipeline of three, a
    // re-replication (datanode-to-datanode copies with node authentication).
    client.set_replication("/t/b", 3).await?;
    write_file(&client, "/t/c", &data(2_500_000, 3)).await?;
    let stats = client.fs_stats().await?;
    assert_eq!(stats.corrupt_blocks, 0);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_read_cannot_guess_blocks() -> anyhow::Result<()> {
    let c = MiniCluster::start().await?;
    let root = c.client().await?;
    root.mkdirs("/private", 0o700, true).await?;
    let secret = data(5000, 7);
    write_file(&root, "/private/f", &secret).await?;
    root.mkdirs("/user/mallory", 0o755, true).await?;
    root.set_owner("/user/mallory", "mallory", "").await?;
    let victim = root.block_locations("/private/f").await?.remove(0);

    let mallory = c.client_as("mallory").await?;
    let e = mallory.block_locations("/private/f").await.unwrap_err();
    assert!(
        e.to_string().contains("ermission denied"),
        "mallory gets no locations: {e}"
    );
    assert!(read_file(&mallory, "/private/f").await.is_err());
    // With a file of her own she holds a valid token, for her block only.
    write_file(&mallory, "/user/mallory/m", b"mine").await?;
    let own = mallory.block_locations("/user/mallory/m").await?.remove(0);
    assert_eq!(ident(&own.access_token).user, "mallory");
    for dn in &victim.locations {
        assert_refused(
            read_direct(&dn.data_addr, &victim, Bytes::new()).await,
            "guessed block, no token",
            "no token",
        );
        assert_refused(
            read_direct(&dn.data_addr, &victim, own.access_token.clone()).await,
            "guessed block, her own block's token",
            "is for block",
        );
        assert_refused(
            checksum_direct(&dn.data_addr, &victim, own.access_token.clone()).await,
            "checksum of a guessed block",
            "is for block",
        );
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused_and_readers_fetch_new_ones() -> anyhow::Result<()> {
    let lifetime = Duration::from_secs(2);
    let c = MiniCluster::builder()
        .block_token_lifetime(lifetime)
        .build()
        .await?;
    let writer = c.client().await?;
    // Three blocks (1 MiB each) and a tail.
    let content = data(3 * (1 << 20) + 12_345, 11);
    write_file(&writer, "/e/f", &content).await?;
    let net = network_client(&c, &tusk_common::sys::login_user()).await?;
    let local = c.client().await?; // short-circuit reads (same host)

    for (name, client) in [("network", &net), ("short-circuit", &local)] {
        let first = client.block_locations("/e/f").await?.remove(0);
        let mut reader = client.open("/e/f").await?;
        let mut head = vec![0u8; 1000];
        let n = reader.read(&mut head).await?;
        assert!(n > 0);
        let expires = ident(&first.access_token).expires_ms;
        wait_for(
            "the reader's tokens to expire",
            lifetime * 5,
            || async move { tusk_common::security::now_ms() > expires + 50 },
        )
        .await?;
        // Refused when used directly...
        let addr = &first.locations[0].data_addr;
        assert_refused(
            read_direct(addr, &first, first.access_token.clone()).await,
            "expired token",
            "expired",
        );
        // ...while the reader, past its tokens' life, fetches new ones.
        let fetches = nn_calls(&c, "GetBlockLocations", "OK");
        let rest = reader.read_to_end().await?;
        let mut all = head[..n].to_vec();
        all.extend_from_slice(&rest);
        assert!(all == content, "{name}: the file reads back whole");
        assert!(
            nn_calls(&c, "GetBlockLocations", "OK") > fetches,
            "{name}: the reader fetched new tokens"
        );
    }
    let stats = writer.fs_stats().await?;
    assert_eq!(stats.corrupt_blocks, 0, "expired tokens are no corruption");
    assert_eq!(stats.under_replicated_blocks, 0);
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_namenode_restart() -> anyhow::Result<()> {
    let mut c = MiniCluster::start().await?;
    let client = c.client().await?;
    let content = data(70_000, 5);
    write_file(&client, "/r/f", &content).await?;
    let b = client.block_locations("/r/f").await?.remove(0);
    let keys = c.namenode().unwrap().state().block_tokens.key_ids();
    c.restart_namenode().await?;
    c.wait_active().await?;
    assert_eq!(
        c.namenode().unwrap().state().block_tokens.key_ids(),
        keys,
        "the namenode kept its block keys"
    );
    // The datanodes re-registered and were given the same keys: a token from
    // before the restart still reads.
    for dn in &b.locations {
        assert_eq!(
            read_direct(&dn.data_addr, &b, b.access_token.clone()).await?,
            content
        );
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_reaches_datanodes_before_it_signs() -> anyhow::Result<()> {
    let c = MiniCluster::builder()
        .block_key_update_interval(Duration::from_secs(2))
        .block_token_lifetime(Duration::from_secs(60))
        .build()
        .await?;
    let client = c.client().await?;
    let content = data(10_000, 9);
    write_file(&client, "/k/f", &content).await?;
    let state = c.namenode().unwrap().state().clone();
    let (_, first) = state.block_tokens.key_ids();
    // Wait for the moment the new key starts signing, and use a token it
    // signed at once: every datanode must already hold the key.
    wait_for("a new block key to sign", Duration::from_secs(20), || {
        let state = state.clone();
        async move { state.block_tokens.key_ids().1 != first }
    })
    .await?;
    let b = client.block_locations("/k/f").await?.remove(0);
    assert_ne!(Some(ident(&b.access_token).key_id), first);
    for dn in &b.locations {
        assert_eq!(
            read_direct(&dn.data_addr, &b, b.access_token.clone()).await?,
            content
        );
    }
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_off_means_no_checks() -> anyhow::Result<()> {
    let c = MiniCluster::builder()
        .block_access_tokens(false)
        .build()
        .await?;
    let client = c.client().await?;
    write_file(&client, "/o/f", b"open to all").await?;
    let b = client.block_locations("/o/f").await?.remove(0);
    assert!(b.access_token.is_empty());
    assert_eq!(
        read_direct(&b.locations[0].data_addr, &b, Bytes::new()).await?,
        b"open to all"
    );
    c.shutdown().await
}

/// A datanode configuration for this host pointing at `c`'s namenode,
/// with its own (wrong) secret file in `dir`.
fn rogue_config(c: &MiniCluster, dir: &std::path::Path) -> TuskConfig {
    let mut cfg = TuskConfig::default();
    let secret = dir.join("rogue.secret");
    ClusterSecret::load_or_create(&secret).expect("rogue secret");
    cfg.security.cluster_secret_file = Some(secret);
    cfg.cluster.heartbeat_interval.0 = Duration::from_millis(300);
    cfg.datanode.namenode = c.nn_addr().to_string();
    cfg.datanode.data_addr = "127.0.0.1:0".into();
    cfg.datanode.http_addr = "127.0.0.1:0".into();
    cfg.datanode.data_dirs = vec![dir.join("data")];
    cfg.datanode.domain_socket_path = Some("".into());
    cfg
}

/// `GET /health` of a datanode.
async fn health(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datanode_without_the_secret_cannot_register() -> anyhow::Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let dir = tempfile::tempdir()?;
    let rogue = tusk_datanode::start(rogue_config(&c, dir.path())).await?;
    let refused_before = nn_calls(&c, "Register", "UNAUTHENTICATED");
    let cref = &c;
    wait_for(
        "the namenode to refuse the rogue datanode twice",
        Duration::from_secs(20),
        || async move { nn_calls(cref, "Register", "UNAUTHENTICATED") >= refused_before + 2 },
    )
    .await?;
    let report = client.datanode_report().await?;
    assert_eq!(report.len(), 3, "only the cluster's datanodes: {report:?}");
    assert!(report.iter().all(|d| d.info.uuid != rogue.uuid()));
    let h = health(rogue.http_addr).await?;
    assert!(h.contains("\"registered\":false"), "{h}");
    // It is never given work: new files go to the three real datanodes.
    write_file(&client, "/g/f", &data(100_000, 3)).await?;
    let b = client.block_locations("/g/f").await?.remove(0);
    assert!(b.locations.iter().all(|l| l.uuid != rogue.uuid()));
    rogue.shutdown().await?;

    // Raw DatanodeProtocol calls: without node authentication, or with a
    // secret that is not the cluster's, each is refused and changes nothing.
    let real = c.datanode_uuid(0).unwrap();
    let before = client.fs_stats().await?;
    let mut nn = DatanodeProtocolClient::connect(format!("http://{}", c.nn_addr())).await?;
    let wrong = ClusterSecret::generate();
    for sign in [false, true] {
        let req = |m| {
            let mut r = Request::new(m);
            if sign {
                wrong.sign_request(&mut r);
            }
            r
        };
        let e = nn
            .heartbeat(req(pb::HeartbeatRequest {
                uuid: real.clone(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
        assert!(e.message().contains("cluster secret"), "{}", e.message());
        let mut r = Request::new(pb::BlockReportRequest {
            uuid: real.clone(),
            finalized: vec![],
            being_written: vec![],
        });
        if sign {
            wrong.sign_request(&mut r);
        }
        // An empty full report would drop every replica of that datanode.
        assert_eq!(
            nn.block_report(r).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        let mut r = Request::new(pb::BlockReceivedAndDeletedRequest {
            uuid: real.clone(),
            received: vec![],
            deleted: vec![pb_block(&b)],
        });
        if sign {
            wrong.sign_request(&mut r);
        }
        assert_eq!(
            nn.block_received_and_deleted(r).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        let mut r = Request::new(pb::ReportCorruptRequest {
            uuid: real.clone(),
            blocks: vec![pb_block(&b)],
            reason: "rogue".into(),
        });
        if sign {
            wrong.sign_request(&mut r);
        }
        assert_eq!(
            nn.report_corrupt(r).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    let after = client.fs_stats().await?;
    assert_eq!(after.corrupt_blocks, before.corrupt_blocks);
    assert_eq!(after.missing_blocks, 0);
    assert_eq!(after.live_datanodes, 3);
    assert_eq!(
        client
            .block_locations("/g/f")
            .await?
            .remove(0)
            .locations
            .len(),
        3
    );
    c.shutdown().await
}

/// The `datanode` binary: a missing secret file is a one-line error naming
/// the path (exit 1); a wrong one gets "namenode refused us" in its log
/// while it keeps retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_datanode_binary_reports_secret_problems() -> anyhow::Result<()> {
    let bin = tusk_tests::LocalCluster::bin_dir().join("datanode");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: cargo build --bins first",
        bin.display()
    );
    let c = MiniCluster::start().await?;
    let dir = tempfile::tempdir()?;
    let cfg_file = dir.path().join("tusk.toml");
    let missing = dir.path().join("nowhere/cluster.secret");
    std::fs::write(
        &cfg_file,
        format!(
            "[security]\ncluster_secret_file = \"{}\"\n",
            missing.display()
        ),
    )?;
    let out = tokio::process::Command::new(&bin)
        .arg("--config")
        .arg(&cfg_file)
        .args(["--namenode", &c.nn_addr().to_string()])
        .args(["--data-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("datanode: cluster secret ")
            && last.contains(&missing.display().to_string())
            && last.contains("not found"),
        "{err}"
    );

    // A wrong secret: the datanode starts, is refused, says why, retries.
    let rogue = dir.path().join("rogue.secret");
    ClusterSecret::load_or_create(&rogue).map_err(anyhow::Error::msg)?;
    std::fs::write(
        &cfg_file,
        format!(
            "[cluster]\nheartbeat_interval = \"300ms\"\n[security]\ncluster_secret_file = \"{}\"\n",
            rogue.display()
        ),
    )?;
    let log = dir.path().join("rogue.log");
    let mut child = tokio::process::Command::new(&bin)
        .arg("--config")
        .arg(&cfg_file)
        .args(["--namenode", &c.nn_addr().to_string()])
        .args(["--data-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("TUSK_SHORTCIRCUIT_DIR", dir.path().join("sc"))
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(dir.path().join("rogue.err"))?)
        .kill_on_drop(true)
        .spawn()?;
    let logs = || {
        std::fs::read_to_string(&log).unwrap_or_default()
            + &std::fs::read_to_string(dir.path().join("rogue.err")).unwrap_or_default()
    };
    let seen = wait_for(
        "the refusal in the datanode's log",
        Duration::from_secs(20),
        || {
            let text = logs();
            async move { text.contains("namenode refused us") && text.contains("cluster secret") }
        },
    )
    .await;
    let alive = child.try_wait()?.is_none();
    child.kill().await?;
    seen.map_err(|e| anyhow::anyhow!("{e}; log:\n{}", logs()))?;
    assert!(alive, "the datanode keeps retrying instead of exiting");
    assert_eq!(c.client().await?.datanode_report().await?.len(), 3);
    c.shutdown().await
}
