//! The replication monitor's decisions (HDFS's `RedundancyMonitor`), pure:
//! given the blocks, the datanodes and the copies already in flight, which
//! blocks to copy from where to where, and which replicas to delete. Time is
//! passed in and randomness injected, so tests are plain asserts.
//!
//! Rules:
//! - A replica is *live* when it is good and on a live, in-service datanode.
//!   Replicas on decommissioning (or decommissioned) nodes serve reads and act
//!   as copy sources but do not count.
//! - Under-replicated blocks (live < expected) are handled fewest live first.
//!   A block with no good replica on any live node is *missing*: reported,
//!   never scheduled (there is nothing to copy from).
//! - The source is a live good replica whose node has a free stream (at most
//!   `max_streams` copies in flight per source), the least busy first;
//!   targets come from in-service nodes that hold no replica of the block,
//!   on another rack first when every replica sits on one rack.
//! - A scheduled copy is *pending* until its targets report the replica; after
//!   `pending_timeout` it is forgotten, and the next attempt avoids the nodes
//!   that failed.
//! - Once a block has its full live replication: corrupt replicas are deleted,
//!   then excess live replicas (live > expected), choosing from racks holding
//!   more than one replica (so rack diversity is kept), the node with the least
//!   free space first.

use crate::placement::{self, Candidate};
use crate::types::{AdminState, Block};
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The monitor's settings.
#[derive(Debug, Clone, Copy)]
pub struct ReplConfig {
    /// Copies one datanode may be the source of at once.
    pub max_streams: usize,
    /// After this, an unreported copy is retried elsewhere.
    pub pending_timeout: Duration,
}

/// A datanode as the monitor sees it.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Identity, rack, free space and load (xceivers).
    pub cand: Candidate,
    pub live: bool,
    pub admin: AdminState,
}

impl NodeView {
    fn in_service(&self) -> bool {
        self.live && self.admin == AdminState::InService
    }
}

/// One block as the monitor sees it.
#[derive(Debug, Clone)]
pub struct BlockView<'a> {
    pub block: Block,
    pub expected: u32,
    /// Nodes holding a good finalized replica.
    pub good: &'a [String],
    /// Nodes holding a replica known corrupt.
    pub corrupt: &'a [String],
    /// Nodes that must not get a new replica now (a deletion is queued there).
    pub busy: &'a [String],
}

/// Replica counts of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Good, on live in-service nodes.
    pub live: usize,
    /// Good, on live decommissioning/decommissioned nodes.
    pub decommissioning: usize,
    /// Corrupt, on live nodes.
    pub corrupt: usize,
}

impl Counts {
    /// Good replicas a copy can be made from.
    pub fn readable(&self) -> usize {
        self.live + self.decommissioning
    }
}

/// Counts the replicas of `b` against the node table.
pub fn counts(b: &BlockView, nodes: &HashMap<String, NodeView>) -> Counts {
    let mut c = Counts::default();
    for u in b.good {
        match nodes.get(u) {
            Some(n) if n.in_service() => c.live += 1,
            Some(n) if n.live => c.decommissioning += 1,
            _ => {}
        }
    }
    c.corrupt = b
        .corrupt
        .iter()
        .filter(|u| nodes.get(*u).is_some_and(|n| n.live))
        .count();
    c
}

/// One copy to make: `source` sends `block` down the `targets` pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub source: String,
    pub block: Block,
    pub targets: Vec<String>,
}

/// What one pass decided, and what it saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub replicate: Vec<Transfer>,
    /// (node, replica) to delete: corrupt or excess.
    pub delete: Vec<(String, Block)>,
    /// Blocks with fewer live replicas than expected (missing ones included).
    pub under_replicated: u64,
    /// Blocks without a good replica on a live node.
    pub missing: u64,
    /// Copies whose time-out passed in this pass.
    pub timed_out: u64,
}

/// A copy in flight.
#[derive(Debug, Clone)]
struct Pending {
    source: String,
    /// Targets that have not reported the replica yet.
    targets: Vec<String>,
    issued: Instant,
}

/// The monitor's memory between passes: copies in flight and nodes to
/// avoid for blocks whose copy timed out.
#[derive(Debug)]
pub struct ReplicationQueues {
    cfg: ReplConfig,
    pending: HashMap<u64, Pending>,
    /// Block → nodes that failed a copy of it (cleared when it is healthy).
    avoid: HashMap<u64, HashSet<String>>,
    /// Copies scheduled since start (metrics, tests).
    pub scheduled_total: u64,
    /// Copies that timed out since start.
    pub timed_out_total: u64,
}

impl ReplicationQueues {
    pub fn new(cfg: ReplConfig) -> Self {
        ReplicationQueues {
            cfg,
            pending: HashMap::new(),
            avoid: HashMap::new(),
            scheduled_total: 0,
            timed_out_total: 0,
        }
    }

    /// Blocks with a copy in flight.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Whether a copy of `block_id` is in flight.
    pub fn is_pending(&self, block_id: u64) -> bool {
        self.pending.contains_key(&block_id)
    }

    /// `node` reported a finalized replica of `block_id`.
    pub fn replica_added(&mut self, block_id: u64, node: &str) {
        if let Some(p) = self.pending.get_mut(&block_id) {
            p.targets.retain(|t| t != node);
            if p.targets.is_empty() {
                self.pending.remove(&block_id);
            }
        }
    }

    /// The block is gone (file deleted).
    pub fn forget(&mut self, block_id: u64) {
        self.pending.remove(&block_id);
        self.avoid.remove(&block_id);
    }

    /// `node` died: copies it was the source of are abandoned now (not at
    /// the time-out), and it is no longer awaited as a target.
    pub fn node_dead(&mut self, node: &str) {
        self.pending.retain(|id, p| {
            if p.source == node || p.targets.iter().any(|t| t == node) {
                self.avoid.entry(*id).or_default().insert(node.to_string());
            }
            p.targets.retain(|t| t != node);
            p.source != node && !p.targets.is_empty()
        });
    }

    /// One pass over `blocks`.
    pub fn compute<R: Rng>(
        &mut self,
        now: Instant,
        blocks: &[BlockView],
        nodes: &HashMap<String, NodeView>,
        rng: &mut R,
    ) -> Plan {
        let mut plan = Plan::default();

        // Copies that timed out: forget them, avoid their nodes next time.
        let timeout = self.cfg.pending_timeout;
        let mut expired = Vec::new();
        self.pending.retain(|id, p| {
            let alive = now.saturating_duration_since(p.issued) < timeout;
            if !alive {
                expired.push((*id, p.source.clone(), p.targets.clone()));
            }
            alive
        });
        for (id, source, targets) in expired {
            tracing::warn!(block_id = id, source = %source, targets = ?targets, "replication timed out; will retry elsewhere");
            let a = self.avoid.entry(id).or_default();
            a.insert(source);
            a.extend(targets);
            plan.timed_out += 1;
        }
        self.timed_out_total += plan.timed_out;

        // Streams in use per source node.
        let mut streams: HashMap<String, usize> = HashMap::new();
        for p in self.pending.values() {
            *streams.entry(p.source.clone()).or_default() += 1;
        }
        // Extra load this pass adds, so one pass spreads its work.
        let mut added_load: HashMap<String, u32> = HashMap::new();

        let mut queue: Vec<(usize, u64, usize)> = Vec::new(); // (live, block id, index)
        for (k, b) in blocks.iter().enumerate() {
            let c = counts(b, nodes);
            let expected = b.expected as usize;
            if c.readable() == 0 {
                plan.missing += 1;
                plan.under_replicated += 1;
                continue;
            }
            if c.live < expected {
                plan.under_replicated += 1;
                queue.push((c.live, b.block.id, k));
                continue;
            }
            self.avoid.remove(&b.block.id);
            if self.pending.contains_key(&b.block.id) {
                continue;
            }
            // Fully replicated: corrupt replicas go, then the excess.
            for u in b.corrupt {
                if nodes.get(u).is_some_and(|n| n.live) {
                    plan.delete.push((u.clone(), b.block));
                }
            }
            if c.live > expected {
                let mut keep: Vec<&NodeView> = b
                    .good
                    .iter()
                    .filter_map(|u| nodes.get(u))
                    .filter(|n| n.in_service())
                    .collect();
                while keep.len() > expected {
                    let i = choose_excess(&keep);
                    plan.delete.push((keep[i].cand.uuid.clone(), b.block));
                    keep.remove(i);
                }
            }
        }
        queue.sort_unstable();

        for (live, _, k) in queue {
            let b = &blocks[k];
            if self.pending.contains_key(&b.block.id) {
                continue;
            }
            let needed = (b.expected as usize).saturating_sub(live);
            let avoid = self.avoid.get(&b.block.id);
            let avoided = |u: &str| avoid.is_some_and(|a| a.contains(u));
            // Source: a live good replica with a free stream, least busy,
            // nodes that failed before last.
            let source = b
                .good
                .iter()
                .filter_map(|u| nodes.get(u))
                .filter(|n| n.live)
                .filter(|n| streams.get(&n.cand.uuid).copied().unwrap_or(0) < self.cfg.max_streams)
                .min_by_key(|n| {
                    (
                        avoided(&n.cand.uuid),
                        n.cand.load + added_load.get(&n.cand.uuid).copied().unwrap_or(0),
                    )
                });
            let Some(source) = source else {
                continue;
            };
            let holders: HashSet<&str> = b
                .good
                .iter()
                .chain(b.corrupt)
                .chain(b.busy)
                .map(String::as_str)
                .collect();
            let cands: Vec<Candidate> = nodes
                .values()
                .filter(|n| n.in_service() && !holders.contains(n.cand.uuid.as_str()))
                .map(|n| {
                    let mut c = n.cand.clone();
                    c.load += added_load.get(&c.uuid).copied().unwrap_or(0);
                    c
                })
                .collect();
            let existing_racks: HashSet<&str> = b
                .good
                .iter()
                .filter_map(|u| nodes.get(u))
                .filter(|n| n.live)
                .map(|n| n.cand.rack.as_str())
                .collect();
            // Prefer nodes that did not fail this block; fall back to them.
            let fresh: Vec<Candidate> = cands
                .iter()
                .filter(|c| !avoided(&c.uuid))
                .cloned()
                .collect();
            let mut targets =
                choose_targets(&fresh, &existing_racks, needed, b.block.num_bytes, rng);
            if targets.is_empty() {
                targets = choose_targets(&cands, &existing_racks, needed, b.block.num_bytes, rng);
            }
            if targets.len() < needed {
                // Nodes holding corrupt replicas cannot take a good one while
                // those are there (in a small cluster they may be the only
                // candidates). With a good replica to copy from, the corrupt
                // ones only stand in the way: delete them now so a later pass
                // can place good copies on those nodes.
                for u in b.corrupt {
                    if nodes.get(u).is_some_and(|n| n.live) && !b.busy.contains(u) {
                        plan.delete.push((u.clone(), b.block));
                    }
                }
            }
            if targets.is_empty() {
                tracing::debug!(
                    block_id = b.block.id,
                    "no datanode can take another replica"
                );
                continue;
            }
            let src = source.cand.uuid.clone();
            *streams.entry(src.clone()).or_default() += 1;
            *added_load.entry(src.clone()).or_default() += 1;
            for t in &targets {
                *added_load.entry(t.clone()).or_default() += 1;
            }
            self.pending.insert(
                b.block.id,
                Pending {
                    source: src.clone(),
                    targets: targets.clone(),
                    issued: now,
                },
            );
            self.scheduled_total += 1;
            plan.replicate.push(Transfer {
                source: src,
                block: b.block,
                targets,
            });
        }
        plan
    }
}

/// Up to `n` targets from `cands` (uuids): when the existing replicas are all
/// on one rack and another rack has a candidate, the first target is on
/// another rack; the rest follow the write placement policy.
pub fn choose_targets<R: Rng>(
    cands: &[Candidate],
    existing_racks: &HashSet<&str>,
    n: usize,
    block_size: u64,
    rng: &mut R,
) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let fits: Vec<&Candidate> = cands.iter().filter(|c| c.remaining >= block_size).collect();
    let mut chosen: Vec<String> = Vec::new();
    if existing_racks.len() == 1 {
        let remote: Vec<&Candidate> = fits
            .iter()
            .copied()
            .filter(|c| !existing_racks.contains(c.rack.as_str()))
            .collect();
        if !remote.is_empty() {
            let a = remote[rng.gen_range(0..remote.len())];
            let b = remote[rng.gen_range(0..remote.len())];
            chosen.push(if b.load < a.load { b } else { a }.uuid.clone());
        }
    }
    if chosen.len() < n {
        let excluded: HashSet<String> = chosen.iter().cloned().collect();
        let rest =
            placement::choose_targets(cands, n - chosen.len(), block_size, None, &excluded, rng);
        chosen.extend(rest.into_iter().map(|i| cands[i].uuid.clone()));
    }
    chosen
}

/// Which of `replicas` (live, in service, more than wanted) to delete: from
/// the racks holding more than one of them when there are such racks (so no
/// rack loses its only replica), the one with the least free space.
pub fn choose_excess(replicas: &[&NodeView]) -> usize {
    let mut per_rack: HashMap<&str, usize> = HashMap::new();
    for r in replicas {
        *per_rack.entry(r.cand.rack.as_str()).or_default() += 1;
    }
    let crowded = |r: &NodeView| per_rack.get(r.cand.rack.as_str()).copied().unwrap_or(0) > 1;
    let pool: Vec<usize> = if replicas.iter().any(|r| crowded(r)) {
        (0..replicas.len())
            .filter(|&i| crowded(replicas[i]))
            .collect()
    } else {
        (0..replicas.len()).collect()
    };
    pool.into_iter()
        .min_by_key(|&i| (replicas[i].cand.remaining, replicas[i].cand.uuid.clone()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn node(uuid: &str, rack: &str) -> NodeView {
        NodeView {
            cand: Candidate {
                uuid: uuid.into(),
                host: format!("h-{uuid}"),
                rack: rack.into(),
                remaining: 1 << 30,
                load: 0,
            },
            live: true,
            admin: AdminState::InService,
        }
    }

    fn nodes(list: &[(&str, &str)]) -> HashMap<String, NodeView> {
        list.iter()
            .map(|(u, r)| (u.to_string(), node(u, r)))
            .collect()
    }

    fn blk(id: u64) -> Block {
        Block {
            id,
            genstamp: 1,
            num_bytes: 100,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn cfg() -> ReplConfig {
        ReplConfig {
            max_streams: 2,
            pending_timeout: Duration::from_secs(10),
        }
    }

    fn view<'a>(
        id: u64,
        expected: u32,
        good: &'a [String],
        corrupt: &'a [String],
    ) -> BlockView<'a> {
        BlockView {
            block: blk(id),
            expected,
            good,
            corrupt,
            busy: &[],
        }
    }

    #[test]
    fn fewest_live_first_and_missing_not_scheduled() {
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r"), ("d", "/r")]);
        let (two, one, none) = (s(&["a", "b"]), s(&["c"]), s(&[]));
        let blocks = [
            view(1, 3, &two, &[]),
            view(2, 3, &one, &[]),
            view(3, 3, &none, &[]),
        ];
        let mut q = ReplicationQueues::new(ReplConfig {
            max_streams: 1,
            ..cfg()
        });
        let plan = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(1));
        assert_eq!(plan.missing, 1);
        assert_eq!(plan.under_replicated, 3);
        // Block 2 (one live replica) comes first and needs two targets.
        assert_eq!(plan.replicate[0].block.id, 2);
        assert_eq!(plan.replicate[0].source, "c");
        assert_eq!(plan.replicate[0].targets.len(), 2);
        assert!(!plan.replicate[0].targets.contains(&"c".to_string()));
        let b1 = plan.replicate.iter().find(|t| t.block.id == 1).unwrap();
        assert_eq!(b1.targets.len(), 1);
        assert!(b1.targets[0] == "c" || b1.targets[0] == "d");
        assert!(plan.replicate.iter().all(|t| t.block.id != 3));
        assert_eq!(q.pending_count(), 2);
    }

    #[test]
    fn pending_copies_are_not_repeated_and_time_out() {
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r")]);
        let good = s(&["a", "b"]);
        let blocks = [view(7, 3, &good, &[])];
        let mut q = ReplicationQueues::new(cfg());
        let t0 = Instant::now();
        let mut rng = StdRng::seed_from_u64(2);
        let p = q.compute(t0, &blocks, &n, &mut rng);
        assert_eq!(p.replicate.len(), 1);
        assert_eq!(p.replicate[0].targets, s(&["c"]));
        // Still pending: nothing new.
        let p = q.compute(t0 + Duration::from_secs(5), &blocks, &n, &mut rng);
        assert!(p.replicate.is_empty());
        // Timed out: scheduled again, from the other source.
        let first = q.pending.get(&7).unwrap().source.clone();
        let p = q.compute(t0 + Duration::from_secs(11), &blocks, &n, &mut rng);
        assert_eq!(p.timed_out, 1);
        assert_eq!(p.replicate.len(), 1);
        assert_ne!(p.replicate[0].source, first);
        // The target reports: no longer pending.
        q.replica_added(7, "c");
        assert_eq!(q.pending_count(), 0);
    }

    #[test]
    fn streams_per_source_are_limited() {
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r")]);
        let only_a = s(&["a"]);
        let blocks: Vec<BlockView> = (0..5).map(|i| view(i, 2, &only_a, &[])).collect();
        let mut q = ReplicationQueues::new(cfg());
        let mut rng = StdRng::seed_from_u64(3);
        let t0 = Instant::now();
        let p = q.compute(t0, &blocks, &n, &mut rng);
        assert_eq!(p.replicate.len(), 2);
        // Streams stay busy until the copies are reported.
        assert!(q.compute(t0, &blocks, &n, &mut rng).replicate.is_empty());
        for t in &p.replicate {
            q.replica_added(t.block.id, &t.targets[0]);
        }
        assert_eq!(q.compute(t0, &blocks, &n, &mut rng).replicate.len(), 2);
    }

    #[test]
    fn decommissioning_replicas_are_sources_not_live_nor_targets() {
        let mut n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r"), ("d", "/r")]);
        n.get_mut("a").unwrap().admin = AdminState::Decommissioning;
        let good = s(&["a", "b", "c"]);
        let blocks = [view(1, 3, &good, &[])];
        let c = counts(&blocks[0], &n);
        assert_eq!((c.live, c.decommissioning), (2, 1));
        let mut q = ReplicationQueues::new(cfg());
        let p = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(4));
        assert_eq!(p.replicate.len(), 1);
        assert_eq!(p.replicate[0].targets, s(&["d"]));
        // And no replica of a decommissioning node is deleted as excess.
        let good = s(&["a", "b", "c", "d"]);
        let blocks = [view(2, 3, &good, &[])];
        let p = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(4));
        assert!(p.delete.is_empty() && p.replicate.is_empty());
    }

    #[test]
    fn dead_nodes_do_not_count_and_their_copies_are_abandoned() {
        let mut n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r"), ("d", "/r")]);
        let good = s(&["a", "b"]);
        let blocks = [view(1, 3, &good, &[])];
        let mut q = ReplicationQueues::new(cfg());
        let mut rng = StdRng::seed_from_u64(5);
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        let target = p.replicate[0].targets[0].clone();
        n.get_mut(&target).unwrap().live = false;
        q.node_dead(&target);
        assert_eq!(q.pending_count(), 0);
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        assert_eq!(p.replicate.len(), 1);
        assert_ne!(p.replicate[0].targets[0], target);
    }

    #[test]
    fn corrupt_replaced_first_then_deleted() {
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r"), ("d", "/r")]);
        let (good, bad) = (s(&["a", "b"]), s(&["c"]));
        let blocks = [view(1, 3, &good, &bad)];
        let mut q = ReplicationQueues::new(cfg());
        let mut rng = StdRng::seed_from_u64(6);
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        assert!(p.delete.is_empty(), "not deleted before it is replaced");
        assert_eq!(p.replicate[0].targets, s(&["d"]));
        q.replica_added(1, "d");
        let good = s(&["a", "b", "d"]);
        let blocks = [view(1, 3, &good, &bad)];
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        assert_eq!(p.delete, vec![("c".to_string(), blk(1))]);
        // Every replica corrupt: missing, nothing scheduled or deleted.
        let (none, all_bad) = (s(&[]), s(&["a", "b", "c"]));
        let blocks = [view(2, 3, &none, &all_bad)];
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        assert_eq!(p.missing, 1);
        assert!(p.delete.is_empty() && p.replicate.is_empty());
    }

    #[test]
    fn corrupt_replicas_in_the_way_are_deleted_when_no_other_node_can_take_a_copy() {
        // Three nodes, one good replica, two corrupt: no node is free, so the
        // corrupt replicas go first and the freed nodes get good copies later.
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r")]);
        let (good, bad) = (s(&["a"]), s(&["b", "c"]));
        let blocks = [view(1, 3, &good, &bad)];
        let mut q = ReplicationQueues::new(cfg());
        let mut rng = StdRng::seed_from_u64(7);
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        assert!(p.replicate.is_empty());
        let mut deleted: Vec<_> = p.delete.iter().map(|(u, _)| u.clone()).collect();
        deleted.sort();
        assert_eq!(deleted, s(&["b", "c"]));
        // Once they are gone, both nodes are targets.
        let none = s(&[]);
        let blocks = [view(1, 3, &good, &none)];
        let p = q.compute(Instant::now(), &blocks, &n, &mut rng);
        let mut t = p.replicate[0].targets.clone();
        t.sort();
        assert_eq!(t, s(&["b", "c"]));
    }

    #[test]
    fn excess_keeps_rack_diversity_and_prefers_fullest_node() {
        let mut n = nodes(&[("a", "/r1"), ("b", "/r1"), ("c", "/r2"), ("d", "/r2")]);
        n.get_mut("a").unwrap().cand.remaining = 10 << 30;
        n.get_mut("b").unwrap().cand.remaining = 5 << 30;
        n.get_mut("c").unwrap().cand.remaining = 1 << 20; // fullest, but alone on its rack
        let good = s(&["a", "b", "c"]);
        let blocks = [view(1, 2, &good, &[])];
        let mut q = ReplicationQueues::new(cfg());
        let p = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(7));
        assert_eq!(p.delete, vec![("b".to_string(), blk(1))]);
        // Down to one replica: two deletions.
        let blocks = [view(1, 1, &good, &[])];
        let p = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(7));
        assert_eq!(p.delete.len(), 2);
    }

    #[test]
    fn first_new_replica_goes_to_another_rack() {
        let n = nodes(&[("a", "/r1"), ("b", "/r1"), ("c", "/r1"), ("d", "/r2")]);
        let good = s(&["a"]);
        for seed in 0..20 {
            let blocks = [view(1, 2, &good, &[])];
            let mut q = ReplicationQueues::new(cfg());
            let p = q.compute(
                Instant::now(),
                &blocks,
                &n,
                &mut StdRng::seed_from_u64(seed),
            );
            assert_eq!(p.replicate[0].targets, s(&["d"]));
        }
    }

    #[test]
    fn nodes_queued_for_deletion_get_no_new_replica() {
        let n = nodes(&[("a", "/r"), ("b", "/r"), ("c", "/r")]);
        let good = s(&["a"]);
        let busy = s(&["b"]);
        let blocks = [BlockView {
            block: blk(1),
            expected: 3,
            good: &good,
            corrupt: &[],
            busy: &busy,
        }];
        let mut q = ReplicationQueues::new(cfg());
        let p = q.compute(Instant::now(), &blocks, &n, &mut StdRng::seed_from_u64(8));
        assert_eq!(p.replicate[0].targets, s(&["c"]));
    }
}
