//! The block store: replicas on local volumes, behind the [`BlockStore`] trait.
//!
//! Two implementations share one conformance suite (`conformance.rs`):
//! [`DiskStore`] (the real one, see `disk.rs` for the on-disk layout) and
//! [`MemStore`] (for tests of the layers above). The store knows nothing of
//! gRPC: callers verify packet checksums ([`verify_chunks`]) and hand it
//! chunk-aligned data with its CRCs.
//!
//! All methods block (disk I/O): call them from `spawn_blocking` or a
//! dedicated thread, never from a tokio worker.

pub mod disk;
pub mod memory;
pub mod meta;

#[cfg(test)]
mod conformance;

pub use disk::{DiskOptions, DiskStore};
pub use memory::MemStore;

use crate::error::{DatanodeError, Result};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt;

/// Bytes covered by one CRC32C. Fixed: the meta format and Hadoop's
/// MD5-of-MD5-of-CRC32C both assume it.
pub const BYTES_PER_CHECKSUM: u32 = 512;

/// A block id with its generation stamp; displays as `blk_<id>_<gs>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    pub id: u64,
    pub genstamp: u64,
}

impl BlockRef {
    pub fn new(id: u64, genstamp: u64) -> Self {
        Self { id, genstamp }
    }
}

impl fmt::Display for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blk_{}_{}", self.id, self.genstamp)
    }
}

/// A finalized replica as the store's map holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub block: BlockRef,
    /// Length in bytes.
    pub len: u64,
    /// Index of the volume (data dir) holding it.
    pub volume: usize,
}

/// What the store knows about one block id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    Finalized(Replica),
    /// In `rbw`: being written, or left behind by a writer that went away.
    BeingWritten {
        block: BlockRef,
        len: u64,
    },
}

/// Space on one volume, for heartbeats and /metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeReport {
    pub dir: String,
    pub capacity: u64,
    /// Bytes in replicas (finalized and being written).
    pub used: u64,
    /// Free bytes minus the configured reserve.
    pub remaining: u64,
    pub failed: bool,
}

/// A volume taken out of service, with the replicas lost with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedVolume {
    pub dir: String,
    /// What the probe or the I/O error said.
    pub why: String,
    /// Its finalized replicas, now out of the replica map: the namenode must
    /// hear they are gone.
    pub replicas: Vec<Replica>,
}

/// The checksums of a finalized replica (BlockChecksum RPC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecksumSummary {
    /// MD5 over the replica's big-endian CRC32C values.
    pub md5_of_crcs: [u8; 16],
    pub crcs: u64,
    pub sha256: [u8; 32],
    pub len: u64,
}

/// Replica storage. Implementations are internally synchronized.
pub trait BlockStore: Send + Sync + 'static {
    /// The datanode identity kept with the data.
    fn uuid(&self) -> &str;

    /// Where the data lives, for messages ("/d1, /d2" or "memory").
    fn describe(&self) -> String;

    /// Starts a replica in `rbw` on a volume with room for `expected_len`.
    /// Fails with `AlreadyExists` when the id is finalized or a live writer
    /// with a genstamp at least as new holds it; an older or abandoned `rbw`
    /// replica of the same id is replaced.
    fn create(&self, block: BlockRef, expected_len: u64) -> Result<Box<dyn ReplicaWriter>>;

    /// Pipeline and lease recovery: takes over the replica with `block.id`
    /// whose generation stamp is older than `block.genstamp` — in rbw (its
    /// writer, if any, cancelled first) or finalized (moved back to rbw) —
    /// cut to `len` bytes after checking every chunk below `len` against its
    /// CRC, and returns it under the new stamp as a writer positioned at
    /// `len`. Errors: no such replica (`ReplicaNotFound`), one with the same
    /// or a newer stamp (`AlreadyExists`), fewer than `len` good bytes
    /// (`Unrecoverable`; the replica is then discarded: it is stale).
    fn recover(&self, block: BlockRef, len: u64) -> Result<Box<dyn ReplicaWriter>>;

    /// Lease recovery, first step: cancels the writer of the replica with
    /// this id if its stamp is older than `new_genstamp`, so its length
    /// stops changing, and returns its state.
    fn stop_writer(&self, block_id: u64, new_genstamp: u64) -> Option<ReplicaState>;

    /// The replica with this id, finalized or not.
    fn state(&self, block_id: u64) -> Option<ReplicaState>;

    /// Opens a finalized replica for reading; the genstamp must match.
    fn open(&self, block: BlockRef) -> Result<Box<dyn ReplicaReader>>;

    /// Deletes the replica with this id if its genstamp is not newer than
    /// `block.genstamp` (finalized or rbw). Returns whether a finalized
    /// replica was removed (the one the namenode must hear about).
    fn delete(&self, block: BlockRef) -> Result<bool>;

    /// Every finalized replica (for full block reports).
    fn finalized(&self) -> Vec<Replica>;

    /// Every replica in rbw with the bytes it holds (for full block
    /// reports: the namenode deletes the stale ones).
    fn being_written(&self) -> Vec<(BlockRef, u64)>;

    /// Space per volume.
    fn volumes(&self) -> Vec<VolumeReport>;

    /// Probes every volume still in service and takes out those that fail
    /// (see `disk/health.rs`): their replicas leave the map and are
    /// returned, new replicas never go there. Stores whose volumes cannot
    /// fail return nothing.
    fn check_volumes(&self) -> Vec<FailedVolume> {
        Vec::new()
    }

    /// Woken when an I/O error suggests checking the volumes now.
    fn io_errors(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// Writes one replica. Dropping it without `finalize` or `abort` leaves the
/// partial replica in `rbw` (not reported, recoverable later).
pub trait ReplicaWriter: Send {
    fn block(&self) -> BlockRef;

    /// Bytes written so far.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `data` (which starts at `len()`) with one CRC32C per
    /// `BYTES_PER_CHECKSUM` chunk. Only the final append may end mid-chunk.
    /// The caller has verified the CRCs.
    fn append(&mut self, data: &[u8], crcs: &[u32]) -> Result<()>;

    /// SHA-256 of the bytes appended so far (what `finalize` records), or
    /// the one given with `set_sha256`; `None` after `defer_sha256` until
    /// then.
    fn sha256(&self) -> Option<[u8; 32]>;

    /// Stops hashing appended data: the replica's SHA-256 is computed
    /// elsewhere (by the first datanode of a write pipeline) and given with
    /// `set_sha256` before `finalize`, which fails without it.
    fn defer_sha256(&mut self);

    /// The SHA-256 of the whole replica, computed elsewhere (see `defer_sha256`).
    fn set_sha256(&mut self, sha256: [u8; 32]);

    /// Makes the replica durable and finalized (fsync, move out of rbw).
    fn finalize(self: Box<Self>) -> Result<Replica>;

    /// Gives up and removes the partial replica.
    fn abort(self: Box<Self>);
}

/// The SHA-256 a replica writer records at finalize: computed over the
/// appended bytes, or handed over by whoever computed it (see
/// [`ReplicaWriter::defer_sha256`]).
pub(crate) enum ReplicaHash {
    Computing(Sha256),
    Given(Option<[u8; 32]>),
}

impl ReplicaHash {
    pub(crate) fn new() -> Self {
        ReplicaHash::Computing(Sha256::new())
    }

    /// Continues a hash over bytes already in the replica (recovery).
    pub(crate) fn resumed(sha: Sha256) -> Self {
        ReplicaHash::Computing(sha)
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        if let ReplicaHash::Computing(sha) = self {
            sha.update(data);
        }
    }

    pub(crate) fn current(&self) -> Option<[u8; 32]> {
        match self {
            ReplicaHash::Computing(sha) => Some(sha.clone().finalize().into()),
            ReplicaHash::Given(d) => *d,
        }
    }

    pub(crate) fn defer(&mut self) {
        if let ReplicaHash::Computing(_) = self {
            *self = ReplicaHash::Given(None);
        }
    }

    pub(crate) fn set(&mut self, sha256: [u8; 32]) {
        *self = ReplicaHash::Given(Some(sha256));
    }

    /// What finalize records; an error when it was deferred and never given.
    pub(crate) fn finish(&self, block: BlockRef) -> Result<[u8; 32]> {
        self.current().ok_or_else(|| DatanodeError::Protocol {
            block,
            msg: "no SHA-256 of the replica was given to finalize it".into(),
        })
    }
}

/// Reads one finalized replica.
pub trait ReplicaReader: Send {
    fn block(&self) -> BlockRef;

    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SHA-256 of the whole replica, recorded at finalize.
    fn sha256(&mut self) -> Result<[u8; 32]>;

    /// Fills `buf` from `offset`; `offset + buf.len()` must be within `len()`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// The stored CRCs of chunks `first_chunk ..` (`out.len()` of them).
    fn crcs_at(&mut self, first_chunk: u64, out: &mut [u32]) -> Result<()>;
}

/// Number of checksum chunks covering `len` bytes.
pub fn chunks_for(len: u64) -> u64 {
    len.div_ceil(BYTES_PER_CHECKSUM as u64)
}

/// Checks `data` (starting at block offset `offset`, chunk-aligned) against
/// one CRC32C per chunk. The error names the block and the failing chunk's offset.
pub fn verify_chunks(block: BlockRef, offset: u64, data: &[u8], crcs: &[u32]) -> Result<()> {
    let bpc = BYTES_PER_CHECKSUM as usize;
    let want = data.len().div_ceil(bpc);
    if crcs.len() != want {
        return Err(DatanodeError::Protocol {
            block,
            msg: format!(
                "packet at offset {offset} has {} bytes and {} checksums (expected {want})",
                data.len(),
                crcs.len()
            ),
        });
    }
    for (i, (chunk, &expected)) in data.chunks(bpc).zip(crcs).enumerate() {
        let actual = crc32c::crc32c(chunk);
        if actual != expected {
            return Err(DatanodeError::Checksum {
                block,
                offset: offset + (i * bpc) as u64,
                expected,
                actual,
            });
        }
    }
    Ok(())
}

/// CRC32C of each chunk of `data`, appended to `out`.
pub fn compute_crcs(data: &[u8], out: &mut Vec<u32>) {
    out.extend(data.chunks(BYTES_PER_CHECKSUM as usize).map(crc32c::crc32c));
}

/// Reads a whole replica and checks it against its stored CRCs (what a block
/// scanner does). `Err(Checksum)` names the first bad chunk.
pub fn verify_replica(store: &dyn BlockStore, block: BlockRef) -> Result<()> {
    let mut r = store.open(block)?;
    let len = r.len();
    let step = 1u64 << 20;
    let mut buf = vec![0u8; step as usize];
    let mut crcs = vec![0u32; chunks_for(step) as usize];
    let mut off = 0;
    while off < len {
        let n = step.min(len - off) as usize;
        let c = chunks_for(n as u64) as usize;
        r.read_at(off, &mut buf[..n])?;
        r.crcs_at(off / BYTES_PER_CHECKSUM as u64, &mut crcs[..c])?;
        verify_chunks(block, off, &buf[..n], &crcs[..c])?;
        off += n as u64;
    }
    Ok(())
}

/// MD5 of the stored CRCs, SHA-256 and length of a finalized replica.
pub fn checksum_summary(store: &dyn BlockStore, block: BlockRef) -> Result<ChecksumSummary> {
    let mut r = store.open(block)?;
    let len = r.len();
    let total = chunks_for(len);
    let mut md5 = Md5::new();
    let mut crcs = vec![0u32; 16 * 1024];
    let mut bytes = Vec::with_capacity(crcs.len() * 4);
    let mut first = 0;
    while first < total {
        let n = (total - first).min(crcs.len() as u64) as usize;
        r.crcs_at(first, &mut crcs[..n])?;
        bytes.clear();
        for c in &crcs[..n] {
            bytes.extend_from_slice(&c.to_be_bytes());
        }
        md5.update(&bytes);
        first += n as u64;
    }
    Ok(ChecksumSummary {
        md5_of_crcs: md5.finalize().into(),
        crcs: total,
        sha256: r.sha256()?,
        len,
    })
}
