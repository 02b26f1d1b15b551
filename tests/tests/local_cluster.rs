//! The real binaries, started by scripts/local-cluster.sh: the `dfs` shell as a
//! user types it, and kill -9 of the namenode with acknowledged work in flight.

mod common;

use common::{data, sha256_hex};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tusk_tests::{wait_for, LocalCluster};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

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
    assert_eq!(st.matches("running").count(), 4, "{st}");

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
    assert_eq!(st.matches("running").count(), 4, "{st}");
    Ok(())
}
