//! Test harnesses for Tusk: an in-process [`MiniCluster`] and a
//! [`LocalCluster`] that drives the real binaries through
//! `scripts/local-cluster.sh` (for kill -9 and restart tests).
//!
//! # Layout
//! - [`MiniCluster`]: namenode + datanodes in this process on port 0 and temp
//!   dirs, torn down on drop; `stop_datanode`, `restart_datanode`,
//!   `restart_namenode`, `corrupt_replica`, `wait_for`.
//! - [`LocalCluster`]: a real multi-process cluster under a temp `TUSK_HOME`.
//! - [`wait_for`]: poll a condition until it holds or a deadline passes.

use anyhow::{bail, ensure, Context, Result};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tusk_client::{ClientConfig, DfsClient};
use tusk_common::config::{Dur, Size};
use tusk_common::TuskConfig;
use tusk_datanode::DatanodeHandle;
use tusk_namenode::NamenodeHandle;

/// Polls `cond` every 50 ms until it returns true; fails after `timeout`
/// naming `what`. Tests wait on conditions, never on fixed sleeps.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Installs a test log subscriber once (RUST_LOG controls it).
pub fn init_logging() {
    tusk_common::logging::init("warn");
}

/// How to build a [`MiniCluster`].
#[derive(Debug, Clone)]
pub struct MiniClusterBuilder {
    datanodes: usize,
    replication: u32,
    block_size: u64,
    heartbeat: Duration,
    dead_after: Duration,
    /// Give datanode i its own loopback address 127.0.0.(10+i), so hosts differ.
    distinct_hosts: bool,
    /// `host rack` lines for the topology file.
    racks: Vec<(String, String)>,
    /// The namenode's replication monitor period.
    replication_interval: Duration,
    /// When an unreported copy is retried elsewhere.
    pending_replication_timeout: Duration,
    /// `[datanode] scan_bytes_per_sec` and `scan_period` (None: the defaults).
    scanner: Option<(u64, Duration)>,
    /// `[datanode] volume_check_interval` (None: the default).
    volume_check_interval: Option<Duration>,
    /// `[datanode] failed_volumes_tolerated` (None: the default).
    failed_volumes_tolerated: Option<i64>,
    /// `[namenode] lease_soft_limit` and `lease_hard_limit` (None: the defaults).
    lease_limits: Option<(Duration, Duration)>,
    /// `[security] authentication`: with `Token`, [`MiniCluster::client_as`]
    /// mints the user's token with the cluster's secret.
    authentication: tusk_common::config::AuthMode,
    /// `[security] block_access_tokens`, `block_token_lifetime` and
    /// `block_key_update_interval` (None: the defaults).
    block_tokens: (Option<bool>, Option<Duration>, Option<Duration>),
    /// `[namenode] deletion_increment` (None: the default).
    deletion_increment: Option<u32>,
    /// `[namenode] trash_interval` and `trash_checkpoint_interval` (None:
    /// the defaults).
    trash: Option<(Duration, Duration)>,
}

impl Default for MiniClusterBuilder {
    fn default() -> Self {
        Self {
            datanodes: 3,
            replication: 3,
            block_size: 1 << 20,
            heartbeat: Duration::from_millis(300),
            dead_after: Duration::from_secs(30),
            distinct_hosts: false,
            racks: Vec::new(),
            replication_interval: Duration::from_millis(200),
            pending_replication_timeout: Duration::from_secs(10),
            scanner: None,
            volume_check_interval: None,
            failed_volumes_tolerated: None,
            lease_limits: None,
            authentication: tusk_common::config::AuthMode::Simple,
            block_tokens: (None, None, None),
            deletion_increment: None,
            trash: None,
        }
    }
}

impl MiniClusterBuilder {
    pub fn datanodes(mut self, n: usize) -> Self {
        self.datanodes = n;
        self
    }
    pub fn replication(mut self, r: u32) -> Self {
        self.replication = r;
        self
    }
    pub fn block_size(mut self, b: u64) -> Self {
        self.block_size = b;
        self
    }
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = d;
        self
    }
    pub fn dead_after(mut self, d: Duration) -> Self {
        self.dead_after = d;
        self
    }
    pub fn distinct_hosts(mut self, yes: bool) -> Self {
        self.distinct_hosts = yes;
        self
    }
    pub fn replication_interval(mut self, d: Duration) -> Self {
        self.replication_interval = d;
        self
    }
    pub fn pending_replication_timeout(mut self, d: Duration) -> Self {
        self.pending_replication_timeout = d;
        self
    }
    /// Block scanner rate (0 = off) and period of every datanode.
    pub fn scanner(mut self, bytes_per_sec: u64, period: Duration) -> Self {
        self.scanner = Some((bytes_per_sec, period));
        self
    }
    /// How often every datanode probes its data dirs.
    pub fn volume_check_interval(mut self, d: Duration) -> Self {
        self.volume_check_interval = Some(d);
        self
    }
    /// Failed data dirs a datanode survives (each has two; -1 = all but one).
    pub fn failed_volumes_tolerated(mut self, n: i64) -> Self {
        self.failed_volumes_tolerated = Some(n);
        self
    }
    /// The namenode's lease soft and hard limits.
    pub fn lease_limits(mut self, soft: Duration, hard: Duration) -> Self {
        self.lease_limits = Some((soft, hard));
        self
    }
    /// Inodes a recursive delete removes at once; bigger trees are detached
    /// and purged in the background, this many per step.
    pub fn deletion_increment(mut self, n: u32) -> Self {
        self.deletion_increment = Some(n);
        self
    }
    /// How long the trash keeps deleted paths (zero: no trash) and how
    /// often the namenode's emptier runs.
    pub fn trash(mut self, interval: Duration, checkpoint: Duration) -> Self {
        self.trash = Some((interval, checkpoint));
        self
    }
    /// Whether datanodes require block access tokens (default on).
    pub fn block_access_tokens(mut self, on: bool) -> Self {
        self.block_tokens.0 = Some(on);
        self
    }
    /// How long a block access token is valid.
    pub fn block_token_lifetime(mut self, d: Duration) -> Self {
        self.block_tokens.1 = Some(d);
        self
    }
    /// How often the namenode makes a new block key.
    pub fn block_key_update_interval(mut self, d: Duration) -> Self {
        self.block_tokens.2 = Some(d);
        self
    }
    /// Client authentication: `Simple` (the default) or `Token`.
    pub fn authentication(mut self, mode: tusk_common::config::AuthMode) -> Self {
        self.authentication = mode;
        self
    }
    /// Puts the host of datanode `i` (see `distinct_hosts`) on `rack`.
    pub fn rack(mut self, host: &str, rack: &str) -> Self {
        self.racks.push((host.to_string(), rack.to_string()));
        self
    }

    pub async fn build(self) -> Result<MiniCluster> {
        init_logging();
        let dir = tempfile::tempdir()?;
        let mut base = TuskConfig::default();
        base.security.cluster_secret_file = Some(dir.path().join("cluster.secret"));
        base.security.authentication = self.authentication;
        if let Some(on) = self.block_tokens.0 {
            base.security.block_access_tokens = on;
        }
        if let Some(d) = self.block_tokens.1 {
            base.security.block_token_lifetime = Dur(d);
        }
        if let Some(d) = self.block_tokens.2 {
            base.security.block_key_update_interval = Dur(d);
        }
        base.cluster.replication = self.replication;
        base.cluster.block_size = Size(self.block_size);
        base.cluster.heartbeat_interval = Dur(self.heartbeat);
        base.cluster.dead_after = Dur(self.dead_after);
        base.namenode.replication_interval = Dur(self.replication_interval);
        base.namenode.pending_replication_timeout = Dur(self.pending_replication_timeout);
        if let Some((rate, period)) = self.scanner {
            base.datanode.scan_bytes_per_sec = Size(rate);
            base.datanode.scan_period = Dur(period);
        }
        if let Some(d) = self.volume_check_interval {
            base.datanode.volume_check_interval = Dur(d);
        }
        if let Some(n) = self.failed_volumes_tolerated {
            base.datanode.failed_volumes_tolerated = n;
        }
        if let Some(n) = self.deletion_increment {
            base.namenode.deletion_increment = n;
        }
        if let Some((interval, checkpoint)) = self.trash {
            base.namenode.trash_interval = Dur(interval);
            base.namenode.trash_checkpoint_interval = Dur(checkpoint);
        }
        if let Some((soft, hard)) = self.lease_limits {
            base.namenode.lease_soft_limit = Dur(soft);
            base.namenode.lease_hard_limit = Dur(hard);
        }
        if !self.racks.is_empty() {
            let topo = dir.path().join("racks.txt");
            let text: String = self
                .racks
                .iter()
                .map(|(h, r)| format!("{h} {r}\n"))
                .collect();
            std::fs::write(&topo, text)?;
            base.cluster.topology = Some(topo);
        }
        base.namenode.rpc_addr = "127.0.0.1:0".into();
        base.namenode.http_addr = "127.0.0.1:0".into();
        base.namenode.name_dir = dir.path().join("namenode");

        let namenode = tusk_namenode::start(base.clone()).await?;
        // Restarts reuse the ports the first start was given, so datanodes and
        // clients that know the address find the namenode again.
        base.namenode.rpc_addr = namenode.rpc_addr.to_string();
        base.namenode.http_addr = namenode.http_addr.to_string();

        let mut cluster = MiniCluster {
            base,
            namenode: Some(namenode),
            datanodes: Vec::new(),
            dn_configs: Vec::new(),
            dir,
        };
        for i in 0..self.datanodes {
            let mut cfg = cluster.base.clone();
            let host = if self.distinct_hosts {
                format!("127.0.0.{}", 10 + i)
            } else {
                "127.0.0.1".to_string()
            };
            cfg.datanode.namenode = cluster.nn_addr().to_string();
            cfg.datanode.data_addr = format!("{host}:0");
            cfg.datanode.http_addr = format!("{host}:0");
            cfg.datanode.host = Some(host);
            cfg.datanode.data_dirs = vec![
                cluster.dir.path().join(format!("dn{i}/data1")),
                cluster.dir.path().join(format!("dn{i}/data2")),
            ];
            let dn = tusk_datanode::start(cfg.clone()).await?;
            // Pin the ports for restarts.
            cfg.datanode.data_addr = dn.data_addr.to_string();
            cfg.datanode.http_addr = dn.http_addr.to_string();
            cluster.datanodes.push(Some(dn));
            cluster.dn_configs.push(cfg);
        }
        cluster.wait_active().await?;
        Ok(cluster)
    }
}

/// A namenode and datanodes running in this process.
pub struct MiniCluster {
    base: TuskConfig,
    namenode: Option<NamenodeHandle>,
    datanodes: Vec<Option<DatanodeHandle>>,
    dn_configs: Vec<TuskConfig>,
    /// Dropped last: the daemons' files live here.
    dir: tempfile::TempDir,
}

impl MiniCluster {
    pub fn builder() -> MiniClusterBuilder {
        MiniClusterBuilder::default()
    }

    /// A 3-datanode cluster with 1 MiB blocks and fast heartbeats.
    pub async fn start() -> Result<MiniCluster> {
        Self::builder().build().await
    }

    pub fn nn_addr(&self) -> SocketAddr {
        self.base.namenode.rpc_addr.parse().expect("pinned address")
    }

    pub fn nn_http_addr(&self) -> SocketAddr {
        self.base
            .namenode
            .http_addr
            .parse()
            .expect("pinned address")
    }

    /// The running namenode (its state, for in-process checks).
    pub fn namenode(&self) -> Option<&NamenodeHandle> {
        self.namenode.as_ref()
    }

    /// Index of the datanode with this uuid.
    pub fn datanode_index(&self, uuid: &str) -> Option<usize> {
        (0..self.datanodes.len()).find(|&i| self.datanode_uuid(i).as_deref() == Some(uuid))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client acting as the user running the tests (the superuser).
    pub async fn client(&self) -> Result<DfsClient> {
        self.client_as(&tusk_common::sys::login_user()).await
    }

    /// A client acting as `user` (with token authentication, proved by a
    /// token minted for `user`).
    pub async fn client_as(&self, user: &str) -> Result<DfsClient> {
        let mut cfg = ClientConfig::default()
            .with_namenode(self.nn_addr().to_string())
            .with_user(user);
        if self.base.security.authentication == tusk_common::config::AuthMode::Token {
            cfg = cfg.with_token(self.user_token(user, Duration::from_secs(3600))?);
        }
        Ok(DfsClient::connect(cfg).await?)
    }

    /// The cluster secret file (what `dfs admin token create` needs).
    pub fn secret_file(&self) -> PathBuf {
        self.base.security.secret_path()
    }

    /// A user token for `user`, as `dfs admin token create` makes it.
    pub fn user_token(&self, user: &str, lifetime: Duration) -> Result<String> {
        let secret = tusk_common::security::ClusterSecret::load(&self.secret_file())?;
        Ok(secret.issue_user_token(user, lifetime))
    }

    pub fn num_datanodes(&self) -> usize {
        self.datanodes.len()
    }

    pub fn datanode_uuid(&self, i: usize) -> Option<String> {
        self.datanodes[i].as_ref().map(|d| d.uuid())
    }

    /// Datanode `i`, while it runs (its addresses, `failure()`).
    pub fn datanode(&self, i: usize) -> Option<&DatanodeHandle> {
        self.datanodes.get(i).and_then(|d| d.as_ref())
    }

    pub fn datanode_dirs(&self, i: usize) -> &[PathBuf] {
        &self.dn_configs[i].datanode.data_dirs
    }

    /// Waits until every running datanode is live and safe mode is off.
    pub async fn wait_active(&self) -> Result<()> {
        let want = self.datanodes.iter().filter(|d| d.is_some()).count() as u64;
        let client = self.client().await?;
        wait_for(
            "datanodes to register and safe mode to end",
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move {
                    match client.fs_stats().await {
                        Ok(s) => s.live_datanodes >= want && !s.safe_mode,
                        Err(_) => false,
                    }
                }
            },
        )
        .await
    }

    /// Runs the `dfs` shell in this process as `user` against this cluster,
    /// as a user would type it: (exit code, stdout, stderr).
    pub async fn dfs(&self, user: &str, args: &[&str]) -> (i32, String, String) {
        let mut argv = vec![
            "--namenode".to_string(),
            self.nn_addr().to_string(),
            "--user".to_string(),
            user.to_string(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        let (out, err) = (CaptureBuf::default(), CaptureBuf::default());
        let code =
            tusk_client::shell::run(&argv, Box::new(out.clone()), Box::new(err.clone())).await;
        (code, out.text(), err.text())
    }

    /// Stops datanode `i` (its files stay on disk).
    pub async fn stop_datanode(&mut self, i: usize) -> Result<()> {
        if let Some(dn) = self.datanodes[i].take() {
            dn.shutdown().await?;
        }
        Ok(())
    }

    /// Starts datanode `i` again on the same dirs and ports.
    pub async fn restart_datanode(&mut self, i: usize) -> Result<()> {
        self.stop_datanode(i).await?;
        let dn = tusk_datanode::start(self.dn_configs[i].clone())
            .await
            .with_context(|| format!("restarting datanode {i}"))?;
        self.datanodes[i] = Some(dn);
        Ok(())
    }

    /// Stops the namenode and starts it again on the same name dir and ports.
    pub async fn restart_namenode(&mut self) -> Result<()> {
        if let Some(nn) = self.namenode.take() {
            nn.shutdown().await?;
        }
        let nn = tusk_namenode::start(self.base.clone())
            .await
            .context("restarting the namenode")?;
        self.namenode = Some(nn);
        Ok(())
    }

    /// Starts one more datanode on new empty dirs (a distinct loopback host
    /// when the cluster uses them) and waits until it is live; returns its
    /// index.
    pub async fn add_datanode(&mut self) -> Result<usize> {
        let i = self.datanodes.len();
        let distinct = self
            .dn_configs
            .first()
            .and_then(|c| c.datanode.host.as_deref())
            .is_some_and(|h| h != "127.0.0.1");
        let host = if distinct {
            format!("127.0.0.{}", 10 + i)
        } else {
            "127.0.0.1".to_string()
        };
        let mut cfg = self.base.clone();
        cfg.datanode.namenode = self.nn_addr().to_string();
        cfg.datanode.data_addr = format!("{host}:0");
        cfg.datanode.http_addr = format!("{host}:0");
        cfg.datanode.host = Some(host);
        cfg.datanode.data_dirs = vec![
            self.dir.path().join(format!("dn{i}/data1")),
            self.dir.path().join(format!("dn{i}/data2")),
        ];
        let dn = tusk_datanode::start(cfg.clone())
            .await
            .with_context(|| format!("starting datanode {i}"))?;
        cfg.datanode.data_addr = dn.data_addr.to_string();
        cfg.datanode.http_addr = dn.http_addr.to_string();
        self.datanodes.push(Some(dn));
        self.dn_configs.push(cfg);
        self.wait_active().await?;
        Ok(i)
    }

    /// Datanodes (by index) holding a finalized replica of `block_id` on disk.
    pub fn replica_holders(&self, block_id: u64) -> Vec<usize> {
        (0..self.dn_configs.len())
            .filter(|&i| tusk_datanode::find_replica(self.datanode_dirs(i), block_id).is_some())
            .collect()
    }

    /// Checks every finalized replica of `block_id` on disk against its meta
    /// file: the length and SHA-256 in the header and each chunk's CRC32C
    /// describe the data. Returns the datanodes holding one; an error names
    /// the first replica that disagrees.
    pub fn check_replicas(&self, block_id: u64) -> Result<Vec<usize>> {
        use sha2::Digest;
        use tusk_common::blockmeta::{crc_offset, MetaHeader, HEADER_LEN};
        let mut holders = Vec::new();
        for i in 0..self.dn_configs.len() {
            let Some(r) = tusk_datanode::find_replica(self.datanode_dirs(i), block_id) else {
                continue;
            };
            holders.push(i);
            let data = std::fs::read(&r.data)?;
            let meta = std::fs::read(&r.meta)?;
            let where_ = format!("datanode {i}, {}", r.meta.display());
            ensure!(meta.len() >= HEADER_LEN, "{where_}: meta file too short");
            let h = MetaHeader::decode(&meta[..HEADER_LEN])
                .map_err(|e| anyhow::anyhow!("{where_}: {e}"))?;
            ensure!(h.is_finalized(), "{where_}: not finalized");
            ensure!(
                h.len == data.len() as u64,
                "{where_}: header says {} bytes, data has {}",
                h.len,
                data.len()
            );
            ensure!(
                h.sha256 == <[u8; 32]>::from(sha2::Sha256::digest(&data)),
                "{where_}: the recorded SHA-256 is not the data's"
            );
            for (c, chunk) in data.chunks(h.bytes_per_checksum as usize).enumerate() {
                let at = crc_offset(c as u64) as usize;
                let stored = meta
                    .get(at..at + 4)
                    .with_context(|| format!("{where_}: no CRC for chunk {c}"))?;
                ensure!(
                    u32::from_be_bytes(stored.try_into()?) == crc32c::crc32c(chunk),
                    "{where_}: CRC of chunk {c} differs"
                );
            }
        }
        Ok(holders)
    }

    /// Flips bytes in the middle of datanode `i`'s replica of `block_id`.
    pub fn corrupt_replica(&self, i: usize, block_id: u64) -> Result<()> {
        let r = tusk_datanode::find_replica(self.datanode_dirs(i), block_id)
            .with_context(|| format!("datanode {i} has no replica of blk_{block_id}"))?;
        let mut data = std::fs::read(&r.data)?;
        if data.is_empty() {
            bail!("replica blk_{block_id} on datanode {i} is empty");
        }
        let mid = data.len() / 2;
        let end = (mid + 16).min(data.len());
        for b in &mut data[mid..end] {
            *b ^= 0xff;
        }
        std::fs::write(&r.data, data)?;
        Ok(())
    }

    /// Removes datanode `i`'s replica files of `block_id`.
    pub fn delete_replica(&self, i: usize, block_id: u64) -> Result<()> {
        let r = tusk_datanode::find_replica(self.datanode_dirs(i), block_id)
            .with_context(|| format!("datanode {i} has no replica of blk_{block_id}"))?;
        std::fs::remove_file(&r.data)?;
        std::fs::remove_file(&r.meta)?;
        Ok(())
    }

    /// Stops every daemon cleanly (dropping the cluster also tears it down).
    pub async fn shutdown(mut self) -> Result<()> {
        for dn in self.datanodes.iter_mut() {
            if let Some(dn) = dn.take() {
                dn.shutdown().await?;
            }
        }
        if let Some(nn) = self.namenode.take() {
            nn.shutdown().await?;
        }
        Ok(())
    }
}

/// A real cluster of separate processes, started by `scripts/local-cluster.sh`
/// under a temp `TUSK_HOME` with its own ports; stopped on drop.
pub struct LocalCluster {
    pub home: tempfile::TempDir,
    pub base_port: u16,
    pub datanodes: usize,
    pub bin_dir: PathBuf,
    /// Worker i on its own loopback host 127.0.0.(10+i) (`TUSK_HOSTS=distinct`).
    pub distinct_hosts: bool,
    /// The cluster CA when the config turns `[tls]` on: passed to the
    /// scripts and tools it runs as `TUSK_TLS_CA`.
    pub tls_ca: Option<PathBuf>,
}

impl LocalCluster {
    /// The repository root (scripts live there).
    pub fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Where the real binaries are: `TUSK_BIN_DIR`, else target/debug.
    pub fn bin_dir() -> PathBuf {
        std::env::var_os("TUSK_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Self::repo().join("target/debug"))
    }

    /// Starts a cluster with `datanodes` datanodes and an optional tusk.toml.
    pub fn start(datanodes: usize, config: Option<&str>) -> Result<LocalCluster> {
        Self::start_with(datanodes, config, false)
    }

    /// Like [`LocalCluster::start`], each worker (datanode + node manager)
    /// on a loopback host of its own, so locality can be told apart.
    pub fn start_distinct_hosts(datanodes: usize, config: Option<&str>) -> Result<LocalCluster> {
        Self::start_with(datanodes, config, true)
    }

    fn start_with(
        datanodes: usize,
        config: Option<&str>,
        distinct_hosts: bool,
    ) -> Result<LocalCluster> {
        // A port found free can be taken before a daemon binds it (another
        // test's cluster picking an overlapping range at the same moment):
        // then the start is retried on other ports. Any other failure is
        // reported with the daemons' last log lines.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let home = tempfile::tempdir()?;
            // Containers run as other users when the tests run as root
            // (`container_executor = "auto"`): they must pass through it.
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755))?;
            }
            if let Some(c) = config {
                std::fs::write(home.path().join("tusk.toml"), c)?;
            }
            let base_port = free_base_port()?;
            let c = LocalCluster {
                home,
                base_port,
                datanodes,
                bin_dir: Self::bin_dir(),
                distinct_hosts,
                tls_ca: config.and_then(tls_ca_of),
            };
            for b in ["namenode", "datanode", "dfs"] {
                if !c.bin_dir.join(b).exists() {
                    bail!(
                        "{} not found in {}: run `cargo build --bins` (scripts/test.sh does)",
                        b,
                        c.bin_dir.display()
                    );
                }
            }
            match c.script("start") {
                Ok(_) => return Ok(c),
                Err(e) => {
                    let logs = c.log_tails(20);
                    if attempt < 3 && logs.contains("in use") {
                        eprintln!("local cluster on port {base_port}: a port was taken, retrying elsewhere: {e}");
                        continue;
                    }
                    bail!("{e}\n{logs}");
                }
            }
        }
    }

    /// The last `n` lines of every daemon's log, for failure messages.
    fn log_tails(&self, n: usize) -> String {
        let mut out = String::new();
        let Ok(dir) = std::fs::read_dir(self.home.path().join("logs")) else {
            return out;
        };
        let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {}\n", f.display()));
            for l in &lines[lines.len().saturating_sub(n)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn nn_addr(&self) -> String {
        format!("127.0.0.1:{}", self.base_port)
    }

    /// The resource manager's RPC address (`local-cluster.sh` puts it at
    /// the base port + 2).
    pub fn rm_addr(&self) -> String {
        format!("127.0.0.1:{}", self.base_port + 2)
    }

    /// Runs `scripts/local-cluster.sh ARG`, failing with its output on error.
    pub fn script(&self, arg: &str) -> Result<String> {
        let out = std::process::Command::new(Self::repo().join("scripts/local-cluster.sh"))
            .arg(arg)
            .env("TUSK_HOME", self.home.path())
            .env("TUSK_BASE_PORT", self.base_port.to_string())
            .env("DATANODES", self.datanodes.to_string())
            .env("TUSK_BIN_DIR", &self.bin_dir)
            .envs(self.tls_env())
            .env(
                "TUSK_HOSTS",
                if self.distinct_hosts {
                    "distinct"
                } else {
                    "shared"
                },
            )
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            bail!(
                "local-cluster.sh {arg} failed: {}{}",
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// `TUSK_TLS_CA` for the processes this cluster's helpers start.
    pub fn tls_env(&self) -> Vec<(&'static str, PathBuf)> {
        self.tls_ca
            .iter()
            .map(|ca| (tusk_common::net::env::CA, ca.clone()))
            .collect()
    }

    /// Datanodes (numbered from 1, as their roles) holding a finalized
    /// replica of `block_id` on disk.
    pub fn replica_holders(&self, block_id: u64) -> Vec<usize> {
        (1..=self.datanodes)
            .filter(|i| {
                let dir = self.home.path().join(format!("datanode-{i}/data"));
                tusk_datanode::find_replica(&[dir], block_id).is_some()
            })
            .collect()
    }

    /// The pid of a role (`namenode`, `datanode-1`, …) from its pid file.
    pub fn pid(&self, role: &str) -> Result<i32> {
        let f = self.home.path().join(format!("pids/{role}.pid"));
        let s = std::fs::read_to_string(&f).with_context(|| format!("{}", f.display()))?;
        Ok(s.trim().parse()?)
    }

    /// kill -9 a role.
    pub fn kill9(&self, role: &str) -> Result<()> {
        let pid = self.pid(role)?;
        let st = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()?;
        if !st.success() {
            bail!("kill -9 {pid} ({role}) failed");
        }
        // Wait until it is gone so `start` sees it stopped.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.contains(") Z ") || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Runs a compute-side binary (`mapred`, `hadoop`) against this
    /// cluster (namenode and resource manager from the environment).
    pub fn tool(&self, bin: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(self.bin_dir.join(bin))
            .args(args)
            .env("TUSK_NAMENODE", self.nn_addr())
            .env("TUSK_RM", self.rm_addr())
            .env_remove("TUSK_MR_ROLE")
            .envs(self.tls_env())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {bin}: {e}"))
    }

    /// [`LocalCluster::tool`], failing with its stderr unless it exits 0.
    pub fn tool_ok(&self, bin: &str, args: &[&str]) -> Result<std::process::Output> {
        let out = self.tool(bin, args);
        if !out.status.success() {
            bail!(
                "{bin} {args:?} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Runs the real `dfs` binary against this cluster.
    pub fn dfs(&self, args: &[&str]) -> std::process::Output {
        self.dfs_stdin(args, None)
    }

    /// Runs `dfs` with `stdin` piped in.
    pub fn dfs_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        use std::io::Write;
        let mut cmd = std::process::Command::new(self.bin_dir.join("dfs"));
        cmd.args(args)
            .env("TUSK_NAMENODE", self.nn_addr())
            .envs(self.tls_env())
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dfs");
        if let Some(data) = stdin {
            let mut si = child.stdin.take().expect("stdin");
            si.write_all(data).expect("write stdin");
        }
        child.wait_with_output().expect("wait dfs")
    }

    /// A library client for this cluster.
    pub async fn client(&self) -> Result<DfsClient> {
        let cfg = ClientConfig::default()
            .with_namenode(self.nn_addr())
            .with_user(tusk_common::sys::login_user());
        Ok(DfsClient::connect(cfg).await?)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

/// The CA file of a config whose `[tls]` is on.
fn tls_ca_of(config: &str) -> Option<PathBuf> {
    let tls = tusk_common::TuskConfig::parse(config).ok()?.tls;
    tls.ca_file.filter(|_| tls.enabled)
}

/// Picks a base port whose range (B .. B+10*(n+1)+5) is free right now.
fn free_base_port() -> Result<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        // Below Linux's ephemeral range (32768-60999): an outgoing
        // connection's local port cannot take a daemon's port between this
        // check and the daemon's bind.
        let base: u16 = rng.gen_range(20_000..32_000) / 100 * 100;
        let free =
            (0..100u16).all(|off| std::net::TcpListener::bind(("127.0.0.1", base + off)).is_ok());
        if free {
            return Ok(base);
        }
    }
    bail!("no free port range found")
}

/// An in-memory writer the in-process `dfs` shell prints into.
#[derive(Clone, Default)]
struct CaptureBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CaptureBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture lock")).to_string()
    }
}

impl std::io::Write for CaptureBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `data` to `path` (parents created).
pub async fn put(client: &DfsClient, path: &str, data: &[u8]) -> Result<()> {
    let mut w = client
        .create(
            path,
            tusk_client::CreateOptions::default().with_create_parent(true),
        )
        .await?;
    w.write_all(data).await?;
    w.close().await?;
    Ok(())
}

/// Names under `dir`, sorted.
pub async fn names(client: &DfsClient, dir: &str) -> Result<Vec<String>> {
    let mut v: Vec<String> = client
        .list(dir)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    v.sort();
    Ok(v)
}

/// Loads `url` in headless Chromium (Debian's `chromium`, which
/// scripts/test.sh installs) and returns the rendered DOM; with
/// `screenshot`, also saves a PNG of the page there.
pub fn chromium_dom(url: &str, screenshot: Option<&Path>) -> Result<String> {
    let profile = tempfile::tempdir()?;
    let mut cmd = std::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1024",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    if let Some(shot) = screenshot {
        cmd.arg(format!("--screenshot={}", shot.display()));
    }
    let out = cmd
        .arg("--dump-dom")
        .arg(url)
        .output()
        .context("Debian's chromium is needed (scripts/test.sh installs it)")?;
    ensure!(
        out.status.success(),
        "chromium {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
