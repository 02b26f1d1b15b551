//! Mounting, running until a signal or an unmount, and unmounting.

use crate::fs::TuskFs;
use crate::options::MountConfig;
use anyhow::{bail, Context, Result};
use fuser::{MountOption, SessionACL};
use std::path::Path;
use std::time::Duration;
use tusk_client::{ClientConfig, DfsClient};

/// How often the main thread checks whether the session ended by itself
/// (someone ran `fusermount3 -u` or `umount`).
const SESSION_POLL: Duration = Duration::from_millis(200);
/// How long an unmount waits for the session to end before the process
/// exits anyway (closing /dev/fuse aborts the connection).
const UNMOUNT_WAIT: Duration = Duration::from_secs(5);

/// True when `fusermount3` is on the PATH (needed for `--auto-unmount`).
pub fn have_fusermount3() -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join("fusermount3").is_file()))
        .unwrap_or(false)
}

/// True when `path` is a mount point of a Tusk mount (per /proc/mounts).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let target = canon.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/mounts")
        .map(|m| {
            m.lines().any(|l| {
                let mut f = l.split(' ');
                let _src = f.next();
                let mnt = f.next();
                let ty = f.next().unwrap_or("");
                mnt == Some(target.as_str()) && ty.starts_with("fuse")
            })
        })
        .unwrap_or(false)
}

/// Mounts `cfg.mountpoint` and serves it until SIGTERM/SIGINT (then
/// unmounts) or until it is unmounted from outside.
pub fn run(cfg: MountConfig) -> Result<()> {
    let mp = cfg.mountpoint.clone();
    let meta = std::fs::metadata(&mp).with_context(|| format!("{}", mp.display()))?;
    if !meta.is_dir() {
        bail!("{}: Not a directory", mp.display());
    }
    if !Path::new("/dev/fuse").exists() {
        bail!("/dev/fuse does not exist: load the fuse module (modprobe fuse)");
    }
    if cfg.auto_unmount && !have_fusermount3() {
        bail!("--auto-unmount needs fusermount3 (Debian package fuse3)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("dfs-fuse")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let client_cfg = ClientConfig::default()
        .with_namenode(cfg.namenode.clone())
        .with_user(cfg.user.clone())
        .with_retry_timeout(cfg.retry_timeout);
    let client = rt.block_on(DfsClient::connect(client_cfg))?;
    // Fail now, with the cause, if the namenode cannot be reached.
    rt.block_on(client.get_file_info("/"))
        .with_context(|| format!("namenode {}", cfg.namenode))?;

    let mut options = vec![
        MountOption::FSName(format!("tusk:{}", cfg.namenode)),
        MountOption::Subtype("tusk".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
        if cfg.read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    if cfg.auto_unmount {
        options.push(MountOption::AutoUnmount);
    }
    let mut fcfg = fuser::Config::default();
    fcfg.mount_options = options;
    fcfg.acl = if cfg.allow_other {
        SessionACL::All
    } else if cfg.auto_unmount {
        // fusermount's auto_unmount needs allow_root or allow_other.
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    // One session thread: every callback only hands work to the runtime.
    fcfg.n_threads = Some(1);

    let fs = TuskFs::new(rt.handle().clone(), client, cfg.clone());
    let session = fuser::Session::new(fs, &mp, &fcfg)
        .with_context(|| format!("mounting {}", mp.display()))?;
    let bg = session.spawn().context("starting the FUSE session")?;
    tracing::info!(mountpoint = %mp.display(), namenode = %cfg.namenode, user = %cfg.user, "mounted");

    let signal = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => return Ok::<_, std::io::Error>(Some("SIGTERM")),
                _ = int.recv() => return Ok(Some("SIGINT")),
                _ = hup.recv() => return Ok(Some("SIGHUP")),
                _ = tokio::time::sleep(SESSION_POLL) => {
                    if bg.guard.is_finished() {
                        return Ok(None);
                    }
                }
            }
        }
    })?;
    match signal {
        Some(sig) => {
            tracing::info!(mountpoint = %mp.display(), signal = sig, "unmounting");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(bg.umount_and_join());
            });
            match rx.recv_timeout(UNMOUNT_WAIT) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "unmount"),
                Err(_) => tracing::warn!("files still open: the session is dropped"),
            }
        }
        None => {
            tracing::info!(mountpoint = %mp.display(), "unmounted from outside");
            if let Err(e) = bg.join() {
                tracing::warn!(error = %e, "session ended with an error");
            }
        }
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
