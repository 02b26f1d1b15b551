//! `resourcemanager`: flags → config → `tusk_mapreduce::yarn::rm::start`,
//! until SIGINT/SIGTERM.

use clap::Parser;
use std::path::PathBuf;
use tusk_common::TuskConfig;

#[derive(Parser, Debug)]
#[command(
    name = "resourcemanager",
    about = "Tusk resource manager: schedules containers on the node managers"
)]
struct Args {
    /// Cluster configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// RPC listen address (port 0 = any).
    #[arg(long)]
    rpc_addr: Option<String>,
    /// HTTP listen address (port 0 = any).
    #[arg(long)]
    http_addr: Option<String>,
    /// Application store and resourcemanager.addr / resourcemanager-http.addr.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tusk_common::logging::init("info");
    let args = Args::parse();
    let mut cfg = TuskConfig::load_or_default(args.config.as_deref())?;
    // TLS for every server and channel of this process ([tls]); a bad
    // certificate setting is one line naming the file, exit 1.
    if let Err(e) = tusk_common::net::install_daemon_tls(&cfg.tls) {
        eprintln!("resourcemanager: {e}");
        std::process::exit(1);
    }
    let rm = &mut cfg.resourcemanager;
    if let Some(v) = args.rpc_addr {
        rm.rpc_addr = v;
    }
    if let Some(v) = args.http_addr {
        rm.http_addr = v;
    }
    if let Some(v) = args.state_dir {
        rm.state_dir = v;
    }
    // A start-up failure (no cluster secret, a dir others cannot pass
    // through, a port taken) is one line naming the cause, exit 1.
    let handle = match tusk_mapreduce::yarn::rm::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("resourcemanager: {e:#}");
            std::process::exit(1);
        }
    };
    tusk_common::net::wait_for_stop_signal().await?;
    handle.shutdown().await
}
