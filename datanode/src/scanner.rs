//! The block scanner: a background worker that re-reads every finalized
//! replica at a bounded rate, checks each 512-byte chunk against its stored
//! CRC32C and the whole replica against the SHA-256 in its meta header, and
//! reports corrupt replicas to the namenode (`ReportCorrupt`), which
//! replaces them from a good copy and then sends DELETE.
//!
//! - One pass visits the replicas in block-id order; a pass that ends before
//!   `scan_period` waits for the rest of it (HDFS: each replica once per
//!   period, 3 weeks by default), and the rate (`scan_bytes_per_sec`) keeps
//!   the disks free for clients.
//! - The position of an unfinished pass is kept in `<state_dir>/scanner.cursor`
//!   (written at most once a second, without fsync: losing it costs a
//!   re-scan, nothing else), so a restart resumes where it stopped.
//! - No false reports: only finalized replicas are scanned (never `rbw`); a
//!   replica that disappears or changes genstamp while being read is
//!   skipped; a mismatch is confirmed by a second, full read of the replica
//!   as the store holds it then before it is reported. An I/O error other
//!   than a short file is left to the volume checker (`volumes.rs`), which
//!   the store wakes on every I/O error.

use crate::convert::block_of_ref;
use crate::error::DatanodeError;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::store::{
    chunks_for, verify_chunks, BlockRef, BlockStore, ReplicaReader, ReplicaState,
    BYTES_PER_CHECKSUM,
};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};
use tusk_proto as pb;

/// File in the state dir holding the position of the current pass.
pub const CURSOR_FILE: &str = "scanner.cursor";
/// Largest read of one step.
const MAX_STEP: u64 = 1 << 20;
/// Smallest read of one step (a very low rate still reads in useful pieces).
const MIN_STEP: u64 = 64 << 10;
/// Time limit of one ReportCorrupt call.
const REPORT_TIMEOUT: Duration = Duration::from_secs(15);
/// The cursor is written at most this often.
const CURSOR_SAVE_EVERY: Duration = Duration::from_secs(1);

/// How the scanner runs (`[datanode] scan_*`).
#[derive(Clone, Debug)]
pub(crate) struct ScanConfig {
    /// Bytes per second read; 0 = no scanner.
    pub rate: u64,
    /// A replica is scanned once per period.
    pub period: Duration,
    /// Where the pass position is kept (`None`: not kept).
    pub cursor_file: Option<PathBuf>,
}

/// Why a replica did not verify.
#[derive(Debug, PartialEq, Eq)]
enum Problem {
    /// Its bytes do not match its checksums (or the file is short).
    Corrupt(String),
    /// Deleted, or replaced by another genstamp, while we read it.
    Gone,
    /// An I/O error: a matter for the volume checker, not a report.
    Io(String),
}

impl From<DatanodeError> for Problem {
    fn from(e: DatanodeError) -> Self {
        match e {
            DatanodeError::Checksum { .. } => Problem::Corrupt(e.to_string()),
            DatanodeError::ReplicaNotFound { .. } | DatanodeError::GenstampMismatch { .. } => {
                Problem::Gone
            }
            DatanodeError::Io { ref source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                Problem::Corrupt(e.to_string())
            }
            e => Problem::Io(e.to_string()),
        }
    }
}

/// Verification of one replica, a step at a time (blocking I/O).
struct ReplicaScan {
    block: BlockRef,
    reader: Box<dyn ReplicaReader>,
    off: u64,
    len: u64,
    /// Bytes read so far, verified or not (for the metrics).
    read: u64,
    sha: Sha256,
    buf: Vec<u8>,
    crcs: Vec<u32>,
}

impl ReplicaScan {
    fn open(store: &dyn BlockStore, block: BlockRef) -> Result<Self, Problem> {
        let reader = store.open(block)?;
        Ok(Self {
            block,
            len: reader.len(),
            reader,
            off: 0,
            read: 0,
            sha: Sha256::new(),
            buf: Vec::new(),
            crcs: Vec::new(),
        })
    }

    fn done(&self) -> bool {
        self.off >= self.len
    }

    /// Verifies the next `max` bytes (at most; a chunk multiple); at the
    /// end, checks the SHA-256. Returns the bytes read.
    fn step(&mut self, max: u64) -> Result<u64, Problem> {
        let n = max.min(self.len - self.off) as usize;
        if n > 0 {
            self.buf.resize(n, 0);
            self.crcs.resize(chunks_for(n as u64) as usize, 0);
            self.reader.read_at(self.off, &mut self.buf)?;
            self.read += n as u64;
            self.reader
                .crcs_at(self.off / BYTES_PER_CHECKSUM as u64, &mut self.crcs)?;
            verify_chunks(self.block, self.off, &self.buf, &self.crcs)?;
            self.sha.update(&self.buf);
            self.off += n as u64;
        }
        if self.done() {
            let want = self.reader.sha256()?;
            let got: [u8; 32] = self.sha.clone().finalize().into();
            if want != got {
                return Err(Problem::Corrupt(format!(
                    "{}: SHA-256 of the data is {} but the meta header records {}",
                    self.block,
                    hex::encode(got),
                    hex::encode(want)
                )));
            }
        }
        Ok(n as u64)
    }
}

/// Reads a whole replica at once: `Ok` when it verifies.
fn verify_now(store: &dyn BlockStore, block: BlockRef) -> Result<(), Problem> {
    let mut s = ReplicaScan::open(store, block)?;
    loop {
        s.step(MAX_STEP)?;
        if s.done() {
            return Ok(());
        }
    }
}

/// Keeps reads under `rate` bytes per second; idle time earns no credit
/// beyond one second's worth.
struct Throttle {
    rate: u64,
    start: Instant,
    bytes: u64,
}

impl Throttle {
    fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// When `n` more bytes may be read.
    fn admit(&mut self, n: u64) -> Instant {
        let now = Instant::now();
        let due = self.start + Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if now > due + Duration::from_secs(1) {
            self.start = now - Duration::from_secs(1);
            self.bytes = self.rate;
        }
        let due = self.start + Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        self.bytes += n;
        due
    }
}

/// Where a pass is.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cursor {
    /// Unix milliseconds when the pass began.
    started: u64,
    /// The last block id scanned in this pass.
    last: Option<u64>,
    /// The pass went through every replica.
    done: bool,
}

impl Cursor {
    fn fresh() -> Self {
        Self {
            started: unix_ms(),
            last: None,
            done: false,
        }
    }

    fn encode(&self) -> String {
        let mut s = format!("started_ms {}\n", self.started);
        if let Some(l) = self.last {
            s.push_str(&format!("last {l}\n"));
        }
        if self.done {
            s.push_str("done\n");
        }
        s
    }

    /// Lenient: anything unreadable means a new pass.
    fn decode(text: &str) -> Option<Self> {
        let mut c = Cursor {
            started: 0,
            last: None,
            done: false,
        };
        let mut have_start = false;
        for line in text.lines() {
            let mut w = line.split_whitespace();
            match (w.next(), w.next()) {
                (Some("started_ms"), Some(v)) => {
                    c.started = v.parse().ok()?;
                    have_start = true;
                }
                (Some("last"), Some(v)) => c.last = Some(v.parse().ok()?),
                (Some("done"), None) => c.done = true,
                (None, _) => {}
                _ => return None,
            }
        }
        have_start.then_some(c)
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The scanner's state between steps.
pub(crate) struct Scanner {
    node: Arc<Node>,
    cfg: ScanConfig,
    throttle: Throttle,
    cursor: Cursor,
    saved_at: Option<Instant>,
}

/// How a pass ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PassEnd {
    Complete,
    Stopped,
}

impl Scanner {
    pub fn new(node: Arc<Node>, cfg: ScanConfig) -> Self {
        let cursor = cfg
            .cursor_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| Cursor::decode(&t))
            .unwrap_or_else(Cursor::fresh);
        Self {
            node,
            throttle: Throttle::new(cfg.rate),
            cfg,
            cursor,
            saved_at: None,
        }
    }

    fn save_cursor(&mut self, force: bool) {
        let Some(path) = &self.cfg.cursor_file else {
            return;
        };
        if !force
            && self
                .saved_at
                .is_some_and(|t| t.elapsed() < CURSOR_SAVE_EVERY)
        {
            return;
        }
        self.saved_at = Some(Instant::now());
        let tmp = path.with_extension("tmp");
        let res =
            std::fs::write(&tmp, self.cursor.encode()).and_then(|_| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            debug!(path = %path.display(), "cannot save the scanner position: {e}");
        }
    }

    /// When the next pass is due (the current one is complete).
    fn next_pass_at(&self) -> Duration {
        let due = self
            .cursor
            .started
            .saturating_add(self.cfg.period.as_millis() as u64);
        Duration::from_millis(due.saturating_sub(unix_ms()))
    }

    /// Scans every replica after the cursor, calling `corrupt` for each bad
    /// one (already confirmed). Stops early when `stop` fires.
    pub async fn pass(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        corrupt: &mut (dyn FnMut(BlockRef, String) + Send),
    ) -> PassEnd {
        let store = self.node.store.clone();
        let mut todo: Vec<BlockRef> = {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.finalized())
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.block)
                .collect()
        };
        todo.sort_by_key(|b| b.id);
        if let Some(last) = self.cursor.last {
            todo.retain(|b| b.id > last);
        }
        let step = (self.cfg.rate / 4).clamp(MIN_STEP, MAX_STEP) / BYTES_PER_CHECKSUM as u64
            * BYTES_PER_CHECKSUM as u64;
        debug!(replicas = todo.len(), "block scanner pass");
        for block in todo {
            if *stop.borrow() {
                self.save_cursor(true);
                return PassEnd::Stopped;
            }
            match self.scan_one(block, step, stop).await {
                None => {
                    self.save_cursor(true);
                    return PassEnd::Stopped;
                }
                Some(Ok(())) => {}
                Some(Err(Problem::Gone)) => {
                    debug!(
                        block_id = block.id,
                        "replica {block} went away while scanned"
                    )
                }
                Some(Err(Problem::Io(e))) => {
                    warn!(
                        block_id = block.id,
                        "block scanner cannot read {block}: {e}"
                    )
                }
                Some(Err(Problem::Corrupt(why))) => {
                    // Confirm against what the store holds now: a
                    // concurrent delete or a newer genstamp is no corruption.
                    let s = store.clone();
                    let confirmed = tokio::task::spawn_blocking(move || {
                        let same = matches!(s.state(block.id), Some(ReplicaState::Finalized(r)) if r.block == block);
                        same && matches!(verify_now(s.as_ref(), block), Err(Problem::Corrupt(_)))
                    })
                    .await
                    .unwrap_or(false);
                    if confirmed {
                        Metrics::add(&self.node.metrics.scan_corrupt, 1);
                        warn!(block_id = block.id, node = %self.node.uuid, "block scanner found a corrupt replica: {why}");
                        corrupt(block, why);
                    } else {
                        debug!(
                            block_id = block.id,
                            "mismatch not confirmed on re-read: {why}"
                        );
                    }
                }
            }
            Metrics::add(&self.node.metrics.scan_replicas, 1);
            self.cursor.last = Some(block.id);
            self.save_cursor(false);
        }
        self.cursor.done = true;
        self.save_cursor(true);
        PassEnd::Complete
    }

    /// Scans one replica at the configured rate; `None` when stopped.
    async fn scan_one(
        &mut self,
        block: BlockRef,
        step: u64,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Result<(), Problem>> {
        let store = self.node.store.clone();
        let opened = tokio::task::spawn_blocking(move || ReplicaScan::open(store.as_ref(), block))
            .await
            .ok()?;
        let mut scan = match opened {
            Ok(s) => s,
            Err(p) => return Some(Err(p)),
        };
        loop {
            let n = step.min(scan.len - scan.off);
            let due = self.throttle.admit(n);
            if due > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop.changed() => return None,
                }
            }
            let before = scan.read;
            let (s, res) = tokio::task::spawn_blocking(move || {
                let r = scan.step(step);
                (scan, r)
            })
            .await
            .ok()?;
            scan = s;
            Metrics::add(&self.node.metrics.scan_bytes, scan.read - before);
            if let Err(p) = res {
                return Some(Err(p));
            }
            if scan.done() {
                return Some(Ok(()));
            }
        }
    }

    /// The worker: passes forever, one per period, corrupt replicas sent to
    /// `reports`. Ends when `stop` fires.
    pub async fn run(
        mut self,
        reports: mpsc::UnboundedSender<(BlockRef, String)>,
        mut stop: watch::Receiver<bool>,
    ) {
        info!(
            rate = self.cfg.rate,
            period = ?self.cfg.period,
            resume_after = ?self.cursor.last,
            "block scanner started"
        );
        loop {
            if self.cursor.done {
                // (At least a moment, so a tiny period does not spin.)
                let wait = self.next_pass_at().max(Duration::from_millis(100));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                self.cursor = Cursor::fresh();
            }
            let mut send = |b: BlockRef, why: String| {
                let _ = reports.send((b, why));
            };
            if self.pass(&mut stop, &mut send).await == PassEnd::Stopped {
                return;
            }
            info!(node = %self.node.uuid, "block scanner pass complete");
        }
    }
}

/// The `block-scanner` worker: the scanner, and the sender of what it
/// finds to the namenode (`ReportCorrupt`, retried until delivered while
/// the datanode runs).
pub(crate) async fn run_worker(
    scanner: Scanner,
    mut client: crate::link::NnClient,
    registered: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    let node = scanner.node.clone();
    let (tx, mut rx) = mpsc::unbounded_channel::<(BlockRef, String)>();
    let scan = scanner.run(tx, stop.clone());
    let report = async move {
        let mut stop = stop;
        let mut registered = registered;
        while let Some((b, why)) = rx.recv().await {
            let mut batch = vec![(b, why)];
            while let Ok(x) = rx.try_recv() {
                batch.push(x);
            }
            loop {
                tokio::select! {
                    r = registered.wait_for(|r| *r) => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
                let req = pb::ReportCorruptRequest {
                    uuid: node.uuid.clone(),
                    blocks: batch.iter().map(|(b, _)| block_of_ref(*b)).collect(),
                    reason: batch
                        .iter()
                        .map(|(_, w)| w.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                match tokio::time::timeout(REPORT_TIMEOUT, client.report_corrupt(req)).await {
                    Ok(Ok(_)) => {
                        info!(node = %node.uuid, replicas = batch.len(), "corrupt replicas reported to the namenode");
                        break;
                    }
                    res => {
                        let why = match res {
                            Ok(Err(s)) => s.message().to_string(),
                            _ => "timed out".into(),
                        };
                        warn!(node = %node.uuid, "cannot report corrupt replicas (will retry): {why}");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        }
    };
    tokio::join!(scan, report);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::ReportQueue;
    use crate::store::meta::HEADER_LEN;
    use crate::store::{compute_crcs, DiskOptions, DiskStore};

    fn node(dirs: &[PathBuf]) -> Arc<Node> {
        let store = DiskStore::open(dirs, DiskOptions::default()).unwrap();
        Arc::new(Node::new(
            Arc::new(store),
            "127.0.0.1".into(),
            "127.0.0.1:1".into(),
            "127.0.0.1:2".into(),
            64 << 10,
            1 << 20,
            ReportQueue::new().0,
        ))
    }

    fn write(store: &dyn BlockStore, b: BlockRef, len: usize) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + b.id as usize) as u8).collect();
        let mut w = store.create(b, len as u64).unwrap();
        let mut crcs = Vec::new();
        for p in data.chunks(64 << 10) {
            crcs.clear();
            compute_crcs(p, &mut crcs);
            w.append(p, &crcs).unwrap();
        }
        w.finalize().unwrap();
    }

    fn files(dirs: &[PathBuf], id: u64) -> crate::ReplicaFiles {
        crate::find_replica(dirs, id).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn finds_a_flipped_byte_and_a_wrong_sha256_at_the_configured_rate() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("d1"), tmp.path().join("d2")];
        let node = node(&dirs);
        let store = node.store.clone();
        const MB: usize = 1 << 20;
        for id in 1..=4 {
            write(store.as_ref(), BlockRef::new(id, 1001), MB);
        }
        // blk_2: one byte flipped in the data (its CRC no longer matches).
        let f = files(&dirs, 2);
        let mut d = std::fs::read(&f.data).unwrap();
        d[12345] ^= 0x01;
        std::fs::write(&f.data, d).unwrap();
        // blk_3: the data and CRCs agree but the recorded SHA-256 does not.
        let f = files(&dirs, 3);
        let mut m = std::fs::read(&f.meta).unwrap();
        m[24] ^= 0xff;
        assert!(m.len() > HEADER_LEN);
        std::fs::write(&f.meta, m).unwrap();

        let cfg = ScanConfig {
            rate: MB as u64,
            period: Duration::from_secs(3600),
            cursor_file: Some(tmp.path().join(CURSOR_FILE)),
        };
        let mut scanner = Scanner::new(node.clone(), cfg.clone());
        let (_stop_tx, mut stop) = watch::channel(false);
        let mut bad = Vec::new();
        let t0 = Instant::now();
        let end = scanner
            .pass(&mut stop, &mut |b, why| bad.push((b, why)))
            .await;
        let took = t0.elapsed();
        assert_eq!(end, PassEnd::Complete);
        let ids: Vec<u64> = bad.iter().map(|(b, _)| b.id).collect();
        assert_eq!(ids, vec![2, 3], "{bad:?}");
        assert!(bad[0].1.contains("checksum error"), "{}", bad[0].1);
        assert!(bad[1].1.contains("SHA-256"), "{}", bad[1].1);
        // 4 MiB at 1 MiB/s (the first second's worth is free; blk_2 stops
        // at its bad chunk): about 3 s of (virtual) time.
        assert!(
            took >= Duration::from_millis(2500) && took < Duration::from_secs(5),
            "took {took:?}"
        );
        let m = &node.metrics;
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(m.scan_replicas.load(Relaxed), 4);
        assert_eq!(m.scan_corrupt.load(Relaxed), 2);
        assert!(m.scan_bytes.load(Relaxed) >= 3 * MB as u64);

        // The pass is remembered: a new scanner (a restart) waits for the
        // next period instead of starting over.
        let again = Scanner::new(node.clone(), cfg);
        assert!(again.cursor.done);
        assert!(again.next_pass_at() > Duration::from_secs(3000));
    }

    #[tokio::test(start_paused = true)]
    async fn resumes_after_the_last_scanned_block() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = vec![tmp.path().join("d1")];
        let node = node(&dirs);
        for id in 1..=3 {
            write(node.store.as_ref(), BlockRef::new(id, 7), 4096);
        }
        let path = tmp.path().join(CURSOR_FILE);
        let c = Cursor {
            started: unix_ms(),
            last: Some(1),
            done: false,
        };
        std::fs::write(&path, c.encode()).unwrap();
        // blk_3 is deleted before the pass: nothing to scan or report.
        node.store.delete(BlockRef::new(3, 7)).unwrap();
        let mut scanner = Scanner::new(
            node.clone(),
            ScanConfig {
                rate: 1 << 20,
                period: Duration::from_secs(60),
                cursor_file: Some(path.clone()),
            },
        );
        let (_tx, mut stop) = watch::channel(false);
        let mut bad = Vec::new();
        scanner.pass(&mut stop, &mut |b, _| bad.push(b)).await;
        assert!(bad.is_empty());
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(node.metrics.scan_replicas.load(Relaxed), 1, "only blk_2");
        let saved = Cursor::decode(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved.last, Some(2));
        assert!(saved.done);
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_a_new_pass() {
        let c = Cursor {
            started: 42,
            last: Some(7),
            done: true,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("started_ms x\n"), None);
        assert_eq!(Cursor::decode("hello"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
