//! Network faults on a real cluster, one network namespace per daemon
//! (`scripts/netns-cluster.sh`): a datanode cut off while a file is written
//! and read, and a whole rack cut off during reads; then the cut healed.
//!
//! Needs root and `ip netns`; without them each test prints why it is
//! skipped and passes.

mod common;

use common::{data, read_file, write_file};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tusk_client::{ClientConfig, DfsClient};
use tusk_tests::{wait_for, LocalCluster};

/// The namespaces, links and addresses are fixed: one cluster at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const NN: &str = "10.77.0.2:9000";

/// Fast failure detection so each test stays well under a minute.
const CONFIG: &str = "[cluster]\nblock_size = \"1MiB\"\nreplication = 3\nheartbeat_interval = \"500ms\"\ndead_after = \"4s\"\n\n[namenode]\nreplication_interval = \"300ms\"\npending_replication_timeout = \"10s\"\n";

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string));
    if uid.as_deref() != Some("0") {
        return Some("not root (network namespaces need root)".into());
    }
    match std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("no `ip` (iproute2): {e}")),
    }
}

/// A cluster brought up by `scripts/netns-cluster.sh` under a temp
/// TUSK_HOME, brought down on drop.
struct NetnsCluster {
    home: tempfile::TempDir,
    bin_dir: PathBuf,
    datanodes: usize,
}

impl NetnsCluster {
    fn up(datanodes: usize) -> anyhow::Result<NetnsCluster> {
        let home = tempfile::tempdir()?;
        std::fs::write(home.path().join("tusk.toml"), CONFIG)?;
        let c = NetnsCluster {
            home,
            bin_dir: LocalCluster::bin_dir(),
            datanodes,
        };
        // Leftovers of an earlier run that was killed.
        let _ = c.script(&["down"]);
        c.script(&["up"])?;
        Ok(c)
    }

    fn script(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = std::process::Command::new(LocalCluster::repo().join("scripts/netns-cluster.sh"))
            .args(args)
            .env("TUSK_HOME", self.home.path())
            .env("TUSK_BIN_DIR", &self.bin_dir)
            .env("DATANODES", self.datanodes.to_string())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        anyhow::ensure!(
            out.status.success(),
            "netns-cluster.sh {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout)
    }

    fn cut(&self, what: &str) -> anyhow::Result<()> {
        self.script(&["cut", what]).map(|_| ())
    }

    fn heal(&self, what: &str) -> anyhow::Result<()> {
        self.script(&["heal", what]).map(|_| ())
    }

    async fn client(&self) -> anyhow::Result<DfsClient> {
        let cfg = ClientConfig::default()
            .with_namenode(NN)
            .with_user(tusk_common::sys::login_user());
        Ok(DfsClient::connect(cfg).await?)
    }

    /// The role (`datanode-<i>`) of a data address 10.77.0.(10+i):9866.
    fn role(addr: &str) -> String {
        let ip = addr.split(':').next().unwrap_or_default();
        let last: usize = ip
            .rsplit('.')
            .next()
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        format!("datanode-{}", last - 10)
    }

    /// Datanodes (1-based) with a finalized replica of `block_id` on disk.
    fn replica_holders(&self, block_id: u64) -> Vec<usize> {
        (1..=self.datanodes)
            .filter(|i| {
                let dirs = [self.home.path().join(format!("datanode-{i}/data"))];
                tusk_datanode::find_replica(&dirs, block_id).is_some()
            })
            .collect()
    }

    /// Every block of `path` has `n` live locations, none on `not_on`
    /// (a uuid), and — when `on_disk` — exactly `n` replicas on disk.
    async fn replicated(
        &self,
        c: &DfsClient,
        path: &str,
        n: usize,
        not_on: &str,
        on_disk: bool,
    ) -> bool {
        let Ok(blocks) = c.block_locations(path).await else {
            return false;
        };
        blocks.iter().all(|b| {
            b.locations.len() == n
                && b.locations.iter().all(|l| l.uuid != not_on)
                && (!on_disk || self.replica_holders(b.block_id).len() == n)
        })
    }

    /// The last lines of a daemon's log (for failure messages).
    fn log_tail(&self, role: &str) -> String {
        let log = std::fs::read_to_string(self.home.path().join(format!("logs/{role}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    async fn live(c: &DfsClient) -> usize {
        match c.datanode_report().await {
            Ok(r) => r.iter().filter(|d| d.live).count(),
            Err(_) => 0,
        }
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        let _ = self.script(&["down"]);
    }
}

macro_rules! skip_unless_available {
    () => {
        if let Some(why) = unavailable() {
            println!("SKIPPED: {why}");
            return Ok(());
        }
    };
}

/// A datanode holding replicas is cut off while a second file is being
/// written and the first is read: reads succeed from the other replicas;
/// the write succeeds (pipeline recovery around the cut node, or a
/// pipeline without it) with every byte in place; once the node is declared dead
/// its blocks are back at 3 replicas elsewhere; after the heal it rejoins
/// and the excess replicas are deleted.
// The guard serializes the tests (fixed namespaces): held on purpose for
// the whole test, across awaits; no other task takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_datanode_cut_off_during_reads_and_writes_is_healed_around() -> anyhow::Result<()> {
    skip_unless_available!();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cl = NetnsCluster::up(4)?;
    let c = cl.client().await?;
    let bytes = data(4 * (1 << 20) + 123, 31);
    write_file(&c, "/cut/a", &bytes).await?;
    wait_for("3 replicas of /cut/a", Duration::from_secs(15), || {
        cl.replicated(&c, "/cut/a", 3, "", true)
    })
    .await?;
    let victim = c.block_locations("/cut/a").await?[0].locations[0].clone();
    let role = NetnsCluster::role(&victim.data_addr);

    // A write in flight when the link goes down.
    let second = data(6 * (1 << 20) + 7, 32);
    let writer = {
        let (c, second) = (c.clone(), second.clone());
        tokio::spawn(async move { write_file(&c, "/cut/b", &second).await })
    };
    cl.cut(&role)?;
    for _ in 0..3 {
        assert!(
            read_file(&c, "/cut/a").await? == bytes,
            "read during the cut"
        );
    }
    tokio::time::timeout(Duration::from_secs(45), writer)
        .await
        .map_err(|_| anyhow::anyhow!("the write did not finish within 45 s of the cut"))???;
    assert!(
        read_file(&c, "/cut/b").await? == second,
        "the file written during the cut"
    );

    let healed = wait_for(
        "every block of /cut/a back at 3 live replicas without the cut node",
        Duration::from_secs(30),
        || cl.replicated(&c, "/cut/a", 3, &victim.uuid, false),
    )
    .await;
    if let Err(e) = healed {
        let locs = c.block_locations("/cut/a").await?;
        anyhow::bail!(
            "{e}: victim {victim:?}; locations {locs:?}\n{}",
            cl.log_tail("namenode")
        );
    }
    assert!(
        read_file(&c, "/cut/a").await? == bytes,
        "read after healing around the cut"
    );

    cl.heal(&role)?;
    wait_for(
        "the healed datanode to rejoin",
        Duration::from_secs(20),
        || {
            let c = c.clone();
            async move { NetnsCluster::live(&c).await == 4 }
        },
    )
    .await?;
    wait_for(
        "exactly 3 replicas of every block on disk (excess deleted)",
        Duration::from_secs(20),
        || cl.replicated(&c, "/cut/a", 3, "", true),
    )
    .await?;
    assert!(
        read_file(&c, "/cut/a").await? == bytes,
        "read after the heal"
    );
    assert!(
        read_file(&c, "/cut/b").await? == second,
        "the file written during the cut, after the heal"
    );
    Ok(())
}

/// A whole rack cut off: every block has a replica on the other rack, so
/// reads go on; after the heal both racks are back.
// The guard serializes the tests (fixed namespaces): held on purpose for
// the whole test, across awaits; no other task takes it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rack_cut_off_leaves_reads_to_the_other_rack() -> anyhow::Result<()> {
    skip_unless_available!();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cl = NetnsCluster::up(4)?;
    let c = cl.client().await?;
    let bytes = data(3 * (1 << 20) + 5, 33);
    write_file(&c, "/rack/f", &bytes).await?;
    wait_for("3 replicas of /rack/f", Duration::from_secs(15), || {
        cl.replicated(&c, "/rack/f", 3, "", true)
    })
    .await?;
    for b in c.block_locations("/rack/f").await? {
        let racks: std::collections::BTreeSet<_> =
            b.locations.iter().map(|l| l.rack.clone()).collect();
        assert_eq!(
            racks.len(),
            2,
            "blk_{} on both racks: {:?}",
            b.block_id,
            b.locations
        );
    }

    cl.cut("/rack1")?;
    for _ in 0..3 {
        assert!(
            read_file(&c, "/rack/f").await? == bytes,
            "read with /rack1 cut off"
        );
    }
    wait_for("/rack1 declared dead", Duration::from_secs(20), || {
        let c = c.clone();
        async move { NetnsCluster::live(&c).await == 2 }
    })
    .await?;
    assert!(
        read_file(&c, "/rack/f").await? == bytes,
        "read with /rack1 dead"
    );

    cl.heal("/rack1")?;
    wait_for("/rack1 back", Duration::from_secs(20), || {
        let c = c.clone();
        async move { NetnsCluster::live(&c).await == 4 }
    })
    .await?;
    wait_for(
        "3 replicas again, none in excess",
        Duration::from_secs(20),
        || cl.replicated(&c, "/rack/f", 3, "", true),
    )
    .await?;
    assert!(read_file(&c, "/rack/f").await? == bytes);
    Ok(())
}
