//! Permission and authentication tests (issue 9): users alice and bob (just
//! names: the namenode's checks need no OS accounts), alice's private home
//! (700). For every operation bob is refused on alice's paths and allowed on
//! his own — through the real `dfs` binary, the Rust client (RPC) and
//! WebHDFS (curl, following redirects to the datanode) — with simple
//! authentication and with user tokens (`[security] authentication =
//! "token"`). In token mode: no token, `user.name=root`, forged and expired
//! tokens are refused everywhere; a valid token wins over a claimed
//! `x-tusk-user`; daemons with the cluster secret may act for a user.
//!
//! Needs the `dfs` binary (`cargo build -p tusk-client --bin dfs`) and curl.

mod common;

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;
use tusk_client::{ClientConfig, DfsClient, DfsError};
use tusk_common::config::AuthMode;
use tusk_common::security::ClusterSecret;
use tusk_tests::{LocalCluster, MiniCluster};

const SECRET: &[u8] = b"alice's private data\n";
const BOBS: &[u8] = b"bob's data\n";

/// A cluster in one authentication mode, with alice's private home and
/// bob's home prepared by the superuser.
struct Env {
    cluster: MiniCluster,
    mode: AuthMode,
    /// `HOME` of the `dfs` processes (so no `~/.config/tusk` of the machine
    /// is read) and local files for put/get.
    local: tempfile::TempDir,
}

impl Env {
    async fn start(mode: AuthMode) -> Result<Env> {
        let cluster = MiniCluster::builder()
            .datanodes(1)
            .replication(1)
            .authentication(mode)
            .build()
            .await?;
        let root = cluster.client().await?;
        for (user, mode) in [("alice", 0o700), ("bob", 0o755)] {
            let home = format!("/user/{user}");
            root.mkdirs(&home, 0o755, true).await?;
            root.set_owner(&home, user, "").await?;
            root.set_permission(&home, mode).await?;
        }
        let alice = cluster.client_as("alice").await?;
        common::write_file(&alice, "/user/alice/secret", SECRET).await?;
        let local = tempfile::tempdir()?;
        std::fs::write(local.path().join("upload"), BOBS)?;
        Ok(Env {
            cluster,
            mode,
            local,
        })
    }

    /// bob's files for one interface: `/user/bob/<name>/{keep,gone,move}`.
    async fn prepare_bob(&self, name: &str) -> Result<String> {
        let bob = self.cluster.client_as("bob").await?;
        let dir = format!("/user/bob/{name}");
        bob.mkdirs(&dir, 0o755, true).await?;
        for f in ["keep", "gone", "move"] {
            common::write_file(&bob, &format!("{dir}/{f}"), BOBS).await?;
        }
        Ok(dir)
    }

    fn token(&self, user: &str) -> String {
        self.cluster
            .user_token(user, Duration::from_secs(3600))
            .expect("minting a token")
    }

    /// The real `dfs` as `user` (with its token in token mode).
    fn dfs(&self, user: &str, args: &[&str]) -> Output {
        let token = (self.mode == AuthMode::Token).then(|| self.token(user));
        self.dfs_with(Some(user), token.as_deref(), args)
    }

    /// The real `dfs` with exactly this `TUSK_USER` and `TUSK_TOKEN`.
    fn dfs_with(&self, user: Option<&str>, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(LocalCluster::bin_dir().join("dfs"));
        cmd.args(args)
            .current_dir(self.local.path())
            .env("TUSK_NAMENODE", self.cluster.nn_addr().to_string())
            .env("HOME", self.local.path())
            .env("TUSK_SHORTCIRCUIT", "0")
            .env_remove("TUSK_USER")
            .env_remove("TUSK_TOKEN")
            .env_remove("TUSK_TOKEN_FILE")
            .env_remove("TUSK_SECRET_FILE")
            .env_remove("TUSK_HOME")
            .stdin(std::process::Stdio::null());
        if let Some(u) = user {
            cmd.env("TUSK_USER", u);
        }
        if let Some(t) = token {
            cmd.env("TUSK_TOKEN", t);
        }
        cmd.output()
            .expect("run dfs (cargo build -p tusk-client --bin dfs)")
    }

    /// WebHDFS URL of `path` with `query`, acting as `user` (its token in
    /// token mode, `user.name` in simple mode).
    fn web(&self, user: &str, path: &str, query: &str) -> String {
        let who = match self.mode {
            AuthMode::Simple => format!("user.name={user}"),
            AuthMode::Token => format!("delegation={}", self.token(user)),
        };
        self.web_raw(path, &format!("{query}&{who}"))
    }

    fn web_raw(&self, path: &str, query: &str) -> String {
        format!(
            "http://{}/webhdfs/v1{path}?{query}",
            self.cluster.nn_http_addr()
        )
    }

    /// alice's file is still there, unchanged, read by alice.
    async fn alice_intact(&self) -> Result<()> {
        let alice = self.cluster.client_as("alice").await?;
        let st = alice.status("/user/alice/secret").await?;
        assert_eq!((st.owner.as_str(), st.permission), ("alice", 0o644));
        assert_eq!(
            common::read_file(&alice, "/user/alice/secret").await?,
            SECRET
        );
        assert!(!alice.exists("/user/alice/new").await?);
        assert!(!alice.exists("/user/alice/d").await?);
        assert!(!alice.exists("/user/alice/moved").await?);
        let home = alice.status("/user/alice").await?;
        assert_eq!(home.permission, 0o700);
        Ok(())
    }
}

/// A `dfs` run that failed with one line naming the cause.
fn refused(out: &Output, cause: &str, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains(cause), "{what}: want {cause:?} in {err:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err:?}");
    assert!(err.starts_with("dfs: "), "{what}: {err:?}");
}

fn allowed(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn cli_permissions(env: &Env) -> Result<()> {
    let dir = env.prepare_bob("cli").await?;
    let d = |f: &str| format!("{dir}/{f}");
    let got = env.local.path().join("got");
    let got = got.to_str().unwrap();
    let denied: Vec<(&str, Vec<String>)> = vec![
        ("ls", vec!["ls".into(), "/user/alice".into()]),
        ("stat", vec!["stat".into(), "/user/alice/secret".into()]),
        ("cat", vec!["cat".into(), "/user/alice/secret".into()]),
        (
            "get",
            vec!["get".into(), "/user/alice/secret".into(), got.into()],
        ),
        (
            "put into",
            vec!["put".into(), "upload".into(), "/user/alice/new".into()],
        ),
        ("mkdir under", vec!["mkdir".into(), "/user/alice/d".into()]),
        (
            "rm",
            vec![
                "rm".into(),
                "-skipTrash".into(),
                "/user/alice/secret".into(),
            ],
        ),
        (
            "rm to trash",
            vec!["rm".into(), "/user/alice/secret".into()],
        ),
        (
            "mv out of",
            vec!["mv".into(), "/user/alice/secret".into(), d("stolen")],
        ),
        (
            "mv into",
            vec!["mv".into(), d("move"), "/user/alice/moved".into()],
        ),
        (
            "chmod",
            vec!["chmod".into(), "777".into(), "/user/alice".into()],
        ),
        (
            "chown",
            vec!["chown".into(), "bob".into(), "/user/alice/secret".into()],
        ),
        (
            "setrep",
            vec!["setrep".into(), "1".into(), "/user/alice/secret".into()],
        ),
        ("count", vec!["count".into(), "/user/alice".into()]),
    ];
    for (what, args) in &denied {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env.dfs("bob", &args), "Permission denied", what);
    }
    assert!(!std::path::Path::new(got).exists(), "get wrote a file");

    let ls = allowed(&env.dfs("bob", &["ls", &dir]), "ls");
    assert!(ls.contains(&d("keep")), "{ls}");
    let stat = allowed(&env.dfs("bob", &["stat", "%u %n", &d("keep")]), "stat");
    assert_eq!(stat.trim(), "bob keep");
    assert_eq!(
        allowed(&env.dfs("bob", &["cat", &d("keep")]), "cat").as_bytes(),
        BOBS
    );
    allowed(&env.dfs("bob", &["get", &d("keep"), got]), "get");
    assert_eq!(std::fs::read(got)?, BOBS);
    allowed(&env.dfs("bob", &["put", "upload", &d("new")]), "put");
    allowed(&env.dfs("bob", &["mkdir", &d("sub")]), "mkdir");
    allowed(&env.dfs("bob", &["rm", "-skipTrash", &d("gone")]), "rm");
    allowed(&env.dfs("bob", &["mv", &d("move"), &d("moved")]), "mv");
    allowed(&env.dfs("bob", &["chown", "bob", &d("keep")]), "chown");
    allowed(&env.dfs("bob", &["setrep", "1", &d("keep")]), "setrep");
    let count = allowed(&env.dfs("bob", &["count", &dir]), "count");
    assert!(count.contains(&dir), "{count}");
    allowed(&env.dfs("bob", &["chmod", "700", &d("keep")]), "chmod");
    // What bob did is what the namespace says.
    let root = env.cluster.client().await?;
    let names = tusk_tests::names(&root, &dir).await?;
    assert_eq!(names, ["keep", "moved", "new", "sub"]);
    assert_eq!(root.status(&d("keep")).await?.permission, 0o700);
    Ok(())
}

fn is_denied<T: std::fmt::Debug>(r: tusk_client::Result<T>, what: &str) {
    match r {
        Err(DfsError::PermissionDenied { msg }) => {
            assert!(msg.contains("bob"), "{what}: {msg}")
        }
        other => panic!("{what}: want Permission denied, got {other:?}"),
    }
}

async fn rpc_permissions(env: &Env) -> Result<()> {
    let dir = env.prepare_bob("rpc").await?;
    let d = |f: &str| format!("{dir}/{f}");
    let bob = env.cluster.client_as("bob").await?;
    let a = "/user/alice/secret";
    is_denied(bob.list("/user/alice").await, "list");
    is_denied(bob.status(a).await, "status");
    is_denied(common::read_file(&bob, a).await.map_err(dfs_err), "read");
    is_denied(
        common::write_file(&bob, "/user/alice/new", b"x")
            .await
            .map_err(dfs_err),
        "create",
    );
    is_denied(bob.mkdirs("/user/alice/d", 0o755, false).await, "mkdirs");
    is_denied(bob.delete(a, false).await, "delete");
    is_denied(bob.rename(a, &d("stolen"), false).await, "rename out of");
    is_denied(
        bob.rename(&d("move"), "/user/alice/moved", false).await,
        "rename into",
    );
    is_denied(bob.set_permission("/user/alice", 0o777).await, "chmod");
    is_denied(bob.set_owner(a, "bob", "").await, "chown");
    is_denied(bob.set_replication(a, 1).await, "setrep");
    is_denied(bob.content_summary("/user/alice").await, "count");

    assert_eq!(bob.list(&dir).await?.len(), 3);
    assert_eq!(bob.status(&d("keep")).await?.owner, "bob");
    assert_eq!(common::read_file(&bob, &d("keep")).await?, BOBS);
    common::write_file(&bob, &d("new"), BOBS).await?;
    bob.mkdirs(&d("sub"), 0o755, false).await?;
    assert!(bob.delete(&d("gone"), false).await?);
    bob.rename(&d("move"), &d("moved"), false).await?;
    bob.set_owner(&d("keep"), "bob", "").await?;
    bob.set_replication(&d("keep"), 1).await?;
    assert_eq!(bob.content_summary(&dir).await?.file_count, 3);
    bob.set_permission(&d("keep"), 0o700).await?;
    Ok(())
}

fn dfs_err(e: anyhow::Error) -> DfsError {
    match e.downcast::<DfsError>() {
        Ok(d) => d,
        Err(e) => DfsError::InvalidArgument(e.to_string()),
    }
}

/// One curl call (`-L`: redirects to the datanode are followed, carrying
/// the method and body): (final status, body).
async fn curl(method: &str, url: &str, extra: &[&str]) -> Result<(u16, String)> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-L", "-X", method, "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .await
        .context("running curl")?;
    if !out.status.success() {
        bail!(
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').context("no status")?;
    Ok((code.trim().parse()?, body.to_string()))
}

async fn web_permissions(env: &Env) -> Result<()> {
    let dir = env.prepare_bob("web").await?;
    let d = |f: &str| format!("{dir}/{f}");
    let a = "/user/alice/secret";
    let data = ["--data-binary", "web upload"];
    let denied: Vec<(&str, &str, String, &[&str])> = vec![
        (
            "LISTSTATUS",
            "GET",
            env.web("bob", "/user/alice", "op=LISTSTATUS"),
            &[],
        ),
        (
            "GETFILESTATUS",
            "GET",
            env.web("bob", a, "op=GETFILESTATUS"),
            &[],
        ),
        ("OPEN", "GET", env.web("bob", a, "op=OPEN"), &[]),
        (
            "CREATE",
            "PUT",
            env.web("bob", "/user/alice/new", "op=CREATE"),
            &data,
        ),
        (
            "MKDIRS",
            "PUT",
            env.web("bob", "/user/alice/d", "op=MKDIRS"),
            &[],
        ),
        ("DELETE", "DELETE", env.web("bob", a, "op=DELETE"), &[]),
        (
            "RENAME out of",
            "PUT",
            env.web("bob", a, &format!("op=RENAME&destination={}", d("stolen"))),
            &[],
        ),
        (
            "RENAME into",
            "PUT",
            env.web("bob", &d("move"), "op=RENAME&destination=/user/alice/moved"),
            &[],
        ),
        (
            "SETPERMISSION",
            "PUT",
            env.web("bob", "/user/alice", "op=SETPERMISSION&permission=777"),
            &[],
        ),
        (
            "SETOWNER",
            "PUT",
            env.web("bob", a, "op=SETOWNER&owner=bob"),
            &[],
        ),
        (
            "SETREPLICATION",
            "PUT",
            env.web("bob", a, "op=SETREPLICATION&replication=1"),
            &[],
        ),
        (
            "GETCONTENTSUMMARY",
            "GET",
            env.web("bob", "/user/alice", "op=GETCONTENTSUMMARY"),
            &[],
        ),
    ];
    for (what, method, url, extra) in &denied {
        let (code, body) = curl(method, url, extra).await?;
        assert_eq!(code, 403, "{what}: {body}");
        assert!(body.contains("AccessControlException"), "{what}: {body}");
    }
    // RENAME of a path bob may not see answers {"boolean": false} in
    // Hadoop only when the source is missing; here it is refused above.

    let ok: Vec<(&str, &str, String, &[&str], u16)> = vec![
        (
            "LISTSTATUS",
            "GET",
            env.web("bob", &dir, "op=LISTSTATUS"),
            &[],
            200,
        ),
        (
            "GETFILESTATUS",
            "GET",
            env.web("bob", &d("keep"), "op=GETFILESTATUS"),
            &[],
            200,
        ),
        (
            "OPEN",
            "GET",
            env.web("bob", &d("keep"), "op=OPEN"),
            &[],
            200,
        ),
        (
            "CREATE",
            "PUT",
            env.web("bob", &d("new"), "op=CREATE"),
            &data,
            201,
        ),
        (
            "MKDIRS",
            "PUT",
            env.web("bob", &d("sub"), "op=MKDIRS"),
            &[],
            200,
        ),
        (
            "DELETE",
            "DELETE",
            env.web("bob", &d("gone"), "op=DELETE"),
            &[],
            200,
        ),
        (
            "RENAME",
            "PUT",
            env.web(
                "bob",
                &d("move"),
                &format!("op=RENAME&destination={}", d("moved")),
            ),
            &[],
            200,
        ),
        (
            "SETOWNER",
            "PUT",
            env.web("bob", &d("keep"), "op=SETOWNER&owner=bob"),
            &[],
            200,
        ),
        (
            "SETREPLICATION",
            "PUT",
            env.web("bob", &d("keep"), "op=SETREPLICATION&replication=1"),
            &[],
            200,
        ),
        (
            "GETCONTENTSUMMARY",
            "GET",
            env.web("bob", &dir, "op=GETCONTENTSUMMARY"),
            &[],
            200,
        ),
        (
            "SETPERMISSION",
            "PUT",
            env.web("bob", &d("keep"), "op=SETPERMISSION&permission=700"),
            &[],
            200,
        ),
    ];
    for (what, method, url, extra, want) in &ok {
        let (code, body) = curl(method, url, extra).await?;
        assert_eq!(code, *want, "{what}: {body}");
        if *what == "OPEN" {
            assert_eq!(body.as_bytes(), BOBS);
        }
        if *what == "DELETE" || *what == "RENAME" {
            assert!(body.contains("true"), "{what}: {body}");
        }
    }
    let root = env.cluster.client().await?;
    assert_eq!(
        tusk_tests::names(&root, &dir).await?,
        ["keep", "moved", "new", "sub"]
    );
    assert_eq!(common::read_file(&root, &d("new")).await?, b"web upload");
    assert_eq!(root.status(&d("new")).await?.owner, "bob");
    Ok(())
}

async fn permissions_in(mode: AuthMode) -> Result<()> {
    let env = Env::start(mode).await?;
    cli_permissions(&env).await.context("dfs")?;
    rpc_permissions(&env).await.context("RPC")?;
    web_permissions(&env).await.context("WebHDFS")?;
    env.alice_intact().await?;
    env.cluster.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_is_refused_on_alices_private_home_with_simple_authentication() -> Result<()> {
    permissions_in(AuthMode::Simple).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_is_refused_on_alices_private_home_with_user_tokens() -> Result<()> {
    permissions_in(AuthMode::Token).await
}

/// A client of `env`'s namenode as `user` with exactly `token`.
async fn client_with(env: &Env, user: &str, token: Option<&str>) -> Result<DfsClient> {
    let mut cfg = ClientConfig::default()
        .with_namenode(env.cluster.nn_addr().to_string())
        .with_user(user)
        .with_retry_timeout(Duration::from_secs(2));
    cfg.token = token.map(String::from);
    Ok(DfsClient::connect(cfg).await?)
}

fn unauthenticated<T: std::fmt::Debug>(r: tusk_client::Result<T>, cause: &str, what: &str) {
    match r {
        Err(DfsError::Rpc { code, msg, .. }) => {
            assert_eq!(code, tonic::Code::Unauthenticated, "{what}: {msg}");
            assert!(msg.starts_with("authentication failed: "), "{what}: {msg}");
            assert!(msg.contains(cause), "{what}: want {cause:?} in {msg:?}");
            assert!(!msg.contains('\n'), "{what}: {msg:?}");
        }
        other => panic!("{what}: want UNAUTHENTICATED, got {other:?}"),
    }
}

/// Bad credentials of every kind, on every interface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_refuses_missing_forged_and_expired_tokens() -> Result<()> {
    let env = Env::start(AuthMode::Token).await?;
    let alice_token = env.token("alice");
    // alice's token with the user inside changed to root: the MAC breaks.
    let forged_user = alice_token.replace(&hex::encode("alice"), &hex::encode("root!"));
    assert_ne!(forged_user, alice_token);
    let other_secret = ClusterSecret::generate().issue_user_token("root", Duration::from_secs(60));
    let secret = ClusterSecret::load(&env.cluster.secret_file())?;
    let expired = secret.issue_user_token("alice", Duration::ZERO);
    let bad: [(&str, Option<&str>, &str); 4] = [
        ("no token", None, "no user token"),
        (
            "forged user",
            Some(&forged_user),
            "signature does not verify",
        ),
        (
            "other secret",
            Some(&other_secret),
            "signature does not verify",
        ),
        ("expired", Some(&expired), "token expired"),
    ];
    for (what, token, cause) in bad {
        // RPC, claiming to be the superuser.
        let c = client_with(&env, "root", token).await?;
        unauthenticated(c.list("/user/alice").await, cause, what);
        unauthenticated(c.fs_stats().await, cause, what);
        unauthenticated(c.mkdirs("/evil", 0o777, false).await, cause, what);
        // dfs, claiming to be root.
        let out = env.dfs_with(Some("root"), token, &["ls", "/user/alice"]);
        refused(&out, "authentication failed: ", what);
        refused(&out, cause, what);
        // Several paths, or a command of several calls: still one line.
        let out = env.dfs_with(Some("root"), token, &["rm", "-r", "/a", "/b", "/c"]);
        refused(&out, cause, what);
        refused(
            &env.dfs_with(Some("root"), token, &["admin", "report"]),
            cause,
            what,
        );
        // WebHDFS: user.name=root is not believed; a bad token is 401.
        let q = match token {
            Some(t) => format!("op=LISTSTATUS&user.name=root&delegation={t}"),
            None => "op=LISTSTATUS&user.name=root".to_string(),
        };
        let (code, body) = curl("GET", &env.web_raw("/user/alice", &q), &[]).await?;
        assert_eq!(code, 401, "{what}: {body}");
        assert!(body.contains("SecurityException"), "{what}: {body}");
        assert!(body.contains(cause), "{what}: {body}");
        // ... and on the datanode's endpoint, reached directly.
        let dn = env.cluster.datanode(0).expect("datanode").http_addr;
        let url = format!("http://{dn}/webhdfs/v1/user/alice/secret?op=OPEN&user.name=root");
        let url = match token {
            Some(t) => format!("{url}&delegation={t}"),
            None => url,
        };
        let (code, body) = curl("GET", &url, &[]).await?;
        assert_eq!(code, 401, "{what} (datanode): {body}");
        assert!(body.contains(cause), "{what} (datanode): {body}");
    }
    // The same with the header instead of delegation=.
    let (code, _) = curl(
        "GET",
        &env.web_raw("/user/alice", "op=LISTSTATUS"),
        &["-H", &format!("Authorization: Bearer {expired}")],
    )
    .await?;
    assert_eq!(code, 401);
    let (code, body) = curl(
        "GET",
        &env.web_raw("/user/alice", "op=LISTSTATUS"),
        &["-H", &format!("Authorization: Bearer {alice_token}")],
    )
    .await?;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"secret\""), "{body}");
    // doas naming someone else is not allowed with a token.
    let (code, body) = curl(
        "GET",
        &env.web_raw(
            "/user/alice",
            &format!("op=LISTSTATUS&doas=root&delegation={alice_token}"),
        ),
        &[],
    )
    .await?;
    assert_eq!(code, 403, "{body}");
    assert!(!env.cluster.client().await?.exists("/evil").await?);
    env.cluster.shutdown().await
}

/// A valid token decides who the caller is, whatever name it claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_runs_as_its_user_whatever_user_is_claimed() -> Result<()> {
    let env = Env::start(AuthMode::Token).await?;
    let alice_token = env.token("alice");
    // RPC: x-tusk-user says root, the token says alice.
    let mut raw = tusk_proto::client_protocol_client::ClientProtocolClient::connect(format!(
        "http://{}",
        env.cluster.nn_addr()
    ))
    .await?;
    let mut req = tonic::Request::new(tusk_proto::MkdirsRequest {
        path: "/user/alice/made".into(),
        permission: 0o755,
        create_parent: false,
    });
    req.metadata_mut()
        .insert(tusk_proto::USER_HEADER, "root".parse()?);
    tusk_common::security::attach_user_token(&mut req, &alice_token);
    raw.mkdirs(req).await?;
    // The library takes its user (and home) from the token.
    let c = client_with(&env, "root", Some(&alice_token)).await?;
    assert_eq!((c.user(), c.home_dir()), ("alice", "/user/alice"));
    assert_eq!(c.status("made").await?.owner, "alice");
    // Only the superuser may give a file away: alice may not.
    is_denied_as(c.set_owner("/user/alice/made", "bob", "").await, "alice");
    is_denied_as(c.mkdirs("/rootonly", 0o755, false).await, "alice");
    // dfs: TUSK_USER=root with alice's token.
    let out = env.dfs_with(
        Some("root"),
        Some(&alice_token),
        &["stat", "%u", "/user/alice/made"],
    );
    assert_eq!(allowed(&out, "stat").trim(), "alice");
    let out = env.dfs_with(
        Some("root"),
        Some(&alice_token),
        &["mkdir", "/user/alice/cli"],
    );
    allowed(&out, "mkdir");
    let out = env.dfs_with(
        Some("root"),
        Some(&alice_token),
        &["stat", "%u", "/user/alice/cli"],
    );
    assert_eq!(allowed(&out, "stat").trim(), "alice");
    // WebHDFS: user.name=root with alice's token creates as alice, through
    // the datanode (the redirect carries the token).
    let url = env.web_raw(
        "/user/alice/web",
        &format!("op=CREATE&user.name=root&delegation={alice_token}"),
    );
    let (code, body) = curl("PUT", &url, &["--data-binary", "via web"]).await?;
    assert_eq!(code, 201, "{body}");
    let root = env.cluster.client().await?;
    let st = root.status("/user/alice/web").await?;
    assert_eq!((st.owner.as_str(), st.length), ("alice", 7));
    // The redirect names the token, not the user.
    let url = env.web_raw(
        "/user/alice/secret",
        &format!("op=OPEN&delegation={alice_token}&noredirect=true"),
    );
    let (code, body) = curl("GET", &url, &[]).await?;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("delegation="), "{body}");
    assert!(!body.contains("user.name="), "{body}");
    // The web UI: the token selects the user, else dr.who.
    let ui = format!(
        "http://{}/explorer?path=/user/alice&delegation={alice_token}",
        env.cluster.nn_http_addr()
    );
    let (code, body) = curl("GET", &ui, &[]).await?;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Browsing as <b>alice</b>"), "{body}");
    let ui = format!(
        "http://{}/explorer?path=/user/alice&user.name=alice",
        env.cluster.nn_http_addr()
    );
    let (code, body) = curl("GET", &ui, &[]).await?;
    assert_eq!(code, 403, "user.name is not believed: {body}");
    assert!(body.contains("dr.who"), "{body}");
    env.cluster.shutdown().await
}

fn is_denied_as<T: std::fmt::Debug>(r: tusk_client::Result<T>, user: &str) {
    match r {
        Err(DfsError::PermissionDenied { msg }) => assert!(msg.contains(user), "{msg}"),
        other => panic!("want Permission denied for {user}, got {other:?}"),
    }
}

/// Daemons holding the cluster secret (node managers, datanodes) may act
/// for a user without its token; another secret may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_with_the_cluster_secret_act_for_users() -> Result<()> {
    let env = Env::start(AuthMode::Token).await?;
    let secret = Arc::new(ClusterSecret::load(&env.cluster.secret_file())?);
    let cfg = ClientConfig::default()
        .with_namenode(env.cluster.nn_addr().to_string())
        .with_user("alice")
        .with_node_auth(secret);
    let c = DfsClient::connect(cfg).await?;
    assert_eq!(common::read_file(&c, "/user/alice/secret").await?, SECRET);
    let as_bob = DfsClient::connect(c.config().clone().with_user("bob")).await?;
    is_denied(as_bob.list("/user/alice").await, "node auth as bob");
    let rogue = ClientConfig::default()
        .with_namenode(env.cluster.nn_addr().to_string())
        .with_user("alice")
        .with_retry_timeout(Duration::from_secs(2))
        .with_node_auth(Arc::new(ClusterSecret::generate()));
    let rogue = DfsClient::connect(rogue).await?;
    unauthenticated(
        rogue.list("/user/alice").await,
        "cluster secret",
        "another secret",
    );
    env.cluster.shutdown().await
}

/// `dfs admin token create|verify`: needs the secret file; the token it
/// prints works; without the secret, one clear line and exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_token_commands_need_the_secret_file() -> Result<()> {
    let env = Env::start(AuthMode::Token).await?;
    let secret_file = env.cluster.secret_file();
    let sf = secret_file.to_str().unwrap();
    let out = env.dfs_with(
        None,
        None,
        &[
            "admin",
            "token",
            "create",
            "bob",
            "--lifetime",
            "1h",
            "--secret-file",
            sf,
        ],
    );
    let token = allowed(&out, "token create").trim().to_string();
    assert!(token.starts_with("tusk1."), "{token}");
    assert_eq!(token.lines().count(), 1);
    let out = env.dfs_with(Some("bob"), Some(&token), &["ls", "/user/bob"]);
    allowed(&out, "ls with the minted token");
    let out = env.dfs_with(
        None,
        None,
        &["admin", "token", "verify", &token, "--secret-file", sf],
    );
    let v = allowed(&out, "token verify");
    assert!(v.starts_with("user\tbob\n"), "{v}");
    assert!(v.contains("expires\t"), "{v}");
    // TUSK_SECRET_FILE works as well as the flag.
    let mut cmd = std::process::Command::new(LocalCluster::bin_dir().join("dfs"));
    let out = cmd
        .args(["admin", "token", "create", "alice"])
        .env("TUSK_SECRET_FILE", sf)
        .env("HOME", env.local.path())
        .env_remove("TUSK_HOME")
        .output()?;
    assert!(allowed(&out, "TUSK_SECRET_FILE").starts_with("tusk1."));

    // Without the secret file.
    let missing: PathBuf = env.local.path().join("no-such.secret");
    let out = env.dfs_with(
        None,
        None,
        &[
            "admin",
            "token",
            "create",
            "bob",
            "--secret-file",
            missing.to_str().unwrap(),
        ],
    );
    refused(&out, "not found", "create without the secret");
    refused(&out, "no-such.secret", "create without the secret");
    assert!(out.stdout.is_empty());
    // An unreadable one (a copy readable by others is refused too).
    let copy = env.local.path().join("open.secret");
    std::fs::copy(&secret_file, &copy)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))?;
    }
    let out = env.dfs_with(
        None,
        None,
        &[
            "admin",
            "token",
            "create",
            "bob",
            "--secret-file",
            copy.to_str().unwrap(),
        ],
    );
    refused(&out, "chmod 600", "create with a world-readable secret");
    // A bad token file is one line too.
    let empty = env.local.path().join("empty.token");
    std::fs::write(&empty, "")?;
    let out = std::process::Command::new(LocalCluster::bin_dir().join("dfs"))
        .args(["ls", "/"])
        .env("TUSK_NAMENODE", env.cluster.nn_addr().to_string())
        .env("TUSK_TOKEN_FILE", &empty)
        .env_remove("TUSK_TOKEN")
        .env("HOME", env.local.path())
        .output()?;
    refused(&out, "empty.token: empty", "empty token file");
    env.cluster.shutdown().await
}

/// The real daemons of `scripts/local-cluster.sh` with `authentication =
/// "token"` in `$TUSK_HOME/tusk.toml`, as docs/OPERATIONS.md tells an
/// operator: the namenode creates `$TUSK_HOME/cluster.secret`, the admin
/// mints a token from it with `TUSK_HOME` alone, `dfs` works with the token
/// and is refused without; WebHDFS refuses `user.name=root`.
#[test]
fn local_cluster_with_user_tokens() -> Result<()> {
    let cl = LocalCluster::start(1, Some("[security]\nauthentication = \"token\"\n"))?;
    let scratch = tempfile::tempdir()?;
    let dfs = |env: &[(&str, &str)], args: &[&str]| -> Output {
        std::process::Command::new(cl.bin_dir.join("dfs"))
            .args(args)
            .env("TUSK_NAMENODE", cl.nn_addr())
            .env("HOME", scratch.path())
            .env_remove("TUSK_HOME")
            .env_remove("TUSK_TOKEN")
            .env_remove("TUSK_TOKEN_FILE")
            .env_remove("TUSK_SECRET_FILE")
            .env_remove("TUSK_USER")
            .envs(cl.tls_env())
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run dfs")
    };
    let home = cl.home.path().to_str().unwrap();
    let admin = tusk_common::sys::login_user();
    let token = allowed(
        &dfs(
            &[("TUSK_HOME", home)],
            &["admin", "token", "create", &admin],
        ),
        "token create with TUSK_HOME",
    )
    .trim()
    .to_string();
    let alice = allowed(
        &dfs(
            &[("TUSK_HOME", home)],
            &["admin", "token", "create", "alice"],
        ),
        "token create alice",
    )
    .trim()
    .to_string();
    allowed(
        &dfs(&[("TUSK_TOKEN", &token)], &["mkdir", "-p", "/user/alice"]),
        "mkdir with a token",
    );
    allowed(
        &dfs(
            &[("TUSK_TOKEN", &token)],
            &["chown", "alice", "/user/alice"],
        ),
        "chown with a token",
    );
    // alice, with her token in ~/.config/tusk/token, lands in her home.
    let cfg = scratch.path().join(".config/tusk");
    std::fs::create_dir_all(&cfg)?;
    std::fs::write(cfg.join("token"), format!("{alice}\n"))?;
    allowed(&dfs(&[], &["mkdir", "mine"]), "mkdir as alice");
    let st = allowed(&dfs(&[], &["stat", "%u", "/user/alice/mine"]), "stat");
    assert_eq!(st.trim(), "alice");
    std::fs::remove_file(cfg.join("token"))?;
    let out = dfs(&[("TUSK_USER", &admin)], &["ls", "/"]);
    refused(&out, "authentication failed: no user token", "no token");
    let url = format!(
        "http://127.0.0.1:{}/webhdfs/v1/?op=LISTSTATUS&user.name=root",
        cl.base_port + 1
    );
    if cl.tls_ca.is_none() {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()?;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    }
    Ok(())
}
