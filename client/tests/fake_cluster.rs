//! The write and read paths against an in-process fake namenode and fake
//! datanodes that can misbehave on demand: error acks at setup, dead
//! datanodes, failures after data was acknowledged, corrupt replicas,
//! Complete answering "not yet". The real cluster is exercised by the
//! workspace's tests/ crate.

use bytes::Bytes;
use futures::Stream;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};
use tusk_client::{ClientConfig, CreateOptions, DfsClient, DfsError};
use tusk_proto as pb;
use tusk_proto::client_protocol_server::{ClientProtocol, ClientProtocolServer};
use tusk_proto::data_transfer_server::{DataTransfer, DataTransferServer};

// Several of the writer's 256 KiB packets per block.
const BLOCK: u64 = 800_000;

// ---------------------------------------------------------------- fake datanode

#[derive(Clone, Copy, PartialEq, Debug)]
enum DnMode {
    Normal,
    /// Answers the first packet of every block with an ERROR ack.
    ErrorAckFirst,
    /// Acknowledges the first packet, then fails the call.
    FailAfterFirstAck,
    /// Serves reads with one byte flipped (checksums of the true data).
    CorruptReads,
    /// Refuses the namenode's first block token as expired (as a datanode
    /// refuses a reader that outlived its tokens), accepts later ones.
    RefuseFirstToken,
    /// Refuses every block token.
    RefuseTokens,
}

/// Every fake datanode's replicas (block id -> bytes), by uuid.
type Stores = Arc<Mutex<HashMap<String, Arc<Mutex<HashMap<u64, Vec<u8>>>>>>>;

#[derive(Clone)]
struct FakeDn {
    info: pb::DatanodeInfo,
    /// Every fake datanode's store by uuid: the pipeline "forwards" by
    /// storing the finished block on the targets too.
    cluster: Stores,
    mode: Arc<Mutex<DnMode>>,
    blocks: Arc<Mutex<HashMap<u64, Vec<u8>>>>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl DataTransfer for FakeDn {
    type WriteBlockStream = BoxStream<pb::WriteAck>;
    async fn write_block(
        &self,
        req: Request<Streaming<pb::WritePacket>>,
    ) -> Result<Response<Self::WriteBlockStream>, Status> {
        let mut input = req.into_inner();
        let mode = *self.mode.lock();
        let blocks = self.blocks.clone();
        let cluster = self.cluster.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            let mut data = Vec::new();
            let mut block_id = 0;
            let mut width = 1;
            let mut targets = Vec::new();
            while let Ok(Some(p)) = input.message().await {
                if let Some(h) = &p.header {
                    block_id = h.block.as_ref().map(|b| b.block_id).unwrap_or(0);
                    width = 1 + h.targets.len();
                    targets = h.targets.iter().map(|t| t.uuid.clone()).collect();
                }
                let ok_sums =
                    tusk_client::packet::verify_chunks(&p.data, &p.checksums, 512).is_ok();
                let offset_ok = p.offset == data.len() as u64;
                let mut statuses = vec![pb::AckStatus::Success as i32; width];
                let mut message = String::new();
                if !ok_sums || !offset_ok {
                    statuses[0] = pb::AckStatus::ErrorChecksum as i32;
                    message = format!(
                        "bad packet {} (sums ok {ok_sums}, offset ok {offset_ok})",
                        p.seqno
                    );
                } else if mode == DnMode::ErrorAckFirst && p.seqno == 0 {
                    statuses[0] = pb::AckStatus::Error as i32;
                    message = "disk on fire".into();
                }
                if mode == DnMode::FailAfterFirstAck && p.seqno == 1 {
                    let _ = tx.send(Err(Status::internal("datanode crashed"))).await;
                    return;
                }
                let failed = statuses[0] != pb::AckStatus::Success as i32;
                data.extend_from_slice(&p.data);
                if p.last && !failed {
                    blocks.lock().insert(block_id, data.clone());
                    for t in &targets {
                        if let Some(store) = cluster.lock().get(t) {
                            store.lock().insert(block_id, data.clone());
                        }
                    }
                }
                let _ = tx
                    .send(Ok(pb::WriteAck {
                        seqno: p.seqno,
                        statuses,
                        message,
                    }))
                    .await;
                if failed || p.last {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    type ReadBlockStream = BoxStream<pb::ReadBlockResponse>;
    async fn read_block(
        &self,
        req: Request<pb::ReadBlockRequest>,
    ) -> Result<Response<Self::ReadBlockStream>, Status> {
        let r = req.into_inner();
        let id = r.block.map(|b| b.block_id).unwrap_or(0);
        let refused = match *self.mode.lock() {
            DnMode::RefuseFirstToken => r.access_token.as_ref() == b"token-1",
            DnMode::RefuseTokens => true,
            _ => false,
        };
        if refused {
            return Err(Status::permission_denied(format!(
                "InvalidBlockTokenException: blk_{id}: token expired 5 ms ago"
            )));
        }
        let Some(data) = self.blocks.lock().get(&id).cloned() else {
            return Err(Status::not_found(format!(
                "replica blk_{id} does not exist"
            )));
        };
        let start = (r.offset / 512 * 512) as usize;
        let end = if r.length == 0 {
            data.len()
        } else {
            (r.offset + r.length).min(data.len() as u64) as usize
        };
        let corrupt = *self.mode.lock() == DnMode::CorruptReads;
        let mut out = Vec::new();
        let mut pos = start;
        while pos < end {
            let n = (end - pos).min(64 * 1024);
            let chunk = &data[pos..pos + n];
            let sums = tusk_client::packet::chunk_checksums(chunk, 512);
            let mut bytes = chunk.to_vec();
            if corrupt {
                bytes[0] ^= 0xff;
            }
            out.push(Ok(pb::ReadBlockResponse {
                offset: pos as u64,
                data: Bytes::from(bytes),
                checksums: sums,
                bytes_per_checksum: 512,
                replica_length: data.len() as u64,
            }));
            pos += n;
        }
        Ok(Response::new(Box::pin(futures::stream::iter(out))))
    }

    async fn block_checksum(
        &self,
        _: Request<pb::BlockChecksumRequest>,
    ) -> Result<Response<pb::BlockChecksumResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn replica_info(
        &self,
        _: Request<pb::ReplicaInfoRequest>,
    ) -> Result<Response<pb::ReplicaInfoResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn recover_replica(
        &self,
        _: Request<pb::RecoverReplicaRequest>,
    ) -> Result<Response<pb::RecoverReplicaResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

// ---------------------------------------------------------------- fake namenode

#[derive(Default)]
struct NnState {
    datanodes: Vec<pb::DatanodeInfo>,
    replication: usize,
    next_block: u64,
    /// path -> (blocks with locations, sha256, complete)
    files: HashMap<String, (Vec<pb::LocatedBlock>, Vec<u8>, bool)>,
    abandoned: Vec<u64>,
    excluded: Vec<Vec<String>>,
    bad: Vec<(u64, String)>,
    /// Complete answers `false` this many times first.
    complete_delays: u32,
    users: Vec<String>,
    /// GetBlockLocations calls; the n-th hands out block tokens `token-<n>`.
    locations_calls: u64,
}

#[derive(Clone, Default)]
struct FakeNn(Arc<Mutex<NnState>>);

fn set_len(blocks: &mut [pb::LocatedBlock], b: &Option<pb::Block>) {
    if let Some(b) = b {
        if let Some(lb) = blocks
            .iter_mut()
            .find(|l| l.block.as_ref().map(|x| x.block_id) == Some(b.block_id))
        {
            lb.block = Some(*b);
        }
    }
}

fn unimpl<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

#[tonic::async_trait]
impl ClientProtocol for FakeNn {
    async fn get_file_info(
        &self,
        r: Request<pb::GetFileInfoRequest>,
    ) -> Result<Response<pb::GetFileInfoResponse>, Status> {
        let s = self.0.lock();
        let status = s
            .files
            .get(&r.get_ref().path)
            .map(|(b, _, _)| pb::FileStatus {
                file_type: pb::FileType::File as i32,
                length: b
                    .iter()
                    .map(|l| l.block.map(|x| x.num_bytes).unwrap_or(0))
                    .sum(),
                replication: 3,
                block_size: BLOCK,
                ..Default::default()
            });
        Ok(Response::new(pb::GetFileInfoResponse { status }))
    }
    async fn mkdirs(
        &self,
        _: Request<pb::MkdirsRequest>,
    ) -> Result<Response<pb::MkdirsResponse>, Status> {
        unimpl()
    }
    async fn get_listing(
        &self,
        _: Request<pb::GetListingRequest>,
    ) -> Result<Response<pb::GetListingResponse>, Status> {
        unimpl()
    }
    async fn create(
        &self,
        r: Request<pb::CreateRequest>,
    ) -> Result<Response<pb::CreateResponse>, Status> {
        let user = r
            .metadata()
            .get(tusk_proto::USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nobody")
            .to_string();
        let mut s = self.0.lock();
        s.users.push(user);
        s.files
            .insert(r.get_ref().path.clone(), (Vec::new(), Vec::new(), false));
        Ok(Response::new(pb::CreateResponse {
            status: Some(pb::FileStatus {
                file_id: 7,
                block_size: BLOCK,
                ..Default::default()
            }),
        }))
    }
    async fn append(
        &self,
        _: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        unimpl()
    }
    async fn add_block(
        &self,
        r: Request<pb::AddBlockRequest>,
    ) -> Result<Response<pb::AddBlockResponse>, Status> {
        let r = r.into_inner();
        let mut s = self.0.lock();
        s.next_block += 1;
        let id = s.next_block;
        s.excluded.push(r.excluded_uuids.clone());
        let n = s.replication;
        let locations: Vec<_> = s
            .datanodes
            .iter()
            .filter(|d| !r.excluded_uuids.contains(&d.uuid))
            .take(n)
            .cloned()
            .collect();
        let file = s
            .files
            .get_mut(&r.path)
            .ok_or_else(|| Status::not_found("no such file: does not exist"))?;
        set_len(&mut file.0, &r.previous);
        let offset = file
            .0
            .iter()
            .map(|l| l.block.map(|x| x.num_bytes).unwrap_or(0))
            .sum();
        let lb = pb::LocatedBlock {
            block: Some(pb::Block {
                block_id: id,
                genstamp: 1,
                num_bytes: 0,
            }),
            offset,
            locations,
            corrupt: false,
            access_token: Default::default(),
        };
        file.0.push(lb.clone());
        Ok(Response::new(pb::AddBlockResponse { block: Some(lb) }))
    }
    async fn abandon_block(
        &self,
        r: Request<pb::AbandonBlockRequest>,
    ) -> Result<Response<pb::AbandonBlockResponse>, Status> {
        let r = r.into_inner();
        let id = r.block.map(|b| b.block_id).unwrap_or(0);
        let mut s = self.0.lock();
        s.abandoned.push(id);
        if let Some(f) = s.files.get_mut(&r.path) {
            f.0.retain(|l| l.block.map(|b| b.block_id) != Some(id));
        }
        Ok(Response::new(pb::AbandonBlockResponse {}))
    }
    async fn complete(
        &self,
        r: Request<pb::CompleteRequest>,
    ) -> Result<Response<pb::CompleteResponse>, Status> {
        let r = r.into_inner();
        let mut s = self.0.lock();
        if s.complete_delays > 0 {
            s.complete_delays -= 1;
            return Ok(Response::new(pb::CompleteResponse { completed: false }));
        }
        let f = s
            .files
            .get_mut(&r.path)
            .ok_or_else(|| Status::not_found("does not exist"))?;
        set_len(&mut f.0, &r.last);
        f.1 = r.sha256.to_vec();
        f.2 = true;
        Ok(Response::new(pb::CompleteResponse { completed: true }))
    }
    async fn get_block_locations(
        &self,
        r: Request<pb::GetBlockLocationsRequest>,
    ) -> Result<Response<pb::GetBlockLocationsResponse>, Status> {
        let mut s = self.0.lock();
        s.locations_calls += 1;
        let token = Bytes::from(format!("token-{}", s.locations_calls));
        let f = s
            .files
            .get(&r.get_ref().path)
            .ok_or_else(|| Status::not_found(format!("{} does not exist", r.get_ref().path)))?;
        let mut blocks = f.0.clone();
        for b in &mut blocks {
            b.access_token = token.clone();
        }
        Ok(Response::new(pb::GetBlockLocationsResponse {
            file_length: f
                .0
                .iter()
                .map(|l| l.block.map(|x| x.num_bytes).unwrap_or(0))
                .sum(),
            blocks,
            under_construction: !f.2,
            file_id: 7,
        }))
    }
    async fn rename(
        &self,
        _: Request<pb::RenameRequest>,
    ) -> Result<Response<pb::RenameResponse>, Status> {
        unimpl()
    }
    async fn delete(
        &self,
        _: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        unimpl()
    }
    async fn set_permission(
        &self,
        _: Request<pb::SetPermissionRequest>,
    ) -> Result<Response<pb::SetPermissionResponse>, Status> {
        unimpl()
    }
    async fn set_owner(
        &self,
        _: Request<pb::SetOwnerRequest>,
    ) -> Result<Response<pb::SetOwnerResponse>, Status> {
        unimpl()
    }
    async fn set_replication(
        &self,
        _: Request<pb::SetReplicationRequest>,
    ) -> Result<Response<pb::SetReplicationResponse>, Status> {
        unimpl()
    }
    async fn set_times(
        &self,
        _: Request<pb::SetTimesRequest>,
    ) -> Result<Response<pb::SetTimesResponse>, Status> {
        unimpl()
    }
    async fn get_content_summary(
        &self,
        _: Request<pb::GetContentSummaryRequest>,
    ) -> Result<Response<pb::GetContentSummaryResponse>, Status> {
        unimpl()
    }
    async fn get_file_checksum(
        &self,
        r: Request<pb::GetFileChecksumRequest>,
    ) -> Result<Response<pb::GetFileChecksumResponse>, Status> {
        let s = self.0.lock();
        let f = s
            .files
            .get(&r.get_ref().path)
            .ok_or_else(|| Status::not_found("does not exist"))?;
        Ok(Response::new(pb::GetFileChecksumResponse {
            sha256: f.1.clone().into(),
            length: 0,
        }))
    }
    async fn renew_lease(
        &self,
        _: Request<pb::RenewLeaseRequest>,
    ) -> Result<Response<pb::RenewLeaseResponse>, Status> {
        Ok(Response::new(pb::RenewLeaseResponse {}))
    }
    async fn update_pipeline(
        &self,
        _: Request<pb::UpdatePipelineRequest>,
    ) -> Result<Response<pb::UpdatePipelineResponse>, Status> {
        Err(Status::unimplemented("fake: no pipeline recovery"))
    }
    async fn recover_lease(
        &self,
        _: Request<pb::RecoverLeaseRequest>,
    ) -> Result<Response<pb::RecoverLeaseResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn report_bad_blocks(
        &self,
        r: Request<pb::ReportBadBlocksRequest>,
    ) -> Result<Response<pb::ReportBadBlocksResponse>, Status> {
        let r = r.into_inner();
        let mut s = self.0.lock();
        for (b, u) in r.blocks.iter().zip(r.datanode_uuids) {
            s.bad.push((b.block_id, u));
        }
        Ok(Response::new(pb::ReportBadBlocksResponse {}))
    }
    async fn get_fs_stats(
        &self,
        _: Request<pb::GetFsStatsRequest>,
    ) -> Result<Response<pb::GetFsStatsResponse>, Status> {
        unimpl()
    }
    async fn get_server_defaults(
        &self,
        _: Request<pb::GetServerDefaultsRequest>,
    ) -> Result<Response<pb::GetServerDefaultsResponse>, Status> {
        unimpl()
    }
    async fn datanode_report(
        &self,
        _: Request<pb::DatanodeReportRequest>,
    ) -> Result<Response<pb::DatanodeReportResponse>, Status> {
        unimpl()
    }
    async fn set_safe_mode(
        &self,
        _: Request<pb::SetSafeModeRequest>,
    ) -> Result<Response<pb::SetSafeModeResponse>, Status> {
        unimpl()
    }
    async fn decommission(
        &self,
        _: Request<pb::DecommissionRequest>,
    ) -> Result<Response<pb::DecommissionResponse>, Status> {
        unimpl()
    }
    async fn recommission(
        &self,
        _: Request<pb::RecommissionRequest>,
    ) -> Result<Response<pb::RecommissionResponse>, Status> {
        unimpl()
    }
    async fn fsck(
        &self,
        _: Request<pb::FsckRequest>,
    ) -> Result<Response<pb::FsckResponse>, Status> {
        unimpl()
    }
    async fn balancer(
        &self,
        _: Request<pb::BalancerRequest>,
    ) -> Result<Response<pb::BalancerResponse>, Status> {
        unimpl()
    }
    async fn set_quota(
        &self,
        _: Request<pb::SetQuotaRequest>,
    ) -> Result<Response<pb::SetQuotaResponse>, Status> {
        unimpl()
    }
}

// ---------------------------------------------------------------- harness

struct Fake {
    nn: FakeNn,
    dns: Vec<FakeDn>,
    client: DfsClient,
}

async fn serve_dn(i: usize, cluster: &Stores) -> FakeDn {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let dn = FakeDn {
        info: pb::DatanodeInfo {
            uuid: format!("dn{i}"),
            host: "127.0.0.1".into(),
            data_addr: addr,
            http_addr: String::new(),
            rack: "/r".into(),
        },
        cluster: cluster.clone(),
        mode: Arc::new(Mutex::new(DnMode::Normal)),
        blocks: Arc::default(),
    };
    cluster
        .lock()
        .insert(dn.info.uuid.clone(), dn.blocks.clone());
    let svc = DataTransferServer::new(dn.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(l)),
    );
    dn
}

/// `n` live fake datanodes plus, when `dead_first`, a dead one listed first.
async fn start(n: usize, replication: usize, dead_first: bool) -> Fake {
    let mut dns = Vec::new();
    let cluster = Arc::default();
    for i in 0..n {
        dns.push(serve_dn(i, &cluster).await);
    }
    let nn = FakeNn::default();
    {
        let mut s = nn.0.lock();
        s.replication = replication;
        if dead_first {
            // A port nobody listens on.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            drop(l);
            s.datanodes.push(pb::DatanodeInfo {
                uuid: "dead".into(),
                host: "127.0.0.1".into(),
                data_addr: addr,
                http_addr: String::new(),
                rack: "/r".into(),
            });
        }
        s.datanodes.extend(dns.iter().map(|d| d.info.clone()));
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ClientProtocolServer::new(nn.clone()))
            .serve_with_incoming(TcpListenerStream::new(l)),
    );
    let client = DfsClient::connect(
        ClientConfig::default()
            .with_namenode(addr)
            .with_user("tester"),
    )
    .await
    .unwrap();
    Fake { nn, dns, client }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn write(c: &DfsClient, path: &str, bytes: &[u8]) -> Result<(), DfsError> {
    let mut w = c.create(path, CreateOptions::default()).await?;
    let mut off = 0;
    let mut step = 1;
    while off < bytes.len() {
        let end = (off + step).min(bytes.len());
        w.write(&bytes[off..end]).await?;
        off = end;
        step = (step * 7 + 3) % 90_000 + 1;
    }
    w.close().await
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn roundtrip_across_blocks_with_sha256_and_user_header() {
    let f = start(3, 3, false).await;
    let bytes = data(2 * BLOCK as usize + 12_345);
    write(&f.client, "/f", &bytes).await.unwrap();
    {
        let s = f.nn.0.lock();
        let (blocks, sha, done) = &s.files["/f"];
        assert!(*done);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[2].block.unwrap().num_bytes, 12_345);
        assert_eq!(sha.as_slice(), Sha256::digest(&bytes).as_slice());
        assert_eq!(s.users, vec!["tester"]);
    }
    // Every replica holds the block.
    for dn in &f.dns {
        assert_eq!(dn.blocks.lock().len(), 3);
    }
    let back = f.client.read_file("/f").await.unwrap();
    assert!(back == bytes);
    // Positional reads across a block boundary, and seek.
    let r = f.client.open("/f").await.unwrap();
    let mut buf = vec![0u8; 1000];
    let n = r.read_at(BLOCK - 500, &mut buf).await.unwrap();
    assert_eq!(n, 1000);
    assert_eq!(&buf[..], &bytes[BLOCK as usize - 500..BLOCK as usize + 500]);
    let n = r.read_at(bytes.len() as u64 - 10, &mut buf).await.unwrap();
    assert_eq!(n, 10);
    let mut r = r;
    r.seek(BLOCK * 2 + 7);
    let mut small = [0u8; 3];
    assert_eq!(r.read(&mut small).await.unwrap(), 3);
    assert_eq!(
        &small,
        &bytes[BLOCK as usize * 2 + 7..BLOCK as usize * 2 + 10]
    );
    let sum = f.client.file_checksum("/f").await.unwrap();
    assert_eq!(sum.hex().unwrap(), hex::encode(Sha256::digest(&bytes)));
}

#[tokio::test]
async fn empty_file_has_no_blocks() {
    let f = start(1, 1, false).await;
    write(&f.client, "/empty", b"").await.unwrap();
    assert!(f.nn.0.lock().files["/empty"].0.is_empty());
    assert!(f.client.read_file("/empty").await.unwrap().is_empty());
}

#[tokio::test]
async fn error_ack_at_setup_abandons_and_excludes() {
    let f = start(3, 2, false).await;
    *f.dns[0].mode.lock() = DnMode::ErrorAckFirst;
    let bytes = data(50_000);
    write(&f.client, "/f", &bytes).await.unwrap();
    let s = f.nn.0.lock();
    assert_eq!(s.abandoned, vec![1]);
    assert_eq!(
        s.excluded,
        vec![Vec::<String>::new(), vec!["dn0".to_string()]]
    );
    assert_eq!(f.dns[1].blocks.lock()[&2], bytes);
}

#[tokio::test]
async fn unreachable_first_datanode_is_excluded() {
    let f = start(2, 2, true).await;
    let bytes = data(BLOCK as usize + 1);
    write(&f.client, "/f", &bytes).await.unwrap();
    {
        let s = f.nn.0.lock();
        assert_eq!(s.abandoned.len(), 1);
        assert!(s.excluded.last().unwrap().contains(&"dead".to_string()));
    }
    assert!(f.client.read_file("/f").await.unwrap() == bytes);
}

#[tokio::test]
async fn setup_gives_up_after_three_tries() {
    let f = start(3, 1, false).await;
    for d in &f.dns {
        *d.mode.lock() = DnMode::ErrorAckFirst;
    }
    let e = write(&f.client, "/f", &data(10)).await.unwrap_err();
    assert!(matches!(e, DfsError::Pipeline { .. }), "{e}");
    assert!(e.to_string().contains("disk on fire"), "{e}");
    assert_eq!(f.nn.0.lock().abandoned.len(), 3);
}

#[tokio::test]
async fn failure_after_ack_names_block_and_datanode() {
    let f = start(1, 1, false).await;
    *f.dns[0].mode.lock() = DnMode::FailAfterFirstAck;
    // Several packets: the datanode fails the second.
    let e = write(&f.client, "/f", &data(2 * tusk_client::packet::PACKET_SIZE))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DfsError::Pipeline { block_id: 1, .. }), "{msg}");
    assert!(
        msg.contains("blk_1") && msg.contains(&f.dns[0].info.data_addr) && msg.contains("/f"),
        "{msg}"
    );
}

#[tokio::test]
async fn complete_is_retried_until_replicated() {
    let f = start(1, 1, false).await;
    f.nn.0.lock().complete_delays = 4;
    write(&f.client, "/f", b"hello").await.unwrap();
    assert!(f.nn.0.lock().files["/f"].2);
}

#[tokio::test]
async fn corrupt_replica_falls_back_and_is_reported() {
    let f = start(3, 3, false).await;
    let bytes = data(BLOCK as usize + 70_000);
    write(&f.client, "/f", &bytes).await.unwrap();
    *f.dns[0].mode.lock() = DnMode::CorruptReads;
    assert!(f.client.read_file("/f").await.unwrap() == bytes);
    let bad = f.nn.0.lock().bad.clone();
    assert!(
        bad.contains(&(1, "dn0".to_string())) && bad.contains(&(2, "dn0".to_string())),
        "{bad:?}"
    );
    // A missing replica moves on too.
    f.dns[1].blocks.lock().clear();
    *f.dns[0].mode.lock() = DnMode::Normal;
    f.dns[0].blocks.lock().clear();
    assert!(f.client.read_file("/f").await.unwrap() == bytes);
}

#[tokio::test]
async fn a_refused_block_token_is_fetched_again_not_reported() {
    let f = start(3, 3, false).await;
    let bytes = data(2 * BLOCK as usize + 5000);
    write(&f.client, "/f", &bytes).await.unwrap();
    for d in &f.dns {
        *d.mode.lock() = DnMode::RefuseFirstToken;
    }
    let before = f.nn.0.lock().locations_calls;
    assert!(f.client.read_file("/f").await.unwrap() == bytes);
    {
        let s = f.nn.0.lock();
        assert_eq!(
            s.locations_calls - before,
            2,
            "the open, and one fetch of new tokens"
        );
        assert!(s.bad.is_empty(), "nothing reported corrupt: {:?}", s.bad);
    }

    // Tokens refused for good: the read fails naming the cause, and still
    // nothing is reported corrupt.
    for d in &f.dns {
        *d.mode.lock() = DnMode::RefuseTokens;
    }
    let e = f.client.read_file("/f").await.unwrap_err();
    assert!(
        matches!(e, DfsError::BlockUnreadable { block_id: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("InvalidBlockTokenException"), "{e}");
    assert!(f.nn.0.lock().bad.is_empty());
}

#[tokio::test]
async fn every_replica_corrupt_is_a_checksum_error() {
    let f = start(2, 2, false).await;
    write(&f.client, "/f", &data(1000)).await.unwrap();
    for d in &f.dns {
        *d.mode.lock() = DnMode::CorruptReads;
    }
    let e = f.client.read_file("/f").await.unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, DfsError::ChecksumError { block_id: 1, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&f.dns[0].info.data_addr) && msg.contains(&f.dns[1].info.data_addr),
        "{msg}"
    );
}

#[tokio::test]
async fn missing_file_and_dropped_writer() {
    let f = start(1, 1, false).await;
    let e = f.client.open("/nope").await.unwrap_err();
    assert!(matches!(e, DfsError::FileNotFound { .. }), "{e}");
    assert_eq!(e.cause(), "No such file or directory");
    // Dropping an open writer with buffered and in-flight data must not panic.
    let mut w = f
        .client
        .create("/dropped", CreateOptions::default())
        .await
        .unwrap();
    w.write(&data(100_000)).await.unwrap();
    drop(w);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

#[tokio::test]
async fn unreachable_namenode_fails_after_the_retry_time() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let c = DfsClient::connect(
        ClientConfig::default()
            .with_namenode(addr)
            .with_retry_timeout(std::time::Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let t = std::time::Instant::now();
    let e = c.get_file_info("/x").await.unwrap_err();
    assert!(matches!(e, DfsError::Unreachable { .. }), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn write_bytes_slices_packets_without_copying() {
    let f = start(2, 2, false).await;
    let bytes = Bytes::from(data(3 * BLOCK as usize + 777));
    let mut w = f
        .client
        .create("/zc", CreateOptions::default())
        .await
        .unwrap();
    // Uneven pieces: partial packets, several packets, block-crossing.
    let mut off = 0;
    for step in [10usize, 65_536, 130_000, 1, 300_000].iter().cycle() {
        if off >= bytes.len() {
            break;
        }
        let end = (off + step).min(bytes.len());
        w.write_bytes(bytes.slice(off..end)).await.unwrap();
        off = end;
    }
    assert_eq!(w.bytes_written(), bytes.len() as u64);
    w.close().await.unwrap();
    {
        let s = f.nn.0.lock();
        let (blocks, sha, _) = &s.files["/zc"];
        assert_eq!(blocks.len(), 4);
        assert!(blocks[..3]
            .iter()
            .all(|b| b.block.unwrap().num_bytes == BLOCK));
        assert_eq!(sha.as_slice(), Sha256::digest(&bytes).as_slice());
    }
    assert!(f.client.read_file("/zc").await.unwrap() == bytes);
}
