//! Small helpers shared by the integration tests.
#![allow(dead_code)]

use anyhow::Result;
use sha2::{Digest, Sha256};
use tusk_client::{CreateOptions, DfsClient};

/// Deterministic pseudo-random bytes (so failures reproduce).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Writes `bytes` to `path` (overwriting) and closes the file.
pub async fn write_file(c: &DfsClient, path: &str, bytes: &[u8]) -> Result<()> {
    let mut w = c
        .create(path, CreateOptions::default().with_overwrite(true))
        .await?;
    // Write in uneven pieces to exercise packet and block boundaries.
    let mut off = 0;
    let mut step = 1;
    while off < bytes.len() {
        let end = (off + step).min(bytes.len());
        w.write(&bytes[off..end]).await?;
        off = end;
        step = (step * 7 + 1) % 300_000 + 1;
    }
    w.close().await?;
    Ok(())
}

/// Reads the whole file.
pub async fn read_file(c: &DfsClient, path: &str) -> Result<Vec<u8>> {
    let mut r = c.open(path).await?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 100_000];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

/// Asserts a command succeeded (showing its output otherwise) and returns stdout.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
