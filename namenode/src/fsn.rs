//! The namesystem: every namespace, block and datanode operation of the
//! namenode as plain synchronous methods over domain types (HDFS's
//! `FSNamesystem`). The RPC layer holds it behind one lock, calls a method,
//! and — for mutations — waits for group commit outside the lock.
//!
//! Each mutation computes one [`Txn`] and commits it at the end, so a failed
//! operation leaves nothing behind. Permission checks (HDFS semantics) are
//! done here, on every operation.

use crate::blockmap::{BlockInfo, BlockMap, UnderReplicated};
use crate::datanodes::{DatanodeManager, Topology};
use crate::error::{NnError, NnResult};
use crate::leases::Leases;
pub use crate::namespace::SubtreeWalk;
use crate::namespace::{BlockRecord, Namespace, Txn, ROOT_ID, WALK_PAGE};
use crate::permission::{self, Caller, EXECUTE, READ, WRITE};
use crate::placement::{self, Candidate};
use crate::replication::{ReplConfig, ReplicationQueues};
use crate::store::KvStore;
use crate::types::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tusk_common::path as tpath;
use tusk_common::sys::now_ms;

/// HDFS's `dfs.replication.max`.
pub const MAX_REPLICATION: u32 = 512;
/// Bytes per CRC32C chunk, announced in the server defaults.
pub const BYTES_PER_CHECKSUM: u32 = 512;
/// Client packet size, announced in the server defaults (the writer's
/// `tusk_client::packet::PACKET_SIZE`).
pub const WRITE_PACKET_SIZE: u32 = 256 << 10;

/// The settings the namesystem uses (from `TuskConfig`).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub default_replication: u32,
    pub default_block_size: u64,
    pub listing_limit: u32,
    pub max_directory_items: u64,
    pub superuser: String,
    pub supergroup: String,
    pub safemode_threshold: f64,
    pub safemode_extension: Duration,
    pub dead_after: Duration,
    /// Copies one datanode may be the source of at once.
    pub max_replication_streams: u32,
    /// When an unreported copy is retried elsewhere.
    pub pending_replication_timeout: Duration,
    /// After it, another client may recover a silent writer's file.
    pub lease_soft_limit: Duration,
    /// After it, the namenode recovers a silent writer's file itself.
    pub lease_hard_limit: Duration,
    /// Inodes a delete removes per hold of the lock (see `fsn_delete.rs`).
    pub deletion_increment: usize,
    /// How long the trash keeps what `rm` moved into it; zero: no trash.
    pub trash_interval: Duration,
}

impl CoreConfig {
    pub fn from_config(cfg: &tusk_common::TuskConfig) -> Self {
        CoreConfig {
            default_replication: cfg.cluster.replication.max(1),
            default_block_size: cfg.cluster.block_size.0.max(1),
            listing_limit: cfg.namenode.listing_limit.max(1),
            max_directory_items: cfg.namenode.max_directory_items.max(1),
            superuser: cfg
                .namenode
                .superuser
                .clone()
                .unwrap_or_else(tusk_common::sys::login_user),
            supergroup: cfg.namenode.supergroup.clone(),
            safemode_threshold: cfg.namenode.safemode_threshold,
            safemode_extension: cfg.namenode.safemode_extension.0,
            dead_after: cfg.cluster.dead_after.0,
            max_replication_streams: cfg.namenode.max_replication_streams.max(1),
            pending_replication_timeout: cfg.namenode.pending_replication_timeout.0,
            lease_soft_limit: cfg.namenode.lease_soft_limit.0,
            lease_hard_limit: cfg.namenode.lease_hard_limit.0,
            deletion_increment: cfg.namenode.deletion_increment.max(1) as usize,
            trash_interval: cfg.namenode.trash_interval.0,
        }
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        let mut c = Self::from_config(&tusk_common::TuskConfig::default());
        c.superuser = "root".into();
        c
    }
}

/// Arguments of `create`.
#[derive(Debug, Clone)]
pub struct CreateArgs<'a> {
    pub path: &'a str,
    pub permission: u32,
    pub client_name: &'a str,
    pub overwrite: bool,
    pub create_parent: bool,
    /// 0 = cluster default.
    pub replication: u32,
    /// 0 = cluster default.
    pub block_size: u64,
}

/// Arguments of `add_block`.
#[derive(Debug, Clone)]
pub struct AddBlockArgs<'a> {
    pub path: &'a str,
    pub client_name: &'a str,
    pub file_id: u64,
    pub previous: Option<Block>,
    pub excluded: &'a [String],
    /// Host for "writer's node first" (request's client_host or the peer IP).
    pub writer_host: &'a str,
}

/// Safe-mode state.
#[derive(Debug, Clone, Copy)]
struct SafeMode {
    on: bool,
    /// Entered by an administrator: only left by an administrator.
    manual: bool,
    /// When the threshold was first reached (the extension counts from here).
    reached_at: Option<Instant>,
}

/// A path resolved against the namespace: the inodes that exist along it.
struct IPath {
    path: String,
    comps: Vec<String>,
    /// `inodes[0]` is `/`; `inodes[k]` is the inode of `comps[..k]`.
    inodes: Vec<Inode>,
    /// Resolution stopped at a file that has components below it.
    through_file: bool,
}

impl IPath {
    fn exists(&self) -> bool {
        !self.through_file && self.inodes.len() == self.comps.len() + 1
    }

    fn last(&self) -> Option<&Inode> {
        if self.exists() {
            self.inodes.last()
        } else {
            None
        }
    }

    /// Path of `inodes[k]`.
    fn prefix(&self, k: usize) -> String {
        if k == 0 {
            "/".to_string()
        } else {
            format!("/{}", self.comps[..k].join("/"))
        }
    }

    /// The inode of the final component's parent, when it exists.
    fn parent(&self) -> Option<&Inode> {
        if self.comps.is_empty() || self.through_file || self.inodes.len() < self.comps.len() {
            None
        } else {
            self.inodes.get(self.comps.len() - 1)
        }
    }

    /// Execute permission on every existing ancestor directory.
    fn check_traverse(&self, caller: &Caller) -> NnResult<()> {
        for (k, inode) in self.inodes.iter().enumerate().take(self.comps.len()) {
            if inode.is_dir() {
                permission::check(caller, inode, &self.prefix(k), EXECUTE)?;
            }
        }
        Ok(())
    }

    fn not_found(&self) -> NnError {
        NnError::NotFound(format!("File does not exist: {}", self.path))
    }

    fn not_dir_parent(&self) -> NnError {
        NnError::ParentNotDirectory(format!(
            "Parent path is not a directory: {}",
            self.prefix(self.inodes.len() - 1)
        ))
    }
}

/// The namesystem.
pub struct FsNamesystem {
    ns: Namespace,
    blocks: BlockMap,
    dns: DatanodeManager,
    leases: Leases,
    safe: SafeMode,
    cfg: CoreConfig,
    /// The replication monitor's copies in flight (see [`crate::replication`]).
    repl: ReplicationQueues,
    /// The balancer's current or last run (see [`crate::balancer`]).
    balancer: Option<crate::balancer::Balancer>,
    /// The pipeline (datanode uuids) of each block being written, for lease
    /// recovery. Soft state: after a restart, recovery asks every datanode.
    pipelines: HashMap<u64, Vec<String>>,
    /// Files whose lease the namenode is recovering, with when it started.
    recovering: HashMap<u64, Instant>,
    /// Datanodes not in service (decommissioning or decommissioned), as
    /// recorded in the store: applied when they register, so a namenode
    /// restart does not end a decommission.
    admin: HashMap<String, AdminState>,
    /// A delete detached a tree that is not purged yet (`fsn_delete.rs`).
    detached_pending: bool,
}

/// Sum of the blocks' lengths (saturating: lengths come from clients).
fn file_length(blocks: &[Block]) -> u64 {
    blocks
        .iter()
        .fold(0u64, |n, b| n.saturating_add(b.num_bytes))
}

/// A new inode in `parent`: group inherited from the parent (as HDFS).
fn new_inode(
    id: u64,
    parent: &Inode,
    name: &str,
    kind: InodeKind,
    owner: &str,
    permission: u32,
    now: u64,
) -> Inode {
    Inode {
        owner: owner.to_string(),
        group: parent.group.clone(),
        permission: permission & 0o7777,
        mtime_ms: now,
        atime_ms: now,
        ..Inode::blank(id, parent.id, name, kind)
    }
}

impl FsNamesystem {
    /// Opens (formatting if empty) the namespace in `store` and rebuilds the
    /// soft state: the block map from the `b` index, leases from the `u`
    /// index. Starts in safe mode unless there are no blocks.
    pub fn open(
        store: Arc<dyn KvStore>,
        cfg: CoreConfig,
        topology: Topology,
        now: Instant,
    ) -> NnResult<Self> {
        let (ns, formatted) = Namespace::open(store, &cfg.superuser, &cfg.supergroup, now_ms())?;
        if formatted {
            tracing::info!(superuser = %cfg.superuser, supergroup = %cfg.supergroup, "formatted a new namespace");
        }
        let mut blocks = BlockMap::new();
        let mut bad = 0u64;
        ns.scan_ids(b'b', &mut |id, v| match BlockRecord::decode(v) {
            Some(r) => blocks.insert(
                id,
                BlockInfo {
                    inode: r.inode,
                    genstamp: r.genstamp,
                    num_bytes: r.num_bytes,
                    replication: r.replication,
                    complete: r.complete,
                    locations: Vec::new(),
                    corrupt: Vec::new(),
                },
            ),
            None => bad += 1,
        })?;
        let admin: HashMap<String, AdminState> = ns.admin_states()?.into_iter().collect();
        let detached_pending = !ns
            .children(crate::namespace::DETACHED_ID, "", 1)?
            .0
            .is_empty();
        let mut leases = Leases::new();
        ns.scan_ids(b'u', &mut |id, v| {
            leases.add(&String::from_utf8_lossy(v), id, now);
        })?;
        if bad > 0 {
            tracing::warn!(records = bad, "skipped undecodable block records");
        }
        tracing::info!(
            files = ns.counters().files,
            dirs = ns.counters().dirs,
            blocks = blocks.len(),
            open_files = leases.len(),
            "namespace loaded"
        );
        let mut fsn = FsNamesystem {
            ns,
            blocks,
            dns: DatanodeManager::new(topology),
            leases,
            safe: SafeMode {
                on: true,
                manual: false,
                reached_at: None,
            },
            repl: ReplicationQueues::new(ReplConfig {
                max_streams: cfg.max_replication_streams as usize,
                pending_timeout: cfg.pending_replication_timeout,
            }),
            balancer: None,
            pipelines: HashMap::new(),
            recovering: HashMap::new(),
            admin,
            cfg,
            detached_pending,
        };
        fsn.update_safemode(now);
        Ok(fsn)
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    pub fn in_safe_mode(&self) -> bool {
        self.safe.on
    }

    /// Safe mode for the web UI: (on, entered by an administrator, when the
    /// block threshold was reached — the extension counts from there).
    pub fn safe_mode_detail(&self) -> (bool, bool, Option<Instant>) {
        (self.safe.on, self.safe.manual, self.safe.reached_at)
    }

    /// Leaves safe mode now (admin command; tests).
    pub fn leave_safe_mode(&mut self) {
        if self.safe.on {
            tracing::info!("left safe mode (forced)");
        }
        self.safe.on = false;
        self.safe.manual = false;
    }

    /// Enters safe mode (admin command; tests). It is then left only by
    /// [`leave_safe_mode`](Self::leave_safe_mode).
    pub fn enter_safe_mode(&mut self) {
        self.safe.on = true;
        self.safe.manual = true;
    }

    pub fn block_map(&self) -> &BlockMap {
        &self.blocks
    }

    pub fn datanodes(&self) -> &DatanodeManager {
        &self.dns
    }

    /// The namespace store's view (for tests and tools).
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// Under-replicated blocks, fewest live replicas first (for issue 3's
    /// replication monitor).
    pub fn under_replicated(&self) -> Vec<UnderReplicated> {
        self.blocks.under_replicated()
    }

    // ------------------------------------------------------------ helpers

    fn resolve(&self, path: &str) -> NnResult<IPath> {
        tpath::validate(path)?;
        let comps: Vec<String> = tpath::components(path).map(String::from).collect();
        let root = self
            .ns
            .inode(ROOT_ID)?
            .ok_or_else(|| NnError::Storage("the root inode is missing".into()))?;
        let mut inodes = vec![root];
        let mut through_file = false;
        for c in &comps {
            let cur = &inodes[inodes.len() - 1];
            if !cur.is_dir() {
                through_file = true;
                break;
            }
            match self.ns.child(cur.id, c)? {
                Some(i) => inodes.push(i),
                None => break,
            }
        }
        Ok(IPath {
            path: path.to_string(),
            comps,
            inodes,
            through_file,
        })
    }

    fn check_safemode(&self, what: &str) -> NnResult<()> {
        if self.safe.on {
            Err(NnError::SafeMode(format!(
                "{what}. Name node is in safe mode."
            )))
        } else {
            Ok(())
        }
    }

    fn check_dir_items(&self, dir: &Inode, dir_path: &str) -> NnResult<()> {
        if dir.children_num >= self.cfg.max_directory_items {
            return Err(NnError::TooManyItems(format!(
                "The directory item limit of {dir_path} is exceeded: limit={} items={}",
                self.cfg.max_directory_items, dir.children_num
            )));
        }
        Ok(())
    }

    /// Creates directories `names` under `parent` (which the caller then puts
    /// after counting the returned dir in). Returns the deepest new directory
    /// (not yet put) — or `parent` unchanged when `names` is empty.
    fn make_dirs(
        &mut self,
        txn: &mut Txn,
        caller: &Caller,
        mut parent: Inode,
        names: &[String],
        perm_of: &dyn Fn(bool) -> u32,
        now: u64,
    ) -> Inode {
        for (k, name) in names.iter().enumerate() {
            let last = k + 1 == names.len();
            let id = self.ns.alloc_inode_id();
            let dir = new_inode(
                id,
                &parent,
                name,
                InodeKind::Dir,
                &caller.user,
                perm_of(last),
                now,
            );
            txn.put_entry(parent.id, name, id);
            parent.children_num += 1;
            parent.mtime_ms = now;
            txn.put_inode(&parent);
            self.ns.counters_mut().dirs += 1;
            parent = dir;
        }
        parent
    }

    /// Removes a file's blocks from the block map, queues DELETE commands for
    /// every replica, and deletes their `b` records.
    fn drop_blocks(&mut self, inode: &Inode, txn: &mut Txn) {
        for b in &inode.blocks {
            txn.del_block(b.id);
            self.repl.forget(b.id);
            if let Some(info) = self.blocks.remove(b.id) {
                let blk = info.block(b.id);
                for n in info.locations.iter().chain(info.corrupt.iter()) {
                    self.dns.queue_delete(n, blk);
                }
            }
        }
    }

    /// Deletes one inode (keys, blocks, lease); counters adjusted.
    fn drop_inode(&mut self, inode: &Inode, txn: &mut Txn) {
        txn.del_inode(inode.id);
        txn.del_entry(inode.parent, &inode.name);
        if inode.is_file() {
            self.drop_blocks(inode, txn);
            if inode.under_construction() {
                txn.del_uc(inode.id);
                self.leases.remove(inode.id);
            }
            let c = self.ns.counters_mut();
            c.files = c.files.saturating_sub(1);
        } else {
            let c = self.ns.counters_mut();
            c.dirs = c.dirs.saturating_sub(1);
        }
    }

    /// The file being written, checked against the caller's lease.
    fn file_for_write(&self, path: &str, file_id: u64, client: &str) -> NnResult<Inode> {
        let inode = self.file_by_id_or_path(path, file_id)?;
        if inode.client_name != client || client.is_empty() {
            return Err(if inode.under_construction() {
                NnError::LeaseExpired(format!(
                    "Client {client} does not hold the lease on {path} (inode {}): it is owned by {}",
                    inode.id, inode.client_name
                ))
            } else {
                NnError::LeaseExpired(format!(
                    "No lease on {path} (inode {}): File is not open for writing. Holder {client} does not have any open files.",
                    inode.id
                ))
            });
        }
        Ok(inode)
    }

    fn file_by_id_or_path(&self, path: &str, file_id: u64) -> NnResult<Inode> {
        let inode = if file_id != 0 {
            self.ns.inode(file_id)?.ok_or_else(|| {
                NnError::NotFound(format!("File does not exist: {path} (inode {file_id})"))
            })?
        } else {
            let ip = self.resolve(path)?;
            ip.last().cloned().ok_or_else(|| ip.not_found())?
        };
        if !inode.is_file() {
            return Err(NnError::NotAFile(path.to_string()));
        }
        if file_id != 0 && !self.reachable(&inode)? {
            return Err(NnError::NotFound(format!(
                "File does not exist: {path} (inode {file_id}): it was deleted"
            )));
        }
        Ok(inode)
    }

    fn block_complete(&self, id: u64) -> bool {
        self.blocks.get(id).map(|b| b.complete).unwrap_or(true)
    }

    /// Commits the writer's final length of block `b` of `inode`.
    fn commit_block(&mut self, inode: &mut Inode, b: Block, txn: &mut Txn) -> NnResult<()> {
        let Some(slot) = inode.blocks.iter_mut().find(|x| x.id == b.id) else {
            return Err(NnError::BadBlock(format!(
                "Block blk_{} does not belong to file {} (inode {})",
                b.id, inode.name, inode.id
            )));
        };
        if b.genstamp != slot.genstamp {
            return Err(NnError::BadBlock(format!(
                "Block blk_{}_{} has generation stamp {} but the namenode has {}",
                b.id, b.genstamp, b.genstamp, slot.genstamp
            )));
        }
        slot.num_bytes = b.num_bytes;
        inode.length = file_length(&inode.blocks);
        self.pipelines.remove(&b.id);
        let replication = inode.replication;
        let inode_id = inode.id;
        if let Some(info) = self.blocks.get_mut(b.id) {
            info.num_bytes = b.num_bytes;
            info.complete = true;
        } else {
            self.blocks.insert(
                b.id,
                BlockInfo {
                    inode: inode_id,
                    genstamp: b.genstamp,
                    num_bytes: b.num_bytes,
                    replication,
                    complete: true,
                    locations: Vec::new(),
                    corrupt: Vec::new(),
                },
            );
        }
        txn.put_block(
            b.id,
            &BlockRecord {
                inode: inode_id,
                genstamp: b.genstamp,
                num_bytes: b.num_bytes,
                replication,
                complete: true,
            },
        );
        Ok(())
    }

    fn choose_targets(
        &self,
        path: &str,
        replication: u32,
        block_size: u64,
        writer_host: &str,
        excluded: &[String],
    ) -> NnResult<Vec<DatanodeId>> {
        let live: Vec<&crate::datanodes::Datanode> =
            self.dns.iter().filter(|n| n.in_service()).collect();
        let cands: Vec<Candidate> = live
            .iter()
            .map(|n| Candidate {
                uuid: n.id.uuid.clone(),
                host: n.id.host.clone(),
                rack: n.id.rack.clone(),
                remaining: n.stats.remaining,
                load: n.xceivers,
            })
            .collect();
        let excluded_set: HashSet<String> = excluded.iter().cloned().collect();
        let idx = placement::choose_targets(
            &cands,
            replication as usize,
            block_size,
            Some(writer_host),
            &excluded_set,
            &mut rand::thread_rng(),
        );
        if idx.is_empty() {
            return Err(NnError::NoDatanodes(format!(
                "File {path} could only be written to 0 of the 1 minReplication nodes. There are {} datanode(s) running and {} node(s) are excluded in this operation.",
                live.len(),
                excluded_set.len()
            )));
        }
        Ok(idx.into_iter().map(|i| live[i].id.clone()).collect())
    }

    /// Replica locations of a block for a reader: good ones sorted by
    /// distance; the corrupt ones (flagged) only when no good one exists.
    fn locate(&self, b: Block, offset: u64, reader_host: &str) -> LocatedBlock {
        let (nodes, corrupt) = match self.blocks.get(b.id) {
            Some(info) => {
                let good: Vec<&DatanodeId> = info
                    .locations
                    .iter()
                    .filter_map(|u| self.dns.live(u).map(|n| &n.id))
                    .collect();
                if good.is_empty() && !info.corrupt.is_empty() {
                    let bad: Vec<&DatanodeId> = info
                        .corrupt
                        .iter()
                        .filter_map(|u| self.dns.live(u).map(|n| &n.id))
                        .collect();
                    let any = !bad.is_empty();
                    (bad, any)
                } else {
                    (good, false)
                }
            }
            None => (Vec::new(), false),
        };
        let reader_rack = self.dns.topology().rack_of(reader_host);
        let pairs: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.host.as_str(), n.rack.as_str()))
            .collect();
        let mut order =
            placement::sort_for_reader(&pairs, reader_host, &reader_rack, &mut rand::thread_rng());
        // Decommissioning nodes serve reads, but after the others (as HDFS).
        order.sort_by_key(|&i| {
            self.dns
                .get(&nodes[i].uuid)
                .is_some_and(|n| n.admin != AdminState::InService)
        });
        LocatedBlock {
            block: b,
            offset,
            locations: order.into_iter().map(|i| nodes[i].clone()).collect(),
            corrupt,
        }
    }

    // ------------------------------------------------------------ reads

    /// Status of `path` (name ""), or `None` when it does not exist.
    pub fn get_file_info(&self, caller: &Caller, path: &str) -> NnResult<Option<FileStatus>> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        Ok(ip.last().map(|i| FileStatus::of(i, "")))
    }

    /// One page of a directory (or the file itself, `is_file`).
    pub fn get_listing(
        &self,
        caller: &Caller,
        path: &str,
        start_after: &str,
        limit: u32,
    ) -> NnResult<Listing> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let dir = ip.last().ok_or_else(|| ip.not_found())?;
        if dir.is_file() {
            return Ok(Listing {
                entries: vec![FileStatus::of(dir, "")],
                remaining: 0,
                is_file: true,
            });
        }
        permission::check(caller, dir, path, READ | EXECUTE)?;
        let limit = if limit == 0 || limit > self.cfg.listing_limit {
            self.cfg.listing_limit
        } else {
            limit
        };
        let (page, more) = self.ns.children(dir.id, start_after, limit as usize)?;
        let mut entries = Vec::with_capacity(page.len());
        for (name, id) in &page {
            if let Some(child) = self.ns.inode(*id)? {
                entries.push(FileStatus::of(&child, name));
            }
        }
        // Cheap estimate: an upper bound (we do not know how many entries
        // precede `start_after` without counting them).
        let remaining = if more {
            dir.children_num.saturating_sub(entries.len() as u64).max(1)
        } else {
            0
        };
        Ok(Listing {
            entries,
            remaining,
            is_file: false,
        })
    }

    /// Blocks of a file overlapping `[offset, offset+length)` (`length` 0 =
    /// to the end) with replicas sorted for `reader_host`.
    pub fn get_block_locations(
        &self,
        caller: &Caller,
        path: &str,
        offset: u64,
        length: u64,
        reader_host: &str,
    ) -> NnResult<FileLocations> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let inode = ip.last().ok_or_else(|| ip.not_found())?;
        if inode.is_dir() {
            return Err(NnError::NotAFile(path.to_string()));
        }
        permission::check(caller, inode, path, READ)?;
        let end = if length == 0 {
            u64::MAX
        } else {
            offset.saturating_add(length)
        };
        let mut blocks = Vec::new();
        let mut start = 0u64;
        let n = inode.blocks.len();
        for (k, b) in inode.blocks.iter().enumerate() {
            let block_end = start.saturating_add(b.num_bytes);
            let open_tail = k + 1 == n && inode.under_construction() && !self.block_complete(b.id);
            if start < end && (block_end > offset || open_tail) {
                blocks.push(self.locate(*b, start, reader_host));
            }
            start = block_end;
        }
        Ok(FileLocations {
            file_length: inode.length,
            blocks,
            under_construction: inode.under_construction(),
            file_id: inode.id,
        })
    }

    /// `du`/`count` over a subtree (READ_EXECUTE on every directory), in
    /// one go; [`crate::rpc::NamenodeState::content_summary`] walks in steps.
    pub fn content_summary(&self, caller: &Caller, path: &str) -> NnResult<ContentSummary> {
        let (mut w, mut s) = self.content_summary_begin(caller, path)?;
        while !self.content_summary_step(&mut w, caller, &mut s, usize::MAX)? {}
        Ok(s)
    }

    /// Starts a content summary of `path`.
    pub fn content_summary_begin(
        &self,
        caller: &Caller,
        path: &str,
    ) -> NnResult<(SubtreeWalk, ContentSummary)> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let root = ip.last().ok_or_else(|| ip.not_found())?;
        let mut s = ContentSummary::default();
        let w = SubtreeWalk::begin(root, path, caller, Some(READ | EXECUTE), &mut |i, _| {
            s.add(i)
        })?;
        Ok((w, s))
    }

    /// Counts about `budget` more inodes into `s`; true when done.
    pub fn content_summary_step(
        &self,
        w: &mut SubtreeWalk,
        caller: &Caller,
        s: &mut ContentSummary,
        budget: usize,
    ) -> NnResult<bool> {
        w.step(&self.ns, caller, budget, &mut |i, _| s.add(i))
    }

    /// The recorded whole-file SHA-256 (empty if unknown) and length.
    pub fn file_checksum(&self, caller: &Caller, path: &str) -> NnResult<(Vec<u8>, u64)> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let inode = ip.last().ok_or_else(|| ip.not_found())?;
        if inode.is_dir() {
            return Err(NnError::NotAFile(path.to_string()));
        }
        permission::check(caller, inode, path, READ)?;
        Ok((inode.sha256.clone(), inode.length))
    }

    pub fn fs_stats(&self) -> FsStats {
        let mut s = FsStats::default();
        for n in self.dns.iter() {
            if n.live {
                s.live_datanodes += 1;
                s.capacity = s.capacity.saturating_add(n.stats.capacity);
                s.used = s.used.saturating_add(n.stats.used);
                s.remaining = s.remaining.saturating_add(n.stats.remaining);
            } else {
                s.dead_datanodes += 1;
            }
        }
        let (under, corrupt, missing) = self.health_counts();
        s.pending_replications = self.repl.pending_count() as u64;
        s.under_replicated_blocks = under;
        s.corrupt_blocks = corrupt;
        s.missing_blocks = missing;
        s.total_blocks = self.blocks.len() as u64;
        s.total_files = self.ns.counters().files;
        s.total_dirs = self.ns.counters().dirs;
        s.safe_mode = self.safe.on;
        s
    }

    pub fn datanode_report(&self, now: Instant) -> Vec<DatanodeReport> {
        self.dns.report(now)
    }

    // ------------------------------------------------------------ namespace mutations

    /// `mkdir [-p]`. An existing directory is success.
    pub fn mkdirs(
        &mut self,
        caller: &Caller,
        path: &str,
        perm: u32,
        create_parent: bool,
    ) -> NnResult<()> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        if ip.through_file {
            return Err(ip.not_dir_parent());
        }
        if let Some(last) = ip.last() {
            return if last.is_dir() {
                Ok(())
            } else {
                Err(NnError::AlreadyExists(format!(
                    "Path is not a directory: {path}"
                )))
            };
        }
        self.check_safemode(&format!("Cannot create directory {path}"))?;
        let existing = ip.inodes.len();
        if ip.comps.len() + 1 - existing > 1 && !create_parent {
            return Err(NnError::NotFound(format!(
                "Parent directory {} does not exist",
                tpath::parent(path).unwrap_or("/")
            )));
        }
        let parent = ip.inodes[existing - 1].clone();
        let parent_path = ip.prefix(existing - 1);
        permission::check(caller, &parent, &parent_path, WRITE | EXECUTE)?;
        self.check_dir_items(&parent, &parent_path)?;
        self.verify_quota_path(
            &ip.inodes[..existing],
            (ip.comps.len() + 1 - existing) as u64,
        )?;
        let now = now_ms();
        let mut txn = Txn::default();
        let perm = perm & 0o7777;
        let last = self.make_dirs(
            &mut txn,
            caller,
            parent,
            &ip.comps[existing - 1..],
            &|is_last| if is_last { perm } else { perm | 0o300 },
            now,
        );
        txn.put_inode(&last);
        self.ns.commit(txn)
    }

    /// Creates a file under construction with `client_name` as lease holder.
    pub fn create(
        &mut self,
        caller: &Caller,
        a: &CreateArgs,
        now: Instant,
    ) -> NnResult<FileStatus> {
        let path = a.path;
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        if ip.comps.is_empty() {
            return Err(NnError::AlreadyExists(format!(
                "{path} already exists as a directory"
            )));
        }
        if ip.through_file {
            return Err(ip.not_dir_parent());
        }
        if a.client_name.is_empty() {
            return Err(NnError::InvalidArgument(format!(
                "create {path}: client_name is required (the lease holder)"
            )));
        }
        let replication = if a.replication == 0 {
            self.cfg.default_replication
        } else {
            a.replication
        };
        if replication > MAX_REPLICATION {
            return Err(NnError::InvalidArgument(format!(
                "Requested replication factor of {replication} exceeds maximum of {MAX_REPLICATION} for {path}"
            )));
        }
        let block_size = if a.block_size == 0 {
            self.cfg.default_block_size
        } else {
            a.block_size
        };
        let mut txn = Txn::default();
        let nowms = now_ms();
        let name = ip.comps[ip.comps.len() - 1].clone();
        let replacing = ip.last().cloned();
        if let Some(existing) = &replacing {
            if existing.is_dir() {
                return Err(NnError::AlreadyExists(format!(
                    "{path} already exists as a directory"
                )));
            }
            if existing.under_construction() {
                return Err(NnError::AlreadyBeingCreated(format!(
                    "Failed to CREATE_FILE {path} for {} because this file lease is currently owned by {}",
                    a.client_name, existing.client_name
                )));
            }
            if !a.overwrite {
                return Err(NnError::AlreadyExists(format!(
                    "{path} for client {} already exists",
                    a.client_name
                )));
            }
        }
        self.check_safemode(&format!("Cannot create file {path}"))?;
        let existing_n = ip.inodes.len() - usize::from(replacing.is_some());
        let deepest = ip.inodes[existing_n - 1].clone();
        let deepest_path = ip.prefix(existing_n - 1);
        let missing_dirs = ip.comps.len() - existing_n;
        if missing_dirs > 0 && !a.create_parent {
            return Err(NnError::NotFound(format!(
                "Parent directory {} does not exist",
                tpath::parent(path).unwrap_or("/")
            )));
        }
        permission::check(caller, &deepest, &deepest_path, WRITE | EXECUTE)?;
        if let Some(existing) = &replacing {
            permission::check_sticky(caller, &deepest, &deepest_path, existing, path)?;
        } else {
            self.check_dir_items(&deepest, &deepest_path)?;
            self.verify_quota_path(&ip.inodes[..existing_n], missing_dirs as u64 + 1)?;
        }
        let dir_names = &ip.comps[existing_n - 1..ip.comps.len() - 1];
        let mut parent = self.make_dirs(&mut txn, caller, deepest, dir_names, &|_| 0o755, nowms);
        if let Some(existing) = &replacing {
            self.drop_inode(existing, &mut txn);
        } else {
            parent.children_num += 1;
        }
        parent.mtime_ms = nowms;
        let id = self.ns.alloc_inode_id();
        let mut file = new_inode(
            id,
            &parent,
            &name,
            InodeKind::File,
            &caller.user,
            a.permission,
            nowms,
        );
        file.replication = replication;
        file.block_size = block_size;
        file.client_name = a.client_name.to_string();
        txn.put_inode(&parent);
        txn.put_entry(parent.id, &name, id);
        txn.put_inode(&file);
        txn.put_uc(id, a.client_name);
        self.ns.counters_mut().files += 1;
        self.ns.commit(txn)?;
        self.leases.add(a.client_name, id, now);
        Ok(FileStatus::of(&file, ""))
    }

    /// Reopens a closed file for appending (new bytes go to new blocks).
    pub fn append(
        &mut self,
        caller: &Caller,
        path: &str,
        client: &str,
        now: Instant,
    ) -> NnResult<FileStatus> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let mut inode = ip.last().cloned().ok_or_else(|| ip.not_found())?;
        if inode.is_dir() {
            return Err(NnError::NotAFile(path.to_string()));
        }
        permission::check(caller, &inode, path, WRITE)?;
        if client.is_empty() {
            return Err(NnError::InvalidArgument(format!(
                "append {path}: client_name is required (the lease holder)"
            )));
        }
        if inode.under_construction() {
            return Err(NnError::AlreadyBeingCreated(format!(
                "Failed to APPEND_FILE {path} for {client} because this file lease is currently owned by {}",
                inode.client_name
            )));
        }
        self.check_safemode(&format!("Cannot append to file {path}"))?;
        let before = inode.clone();
        inode.client_name = client.to_string();
        inode.sha256.clear();
        self.verify_quota(inode.parent, 0, self.file_growth(&before, &inode, &[]))?;
        let mut txn = Txn::default();
        txn.put_inode(&inode);
        txn.put_uc(inode.id, client);
        self.ns.commit(txn)?;
        self.leases.add(client, inode.id, now);
        Ok(FileStatus::of(&inode, ""))
    }

    /// Commits `previous` and allocates the next block with its pipeline.
    pub fn add_block(&mut self, a: &AddBlockArgs) -> NnResult<LocatedBlock> {
        let path = a.path;
        self.check_safemode(&format!("Cannot add block to {path}"))?;
        let mut inode = self.file_for_write(path, a.file_id, a.client_name)?;
        let last_open = inode
            .blocks
            .last()
            .copied()
            .filter(|b| !self.block_complete(b.id));
        let penultimate = if inode.blocks.len() >= 2 {
            Some(inode.blocks[inode.blocks.len() - 2].id)
        } else {
            None
        };
        enum Plan {
            New { commit: Option<Block> },
            Retry(Block),
        }
        let plan = match (a.previous, last_open) {
            (Some(p), Some(l)) if p.id == l.id => Plan::New { commit: Some(p) },
            (p, Some(l)) if p.map(|b| b.id) == penultimate || p.is_none() => Plan::Retry(l),
            (None, None) => Plan::New { commit: None },
            (Some(p), None) if inode.blocks.last().map(|b| b.id) == Some(p.id) => {
                Plan::New { commit: None }
            }
            (p, _) => {
                return Err(NnError::BadBlock(format!(
                    "Previous block {} does not match the last block of {path} ({})",
                    p.map(|b| format!("blk_{}", b.id))
                        .unwrap_or_else(|| "(none)".into()),
                    inode
                        .blocks
                        .last()
                        .map(|b| format!("blk_{}", b.id))
                        .unwrap_or_else(|| "no blocks".into())
                )))
            }
        };
        // Choose the pipeline first: failing here must change nothing.
        let targets = self.choose_targets(
            path,
            inode.replication,
            inode.block_size,
            a.writer_host,
            a.excluded,
        )?;
        match plan {
            Plan::Retry(l) => {
                self.pipelines
                    .insert(l.id, targets.iter().map(|t| t.uuid.clone()).collect());
                let offset = inode.length;
                Ok(LocatedBlock {
                    block: l,
                    offset,
                    locations: targets,
                    corrupt: false,
                })
            }
            Plan::New { commit } => {
                self.verify_add_block(&inode, commit)?;
                let mut txn = Txn::default();
                if let Some(p) = commit {
                    self.commit_block(&mut inode, p, &mut txn)?;
                }
                let (id, genstamp) = self.ns.alloc_block();
                let block = Block {
                    id,
                    genstamp,
                    num_bytes: 0,
                };
                inode.blocks.push(block);
                let rec = BlockRecord {
                    inode: inode.id,
                    genstamp,
                    num_bytes: 0,
                    replication: inode.replication,
                    complete: false,
                };
                txn.put_block(id, &rec);
                txn.put_inode(&inode);
                self.ns.commit(txn)?;
                self.blocks.insert(
                    id,
                    BlockInfo {
                        inode: inode.id,
                        genstamp,
                        num_bytes: 0,
                        replication: inode.replication,
                        complete: false,
                        locations: Vec::new(),
                        corrupt: Vec::new(),
                    },
                );
                self.pipelines
                    .insert(id, targets.iter().map(|t| t.uuid.clone()).collect());
                tracing::debug!(
                    path,
                    block_id = id,
                    targets = targets.len(),
                    "allocated block"
                );
                Ok(LocatedBlock {
                    block,
                    offset: inode.length,
                    locations: targets,
                    corrupt: false,
                })
            }
        }
    }

    /// Gives up the file's last, uncommitted block (the client could not
    /// write it). Abandoning a block the file no longer has is a no-op.
    pub fn abandon_block(
        &mut self,
        path: &str,
        client: &str,
        file_id: u64,
        block: Block,
    ) -> NnResult<()> {
        self.check_safemode(&format!("Cannot abandon block of {path}"))?;
        let mut inode = self.file_for_write(path, file_id, client)?;
        match inode.blocks.last() {
            Some(l) if l.id == block.id && !self.block_complete(l.id) => {}
            _ if !inode.blocks.iter().any(|b| b.id == block.id) => return Ok(()),
            _ => {
                return Err(NnError::BadBlock(format!(
                    "Cannot abandon blk_{} of {path}: it is not the file's last uncommitted block",
                    block.id
                )))
            }
        }
        let mut txn = Txn::default();
        let dropped = Inode {
            blocks: inode.blocks.pop().into_iter().collect(),
            ..inode.clone()
        };
        self.drop_blocks(&dropped, &mut txn);
        txn.put_inode(&inode);
        self.ns.commit(txn)
    }

    /// Closes a file: commits the last block, and — once it has a reported
    /// replica — records length, SHA-256 and mtime and drops the lease.
    pub fn complete(
        &mut self,
        path: &str,
        client: &str,
        file_id: u64,
        last: Option<Block>,
        sha256: &[u8],
    ) -> NnResult<bool> {
        self.check_safemode(&format!("Cannot complete file {path}"))?;
        let inode = self.file_by_id_or_path(path, file_id)?;
        if !inode.under_construction() {
            // A retried complete whose first attempt succeeded.
            let matches = match (last, inode.blocks.last()) {
                (None, _) => true,
                (Some(b), Some(l)) => b.id == l.id && b.num_bytes == l.num_bytes,
                (Some(_), None) => false,
            };
            if matches {
                return Ok(true);
            }
        }
        let mut inode = self.file_for_write(path, file_id, client)?;
        let mut txn = Txn::default();
        let last_id = inode.blocks.last().map(|b| b.id);
        match last {
            Some(b) => {
                if last_id != Some(b.id) {
                    return Err(NnError::BadBlock(format!(
                        "Cannot complete {path}: blk_{} is not its last block",
                        b.id
                    )));
                }
                if !self.block_complete(b.id) {
                    self.commit_block(&mut inode, b, &mut txn)?;
                    txn.put_inode(&inode);
                } else if inode.blocks.last().map(|x| x.num_bytes) != Some(b.num_bytes) {
                    return Err(NnError::BadBlock(format!(
                        "Cannot complete {path}: blk_{} was committed with another length",
                        b.id
                    )));
                }
                let has_replica = self
                    .blocks
                    .get(b.id)
                    .map(|i| !i.locations.is_empty())
                    .unwrap_or(false);
                if !has_replica {
                    self.ns.commit(txn)?;
                    return Ok(false);
                }
            }
            None => {
                if let Some(id) = last_id {
                    if !self.block_complete(id) {
                        return Err(NnError::BadBlock(format!(
                            "Cannot complete {path}: its last block blk_{id} was never committed"
                        )));
                    }
                }
            }
        }
        inode.client_name.clear();
        inode.sha256 = sha256.to_vec();
        inode.mtime_ms = now_ms();
        inode.length = file_length(&inode.blocks);
        txn.put_inode(&inode);
        txn.del_uc(inode.id);
        self.ns.commit(txn)?;
        self.leases.remove(inode.id);
        Ok(true)
    }

    /// HDFS rename (see tusk.proto).
    pub fn rename(
        &mut self,
        caller: &Caller,
        src: &str,
        dst: &str,
        overwrite: bool,
    ) -> NnResult<()> {
        let sip = self.resolve(src)?;
        let dip = self.resolve(dst)?;
        if sip.comps.is_empty() {
            return Err(NnError::InvalidArgument("Cannot rename the root /".into()));
        }
        sip.check_traverse(caller)?;
        dip.check_traverse(caller)?;
        let mut node = sip.last().cloned().ok_or_else(|| sip.not_found())?;
        if dip.through_file {
            return Err(dip.not_dir_parent());
        }
        let src_name = node.name.clone();
        // Final destination: into dst when it is a directory.
        let (dst_parent, dst_parent_path, dst_name, existing, final_path) = match dip.last() {
            Some(d) if d.is_dir() => {
                let existing = self.ns.child(d.id, &src_name)?;
                (
                    d.clone(),
                    dst.to_string(),
                    src_name.clone(),
                    existing,
                    tpath::join(dst, &src_name),
                )
            }
            Some(f) => match dip.parent() {
                Some(p) => (
                    p.clone(),
                    dip.prefix(dip.comps.len() - 1),
                    tpath::file_name(dst).to_string(),
                    Some(f.clone()),
                    dst.to_string(),
                ),
                None => return Err(dip.not_found()),
            },
            None => match dip.parent() {
                Some(p) if p.is_dir() => (
                    p.clone(),
                    dip.prefix(dip.comps.len() - 1),
                    tpath::file_name(dst).to_string(),
                    None,
                    dst.to_string(),
                ),
                _ => {
                    return Err(NnError::NotFound(format!(
                        "rename destination parent {} does not exist",
                        tpath::parent(dst).unwrap_or("/")
                    )))
                }
            },
        };
        if final_path == src {
            return Ok(());
        }
        if node.is_dir() && tpath::is_under(&final_path, src) {
            return Err(NnError::InvalidArgument(format!(
                "Cannot move {src} to a subdirectory of itself: {final_path}"
            )));
        }
        self.check_safemode(&format!("Cannot rename {src}"))?;
        let src_parent = sip.inodes[sip.comps.len() - 1].clone();
        let src_parent_path = sip.prefix(sip.comps.len() - 1);
        permission::check(caller, &src_parent, &src_parent_path, WRITE | EXECUTE)?;
        permission::check_sticky(caller, &src_parent, &src_parent_path, &node, src)?;
        permission::check(caller, &dst_parent, &dst_parent_path, WRITE | EXECUTE)?;
        let mut txn = Txn::default();
        if let Some(e) = &existing {
            if !overwrite {
                return Err(NnError::AlreadyExists(format!(
                    "rename destination {final_path} already exists"
                )));
            }
            match (node.is_dir(), e.is_dir()) {
                (false, true) => {
                    return Err(NnError::AlreadyExists(format!(
                        "rename destination {final_path} is a directory"
                    )))
                }
                (true, false) => {
                    return Err(NnError::AlreadyExists(format!(
                    "rename source {src} is a directory but the destination {final_path} is a file"
                )))
                }
                (true, true) if e.children_num > 0 => {
                    return Err(NnError::AlreadyExists(format!(
                        "rename destination directory is not empty: {final_path}"
                    )))
                }
                _ => {}
            }
            permission::check_sticky(caller, &dst_parent, &dst_parent_path, e, &final_path)?;
        } else if dst_parent.id != src_parent.id {
            self.check_dir_items(&dst_parent, &dst_parent_path)?;
        }
        self.verify_rename(&node, src_parent.id, dst_parent.id, existing.as_ref())?;
        let now = now_ms();
        if let Some(e) = &existing {
            self.drop_inode(e, &mut txn);
        }
        txn.del_entry(src_parent.id, &src_name);
        txn.put_entry(dst_parent.id, &dst_name, node.id);
        node.parent = dst_parent.id;
        node.name = dst_name;
        txn.put_inode(&node);
        let added = u64::from(existing.is_none());
        if src_parent.id == dst_parent.id {
            let mut p = src_parent;
            p.children_num = p.children_num + added - 1;
            p.mtime_ms = now;
            txn.put_inode(&p);
        } else {
            let mut sp = src_parent;
            sp.children_num = sp.children_num.saturating_sub(1);
            sp.mtime_ms = now;
            let mut dp = dst_parent;
            dp.children_num += added;
            dp.mtime_ms = now;
            txn.put_inode(&sp);
            txn.put_inode(&dp);
        }
        self.ns.commit(txn)
    }

    fn existing_for_attr(&self, caller: &Caller, path: &str, what: &str) -> NnResult<Inode> {
        let ip = self.resolve(path)?;
        ip.check_traverse(caller)?;
        let inode = ip.last().cloned().ok_or_else(|| ip.not_found())?;
        self.check_safemode(&format!("Cannot {what} {path}"))?;
        Ok(inode)
    }

    /// Durably writes one changed inode (attribute changes).
    fn save_inode(&mut self, inode: &Inode) -> NnResult<()> {
        let mut txn = Txn::default();
        txn.put_inode(inode);
        self.ns.commit(txn)
    }

    /// chmod: owner or superuser.
    pub fn set_permission(&mut self, caller: &Caller, path: &str, perm: u32) -> NnResult<()> {
        let mut inode = self.existing_for_attr(caller, path, "set permission for")?;
        permission::check_owner(caller, &inode, path)?;
        inode.permission = perm & 0o7777;
        self.save_inode(&inode)
    }

    /// chown: only a superuser gives a file away; the owner may change the
    /// group to one they belong to. Empty strings leave a field unchanged.
    pub fn set_owner(
        &mut self,
        caller: &Caller,
        path: &str,
        owner: &str,
        group: &str,
    ) -> NnResult<()> {
        if owner.is_empty() && group.is_empty() {
            return Err(NnError::InvalidArgument(format!(
                "setOwner {path}: owner and group are both empty"
            )));
        }
        let mut inode = self.existing_for_attr(caller, path, "set owner for")?;
        permission::check_owner(caller, &inode, path)?;
        if !caller.superuser {
            if !owner.is_empty() && owner != caller.user {
                return Err(NnError::PermissionDenied(format!(
                    "User {} is not a super user (non-super user cannot change owner).",
                    caller.user
                )));
            }
            if !group.is_empty() && !caller.in_group(group) {
                return Err(NnError::PermissionDenied(format!(
                    "User {} does not belong to {group}",
                    caller.user
                )));
            }
        }
        if !owner.is_empty() {
            inode.owner = owner.to_string();
        }
        if !group.is_empty() {
            inode.group = group.to_string();
        }
        self.save_inode(&inode)
    }

    /// setrep: needs WRITE; returns false for a directory (no change).
    pub fn set_replication(
        &mut self,
        caller: &Caller,
        path: &str,
        replication: u32,
    ) -> NnResult<bool> {
        if replication == 0 || replication > MAX_REPLICATION {
            return Err(NnError::InvalidArgument(format!(
                "Requested replication factor of {replication} is out of range [1, {MAX_REPLICATION}] for {path}"
            )));
        }
        let mut inode = self.existing_for_attr(caller, path, "set replication for")?;
        if inode.is_dir() {
            return Ok(false);
        }
        permission::check(caller, &inode, path, WRITE)?;
        let before = inode.clone();
        inode.replication = replication;
        self.verify_quota(inode.parent, 0, self.file_growth(&before, &inode, &[]))?;
        let mut txn = Txn::default();
        for b in &inode.blocks {
            if let Some(info) = self.blocks.get_mut(b.id) {
                info.replication = replication;
                txn.put_block(
                    b.id,
                    &BlockRecord {
                        inode: inode.id,
                        genstamp: info.genstamp,
                        num_bytes: info.num_bytes,
                        replication,
                        complete: info.complete,
                    },
                );
            }
        }
        txn.put_inode(&inode);
        self.ns.commit(txn)?;
        Ok(true)
    }

    /// touch: the owner, or anyone with WRITE. Negative = unchanged.
    pub fn set_times(
        &mut self,
        caller: &Caller,
        path: &str,
        mtime_ms: i64,
        atime_ms: i64,
    ) -> NnResult<()> {
        let mut inode = self.existing_for_attr(caller, path, "set times for")?;
        if permission::check_owner(caller, &inode, path).is_err() {
            permission::check(caller, &inode, path, WRITE)?;
        }
        if mtime_ms >= 0 {
            inode.mtime_ms = mtime_ms as u64;
        }
        if atime_ms >= 0 {
            inode.atime_ms = atime_ms as u64;
        }
        self.save_inode(&inode)
    }

    /// Renews every lease of `client`.
    pub fn renew_lease(&mut self, client: &str, now: Instant) {
        self.leases.renew(client, now);
    }

    // ------------------------------------------------------------ datanodes

    /// Registers a datanode; returns its rack.
    pub fn register_datanode(
        &mut self,
        id: DatanodeId,
        stats: StorageStats,
        now: Instant,
    ) -> String {
        let uuid = id.uuid.clone();
        let (rack, replaced) = self.dns.register(id, stats, now);
        if let (Some(&state), Some(n)) = (self.admin.get(&uuid), self.dns.get_mut(&uuid)) {
            if n.admin != state {
                n.admin = state;
                tracing::info!(node = %uuid, state = state.as_str(), "datanode admin state restored");
            }
        }
        for old in replaced {
            for b in &old.blocks {
                self.blocks.remove_location(*b, &old.id.uuid);
            }
        }
        tracing::info!(node = %uuid, rack = %rack, "datanode registered");
        rack
    }

    pub fn heartbeat(
        &mut self,
        uuid: &str,
        stats: StorageStats,
        xceivers: u32,
        now: Instant,
    ) -> Vec<Command> {
        match self.dns.heartbeat(uuid, stats, xceivers, now) {
            None => vec![Command::Reregister],
            Some((deletes, copies)) => {
                let mut cmds = Vec::new();
                if !deletes.is_empty() {
                    cmds.push(Command::Delete(deletes));
                }
                if !copies.is_empty() {
                    cmds.push(Command::Replicate(copies));
                }
                cmds
            }
        }
    }

    /// One reported finalized replica; returns the block if it must be deleted.
    fn replica_reported(&mut self, uuid: &str, b: Block) -> Option<Block> {
        let info = self.blocks.get(b.id)?;
        if b.genstamp < info.genstamp {
            return Some(b);
        }
        if info.complete && b.num_bytes != info.num_bytes {
            tracing::warn!(
                block_id = b.id,
                node = uuid,
                reported = b.num_bytes,
                expected = info.num_bytes,
                "replica has the wrong length: corrupt"
            );
            self.blocks.mark_corrupt(b.id, uuid);
        } else if !self.dns.delete_queued(uuid, b.id) {
            // (A replica queued for deletion — corrupt or excess — does not
            // come back through a report racing the DELETE.)
            self.blocks.add_location(b.id, uuid);
            self.repl.replica_added(b.id, uuid);
        }
        None
    }

    /// A full block report: the node's finalized replicas are exactly
    /// `reported`; `being_written` are its rbw replicas, of which the stale
    /// ones are deleted too (see [`Self::stale_being_written`]).
    pub fn block_report(
        &mut self,
        uuid: &str,
        reported: &[Block],
        being_written: &[Block],
        now: Instant,
    ) -> Vec<Command> {
        let Some(node) = self.dns.live_mut(uuid) else {
            return vec![Command::Reregister];
        };
        let old = std::mem::take(&mut node.blocks);
        let mut kept = HashSet::with_capacity(reported.len());
        let mut deletes = Vec::new();
        for b in reported {
            if self.blocks.get(b.id).is_none() {
                deletes.push(*b);
                continue;
            }
            match self.replica_reported(uuid, *b) {
                Some(d) => deletes.push(d),
                None => {
                    kept.insert(b.id);
                }
            }
        }
        for id in old.difference(&kept) {
            self.blocks.remove_location(*id, uuid);
        }
        if let Some(node) = self.dns.live_mut(uuid) {
            node.blocks = kept;
        }
        tracing::info!(
            node = uuid,
            replicas = reported.len(),
            invalid = deletes.len(),
            "block report"
        );
        self.update_safemode(now);
        deletes.extend(self.stale_being_written(uuid, being_written));
        if deletes.is_empty() {
            Vec::new()
        } else {
            vec![Command::Delete(deletes)]
        }
    }

    /// Incremental report: new finalized replicas and removed ones. Reports
    /// from an unknown node are ignored (its next heartbeat makes it
    /// re-register and send a full report).
    pub fn block_received_and_deleted(
        &mut self,
        uuid: &str,
        received: &[Block],
        deleted: &[Block],
    ) {
        if self.dns.live(uuid).is_none() {
            tracing::debug!(
                node = uuid,
                "incremental report from an unregistered datanode ignored"
            );
            return;
        }
        for b in received {
            let delete = if self.blocks.get(b.id).is_none() {
                Some(*b)
            } else {
                self.replica_reported(uuid, *b)
            };
            match delete {
                Some(d) => self.dns.queue_delete(uuid, d),
                None => {
                    if let Some(n) = self.dns.live_mut(uuid) {
                        n.blocks.insert(b.id);
                    }
                }
            }
        }
        for b in deleted {
            self.blocks.remove_location(b.id, uuid);
            if let Some(n) = self.dns.live_mut(uuid) {
                n.blocks.remove(&b.id);
            }
        }
    }

    /// Marks replicas corrupt (client read errors, datanode scanner).
    pub fn report_bad_blocks(&mut self, bad: &[(Block, String)]) {
        for (b, uuid) in bad {
            if self.blocks.mark_corrupt(b.id, uuid) {
                tracing::warn!(block_id = b.id, node = %uuid, "replica reported corrupt");
            }
        }
    }

    /// Periodic work: dead datanodes lose their replicas; safe mode may end.
    pub fn tick(&mut self, now: Instant) {
        for (uuid, blocks) in self.dns.check_liveness(now, self.cfg.dead_after) {
            tracing::warn!(node = %uuid, replicas = blocks.len(), "datanode declared dead");
            self.repl.node_dead(&uuid);
            if let Some(b) = self.balancer.as_mut() {
                b.node_dead(&uuid);
            }
            for b in blocks {
                self.blocks.remove_location(b, &uuid);
            }
        }
        self.update_safemode(now);
    }

    fn update_safemode(&mut self, now: Instant) {
        if !self.safe.on || self.safe.manual {
            return;
        }
        let (total, safe) = self.blocks.safe_counts();
        if total == 0 {
            self.safe.on = false;
            tracing::info!("no blocks: leaving safe mode");
            return;
        }
        if (safe as f64) < self.cfg.safemode_threshold * total as f64 {
            self.safe.reached_at = None;
            return;
        }
        let t = *self.safe.reached_at.get_or_insert(now);
        if now.saturating_duration_since(t) >= self.cfg.safemode_extension {
            self.safe.on = false;
            tracing::info!(blocks = total, reported = safe, "leaving safe mode");
        }
    }
}

#[path = "fsn_heal.rs"]
mod heal;

#[path = "fsn_quota.rs"]
pub mod quota_ops;

#[path = "fsn_delete.rs"]
mod delete;

#[path = "fsn_lease.rs"]
pub mod lease;

#[cfg(test)]
#[path = "fsn_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "fsn_delete_tests.rs"]
mod delete_tests;
