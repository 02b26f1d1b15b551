//! The receiving side of a WriteBlock pipeline.
//!
//! Per stream, three parts run concurrently:
//! - the *reader* (this task) takes packets from upstream, checks their order,
//!   forwards each one downstream and queues it for the disk thread;
//! - the *disk thread* (a blocking task) verifies the CRC32Cs, appends data
//!   and CRCs to the rbw replica (SHA-256 on the way) and finalizes on `last`;
//! - the *responder* acks each seqno upstream once the disk thread wrote it
//!   and the downstream datanode acked it, with one status per node from here
//!   down. The first failure is acked with the cause and ends the stream.
//!
//! The replica's SHA-256 is computed once per pipeline: the first datanode
//! hashes the data and sends the digest downstream with the last packet
//! (which it forwards only once its disk thread appended that packet), and
//! the datanodes below record it instead of hashing again. Each of them
//! still verifies every chunk against its CRC32C, so the bytes they store are
//! the bytes that were hashed. A block of one packet is hashed by every node
//! (the packet goes downstream with the header, before any digest exists).
//!
//! Errors in the header (unknown block, replica exists, no space) end the
//! stream with a gRPC status instead; protocol violations (seqno/offset out of
//! order) likewise.

use crate::convert::{ack_status_of, block_of};
use crate::error::DatanodeError;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::store::{verify_chunks, BlockRef, Replica, ReplicaWriter, BYTES_PER_CHECKSUM};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::{debug, info, warn};
use tusk_common::security::ACCESS_WRITE;
use tusk_proto::{self as pb, AckStatus};

pub(crate) type AckTx = mpsc::Sender<Result<pb::WriteAck, Status>>;

/// Packets queued between the reader and the disk thread (and towards the
/// downstream datanode): enough to keep both busy, bounded for memory
/// (16 of the client's 256 KiB packets: 4 MiB each way).
const QUEUE: usize = 16;
/// How long the last ack waits for the namenode to acknowledge the
/// incremental report of the new replica (so `complete` usually succeeds at
/// once); the ack goes out anyway after that.
const REPORT_WAIT: Duration = Duration::from_secs(1);
/// Longest silence accepted from the upstream writer between packets
/// (generous: a client may be fed slowly, e.g. `dfs put -` from a pipe).
const UPSTREAM_IDLE: Duration = Duration::from_secs(600);

enum DiskMsg {
    Packet {
        seqno: u64,
        offset: u64,
        data: Bytes,
        crcs: Vec<u32>,
        last: bool,
        /// On the last packet when the upstream computed the SHA-256.
        sha256: Option<[u8; 32]>,
        /// On the last packet when this node hashes and has a downstream:
        /// where the digest goes once the packet is appended.
        digest_to: Option<oneshot::Sender<[u8; 32]>>,
    },
    /// The reader found a protocol violation at `seqno`.
    Fail { seqno: u64, err: DatanodeError },
}

enum Local {
    Done {
        seqno: u64,
        finalized: Option<Replica>,
    },
    Failed {
        seqno: u64,
        err: DatanodeError,
    },
}

struct Downstream {
    addr: String,
    tx: mpsc::Sender<pb::WritePacket>,
    acks: Streaming<pb::WriteAck>,
}

/// Runs one WriteBlock stream to completion, sending acks (or a final error
/// status) into `acks`. `exempt` ([`Node::token_exempt`]): the caller is
/// another datanode (node authentication) or tokens are off; otherwise the
/// header needs a WRITE token.
pub(crate) async fn serve_write(
    node: Arc<Node>,
    mut upstream: Streaming<pb::WritePacket>,
    acks: AckTx,
    exempt: bool,
) {
    let _xceiver = node.xceiver();
    let first = match next_packet(&mut upstream).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            let _ = acks
                .send(Err(Status::invalid_argument(
                    "WriteBlock: empty stream, expected a header",
                )))
                .await;
            return;
        }
        Err(s) => {
            debug!(
                "WriteBlock: upstream failed before the header: {}",
                s.message()
            );
            return;
        }
    };
    let Some(header) = first.header.clone() else {
        let _ = acks
            .send(Err(Status::invalid_argument(
                "WriteBlock: the first packet has no header",
            )))
            .await;
        return;
    };
    let Some(b) = header.block.as_ref() else {
        let _ = acks
            .send(Err(Status::invalid_argument(
                "WriteBlock: header without block",
            )))
            .await;
        return;
    };
    let block = BlockRef::new(b.block_id, b.genstamp);
    if let Err(s) = node.check_access(exempt, &header.access_token, block.id, ACCESS_WRITE) {
        let _ = acks.send(Err(s)).await;
        return;
    }
    if header.bytes_per_checksum != 0 && header.bytes_per_checksum != BYTES_PER_CHECKSUM {
        let _ = acks
            .send(Err(Status::invalid_argument(format!(
                "{block}: bytes_per_checksum {} is not supported (only {BYTES_PER_CHECKSUM})",
                header.bytes_per_checksum
            ))))
            .await;
        return;
    }
    let n_nodes = 1 + header.targets.len();

    let store = node.store.clone();
    let expected = node.expected_block_len;
    let (recovery, start) = (header.recovery, header.recovery_offset);
    let open = move || {
        if recovery {
            store.recover(block, start)
        } else {
            store.create(block, expected)
        }
    };
    let mut writer = match tokio::task::spawn_blocking(open).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            warn!(block_id = block.id, node = %node.uuid, "cannot receive {block}: {e}");
            Metrics::add(&node.metrics.write_errors, 1);
            let _ = acks.send(Err(e.into())).await;
            return;
        }
        Err(e) => {
            let _ = acks
                .send(Err(Status::internal(format!("{block}: {e}"))))
                .await;
            return;
        }
    };
    // With block tokens on, only another datanode may hand its digest down.
    let hash_here = !(header.sha256_from_upstream && exempt);
    if !hash_here {
        writer.defer_sha256();
    }
    debug!(block_id = block.id, node = %node.uuid, client = %header.client_name, downstream = header.targets.len(), recovery, hash_here, "receiving {block}");

    let mut down = None;
    if let Some(next) = header.targets.first() {
        let mut fwd = first.clone();
        fwd.header = Some(pb::WriteHeader {
            targets: header.targets[1..].to_vec(),
            // A last packet going out with the header goes before its
            // digest exists (see the module comment).
            sha256_from_upstream: !hash_here || !first.last,
            ..header.clone()
        });
        match connect(&node, &next.data_addr, fwd).await {
            Ok(d) => down = Some(d),
            Err(msg) => {
                let msg = format!(
                    "{block}: cannot reach downstream datanode {}: {msg}",
                    next.data_addr
                );
                warn!(block_id = block.id, node = %node.uuid, "{msg}");
                let _ = acks
                    .send(Ok(ack_failure(
                        first.seqno,
                        n_nodes,
                        1,
                        AckStatus::Error,
                        msg,
                    )))
                    .await;
                return;
            }
        }
    }
    let (down_tx, down_acks) = match down {
        Some(d) => (Some(d.tx), Some((d.addr, d.acks))),
        None => (None, None),
    };

    let (disk_tx, disk_rx) = mpsc::channel(QUEUE);
    let (local_tx, local_rx) = mpsc::unbounded_channel();
    let disk = {
        let node = node.clone();
        tokio::task::spawn_blocking(move || disk_loop(&node, writer, disk_rx, local_tx))
    };
    let mut responder = tokio::spawn(respond(
        node.clone(),
        block,
        n_nodes,
        local_rx,
        down_acks,
        acks,
    ));
    let start = if recovery { start } else { 0 };
    let mut reader = Box::pin(read_packets(
        block, start, hash_here, first, upstream, down_tx, disk_tx,
    ));
    tokio::select! {
        _ = &mut reader => {
            let _ = responder.await;
        }
        // The responder ended first (a failure was acked): stop reading even
        // if the upstream keeps its side of the stream open. Dropping the
        // reader closes the upstream, the downstream and the disk queue, so
        // the disk thread ends and the transfer slot is freed (the reader
        // itself may be blocked on either stream for good).
        _ = &mut responder => drop(reader),
    }
    let _ = disk.await;
}

/// The next packet from upstream; an upstream silent for [`UPSTREAM_IDLE`]
/// is treated as gone, so a stalled writer cannot hold a transfer forever.
async fn next_packet(
    upstream: &mut Streaming<pb::WritePacket>,
) -> Result<Option<pb::WritePacket>, Status> {
    match tokio::time::timeout(UPSTREAM_IDLE, upstream.message()).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no packet from upstream for {UPSTREAM_IDLE:?}"
        ))),
    }
}

/// Opens the WriteBlock stream to the next datanode, sending `first` (with
/// the shortened header) right away.
async fn connect(node: &Node, addr: &str, first: pb::WritePacket) -> Result<Downstream, String> {
    let mut client = node.peer(addr)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    tx.send(first)
        .await
        .map_err(|_| "internal channel closed".to_string())?;
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        client.write_block(ReceiverStream::new(rx)),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|s| s.message().to_string())?;
    Ok(Downstream {
        addr: addr.to_string(),
        tx,
        acks: resp.into_inner(),
    })
}

/// An ack for a failure at pipeline index `at`: nodes before it succeeded,
/// nodes after it are unknown (ACK_STATUS_UNSPECIFIED).
fn ack_failure(
    seqno: u64,
    n_nodes: usize,
    at: usize,
    status: AckStatus,
    message: String,
) -> pb::WriteAck {
    let statuses = (0..n_nodes)
        .map(|i| {
            if i < at {
                AckStatus::Success
            } else if i == at {
                status
            } else {
                AckStatus::Unspecified
            }
        } as i32)
        .collect();
    pb::WriteAck {
        seqno,
        statuses,
        message,
    }
}

/// Forwards and queues packets; the first must start at block offset `start`
/// (0, or where a pipeline recovery resumes). `hash_here`: this node
/// computes the SHA-256 (else the last packet must carry it).
async fn read_packets(
    block: BlockRef,
    start: u64,
    hash_here: bool,
    first: pb::WritePacket,
    mut upstream: Streaming<pb::WritePacket>,
    mut down: Option<mpsc::Sender<pb::WritePacket>>,
    disk: mpsc::Sender<DiskMsg>,
) {
    let mut seqno = first.seqno;
    let mut offset = start;
    let mut pkt = first;
    let mut forwarded = true; // the first packet went out with the connection
    loop {
        let fail = if pkt.seqno != seqno {
            Some(format!(
                "packet seqno {} out of order (expected {seqno})",
                pkt.seqno
            ))
        } else if pkt.offset != offset {
            Some(format!(
                "packet {} starts at offset {} but {offset} bytes were received",
                pkt.seqno, pkt.offset
            ))
        } else {
            None
        };
        if let Some(msg) = fail {
            return fail_packet(&disk, block, pkt.seqno, msg).await;
        }
        let last = pkt.last;
        let given = match (last && !hash_here).then(|| <[u8; 32]>::try_from(pkt.sha256.as_ref())) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(_)) => {
                return fail_packet(
                    &disk,
                    block,
                    pkt.seqno,
                    format!(
                        "last packet {} carries {} bytes instead of the block's SHA-256 \
                         (the header says the upstream datanode computes it)",
                        pkt.seqno,
                        pkt.sha256.len()
                    ),
                )
                .await;
            }
        };
        seqno += 1;
        offset += pkt.data.len() as u64;
        // The last packet goes downstream with this node's digest of the
        // replica, known once the disk thread appended it.
        let (digest_to, digest) = if last && hash_here && !forwarded && down.is_some() {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let msg = DiskMsg::Packet {
            seqno: pkt.seqno,
            offset: pkt.offset,
            data: pkt.data.clone(),
            crcs: pkt.checksums.clone(),
            last,
            sha256: given,
            digest_to,
        };
        if let Some(rx) = digest {
            // On failure the disk thread drops the sender and the
            // responder acks the cause; nothing more goes downstream.
            if disk.send(msg).await.is_err() {
                return;
            }
            let Ok(d) = rx.await else { return };
            pkt.sha256 = Bytes::copy_from_slice(&d);
            if let Some(tx) = &down {
                pkt.header = None;
                let _ = tx.send(pkt).await;
            }
            return;
        }
        if !forwarded {
            if let Some(tx) = &down {
                pkt.header = None;
                if tx.send(pkt).await.is_err() {
                    // The downstream stream is gone; the responder reports
                    // why when it reads the downstream acks.
                    down = None;
                }
            }
        }
        forwarded = false;
        if disk.send(msg).await.is_err() || last {
            return;
        }
        pkt = match next_packet(&mut upstream).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                debug!(
                    block_id = block.id,
                    "upstream closed {block} before the last packet"
                );
                return;
            }
            Err(s) => {
                debug!(
                    block_id = block.id,
                    "upstream of {block} failed: {}",
                    s.message()
                );
                return;
            }
        };
    }
}

/// Hands a protocol violation at `seqno` to the disk thread (which aborts
/// the replica; the responder ends the stream with the cause).
async fn fail_packet(disk: &mpsc::Sender<DiskMsg>, block: BlockRef, seqno: u64, msg: String) {
    let _ = disk
        .send(DiskMsg::Fail {
            seqno,
            err: DatanodeError::Protocol { block, msg },
        })
        .await;
}

/// The blocking half: verify, write, finalize. Dropping the writer without
/// finalizing (upstream went away) leaves the replica in rbw.
fn disk_loop(
    node: &Node,
    mut writer: Box<dyn ReplicaWriter>,
    mut rx: mpsc::Receiver<DiskMsg>,
    tx: mpsc::UnboundedSender<Local>,
) {
    let block = writer.block();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            DiskMsg::Fail { seqno, err } => {
                writer.abort();
                let _ = tx.send(Local::Failed { seqno, err });
                return;
            }
            DiskMsg::Packet {
                seqno,
                offset,
                data,
                crcs,
                last,
                sha256,
                digest_to,
            } => {
                let res = verify_chunks(block, offset, &data, &crcs)
                    .and_then(|()| writer.append(&data, &crcs));
                if let Err(err) = res {
                    if matches!(err, DatanodeError::Checksum { .. }) {
                        Metrics::add(&node.metrics.checksum_errors, 1);
                    }
                    Metrics::add(&node.metrics.write_errors, 1);
                    writer.abort();
                    let _ = tx.send(Local::Failed { seqno, err });
                    return;
                }
                Metrics::add(&node.metrics.bytes_written, data.len() as u64);
                if let (Some(tx), Some(d)) = (digest_to, writer.sha256()) {
                    let _ = tx.send(d);
                }
                if let Some(d) = sha256 {
                    writer.set_sha256(d);
                }
                if last {
                    let res = match writer.finalize() {
                        Ok(r) => Local::Done {
                            seqno,
                            finalized: Some(r),
                        },
                        Err(err) => {
                            Metrics::add(&node.metrics.write_errors, 1);
                            Local::Failed { seqno, err }
                        }
                    };
                    let _ = tx.send(res);
                    return;
                }
                if tx
                    .send(Local::Done {
                        seqno,
                        finalized: None,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

async fn respond(
    node: Arc<Node>,
    block: BlockRef,
    n_nodes: usize,
    mut local: mpsc::UnboundedReceiver<Local>,
    mut down: Option<(String, Streaming<pb::WriteAck>)>,
    acks: AckTx,
) {
    while let Some(l) = local.recv().await {
        match l {
            Local::Failed { seqno, err } => {
                warn!(block_id = block.id, node = %node.uuid, seqno, "write of {block} failed: {err}");
                let reply = match err {
                    DatanodeError::Protocol { .. } => Err(err.into()),
                    _ => Ok(ack_failure(
                        seqno,
                        n_nodes,
                        0,
                        ack_status_of(&err),
                        err.to_string(),
                    )),
                };
                let _ = acks.send(reply).await;
                return;
            }
            Local::Done { seqno, finalized } => {
                let mut ack = pb::WriteAck {
                    seqno,
                    statuses: vec![AckStatus::Success as i32],
                    message: String::new(),
                };
                if let Some((addr, stream)) = down.as_mut() {
                    let failure = match stream.message().await {
                        Ok(Some(d)) if d.seqno == seqno => {
                            ack.statuses.extend(d.statuses);
                            ack.message = d.message;
                            None
                        }
                        Ok(Some(d)) => Some(format!("acked seqno {} instead of {seqno}", d.seqno)),
                        Ok(None) => Some(format!("closed the stream before acking seqno {seqno}")),
                        Err(s) => Some(s.message().to_string()),
                    };
                    if let Some(why) = failure {
                        let msg = format!("{block}: downstream datanode {addr}: {why}");
                        warn!(block_id = block.id, node = %node.uuid, "{msg}");
                        ack = ack_failure(seqno, n_nodes, 1, AckStatus::Error, msg);
                    }
                    ack.statuses.resize(n_nodes, AckStatus::Unspecified as i32);
                }
                let ok = ack.statuses.iter().all(|s| *s == AckStatus::Success as i32);
                let done = finalized.is_some();
                if let Some(r) = finalized {
                    finalized_replica(&node, r).await;
                }
                if acks.send(Ok(ack)).await.is_err() || !ok || done {
                    return;
                }
            }
        }
    }
}

/// Counts and reports a replica that just became finalized.
pub(crate) async fn finalized_replica(node: &Node, r: Replica) {
    Metrics::add(&node.metrics.blocks_written, 1);
    info!(block_id = r.block.id, node = %node.uuid, bytes = r.len, "finalized {}", r.block);
    let delivered = node.reports.received(block_of(&r));
    let _ = tokio::time::timeout(REPORT_WAIT, delivered).await;
}
