//! `tusk-bench nn`: namenode operations per second over the real RPC, with N
//! concurrent clients, against a running cluster. Used by scripts/bench.sh.
//!
//! Each phase runs `--ops` operations split across `--clients` tasks, each with
//! its own connection, and prints `op ops/s` and the CPU time per operation
//! of this process and, with `--namenode-pid PID` (a namenode on this
//! machine), of the namenode (`utime + stime` from `/proc/PID/stat`), beside
//! how many of the machine's cores were busy (`/proc/stat`): on a shared
//! machine the CPU per operation is the steadier figure.
//! `--phases mkdir,create,...` runs only some phases (in the usual order;
//! `getFileInfo`, `list` and `rename` need the files and directories the
//! earlier phases make).

use anyhow::{bail, Context, Result};
use std::time::Instant;
use tusk_client::{ClientConfig, CreateOptions, DfsClient};

const USAGE: &str = "usage: tusk-bench nn [--namenode HOST:PORT] [--clients N] [--ops N] \
[--namenode-pid PID] [--phases mkdir,create,getFileInfo,list,rename,delete]";
/// Entries in the directory the `list` phase lists.
const LIST_ENTRIES: usize = 1000;
const PHASES: [&str; 6] = ["mkdir", "create", "getFileInfo", "list", "rename", "delete"];

// One thread drives all the clients: the bench shares the machine with the
// namenode it measures, and with a second worker thread (cross-thread
// wake-ups) it spent ~10% more CPU per operation (2026-11-23).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut namenode = std::env::var("TUSK_NAMENODE").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let mut clients = 8usize;
    let mut ops = 20_000usize;
    let mut nn_pid: Option<u32> = None;
    let mut phases: Vec<String> = PHASES.iter().map(|p| p.to_string()).collect();
    if args.get(1).map(String::as_str) != Some("nn") {
        bail!("{USAGE}");
    }
    let mut i = 2;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            bail!("{} needs a value; {USAGE}", args[i]);
        };
        match args[i].as_str() {
            "--namenode" => namenode = v.clone(),
            "--clients" => clients = v.parse().context("--clients")?,
            "--ops" => ops = v.parse().context("--ops")?,
            "--namenode-pid" => nn_pid = Some(v.parse().context("--namenode-pid")?),
            "--phases" => {
                phases = v.split(',').map(str::to_string).collect();
                if let Some(p) = phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
                    bail!("unknown phase {p}; phases: {}", PHASES.join(","));
                }
            }
            a => bail!("unknown argument {a}; {USAGE}"),
        }
        i += 2;
    }
    if clients == 0 || ops < clients {
        bail!("--ops must be at least --clients (and --clients at least 1)");
    }
    if let Some(pid) = nn_pid {
        cpu_ticks(pid).with_context(|| format!("reading /proc/{pid}/stat"))?;
    }
    let run = |p: &str| phases.iter().any(|x| x == p);
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
    let b = Bench {
        conns: &conns,
        nn_pid,
    };

    if run("mkdir") {
        b.phase("mkdir", per, move |c, k, i| {
            let p = format!("{root}/c{k}/d{i}");
            async move {
                c.mkdirs(&p, 0o755, false).await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("create") {
        b.phase("create+close", per, move |c, k, i| {
            let p = format!("{root}/c{k}/f{i}");
            async move {
                let w = c.create(&p, CreateOptions::default()).await?;
                w.close().await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("getFileInfo") {
        b.phase("getFileInfo", per * 2, move |c, k, i| {
            let p = format!("{root}/c{k}/f{}", i % per);
            async move {
                c.get_file_info(&p).await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("list") {
        // A directory of exactly LIST_ENTRIES entries (made here, untimed),
        // listed whole each time. (Listing `c0` instead, as before
        // 2026-11-23, listed every file and directory of the earlier phases:
        // 10,000 entries at --ops 40000.)
        let listdir: &'static str = Box::leak(format!("{root}/list").into_boxed_str());
        conns[0].mkdirs(listdir, 0o755, false).await?;
        let mut fill = Vec::new();
        for (k, c) in conns.iter().enumerate() {
            let c = c.clone();
            fill.push(tokio::spawn(async move {
                for i in (k..LIST_ENTRIES).step_by(clients) {
                    c.mkdirs(&format!("{listdir}/e{i:04}"), 0o755, false)
                        .await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in fill {
            t.await??;
        }
        let list_ops = (per / 50).max(20);
        b.phase(
            &format!("list({LIST_ENTRIES} entries)"),
            list_ops,
            move |c, _k, _i| {
                let p = listdir;
                async move {
                    let n = c.list(p).await?.len();
                    if n != LIST_ENTRIES {
                        anyhow::bail!("listing {p} returned {n} entries, not {LIST_ENTRIES}");
                    }
                    Ok(())
                }
            },
        )
        .await?;
    }
    if run("rename") {
        b.phase("rename", per, move |c, k, i| {
            let (a, b) = (format!("{root}/c{k}/d{i}"), format!("{root}/c{k}/r{i}"));
            async move {
                c.rename(&a, &b, false).await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("delete") {
        b.phase("delete", per, move |c, k, i| {
            let p = format!("{root}/c{k}/r{i}");
            async move {
                c.delete(&p, false).await?;
                Ok(())
            }
        })
        .await?;
    }
    conns[0].delete(root, true).await?;
    Ok(())
}

struct Bench<'a> {
    conns: &'a [DfsClient],
    nn_pid: Option<u32>,
}

/// CPU figures at one instant: this process's and the namenode's CPU time
/// (clock ticks) and the machine's busy and total ticks.
struct Sample {
    own: u64,
    nn: Option<u64>,
    busy: u64,
    total: u64,
}

impl Bench<'_> {
    fn sample(&self) -> Result<Sample> {
        let (busy, total) = machine_ticks()?;
        Ok(Sample {
            own: cpu_ticks(std::process::id())?,
            nn: match self.nn_pid {
                Some(pid) => Some(
                    cpu_ticks(pid)
                        .with_context(|| format!("reading /proc/{pid}/stat (namenode gone?)"))?,
                ),
                None => None,
            },
            busy,
            total,
        })
    }

    async fn phase<F, Fut>(&self, name: &str, per: usize, op: F) -> Result<()>
    where
        F: Fn(DfsClient, usize, usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let before = self.sample()?;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (k, c) in self.conns.iter().enumerate() {
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
        let secs = start.elapsed().as_secs_f64();
        let after = self.sample()?;
        let total = per * self.conns.len();
        let us_per_op = |ticks: u64| ticks as f64 * 1e6 / ticks_per_sec() / total as f64;
        let mut cpu = format!("bench {:.0} us/op", us_per_op(after.own - before.own));
        if let (Some(a), Some(b)) = (after.nn, before.nn) {
            cpu = format!("namenode {:.0} us/op, {cpu}", us_per_op(a - b));
        }
        let window = (after.total - before.total).max(1) as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        println!(
            "{name:<20} {:>10.0} ops/s  ({total} ops in {secs:.2}s; cpu: {cpu}; machine {:.2} of {cores:.0} cores busy)",
            total as f64 / secs,
            (after.busy - before.busy) as f64 / window * cores,
        );
        Ok(())
    }
}

fn ticks_per_sec() -> f64 {
    // USER_HZ: 100 on every Linux this runs on (the value /proc reports in).
    100.0
}

/// `utime + stime` of a process, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields after its ')' .
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11).context("short /proc stat")?.parse()?;
    let stime: u64 = f.get(12).context("short /proc stat")?.parse()?;
    Ok(utime + stime)
}

/// (busy, total) clock ticks of all cores since boot (`/proc/stat`).
fn machine_ticks() -> Result<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat")?;
    let line = s.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle and iowait are fields 4 and 5.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}
