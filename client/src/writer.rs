//! [`DfsWriter`]: the write path.
//!
//! Bytes are cut into 256 KiB packets (CRC32C per 512-byte chunk) that never
//! cross a block boundary. Each block is obtained with AddBlock (carrying the
//! previous, finished block) and streamed on one WriteBlock call to the first
//! datanode of the pipeline, the others given as `targets`. Up to
//! [`WINDOW`] packets are in flight; every ack is checked in order. The packet
//! that fills a block (or the last one at close) has `last = true`, and its
//! ack is awaited before the next AddBlock or Complete.
//!
//! Unacknowledged packets stay in a queue, so a failed pipeline can be
//! replaced:
//! - while nothing of a block was acknowledged (pipeline setup), the block
//!   is abandoned, the failing datanode excluded, a new block allocated and
//!   the queue resent (up to [`SETUP_TRIES`] times; when datanodes refused
//!   only as busy, at their `max_transfers`, the writer then backs off and
//!   tries them again, until the client's retry time-out);
//! - after data was acknowledged (pipeline recovery), the failing datanode
//!   leaves the pipeline: the namenode gives the block a new generation
//!   stamp for the survivors (UpdatePipeline), and the queue is resent to
//!   them on a WriteBlock marked `recovery` from the first unacknowledged
//!   byte; each survivor cuts its replica there first. Up to
//!   [`MAX_RECOVERIES`] per block. No replacement datanode joins (HDFS's
//!   replace-datanode-on-failure): the namenode re-replicates the block
//!   once the file is closed.

use crate::client::DfsClient;
use crate::convert;
use crate::error::{DfsError, Result};
use crate::packet::{chunk_checksums, BYTES_PER_CHECKSUM, PACKET_SIZE};
use crate::types::{CreateOptions, DatanodeInfo, LocatedBlock};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tusk_proto as pb;

/// Packets in flight per pipeline (× 256 KiB).
pub const WINDOW: usize = 32;
/// Attempts to set up a pipeline for one block.
pub const SETUP_TRIES: usize = 3;
/// Pipeline recoveries allowed for one block.
pub const MAX_RECOVERIES: usize = 5;
/// How long Complete is retried while the last block is not yet replicated.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the lease renewer renews.
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(20);

/// A file open for writing. Write with [`DfsWriter::write`], finish with
/// [`DfsWriter::close`]; dropping it without closing abandons the write
/// (the namenode recovers the lease later).
pub struct DfsWriter {
    client: DfsClient,
    path: String,
    file_id: u64,
    block_size: u64,
    /// Whole-file SHA-256, computed off the async threads; `None` after append.
    hasher: Option<HashWorker>,
    /// Bytes of the packet being filled.
    buf: BytesMut,
    /// Bytes already handed to the current block's pipeline.
    sent_in_block: u64,
    /// The open pipeline, if a block is being written.
    block: Option<BlockStream>,
    /// The last finished block (num_bytes final), for AddBlock / Complete.
    previous: Option<pb::Block>,
    /// Datanodes that failed pipeline setup for this file.
    excluded: Vec<String>,
    /// Those of `excluded` that only refused as busy (at their
    /// `max_transfers`): excluded again after a backoff, when no other
    /// datanode took the block.
    busy: Vec<String>,
    /// Waiting for busy datanodes (current block), until the retry time-out.
    busy_backoff: Option<crate::client::Backoff>,
    /// Pipelines tried for the current block (reset when a block finishes).
    setup_attempts: usize,
    /// Pipeline recoveries of the current block (reset when a block finishes).
    recoveries: usize,
    /// Total bytes accepted by `write`.
    written: u64,
    /// Set once a write failed: later calls repeat the failure.
    failed: Option<String>,
    /// Keeps the lease renewer running while this writer lives.
    _lease: LeaseGuard,
}

/// One unacknowledged packet, kept until its ack so it can be resent.
#[derive(Clone)]
struct Packet {
    seqno: u64,
    offset: u64,
    data: Bytes,
    checksums: Vec<u32>,
    last: bool,
}

/// An open WriteBlock stream.
struct BlockStream {
    located: LocatedBlock,
    tx: mpsc::Sender<pb::WritePacket>,
    acks: tonic::Streaming<pb::WriteAck>,
    next_seqno: u64,
    unacked: VecDeque<Packet>,
    /// Some packet was acknowledged, or this stream resumes a block whose
    /// replicas hold data: failures need pipeline recovery, not a new block.
    has_data: bool,
}

/// Why a pipeline failed: which datanode (index in the pipeline) and why.
struct PipeFail {
    node: usize,
    cause: String,
}

impl DfsClient {
    /// Creates a file and opens it for writing.
    pub async fn create(&self, path: &str, opts: CreateOptions) -> Result<DfsWriter> {
        let p = self.resolve(path)?;
        let req = pb::CreateRequest {
            path: p.clone(),
            permission: opts.permission,
            client_name: self.inner.client_name.clone(),
            overwrite: opts.overwrite,
            create_parent: opts.create_parent,
            replication: opts
                .replication
                .or(self.inner.config.replication)
                .unwrap_or(0),
            block_size: opts
                .block_size
                .or(self.inner.config.block_size)
                .unwrap_or(0),
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.create(r).await }
            })
            .await?;
        let st = r.status.unwrap_or_default();
        let block_size = if st.block_size > 0 {
            st.block_size
        } else {
            req.block_size.max(128 << 20)
        };
        Ok(DfsWriter::new(
            self.clone(),
            p,
            st.file_id,
            block_size,
            true,
        ))
    }

    /// Opens an existing file to append (the appended bytes start a new
    /// block). The recorded SHA-256 becomes unknown.
    pub async fn append(&self, path: &str) -> Result<DfsWriter> {
        let p = self.resolve(path)?;
        let req = pb::AppendRequest {
            path: p.clone(),
            client_name: self.inner.client_name.clone(),
        };
        let r = self
            .nn_call(&p, |mut c| {
                let r = req.clone();
                async move { c.append(r).await }
            })
            .await?;
        let st = r.status.unwrap_or_default();
        let block_size = if st.block_size > 0 {
            st.block_size
        } else {
            128 << 20
        };
        Ok(DfsWriter::new(
            self.clone(),
            p,
            st.file_id,
            block_size,
            false,
        ))
    }
}

impl DfsWriter {
    fn new(client: DfsClient, path: String, file_id: u64, block_size: u64, hash: bool) -> Self {
        let lease = LeaseGuard::new(&client);
        DfsWriter {
            client,
            path,
            file_id,
            block_size,
            hasher: hash.then(HashWorker::default),
            // Allocated on the first write: an empty file needs no buffer.
            buf: BytesMut::new(),
            sent_in_block: 0,
            block: None,
            previous: None,
            excluded: Vec::new(),
            busy: Vec::new(),
            busy_backoff: None,
            setup_attempts: 0,
            recoveries: 0,
            written: 0,
            failed: None,
            _lease: lease,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes written so far (by this writer).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Appends bytes to the file.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.check_failed()?;
        while !data.is_empty() {
            let room_block = (self.block_size - self.sent_in_block) as usize - self.buf.len();
            let room_packet = PACKET_SIZE - self.buf.len();
            let n = data.len().min(room_block).min(room_packet);
            if self.buf.capacity() == 0 {
                // One packet's worth at once (the last packet's split leaves
                // none), not a few doublings per packet.
                self.buf.reserve(PACKET_SIZE);
            }
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            self.written += n as u64;
            let fills_block = self.sent_in_block + self.buf.len() as u64 == self.block_size;
            if self.buf.len() == PACKET_SIZE || fills_block {
                if let Err(e) = self.emit(fills_block).await {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Appends bytes without copying whole packets: full 256 KiB packets are
    /// sliced out of `data` and sent as they are (for callers that read
    /// into large `Bytes` buffers, like `dfs put`).
    pub async fn write_bytes(&mut self, mut data: Bytes) -> Result<()> {
        self.check_failed()?;
        while !data.is_empty() {
            let room_block = (self.block_size - self.sent_in_block) as usize;
            let packet = PACKET_SIZE.min(room_block);
            if self.buf.is_empty() && data.len() >= packet {
                let chunk = data.split_to(packet);
                self.written += packet as u64;
                let last = packet == room_block;
                if let Err(e) = self.emit_data(chunk, last).await {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
                continue;
            }
            // A partial packet goes through the buffer, up to its boundary.
            let take = data.len().min(packet - self.buf.len());
            let part = data.split_to(take);
            self.write(&part).await?;
        }
        Ok(())
    }

    /// Writes all of `data` (same as [`DfsWriter::write`]).
    pub async fn write_all(&mut self, data: &[u8]) -> Result<()> {
        self.write(data).await
    }

    /// Flushes the last packet, waits for every ack, and completes the file
    /// (recording its SHA-256). Only after this returns is the file readable
    /// in full by others.
    pub async fn close(mut self) -> Result<()> {
        self.check_failed()?;
        if !self.buf.is_empty() || self.block.is_some() {
            self.emit(true).await?;
        }
        let sha256 = match self.hasher.take() {
            Some(h) => Bytes::copy_from_slice(&h.finish().await?),
            None => Bytes::new(),
        };
        let req = pb::CompleteRequest {
            path: self.path.clone(),
            client_name: self.client.inner.client_name.clone(),
            file_id: self.file_id,
            last: self.previous,
            sha256,
        };
        let start = Instant::now();
        let mut delay = Duration::from_millis(10);
        loop {
            let r = self
                .client
                .nn_call(&self.path, |mut c| {
                    let r = req.clone();
                    async move { c.complete(r).await }
                })
                .await?;
            if r.completed {
                return Ok(());
            }
            if start.elapsed() > COMPLETE_TIMEOUT {
                return Err(DfsError::Rpc {
                    code: tonic::Code::DeadlineExceeded,
                    class: None,
                    msg: format!(
                        "{}: could not complete the file: the last block did not reach minimum replication within {}s",
                        self.path,
                        COMPLETE_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(400));
        }
    }

    fn check_failed(&self) -> Result<()> {
        match &self.failed {
            Some(msg) => Err(DfsError::Protocol(format!(
                "{}: writer unusable after an earlier failure: {msg}",
                self.path
            ))),
            None => Ok(()),
        }
    }

    /// Sends the buffered bytes as one packet; `last` ends the block and
    /// waits until it is fully acknowledged.
    async fn emit(&mut self, last: bool) -> Result<()> {
        let data = self.buf.split().freeze();
        self.emit_data(data, last).await
    }

    /// Sends `data` as the next packet of the current block.
    async fn emit_data(&mut self, data: Bytes, last: bool) -> Result<()> {
        if let Some(h) = &mut self.hasher {
            h.feed(data.clone()).await?;
        }
        let checksums = chunk_checksums(&data, BYTES_PER_CHECKSUM);
        let offset = self.sent_in_block;
        self.sent_in_block += data.len() as u64;
        let pkt = Packet {
            seqno: self.block.as_ref().map(|b| b.next_seqno).unwrap_or(0),
            offset,
            data,
            checksums,
            last,
        };
        match self.block.as_mut() {
            None => self.open_block(VecDeque::from([pkt])).await?,
            Some(b) => {
                b.next_seqno += 1;
                if let Err(f) = b.send(pkt).await {
                    self.recover(f).await?;
                }
            }
        }
        if last {
            while let Some(b) = self.block.as_mut() {
                match b.drain().await {
                    Ok(()) => break,
                    Err(f) => self.recover(f).await?,
                }
            }
            if let Some(b) = self.block.take() {
                self.previous = Some(pb::Block {
                    block_id: b.located.block_id,
                    genstamp: b.located.genstamp,
                    num_bytes: self.sent_in_block,
                });
            }
            self.sent_in_block = 0;
            self.setup_attempts = 0;
            self.recoveries = 0;
            self.busy_backoff = None;
        }
        Ok(())
    }

    /// Allocates a block and starts its pipeline with `packets` (the first
    /// one carries the header). Setup failures abandon the block, exclude the
    /// datanode and try again.
    async fn open_block(&mut self, packets: VecDeque<Packet>) -> Result<()> {
        loop {
            self.setup_attempts += 1;
            let located = match self.add_block().await {
                Ok(b) => b,
                // Every datanode left was excluded, some only as busy.
                Err(e) if !self.busy.is_empty() => {
                    if self.wait_for_busy().await {
                        continue;
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            match BlockStream::open(&self.client, located.clone(), packets.clone(), None).await {
                Ok(b) => {
                    self.block = Some(b);
                    return Ok(());
                }
                Err(f) => {
                    let node = located.locations.get(f.node).cloned();
                    tracing::warn!(path = %self.path, block_id = located.block_id, node = ?node.as_ref().map(|n| &n.data_addr), cause = %f.cause, "pipeline setup failed");
                    self.abandon(&located).await;
                    self.exclude(node.as_ref(), &f.cause);
                    if self.setup_attempts >= SETUP_TRIES && !self.wait_for_busy().await {
                        return Err(pipeline_error(&self.path, &located, node.as_ref(), f.cause));
                    }
                }
            }
        }
    }

    /// Leaves `node` out of the next pipelines; remembers it was only busy.
    fn exclude(&mut self, node: Option<&DatanodeInfo>, cause: &str) {
        if let Some(n) = node {
            self.excluded.push(n.uuid.clone());
            if cause.contains(tusk_common::shed::TRANSFERS_BUSY) {
                self.busy.push(n.uuid.clone());
            }
        }
    }

    /// Setup failed on every try and some datanodes refused only because
    /// they were busy: waits a (jittered, growing) while, takes them back
    /// and allows new tries, until the client's retry time-out. False when
    /// there is nothing to wait for or the time is up.
    async fn wait_for_busy(&mut self) -> bool {
        if self.busy.is_empty() {
            return false;
        }
        let deadline = Instant::now() + self.client.config().retry_timeout;
        let backoff = self
            .busy_backoff
            .get_or_insert_with(|| crate::client::Backoff::new(deadline));
        let Some(wait) = backoff.next_delay() else {
            return false;
        };
        tracing::debug!(path = %self.path, busy = self.busy.len(), ?wait, "datanodes busy; backing off");
        tokio::time::sleep(wait).await;
        let busy = std::mem::take(&mut self.busy);
        self.excluded.retain(|u| !busy.contains(u));
        self.setup_attempts = 0;
        true
    }

    /// Handles a failed pipeline: during setup, a new block with the same
    /// unacked packets; after data was acknowledged, pipeline recovery.
    async fn recover(&mut self, f: PipeFail) -> Result<()> {
        let Some(old) = self.block.take() else {
            return Err(DfsError::Protocol(format!("{}: {}", self.path, f.cause)));
        };
        let node = old.located.locations.get(f.node).cloned();
        if old.has_data {
            return self.recover_pipeline(old, f).await;
        }
        tracing::warn!(path = %self.path, block_id = old.located.block_id, node = ?node.as_ref().map(|n| &n.data_addr), cause = %f.cause, "pipeline setup failed");
        self.abandon(&old.located).await;
        self.exclude(node.as_ref(), &f.cause);
        // End the failed stream before any backoff.
        let BlockStream {
            located,
            unacked,
            tx,
            acks,
            ..
        } = old;
        drop((tx, acks));
        if self.setup_attempts >= SETUP_TRIES && !self.wait_for_busy().await {
            return Err(pipeline_error(&self.path, &located, node.as_ref(), f.cause));
        }
        self.open_block(unacked).await
    }

    /// Pipeline recovery (see the module doc): drops the failed datanode,
    /// restamps the block for the survivors and resends the unacked queue.
    async fn recover_pipeline(&mut self, old: BlockStream, mut f: PipeFail) -> Result<()> {
        let BlockStream {
            mut located,
            tx,
            unacked,
            ..
        } = old;
        drop(tx);
        let packets = unacked;
        let offset = packets
            .front()
            .map(|p| p.offset)
            .unwrap_or(self.sent_in_block);
        loop {
            self.recoveries += 1;
            let failed = located.locations.get(f.node).cloned();
            tracing::warn!(
                path = %self.path,
                block_id = located.block_id,
                node = ?failed.as_ref().map(|n| &n.data_addr),
                cause = %f.cause,
                resend_from = offset,
                "pipeline failed: recovering with the other datanodes"
            );
            let survivors: Vec<DatanodeInfo> = located
                .locations
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != f.node)
                .map(|(_, n)| n.clone())
                .collect();
            if let Some(n) = &failed {
                self.excluded.push(n.uuid.clone());
            }
            if survivors.is_empty() || self.recoveries > MAX_RECOVERIES {
                let why = if survivors.is_empty() {
                    "every datanode of the pipeline failed"
                } else {
                    "too many pipeline recoveries"
                };
                return Err(pipeline_error(
                    &self.path,
                    &located,
                    failed.as_ref(),
                    format!("{why}; last failure: {}", f.cause),
                ));
            }
            located = self.update_pipeline(&located, &survivors).await?;
            match BlockStream::open(&self.client, located.clone(), packets.clone(), Some(offset))
                .await
            {
                Ok(b) => {
                    self.block = Some(b);
                    return Ok(());
                }
                Err(next) => f = next,
            }
        }
    }

    /// Asks the namenode for a new generation stamp for `old`'s block with
    /// `nodes` as its pipeline.
    async fn update_pipeline(
        &self,
        old: &LocatedBlock,
        nodes: &[DatanodeInfo],
    ) -> Result<LocatedBlock> {
        let req = pb::UpdatePipelineRequest {
            path: self.path.clone(),
            client_name: self.client.inner.client_name.clone(),
            file_id: self.file_id,
            block: Some(convert::block_to_pb(&old.block())),
            node_uuids: nodes.iter().map(|n| n.uuid.clone()).collect(),
        };
        let r = self
            .client
            .nn_call(&self.path, |mut c| {
                let r = req.clone();
                async move { c.update_pipeline(r).await }
            })
            .await?;
        r.block.map(convert::located_block).ok_or_else(|| {
            DfsError::Protocol(format!("{}: UpdatePipeline returned no block", self.path))
        })
    }

    async fn add_block(&self) -> Result<LocatedBlock> {
        let req = pb::AddBlockRequest {
            path: self.path.clone(),
            client_name: self.client.inner.client_name.clone(),
            file_id: self.file_id,
            previous: self.previous,
            excluded_uuids: self.excluded.clone(),
            client_host: self
                .client
                .inner
                .config
                .client_host
                .clone()
                .unwrap_or_default(),
        };
        let r = self
            .client
            .nn_call(&self.path, |mut c| {
                let r = req.clone();
                async move { c.add_block(r).await }
            })
            .await?;
        let b = r.block.map(convert::located_block).ok_or_else(|| {
            DfsError::Protocol(format!("{}: AddBlock returned no block", self.path))
        })?;
        if b.locations.is_empty() {
            return Err(DfsError::Protocol(format!(
                "{}: AddBlock returned block blk_{} without datanodes",
                self.path, b.block_id
            )));
        }
        Ok(b)
    }

    async fn abandon(&self, located: &LocatedBlock) {
        let req = pb::AbandonBlockRequest {
            path: self.path.clone(),
            client_name: self.client.inner.client_name.clone(),
            file_id: self.file_id,
            block: Some(convert::block_to_pb(&located.block())),
        };
        let r = self
            .client
            .nn_call(&self.path, |mut c| {
                let r = req.clone();
                async move { c.abandon_block(r).await }
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(path = %self.path, block_id = located.block_id, error = %e, "abandon block failed");
        }
    }
}

impl std::fmt::Debug for DfsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsWriter")
            .field("path", &self.path)
            .field("file_id", &self.file_id)
            .field("block_size", &self.block_size)
            .field("written", &self.written)
            .finish()
    }
}

fn pipeline_error(
    path: &str,
    b: &LocatedBlock,
    node: Option<&DatanodeInfo>,
    cause: String,
) -> DfsError {
    DfsError::Pipeline {
        path: path.to_string(),
        block_id: b.block_id,
        datanode: node
            .map(|n| format!("{} ({})", n.data_addr, n.host))
            .unwrap_or_else(|| "?".into()),
        cause,
    }
}

impl BlockStream {
    /// Connects to the first datanode and sends `packets` (renumbered from
    /// seqno 0, the first carrying the header). `resume_at`: pipeline
    /// recovery, the replicas are cut to this offset and the packets start
    /// there.
    async fn open(
        client: &DfsClient,
        located: LocatedBlock,
        mut packets: VecDeque<Packet>,
        resume_at: Option<u64>,
    ) -> Result<BlockStream, PipeFail> {
        if let (Some(offset), true) = (resume_at, packets.is_empty()) {
            // The header needs a packet to ride on.
            packets.push_back(Packet {
                seqno: 0,
                offset,
                data: Bytes::new(),
                checksums: Vec::new(),
                last: false,
            });
        }
        let fail0 = |cause: String| PipeFail { node: 0, cause };
        let first = located
            .locations
            .first()
            .ok_or_else(|| fail0("no datanodes".into()))?;
        let mut dn = client
            .datanode(&first.data_addr)
            .map_err(|e| fail0(e.to_string()))?;
        let (tx, rx) = mpsc::channel(WINDOW + 4);
        let header = pb::WriteHeader {
            block: Some(convert::block_to_pb(&located.block())),
            targets: located.locations[1..]
                .iter()
                .map(convert::datanode_info_to_pb)
                .collect(),
            client_name: client.inner.client_name.clone(),
            bytes_per_checksum: BYTES_PER_CHECKSUM as u32,
            recovery: resume_at.is_some(),
            recovery_offset: resume_at.unwrap_or(0),
            // WRITE token from AddBlock/UpdatePipeline, passed down the pipeline.
            access_token: located.access_token.clone(),
            // The writer hashes the whole file, not each block: the first
            // datanode hashes the block and hands the digest down.
            sha256_from_upstream: false,
        };
        let mut unacked = VecDeque::with_capacity(packets.len());
        for (i, mut p) in packets.into_iter().enumerate() {
            p.seqno = i as u64;
            let mut msg = to_message(&p);
            if i == 0 {
                msg.header = Some(header.clone());
            }
            // The channel holds WINDOW + 4 messages: this never waits.
            tx.try_send(msg)
                .map_err(|e| fail0(format!("queueing packet: {e}")))?;
            unacked.push_back(p);
        }
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let acks = dn
            .write_block(stream)
            .await
            .map_err(|s| fail0(format!("{} ({})", s.message(), first.data_addr)))?
            .into_inner();
        Ok(BlockStream {
            located,
            tx,
            acks,
            next_seqno: unacked.len() as u64,
            unacked,
            has_data: resume_at.is_some(),
        })
    }

    /// Queues a packet, waiting for acks while the window is full.
    async fn send(&mut self, p: Packet) -> Result<(), PipeFail> {
        // Queued first, so a failure while waiting still resends it.
        let msg = to_message(&p);
        self.unacked.push_back(p);
        while self.unacked.len() > WINDOW {
            self.recv_ack().await?;
        }
        if self.tx.send(msg).await.is_err() {
            // The call ended; its status or last ack says why.
            return Err(self.ended_failure().await);
        }
        Ok(())
    }

    /// Waits until every packet is acknowledged.
    async fn drain(&mut self) -> Result<(), PipeFail> {
        while !self.unacked.is_empty() {
            self.recv_ack().await?;
        }
        Ok(())
    }

    async fn recv_ack(&mut self) -> Result<(), PipeFail> {
        match self.acks.message().await {
            Ok(Some(ack)) => self.check_ack(ack),
            Ok(None) => Err(PipeFail {
                node: 0,
                cause: format!(
                    "datanode closed the stream before acknowledging packet {}",
                    self.unacked.front().map(|p| p.seqno).unwrap_or(0)
                ),
            }),
            Err(s) => Err(PipeFail {
                node: 0,
                cause: s.message().to_string(),
            }),
        }
    }

    async fn ended_failure(&mut self) -> PipeFail {
        match self.recv_ack().await {
            Err(f) => f,
            Ok(()) => PipeFail {
                node: 0,
                cause: "datanode stopped reading the stream".into(),
            },
        }
    }

    fn check_ack(&mut self, ack: pb::WriteAck) -> Result<(), PipeFail> {
        check_ack_statuses(&ack, self.located.locations.len())?;
        match self.unacked.front() {
            Some(p) if p.seqno == ack.seqno => {
                self.unacked.pop_front();
                self.has_data = true;
                Ok(())
            }
            other => Err(PipeFail {
                node: 0,
                cause: format!(
                    "out-of-order ack: got seqno {}, expected {:?}",
                    ack.seqno,
                    other.map(|p| p.seqno)
                ),
            }),
        }
    }
}

/// Checks an ack's statuses: the first non-SUCCESS one names the failed
/// datanode; a short list means the datanode after the last entry failed.
fn check_ack_statuses(ack: &pb::WriteAck, pipeline_len: usize) -> Result<(), PipeFail> {
    let success = pb::AckStatus::Success as i32;
    if let Some(i) = ack.statuses.iter().position(|s| *s != success) {
        let what = if ack.statuses[i] == pb::AckStatus::ErrorChecksum as i32 {
            "checksum error"
        } else {
            "error"
        };
        let msg = if ack.message.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {}", ack.message)
        };
        return Err(PipeFail {
            node: i,
            cause: msg,
        });
    }
    if ack.statuses.len() < pipeline_len {
        return Err(PipeFail {
            node: ack.statuses.len(),
            cause: format!(
                "ack for packet {} covers {} of {} datanodes{}",
                ack.seqno,
                ack.statuses.len(),
                pipeline_len,
                if ack.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", ack.message)
                }
            ),
        });
    }
    Ok(())
}

fn to_message(p: &Packet) -> pb::WritePacket {
    pb::WritePacket {
        header: None,
        seqno: p.seqno,
        offset: p.offset,
        data: p.data.clone(),
        checksums: p.checksums.clone(),
        last: p.last,
        sha256: Bytes::new(),
    }
}

// ---------------------------------------------------------------- hashing

/// Computes the SHA-256 of the data fed to it on a blocking thread, so the
/// hash runs beside the network transfer, not on the async threads. The
/// thread starts with the first bytes: an empty file costs no thread.
#[derive(Default)]
struct HashWorker {
    running: Option<(mpsc::Sender<Bytes>, tokio::task::JoinHandle<[u8; 32]>)>,
}

impl HashWorker {
    async fn feed(&mut self, b: Bytes) -> Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        let (tx, _) = self.running.get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::channel::<Bytes>(64);
            let handle = tokio::task::spawn_blocking(move || {
                let mut h = Sha256::new();
                while let Some(b) = rx.blocking_recv() {
                    h.update(&b);
                }
                h.finalize().into()
            });
            (tx, handle)
        });
        tx.send(b)
            .await
            .map_err(|_| DfsError::Protocol("checksum worker stopped".into()))
    }

    async fn finish(self) -> Result<[u8; 32]> {
        let Some((tx, handle)) = self.running else {
            return Ok(Sha256::digest(b"").into());
        };
        drop(tx);
        handle
            .await
            .map_err(|e| DfsError::Protocol(format!("checksum worker failed: {e}")))
    }
}

// ---------------------------------------------------------------- leases

/// Counts an open writer; the first one starts the client's lease renewer,
/// which stops by itself once no writer is open.
struct LeaseGuard {
    client: std::sync::Weak<crate::client::Inner>,
}

impl LeaseGuard {
    fn new(client: &DfsClient) -> Self {
        let mut st = client.inner.leases.lock();
        st.writers += 1;
        if !st.renewer_running {
            st.renewer_running = true;
            let weak = std::sync::Arc::downgrade(&client.inner);
            tokio::spawn(renew_leases(weak));
        }
        LeaseGuard {
            client: std::sync::Arc::downgrade(&client.inner),
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.client.upgrade() {
            let mut st = inner.leases.lock();
            st.writers = st.writers.saturating_sub(1);
        }
    }
}

async fn renew_leases(weak: std::sync::Weak<crate::client::Inner>) {
    loop {
        tokio::time::sleep(LEASE_RENEW_INTERVAL).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        {
            let mut st = inner.leases.lock();
            if st.writers == 0 {
                st.renewer_running = false;
                return;
            }
        }
        let client = DfsClient { inner };
        if let Err(e) = client.renew_lease().await {
            tracing::warn!(client = %client.client_name(), error = %e, "lease renewal failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seqno: u64, st: &[pb::AckStatus], msg: &str) -> pb::WriteAck {
        pb::WriteAck {
            seqno,
            statuses: st.iter().map(|s| *s as i32).collect(),
            message: msg.into(),
        }
    }

    #[test]
    fn ack_statuses_name_the_failed_node() {
        use pb::AckStatus::*;
        assert!(check_ack_statuses(&ack(0, &[Success, Success], ""), 2).is_ok());
        let f = check_ack_statuses(&ack(0, &[Success, ErrorChecksum], "bad crc"), 2).unwrap_err();
        assert_eq!(f.node, 1);
        assert_eq!(f.cause, "checksum error: bad crc");
        let f = check_ack_statuses(&ack(0, &[Success], "dn2 died"), 3).unwrap_err();
        assert_eq!(f.node, 1);
        assert!(f.cause.contains("dn2 died"));
        let f = check_ack_statuses(&ack(0, &[], ""), 1).unwrap_err();
        assert_eq!(f.node, 0);
    }

    #[tokio::test]
    async fn hash_worker_matches_sha256() {
        let mut h = HashWorker::default();
        h.feed(Bytes::from_static(b"hello ")).await.unwrap();
        h.feed(Bytes::new()).await.unwrap();
        h.feed(Bytes::from_static(b"world")).await.unwrap();
        let got = h.finish().await.unwrap();
        assert_eq!(
            hex::encode(got),
            hex::encode(Sha256::digest(b"hello world"))
        );
        // Nothing fed: the empty input's digest, no thread started.
        let h = HashWorker::default();
        assert!(h.running.is_none());
        assert_eq!(
            h.finish().await.unwrap(),
            <[u8; 32]>::from(Sha256::digest(b""))
        );
    }
}
