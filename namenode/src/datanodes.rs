//! The datanode manager: who is registered, alive, how full, and the commands
//! queued for each node. Soft state; time is passed in (`now`) so tests can
//! drive it.

use crate::types::{AdminState, Block, DatanodeId, DatanodeReport, StorageStats};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Rack of hosts without a topology entry.
pub const DEFAULT_RACK: &str = "/default-rack";
/// At most this many replicas are named in one DELETE command.
const MAX_DELETES_PER_HEARTBEAT: usize = 1000;

/// A copy queued for a datanode: the block and its target pipeline.
pub type QueuedCopy = (Block, Vec<DatanodeId>);

/// host-or-IP → rack, from the topology file.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    racks: HashMap<String, String>,
}

impl Topology {
    /// Parses `host-or-ip rack` lines (`#` comments and blank lines ignored).
    pub fn parse(text: &str) -> Self {
        let mut racks = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut f = line.split_whitespace();
            if let (Some(h), Some(r)) = (f.next(), f.next()) {
                let rack = if r.starts_with('/') {
                    r.to_string()
                } else {
                    format!("/{r}")
                };
                racks.insert(h.to_string(), rack);
            }
        }
        Topology { racks }
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    pub fn rack_of(&self, host: &str) -> String {
        self.racks
            .get(host)
            .cloned()
            .unwrap_or_else(|| DEFAULT_RACK.to_string())
    }
}

/// One datanode.
#[derive(Debug, Clone)]
pub struct Datanode {
    pub id: DatanodeId,
    pub stats: StorageStats,
    pub xceivers: u32,
    pub last_heartbeat: Instant,
    /// False once silent for `dead_after`; a dead node must re-register.
    pub live: bool,
    /// Blocks this node holds a replica of (good or corrupt), per the block map.
    pub blocks: HashSet<u64>,
    /// Replicas to delete, sent with the next heartbeat.
    pub pending_deletes: Vec<Block>,
    /// Copies this node is the source of, sent with the next heartbeat.
    pub pending_copies: Vec<QueuedCopy>,
    /// Decommissioning state; kept across re-registrations.
    pub admin: AdminState,
    /// While decommissioning: its blocks still short of replicas elsewhere.
    pub blocks_to_replicate: u64,
}

impl Datanode {
    /// Live and in service: may take new replicas, its replicas count.
    pub fn in_service(&self) -> bool {
        self.live && self.admin == AdminState::InService
    }
}

/// All datanodes by uuid.
#[derive(Debug, Default)]
pub struct DatanodeManager {
    nodes: HashMap<String, Datanode>,
    topology: Topology,
}

impl DatanodeManager {
    pub fn new(topology: Topology) -> Self {
        DatanodeManager {
            nodes: HashMap::new(),
            topology,
        }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Registers a node (its rack decided here). Returns the entries it
    /// replaces — another uuid at the same data address (a datanode whose
    /// disks were wiped) — whose replicas the caller must drop. A node
    /// re-registering under its own uuid keeps its admin state and its block
    /// set: its replicas keep counting until its block report says otherwise,
    /// so a quick restart copies nothing.
    pub fn register(
        &mut self,
        mut id: DatanodeId,
        stats: StorageStats,
        now: Instant,
    ) -> (String, Vec<Datanode>) {
        id.rack = self.topology.rack_of(&id.host);
        let stale: Vec<String> = self
            .nodes
            .iter()
            .filter(|(u, n)| {
                **u == id.uuid || (!id.data_addr.is_empty() && n.id.data_addr == id.data_addr)
            })
            .map(|(u, _)| u.clone())
            .collect();
        let mut replaced: Vec<Datanode> =
            stale.iter().filter_map(|u| self.nodes.remove(u)).collect();
        let (blocks, admin) = match replaced.iter().position(|n| n.id.uuid == id.uuid) {
            Some(k) => {
                let same = replaced.swap_remove(k);
                (same.blocks, same.admin)
            }
            None => (HashSet::new(), AdminState::InService),
        };
        let rack = id.rack.clone();
        self.nodes.insert(
            id.uuid.clone(),
            Datanode {
                id,
                stats,
                xceivers: 0,
                last_heartbeat: now,
                live: true,
                blocks,
                pending_deletes: Vec::new(),
                pending_copies: Vec::new(),
                admin,
                blocks_to_replicate: 0,
            },
        );
        (rack, replaced)
    }

    /// A live, registered node, if any.
    pub fn live(&self, uuid: &str) -> Option<&Datanode> {
        self.nodes.get(uuid).filter(|n| n.live)
    }

    pub fn live_mut(&mut self, uuid: &str) -> Option<&mut Datanode> {
        self.nodes.get_mut(uuid).filter(|n| n.live)
    }

    pub fn get(&self, uuid: &str) -> Option<&Datanode> {
        self.nodes.get(uuid)
    }

    pub fn get_mut(&mut self, uuid: &str) -> Option<&mut Datanode> {
        self.nodes.get_mut(uuid)
    }

    /// Records a heartbeat; `None` when the node must re-register (unknown
    /// or declared dead). Otherwise the replicas to delete and the copies to
    /// make (the replication monitor already bounded how many).
    pub fn heartbeat(
        &mut self,
        uuid: &str,
        stats: StorageStats,
        xceivers: u32,
        now: Instant,
    ) -> Option<(Vec<Block>, Vec<QueuedCopy>)> {
        let n = self.live_mut(uuid)?;
        n.stats = stats;
        n.xceivers = xceivers;
        n.last_heartbeat = now;
        let k = n.pending_deletes.len().min(MAX_DELETES_PER_HEARTBEAT);
        let deletes = n.pending_deletes.drain(..k).collect();
        Some((deletes, std::mem::take(&mut n.pending_copies)))
    }

    /// Queues a copy of `block` from `source` to `targets` for the source's
    /// next heartbeat.
    pub fn queue_copy(&mut self, source: &str, block: Block, targets: Vec<DatanodeId>) {
        if let Some(n) = self.nodes.get_mut(source) {
            n.pending_copies.push((block, targets));
        }
    }

    /// Whether a deletion of `block_id` is queued on `uuid`.
    pub fn delete_queued(&self, uuid: &str, block_id: u64) -> bool {
        self.nodes
            .get(uuid)
            .is_some_and(|n| n.pending_deletes.iter().any(|b| b.id == block_id))
    }

    /// The nodes `spec` names: a uuid, a data address, or a host (all its
    /// datanodes).
    pub fn matching(&self, spec: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id.uuid == spec || n.id.data_addr == spec || n.id.host == spec)
            .map(|n| n.id.uuid.clone())
            .collect();
        v.sort();
        v
    }

    /// Queues deletion of `block` on `uuid` (if it is registered).
    pub fn queue_delete(&mut self, uuid: &str, block: Block) {
        if let Some(n) = self.nodes.get_mut(uuid) {
            n.blocks.remove(&block.id);
            if !n.pending_deletes.iter().any(|b| b.id == block.id) {
                n.pending_deletes.push(block);
            }
        }
    }

    /// Declares dead every live node silent for longer than `dead_after`;
    /// returns them (with their block sets, now cleared) so the block map can
    /// drop their replicas.
    pub fn check_liveness(
        &mut self,
        now: Instant,
        dead_after: Duration,
    ) -> Vec<(String, Vec<u64>)> {
        let mut dead = Vec::new();
        for (uuid, n) in self.nodes.iter_mut() {
            if n.live && now.saturating_duration_since(n.last_heartbeat) > dead_after {
                n.live = false;
                n.pending_deletes.clear();
                n.pending_copies.clear();
                dead.push((uuid.clone(), n.blocks.drain().collect()));
            }
        }
        dead
    }

    pub fn iter(&self) -> impl Iterator<Item = &Datanode> {
        self.nodes.values()
    }

    pub fn live_count(&self) -> usize {
        self.nodes.values().filter(|n| n.live).count()
    }

    pub fn report(&self, now: Instant) -> Vec<DatanodeReport> {
        let mut v: Vec<DatanodeReport> = self
            .nodes
            .values()
            .map(|n| DatanodeReport {
                id: n.id.clone(),
                live: n.live,
                capacity: n.stats.capacity,
                used: n.stats.used,
                remaining: n.stats.remaining,
                num_blocks: n.blocks.len() as u64,
                last_heartbeat_ms_ago: now.saturating_duration_since(n.last_heartbeat).as_millis()
                    as u64,
                xceivers: n.xceivers,
                admin_state: n.admin,
                blocks_to_replicate: n.blocks_to_replicate,
            })
            .collect();
        v.sort_by(|a, b| {
            a.id.data_addr
                .cmp(&b.id.data_addr)
                .then(a.id.uuid.cmp(&b.id.uuid))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(uuid: &str, host: &str, addr: &str) -> DatanodeId {
        DatanodeId {
            uuid: uuid.into(),
            host: host.into(),
            data_addr: addr.into(),
            http_addr: String::new(),
            rack: "/ignored".into(),
        }
    }

    #[test]
    fn topology_file() {
        let t = Topology::parse("# racks\n10.0.0.1 /r1\nhostb r2\n\n");
        assert_eq!(t.rack_of("10.0.0.1"), "/r1");
        assert_eq!(t.rack_of("hostb"), "/r2");
        assert_eq!(t.rack_of("x"), DEFAULT_RACK);
    }

    #[test]
    fn register_heartbeat_death() {
        let t0 = Instant::now();
        let mut m = DatanodeManager::new(Topology::parse("h1 /r1"));
        let (rack, old) = m.register(id("u1", "h1", "a:1"), StorageStats::default(), t0);
        assert_eq!(rack, "/r1");
        assert!(old.is_empty());
        assert!(m
            .heartbeat("nope", StorageStats::default(), 0, t0)
            .is_none());
        m.queue_delete(
            "u1",
            Block {
                id: 9,
                genstamp: 1,
                num_bytes: 0,
            },
        );
        let (d, c) = m.heartbeat("u1", StorageStats::default(), 2, t0).unwrap();
        assert_eq!((d.len(), c.len()), (1, 0));
        assert!(m
            .heartbeat("u1", StorageStats::default(), 2, t0)
            .unwrap()
            .0
            .is_empty());
        m.live_mut("u1").unwrap().blocks.insert(7);
        let dead = m.check_liveness(t0 + Duration::from_secs(31), Duration::from_secs(30));
        assert_eq!(dead, vec![("u1".to_string(), vec![7])]);
        assert!(m.heartbeat("u1", StorageStats::default(), 0, t0).is_none());
        assert!(!m.report(t0)[0].live);
        // Re-registering (same uuid) revives the entry, keeping its state.
        m.get_mut("u1").unwrap().admin = AdminState::Decommissioning;
        let (_, old) = m.register(id("u1", "h1", "a:1"), StorageStats::default(), t0);
        assert!(old.is_empty());
        assert_eq!(m.live_count(), 1);
        assert_eq!(m.get("u1").unwrap().admin, AdminState::Decommissioning);
        m.live_mut("u1").unwrap().blocks.insert(8);
        m.register(id("u1", "h1", "a:1"), StorageStats::default(), t0);
        assert!(m.get("u1").unwrap().blocks.contains(&8));
        assert_eq!(m.matching("h1"), vec!["u1".to_string()]);
        assert_eq!(m.matching("a:1"), vec!["u1".to_string()]);
        assert!(m.matching("nope").is_empty());
        // A new uuid at the same address replaces the old node.
        let (_, old) = m.register(id("u2", "h1", "a:1"), StorageStats::default(), t0);
        assert_eq!(old[0].id.uuid, "u1");
        assert_eq!(m.iter().count(), 1);
    }
}
