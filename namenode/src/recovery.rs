//! Runs a block recovery against the datanodes: lease recovery's second
//! half (the namesystem's half, and the rules, are in `fsn_lease.rs`).
//!
//! Outside the namesystem lock: INIT on every possible holder (each stops
//! its writer and says what it holds), the agreed length from the answers,
//! FINALIZE on the holders that have it (each cuts its replica, verifies it,
//! finalizes it under the new stamp and reports it), then one namesystem
//! mutation records the outcome and closes the file.

use crate::fsn::lease::{agreed_length, BlockRecovery, RecoveryOutcome, ReplicaState};
use crate::rpc::NamenodeState;
use std::sync::Arc;
use std::time::Duration;
use tusk_common::security::ClusterSecret;
use tusk_proto as pb;
use tusk_proto::data_transfer_client::DataTransferClient;

/// Bound on one RecoverReplica call (FINALIZE reads the whole replica).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on connecting to a datanode.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Recovers `rec`'s block and commits the outcome.
pub async fn run(state: Arc<NamenodeState>, rec: BlockRecovery) {
    let outcome = recover(&rec, &state.secret).await;
    if let Err(e) = state
        .mutate(|f| f.commit_block_synchronization(&rec, &outcome))
        .await
    {
        tracing::error!(file = %rec.file, block_id = rec.block.id, error = %e, "block recovery: cannot record the outcome");
    }
}

/// One RecoverReplica call, with node authentication: datanodes accept it
/// only from a holder of the cluster secret (a client must never be able to
/// cut a replica).
async fn call(
    secret: &ClusterSecret,
    addr: &str,
    req: pb::RecoverReplicaRequest,
) -> Result<pb::RecoverReplicaResponse, String> {
    let endpoint = tusk_common::net::endpoint(addr)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let mut req = tonic::Request::new(req);
    secret.sign_request(&mut req);
    DataTransferClient::new(channel)
        .recover_replica(req)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| s.message().to_string())
}

async fn recover(rec: &BlockRecovery, secret: &ClusterSecret) -> RecoveryOutcome {
    use pb::recover_replica_request::Phase;
    let init = futures::future::join_all(rec.targets.iter().map(|(uuid, addr)| async move {
        let req = pb::RecoverReplicaRequest {
            phase: Phase::Init as i32,
            block_id: rec.block.id,
            new_genstamp: rec.new_genstamp,
            length: 0,
        };
        (uuid, addr, call(secret, addr, req).await)
    }))
    .await;
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    let mut stale = 0;
    for (uuid, addr, r) in init {
        match r {
            Ok(r) if r.exists => {
                if r.genstamp < rec.block.genstamp {
                    stale += 1;
                }
                answers.push(ReplicaState {
                    uuid: uuid.clone(),
                    finalized: r.finalized,
                    genstamp: r.genstamp,
                    len: r.num_bytes,
                })
            }
            Ok(_) => {}
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    tracing::debug!(file = %rec.file, block_id = rec.block.id, ?answers, ?errors, "block recovery: replica states");
    let Some((len, holders)) = agreed_length(rec.block, &answers) else {
        return if errors.is_empty() && stale == 0 {
            RecoveryOutcome::NoReplicas
        } else {
            RecoveryOutcome::Failed(format!(
                "no replica at the current generation stamp answered ({stale} stale; errors: {})",
                if errors.is_empty() {
                    "none".to_string()
                } else {
                    errors.join("; ")
                }
            ))
        };
    };
    let addr_of = |u: &str| {
        rec.targets
            .iter()
            .find(|(x, _)| x == u)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    let done = futures::future::join_all(holders.iter().map(|uuid| {
        let addr = addr_of(uuid);
        async move {
            let req = pb::RecoverReplicaRequest {
                phase: Phase::Finalize as i32,
                block_id: rec.block.id,
                new_genstamp: rec.new_genstamp,
                length: len,
            };
            (uuid.clone(), addr.clone(), call(secret, &addr, req).await)
        }
    }))
    .await;
    let mut nodes = Vec::new();
    for (uuid, addr, r) in done {
        match r {
            Ok(r) if r.num_bytes == len && r.genstamp == rec.new_genstamp => nodes.push(uuid),
            Ok(r) => errors.push(format!(
                "{addr}: finalized {} bytes at stamp {} instead of {len} at {}",
                r.num_bytes, r.genstamp, rec.new_genstamp
            )),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    if nodes.is_empty() {
        RecoveryOutcome::Failed(format!(
            "no holder could finalize {len} bytes: {}",
            errors.join("; ")
        ))
    } else {
        if !errors.is_empty() {
            tracing::warn!(file = %rec.file, block_id = rec.block.id, errors = %errors.join("; "), "block recovery: some holders failed");
        }
        RecoveryOutcome::Finalized { len, nodes }
    }
}
