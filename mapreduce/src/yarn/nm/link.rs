//! The node manager's side of ResourceTracker: register, heartbeat, and act
//! on the answers (kill containers, clean up finished applications).

use super::Nm;
use crate::yarn::pb;
use crate::yarn::pb::resource_tracker_client::ResourceTrackerClient;
use crate::yarn::{exit, pb_res, sleep_or_stop};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::{info, warn};

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run(
    nm: Arc<Nm>,
    mut rm: ResourceTrackerClient<Channel>,
    registered: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut interval = nm.heartbeat_interval;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        if !*registered.borrow() {
            let req = pb::RegisterNodeManagerRequest {
                node_id: nm.node_id.clone(),
                host: nm.host.clone(),
                rpc_addr: nm.rpc_adv.clone(),
                shuffle_addr: nm.shuffle_adv.clone(),
                http_addr: nm.http_adv.clone(),
                capability: Some(pb_res(nm.capability)),
                containers: nm.statuses(true),
            };
            let mut req = tonic::Request::new(req);
            nm.secret.sign_request(&mut req);
            match tokio::time::timeout(RPC_TIMEOUT, rm.register_node_manager(req)).await {
                Ok(Ok(resp)) => {
                    let r = resp.into_inner();
                    if r.heartbeat_interval_ms > 0 {
                        interval = Duration::from_millis(r.heartbeat_interval_ms);
                    }
                    info!(node = %nm.node_id, rm = %nm.rm_addr, rack = %r.rack, "registered with the resource manager");
                    registered.send_replace(true);
                    failures = 0;
                }
                Ok(Err(e)) => {
                    failures += 1;
                    if e.code() == tonic::Code::Unauthenticated {
                        if failures % 10 == 1 {
                            warn!(node = %nm.node_id, rm = %nm.rm_addr, "the resource manager refused us: {} (is our cluster secret the resource manager's?)", e.message());
                        }
                    } else if failures % 10 == 1 {
                        warn!(node = %nm.node_id, rm = %nm.rm_addr, "cannot register with the resource manager: {}", e.message());
                    }
                    if sleep_or_stop(backoff(failures, interval), &mut stop).await {
                        return;
                    }
                    continue;
                }
                Err(_) => {
                    failures += 1;
                    if failures % 10 == 1 {
                        warn!(node = %nm.node_id, rm = %nm.rm_addr, "registering with the resource manager timed out");
                    }
                    if sleep_or_stop(backoff(failures, interval), &mut stop).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let req = pb::NodeHeartbeatRequest {
            node_id: nm.node_id.clone(),
            containers: nm.statuses(false),
        };
        let mut req = tonic::Request::new(req);
        nm.secret.sign_request(&mut req);
        match tokio::time::timeout(RPC_TIMEOUT, rm.node_heartbeat(req)).await {
            Ok(Ok(resp)) => {
                failures = 0;
                let r = resp.into_inner();
                if r.heartbeat_interval_ms > 0 {
                    interval = Duration::from_millis(r.heartbeat_interval_ms);
                }
                act(&nm, r.clone());
                if r.reregister {
                    info!(node = %nm.node_id, "the resource manager asks us to register again");
                    registered.send_replace(false);
                    continue;
                }
            }
            Ok(Err(e)) => {
                failures += 1;
                if failures % 10 == 1 {
                    warn!(node = %nm.node_id, rm = %nm.rm_addr, "heartbeat failed: {}", e.message());
                }
            }
            Err(_) => {
                failures += 1;
                if failures % 10 == 1 {
                    warn!(node = %nm.node_id, rm = %nm.rm_addr, "heartbeat timed out");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = nm.heartbeat_now.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn backoff(failures: u32, interval: Duration) -> Duration {
    (Duration::from_millis(100) * 2u32.saturating_pow(failures.min(6)))
        .min(interval.max(Duration::from_millis(200)))
}

fn act(nm: &Arc<Nm>, r: pb::NodeHeartbeatResponse) {
    {
        let m = nm.containers.lock();
        for id in &r.acknowledged {
            if let Some(c) = m.get(id) {
                c.ack();
            }
        }
        for id in &r.containers_to_kill {
            if let Some(c) = m.get(id) {
                c.stop(
                    exit::KILLED_BY_RESOURCEMANAGER,
                    "killed by the resource manager",
                );
            }
        }
    }
    for app in r.finished_apps {
        let nm = nm.clone();
        tokio::spawn(async move { nm.cleanup_app(&app).await });
    }
}
