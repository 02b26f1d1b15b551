//! [`DiskStore`]: replicas as files on one or more volumes (data dirs).
//!
//! ```text
//! <data dir>/
//!   datanode.uuid                          the datanode's identity (same in every dir)
//!   current/finalized/subdirA/subdirB/     A = (id >> 16) & 31, B = (id >> 8) & 31
//!       blk_<id>                           the replica's bytes
//!       blk_<id>_<genstamp>.meta           header + CRC32Cs (see meta.rs)
//!   current/rbw/                           replicas being written, same names
//! ```
//!
//! Crash safety: a replica is written in `rbw`; finalize writes the meta
//! header (length, SHA-256), fsyncs data and meta (with `sync_on_close`),
//! renames meta then data into `finalized`, and fsyncs both directories
//! (again with `sync_on_close`). A restart scans only `finalized`
//! (a data file without its meta is ignored), so a half-written replica is
//! never presented as finalized; `rbw` leftovers are listed but not reported.

use super::meta::{crc_offset, MetaHeader, FLAG_FINALIZED, HEADER_LEN};
use super::{
    chunks_for, BlockRef, BlockStore, Replica, ReplicaHash, ReplicaReader, ReplicaState,
    ReplicaWriter, VolumeReport, BYTES_PER_CHECKSUM,
};
use crate::error::{DatanodeError, Result};
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tracing::{info, warn};

mod health;

/// Name of the identity file in every data dir.
pub const UUID_FILE: &str = "datanode.uuid";

/// How a [`DiskStore`] treats its volumes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiskOptions {
    /// Bytes to leave free on every volume (`[datanode] reserved`).
    pub reserved: u64,
    /// fsync data, meta and directories at finalize (`[datanode]
    /// sync_on_close`). Off, the rename order still keeps a crashed process
    /// from leaving a half replica in `finalized`; a power failure can lose
    /// a tail, which the CRC check catches.
    pub sync_on_close: bool,
    /// Start writeback early and drop written ranges of a replica being
    /// received from the page cache (see [`DropBehind`]). Makes writes cheaper
    /// where page-cache growth is expensive (several datanodes on one VM),
    /// at the price of reading a freshly written replica from disk.
    pub drop_behind_writes: bool,
    /// Data dirs that may be unusable at open (`[datanode]
    /// failed_volumes_tolerated`, resolved to a count): such a dir starts
    /// out of service instead of failing the open.
    pub failed_volumes_tolerated: usize,
}

impl DiskOptions {
    pub fn with_failed_volumes_tolerated(mut self, n: usize) -> Self {
        self.failed_volumes_tolerated = n;
        self
    }

    pub fn with_reserved(mut self, reserved: u64) -> Self {
        self.reserved = reserved;
        self
    }

    pub fn with_sync_on_close(mut self, sync: bool) -> Self {
        self.sync_on_close = sync;
        self
    }

    pub fn with_drop_behind_writes(mut self, drop: bool) -> Self {
        self.drop_behind_writes = drop;
        self
    }
}

/// Replicas on local volumes.
pub struct DiskStore {
    inner: Arc<Inner>,
}

struct Inner {
    uuid: String,
    volumes: Vec<Volume>,
    /// Bytes to leave free on every volume (`[datanode] reserved`).
    reserved: u64,
    /// fsync at finalize (see [`DiskOptions::sync_on_close`]).
    sync: bool,
    /// See [`DiskOptions::drop_behind_writes`].
    drop_behind: bool,
    /// Round-robin cursor for choosing the volume of a new replica.
    next_volume: AtomicUsize,
    /// Woken on any I/O error, so the volume checker probes at once
    /// (`health.rs`).
    io_errors: Arc<tokio::sync::Notify>,
    /// The replica map: every finalized replica, by block id.
    finalized: RwLock<HashMap<u64, Replica>>,
    /// Replicas in rbw, live or abandoned, by block id.
    rbw: Mutex<HashMap<u64, Arc<RbwSlot>>>,
}

struct Volume {
    dir: PathBuf,
    finalized: PathBuf,
    rbw: PathBuf,
    /// Bytes in replicas on this volume.
    used: AtomicU64,
    /// Bytes promised to writers in progress but not yet written, so that
    /// concurrent writers do not all pick a volume with room for only one.
    inflight: AtomicU64,
    /// Taken out of service (`health.rs`): no new replica goes here and its
    /// replicas have left the map.
    failed: AtomicBool,
}

/// One replica in rbw. Shared by the map and its writer, so that a newer
/// writer (pipeline recovery) can cancel an older one safely.
struct RbwSlot {
    block: BlockRef,
    volume: usize,
    written: AtomicU64,
    /// A writer currently owns it.
    active: AtomicBool,
    /// Superseded or deleted: the owning writer must not touch the files again.
    cancelled: AtomicBool,
    /// Held across every file operation of the writer, and by whoever cancels.
    io: Mutex<()>,
}

impl RbwSlot {
    /// A new slot owned by the writer being created.
    fn live(block: BlockRef, volume: usize) -> Arc<Self> {
        Arc::new(RbwSlot {
            block,
            volume,
            written: AtomicU64::new(0),
            active: AtomicBool::new(true),
            cancelled: AtomicBool::new(false),
            io: Mutex::new(()),
        })
    }
}

fn subdir(id: u64) -> PathBuf {
    PathBuf::from(format!("subdir{}", (id >> 16) & 0x1f))
        .join(format!("subdir{}", (id >> 8) & 0x1f))
}

fn data_name(id: u64) -> String {
    format!("blk_{id}")
}

fn meta_name(b: BlockRef) -> String {
    format!("blk_{}_{}.meta", b.id, b.genstamp)
}

/// Parses `blk_<id>` (data) or `blk_<id>_<gs>.meta` (meta).
enum FileKind {
    Data(u64),
    Meta(BlockRef),
}

fn parse_name(name: &str) -> Option<FileKind> {
    let rest = name.strip_prefix("blk_")?;
    if let Some(m) = rest.strip_suffix(".meta") {
        let (id, gs) = m.split_once('_')?;
        return Some(FileKind::Meta(BlockRef::new(
            id.parse().ok()?,
            gs.parse().ok()?,
        )));
    }
    if rest.bytes().all(|c| c.is_ascii_digit()) {
        return Some(FileKind::Data(rest.parse().ok()?));
    }
    None
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents below `base`, fsyncing each parent
/// that gained an entry.
fn ensure_dir(base: &Path, rel: &Path) -> io::Result<PathBuf> {
    let mut cur = base.to_path_buf();
    for c in rel.components() {
        let next = cur.join(c);
        if !next.is_dir() {
            match fs::create_dir(&next) {
                Ok(()) => fsync_dir(&cur)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        cur = next;
    }
    Ok(cur)
}

fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Total and available bytes of the file system holding `dir`.
fn fs_space(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zeroed out-parameter that statvfs fills in.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        let frsize = st.f_frsize as u64;
        Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
    }
}

fn read_uuid(dir: &Path) -> Result<Option<String>> {
    match fs::read_to_string(dir.join(UUID_FILE)) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DatanodeError::Storage(format!(
            "{}: cannot read {UUID_FILE}: {e}",
            dir.display()
        ))),
    }
}

fn write_uuid(dir: &Path, uuid: &str) -> io::Result<()> {
    let tmp = dir.join(format!(".{UUID_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(format!("{uuid}\n").as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(UUID_FILE))?;
    fsync_dir(dir)
}

/// What a volume scan found.
#[derive(Default)]
struct ScanResult {
    finalized: Vec<Replica>,
    rbw: Vec<(BlockRef, u64)>,
}

/// Lists a directory of replica files: id -> (data length, newest meta genstamp).
fn scan_flat(dir: &Path, out: &mut HashMap<u64, (Option<u64>, Option<u64>)>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(kind) = name.to_str().and_then(parse_name) else {
            continue;
        };
        match kind {
            FileKind::Data(id) => out.entry(id).or_default().0 = Some(e.metadata()?.len()),
            FileKind::Meta(b) => {
                let gs = &mut out.entry(b.id).or_default().1;
                *gs = Some(gs.map_or(b.genstamp, |g| g.max(b.genstamp)));
            }
        }
    }
    Ok(())
}

fn scan_volume(idx: usize, vol: &Volume) -> io::Result<ScanResult> {
    let mut found = HashMap::new();
    for a in fs::read_dir(&vol.finalized)? {
        let a = a?;
        if !a.file_type()?.is_dir() {
            continue;
        }
        for b in fs::read_dir(a.path())? {
            let b = b?;
            if b.file_type()?.is_dir() {
                scan_flat(&b.path(), &mut found)?;
            }
        }
    }
    let mut res = ScanResult::default();
    for (id, v) in found {
        match v {
            (Some(len), Some(gs)) => res.finalized.push(Replica {
                block: BlockRef::new(id, gs),
                len,
                volume: idx,
            }),
            _ => {
                warn!(block_id = id, dir = %vol.dir.display(), "ignoring finalized replica without both data and meta files")
            }
        }
    }
    let mut rbw = HashMap::new();
    scan_flat(&vol.rbw, &mut rbw)?;
    for (id, v) in rbw {
        if let (len, Some(gs)) = v {
            res.rbw.push((BlockRef::new(id, gs), len.unwrap_or(0)));
        }
    }
    Ok(res)
}

impl DiskStore {
    /// Opens (creating if needed) the volumes, establishes the datanode uuid
    /// and scans the finalized replicas of all volumes in parallel.
    pub fn open(dirs: &[PathBuf], opts: DiskOptions) -> Result<Self> {
        if dirs.is_empty() {
            return Err(DatanodeError::Storage(
                "no data directories configured".into(),
            ));
        }
        let mut volumes = Vec::new();
        // Why each unusable dir is out of service, by volume index.
        let mut down: Vec<(usize, String)> = Vec::new();
        for (i, d) in dirs.iter().enumerate() {
            let v = Volume {
                dir: d.clone(),
                finalized: d.join("current").join("finalized"),
                rbw: d.join("current").join("rbw"),
                used: AtomicU64::new(0),
                inflight: AtomicU64::new(0),
                failed: AtomicBool::new(false),
            };
            let usable = [&v.finalized, &v.rbw]
                .iter()
                .try_for_each(|p| {
                    fs::create_dir_all(p)
                        .map_err(|e| format!("{}: cannot create: {e}", p.display()))
                })
                .and_then(|()| health::probe(&v));
            if let Err(why) = usable {
                down.push((i, why));
            }
            volumes.push(v);
        }
        let usable: Vec<PathBuf> = dirs
            .iter()
            .enumerate()
            .filter(|(i, _)| !down.iter().any(|(j, _)| j == i))
            .map(|(_, d)| d.clone())
            .collect();
        let check_down = |down: &[(usize, String)]| {
            if down.is_empty() {
                return Ok(());
            }
            let why: Vec<&str> = down.iter().map(|(_, w)| w.as_str()).collect();
            if down.len() > opts.failed_volumes_tolerated || down.len() == dirs.len() {
                return Err(DatanodeError::Storage(format!(
                    "{} of {} data dirs unusable, more than failed_volumes_tolerated = {}: {}",
                    down.len(),
                    dirs.len(),
                    opts.failed_volumes_tolerated,
                    why.join("; ")
                )));
            }
            Ok(())
        };
        check_down(&down)?;
        let uuid = establish_uuid(&usable)?;

        let scans: Vec<Option<io::Result<ScanResult>>> = std::thread::scope(|s| {
            let handles: Vec<_> = volumes
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let skip = down.iter().any(|(j, _)| *j == i);
                    s.spawn(move || (!skip).then(|| scan_volume(i, v)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Some(Err(io::Error::other("volume scan panicked"))))
                })
                .collect()
        });
        let mut finalized: HashMap<u64, Replica> = HashMap::new();
        let mut rbw = HashMap::new();
        let mut scanned = Vec::new();
        for (i, scan) in scans.into_iter().enumerate() {
            match scan {
                None => {}
                Some(Ok(r)) => scanned.push((i, r)),
                Some(Err(e)) => down.push((
                    i,
                    format!("{}: cannot scan replicas: {e}", volumes[i].dir.display()),
                )),
            }
        }
        check_down(&down)?;
        for (i, why) in &down {
            volumes[*i].failed.store(true, Ordering::SeqCst);
            warn!(dir = %volumes[*i].dir.display(), "data dir out of service from the start: {why}");
        }
        for (i, scan) in scanned {
            for r in scan.finalized {
                volumes[i].used.fetch_add(r.len, Ordering::Relaxed);
                match finalized.get(&r.block.id) {
                    Some(old) if old.block.genstamp >= r.block.genstamp => {
                        warn!(
                            block_id = r.block.id,
                            "duplicate replica {} on {}, keeping {}",
                            r.block,
                            volumes[i].dir.display(),
                            old.block
                        );
                    }
                    _ => {
                        finalized.insert(r.block.id, r);
                    }
                }
            }
            for (b, len) in scan.rbw {
                volumes[i].used.fetch_add(len, Ordering::Relaxed);
                rbw.insert(
                    b.id,
                    Arc::new(RbwSlot {
                        block: b,
                        volume: i,
                        written: AtomicU64::new(len),
                        active: AtomicBool::new(false),
                        cancelled: AtomicBool::new(false),
                        io: Mutex::new(()),
                    }),
                );
            }
        }
        info!(
            uuid = %uuid,
            replicas = finalized.len(),
            rbw = rbw.len(),
            volumes = volumes.len(),
            failed = down.len(),
            "block store opened"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                uuid,
                volumes,
                reserved: opts.reserved,
                sync: opts.sync_on_close,
                drop_behind: opts.drop_behind_writes,
                next_volume: AtomicUsize::new(0),
                io_errors: Arc::new(tokio::sync::Notify::new()),
                finalized: RwLock::new(finalized),
                rbw: Mutex::new(rbw),
            }),
        })
    }
}

/// Reads `datanode.uuid` from every dir: all that have one must agree; dirs
/// without one (new volumes) get it; with none anywhere, a new one is made.
fn establish_uuid(dirs: &[PathBuf]) -> Result<String> {
    let mut seen: Vec<(&PathBuf, String)> = Vec::new();
    for d in dirs {
        if let Some(u) = read_uuid(d)? {
            seen.push((d, u));
        }
    }
    if let Some((d0, u0)) = seen.first() {
        if let Some((d1, u1)) = seen.iter().find(|(_, u)| u != u0) {
            return Err(DatanodeError::Storage(format!(
                "data dirs belong to different datanodes: {} has uuid {u0}, {} has uuid {u1}",
                d0.display(),
                d1.display()
            )));
        }
    }
    let uuid = match seen.first() {
        Some((_, u)) => u.clone(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    for d in dirs {
        if !seen.iter().any(|(s, _)| *s == d) {
            write_uuid(d, &uuid).map_err(|e| {
                DatanodeError::Storage(format!("{}: cannot write {UUID_FILE}: {e}", d.display()))
            })?;
        }
    }
    Ok(uuid)
}

impl Inner {
    fn describe(&self) -> String {
        self.volumes
            .iter()
            .map(|v| v.dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Round-robin over volumes with room for `expected` bytes plus the
    /// reserve; reserves the bytes on the chosen one.
    fn choose_volume(&self, block: BlockRef, expected: u64) -> Result<usize> {
        let n = self.volumes.len();
        let start = self.next_volume.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let idx = (start + i) % n;
            let v = &self.volumes[idx];
            if v.failed.load(Ordering::SeqCst) {
                continue;
            }
            let Ok((_, avail)) = fs_space(&v.dir) else {
                continue;
            };
            let free = avail
                .saturating_sub(v.inflight.load(Ordering::Relaxed))
                .saturating_sub(self.reserved);
            if free >= expected {
                v.inflight.fetch_add(expected, Ordering::Relaxed);
                return Ok(idx);
            }
        }
        Err(DatanodeError::NoSpace {
            node: self.uuid.clone(),
            dirs: self.describe(),
            block,
            needed: expected.saturating_add(self.reserved),
        })
    }

    fn finalized_paths(&self, r: &Replica) -> (PathBuf, PathBuf) {
        let d = self.volumes[r.volume].finalized.join(subdir(r.block.id));
        (d.join(data_name(r.block.id)), d.join(meta_name(r.block)))
    }

    fn rbw_paths(&self, volume: usize, b: BlockRef) -> (PathBuf, PathBuf) {
        let d = &self.volumes[volume].rbw;
        (d.join(data_name(b.id)), d.join(meta_name(b)))
    }

    /// Cancels an rbw slot's writer (waiting for its current I/O) and removes its files.
    fn discard_rbw(&self, slot: &RbwSlot) -> io::Result<()> {
        slot.cancelled.store(true, Ordering::SeqCst);
        let _io = slot.io.lock();
        let (d, m) = self.rbw_paths(slot.volume, slot.block);
        remove_if_exists(&d)?;
        remove_if_exists(&m)?;
        let _ = self.volumes[slot.volume].used.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |u| Some(u.saturating_sub(slot.written.load(Ordering::Relaxed))),
        );
        Ok(())
    }
}

/// The replica a recovery takes over.
enum OldReplica {
    Rbw(Arc<RbwSlot>),
    Finalized(Replica),
}

impl Inner {
    /// The second half of [`BlockStore::recover`]: `slot` (the new stamp)
    /// is in the rbw map already, `old` out of the maps. Moves the old files
    /// to the new names, checks and cuts them to `len` bytes.
    fn take_over(
        self: &Arc<Self>,
        old: &OldReplica,
        slot: &Arc<RbwSlot>,
        len: u64,
    ) -> Result<Box<dyn ReplicaWriter>> {
        let block = slot.block;
        let io = DatanodeError::io;
        let vol = &self.volumes[slot.volume];
        let (new_data, new_meta) = self.rbw_paths(slot.volume, block);
        let (old_data, old_meta, old_len) = match old {
            OldReplica::Rbw(s) => {
                s.cancelled.store(true, Ordering::SeqCst);
                // Waits for the cancelled writer's current append.
                let _io = s.io.lock();
                let (d, m) = self.rbw_paths(s.volume, s.block);
                (d, m, s.written.load(Ordering::Relaxed))
            }
            OldReplica::Finalized(r) => {
                let (d, m) = self.finalized_paths(r);
                (d, m, r.len)
            }
        };
        let _ = vol
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(old_len))
            });
        fs::rename(&old_meta, &new_meta).map_err(io(block, "rename meta for recovery"))?;
        if old_data != new_data {
            fs::rename(&old_data, &new_data).map_err(io(block, "move data back to rbw"))?;
        }
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map_err(io(block, "open replica for recovery"))
        };
        let mut data = open(&new_data)?;
        let mut meta = open(&new_meta)?;
        let data_len = data.metadata().map_err(io(block, "stat data"))?.len();
        let meta_len = meta.metadata().map_err(io(block, "stat meta"))?.len();
        let unrecoverable = |msg: String| DatanodeError::Unrecoverable { block, msg };
        let mut hb = [0u8; HEADER_LEN];
        meta.read_exact_at(&mut hb, 0)
            .map_err(io(block, "read meta header"))?;
        let header = MetaHeader::decode(&hb).map_err(|e| unrecoverable(e.to_string()))?;
        if header.bytes_per_checksum != BYTES_PER_CHECKSUM {
            return Err(unrecoverable(format!(
                "bytes_per_checksum {} is not {BYTES_PER_CHECKSUM}",
                header.bytes_per_checksum
            )));
        }
        let bpc = BYTES_PER_CHECKSUM as u64;
        let stored_crcs = meta_len.saturating_sub(HEADER_LEN as u64) / 4;
        let holds = data_len.min(stored_crcs * bpc);
        let short =
            |good: u64| unrecoverable(format!("{len} bytes wanted but only {good} bytes are good"));
        if holds < len {
            return Err(short(holds));
        }
        // Check every chunk below `len` (the last one as stored, which may
        // reach past `len`) and hash the bytes that stay.
        let mut sha = Sha256::new();
        let step = 1u64 << 20;
        let mut buf = vec![0u8; step as usize];
        let mut crc_buf = vec![0u8; chunks_for(step) as usize * 4];
        let mut off = 0;
        while off < len {
            let keep = step.min(len - off);
            let covered = if off + keep == len {
                data_len.min(len.next_multiple_of(bpc)) - off
            } else {
                keep
            };
            let chunks = chunks_for(covered) as usize;
            data.read_exact_at(&mut buf[..covered as usize], off)
                .map_err(io(block, "read data"))?;
            meta.read_exact_at(&mut crc_buf[..chunks * 4], crc_offset(off / bpc))
                .map_err(io(block, "read checksums"))?;
            for (i, (chunk, c)) in buf[..covered as usize]
                .chunks(bpc as usize)
                .zip(crc_buf.chunks_exact(4))
                .enumerate()
            {
                if crc32c::crc32c(chunk) != u32::from_be_bytes([c[0], c[1], c[2], c[3]]) {
                    return Err(short(off + i as u64 * bpc));
                }
            }
            sha.update(&buf[..keep as usize]);
            off += keep;
        }
        data.set_len(len).map_err(io(block, "truncate data"))?;
        meta.set_len(crc_offset(chunks_for(len)))
            .map_err(io(block, "truncate checksums"))?;
        let tail = len % bpc;
        if tail != 0 {
            let mut last = vec![0u8; tail as usize];
            data.read_exact_at(&mut last, len - tail)
                .map_err(io(block, "read data"))?;
            meta.write_all_at(&crc32c::crc32c(&last).to_be_bytes(), crc_offset(len / bpc))
                .map_err(io(block, "write checksums"))?;
        }
        meta.write_all_at(&MetaHeader::unfinalized(BYTES_PER_CHECKSUM).encode(), 0)
            .map_err(io(block, "write meta header"))?;
        data.seek(SeekFrom::End(0))
            .map_err(io(block, "seek data"))?;
        meta.seek(SeekFrom::End(0))
            .map_err(io(block, "seek meta"))?;
        vol.used.fetch_add(len, Ordering::Relaxed);
        slot.written.store(len, Ordering::Relaxed);
        info!(block_id = block.id, len, "recovered replica as {block}");
        Ok(Box::new(DiskWriter {
            inner: self.clone(),
            slot: slot.clone(),
            data,
            meta: BufWriter::with_capacity(64 << 10, meta),
            data_path: new_data,
            meta_path: new_meta,
            sha: ReplicaHash::resumed(sha),
            len,
            partial: tail != 0,
            reserved_left: 0,
            crc_bytes: Vec::new(),
            behind: DropBehind {
                enabled: self.drop_behind,
                ..DropBehind::default()
            },
        }))
    }
}

impl BlockStore for DiskStore {
    fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn create(&self, block: BlockRef, expected_len: u64) -> Result<Box<dyn ReplicaWriter>> {
        let inner = &self.inner;
        if let Some(r) = inner.finalized.read().get(&block.id) {
            return Err(DatanodeError::AlreadyExists {
                block,
                why: format!("finalized as {} ({} bytes)", r.block, r.len),
            });
        }
        let (slot, old) = {
            let mut rbw = inner.rbw.lock();
            if let Some(s) = rbw.get(&block.id) {
                if s.active.load(Ordering::SeqCst) && s.block.genstamp >= block.genstamp {
                    return Err(DatanodeError::AlreadyExists {
                        block,
                        why: format!("{} is being written", s.block),
                    });
                }
            }
            let volume = inner.choose_volume(block, expected_len)?;
            let slot = RbwSlot::live(block, volume);
            let old = rbw.insert(block.id, slot.clone());
            (slot, old)
        };
        // From here on a failure must release the reservation and the slot:
        // building the writer first lets its Drop do that.
        let (data_path, meta_path) = inner.rbw_paths(slot.volume, block);
        let fail = |e: DatanodeError| {
            inner.volumes[slot.volume]
                .inflight
                .fetch_sub(expected_len, Ordering::Relaxed);
            let mut rbw = inner.rbw.lock();
            if rbw.get(&block.id).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                rbw.remove(&block.id);
            }
            e
        };
        if let Some(old) = old {
            inner
                .discard_rbw(&old)
                .map_err(DatanodeError::io(block, "remove older rbw replica"))
                .map_err(fail)?;
        }
        let data = health::note_io(
            &inner.io_errors,
            File::create(&data_path).map_err(DatanodeError::io(block, "create rbw data file")),
        )
        .map_err(fail)?;
        let mut meta = File::create(&meta_path)
            .map_err(DatanodeError::io(block, "create rbw meta file"))
            .map_err(fail)?;
        meta.write_all(&MetaHeader::unfinalized(BYTES_PER_CHECKSUM).encode())
            .map_err(DatanodeError::io(block, "write meta header"))
            .map_err(fail)?;
        Ok(Box::new(DiskWriter {
            inner: inner.clone(),
            slot,
            data,
            meta: BufWriter::with_capacity(64 << 10, meta),
            data_path,
            meta_path,
            sha: ReplicaHash::new(),
            len: 0,
            partial: false,
            reserved_left: expected_len,
            crc_bytes: Vec::new(),
            behind: DropBehind {
                enabled: inner.drop_behind,
                ..DropBehind::default()
            },
        }))
    }

    fn recover(&self, block: BlockRef, len: u64) -> Result<Box<dyn ReplicaWriter>> {
        let inner = &self.inner;
        // Swap the old replica for the new stamp's slot under the rbw lock,
        // so no create or second recovery of the id can interleave.
        let (old, slot) = {
            let mut rbw = inner.rbw.lock();
            let old = match rbw.get(&block.id) {
                Some(s) if s.block.genstamp >= block.genstamp => {
                    return Err(DatanodeError::AlreadyExists {
                        block,
                        why: format!("{} is in rbw", s.block),
                    })
                }
                Some(_) => rbw.remove(&block.id).map(OldReplica::Rbw),
                None => {
                    let mut fin = inner.finalized.write();
                    match fin.get(&block.id) {
                        Some(r) if r.block.genstamp >= block.genstamp => {
                            return Err(DatanodeError::AlreadyExists {
                                block,
                                why: format!("finalized as {}", r.block),
                            })
                        }
                        Some(_) => fin.remove(&block.id).map(OldReplica::Finalized),
                        None => None,
                    }
                }
            };
            let Some(old) = old else {
                return Err(DatanodeError::ReplicaNotFound { block });
            };
            let volume = match &old {
                OldReplica::Rbw(s) => s.volume,
                OldReplica::Finalized(r) => r.volume,
            };
            let slot = RbwSlot::live(block, volume);
            rbw.insert(block.id, slot.clone());
            (old, slot)
        };
        inner.take_over(&old, &slot, len).inspect_err(|e| {
            // The replica is stale and could not be brought up to date:
            // it goes, files and all.
            warn!(
                block_id = block.id,
                "recovery of {block} failed, discarding the replica: {e}"
            );
            let mine = {
                let mut rbw = inner.rbw.lock();
                let mine = rbw.get(&block.id).is_some_and(|s| Arc::ptr_eq(s, &slot));
                if mine {
                    rbw.remove(&block.id);
                }
                mine
            };
            let old_files = match &old {
                OldReplica::Rbw(s) => inner.rbw_paths(s.volume, s.block),
                OldReplica::Finalized(r) => inner.finalized_paths(r),
            };
            let (d, m) = inner.rbw_paths(slot.volume, block);
            for p in [&old_files.0, &old_files.1, &m] {
                let _ = remove_if_exists(p);
            }
            if mine {
                let _ = remove_if_exists(&d);
            }
            let _ = inner.volumes[slot.volume].used.fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |u| Some(u.saturating_sub(slot.written.load(Ordering::Relaxed))),
            );
        })
    }

    fn stop_writer(&self, block_id: u64, new_genstamp: u64) -> Option<ReplicaState> {
        let slot = self.inner.rbw.lock().get(&block_id).cloned();
        if let Some(s) = slot {
            if s.block.genstamp < new_genstamp {
                s.cancelled.store(true, Ordering::SeqCst);
                let _io = s.io.lock();
            }
        }
        self.state(block_id)
    }

    fn state(&self, block_id: u64) -> Option<ReplicaState> {
        if let Some(r) = self.inner.finalized.read().get(&block_id) {
            return Some(ReplicaState::Finalized(r.clone()));
        }
        self.inner
            .rbw
            .lock()
            .get(&block_id)
            .map(|s| ReplicaState::BeingWritten {
                block: s.block,
                len: s.written.load(Ordering::Relaxed),
            })
    }

    fn open(&self, block: BlockRef) -> Result<Box<dyn ReplicaReader>> {
        let r = match self.inner.finalized.read().get(&block.id) {
            None => return Err(DatanodeError::ReplicaNotFound { block }),
            Some(r) if r.block.genstamp != block.genstamp => {
                return Err(DatanodeError::GenstampMismatch {
                    block,
                    have: r.block.genstamp,
                })
            }
            Some(r) => r.clone(),
        };
        let (dp, mp) = self.inner.finalized_paths(&r);
        let open = |p: &Path| match File::open(p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Removed behind our back (an operator, a test, a failed disk):
                // forget it so the next block report tells the namenode.
                warn!(block_id = block.id, path = %p.display(), "replica file vanished");
                self.inner.finalized.write().remove(&block.id);
                Err(DatanodeError::ReplicaNotFound { block })
            }
            Err(e) => health::note_io(
                &self.inner.io_errors,
                Err(DatanodeError::Io {
                    block,
                    op: "open replica",
                    source: e,
                }),
            ),
        };
        let data = open(&dp)?;
        let meta = open(&mp)?;
        Ok(Box::new(DiskReader {
            block,
            len: r.len,
            data,
            meta,
            buf: Vec::new(),
            io_errors: self.inner.io_errors.clone(),
        }))
    }

    fn delete(&self, block: BlockRef) -> Result<bool> {
        let inner = &self.inner;
        let mut deleted = false;
        let fin = {
            let mut map = inner.finalized.write();
            match map.get(&block.id) {
                Some(r) if r.block.genstamp <= block.genstamp => map.remove(&block.id),
                _ => None,
            }
        };
        if let Some(r) = fin {
            let (d, m) = inner.finalized_paths(&r);
            remove_if_exists(&d).map_err(DatanodeError::io(r.block, "delete data file"))?;
            remove_if_exists(&m).map_err(DatanodeError::io(r.block, "delete meta file"))?;
            let _ = inner.volumes[r.volume].used.fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |u| Some(u.saturating_sub(r.len)),
            );
            deleted = true;
        }
        let slot = {
            let mut rbw = inner.rbw.lock();
            match rbw.get(&block.id) {
                Some(s) if s.block.genstamp <= block.genstamp => rbw.remove(&block.id),
                _ => None,
            }
        };
        if let Some(s) = slot {
            inner
                .discard_rbw(&s)
                .map_err(DatanodeError::io(s.block, "delete rbw replica"))?;
        }
        Ok(deleted)
    }

    fn finalized(&self) -> Vec<Replica> {
        self.inner.finalized.read().values().cloned().collect()
    }

    fn being_written(&self) -> Vec<(BlockRef, u64)> {
        self.inner
            .rbw
            .lock()
            .values()
            .filter(|s| !self.inner.volumes[s.volume].failed.load(Ordering::SeqCst))
            .map(|s| (s.block, s.written.load(Ordering::Relaxed)))
            .collect()
    }

    fn check_volumes(&self) -> Vec<super::FailedVolume> {
        self.check_volumes_now()
    }

    fn io_errors(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.io_errors.clone())
    }

    fn volumes(&self) -> Vec<VolumeReport> {
        self.inner
            .volumes
            .iter()
            .map(|v| {
                let used = v.used.load(Ordering::Relaxed);
                match fs_space(&v.dir) {
                    Ok(_) if v.failed.load(Ordering::SeqCst) => VolumeReport {
                        dir: v.dir.display().to_string(),
                        capacity: 0,
                        used: 0,
                        remaining: 0,
                        failed: true,
                    },
                    Ok((capacity, avail)) => VolumeReport {
                        dir: v.dir.display().to_string(),
                        capacity,
                        used,
                        remaining: avail
                            .saturating_sub(v.inflight.load(Ordering::Relaxed))
                            .saturating_sub(self.inner.reserved),
                        failed: false,
                    },
                    Err(_) => VolumeReport {
                        dir: v.dir.display().to_string(),
                        capacity: 0,
                        used,
                        remaining: 0,
                        failed: true,
                    },
                }
            })
            .collect()
    }
}

struct DiskWriter {
    inner: Arc<Inner>,
    slot: Arc<RbwSlot>,
    data: File,
    meta: BufWriter<File>,
    data_path: PathBuf,
    meta_path: PathBuf,
    sha: ReplicaHash,
    len: u64,
    /// The last append ended mid-chunk: no more data may follow.
    partial: bool,
    /// Part of the volume reservation not yet consumed by written bytes.
    reserved_left: u64,
    /// Reused buffer for the big-endian CRC bytes of one append.
    crc_bytes: Vec<u8>,
    /// Starts writeback early and drops written ranges from the page cache.
    behind: DropBehind,
}

impl DiskWriter {
    fn check_live(&self) -> Result<()> {
        if self.slot.cancelled.load(Ordering::SeqCst) {
            return Err(DatanodeError::Cancelled {
                block: self.slot.block,
                why: "superseded by a newer writer or deleted".into(),
            });
        }
        Ok(())
    }

    fn volume(&self) -> &Volume {
        &self.inner.volumes[self.slot.volume]
    }
}

impl ReplicaWriter for DiskWriter {
    fn block(&self) -> BlockRef {
        self.slot.block
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn append(&mut self, data: &[u8], crcs: &[u32]) -> Result<()> {
        let block = self.slot.block;
        if data.is_empty() {
            return Ok(());
        }
        if self.partial {
            return Err(DatanodeError::Protocol {
                block,
                msg: format!("data at offset {} follows a partial chunk", self.len),
            });
        }
        if crcs.len() as u64 != super::chunks_for(data.len() as u64) {
            return Err(DatanodeError::Protocol {
                block,
                msg: format!("{} bytes with {} checksums", data.len(), crcs.len()),
            });
        }
        let slot = self.slot.clone();
        let _io = slot.io.lock();
        self.check_live()?;
        health::note_io(
            &self.inner.io_errors,
            self.data
                .write_all(data)
                .map_err(DatanodeError::io(block, "write data")),
        )?;
        self.crc_bytes.clear();
        for c in crcs {
            self.crc_bytes.extend_from_slice(&c.to_be_bytes());
        }
        health::note_io(
            &self.inner.io_errors,
            // Flushed with every append, so that a recovery taking the
            // replica over from this writer finds every CRC on disk.
            self.meta
                .write_all(&self.crc_bytes)
                .and_then(|()| self.meta.flush())
                .map_err(DatanodeError::io(block, "write checksums")),
        )?;
        self.sha.update(data);
        let n = data.len() as u64;
        self.len += n;
        self.partial = n & (BYTES_PER_CHECKSUM as u64 - 1) != 0; // 512 is a power of two
        self.behind.advance(&self.data, self.len);
        slot.written.store(self.len, Ordering::Relaxed);
        let v = &self.inner.volumes[slot.volume];
        v.used.fetch_add(n, Ordering::Relaxed);
        let dec = n.min(self.reserved_left);
        self.reserved_left -= dec;
        v.inflight.fetch_sub(dec, Ordering::Relaxed);
        Ok(())
    }

    fn sha256(&self) -> Option<[u8; 32]> {
        self.sha.current()
    }

    fn defer_sha256(&mut self) {
        self.sha.defer();
    }

    fn set_sha256(&mut self, sha256: [u8; 32]) {
        self.sha.set(sha256);
    }

    fn finalize(mut self: Box<Self>) -> Result<Replica> {
        let block = self.slot.block;
        let slot = self.slot.clone();
        let _io = slot.io.lock();
        self.check_live()?;
        let sha256 = self.sha.finish(block)?;
        let io = DatanodeError::io;
        self.meta.flush().map_err(io(block, "write checksums"))?;
        let header = MetaHeader {
            flags: FLAG_FINALIZED,
            len: self.len,
            sha256,
            ..MetaHeader::unfinalized(BYTES_PER_CHECKSUM)
        };
        let meta = self.meta.get_ref();
        meta.write_all_at(&header.encode(), 0)
            .map_err(io(block, "write meta header"))?;
        let sync = self.inner.sync;
        if sync {
            self.data.sync_all().map_err(io(block, "fsync data"))?;
            meta.sync_all().map_err(io(block, "fsync meta"))?;
        }

        let vol = self.volume();
        let rel = subdir(block.id);
        let dir = ensure_dir(&vol.finalized, &rel).map_err(io(block, "create finalized dir"))?;
        let replica = Replica {
            block,
            len: self.len,
            volume: slot.volume,
        };
        {
            // Hold the map lock across the renames so that a concurrent
            // finalize of the same id cannot interleave.
            let mut map = self.inner.finalized.write();
            if self.volume().failed.load(Ordering::SeqCst) {
                return Err(DatanodeError::Cancelled {
                    block,
                    why: format!("volume {} failed", self.volume().dir.display()),
                });
            }
            if let Some(r) = map.get(&block.id) {
                return Err(DatanodeError::AlreadyExists {
                    block,
                    why: format!("finalized as {} meanwhile", r.block),
                });
            }
            fs::rename(&self.meta_path, dir.join(meta_name(block)))
                .map_err(io(block, "move meta to finalized"))?;
            fs::rename(&self.data_path, dir.join(data_name(block.id)))
                .map_err(io(block, "move data to finalized"))?;
            map.insert(block.id, replica.clone());
        }
        {
            let mut rbw = self.inner.rbw.lock();
            if rbw.get(&block.id).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                rbw.remove(&block.id);
            }
        }
        if sync {
            fsync_dir(&dir).map_err(io(block, "fsync finalized dir"))?;
            fsync_dir(&vol.rbw).map_err(io(block, "fsync rbw dir"))?;
        }
        Ok(replica)
    }

    fn abort(self: Box<Self>) {
        let slot = self.slot.clone();
        let removed = {
            let mut rbw = self.inner.rbw.lock();
            if rbw
                .get(&slot.block.id)
                .is_some_and(|s| Arc::ptr_eq(s, &slot))
            {
                rbw.remove(&slot.block.id);
                true
            } else {
                false
            }
        };
        if removed {
            if let Err(e) = self.inner.discard_rbw(&slot) {
                warn!(
                    block_id = slot.block.id,
                    "cannot remove aborted replica {}: {e}", slot.block
                );
            }
        }
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        self.volume()
            .inflight
            .fetch_sub(self.reserved_left, Ordering::Relaxed);
        self.reserved_left = 0;
        self.slot.active.store(false, Ordering::SeqCst);
    }
}

struct DiskReader {
    block: BlockRef,
    len: u64,
    data: File,
    meta: File,
    /// Reused buffer for CRC bytes.
    buf: Vec<u8>,
    /// Woken on a read error (see [`Inner::io_errors`]).
    io_errors: Arc<tokio::sync::Notify>,
}

impl ReplicaReader for DiskReader {
    fn block(&self) -> BlockRef {
        self.block
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn sha256(&mut self) -> Result<[u8; 32]> {
        let mut b = [0u8; HEADER_LEN];
        self.meta
            .read_exact_at(&mut b, 0)
            .map_err(DatanodeError::io(self.block, "read meta header"))?;
        let h = MetaHeader::decode(&b).map_err(|e| DatanodeError::Io {
            block: self.block,
            op: "read meta header",
            source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        })?;
        Ok(h.sha256)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if offset + buf.len() as u64 > self.len {
            return Err(DatanodeError::OutOfRange {
                block: self.block,
                msg: format!(
                    "read of {} bytes at {offset} beyond the replica's {} bytes",
                    buf.len(),
                    self.len
                ),
            });
        }
        health::note_io(
            &self.io_errors,
            self.data
                .read_exact_at(buf, offset)
                .map_err(DatanodeError::io(self.block, "read data")),
        )
    }

    fn crcs_at(&mut self, first_chunk: u64, out: &mut [u32]) -> Result<()> {
        self.buf.resize(out.len() * 4, 0);
        health::note_io(
            &self.io_errors,
            self.meta
                .read_exact_at(&mut self.buf, crc_offset(first_chunk))
                .map_err(DatanodeError::io(self.block, "read checksums")),
        )?;
        for (o, c) in out.iter_mut().zip(self.buf.chunks_exact(4)) {
            *o = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        Ok(())
    }
}

/// Where a finalized replica's files are, found by looking at the disk only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaFiles {
    pub data: PathBuf,
    pub meta: PathBuf,
    pub genstamp: u64,
}

/// Finds a finalized replica's files in any of `data_dirs`.
pub fn find_replica(data_dirs: &[PathBuf], block_id: u64) -> Option<ReplicaFiles> {
    for d in data_dirs {
        let dir = d.join("current").join("finalized").join(subdir(block_id));
        let data = dir.join(data_name(block_id));
        if !data.is_file() {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let gs = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| match e.file_name().to_str().and_then(parse_name) {
                Some(FileKind::Meta(b)) if b.id == block_id => Some(b.genstamp),
                _ => None,
            })
            .max();
        if let Some(genstamp) = gs {
            return Some(ReplicaFiles {
                meta: dir.join(meta_name(BlockRef::new(block_id, genstamp))),
                data,
                genstamp,
            });
        }
    }
    None
}

/// The `(data, meta)` paths of a replica in `rbw` (tests inspect them).
pub fn rbw_files(data_dir: &Path, block: BlockRef) -> (PathBuf, PathBuf) {
    let d = data_dir.join("current").join("rbw");
    (d.join(data_name(block.id)), d.join(meta_name(block)))
}

/// Bytes of a replica between two [`DropBehind`] steps.
const DROP_BEHIND_CHUNK: u64 = 8 << 20;

/// Write-behind and drop-behind for a replica being written (as HDFS's
/// `sync.behind.writes` / `drop.cache.behind.writes`): every
/// [`DROP_BEHIND_CHUNK`] bytes, writeback of the new chunk starts at once and
/// the chunk before it (written back by then) leaves the page cache. A
/// replica being received thus holds at most two chunks of page cache, and
/// the pages it frees are reused by the next chunks: without it, every
/// written byte takes a page from the free pool, which dominates the cost of
/// a write (three times over with three replicas on one machine) and lets
/// dirty data pile up until the kernel throttles the writers.
///
/// Purely advisory: durability still comes from the fsyncs at finalize
/// (`sync_on_close`), errors are ignored (a real I/O error surfaces on the
/// next write or fsync), and pages still under writeback simply stay cached.
#[derive(Default)]
struct DropBehind {
    /// [`DiskOptions::drop_behind_writes`].
    enabled: bool,
    /// Writeback was started for `[0, started)`.
    started: u64,
    /// `[0, dropped)` was dropped from the page cache.
    dropped: u64,
}

impl DropBehind {
    #[cfg(target_os = "linux")]
    fn advance(&mut self, file: &File, len: u64) {
        if !self.enabled || len - self.started < DROP_BEHIND_CHUNK {
            return;
        }
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: plain syscalls on an open descriptor, no memory passed.
        unsafe {
            libc::sync_file_range(
                fd,
                self.started as libc::off64_t,
                (len - self.started) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
            if self.started > self.dropped {
                libc::posix_fadvise(
                    fd,
                    self.dropped as libc::off_t,
                    (self.started - self.dropped) as libc::off_t,
                    libc::POSIX_FADV_DONTNEED,
                );
            }
        }
        self.dropped = self.started;
        self.started = len;
    }
}

#[cfg(not(target_os = "linux"))]
impl DropBehind {
    fn advance(&mut self, _file: &File, _len: u64) {
        let _ = (self.enabled, self.started, self.dropped);
    }
}
