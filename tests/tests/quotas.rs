//! Name and space quotas on a MiniCluster, through the `dfs` shell as a user
//! types it (`admin setQuota`, `put` until refused, `count -q`, `clrQuota`,
//! `mv` into a full directory, `setrep` raising, a non-superuser refused),
//! across a namenode restart, and through WebHDFS (GETCONTENTSUMMARY,
//! GETQUOTAUSAGE, SETQUOTA) with curl.
//!
//! The cluster: 3 datanodes, 1 MiB blocks, replication 3 — so a new block
//! is charged 3 MiB against a space quota until it is complete.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tusk_common::sys::login_user;
use tusk_tests::MiniCluster;

const KB: u64 = 1024;
const MB: u64 = 1 << 20;

/// A local file of `len` bytes to upload.
fn local_file(dir: &Path, name: &str, len: u64) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, vec![b'x'; len as usize]).with_context(|| format!("{}", p.display()))?;
    Ok(p)
}

/// Runs `dfs` as the superuser (the login user) and asserts success.
async fn dfs_ok(c: &MiniCluster, args: &[&str]) -> String {
    let (code, out, err) = c.dfs(&login_user(), args).await;
    assert_eq!(code, 0, "dfs {args:?}: stdout {out:?} stderr {err:?}");
    out
}

/// Runs `dfs` as the superuser, asserts exit 1, returns stderr.
async fn dfs_fails(c: &MiniCluster, args: &[&str]) -> String {
    let (code, out, err) = c.dfs(&login_user(), args).await;
    assert_eq!(
        code, 1,
        "dfs {args:?} should fail: stdout {out:?} stderr {err:?}"
    );
    err
}

/// The whitespace-separated columns of `dfs count -q PATH`.
async fn count_q(c: &MiniCluster, path: &str) -> Vec<String> {
    dfs_ok(c, &["count", "-q", path])
        .await
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Names in a directory, from `dfs ls` (the last column of each entry).
async fn ls_names(c: &MiniCluster, dir: &str) -> Vec<String> {
    dfs_ok(c, &["ls", dir])
        .await
        .lines()
        .filter(|l| !l.starts_with("Found "))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect()
}

/// curl: (HTTP status, JSON body or Null).
async fn curl(method: &str, url: &str) -> Result<(u16, Value)> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-X", method, "-w", "\n%{http_code}", url])
        .output()
        .await
        .context("running curl (scripts/test.sh installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').context("no status line")?;
    let v = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((status.trim().parse()?, v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_through_the_shell_restart_and_webhdfs() -> Result<()> {
    tusk_tests::init_logging();
    let mut c = MiniCluster::start().await?;
    c.wait_active().await?;
    let local = c.dir().join("local");
    std::fs::create_dir_all(&local)?;
    let small = local_file(&local, "small", 100 * KB)?;
    let small = small.to_str().unwrap();
    let two_blocks = local_file(&local, "two_blocks", 2 * MB)?;
    let two_blocks = two_blocks.to_str().unwrap();

    // ---- name quota: 3 names = /q itself + 2.
    dfs_ok(&c, &["mkdir", "/q"]).await;
    dfs_ok(&c, &["admin", "setQuota", "3", "/q"]).await;
    assert_eq!(
        count_q(&c, "/q").await,
        ["3", "2", "none", "inf", "1", "0", "0", "/q"]
    );
    dfs_ok(&c, &["put", small, "/q/a"]).await;
    dfs_ok(&c, &["put", small, "/q/b"]).await;
    let err = dfs_fails(&c, &["put", small, "/q/c"]).await;
    assert_eq!(
        err.trim(),
        "put: The NameSpace quota (directories and files) of directory /q is exceeded: quota=3 file count=4"
    );
    assert_eq!(ls_names(&c, "/q").await, ["a", "b"], "no _COPYING_ left");
    let err = dfs_fails(&c, &["mkdir", "/q/d"]).await;
    assert!(err.contains("The NameSpace quota"), "{err}");
    let cols = count_q(&c, "/q").await;
    assert_eq!(cols[..6], ["3", "0", "none", "inf", "1", "2"]);
    assert_eq!(cols[6], (200 * KB).to_string());

    // ---- rename into the full directory is refused, nothing moves.
    dfs_ok(&c, &["put", small, "/outside"]).await;
    let err = dfs_fails(&c, &["mv", "/outside", "/q/"]).await;
    assert!(err.contains("The NameSpace quota"), "{err}");
    assert_eq!(ls_names(&c, "/q").await, ["a", "b"]);

    // ---- clrQuota lifts it.
    dfs_ok(&c, &["admin", "clrQuota", "/q"]).await;
    assert_eq!(count_q(&c, "/q").await[..4], ["none", "inf", "none", "inf"]);
    dfs_ok(&c, &["mv", "/outside", "/q/"]).await;
    dfs_ok(&c, &["put", small, "/q/c"]).await;

    // ---- a non-superuser is refused.
    let (code, _, err) = c.dfs("bob", &["admin", "setQuota", "10", "/q"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("/q") && err.contains("Superuser privilege is required"),
        "{err}"
    );
    let (code, _, err) = c.dfs("bob", &["admin", "setSpaceQuota", "1g", "/q"]).await;
    assert_eq!(code, 1, "{err}");

    // ---- space quota: 4 MiB of replicas.
    dfs_ok(&c, &["mkdir", "/s"]).await;
    dfs_ok(&c, &["admin", "setSpaceQuota", "4m", "/s"]).await;
    // Each 100 KiB file is charged a whole block (3 MiB) while written.
    dfs_ok(&c, &["put", small, "/s/a"]).await;
    dfs_ok(&c, &["put", small, "/s/b"]).await;
    let used = 2 * 100 * KB * 3;
    assert_eq!(
        count_q(&c, "/s").await,
        [
            "none".to_string(),
            "inf".into(),
            (4 * MB).to_string(),
            (4 * MB - used).to_string(),
            "1".into(),
            "2".into(),
            (200 * KB).to_string(),
            "/s".into()
        ]
    );
    // Two blocks: the second would make 600 KiB + 3 MiB + 3 MiB.
    let err = dfs_fails(&c, &["put", two_blocks, "/s/big"]).await;
    assert!(
        err.starts_with("put: The DiskSpace quota of /s is exceeded: quota = 4194304 B = 4 MB but diskspace consumed = "),
        "{err}"
    );
    assert_eq!(ls_names(&c, "/s").await, ["a", "b"], "no _COPYING_ left");
    assert_eq!(count_q(&c, "/s").await[3], (4 * MB - used).to_string());
    // -h: Hadoop's human sizes.
    let h = dfs_ok(&c, &["count", "-q", "-h", "/s"]).await;
    assert!(h.contains("4 M"), "{h}");

    // ---- setrep raising beyond the quota is refused; lowering is fine.
    dfs_ok(&c, &["admin", "setSpaceQuota", "700k", "/s"]).await;
    let err = dfs_fails(&c, &["setrep", "5", "/s/a"]).await;
    assert!(
        err.contains("The DiskSpace quota of /s is exceeded"),
        "{err}"
    );
    dfs_ok(&c, &["setrep", "1", "/s/a"]).await;
    assert_eq!(
        count_q(&c, "/s").await[3],
        (700 * KB - 400 * KB).to_string()
    );

    // ---- WebHDFS reports the quotas and sets them.
    let http = format!("http://{}/webhdfs/v1", c.nn_http_addr());
    let me = login_user();
    let (st, v) = curl(
        "GET",
        &format!("{http}/s?op=GETCONTENTSUMMARY&user.name={me}"),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let s = &v["ContentSummary"];
    assert_eq!(s["quota"], -1);
    assert_eq!(s["spaceQuota"], 700 * KB);
    assert_eq!(s["spaceConsumed"], 400 * KB);
    assert_eq!(
        (s["fileCount"].as_u64(), s["directoryCount"].as_u64()),
        (Some(2), Some(1))
    );
    let (st, v) = curl(
        "PUT",
        &format!("{http}/s?op=SETQUOTA&namespacequota=10&user.name={me}"),
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let (st, v) = curl("GET", &format!("{http}/s?op=GETQUOTAUSAGE&user.name={me}")).await?;
    assert_eq!(st, 200, "{v}");
    let u = &v["QuotaUsage"];
    assert_eq!(
        (u["quota"].as_i64(), u["spaceQuota"].as_u64()),
        (Some(10), Some(700 * KB))
    );
    assert_eq!(u["fileAndDirectoryCount"], 3);
    let (st, v) = curl(
        "PUT",
        &format!("{http}/s?op=SETQUOTA&namespacequota=5&user.name=bob"),
    )
    .await?;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["RemoteException"]["exception"], "AccessControlException");

    // ---- a namenode restart keeps quotas and usage.
    let before = (count_q(&c, "/s").await, count_q(&c, "/q").await);
    c.restart_namenode().await?;
    c.wait_active().await?;
    assert_eq!((count_q(&c, "/s").await, count_q(&c, "/q").await), before);
    let err = dfs_fails(&c, &["put", small, "/s/c"]).await;
    assert!(err.starts_with("put: The DiskSpace quota of /s"), "{err}");
    assert_eq!(ls_names(&c, "/s").await, ["a", "b"]);
    dfs_ok(&c, &["admin", "clrSpaceQuota", "/s"]).await;
    dfs_ok(&c, &["put", small, "/s/c"]).await;
    c.shutdown().await?;
    Ok(())
}
