//! WebHDFS on the namenode (`/webhdfs/v1/<path>?op=…` on its HTTP port),
//! on a MiniCluster, with curl as the client: every metadata operation's
//! JSON (field names and types as Hadoop's `JsonUtil`), LISTSTATUS_BATCH
//! paging, the redirects of the data operations (the Location only; the
//! datanode side is tested with real clients in `webhdfs_clients.rs`), and
//! how bad requests are answered (a `RemoteException`, never a 500 or HTML).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;
use tusk_common::sys::login_user;
use tusk_tests::{put, wait_for, MiniCluster};

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    /// Asserts a `RemoteException` with this status and simple class name,
    /// and returns its message.
    fn remote(&self, status: u16, exception: &str) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let v = self.json();
        let e = &v["RemoteException"];
        assert_eq!(e["exception"], exception, "{self:?}");
        let class = e["javaClassName"].as_str().expect("javaClassName");
        assert!(class.ends_with(&format!(".{exception}")), "{class}");
        e["message"].as_str().expect("message").to_string()
    }
}

/// Runs curl (`-i`, paths as given so `..` reaches the server).
async fn curl(method: &str, url: &str, extra: &[&str]) -> Result<Reply> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-i", "--path-as-is", "-X", method])
        .args(extra)
        .arg(url)
        .output()
        .await
        .context("running curl (scripts/test.sh installs it)")?;
    if !out.status.success() {
        bail!(
            "curl {method} {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut rest = text.as_str();
    loop {
        let (head, body) = rest
            .split_once("\r\n\r\n")
            .with_context(|| format!("no header end in {text:?}"))?;
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        return Ok(Reply {
            status,
            headers,
            body: body.to_string(),
        });
    }
}

/// WebHDFS URLs of one cluster for one user.
struct Web {
    base: String,
    user: String,
}

impl Web {
    fn new(c: &MiniCluster, user: &str) -> Web {
        Web {
            base: format!("http://{}/webhdfs/v1", c.nn_http_addr()),
            user: user.to_string(),
        }
    }

    /// `path` is put in the URL as given (already encoded).
    fn url(&self, path: &str, query: &str) -> String {
        format!("{}{path}?user.name={}&{query}", self.base, self.user)
    }

    async fn call(&self, method: &str, path: &str, query: &str) -> Result<Reply> {
        curl(method, &self.url(path, query), &[]).await
    }

    /// A call that must answer 200 with a JSON body.
    async fn ok_json(&self, method: &str, path: &str, query: &str) -> Result<Value> {
        let r = self.call(method, path, query).await?;
        assert_eq!(r.status, 200, "{method} {path}?{query}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        Ok(r.json())
    }
}

/// Checks every field of a Hadoop `FileStatus` object and its JSON type.
fn check_file_status(f: &Value) {
    let o = f
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {f}"));
    for k in [
        "accessTime",
        "blockSize",
        "childrenNum",
        "fileId",
        "length",
        "modificationTime",
        "replication",
        "storagePolicy",
    ] {
        assert!(o[k].is_u64(), "{k} is not a number in {f}");
    }
    for k in ["group", "owner", "pathSuffix", "permission", "type"] {
        assert!(o[k].is_string(), "{k} is not a string in {f}");
    }
    assert_eq!(o.len(), 13, "unexpected fields in {f}");
    let perm = o["permission"].as_str().unwrap();
    assert!(u32::from_str_radix(perm, 8).is_ok(), "permission {perm}");
    assert!(["FILE", "DIRECTORY"].contains(&o["type"].as_str().unwrap()));
}

fn suffixes(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("FileStatus array")
        .iter()
        .map(|f| {
            check_file_status(f);
            f["pathSuffix"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_operations_answer_hadoops_json() -> Result<()> {
    let c = MiniCluster::builder()
        .datanodes(2)
        .replication(2)
        .build()
        .await?;
    let su = login_user();
    let w = Web::new(&c, &su);
    let client = c.client().await?;

    // MKDIRS (parents made), permission without umask.
    let v = w.ok_json("PUT", "/a", "op=MKDIRS&permission=755").await?;
    assert_eq!(v, json!({"boolean": true}));
    let v = w.ok_json("PUT", "/a/b", "op=MKDIRS&permission=750").await?;
    assert_eq!(v, json!({"boolean": true}));
    let v = w.ok_json("GET", "/a/b", "op=GETFILESTATUS").await?;
    let f = &v["FileStatus"];
    check_file_status(f);
    assert_eq!(f["type"], "DIRECTORY");
    assert_eq!(f["permission"], "750");
    assert_eq!(f["owner"], su.as_str());
    assert_eq!(f["pathSuffix"], "");
    assert_eq!(f["replication"], 0);
    let v = w.ok_json("PUT", "/a/c", "op=MKDIRS").await?;
    assert_eq!(v["boolean"], true);
    assert_eq!(client.status("/a/c").await?.permission, 0o755);

    // A 3-block file (1 MiB blocks), written over RPC.
    put(&client, "/a/f.txt", &vec![7u8; 2_500_000]).await?;
    let v = w.ok_json("GET", "/a/f.txt", "op=GETFILESTATUS").await?;
    let f = &v["FileStatus"];
    check_file_status(f);
    assert_eq!(f["type"], "FILE");
    assert_eq!(f["length"], 2_500_000);
    assert_eq!(f["replication"], 2);
    assert_eq!(f["blockSize"], 1 << 20);
    assert_eq!(f["permission"], "644");
    assert_eq!(f["fileId"], client.status("/a/f.txt").await?.file_id);

    // LISTSTATUS of a directory (sorted names) and of a file (itself, "").
    let v = w.ok_json("GET", "/a", "op=LISTSTATUS").await?;
    assert_eq!(
        suffixes(&v["FileStatuses"]["FileStatus"]),
        ["b", "c", "f.txt"]
    );
    let v = w.ok_json("GET", "/a/f.txt", "op=LISTSTATUS").await?;
    assert_eq!(suffixes(&v["FileStatuses"]["FileStatus"]), [""]);
    assert_eq!(v["FileStatuses"]["FileStatus"][0]["length"], 2_500_000);
    let v = w.ok_json("GET", "/a/c", "op=LISTSTATUS").await?;
    assert_eq!(v, json!({"FileStatuses": {"FileStatus": []}}));

    // GETCONTENTSUMMARY and GETQUOTAUSAGE.
    let v = w.ok_json("GET", "/a", "op=GETCONTENTSUMMARY").await?;
    let s = &v["ContentSummary"];
    assert_eq!(s["directoryCount"], 3);
    assert_eq!(s["fileCount"], 1);
    assert_eq!(s["length"], 2_500_000);
    assert_eq!(s["spaceConsumed"], 5_000_000);
    assert_eq!(s["quota"], -1);
    assert_eq!(s["spaceQuota"], -1);
    assert_eq!(s["typeQuota"], json!({}));
    assert!(s["ecPolicy"].is_string());
    let v = w.ok_json("GET", "/a", "op=GETQUOTAUSAGE").await?;
    assert_eq!(
        v,
        json!({"QuotaUsage": {"fileAndDirectoryCount": 4, "quota": -1,
            "spaceConsumed": 5_000_000, "spaceQuota": -1, "typeQuota": {}}})
    );

    // GETHOMEDIRECTORY, GETTRASHROOT: per user.
    let v = w.ok_json("GET", "/", "op=GETHOMEDIRECTORY").await?;
    assert_eq!(v, json!({ "Path": format!("/user/{su}") }));
    let alice = Web::new(&c, "alice");
    let v = alice.ok_json("GET", "/a", "op=GETTRASHROOT").await?;
    assert_eq!(v, json!({"Path": "/user/alice/.Trash"}));

    // GETSERVERDEFAULTS, GETSTATUS.
    let v = w.ok_json("GET", "/", "op=GETSERVERDEFAULTS").await?;
    let d = &v["FsServerDefaults"];
    assert_eq!(d["blockSize"], 1 << 20);
    assert_eq!(d["replication"], 2);
    assert_eq!(d["bytesPerChecksum"], 512);
    assert_eq!(d["checksumType"], 2);
    assert_eq!(d["encryptDataTransfer"], false);
    for k in [
        "writePacketSize",
        "fileBufferSize",
        "trashInterval",
        "defaultStoragePolicyId",
    ] {
        assert!(d[k].is_u64(), "{k} in {d}");
    }
    assert!(d["keyProviderUri"].is_string());
    let v = w.ok_json("GET", "/", "op=GETSTATUS").await?;
    let s = &v["FsStatus"];
    let stats = client.fs_stats().await?;
    assert!(s["capacity"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["capacity"], stats.capacity);
    assert!(s["used"].is_u64() && s["remaining"].is_u64());

    // GETFILEBLOCKLOCATIONS: every block, then the one holding an offset.
    let v = w
        .ok_json("GET", "/a/f.txt", "op=GETFILEBLOCKLOCATIONS")
        .await?;
    let blocks = v["BlockLocations"]["BlockLocation"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    let rpc_blocks = client.block_locations("/a/f.txt").await?;
    for (b, rb) in blocks.iter().zip(&rpc_blocks) {
        assert_eq!(b["offset"], rb.offset);
        assert_eq!(b["length"], rb.num_bytes);
        assert_eq!(b["corrupt"], false);
        assert_eq!(b["cachedHosts"], json!([]));
        let names: HashSet<&str> = b["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let want: HashSet<&str> = rb.locations.iter().map(|d| d.data_addr.as_str()).collect();
        assert_eq!(names, want);
        assert_eq!(b["hosts"].as_array().unwrap().len(), 2);
        assert_eq!(b["storageTypes"], json!(["DISK", "DISK"]));
        for t in b["topologyPaths"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert!(t.starts_with("/default-rack/"), "{t}");
            assert!(want.contains(&t["/default-rack/".len()..]), "{t}");
        }
    }
    assert_eq!(
        blocks.iter().map(|b| &b["offset"]).collect::<Vec<_>>(),
        [&json!(0), &json!(1 << 20), &json!(2 << 20)]
    );
    let v = w
        .ok_json(
            "GET",
            "/a/f.txt",
            "op=GETFILEBLOCKLOCATIONS&offset=1048576&length=1",
        )
        .await?;
    let blocks = v["BlockLocations"]["BlockLocation"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["offset"], 1 << 20);

    // SETREPLICATION: true for a file, false for a directory.
    let v = w
        .ok_json("PUT", "/a/f.txt", "op=SETREPLICATION&replication=1")
        .await?;
    assert_eq!(v, json!({"boolean": true}));
    assert_eq!(client.status("/a/f.txt").await?.replication, 1);
    let v = w
        .ok_json("PUT", "/a/b", "op=SETREPLICATION&replication=1")
        .await?;
    assert_eq!(v, json!({"boolean": false}));

    // SETPERMISSION, SETOWNER, SETTIMES: 200 with an empty body.
    let r = w
        .call("PUT", "/a/f.txt", "op=SETPERMISSION&permission=600")
        .await?;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    assert_eq!(client.status("/a/f.txt").await?.permission, 0o600);
    let r = w
        .call("PUT", "/a/f.txt", "op=SETOWNER&owner=alice&group=staff")
        .await?;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let st = client.status("/a/f.txt").await?;
    assert_eq!((st.owner.as_str(), st.group.as_str()), ("alice", "staff"));
    let r = w.call("PUT", "/a/f.txt", "op=SETOWNER").await?;
    r.remote(400, "IllegalArgumentException");
    let before = client.status("/a/f.txt").await?;
    let r = w
        .call("PUT", "/a/f.txt", "op=SETTIMES&modificationtime=1000")
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let after = client.status("/a/f.txt").await?;
    assert_eq!(after.mtime_ms, 1000);
    assert_eq!(after.atime_ms, before.atime_ms);

    // CHECKACCESS: the owner may, another user may not (750 directory).
    let r = w.call("GET", "/a/b", "op=CHECKACCESS&fsaction=rwx").await?;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = alice
        .call("GET", "/a/b", "op=CHECKACCESS&fsaction=r-x")
        .await?;
    let m = r.remote(403, "AccessControlException");
    assert!(m.contains("user=alice"), "{m}");
    let r = alice
        .call("GET", "/a/b", "op=CHECKACCESS&fsaction=---")
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let r = w.call("GET", "/a/b", "op=CHECKACCESS&fsaction=rw").await?;
    r.remote(400, "IllegalArgumentException");
    let r = w
        .call("GET", "/a/nope", "op=CHECKACCESS&fsaction=r--")
        .await?;
    assert!(r
        .remote(404, "FileNotFoundException")
        .contains("does not exist"));

    // RENAME: true, or false for what ClientProtocol.rename reports as false.
    let v = w
        .ok_json("PUT", "/a/f.txt", "op=RENAME&destination=/a/g.txt")
        .await?;
    assert_eq!(v, json!({"boolean": true}));
    assert!(!client.exists("/a/f.txt").await? && client.exists("/a/g.txt").await?);
    let v = w
        .ok_json("PUT", "/a/f.txt", "op=RENAME&destination=/a/h.txt")
        .await?;
    assert_eq!(v, json!({"boolean": false}), "missing source");
    let v = w
        .ok_json("PUT", "/a/g.txt", "op=RENAME&destination=/nodir/x")
        .await?;
    assert_eq!(v, json!({"boolean": false}), "missing destination parent");
    let v = w
        .ok_json("PUT", "/a", "op=RENAME&destination=/a/b/inside")
        .await?;
    assert_eq!(v, json!({"boolean": false}), "into itself");
    let v = w
        .ok_json("PUT", "/a/g.txt", "op=RENAME&destination=/a/b/")
        .await?;
    assert_eq!(v, json!({"boolean": true}), "into a directory");
    assert!(client.exists("/a/b/g.txt").await?);
    let r = w.call("PUT", "/a/b/g.txt", "op=RENAME").await?;
    r.remote(400, "IllegalArgumentException");
    let r = w
        .call("PUT", "/a/b/g.txt", "op=RENAME&destination=relative")
        .await?;
    r.remote(400, "IllegalArgumentException");
    let r = w
        .call("PUT", "/a/b/g.txt", "op=RENAME&destination=/a/../etc")
        .await?;
    r.remote(400, "InvalidPathException");
    // Another user without write permission on the parent: an error, not false.
    let r = alice
        .call("PUT", "/a/c", "op=RENAME&destination=/a/d")
        .await?;
    r.remote(403, "AccessControlException");

    // DELETE: non-empty without recursive is an error; missing is false.
    let r = w.call("DELETE", "/a", "op=DELETE").await?;
    r.remote(403, "PathIsNotEmptyDirectoryException");
    let v = w
        .ok_json("DELETE", "/a", "op=DELETE&recursive=true")
        .await?;
    assert_eq!(v, json!({"boolean": true}));
    assert!(!client.exists("/a").await?);
    let v = w
        .ok_json("DELETE", "/a", "op=DELETE&recursive=true")
        .await?;
    assert_eq!(v, json!({"boolean": false}));
    let v = w.ok_json("DELETE", "/", "op=DELETE&recursive=true").await?;
    assert_eq!(v, json!({"boolean": false}));

    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liststatus_batch_pages_through_a_big_directory() -> Result<()> {
    let c = MiniCluster::builder()
        .datanodes(1)
        .replication(1)
        .build()
        .await?;
    let w = Web::new(&c, &login_user());
    let client = c.client().await?;
    const N: usize = 1205;
    let mut want: Vec<String> = (0..N).map(|i| format!("d{i:05}")).collect();
    want.sort();
    for chunk in want.chunks(100) {
        let made = chunk.iter().map(|n| {
            let client = client.clone();
            async move { client.mkdirs(&format!("/big/{n}"), 0o755, true).await }
        });
        for r in futures::future::join_all(made).await {
            r?;
        }
    }

    // Pages of dfs.ls.limit (1000) entries; startAfter = the last pathSuffix.
    let mut got = Vec::new();
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let v = w
            .ok_json(
                "GET",
                "/big",
                &format!("op=LISTSTATUS_BATCH&startAfter={after}"),
            )
            .await?;
        let l = &v["DirectoryListing"];
        assert_eq!(l.as_object().unwrap().len(), 2, "{l}");
        let names = suffixes(&l["partialListing"]["FileStatuses"]["FileStatus"]);
        let remaining = l["remainingEntries"].as_u64().expect("remainingEntries");
        pages.push((names.len(), remaining));
        after = names.last().cloned().unwrap_or_default();
        got.extend(names);
        if remaining == 0 {
            break;
        }
        assert!(pages.len() < 10, "no end of listing: {pages:?}");
    }
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0].0, 1000);
    assert!(pages[0].1 >= (N - 1000) as u64, "{pages:?}");
    assert_eq!(pages[1], (N - 1000, 0));
    assert_eq!(got, want);

    // LISTSTATUS streams every page as one FileStatuses array.
    let v = w.ok_json("GET", "/big", "op=LISTSTATUS").await?;
    assert_eq!(suffixes(&v["FileStatuses"]["FileStatus"]), want);

    // A batch listing of a file is the file.
    put(&client, "/big-file", b"x").await?;
    let v = w.ok_json("GET", "/big-file", "op=LISTSTATUS_BATCH").await?;
    let l = &v["DirectoryListing"];
    assert_eq!(
        suffixes(&l["partialListing"]["FileStatuses"]["FileStatus"]),
        [""]
    );
    assert_eq!(l["remainingEntries"], 0);
    let r = w.call("GET", "/nope", "op=LISTSTATUS_BATCH").await?;
    assert!(r
        .remote(404, "FileNotFoundException")
        .contains("does not exist"));
    c.shutdown().await
}

/// Splits a datanode Location into (host:port, path, query pairs).
fn split_location(loc: &str) -> (String, String, Vec<(String, String)>) {
    let rest = loc.strip_prefix("http://").expect("http URL");
    let (addr, rest) = rest.split_once('/').expect("path");
    let (path, query) = rest.split_once('?').expect("query");
    let pairs = query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').expect("k=v");
            (k.to_string(), v.to_string())
        })
        .collect();
    (addr.to_string(), format!("/{path}"), pairs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_operations_redirect_to_a_datanode() -> Result<()> {
    let mut c = MiniCluster::builder()
        .datanodes(3)
        .replication(2)
        .dead_after(Duration::from_secs(2))
        .build()
        .await?;
    let su = login_user();
    let w = Web::new(&c, &su);
    let client = c.client().await?;
    put(&client, "/d/f", &vec![1u8; 1_500_000]).await?;
    let blocks = client.block_locations("/d/f").await?;
    assert_eq!(blocks.len(), 2);
    let holders = |k: usize| -> HashSet<String> {
        blocks[k]
            .locations
            .iter()
            .map(|d| d.http_addr.clone())
            .collect()
    };
    let dn_http: HashSet<String> = (0..3)
        .map(|i| c.datanode(i).unwrap().http_addr.to_string())
        .collect();
    let nn = c.nn_addr().to_string();

    // CREATE: 307, the parameters passed on re-encoded, noredirect dropped,
    // and the namespace untouched.
    let r = w
        .call(
            "PUT",
            "/d/new%20file%C3%BC",
            "op=CREATE&overwrite=TRUE&createParent=false&replication=2&blocksize=1048576&permission=640&buffersize=4096&noredirect=false&unknown=1",
        )
        .await?;
    assert_eq!(r.status, 307, "{r:?}");
    assert_eq!(r.body, "");
    let loc = r.header("location").expect("Location").to_string();
    let (addr, path, q) = split_location(&loc);
    assert!(dn_http.contains(&addr), "{loc}");
    assert_eq!(path, "/webhdfs/v1/d/new%20file%C3%BC");
    let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        q,
        [
            ("op", "CREATE"),
            ("namenoderpcaddress", nn.replace(':', "%3A").as_str()),
            ("user.name", su.as_str()),
            ("overwrite", "true"),
            ("createparent", "false"),
            ("replication", "2"),
            ("blocksize", "1048576"),
            ("permission", "640"),
            ("buffersize", "4096"),
        ]
    );
    assert!(!client.exists("/d/new file\u{fc}").await?);

    // noredirect=true: 200 {"Location": the same kind of URL}.
    let v = w
        .ok_json("PUT", "/d/g", "op=CREATE&noredirect=true")
        .await?;
    let loc = v["Location"].as_str().expect("Location").to_string();
    let (addr, path, q) = split_location(&loc);
    assert!(
        dn_http.contains(&addr) && path == "/webhdfs/v1/d/g",
        "{loc}"
    );
    assert_eq!(q[0], ("op".to_string(), "CREATE".to_string()));
    assert!(!q.iter().any(|(k, _)| k == "noredirect"), "{loc}");

    // CREATE refused before any data: existing file, directory, bad values.
    let r = w.call("PUT", "/d/f", "op=CREATE").await?;
    r.remote(403, "FileAlreadyExistsException");
    let r = w.call("PUT", "/d", "op=CREATE&overwrite=true").await?;
    r.remote(403, "FileAlreadyExistsException");
    let r = w.call("PUT", "/d/f", "op=CREATE&overwrite=true").await?;
    assert_eq!(r.status, 307, "{r:?}");
    let r = w.call("PUT", "/d/h", "op=CREATE&replication=x").await?;
    r.remote(400, "IllegalArgumentException");
    let r = w.call("PUT", "/d/h", "op=CREATE&permission=888").await?;
    r.remote(400, "IllegalArgumentException");
    // A body sent to the namenode with CREATE is ignored (as Hadoop).
    let r = curl(
        "PUT",
        &w.url("/d/h", "op=CREATE"),
        &["--data-binary", "some bytes"],
    )
    .await?;
    assert_eq!(r.status, 307, "{r:?}");

    // OPEN: a datanode holding the block at `offset`.
    let r = w
        .call("GET", "/d/f", "op=OPEN&offset=1048576&length=10")
        .await?;
    assert_eq!(r.status, 307, "{r:?}");
    let (addr, path, q) = split_location(r.header("location").unwrap());
    assert!(holders(1).contains(&addr), "{addr} not in {:?}", holders(1));
    assert_eq!(path, "/webhdfs/v1/d/f");
    assert!(q.contains(&("offset".into(), "1048576".into())), "{q:?}");
    assert!(q.contains(&("length".into(), "10".into())), "{q:?}");
    let r = w.call("GET", "/d/f", "op=OPEN").await?;
    let (addr, ..) = split_location(r.header("location").unwrap());
    assert!(holders(0).contains(&addr));
    let r = w.call("GET", "/d/missing", "op=OPEN").await?;
    assert!(r
        .remote(404, "FileNotFoundException")
        .contains("does not exist"));
    let r = w.call("GET", "/d", "op=OPEN").await?;
    assert!(r
        .remote(404, "FileNotFoundException")
        .contains("Path is not a file"));

    // excludedatanodes (a client's retry): another holder, else a
    // non-holder; given as transfer or HTTP addresses.
    let h = &blocks[0].locations;
    let r = w
        .call(
            "GET",
            "/d/f",
            &format!("op=OPEN&excludedatanodes={}", h[0].data_addr),
        )
        .await?;
    let (addr, ..) = split_location(r.header("location").unwrap());
    assert_eq!(addr, h[1].http_addr);
    let r = w
        .call(
            "GET",
            "/d/f",
            &format!(
                "op=OPEN&excludedatanodes={},{}",
                h[0].data_addr, h[1].http_addr
            ),
        )
        .await?;
    let (addr, ..) = split_location(r.header("location").unwrap());
    assert!(
        dn_http.contains(&addr) && !holders(0).contains(&addr),
        "{addr}"
    );

    // GETFILECHECKSUM: a holder of the first block.
    let r = w.call("GET", "/d/f", "op=GETFILECHECKSUM").await?;
    assert_eq!(r.status, 307, "{r:?}");
    let (addr, _, q) = split_location(r.header("location").unwrap());
    assert!(holders(0).contains(&addr));
    assert_eq!(q[0].1, "GETFILECHECKSUM");

    // APPEND: a holder of the last block; POST only.
    let r = w.call("POST", "/d/f", "op=APPEND&buffersize=100").await?;
    assert_eq!(r.status, 307, "{r:?}");
    let (addr, _, q) = split_location(r.header("location").unwrap());
    assert!(holders(1).contains(&addr));
    assert_eq!(q[0].1, "APPEND");
    assert!(q.contains(&("buffersize".into(), "100".into())), "{q:?}");
    let r = w.call("POST", "/d/missing", "op=APPEND").await?;
    assert!(r
        .remote(404, "FileNotFoundException")
        .contains("does not exist"));
    let r = w.call("PUT", "/d/f", "op=APPEND").await?;
    r.remote(400, "IllegalArgumentException");

    // The effective user: doas, else user.name, else dr.who.
    let r = curl(
        "GET",
        &format!("{}/d/f?op=OPEN&user.name={su}&doas=bob", w.base),
        &[],
    )
    .await?;
    let (_, _, q) = split_location(r.header("location").unwrap());
    assert!(q.contains(&("user.name".into(), "bob".into())), "{q:?}");
    let r = curl("GET", &format!("{}/d/f?op=OPEN", w.base), &[]).await?;
    let (_, _, q) = split_location(r.header("location").unwrap());
    assert!(q.contains(&("user.name".into(), "dr.who".into())), "{q:?}");

    // No live datanode: 403 IOException, as Hadoop.
    for i in 0..3 {
        c.stop_datanode(i).await?;
    }
    wait_for("datanodes declared dead", Duration::from_secs(20), || {
        let client = client.clone();
        async move { matches!(client.fs_stats().await, Ok(s) if s.live_datanodes == 0) }
    })
    .await?;
    let r = w.call("PUT", "/d/new", "op=CREATE").await?;
    let m = r.remote(403, "IOException");
    assert!(m.contains("Failed to find datanode"), "{m}");
    c.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_remote_exceptions() -> Result<()> {
    let c = MiniCluster::builder()
        .datanodes(1)
        .replication(1)
        .build()
        .await?;
    let su = login_user();
    let w = Web::new(&c, &su);
    let alice = Web::new(&c, "alice");
    let client = c.client().await?;
    put(&client, "/p/f", b"hello").await?;

    // Unknown, missing and misplaced operations: 400 IllegalArgumentException.
    let r = w.call("GET", "/p", "op=FROBNICATE").await?;
    let m = r.remote(400, "IllegalArgumentException");
    assert!(
        m.contains("Invalid value for webhdfs parameter \"op\""),
        "{m}"
    );
    let r = curl("GET", &format!("{}/p", w.base), &[]).await?;
    r.remote(400, "IllegalArgumentException");
    for (method, op) in [
        ("GET", "MKDIRS"),
        ("PUT", "GETFILESTATUS"),
        ("DELETE", "CREATE"),
        ("POST", "DELETE"),
        ("GET", "APPEND"),
        ("PATCH", "GETFILESTATUS"),
        ("OPTIONS", "LISTSTATUS"),
    ] {
        let r = w.call(method, "/p", &format!("op={op}")).await?;
        r.remote(400, "IllegalArgumentException");
    }

    // Operations Tusk does not have: 400 UnsupportedOperationException.
    for (method, op) in [
        ("GET", "GETACLSTATUS"),
        ("GET", "GETXATTRS"),
        ("GET", "GETDELEGATIONTOKEN"),
        ("GET", "GETSNAPSHOTDIFF"),
        ("GET", "GETECPOLICY"),
        ("GET", "GETALLSTORAGEPOLICY"),
        ("PUT", "CREATESNAPSHOT"),
        ("PUT", "SETXATTR"),
        ("PUT", "SETACL"),
        ("PUT", "SETSTORAGEPOLICY"),
        ("PUT", "RENEWDELEGATIONTOKEN"),
        ("PUT", "CREATESYMLINK"),
        ("POST", "CONCAT"),
        ("POST", "TRUNCATE"),
        ("DELETE", "DELETESNAPSHOT"),
    ] {
        let r = w
            .call(method, "/p/f", &format!("op={op}&sources=/p/g&newlength=1"))
            .await?;
        let m = r.remote(400, "UnsupportedOperationException");
        assert!(m.contains(op), "{m}");
    }
    let r = w
        .call(
            "PUT",
            "/p/f",
            "op=RENAME&destination=/p/g&renameoptions=OVERWRITE",
        )
        .await?;
    r.remote(400, "UnsupportedOperationException");

    // Paths: traversal and malformed percent-encoding are refused.
    for path in [
        "/p/../etc",
        "/p/%2E%2E/etc",
        "/p//f",
        "/p/./f",
        "/p%zz",
        "/p%C3",
        "/p%00x",
    ] {
        let r = w.call("GET", path, "op=GETFILESTATUS").await?;
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(r.json()["RemoteException"]["message"].is_string());
    }
    let r = curl(
        "GET",
        &format!("{}/p?op=GETFILESTATUS&user.name=%G0", w.base),
        &[],
    )
    .await?;
    r.remote(400, "IllegalArgumentException");
    let r = curl(
        "GET",
        &format!("{}/p?op=GETFILESTATUS&user.name=a%20b", w.base),
        &[],
    )
    .await?;
    r.remote(400, "IllegalArgumentException");
    // Encoded names are decoded; a trailing slash is the same path.
    let v = w.ok_json("PUT", "/p/sp%20ace/", "op=MKDIRS").await?;
    assert_eq!(v["boolean"], true);
    assert!(client.exists("/p/sp ace").await?);

    // Bad parameter values: 400 naming the parameter.
    for (method, path, query, param) in [
        ("PUT", "/p/x", "op=MKDIRS&permission=999", "permission"),
        ("DELETE", "/p/x", "op=DELETE&recursive=yes", "recursive"),
        ("GET", "/p/f", "op=OPEN&offset=-1", "offset"),
        (
            "GET",
            "/p/f",
            "op=GETFILEBLOCKLOCATIONS&length=abc",
            "length",
        ),
        (
            "PUT",
            "/p/f",
            "op=SETTIMES&modificationtime=soon",
            "modificationtime",
        ),
        (
            "PUT",
            "/p/f",
            "op=SETREPLICATION&replication=70000",
            "replication",
        ),
        ("GET", "/p/f", "op=OPEN&noredirect=maybe", "noredirect"),
    ] {
        let r = w.call(method, path, query).await?;
        let m = r.remote(400, "IllegalArgumentException");
        assert!(m.contains(param), "{query}: {m}");
    }

    // Case-insensitive names, operations and booleans; the first of a
    // repeated parameter wins.
    let v = w
        .ok_json("PUT", "/p/ci/a/b", "OP=mkdirs&Permission=700")
        .await?;
    assert_eq!(v["boolean"], true);
    let v = w
        .ok_json("DELETE", "/p/ci", "op=DELETE&RECURSIVE=TrUe")
        .await?;
    assert_eq!(v["boolean"], true);
    let v = w
        .ok_json("GET", "/p/f", "op=GETFILESTATUS&op=DELETE")
        .await?;
    assert_eq!(v["FileStatus"]["length"], 5);
    assert!(client.exists("/p/f").await?);
    let v = w
        .ok_json(
            "GET",
            "/",
            &format!("op=GETHOMEDIRECTORY&user.name=carol&user.name={su}"),
        )
        .await?;
    // The first user.name (from `Web::url`) is the superuser's.
    assert_eq!(v["Path"], format!("/user/{su}"));
    let v = curl(
        "GET",
        &format!(
            "{}/?op=GETHOMEDIRECTORY&user.name=carol&user.name=dave",
            w.base
        ),
        &[],
    )
    .await?
    .json();
    assert_eq!(v["Path"], "/user/carol");

    // Permissions as over RPC: another user, and the default user dr.who.
    let r = alice.call("PUT", "/p/alice", "op=MKDIRS").await?;
    let m = r.remote(403, "AccessControlException");
    assert!(
        m.contains("Permission denied") && m.contains("user=alice"),
        "{m}"
    );
    let r = curl("PUT", &format!("{}/p/who?op=MKDIRS", w.base), &[]).await?;
    let m = r.remote(403, "AccessControlException");
    assert!(m.contains("user=dr.who"), "{m}");
    let r = alice.call("DELETE", "/p/f", "op=DELETE").await?;
    r.remote(403, "AccessControlException");
    let r = alice
        .call("PUT", "/p/f", "op=SETPERMISSION&permission=777")
        .await?;
    r.remote(403, "AccessControlException");
    let r = alice.call("PUT", "/p/f", "op=SETOWNER&owner=alice").await?;
    r.remote(403, "AccessControlException");
    assert!(client.exists("/p/f").await? && !client.exists("/p/alice").await?);
    // Reading is allowed (644 file, 755 directory).
    let v = alice.ok_json("GET", "/p/f", "op=GETFILESTATUS").await?;
    assert_eq!(v["FileStatus"]["owner"], su.as_str());

    // Missing paths: 404 with "does not exist".
    for (method, query) in [
        ("GET", "op=GETFILESTATUS"),
        ("GET", "op=LISTSTATUS"),
        ("GET", "op=GETCONTENTSUMMARY"),
        ("GET", "op=GETFILEBLOCKLOCATIONS"),
        ("PUT", "op=SETPERMISSION&permission=700"),
        ("PUT", "op=SETTIMES&accesstime=5"),
    ] {
        let r = w.call(method, "/p/nope", query).await?;
        let m = r.remote(404, "FileNotFoundException");
        assert!(m.contains("does not exist") && m.contains("/p/nope"), "{m}");
    }

    // Limits: a body on a metadata operation, oversized headers.
    let body = c.dir().join("body");
    std::fs::write(&body, vec![b'x'; 200 << 10])?;
    let r = curl(
        "PUT",
        &w.url("/p/m", "op=MKDIRS"),
        &["--data-binary", &format!("@{}", body.display())],
    )
    .await?;
    assert_eq!(r.status, 413, "{r:?}");
    r.remote(413, "IOException");
    assert!(!client.exists("/p/m").await?);
    let big = c.dir().join("headers");
    let lines: String = (0..256)
        .map(|i| format!("X-Big-{i}: {}\n", "y".repeat(4000)))
        .collect();
    std::fs::write(&big, lines)?;
    let big = format!("@{}", big.display());
    let r = curl("GET", &w.url("/p", "op=GETFILESTATUS"), &["-H", &big]).await?;
    assert_eq!(r.status, 431, "{:?}", (r.status, &r.headers));
    // The namenode still answers.
    let v = w.ok_json("GET", "/p", "op=GETFILESTATUS").await?;
    assert_eq!(v["FileStatus"]["type"], "DIRECTORY");
    c.shutdown().await
}
