//! Copies a local file into Tusk and back with `tokio::io::copy`, through the
//! `AsyncWrite`/`AsyncRead` adapters, and checks the recorded SHA-256.
//!
//! `cargo run -p tusk-client --example copy_io -- LOCAL_FILE /dfs/path`
//! (namenode from `TUSK_NAMENODE`).

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tusk_client::{ClientConfig, CreateOptions, DfsClient};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [local, remote] = args.as_slice() else {
        anyhow::bail!("usage: copy_io LOCAL_FILE /dfs/path");
    };
    let fs = DfsClient::connect(ClientConfig::from_env()).await?;
    let mut src = tokio::fs::File::open(local).await?;
    let mut w = fs
        .create(remote, CreateOptions::default().with_overwrite(true))
        .await?
        .into_async_write();
    let n = tokio::io::copy(&mut src, &mut w).await?;
    w.shutdown().await?;
    let mut r = fs.open(remote).await?.into_async_read();
    let mut back = Vec::new();
    tokio::io::copy(&mut r, &mut back).await?;
    let local_bytes = std::fs::read(local)?;
    anyhow::ensure!(back == local_bytes, "content differs");
    let sum = fs.file_checksum(remote).await?;
    anyhow::ensure!(
        sum.hex() == Some(hex::encode(Sha256::digest(&local_bytes))),
        "checksum differs"
    );
    println!(
        "copied {n} bytes to {remote} and back; SHA-256 {}",
        sum.hex().unwrap_or_default()
    );
    Ok(())
}
