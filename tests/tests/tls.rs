//! TLS (`[tls]`) on a real multi-process cluster: namenode, datanodes,
//! resource manager and node managers all serve TLS with a certificate
//! issued by a CA generated for the run (rcgen); the `dfs` shell, a
//! MapReduce job, WebHDFS (curl, including the 307 to an `https://`
//! datanode) and `/metrics` work over it; a plain-text client, a client
//! with the wrong CA and a daemon with a missing key fail cleanly.
//! The daemons' key is 0600 and containers (run as other users) never
//! see it: a MapReduce application master serves with a self-signed
//! certificate of its own, which its tasks, `mapred` and the resource
//! manager's UI pin.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tusk_tests::{LocalCluster, MiniCluster};

/// A CA and a server certificate it issued, as PEM files in a temp dir.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// A CA named `name` and a certificate for every loopback host the
    /// local cluster uses (127.0.0.1, localhost, ::1, and the
    /// 127.0.0.10-20 hosts of `TUSK_HOSTS=distinct`).
    fn new(name: &str) -> Result<Certs> {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, name);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;

        let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "tusk daemon");
        let mut ips: Vec<IpAddr> = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::1".parse().expect("ipv6 loopback"),
        ];
        ips.extend((10..=20).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))));
        leaf.subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;

        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem())?;
        std::fs::write(dir.path().join("server.pem"), leaf_cert.pem())?;
        std::fs::write(dir.path().join("server.key"), leaf_key.serialize_pem())?;
        // The daemons' key is theirs alone (containers, which run as the
        // submitting user or nobody when the node manager is root, never
        // get it: an application master makes its own certificate). The
        // CA is public: containers read it, so the directory is open.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        Ok(Certs { dir })
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// A cluster config with `[tls]` on and short handshake time-outs.
    fn config(&self) -> String {
        format!(
            r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "5s"

[limits]
rpc_handshake_timeout = "2s"
http_header_read_timeout = "2s"

[tls]
enabled = true
cert_file = "{}"
key_file = "{}"
ca_file = "{}"
"#,
            self.cert().display(),
            self.key().display(),
            self.ca().display()
        )
    }
}

/// The certificates of this test process (TLS is process-wide, so every
/// test that uses it in-process shares one CA). Kept under cargo's
/// target/tmp, not the system temp dir.
fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| Certs::new("Tusk test CA").expect("generate certificates"))
}

/// Turns TLS on in this process (servers and clients) with [`certs`].
fn install() -> Result<()> {
    let c = certs();
    tusk_common::net::install_tls(&tusk_common::config::TlsConfig {
        enabled: true,
        cert_file: Some(c.cert()),
        key_file: Some(c.key()),
        ca_file: Some(c.ca()),
    })
    .map_err(anyhow::Error::msg)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: std::process::Output, what: &str) -> Result<String> {
    ensure!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    Ok(text(&out.stdout))
}

/// `curl ARGS` with the cluster CA; (exit code, stdout, stderr).
fn curl(ca: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The `dfs` shell against `c` with `TUSK_TLS_CA` set to `ca` (or unset).
fn dfs_with_ca(c: &LocalCluster, ca: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(c.bin_dir.join("dfs"));
    cmd.args(args)
        .env("TUSK_NAMENODE", c.nn_addr())
        .env_remove("TUSK_TLS_CA")
        .stdin(std::process::Stdio::null());
    if let Some(ca) = ca {
        cmd.env("TUSK_TLS_CA", ca);
    }
    cmd.output().expect("run dfs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_runs_over_tls() -> Result<()> {
    let certs = certs();
    let c = LocalCluster::start(3, Some(&certs.config()))?;
    ensure!(c.tls_ca.as_deref() == Some(certs.ca().as_path()));
    let nn_http = format!("127.0.0.1:{}", c.base_port + 1);
    let rm_http = format!("127.0.0.1:{}", c.base_port + 3);
    let local = tempfile::tempdir()?;

    // dfs put / ls / get / checksum through the real shell (TUSK_TLS_CA).
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let src = local.path().join("data.bin");
    std::fs::write(&src, &data)?;
    ok(c.dfs(&["mkdir", "-p", "/tls/in"]), "dfs mkdir")?;
    ok(
        c.dfs(&["put", src.to_str().unwrap(), "/tls/data.bin"]),
        "dfs put",
    )?;
    let ls = ok(c.dfs(&["ls", "/tls"]), "dfs ls")?;
    ensure!(ls.contains("/tls/data.bin"), "ls: {ls}");
    let back = local.path().join("back.bin");
    ok(
        c.dfs(&["get", "/tls/data.bin", back.to_str().unwrap()]),
        "dfs get",
    )?;
    ensure!(
        std::fs::read(&back)? == data,
        "dfs get returned other bytes"
    );
    let sum = ok(c.dfs(&["checksum", "/tls/data.bin"]), "dfs checksum")?;
    let want = hex::encode(Sha256::digest(&data));
    ensure!(sum.contains(&want), "checksum {sum} is not {want}");

    // A MapReduce job: application master and tasks in containers, the
    // umbilical and the shuffle all over TLS.
    let words = "tls over every hop\nevery hop tls\n".repeat(2000);
    let wsrc = local.path().join("words.txt");
    std::fs::write(&wsrc, &words)?;
    ok(
        c.dfs(&["put", wsrc.to_str().unwrap(), "/tls/in/words.txt"]),
        "dfs put words",
    )?;
    let out = c.tool_ok("mapred", &["wordcount", "/tls/in", "/tls/out"])?;
    let err = text(&out.stderr);
    ensure!(err.contains("completed successfully"), "mapred: {err}");
    let counts = ok(c.dfs(&["cat", "/tls/out/part-r-00000"]), "dfs cat")?;
    for (w, n) in [
        ("every", 4000),
        ("hop", 4000),
        ("over", 2000),
        ("tls", 4000),
    ] {
        ensure!(
            counts.contains(&format!("{w}\t{n}\n")),
            "{w}\t{n} missing in:\n{counts}"
        );
    }

    // WebHDFS with curl: the namenode's 307 names an https:// datanode,
    // which serves the bytes.
    let ca = certs.ca();
    let url = format!("https://{nn_http}/webhdfs/v1/tls/data.bin?op=OPEN&user.name=tester");
    let (code, headers, err) = curl(&ca, &["-D", "-", "-o", "/dev/null", &url]);
    ensure!(code == 0, "curl OPEN: {err}");
    ensure!(
        headers.starts_with("HTTP/2 307") || headers.starts_with("HTTP/1.1 307"),
        "{headers}"
    );
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .context("no Location")?
        .trim()
        .to_string();
    ensure!(
        location.starts_with("https://127.0.0.1:"),
        "Location {location}"
    );
    let got = local.path().join("webhdfs.bin");
    let (code, _, err) = curl(&ca, &["-fL", "-o", got.to_str().unwrap(), &url]);
    ensure!(code == 0, "curl -L OPEN: {err}");
    ensure!(
        std::fs::read(&got)? == data,
        "WebHDFS OPEN returned other bytes"
    );
    let (code, body, err) = curl(
        &ca,
        &[
            "-f",
            &format!("https://{nn_http}/webhdfs/v1/tls?op=LISTSTATUS&user.name=tester"),
        ],
    );
    ensure!(
        code == 0 && body.contains("\"data.bin\""),
        "LISTSTATUS: {err}{body}"
    );

    // /metrics over https on the namenode, a datanode and the RM.
    let dn_http = format!("127.0.0.1:{}", c.base_port + 11);
    for (who, addr, metric) in [
        ("namenode", &nn_http, "tusk_namenode_live_datanodes 3"),
        ("datanode", &dn_http, "tusk_datanode_"),
        (
            "resourcemanager",
            &rm_http,
            "tusk_resourcemanager_active_nodes 3",
        ),
    ] {
        let (code, body, err) = curl(&ca, &["-f", &format!("https://{addr}/metrics")]);
        ensure!(code == 0, "{who} /metrics: {err}");
        ensure!(body.contains(metric), "{who} /metrics lacks {metric}");
    }
    // The namenode UI links datanodes with https.
    let (_, ui, _) = curl(&ca, &["-f", &format!("https://{nn_http}/datanodes")]);
    ensure!(
        ui.contains(&format!("href=\"https://{dn_http}/metrics\"")),
        "UI links: {ui}"
    );

    // Plain HTTP against a TLS port: refused, no hang.
    let t = Instant::now();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            &format!("http://{nn_http}/metrics"),
        ])
        .output()?;
    ensure!(!out.status.success(), "plain HTTP was answered");
    ensure!(t.elapsed() < Duration::from_secs(10), "plain HTTP hung");

    // A plain-text gRPC client: fails with a one-line error, no hang.
    let t = Instant::now();
    let out = dfs_with_ca(&c, None, &["ls", "/"]);
    ensure!(!out.status.success(), "plain-text dfs ls succeeded");
    let err = text(&out.stderr);
    eprintln!("plain-text dfs ({:?}): {}", t.elapsed(), err.trim());
    ensure!(err.trim().lines().count() == 1, "not one line: {err}");
    ensure!(
        t.elapsed() < Duration::from_secs(30),
        "plain dfs took {:?}",
        t.elapsed()
    );

    // A TLS client that trusts another CA: a certificate error.
    let other = Certs::new("Some other CA")?;
    let out = dfs_with_ca(&c, Some(&other.ca()), &["ls", "/"]);
    ensure!(!out.status.success(), "dfs with a foreign CA succeeded");
    let err = text(&out.stderr);
    eprintln!("dfs with another CA: {}", err.trim());
    ensure!(err.trim().lines().count() == 1, "not one line: {err}");
    ensure!(
        err.to_lowercase().contains("certificate"),
        "no certificate error: {err}"
    );
    // ...and curl likewise.
    let (code, _, err) = curl(&other.ca(), &["-f", &format!("https://{nn_http}/metrics")]);
    ensure!(
        code != 0 && err.contains("certificate"),
        "curl: {code} {err}"
    );

    // Raw connections to the RPC port: an HTTP/2 preface in plain text is
    // cut at once; a connection that says nothing is cut after the
    // handshake time-out (2 s here).
    let rpc = c.nn_addr();
    let mut s = tokio::net::TcpStream::connect(&rpc).await?;
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut s, &mut buf))
        .await
        .context("plain preface: the TLS port did not close the connection")?;
    ensure!(n < 64, "plain preface got {n} bytes back");
    let t = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(&rpc).await?;
    tokio::time::timeout(
        Duration::from_secs(15),
        read_until_closed(&mut silent, &mut buf),
    )
    .await
    .context("a silent connection was not closed")?;
    ensure!(
        t.elapsed() >= Duration::from_millis(1500),
        "closed too early: {:?}",
        t.elapsed()
    );

    // TLS 1.3 with ALPN h2 on the RPC port: rustls, then openssl s_client.
    install()?;
    let mut cfg = (*tusk_common::net::tls_client_config().context("TLS installed")?).clone();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(&rpc).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await?;
    let (_, conn) = tls.get_ref();
    ensure!(
        conn.protocol_version() == Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_3),
        "protocol {:?}",
        conn.protocol_version()
    );
    ensure!(
        conn.alpn_protocol() == Some(b"h2"),
        "ALPN {:?}",
        conn.alpn_protocol()
    );
    drop(tls);
    let out = Command::new("openssl")
        .args([
            "s_client", "-brief", "-alpn", "h2", "-connect", &rpc, "-CAfile",
        ])
        .arg(certs.ca())
        .stdin(std::process::Stdio::null())
        .output()
        .context("openssl")?;
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    ensure!(all.contains("TLSv1.3"), "openssl s_client: {all}");
    ensure!(all.contains("Verification: OK"), "openssl s_client: {all}");

    am_has_its_own_certificate(&c, certs, &rm_http).await?;

    // The library client in this process, over TLS.
    let client = c.client().await?;
    let st = client
        .get_file_info("/tls/data.bin")
        .await?
        .context("no /tls/data.bin")?;
    ensure!(st.length == data.len() as u64, "length {}", st.length);
    Ok(())
}

/// `openssl s_client` to `addr` trusting `ca_file` (showing the peer's
/// certificate); its stdout and stderr together.
fn s_client(addr: &str, ca_file: &Path) -> Result<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-alpn", "h2", "-connect", addr, "-CAfile"])
        .arg(ca_file)
        .stdin(std::process::Stdio::null())
        .output()
        .context("openssl")?;
    Ok(format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// A MapReduce application master serves with a certificate of its own,
/// not the daemons': a detached streaming job whose task lists the
/// `TUSK_*` variables it got and waits to be released; meanwhile the
/// AM's port presents a self-signed certificate naming the application
/// (the cluster CA does not verify it, the one in the application report
/// does), the task got that same certificate and no daemon certificate
/// or key, and `mapred status` and the resource manager's UI (which pin
/// the certificate from the report) get live progress from the AM.
async fn am_has_its_own_certificate(c: &LocalCluster, certs: &Certs, rm_http: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(certs.key())?.permissions().mode() & 0o777;
    ensure!(key_mode == 0o600, "daemon key mode {key_mode:o}");
    let release = c.home.path().join("release-am-cert");
    let script = format!(
        "cat >/dev/null; env | sed -n 's/^\\(TUSK_[A-Z_]*\\)=.*/var \\1/p'; \
         printf '%s' \"$TUSK_AM_CERT\" | sha256sum | sed 's/ .*//;s/^/am-cert /'; \
         echo \"uid $(id -u)\"; test -r {key} && echo 'daemon key: readable' \
         || echo 'daemon key: unreadable'; \
         while [ ! -e {release} ]; do sleep 0.05; done",
        key = certs.key().display(),
        release = release.display()
    );
    let out = c.tool_ok(
        "mapred",
        &[
            "--detach",
            "streaming",
            "-input",
            "/tls/in",
            "-output",
            "/tls/am-env",
            "-mapper",
            &script,
            "-reducer",
            "NONE",
        ],
    )?;
    let app = text(&out.stdout).trim().to_string();
    ensure!(app.starts_with("application_"), "mapred --detach: {app}");

    // The AM registered (address and certificate) and its task runs.
    let rm = tusk_mapreduce::yarn::client::RmClient::new(&c.rm_addr(), "root")?;
    let report = Arc::new(tokio::sync::Mutex::new(None));
    tusk_tests::wait_for("the job's map task to run", Duration::from_secs(60), || {
        let (rm, app, report) = (rm.clone(), app.clone(), report.clone());
        async move {
            match rm.report(&app).await {
                Ok(r) if !r.am_cert_pem.is_empty() && r.running_containers >= 2 => {
                    *report.lock().await = Some(r);
                    true
                }
                _ => false,
            }
        }
    })
    .await?;
    let r = report.lock().await.take().context("no report")?;
    let am_addr = r.am_rpc_addr.clone();
    let am_cert = certs.dir.path().join(format!("{app}.pem"));
    std::fs::write(&am_cert, &r.am_cert_pem)?;

    // The AM's port: its own self-signed certificate, not the daemons'.
    let daemon = s_client(&c.nn_addr(), &certs.ca())?;
    ensure!(daemon.contains("CN = tusk daemon"), "namenode: {daemon}");
    let by_ca = s_client(&am_addr, &certs.ca())?;
    ensure!(
        by_ca.contains(&format!("CN = tusk application master {app}")),
        "AM {am_addr}: {by_ca}"
    );
    ensure!(!by_ca.contains("tusk daemon"), "AM {am_addr}: {by_ca}");
    ensure!(
        !by_ca.contains("Verify return code: 0 (ok)"),
        "the cluster CA verifies the AM's certificate: {by_ca}"
    );
    let pinned = s_client(&am_addr, &am_cert)?;
    ensure!(
        pinned.contains("Verify return code: 0 (ok)") && pinned.contains("TLSv1.3"),
        "AM {am_addr} with its certificate from the report: {pinned}"
    );

    // Live progress from the AM through `mapred status` and the RM UI.
    let status = text(&c.tool_ok("mapred", &["status", &app])?.stdout);
    ensure!(
        status.contains("State: RUNNING") && status.contains("\nMap: "),
        "mapred status has no live progress: {status}"
    );
    let (code, page, err) = curl(
        &certs.ca(),
        &["-f", &format!("https://{rm_http}/app/{app}")],
    );
    ensure!(code == 0, "RM UI app page: {err}");
    ensure!(
        page.contains("id=\"map-progress\"") && !page.contains("Live progress unavailable"),
        "RM UI has no live progress: {page}"
    );

    // Release the task; what it saw of its environment.
    std::fs::write(&release, b"go")?;
    tusk_tests::wait_for("the job to succeed", Duration::from_secs(60), || {
        let s = text(&c.tool("mapred", &["status", &app]).stdout);
        async move { s.contains("State: SUCCEEDED") }
    })
    .await?;
    let fs = c.client().await?;
    let names = tusk_tests::names(&fs, "/tls/am-env").await?;
    let mut seen = String::new();
    for n in names.iter().filter(|n| n.starts_with("part-")) {
        seen.push_str(&text(&fs.read_file(&format!("/tls/am-env/{n}")).await?));
    }
    ensure!(!seen.is_empty(), "no output in /tls/am-env: {names:?}");
    eprintln!("a task's TUSK_* variables ({names:?}):\n{seen}");
    for want in [
        "var TUSK_TLS_CA",
        "var TUSK_AM_CERT",
        "var TUSK_MR_UMBILICAL",
    ] {
        ensure!(
            seen.lines().any(|l| l.trim() == want),
            "{want} missing: {seen}"
        );
    }
    // The task ran as another user (the default with a root node
    // manager), which cannot read the daemons' 0600 key.
    ensure!(
        seen.lines().any(|l| l.trim().starts_with("uid "))
            && !seen.lines().any(|l| l.trim() == "uid 0"),
        "the task ran as root: {seen}"
    );
    ensure!(
        seen.lines().any(|l| l.trim() == "daemon key: unreadable"),
        "a task can read the daemons' key: {seen}"
    );
    for banned in ["var TUSK_TLS_KEY", "var TUSK_TLS_CERT"] {
        ensure!(
            !seen.lines().any(|l| l.trim() == banned),
            "a task got {banned}: {seen}"
        );
    }
    let sum = hex::encode(Sha256::digest(r.am_cert_pem.as_bytes()));
    ensure!(
        seen.lines().any(|l| l.trim() == format!("am-cert {sum}")),
        "the task's TUSK_AM_CERT is not the certificate the AM registered ({sum}): {seen}"
    );
    Ok(())
}

/// Reads (into `buf`, overwritten) until EOF or an error; the bytes read.
async fn read_until_closed(s: &mut tokio::net::TcpStream, buf: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        match s.read(buf).await {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += k,
        }
    }
}

/// A daemon whose key file is missing does not start: exit 1 and one line
/// naming the file.
#[test]
fn missing_key_fails_startup() -> Result<()> {
    let certs = certs();
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("no-such.key");
    let cfg = certs.config().replace(
        &certs.key().display().to_string(),
        &missing.display().to_string(),
    );
    let cfg_path = dir.path().join("tusk.toml");
    std::fs::write(&cfg_path, cfg)?;
    let bin = LocalCluster::bin_dir();
    for (daemon, extra) in [
        (
            "namenode",
            vec![
                "--name-dir".to_string(),
                dir.path().join("nn").display().to_string(),
                "--rpc-addr".into(),
                "127.0.0.1:0".into(),
                "--http-addr".into(),
                "127.0.0.1:0".into(),
            ],
        ),
        (
            "resourcemanager",
            vec![
                "--state-dir".to_string(),
                dir.path().join("rm").display().to_string(),
                "--rpc-addr".into(),
                "127.0.0.1:0".into(),
                "--http-addr".into(),
                "127.0.0.1:0".into(),
            ],
        ),
    ] {
        let out = Command::new(bin.join(daemon))
            .arg("--config")
            .arg(&cfg_path)
            .args(&extra)
            .env("RUST_LOG", "off")
            .output()?;
        let err = text(&out.stderr);
        ensure!(
            out.status.code() == Some(1),
            "{daemon}: {:?} {err}",
            out.status
        );
        ensure!(
            err.trim().lines().count() == 1,
            "{daemon}: not one line: {err}"
        );
        ensure!(
            err.starts_with(&format!("{daemon}: [tls] key_file {}: ", missing.display())),
            "{daemon}: {err}"
        );
    }
    // A client whose CA file is missing: one line, exit 1.
    let out = Command::new(bin.join("dfs"))
        .args(["ls", "/"])
        .env("TUSK_TLS_CA", &missing)
        .output()?;
    let err = text(&out.stderr);
    ensure!(out.status.code() == Some(1), "dfs: {err}");
    ensure!(
        err.trim().lines().count() == 1 && err.contains("no-such.key"),
        "dfs: {err}"
    );
    Ok(())
}

/// An in-process cluster (MiniCluster) in a process that installed TLS:
/// its servers speak TLS, its library client too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minicluster_in_process_over_tls() -> Result<()> {
    install()?;
    let c = MiniCluster::builder()
        .datanodes(2)
        .replication(2)
        .build()
        .await?;
    c.wait_active().await?;
    let client = c.client().await?;
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    tusk_tests::put(&client, "/m/x.bin", &data).await?;
    ensure!(
        client.read_file("/m/x.bin").await? == data,
        "read back differs"
    );
    // Plain bytes on its RPC port: the connection is cut at once.
    let mut s = tokio::net::TcpStream::connect(c.nn_addr()).await?;
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
    let mut buf = [0u8; 64];
    tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut s, &mut buf))
        .await
        .context("plain preface on an in-process TLS namenode: not closed")?;
    c.shutdown().await
}
