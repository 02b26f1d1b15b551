//! Security of the compute layer (issue 9): node managers join only with
//! the cluster secret, containers start only with a container token from
//! the resource manager and run as their application's user (else as an
//! unprivileged account) in private directories, and with `[security]
//! authentication = "token"` the resource manager believes only user
//! tokens.
//!
//! **Needs root** (as CI and this machine run the suite): the tests create
//! the OS accounts `tusk-alice` and `tusk-bob` with `useradd` (once; kept)
//! and check that containers really run as them. Run as another user they
//! fail at once, saying so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tusk_client::{ClientConfig, CreateOptions, DfsClient};
use tusk_common::security::ClusterSecret;
use tusk_common::TuskConfig;
use tusk_mapreduce::yarn::client::{fetch_partition, NmClient, RmClient};
use tusk_mapreduce::yarn::pb;
use tusk_mapreduce::yarn::pb::container_manager_client::ContainerManagerClient;
use tusk_mapreduce::yarn::pb::resource_tracker_client::ResourceTrackerClient;
use tusk_mapreduce::yarn::security::{app_token, issue_container_token, CONTAINER_TOKEN_LIFETIME};
use tusk_mapreduce::yarn::YarnError;
use tusk_tests::{wait_for, LocalCluster};

const WAIT: Duration = Duration::from_secs(60);
const ALICE: &str = "tusk-alice";
const BOB: &str = "tusk-bob";

const CONFIG: &str = r#"
[cluster]
replication = 1
heartbeat_interval = "300ms"
dead_after = "5s"
[nodemanager]
memory = "6GiB"
"#;

fn require_root() {
    let euid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(
        euid, "0",
        "tests/tests/yarn_security.rs needs root: it creates OS users (useradd) and checks \
         that containers run as them (node managers run containers as users only as root)"
    );
}

/// The uid of `name`, creating the account (no home, no login) if missing.
fn ensure_user(name: &str) -> Result<u32> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let uid = |name: &str| -> Option<u32> {
        let out = Command::new("id").args(["-u", name]).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .flatten()
    };
    if let Some(u) = uid(name) {
        return Ok(u);
    }
    let out = Command::new("useradd")
        .args(["--no-create-home", "--shell", "/usr/sbin/nologin", name])
        .output()
        .context("running useradd")?;
    // Another test process may have made it meanwhile (exit 9: exists).
    let u = uid(name).with_context(|| {
        format!(
            "useradd {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    ensure!(
        u >= 1000,
        "{name} has uid {u} < 1000 (container_min_user_id)"
    );
    Ok(u)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mapred ARGS` against `c` with extra environment.
fn mapred(c: &LocalCluster, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(c.bin_dir.join("mapred"));
    cmd.args(args)
        .env("TUSK_NAMENODE", c.nn_addr())
        .env("TUSK_RM", c.rm_addr())
        .env_remove("TUSK_MR_ROLE")
        .env_remove("TUSK_TOKEN")
        .env_remove("TUSK_USER")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run mapred")
}

fn mapred_ok(c: &LocalCluster, env: &[(&str, &str)], args: &[&str]) -> Result<Output> {
    let out = mapred(c, env, args);
    if !out.status.success() {
        bail!(
            "mapred {args:?} {env:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
    }
    Ok(out)
}

/// A streaming map-only job over /sec/in.txt whose mapper is `script`.
fn streaming_args<'a>(out: &'a str, script: &'a str) -> Vec<&'a str> {
    vec![
        "streaming",
        "-input",
        "/sec/in.txt",
        "-output",
        out,
        "-mapper",
        script,
        "-reducer",
        "NONE",
    ]
}

/// A superuser client (the namenode runs as root here), with `token`.
async fn root_client(c: &LocalCluster, token: Option<String>) -> Result<DfsClient> {
    let mut cfg = ClientConfig::default()
        .with_namenode(c.nn_addr())
        .with_user("root");
    if let Some(t) = token {
        cfg = cfg.with_token(t);
    }
    Ok(DfsClient::connect(cfg).await?)
}

/// World-writable /tmp (staging, history) and /sec, and a one-line input.
async fn prepare_dfs(fs: &DfsClient) -> Result<()> {
    for (d, mode) in [
        ("/tmp", 0o1777),
        ("/tmp/tusk-staging", 0o1777),
        ("/tmp/tusk-history", 0o1777),
        ("/sec", 0o777),
    ] {
        fs.mkdirs(d, mode, true).await?;
        fs.set_permission(d, mode).await?;
    }
    let mut w = fs
        .create("/sec/in.txt", CreateOptions::default().with_overwrite(true))
        .await?;
    w.write_all(b"one line\n").await?;
    w.close().await?;
    Ok(())
}

/// Every `part-*` file of a job's output directory, concatenated.
async fn read_output(fs: &DfsClient, dir: &str) -> Result<String> {
    let mut out = String::new();
    for n in tusk_tests::names(fs, dir).await? {
        if n.starts_with("part-") {
            out.push_str(&text(&fs.read_file(&format!("{dir}/{n}")).await?));
        }
    }
    Ok(out)
}

/// The first `part-*` file of a job's output directory.
async fn first_part(fs: &DfsClient, dir: &str) -> Result<String> {
    let n = tusk_tests::names(fs, dir)
        .await?
        .into_iter()
        .find(|n| n.starts_with("part-"))
        .with_context(|| format!("{dir}: no part file"))?;
    Ok(format!("{dir}/{n}"))
}

fn cluster(config: &str) -> Result<LocalCluster> {
    require_root();
    ensure_user(ALICE)?;
    ensure_user(BOB)?;
    LocalCluster::start(1, Some(config))
}

#[tokio::test]
async fn containers_run_as_their_users_in_private_dirs() -> Result<()> {
    let c = cluster(CONFIG)?;
    let fs = root_client(&c, None).await?;
    prepare_dfs(&fs).await?;
    let script = "cat >/dev/null; echo \"user=$(id -un)\"; \
                  echo \"work=$(stat -c '%a %U' .)\"; \
                  echo \"app=$(stat -c '%a %U' \"$TUSK_APP_LOCAL_DIR\")\"";
    // tusk-alice has an account with uid >= 1000: her tasks run as her.
    mapred_ok(
        &c,
        &[("TUSK_USER", ALICE)],
        &streaming_args("/sec/out-alice", script),
    )?;
    let out = read_output(&fs, "/sec/out-alice").await?;
    assert!(out.contains(&format!("user={ALICE}")), "{out}");
    assert!(out.contains(&format!("work=700 {ALICE}")), "{out}");
    assert!(out.contains(&format!("app=700 {ALICE}")), "{out}");
    // Her output is hers in the file system too.
    let st = fs.status(&first_part(&fs, "/sec/out-alice").await?).await?;
    assert_eq!(st.owner, ALICE, "{st:?}");
    // root is banned: its tasks run as nobody; so do those of a user with
    // no account on the node.
    mapred_ok(
        &c,
        &[("TUSK_USER", "root")],
        &streaming_args("/sec/out-root", script),
    )?;
    let out = read_output(&fs, "/sec/out-root").await?;
    assert!(out.contains("user=nobody"), "{out}");
    mapred_ok(
        &c,
        &[("TUSK_USER", "tusk-no-such-account")],
        &streaming_args("/sec/out-ghost", script),
    )?;
    let out = read_output(&fs, "/sec/out-ghost").await?;
    assert!(out.contains("user=nobody"), "{out}");
    // The resource manager records whom each application's containers ran as.
    let apps = RmClient::new(&c.rm_addr(), "root")?.list(&[], None).await?;
    let ran: Vec<(String, Vec<String>)> = apps.into_iter().map(|a| (a.user, a.run_as)).collect();
    for (user, want) in [
        (ALICE, ALICE),
        ("root", "nobody"),
        ("tusk-no-such-account", "nobody"),
    ] {
        assert!(
            ran.iter()
                .any(|(u, r)| u == user && r == &[want.to_string()]),
            "{ran:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_task_cannot_read_another_applications_dirs() -> Result<()> {
    let c = cluster(CONFIG)?;
    let fs = root_client(&c, None).await?;
    prepare_dfs(&fs).await?;
    let release = c.home.path().join("release-bob");
    // Bob's task leaves a file in its working dir and waits to be released.
    let bob_script = format!(
        "cat >/dev/null; echo bob-secret > secret.txt; \
         while [ ! -e {} ]; do sleep 0.05; done; echo bob-done",
        release.display()
    );
    let out = mapred_ok(
        &c,
        &[("TUSK_USER", BOB)],
        &[
            &["--detach"][..],
            &streaming_args("/sec/out-bob", &bob_script)[..],
        ]
        .concat(),
    )?;
    let bob_app = text(&out.stdout).trim().to_string();
    ensure!(bob_app.starts_with("application_"), "{bob_app}");
    let bob_dir = c
        .home
        .path()
        .join("nodemanager-1/local/apps")
        .join(&bob_app);
    // Wait until bob's map task has written its file.
    let secret_file = wait_for_file(&bob_dir.join("containers"), "secret.txt").await?;
    let bob_work = secret_file.parent().context("work dir")?.to_path_buf();
    let probe = format!(
        "cat >/dev/null; \
         ls {app} >/dev/null 2>&1 && echo 'ls-app: allowed' || echo 'ls-app: denied'; \
         ls {work} >/dev/null 2>&1 && echo 'ls-work: allowed' || echo 'ls-work: denied'; \
         cat {file} >/dev/null 2>&1 && echo 'cat-file: allowed' || echo 'cat-file: denied'; \
         echo \"self=$(stat -c '%a %U' .)\"",
        app = bob_dir.display(),
        work = bob_work.display(),
        file = secret_file.display()
    );
    mapred_ok(
        &c,
        &[("TUSK_USER", ALICE)],
        &streaming_args("/sec/out-probe", &probe),
    )?;
    let out = read_output(&fs, "/sec/out-probe").await?;
    eprintln!("alice's probe of bob's application {bob_app}:\n{out}");
    for what in ["ls-app", "ls-work", "cat-file"] {
        assert!(out.contains(&format!("{what}: denied")), "{out}");
    }
    assert!(out.contains(&format!("self=700 {ALICE}")), "{out}");
    // Bob's own dir: his, 0700.
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&bob_dir)?;
    assert_eq!(m.mode() & 0o777, 0o700);
    assert_eq!(m.uid(), ensure_user(BOB)?);
    std::fs::write(&release, b"go")?;
    wait_for("bob's job to succeed", WAIT, || {
        let s = text(&mapred(&c, &[], &["status", &bob_app]).stdout);
        async move { s.contains("State: SUCCEEDED") }
    })
    .await?;
    assert!(read_output(&fs, "/sec/out-bob").await?.contains("bob-done"));
    Ok(())
}

/// Waits until some directory below `dir` (one level) holds `name`.
async fn wait_for_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path().join(name))
            .find(|p| p.exists())
    };
    wait_for(&format!("{name} under {}", dir.display()), WAIT, || {
        let found = find().is_some();
        async move { found }
    })
    .await?;
    find().context("vanished")
}

/// A node manager with no resource manager, its secret, and its node id.
async fn lone_nm() -> Result<(
    tempfile::TempDir,
    tusk_mapreduce::yarn::nm::NmHandle,
    Arc<ClusterSecret>,
)> {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    ensure_user(ALICE)?;
    tusk_tests::init_logging();
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let mut cfg = TuskConfig::default();
    cfg.security.cluster_secret_file = Some(dir.path().join("cluster.secret"));
    let (secret, _) = ClusterSecret::load_or_create(&cfg.security.secret_path())?;
    cfg.nodemanager.rm = "127.0.0.1:1".into();
    cfg.nodemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.nodemanager.shuffle_addr = "127.0.0.1:0".into();
    cfg.nodemanager.http_addr = "127.0.0.1:0".into();
    cfg.nodemanager.local_dir = dir.path().join("local");
    let nm = tusk_mapreduce::yarn::nm::start(cfg).await?;
    Ok((dir, nm, Arc::new(secret)))
}

fn sh(script: &str) -> pb::LaunchSpec {
    pb::LaunchSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn start_container_refuses_missing_forged_and_foreign_tokens() -> Result<()> {
    let (_dir, nm, secret) = lone_nm().await?;
    let node = nm.node_id().to_string();
    let addr = nm.rpc_addr.to_string();
    let mut raw = ContainerManagerClient::connect(format!("http://{addr}")).await?;
    const APP: &str = "application_7_0001";
    let cid = "container_7_0001_01_000002";
    let start =
        |token: Option<pb::ContainerToken>, cid: &str, app: &str| pb::StartContainerRequest {
            container_id: cid.into(),
            app_id: app.into(),
            // Never believed: the token's user is.
            user: "root".into(),
            spec: Some(sh("id -un; sleep 600")),
            resource: Some(pb::Resource {
                memory_mb: 128,
                vcores: 1,
            }),
            token,
        };
    let good = issue_container_token(&secret, cid, &node, ALICE, APP, CONTAINER_TOKEN_LIFETIME);
    let mut forged = good.clone();
    forged.user = "root".into();
    let other_secret = ClusterSecret::generate();
    let stranger = issue_container_token(
        &other_secret,
        cid,
        &node,
        ALICE,
        APP,
        CONTAINER_TOKEN_LIFETIME,
    );
    let other_app = issue_container_token(
        &secret,
        "container_7_0002_01_000002",
        &node,
        ALICE,
        "application_7_0002",
        CONTAINER_TOKEN_LIFETIME,
    );
    let elsewhere = issue_container_token(
        &secret,
        cid,
        "10.9.9.9:8040",
        ALICE,
        APP,
        CONTAINER_TOKEN_LIFETIME,
    );
    let expired = issue_container_token(&secret, cid, &node, ALICE, APP, Duration::ZERO);
    for (what, token, want) in [
        ("no token", None, "no token"),
        (
            "a forged token (user changed)",
            Some(forged),
            "does not verify",
        ),
        (
            "a token of another secret",
            Some(stranger),
            "does not verify",
        ),
        (
            "another application's token",
            Some(other_app),
            "not container_7_0001_01_000002",
        ),
        (
            "another node's token",
            Some(elsewhere),
            "is for node 10.9.9.9:8040",
        ),
        ("an expired token", Some(expired), "expired"),
    ] {
        let e = raw
            .start_container(start(token, cid, APP))
            .await
            .expect_err(what);
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{what}: {e:?}");
        assert!(e.message().contains(want), "{what}: {}", e.message());
    }
    // The container was never started by any of them.
    let e = raw
        .get_container_status(pb::GetContainerStatusRequest {
            container_id: cid.into(),
            token: None,
        })
        .await
        .expect_err("status without a token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let nmc = NmClient::new(&addr)?.with_secret(secret.clone());
    assert!(matches!(
        nmc.status(cid, None).await,
        Err(YarnError::NotFound(_))
    ));
    // The real token starts it, as its user whatever the request says.
    raw.start_container(start(Some(good.clone()), cid, APP))
        .await?;
    let plain = NmClient::new(&addr)?;
    wait_for("the container to run", WAIT, || {
        let plain = plain.clone();
        let good = good.clone();
        async move {
            plain
                .status(cid, Some(&good))
                .await
                .is_ok_and(|s| s.state() == pb::ContainerState::Running)
        }
    })
    .await?;
    let st = plain.status(cid, Some(&good)).await?;
    assert_eq!(st.run_as, ALICE, "{st:?}");
    wait_for("its stdout", WAIT, || {
        let plain = plain.clone();
        let good = good.clone();
        async move {
            plain
                .logs(APP, Some(cid), 0, Some(&good))
                .await
                .is_ok_and(|l| l.iter().any(|l| l.file == "stdout" && !l.data.is_empty()))
        }
    })
    .await?;
    let logs = plain.logs(APP, Some(cid), 0, Some(&good)).await?;
    let stdout = logs.iter().find(|l| l.file == "stdout").context("stdout")?;
    assert_eq!(text(&stdout.data), format!("{ALICE}\n"));
    // Its token cannot be replayed for a second container, stop another
    // container, or read another application's logs.
    let e = raw
        .start_container(start(Some(good.clone()), "container_7_0001_01_000003", APP))
        .await
        .expect_err("replayed token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let e = raw
        .stop_container(pb::StopContainerRequest {
            container_id: "container_7_0001_01_000009".into(),
            token: Some(good.clone()),
        })
        .await
        .expect_err("stop with another container's token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let e = plain
        .logs("application_7_0002", None, 0, Some(&good))
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::Unauthenticated(_)), "{e}");
    let e = plain.stop(cid, None).await.unwrap_err();
    assert!(matches!(e, YarnError::Unauthenticated(_)), "{e}");
    // With its token the holder stops it.
    plain.stop(cid, Some(&good)).await?;
    // Map outputs go only to the application's tasks (its app token).
    let shuffle = nm.shuffle_addr.to_string();
    for (what, token) in [
        ("no app token", None),
        (
            "another application's",
            Some(app_token(&secret, "application_7_0002")),
        ),
        (
            "another secret's",
            Some(app_token(&ClusterSecret::generate(), APP)),
        ),
    ] {
        let e = fetch_partition(
            &shuffle,
            APP,
            "attempt_7_0001_m_000000_0",
            0,
            token.as_deref(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, YarnError::Unauthenticated(_)), "{what}: {e}");
    }
    let e = fetch_partition(
        &shuffle,
        APP,
        "attempt_7_0001_m_000000_0",
        0,
        Some(&app_token(&secret, APP)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, YarnError::NotFound(_)), "with the token: {e}");
    nm.shutdown().await
}

/// `tusk_<role>_rpc_requests_total` of `method` with `code`, from /metrics.
fn rpc_count(http: &str, method: &str, code: &str) -> u64 {
    let out = Command::new("curl")
        .args(["-fsS", "--max-time", "5", &format!("http://{http}/metrics")])
        .output();
    let Ok(out) = out else { return 0 };
    text(&out.stdout)
        .lines()
        .filter(|l| {
            l.contains("_rpc_requests_total{")
                && l.contains(&format!("method=\"{method}\""))
                && l.contains(&format!("code=\"{code}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

// Multi-threaded: the test reads the in-process resource manager's
// /metrics with curl, a blocking call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_node_manager_cannot_register() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    tusk_tests::init_logging();
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let mut cfg = TuskConfig::default();
    cfg.cluster.heartbeat_interval = tusk_common::config::Dur(Duration::from_millis(100));
    cfg.security.cluster_secret_file = Some(dir.path().join("cluster.secret"));
    cfg.resourcemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.resourcemanager.http_addr = "127.0.0.1:0".into();
    cfg.resourcemanager.state_dir = dir.path().join("rm");
    let rm = tusk_mapreduce::yarn::rm::start(cfg.clone()).await?;
    let nm_cfg = |name: &str, secret: PathBuf| {
        let mut c = cfg.clone();
        c.security.cluster_secret_file = Some(secret);
        c.nodemanager.rm = rm.rpc_addr.to_string();
        c.nodemanager.rpc_addr = "127.0.0.1:0".into();
        c.nodemanager.shuffle_addr = "127.0.0.1:0".into();
        c.nodemanager.http_addr = "127.0.0.1:0".into();
        c.nodemanager.local_dir = dir.path().join(name);
        c
    };
    // A node manager with a secret of its own.
    let rogue_secret = dir.path().join("rogue.secret");
    ClusterSecret::load_or_create(&rogue_secret)?;
    let rogue = tusk_mapreduce::yarn::nm::start(nm_cfg("rogue", rogue_secret)).await?;
    let good =
        tusk_mapreduce::yarn::nm::start(nm_cfg("good", dir.path().join("cluster.secret"))).await?;
    let http = rm.http_addr.to_string();
    wait_for("the rogue refused a few times", WAIT, || {
        let n = rpc_count(&http, "RegisterNodeManager", "UNAUTHENTICATED");
        async move { n >= 3 }
    })
    .await
    .with_context(|| {
        let m = Command::new("curl")
            .args(["-fsS", "--max-time", "5", &format!("http://{http}/metrics")])
            .output()
            .map(|o| text(&o.stdout))
            .unwrap_or_default();
        let rpc: Vec<&str> = m
            .lines()
            .filter(|l| l.contains("rpc_requests_total"))
            .collect();
        format!("resource manager RPC metrics: {rpc:?}")
    })?;
    let rmc = RmClient::new(&rm.rpc_addr.to_string(), "root")?;
    wait_for("the good node manager registered", WAIT, || {
        let rmc = rmc.clone();
        async move { rmc.nodes(false).await.is_ok_and(|n| n.len() == 1) }
    })
    .await?;
    let nodes = rmc.nodes(true).await?;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].node_id, good.node_id());
    assert!(!rogue.is_registered());
    // Raw calls: unsigned, or signed with another secret.
    let mut raw = ResourceTrackerClient::connect(format!("http://{}", rm.rpc_addr)).await?;
    let e = raw
        .node_heartbeat(pb::NodeHeartbeatRequest {
            node_id: good.node_id().to_string(),
            containers: vec![],
        })
        .await
        .expect_err("unsigned heartbeat");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let mut req = tonic::Request::new(pb::RegisterNodeManagerRequest {
        node_id: "10.0.0.66:8040".into(),
        host: "10.0.0.66".into(),
        rpc_addr: "10.0.0.66:8040".into(),
        capability: Some(pb::Resource {
            memory_mb: 1 << 20,
            vcores: 1024,
        }),
        ..Default::default()
    });
    ClusterSecret::generate().sign_request(&mut req);
    let e = raw
        .register_node_manager(req)
        .await
        .expect_err("register with another secret");
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("cluster secret"), "{}", e.message());
    assert_eq!(rmc.nodes(true).await?.len(), 1);
    // ApplicationMaster calls need the application's token, which only
    // its AM container is given.
    let app = rmc
        .submit(pb::ApplicationSubmission {
            name: "am-token".into(),
            am_spec: Some(sh("exec sleep 600")),
            am_resource: Some(pb::Resource {
                memory_mb: 128,
                vcores: 1,
            }),
            max_app_attempts: 1,
            ..Default::default()
        })
        .await?;
    let attempt = rmc.report(&app).await?.current_attempt_id;
    let secret = ClusterSecret::load(&dir.path().join("cluster.secret"))?;
    let rm_addr = rm.rpc_addr.to_string();
    for (what, token) in [
        ("no app token", None),
        (
            "another application's",
            Some(app_token(&secret, "application_1_9999")),
        ),
    ] {
        let e = tusk_mapreduce::yarn::client::AmRmClient::new(&rm_addr, &attempt)?
            .with_app_token(token)
            .register("127.0.0.1", "", "")
            .await
            .unwrap_err();
        assert!(matches!(e, YarnError::Unauthenticated(_)), "{what}: {e}");
    }
    tusk_mapreduce::yarn::client::AmRmClient::new(&rm_addr, &attempt)?
        .with_app_token(Some(app_token(&secret, &app)))
        .register("127.0.0.1", "", "")
        .await?;
    rmc.kill(&app).await?;
    // A node manager without any secret file does not start.
    let e = tusk_mapreduce::yarn::nm::start(nm_cfg("none", dir.path().join("missing.secret")))
        .await
        .err()
        .context("started without a secret")?;
    let m = format!("{e:#}");
    assert!(
        m.contains("missing.secret") && m.contains("not found"),
        "{m}"
    );
    rogue.shutdown().await?;
    good.shutdown().await?;
    rm.shutdown().await
}

#[tokio::test]
async fn token_authentication_at_the_resource_manager() -> Result<()> {
    let c = cluster(&format!("{CONFIG}[security]\nauthentication = \"token\"\n"))?;
    let secret = ClusterSecret::load(&c.home.path().join("cluster.secret"))?;
    let hour = Duration::from_secs(3600);
    let root_token = secret.issue_user_token("root", hour);
    let alice_token = secret.issue_user_token(ALICE, hour);
    let fs = root_client(&c, Some(root_token)).await?;
    prepare_dfs(&fs).await?;
    // No token: refused, in one line.
    let out = mapred(&c, &[("TUSK_USER", ALICE)], &["list"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A forged token (signed with another secret): refused.
    let forged = ClusterSecret::generate().issue_user_token(ALICE, hour);
    let out = mapred(&c, &[("TUSK_TOKEN", &forged)], &["list"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("authentication failed"));
    // Alice's token: the job runs as her, its output is hers. The mapper is
    // a shipped file: node managers localize it from her private staging
    // dir with node authentication acting as her.
    let probe = c.home.path().join("probe.sh");
    std::fs::write(&probe, "cat >/dev/null; echo \"user=$(id -un)\"\n")?;
    let probe = probe.display().to_string();
    let mut args = streaming_args("/sec/out-token", "sh probe.sh");
    args.extend(["-file", &probe]);
    mapred_ok(
        &c,
        &[("TUSK_TOKEN", &alice_token), ("TUSK_USER", ALICE)],
        &args,
    )?;
    let out = read_output(&fs, "/sec/out-token").await?;
    assert!(out.contains(&format!("user={ALICE}")), "{out}");
    let st = fs.status(&first_part(&fs, "/sec/out-token").await?).await?;
    assert_eq!(st.owner, ALICE, "{st:?}");
    // The resource manager takes the user from the token, not the request.
    let rm = RmClient::new(&c.rm_addr(), "root")?.with_token(Some(alice_token.clone()));
    let app = rm
        .submit(pb::ApplicationSubmission {
            name: "claims-root".into(),
            user: "root".into(),
            am_spec: Some(sh("exit 0")),
            am_resource: Some(pb::Resource {
                memory_mb: 128,
                vcores: 1,
            }),
            max_app_attempts: 1,
            ..Default::default()
        })
        .await?;
    assert_eq!(rm.report(&app).await?.user, ALICE);
    // Bob may not kill it.
    let bob =
        RmClient::new(&c.rm_addr(), BOB)?.with_token(Some(secret.issue_user_token(BOB, hour)));
    match bob.kill(&app).await {
        Err(YarnError::PermissionDenied(m)) => assert!(m.contains(BOB), "{m}"),
        Ok(()) => {
            // Only acceptable if it had already ended.
            let r = rm.report(&app).await?;
            assert!(
                r.state() != pb::AppState::Killed,
                "bob killed alice's app: {r:?}"
            );
        }
        Err(e) => bail!("unexpected {e}"),
    }
    let e = RmClient::new(&c.rm_addr(), ALICE)?
        .with_token(None)
        .nodes(false)
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::Unauthenticated(_)), "{e}");
    Ok(())
}

#[tokio::test]
async fn unreachable_dirs_and_programs_fail_clearly() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // A node manager whose local dir is below a 0700 dir does not start,
    // naming the dir and the setting.
    require_root();
    let private = tempfile::tempdir()?;
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))?;
    let mut cfg = TuskConfig::default();
    cfg.security.cluster_secret_file = Some(private.path().join("cluster.secret"));
    ClusterSecret::load_or_create(&cfg.security.secret_path())?;
    cfg.nodemanager.rm = "127.0.0.1:1".into();
    cfg.nodemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.nodemanager.shuffle_addr = "127.0.0.1:0".into();
    cfg.nodemanager.http_addr = "127.0.0.1:0".into();
    cfg.nodemanager.local_dir = private.path().join("local");
    let e = tusk_mapreduce::yarn::nm::start(cfg.clone())
        .await
        .err()
        .context("started below a 0700 dir")?;
    let m = format!("{e:#}");
    assert!(
        m.contains(&format!("{} (mode 0700)", private.path().display()))
            && m.contains("container_executor"),
        "{m}"
    );
    // As its own user (process mode) it starts there.
    cfg.nodemanager.container_executor = tusk_common::config::ContainerExecutor::Process;
    tusk_mapreduce::yarn::nm::start(cfg)
        .await?
        .shutdown()
        .await?;

    // A program the container's user cannot reach fails the container at
    // once with a diagnostic, rather than hanging.
    let (dir, nm, secret) = lone_nm().await?;
    let hidden = dir.path().join("hidden");
    std::fs::create_dir(&hidden)?;
    std::fs::copy("/bin/true", hidden.join("prog"))?;
    std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o700))?;
    let cid = "container_8_0001_01_000001";
    let token = issue_container_token(
        &secret,
        cid,
        nm.node_id(),
        ALICE,
        "application_8_0001",
        CONTAINER_TOKEN_LIFETIME,
    );
    let nmc = NmClient::new(&nm.rpc_addr.to_string())?;
    let spec = pb::LaunchSpec {
        program: hidden.join("prog").display().to_string(),
        ..Default::default()
    };
    nmc.start(
        &token,
        spec,
        pb::Resource {
            memory_mb: 64,
            vcores: 1,
        },
    )
    .await?;
    wait_for("the container to fail", WAIT, || {
        let nmc = nmc.clone();
        let token = token.clone();
        async move {
            nmc.status(cid, Some(&token))
                .await
                .is_ok_and(|s| s.state() == pb::ContainerState::Complete)
        }
    })
    .await?;
    let st = nmc.status(cid, Some(&token)).await?;
    assert_eq!(st.exit_code, -1000, "{st:?}");
    assert!(
        st.diagnostics.contains("Permission denied")
            && st.diagnostics.contains(&format!("as user {ALICE}"))
            && st.diagnostics.contains("enter every directory above it"),
        "{}",
        st.diagnostics
    );
    nm.shutdown().await
}
