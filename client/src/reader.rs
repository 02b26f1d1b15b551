//! [`DfsReader`]: the read path.
//!
//! Each block is read from its closest replica with one ReadBlock stream;
//! every chunk's CRC32C is verified. A checksum mismatch (reported to the
//! namenode with ReportBadBlocks), a missing replica or a dead datanode moves
//! the read to the next replica from the same offset. When every known
//! replica failed, the locations are fetched again once (they may be stale);
//! only then does the read fail, naming the block, the path and each
//! datanode's cause.
//!
//! Short-circuit local reads: when a replica's datanode is on this host and
//! hands over the replica's files through its domain socket
//! ([`crate::shortcircuit`]), the block is read from them directly, every
//! chunk verified against the meta file's CRC32C. A corrupt chunk is handled
//! as on the network (reported, next replica); any other failure (no socket,
//! refused, I/O error) reads that replica over the network instead. The
//! opened files are kept per block for the reader's life.

use crate::client::DfsClient;
use crate::convert;
use crate::error::{DfsError, Result};
use crate::packet::{verify_chunks, BYTES_PER_CHECKSUM};
use crate::shortcircuit::{self as sc, LocalError, LocalReplica};
use crate::types::{DatanodeInfo, LocatedBlock};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tusk_proto as pb;

/// A file open for reading: sequential [`DfsReader::read`] with
/// [`DfsReader::seek`], and positional [`DfsReader::read_at`] (`&self`,
/// usable concurrently).
pub struct DfsReader {
    shared: Arc<Shared>,
    /// File offset of the next byte `read` returns.
    pos: u64,
    /// Data already fetched, starting at `pos`.
    pending: Bytes,
    /// The block stream feeding sequential reads.
    cursor: Option<Cursor>,
}

/// What positional and sequential reads share.
struct Shared {
    client: DfsClient,
    path: String,
    length: u64,
    blocks: RwLock<Vec<LocatedBlock>>,
    /// Replicas that failed, per block id: (uuid, "addr: cause", checksum?).
    failed: Mutex<HashMap<u64, Vec<Failure>>>,
    /// Blocks whose locations were already fetched again.
    refetched: Mutex<HashSet<u64>>,
    /// Blocks whose every replica refused as busy (datanodes at their
    /// `max_transfers`): the backoff before they are tried again.
    busy: Mutex<HashMap<u64, crate::client::Backoff>>,
    /// Short-circuit reads, `None` when turned off.
    local: Option<LocalReads>,
}

/// Bytes a short-circuit read fetches and verifies at once.
const LOCAL_READ: u64 = 1 << 20;

/// A replica by block id, generation stamp and datanode uuid.
type LocalKey = (u64, u64, String);

/// Replica files handed over by local datanodes, kept for the reader's life.
#[derive(Default)]
struct LocalReads {
    open: Mutex<HashMap<LocalKey, Arc<LocalReplica>>>,
    /// Replicas that could not be read locally: read over the network.
    refused: Mutex<HashSet<LocalKey>>,
}

#[derive(Clone)]
struct Failure {
    uuid: String,
    what: String,
    checksum: bool,
}

/// Reads `[pos, end)` of one block, switching replicas on failure.
struct Cursor {
    block_index: usize,
    pos: u64,
    end: u64,
    stream: Option<Source>,
}

/// Where a cursor's data comes from.
enum Source {
    Network(Box<OpenStream>),
    /// A short-circuit read of `node`'s replica files.
    Local {
        replica: Arc<LocalReplica>,
        node: DatanodeInfo,
    },
}

struct OpenStream {
    stream: tonic::Streaming<pb::ReadBlockResponse>,
    node: DatanodeInfo,
    /// Block-relative offset the next response must start at (`None`
    /// before the first response).
    next: Option<u64>,
    /// Block-relative offset asked for.
    requested: u64,
}

impl DfsClient {
    /// Opens a file for reading.
    pub async fn open(&self, path: &str) -> Result<DfsReader> {
        let p = self.resolve(path)?;
        let locs = match self.get_block_locations(&p, 0, 0).await {
            Ok(l) => l,
            Err(e) => {
                if let Ok(Some(st)) = self.get_file_info(&p).await {
                    if st.is_dir() {
                        return Err(DfsError::IsDirectory { path: p });
                    }
                }
                return Err(e);
            }
        };
        Ok(DfsReader {
            shared: Arc::new(Shared {
                client: self.clone(),
                path: p,
                length: locs.file_length,
                blocks: RwLock::new(locs.blocks),
                failed: Mutex::new(HashMap::new()),
                refetched: Mutex::new(HashSet::new()),
                busy: Mutex::new(HashMap::new()),
                local: self.config().read_shortcircuit.then(LocalReads::default),
            }),
            pos: 0,
            pending: Bytes::new(),
            cursor: None,
        })
    }

    /// Reads a whole file into memory.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let mut r = self.open(path).await?;
        r.read_to_end().await
    }
}

impl DfsReader {
    /// The file's path.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.shared.length
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.shared.length == 0
    }

    /// The offset the next `read` starts at.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves the read position (past the end is allowed: reads return 0).
    pub fn seek(&mut self, pos: u64) {
        if pos >= self.pos && pos - self.pos < self.pending.len() as u64 {
            let skip = (pos - self.pos) as usize;
            let _ = self.pending.split_to(skip);
        } else {
            self.pending = Bytes::new();
            self.cursor = None;
        }
        self.pos = pos;
    }

    /// The next piece of data at the read position (no copy), `None` at the
    /// end of the file.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if !self.pending.is_empty() {
                let b = std::mem::take(&mut self.pending);
                self.pos += b.len() as u64;
                return Ok(Some(b));
            }
            if self.pos >= self.shared.length {
                return Ok(None);
            }
            let reuse = matches!(&self.cursor, Some(c) if c.pos == self.pos && c.pos < c.end);
            if !reuse {
                let (bi, end) = self.shared.block_at(self.pos)?;
                self.cursor = Some(Cursor {
                    block_index: bi,
                    pos: self.pos,
                    end,
                    stream: None,
                });
            }
            let Some(cur) = self.cursor.as_mut() else {
                continue;
            };
            match self.shared.next(cur).await? {
                Some(b) => self.pending = b,
                None => self.cursor = None,
            }
        }
    }

    /// Reads into `buf`; returns the bytes read, 0 at the end of the file.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pending.is_empty() {
            match self.next_chunk().await? {
                Some(b) => {
                    // next_chunk advanced pos past b; give it back as pending.
                    self.pos -= b.len() as u64;
                    self.pending = b;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        let _ = self.pending.split_to(n);
        self.pos += n as u64;
        Ok(n)
    }

    /// Reads from the position to the end of the file.
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.shared.length.saturating_sub(self.pos) as usize);
        while let Some(b) = self.next_chunk().await? {
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    /// Positional read: fills `buf` from `offset` (short only at the end of
    /// the file). Does not move the read position.
    pub async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let end = self
            .shared
            .length
            .min(offset.saturating_add(buf.len() as u64));
        let mut pos = offset;
        let mut filled = 0;
        while pos < end {
            let (bi, block_end) = self.shared.block_at(pos)?;
            let mut cur = Cursor {
                block_index: bi,
                pos,
                end: block_end.min(end),
                stream: None,
            };
            while let Some(b) = self.shared.next(&mut cur).await? {
                buf[filled..filled + b.len()].copy_from_slice(&b);
                filled += b.len();
            }
            pos = cur.end;
        }
        Ok(filled)
    }
}

impl std::fmt::Debug for DfsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsReader")
            .field("path", &self.shared.path)
            .field("length", &self.shared.length)
            .field("pos", &self.pos)
            .finish()
    }
}

impl Shared {
    /// The block holding `pos` and its end offset.
    fn block_at(&self, pos: u64) -> Result<(usize, u64)> {
        let blocks = self.blocks.read();
        let i = blocks.partition_point(|b| b.offset + b.num_bytes <= pos);
        match blocks.get(i) {
            Some(b) if b.offset <= pos => Ok((i, b.offset + b.num_bytes)),
            _ => Err(DfsError::Protocol(format!(
                "{}: no block covers offset {pos} (file length {})",
                self.path, self.length
            ))),
        }
    }

    fn block(&self, i: usize) -> Result<LocatedBlock> {
        self.blocks.read().get(i).cloned().ok_or_else(|| {
            DfsError::Protocol(format!("{}: block index {i} out of range", self.path))
        })
    }

    /// The next verified data of the cursor's range, `None` when done.
    async fn next(&self, cur: &mut Cursor) -> Result<Option<Bytes>> {
        loop {
            if cur.pos >= cur.end {
                return Ok(None);
            }
            let block = self.block(cur.block_index)?;
            let source = match cur.stream.as_mut() {
                Some(o) => o,
                None => cur
                    .stream
                    .insert(self.open_source(cur.block_index, cur.pos, cur.end).await?),
            };
            let open = match source {
                Source::Network(open) => open,
                Source::Local { replica, node } => {
                    let start = cur.pos - block.offset;
                    let end = (cur.end - block.offset).min(start + LOCAL_READ);
                    let r = replica.clone();
                    let node = node.clone();
                    let res = tokio::task::spawn_blocking(move || r.read(start, end))
                        .await
                        .unwrap_or_else(|e| {
                            Err(LocalError {
                                cause: format!("short-circuit read task: {e}"),
                                checksum: false,
                            })
                        });
                    match res {
                        Ok(data) => {
                            cur.pos += data.len() as u64;
                            return Ok(Some(data));
                        }
                        Err(e) => {
                            cur.stream = None;
                            self.local_failed(&block, &node, e).await;
                            continue;
                        }
                    }
                }
            };
            let msg = open.stream.message().await;
            let node = open.node.clone();
            let failure = match msg {
                Ok(Some(resp)) => match accept(open, resp) {
                    Ok((start, data)) => {
                        let data_start = block.offset + start;
                        let data_end = data_start + data.len() as u64;
                        if data_start > cur.pos {
                            Some((
                                format!("data skips from offset {} to {}", cur.pos, data_start),
                                false,
                            ))
                        } else if data_end <= cur.pos {
                            continue;
                        } else {
                            let skip = (cur.pos - data_start) as usize;
                            let take = (data_end.min(cur.end) - cur.pos) as usize;
                            cur.pos += take as u64;
                            return Ok(Some(data.slice(skip..skip + take)));
                        }
                    }
                    Err((cause, checksum)) => Some((cause, checksum)),
                },
                Ok(None) => Some((
                    format!(
                        "stream ended at block offset {} before {}",
                        cur.pos - block.offset,
                        cur.end - block.offset
                    ),
                    false,
                )),
                Err(s) => Some((s.message().to_string(), false)),
            };
            if let Some((cause, checksum)) = failure {
                cur.stream = None;
                self.record_failure(&block, &node, cause, checksum).await;
            }
        }
    }

    async fn record_failure(
        &self,
        block: &LocatedBlock,
        node: &DatanodeInfo,
        cause: String,
        checksum: bool,
    ) {
        tracing::warn!(path = %self.path, block_id = block.block_id, node = %node.data_addr, %cause, "replica read failed; trying the next one");
        self.failed
            .lock()
            .entry(block.block_id)
            .or_default()
            .push(Failure {
                uuid: node.uuid.clone(),
                what: format!("{}: {}", node.data_addr, cause),
                checksum,
            });
        if checksum {
            if let Err(e) = self
                .client
                .report_bad_blocks(&[(block.block(), node.uuid.clone())])
                .await
            {
                tracing::warn!(block_id = block.block_id, error = %e, "could not report a corrupt replica");
            }
        }
    }

    /// A short-circuit read of a local replica that has not failed, else a
    /// ReadBlock stream for `[pos, end)`.
    async fn open_source(&self, bi: usize, pos: u64, end: u64) -> Result<Source> {
        if let Some(local) = self.open_local(bi).await {
            return Ok(local);
        }
        Ok(Source::Network(Box::new(
            self.open_stream(bi, pos, end).await?,
        )))
    }

    /// The files of the first replica on this host that has not failed and
    /// was not refused, from the cache or from its datanode's socket.
    async fn open_local(&self, bi: usize) -> Option<Source> {
        let local = self.local.as_ref()?;
        let block = self.block(bi).ok()?;
        let failed: Vec<String> = self
            .failed
            .lock()
            .get(&block.block_id)
            .map(|f| f.iter().map(|f| f.uuid.clone()).collect())
            .unwrap_or_default();
        let client_host = self.client.config().client_host.clone();
        for node in &block.locations {
            if failed.contains(&node.uuid) {
                continue;
            }
            let key = (block.block_id, block.genstamp, node.uuid.clone());
            if local.refused.lock().contains(&key) {
                continue;
            }
            if let Some(r) = local.open.lock().get(&key) {
                return Some(Source::Local {
                    replica: r.clone(),
                    node: node.clone(),
                });
            }
            if !sc::is_local_host(&node.host, client_host.as_deref()) {
                continue;
            }
            let (host, addr, uuid) = (node.host.clone(), node.data_addr.clone(), node.uuid.clone());
            let client_name = self.client.client_name().to_string();
            let (id, gs, need) = (block.block_id, block.genstamp, block.num_bytes);
            let token = block.access_token.clone();
            let res = tokio::task::spawn_blocking(move || {
                let socket = sc::find_socket(&host, &addr, client_host.as_deref())?;
                let r = sc::request_replica(&socket, id, gs, &uuid, &client_name, &token)?;
                if r.len() < need {
                    return Err(LocalError {
                        cause: format!("replica has {} bytes, the block {need}", r.len()),
                        checksum: false,
                    });
                }
                Ok(r)
            })
            .await;
            match res {
                Ok(Ok(r)) => {
                    let r = Arc::new(r);
                    local.open.lock().insert(key, r.clone());
                    return Some(Source::Local {
                        replica: r,
                        node: node.clone(),
                    });
                }
                Ok(Err(e)) => {
                    tracing::debug!(path = %self.path, block_id = block.block_id, node = %node.data_addr, cause = %e, "no short-circuit read; reading over the network");
                    // A refused token (expired) is not the replica's fault:
                    // the network read fetches new tokens, and the next
                    // block is asked for locally again.
                    if !e.cause.contains(sc::INVALID_TOKEN) {
                        local.refused.lock().insert(key);
                    }
                    // The replica is readable over the network: keep its place
                    // in the order rather than skipping to a farther one.
                    return None;
                }
                Err(e) => {
                    tracing::warn!(block_id = block.block_id, error = %e, "short-circuit open task failed");
                    return None;
                }
            }
        }
        None
    }

    /// A short-circuit read failed: a corrupt replica is handled as on the
    /// network (reported, next replica); otherwise the same replica is read
    /// over the network from now on.
    async fn local_failed(&self, block: &LocatedBlock, node: &DatanodeInfo, e: LocalError) {
        if let Some(local) = &self.local {
            let key = (block.block_id, block.genstamp, node.uuid.clone());
            local.open.lock().remove(&key);
            local.refused.lock().insert(key);
        }
        if e.checksum {
            self.record_failure(block, node, e.cause, true).await;
        } else {
            tracing::warn!(path = %self.path, block_id = block.block_id, node = %node.data_addr, cause = %e, "short-circuit read failed; reading over the network");
        }
    }

    /// Opens a ReadBlock stream for `[pos, end)` on the first replica that
    /// has not failed.
    ///
    /// A replica refusing the block token (e.g. expired: a reader that
    /// outlived its tokens) makes the reader fetch the locations, and so new
    /// tokens, once and try again (HDFS's `refetchToken`), rather than count
    /// the replica as failed.
    async fn open_stream(&self, bi: usize, pos: u64, end: u64) -> Result<OpenStream> {
        let mut token_refetched = false;
        loop {
            let block = self.block(bi)?;
            let failed: Vec<Failure> = self
                .failed
                .lock()
                .get(&block.block_id)
                .cloned()
                .unwrap_or_default();
            let next = block
                .locations
                .iter()
                .find(|l| !failed.iter().any(|f| f.uuid == l.uuid))
                .cloned();
            let Some(node) = next else {
                if self.refetched.lock().insert(block.block_id) {
                    self.refetch().await?;
                    continue;
                }
                if self.wait_for_busy(&block, &failed).await {
                    continue;
                }
                return Err(all_failed(&self.path, &block, &failed));
            };
            let requested = pos - block.offset;
            let req = pb::ReadBlockRequest {
                block: Some(convert::block_to_pb(&block.block())),
                offset: requested,
                length: end - pos,
                client_name: self.client.client_name().to_string(),
                verify_checksum: true,
                access_token: block.access_token.clone(),
            };
            let res = match self.client.datanode(&node.data_addr) {
                Ok(mut dn) => dn
                    .read_block(req)
                    .await
                    .map_err(|s| (s.message().to_string(), is_token_refusal(&s))),
                Err(e) => Err((e.to_string(), false)),
            };
            match res {
                Ok(r) => {
                    return Ok(OpenStream {
                        stream: r.into_inner(),
                        node,
                        next: None,
                        requested,
                    })
                }
                Err((cause, true)) if !token_refetched => {
                    tracing::debug!(path = %self.path, block_id = block.block_id, node = %node.data_addr, %cause, "block token refused; fetching new locations and tokens");
                    token_refetched = true;
                    self.refetch().await?;
                }
                Err((cause, _)) => self.record_failure(&block, &node, cause, false).await,
            }
        }
    }

    /// Every replica of `block` failed; when some only because their
    /// datanodes were busy, waits a (jittered, growing) while and forgets
    /// those failures so they are tried again, until the client's retry
    /// time-out. False when there is nothing to wait for or the time is up.
    async fn wait_for_busy(&self, block: &LocatedBlock, failed: &[Failure]) -> bool {
        let busy = |f: &Failure| f.what.contains(tusk_common::shed::TRANSFERS_BUSY);
        if !failed.iter().any(busy) {
            return false;
        }
        let wait = {
            let deadline = std::time::Instant::now() + self.client.config().retry_timeout;
            let mut all = self.busy.lock();
            let b = all
                .entry(block.block_id)
                .or_insert_with(|| crate::client::Backoff::new(deadline));
            b.next_delay()
        };
        let Some(wait) = wait else {
            return false;
        };
        tracing::debug!(path = %self.path, block_id = block.block_id, ?wait, "every replica busy; backing off");
        tokio::time::sleep(wait).await;
        if let Some(f) = self.failed.lock().get_mut(&block.block_id) {
            f.retain(|f| !busy(f));
        }
        true
    }

    /// Fetches the block locations again (replicas may have moved).
    async fn refetch(&self) -> Result<()> {
        let locs = self.client.get_block_locations(&self.path, 0, 0).await?;
        let mut blocks = self.blocks.write();
        for nb in locs.blocks {
            if let Some(b) = blocks.iter_mut().find(|b| b.block_id == nb.block_id) {
                b.locations = nb.locations;
                b.genstamp = nb.genstamp;
                b.access_token = nb.access_token;
            }
        }
        Ok(())
    }
}

/// A datanode refused the block access token (HDFS's
/// `InvalidBlockTokenException`): new locations bring a new token.
fn is_token_refusal(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::PermissionDenied && s.message().starts_with(sc::INVALID_TOKEN)
}

fn accept(
    open: &mut OpenStream,
    resp: pb::ReadBlockResponse,
) -> std::result::Result<(u64, Bytes), (String, bool)> {
    validate(&mut open.next, open.requested, resp)
}

/// Validates one response of a stream: its position (`next` is where it
/// must start, `None` for the first, which may start at or before
/// `requested`) and its checksums. Returns the block-relative offset of its
/// data, or the cause and whether it is a checksum error.
fn validate(
    next: &mut Option<u64>,
    requested: u64,
    resp: pb::ReadBlockResponse,
) -> std::result::Result<(u64, Bytes), (String, bool)> {
    match *next {
        None if resp.offset > requested => {
            return Err((
                format!(
                    "first chunk at offset {} after the requested {}",
                    resp.offset, requested
                ),
                false,
            ))
        }
        Some(n) if resp.offset != n => {
            return Err((
                format!("chunk at offset {} where {} was expected", resp.offset, n),
                false,
            ))
        }
        _ => {}
    }
    let bpc = if resp.bytes_per_checksum == 0 {
        BYTES_PER_CHECKSUM
    } else {
        resp.bytes_per_checksum as usize
    };
    if let Err(at) = verify_chunks(&resp.data, &resp.checksums, bpc) {
        return Err((
            format!("checksum error at block offset {}", resp.offset + at as u64),
            true,
        ));
    }
    *next = Some(resp.offset + resp.data.len() as u64);
    Ok((resp.offset, resp.data))
}

fn all_failed(path: &str, block: &LocatedBlock, failed: &[Failure]) -> DfsError {
    let causes = if failed.is_empty() {
        "no datanode holds a replica".to_string()
    } else {
        failed
            .iter()
            .map(|f| f.what.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !failed.is_empty() && failed.iter().all(|f| f.checksum) {
        DfsError::ChecksumError {
            path: path.to_string(),
            block_id: block.block_id,
            causes,
        }
    } else {
        DfsError::BlockUnreadable {
            path: path.to_string(),
            block_id: block.block_id,
            causes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::chunk_checksums;

    struct OpenStreamState {
        next: Option<u64>,
        requested: u64,
    }

    fn open_at(requested: u64) -> OpenStreamState {
        OpenStreamState {
            next: None,
            requested,
        }
    }

    fn check(
        st: &mut OpenStreamState,
        resp: pb::ReadBlockResponse,
    ) -> std::result::Result<(u64, Bytes), (String, bool)> {
        validate(&mut st.next, st.requested, resp)
    }

    fn resp(offset: u64, data: &[u8], corrupt: bool) -> pb::ReadBlockResponse {
        let mut sums = chunk_checksums(data, 512);
        if corrupt {
            sums[0] ^= 1;
        }
        pb::ReadBlockResponse {
            offset,
            data: Bytes::copy_from_slice(data),
            checksums: sums,
            bytes_per_checksum: 512,
            replica_length: 0,
        }
    }

    #[test]
    fn accepts_contiguous_verified_chunks() {
        let mut st = open_at(700);
        let (o, d) = check(&mut st, resp(512, &[1; 1024], false)).unwrap();
        assert_eq!((o, d.len()), (512, 1024));
        assert!(check(&mut st, resp(1536, &[2; 10], false)).is_ok());
        let e = check(&mut st, resp(9999, &[2; 10], false)).unwrap_err();
        assert!(!e.1);
    }

    #[test]
    fn rejects_bad_checksums_and_late_start() {
        let mut st = open_at(0);
        let e = check(&mut st, resp(0, &[1; 600], true)).unwrap_err();
        assert!(e.1, "{}", e.0);
        assert!(e.0.contains("checksum error at block offset 0"));
        let mut st = open_at(100);
        assert!(check(&mut st, resp(512, &[1; 10], false)).is_err());
    }

    #[test]
    fn all_failed_names_every_node() {
        let b = LocatedBlock {
            block_id: 7,
            genstamp: 1,
            num_bytes: 5,
            offset: 0,
            locations: vec![],
            corrupt: false,
            access_token: Bytes::new(),
        };
        let f = |w: &str, c| Failure {
            uuid: w.into(),
            what: format!("{w}: cause"),
            checksum: c,
        };
        let e = all_failed("/f", &b, &[f("dn1", true), f("dn2", false)]);
        let s = e.to_string();
        assert!(
            s.contains("blk_7")
                && s.contains("/f")
                && s.contains("dn1: cause")
                && s.contains("dn2: cause"),
            "{s}"
        );
        assert!(matches!(
            all_failed("/f", &b, &[f("dn1", true)]),
            DfsError::ChecksumError { .. }
        ));
    }
}
