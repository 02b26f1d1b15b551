//! The `[limits]` that keep a daemon alive under abuse, on a real namenode
//! (RPC and HTTP servers bound on port 0) configured with small limits:
//! an oversized RPC message is refused and the server keeps serving; a
//! connection that sends half an HTTP header, or nothing at all on the RPC
//! port, is closed after the time-out; a directory at its item limit
//! refuses one more entry with `MaxDirectoryItemsExceededException`; too
//! deep and too long paths are refused.

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
