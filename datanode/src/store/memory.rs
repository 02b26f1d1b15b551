//! [`MemStore`]: replicas in memory, for tests of the layers above the store.
//! Same semantics as [`super::DiskStore`] (checked by the conformance suite),
//! with a fixed capacity instead of a file system.

use super::{
    chunks_for, BlockRef, BlockStore, Replica, ReplicaHash, ReplicaReader, ReplicaState,
    ReplicaWriter, VolumeReport, BYTES_PER_CHECKSUM,
};
use crate::error::{DatanodeError, Result};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// An in-memory block store with `capacity` bytes.
pub struct MemStore {
    inner: Arc<Mutex<MemInner>>,
    uuid: String,
    capacity: u64,
}

struct MemReplica {
    block: BlockRef,
    data: Arc<Vec<u8>>,
    crcs: Arc<Vec<u32>>,
    sha256: [u8; 32],
}

/// A replica in rbw: its bytes live here (not in the writer), so that a
/// recovery can take them over after the writer went away.
struct MemRbw {
    block: BlockRef,
    data: Vec<u8>,
    crcs: Vec<u32>,
    active: bool,
    /// Identifies the writer owning this slot (a newer writer bumps it).
    writer: u64,
}

#[derive(Default)]
struct MemInner {
    finalized: HashMap<u64, MemReplica>,
    rbw: HashMap<u64, MemRbw>,
    /// Bytes held by replicas plus bytes promised to writers in progress.
    used: u64,
    reserved_inflight: u64,
    next_writer: u64,
}

impl MemStore {
    pub fn new(capacity: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(MemInner::default())),
            uuid: uuid::Uuid::new_v4().to_string(),
            capacity,
        }
    }
}

impl MemStore {
    /// Puts an rbw slot holding `data` (with its CRCs) for `block` and
    /// returns its writer, positioned at the end of `data`.
    fn start_writer(
        &self,
        g: &mut MemInner,
        block: BlockRef,
        data: Vec<u8>,
        crcs: Vec<u32>,
        reserved: u64,
    ) -> Box<dyn ReplicaWriter> {
        g.next_writer += 1;
        let writer = g.next_writer;
        let len = data.len() as u64;
        let mut sha = Sha256::new();
        sha.update(&data);
        g.rbw.insert(
            block.id,
            MemRbw {
                block,
                data,
                crcs,
                active: true,
                writer,
            },
        );
        Box::new(MemWriter {
            inner: self.inner.clone(),
            block,
            writer,
            len,
            sha: ReplicaHash::resumed(sha),
            partial: !len.is_multiple_of(BYTES_PER_CHECKSUM as u64),
            reserved_left: reserved,
            capacity: self.capacity,
        })
    }
}

impl BlockStore for MemStore {
    fn uuid(&self) -> &str {
        &self.uuid
    }

    fn describe(&self) -> String {
        "memory".into()
    }

    fn create(&self, block: BlockRef, expected_len: u64) -> Result<Box<dyn ReplicaWriter>> {
        let mut g = self.inner.lock();
        if let Some(r) = g.finalized.get(&block.id) {
            return Err(DatanodeError::AlreadyExists {
                block,
                why: format!("finalized as {} ({} bytes)", r.block, r.data.len()),
            });
        }
        if let Some(s) = g.rbw.get(&block.id) {
            if s.active && s.block.genstamp >= block.genstamp {
                return Err(DatanodeError::AlreadyExists {
                    block,
                    why: format!("{} is being written", s.block),
                });
            }
        }
        if self.capacity.saturating_sub(g.used + g.reserved_inflight) < expected_len {
            return Err(DatanodeError::NoSpace {
                node: self.uuid.clone(),
                dirs: self.describe(),
                block,
                needed: expected_len,
            });
        }
        if let Some(old) = g.rbw.remove(&block.id) {
            g.used -= old.data.len() as u64;
        }
        g.reserved_inflight += expected_len;
        Ok(self.start_writer(&mut g, block, Vec::new(), Vec::new(), expected_len))
    }

    fn recover(&self, block: BlockRef, len: u64) -> Result<Box<dyn ReplicaWriter>> {
        let mut g = self.inner.lock();
        let (data, crcs) = match (g.rbw.get(&block.id), g.finalized.get(&block.id)) {
            (Some(s), _) if s.block.genstamp >= block.genstamp => {
                return Err(DatanodeError::AlreadyExists {
                    block,
                    why: format!("{} is in rbw", s.block),
                })
            }
            (Some(_), _) => {
                let s = g.rbw.remove(&block.id).expect("checked above");
                (s.data, s.crcs)
            }
            (None, Some(r)) if r.block.genstamp >= block.genstamp => {
                return Err(DatanodeError::AlreadyExists {
                    block,
                    why: format!("finalized as {}", r.block),
                })
            }
            (None, Some(_)) => {
                let r = g.finalized.remove(&block.id).expect("checked above");
                (r.data.to_vec(), r.crcs.to_vec())
            }
            (None, None) => return Err(DatanodeError::ReplicaNotFound { block }),
        };
        g.used -= data.len() as u64;
        let bpc = BYTES_PER_CHECKSUM as usize;
        let good = data
            .chunks(bpc)
            .zip(&crcs)
            .take_while(|(chunk, c)| crc32c::crc32c(chunk) == **c)
            .map(|(chunk, _)| chunk.len() as u64)
            .sum::<u64>();
        if good < len {
            return Err(DatanodeError::Unrecoverable {
                block,
                msg: format!("{len} bytes wanted but only {good} bytes are good"),
            });
        }
        let mut data = data;
        data.truncate(len as usize);
        let mut crcs = crcs;
        crcs.truncate(chunks_for(len) as usize);
        if let Some(last) = crcs.len().checked_sub(1) {
            crcs[last] = crc32c::crc32c(&data[last * bpc..]);
        }
        g.used += len;
        Ok(self.start_writer(&mut g, block, data, crcs, 0))
    }

    fn stop_writer(&self, block_id: u64, new_genstamp: u64) -> Option<ReplicaState> {
        {
            let mut g = self.inner.lock();
            if let Some(s) = g.rbw.get_mut(&block_id) {
                if s.block.genstamp < new_genstamp {
                    // A new owner id cancels the old writer.
                    s.active = false;
                    s.writer = 0;
                }
            }
        }
        self.state(block_id)
    }

    fn state(&self, block_id: u64) -> Option<ReplicaState> {
        let g = self.inner.lock();
        if let Some(r) = g.finalized.get(&block_id) {
            return Some(ReplicaState::Finalized(Replica {
                block: r.block,
                len: r.data.len() as u64,
                volume: 0,
            }));
        }
        g.rbw.get(&block_id).map(|s| ReplicaState::BeingWritten {
            block: s.block,
            len: s.data.len() as u64,
        })
    }

    fn open(&self, block: BlockRef) -> Result<Box<dyn ReplicaReader>> {
        let g = self.inner.lock();
        match g.finalized.get(&block.id) {
            None => Err(DatanodeError::ReplicaNotFound { block }),
            Some(r) if r.block.genstamp != block.genstamp => Err(DatanodeError::GenstampMismatch {
                block,
                have: r.block.genstamp,
            }),
            Some(r) => Ok(Box::new(MemReader {
                block,
                data: r.data.clone(),
                crcs: r.crcs.clone(),
                sha256: r.sha256,
            })),
        }
    }

    fn delete(&self, block: BlockRef) -> Result<bool> {
        let mut g = self.inner.lock();
        let mut deleted = false;
        if g.finalized
            .get(&block.id)
            .is_some_and(|r| r.block.genstamp <= block.genstamp)
        {
            if let Some(r) = g.finalized.remove(&block.id) {
                g.used -= r.data.len() as u64;
                deleted = true;
            }
        }
        if g.rbw
            .get(&block.id)
            .is_some_and(|s| s.block.genstamp <= block.genstamp)
        {
            if let Some(s) = g.rbw.remove(&block.id) {
                g.used -= s.data.len() as u64;
            }
        }
        Ok(deleted)
    }

    fn finalized(&self) -> Vec<Replica> {
        self.inner
            .lock()
            .finalized
            .values()
            .map(|r| Replica {
                block: r.block,
                len: r.data.len() as u64,
                volume: 0,
            })
            .collect()
    }

    fn being_written(&self) -> Vec<(BlockRef, u64)> {
        self.inner
            .lock()
            .rbw
            .values()
            .map(|s| (s.block, s.data.len() as u64))
            .collect()
    }

    fn volumes(&self) -> Vec<VolumeReport> {
        let g = self.inner.lock();
        vec![VolumeReport {
            dir: "memory".into(),
            capacity: self.capacity,
            used: g.used,
            remaining: self.capacity.saturating_sub(g.used + g.reserved_inflight),
            failed: false,
        }]
    }
}

struct MemWriter {
    inner: Arc<Mutex<MemInner>>,
    block: BlockRef,
    writer: u64,
    /// Bytes written (the data itself is in the rbw slot).
    len: u64,
    sha: ReplicaHash,
    partial: bool,
    reserved_left: u64,
    capacity: u64,
}

impl MemWriter {
    /// True while this writer still owns the rbw slot.
    fn owns(&self, g: &MemInner) -> bool {
        g.rbw
            .get(&self.block.id)
            .is_some_and(|s| s.writer == self.writer)
    }

    fn cancelled(&self) -> DatanodeError {
        DatanodeError::Cancelled {
            block: self.block,
            why: "superseded by a newer writer or deleted".into(),
        }
    }
}

impl ReplicaWriter for MemWriter {
    fn block(&self) -> BlockRef {
        self.block
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn append(&mut self, data: &[u8], crcs: &[u32]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.partial {
            return Err(DatanodeError::Protocol {
                block: self.block,
                msg: format!("data at offset {} follows a partial chunk", self.len),
            });
        }
        if crcs.len() as u64 != chunks_for(data.len() as u64) {
            return Err(DatanodeError::Protocol {
                block: self.block,
                msg: format!("{} bytes with {} checksums", data.len(), crcs.len()),
            });
        }
        let n = data.len() as u64;
        let mut g = self.inner.lock();
        if !self.owns(&g) {
            return Err(self.cancelled());
        }
        let dec = n.min(self.reserved_left);
        self.reserved_left -= dec;
        g.reserved_inflight -= dec;
        if g.used + n > self.capacity {
            // Like ENOSPC on a disk: the write fails, the process does not.
            return Err(DatanodeError::Io {
                block: self.block,
                op: "write data",
                source: std::io::Error::from_raw_os_error(libc::ENOSPC),
            });
        }
        g.used += n;
        if let Some(s) = g.rbw.get_mut(&self.block.id) {
            s.data.extend_from_slice(data);
            s.crcs.extend_from_slice(crcs);
        }
        self.sha.update(data);
        self.partial = n & (BYTES_PER_CHECKSUM as u64 - 1) != 0; // 512 is a power of two
        self.len += n;
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

    fn finalize(self: Box<Self>) -> Result<Replica> {
        let mut g = self.inner.lock();
        if !self.owns(&g) {
            return Err(self.cancelled());
        }
        let sha256 = self.sha.finish(self.block)?;
        if let Some(r) = g.finalized.get(&self.block.id) {
            return Err(DatanodeError::AlreadyExists {
                block: self.block,
                why: format!("finalized as {} meanwhile", r.block),
            });
        }
        let slot = g.rbw.remove(&self.block.id).expect("owned above");
        let len = slot.data.len() as u64;
        g.finalized.insert(
            self.block.id,
            MemReplica {
                block: self.block,
                data: Arc::new(slot.data),
                crcs: Arc::new(slot.crcs),
                sha256,
            },
        );
        Ok(Replica {
            block: self.block,
            len,
            volume: 0,
        })
    }

    fn abort(self: Box<Self>) {
        let mut g = self.inner.lock();
        if self.owns(&g) {
            if let Some(s) = g.rbw.remove(&self.block.id) {
                g.used -= s.data.len() as u64;
            }
        }
    }
}

impl Drop for MemWriter {
    fn drop(&mut self) {
        let mut g = self.inner.lock();
        g.reserved_inflight -= self.reserved_left;
        self.reserved_left = 0;
        if self.owns(&g) {
            if let Some(s) = g.rbw.get_mut(&self.block.id) {
                s.active = false;
            }
        }
    }
}

struct MemReader {
    block: BlockRef,
    data: Arc<Vec<u8>>,
    crcs: Arc<Vec<u32>>,
    sha256: [u8; 32],
}

impl ReplicaReader for MemReader {
    fn block(&self) -> BlockRef {
        self.block
    }

    fn len(&self) -> u64 {
        self.data.len() as u64
    }

    fn sha256(&mut self) -> Result<[u8; 32]> {
        Ok(self.sha256)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset as usize + buf.len();
        let src = self
            .data
            .get(offset as usize..end)
            .ok_or_else(|| DatanodeError::OutOfRange {
                block: self.block,
                msg: format!(
                    "read of {} bytes at {offset} beyond the replica's {} bytes",
                    buf.len(),
                    self.data.len()
                ),
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn crcs_at(&mut self, first_chunk: u64, out: &mut [u32]) -> Result<()> {
        let first = first_chunk as usize;
        let src =
            self.crcs
                .get(first..first + out.len())
                .ok_or_else(|| DatanodeError::OutOfRange {
                    block: self.block,
                    msg: format!(
                        "checksums {first}.. beyond the replica's {}",
                        self.crcs.len()
                    ),
                })?;
        out.copy_from_slice(src);
        Ok(())
    }
}
