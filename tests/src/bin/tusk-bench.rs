//! `tusk-bench nn`: namenode operations per second over the real RPC, with N
//! concurrent clients, against a running cluster. Used by scripts/bench.sh.
//!
//! Each phase runs `--ops` operations split across `--clients` tasks, each with
//! its own connection, and prints `op ops/s`.

use anyhow::{bail, Result};
use std::time::Instant;
use tusk_client::{ClientConfig, CreateOptions, DfsClient};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut namenode = std::env::var("TUSK_NAMENODE").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let mut clients = 8usize;
    let mut ops = 20_000usize;
    let mut i = 2;
    if args.get(1).map(String::as_str) != Some("nn") {
        bail!("usage: tusk-bench nn [--namenode HOST:PORT] [--clients N] [--ops N]");
    }
    while i < args.len() {
        match args[i].as_str() {
            "--namenode" => namenode = args[i + 1].clone(),
            "--clients" => clients = args[i + 1].parse()?,
            "--ops" => ops = args[i + 1].parse()?,
            a => bail!("unknown argument {a}"),
        }
        i += 2;
    }
    let user = tusk_common::sys::login_user();
    let mut conns = Vec::new();
    for _ in 0..clients {
        let cfg = ClientConfig::default()
            .with_namenode(namenode.clone())
            .with_user(&user);
        conns.push(DfsClient::connect(cfg).await?);
    }
    let root: &'static str = Box::leak(format!("/nnbench-{}", std::process::id()).into_boxed_str());
    conns[0].mkdirs(root, 0o755, true).await?;
    let per = ops / clients;
    for c in 0..clients {
        conns[0]
            .mkdirs(&format!("{root}/c{c}"), 0o755, false)
            .await?;
    }

    phase("mkdir", &conns, per, move |c, k, i| {
        let p = format!("{root}/c{k}/d{i}");
        async move {
            c.mkdirs(&p, 0o755, false).await?;
            Ok(())
        }
    })
    .await?;
    phase("create+close", &conns, per, move |c, k, i| {
        let p = format!("{root}/c{k}/f{i}");
        async move {
            let w = c.create(&p, CreateOptions::default()).await?;
            w.close().await?;
            Ok(())
        }
    })
    .await?;
    phase("getFileInfo", &conns, per * 2, move |c, k, i| {
        let p = format!("{root}/c{k}/f{}", i % per);
        async move {
            c.get_file_info(&p).await?;
            Ok(())
        }
    })
    .await?;
    // A 1000-entry directory, listed whole each time.
    let listdir: &'static str = Box::leak(format!("{root}/c0").into_boxed_str());
    let list_ops = (per / 50).max(20);
    phase("list(1000 entries)", &conns, list_ops, move |c, _k, _i| {
        let p = listdir;
        async move {
            let n = c.list(p).await?.len();
            if n < 1000.min(per) {
                anyhow::bail!("listing returned {n} entries");
            }
            Ok(())
        }
    })
    .await?;
    phase("rename", &conns, per, move |c, k, i| {
        let (a, b) = (format!("{root}/c{k}/d{i}"), format!("{root}/c{k}/r{i}"));
        async move {
            c.rename(&a, &b, false).await?;
            Ok(())
        }
    })
    .await?;
    phase("delete", &conns, per, move |c, k, i| {
        let p = format!("{root}/c{k}/r{i}");
        async move {
            c.delete(&p, false).await?;
            Ok(())
        }
    })
    .await?;
    conns[0].delete(root, true).await?;
    Ok(())
}

async fn phase<F, Fut>(name: &str, conns: &[DfsClient], per: usize, op: F) -> Result<()>
where
    F: Fn(DfsClient, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (k, c) in conns.iter().enumerate() {
        let c = c.clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                op(c.clone(), k, i).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let total = per * conns.len();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<20} {:>10.0} ops/s  ({total} ops in {secs:.2}s)",
        total as f64 / secs
    );
    Ok(())
}
