//! `tusk-load`: the load test of `scripts/bench.sh load`.
//!
//! Starts a local cluster of real processes (`scripts/local-cluster.sh` in a
//! temp `TUSK_HOME`, 3 datanodes, the binaries of `TUSK_BIN_DIR`), then runs
//! a mix of metadata and data operations from many concurrent clients (tasks
//! in this process, each with its own `DfsClient` connection):
//!
//! - in its own directory, each client makes directories, creates files of
//!   0 B to 4 MiB (a quarter of the big ones with 1 MiB blocks, so several
//!   blocks), reads them back and compares their SHA-256, stats, lists,
//!   renames, deletes, sets replication and permissions, checking every
//!   answer against its own model of the directory;
//! - all clients append records to a few shared files (a file has one
//!   writer at a time: an append refused because another client holds the
//!   lease is provoked);
//! - clients create "victim" files in a shared directory, delete them later,
//!   and read each other's victims meanwhile (not found, or a block gone
//!   from under a reader of a victim being deleted, is provoked).
//!
//! The same mix runs first with one client (the baseline), then with
//! `--clients` clients; ops/s and p50/p99 latency per operation are printed
//! side by side, with the ops/s ratio (the scaling). At the end: every
//! datanode's transfers must drain to 0 (no stream left holding one of its
//! `max_transfers` slots), `fsck /` must be HEALTHY (library and
//! `dfs fsck /`), the files present must be
//! exactly the model's, every file's SHA-256 (`dfs checksum`) must equal
//! what was written, every shared append file must hold exactly the
//! acknowledged records, and no error may be of an unexpected kind. Any
//! violation is printed and the exit status is 1.

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tusk_client::{ClientConfig, CreateOptions, DfsClient, DfsError};
use tusk_tests::LocalCluster;

const USAGE: &str = "usage: tusk-load [--clients N] [--seconds S] [--baseline-seconds S] \
[--seed N] [--config FILE]
  defaults: --clients 64, --seconds $LOAD_SECONDS or 180, --baseline-seconds
  $LOAD_BASELINE_SECONDS or 30 (0 skips the baseline), --seed from the clock,
  --config $LOAD_CONFIG (the cluster's tusk.toml) or 8 MiB blocks";

/// Shared files every client appends to.
const APPEND_FILES: usize = 4;
/// Own files a client keeps at most (bounds the disk the test uses).
const MAX_OWN_FILES: usize = 6;
/// Victim files a client keeps at most before it deletes its oldest.
const MAX_VICTIMS: usize = 2;
/// The cluster's tusk.toml unless `--config` gives one: 8 MiB blocks, so
/// that the room a datanode wants for each replica being written (one
/// block) stays small beside the machine's free disk with 64 writers.
const DEFAULT_CONFIG: &str = "[cluster]\nblock_size = \"8MiB\"\n";
/// Block size of the multi-block files.
const SMALL_BLOCK: u64 = 1 << 20;

/// The operations of the mix, with their weights.
const MIX: &[(&str, u32)] = &[
    ("create", 18),
    ("read", 18),
    ("stat", 12),
    ("list", 8),
    ("mkdir", 4),
    ("rename", 6),
    ("delete", 6),
    ("setrep", 4),
    ("chmod", 5),
    ("append", 8),
    ("victim", 3),
    ("read-victim", 8),
];

struct Args {
    /// tusk.toml of the cluster (`--config FILE` or `$LOAD_CONFIG`).
    config: Option<String>,
    clients: usize,
    seconds: u64,
    baseline_seconds: u64,
    seed: u64,
}

fn env_u64(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(Some(
            v.parse()
                .with_context(|| format!("{name}={v}: not a number"))?,
        )),
        _ => Ok(None),
    }
}

fn read_config(path: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--config {path}"))?;
    tusk_common::TuskConfig::parse(&text).map_err(|e| anyhow::anyhow!("--config {path}: {e}"))?;
    Ok(text)
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        config: None,
        clients: 64,
        seconds: env_u64("LOAD_SECONDS")?.unwrap_or(180),
        baseline_seconds: env_u64("LOAD_BASELINE_SECONDS")?.unwrap_or(30),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == "--help" || argv[i] == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let Some(v) = argv.get(i + 1) else {
            bail!("{} needs a value\n{USAGE}", argv[i]);
        };
        if argv[i] == "--config" {
            a.config = Some(read_config(v)?);
            i += 2;
            continue;
        }
        let n: u64 = v
            .parse()
            .with_context(|| format!("{} {v}: not a number", argv[i]))?;
        match argv[i].as_str() {
            "--clients" => a.clients = n as usize,
            "--seconds" => a.seconds = n,
            "--baseline-seconds" => a.baseline_seconds = n,
            "--seed" => a.seed = n,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
        i += 2;
    }
    if a.config.is_none() {
        if let Some(p) = std::env::var_os("LOAD_CONFIG").filter(|p| !p.is_empty()) {
            a.config = Some(read_config(&p.to_string_lossy())?);
        }
    }
    if a.clients == 0 || a.seconds == 0 {
        bail!("--clients and --seconds must be at least 1");
    }
    Ok(a)
}

/// What every client of a phase shares.
struct Shared {
    /// Phase root, `/load/<phase>`.
    root: String,
    /// Victims anyone may read: path, SHA-256, and whether its deletion began.
    victims: Mutex<Vec<Arc<Victim>>>,
    /// Acknowledged records per shared append file.
    appended: Mutex<Vec<Vec<String>>>,
    /// Errors by (op, kind).
    errors: Mutex<BTreeMap<(String, String), u64>>,
    /// Answers that contradict the model: always violations.
    violations: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// Bytes written and read, for the report.
    bytes: AtomicU64,
}

struct Victim {
    path: String,
    sha: [u8; 32],
    deleting: AtomicBool,
}

impl Shared {
    fn error(&self, op: &str, kind: String) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry((op.to_string(), kind))
            .or_default() += 1;
    }

    fn violation(&self, what: String) {
        eprintln!("tusk-load: VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }
}

/// One client's view of its own directory: file path → SHA-256 and length.
#[derive(Default)]
struct Own {
    files: BTreeMap<String, ([u8; 32], u64)>,
    dirs: Vec<String>,
    victims: Vec<Arc<Victim>>,
}

/// What a phase leaves for the final checks.
struct PhaseResult {
    name: String,
    clients: usize,
    elapsed: Duration,
    latencies: HashMap<&'static str, Vec<Duration>>,
    own: Vec<Own>,
    shared: Arc<Shared>,
}

/// The kind of an error, as the tally counts it.
fn kind(e: &DfsError) -> String {
    match e {
        DfsError::FileNotFound { .. } => "FileNotFound".into(),
        DfsError::AlreadyExists { .. } => "AlreadyExists".into(),
        DfsError::PermissionDenied { .. } => "PermissionDenied".into(),
        DfsError::Lease { .. } => "Lease".into(),
        DfsError::BlockUnreadable { .. } => "BlockUnreadable".into(),
        DfsError::ChecksumError { .. } => "ChecksumError".into(),
        DfsError::Pipeline { .. } => "Pipeline".into(),
        DfsError::Unreachable { .. } => "Unreachable".into(),
        DfsError::SafeMode { .. } => "SafeMode".into(),
        DfsError::QuotaExceeded { .. } => "QuotaExceeded".into(),
        DfsError::Rpc { code, class, .. } => {
            format!(
                "Rpc({code:?}{})",
                class
                    .as_deref()
                    .map(|c| format!(", {c}"))
                    .unwrap_or_default()
            )
        }
        other => format!("{other:?}")
            .split([' ', '(', '{'])
            .next()
            .unwrap_or("Other")
            .to_string(),
    }
}

/// Errors the test provokes on purpose, by op.
fn provoked(op: &str, kind: &str) -> bool {
    matches!(
        (op, kind),
        ("append", "Lease") | ("read-victim", "FileNotFound") | ("read-victim", "BlockUnreadable")
    )
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A size from 0 B to 4 MiB, mostly small.
fn file_size(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..100) {
        0..=9 => 0,
        10..=49 => rng.gen_range(1..16 << 10),
        50..=79 => rng.gen_range(16 << 10..256 << 10),
        80..=92 => rng.gen_range(256 << 10..1 << 20),
        _ => rng.gen_range(1 << 20..4 << 20),
    }
}

fn random_bytes(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

async fn write_file(
    c: &DfsClient,
    path: &str,
    data: &[u8],
    opts: CreateOptions,
) -> tusk_client::Result<()> {
    let mut w = c.create(path, opts).await?;
    w.write_all(data).await?;
    w.close().await
}

/// [`write_file`] of a file the model tracks: a failed write is an
/// unexpected error (reported by the caller), and the half-made file is
/// deleted (best effort) so that the model stays exact and the error is
/// counted once rather than again as a surprise in every later listing.
async fn write_tracked(
    c: &DfsClient,
    path: &str,
    data: &[u8],
    opts: CreateOptions,
) -> tusk_client::Result<()> {
    let res = write_file(c, path, data, opts).await;
    if res.is_err() {
        let _ = c.delete(path, false).await;
    }
    res
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> Option<&'a T> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.gen_range(0..v.len())])
    }
}

fn pick_op(rng: &mut StdRng) -> &'static str {
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for (op, w) in MIX {
        if x < *w {
            return op;
        }
        x -= w;
    }
    MIX[0].0
}

/// One client's loop until the phase stops.
async fn run_client(
    id: usize,
    c: DfsClient,
    shared: Arc<Shared>,
    seed: u64,
) -> (Own, HashMap<&'static str, Vec<Duration>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = format!("{}/c{id}", shared.root);
    let mut own = Own::default();
    let mut lat: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    if let Err(e) = c.mkdirs(&dir, 0o755, true).await {
        shared.violation(format!("client {id}: mkdir {dir}: {e}"));
        return (own, lat);
    }
    own.dirs.push(dir.clone());
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        let mut op = pick_op(&mut rng);
        // Keep the disk bounded: a client at its file limit deletes.
        if op == "create" && own.files.len() >= MAX_OWN_FILES {
            op = "delete";
        }
        let started = Instant::now();
        let res = one_op(op, id, n, &c, &shared, &mut own, &mut rng, &dir).await;
        match res {
            Ok(true) => lat.entry(op).or_default().push(started.elapsed()),
            Ok(false) => {} // nothing to do (no file yet): not timed
            Err(e) => {
                let k = kind(&e);
                if !provoked(op, &k) {
                    eprintln!("tusk-load: client {id}: {op}: unexpected error: {e}");
                }
                shared.error(op, k);
            }
        }
    }
    (own, lat)
}

/// Runs one operation; `Ok(false)` when there was nothing to do.
#[allow(clippy::too_many_arguments)]
async fn one_op(
    op: &'static str,
    id: usize,
    n: u64,
    c: &DfsClient,
    shared: &Shared,
    own: &mut Own,
    rng: &mut StdRng,
    dir: &str,
) -> tusk_client::Result<bool> {
    let some_file = |rng: &mut StdRng, own: &Own| {
        let keys: Vec<&String> = own.files.keys().collect();
        pick(rng, &keys).map(|s| s.to_string())
    };
    match op {
        "mkdir" => {
            let parent = pick(rng, &own.dirs)
                .cloned()
                .unwrap_or_else(|| dir.to_string());
            // Bounded depth: new dirs go under the client's dir or one level below.
            let parent = if parent.matches('/').count() > dir.matches('/').count() + 1 {
                dir.to_string()
            } else {
                parent
            };
            let p = format!("{parent}/d{n}");
            c.mkdirs(&p, 0o755, false).await?;
            own.dirs.push(p);
        }
        "create" => {
            let size = file_size(rng);
            let data = random_bytes(rng, size);
            let parent = pick(rng, &own.dirs)
                .cloned()
                .unwrap_or_else(|| dir.to_string());
            let p = format!("{parent}/f{n}");
            let mut opts = CreateOptions::default();
            if size > SMALL_BLOCK as usize && rng.gen_bool(0.25) {
                opts = opts.with_block_size(SMALL_BLOCK);
            }
            if rng.gen_bool(0.2) {
                opts = opts.with_replication(rng.gen_range(1..=3));
            }
            write_tracked(c, &p, &data, opts).await?;
            shared.bytes.fetch_add(size as u64, Ordering::Relaxed);
            own.files.insert(p, (sha(&data), size as u64));
        }
        "read" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            let data = c.read_file(&p).await?;
            shared.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            let (want, len) = own.files[&p];
            if sha(&data) != want {
                shared.violation(format!(
                    "client {id}: {p}: read {} bytes whose SHA-256 differs from the {len} written",
                    data.len()
                ));
            }
        }
        "stat" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            match c.get_file_info(&p).await? {
                Some(st) if st.is_file() && st.length == own.files[&p].1 => {}
                other => shared.violation(format!(
                    "client {id}: stat {p}: expected a file of {} bytes, got {other:?}",
                    own.files[&p].1
                )),
            }
        }
        "list" => {
            let d = pick(rng, &own.dirs)
                .cloned()
                .unwrap_or_else(|| dir.to_string());
            let mut got: Vec<String> = c.list(&d).await?.into_iter().map(|s| s.path).collect();
            got.sort();
            let prefix = format!("{d}/");
            let mut want: Vec<String> = own
                .files
                .keys()
                .chain(own.dirs.iter())
                .filter(|p| {
                    p.strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.contains('/'))
                })
                .cloned()
                .collect();
            want.sort();
            if got != want {
                shared.violation(format!(
                    "client {id}: list {d}: got {got:?}, expected {want:?}"
                ));
            }
        }
        "rename" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            let parent = pick(rng, &own.dirs)
                .cloned()
                .unwrap_or_else(|| dir.to_string());
            let to = format!("{parent}/r{n}");
            c.rename(&p, &to, false).await?;
            let v = own.files.remove(&p).expect("picked from the model");
            own.files.insert(to, v);
        }
        "delete" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            if !c.delete(&p, false).await? {
                shared.violation(format!(
                    "client {id}: delete {p}: the namenode says it was not there"
                ));
            }
            own.files.remove(&p);
        }
        "setrep" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            c.set_replication(&p, rng.gen_range(1..=3)).await?;
        }
        "chmod" => {
            let Some(p) = some_file(rng, own) else {
                return Ok(false);
            };
            let mode = if rng.gen_bool(0.5) { 0o600 } else { 0o644 };
            c.set_permission(&p, mode).await?;
            match c.get_file_info(&p).await? {
                Some(st) if st.permission & 0o777 == mode => {}
                other => shared.violation(format!(
                    "client {id}: chmod {mode:o} {p}: stat says {:?}",
                    other.map(|s| format!("{:o}", s.permission))
                )),
            }
        }
        "append" => {
            let k = rng.gen_range(0..APPEND_FILES);
            let p = format!("{}/shared/append-{k}", shared.root);
            let record = format!("c{id} n{n} {:016x}\n", rng.gen::<u64>());
            let mut w = c.append(&p).await?;
            w.write_all(record.as_bytes()).await?;
            w.close().await?;
            shared.appended.lock().unwrap()[k].push(record);
        }
        "victim" => {
            if own.victims.len() >= MAX_VICTIMS {
                // Others may still pick it while it is being deleted (and
                // read it, or find it gone): the point of victims.
                let v = own.victims.remove(0);
                v.deleting.store(true, Ordering::SeqCst);
                let deleted = c.delete(&v.path, false).await;
                shared
                    .victims
                    .lock()
                    .unwrap()
                    .retain(|x| !Arc::ptr_eq(x, &v));
                if !deleted? {
                    shared.violation(format!("client {id}: delete {}: it was not there", v.path));
                }
            } else {
                let size = rng.gen_range(0..1 << 20);
                let data = random_bytes(rng, size);
                let p = format!("{}/victims/c{id}-{n}", shared.root);
                let opts = CreateOptions::default().with_block_size(SMALL_BLOCK);
                write_tracked(c, &p, &data, opts).await?;
                let v = Arc::new(Victim {
                    path: p,
                    sha: sha(&data),
                    deleting: AtomicBool::new(false),
                });
                shared.victims.lock().unwrap().push(v.clone());
                own.victims.push(v);
            }
        }
        "read-victim" => {
            let v = {
                let all = shared.victims.lock().unwrap();
                pick(rng, &all).cloned()
            };
            let Some(v) = v else {
                return Ok(false);
            };
            match c.read_file(&v.path).await {
                Ok(data) => {
                    if sha(&data) != v.sha {
                        shared.violation(format!(
                            "client {id}: {}: read {} bytes whose SHA-256 differs from what was written",
                            v.path,
                            data.len()
                        ));
                    }
                }
                // Its blocks vanished under the reader: provoked only if
                // the file's deletion had begun.
                Err(e @ DfsError::BlockUnreadable { .. }) if !v.deleting.load(Ordering::SeqCst) => {
                    shared.violation(format!("client {id}: read of a live victim failed: {e}"));
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        other => unreachable!("op {other} is not in MIX"),
    }
    Ok(true)
}

async fn client(nn: &str) -> Result<DfsClient> {
    // Reads go over the network (DataTransfer), not short-circuit.
    let cfg = ClientConfig::default()
        .with_namenode(nn.to_string())
        .with_user(tusk_common::sys::login_user())
        .with_read_shortcircuit(false)
        .with_retry_timeout(Duration::from_secs(60));
    Ok(DfsClient::connect(cfg).await?)
}

async fn run_phase(
    nn: &str,
    name: &str,
    clients: usize,
    seconds: u64,
    seed: u64,
) -> Result<PhaseResult> {
    let root = format!("/load/{name}");
    let admin = client(nn).await?;
    admin
        .mkdirs(&format!("{root}/victims"), 0o755, true)
        .await?;
    admin.mkdirs(&format!("{root}/shared"), 0o755, true).await?;
    for k in 0..APPEND_FILES {
        write_file(
            &admin,
            &format!("{root}/shared/append-{k}"),
            b"",
            CreateOptions::default(),
        )
        .await?;
    }
    let shared = Arc::new(Shared {
        root,
        victims: Mutex::new(Vec::new()),
        appended: Mutex::new(vec![Vec::new(); APPEND_FILES]),
        errors: Mutex::new(BTreeMap::new()),
        violations: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        bytes: AtomicU64::new(0),
    });
    let mut tasks = Vec::new();
    for i in 0..clients {
        let c = client(nn).await?;
        let s = shared.clone();
        tasks.push(tokio::spawn(run_client(
            i,
            c,
            s,
            seed.wrapping_add(i as u64 * 7919),
        )));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut own = Vec::new();
    let mut latencies: HashMap<&'static str, Vec<Duration>> = HashMap::new();
    for t in tasks {
        let (o, lat) = t.await.context("a client task panicked")?;
        own.push(o);
        for (op, mut v) in lat {
            latencies.entry(op).or_default().append(&mut v);
        }
    }
    let elapsed = started.elapsed();
    Ok(PhaseResult {
        name: name.to_string(),
        clients,
        elapsed,
        latencies,
        own,
        shared,
    })
}

/// `p`-quantile of sorted durations, in ms.
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

struct OpStats {
    ops: usize,
    per_sec: f64,
    p50: f64,
    p99: f64,
}

fn stats(r: &PhaseResult, op: &str) -> OpStats {
    op_stats(r.latencies.get(op).cloned().unwrap_or_default(), r.elapsed)
}

fn op_stats(mut v: Vec<Duration>, elapsed: Duration) -> OpStats {
    v.sort();
    OpStats {
        ops: v.len(),
        per_sec: v.len() as f64 / elapsed.as_secs_f64(),
        p50: quantile_ms(&v, 0.5),
        p99: quantile_ms(&v, 0.99),
    }
}

fn print_report(main: &PhaseResult, base: Option<&PhaseResult>) {
    let all =
        |r: &PhaseResult| op_stats(r.latencies.values().flatten().copied().collect(), r.elapsed);
    println!(
        "{:<12} {:>8} {:>9} {:>9} {:>9} | {:>9} {:>9} {:>9} | {:>7}",
        "op", "ops", "ops/s", "p50 ms", "p99 ms", "1c ops/s", "1c p50", "1c p99", "scaling"
    );
    let row = |name: &str, m: OpStats, b: Option<OpStats>| {
        let (bs, bp50, bp99, ratio) = match b {
            Some(b) if b.ops > 0 => (
                format!("{:.1}", b.per_sec),
                format!("{:.1}", b.p50),
                format!("{:.1}", b.p99),
                format!("{:.2}x", m.per_sec / b.per_sec),
            ),
            _ => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<12} {:>8} {:>9.1} {:>9.1} {:>9.1} | {:>9} {:>9} {:>9} | {:>7}",
            name, m.ops, m.per_sec, m.p50, m.p99, bs, bp50, bp99, ratio
        );
    };
    for (op, _) in MIX {
        row(op, stats(main, op), base.map(|b| stats(b, op)));
    }
    row("all", all(main), base.map(all));
    let mb = |r: &PhaseResult| {
        r.shared.bytes.load(Ordering::Relaxed) as f64 / 1048576.0 / r.elapsed.as_secs_f64()
    };
    match base {
        Some(b) => println!(
            "data written + read: {:.1} MiB/s with {} clients, {:.1} MiB/s with {} ({:.2}x)",
            mb(main),
            main.clients,
            mb(b),
            b.clients,
            mb(main) / mb(b).max(f64::MIN_POSITIVE)
        ),
        None => println!(
            "data written + read: {:.1} MiB/s with {} clients",
            mb(main),
            main.clients
        ),
    }
}

/// Once the clients stopped, every datanode's transfers (xceivers, from
/// its heartbeats) must drain to 0: a stream left open would hold one of
/// its `max_transfers` slots for good. Returns the violations.
async fn drained(nn: &str) -> Result<Vec<String>> {
    let c = client(nn).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let busy: Vec<String> = c
            .datanode_report()
            .await?
            .into_iter()
            .filter(|d| d.live && d.xceivers > 0)
            .map(|d| format!("datanode {}: {} transfers", d.info.data_addr, d.xceivers))
            .collect();
        if busy.is_empty() {
            println!("datanode transfers drained after the clients stopped");
            return Ok(Vec::new());
        }
        if Instant::now() > deadline {
            println!("datanode transfers NOT drained: {}", busy.join(", "));
            return Ok(busy
                .into_iter()
                .map(|b| format!("{b} still open 60 s after the clients stopped"))
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The final checks over every phase; returns the violations.
async fn verify(nn: &str, cluster: &LocalCluster, phases: &[&PhaseResult]) -> Result<Vec<String>> {
    let c = client(nn).await?;
    let mut bad: Vec<String> = Vec::new();
    for r in phases {
        bad.extend(r.shared.violations.lock().unwrap().iter().cloned());
        for ((op, k), n) in r.shared.errors.lock().unwrap().iter() {
            if !provoked(op, k) {
                bad.push(format!("{}: {n} unexpected {k} error(s) from {op}", r.name));
            }
        }
    }

    // fsck: no missing or corrupt block (the library's report and the CLI's
    // last line). Blocks of just-deleted victims may still be on their
    // way out; missing blocks are never expected.
    let report = c.fsck("/", false).await?;
    let out = cluster.dfs(&["fsck", "/"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    println!("dfs fsck /: {last}");
    if !report.is_healthy() || !last.contains("HEALTHY") || !out.status.success() {
        bad.push(format!(
            "fsck / is not HEALTHY: {} corrupt, {} missing blocks; dfs fsck: {last}",
            report.corrupt_blocks, report.missing_blocks
        ));
    }

    // Exactly the model's files, each with the SHA-256 written.
    let mut checked = 0usize;
    let mut records = 0usize;
    for r in phases {
        let root = &r.shared.root;
        let mut want: BTreeMap<String, ([u8; 32], u64)> = BTreeMap::new();
        for o in &r.own {
            want.extend(o.files.iter().map(|(p, v)| (p.clone(), *v)));
            for v in &o.victims {
                want.insert(v.path.clone(), (v.sha, u64::MAX));
            }
        }
        let present: Vec<String> = c
            .walk(root)
            .await?
            .into_iter()
            .filter(|s| s.is_file() && !s.path.starts_with(&format!("{root}/shared/")))
            .map(|s| s.path)
            .collect();
        for p in &present {
            if !want.contains_key(p) {
                bad.push(format!(
                    "{p}: present, but the model says it was deleted or renamed"
                ));
            }
        }
        for p in want.keys() {
            if !present.contains(p) {
                bad.push(format!("{p}: missing"));
            }
        }
        for (p, (digest, len)) in &want {
            if !present.contains(p) {
                continue;
            }
            let sum = c.file_checksum(p).await?;
            checked += 1;
            if sum.sha256 != Some(*digest) || (*len != u64::MAX && sum.length != *len) {
                bad.push(format!(
                    "{p}: checksum {:?} ({} bytes), written {} ({} bytes)",
                    sum.hex(),
                    sum.length,
                    hex::encode(digest),
                    len
                ));
            }
        }
        // Shared append files: exactly the acknowledged records, each once.
        let appended = r.shared.appended.lock().unwrap().clone();
        for (k, acked) in appended.iter().enumerate() {
            let p = format!("{root}/shared/append-{k}");
            let data = c.read_file(&p).await?;
            let sum = c.file_checksum(&p).await?;
            let text = String::from_utf8_lossy(&data);
            let mut got: Vec<&str> = text.split_inclusive('\n').collect();
            let mut want: Vec<&str> = acked.iter().map(String::as_str).collect();
            got.sort_unstable();
            want.sort_unstable();
            records += want.len();
            if got != want {
                bad.push(format!(
                    "{p}: holds {} records, {} were acknowledged (or they differ)",
                    got.len(),
                    want.len()
                ));
            }
            if sum.length != data.len() as u64 || sum.sha256.is_some_and(|s| s != sha(&data)) {
                bad.push(format!(
                    "{p}: checksum says {} bytes / {:?}, {} bytes read",
                    sum.length,
                    sum.hex(),
                    data.len()
                ));
            }
        }
    }
    println!(
        "verified: {checked} files by SHA-256, {} shared append files with {records} records",
        phases.len() * APPEND_FILES
    );
    Ok(bad)
}

fn print_errors(r: &PhaseResult) {
    let errors = r.shared.errors.lock().unwrap();
    if errors.is_empty() {
        println!("{}: no errors", r.name);
        return;
    }
    let line: Vec<String> = errors
        .iter()
        .map(|((op, k), n)| {
            let tag = if provoked(op, k) {
                "provoked"
            } else {
                "UNEXPECTED"
            };
            format!("{op}/{k} {n} ({tag})")
        })
        .collect();
    println!("{}: errors: {}", r.name, line.join(", "));
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("tusk-load: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<bool> {
    let a = parse_args()?;
    let config = a.config.as_deref().unwrap_or(DEFAULT_CONFIG);
    let cluster = LocalCluster::start(3, Some(config)).context("starting the local cluster")?;
    let nn = cluster.nn_addr();
    println!(
        "# load test, {} cores, 3 datanodes ({}), {} clients for {} s, baseline 1 client for {} s, seed {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cluster.bin_dir.display(),
        a.clients,
        a.seconds,
        a.baseline_seconds,
        a.seed
    );
    // Wait for the datanodes: a write needs them registered.
    let admin = client(&nn).await?;
    tusk_tests::wait_for("3 live datanodes", Duration::from_secs(60), || {
        let admin = admin.clone();
        async move { admin.datanode_report().await.is_ok_and(|r| r.len() >= 3) }
    })
    .await?;

    let base = if a.baseline_seconds > 0 {
        Some(run_phase(&nn, "baseline", 1, a.baseline_seconds, a.seed ^ 0x5eed).await?)
    } else {
        None
    };
    let main = run_phase(&nn, "main", a.clients, a.seconds, a.seed).await?;
    print_report(&main, base.as_ref());
    if let Some(b) = &base {
        print_errors(b);
    }
    print_errors(&main);
    let mut phases = vec![&main];
    if let Some(b) = &base {
        phases.push(b);
    }
    let mut bad = drained(&nn).await?;
    bad.extend(verify(&nn, &cluster, &phases).await?);
    if bad.is_empty() {
        println!("load test passed");
        Ok(true)
    } else {
        println!("load test FAILED: {} violation(s)", bad.len());
        for b in bad.iter().take(40) {
            println!("  {b}");
        }
        if bad.len() > 40 {
            println!("  … and {} more", bad.len() - 40);
        }
        Ok(false)
    }
}
