//! The real binaries, started by scripts/local-cluster.sh: the `dfs` shell as a
//! user types it, and kill -9 of the namenode with acknowledged work in flight.

mod common;

use common::{data, ok, sha256_hex};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tusk_tests::{wait_for, LocalCluster};

fn fails(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn the_dfs_shell_works_like_hdfs_dfs() -> anyhow::Result<()> {
    let cl = LocalCluster::start(3, Some("[cluster]\nblock_size = \"1MiB\"\n"))?;
    let st = cl.script("status")?;
    // A namenode, a resource manager, and a datanode + node manager per host.
    assert_eq!(st.matches("running").count(), 8, "{st}");
    for role in ["namenode", "resourcemanager", "datanode-3", "nodemanager-3"] {
        assert!(st.contains(role), "{role} in {st}");
    }

    let dir = tempfile::tempdir()?;
    let local = dir.path().join("in.bin");
    let bytes = data(2_500_000, 9);
    std::fs::write(&local, &bytes)?;
    let local_s = local.to_str().unwrap();

    ok(&cl.dfs(&["mkdir", "-p", "/data/in"]));
    ok(&cl.dfs(&["-put", local_s, "/data/in/"]));
    // put refuses to overwrite without -f, and leaves the file alone.
    let err = fails(&cl.dfs(&["put", local_s, "/data/in/in.bin"]));
    assert!(
        err.contains("/data/in/in.bin") && err.contains("File exists"),
        "{err}"
    );
    ok(&cl.dfs(&["put", "-f", local_s, "/data/in/in.bin"]));

    let ls = ok(&cl.dfs(&["ls", "/data/in"]));
    assert!(ls.starts_with("Found 1 items"), "{ls}");
    let line = ls.lines().nth(1).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[0], "-rw-r--r--", "{line}");
    assert_eq!(cols[1], "3", "replication column: {line}");
    assert_eq!(cols[4], "2500000", "size column: {line}");
    assert_eq!(cols[7], "/data/in/in.bin", "{line}");
    assert!(!ls.contains("_COPYING_"));

    // checksum equals sha256sum of the source.
    let sum = ok(&cl.dfs(&["checksum", "/data/in/in.bin"]));
    assert!(sum.trim_end().ends_with(&sha256_hex(&bytes)), "{sum}");

    // get and cat give the bytes back.
    let back = dir.path().join("back.bin");
    ok(&cl.dfs(&["get", "/data/in/in.bin", back.to_str().unwrap()]));
    assert!(std::fs::read(&back)? == bytes);
    let cat = cl.dfs(&["cat", "/data/in/in.bin"]);
    assert!(cat.status.success() && cat.stdout == bytes);

    // stdin upload, appendToFile, text, head, tail.
    ok(&cl.dfs_stdin(&["put", "-", "/data/notes.txt"], Some(b"line one\n")));
    ok(&cl.dfs_stdin(
        &["appendToFile", "-", "/data/notes.txt"],
        Some(b"line two\n"),
    ));
    assert_eq!(
        ok(&cl.dfs(&["cat", "/data/notes.txt"])),
        "line one\nline two\n"
    );
    assert_eq!(
        ok(&cl.dfs(&["text", "/data/notes.txt"])),
        "line one\nline two\n"
    );
    assert_eq!(
        ok(&cl.dfs(&["tail", "/data/notes.txt"])),
        "line one\nline two\n"
    );

    // Missing paths: one line naming the path, exit 1.
    let err = fails(&cl.dfs(&["ls", "/no/such"]));
    assert!(err.contains("/no/such: No such file or directory"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let err = fails(&cl.dfs(&["cat", "/data/in"]));
    assert!(
        err.contains("/data/in") && err.contains("directory"),
        "{err}"
    );

    // test, du, count, stat, mv, cp, chmod.
    assert_eq!(cl.dfs(&["test", "-d", "/data/in"]).status.code(), Some(0));
    assert_eq!(cl.dfs(&["test", "-e", "/data/nope"]).status.code(), Some(1));
    let du = ok(&cl.dfs(&["du", "-s", "/data/in"]));
    assert!(du.contains("2500000") && du.contains("7500000"), "{du}");
    let count = ok(&cl.dfs(&["count", "/data"]));
    let c: Vec<&str> = count.split_whitespace().collect();
    assert_eq!(&c[..3], &["2", "2", "2500018"], "{count}");
    ok(&cl.dfs(&["mv", "/data/notes.txt", "/data/in"]));
    ok(&cl.dfs(&["cp", "/data/in/notes.txt", "/data/copy.txt"]));
    assert_eq!(
        ok(&cl.dfs(&["cat", "/data/copy.txt"])),
        "line one\nline two\n"
    );
    ok(&cl.dfs(&["chmod", "600", "/data/copy.txt"]));
    let ls = ok(&cl.dfs(&["ls", "/data/copy.txt"]));
    assert!(ls.contains("-rw-------"), "{ls}");
    let stat = ok(&cl.dfs(&["stat", "%n %b %r", "/data/copy.txt"]));
    assert_eq!(stat.trim(), "copy.txt 18 3");

    // rm goes to the trash unless -skipTrash; -r needed for directories.
    let out = ok(&cl.dfs(&["rm", "/data/copy.txt"]));
    assert!(out.contains("trash"), "{out}");
    let user = tusk_common::sys::login_user();
    ok(&cl.dfs(&[
        "test",
        "-e",
        &format!("/user/{user}/.Trash/Current/data/copy.txt"),
    ]));
    fails(&cl.dfs(&["rm", "-skipTrash", "/data/in"]));
    ok(&cl.dfs(&["rm", "-r", "-skipTrash", "/data/in"]));
    fails(&cl.dfs(&["test", "-e", "/data/in"]));

    // Operator commands.
    let report = ok(&cl.dfs(&["admin", "report"]));
    assert!(report.contains("Live datanodes (3):"), "{report}");
    let fsck = ok(&cl.dfs(&["fsck", "/"]));
    assert!(fsck.trim_end().ends_with("is HEALTHY"), "{fsck}");
    assert_eq!(
        ok(&cl.dfs(&["admin", "safemode", "get"])),
        "Safe mode is OFF\n"
    );
    Ok(())
}

/// kill -9 the namenode in the middle of a burst of mkdirs and file closes:
/// every operation the client saw acknowledged is there after the restart.
#[test]
fn kill_9_of_the_namenode_loses_no_acknowledged_change() -> anyhow::Result<()> {
    let cl = LocalCluster::start(3, Some("[cluster]\nblock_size = \"1MiB\"\n"))?;
    let rt = tokio::runtime::Runtime::new()?;
    let acked_dirs = Arc::new(Mutex::new(BTreeSet::new()));
    let acked_files = Arc::new(Mutex::new(Vec::<(String, String)>::new()));

    rt.block_on(async {
        let c = cl.client().await?;
        c.mkdirs("/burst", 0o755, false).await?;
        // Eight writers issue mkdirs as fast as they are acknowledged, and one
        // writes small files; stop when the namenode is killed.
        let mut tasks = Vec::new();
        for w in 0..8 {
            let c = c.clone();
            let acked = acked_dirs.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let p = format!("/burst/w{w}-{i:06}");
                    match c.mkdirs(&p, 0o755, false).await {
                        Ok(()) => {
                            acked.lock().unwrap().insert(p);
                        }
                        Err(_) => break,
                    }
                }
            }));
        }
        {
            let c = c.clone();
            let acked = acked_files.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let p = format!("/burst/file-{i:04}");
                    let bytes = data(1000 + i * 37, i as u64);
                    if common::write_file(&c, &p, &bytes).await.is_err() {
                        break;
                    }
                    acked.lock().unwrap().push((p, sha256_hex(&bytes)));
                }
            }));
        }
        // Let the burst run until a good number of changes are acknowledged.
        let acked = acked_dirs.clone();
        wait_for(
            "a burst of acknowledged mkdirs",
            Duration::from_secs(60),
            || {
                let n = acked.lock().unwrap().len();
                async move { n >= 2000 }
            },
        )
        .await?;
        cl.kill9("namenode")?;
        for t in tasks {
            // Writers stop at their first error (the client gives up after its
            // bounded retries).
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        anyhow::Ok(())
    })?;

    cl.script("start")?; // brings back only the namenode
    rt.block_on(async {
        let c = cl.client().await?;
        let present: BTreeSet<String> = c
            .list("/burst")
            .await?
            .into_iter()
            .map(|s| format!("/burst/{}", s.name))
            .collect();
        let acked = acked_dirs.lock().unwrap().clone();
        let lost: Vec<_> = acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged mkdirs lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        let files = acked_files.lock().unwrap().clone();
        assert!(!files.is_empty(), "some files were closed before the kill");
        for (p, sum) in files {
            let got = c.file_checksum(&p).await?;
            assert_eq!(hex::encode(got), sum, "{p}");
            let bytes = common::read_file(&c, &p).await?;
            assert_eq!(sha256_hex(&bytes), sum, "{p} content");
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

/// kill -9 of the namenode right after a big delete was acknowledged,
/// before or while its detached tree is purged (`[namenode]
/// deletion_increment` 2: ~30 steps): after the restart the delete holds,
/// the purge finishes, and every replica of the tree is deleted.
#[test]
fn kill_9_of_the_namenode_during_the_purge_of_a_big_delete_loses_nothing() -> anyhow::Result<()> {
    let cl = LocalCluster::start(
        3,
        Some("[cluster]\nblock_size = \"1MiB\"\n\n[namenode]\ndeletion_increment = 2\n"),
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let blocks = rt.block_on(async {
        let c = cl.client().await?;
        common::write_file(&c, "/keep/k", b"kept").await?;
        let mut blocks = Vec::new();
        for d in 0..4 {
            for i in 0..15 {
                let p = format!("/big/d{d}/f{i:02}");
                common::write_file(&c, &p, &data(100 + i, i as u64)).await?;
                blocks.extend(c.block_locations(&p).await?.iter().map(|b| b.block().id));
            }
        }
        assert!(c.delete("/big", true).await?);
        cl.kill9("namenode")?;
        anyhow::Ok(blocks)
    })?;

    cl.script("start")?; // brings back only the namenode
    rt.block_on(async {
        let c = cl.client().await?;
        assert!(
            c.get_file_info("/big").await?.is_none(),
            "the acknowledged delete holds"
        );
        assert_eq!(common::read_file(&c, "/keep/k").await?, b"kept");
        wait_for(
            "the purge to finish after the restart",
            Duration::from_secs(60),
            || {
                let c = c.clone();
                async move { c.fs_stats().await.is_ok_and(|s| s.total_files == 1) }
            },
        )
        .await?;
        wait_for(
            "every replica of the deleted files to be deleted",
            Duration::from_secs(60),
            || {
                let left = blocks
                    .iter()
                    .filter(|b| !cl.replica_holders(**b).is_empty())
                    .count();
                async move { left == 0 }
            },
        )
        .await?;
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn start_is_idempotent_and_brings_back_a_killed_datanode() -> anyhow::Result<()> {
    let cl = LocalCluster::start(3, None)?;
    let before = cl.pid("datanode-1")?;
    let nn = cl.pid("namenode")?;
    cl.kill9("datanode-2")?;
    let st = std::process::Command::new(LocalCluster::repo().join("scripts/local-cluster.sh"))
        .arg("status")
        .env("TUSK_HOME", cl.home.path())
        .env("TUSK_BASE_PORT", cl.base_port.to_string())
        .env("TUSK_BIN_DIR", &cl.bin_dir)
        .output()?;
    assert!(String::from_utf8_lossy(&st.stdout).contains("stopped"));
    let out = cl.script("start")?;
    assert!(out.contains("export TUSK_NAMENODE=127.0.0.1:"), "{out}");
    assert_eq!(
        cl.pid("datanode-1")?,
        before,
        "a running daemon is left alone"
    );
    assert_eq!(cl.pid("namenode")?, nn);
    assert_ne!(cl.pid("datanode-2")?, 0);
    let st = cl.script("status")?;
    assert_eq!(st.matches("running").count(), 8, "{st}");
    Ok(())
}

/// Settings for the fault tests: small blocks, fast heartbeats, a datanode
/// silent for 3 s is dead, and the replication monitor runs often.
const FAST_HEALING: &str = "[cluster]\nblock_size = \"1MiB\"\nheartbeat_interval = \"500ms\"\ndead_after = \"3s\"\n\n[namenode]\nreplication_interval = \"300ms\"\npending_replication_timeout = \"10s\"\n";

/// The `datanode-<i>` role of a datanode of `cl`, from its data address
/// (`local-cluster.sh` gives datanode i the port base + 10*i).
fn role_of(cl: &LocalCluster, data_addr: &str) -> String {
    let port: u16 = data_addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ip:port");
    format!("datanode-{}", (port - cl.base_port) / 10)
}

/// kill -9 two of five datanodes that both hold replicas of a file at
/// replication 3: the file stays readable from the third replica, and once
/// the two are declared dead every block is back to 3 live replicas, none
/// on a killed node.
#[test]
fn kill_9_of_two_datanodes_of_five_keeps_the_file_and_heals_it() -> anyhow::Result<()> {
    let cl = LocalCluster::start(5, Some(FAST_HEALING))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let c = cl.client().await?;
        let bytes = data(3 * (1 << 20) + 777, 21);
        common::write_file(&c, "/two/f", &bytes).await?;
        let full = |c: tusk_client::DfsClient, dead: Vec<String>| async move {
            match c.block_locations("/two/f").await {
                Ok(blocks) => blocks.iter().all(|b| {
                    b.locations.len() == 3 && b.locations.iter().all(|l| !dead.contains(&l.uuid))
                }),
                Err(_) => false,
            }
        };
        wait_for("3 replicas of every block", Duration::from_secs(30), || {
            full(c.clone(), Vec::new())
        })
        .await?;

        // Two holders of the first block go away at once.
        let first = c.block_locations("/two/f").await?[0].locations.clone();
        let victims: Vec<_> = first[..2].to_vec();
        for v in &victims {
            cl.kill9(&role_of(&cl, &v.data_addr))?;
        }
        // Readable now (the namenode still lists the dead replicas; the
        // reader falls over to the live one) …
        let back = common::read_file(&c, "/two/f").await?;
        assert!(back == bytes, "content right after the kills");

        // … and healed once the deaths are declared.
        let dead: Vec<String> = victims.iter().map(|v| v.uuid.clone()).collect();
        wait_for(
            "every block back to 3 live replicas, none on a killed datanode",
            Duration::from_secs(45),
            || full(c.clone(), dead.clone()),
        )
        .await?;
        let back = common::read_file(&c, "/two/f").await?;
        assert!(back == bytes, "content after healing");
        let fsck = cl.dfs(&["fsck", "/two"]);
        let out = ok(&fsck);
        assert!(out.trim_end().ends_with("is HEALTHY"), "{out}");
        anyhow::Ok(())
    })
}

/// What a mixed-load task saw acknowledged: the final expected state of
/// every path it touched, and the paths of the one operation that was in
/// flight when the namenode died (either outcome is allowed there).
#[derive(Default, Clone)]
struct Acked {
    /// path → Some(sha256) for a file, None for a directory; absent paths
    /// are in `gone`.
    present: std::collections::BTreeMap<String, Option<String>>,
    gone: BTreeSet<String>,
    uncertain: BTreeSet<String>,
}

impl Acked {
    fn exists(&mut self, p: &str, sum: Option<String>) {
        self.gone.remove(p);
        self.present.insert(p.to_string(), sum);
    }
    fn removed(&mut self, p: &str) {
        self.present.remove(p);
        self.gone.insert(p.to_string());
    }
}

/// One task of the mixed load in its own directory `d`: mkdir, write a
/// small file, rename the previous file, delete an older directory, until
/// the first failure (whose paths become uncertain).
async fn mixed_load(c: tusk_client::DfsClient, d: String, seed: u64, acked: Arc<Mutex<Acked>>) {
    for i in 0u64.. {
        let dir = format!("{d}/dir-{i:05}");
        if c.mkdirs(&dir, 0o755, false).await.is_err() {
            acked.lock().unwrap().uncertain.insert(dir);
            return;
        }
        acked.lock().unwrap().exists(&dir, None);

        let file = format!("{d}/file-{i:05}");
        let bytes = data(200 + (i as usize * 131) % 5000, seed * 1_000_000 + i);
        if common::write_file(&c, &file, &bytes).await.is_err() {
            acked.lock().unwrap().uncertain.insert(file);
            return;
        }
        acked
            .lock()
            .unwrap()
            .exists(&file, Some(sha256_hex(&bytes)));

        if i >= 1 {
            let (from, to) = (
                format!("{d}/file-{:05}", i - 1),
                format!("{d}/moved-{:05}", i - 1),
            );
            if c.rename(&from, &to, false).await.is_err() {
                let mut a = acked.lock().unwrap();
                a.uncertain.insert(from);
                a.uncertain.insert(to);
                return;
            }
            let mut a = acked.lock().unwrap();
            let sum = a.present.get(&from).cloned().flatten();
            a.removed(&from);
            a.exists(&to, sum);
        }
        if i >= 2 {
            let old = format!("{d}/dir-{:05}", i - 2);
            if c.delete(&old, true).await.is_err() {
                acked.lock().unwrap().uncertain.insert(old);
                return;
            }
            acked.lock().unwrap().removed(&old);
        }
    }
}

/// kill -9 the namenode while several tasks mkdir, write, rename and
/// delete: after the restart every acknowledged operation's effect is
/// there, and the namenode leaves safe mode by itself (no `leave`).
#[test]
fn kill_9_of_the_namenode_under_a_mixed_load_keeps_every_acknowledged_operation(
) -> anyhow::Result<()> {
    let cl = LocalCluster::start(3, Some("[cluster]\nblock_size = \"1MiB\"\n"))?;
    let rt = tokio::runtime::Runtime::new()?;
    let tasks_n = 6;
    let acked: Vec<Arc<Mutex<Acked>>> = (0..tasks_n).map(|_| Arc::default()).collect();
    rt.block_on(async {
        let c = cl.client().await?;
        let mut tasks = Vec::new();
        for (t, a) in acked.iter().enumerate() {
            let d = format!("/mixed/t{t}");
            c.mkdirs(&d, 0o755, true).await?;
            tasks.push(tokio::spawn(mixed_load(c.clone(), d, t as u64, a.clone())));
        }
        let a = acked.clone();
        wait_for(
            "a few hundred acknowledged operations",
            Duration::from_secs(60),
            || {
                let n: usize = a
                    .iter()
                    .map(|x| {
                        let x = x.lock().unwrap();
                        x.present.len() + x.gone.len()
                    })
                    .sum();
                async move { n >= 400 }
            },
        )
        .await?;
        cl.kill9("namenode")?;
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(90), t)
                .await
                .map_err(|_| anyhow::anyhow!("a load task did not stop after the kill"))??;
        }
        anyhow::Ok(())
    })?;

    // Only the namenode comes back; `start` returns once it has left safe
    // mode on its own (the datanodes' block reports), which we check again.
    cl.script("start")?;
    rt.block_on(async {
        let c = cl.client().await?;
        wait_for(
            "safe mode to end by itself",
            Duration::from_secs(30),
            || {
                let c = c.clone();
                async move { matches!(c.fs_stats().await, Ok(s) if !s.safe_mode) }
            },
        )
        .await?;
        let (mut files, mut dirs, mut gone) = (0, 0, 0);
        for a in &acked {
            let a = a.lock().unwrap().clone();
            for (p, sum) in &a.present {
                if a.uncertain.contains(p) {
                    continue;
                }
                let st = c
                    .get_file_info(p)
                    .await?
                    .unwrap_or_else(|| panic!("acknowledged {p} is missing"));
                match sum {
                    None => {
                        assert!(st.is_dir(), "{p} should be a directory");
                        dirs += 1;
                    }
                    Some(sum) => {
                        let bytes = common::read_file(&c, p).await?;
                        assert_eq!(&sha256_hex(&bytes), sum, "{p} content");
                        files += 1;
                    }
                }
            }
            for p in &a.gone {
                if !a.uncertain.contains(p) {
                    assert!(!c.exists(p).await?, "{p} was deleted or renamed away");
                    gone += 1;
                }
            }
        }
        assert!(files > 0 && dirs > 0 && gone > 0, "{files} {dirs} {gone}");
        // And the namenode takes writes again.
        common::write_file(&c, "/mixed/after", b"after the restart").await?;
        anyhow::Ok(())
    })
}
