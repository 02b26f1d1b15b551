//! `dfs-fuse`: a real mount (the binary as a child process) over a cluster,
//! used by real programs (`cp`, `diff`, `tar`, `rsync`, `sha256sum`, `ls`),
//! and each error a caller can see (EACCES, ENOENT, ENOTEMPTY, EEXIST,
//! EOPNOTSUPP for a non-sequential write, EIO while the namenode is down and
//! recovery once it is back, without remounting).
//!
//! Skipped (with a message) only where /dev/fuse does not exist. Every mount
//! is unmounted by a guard, so a failing test leaves no stale mount behind.

mod common;

use anyhow::{bail, Context, Result};
use common::{data, sha256_hex};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tusk_client::CreateOptions;
use tusk_tests::{wait_for, LocalCluster, MiniCluster};

/// Linux errno values the tests expect.
mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const EACCES: i32 = 13;
    pub const EEXIST: i32 = 17;
    pub const ENOTDIR: i32 = 20;
    pub const ENOTEMPTY: i32 = 39;
    pub const EOPNOTSUPP: i32 = 95;
}

fn fuse_available() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    eprintln!("SKIPPED: /dev/fuse does not exist on this machine; the FUSE tests need it");
    false
}

/// A running `dfs-fuse --foreground`; unmounted and stopped on drop.
struct Mount {
    dir: tempfile::TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Mount {
    /// Mounts the namespace of `namenode` as `user`.
    fn start(namenode: &str, user: &str, extra: &[&str]) -> Result<Mount> {
        let bin = LocalCluster::bin_dir().join("dfs-fuse");
        if !bin.exists() {
            bail!(
                "{} not found: run `cargo build --bins` (scripts/test.sh does)",
                bin.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let mp = dir.path().join("mnt");
        std::fs::create_dir(&mp)?;
        let log = dir.path().join("dfs-fuse.log");
        let child = Command::new(&bin)
            .arg(&mp)
            .args(["--foreground", "--namenode", namenode, "--user", user])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut m = Mount {
            dir,
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !m.mounted() {
            if let Some(st) = m.child.as_mut().expect("child").try_wait()? {
                bail!("dfs-fuse exited ({st}) before mounting: {}", m.log_text());
            }
            if Instant::now() > deadline {
                bail!("not mounted after 30s: {}", m.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(m)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    fn mounted(&self) -> bool {
        let target = self.path().to_string_lossy().to_string();
        std::fs::read_to_string("/proc/mounts")
            .map(|m| {
                m.lines()
                    .any(|l| l.split(' ').nth(1) == Some(target.as_str()))
            })
            .unwrap_or(false)
    }

    /// Sends `kill -SIG` to dfs-fuse and waits for it to exit.
    fn signal(&mut self, sig: &str) -> Result<std::process::ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            bail!("dfs-fuse already stopped");
        };
        run(Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]))?;
        let st = child.wait()?;
        self.child = None;
        Ok(st)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: dfs-fuse unmounts and exits.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.mounted() {
            let mp = self.path();
            let _ = Command::new("fusermount3").arg("-u").arg(&mp).status();
            if self.mounted() {
                let _ = Command::new("umount").arg("-l").arg(&mp).status();
            }
        }
    }
}

/// Runs a program; fails with its output unless it exits 0.
fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

fn sh(script: &str) -> Result<String> {
    run(Command::new("bash").args(["-c", script]))
}

fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

/// A tree of mixed files: empty, small, multi-block (1 MiB blocks),
/// nested, a name with spaces.
fn make_tree(root: &Path) -> Result<()> {
    std::fs::create_dir_all(root.join("a/b/c"))?;
    std::fs::create_dir_all(root.join("empty dir"))?;
    std::fs::write(root.join("empty"), b"")?;
    std::fs::write(root.join("small.txt"), b"hello tusk\n")?;
    std::fs::write(root.join("a/big.bin"), data(3_500_000, 1))?;
    std::fs::write(root.join("a/b/page.bin"), data(65_536, 2))?;
    std::fs::write(root.join("a/b/c/odd name.txt"), data(123_457, 3))?;
    Ok(())
}

/// In a blocking thread: the in-process cluster keeps serving meanwhile.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_programs_work_through_the_mount() -> Result<()> {
    if !fuse_available() {
        return Ok(());
    }
    let cl = MiniCluster::start().await?;
    let client = cl.client().await?;
    let user = client.user().to_string();
    let m = Mount::start(&cl.nn_addr().to_string(), &user, &[])?;
    let mp = m.path();

    // cp -r a tree in and out; diff -r both ways.
    let work = tempfile::tempdir()?;
    let src = work.path().join("src");
    make_tree(&src)?;
    {
        let (src, mp, back) = (src.clone(), mp.clone(), work.path().join("back"));
        blocking(move || {
            run(Command::new("cp").arg("-r").arg(&src).arg(mp.join("tree")))?;
            run(Command::new("diff")
                .arg("-r")
                .arg(&src)
                .arg(mp.join("tree")))?;
            run(Command::new("cp").arg("-r").arg(mp.join("tree")).arg(&back))?;
            run(Command::new("diff").arg("-r").arg(&src).arg(&back))?;
            Ok(())
        })
        .await?;
    }
    // What Tusk holds is what was copied.
    assert_eq!(
        client.read_file("/tree/a/big.bin").await?,
        data(3_500_000, 1)
    );

    // sha256sum through the mount equals the SHA-256 Tusk recorded on close.
    let sum = client.file_checksum("/tree/a/big.bin").await?;
    let via_mount = {
        let p = m.p("tree/a/big.bin");
        blocking(move || run(Command::new("sha256sum").arg(p))).await?
    };
    assert_eq!(
        via_mount.split_whitespace().next(),
        sum.hex().as_deref(),
        "{via_mount}"
    );
    assert_eq!(sum.hex().unwrap(), sha256_hex(&data(3_500_000, 1)));

    // tar x of an archive into the mount.
    {
        let (src, mp, tar) = (src.clone(), mp.clone(), work.path().join("t.tar"));
        blocking(move || {
            run(Command::new("tar")
                .arg("cf")
                .arg(&tar)
                .arg("-C")
                .arg(&src)
                .arg("."))?;
            std::fs::create_dir(mp.join("untar"))?;
            run(Command::new("tar")
                .arg("xf")
                .arg(&tar)
                .arg("-C")
                .arg(mp.join("untar")))?;
            run(Command::new("diff")
                .arg("-r")
                .arg(&src)
                .arg(mp.join("untar")))?;
            Ok(())
        })
        .await?;
    }

    // rsync -a (a temp file, then a rename onto the name); a second run
    // after a change replaces files in place by rename.
    {
        let (src, mp) = (src.clone(), mp.clone());
        blocking(move || {
            let dst = format!("{}/", mp.join("synced").display());
            let from = format!("{}/", src.display());
            run(Command::new("rsync").args(["-a", &from, &dst]))?;
            run(Command::new("diff")
                .arg("-r")
                .arg(&src)
                .arg(mp.join("synced")))?;
            std::fs::write(src.join("small.txt"), b"changed, longer than before\n")?;
            run(Command::new("rsync").args(["-a", &from, &dst]))?;
            run(Command::new("diff")
                .arg("-r")
                .arg(&src)
                .arg(mp.join("synced")))?;
            // -a kept the modification times.
            let a = std::fs::metadata(src.join("a/big.bin"))?.modified()?;
            let b = std::fs::metadata(mp.join("synced/a/big.bin"))?.modified()?;
            let skew = a
                .duration_since(b)
                .unwrap_or_else(|e| e.duration())
                .as_millis();
            assert!(skew < 1000, "mtime kept: {a:?} vs {b:?}");
            Ok(())
        })
        .await?;
    }
    let names: Vec<String> = client
        .list("/synced")
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no rsync temp file left: {names:?}"
    );

    // An editor's save: write a new file, rename it over the old one.
    {
        let mp = mp.clone();
        blocking(move || {
            std::fs::write(mp.join("notes.txt"), b"v1\n")?;
            std::fs::write(mp.join(".notes.txt.swp"), b"v2\n")?;
            std::fs::rename(mp.join(".notes.txt.swp"), mp.join("notes.txt"))?;
            assert_eq!(std::fs::read(mp.join("notes.txt"))?, b"v2\n");
            assert!(!mp.join(".notes.txt.swp").exists());
            // O_APPEND appends; open for write without it rewrites.
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(mp.join("notes.txt"))?;
            f.write_all(b"v3\n")?;
            drop(f);
            assert_eq!(std::fs::read(mp.join("notes.txt"))?, b"v2\nv3\n");
            std::fs::write(mp.join("notes.txt"), b"new\n")?;
            assert_eq!(std::fs::read(mp.join("notes.txt"))?, b"new\n");
            Ok(())
        })
        .await?;
    }
    assert_eq!(client.read_file("/notes.txt").await?, b"new\n");

    // Concurrent readers of one file (separate handles) and random reads.
    {
        let p = m.p("tree/a/big.bin");
        blocking(move || {
            let want = data(3_500_000, 1);
            let readers: Vec<_> = (0..4)
                .map(|i| {
                    let p = p.clone();
                    std::thread::spawn(move || -> Result<Vec<u8>> {
                        let f = std::fs::File::open(&p)?;
                        let mut out = vec![0u8; 3_500_000];
                        // Each reader walks the file from its own start.
                        let start = i * 700_000;
                        let mut off = start;
                        loop {
                            let n = f.read_at(&mut out[off..], off as u64)?;
                            if n == 0 {
                                break;
                            }
                            off += n;
                        }
                        let mut off = 0;
                        while off < start {
                            let n = f.read_at(&mut out[off..start], off as u64)?;
                            if n == 0 {
                                bail!("short read");
                            }
                            off += n;
                        }
                        Ok(out)
                    })
                })
                .collect();
            for r in readers {
                let got = r.join().expect("reader")?;
                assert!(got == want, "a concurrent reader saw other bytes");
            }
            // pread at scattered offsets on one handle.
            let f = std::fs::File::open(&p)?;
            for (k, off) in [3_400_000usize, 17, 1_048_570, 2_000_001, 0]
                .iter()
                .enumerate()
            {
                let len = 10_000 + k * 3_001;
                let mut buf = vec![0u8; len];
                let n = f.read_at(&mut buf, *off as u64)?;
                let end = (*off + len).min(want.len());
                assert_eq!(&buf[..n], &want[*off..end], "pread at {off}");
            }
            Ok(())
        })
        .await?;
    }

    // ls -l of a directory bigger than one listing page (1000 entries).
    let n = 1_234;
    client.mkdirs("/many", 0o755, true).await?;
    for i in 0..n {
        let w = client
            .create(&format!("/many/f{i:05}"), CreateOptions::default())
            .await?;
        w.close().await?;
    }
    {
        let mp = mp.clone();
        blocking(move || {
            let ls = sh(&format!("ls -l '{}'", mp.join("many").display()))?;
            let lines: Vec<&str> = ls.lines().filter(|l| l.starts_with('-')).collect();
            assert_eq!(lines.len(), n, "every entry listed once");
            assert!(lines.last().unwrap().ends_with(&format!("f{:05}", n - 1)));
            let count = std::fs::read_dir(mp.join("many"))?.count();
            assert_eq!(count, n);
            // find and du walk it too.
            let found = sh(&format!(
                "find '{}' -type f | wc -l",
                mp.join("many").display()
            ))?;
            assert_eq!(found.trim(), n.to_string());
            Ok(())
        })
        .await?;
    }

    // df: statfs reports the cluster's capacity.
    let stats = client.fs_stats().await?;
    let vfs = {
        let mp = mp.clone();
        blocking(move || sh(&format!("stat -f -c '%S %b %a' '{}'", mp.display()))).await?
    };
    let f: Vec<u64> = vfs.split_whitespace().map(|x| x.parse().unwrap()).collect();
    // Capacity is the datanodes' disks (it may move a little between the
    // two calls as heartbeats arrive).
    let (mounted, cluster) = ((f[0] * f[1]) as f64, stats.capacity as f64);
    assert!(
        stats.capacity > 0 && (mounted - cluster).abs() / cluster < 0.01,
        "capacity {} vs statfs {vfs}",
        stats.capacity
    );
    assert!(f[2] > 0, "free space reported: {vfs}");
    drop(m);
    cl.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_map_to_errno() -> Result<()> {
    if !fuse_available() {
        return Ok(());
    }
    let cl = MiniCluster::start().await?;
    let admin = cl.client().await?;
    admin.mkdirs("/private", 0o755, true).await?;
    admin.mkdirs("/shared", 0o777, true).await?;
    let w = admin
        .create(
            "/private/secret.txt",
            CreateOptions::default().with_permission(0o600),
        )
        .await?;
    let mut w = w;
    w.write(b"top secret").await?;
    w.close().await?;

    // A mount acting as another user: Tusk's permission checks apply.
    let m = Mount::start(&cl.nn_addr().to_string(), "mallory", &[])?;
    let mp = m.path();
    blocking(move || {
        use errno::*;
        assert_eq!(errno_of(std::fs::write(mp.join("private/x"), b"x")), EACCES);
        assert_eq!(errno_of(std::fs::create_dir(mp.join("private/d"))), EACCES);
        assert_eq!(
            errno_of(std::fs::read(mp.join("private/secret.txt"))),
            EACCES
        );
        assert_eq!(
            errno_of(std::fs::remove_file(mp.join("private/secret.txt"))),
            EACCES
        );
        // Missing paths.
        assert_eq!(errno_of(std::fs::metadata(mp.join("nope"))), ENOENT);
        assert_eq!(errno_of(std::fs::read(mp.join("shared/nope"))), ENOENT);
        assert_eq!(errno_of(std::fs::write(mp.join("nope/x"), b"x")), ENOENT);
        // mallory owns what she makes in /shared.
        std::fs::create_dir(mp.join("shared/d"))?;
        std::fs::write(mp.join("shared/d/f"), b"f")?;
        assert_eq!(errno_of(std::fs::create_dir(mp.join("shared/d"))), EEXIST);
        assert_eq!(
            errno_of(std::fs::remove_dir(mp.join("shared/d"))),
            ENOTEMPTY
        );
        assert_eq!(
            errno_of(std::fs::remove_dir(mp.join("shared/d/f"))),
            ENOTDIR
        );
        // No symbolic or hard links in Tusk's namespace.
        assert_eq!(
            errno_of(std::os::unix::fs::symlink("f", mp.join("shared/d/l"))),
            EOPNOTSUPP
        );
        assert_eq!(
            errno_of(std::fs::hard_link(
                mp.join("shared/d/f"),
                mp.join("shared/d/h")
            )),
            EOPNOTSUPP
        );
        // A write at an offset other than the end is refused, and changes
        // nothing; the handle stays usable and closes cleanly.
        let f = std::fs::File::create(mp.join("shared/seq.bin"))?;
        f.write_all_at(b"0123456789", 0)?;
        assert_eq!(errno_of(f.write_at(b"xx", 3)), EOPNOTSUPP);
        assert_eq!(errno_of(f.write_at(b"xx", 50)), EOPNOTSUPP);
        f.write_all_at(b"abc", 10)?;
        assert_eq!(errno_of(f.set_len(5)), EOPNOTSUPP);
        f.sync_all()?;
        drop(f);
        assert_eq!(std::fs::read(mp.join("shared/seq.bin"))?, b"0123456789abc");
        // rename replaces a file; refuses a non-empty directory.
        std::fs::write(mp.join("shared/d/g"), b"g")?;
        std::fs::rename(mp.join("shared/d/g"), mp.join("shared/d/f"))?;
        assert_eq!(std::fs::read(mp.join("shared/d/f"))?, b"g");
        std::fs::create_dir(mp.join("shared/e"))?;
        std::fs::rename(mp.join("shared/e"), mp.join("shared/e2"))?;
        assert_eq!(
            errno_of(std::fs::rename(mp.join("shared/e2"), mp.join("shared/d"))),
            ENOTEMPTY
        );
        // chmod and utimens reach Tusk.
        let f = mp.join("shared/d/f");
        let mut perm = std::fs::metadata(&f)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o640);
        std::fs::set_permissions(&f, perm)?;
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000);
        std::fs::File::options()
            .write(true)
            .open(&f)?
            .set_modified(t)?;
        sh(&format!("touch -m -d @1500000000 '{}'", f.display()))?;
        Ok(())
    })
    .await?;
    let st = admin.status("/shared/d/f").await?;
    assert_eq!(st.permission & 0o777, 0o640);
    assert_eq!(st.mtime_ms, 1_500_000_000_000);
    assert_eq!(st.owner, "mallory");
    drop(m);
    cl.shutdown().await?;
    Ok(())
}

#[test]
fn the_namenode_going_away_gives_eio_then_the_mount_recovers() -> Result<()> {
    if !fuse_available() {
        return Ok(());
    }
    let cl = LocalCluster::start(1, Some("[cluster]\nreplication = 1\n"))?;
    let user = tusk_common::sys::login_user();
    let m = Mount::start(
        &cl.nn_addr(),
        &user,
        &["--attr-ttl", "0s", "--retry-timeout", "2s"],
    )?;
    std::fs::create_dir(m.p("d"))?;
    std::fs::write(m.p("d/before.txt"), b"before")?;

    cl.kill9("namenode")?;
    // Every call fails with EIO after the bounded retry, never hangs.
    let t0 = Instant::now();
    assert_eq!(errno_of(std::fs::metadata(m.p("d/before.txt"))), errno::EIO);
    assert_eq!(
        errno_of(std::fs::write(m.p("d/during.txt"), b"x")),
        errno::EIO
    );
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
    assert!(m.mounted());

    cl.script("start")?;
    let rt = tokio::runtime::Runtime::new()?;
    // Reads answer once the namenode is up; writes once it left safe mode.
    rt.block_on(wait_for(
        "the mount to answer again",
        Duration::from_secs(60),
        || async { std::fs::read(m.p("d/before.txt")).is_ok() },
    ))?;
    assert_eq!(std::fs::read(m.p("d/before.txt"))?, b"before");
    rt.block_on(wait_for(
        "a write through the mount to succeed",
        Duration::from_secs(60),
        || async { std::fs::write(m.p("d/after.txt"), b"after").is_ok() },
    ))?;
    assert_eq!(std::fs::read(m.p("d/after.txt"))?, b"after");
    let ls = sh(&format!("ls '{}'", m.p("d").display()))?;
    assert_eq!(
        ls.split_whitespace().collect::<Vec<_>>(),
        ["after.txt", "before.txt"]
    );

    // --auto-unmount: fusermount3 unmounts even after kill -9.
    let mut auto = Mount::start(&cl.nn_addr(), &user, &["--auto-unmount"])?;
    assert_eq!(std::fs::read(auto.p("d/after.txt"))?, b"after");
    auto.signal("KILL")?;
    rt.block_on(wait_for(
        "fusermount3 to unmount the killed mount",
        Duration::from_secs(30),
        || async { !auto.mounted() },
    ))?;
    drop(auto);

    // SIGTERM unmounts cleanly.
    let mut m = m;
    let st = m.signal("TERM")?;
    assert!(st.success(), "dfs-fuse exit status {st}: {}", m.log_text());
    assert!(!m.mounted(), "unmounted on SIGTERM");
    Ok(())
}
