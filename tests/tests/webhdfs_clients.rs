//! Real WebHDFS clients against a MiniCluster (3 datanodes, 1 MiB blocks):
//! Python's `hdfs` (HdfsCLI), `fsspec`'s WebHDFS file system, pandas over
//! `webhdfs://`, and curl; plus the datanode's data endpoint called directly
//! the way the namenode's redirects call it.
//!
//! The Python packages come from PyPI into a virtualenv, `target/pyenv`,
//! made once (under a file lock, so concurrent tests and test binaries wait
//! for one another) and reused while its marker names the same packages.

mod common;

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tusk_tests::{wait_for, MiniCluster};

/// What the virtualenv holds; a change re-creates it.
const PY_PACKAGES: &[&str] = &["hdfs", "fsspec", "pandas", "requests"];

/// The virtualenv's python, creating the virtualenv if needed.
fn pyenv() -> Result<PathBuf> {
    let target = tusk_tests::LocalCluster::repo().join("target");
    std::fs::create_dir_all(&target)?;
    let dir = target.join("pyenv");
    let python = dir.join("bin/python");
    let marker = dir.join(".tusk-packages");
    let want = PY_PACKAGES.join(" ");
    let lock = std::fs::File::create(target.join("pyenv.lock"))?;
    lock.lock().context("locking target/pyenv.lock")?;
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return Ok(python);
    }
    let t0 = Instant::now();
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .context("running python3 -m venv (scripts/test.sh installs python3 and python3-venv)")?;
    ensure!(
        venv.status.success(),
        "python3 -m venv {} failed (on Debian: apt-get install python3-venv): {}",
        dir.display(),
        String::from_utf8_lossy(&venv.stderr)
    );
    let pip = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PY_PACKAGES)
        .output()
        .context("running pip")?;
    ensure!(
        pip.status.success(),
        "pip install {want} failed: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&marker, &want)?;
    eprintln!(
        "webhdfs_clients: created {} in {:.1?}",
        dir.display(),
        t0.elapsed()
    );
    Ok(python)
}

/// Runs a Python script in the virtualenv with `env`; its stdout. A failure
/// shows the script's stderr (the assertion that failed).
async fn python(script: &str, env: Vec<(&'static str, String)>) -> Result<String> {
    let script = script.to_string();
    tokio::task::spawn_blocking(move || {
        let py = pyenv()?;
        let out = Command::new(py)
            .arg("-c")
            .arg(&script)
            .envs(env)
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            bail!(
                "python script failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    })
    .await?
}

/// Hadoop's MD5-of-MD5-of-CRC32C of a local file, computed independently in
/// Python (CRC32C table-driven, per 512-byte chunk; MD5 of each block's
/// big-endian CRCs; MD5 of the block MD5s as Hadoop's DataOutputBuffer
/// holds them, zero-padded to its capacity: 32 bytes, doubled as needed).
/// Defines `reference(path, block_size) -> dict` like WebHDFS's FileChecksum.
const PY_REFERENCE: &str = r#"
import hashlib, struct
_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)

def crc32c(b):
    c = 0xFFFFFFFF
    t = _T
    for x in b:
        c = t[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def reference(path, block_size):
    data = open(path, 'rb').read()
    if not data:
        md5 = hashlib.md5(bytes(32)).digest()
        return {'algorithm': 'MD5-of-0MD5-of-0CRC32',
                'bytes': (struct.pack('>iq', 0, 0) + md5).hex(), 'length': 28}
    block_md5s, crcs_first = [], None
    for off in range(0, len(data), block_size):
        block = data[off:off + block_size]
        crcs = [crc32c(block[i:i + 512]) for i in range(0, len(block), 512)]
        if crcs_first is None:
            crcs_first = len(crcs)
        block_md5s.append(hashlib.md5(b''.join(struct.pack('>I', c) for c in crcs)).digest())
    buf = b''.join(block_md5s)
    cap = 32
    while cap < len(buf):
        cap *= 2
    md5 = hashlib.md5(buf + bytes(cap - len(buf))).digest()
    cpb = crcs_first if len(block_md5s) > 1 else 0
    return {'algorithm': 'MD5-of-%dMD5-of-512CRC32C' % cpb,
            'bytes': (struct.pack('>iq', 512, cpb) + md5).hex(), 'length': 28}
"#;

const BLOCK: usize = 1 << 20;

fn user() -> String {
    tusk_common::sys::login_user()
}

/// Writes `data` to a new local file under `dir`.
fn local_file(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, data)?;
    Ok(p)
}

/// One curl call: (status, headers lower-cased, body).
struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

async fn curl(args: Vec<String>) -> Result<Reply> {
    tokio::task::spawn_blocking(move || {
        let tmp = tempfile::tempdir()?;
        let (h, b) = (tmp.path().join("h"), tmp.path().join("b"));
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60", "-w", "%{http_code}", "-D"])
            .arg(&h)
            .arg("-o")
            .arg(&b)
            .args(&args)
            .output()
            .context("running curl (scripts/test.sh installs it)")?;
        ensure!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // With redirects followed, -D holds every response's headers: keep
        // the last.
        let all = std::fs::read_to_string(&h).unwrap_or_default();
        let last = all
            .rsplit("\r\n\r\n")
            .find(|s| s.starts_with("HTTP/"))
            .unwrap_or("")
            .to_string();
        Ok(Reply {
            status: String::from_utf8_lossy(&out.stdout).trim().parse()?,
            headers: last,
            body: std::fs::read(&b).unwrap_or_default(),
        })
    })
    .await?
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The datanode URL for `op` on `path`, as the namenode's redirect builds it.
fn dn_url(c: &MiniCluster, i: usize, path: &str, query: &str) -> String {
    let dn = c.datanode(i).expect("datanode running").http_addr;
    format!(
        "http://{dn}/webhdfs/v1{}?{query}&namenoderpcaddress={}&user.name={}",
        path.replace(' ', "%20"),
        c.nn_addr(),
        user()
    )
}

fn nn_url(c: &MiniCluster, path: &str, query: &str) -> String {
    format!(
        "http://{}/webhdfs/v1{path}?{query}&user.name={}",
        c.nn_http_addr(),
        user()
    )
}

fn json(r: &Reply) -> Result<serde_json::Value> {
    serde_json::from_slice(&r.body).with_context(|| format!("not JSON: {}", r.text()))
}

/// The datanode endpoint on its own, in the contract's shape: CREATE
/// (Location, 201, overwrite refused, permission with umask), OPEN with
/// offsets and Hadoop's errors, APPEND, GETFILECHECKSUM against the
/// reference, errors as RemoteException JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datanode_endpoint_serves_the_contract() -> Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;
    let data = common::data(2 * BLOCK + 300_000, 7);
    let local = local_file(tmp.path(), "f", &data)?;
    let local_s = local.to_str().unwrap().to_string();

    let create = curl(args(&[
        "-X",
        "PUT",
        "-T",
        &local_s,
        &dn_url(&c, 0, "/dn/a b.bin", "op=CREATE&permission=777"),
    ]))
    .await?;
    ensure!(
        create.status == 201,
        "CREATE: {} {}",
        create.status,
        create.text()
    );
    assert_eq!(
        create.header("location").as_deref(),
        Some(format!("hdfs://{}/dn/a%20b.bin", c.nn_addr()).as_str())
    );
    assert_eq!(create.header("content-length").as_deref(), Some("0"));
    assert_eq!(client.read_file("/dn/a b.bin").await?, data);
    let st = client.status("/dn/a b.bin").await?;
    assert_eq!(st.permission, 0o755, "777 with Hadoop's umask 022");
    // The upload left nothing but the file.
    assert_eq!(tusk_tests::names(&client, "/dn").await?, vec!["a b.bin"]);

    // CREATE without overwrite onto an existing file: 403
    // FileAlreadyExistsException before any byte is read; with overwrite
    // it replaces the file.
    let again = curl(args(&[
        "-X",
        "PUT",
        "--data-binary",
        "x",
        &dn_url(&c, 1, "/dn/a b.bin", "op=CREATE"),
    ]))
    .await?;
    assert_eq!(again.status, 403, "{}", again.text());
    let e = json(&again)?;
    assert_eq!(
        e["RemoteException"]["javaClassName"],
        "org.apache.hadoop.fs.FileAlreadyExistsException"
    );
    let small = curl(args(&[
        "-X",
        "PUT",
        "--data-binary",
        "small",
        &dn_url(&c, 1, "/dn/small", "op=CREATE&overwrite=true"),
    ]))
    .await?;
    assert_eq!(small.status, 201, "{}", small.text());
    assert_eq!(client.read_file("/dn/small").await?, b"small");
    assert_eq!(client.status("/dn/small").await?.permission, 0o644);

    // OPEN: whole, a range across a block boundary, past the end.
    let whole = curl(args(&[&dn_url(&c, 2, "/dn/a b.bin", "op=OPEN")])).await?;
    assert_eq!(whole.status, 200);
    assert_eq!(
        whole.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert!(whole.body == data, "OPEN returned different bytes");
    let (off, len) = (BLOCK - 1000, 5000);
    let range = curl(args(&[&dn_url(
        &c,
        2,
        "/dn/a b.bin",
        &format!("op=OPEN&offset={off}&length={len}"),
    )]))
    .await?;
    assert_eq!(range.header("content-length"), Some(len.to_string()));
    assert!(range.body == data[off..off + len]);
    let tail = curl(args(&[&dn_url(
        &c,
        0,
        "/dn/a b.bin",
        &format!("op=OPEN&offset={}&length=99999999", data.len() - 10),
    )]))
    .await?;
    assert!(tail.body == data[data.len() - 10..]);
    let past = curl(args(&[&dn_url(
        &c,
        0,
        "/dn/a b.bin",
        &format!("op=OPEN&offset={}", data.len()),
    )]))
    .await?;
    assert_eq!(past.status, 403, "{}", past.text());
    assert!(past.text().contains("out of the range"), "{}", past.text());
    let missing = curl(args(&[&dn_url(&c, 0, "/dn/nope", "op=OPEN")])).await?;
    assert_eq!(missing.status, 404);
    assert_eq!(
        json(&missing)?["RemoteException"]["exception"],
        "FileNotFoundException"
    );
    let dir = curl(args(&[&dn_url(&c, 0, "/dn", "op=OPEN")])).await?;
    assert_eq!(dir.status, 404, "{}", dir.text());

    // APPEND: two POSTs to one URL append both bodies.
    let append_url = dn_url(&c, 1, "/dn/small", "op=APPEND");
    for part in ["-one", "-two"] {
        let r = curl(args(&["-X", "POST", "--data-binary", part, &append_url])).await?;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body.is_empty());
    }
    assert_eq!(client.read_file("/dn/small").await?, b"small-one-two");

    // GETFILECHECKSUM against the Python reference (3 blocks), and for an
    // empty and a one-block file.
    let empty = curl(args(&[
        "-X",
        "PUT",
        "--data-binary",
        "",
        &dn_url(&c, 0, "/dn/empty", "op=CREATE"),
    ]))
    .await?;
    assert_eq!(empty.status, 201, "{}", empty.text());
    let one = common::data(100_000, 9);
    common::write_file(&client, "/dn/one", &one).await?;
    let local_one = local_file(tmp.path(), "one", &one)?;
    let local_empty = local_file(tmp.path(), "empty", b"")?;
    for (path, local) in [
        ("/dn/a%20b.bin", &local),
        ("/dn/one", &local_one),
        ("/dn/empty", &local_empty),
    ] {
        let r = curl(args(&[&dn_url(&c, 1, path, "op=GETFILECHECKSUM")])).await?;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let got = json(&r)?;
        let want = python(
            &format!(
                "{PY_REFERENCE}\nimport json, os\nprint(json.dumps(reference(os.environ['LOCAL'], {BLOCK})))"
            ),
            vec![("LOCAL", local.to_str().unwrap().to_string())],
        )
        .await?;
        let want: serde_json::Value = serde_json::from_str(&want)?;
        assert_eq!(got["FileChecksum"], want, "{path}");
    }
    assert_eq!(
        json(
            &curl(args(&[&dn_url(
                &c,
                1,
                "/dn/a%20b.bin",
                "op=GETFILECHECKSUM"
            )]))
            .await?
        )?["FileChecksum"]["algorithm"],
        "MD5-of-2048MD5-of-512CRC32C"
    );

    // Another user's CREATE in a directory it cannot write: 403
    // AccessControlException, and nothing left behind.
    client.mkdirs("/private", 0o755, true).await?;
    let denied = curl(args(&[
        "-X",
        "PUT",
        "--data-binary",
        "x",
        &dn_url(&c, 0, "/private/f", "op=CREATE")
            .replace(&format!("user.name={}", user()), "user.name=mallory"),
    ]))
    .await?;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(
        json(&denied)?["RemoteException"]["exception"],
        "AccessControlException"
    );
    assert!(tusk_tests::names(&client, "/private").await?.is_empty());

    // No user.name: Hadoop's static web user.
    client.mkdirs("/open", 0o777, true).await?;
    client.set_permission("/open", 0o777).await?;
    let dn = c.datanode(2).expect("running").http_addr;
    let anon = curl(args(&[
        "-X",
        "PUT",
        "--data-binary",
        "anon",
        &format!("http://{dn}/webhdfs/v1/open/anon?op=CREATE"),
    ]))
    .await?;
    assert_eq!(anon.status, 201, "{}", anon.text());
    assert_eq!(client.status("/open/anon").await?.owner, "dr.who");
    c.shutdown().await
}

/// A client killed in the middle of a chunked upload leaves no file under
/// the real name (nor its temporary) behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_upload_leaves_no_file() -> Result<()> {
    use std::io::Write as _;
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    client.mkdirs("/up", 0o755, true).await?;
    let url = dn_url(&c, 0, "/up/partial", "op=CREATE");
    let mut curl = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PUT",
            "-T",
            "-",
            "-H",
            "Transfer-Encoding: chunked",
            &url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = curl.stdin.take().expect("piped");
    let chunk = common::data(256 << 10, 3);
    // More than a block, so replicas exist on the datanodes, then stop
    // sending without ending the body.
    let written = tokio::task::spawn_blocking(move || -> Result<std::process::ChildStdin> {
        for _ in 0..6 {
            stdin.write_all(&chunk)?;
        }
        stdin.flush()?;
        Ok(stdin)
    })
    .await??;
    wait_for("the upload's temporary", Duration::from_secs(20), || {
        let client = client.clone();
        async move {
            match client.list("/up").await {
                Ok(l) => l
                    .iter()
                    .any(|s| s.name.ends_with("._COPYING_") && s.length > 0),
                Err(_) => false,
            }
        }
    })
    .await?;
    curl.kill()?;
    curl.wait()?;
    drop(written);
    wait_for(
        "the failed upload to be cleaned up",
        Duration::from_secs(20),
        || {
            let client = client.clone();
            async move { matches!(client.list("/up").await, Ok(l) if l.is_empty()) }
        },
    )
    .await?;
    assert!(!client.exists("/up/partial").await?);
    c.shutdown().await
}

/// curl through the namenode: the two-step CREATE with a chunked body,
/// an APPEND made of several POSTs to one URL, OPEN with offset/length
/// (following the redirect) and `noredirect=true`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_namenode() -> Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;
    let data = common::data(BLOCK + 123_457, 11);
    let local = local_file(tmp.path(), "c", &data)?;

    // Step 1: the namenode's redirect, no data sent.
    let step1 = curl(args(&[
        "-X",
        "PUT",
        &nn_url(&c, "/cu/chunked", "op=CREATE&overwrite=false"),
    ]))
    .await?;
    assert_eq!(step1.status, 307, "{}", step1.text());
    let location = step1
        .header("location")
        .context("CREATE redirect without Location")?;
    // Step 2: the data, chunked.
    let step2 = curl(args(&[
        "-X",
        "PUT",
        "-T",
        local.to_str().unwrap(),
        "-H",
        "Transfer-Encoding: chunked",
        &location,
    ]))
    .await?;
    assert_eq!(step2.status, 201, "{}", step2.text());
    assert!(client.read_file("/cu/chunked").await? == data);

    // APPEND: one redirect, three POSTs to the same datanode URL.
    let step1 = curl(args(&[
        "-X",
        "POST",
        &nn_url(&c, "/cu/chunked", "op=APPEND"),
    ]))
    .await?;
    assert_eq!(step1.status, 307, "{}", step1.text());
    let location = step1
        .header("location")
        .context("APPEND redirect without Location")?;
    let mut want = data.clone();
    for i in 0..3 {
        let part = common::data(70_000 + i, 20 + i as u64);
        let f = local_file(tmp.path(), &format!("part{i}"), &part)?;
        let r = curl(args(&[
            "-X",
            "POST",
            "--data-binary",
            &format!("@{}", f.display()),
            &location,
        ]))
        .await?;
        assert_eq!(r.status, 200, "{}", r.text());
        want.extend_from_slice(&part);
    }
    assert!(client.read_file("/cu/chunked").await? == want);

    // OPEN with offset and length, following the redirect.
    let (off, len) = (BLOCK - 77, 100_000usize);
    let r = curl(args(&[
        "-L",
        &nn_url(
            &c,
            "/cu/chunked",
            &format!("op=OPEN&offset={off}&length={len}"),
        ),
    ]))
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == want[off..off + len], "OPEN range differs");

    // noredirect: 200 with the Location as JSON; that URL serves the data.
    let r = curl(args(&[&nn_url(
        &c,
        "/cu/chunked",
        "op=OPEN&offset=5&noredirect=true",
    )]))
    .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let loc = json(&r)?["Location"]
        .as_str()
        .context("noredirect answer without Location")?
        .to_string();
    let r = curl(args(&[&loc])).await?;
    assert_eq!(r.status, 200);
    assert!(r.body == want[5..]);
    c.shutdown().await
}

/// Python's HdfsCLI (`hdfs` on PyPI) against the namenode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_hdfscli() -> Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;
    let data = common::data(2 * BLOCK + 4321, 5);
    let local = local_file(tmp.path(), "up.bin", &data)?;
    let script = format!(
        r#"{PY_REFERENCE}
import os, hdfs
env = os.environ
c = hdfs.InsecureClient('http://' + env['NN'], user=env['TUSK_USER'])
local, down = env['LOCAL'], env['DOWN']
c.makedirs('/py/dir', permission='750')
assert c.status('/py/dir')['permission'] == '750', c.status('/py/dir')
c.upload('/py/dir/up.bin', local)
st = c.status('/py/dir/up.bin')
assert st['type'] == 'FILE' and st['length'] == os.path.getsize(local), st
assert c.list('/py/dir') == ['up.bin'], c.list('/py/dir')
c.download('/py/dir/up.bin', down)
assert open(down, 'rb').read() == open(local, 'rb').read(), 'downloaded bytes differ'
with c.read('/py/dir/up.bin', offset={BLOCK} - 3, length=10) as r:
    assert r.read() == open(local, 'rb').read()[{BLOCK} - 3:{BLOCK} + 7]
got = c.checksum('/py/dir/up.bin')
want = reference(local, {BLOCK})
assert got == want, (got, want)
cs = c.content('/py')
assert cs['length'] == os.path.getsize(local) and cs['fileCount'] == 1 and cs['directoryCount'] == 2, cs
c.write('/py/dir/small.txt', data='hello', overwrite=True)
c.write('/py/dir/small.txt', data=' world', append=True)
with c.read('/py/dir/small.txt') as r:
    assert r.read() == b'hello world'
c.rename('/py/dir/small.txt', '/py/dir/renamed.txt')
assert sorted(c.list('/py/dir')) == ['renamed.txt', 'up.bin']
c.set_permission('/py/dir/renamed.txt', '600')
c.set_owner('/py/dir/renamed.txt', owner='alice', group='staff')
st = c.status('/py/dir/renamed.txt')
assert (st['permission'], st['owner'], st['group']) == ('600', 'alice', 'staff'), st
try:
    c.write('/py/dir/up.bin', data='x')
    raise AssertionError('overwrite=False succeeded')
except hdfs.HdfsError as e:
    assert 'already exists' in str(e), e
assert c.delete('/py/dir/renamed.txt') is True
assert c.status('/py/dir/renamed.txt', strict=False) is None
print('ok')
"#
    );
    let out = python(
        &script,
        vec![
            ("NN", c.nn_http_addr().to_string()),
            ("TUSK_USER", user()),
            ("LOCAL", local.to_str().unwrap().to_string()),
            (
                "DOWN",
                tmp.path().join("down.bin").to_str().unwrap().to_string(),
            ),
        ],
    )
    .await?;
    assert_eq!(out.trim(), "ok");
    // The namespace as the native client sees it.
    assert!(client.read_file("/py/dir/up.bin").await? == data);
    assert_eq!(tusk_tests::names(&client, "/py/dir").await?, vec!["up.bin"]);
    c.shutdown().await
}

/// fsspec's WebHDFS file system and pandas over `webhdfs://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_fsspec_and_pandas() -> Result<()> {
    let c = MiniCluster::start().await?;
    let client = c.client().await?;
    let data = common::data(3 * BLOCK + 999, 13);
    common::write_file(&client, "/fs/data.bin", &data).await?;
    let tmp = tempfile::tempdir()?;
    let local = local_file(tmp.path(), "data.bin", &data)?;
    let script = format!(
        r#"
import os, fsspec, pandas
env = os.environ
host, port = env['NN'].rsplit(':', 1)
fs = fsspec.filesystem('webhdfs', host=host, port=int(port), user=env['TUSK_USER'])
local = open(env['LOCAL'], 'rb').read()
assert [os.path.basename(p) for p in fs.ls('/fs', detail=False)] == ['data.bin'], fs.ls('/fs')
info = fs.info('/fs/data.bin')
assert info['size'] == len(local) and info['type'] == 'file', info
with fs.open('/fs/data.bin', 'rb', block_size=300000) as f:
    for off, n in [(0, 10), ({BLOCK} - 5, 20), (len(local) - 100, 100), (12345, 700000)]:
        f.seek(off)
        assert f.read(n) == local[off:off + n], (off, n)
assert fs.cat_file('/fs/data.bin', start=7, end=4000) == local[7:4000]
# Written in 1 MiB pieces: CREATE, then APPENDs to one datanode URL.
with fs.open('/fs/written.bin', 'wb', block_size=1 << 20) as f:
    for i in range(0, len(local), 400000):
        f.write(local[i:i + 400000])
assert fs.cat_file('/fs/written.bin') == local
frame = pandas.DataFrame({{'id': range(500), 'name': ['n%d' % i for i in range(500)], 'x': [i * 0.5 for i in range(500)]}})
with fs.open('/fs/frame.csv', 'wb') as f:
    f.write(frame.to_csv(index=False).encode())
back = pandas.read_csv('webhdfs://' + env['NN'] + '/fs/frame.csv', storage_options={{'user': env['TUSK_USER']}})
pandas.testing.assert_frame_equal(back, frame)
fs.rm('/fs/frame.csv')
assert not fs.exists('/fs/frame.csv')
print('ok')
"#
    );
    let out = python(
        &script,
        vec![
            ("NN", c.nn_http_addr().to_string()),
            ("TUSK_USER", user()),
            ("LOCAL", local.to_str().unwrap().to_string()),
        ],
    )
    .await?;
    assert_eq!(out.trim(), "ok");
    assert!(client.read_file("/fs/written.bin").await? == data);
    assert_eq!(
        tusk_tests::names(&client, "/fs").await?,
        vec!["data.bin", "written.bin"]
    );
    c.shutdown().await
}
