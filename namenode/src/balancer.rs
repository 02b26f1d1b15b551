//! The balancer's decisions (HDFS's `Balancer`, run inside the namenode on
//! top of the replication monitor), pure: given each datanode's use and the
//! movable blocks of the over-used ones, which replicas to move where. Time
//! is passed in, so tests are plain asserts.
//!
//! A datanode's *use* is the bytes of the replicas the block map places on
//! it over its capacity, in percent. A run ends when every live in-service
//! datanode is within `threshold` percentage points of the cluster mean
//! (total used / total capacity) and no move is in flight.
//!
//! Rules:
//! - Sources are the nodes above the mean, most used first; targets the nodes
//!   below it, least used first. A move must fix a violation: its source is
//!   above `mean + threshold` or its target below `mean - threshold`
//!   (HDFS's over-utilized → below-average and above-average →
//!   under-utilized pairs), both counted with the moves already in flight.
//! - A move never creates a violation (the target stays at or below
//!   `mean + threshold`, the source at or above `mean - threshold`) and the
//!   source stays at least as used as the target, so every move shrinks the
//!   spread and a run cannot oscillate.
//! - Placement is kept: the target holds no replica of the block (nor a
//!   queued deletion), has room for it, and the replicas still span at least
//!   as many racks as before.
//! - At most `max_moves_per_node` moves are in flight per datanode (as source
//!   or target): the work a node gets per heartbeat is bounded.
//! - A move is a copy (a REPLICATE command to the source) followed, once the
//!   target has reported the replica, by the deletion of the source's
//!   replica — chosen by the balancer, not by the excess-replica rule, which
//!   could delete the new replica on the emptier node instead.
//! - A move not reported within `timeout`, or whose source or target dies, is
//!   dropped (counted as failed); the block can be picked again.

use crate::types::Block;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Default `-threshold`, in percentage points (HDFS: 10).
pub const DEFAULT_THRESHOLD: f64 = 10.0;
/// Default moves in flight per datanode.
pub const DEFAULT_MAX_MOVES_PER_NODE: usize = 4;
/// Passes with nothing scheduled and nothing in flight before a run that is
/// not balanced gives up (HDFS: "No block has been moved for 5 iterations").
pub const IDLE_PASSES: u64 = 5;

/// A live, in-service datanode as the balancer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUsage {
    pub uuid: String,
    pub rack: String,
    pub capacity: u64,
    /// Bytes of the replicas the block map places on it.
    pub used: u64,
    /// Free bytes it reports.
    pub remaining: u64,
}

fn pct(used: i128, capacity: u64) -> f64 {
    if capacity == 0 {
        0.0
    } else {
        used as f64 * 100.0 / capacity as f64
    }
}

/// How far the cluster is from balanced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Total used over total capacity, percent.
    pub mean_pct: f64,
    /// Largest |use - mean| among the nodes, percentage points.
    pub max_deviation_pct: f64,
    /// Every node within the threshold.
    pub balanced: bool,
    /// Bytes that must leave over-used nodes (or reach under-used ones,
    /// whichever is more) for every node to be within the threshold.
    pub bytes_left: u64,
}

/// Measures `nodes` against `threshold`.
pub fn assess(nodes: &[NodeUsage], threshold: f64) -> Assessment {
    let cap: u64 = nodes.iter().map(|n| n.capacity).sum();
    let used: u64 = nodes.iter().map(|n| n.used).sum();
    let mean = pct(used as i128, cap);
    let (mut over, mut under, mut dev) = (0f64, 0f64, 0f64);
    for n in nodes {
        let p = pct(n.used as i128, n.capacity);
        dev = dev.max((p - mean).abs());
        let c = n.capacity as f64 / 100.0;
        if p > mean + threshold {
            over += (p - mean - threshold) * c;
        } else if p < mean - threshold {
            under += (mean - threshold - p) * c;
        }
    }
    Assessment {
        mean_pct: mean,
        max_deviation_pct: dev,
        balanced: dev <= threshold,
        bytes_left: over.max(under).ceil() as u64,
    }
}

/// A block a source could give away.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveCandidate {
    pub block: Block,
    /// Racks of its live replicas (one entry per replica, the source's included).
    pub racks: Vec<String>,
    /// Nodes that must not receive it: every holder (good or corrupt) and
    /// nodes with a deletion of it queued.
    pub excluded: Vec<String>,
}

/// A run's progress, for `dfs admin balancer` (see `BalancerStatus` in
/// `proto/tusk.proto`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalancerStatus {
    pub running: bool,
    pub balanced: bool,
    pub threshold: f64,
    pub iteration: u64,
    pub bytes_moved: u64,
    pub bytes_left: u64,
    pub bytes_being_moved: u64,
    pub moves_done: u64,
    pub moves_in_flight: u64,
    pub moves_failed: u64,
    pub mean_used_pct: f64,
    pub max_deviation_pct: f64,
    /// Why the run ended; empty while it runs.
    pub outcome: String,
}

/// One replica move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub block: Block,
    pub source: String,
    pub target: String,
    pub issued: Instant,
}

/// A balancing run: its settings, moves in flight and progress.
#[derive(Debug, Clone)]
pub struct Balancer {
    pub threshold: f64,
    pub max_moves_per_node: usize,
    /// A move not reported within this is dropped.
    pub timeout: Duration,
    moves: HashMap<u64, Move>,
    /// Passes of this run.
    pub iteration: u64,
    pub bytes_moved: u64,
    pub moves_done: u64,
    pub moves_failed: u64,
    idle_passes: u64,
    /// Why the run ended; `None` while it runs.
    pub outcome: Option<String>,
    /// The last pass's assessment.
    pub last: Assessment,
}

impl Balancer {
    pub fn new(threshold: f64, max_moves_per_node: usize, timeout: Duration) -> Self {
        Balancer {
            threshold,
            max_moves_per_node: max_moves_per_node.max(1),
            timeout,
            moves: HashMap::new(),
            iteration: 0,
            bytes_moved: 0,
            moves_done: 0,
            moves_failed: 0,
            idle_passes: 0,
            outcome: None,
            last: Assessment::default(),
        }
    }

    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Moves in flight.
    pub fn in_flight(&self) -> impl Iterator<Item = &Move> {
        self.moves.values()
    }

    pub fn moving(&self, block_id: u64) -> bool {
        self.moves.contains_key(&block_id)
    }

    pub fn bytes_being_moved(&self) -> u64 {
        self.moves.values().map(|m| m.block.num_bytes).sum()
    }

    /// The target of the move of `block_id` reported its replica: the move
    /// is done and its source replica must now be deleted (returned).
    pub fn finished(&mut self, block_id: u64) -> Option<Move> {
        let m = self.moves.remove(&block_id)?;
        self.moves_done += 1;
        self.bytes_moved += m.block.num_bytes;
        Some(m)
    }

    /// Drops a move that cannot finish (block gone, source lost its replica).
    pub fn failed(&mut self, block_id: u64) {
        if self.moves.remove(&block_id).is_some() {
            self.moves_failed += 1;
        }
    }

    /// `node` died: moves from or to it are dropped.
    pub fn node_dead(&mut self, node: &str) {
        let before = self.moves.len();
        self.moves
            .retain(|_, m| m.source != node && m.target != node);
        self.moves_failed += (before - self.moves.len()) as u64;
    }

    /// Drops moves older than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let timeout = self.timeout;
        let before = self.moves.len();
        self.moves
            .retain(|_, m| now.saturating_duration_since(m.issued) < timeout);
        let n = before - self.moves.len();
        self.moves_failed += n as u64;
        n
    }

    /// What the run has done and how far the cluster is from balanced.
    pub fn status(&self) -> BalancerStatus {
        BalancerStatus {
            running: self.running(),
            balanced: self.last.balanced && self.moves.is_empty(),
            threshold: self.threshold,
            iteration: self.iteration,
            bytes_moved: self.bytes_moved,
            bytes_left: self.last.bytes_left,
            bytes_being_moved: self.bytes_being_moved(),
            moves_done: self.moves_done,
            moves_in_flight: self.moves.len() as u64,
            moves_failed: self.moves_failed,
            mean_used_pct: self.last.mean_pct,
            max_deviation_pct: self.last.max_deviation_pct,
            outcome: self.outcome.clone().unwrap_or_default(),
        }
    }

    /// Stops the run.
    pub fn stop(&mut self) {
        self.moves.clear();
        self.outcome = Some("Stopped.".into());
    }

    /// One pass: given the live in-service `nodes` (use counted without the
    /// moves in flight) and, for each node above the mean, the blocks it
    /// could give away, schedules new moves; ends the run when balanced or
    /// when nothing could be moved for [`IDLE_PASSES`] passes.
    pub fn pass(
        &mut self,
        now: Instant,
        nodes: &[NodeUsage],
        candidates: &HashMap<String, Vec<MoveCandidate>>,
    ) -> Vec<Move> {
        if !self.running() {
            return Vec::new();
        }
        self.iteration += 1;
        // Use as it will be once the moves in flight are done.
        let mut used: HashMap<&str, i128> = nodes
            .iter()
            .map(|n| (n.uuid.as_str(), n.used as i128))
            .collect();
        let mut remaining: HashMap<&str, u64> = nodes
            .iter()
            .map(|n| (n.uuid.as_str(), n.remaining))
            .collect();
        let mut busy: HashMap<String, usize> = HashMap::new();
        for m in self.moves.values() {
            let size = m.block.num_bytes as i128;
            if let Some(u) = used.get_mut(m.source.as_str()) {
                *u -= size;
            }
            if let Some(u) = used.get_mut(m.target.as_str()) {
                *u += size;
            }
            *busy.entry(m.source.clone()).or_default() += 1;
            *busy.entry(m.target.clone()).or_default() += 1;
        }
        let projected: Vec<NodeUsage> = nodes
            .iter()
            .map(|n| NodeUsage {
                used: used[n.uuid.as_str()].max(0) as u64,
                ..n.clone()
            })
            .collect();
        self.last = assess(nodes, self.threshold);
        let mean = assess(&projected, self.threshold).mean_pct;
        let thr = self.threshold;
        let by_uuid: HashMap<&str, &NodeUsage> =
            nodes.iter().map(|n| (n.uuid.as_str(), n)).collect();
        let use_of = |used: &HashMap<&str, i128>, u: &str| pct(used[u], by_uuid[u].capacity);

        let mut sources: Vec<&str> = nodes
            .iter()
            .map(|n| n.uuid.as_str())
            .filter(|u| use_of(&used, u) > mean)
            .collect();
        sources.sort_by(|a, b| use_of(&used, b).total_cmp(&use_of(&used, a)).then(a.cmp(b)));

        let mut scheduled = Vec::new();
        for src in sources {
            let Some(cands) = candidates.get(src) else {
                continue;
            };
            let src_rack = by_uuid[src].rack.as_str();
            for c in cands {
                if busy.get(src).copied().unwrap_or(0) >= self.max_moves_per_node {
                    break;
                }
                if self.moves.contains_key(&c.block.id) {
                    continue;
                }
                let size = c.block.num_bytes as i128;
                let src_cap = by_uuid[src].capacity;
                let src_now = use_of(&used, src);
                let src_after = pct(used[src] - size, src_cap);
                if src_now <= mean || src_after < mean - thr {
                    break;
                }
                let old_racks: HashSet<&str> = c.racks.iter().map(String::as_str).collect();
                // Least used target first.
                let mut targets: Vec<&str> = nodes
                    .iter()
                    .map(|n| n.uuid.as_str())
                    .filter(|t| *t != src && use_of(&used, t) < mean)
                    .collect();
                targets
                    .sort_by(|a, b| use_of(&used, a).total_cmp(&use_of(&used, b)).then(a.cmp(b)));
                let target = targets.into_iter().find(|t| {
                    let tn = by_uuid[t];
                    let t_after = pct(used[t] + size, tn.capacity);
                    let fixes = src_now > mean + thr || use_of(&used, t) < mean - thr;
                    // New racks: the source's replica leaves, the target's comes.
                    let mut racks: Vec<&str> = c.racks.iter().map(String::as_str).collect();
                    if let Some(i) = racks.iter().position(|r| *r == src_rack) {
                        racks.remove(i);
                    }
                    racks.push(tn.rack.as_str());
                    let new_racks: HashSet<&str> = racks.into_iter().collect();
                    fixes
                        && t_after <= mean + thr
                        && t_after <= src_after
                        && remaining[t] >= c.block.num_bytes
                        && busy.get(*t).copied().unwrap_or(0) < self.max_moves_per_node
                        && !c.excluded.iter().any(|x| x == t)
                        && new_racks.len() >= old_racks.len()
                });
                let Some(t) = target else {
                    continue;
                };
                *used.get_mut(src).expect("source") -= size;
                *used.get_mut(t).expect("target") += size;
                if let Some(r) = remaining.get_mut(t) {
                    *r = r.saturating_sub(c.block.num_bytes);
                }
                *busy.entry(src.to_string()).or_default() += 1;
                *busy.entry(t.to_string()).or_default() += 1;
                let m = Move {
                    block: c.block,
                    source: src.to_string(),
                    target: t.to_string(),
                    issued: now,
                };
                self.moves.insert(c.block.id, m.clone());
                scheduled.push(m);
            }
        }

        if self.last.balanced && self.moves.is_empty() {
            self.outcome = Some("The cluster is balanced.".into());
        } else if self.moves.is_empty() {
            self.idle_passes += 1;
            if self.idle_passes >= IDLE_PASSES {
                self.outcome = Some(format!(
                    "No block can be moved for {IDLE_PASSES} iterations."
                ));
            }
        } else {
            self.idle_passes = 0;
        }
        scheduled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1 << 30;

    fn node(uuid: &str, rack: &str, used: u64) -> NodeUsage {
        NodeUsage {
            uuid: uuid.into(),
            rack: rack.into(),
            capacity: 100 * GB,
            used,
            remaining: 100 * GB - used,
        }
    }

    fn cand(id: u64, size: u64, holders: &[(&str, &str)]) -> MoveCandidate {
        MoveCandidate {
            block: Block {
                id,
                genstamp: 1,
                num_bytes: size,
            },
            racks: holders.iter().map(|(_, r)| r.to_string()).collect(),
            excluded: holders.iter().map(|(u, _)| u.to_string()).collect(),
        }
    }

    /// `n` 1 GiB blocks on `src` alone.
    fn blocks_on(src: &str, rack: &str, first: u64, n: u64) -> Vec<MoveCandidate> {
        (first..first + n)
            .map(|i| cand(i, GB, &[(src, rack)]))
            .collect()
    }

    fn new(thr: f64, per_node: usize) -> Balancer {
        Balancer::new(thr, per_node, Duration::from_secs(60))
    }

    #[test]
    fn assess_measures_against_the_mean() {
        let nodes = [
            node("a", "/r", 60 * GB),
            node("b", "/r", 20 * GB),
            node("c", "/r", 10 * GB),
        ];
        let a = assess(&nodes, 10.0);
        assert!((a.mean_pct - 30.0).abs() < 1e-9);
        assert!((a.max_deviation_pct - 30.0).abs() < 1e-9);
        assert!(!a.balanced);
        // a must shed 20 GiB to reach 40 %; c needs 10 GiB to reach 20 %.
        assert_eq!(a.bytes_left, 20 * GB);
        assert!(assess(&nodes, 30.0).balanced);
        assert!(assess(&[], 10.0).balanced);
    }

    #[test]
    fn moves_go_from_the_fullest_to_the_emptiest_and_respect_the_per_node_bound() {
        let nodes = [
            node("a", "/r", 40 * GB),
            node("b", "/r", 20 * GB),
            node("c", "/r", 0),
        ];
        let cands = HashMap::from([
            ("a".to_string(), blocks_on("a", "/r", 0, 40)),
            ("b".to_string(), blocks_on("b", "/r", 100, 20)),
        ]);
        let mut b = new(5.0, 3);
        let t0 = Instant::now();
        let moves = b.pass(t0, &nodes, &cands);
        // c can take 3 moves; a gives 3 (its bound); b is at the mean.
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| m.source == "a" && m.target == "c"));
        // Nothing more while those are in flight (c and a are saturated).
        assert!(b.pass(t0, &nodes, &cands).is_empty());
        assert!(b.running());
        for m in &moves {
            let done = b.finished(m.block.id).unwrap();
            assert_eq!(done.source, "a");
        }
        assert_eq!((b.moves_done, b.bytes_moved), (3, 3 * GB));
    }

    #[test]
    fn a_run_converges_and_ends_balanced() {
        let mut nodes = vec![
            node("a", "/r", 30 * GB),
            node("b", "/r", 30 * GB),
            node("c", "/r", 30 * GB),
            node("d", "/r", 0),
        ];
        let mut held: HashMap<String, Vec<MoveCandidate>> = HashMap::from([
            ("a".to_string(), blocks_on("a", "/r", 0, 30)),
            ("b".to_string(), blocks_on("b", "/r", 100, 30)),
            ("c".to_string(), blocks_on("c", "/r", 200, 30)),
            ("d".to_string(), Vec::new()),
        ]);
        let mut b = new(2.0, 4);
        let t0 = Instant::now();
        for _ in 0..100 {
            if !b.running() {
                break;
            }
            let moves = b.pass(t0, &nodes, &held);
            // Every move completes before the next pass.
            for m in moves {
                b.finished(m.block.id).unwrap();
                let list = held.get_mut(&m.source).unwrap();
                let i = list.iter().position(|c| c.block.id == m.block.id).unwrap();
                let mut c = list.remove(i);
                c.excluded = vec![m.target.clone()];
                held.get_mut(&m.target).unwrap().push(c);
                for n in nodes.iter_mut() {
                    if n.uuid == m.source {
                        n.used -= GB;
                    } else if n.uuid == m.target {
                        n.used += GB;
                    }
                }
            }
        }
        assert_eq!(b.outcome.as_deref(), Some("The cluster is balanced."));
        let a = assess(&nodes, 2.0);
        assert!(a.balanced, "{nodes:?}");
        // 22.5 GiB is the mean; d got what the others gave.
        let d = nodes.iter().find(|n| n.uuid == "d").unwrap();
        assert!(d.used >= 21 * GB && d.used <= 24 * GB, "{}", d.used);
        assert!(b.bytes_moved >= d.used);
        assert_eq!(nodes.iter().map(|n| n.used).sum::<u64>(), 90 * GB);
    }

    #[test]
    fn a_move_never_drops_a_rack_nor_goes_to_a_holder() {
        // Block 1 on a (/r1) and b (/r2): moving a's replica to c (/r2)
        // would leave both on /r2; d (/r1) keeps two racks.
        let nodes = [
            node("a", "/r1", 50 * GB),
            node("b", "/r2", 0),
            node("c", "/r2", 0),
            node("d", "/r1", 10 * GB),
        ];
        let cands = HashMap::from([(
            "a".to_string(),
            vec![cand(1, GB, &[("a", "/r1"), ("b", "/r2")])],
        )]);
        let mut b = new(10.0, 4);
        let moves = b.pass(Instant::now(), &nodes, &cands);
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].target, "d");
        // With d full there is no acceptable target.
        let mut nodes = nodes.to_vec();
        nodes[3].remaining = 0;
        let mut b = new(10.0, 4);
        assert!(b.pass(Instant::now(), &nodes, &cands).is_empty());
    }

    #[test]
    fn moves_never_overshoot_and_a_balanced_cluster_ends_at_once() {
        // 10 GiB blocks, threshold 10: a at 35 %, b at 25 %, c at 15 %.
        // Moving one 10 GiB block a → c gives 25/25/25.
        let nodes = [
            node("a", "/r", 35 * GB),
            node("b", "/r", 25 * GB),
            node("c", "/r", 15 * GB),
        ];
        let cands = HashMap::from([(
            "a".to_string(),
            vec![
                cand(1, 10 * GB, &[("a", "/r")]),
                cand(2, 10 * GB, &[("a", "/r")]),
            ],
        )]);
        let mut b = new(5.0, 4);
        let moves = b.pass(Instant::now(), &nodes, &cands);
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(
            (moves[0].source.as_str(), moves[0].target.as_str()),
            ("a", "c")
        );
        let mut b = new(10.0, 4);
        assert!(b.pass(Instant::now(), &nodes, &cands).is_empty());
        assert_eq!(b.outcome.as_deref(), Some("The cluster is balanced."));
    }

    #[test]
    fn stuck_runs_give_up_and_failed_moves_are_counted() {
        let nodes = [node("a", "/r", 50 * GB), node("b", "/r", 0)];
        // a holds nothing movable (every block already on b).
        let cands = HashMap::from([(
            "a".to_string(),
            vec![cand(1, GB, &[("a", "/r"), ("b", "/r")])],
        )]);
        let mut b = new(10.0, 4);
        for _ in 0..IDLE_PASSES {
            assert!(b.pass(Instant::now(), &nodes, &cands).is_empty());
        }
        assert!(b.outcome.unwrap().starts_with("No block can be moved"));

        let cands = HashMap::from([("a".to_string(), blocks_on("a", "/r", 10, 3))]);
        let mut b = new(10.0, 4);
        let t0 = Instant::now();
        assert_eq!(b.pass(t0, &nodes, &cands).len(), 3);
        b.node_dead("b");
        assert_eq!((b.moves_failed, b.in_flight().count()), (3, 0));
        assert_eq!(b.pass(t0, &nodes, &cands).len(), 3);
        assert_eq!(b.expire(t0 + Duration::from_secs(61)), 3);
        assert_eq!(b.moves_failed, 6);
        b.stop();
        assert!(!b.running());
        assert!(b.pass(t0, &nodes, &cands).is_empty());
    }
}
