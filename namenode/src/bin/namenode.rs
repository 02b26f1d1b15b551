//! `namenode`: parse flags, start, wait for SIGINT/SIGTERM, shut down.
//! `namenode --name-dir D --generate-files N` fills a stopped namenode's
//! store with N empty files for benchmarks, then exits.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "namenode", about = "Tusk namenode", version)]
struct Args {
    /// Cluster config file (TOML); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// RPC listen address (default 0.0.0.0:9000; port 0 = any).
    #[arg(long)]
    rpc_addr: Option<String>,
    /// HTTP listen address (default 0.0.0.0:9870).
    #[arg(long)]
    http_addr: Option<String>,
    /// Where the namespace lives.
    #[arg(long)]
    name_dir: Option<PathBuf>,
    /// Where namenode.addr / namenode-http.addr are written (default: name dir).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Write N empty files (/bench/dNNNNNN/fNNNNNN) into the store and exit.
    #[arg(long, value_name = "N")]
    generate_files: Option<u64>,
    /// Files per directory for --generate-files.
    #[arg(long, default_value_t = 1000)]
    files_per_dir: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tusk_common::logging::init("info");
    let mut cfg = tusk_common::TuskConfig::load_or_default(args.config.as_deref())?;
    // TLS for every server and channel of this process ([tls]); a bad
    // certificate setting is one line naming the file, exit 1.
    if let Err(e) = tusk_common::net::install_daemon_tls(&cfg.tls) {
        eprintln!("namenode: {e}");
        std::process::exit(1);
    }
    if let Some(a) = args.rpc_addr {
        cfg.namenode.rpc_addr = a;
    }
    if let Some(a) = args.http_addr {
        cfg.namenode.http_addr = a;
    }
    if let Some(d) = args.name_dir {
        cfg.namenode.name_dir = d;
    }
    if let Some(d) = args.state_dir {
        cfg.namenode.state_dir = Some(d);
    }
    if let Some(n) = args.generate_files {
        let t = std::time::Instant::now();
        let dirs = tusk_namenode::generate::generate_files(
            &cfg.namenode.name_dir,
            &cfg,
            n,
            args.files_per_dir,
        )?;
        eprintln!(
            "generated {n} files in {dirs} directories under /bench in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let handle = tusk_namenode::start(cfg).await?;
        tusk_common::net::wait_for_stop_signal().await?;
        tracing::info!("signal received, shutting down");
        handle.shutdown().await
    })
}
