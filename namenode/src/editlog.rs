//! The namenode's edit log (HDFS's model): every applied [`Batch`] is
//! appended, as one checksummed record, to append-only segment files that one
//! dedicated thread writes and `fdatasync`s. A mutation is durable — and its
//! RPC may be answered — once its record is synced. The store behind the log
//! (sled) is written *behind* it: a second thread applies synced records to
//! sled in groups (one sled batch per group), and flushes sled only at
//! checkpoints. Until a record reaches sled, its writes are served from an
//! in-memory overlay, so readers see every applied batch at once.
//!
//! [`LoggedStore`] is a [`KvStore`] that wraps any other one, so the
//! namesystem above does not know the log exists.
//!
//! Why behind, not beside: sled 0.34 hands every `apply_batch` to its I/O
//! thread pool (it seals its log buffer for the batch manifest), and each job
//! wakes every idle worker; one sled batch per mutation cost as much CPU as
//! the request itself. Applying only synced records also means sled never
//! holds a mutation the log lacks.
//!
//! # On disk (`<name_dir>/edits/`)
//!
//! Segment files `edits_<first seq, 20 digits>`: a 16-byte header
//! (`TUSKEDIT`, u32 LE version 1, u32 0), then records back to back, then
//! zeros (the file is extended in 1 MiB chunks of written zeros, so an
//! append does not change the file's size or extents and `fdatasync` writes
//! data only). A record:
//!
//! ```text
//! u32 LE  len      length of the body (0 = end of the segment: preallocated zeros)
//! u32 LE  crc      CRC32C of the body
//! body:   u64 LE seq | u32 LE op count | ops
//! op:     1u8 | u32 LE key len | key | u32 LE value len | value     (put)
//!         2u8 | u32 LE key len | key                                (delete)
//! ```
//!
//! Sequence numbers are contiguous across segments. Records are physical
//! puts and deletes, so replaying one twice changes nothing.
//!
//! # Ordering and the store's position
//!
//! `apply` assigns the sequence number, writes the batch into the overlay and
//! queues the record, all under one lock, so the log's order is the order
//! readers saw. The applier takes synced records in sequence order and writes
//! each group to the inner store as one atomic batch that also puts
//! [`APPLIED_KEY`] = the group's last sequence number: whatever prefix of its
//! batches the inner store recovers after a crash, it knows exactly which.
//!
//! # Checkpoints
//!
//! Every `checkpoint_records` records or `checkpoint_interval` (and at a clean
//! close): `t` = the last sequence number applied to the inner store, flush
//! it (now durable up to at least `t`), delete every segment whose records
//! are all `<= t`. Segments roll at `segment_bytes`.
//!
//! # Start-up (crash cases)
//!
//! Read `T` = [`APPLIED_KEY`] from the inner store, then every segment in
//! order: records `<= T` are skipped, later ones applied. Replay stops at the
//! first torn or checksum-bad record of the last segment (it was never synced
//! whole, so never acknowledged); a bad record in an earlier segment, or a
//! gap in the sequence numbers, is corruption and refuses the start. Then the
//! inner store is flushed and every old segment deleted (which also drops the
//! torn tail), and a new segment starts at the next sequence number.
//!
//! - crash before a record was synced: it was never acknowledged and never
//!   reached sled (only synced records are applied to it); it is lost.
//! - crash after the sync, before a checkpoint: sled may have lost its
//!   unflushed groups (`T` < the log's last record); replay restores them.
//! - crash during a checkpoint: segments are deleted only after the flush
//!   returned, and replay skips records `<= T`.
//! - sled ahead of the log (`T` > the log's last record; only if a segment
//!   was lost or sled was written behind the log's back): sled's state is a
//!   consistent prefix, so it is kept as is and nothing is replayed over it
//!   (replaying older records onto it would mix two states).

use crate::store::{Batch, KvStore, Op, SledStore, StoreError, Visitor};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io;
use std::ops::{Bound, ControlFlow};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The key, in the inner store, holding the sequence number of the last
/// batch applied to it. It sorts before every namespace key and is hidden
/// from scans.
pub const APPLIED_KEY: &[u8] = b"\x00tusk.edits.applied";

const MAGIC: &[u8; 8] = b"TUSKEDIT";
const VERSION: u32 = 1;
const SEGMENT_HEADER: u64 = 16;
/// Segments grow by this many bytes of written zeros at a time.
const PREALLOC_CHUNK: u64 = 1 << 20;
/// A record body longer than this is garbage (a torn length).
const MAX_RECORD: usize = 1 << 30;
/// Replay applies records to the inner store in groups of this many.
const REPLAY_GROUP: usize = 1_000;
/// The applier moves synced records into the inner store at least this often.
/// Each move is one sled batch, and sled wakes every idle thread of its I/O
/// pool for each batch: at 20 ms that pool cost ~5% of the namenode's CPU
/// during a create burst; at 100 ms the overlay holds at most ~100 ms of
/// writes (a few thousand keys at full rate).
const APPLY_INTERVAL: Duration = Duration::from_millis(100);
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// Marks a failed sync in the durable channel.
const FAILED: u64 = u64::MAX;
/// Marks a closed log in the durable channel (see `closed_at`).
const CLOSED: u64 = u64::MAX - 1;

/// When to roll segments and to checkpoint.
#[derive(Debug, Clone)]
pub struct EditLogConfig {
    /// A segment rolls once it holds this many bytes.
    pub segment_bytes: u64,
    /// Checkpoint after this many records since the last one (bounds replay
    /// at start-up).
    pub checkpoint_records: u64,
    /// Checkpoint at least this often while records arrive.
    pub checkpoint_interval: Duration,
}

impl Default for EditLogConfig {
    fn default() -> Self {
        EditLogConfig {
            segment_bytes: 32 << 20,
            checkpoint_records: 100_000,
            checkpoint_interval: Duration::from_secs(30),
        }
    }
}

impl EditLogConfig {
    pub fn with_segment_bytes(mut self, b: u64) -> Self {
        self.segment_bytes = b;
        self
    }
    pub fn with_checkpoint_records(mut self, n: u64) -> Self {
        self.checkpoint_records = n;
        self
    }
    pub fn with_checkpoint_interval(mut self, d: Duration) -> Self {
        self.checkpoint_interval = d;
        self
    }
}

/// Counters for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditLogStats {
    /// Records written and synced.
    pub records_synced: u64,
    /// `fdatasync` calls (each covers every record pending when it started).
    pub syncs: u64,
    /// Bytes of records synced.
    pub bytes_synced: u64,
    /// Checkpoints done (flush of the inner store + old segments deleted).
    pub checkpoints: u64,
    /// The sequence number the last checkpoint covered.
    pub checkpointed: u64,
    /// The last sequence number applied (visible to readers).
    pub appended: u64,
    /// The last sequence number written into the inner store.
    pub in_store: u64,
    /// Groups written into the inner store (one batch each).
    pub store_batches: u64,
    /// Records replayed onto the inner store at open.
    pub replayed: u64,
}

/// Records applied but not yet handed to the syncer.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    first_seq: u64,
    last_seq: u64,
    /// Set by `close`: the syncer drains `buf` and exits.
    stop: bool,
}

/// What blocking waiters (`flush`) wait on.
struct Durable {
    seq: u64,
    failed: Option<String>,
    /// The syncer has exited.
    stopped: bool,
}

/// key → (sequence number of its last write, value or `None` for a delete).
type Overlay = BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)>;

/// What [`read_segment`] calls for each good record: sequence number, body
/// after it.
type RecordVisitor<'a> = dyn FnMut(u64, &[u8]) -> Result<(), StoreError> + 'a;

/// State shared by the store, the syncer and the applier threads.
struct Core {
    dir: PathBuf,
    cfg: EditLogConfig,
    inner: Arc<dyn KvStore>,
    /// Serializes `apply`: sequence number, overlay write and queueing happen
    /// in one order. Also holds "closed" (no applies after `close`).
    apply_lock: Mutex<bool>,
    /// The last sequence number applied (stored under `apply_lock`).
    appended: AtomicU64,
    /// Writes not yet in the inner store: key → (sequence number of its last
    /// write, value or `None` for a delete). Reads look here first.
    overlay: RwLock<Overlay>,
    /// Applied batches not yet in the inner store, in sequence order.
    unapplied: Mutex<VecDeque<(u64, Batch)>>,
    /// Serializes moves into the inner store (they must happen in order).
    store_lock: Mutex<()>,
    /// The last sequence number written into the inner store.
    in_store: AtomicU64,
    store_batches: AtomicU64,
    pending: Mutex<Pending>,
    /// Wakes the syncer.
    wake_syncer: Condvar,
    /// Fast path for waiters: the highest synced sequence number.
    durable_seq: AtomicU64,
    durable: Mutex<Durable>,
    durable_cv: Condvar,
    /// The durable sequence number for async waiters; `FAILED`/`CLOSED` marks.
    durable_tx: watch::Sender<u64>,
    /// What was durable when the log closed (waiters up to it succeed).
    closed_at: AtomicU64,
    /// Checkpoints run one at a time.
    ckpt_lock: Mutex<()>,
    /// The applier sleeps here; true = stop.
    applier_stop: Mutex<bool>,
    applier_cv: Condvar,
    checkpointed: AtomicU64,
    records_synced: AtomicU64,
    syncs: AtomicU64,
    bytes_synced: AtomicU64,
    checkpoints: AtomicU64,
    replayed: AtomicU64,
}

/// A [`KvStore`] whose batches are made durable by the edit log; see the
/// module docs. Open it with [`LoggedStore::open`], stop it with
/// [`LoggedStore::close`] (a checkpoint; dropping it without `close` syncs
/// what is pending and writes it into the inner store without flushing it,
/// like a crash after the last acknowledgement).
pub struct LoggedStore {
    core: Arc<Core>,
    syncer: Mutex<Option<JoinHandle<()>>>,
    applier: Mutex<Option<JoinHandle<()>>>,
}

fn io_err(what: impl std::fmt::Display, e: io::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {e}"))
}

fn segment_name(first: u64) -> String {
    format!("edits_{first:020}")
}

/// The segment files in `dir`, by first sequence number.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| io_err(dir.display(), e))?;
    for ent in rd {
        let ent = ent.map_err(|e| io_err(dir.display(), e))?;
        let name = ent.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_prefix("edits_"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((first, ent.path()));
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Encodes `ops` as a record with a zero sequence number and no checksum;
/// [`seal_record`] fills them in.
fn encode_record(ops: &[Op]) -> Vec<u8> {
    let size: usize = ops
        .iter()
        .map(|o| match o {
            Op::Put(k, v) => 9 + k.len() + v.len(),
            Op::Delete(k) => 5 + k.len(),
        })
        .sum();
    let mut r = Vec::with_capacity(20 + size);
    r.extend_from_slice(&[0; 16]); // len, crc, seq
    r.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            Op::Put(k, v) => {
                r.push(OP_PUT);
                r.extend_from_slice(&(k.len() as u32).to_le_bytes());
                r.extend_from_slice(k);
                r.extend_from_slice(&(v.len() as u32).to_le_bytes());
                r.extend_from_slice(v);
            }
            Op::Delete(k) => {
                r.push(OP_DELETE);
                r.extend_from_slice(&(k.len() as u32).to_le_bytes());
                r.extend_from_slice(k);
            }
        }
    }
    r
}

fn seal_record(r: &mut [u8], seq: u64) {
    r[8..16].copy_from_slice(&seq.to_le_bytes());
    let len = (r.len() - 8) as u32;
    let crc = crc32c::crc32c(&r[8..]);
    r[0..4].copy_from_slice(&len.to_le_bytes());
    r[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the ops of a record body (after the sequence number).
fn decode_ops(mut b: &[u8]) -> Option<Vec<Op>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Some(h)
    }
    fn u32_of(b: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize)
    }
    let n = u32_of(&mut b)?;
    let mut ops = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let kind = take(&mut b, 1)?[0];
        let klen = u32_of(&mut b)?;
        let key = take(&mut b, klen)?.to_vec();
        match kind {
            OP_PUT => {
                let vlen = u32_of(&mut b)?;
                ops.push(Op::Put(key, take(&mut b, vlen)?.to_vec()));
            }
            OP_DELETE => ops.push(Op::Delete(key)),
            _ => return None,
        }
    }
    b.is_empty().then_some(ops)
}

/// How a segment's records ended.
#[derive(Debug, PartialEq, Eq)]
enum SegmentEnd {
    /// End of file or preallocated zeros.
    Clean,
    /// A record at this offset is torn or fails its checksum.
    Bad { offset: u64, why: &'static str },
}

/// Calls `visit(seq, body after seq)` for each good record of a segment.
fn read_segment(data: &[u8], visit: &mut RecordVisitor<'_>) -> Result<SegmentEnd, StoreError> {
    if data.len() < SEGMENT_HEADER as usize {
        // Created but its header never synced: nothing was acknowledged in it.
        return Ok(SegmentEnd::Bad {
            offset: 0,
            why: "short header",
        });
    }
    if &data[..8] != MAGIC || data[8..12] != VERSION.to_le_bytes() {
        return Ok(SegmentEnd::Bad {
            offset: 0,
            why: "bad header",
        });
    }
    let mut pos = SEGMENT_HEADER as usize;
    loop {
        if pos + 8 > data.len() {
            return Ok(if data[pos..].iter().all(|&b| b == 0) {
                SegmentEnd::Clean
            } else {
                SegmentEnd::Bad {
                    offset: pos as u64,
                    why: "torn header",
                }
            });
        }
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        if len == 0 && crc == 0 {
            return Ok(SegmentEnd::Clean);
        }
        let bad = |why| SegmentEnd::Bad {
            offset: pos as u64,
            why,
        };
        if !(8..=MAX_RECORD).contains(&len) || pos + 8 + len > data.len() {
            return Ok(bad("torn record"));
        }
        let body = &data[pos + 8..pos + 8 + len];
        if crc32c::crc32c(body) != crc {
            return Ok(bad("checksum mismatch"));
        }
        let seq = u64::from_le_bytes(body[..8].try_into().unwrap());
        visit(seq, &body[8..])?;
        pos += 8 + len;
    }
}

/// The open segment the syncer appends to.
struct SegmentWriter {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    /// Where the next record goes.
    pos: u64,
    /// Bytes of the file written so far (records, then zeros).
    allocated: u64,
    segment_bytes: u64,
}

impl SegmentWriter {
    /// Creates `edits_<first>`, durable (header, first chunk of zeros,
    /// directory entry) before any record goes in.
    fn create(dir: &Path, first: u64, segment_bytes: u64) -> io::Result<Self> {
        let path = dir.join(segment_name(first));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut head = Vec::with_capacity(PREALLOC_CHUNK as usize);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.resize(PREALLOC_CHUNK as usize, 0);
        file.write_all_at(&head, 0)?;
        file.sync_data()?;
        sync_dir(dir)?;
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            file,
            path,
            pos: SEGMENT_HEADER,
            allocated: PREALLOC_CHUNK,
            segment_bytes,
        })
    }

    /// Writes `buf` (whole records, the first numbered `first_seq`) and
    /// syncs it; rolls to a new segment first if this one is full.
    fn append(&mut self, buf: &[u8], first_seq: u64) -> io::Result<()> {
        let len = buf.len() as u64;
        if self.pos > SEGMENT_HEADER && self.pos + len > self.segment_bytes {
            *self = SegmentWriter::create(&self.dir, first_seq, self.segment_bytes)?;
            tracing::debug!(segment = %self.path.display(), "edit log rolled");
        }
        let end = self.pos + len;
        if end > self.allocated {
            let to = end.div_ceil(PREALLOC_CHUNK) * PREALLOC_CHUNK;
            let zeros = vec![0u8; (to - self.allocated) as usize];
            self.file.write_all_at(&zeros, self.allocated)?;
            self.allocated = to;
        }
        self.file.write_all_at(buf, self.pos)?;
        self.file.sync_data()?;
        self.pos = end;
        Ok(())
    }
}

impl Core {
    fn check_open(&self, closed: bool) -> Result<(), StoreError> {
        if closed {
            return Err(StoreError::Closed);
        }
        if self.durable_seq.load(Ordering::Acquire) == FAILED {
            let d = self.durable.lock();
            return Err(StoreError::Backend(format!(
                "the edit log failed: {}",
                d.failed.as_deref().unwrap_or("unknown error")
            )));
        }
        Ok(())
    }

    /// Publishes `seq` as durable to every kind of waiter.
    fn publish(&self, seq: u64) {
        {
            let mut d = self.durable.lock();
            if d.failed.is_some() {
                // The applier failed meanwhile: keep refusing.
                return;
            }
            d.seq = d.seq.max(seq);
            self.durable_seq.store(d.seq, Ordering::Release);
        }
        self.durable_cv.notify_all();
        self.durable_tx.send_modify(|d| *d = (*d).max(seq));
    }

    fn fail(&self, why: String) {
        tracing::error!(error = %why, "the edit log failed; refusing further mutations");
        {
            let mut d = self.durable.lock();
            d.failed = Some(why);
            d.stopped = true;
            self.durable_seq.store(FAILED, Ordering::Release);
        }
        self.durable_cv.notify_all();
        self.durable_tx.send_replace(FAILED);
    }

    /// The syncer thread: writes and syncs whatever is pending, releasing
    /// every waiter a sync covered, until `close` stops it with nothing left.
    fn run_syncer(self: Arc<Self>, mut w: SegmentWriter) {
        let mut buf = Vec::new();
        loop {
            let (first, last) = {
                let mut p = self.pending.lock();
                while p.buf.is_empty() && !p.stop {
                    self.wake_syncer.wait(&mut p);
                }
                if p.buf.is_empty() {
                    break;
                }
                std::mem::swap(&mut p.buf, &mut buf);
                (p.first_seq, p.last_seq)
            };
            if let Err(e) = w.append(&buf, first) {
                self.fail(format!("writing {}: {e}", w.path.display()));
                return;
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
            self.records_synced
                .fetch_add(last - first + 1, Ordering::Relaxed);
            self.bytes_synced
                .fetch_add(buf.len() as u64, Ordering::Relaxed);
            buf.clear();
            self.publish(last);
        }
        let failed = {
            let mut d = self.durable.lock();
            d.stopped = true;
            self.closed_at.store(d.seq, Ordering::SeqCst);
            d.failed.is_some()
        };
        self.durable_cv.notify_all();
        if !failed {
            self.durable_tx.send_replace(CLOSED);
        }
    }

    /// Moves synced records from the overlay into the inner store, as one
    /// batch; returns how many.
    fn apply_synced(&self) -> Result<u64, StoreError> {
        let _in_order = self.store_lock.lock();
        let durable = self.durable.lock().seq;
        let group: Vec<(u64, Batch)> = {
            let mut u = self.unapplied.lock();
            let n = u.iter().take_while(|(seq, _)| *seq <= durable).count();
            u.drain(..n).collect()
        };
        let Some(&(last, _)) = group.last() else {
            return Ok(0);
        };
        let n = group.len() as u64;
        let mut merged = Batch::default();
        for (_, b) in group {
            merged.ops.extend(b.ops);
        }
        merged.put(APPLIED_KEY.to_vec(), last.to_be_bytes().to_vec());
        self.inner.apply(merged)?;
        self.in_store.store(last, Ordering::Release);
        self.store_batches.fetch_add(1, Ordering::Relaxed);
        self.overlay.write().retain(|_, (seq, _)| *seq > last);
        Ok(n)
    }

    /// The applier thread: every `APPLY_INTERVAL`, synced records into the
    /// inner store; checkpoints when due. On stop, applies what is left.
    fn run_applier(self: Arc<Self>) {
        let mut last_ckpt = Instant::now();
        loop {
            let stop = {
                let mut stop = self.applier_stop.lock();
                if !*stop {
                    let _ = self.applier_cv.wait_for(&mut stop, APPLY_INTERVAL);
                }
                *stop
            };
            if let Err(e) = self.apply_synced() {
                self.fail(format!("writing edits into the store: {e}"));
                return;
            }
            if stop {
                return;
            }
            let behind = self
                .in_store
                .load(Ordering::Acquire)
                .saturating_sub(self.checkpointed.load(Ordering::Acquire));
            let due = last_ckpt.elapsed() >= self.cfg.checkpoint_interval;
            if behind >= self.cfg.checkpoint_records || (due && behind > 0) {
                if let Err(e) = self.checkpoint(false) {
                    tracing::warn!(error = %e, "edit log checkpoint failed; will retry");
                }
                last_ckpt = Instant::now();
            } else if due {
                last_ckpt = Instant::now();
            }
        }
    }

    /// Flushes the inner store and deletes the segments it now covers
    /// (`all`: the current one too — only when nothing more is appended).
    fn checkpoint(&self, all: bool) -> Result<u64, StoreError> {
        let _one = self.ckpt_lock.lock();
        let t = self.in_store.load(Ordering::Acquire);
        let started = Instant::now();
        self.inner.flush()?;
        let segs = list_segments(&self.dir)?;
        let mut deleted = 0;
        for (i, (_, path)) in segs.iter().enumerate() {
            // A segment's records run up to the next segment's first - 1.
            let wholly_covered = match segs.get(i + 1) {
                Some((next_first, _)) => *next_first <= t + 1,
                // The last one only at close, and only if every record
                // synced to it also reached the inner store.
                None => all && t >= self.durable.lock().seq,
            };
            if !wholly_covered {
                break;
            }
            std::fs::remove_file(path).map_err(|e| io_err(path.display(), e))?;
            deleted += 1;
        }
        self.checkpointed.fetch_max(t, Ordering::AcqRel);
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            seq = t,
            deleted,
            ms = started.elapsed().as_millis() as u64,
            "edit log checkpoint"
        );
        Ok(t)
    }
}

impl LoggedStore {
    /// Opens the log in `dir` over `inner`: replays the records the inner
    /// store lacks, checkpoints, and starts the syncer and applier threads.
    pub fn open(
        dir: &Path,
        inner: Arc<dyn KvStore>,
        cfg: EditLogConfig,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir.display(), e))?;
        let applied = match inner.get(APPLIED_KEY)? {
            Some(v) => u64::from_be_bytes(v.as_slice().try_into().map_err(|_| {
                StoreError::Backend("corrupt edit log position in the store".into())
            })?),
            None => 0,
        };
        let started = Instant::now();
        let segs = list_segments(dir)?;
        let (last, replayed) = replay(&segs, inner.as_ref(), applied)?;
        if !segs.is_empty() {
            inner.flush()?;
            for (_, path) in &segs {
                std::fs::remove_file(path).map_err(|e| io_err(path.display(), e))?;
            }
            tracing::info!(
                replayed,
                store_was_at = applied,
                last,
                ms = started.elapsed().as_millis() as u64,
                "edit log replayed"
            );
        }
        let next = last + 1;
        let writer = SegmentWriter::create(dir, next, cfg.segment_bytes)
            .map_err(|e| io_err(dir.join(segment_name(next)).display(), e))?;
        let core = Arc::new(Core {
            dir: dir.to_path_buf(),
            cfg,
            inner,
            apply_lock: Mutex::new(false),
            appended: AtomicU64::new(last),
            overlay: RwLock::new(BTreeMap::new()),
            unapplied: Mutex::new(VecDeque::new()),
            store_lock: Mutex::new(()),
            in_store: AtomicU64::new(last),
            store_batches: AtomicU64::new(0),
            pending: Mutex::new(Pending::default()),
            wake_syncer: Condvar::new(),
            durable_seq: AtomicU64::new(last),
            durable: Mutex::new(Durable {
                seq: last,
                failed: None,
                stopped: false,
            }),
            durable_cv: Condvar::new(),
            durable_tx: watch::channel(last).0,
            closed_at: AtomicU64::new(0),
            ckpt_lock: Mutex::new(()),
            applier_stop: Mutex::new(false),
            applier_cv: Condvar::new(),
            checkpointed: AtomicU64::new(last),
            records_synced: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            bytes_synced: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            replayed: AtomicU64::new(replayed),
        });
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| io_err(format!("starting the {name} thread"), e))
        };
        let syncer = {
            let c = core.clone();
            spawn("edits-syncer", Box::new(move || c.run_syncer(writer)))?
        };
        let applier = {
            let c = core.clone();
            spawn("edits-applier", Box::new(move || c.run_applier()))?
        };
        Ok(LoggedStore {
            core,
            syncer: Mutex::new(Some(syncer)),
            applier: Mutex::new(Some(applier)),
        })
    }

    /// The sequence number of the last applied batch. Once it is durable
    /// (see [`wait_durable`](Self::wait_durable)), so is every batch the
    /// caller applied before asking.
    pub fn last_appended(&self) -> u64 {
        self.core.appended.load(Ordering::Acquire)
    }

    /// The highest sequence number known durable.
    pub fn durable(&self) -> u64 {
        let d = self.core.durable_seq.load(Ordering::Acquire);
        if d == FAILED {
            self.core.durable.lock().seq
        } else {
            d
        }
    }

    /// Waits until every record up to `seq` is synced. Fails if the log
    /// failed, or with [`StoreError::Closed`] if it closed before `seq`.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), StoreError> {
        let d = self.core.durable_seq.load(Ordering::Acquire);
        if d != FAILED && d >= seq {
            return Ok(());
        }
        let mut rx = self.core.durable_tx.subscribe();
        let v = match rx.wait_for(|d| *d >= seq).await {
            Ok(v) => *v,
            Err(_) => CLOSED,
        };
        match v {
            FAILED => Err(self.core.check_open(false).unwrap_err()),
            CLOSED if seq > self.core.closed_at.load(Ordering::SeqCst) => Err(StoreError::Closed),
            _ => Ok(()),
        }
    }

    /// Checkpoints now: syncs and moves into the inner store everything
    /// applied so far, flushes it, deletes the segments it covers. Returns
    /// the sequence number it covered.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        self.flush()?;
        self.core.apply_synced()?;
        self.core.checkpoint(false)
    }

    pub fn stats(&self) -> EditLogStats {
        let c = &self.core;
        EditLogStats {
            records_synced: c.records_synced.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            bytes_synced: c.bytes_synced.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            checkpointed: c.checkpointed.load(Ordering::Relaxed),
            appended: c.appended.load(Ordering::Relaxed),
            in_store: c.in_store.load(Ordering::Relaxed),
            store_batches: c.store_batches.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
        }
    }

    /// The inner store (for bulk loads that bypass the log, like the
    /// benchmark generator; a checkpoint makes them durable).
    pub fn inner(&self) -> &Arc<dyn KvStore> {
        &self.core.inner
    }

    /// Refuses further applies and stops both threads; the syncer first
    /// syncs everything pending, then the applier moves it into the inner
    /// store. Idempotent.
    fn stop(&self) {
        *self.core.apply_lock.lock() = true;
        self.core.pending.lock().stop = true;
        self.core.wake_syncer.notify_one();
        if let Some(h) = self.syncer.lock().take() {
            let _ = h.join();
        }
        *self.core.applier_stop.lock() = true;
        self.core.applier_cv.notify_one();
        if let Some(h) = self.applier.lock().take() {
            let _ = h.join();
        }
    }

    /// Syncs what is pending, checkpoints and deletes every segment (the
    /// next open replays nothing). The inner store stays open; its owner
    /// closes it.
    pub fn close(&self) -> Result<(), StoreError> {
        self.stop();
        self.core.checkpoint(true)?;
        Ok(())
    }
}

impl Drop for LoggedStore {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A namenode's storage in its name dir: the sled database, with the edit
/// log in `edits/` in front of it. The namesystem uses [`NameStore::log`].
pub struct NameStore {
    pub sled: Arc<SledStore>,
    pub log: Arc<LoggedStore>,
}

impl NameStore {
    /// Opens sled in `name_dir` and the log in `name_dir/edits` (replaying it).
    pub fn open(name_dir: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        let sled = Arc::new(SledStore::open(name_dir, cache_capacity)?);
        match LoggedStore::open(
            &name_dir.join("edits"),
            sled.clone(),
            EditLogConfig::default(),
        ) {
            Ok(log) => Ok(NameStore {
                sled,
                log: Arc::new(log),
            }),
            Err(e) => {
                let _ = sled.close();
                Err(e)
            }
        }
    }

    /// Closes the log (a checkpoint) and then sled.
    pub fn close(&self) -> Result<(), StoreError> {
        let logged = self.log.close();
        self.sled.close()?;
        logged
    }
}

/// Replays `segs` onto `inner`, which holds every batch up to `applied`.
/// Returns the last sequence number now in `inner` and how many records
/// were applied.
fn replay(
    segs: &[(u64, PathBuf)],
    inner: &dyn KvStore,
    applied: u64,
) -> Result<(u64, u64), StoreError> {
    let mut prev: Option<u64> = None;
    let mut replayed = 0u64;
    let mut group = Batch::default();
    let mut in_group = 0;
    let write_group = |group: &mut Batch, in_group: &mut usize, last: u64| {
        if *in_group == 0 {
            return Ok(());
        }
        let mut b = std::mem::take(group);
        b.put(APPLIED_KEY.to_vec(), last.to_be_bytes().to_vec());
        *in_group = 0;
        inner.apply(b)
    };
    for (i, (_, path)) in segs.iter().enumerate() {
        let data = std::fs::read(path).map_err(|e| io_err(path.display(), e))?;
        let end = read_segment(&data, &mut |seq, body| {
            match prev {
                Some(p) if seq != p + 1 => {
                    return Err(StoreError::Backend(format!(
                        "{}: edit {seq} follows edit {p}: the edit log has a gap",
                        path.display()
                    )))
                }
                None if seq > applied + 1 => {
                    return Err(StoreError::Backend(format!(
                        "{}: the edit log starts at {seq} but the store holds only up to {applied}: edits are missing",
                        path.display()
                    )))
                }
                _ => {}
            }
            prev = Some(seq);
            if seq <= applied {
                return Ok(());
            }
            let ops = decode_ops(body).ok_or_else(|| {
                StoreError::Backend(format!("{}: edit {seq} is malformed", path.display()))
            })?;
            group.ops.extend(ops);
            in_group += 1;
            replayed += 1;
            if in_group >= REPLAY_GROUP {
                write_group(&mut group, &mut in_group, seq)?;
            }
            Ok(())
        })?;
        if let SegmentEnd::Bad { offset, why } = end {
            // Segments roll only after their last record was synced whole,
            // so a bad record is a torn tail only in the last segment.
            if i + 1 < segs.len() {
                return Err(StoreError::Backend(format!(
                    "{}: {why} at offset {offset}, and later segments follow: the edit log is corrupt",
                    path.display()
                )));
            }
            tracing::warn!(
                segment = %path.display(),
                offset,
                why,
                "edit log ends in a torn record (never acknowledged); dropping it"
            );
            break;
        }
    }
    write_group(&mut group, &mut in_group, prev.unwrap_or(0))?;
    Ok((prev.unwrap_or(0).max(applied), replayed))
}

impl KvStore for LoggedStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some((_, v)) = self.core.overlay.read().get(key) {
            return Ok(v.clone());
        }
        self.core.inner.get(key)
    }

    /// The inner store's entries merged with the overlay's (which win).
    fn scan(&self, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError> {
        let from = if start > prefix { start } else { prefix };
        // A copy: the applier may move these into the inner store meanwhile,
        // which changes nothing (the values are the same).
        let ov: Vec<(Vec<u8>, Option<Vec<u8>>)> = {
            let o = self.core.overlay.read();
            o.range::<[u8], _>((Bound::Included(from), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, (_, v))| (k.clone(), v.clone()))
                .collect()
        };
        let mut i = 0;
        let mut stopped = false;
        self.core.inner.scan(prefix, start, &mut |k, v| {
            while i < ov.len() && ov[i].0.as_slice() < k {
                if let Some(val) = &ov[i].1 {
                    if visit(&ov[i].0, val).is_break() {
                        stopped = true;
                        return ControlFlow::Break(());
                    }
                }
                i += 1;
            }
            let r = if i < ov.len() && ov[i].0.as_slice() == k {
                i += 1;
                match &ov[i - 1].1 {
                    Some(val) => visit(k, val),
                    None => ControlFlow::Continue(()),
                }
            } else if k == APPLIED_KEY {
                ControlFlow::Continue(())
            } else {
                visit(k, v)
            };
            stopped = r.is_break();
            r
        })?;
        if !stopped {
            for (k, v) in &ov[i..] {
                if let Some(val) = v {
                    if visit(k, val).is_break() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `batch` visible (overlay) and queues its record; durable once
    /// [`wait_durable`](LoggedStore::wait_durable) of
    /// [`last_appended`](LoggedStore::last_appended) returns; in the inner
    /// store soon after that.
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut rec = encode_record(&batch.ops);
        let closed = self.core.apply_lock.lock();
        self.core.check_open(*closed)?;
        let seq = self.core.appended.load(Ordering::Relaxed) + 1;
        seal_record(&mut rec, seq);
        {
            let mut ov = self.core.overlay.write();
            for op in &batch.ops {
                match op {
                    Op::Put(k, v) => ov.insert(k.clone(), (seq, Some(v.clone()))),
                    Op::Delete(k) => ov.insert(k.clone(), (seq, None)),
                };
            }
        }
        self.core.unapplied.lock().push_back((seq, batch));
        {
            let mut p = self.core.pending.lock();
            if p.buf.is_empty() {
                p.first_seq = seq;
            }
            p.buf.extend_from_slice(&rec);
            p.last_seq = seq;
        }
        self.core.appended.store(seq, Ordering::Release);
        drop(closed);
        self.core.wake_syncer.notify_one();
        Ok(())
    }

    /// Waits until everything applied so far is synced to the log.
    fn flush(&self) -> Result<(), StoreError> {
        let target = self.last_appended();
        let mut d = self.core.durable.lock();
        loop {
            if let Some(f) = &d.failed {
                return Err(StoreError::Backend(format!("the edit log failed: {f}")));
            }
            if d.seq >= target {
                return Ok(());
            }
            if d.stopped {
                return Err(StoreError::Closed);
            }
            self.core.durable_cv.wait(&mut d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use std::io::Write;

    /// Writes `buf` as a segment's bytes, for tests that damage logs.
    fn write_file(path: &Path, buf: &[u8]) {
        let mut f = File::create(path).unwrap();
        f.write_all(buf).unwrap();
    }

    /// A store that loses everything since its last flush when "crashed",
    /// like sled after kill -9 or power loss before a checkpoint.
    #[derive(Default)]
    struct CrashStore {
        live: MemStore,
        flushed: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    }

    impl CrashStore {
        fn dump(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
            let mut m = BTreeMap::new();
            self.live
                .scan(b"", b"", &mut |k, v| {
                    m.insert(k.to_vec(), v.to_vec());
                    ControlFlow::Continue(())
                })
                .unwrap();
            m
        }
        /// What survives a crash: the state as of the last flush.
        fn crashed(&self) -> Arc<CrashStore> {
            let s = CrashStore::default();
            let m = self.flushed.lock().clone();
            let mut b = Batch::default();
            for (k, v) in &m {
                b.put(k.clone(), v.clone());
            }
            s.live.apply(b).unwrap();
            *s.flushed.lock() = m;
            Arc::new(s)
        }
    }

    impl KvStore for CrashStore {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.live.get(key)
        }
        fn scan(&self, p: &[u8], s: &[u8], v: &mut Visitor<'_>) -> Result<(), StoreError> {
            self.live.scan(p, s, v)
        }
        fn apply(&self, b: Batch) -> Result<(), StoreError> {
            self.live.apply(b)
        }
        fn flush(&self) -> Result<(), StoreError> {
            *self.flushed.lock() = self.dump();
            Ok(())
        }
    }

    fn put(s: &dyn KvStore, k: &str, v: &str) {
        let mut b = Batch::default();
        b.put(k.as_bytes().to_vec(), v.as_bytes().to_vec());
        s.apply(b).unwrap();
    }

    fn del(s: &dyn KvStore, k: &str) {
        let mut b = Batch::default();
        b.delete(k.as_bytes().to_vec());
        s.apply(b).unwrap();
    }

    fn get(s: &dyn KvStore, k: &str) -> Option<String> {
        s.get(k.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    }

    /// The namespace keys of a store (without the log position).
    fn user_keys(s: &dyn KvStore) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut m = BTreeMap::new();
        s.scan(b"", b"", &mut |k, v| {
            m.insert(k.to_vec(), v.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
        m
    }

    fn small() -> EditLogConfig {
        EditLogConfig::default()
            .with_checkpoint_interval(Duration::from_secs(3600))
            .with_checkpoint_records(u64::MAX)
    }

    fn segments(dir: &Path) -> Vec<u64> {
        list_segments(dir)
            .unwrap()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn record_roundtrip() {
        let ops = vec![
            Op::Put(b"k1".to_vec(), b"v1".to_vec()),
            Op::Delete(b"k2".to_vec()),
            Op::Put(vec![], vec![0; 1000]),
        ];
        let mut r = encode_record(&ops);
        seal_record(&mut r, 42);
        let mut seg = Vec::new();
        seg.extend_from_slice(MAGIC);
        seg.extend_from_slice(&VERSION.to_le_bytes());
        seg.extend_from_slice(&[0; 4]);
        seg.extend_from_slice(&r);
        seg.extend_from_slice(&[0; 100]);
        let mut seen = Vec::new();
        let end = read_segment(&seg, &mut |seq, body| {
            seen.push((seq, decode_ops(body).unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(end, SegmentEnd::Clean);
        assert_eq!(seen, vec![(42, ops)]);
    }

    #[test]
    fn the_conformance_suite_passes_through_the_log() {
        // The same checks as store.rs's suite, through a LoggedStore.
        let dir = tempfile::tempdir().unwrap();
        let s = LoggedStore::open(dir.path(), Arc::new(MemStore::new()), small()).unwrap();
        crate::store::tests::conformance(&s);
        s.close().unwrap();
    }

    #[test]
    fn reads_merge_the_overlay_with_the_store_like_a_btreemap() {
        // Random writes and scans (some stopping early) against a model,
        // while the applier moves records into the store at its own pace,
        // so scans see every mix of overlay and store.
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let log = LoggedStore::open(dir.path(), Arc::new(MemStore::new()), small()).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key = |rng: &mut rand::rngs::StdRng| {
            let p = [b'a', b'b'][rng.gen_range(0..2)];
            vec![p, rng.gen_range(0..40u8)]
        };
        for round in 0..3000 {
            let mut b = Batch::default();
            for _ in 0..rng.gen_range(1..4) {
                let k = key(&mut rng);
                if rng.gen_bool(0.3) {
                    model.remove(&k);
                    b.delete(k);
                } else {
                    let v = vec![round as u8; rng.gen_range(0..5)];
                    model.insert(k.clone(), v.clone());
                    b.put(k, v);
                }
            }
            log.apply(b).unwrap();
            if round % 7 == 0 {
                log.flush().unwrap();
            }
            let prefix: &[u8] = [&b""[..], b"a", b"b"][rng.gen_range(0..3)];
            let start = key(&mut rng);
            let limit = rng.gen_range(1..30);
            let mut got = Vec::new();
            log.scan(prefix, &start, &mut |k, v| {
                got.push((k.to_vec(), v.to_vec()));
                if got.len() == limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            let from = if start.as_slice() > prefix {
                start.clone()
            } else {
                prefix.to_vec()
            };
            let want: Vec<_> = model
                .range(from..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "round {round}");
            let k = key(&mut rng);
            assert_eq!(log.get(&k).unwrap(), model.get(&k).cloned());
        }
        log.close().unwrap();
        assert!(log.stats().store_batches > 0);
    }

    /// A store whose writes fail once `broken` is set (a dead disk under sled).
    #[derive(Default)]
    struct BrokenStore {
        mem: MemStore,
        broken: std::sync::atomic::AtomicBool,
    }

    impl KvStore for BrokenStore {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.mem.get(key)
        }
        fn scan(&self, p: &[u8], s: &[u8], v: &mut Visitor<'_>) -> Result<(), StoreError> {
            self.mem.scan(p, s, v)
        }
        fn apply(&self, b: Batch) -> Result<(), StoreError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(StoreError::Backend("injected write failure".into()));
            }
            self.mem.apply(b)
        }
        fn flush(&self) -> Result<(), StoreError> {
            self.mem.flush()
        }
    }

    #[tokio::test]
    async fn a_failing_store_stops_mutations_and_fails_waiters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(BrokenStore::default());
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        put(&log, "a", "1");
        log.wait_durable(log.last_appended()).await.unwrap();
        store.broken.store(true, Ordering::SeqCst);
        put(&log, "b", "2"); // synced to the log; the applier then fails
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut b = Batch::default();
        b.put(b"c".to_vec(), b"3".to_vec());
        loop {
            match log.apply(b.clone()) {
                Err(StoreError::Backend(m)) => {
                    assert!(m.contains("injected"), "{m}");
                    break;
                }
                Ok(()) => {}
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < deadline, "mutations still accepted");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Waiting for anything not yet durable reports the failure, and
        // closing does not turn it into success.
        let next = log.durable() + 1;
        assert!(matches!(
            log.wait_durable(next).await,
            Err(StoreError::Backend(_))
        ));
        let _ = log.close();
        assert!(matches!(
            log.wait_durable(next).await,
            Err(StoreError::Backend(_))
        ));
        // What reached the log is replayed by the next open over a sound store.
        drop(log);
        store.broken.store(false, Ordering::SeqCst);
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        assert_eq!(get(&log, "b").as_deref(), Some("2"));
        log.close().unwrap();
    }

    #[test]
    fn synced_records_replay_onto_a_store_that_lost_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        put(&log, "a", "1");
        put(&log, "b", "2");
        log.checkpoint().unwrap(); // the store is durable up to here
        put(&log, "a", "3");
        del(&log, "b");
        put(&log, "c", "4");
        log.flush().unwrap(); // acknowledged: in the log only
        let want = user_keys(&log);
        drop(log); // crash: no checkpoint
        let crashed = store.crashed();
        assert_eq!(get(crashed.as_ref(), "a").as_deref(), Some("1"));
        let log = LoggedStore::open(dir.path(), crashed.clone(), small()).unwrap();
        assert_eq!(log.stats().replayed, 3);
        assert_eq!(user_keys(&log), want);
        // Replay ended with a checkpoint: the old segments are gone and a
        // second crash right away replays nothing and loses nothing.
        assert_eq!(segments(dir.path()), vec![6]);
        drop(log);
        let again = crashed.crashed();
        let log = LoggedStore::open(dir.path(), again, small()).unwrap();
        assert_eq!(log.stats().replayed, 0);
        assert_eq!(user_keys(&log), want);
        put(&log, "d", "5");
        assert_eq!(log.last_appended(), 6);
        log.close().unwrap();
    }

    #[test]
    fn a_store_ahead_of_the_log_is_kept_as_is() {
        // sled wrote batches whose records never reached the log (a crash
        // between the sled write and the sync): keep sled's consistent
        // state, replay nothing over it, continue after its position.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemStore::new());
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        put(&log, "x", "1");
        put(&log, "y", "1");
        log.flush().unwrap();
        drop(log);
        // Cut the log back to its first record, as if the second never synced.
        let (_, path) = list_segments(dir.path()).unwrap().remove(0);
        let data = std::fs::read(&path).unwrap();
        let first_len = u32::from_le_bytes(data[16..20].try_into().unwrap()) as usize;
        write_file(&path, &data[..16 + 8 + first_len]);
        put(store.as_ref(), "x", "stale-if-replayed"); // not through the log
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        assert_eq!(log.stats().replayed, 0);
        assert_eq!(get(&log, "y").as_deref(), Some("1"));
        assert_eq!(log.last_appended(), 2);
        put(&log, "z", "1");
        assert_eq!(log.last_appended(), 3);
        log.close().unwrap();
    }

    /// (offset, body length) of every record of a segment file's bytes.
    fn record_spans(data: &[u8]) -> Vec<(usize, usize)> {
        let mut pos = 16;
        let mut spans = Vec::new();
        loop {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            if len == 0 {
                break;
            }
            spans.push((pos, len));
            pos += 8 + len;
        }
        spans
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_rest_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        for i in 0..10 {
            put(&log, &format!("k{i}"), "v");
        }
        log.flush().unwrap();
        drop(log);
        // Tear the last record: keep only part of its bytes.
        let (_, path) = list_segments(dir.path()).unwrap().remove(0);
        let data = std::fs::read(&path).unwrap();
        let starts: Vec<usize> = record_spans(&data).into_iter().map(|(p, _)| p).collect();
        assert_eq!(starts.len(), 10);
        write_file(&path, &data[..starts[9] + 11]);
        let log = LoggedStore::open(dir.path(), store.crashed(), small()).unwrap();
        assert_eq!(log.stats().replayed, 9);
        assert_eq!(get(&log, "k8").as_deref(), Some("v"));
        assert_eq!(get(&log, "k9"), None);
        // The torn record's number is reused by the next batch.
        put(&log, "k9", "again");
        assert_eq!(log.last_appended(), 10);
        assert_eq!(segments(dir.path()), vec![10]);
        log.close().unwrap();
    }

    #[test]
    fn a_checksum_bad_record_stops_replay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let log = LoggedStore::open(dir.path(), store.clone(), small()).unwrap();
        for i in 0..5 {
            put(&log, &format!("k{i}"), "value");
        }
        log.flush().unwrap();
        drop(log);
        let (_, path) = list_segments(dir.path()).unwrap().remove(0);
        let mut data = std::fs::read(&path).unwrap();
        // Flip a byte inside the third record's value.
        let (pos, len) = record_spans(&data)[2];
        data[pos + 8 + len - 1] ^= 0x40;
        write_file(&path, &data);
        let log = LoggedStore::open(dir.path(), store.crashed(), small()).unwrap();
        assert_eq!(log.stats().replayed, 2);
        assert_eq!(get(&log, "k1").as_deref(), Some("value"));
        assert_eq!(get(&log, "k2"), None);
        assert_eq!(get(&log, "k4"), None);
        log.close().unwrap();
    }

    #[test]
    fn a_bad_record_before_later_segments_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let cfg = small().with_segment_bytes(200);
        let log = LoggedStore::open(dir.path(), store.clone(), cfg.clone()).unwrap();
        for i in 0..20 {
            put(&log, &format!("k{i}"), "some value");
            log.flush().unwrap(); // one sync per record: segments roll
        }
        drop(log);
        let segs = list_segments(dir.path()).unwrap();
        assert!(segs.len() > 2, "{segs:?}");
        let mut data = std::fs::read(&segs[0].1).unwrap();
        data[16 + 8 + 3] ^= 1;
        write_file(&segs[0].1, &data);
        let err = LoggedStore::open(dir.path(), store.crashed(), cfg)
            .err()
            .expect("corruption in the middle of the log is an error");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn a_gap_in_the_log_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let cfg = small().with_segment_bytes(200);
        let log = LoggedStore::open(dir.path(), store.clone(), cfg.clone()).unwrap();
        for i in 0..20 {
            put(&log, &format!("k{i}"), "some value");
            log.flush().unwrap();
        }
        drop(log);
        let segs = list_segments(dir.path()).unwrap();
        std::fs::remove_file(&segs[1].1).unwrap();
        let err = LoggedStore::open(dir.path(), store.crashed(), cfg)
            .err()
            .expect("a missing segment is an error");
        assert!(err.to_string().contains("gap"), "{err}");
    }

    #[test]
    fn checkpoints_delete_the_segments_they_cover() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CrashStore::default());
        let cfg = small().with_segment_bytes(300);
        let log = LoggedStore::open(dir.path(), store.clone(), cfg.clone()).unwrap();
        for i in 0..30 {
            put(&log, &format!("k{i:02}"), "some value");
            log.flush().unwrap();
        }
        let before = segments(dir.path());
        assert!(before.len() > 3, "{before:?}");
        assert_eq!(log.checkpoint().unwrap(), 30);
        // Only the segment being written is left; it holds record 30 or
        // later ones.
        let after = segments(dir.path());
        assert_eq!(after, vec![*before.last().unwrap()]);
        assert!(after[0] <= 30);
        put(&log, "late", "1");
        log.flush().unwrap();
        let want = user_keys(&log);
        drop(log); // crash: "late" is only in the log
        let log = LoggedStore::open(dir.path(), store.crashed(), cfg).unwrap();
        assert_eq!(log.stats().replayed, 1);
        assert_eq!(user_keys(&log), want);
        log.close().unwrap();
        // A clean close leaves no segment: the next open replays nothing.
        assert!(segments(dir.path()).is_empty());
    }

    #[test]
    fn the_applier_checkpoints_by_record_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemStore::new());
        let cfg = small().with_checkpoint_records(50).with_segment_bytes(2000);
        let log = LoggedStore::open(dir.path(), store, cfg).unwrap();
        for i in 0..200 {
            put(&log, &format!("k{i:03}"), "v");
            log.flush().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.stats().checkpoints == 0 {
            assert!(Instant::now() < deadline, "no checkpoint ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(log.stats().checkpointed >= 50);
        log.close().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let log =
            Arc::new(LoggedStore::open(dir.path(), Arc::new(MemStore::new()), small()).unwrap());
        let mut tasks = Vec::new();
        for t in 0..8 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let seq = {
                        put(log.as_ref(), &format!("t{t}-{i}"), "v");
                        log.last_appended()
                    };
                    log.wait_durable(seq).await.unwrap();
                    assert!(log.durable() >= seq);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let st = log.stats();
        assert_eq!(st.records_synced, 1600);
        assert!(st.syncs <= 1600);
        log.close().unwrap();
        // After close: waiters for what was synced succeed, new applies fail.
        log.wait_durable(1600).await.unwrap();
        assert!(matches!(
            log.wait_durable(1601).await,
            Err(StoreError::Closed)
        ));
        let mut b = Batch::default();
        b.put(b"x".to_vec(), b"y".to_vec());
        assert!(matches!(log.apply(b), Err(StoreError::Closed)));
    }

    #[test]
    fn replay_over_sled_after_a_crash_restores_everything() {
        // sled proper: write through the log, lose sled's unflushed state by
        // rebuilding it from a copy taken at the last checkpoint.
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("db");
        let edits = dir.path().join("edits");
        let snapshot = dir.path().join("snap");
        let sled = Arc::new(SledStore::open(&sled_dir, 1 << 20).unwrap());
        let log = LoggedStore::open(&edits, sled.clone(), small()).unwrap();
        for i in 0..100 {
            put(&log, &format!("k{i:03}"), "old");
        }
        log.checkpoint().unwrap();
        log.close().unwrap();
        drop(log);
        sled.close().unwrap();
        copy_dir(&sled_dir, &snapshot);
        let sled = Arc::new(SledStore::open(&sled_dir, 1 << 20).unwrap());
        let log = LoggedStore::open(&edits, sled.clone(), small()).unwrap();
        for i in 0..100 {
            if i % 3 == 0 {
                del(&log, &format!("k{i:03}"));
            } else {
                put(&log, &format!("k{i:03}"), "new");
            }
        }
        log.flush().unwrap();
        let want = user_keys(&log);
        drop(log);
        sled.close().unwrap();
        // The crash: sled as of the checkpoint, the log as synced.
        std::fs::remove_dir_all(&sled_dir).unwrap();
        copy_dir(&snapshot, &sled_dir);
        let sled = Arc::new(SledStore::open(&sled_dir, 1 << 20).unwrap());
        assert_eq!(get(sled.as_ref(), "k001").as_deref(), Some("old"));
        let log = LoggedStore::open(&edits, sled.clone(), small()).unwrap();
        assert_eq!(log.stats().replayed, 100);
        assert_eq!(user_keys(&log), want);
        log.close().unwrap();
        drop(log);
        sled.close().unwrap();
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dest = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), dest).unwrap();
            }
        }
    }
}
