//! `nodemanager`: flags → config → `tusk_mapreduce::yarn::nm::start`, until
//! SIGINT/SIGTERM (its containers are killed on the way out).

use clap::Parser;
use std::path::PathBuf;
use tusk_common::config::Size;
use tusk_common::TuskConfig;

#[derive(Parser, Debug)]
#[command(
    name = "nodemanager",
    about = "Tusk node manager: runs containers beside a datanode"
)]
struct Args {
    /// Cluster configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Resource manager RPC address (HOST:PORT).
    #[arg(long)]
    rm: Option<String>,
    /// Namenode RPC address (HOST:PORT).
    #[arg(long)]
    namenode: Option<String>,
    /// ContainerManager listen address (port 0 = any).
    #[arg(long)]
    rpc_addr: Option<String>,
    /// Shuffle listen address (port 0 = any).
    #[arg(long)]
    shuffle_addr: Option<String>,
    /// HTTP listen address (port 0 = any).
    #[arg(long)]
    http_addr: Option<String>,
    /// Host identity for locality (use the datanode's).
    #[arg(long)]
    host: Option<String>,
    /// Containers' working dirs and applications' local dirs.
    #[arg(long)]
    local_dir: Option<PathBuf>,
    /// Container logs (default: <local-dir>/logs).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Where nodemanager*.addr are written (default: the local dir).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Memory offered to containers ("8GiB").
    #[arg(long)]
    memory: Option<String>,
    /// Cores offered to containers.
    #[arg(long)]
    vcores: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tusk_common::logging::init("info");
    let args = Args::parse();
    let mut cfg = TuskConfig::load_or_default(args.config.as_deref())?;
    // TLS for every server and channel of this process ([tls]); a bad
    // certificate setting is one line naming the file, exit 1.
    if let Err(e) = tusk_common::net::install_daemon_tls(&cfg.tls) {
        eprintln!("nodemanager: {e}");
        std::process::exit(1);
    }
    let nm = &mut cfg.nodemanager;
    if let Some(v) = args.rm {
        nm.rm = v;
    }
    if let Some(v) = args.namenode {
        nm.namenode = v;
    }
    if let Some(v) = args.rpc_addr {
        nm.rpc_addr = v;
    }
    if let Some(v) = args.shuffle_addr {
        nm.shuffle_addr = v;
    }
    if let Some(v) = args.http_addr {
        nm.http_addr = v;
    }
    if let Some(v) = args.host {
        nm.host = Some(v);
    }
    if let Some(v) = args.local_dir {
        nm.local_dir = v;
    }
    if let Some(v) = args.log_dir {
        nm.log_dir = Some(v);
    }
    if let Some(v) = args.state_dir {
        nm.state_dir = Some(v);
    }
    if let Some(v) = args.memory {
        nm.memory = Size(
            tusk_common::units::parse_size(&v).map_err(|e| anyhow::anyhow!("--memory {v}: {e}"))?,
        );
    }
    if let Some(v) = args.vcores {
        nm.vcores = v;
    }
    // A start-up failure (no cluster secret, a dir others cannot pass
    // through, a port taken) is one line naming the cause, exit 1.
    let handle = match tusk_mapreduce::yarn::nm::start(cfg).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("nodemanager: {e:#}");
            std::process::exit(1);
        }
    };
    tusk_common::net::wait_for_stop_signal().await?;
    handle.shutdown().await
}
