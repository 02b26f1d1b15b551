//! Self-healing and administration on the namesystem: the replication
//! monitor's pass (decisions in [`crate::replication`], applied here as
//! queued DELETE/REPLICATE commands), decommissioning, safe mode, fsck.

use super::*;
use crate::balancer::{self, Balancer, BalancerStatus, MoveCandidate, NodeUsage};
use crate::datanodes::Datanode;
use crate::replication::{self, BlockView, NodeView, Plan};
use std::collections::HashMap;

/// Blocks of one over-used datanode examined per balancer pass (bounds the
/// time a pass holds the namesystem lock on a node with millions of blocks).
const BALANCER_SCAN_PER_NODE: usize = 2048;
/// Movable blocks handed to the balancer per over-used datanode and pass.
const BALANCER_CANDIDATES_PER_NODE: usize = 256;

/// What one replication pass did (for logs and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    pub scheduled: usize,
    pub deletions: usize,
    pub under_replicated: u64,
    pub missing: u64,
    pub timed_out: u64,
}

fn check_superuser(caller: &Caller, what: &str) -> NnResult<()> {
    if caller.superuser {
        Ok(())
    } else {
        Err(NnError::PermissionDenied(format!(
            "Access denied for user {}. Superuser privilege is required to {what}",
            caller.user
        )))
    }
}

impl FsNamesystem {
    /// Every registered datanode as the replication logic sees it.
    fn node_views(&self) -> HashMap<String, NodeView> {
        self.dns
            .iter()
            .map(|n| {
                (
                    n.id.uuid.clone(),
                    NodeView {
                        cand: Candidate {
                            uuid: n.id.uuid.clone(),
                            host: n.id.host.clone(),
                            rack: n.id.rack.clone(),
                            remaining: n.stats.remaining,
                            load: n.xceivers,
                        },
                        live: n.live,
                        admin: n.admin,
                    },
                )
            })
            .collect()
    }

    /// (under-replicated, with a corrupt replica, missing) counting only
    /// live in-service replicas as live.
    pub(super) fn health_counts(&self) -> (u64, u64, u64) {
        let nodes = self.node_views();
        let (mut under, mut corrupt, mut missing) = (0, 0, 0);
        for (id, b) in self.blocks.iter() {
            if !b.corrupt.is_empty() {
                corrupt += 1;
            }
            if !b.complete {
                continue;
            }
            let v = BlockView {
                block: b.block(id),
                expected: b.replication,
                good: &b.locations,
                corrupt: &b.corrupt,
                busy: &[],
            };
            let c = replication::counts(&v, &nodes);
            if c.readable() == 0 {
                missing += 1;
            } else if c.live < b.replication as usize {
                under += 1;
            }
        }
        (under, corrupt, missing)
    }

    /// Blocks with a copy in flight.
    pub fn pending_replications(&self) -> usize {
        self.repl.pending_count()
    }

    /// Copies scheduled since the namenode started.
    pub fn replications_scheduled(&self) -> u64 {
        self.repl.scheduled_total
    }

    /// One replication monitor pass: schedules copies of under-replicated
    /// blocks and deletions of corrupt and excess replicas (sent on the
    /// nodes' next heartbeats), and advances decommissioning. Does nothing
    /// in safe mode.
    pub fn compute_replication_work(&mut self, now: Instant) -> PassSummary {
        if self.safe.on {
            return PassSummary::default();
        }
        self.balancer_pass(now);
        let nodes = self.node_views();
        let mut busy: HashMap<u64, Vec<String>> = HashMap::new();
        for n in self.dns.iter() {
            for b in &n.pending_deletes {
                busy.entry(b.id).or_default().push(n.id.uuid.clone());
            }
        }
        let empty: Vec<String> = Vec::new();
        let views: Vec<BlockView> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.complete)
            .map(|(id, b)| BlockView {
                block: b.block(id),
                expected: b.replication,
                good: &b.locations,
                corrupt: &b.corrupt,
                busy: busy.get(&id).unwrap_or(&empty),
            })
            .collect();
        let plan: Plan = self
            .repl
            .compute(now, &views, &nodes, &mut rand::thread_rng());
        // Decommission progress: blocks on each draining node that still
        // lack live replicas elsewhere.
        let mut short: HashMap<String, u64> = HashMap::new();
        for v in &views {
            let c = replication::counts(v, &nodes);
            if c.decommissioning > 0 && c.live < v.expected as usize {
                for u in v.good {
                    if nodes
                        .get(u)
                        .is_some_and(|n| n.live && n.admin != AdminState::InService)
                    {
                        *short.entry(u.clone()).or_default() += 1;
                    }
                }
            }
        }
        drop(views);

        let summary = PassSummary {
            scheduled: plan.replicate.len(),
            deletions: plan.delete.len(),
            under_replicated: plan.under_replicated,
            missing: plan.missing,
            timed_out: plan.timed_out,
        };
        for t in plan.replicate {
            let targets: Vec<DatanodeId> = t
                .targets
                .iter()
                .filter_map(|u| self.dns.get(u).map(|n| n.id.clone()))
                .collect();
            tracing::info!(block_id = t.block.id, source = %t.source, targets = ?t.targets, "scheduling replication");
            self.dns.queue_copy(&t.source, t.block, targets);
        }
        for (node, b) in plan.delete {
            tracing::info!(block_id = b.id, node = %node, "scheduling deletion of a corrupt or excess replica");
            self.dns.queue_delete(&node, b);
            self.blocks.remove_location(b.id, &node);
        }
        let draining: Vec<String> = self
            .dns
            .iter()
            .filter(|n| n.live && n.admin == AdminState::Decommissioning)
            .map(|n| n.id.uuid.clone())
            .collect();
        let mut done = Vec::new();
        for uuid in draining {
            let left = short.get(&uuid).copied().unwrap_or(0);
            if let Some(n) = self.dns.get_mut(&uuid) {
                n.blocks_to_replicate = left;
                if left == 0 {
                    n.admin = AdminState::Decommissioned;
                    tracing::info!(node = %uuid, addr = %n.id.data_addr, "decommission complete");
                    done.push((uuid.clone(), AdminState::Decommissioned));
                }
            }
        }
        if let Err(e) = self.record_admin(done) {
            tracing::error!(error = %e, "cannot record decommissioned datanodes");
        }
        if summary.scheduled > 0 || summary.deletions > 0 {
            tracing::debug!(?summary, "replication pass");
        }
        summary
    }

    // ------------------------------------------------------------ balancer

    /// The balancer's share of a replication pass: finished moves lose
    /// their source replica (the balancer's choice, so the excess rule never
    /// sees the block over-replicated and deletes the new replica instead),
    /// failed ones are dropped, and new moves go out as REPLICATE commands.
    fn balancer_pass(&mut self, now: Instant) {
        let Some(bal) = self.balancer.as_mut() else {
            return;
        };
        if !bal.running() {
            return;
        }
        let in_flight: Vec<(u64, String, String)> = bal
            .in_flight()
            .map(|m| (m.block.id, m.source.clone(), m.target.clone()))
            .collect();
        for (id, src, tgt) in in_flight {
            let Some(info) = self.blocks.get(id) else {
                bal.failed(id);
                continue;
            };
            if !info.locations.contains(&src) {
                bal.failed(id);
            } else if info.locations.contains(&tgt) {
                let live_without_source = info
                    .locations
                    .iter()
                    .filter(|u| *u != &src && self.dns.live(u).is_some_and(|n| n.in_service()))
                    .count();
                let (blk, enough) = (
                    info.block(id),
                    live_without_source >= info.replication as usize,
                );
                bal.finished(id);
                if enough {
                    tracing::info!(block_id = id, source = %src, target = %tgt, "balancer: move done; deleting the source replica");
                    self.dns.queue_delete(&src, blk);
                    self.blocks.remove_location(id, &src);
                }
            }
        }
        bal.expire(now);

        // Use per live in-service datanode, from the block map.
        let mut used: HashMap<&str, u64> = HashMap::new();
        let mut deleting: HashMap<u64, Vec<String>> = HashMap::new();
        for n in self.dns.iter() {
            for b in &n.pending_deletes {
                deleting.entry(b.id).or_default().push(n.id.uuid.clone());
            }
        }
        for (_, info) in self.blocks.iter() {
            for u in &info.locations {
                *used.entry(u.as_str()).or_default() += info.num_bytes;
            }
        }
        let nodes: Vec<NodeUsage> = self
            .dns
            .iter()
            .filter(|n| n.live && n.in_service() && n.stats.capacity > 0)
            .map(|n| NodeUsage {
                uuid: n.id.uuid.clone(),
                rack: n.id.rack.clone(),
                capacity: n.stats.capacity,
                used: used.get(n.id.uuid.as_str()).copied().unwrap_or(0),
                remaining: n.stats.remaining,
            })
            .collect();
        let mean = balancer::assess(&nodes, bal.threshold).mean_pct;
        let mut candidates: HashMap<String, Vec<MoveCandidate>> = HashMap::new();
        for n in &nodes {
            if (n.used as f64) * 100.0 <= mean * n.capacity as f64 {
                continue;
            }
            let Some(dn) = self.dns.get(&n.uuid) else {
                continue;
            };
            let mut list = Vec::new();
            for &id in dn.blocks.iter().take(BALANCER_SCAN_PER_NODE) {
                if list.len() >= BALANCER_CANDIDATES_PER_NODE {
                    break;
                }
                let Some(info) = self.blocks.get(id) else {
                    continue;
                };
                if !info.complete
                    || !info.corrupt.is_empty()
                    || !info.locations.contains(&n.uuid)
                    || bal.moving(id)
                    || self.repl.is_pending(id)
                {
                    continue;
                }
                let live: Vec<&Datanode> = info
                    .locations
                    .iter()
                    .filter_map(|u| self.dns.live(u))
                    .filter(|d| d.in_service())
                    .collect();
                // Only blocks at exactly their replication: the monitor
                // owns the others.
                if live.len() != info.replication as usize {
                    continue;
                }
                let mut excluded: Vec<String> = info
                    .locations
                    .iter()
                    .chain(info.corrupt.iter())
                    .cloned()
                    .collect();
                excluded.extend(deleting.get(&id).into_iter().flatten().cloned());
                list.push(MoveCandidate {
                    block: info.block(id),
                    racks: live.iter().map(|d| d.id.rack.clone()).collect(),
                    excluded,
                });
            }
            list.sort_by_key(|t| std::cmp::Reverse(t.block.num_bytes));
            candidates.insert(n.uuid.clone(), list);
        }
        let moves = bal.pass(now, &nodes, &candidates);
        if let Some(outcome) = &bal.outcome {
            tracing::info!(outcome = %outcome, moved = bal.bytes_moved, "balancer run ended");
        }
        for m in moves {
            let Some(target) = self.dns.get(&m.target).map(|n| n.id.clone()) else {
                continue;
            };
            tracing::info!(block_id = m.block.id, source = %m.source, target = %m.target, "balancer: moving a replica");
            self.dns.queue_copy(&m.source, m.block, vec![target]);
        }
    }

    /// `dfs admin balancer`: STATUS (anyone) reports the current or last
    /// run; START (superuser) starts a run with `threshold` percentage
    /// points (0 → 10) or changes the running one's; STOP (superuser) ends
    /// it, leaving the moves in flight to finish as plain copies whose
    /// excess the monitor removes.
    pub fn balancer(
        &mut self,
        caller: &Caller,
        action: BalancerAction,
        threshold: f64,
        max_moves_per_node: usize,
    ) -> NnResult<BalancerStatus> {
        match action {
            BalancerAction::Status => {}
            BalancerAction::Start => {
                check_superuser(caller, "run the balancer")?;
                let threshold = if threshold == 0.0 {
                    balancer::DEFAULT_THRESHOLD
                } else {
                    threshold
                };
                if !(threshold > 0.0 && threshold <= 100.0) {
                    return Err(NnError::InvalidArgument(format!(
                        "balancer threshold {threshold} is not in (0, 100] percentage points"
                    )));
                }
                let per_node = if max_moves_per_node == 0 {
                    balancer::DEFAULT_MAX_MOVES_PER_NODE
                } else {
                    max_moves_per_node
                };
                match self.balancer.as_mut() {
                    Some(b) if b.running() => {
                        b.threshold = threshold;
                        b.max_moves_per_node = per_node;
                    }
                    _ => {
                        tracing::info!(user = %caller.user, threshold, "balancer started");
                        self.balancer = Some(Balancer::new(
                            threshold,
                            per_node,
                            self.cfg.pending_replication_timeout,
                        ));
                    }
                }
            }
            BalancerAction::Stop => {
                check_superuser(caller, "stop the balancer")?;
                if let Some(b) = self.balancer.as_mut().filter(|b| b.running()) {
                    b.stop();
                    tracing::info!(user = %caller.user, "balancer stopped");
                }
            }
        }
        Ok(self
            .balancer
            .as_ref()
            .map(|b| b.status())
            .unwrap_or_default())
    }

    // ------------------------------------------------------------ admin

    /// `dfsadmin -safemode get|enter|leave`; returns whether safe mode is on
    /// afterwards. GET is open to everyone; the others need a superuser.
    pub fn set_safe_mode(&mut self, caller: &Caller, action: SafeModeAction) -> NnResult<bool> {
        match action {
            SafeModeAction::Get => {}
            SafeModeAction::Enter => {
                check_superuser(caller, "enter safe mode")?;
                self.enter_safe_mode();
                tracing::info!(user = %caller.user, "safe mode entered by an administrator");
            }
            SafeModeAction::Leave => {
                check_superuser(caller, "leave safe mode")?;
                self.leave_safe_mode();
            }
        }
        Ok(self.safe.on)
    }

    fn set_admin(
        &mut self,
        caller: &Caller,
        spec: &str,
        what: &str,
        to: AdminState,
    ) -> NnResult<Vec<DatanodeId>> {
        check_superuser(caller, what)?;
        let uuids = self.dns.matching(spec);
        if uuids.is_empty() {
            return Err(NnError::InvalidArgument(format!(
                "Cannot {what} {spec}: no registered datanode has that uuid, address or host"
            )));
        }
        let mut out = Vec::new();
        for u in uuids {
            if let Some(n) = self.dns.get_mut(&u) {
                let changes = match to {
                    AdminState::InService => n.admin != AdminState::InService,
                    _ => n.admin == AdminState::InService,
                };
                if changes {
                    n.admin = to;
                    n.blocks_to_replicate = 0;
                    tracing::info!(node = %u, addr = %n.id.data_addr, user = %caller.user, state = to.as_str(), "datanode admin state changed");
                }
                out.push(n.id.clone());
            }
        }
        self.record_admin(out.iter().map(|n| (n.uuid.clone(), to)).collect())?;
        Ok(out)
    }

    /// Persists datanodes' admin states (applied again at registration
    /// after a namenode restart).
    fn record_admin(&mut self, states: Vec<(String, AdminState)>) -> NnResult<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut txn = Txn::default();
        for (u, s) in states {
            txn.put_admin(&u, s);
            match s {
                AdminState::InService => self.admin.remove(&u),
                s => self.admin.insert(u, s),
            };
        }
        self.ns.commit(txn)
    }

    /// Starts decommissioning the datanodes `spec` names (uuid, data
    /// address, or host): their replicas are copied to other nodes while
    /// they keep serving reads; then they become Decommissioned.
    pub fn decommission(&mut self, caller: &Caller, spec: &str) -> NnResult<Vec<DatanodeId>> {
        self.set_admin(caller, spec, "decommission", AdminState::Decommissioning)
    }

    /// Returns decommissioning/decommissioned datanodes to service (excess
    /// replicas are then deleted by the monitor).
    pub fn recommission(&mut self, caller: &Caller, spec: &str) -> NnResult<Vec<DatanodeId>> {
        self.set_admin(caller, spec, "recommission", AdminState::InService)
    }

    /// The health of one block for fsck.
    fn fsck_block(&self, b: Block, nodes: &HashMap<String, NodeView>, racks: usize) -> FsckBlock {
        let ids = |list: &[String]| -> Vec<DatanodeId> {
            list.iter()
                .filter_map(|u| self.dns.live(u).map(|n| n.id.clone()))
                .collect()
        };
        let Some(info) = self.blocks.get(b.id) else {
            return FsckBlock {
                block: b,
                health: BlockHealth::Missing,
                live: 0,
                expected: 0,
                locations: Vec::new(),
                corrupt_locations: Vec::new(),
                over_replicated: false,
                mis_replicated: false,
            };
        };
        let v = BlockView {
            block: b,
            expected: info.replication,
            good: &info.locations,
            corrupt: &info.corrupt,
            busy: &[],
        };
        let c = replication::counts(&v, nodes);
        let locations = ids(&info.locations);
        let corrupt_locations = ids(&info.corrupt);
        let health = if !info.complete {
            BlockHealth::UnderConstruction
        } else if c.readable() == 0 && !corrupt_locations.is_empty() {
            BlockHealth::Corrupt
        } else if c.readable() == 0 {
            BlockHealth::Missing
        } else if c.live < info.replication as usize {
            BlockHealth::UnderReplicated
        } else {
            BlockHealth::Ok
        };
        let block_racks: HashSet<&str> = locations.iter().map(|d| d.rack.as_str()).collect();
        FsckBlock {
            block: Block {
                num_bytes: info.num_bytes,
                ..b
            },
            health,
            live: c.live as u32,
            expected: info.replication,
            over_replicated: info.complete && c.live > info.replication as usize,
            mis_replicated: racks > 1 && locations.len() > 1 && block_racks.len() < 2,
            locations,
            corrupt_locations,
        }
    }

    /// `fsck PATH`: every file below `path` with its blocks' health (only
    /// the unhealthy files unless `all_files`), and HDFS's summary.
    /// Superuser only. In one go; [`crate::rpc::NamenodeState::fsck`]
    /// walks in steps.
    pub fn fsck(&self, caller: &Caller, path: &str, all_files: bool) -> NnResult<FsckReport> {
        let mut w = self.fsck_begin(caller, path, all_files)?;
        while !self.fsck_step(&mut w, caller, usize::MAX)? {}
        Ok(w.finish())
    }

    /// Starts an fsck of `path` (see [`SubtreeWalk`]).
    pub fn fsck_begin(&self, caller: &Caller, path: &str, all_files: bool) -> NnResult<FsckWalk> {
        check_superuser(caller, &format!("run fsck on {path}"))?;
        let ip = self.resolve(path)?;
        let root = ip.last().cloned().ok_or_else(|| ip.not_found())?;
        let cx = self.fsck_context(all_files);
        let mut report = FsckReport {
            default_replication: self.cfg.default_replication,
            datanodes: self.dns.live_count() as u64,
            racks: cx.racks as u64,
            ..FsckReport::default()
        };
        let walk = SubtreeWalk::begin(&root, path, caller, None, &mut |i, p| {
            self.fsck_visit(&cx, &mut report, i, p)
        })?;
        Ok(FsckWalk {
            walk,
            report,
            all_files,
        })
    }

    /// Checks about `budget` more inodes; true when done.
    pub fn fsck_step(&self, w: &mut FsckWalk, caller: &Caller, budget: usize) -> NnResult<bool> {
        // The datanodes as they are now: they may have changed since the
        // last step.
        let cx = self.fsck_context(w.all_files);
        let report = &mut w.report;
        w.walk.step(&self.ns, caller, budget, &mut |i, p| {
            self.fsck_visit(&cx, report, i, p)
        })
    }

    fn fsck_context(&self, all_files: bool) -> FsckContext {
        let racks: HashSet<&str> = self
            .dns
            .iter()
            .filter(|n| n.live)
            .map(|n| n.id.rack.as_str())
            .collect();
        FsckContext {
            nodes: self.node_views(),
            racks: racks.len(),
            all_files,
        }
    }

    /// Adds one inode to the report.
    fn fsck_visit(&self, cx: &FsckContext, r: &mut FsckReport, i: &Inode, p: &str) {
        if i.is_dir() {
            r.total_dirs += 1;
            return;
        }
        r.total_files += 1;
        r.total_size = r.total_size.saturating_add(i.length);
        let blocks: Vec<FsckBlock> = i
            .blocks
            .iter()
            .map(|b| self.fsck_block(*b, &cx.nodes, cx.racks))
            .collect();
        let mut healthy = true;
        for b in &blocks {
            r.total_blocks += 1;
            r.total_replicas += b.locations.len() as u64;
            if !b.locations.is_empty() {
                r.minimally_replicated += 1;
            }
            match b.health {
                BlockHealth::UnderReplicated => {
                    r.under_replicated += 1;
                    healthy = false;
                }
                BlockHealth::Corrupt => {
                    r.corrupt_blocks += 1;
                    r.missing_size = r.missing_size.saturating_add(b.block.num_bytes);
                    healthy = false;
                }
                BlockHealth::Missing => {
                    r.missing_blocks += 1;
                    r.missing_size = r.missing_size.saturating_add(b.block.num_bytes);
                    healthy = false;
                }
                BlockHealth::Ok | BlockHealth::UnderConstruction => {}
            }
            r.over_replicated += u64::from(b.over_replicated);
            r.mis_replicated += u64::from(b.mis_replicated);
        }
        if cx.all_files || !healthy {
            r.files.push(FsckFile {
                path: p.to_string(),
                length: i.length,
                replication: i.replication,
                under_construction: i.under_construction(),
                blocks,
            });
        }
    }
}

/// An fsck taken in steps ([`FsNamesystem::fsck_step`]).
pub struct FsckWalk {
    walk: SubtreeWalk,
    report: FsckReport,
    all_files: bool,
}

impl FsckWalk {
    /// The report, files in path order.
    pub fn finish(mut self) -> FsckReport {
        self.report.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.report
    }
}

/// What checking a file's blocks needs from the namesystem.
struct FsckContext {
    nodes: HashMap<String, NodeView>,
    racks: usize,
    all_files: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    fn fsn() -> FsNamesystem {
        let cfg = CoreConfig {
            superuser: "root".into(),
            ..CoreConfig::default()
        };
        FsNamesystem::open(
            Arc::new(MemStore::new()),
            cfg,
            Topology::default(),
            Instant::now(),
        )
        .unwrap()
    }

    fn stats() -> StorageStats {
        StorageStats {
            capacity: 1 << 40,
            used: 0,
            remaining: 1 << 40,
        }
    }

    fn dn(f: &mut FsNamesystem, i: usize, now: Instant) -> String {
        let uuid = format!("dn{i}");
        f.register_datanode(
            DatanodeId {
                uuid: uuid.clone(),
                host: format!("10.0.0.{i}"),
                data_addr: format!("10.0.0.{i}:9866"),
                http_addr: String::new(),
                rack: String::new(),
            },
            stats(),
            now,
        );
        uuid
    }

    fn root() -> Caller {
        Caller::new("root", vec![], "root", "supergroup")
    }

    /// A closed one-block file whose replicas are on `on`.
    fn file(f: &mut FsNamesystem, path: &str, on: &[&str]) -> Block {
        let c = root();
        let args = CreateArgs {
            path,
            permission: 0o644,
            client_name: "w",
            overwrite: false,
            create_parent: true,
            replication: 3,
            block_size: 0,
        };
        f.create(&c, &args, Instant::now()).unwrap();
        let lb = f
            .add_block(&AddBlockArgs {
                path,
                client_name: "w",
                file_id: 0,
                previous: None,
                excluded: &[],
                writer_host: "",
            })
            .unwrap();
        let b = Block {
            num_bytes: 10,
            ..lb.block
        };
        for n in on {
            f.block_received_and_deleted(n, &[b], &[]);
        }
        assert!(f.complete(path, "w", 0, Some(b), b"").unwrap());
        b
    }

    #[test]
    fn copies_go_out_on_the_source_heartbeat_and_excess_is_deleted() {
        let t0 = Instant::now();
        let mut f = fsn();
        let ids: Vec<String> = (0..4).map(|i| dn(&mut f, i, t0)).collect();
        f.leave_safe_mode();
        let b = file(&mut f, "/f", &["dn0", "dn1"]);
        let s = f.compute_replication_work(t0);
        assert_eq!((s.scheduled, s.under_replicated), (1, 1));
        assert_eq!(f.pending_replications(), 1);
        let src = ids
            .iter()
            .find(|u| f.dns.get(u).is_some_and(|n| !n.pending_copies.is_empty()))
            .cloned()
            .unwrap();
        let cmds = f.heartbeat(&src, stats(), 0, t0);
        let Command::Replicate(list) = &cmds[0] else {
            panic!("expected REPLICATE, got {cmds:?}");
        };
        let target = list[0].1[0].uuid.clone();
        assert!(target == "dn2" || target == "dn3");
        f.block_received_and_deleted(&target, &[b], &[]);
        assert_eq!(f.pending_replications(), 0);
        assert_eq!(f.compute_replication_work(t0).scheduled, 0);
        // Lower the replication: one replica is deleted.
        f.set_replication(&root(), "/f", 2).unwrap();
        let s = f.compute_replication_work(t0);
        assert_eq!(s.deletions, 1);
        assert_eq!(f.block_map().get(b.id).unwrap().locations.len(), 2);
    }

    #[test]
    fn decommission_drains_then_completes_and_admin_needs_superuser() {
        let t0 = Instant::now();
        let mut f = fsn();
        for i in 0..4 {
            dn(&mut f, i, t0);
        }
        f.leave_safe_mode();
        let b = file(&mut f, "/f", &["dn0", "dn1", "dn2"]);
        let nobody = Caller::new("bob", vec![], "root", "supergroup");
        assert!(matches!(
            f.decommission(&nobody, "dn0"),
            Err(NnError::PermissionDenied(_))
        ));
        assert!(matches!(
            f.set_safe_mode(&nobody, SafeModeAction::Enter),
            Err(NnError::PermissionDenied(_))
        ));
        assert!(!f.set_safe_mode(&nobody, SafeModeAction::Get).unwrap());
        assert!(matches!(
            f.decommission(&root(), "nosuch"),
            Err(NnError::InvalidArgument(_))
        ));
        assert_eq!(f.decommission(&root(), "10.0.0.0").unwrap().len(), 1);
        let s = f.compute_replication_work(t0);
        assert_eq!(s.scheduled, 1);
        let r = f.datanode_report(t0);
        let d0 = r.iter().find(|d| d.id.uuid == "dn0").unwrap();
        assert_eq!(d0.admin_state, AdminState::Decommissioning);
        assert_eq!(d0.blocks_to_replicate, 1);
        f.block_received_and_deleted("dn3", &[b], &[]);
        f.compute_replication_work(t0);
        assert_eq!(f.dns.get("dn0").unwrap().admin, AdminState::Decommissioned);
        // Recommissioned: four live replicas, one is deleted.
        f.recommission(&root(), "dn0").unwrap();
        assert_eq!(f.compute_replication_work(t0).deletions, 1);
    }

    #[test]
    fn fsck_reports_corrupt_and_missing() {
        let t0 = Instant::now();
        let mut f = fsn();
        for i in 0..3 {
            dn(&mut f, i, t0);
        }
        f.leave_safe_mode();
        let b = file(&mut f, "/d/ok", &["dn0", "dn1", "dn2"]);
        let r = f.fsck(&root(), "/", false).unwrap();
        assert_eq!((r.total_files, r.total_blocks), (1, 1));
        assert!(r.files.is_empty());
        assert_eq!(r.corrupt_blocks + r.missing_blocks + r.under_replicated, 0);
        let bad: Vec<(Block, String)> = ["dn0", "dn1", "dn2"]
            .iter()
            .map(|n| (b, n.to_string()))
            .collect();
        f.report_bad_blocks(&bad);
        let r = f.fsck(&root(), "/d", true).unwrap();
        assert_eq!(r.corrupt_blocks, 1);
        assert_eq!(r.files[0].path, "/d/ok");
        // In steps (as the RPC runs it, giving the lock back in between):
        // the same report.
        for p in ["/d/sub/a", "/d/sub/b", "/d/z"] {
            file(&mut f, p, &["dn0", "dn1"]);
        }
        let whole = f.fsck(&root(), "/d", true).unwrap();
        assert_eq!((whole.total_files, whole.total_dirs), (4, 2));
        let mut w = f.fsck_begin(&root(), "/d", true).unwrap();
        let mut steps = 1;
        while !f.fsck_step(&mut w, &root(), 1).unwrap() {
            steps += 1;
        }
        assert!(steps >= 2, "{steps} steps");
        assert_eq!(w.finish(), whole);
        assert_eq!(r.files[0].blocks[0].health, BlockHealth::Corrupt);
        // All-corrupt blocks are not deleted (nothing to replace them from).
        assert_eq!(f.compute_replication_work(t0).deletions, 0);
        assert!(matches!(
            f.fsck(&Caller::new("bob", vec![], "root", "s"), "/", false),
            Err(NnError::PermissionDenied(_))
        ));
    }

    #[test]
    fn the_balancer_moves_replicas_and_deletes_the_source_not_the_new_copy() {
        let t0 = Instant::now();
        let mut f = fsn();
        for i in 0..3 {
            dn(&mut f, i, t0);
        }
        f.leave_safe_mode();
        // Six 10-byte blocks at replication 1, all on dn0.
        let blocks: Vec<Block> = (0..6)
            .map(|i| {
                let p = format!("/b/{i}");
                let b = file(&mut f, &p, &["dn0"]);
                f.set_replication(&root(), &p, 1).unwrap();
                b
            })
            .collect();
        let nobody = Caller::new("bob", vec![], "root", "supergroup");
        assert!(matches!(
            f.balancer(&nobody, BalancerAction::Start, 0.0, 0),
            Err(NnError::PermissionDenied(_))
        ));
        assert!(
            !f.balancer(&nobody, BalancerAction::Status, 0.0, 0)
                .unwrap()
                .running
        );
        assert!(matches!(
            f.balancer(&root(), BalancerAction::Start, 101.0, 0),
            Err(NnError::InvalidArgument(_))
        ));
        // 10 bytes of a 1 TiB node are ~9.1e-10 %: the threshold lets each
        // node be about 11 bytes from the 20-byte mean.
        let thr = 12.0 * 100.0 / (1u64 << 40) as f64;
        assert!(
            f.balancer(&root(), BalancerAction::Start, thr, 2)
                .unwrap()
                .running
        );
        let (mut moved, mut deleted) = (0, 0);
        for _ in 0..20 {
            f.compute_replication_work(t0);
            let cmds = f.heartbeat("dn0", stats(), 0, t0);
            for c in cmds {
                if let Command::Delete(list) = &c {
                    deleted += list.len();
                }
                if let Command::Replicate(list) = c {
                    assert!(list.len() <= 2, "at most 2 moves per node in flight");
                    for (b, targets) in list {
                        assert_eq!(targets.len(), 1);
                        f.block_received_and_deleted(&targets[0].uuid, &[b], &[]);
                        moved += 1;
                    }
                }
            }
            // The source replica, not the new one, is deleted.
            for b in &blocks {
                let locs = &f.block_map().get(b.id).unwrap().locations;
                assert!(!locs.is_empty(), "blk_{} lost every replica", b.id);
            }
            let st = f.balancer(&root(), BalancerAction::Status, 0.0, 0).unwrap();
            if !st.running {
                assert_eq!(st.outcome, "The cluster is balanced.");
                break;
            }
        }
        assert!(moved >= 2, "{moved}");
        let mut per_node: HashMap<String, usize> = HashMap::new();
        for b in &blocks {
            let locs = &f.block_map().get(b.id).unwrap().locations;
            assert_eq!(locs.len(), 1, "replication 1 kept for blk_{}", b.id);
            *per_node.entry(locs[0].clone()).or_default() += 1;
        }
        assert!(
            per_node.len() == 3 && per_node.values().all(|&n| (1..=3).contains(&n)),
            "{per_node:?}"
        );
        deleted += f.dns.get("dn0").unwrap().pending_deletes.len();
        assert_eq!(
            deleted,
            6 - per_node["dn0"],
            "dn0 deletes what it gave away"
        );
        assert_eq!(moved, deleted);
        // Nothing left to do for the replication monitor.
        assert_eq!(f.compute_replication_work(t0).deletions, 0);
    }
}
