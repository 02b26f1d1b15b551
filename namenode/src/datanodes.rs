//! The datanode manager: who is registered, alive, how full, and the commands
//! queued for each node. Soft state; time is passed in (`now`) so tests can
//! drive it.

use crate::types::{Block, DatanodeId, DatanodeReport, StorageStats};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Rack of hosts without a topology entry.
pub const DEFAULT_RACK: &str = "/default-rack";
/// At most this many replicas are named in one DELETE command.
const MAX_DELETES_PER_HEARTBEAT: usize = 1000;

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
    /// replaces — the same uuid, or another uuid at the same data address (a
    /// datanode whose disks were wiped) — whose replicas the caller must drop.
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
        let replaced = stale.iter().filter_map(|u| self.nodes.remove(u)).collect();
        let rack = id.rack.clone();
        self.nodes.insert(
            id.uuid.clone(),
            Datanode {
                id,
                stats,
                xceivers: 0,
                last_heartbeat: now,
                live: true,
                blocks: HashSet::new(),
                pending_deletes: Vec::new(),
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

    /// Records a heartbeat; `None` when the node must re-register (unknown
    /// or declared dead). Otherwise the replicas to delete.
    pub fn heartbeat(
        &mut self,
        uuid: &str,
        stats: StorageStats,
        xceivers: u32,
        now: Instant,
    ) -> Option<Vec<Block>> {
        let n = self.live_mut(uuid)?;
        n.stats = stats;
        n.xceivers = xceivers;
        n.last_heartbeat = now;
        let k = n.pending_deletes.len().min(MAX_DELETES_PER_HEARTBEAT);
        Some(n.pending_deletes.drain(..k).collect())
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
                admin_state: "In Service".to_string(),
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
        let d = m.heartbeat("u1", StorageStats::default(), 2, t0).unwrap();
        assert_eq!(d.len(), 1);
        assert!(m
            .heartbeat("u1", StorageStats::default(), 2, t0)
            .unwrap()
            .is_empty());
        m.live_mut("u1").unwrap().blocks.insert(7);
        let dead = m.check_liveness(t0 + Duration::from_secs(31), Duration::from_secs(30));
        assert_eq!(dead, vec![("u1".to_string(), vec![7])]);
        assert!(m.heartbeat("u1", StorageStats::default(), 0, t0).is_none());
        assert!(!m.report(t0)[0].live);
        // Re-registering (same uuid) replaces the entry and revives it.
        let (_, old) = m.register(id("u1", "h1", "a:1"), StorageStats::default(), t0);
        assert_eq!(old.len(), 1);
        assert_eq!(m.live_count(), 1);
        // A new uuid at the same address replaces the old node.
        let (_, old) = m.register(id("u2", "h1", "a:1"), StorageStats::default(), t0);
        assert_eq!(old[0].id.uuid, "u1");
        assert_eq!(m.iter().count(), 1);
    }
}
