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
//!
//! The baseline: `tusk-bench echo-server --addr HOST:PORT` serves a unary
//! call that only returns its body (`proto/bench.proto`) with the namenode's
//! tonic server stack and runtime; `nn --echo HOST:PORT [--echo-pid PID]`
//! first measures that call with the same clients, then prints every phase
//! beside it: `ops/s × calls per operation / echo calls/s` is the share of
//! what the RPC layer alone allows on this machine in this run.

use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};
use tusk_client::{ClientConfig, CreateOptions, DfsClient};
use tusk_proto::bench::echo_client::EchoClient;
use tusk_proto::bench::echo_server::{Echo, EchoServer};
use tusk_proto::bench::EchoMessage;

const USAGE: &str = "usage: tusk-bench nn [--namenode HOST:PORT] [--clients N] [--ops N] \
[--namenode-pid PID] [--phases mkdir,create,getFileInfo,list,rename,delete] \
[--echo HOST:PORT [--echo-pid PID]]
       tusk-bench echo-server --addr HOST:PORT";
/// Entries in the directory the `list` phase lists.
const LIST_ENTRIES: usize = 1000;
const PHASES: [&str; 6] = ["mkdir", "create", "getFileInfo", "list", "rename", "delete"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    match args.get(1).map(String::as_str) {
        Some("echo-server") => {
            let addr = match (args.get(2).map(String::as_str), args.get(3)) {
                (Some("--addr"), Some(a)) if args.len() == 4 => a.clone(),
                _ => bail!("{USAGE}"),
            };
            // The namenode's runtime (namenode/src/bin/namenode.rs).
            tokio::runtime::Runtime::new()?.block_on(echo_server(&addr))
        }
        // One thread drives all the clients: the bench shares the machine
        // with the namenode it measures, and with a second worker thread
        // (cross-thread wake-ups) it spent ~10% more CPU per operation
        // (2026-11-23).
        Some("nn") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(nn(args)),
        _ => bail!("{USAGE}"),
    }
}

/// Serves `tusk.bench.Echo` on `addr` until SIGINT or SIGTERM; prints
/// `listening on HOST:PORT` once it accepts connections.
async fn echo_server(addr: &str) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    // The address really bound (port 0 picks one), for whoever started it.
    println!("listening on {}", listener.local_addr()?);
    let limits = tusk_common::config::LimitsConfig::default();
    let router = tusk_common::net::grpc_server(&limits).add_service(EchoServer::new(EchoService));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = tusk_common::net::wait_for_stop_signal().await;
        let _ = stop_tx.send(true);
    });
    tusk_common::net::serve_grpc(router, listener, stop, Duration::from_secs(1), "echo").await;
    Ok(())
}

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, req: Request<EchoMessage>) -> Result<Response<EchoMessage>, Status> {
        Ok(Response::new(req.into_inner()))
    }
}

async fn nn(args: Vec<String>) -> Result<()> {
    let mut namenode = std::env::var("TUSK_NAMENODE").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let mut clients = 8usize;
    let mut ops = 20_000usize;
    let mut nn_pid: Option<u32> = None;
    let mut phases: Vec<String> = PHASES.iter().map(|p| p.to_string()).collect();
    let mut echo: Option<String> = None;
    let mut echo_pid: Option<u32> = None;
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
            "--echo" => echo = Some(v.clone()),
            "--echo-pid" => echo_pid = Some(v.parse().context("--echo-pid")?),
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
    for pid in nn_pid.iter().chain(&echo_pid) {
        cpu_ticks(*pid).with_context(|| format!("reading /proc/{pid}/stat"))?;
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
    let floor = match &echo {
        Some(addr) => Some(echo_floor(addr, echo_pid, clients, per * 2).await?),
        None => None,
    };
    let b = Bench {
        conns: &conns,
        nn_pid,
        floor,
    };

    if run("mkdir") {
        b.phase("mkdir", 1, per, move |c, k, i| {
            let p = format!("{root}/c{k}/d{i}");
            async move {
                c.mkdirs(&p, 0o755, false).await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("create") {
        b.phase("create+close", 2, per, move |c, k, i| {
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
        b.phase("getFileInfo", 1, per * 2, move |c, k, i| {
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
        // A listing's reply is ~1,000 times an echo's: no share of the
        // RPC floor is printed.
        b.phase(
            &format!("list({LIST_ENTRIES} entries)"),
            0,
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
        b.phase("rename", 1, per, move |c, k, i| {
            let (a, b) = (format!("{root}/c{k}/d{i}"), format!("{root}/c{k}/r{i}"));
            async move {
                c.rename(&a, &b, false).await?;
                Ok(())
            }
        })
        .await?;
    }
    if run("delete") {
        b.phase("delete", 1, per, move |c, k, i| {
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
    /// Echo calls per second (`--echo`), the RPC floor.
    floor: Option<f64>,
}

/// The RPC floor: `clients` connections to the echo server at `addr` (made
/// as `DfsClient` makes its own), each making `per` calls with a 64-byte
/// body, about a getFileInfo request and reply. Prints the phase line and
/// returns the calls per second.
async fn echo_floor(addr: &str, pid: Option<u32>, clients: usize, per: usize) -> Result<f64> {
    let mut conns = Vec::new();
    for _ in 0..clients {
        let ch = tusk_client::client::endpoint(addr)?.connect_lazy();
        conns.push(EchoClient::new(ch));
    }
    // The server may still be starting: wait (at most 10 s) for an answer
    // on every connection, so that none is made inside the timed phase.
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in &conns {
        while let Err(e) = c.clone().echo(EchoMessage::default()).await {
            if Instant::now() > deadline {
                bail!("echo server {addr}: {}", e.message());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let server = pid.map(|p| ("echo server", p));
    measure(
        "echo (RPC floor)",
        &conns,
        server,
        per,
        None,
        |mut c, _k, _i| async move {
            c.echo(EchoMessage {
                body: vec![7u8; 64].into(),
            })
            .await?;
            Ok(())
        },
    )
    .await
}

/// CPU figures at one instant: this process's and the measured server's
/// CPU time (clock ticks) and the machine's busy and total ticks.
struct Sample {
    own: u64,
    server: Option<u64>,
    busy: u64,
    total: u64,
}

fn sample(server: Option<(&str, u32)>) -> Result<Sample> {
    let (busy, total) = machine_ticks()?;
    Ok(Sample {
        own: cpu_ticks(std::process::id())?,
        server: match server {
            Some((label, pid)) => Some(
                cpu_ticks(pid)
                    .with_context(|| format!("reading /proc/{pid}/stat ({label} gone?)"))?,
            ),
            None => None,
        },
        busy,
        total,
    })
}

impl Bench<'_> {
    /// Runs one phase of `per` operations per client; `calls` is the RPCs
    /// each makes (0: not comparable with the floor).
    async fn phase<F, Fut>(&self, name: &str, calls: u32, per: usize, op: F) -> Result<()>
    where
        F: Fn(DfsClient, usize, usize) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let server = self.nn_pid.map(|p| ("namenode", p));
        let floor = self.floor.filter(|_| calls > 0).map(|f| (f, calls));
        measure(name, self.conns, server, per, floor, op).await?;
        Ok(())
    }
}

/// Runs `per` operations on each of `conns` at once and prints `name`'s
/// line: operations per second, the CPU per operation of this process and
/// of `server` (a label and a pid), the machine's busy cores and, with
/// `floor` (echo calls/s, calls per operation), the share of the RPC floor.
/// Returns the operations per second.
async fn measure<C, F, Fut>(
    name: &str,
    conns: &[C],
    server: Option<(&str, u32)>,
    per: usize,
    floor: Option<(f64, u32)>,
    op: F,
) -> Result<f64>
where
    C: Clone + Send + 'static,
    F: Fn(C, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let before = sample(server)?;
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
    let secs = start.elapsed().as_secs_f64();
    let after = sample(server)?;
    let total = per * conns.len();
    let rate = total as f64 / secs;
    let us_per_op = |ticks: u64| ticks as f64 * 1e6 / ticks_per_sec() / total as f64;
    let mut cpu = format!("bench {:.0} us/op", us_per_op(after.own - before.own));
    if let (Some((label, _)), Some(a), Some(b)) = (server, after.server, before.server) {
        cpu = format!("{label} {:.0} us/op, {cpu}", us_per_op(a - b));
    }
    let window = (after.total - before.total).max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = match floor {
        Some((f, calls)) => format!(
            "  {:.2}x the RPC floor ({calls} call{})",
            rate * calls as f64 / f,
            if calls == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    println!(
        "{name:<20} {rate:>10.0} ops/s  ({total} ops in {secs:.2}s; cpu: {cpu}; machine {:.2} of {cores:.0} cores busy){share}",
        (after.busy - before.busy) as f64 / window * cores,
    );
    Ok(rate)
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
