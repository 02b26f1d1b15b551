//! The YARN-like layer on real daemons in this process: a resource manager
//! and node managers on port 0 and temp dirs, with fast heartbeats. The test
//! itself often plays the application master (register / allocate / start
//! containers / finish), which is what the MR application master will do.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tusk_common::config::{Dur, Size};
use tusk_common::security::ClusterSecret;
use tusk_common::TuskConfig;
use tusk_mapreduce::yarn::client::{fetch_partition, is_final, AmRmClient, NmClient, RmClient};
use tusk_mapreduce::yarn::nm::NmHandle;
use tusk_mapreduce::yarn::pb;
use tusk_mapreduce::yarn::rm::RmHandle;
use tusk_mapreduce::yarn::security::{app_token, issue_container_token, CONTAINER_TOKEN_LIFETIME};
use tusk_mapreduce::yarn::YarnError;
use tusk_tests::{wait_for, MiniCluster};

/// The container id a token names ("" for none).
fn id_of(t: &Option<pb::ContainerToken>) -> String {
    t.as_ref()
        .map(|t| t.container_id.clone())
        .unwrap_or_default()
}

const WAIT: Duration = Duration::from_secs(20);

fn base_config(dir: &std::path::Path) -> TuskConfig {
    let mut cfg = TuskConfig::default();
    // The resource manager creates it; node managers must find it.
    cfg.security.cluster_secret_file = Some(dir.join("cluster.secret"));
    cfg.cluster.heartbeat_interval = Dur(Duration::from_millis(100));
    cfg.cluster.dead_after = Dur(Duration::from_millis(1000));
    cfg.resourcemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.resourcemanager.http_addr = "127.0.0.1:0".into();
    cfg.resourcemanager.state_dir = dir.join("rm");
    cfg.resourcemanager.am_finish_grace = Dur(Duration::from_millis(300));
    cfg.nodemanager.memory = Size(2 << 30);
    cfg.nodemanager.vcores = 4;
    cfg.nodemanager.memory_check_interval = Dur(Duration::from_millis(50));
    cfg.nodemanager.kill_grace = Dur(Duration::from_millis(100));
    cfg
}

/// A resource manager and `n` node managers (node manager i on host 127.0.0.{20+i}).
struct Yarn {
    cfg: TuskConfig,
    rm: Option<RmHandle>,
    nms: Vec<Option<NmHandle>>,
    user: String,
    dir: tempfile::TempDir,
}

impl Yarn {
    async fn start(n: usize, namenode: Option<String>) -> Result<Yarn> {
        Self::start_with(n, namenode, |_| {}).await
    }

    async fn start_with(
        n: usize,
        namenode: Option<String>,
        tune: impl FnOnce(&mut TuskConfig),
    ) -> Result<Yarn> {
        tusk_tests::init_logging();
        let dir = traversable_tempdir()?;
        let mut cfg = base_config(dir.path());
        tune(&mut cfg);
        if let Some(nn) = namenode {
            cfg.nodemanager.namenode = nn;
        }
        let rm = tusk_mapreduce::yarn::rm::start(cfg.clone()).await?;
        cfg.resourcemanager.rpc_addr = rm.rpc_addr.to_string();
        cfg.resourcemanager.http_addr = rm.http_addr.to_string();
        let mut y = Yarn {
            cfg,
            rm: Some(rm),
            nms: Vec::new(),
            user: tusk_common::sys::login_user(),
            dir,
        };
        for i in 0..n {
            let nm = y.start_nm(i, true).await?;
            y.nms.push(Some(nm));
        }
        let rmc = y.rm_client();
        wait_for("node managers to register", WAIT, || {
            let rmc = rmc.clone();
            async move {
                rmc.nodes(false)
                    .await
                    .map(|v| v.len() == n)
                    .unwrap_or(false)
            }
        })
        .await?;
        Ok(y)
    }

    fn nm_config(&self, i: usize, with_rm: bool) -> TuskConfig {
        let mut cfg = self.cfg.clone();
        let host = format!("127.0.0.{}", 20 + i);
        let nm = &mut cfg.nodemanager;
        nm.rm = if with_rm {
            self.cfg.resourcemanager.rpc_addr.clone()
        } else {
            // Nothing listens there: the node manager works alone.
            "127.0.0.1:1".into()
        };
        nm.rpc_addr = format!("{host}:0");
        nm.shuffle_addr = format!("{host}:0");
        nm.http_addr = format!("{host}:0");
        nm.local_dir = self.dir.path().join(format!("nm{i}/local"));
        nm.log_dir = Some(self.dir.path().join(format!("nm{i}/logs")));
        cfg
    }

    async fn start_nm(&self, i: usize, with_rm: bool) -> Result<NmHandle> {
        tusk_mapreduce::yarn::nm::start(self.nm_config(i, with_rm)).await
    }

    fn rm_addr(&self) -> String {
        self.cfg.resourcemanager.rpc_addr.clone()
    }

    fn rm_client(&self) -> RmClient {
        RmClient::new(&self.rm_addr(), &self.user).expect("rm client")
    }

    /// The cluster secret the resource manager created.
    fn secret(&self) -> Arc<ClusterSecret> {
        let path = self.dir.path().join("cluster.secret");
        Arc::new(ClusterSecret::load(&path).expect("cluster secret"))
    }

    /// A client of a node manager with node authentication (as the
    /// resource manager): status, stop and logs of any container.
    fn nmc(&self, addr: &str) -> NmClient {
        NmClient::new(addr)
            .expect("nm client")
            .with_secret(self.secret())
    }

    fn nm(&self, i: usize) -> &NmHandle {
        self.nms[i].as_ref().expect("node manager running")
    }

    fn nm_index(&self, node_id: &str) -> Option<usize> {
        self.nms
            .iter()
            .position(|n| n.as_ref().is_some_and(|n| n.node_id() == node_id))
    }

    async fn shutdown(mut self) -> Result<()> {
        for nm in self.nms.iter_mut() {
            if let Some(nm) = nm.take() {
                nm.shutdown().await?;
            }
        }
        if let Some(rm) = self.rm.take() {
            rm.shutdown().await?;
        }
        Ok(())
    }
}

/// A temp dir others may pass through: containers run as other users
/// when the tests run as root (`container_executor = "auto"`), and must
/// reach their working dirs below it.
fn traversable_tempdir() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

/// A node manager's client holding the cluster secret: mints the
/// container tokens the resource manager would, and uses node
/// authentication for status, stop and logs.
#[derive(Clone)]
struct Lone {
    c: NmClient,
    secret: Arc<ClusterSecret>,
    node: String,
}

impl Lone {
    fn token(&self, cid: &str, app: &str, user: &str) -> pb::ContainerToken {
        issue_container_token(
            &self.secret,
            cid,
            &self.node,
            user,
            app,
            CONTAINER_TOKEN_LIFETIME,
        )
    }

    async fn start(
        &self,
        cid: &str,
        app: &str,
        user: &str,
        spec: pb::LaunchSpec,
        resource: pb::Resource,
    ) -> Result<(), YarnError> {
        self.c
            .start(&self.token(cid, app, user), spec, resource)
            .await
    }

    async fn status(&self, cid: &str) -> Result<pb::ContainerStatus, YarnError> {
        self.c.status(cid, None).await
    }

    async fn stop(&self, cid: &str) -> Result<(), YarnError> {
        self.c.stop(cid, None).await
    }

    async fn logs(
        &self,
        app: &str,
        cid: Option<&str>,
        tail: u64,
    ) -> Result<Vec<pb::ContainerLog>, YarnError> {
        self.c.logs(app, cid, tail, None).await
    }
}

/// A node manager with no resource manager (for container-level tests),
/// with its own cluster secret unless `secret_file` names one.
async fn lone_nm(namenode: Option<String>) -> Result<(tempfile::TempDir, NmHandle, Lone)> {
    lone_nm_with(namenode, None).await
}

async fn lone_nm_with(
    namenode: Option<String>,
    secret_file: Option<PathBuf>,
) -> Result<(tempfile::TempDir, NmHandle, Lone)> {
    tusk_tests::init_logging();
    let dir = traversable_tempdir()?;
    let mut cfg = base_config(dir.path());
    if let Some(f) = secret_file {
        cfg.security.cluster_secret_file = Some(f);
    }
    let secret_path = cfg.security.secret_path();
    let (secret, _) = ClusterSecret::load_or_create(&secret_path)?;
    let secret = Arc::new(secret);
    cfg.nodemanager.rm = "127.0.0.1:1".into();
    cfg.nodemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.nodemanager.shuffle_addr = "127.0.0.1:0".into();
    cfg.nodemanager.http_addr = "127.0.0.1:0".into();
    cfg.nodemanager.local_dir = dir.path().join("local");
    if let Some(nn) = namenode {
        cfg.nodemanager.namenode = nn;
    }
    let nm = tusk_mapreduce::yarn::nm::start(cfg).await?;
    let c = NmClient::new(&nm.rpc_addr.to_string())?.with_secret(secret.clone());
    let node = nm.node_id().to_string();
    Ok((dir, nm, Lone { c, secret, node }))
}

fn sh(script: &str) -> pb::LaunchSpec {
    pb::LaunchSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        ..Default::default()
    }
}

fn res(mb: u64) -> pb::Resource {
    pb::Resource {
        memory_mb: mb,
        vcores: 1,
    }
}

async fn wait_complete(nm: &Lone, cid: &str) -> Result<pb::ContainerStatus> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = nm.status(cid).await?;
        if s.state() == pb::ContainerState::Complete {
            return Ok(s);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("container {cid} still {:?} after {WAIT:?}", s.state());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stdout_of(nm: &Lone, app: &str, cid: &str) -> Result<String> {
    let logs = nm.logs(app, Some(cid), 0).await?;
    let out = logs
        .iter()
        .find(|l| l.file == "stdout")
        .context("no stdout log")?;
    Ok(String::from_utf8_lossy(&out.data).into_owned())
}

const APP: &str = "application_1_0001";

#[tokio::test]
async fn container_exit_code_env_and_stdout_log() -> Result<()> {
    let (_dir, nm, c) = lone_nm(None).await?;
    let cid = "container_1_0001_01_000001";
    c.start(
        cid,
        APP,
        "alice",
        sh("echo hi; echo \"id=$TUSK_CONTAINER_ID app=$TUSK_APP_ID user=$TUSK_USER dir=$TUSK_APP_LOCAL_DIR pwd=$(pwd)\"; echo oops >&2; exit 3"),
        res(128),
    )
    .await?;
    let st = wait_complete(&c, cid).await?;
    assert_eq!(st.exit_code, 3, "{st:?}");
    assert!(st.diagnostics.contains("exit code 3"), "{}", st.diagnostics);
    assert!(
        st.diagnostics.contains("oops"),
        "stderr tail in diagnostics: {}",
        st.diagnostics
    );
    let out = stdout_of(&c, APP, cid).await?;
    assert!(out.starts_with("hi\n"), "{out}");
    let app_dir = nm.app_dir(APP);
    assert!(
        out.contains(&format!(
            "id={cid} app={APP} user=alice dir={}",
            app_dir.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "pwd={}",
            app_dir.join("containers").join(cid).display()
        )),
        "{out}"
    );
    let logs = c.logs(APP, None, 0).await?;
    let err = logs.iter().find(|l| l.file == "stderr").context("stderr")?;
    assert_eq!(&err.data[..], b"oops\n");
    // Errors name what is missing.
    let e = c.status("container_9_9_9_9").await.unwrap_err().to_string();
    assert!(e.contains("container_9_9_9_9"), "{e}");
    let e = c
        .start("../evil", APP, "u", sh("true"), res(64))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid container id"), "{e}");
    nm.shutdown().await
}

#[tokio::test]
async fn container_over_its_memory_limit_is_killed() -> Result<()> {
    let (_dir, nm, c) = lone_nm(None).await?;
    let cid = "container_1_0001_01_000002";
    // The shell holds ~200 MB in a variable, under a 64 MB limit.
    c.start(
        cid,
        APP,
        "u",
        sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived; sleep 60"),
        res(64),
    )
    .await?;
    let st = wait_complete(&c, cid).await?;
    assert_eq!(st.exit_code, -104, "{st:?}");
    assert!(
        st.diagnostics
            .contains("is running beyond physical memory limits")
            && st
                .diagnostics
                .contains("of 64.0 MB physical memory used. Killing container."),
        "{}",
        st.diagnostics
    );
    assert!(!stdout_of(&c, APP, cid).await?.contains("survived"));
    nm.shutdown().await
}

#[tokio::test]
async fn stop_container_kills_its_process_group() -> Result<()> {
    let (_dir, nm, c) = lone_nm(None).await?;
    let cid = "container_1_0001_01_000003";
    c.start(cid, APP, "u", sh("sleep 600 & sleep 600; wait"), res(64))
        .await?;
    wait_for("container to run", WAIT, || {
        let c = c.clone();
        async move {
            c.status(cid)
                .await
                .map(|s| s.state() == pb::ContainerState::Running)
                .unwrap_or(false)
        }
    })
    .await?;
    c.stop(cid).await?;
    let st = wait_complete(&c, cid).await?;
    assert_eq!(st.exit_code, -105, "{st:?}");
    nm.shutdown().await
}

#[tokio::test]
async fn localizes_dfs_files_with_exec_bit() -> Result<()> {
    let mini = MiniCluster::start().await?;
    let fs = mini.client().await?;
    let write = |path: &'static str, data: &'static [u8]| {
        let fs = fs.clone();
        async move {
            let mut w = fs
                .create(
                    path,
                    tusk_client::CreateOptions::default().with_overwrite(true),
                )
                .await?;
            w.write_all(data).await?;
            w.close().await?;
            anyhow::Ok(())
        }
    };
    write(
        "/apps/tool.sh",
        b"#!/bin/sh\necho tool-ran; cat words.txt\n",
    )
    .await?;
    write("/apps/words.txt", b"some words\n").await?;
    // The namenode's secret: the node manager reads as the user with node
    // authentication.
    let (_dir, nm, c) = lone_nm_with(
        Some(mini.nn_addr().to_string()),
        Some(mini.dir().join("cluster.secret")),
    )
    .await?;
    let user = tusk_common::sys::login_user();
    let mut spec = pb::LaunchSpec {
        program: "./tool.sh".into(),
        ..Default::default()
    };
    spec.resources = vec![
        pb::LocalResource {
            dfs_path: "/apps/tool.sh".into(),
            executable: true,
            ..Default::default()
        },
        pb::LocalResource {
            dfs_path: "/apps/words.txt".into(),
            ..Default::default()
        },
    ];
    let cid = "container_1_0001_01_000004";
    c.start(cid, APP, &user, spec, res(128)).await?;
    let st = wait_complete(&c, cid).await?;
    assert_eq!(st.exit_code, 0, "{st:?}");
    assert_eq!(stdout_of(&c, APP, cid).await?, "tool-ran\nsome words\n");
    let work = nm.app_dir(APP).join("containers").join(cid);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(work.join("tool.sh"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    let mode = std::fs::metadata(work.join("words.txt"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0, "{mode:o}");
    // The files are links into the application's file cache, which a
    // second container of the application on this node shares.
    let target = std::fs::read_link(work.join("tool.sh"))?;
    assert!(
        target.starts_with(nm.app_dir(APP).join("filecache")),
        "{}",
        target.display()
    );
    let cid2 = "container_1_0001_01_000009";
    let mut spec2 = pb::LaunchSpec {
        program: "./tool.sh".into(),
        ..Default::default()
    };
    spec2.resources = vec![pb::LocalResource {
        dfs_path: "/apps/tool.sh".into(),
        name: "renamed.sh".into(),
        executable: true,
        ..Default::default()
    }];
    spec2.program = "./renamed.sh".into();
    spec2.resources.push(pb::LocalResource {
        dfs_path: "/apps/words.txt".into(),
        ..Default::default()
    });
    c.start(cid2, APP, &user, spec2, res(128)).await?;
    let st = wait_complete(&c, cid2).await?;
    assert_eq!(st.exit_code, 0, "{st:?}");
    let work2 = nm.app_dir(APP).join("containers").join(cid2);
    assert_eq!(std::fs::read_link(work2.join("renamed.sh"))?, target);

    // A missing file fails the container with a diagnostic naming it.
    let mut bad = sh("echo never");
    bad.resources = vec![pb::LocalResource {
        dfs_path: "/apps/missing.bin".into(),
        ..Default::default()
    }];
    let cid = "container_1_0001_01_000005";
    c.start(cid, APP, &user, bad, res(128)).await?;
    let st = wait_complete(&c, cid).await?;
    assert_eq!(st.exit_code, -1000, "{st:?}");
    assert!(
        st.diagnostics.contains("/apps/missing.bin"),
        "{}",
        st.diagnostics
    );
    nm.shutdown().await?;
    mini.shutdown().await
}

#[tokio::test]
async fn shuffle_serves_a_partition() -> Result<()> {
    let (_dir, nm, c) = lone_nm(None).await?;
    let token = app_token(&c.secret, APP);
    let tok = Some(token.as_str());
    let attempt = "attempt_1_0001_m_000000_0";
    let out = nm.app_dir(APP).join("output").join(attempt);
    std::fs::create_dir_all(&out)?;
    // Three partitions: 10 bytes, 600 KB (several chunks), empty.
    let parts: Vec<Vec<u8>> = vec![
        b"0123456789".to_vec(),
        (0..600_000u32).map(|i| (i % 251) as u8).collect(),
        Vec::new(),
    ];
    let mut data = Vec::new();
    let mut index = Vec::new();
    for p in &parts {
        index.extend_from_slice(&(data.len() as u64).to_le_bytes());
        index.extend_from_slice(&(p.len() as u64).to_le_bytes());
        data.extend_from_slice(p);
    }
    std::fs::write(out.join("file.out"), &data)?;
    std::fs::write(out.join("file.out.index"), &index)?;
    let addr = nm.shuffle_addr.to_string();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(
            &fetch_partition(&addr, APP, attempt, i as u32, tok).await?,
            p,
            "partition {i}"
        );
    }
    let e = fetch_partition(&addr, APP, attempt, 3, tok)
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("3 partitions"), "{e}");
    let e = fetch_partition(&addr, APP, "attempt_1_0001_m_000009_0", 0, tok)
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::NotFound(_)), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("attempt_1_0001_m_000009_0") && m.contains(APP),
        "{m}"
    );
    let e = fetch_partition(&addr, APP, "../../etc", 0, tok)
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::InvalidArgument(_)), "{e}");
    nm.shutdown().await
}

/// Submits an application whose AM is `script`.
async fn submit(y: &Yarn, name: &str, am: pb::LaunchSpec, max_attempts: u32) -> Result<String> {
    let app = y
        .rm_client()
        .submit(pb::ApplicationSubmission {
            name: name.into(),
            am_spec: Some(am),
            am_resource: Some(res(256)),
            max_app_attempts: max_attempts,
            ..Default::default()
        })
        .await?;
    Ok(app)
}

async fn wait_final(rm: &RmClient, app: &str) -> Result<pb::ApplicationReport> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = rm.report(app).await?;
        if is_final(r.state()) {
            return Ok(r);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "application {app} still {:?} after {WAIT:?}: {}",
                r.state(),
                r.diagnostics
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn failing_am_gets_a_second_attempt_then_the_app_fails() -> Result<()> {
    let y = Yarn::start(2, None).await?;
    let rm = y.rm_client();
    let app = submit(
        &y,
        "failing",
        sh("echo attempt $TUSK_APP_ATTEMPT_ID; exit 7"),
        0,
    )
    .await?;
    let r = wait_final(&rm, &app).await?;
    assert_eq!(r.state(), pb::AppState::Failed, "{r:?}");
    assert_eq!(r.final_status(), pb::FinalStatus::Failed);
    assert_eq!(r.attempt, 2);
    assert!(
        r.diagnostics.contains("failed 2 times") && r.diagnostics.contains("exit code 7"),
        "{}",
        r.diagnostics
    );
    // Both attempts' logs are on the nodes that ran them.
    let mut seen = String::new();
    for addr in &r.nm_rpc_addrs {
        for l in y.nmc(addr).logs(&app, None, 0, None).await? {
            seen.push_str(&String::from_utf8_lossy(&l.data));
        }
    }
    for n in 1..=2 {
        let a = tusk_mapreduce::yarn::ids::attempt_id(&app, n);
        assert!(seen.contains(&format!("attempt {a}")), "{seen}");
    }
    // The nodes clean the application up.
    wait_for("app dirs removed", WAIT, || async {
        (0..2).all(|i| !y.nm(i).app_dir(&app).exists())
    })
    .await?;
    let listed = rm.list(&[pb::AppState::Failed], None).await?;
    assert!(listed.iter().any(|a| a.app_id == app));
    y.shutdown().await
}

/// Waits for the application's current attempt and registers as its AM.
async fn become_am(y: &Yarn, app: &str) -> Result<AmRmClient> {
    let r = y.rm_client().report(app).await?;
    let am = AmRmClient::new(&y.rm_addr(), &r.current_attempt_id)?
        .with_app_token(Some(app_token(&y.secret(), app)));
    am.register("127.0.0.1", "", "").await?;
    Ok(am)
}

/// Allocates until `n` containers are granted.
async fn allocate_n(
    am: &AmRmClient,
    asks: Vec<pb::ResourceRequest>,
    n: usize,
) -> Result<Vec<pb::Container>> {
    let mut got = am.allocate(asks, vec![], vec![], 0.1).await?.allocated;
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < n {
        if tokio::time::Instant::now() > deadline {
            bail!("only {} of {n} containers granted", got.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        got.extend(am.allocate(vec![], vec![], vec![], 0.1).await?.allocated);
    }
    Ok(got)
}

fn ask(id: u64, mb: u64, count: u32, hosts: &[&str], relax: bool) -> pb::ResourceRequest {
    pb::ResourceRequest {
        request_id: id,
        priority: 1,
        resource: Some(res(mb)),
        count,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        racks: vec![],
        relax_locality: relax,
    }
}

#[tokio::test]
async fn am_flow_runs_containers_then_cleanup_removes_work_dirs() -> Result<()> {
    let y = Yarn::start(2, None).await?;
    let rm = y.rm_client();
    let app = submit(&y, "flow", sh("exec sleep 600"), 0).await?;
    let am = become_am(&y, &app).await?;
    assert_eq!(rm.report(&app).await?.state(), pb::AppState::Running);
    // One container on each node (node-local, strict).
    let hosts: Vec<String> = (0..2).map(|i| y.nm(i).host().to_string()).collect();
    let asks = vec![
        ask(1, 256, 1, &[&hosts[0]], false),
        ask(2, 256, 1, &[&hosts[1]], false),
    ];
    let got = allocate_n(&am, asks, 2).await?;
    for c in &got {
        let want = &hosts[(c.request_id - 1) as usize];
        assert_eq!(&c.host, want, "{c:?}");
        NmClient::new(&c.nm_rpc_addr)?
            .start_container(
                c,
                sh("mkdir -p $TUSK_APP_LOCAL_DIR/output/$TUSK_CONTAINER_ID && echo x > $TUSK_APP_LOCAL_DIR/output/$TUSK_CONTAINER_ID/file.out"),
            )
            .await?;
    }
    // Their completions come back through allocate.
    let mut done = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while done.len() < 2 {
        if tokio::time::Instant::now() > deadline {
            bail!("completions: {done:?}");
        }
        done.extend(am.allocate(vec![], vec![], vec![], 0.5).await?.completed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done.iter().all(|s| s.exit_code == 0), "{done:?}");
    for i in 0..2 {
        assert!(y.nm(i).app_dir(&app).join("output").is_dir());
    }
    am.finish(pb::FinalStatus::Succeeded, "", "").await?;
    let r = rm.report(&app).await?;
    assert_eq!(r.state(), pb::AppState::Finished);
    assert_eq!(r.final_status(), pb::FinalStatus::Succeeded);
    // The AM (still sleeping) is killed after the grace, and every node
    // deletes the application's dirs.
    wait_for("app dirs removed", WAIT, || async {
        (0..2).all(|i| !y.nm(i).app_dir(&app).exists())
    })
    .await?;
    let am_node = r.nm_rpc_addrs.iter().find_map(|a| {
        let c = NmClient::new(a).ok()?;
        Some(c)
    });
    assert!(am_node.is_some());
    let m = rm.metrics().await?;
    assert_eq!(m.containers_running, 0, "{m:?}");
    // Allocate after the end tells the AM to shut down.
    assert!(am.allocate(vec![], vec![], vec![], 1.0).await?.shutdown);
    y.shutdown().await
}

#[tokio::test]
async fn stopped_node_manager_is_lost_and_its_containers_reported() -> Result<()> {
    let mut y = Yarn::start(2, None).await?;
    let rm = y.rm_client();
    let app = submit(&y, "lost", sh("exec sleep 600"), 0).await?;
    let am = become_am(&y, &app).await?;
    // Which node runs the AM? Put the task on the other one.
    let am_cid = rm.report(&app).await?.am_container_id;
    let mut am_node = None;
    for i in 0..2 {
        if y.nmc(&y.nm(i).rpc_addr.to_string())
            .status(&am_cid, None)
            .await
            .is_ok()
        {
            am_node = Some(i);
        }
    }
    let victim = 1 - am_node.context("AM container on no node")?;
    let host = y.nm(victim).host().to_string();
    let got = allocate_n(&am, vec![ask(1, 256, 1, &[&host], false)], 1).await?;
    let c = &got[0];
    assert_eq!(y.nm_index(&c.node_id), Some(victim));
    let nmc = NmClient::new(&c.nm_rpc_addr)?;
    nmc.start_container(c, sh("exec sleep 600")).await?;
    wait_for("task to run", WAIT, || {
        let nmc = nmc.clone();
        let token = c.token.clone();
        async move {
            nmc.status(&id_of(&token), token.as_ref())
                .await
                .map(|s| s.state() == pb::ContainerState::Running)
                .unwrap_or(false)
        }
    })
    .await?;
    let node_id = c.node_id.clone();
    y.nms[victim].take().context("victim")?.shutdown().await?;
    let mut lost = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    while lost.is_none() {
        if tokio::time::Instant::now() > deadline {
            bail!("the lost container was never reported");
        }
        let r = am.allocate(vec![], vec![], vec![], 0.5).await?;
        assert!(!r.shutdown);
        lost = r.completed.into_iter().find(|s| s.container_id == c.id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lost = lost.unwrap_or_default();
    assert_eq!(lost.exit_code, -100, "{lost:?}");
    assert!(
        lost.diagnostics.contains(&node_id) && lost.diagnostics.contains("lost"),
        "{}",
        lost.diagnostics
    );
    let nodes = rm.nodes(true).await?;
    let n = nodes
        .iter()
        .find(|n| n.node_id == node_id)
        .context("lost node listed")?;
    assert_eq!(n.state(), pb::NodeState::Lost);
    assert_eq!(rm.nodes(false).await?.len(), 1);
    // The application is still running on the surviving node.
    assert_eq!(rm.report(&app).await?.state(), pb::AppState::Running);
    rm.kill(&app).await?;
    let r = rm.report(&app).await?;
    assert_eq!(r.state(), pb::AppState::Killed);
    assert!(
        r.diagnostics.contains("killed by user"),
        "{}",
        r.diagnostics
    );
    y.shutdown().await
}

#[tokio::test]
async fn rm_restart_fails_active_apps_with_a_reason() -> Result<()> {
    let mut y = Yarn::start(1, None).await?;
    let rm = y.rm_client();
    let done = submit(&y, "done", sh("exit 1"), 1).await?;
    assert_eq!(wait_final(&rm, &done).await?.state(), pb::AppState::Failed);
    let app = submit(&y, "long", sh("exec sleep 600"), 0).await?;
    become_am(&y, &app).await?;
    y.rm.take().context("rm")?.shutdown().await?;
    let rm2 = tusk_mapreduce::yarn::rm::start(y.cfg.clone()).await?;
    y.rm = Some(rm2);
    let r = rm.report(&app).await?;
    assert_eq!(r.state(), pb::AppState::Failed, "{r:?}");
    assert!(
        r.diagnostics.contains("resource manager restarted"),
        "{}",
        r.diagnostics
    );
    let d = rm.report(&done).await?;
    assert_eq!(d.state(), pb::AppState::Failed);
    assert!(d.diagnostics.contains("exit code 1"), "{}", d.diagnostics);
    // The node manager re-registers; its leftover AM container is killed.
    wait_for("node manager back", WAIT, || {
        let rm = rm.clone();
        async move { rm.nodes(false).await.map(|n| n.len() == 1).unwrap_or(false) }
    })
    .await?;
    let app_dir: PathBuf = y.nm(0).app_dir(&app);
    let am_cid = r.am_container_id.clone();
    let nmc = y.nmc(&y.nm(0).rpc_addr.to_string());
    wait_for("old AM killed and its app cleaned up", WAIT, || {
        let nmc = nmc.clone();
        let am_cid = am_cid.clone();
        let app_dir = app_dir.clone();
        async move {
            // Complete, or already forgotten with its application.
            let gone = match nmc.status(&am_cid, None).await {
                Ok(s) => s.state() == pb::ContainerState::Complete,
                Err(YarnError::NotFound(_)) => true,
                Err(_) => false,
            };
            gone && !app_dir.exists()
        }
    })
    .await?;
    y.shutdown().await
}

#[tokio::test]
async fn bad_requests_are_refused_with_clear_errors() -> Result<()> {
    let y = Yarn::start(1, None).await?;
    let rm = y.rm_client();
    let e = rm
        .report("application_0_0042")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("application_0_0042"), "{e}");
    let e = rm
        .submit(pb::ApplicationSubmission {
            am_spec: Some(sh("true")),
            am_resource: Some(res(1 << 40)),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than the largest node"), "{e}");
    let app = submit(&y, "x", sh("exec sleep 600"), 0).await?;
    let am = become_am(&y, &app).await?;
    let e = am
        .allocate(vec![ask(1, 1 << 30, 1, &[], true)], vec![], vec![], 0.0)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("request 1") && e.contains("largest node"), "{e}");
    let stale = AmRmClient::new(
        &y.rm_addr(),
        &tusk_mapreduce::yarn::ids::attempt_id(&app, 5),
    )?
    .with_app_token(Some(app_token(&y.secret(), &app)));
    let e = stale.register("h", "", "").await.unwrap_err().to_string();
    assert!(e.contains("not the current attempt"), "{e}");
    rm.kill(&app).await?;
    y.shutdown().await
}

#[tokio::test]
async fn am_heartbeater_delivers_grants_completions_and_shutdown() -> Result<()> {
    use tusk_mapreduce::yarn::client::AmEvent;
    let y = Yarn::start(2, None).await?;
    let rm = y.rm_client();
    let app = submit(&y, "hb", sh("exec sleep 600"), 0).await?;
    let am = become_am(&y, &app).await?;
    let mut hb = am.heartbeater(Duration::from_millis(100));
    hb.set_progress(0.25);
    hb.ask(ask(7, 128, 2, &[], true));
    let mut granted = Vec::new();
    while granted.len() < 2 {
        match tokio::time::timeout(WAIT, hb.next_event()).await? {
            Some(AmEvent::Allocated(c)) => granted.push(c),
            other => bail!("unexpected {other:?}"),
        }
    }
    assert!(granted.iter().all(|c| c.request_id == 7));
    // One exits 5; the other is released by the AM (and killed).
    let c0 = &granted[0];
    NmClient::new(&c0.nm_rpc_addr)?
        .start_container(c0, sh("exit 5"))
        .await?;
    let c1 = &granted[1];
    let nm1 = NmClient::new(&c1.nm_rpc_addr)?;
    nm1.start_container(c1, sh("exec sleep 600")).await?;
    match tokio::time::timeout(WAIT, hb.next_event()).await? {
        Some(AmEvent::Completed(s)) => {
            assert_eq!(s.container_id, c0.id);
            assert_eq!(s.exit_code, 5, "{s:?}");
        }
        other => bail!("unexpected {other:?}"),
    }
    assert!((rm.report(&app).await?.progress - 0.25).abs() < 1e-6);
    hb.release(&c1.id);
    wait_for("released container killed", WAIT, || {
        let nm1 = nm1.clone();
        let token = c1.token.clone();
        async move {
            nm1.status(&id_of(&token), token.as_ref())
                .await
                .map(|s| s.state() == pb::ContainerState::Complete && s.exit_code == -106)
                .unwrap_or(false)
        }
    })
    .await?;
    // As in YARN, the released container completes for the AM (-105:
    // stopped by the application master).
    match tokio::time::timeout(WAIT, hb.next_event()).await? {
        Some(AmEvent::Completed(s)) => {
            assert_eq!(s.container_id, c1.id);
            assert_eq!(s.exit_code, -105, "{s:?}");
        }
        other => bail!("unexpected {other:?}"),
    }
    rm.kill(&app).await?;
    match tokio::time::timeout(WAIT, hb.next_event()).await? {
        Some(AmEvent::Shutdown) => {}
        other => bail!("unexpected {other:?}"),
    }
    hb.stop().await;
    wait_for("app dirs removed after kill", WAIT, || async {
        (0..2).all(|i| !y.nm(i).app_dir(&app).exists())
    })
    .await?;
    y.shutdown().await
}

#[tokio::test]
async fn hung_am_expires_and_its_attempt_fails() -> Result<()> {
    let y = Yarn::start_with(1, None, |c| {
        c.resourcemanager.am_expiry = Dur(Duration::from_millis(500));
    })
    .await?;
    let rm = y.rm_client();
    // An AM that never registers.
    let app = submit(&y, "hung", sh("exec sleep 600"), 1).await?;
    let r = wait_final(&rm, &app).await?;
    assert_eq!(r.state(), pb::AppState::Failed, "{r:?}");
    assert!(r.diagnostics.contains("expired"), "{}", r.diagnostics);
    wait_for("hung AM killed and cleaned up", WAIT, || async {
        !y.nm(0).app_dir(&app).exists()
    })
    .await?;
    y.shutdown().await
}

#[tokio::test]
async fn restarted_node_manager_kills_leftover_containers() -> Result<()> {
    let (dir, nm, c) = lone_nm(None).await?;
    let cid = "container_1_0001_01_000009";
    c.start(cid, APP, "u", sh("sleep 600 & exec sleep 600"), res(64))
        .await?;
    let pid_file = dir.path().join("local/pids").join(cid);
    wait_for("pid file", WAIT, || async { pid_file.exists() }).await?;
    let pgid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    // The node manager "crashes": its handle is dropped without a shutdown,
    // so the container keeps running.
    drop(nm);
    let alive = |pgid: i32| {
        // Any process still in the group (zombies excepted)?
        std::fs::read_dir("/proc").ok().is_some_and(|rd| {
            rd.flatten().any(|e| {
                let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                    return false;
                };
                let Some(close) = stat.rfind(')') else {
                    return false;
                };
                let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
                f.first() != Some(&"Z")
                    && f.get(2).and_then(|s| s.parse::<i32>().ok()) == Some(pgid)
            })
        })
    };
    assert!(alive(pgid));
    let mut cfg = base_config(dir.path());
    cfg.nodemanager.rm = "127.0.0.1:1".into();
    cfg.nodemanager.rpc_addr = "127.0.0.1:0".into();
    cfg.nodemanager.shuffle_addr = "127.0.0.1:0".into();
    cfg.nodemanager.http_addr = "127.0.0.1:0".into();
    cfg.nodemanager.local_dir = dir.path().join("local");
    let nm2 = tusk_mapreduce::yarn::nm::start(cfg).await?;
    wait_for("leftover container killed", WAIT, || async { !alive(pgid) }).await?;
    assert!(!pid_file.exists());
    nm2.shutdown().await
}

/// The real binaries through scripts/local-cluster.sh (needs `cargo build --bins`).
#[tokio::test]
async fn local_cluster_script_runs_rm_and_node_managers() -> Result<()> {
    let cl = tusk_tests::LocalCluster::start(
        2,
        Some("[cluster]\nheartbeat_interval = \"200ms\"\ndead_after = \"2s\"\n[nodemanager]\nmemory = \"2GiB\"\n"),
    )?;
    let st = cl.script("status")?;
    assert!(
        st.contains("resourcemanager") && st.contains("nodemanager-2"),
        "{st}"
    );
    let rm = RmClient::new(&cl.rm_addr(), "tester")?;
    let nodes = rm.nodes(false).await?;
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.host == "127.0.0.1"), "{nodes:?}");
    let app = rm
        .submit(pb::ApplicationSubmission {
            name: "smoke".into(),
            am_spec: Some(sh("echo hello-from-am; exit 3")),
            am_resource: Some(res(128)),
            max_app_attempts: 1,
            ..Default::default()
        })
        .await?;
    let r = wait_final(&rm, &app).await?;
    assert_eq!(r.state(), pb::AppState::Failed);
    assert!(r.diagnostics.contains("exit code 3"), "{}", r.diagnostics);
    // Node managers give logs only to token or secret holders: the
    // resource manager fetches them for clients.
    let nodes = rm.logs(&app, None, 0).await?;
    assert!(
        nodes
            .iter()
            .flat_map(|n| &n.logs)
            .any(|l| l.file == "stdout" && l.data.starts_with(b"hello-from-am")),
        "{nodes:?}"
    );
    let e = NmClient::new(&r.nm_rpc_addrs[0])?
        .logs(&app, None, 0, None)
        .await
        .unwrap_err();
    assert!(matches!(e, YarnError::Unauthenticated(_)), "{e}");
    // kill -9 a node manager: lost after dead_after; `start` brings it back.
    cl.kill9("nodemanager-1")?;
    wait_for("node manager lost", WAIT, || {
        let rm = rm.clone();
        async move { rm.nodes(false).await.map(|n| n.len() == 1).unwrap_or(false) }
    })
    .await?;
    cl.script("start")?;
    wait_for("node manager back", WAIT, || {
        let rm = rm.clone();
        async move { rm.nodes(false).await.map(|n| n.len() == 2).unwrap_or(false) }
    })
    .await?;
    Ok(())
}
