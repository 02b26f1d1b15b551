//! `dfs-fuse MOUNTPOINT [--namenode …] [--user …] [--foreground] …`

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tusk_fuse::{mount, MountConfig};

/// Mount a Tusk namespace as a local directory.
#[derive(Parser, Debug)]
#[command(name = "dfs-fuse", version)]
struct Args {
    /// The directory to mount on.
    mountpoint: PathBuf,
    /// Namenode RPC address (default: TUSK_NAMENODE, the client config file,
    /// then 127.0.0.1:9000).
    #[arg(long)]
    namenode: Option<String>,
    /// The Tusk user every operation runs as (default: TUSK_USER, then the
    /// process owner).
    #[arg(long)]
    user: Option<String>,
    /// Stay in the foreground (default: detach once mounted).
    #[arg(long, short = 'f')]
    foreground: bool,
    /// Let other local users use the mount.
    #[arg(long)]
    allow_other: bool,
    /// Have fusermount3 unmount if this process dies.
    #[arg(long)]
    auto_unmount: bool,
    /// Attribute and entry cache time-to-live (0 disables caching).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    attr_ttl: Duration,
    /// How long to retry an unreachable namenode before failing with EIO.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    retry_timeout: Duration,
    /// The longest one operation may take before it fails with EIO.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    op_timeout: Duration,
    /// Mount read-only.
    #[arg(long)]
    read_only: bool,
    /// Where the detached process logs (default: nowhere).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,tusk_fuse=info,tusk_client=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() {
    let args = Args::parse();
    init_logging();
    if let Err(e) = real_main(args) {
        eprintln!("dfs-fuse: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(args: Args) -> Result<()> {
    let env = tusk_client::ClientConfig::from_env();
    env.install_tls().map_err(anyhow::Error::msg)?;
    let cfg = MountConfig {
        mountpoint: args.mountpoint.clone(),
        namenode: args.namenode.clone().unwrap_or(env.namenode),
        user: args.user.clone().unwrap_or(env.user),
        allow_other: args.allow_other,
        auto_unmount: args.auto_unmount,
        attr_ttl: args.attr_ttl,
        retry_timeout: args.retry_timeout,
        op_timeout: args.op_timeout,
        read_only: args.read_only,
    };
    if args.foreground {
        return mount::run(cfg);
    }
    detach(&args, &cfg)
}

/// Starts this program again in the foreground, in a new session with its
/// output in `--log-file`, and returns once the mount is up (or the child
/// failed).
fn detach(args: &Args, cfg: &MountConfig) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("finding dfs-fuse itself")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).arg("--foreground");
    cmd.env("TUSK_NAMENODE", &cfg.namenode)
        .env("TUSK_USER", &cfg.user)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    match &args.log_file {
        Some(f) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .with_context(|| format!("{}", f.display()))?;
            cmd.stderr(file);
        }
        None => {
            cmd.stderr(std::process::Stdio::null());
        }
    }
    // SAFETY: setsid is async-signal-safe; nothing else runs in pre_exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the mount process")?;
    let deadline = Instant::now() + cfg.retry_timeout + Duration::from_secs(20);
    loop {
        if mount::is_mounted(&cfg.mountpoint) {
            return Ok(());
        }
        if let Some(st) = child.try_wait()? {
            bail!(
                "mounting {} failed ({st}){}",
                cfg.mountpoint.display(),
                match &args.log_file {
                    Some(f) => format!(": see {}", f.display()),
                    None => ": run with --foreground to see why".into(),
                }
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("{} was not mounted in time", cfg.mountpoint.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
