//! `datanode`: flags → config → `tusk_datanode::start`, until SIGINT/SIGTERM
//! (exit 0) or until the datanode stops itself, e.g. after losing more volumes
//! than `failed_volumes_tolerated` (exit 1).

use clap::Parser;
use std::path::PathBuf;
use tusk_common::TuskConfig;

#[derive(Parser, Debug)]
#[command(
    name = "datanode",
    about = "Tusk datanode: stores block replicas and serves them"
)]
struct Args {
    /// Cluster configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Namenode RPC address (HOST:PORT).
    #[arg(long)]
    namenode: Option<String>,
    /// DataTransfer listen address (port 0 = any).
    #[arg(long)]
    data_addr: Option<String>,
    /// HTTP listen address (port 0 = any).
    #[arg(long)]
    http_addr: Option<String>,
    /// A data directory (repeat for several volumes; replaces the configured list).
    #[arg(long = "data-dir")]
    data_dirs: Vec<PathBuf>,
    /// Where datanode.addr and datanode-http.addr are written (default: first data dir).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Host name or IP advertised to the namenode.
    #[arg(long)]
    host: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tusk_common::logging::init("info");
    let args = Args::parse();
    let mut cfg = TuskConfig::load_or_default(args.config.as_deref())?;
    // TLS for every server and channel of this process ([tls]); a bad
    // certificate setting is one line naming the file, exit 1.
    if let Err(e) = tusk_common::net::install_daemon_tls(&cfg.tls) {
        eprintln!("datanode: {e}");
        std::process::exit(1);
    }
    let dn = &mut cfg.datanode;
    if let Some(v) = args.namenode {
        dn.namenode = v;
    }
    if let Some(v) = args.data_addr {
        dn.data_addr = v;
    }
    if let Some(v) = args.http_addr {
        dn.http_addr = v;
    }
    if !args.data_dirs.is_empty() {
        dn.data_dirs = args.data_dirs;
    }
    if let Some(v) = args.state_dir {
        dn.state_dir = Some(v);
    }
    if let Some(v) = args.host {
        dn.host = Some(v);
    }
    // A start-up failure (bad secret file, busy port, unreadable data dir)
    // is one line naming the cause, exit 1.
    let handle = match tusk_datanode::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("datanode: {e:#}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        r = tusk_common::net::wait_for_stop_signal() => r?,
        why = handle.failed() => {
            handle.shutdown().await?;
            anyhow::bail!("datanode stopped: {why}");
        }
    }
    handle.shutdown().await
}
