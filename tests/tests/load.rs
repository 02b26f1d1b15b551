//! The load test of `scripts/bench.sh load` (`tusk-load`), short: 8
//! clients for 10 s beside a 3 s one-client baseline, on a local cluster of
//! the real binaries with small limits, so busy datanodes and a busy
//! namenode are part of the mix (refusals the clients must ride out). It
//! passes when the program does: every datanode's transfers drain once
//! the clients stop, fsck is HEALTHY, every file has the SHA-256 written,
//! the shared append files hold exactly the acknowledged records, and no
//! error is of an unexpected kind.

use std::process::Command;
use tusk_tests::LocalCluster;

#[test]
fn a_short_load_test_passes_against_a_local_cluster() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("tusk.toml");
    std::fs::write(
        &config,
        "[cluster]\nblock_size = \"8MiB\"\n\n[datanode]\nmax_transfers = 4\n\n\
         [limits]\nrpc_max_pending = 16\n",
    )?;
    let out = Command::new(env!("CARGO_BIN_EXE_tusk-load"))
        .args([
            "--clients",
            "8",
            "--seconds",
            "10",
            "--baseline-seconds",
            "3",
        ])
        .arg("--config")
        .arg(&config)
        .env("TUSK_BIN_DIR", LocalCluster::bin_dir())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tusk-load failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for want in [
        "load test passed",
        "transfers drained",
        "is HEALTHY",
        "verified:",
        "scaling",
    ] {
        assert!(stdout.contains(want), "no {want:?} in\n{stdout}");
    }
    // Every operation of the mix ran.
    for op in ["create", "read", "rename", "append", "read-victim"] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(op))
            .unwrap_or_else(|| panic!("no {op} row in\n{stdout}"));
        let ops: u64 = row.split_whitespace().nth(1).unwrap_or("0").parse()?;
        assert!(ops > 0, "{row}");
    }
    Ok(())
}
