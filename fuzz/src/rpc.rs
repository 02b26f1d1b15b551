//! Targets `rpc-decode` and `rpc-namenode`.
//!
//! `rpc-decode`: `Message::decode` of every request message of every gRPC
//! service (and the streamed `WritePacket`) on random protobuf-shaped
//! bytes and on mutations of them. Invariants: no panic; a decoded message
//! re-encodes to bytes that decode to the same message and are not much
//! longer than the input; no single allocation during the decode is out of
//! proportion to the input (an over-long length prefix must not reserve
//! what the input claims).
//!
//! `rpc-namenode`: hostile but well-formed requests (paths from the path
//! generator, ids, lengths, offsets, modes and replications at their
//! extremes) sent to the namenode's ClientProtocol and DatanodeProtocol
//! service impls over an in-process namesystem, in short sequences so that
//! calls reach past "no such file". Invariants: no panic, no hang, every
//! error a typed status (never `Unknown`/`Internal`).

use crate::gen;
use crate::Target;
use prost::Message;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Code, Request};
use tusk_namenode::editlog::{EditLogConfig, LoggedStore};
use tusk_namenode::fsn::{CoreConfig, FsNamesystem};
use tusk_namenode::rpc::{ClientService, DatanodeService, NamenodeState};
use tusk_namenode::store::{KvStore, MemStore};
use tusk_namenode::sync::GroupCommit;
use tusk_proto as pb;
use tusk_proto::client_protocol_server::ClientProtocol;
use tusk_proto::datanode_protocol_server::DatanodeProtocol;

/// Counts the largest single allocation while `TRACKING` is on (the
/// decode of one input).
pub struct TrackingAlloc;

static TRACKING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACKING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Random protobuf-shaped bytes: fields 1–9 of every wire type, with
/// extreme varints, path strings and nested messages.
pub fn proto_bytes(rng: &mut StdRng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(0..7) {
        let field = rng.gen_range(1u64..10);
        match rng.gen_range(0..10) {
            0..=3 => {
                prost::encoding::encode_key(
                    field as u32,
                    prost::encoding::WireType::Varint,
                    &mut out,
                );
                prost::encoding::encode_varint(gen::extreme_u64(rng), &mut out);
            }
            4..=7 => {
                let body = match rng.gen_range(0..4) {
                    0 if depth < 3 => proto_bytes(rng, depth + 1),
                    1 => gen::random_bytes(rng, 40),
                    _ => gen::path_like(rng).into_bytes(),
                };
                prost::encoding::encode_key(
                    field as u32,
                    prost::encoding::WireType::LengthDelimited,
                    &mut out,
                );
                prost::encoding::encode_varint(body.len() as u64, &mut out);
                out.extend_from_slice(&body);
            }
            8 => {
                prost::encoding::encode_key(
                    field as u32,
                    prost::encoding::WireType::SixtyFourBit,
                    &mut out,
                );
                out.extend_from_slice(&rng.gen::<u64>().to_le_bytes());
            }
            _ => {
                prost::encoding::encode_key(
                    field as u32,
                    prost::encoding::WireType::ThirtyTwoBit,
                    &mut out,
                );
                out.extend_from_slice(&rng.gen::<u32>().to_le_bytes());
            }
        }
    }
    out
}

/// Decodes `bytes` as `M` and checks the invariants.
fn check_decode<M: Message + Default + PartialEq + std::fmt::Debug>(
    name: &str,
    bytes: &[u8],
) -> Result<(), String> {
    LARGEST.store(0, Ordering::Relaxed);
    TRACKING.store(true, Ordering::Relaxed);
    let res = M::decode(bytes);
    TRACKING.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    // Vec growth of a repeated message field may reach a few hundred
    // bytes per input byte; a length prefix believed would be far more.
    let cap = 256 * bytes.len() + (64 << 10);
    if largest > cap {
        return Err(format!(
            "{name}: decoding {} bytes allocated {largest} bytes at once",
            bytes.len()
        ));
    }
    let Ok(m) = res else { return Ok(()) };
    let again = m.encode_to_vec();
    if again.len() > 2 * bytes.len() + 64 {
        return Err(format!(
            "{name}: {} input bytes re-encode to {}",
            bytes.len(),
            again.len()
        ));
    }
    // Compared as bytes: a NaN double is not equal to itself.
    match M::decode(&again[..]) {
        Ok(m2) if m2.encode_to_vec() == again => Ok(()),
        other => Err(format!("{name}: re-encoded message decodes to {other:?}")),
    }
}

macro_rules! message_table {
    ($($path:path),* $(,)?) => {
        /// Every request message (and the streamed data packet) by name.
        pub const MESSAGES: &[(&str, fn(&[u8]) -> Result<(), String>)] = &[
            $((stringify!($path), |b| check_decode::<$path>(stringify!($path), b)),)*
        ];
    };
}

message_table!(
    pb::GetFileInfoRequest,
    pb::MkdirsRequest,
    pb::GetListingRequest,
    pb::CreateRequest,
    pb::AppendRequest,
    pb::AddBlockRequest,
    pb::AbandonBlockRequest,
    pb::UpdatePipelineRequest,
    pb::RecoverLeaseRequest,
    pb::CompleteRequest,
    pb::GetBlockLocationsRequest,
    pb::RenameRequest,
    pb::DeleteRequest,
    pb::SetPermissionRequest,
    pb::SetOwnerRequest,
    pb::SetReplicationRequest,
    pb::SetTimesRequest,
    pb::GetContentSummaryRequest,
    pb::GetFileChecksumRequest,
    pb::RenewLeaseRequest,
    pb::ReportBadBlocksRequest,
    pb::GetFsStatsRequest,
    pb::GetServerDefaultsRequest,
    pb::DatanodeReportRequest,
    pb::SetSafeModeRequest,
    pb::DecommissionRequest,
    pb::RecommissionRequest,
    pb::FsckRequest,
    pb::BalancerRequest,
    pb::RegisterRequest,
    pb::HeartbeatRequest,
    pb::BlockReportRequest,
    pb::BlockReceivedAndDeletedRequest,
    pb::ReportCorruptRequest,
    pb::RecoverReplicaRequest,
    pb::WritePacket,
    pb::ReadBlockRequest,
    pb::BlockChecksumRequest,
    pb::ReplicaInfoRequest,
    pb::yarn::FetchMapOutputRequest,
    pb::yarn::RegisterNodeManagerRequest,
    pb::yarn::NodeHeartbeatRequest,
    pb::yarn::SubmitApplicationRequest,
    pb::yarn::GetApplicationReportRequest,
    pb::yarn::ListApplicationsRequest,
    pb::yarn::KillApplicationRequest,
    pb::yarn::GetClusterNodesRequest,
    pb::yarn::GetClusterMetricsRequest,
    pb::yarn::RegisterApplicationMasterRequest,
    pb::yarn::AllocateRequest,
    pb::yarn::FinishApplicationMasterRequest,
    pb::yarn::StartContainerRequest,
    pb::yarn::StopContainerRequest,
    pb::yarn::GetContainerStatusRequest,
    pb::yarn::GetContainerLogsRequest,
    pb::yarn::GetApplicationLogsRequest,
    pb::mr::GetTaskRequest,
    pb::mr::PingRequest,
    pb::mr::GetMapOutputsRequest,
    pb::mr::FetchFailedRequest,
    pb::mr::DoneRequest,
    pb::mr::GetJobStatusRequest,
);

pub struct DecodeTarget;

#[derive(Debug)]
pub struct DecodeInput {
    pub message: usize,
    pub bytes: Vec<u8>,
}

impl Target for DecodeTarget {
    type Input = DecodeInput;

    fn generate(&mut self, rng: &mut StdRng) -> DecodeInput {
        let mut bytes = match rng.gen_range(0..8) {
            0 => gen::random_bytes(rng, 64),
            _ => proto_bytes(rng, 0),
        };
        if rng.gen_bool(0.5) {
            gen::mutate(rng, &mut bytes);
        }
        DecodeInput {
            message: rng.gen_range(0..MESSAGES.len()),
            bytes,
        }
    }

    fn check(&mut self, i: &DecodeInput) -> Result<(), String> {
        (MESSAGES[i.message].1)(&i.bytes)
    }
}

/// A namesystem over an in-memory store with its edit log in a temporary
/// directory, and the state the RPC service impls and the WebHDFS router
/// share — what `tusk_namenode::start` builds, without sockets.
pub struct InProcessNamenode {
    pub state: Arc<NamenodeState>,
    pub rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl InProcessNamenode {
    pub fn new() -> anyhow::Result<Self> {
        // The edit log syncs every commit: keep it in memory when /dev/shm
        // exists, so the fuzzer measures the namesystem, not the disk.
        let dir = match tempfile::tempdir_in("/dev/shm") {
            Ok(d) => d,
            Err(_) => tempfile::tempdir()?,
        };
        let log = Arc::new(LoggedStore::open(
            &dir.path().join("edits"),
            Arc::new(MemStore::new()),
            EditLogConfig::default(),
        )?);
        let core = CoreConfig {
            superuser: "root".into(),
            supergroup: "supergroup".into(),
            default_replication: 3,
            default_block_size: 1 << 20,
            listing_limit: 100,
            max_directory_items: 64,
            ..CoreConfig::default()
        };
        let fsn = FsNamesystem::open(
            log.clone() as Arc<dyn KvStore>,
            core,
            Default::default(),
            Instant::now(),
        )
        .map_err(|e| anyhow::anyhow!("opening the namesystem: {e}"))?;
        let state = Arc::new(NamenodeState::new(
            fsn,
            Arc::new(GroupCommit::new(log)),
            Duration::from_secs(3),
            Duration::from_secs(3600),
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let nn = InProcessNamenode {
            state,
            rt,
            _dir: dir,
        };
        nn.setup()?;
        Ok(nn)
    }

    /// Three live datanodes, out of safe mode, so writes reach block
    /// allocation.
    fn setup(&self) -> anyhow::Result<()> {
        let dn = DatanodeService(self.state.clone());
        let client = ClientService(self.state.clone());
        self.rt.block_on(async {
            for i in 0..3 {
                let info = pb::DatanodeInfo {
                    uuid: format!("dn{i}"),
                    host: format!("10.0.0.{i}"),
                    data_addr: format!("10.0.0.{i}:9866"),
                    http_addr: format!("10.0.0.{i}:9864"),
                    rack: String::new(),
                };
                dn.register(signed(
                    &self.state,
                    pb::RegisterRequest {
                        info: Some(info),
                        storages: vec![storage()],
                    },
                ))
                .await?;
                dn.heartbeat(signed(
                    &self.state,
                    pb::HeartbeatRequest {
                        uuid: format!("dn{i}"),
                        storages: vec![storage()],
                        xceivers: 0,
                    },
                ))
                .await?;
            }
            let mut req = Request::new(pb::SetSafeModeRequest {
                action: pb::SafeModeAction::Leave as i32,
            });
            req.metadata_mut()
                .insert(tusk_proto::USER_HEADER, "root".parse().unwrap());
            client.set_safe_mode(req).await?;
            // Files with blocks, so reads, checksums and appends meet real
            // block lists (the generators' valid paths reach them).
            for path in ["/f", "/a/x.txt", "/b/f", "/c/d/f"] {
                populate(&client, &dn, path).await?;
            }
            anyhow::Ok(())
        })
    }
}

/// Creates `path` with two blocks of 1000 bytes reported by all three
/// datanodes, and closes it.
async fn populate(client: &ClientService, dn: &DatanodeService, path: &str) -> anyhow::Result<()> {
    fn root<T>(m: T) -> Request<T> {
        with_user("root", m)
    }
    client
        .create(root(pb::CreateRequest {
            path: path.into(),
            permission: 0o644,
            client_name: "populate".into(),
            overwrite: true,
            create_parent: true,
            replication: 3,
            block_size: 1000,
        }))
        .await?;
    let mut previous: Option<pb::Block> = None;
    for _ in 0..2 {
        let lb = client
            .add_block(root(pb::AddBlockRequest {
                path: path.into(),
                client_name: "populate".into(),
                file_id: 0,
                previous,
                excluded_uuids: vec![],
                client_host: String::new(),
            }))
            .await?
            .into_inner()
            .block
            .and_then(|b| b.block)
            .ok_or_else(|| anyhow::anyhow!("{path}: add_block returned no block"))?;
        let done = pb::Block {
            num_bytes: 1000,
            ..lb
        };
        for i in 0..3 {
            dn.block_received_and_deleted(signed(
                &dn.0,
                pb::BlockReceivedAndDeletedRequest {
                    uuid: format!("dn{i}"),
                    received: vec![done],
                    deleted: vec![],
                },
            ))
            .await?;
        }
        previous = Some(done);
    }
    let completed = client
        .complete(root(pb::CompleteRequest {
            path: path.into(),
            client_name: "populate".into(),
            file_id: 0,
            last: previous,
            sha256: Default::default(),
        }))
        .await?
        .into_inner()
        .completed;
    anyhow::ensure!(completed, "{path}: complete refused");
    Ok(())
}

fn storage() -> pb::StorageReport {
    pb::StorageReport {
        dir: "/data".into(),
        capacity: 1 << 40,
        used: 0,
        remaining: 1 << 40,
        failed: false,
    }
}

/// One call to a namenode service.
#[derive(Debug, Clone)]
pub enum Call {
    GetFileInfo(pb::GetFileInfoRequest),
    Mkdirs(pb::MkdirsRequest),
    GetListing(pb::GetListingRequest),
    Create(pb::CreateRequest),
    Append(pb::AppendRequest),
    AddBlock(pb::AddBlockRequest),
    AbandonBlock(pb::AbandonBlockRequest),
    UpdatePipeline(pb::UpdatePipelineRequest),
    RecoverLease(pb::RecoverLeaseRequest),
    Complete(pb::CompleteRequest),
    GetBlockLocations(pb::GetBlockLocationsRequest),
    Rename(pb::RenameRequest),
    Delete(pb::DeleteRequest),
    SetPermission(pb::SetPermissionRequest),
    SetOwner(pb::SetOwnerRequest),
    SetReplication(pb::SetReplicationRequest),
    SetTimes(pb::SetTimesRequest),
    GetContentSummary(pb::GetContentSummaryRequest),
    GetFileChecksum(pb::GetFileChecksumRequest),
    RenewLease(pb::RenewLeaseRequest),
    ReportBadBlocks(pb::ReportBadBlocksRequest),
    Fsck(pb::FsckRequest),
    Decommission(pb::DecommissionRequest),
    Recommission(pb::RecommissionRequest),
    SetSafeMode(pb::SetSafeModeRequest),
    Register(pb::RegisterRequest),
    Heartbeat(pb::HeartbeatRequest),
    BlockReport(pb::BlockReportRequest),
    BlockReceivedAndDeleted(pb::BlockReceivedAndDeletedRequest),
    ReportCorrupt(pb::ReportCorruptRequest),
    /// Any ClientProtocol request decoded from fuzzed bytes (by index in
    /// the first rows of [`MESSAGES`]).
    Decoded(usize, Vec<u8>),
}

#[derive(Debug)]
pub struct NamenodeInput {
    pub user: &'static str,
    pub calls: Vec<Call>,
}

pub struct NamenodeTarget {
    nn: InProcessNamenode,
    /// Calls by outcome (`ok` or the status code), printed on drop when
    /// `TUSK_FUZZ_STATS` is set: shows how deep the calls get.
    outcomes: std::collections::BTreeMap<String, u64>,
}

impl Drop for NamenodeTarget {
    fn drop(&mut self) {
        if std::env::var_os("TUSK_FUZZ_STATS").is_some() {
            eprintln!("rpc-namenode outcomes: {:?}", self.outcomes);
        }
    }
}

impl NamenodeTarget {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            nn: InProcessNamenode::new()?,
            outcomes: Default::default(),
        })
    }
}

/// A path for a call: mostly valid (a small tree, so calls meet), some
/// hostile.
fn any_path(rng: &mut StdRng, session: &Session) -> String {
    if rng.gen_bool(0.5) {
        session.path.clone()
    } else if rng.gen_bool(0.6) {
        gen::valid_path(rng)
    } else {
        gen::path_like(rng)
    }
}

/// What the calls of one input share, so a create, its blocks and its
/// complete meet on one file.
pub struct Session {
    path: String,
    client: String,
}

fn client_name(rng: &mut StdRng, session: &Session) -> String {
    if rng.gen_bool(0.6) {
        return session.client.clone();
    }
    match rng.gen_range(0..6) {
        0 => String::new(),
        1 => gen::random_string(rng, 12),
        _ => format!("client-{}", rng.gen_range(0..3)),
    }
}

fn file_id(rng: &mut StdRng) -> u64 {
    match rng.gen_range(0..4) {
        0 | 1 => 0,
        2 => rng.gen_range(1..200),
        _ => gen::extreme_u64(rng),
    }
}

fn block(rng: &mut StdRng) -> Option<pb::Block> {
    if rng.gen_bool(0.2) {
        return None;
    }
    Some(pb::Block {
        block_id: if rng.gen_bool(0.5) {
            rng.gen_range(1..64)
        } else {
            gen::extreme_u64(rng)
        },
        genstamp: if rng.gen_bool(0.5) {
            rng.gen_range(1000..1064)
        } else {
            gen::extreme_u64(rng)
        },
        num_bytes: gen::extreme_u64(rng),
    })
}

fn blocks(rng: &mut StdRng) -> Vec<pb::Block> {
    (0..rng.gen_range(0..4))
        .filter_map(|_| block(rng))
        .collect()
}

fn uuid(rng: &mut StdRng) -> String {
    match rng.gen_range(0..5) {
        0 => gen::random_string(rng, 8),
        _ => format!("dn{}", rng.gen_range(0..4)),
    }
}

fn storages(rng: &mut StdRng) -> Vec<pb::StorageReport> {
    (0..rng.gen_range(0..3))
        .map(|_| pb::StorageReport {
            dir: gen::random_string(rng, 8),
            capacity: gen::extreme_u64(rng),
            used: gen::extreme_u64(rng),
            remaining: gen::extreme_u64(rng),
            failed: rng.gen(),
        })
        .collect()
}

fn call(rng: &mut StdRng, session: &Session) -> Call {
    let path = any_path(rng, session);
    match rng.gen_range(0..31) {
        0 => Call::GetFileInfo(pb::GetFileInfoRequest { path }),
        1 => Call::Mkdirs(pb::MkdirsRequest {
            path,
            permission: gen::extreme_u32(rng),
            create_parent: rng.gen(),
        }),
        2 => Call::GetListing(pb::GetListingRequest {
            path,
            start_after: if rng.gen_bool(0.5) {
                String::new()
            } else {
                gen::path_like(rng)
            },
            limit: gen::extreme_u32(rng),
        }),
        3..=5 => Call::Create(pb::CreateRequest {
            path,
            permission: gen::extreme_u32(rng),
            client_name: client_name(rng, session),
            overwrite: rng.gen(),
            create_parent: rng.gen_bool(0.8),
            replication: if rng.gen_bool(0.5) {
                0
            } else {
                gen::extreme_u32(rng)
            },
            block_size: if rng.gen_bool(0.5) {
                0
            } else {
                gen::extreme_u64(rng)
            },
        }),
        6 => Call::Append(pb::AppendRequest {
            path,
            client_name: client_name(rng, session),
        }),
        7..=9 => Call::AddBlock(pb::AddBlockRequest {
            path,
            client_name: client_name(rng, session),
            file_id: file_id(rng),
            previous: block(rng),
            excluded_uuids: (0..rng.gen_range(0..4)).map(|_| uuid(rng)).collect(),
            client_host: gen::random_string(rng, 10),
        }),
        10 => Call::AbandonBlock(pb::AbandonBlockRequest {
            path,
            client_name: client_name(rng, session),
            file_id: file_id(rng),
            block: block(rng),
        }),
        11 => Call::UpdatePipeline(pb::UpdatePipelineRequest {
            path,
            client_name: client_name(rng, session),
            file_id: file_id(rng),
            block: block(rng),
            node_uuids: (0..rng.gen_range(0..5)).map(|_| uuid(rng)).collect(),
        }),
        12 => Call::RecoverLease(pb::RecoverLeaseRequest {
            path,
            client_name: client_name(rng, session),
        }),
        13 | 14 => Call::Complete(pb::CompleteRequest {
            path,
            client_name: client_name(rng, session),
            file_id: file_id(rng),
            last: block(rng),
            sha256: gen::random_bytes(rng, 40).into(),
        }),
        15 => Call::GetBlockLocations(pb::GetBlockLocationsRequest {
            path,
            offset: gen::extreme_u64(rng),
            length: gen::extreme_u64(rng),
            client_host: gen::random_string(rng, 10),
        }),
        16 => Call::Rename(pb::RenameRequest {
            src: path,
            dst: any_path(rng, session),
            overwrite: rng.gen(),
        }),
        17 => Call::Delete(pb::DeleteRequest {
            path,
            recursive: rng.gen(),
        }),
        18 => Call::SetPermission(pb::SetPermissionRequest {
            path,
            permission: gen::extreme_u32(rng),
        }),
        19 => Call::SetOwner(pb::SetOwnerRequest {
            path,
            owner: gen::random_string(rng, 6),
            group: gen::random_string(rng, 6),
        }),
        20 => Call::SetReplication(pb::SetReplicationRequest {
            path,
            replication: gen::extreme_u32(rng),
        }),
        21 => Call::SetTimes(pb::SetTimesRequest {
            path,
            mtime_ms: gen::extreme_i64(rng),
            atime_ms: gen::extreme_i64(rng),
        }),
        22 => Call::GetContentSummary(pb::GetContentSummaryRequest { path }),
        23 => Call::GetFileChecksum(pb::GetFileChecksumRequest { path }),
        24 => Call::RenewLease(pb::RenewLeaseRequest {
            client_name: client_name(rng, session),
        }),
        25 => Call::ReportBadBlocks(pb::ReportBadBlocksRequest {
            blocks: blocks(rng),
            datanode_uuids: (0..rng.gen_range(0..4)).map(|_| uuid(rng)).collect(),
        }),
        26 => match rng.gen_range(0..5) {
            0 => Call::Fsck(pb::FsckRequest {
                path,
                all_files: rng.gen(),
            }),
            1 => Call::Decommission(pb::DecommissionRequest { node: uuid(rng) }),
            2 => Call::Recommission(pb::RecommissionRequest { node: uuid(rng) }),
            _ => Call::SetSafeMode(pb::SetSafeModeRequest {
                // Leave more often than enter, so mutations keep running.
                action: *[0, 1, 2, 2, 2, 7, -1].choose(rng).unwrap(),
            }),
        },
        27 => match rng.gen_range(0..3) {
            0 => Call::Register(pb::RegisterRequest {
                info: Some(pb::DatanodeInfo {
                    uuid: uuid(rng),
                    host: gen::random_string(rng, 10),
                    data_addr: gen::random_string(rng, 16),
                    http_addr: gen::random_string(rng, 16),
                    rack: gen::path_like(rng),
                }),
                storages: storages(rng),
            }),
            _ => Call::Heartbeat(pb::HeartbeatRequest {
                uuid: uuid(rng),
                storages: storages(rng),
                xceivers: gen::extreme_u32(rng),
            }),
        },
        28 => Call::BlockReport(pb::BlockReportRequest {
            uuid: uuid(rng),
            finalized: blocks(rng),
            being_written: blocks(rng),
        }),
        29 => match rng.gen_range(0..2) {
            0 => Call::BlockReceivedAndDeleted(pb::BlockReceivedAndDeletedRequest {
                uuid: uuid(rng),
                received: blocks(rng),
                deleted: blocks(rng),
            }),
            _ => Call::ReportCorrupt(pb::ReportCorruptRequest {
                uuid: uuid(rng),
                blocks: blocks(rng),
                reason: gen::random_string(rng, 10),
            }),
        },
        _ => {
            let mut bytes = proto_bytes(rng, 0);
            gen::mutate(rng, &mut bytes);
            Call::Decoded(rng.gen_range(0..CLIENT_MESSAGES), bytes)
        }
    }
}

/// The first rows of [`MESSAGES`] that are ClientProtocol requests
/// dispatched by [`Call::Decoded`].
const CLIENT_MESSAGES: usize = 21;

fn with_user<T>(user: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = user.parse() {
        r.metadata_mut().insert(tusk_proto::USER_HEADER, v);
    }
    r
}

/// A DatanodeProtocol request with node authentication: the fuzzer plays a
/// datanode holding the cluster secret, so the handlers behind the check
/// are exercised (an unsigned call only meets UNAUTHENTICATED).
fn signed<T>(state: &NamenodeState, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    state.secret.sign_request(&mut r);
    r
}

async fn run_call(state: &Arc<NamenodeState>, user: &str, call: Call) -> Result<(), tonic::Status> {
    let c = ClientService(state.clone());
    let d = DatanodeService(state.clone());
    macro_rules! go {
        ($svc:expr, $method:ident, $req:expr) => {
            $svc.$method(with_user(user, $req)).await.map(|_| ())
        };
    }
    macro_rules! dgo {
        ($method:ident, $req:expr) => {
            d.$method(signed(state, $req)).await.map(|_| ())
        };
    }
    match call {
        Call::GetFileInfo(r) => go!(c, get_file_info, r),
        Call::Mkdirs(r) => go!(c, mkdirs, r),
        Call::GetListing(r) => go!(c, get_listing, r),
        Call::Create(r) => go!(c, create, r),
        Call::Append(r) => go!(c, append, r),
        Call::AddBlock(r) => go!(c, add_block, r),
        Call::AbandonBlock(r) => go!(c, abandon_block, r),
        Call::UpdatePipeline(r) => go!(c, update_pipeline, r),
        Call::RecoverLease(r) => go!(c, recover_lease, r),
        Call::Complete(r) => go!(c, complete, r),
        Call::GetBlockLocations(r) => go!(c, get_block_locations, r),
        Call::Rename(r) => go!(c, rename, r),
        Call::Delete(r) => go!(c, delete, r),
        Call::SetPermission(r) => go!(c, set_permission, r),
        Call::SetOwner(r) => go!(c, set_owner, r),
        Call::SetReplication(r) => go!(c, set_replication, r),
        Call::SetTimes(r) => go!(c, set_times, r),
        Call::GetContentSummary(r) => go!(c, get_content_summary, r),
        Call::GetFileChecksum(r) => go!(c, get_file_checksum, r),
        Call::RenewLease(r) => go!(c, renew_lease, r),
        Call::ReportBadBlocks(r) => go!(c, report_bad_blocks, r),
        Call::Fsck(r) => go!(c, fsck, r),
        Call::Decommission(r) => go!(c, decommission, r),
        Call::Recommission(r) => go!(c, recommission, r),
        Call::SetSafeMode(r) => go!(c, set_safe_mode, r),
        Call::Register(r) => dgo!(register, r),
        Call::Heartbeat(r) => dgo!(heartbeat, r),
        Call::BlockReport(r) => dgo!(block_report, r),
        Call::BlockReceivedAndDeleted(r) => dgo!(block_received_and_deleted, r),
        Call::ReportCorrupt(r) => dgo!(report_corrupt, r),
        Call::Decoded(i, bytes) => {
            macro_rules! decoded {
                ($($n:literal => $t:ty, $method:ident;)*) => {
                    match i {
                        $($n => match <$t>::decode(&bytes[..]) {
                            Ok(r) => go!(c, $method, r),
                            Err(_) => Ok(()),
                        },)*
                        _ => Ok(()),
                    }
                };
            }
            decoded! {
                0 => pb::GetFileInfoRequest, get_file_info;
                1 => pb::MkdirsRequest, mkdirs;
                2 => pb::GetListingRequest, get_listing;
                3 => pb::CreateRequest, create;
                4 => pb::AppendRequest, append;
                5 => pb::AddBlockRequest, add_block;
                6 => pb::AbandonBlockRequest, abandon_block;
                7 => pb::UpdatePipelineRequest, update_pipeline;
                8 => pb::RecoverLeaseRequest, recover_lease;
                9 => pb::CompleteRequest, complete;
                10 => pb::GetBlockLocationsRequest, get_block_locations;
                11 => pb::RenameRequest, rename;
                12 => pb::DeleteRequest, delete;
                13 => pb::SetPermissionRequest, set_permission;
                14 => pb::SetOwnerRequest, set_owner;
                15 => pb::SetReplicationRequest, set_replication;
                16 => pb::SetTimesRequest, set_times;
                17 => pb::GetContentSummaryRequest, get_content_summary;
                18 => pb::GetFileChecksumRequest, get_file_checksum;
                19 => pb::RenewLeaseRequest, renew_lease;
                20 => pb::ReportBadBlocksRequest, report_bad_blocks;
            }
        }
    }
}

impl Target for NamenodeTarget {
    type Input = NamenodeInput;

    fn generate(&mut self, rng: &mut StdRng) -> NamenodeInput {
        NamenodeInput {
            user: ["root", "root", "alice", "nobody", "bob"]
                .choose(rng)
                .unwrap(),
            calls: {
                let session = Session {
                    path: gen::valid_path(rng),
                    client: format!("client-{}", rng.gen_range(0..3)),
                };
                (0..rng.gen_range(1..8))
                    .map(|_| call(rng, &session))
                    .collect()
            },
        }
    }

    fn check(&mut self, i: &NamenodeInput) -> Result<(), String> {
        let state = self.nn.state.clone();
        for (n, call) in i.calls.iter().enumerate() {
            let shown = format!("{call:?}");
            let kind = shown.split('(').next().unwrap_or("").to_string();
            let call = call.clone();
            let started = Instant::now();
            let res = self.nn.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), run_call(&state, i.user, call)).await
            });
            match res {
                Err(_) => return Err(format!("call {n} hung for 10 s: {shown}")),
                Ok(Err(s)) if matches!(s.code(), Code::Unknown | Code::Internal) => {
                    return Err(format!(
                        "call {n} failed untyped ({:?}: {}): {shown}",
                        s.code(),
                        s.message()
                    ))
                }
                Ok(Err(s)) if s.message().is_empty() => {
                    return Err(format!("call {n}: error without a message: {shown}"))
                }
                Ok(Err(s)) => {
                    *self
                        .outcomes
                        .entry(format!("{kind} {:?}", s.code()))
                        .or_default() += 1
                }
                Ok(Ok(())) => *self.outcomes.entry(format!("{kind} ok")).or_default() += 1,
            }
            *self.outcomes.entry(format!("{kind} µs")).or_default() +=
                started.elapsed().as_micros() as u64;
        }
        Ok(())
    }
}
