//! The scheduler: which application gets which node's free resources.
//!
//! Pure: no RPC types, no clocks. The resource manager feeds it nodes,
//! applications, their resource requests and released containers, and calls
//! [`Scheduler::node_update`] (one scheduling opportunity on one node, on that
//! node's heartbeat) or [`Scheduler::schedule_all`] (one opportunity on every
//! node, after new requests or freed resources); both return the containers to
//! grant.
//!
//! - **Delay scheduling** (Hadoop's): misses are counted per application and
//!   priority — one each time a node with room is offered and no request at
//!   that priority may take it. Requests naming hosts take only those hosts
//!   until `node_locality_delay` misses, then hosts on the same racks too,
//!   after `rack_locality_delay` misses any node (only with
//!   `relax_locality`). On one node, a node-local request goes before a
//!   rack-local one before an off-switch one. A node- or rack-local grant
//!   resets the misses (an off-switch one does not, so a job whose data is
//!   elsewhere is not delayed once per container). A request naming only
//!   racks is rack-local at once; one naming nothing goes anywhere.
//! - **Fair sharing**: every application with demand gets a max-min fair share
//!   of the cluster's memory (water-filling over demand = used + pending); the
//!   application with the lowest used/share ratio is offered a node first, so
//!   a long job holding the cluster cannot starve a short one: each container
//!   the long job frees goes to the short job until their shares even out.
//! - A node is never given more than its capacity.

use std::collections::{BTreeMap, HashMap, HashSet};

/// An amount of memory and cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Res {
    pub memory_mb: u64,
    pub vcores: u32,
}

impl Res {
    pub fn new(memory_mb: u64, vcores: u32) -> Res {
        Res { memory_mb, vcores }
    }

    /// Whether `self` fits in `free`.
    pub fn fits_in(&self, free: Res) -> bool {
        self.memory_mb <= free.memory_mb && self.vcores <= free.vcores
    }

    pub fn plus(self, o: Res) -> Res {
        Res::new(self.memory_mb + o.memory_mb, self.vcores + o.vcores)
    }

    pub fn minus(self, o: Res) -> Res {
        Res::new(
            self.memory_mb.saturating_sub(o.memory_mb),
            self.vcores.saturating_sub(o.vcores),
        )
    }
}

impl std::fmt::Display for Res {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<memory:{} MB, vcores:{}>", self.memory_mb, self.vcores)
    }
}

/// Delay scheduling thresholds (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    pub node_locality_delay: u32,
    pub rack_locality_delay: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            node_locality_delay: 10,
            rack_locality_delay: 20,
        }
    }
}

/// `count` containers of `resource`, preferably on `hosts` / `racks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The application's tag for the request; grants carry it.
    pub request_id: u64,
    /// Lower is served first within the application.
    pub priority: u32,
    pub resource: Res,
    pub count: u32,
    pub hosts: Vec<String>,
    pub racks: Vec<String>,
    pub relax_locality: bool,
}

impl Ask {
    /// A request for `count` containers anywhere.
    pub fn anywhere(request_id: u64, resource: Res, count: u32) -> Ask {
        Ask {
            request_id,
            priority: 0,
            resource,
            count,
            hosts: Vec::new(),
            racks: Vec::new(),
            relax_locality: true,
        }
    }

    /// A request for `count` containers on `hosts`, relaxing to rack and anywhere.
    pub fn on_hosts(request_id: u64, resource: Res, count: u32, hosts: &[&str]) -> Ask {
        Ask {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Ask::anywhere(request_id, resource, count)
        }
    }
}

/// How close a granted container is to what its request preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    NodeLocal,
    RackLocal,
    OffSwitch,
}

/// A container granted to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Unique for the scheduler's life; the resource manager names containers after it.
    pub container: u64,
    pub app: String,
    pub node: String,
    pub request_id: u64,
    pub priority: u32,
    pub resource: Res,
    pub locality: Locality,
}

#[derive(Debug)]
struct Node {
    host: String,
    rack: String,
    capacity: Res,
    used: Res,
}

#[derive(Debug)]
struct Pending {
    ask: Ask,
    /// Insertion order, to break priority ties.
    seq: u64,
    remaining: u32,
}

#[derive(Debug)]
struct App {
    /// Submission order: ties in fairness go to the older application.
    order: u64,
    /// Outstanding requests with something left to grant, sorted by
    /// (priority, seq): the order they are served in.
    pending: Vec<Pending>,
    /// Memory of everything still pending (demand for fair shares).
    pending_mb: u64,
    /// Missed scheduling opportunities per priority since the last node- or
    /// rack-local grant at that priority.
    missed: HashMap<u32, u32>,
    used: Res,
}

#[derive(Debug)]
struct Live {
    app: String,
    node: String,
    resource: Res,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    nodes: BTreeMap<String, Node>,
    apps: HashMap<String, App>,
    containers: HashMap<u64, Live>,
    next_container: u64,
    next_seq: u64,
}

impl Scheduler {
    pub fn new(cfg: SchedulerConfig) -> Scheduler {
        Scheduler {
            cfg,
            next_container: 1,
            ..Default::default()
        }
    }

    /// Adds (or replaces, forgetting its containers) a node.
    pub fn add_node(&mut self, id: &str, host: &str, rack: &str, capacity: Res) {
        self.remove_node(id);
        self.nodes.insert(
            id.to_string(),
            Node {
                host: host.to_string(),
                rack: rack.to_string(),
                capacity,
                used: Res::default(),
            },
        );
    }

    /// Removes a node; returns the containers that were on it (now freed),
    /// with their applications.
    pub fn remove_node(&mut self, id: &str) -> Vec<(u64, String)> {
        if self.nodes.remove(id).is_none() {
            return Vec::new();
        }
        let gone: Vec<u64> = self
            .containers
            .iter()
            .filter(|(_, l)| l.node == id)
            .map(|(c, _)| *c)
            .collect();
        let mut out = Vec::new();
        for c in gone {
            if let Some(l) = self.containers.remove(&c) {
                if let Some(a) = self.apps.get_mut(&l.app) {
                    a.used = a.used.minus(l.resource);
                }
                out.push((c, l.app));
            }
        }
        out.sort();
        out
    }

    pub fn add_app(&mut self, app: &str) {
        let order = self.next_seq;
        self.next_seq += 1;
        self.apps.entry(app.to_string()).or_insert(App {
            order,
            pending: Vec::new(),
            pending_mb: 0,
            missed: HashMap::new(),
            used: Res::default(),
        });
    }

    /// Removes an application and frees its containers; returns them.
    pub fn remove_app(&mut self, app: &str) -> Vec<u64> {
        self.apps.remove(app);
        let mine: Vec<u64> = self
            .containers
            .iter()
            .filter(|(_, l)| l.app == app)
            .map(|(c, _)| *c)
            .collect();
        for c in &mine {
            self.release(*c);
        }
        let mut mine = mine;
        mine.sort();
        mine
    }

    /// Adds outstanding requests of an application (unknown apps are ignored).
    pub fn add_asks(&mut self, app: &str, asks: Vec<Ask>) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        for ask in asks {
            if ask.count == 0 {
                continue;
            }
            self.next_seq += 1;
            a.pending_mb += ask.resource.memory_mb * ask.count as u64;
            let key = (ask.priority, self.next_seq);
            let at = a
                .pending
                .partition_point(|p| (p.ask.priority, p.seq) <= key);
            a.pending.insert(
                at,
                Pending {
                    remaining: ask.count,
                    ask,
                    seq: self.next_seq,
                },
            );
        }
    }

    /// Withdraws what is not yet granted of a request.
    pub fn cancel(&mut self, app: &str, request_id: u64) {
        if let Some(a) = self.apps.get_mut(app) {
            let mut freed = 0;
            a.pending.retain(|p| {
                let keep = p.ask.request_id != request_id;
                if !keep {
                    freed += p.ask.resource.memory_mb * p.remaining as u64;
                }
                keep
            });
            a.pending_mb = a.pending_mb.saturating_sub(freed);
        }
    }

    /// Withdraws every outstanding request of an application.
    pub fn cancel_all(&mut self, app: &str) {
        if let Some(a) = self.apps.get_mut(app) {
            a.pending.clear();
            a.pending_mb = 0;
        }
    }

    /// Frees a granted container; false if it is unknown (already freed).
    pub fn release(&mut self, container: u64) -> bool {
        let Some(l) = self.containers.remove(&container) else {
            return false;
        };
        if let Some(n) = self.nodes.get_mut(&l.node) {
            n.used = n.used.minus(l.resource);
        }
        if let Some(a) = self.apps.get_mut(&l.app) {
            a.used = a.used.minus(l.resource);
        }
        true
    }

    /// Containers still to grant to an application.
    pub fn pending(&self, app: &str) -> u32 {
        self.apps
            .get(app)
            .map(|a| a.pending.iter().map(|p| p.remaining).sum())
            .unwrap_or(0)
    }

    /// What an application holds.
    pub fn app_usage(&self, app: &str) -> Res {
        self.apps.get(app).map(|a| a.used).unwrap_or_default()
    }

    /// (used, capacity) of a node.
    pub fn node_usage(&self, node: &str) -> Option<(Res, Res)> {
        self.nodes.get(node).map(|n| (n.used, n.capacity))
    }

    /// The largest container one node can hold.
    pub fn max_capability(&self) -> Res {
        Res::new(
            self.nodes
                .values()
                .map(|n| n.capacity.memory_mb)
                .max()
                .unwrap_or(0),
            self.nodes
                .values()
                .map(|n| n.capacity.vcores)
                .max()
                .unwrap_or(0),
        )
    }

    /// (used, capacity) of the whole cluster.
    pub fn cluster_usage(&self) -> (Res, Res) {
        self.nodes
            .values()
            .fold((Res::default(), Res::default()), |(u, c), n| {
                (u.plus(n.used), c.plus(n.capacity))
            })
    }

    /// Max-min fair share of cluster memory of every application with
    /// demand (used + pending), by water-filling.
    pub fn fair_shares(&self) -> HashMap<String, u64> {
        let total: u64 = self.nodes.values().map(|n| n.capacity.memory_mb).sum();
        let mut demands: Vec<(u64, &String)> = self
            .apps
            .iter()
            .map(|(id, a)| (a.used.memory_mb + a.pending_mb, id))
            .filter(|(d, _)| *d > 0)
            .collect();
        demands.sort();
        let mut left = total;
        let n = demands.len();
        let mut out = HashMap::new();
        for (i, (d, id)) in demands.into_iter().enumerate() {
            let each = left / (n - i) as u64;
            let give = d.min(each);
            left -= give;
            out.insert(id.clone(), give);
        }
        out
    }

    /// Applications with pending requests, the furthest below its fair share first.
    fn fair_order(&self) -> Vec<String> {
        let shares = self.fair_shares();
        let mut v: Vec<(f64, u64, &String)> = self
            .apps
            .iter()
            .filter(|(_, a)| !a.pending.is_empty())
            .map(|(id, a)| {
                let share = shares.get(id).copied().unwrap_or(0).max(1) as f64;
                (a.used.memory_mb as f64 / share, a.order, id)
            })
            .collect();
        v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        v.into_iter().map(|(_, _, id)| id.clone()).collect()
    }

    /// One scheduling opportunity on every node (emptiest first).
    pub fn schedule_all(&mut self) -> Vec<Allocation> {
        let mut ids: Vec<(u64, String)> = self
            .nodes
            .iter()
            .map(|(id, n)| (n.capacity.minus(n.used).memory_mb, id.clone()))
            .collect();
        ids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out = Vec::new();
        for (_, id) in ids {
            out.extend(self.node_update(&id));
        }
        out
    }

    /// One scheduling opportunity on `node`: grants containers there, in fair
    /// order, until nothing more fits or nobody wants it.
    pub fn node_update(&mut self, node: &str) -> Vec<Allocation> {
        let mut out = Vec::new();
        // (app, priority) that declined this node for locality: one miss each.
        let mut missed: HashSet<(String, u32)> = HashSet::new();
        loop {
            let mut granted = false;
            for app in self.fair_order() {
                if let Some(a) = self.try_place(&app, node, &mut missed) {
                    out.push(a);
                    granted = true;
                    break;
                }
            }
            if !granted {
                break;
            }
        }
        for (app, prio) in missed {
            if let Some(a) = self.apps.get_mut(&app) {
                *a.missed.entry(prio).or_insert(0) += 1;
            }
        }
        out
    }

    /// How `node` matches `ask`, and whether the request may take it after
    /// `missed` opportunities.
    fn matches(&self, ask: &Ask, missed: u32, node: &Node) -> (Locality, bool) {
        if ask.hosts.is_empty() && ask.racks.is_empty() {
            return (Locality::OffSwitch, true);
        }
        if ask.hosts.contains(&node.host) {
            return (Locality::NodeLocal, true);
        }
        let rack_match = ask.racks.contains(&node.rack)
            || ask.hosts.iter().any(|h| {
                self.nodes
                    .values()
                    .any(|n| n.host == *h && n.rack == node.rack)
            });
        if rack_match {
            let ok = ask.hosts.is_empty()
                || (ask.relax_locality && missed >= self.cfg.node_locality_delay);
            return (Locality::RackLocal, ok);
        }
        let ok = ask.relax_locality
            && missed
                >= self
                    .cfg
                    .rack_locality_delay
                    .max(self.cfg.node_locality_delay);
        (Locality::OffSwitch, ok)
    }

    /// Grants one container of `app` on `node_id` if a request may take it:
    /// priorities in order; within one, a node-local request first, then
    /// rack-local, then off-switch, as the misses allow.
    fn try_place(
        &mut self,
        app: &str,
        node_id: &str,
        missed: &mut HashSet<(String, u32)>,
    ) -> Option<Allocation> {
        let node = self.nodes.get(node_id)?;
        let free = node.capacity.minus(node.used);
        let a = self.apps.get(app)?;
        let mut chosen: Option<(usize, Locality)> = None;
        let mut i = 0;
        while i < a.pending.len() && chosen.is_none() {
            let prio = a.pending[i].ask.priority;
            let misses = a.missed.get(&prio).copied().unwrap_or(0);
            let mut declined = false;
            let mut best: Option<(usize, Locality)> = None;
            while i < a.pending.len() && a.pending[i].ask.priority == prio {
                let p = &a.pending[i];
                if p.ask.resource.fits_in(free) {
                    let (loc, ok) = self.matches(&p.ask, misses, node);
                    if !ok {
                        declined = true;
                    } else if best.is_none_or(|(_, b)| rank(loc) < rank(b)) {
                        best = Some((i, loc));
                    }
                }
                i += 1;
                if best.is_some_and(|(_, l)| l == Locality::NodeLocal) {
                    break;
                }
            }
            match best {
                Some(b) => chosen = Some(b),
                None if declined => {
                    missed.insert((app.to_string(), prio));
                }
                None => {}
            }
        }
        let (i, locality) = chosen?;
        let container = self.next_container;
        self.next_container += 1;
        let a = self.apps.get_mut(app)?;
        let p = &mut a.pending[i];
        p.remaining -= 1;
        a.pending_mb = a.pending_mb.saturating_sub(p.ask.resource.memory_mb);
        let prio = p.ask.priority;
        let preferred = !(p.ask.hosts.is_empty() && p.ask.racks.is_empty());
        let alloc = Allocation {
            container,
            app: app.to_string(),
            node: node_id.to_string(),
            request_id: p.ask.request_id,
            priority: prio,
            resource: p.ask.resource,
            locality,
        };
        if p.remaining == 0 {
            a.pending.remove(i);
        }
        // A local grant shows local room exists again: wait for it anew.
        // (Off-switch grants keep the misses, so a job whose data is
        // elsewhere is not delayed once per container.)
        if preferred && locality != Locality::OffSwitch {
            a.missed.remove(&prio);
            missed.remove(&(app.to_string(), prio));
        }
        a.used = a.used.plus(alloc.resource);
        if let Some(n) = self.nodes.get_mut(node_id) {
            n.used = n.used.plus(alloc.resource);
        }
        self.containers.insert(
            container,
            Live {
                app: app.to_string(),
                node: node_id.to_string(),
                resource: alloc.resource,
            },
        );
        Some(alloc)
    }
}

fn rank(l: Locality) -> u8 {
    match l {
        Locality::NodeLocal => 0,
        Locality::RackLocal => 1,
        Locality::OffSwitch => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(nodes: &[(&str, &str)], mem: u64) -> Scheduler {
        let mut s = Scheduler::new(SchedulerConfig {
            node_locality_delay: 2,
            rack_locality_delay: 4,
        });
        for (host, rack) in nodes {
            s.add_node(host, host, rack, Res::new(mem, 8));
        }
        s
    }

    const C: Res = Res {
        memory_mb: 1024,
        vcores: 1,
    };

    #[test]
    fn anywhere_request_is_granted_at_once() {
        let mut s = cluster(&[("h1", "/r1"), ("h2", "/r1")], 2048);
        s.add_app("a");
        s.add_asks("a", vec![Ask::anywhere(7, C, 3)]);
        let got = s.schedule_all();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|a| a.request_id == 7 && a.app == "a"));
        assert_eq!(s.pending("a"), 0);
    }

    #[test]
    fn never_over_allocates_a_node() {
        let mut s = cluster(&[("h1", "/r1")], 3000);
        s.add_app("a");
        s.add_app("b");
        s.add_asks("a", vec![Ask::anywhere(1, C, 10)]);
        s.add_asks("b", vec![Ask::anywhere(1, Res::new(512, 1), 10)]);
        for _ in 0..5 {
            s.schedule_all();
            let (used, cap) = s.node_usage("h1").unwrap();
            assert!(used.fits_in(cap), "{used} > {cap}");
        }
        let (used, _) = s.node_usage("h1").unwrap();
        assert!(used.memory_mb <= 3000 && used.memory_mb >= 2560, "{used}");
        // A request bigger than any node is never granted.
        s.add_app("c");
        s.add_asks("c", vec![Ask::anywhere(1, Res::new(4000, 1), 1)]);
        s.remove_app("a");
        s.remove_app("b");
        assert!(s.schedule_all().is_empty());
    }

    #[test]
    fn locality_preferred_when_a_node_frees_up() {
        let mut s = cluster(&[("h1", "/r1"), ("h2", "/r1"), ("h3", "/r2")], 1024);
        s.add_app("filler");
        s.add_asks("filler", vec![Ask::on_hosts(1, C, 1, &["h1"])]);
        let f = s.schedule_all();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].node, "h1");
        assert_eq!(f[0].locality, Locality::NodeLocal);
        s.add_app("a");
        s.add_asks("a", vec![Ask::on_hosts(9, C, 1, &["h1"])]);
        // h2 and h3 are free but not wanted: one miss (below the delay of 2).
        assert!(s.node_update("h2").is_empty());
        s.release(f[0].container);
        let got = s.node_update("h1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].node, "h1");
        assert_eq!(got[0].locality, Locality::NodeLocal);
    }

    #[test]
    fn rack_local_after_n_misses_then_off_switch() {
        let mut s = cluster(&[("h1", "/r1"), ("h2", "/r1"), ("h3", "/r2")], 1024);
        s.add_app("filler");
        s.add_asks("filler", vec![Ask::on_hosts(1, C, 1, &["h1"])]);
        assert_eq!(s.schedule_all().len(), 1);
        s.add_app("a");
        s.add_asks("a", vec![Ask::on_hosts(1, C, 2, &["h1"])]);
        // Misses 1 and 2 (delay 2): declined on h2 and on h3.
        assert!(s.node_update("h3").is_empty());
        assert!(s.node_update("h2").is_empty());
        // Off-switch needs 4 misses: h3 (other rack) still declined (miss 3).
        assert!(s.node_update("h3").is_empty());
        // Rack-local is allowed now.
        let got = s.node_update("h2");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].locality, Locality::RackLocal);
        // The grant reset the misses of the second container.
        assert!(s.node_update("h3").is_empty());
        for _ in 0..3 {
            assert!(s.node_update("h3").is_empty());
        }
        let got = s.node_update("h3");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].locality, Locality::OffSwitch);
    }

    #[test]
    fn strict_locality_never_relaxes() {
        let mut s = cluster(&[("h1", "/r1"), ("h2", "/r1")], 1024);
        s.add_app("filler");
        s.add_asks("filler", vec![Ask::on_hosts(1, C, 1, &["h1"])]);
        s.schedule_all();
        s.add_app("a");
        let mut ask = Ask::on_hosts(1, C, 1, &["h1"]);
        ask.relax_locality = false;
        s.add_asks("a", vec![ask]);
        for _ in 0..20 {
            assert!(s.node_update("h2").is_empty());
        }
        assert_eq!(s.pending("a"), 1);
    }

    #[test]
    fn rack_only_request_is_rack_local_at_once() {
        let mut s = cluster(&[("h1", "/r1"), ("h2", "/r2")], 1024);
        s.add_app("a");
        let mut ask = Ask::anywhere(1, C, 1);
        ask.racks = vec!["/r2".into()];
        s.add_asks("a", vec![ask]);
        assert!(s.node_update("h1").is_empty());
        let got = s.node_update("h2");
        assert_eq!(got[0].locality, Locality::RackLocal);
    }

    #[test]
    fn fairness_between_a_big_and_a_small_app() {
        // 4 nodes x 4 containers = 16 slots.
        let mut s = cluster(
            &[("h1", "/r"), ("h2", "/r"), ("h3", "/r"), ("h4", "/r")],
            4096,
        );
        s.add_app("big");
        s.add_asks("big", vec![Ask::anywhere(1, C, 100)]);
        let first = s.schedule_all();
        assert_eq!(first.len(), 16, "the big job takes the idle cluster");
        s.add_app("small");
        s.add_asks("small", vec![Ask::anywhere(1, C, 4)]);
        assert!(s.schedule_all().is_empty(), "no preemption");
        // Each container the big job frees goes to the small job.
        for (i, a) in first.iter().take(4).enumerate() {
            s.release(a.container);
            let got = s.node_update(&a.node);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].app, "small", "freed slot {i}");
        }
        assert_eq!(s.pending("small"), 0);
        // Then back to the big one.
        s.release(first[4].container);
        assert_eq!(s.node_update(&first[4].node)[0].app, "big");
    }

    #[test]
    fn fair_shares_are_max_min() {
        let mut s = cluster(&[("h1", "/r")], 10_000);
        s.add_app("big");
        s.add_app("small");
        s.add_asks("big", vec![Ask::anywhere(1, Res::new(1000, 1), 100)]);
        s.add_asks("small", vec![Ask::anywhere(1, Res::new(1000, 1), 2)]);
        let shares = s.fair_shares();
        assert_eq!(shares["small"], 2000);
        assert_eq!(shares["big"], 8000);
        // Interleaved from an empty cluster (8 cores: 8 containers): the
        // small job is not starved.
        let got = s.schedule_all();
        assert_eq!(got.len(), 8);
        assert_eq!(got.iter().filter(|a| a.app == "small").count(), 2);
    }

    #[test]
    fn lost_node_frees_its_containers() {
        let mut s = cluster(&[("h1", "/r"), ("h2", "/r")], 1024);
        s.add_app("a");
        s.add_asks("a", vec![Ask::anywhere(1, C, 2)]);
        let got = s.schedule_all();
        assert_eq!(got.len(), 2);
        let on_h1: Vec<u64> = got
            .iter()
            .filter(|a| a.node == "h1")
            .map(|a| a.container)
            .collect();
        let lost = s.remove_node("h1");
        assert_eq!(lost.iter().map(|(c, _)| *c).collect::<Vec<_>>(), on_h1);
        assert_eq!(s.app_usage("a"), C);
        assert!(!s.release(on_h1[0]));
    }

    #[test]
    fn priorities_and_cancel() {
        let mut s = cluster(&[("h1", "/r")], 1024);
        s.add_app("a");
        let mut low = Ask::anywhere(1, C, 1);
        low.priority = 20;
        let mut high = Ask::anywhere(2, C, 1);
        high.priority = 10;
        s.add_asks("a", vec![low, high]);
        let got = s.schedule_all();
        assert_eq!(got[0].request_id, 2);
        s.cancel("a", 1);
        assert_eq!(s.pending("a"), 0);
    }

    #[test]
    fn thousands_of_local_requests_are_mostly_node_local() {
        // 20 nodes x 8 slots; 4000 one-container requests, each preferring
        // 2 of the nodes (a block's replicas); containers finish in waves.
        let nodes: Vec<String> = (0..20).map(|i| format!("h{i}")).collect();
        let mut s = Scheduler::new(SchedulerConfig::default());
        for (i, n) in nodes.iter().enumerate() {
            s.add_node(
                n,
                n,
                if i % 2 == 0 { "/r0" } else { "/r1" },
                Res::new(8192, 8),
            );
        }
        s.add_app("job");
        let asks: Vec<Ask> = (0..4000u64)
            .map(|i| {
                let a = &nodes[(i * 7 % 20) as usize];
                let b = &nodes[(i * 13 % 20) as usize];
                Ask::on_hosts(i, C, 1, &[a, b])
            })
            .collect();
        s.add_asks("job", asks);
        let start = std::time::Instant::now();
        let mut local = 0;
        let mut total = 0;
        let mut running: Vec<Allocation> = s.schedule_all();
        while total < 4000 {
            total += running.len();
            local += running
                .iter()
                .filter(|a| a.locality == Locality::NodeLocal)
                .count();
            let wave: Vec<Allocation> = std::mem::take(&mut running);
            for a in &wave {
                s.release(a.container);
                running.extend(s.node_update(&a.node));
            }
            if wave.is_empty() {
                running = s.schedule_all();
                assert!(!running.is_empty(), "stuck at {total}");
            }
        }
        assert_eq!(total, 4000);
        assert!(local * 100 >= total * 90, "{local} of {total} node-local");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }
}
