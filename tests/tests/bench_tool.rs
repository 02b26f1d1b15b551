//! `tusk-bench`, the program behind the namenode figures of
//! `scripts/bench.sh storage`, run small against a MiniCluster so that it
//! keeps working between benchmark runs: the echo server's RPC floor
//! first, then every namenode phase with its share of that floor.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tusk_tests::MiniCluster;

const BENCH: &str = env!("CARGO_BIN_EXE_tusk-bench");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tusk_bench_prints_the_rpc_floor_and_each_phase_beside_it() -> Result<()> {
    let cluster = MiniCluster::builder().datanodes(1).build().await?;
    let mut echo = Command::new(BENCH)
        .args(["echo-server", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut line = String::new();
    let stdout = echo.stdout.take().context("echo server stdout")?;
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .context("echo server did not say where it listens")??;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("echo server said {line:?}"))?
        .to_string();
    let echo_pid = echo.id().context("echo server pid")?.to_string();

    let out = Command::new(BENCH)
        .args(["nn", "--namenode", &cluster.nn_addr().to_string()])
        .args(["--clients", "2", "--ops", "40", "--echo", &addr])
        .args(["--echo-pid", &echo_pid])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "tusk-bench nn failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line_of = |name: &str| stdout.lines().find(|l| l.starts_with(name));
    let floor = line_of("echo (RPC floor)").context("no RPC floor line")?;
    ensure!(
        floor.contains("echo server") && floor.contains("us/op"),
        "{floor}"
    );
    for (phase, calls) in [
        ("mkdir", "(1 call)"),
        ("create+close", "(2 calls)"),
        ("getFileInfo", "(1 call)"),
        ("rename", "(1 call)"),
        ("delete", "(1 call)"),
    ] {
        let l = line_of(phase).with_context(|| format!("no {phase} line in\n{stdout}"))?;
        ensure!(l.contains("x the RPC floor") && l.contains(calls), "{l}");
    }
    let list = line_of("list(1000 entries)").context("no list line")?;
    ensure!(!list.contains("RPC floor"), "{list}");

    // SIGTERM stops the echo server cleanly.
    let kill = Command::new("kill").arg(&echo_pid).status().await?;
    ensure!(kill.success(), "kill {echo_pid}");
    let status = tokio::time::timeout(Duration::from_secs(30), echo.wait()).await??;
    ensure!(status.success(), "echo server exited with {status}");
    Ok(())
}

#[tokio::test]
async fn tusk_bench_refuses_bad_arguments_with_its_usage_and_prints_it_on_help() -> Result<()> {
    for args in [
        vec!["nn", "--clients"],
        vec!["nn", "--phases", "mkdir,fly"],
        vec!["echo-server"],
        vec!["serve"],
    ] {
        let out = Command::new(BENCH)
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .await?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "{args:?} succeeded");
        ensure!(
            err.contains("usage") || err.contains("unknown phase"),
            "{args:?}: {err}"
        );
    }
    for args in [
        vec!["--help"],
        vec!["nn", "--help"],
        vec!["echo-server", "-h"],
    ] {
        let out = Command::new(BENCH).args(&args).output().await?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success() && text.starts_with("usage: tusk-bench nn"),
            "{args:?}: {text}"
        );
    }
    Ok(())
}
