//! The web UIs of the namenode (in-process MiniCluster) and the resource
//! manager (real binaries, `scripts/local-cluster.sh`): every page answers
//! with the right status over plain HTTP (curl), headless Chromium renders it
//! (`--dump-dom`) and the rendered page shows the cluster's real figures;
//! names are escaped; permission and missing-path pages have their status.
//! A screenshot of each page goes to `target/test-artifacts/webui/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use tusk_client::CreateOptions;
use tusk_tests::{put, wait_for, LocalCluster, MiniCluster};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Where the screenshots go (created).
fn artifacts() -> Result<PathBuf> {
    let d = LocalCluster::repo().join("target/test-artifacts/webui");
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// `GET url` with curl: (status, body).
fn http_get(url: &str) -> Result<(u16, String)> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .context("curl is needed for the web UI test (scripts/test.sh installs it)")?;
    ensure!(
        out.status.success(),
        "curl {url}: {}",
        text(&out.stderr).trim()
    );
    let all = text(&out.stdout);
    let (body, code) = all.rsplit_once('\n').context("curl output")?;
    Ok((code.trim().parse()?, body.to_string()))
}

/// Loads `url` in headless Chromium: the rendered DOM; the screenshot is
/// saved as `<name>.png`.
fn chromium(url: &str, name: &str) -> Result<String> {
    let shot = artifacts()?.join(format!("{name}.png"));
    let dom = tusk_tests::chromium_dom(url, Some(&shot))?;
    ensure!(
        shot.metadata().map(|m| m.len() > 0).unwrap_or(false),
        "no screenshot of {url} at {}",
        shot.display()
    );
    Ok(dom)
}

/// Fetches `url` (expecting `status`) and renders it; the DOM.
fn page(url: &str, status: u16, name: &str) -> Result<String> {
    let (code, body) = http_get(url)?;
    ensure!(
        code == status,
        "{url}: status {code}, expected {status}:\n{body}"
    );
    ensure!(!body.contains("<script"), "{url}: the page uses JavaScript");
    chromium(url, name)
}

/// The text inside the element with `id="ID"` (up to the next tag).
fn by_id<'a>(dom: &'a str, id: &str) -> Result<&'a str> {
    let key = format!("id=\"{id}\">");
    let start = dom
        .find(&key)
        .with_context(|| format!("no element {id} in the page"))?
        + key.len();
    let end = dom[start..].find('<').context("unterminated element")? + start;
    Ok(&dom[start..end])
}

/// Reverses the escaping of an attribute value as Chromium serializes it.
fn unescape_attr(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `href` of the element with `id="ID"`.
fn href_of(dom: &str, id: &str) -> Result<String> {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .with_context(|| format!("no link {id}"))?;
    let tag_start = dom[..at].rfind('<').context("tag")?;
    let tag = &dom[tag_start..at + dom[at..].find('>').context("tag end")?];
    let h = tag.find("href=\"").context("no href")? + 6;
    let e = tag[h..].find('"').context("href end")? + h;
    Ok(unescape_attr(&tag[h..e]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namenode_pages() -> Result<()> {
    let c = MiniCluster::builder().datanodes(3).build().await?;
    let client = c.client().await?;
    let base = format!("http://{}", c.nn_http_addr());

    // A known namespace: small files, a 3-block file, a directory of more
    // than a page, a nasty name, a private directory, an under-replicated file.
    put(&client, "/data/a.txt", b"hello\n").await?;
    let big: Vec<u8> = (0..(2 << 20) + 12345).map(|i| (i % 251) as u8).collect();
    put(&client, "/data/big.bin", &big).await?;
    client.mkdirs("/data/many", 0o755, true).await?;
    let many = 1003usize;
    let made: Vec<Result<()>> = futures::stream::iter(0..many)
        .map(|i| {
            let client = client.clone();
            async move {
                let w = client
                    .create(&format!("/data/many/f{i:05}"), CreateOptions::default())
                    .await?;
                w.close().await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for r in made {
        r?;
    }
    let nasty = "<b>&\"q'x.txt";
    put(&client, &format!("/data/nasty/{nasty}"), b"nasty\n").await?;
    put(&client, "/private/secret.txt", b"secret\n").await?;
    client.set_owner("/private", "alice", "alice").await?;
    client.set_permission("/private", 0o700).await?;
    put(&client, "/under/rep5.txt", b"five copies wanted\n").await?;
    client.set_replication("/under/rep5.txt", 5).await?;

    let state = c.namenode().context("namenode")?.state().clone();
    wait_for(
        "the under-replicated block to be counted",
        Duration::from_secs(20),
        || {
            let n = state.read(|f| f.fs_stats()).under_replicated_blocks;
            async move { n == 1 }
        },
    )
    .await?;
    let stats = state.read(|f| f.fs_stats());
    assert_eq!(stats.total_files, 2 + many as u64 + 3);
    assert_eq!(stats.live_datanodes, 3);

    // Overview.
    let dom = page(&format!("{base}/"), 200, "nn-overview")?;
    assert_eq!(by_id(&dom, "files")?, stats.total_files.to_string());
    assert_eq!(by_id(&dom, "dirs")?, stats.total_dirs.to_string());
    assert_eq!(by_id(&dom, "blocks")?, stats.total_blocks.to_string());
    assert_eq!(by_id(&dom, "live-nodes")?, "3");
    assert_eq!(by_id(&dom, "dead-nodes")?, "0");
    assert_eq!(by_id(&dom, "under-replicated")?, "1");
    assert_eq!(by_id(&dom, "missing")?, "0");
    ensure!(
        by_id(&dom, "safemode")?.contains("OFF"),
        "safe mode: {}",
        by_id(&dom, "safemode")?
    );
    assert_eq!(by_id(&dom, "version")?, env!("CARGO_PKG_VERSION"));

    // Datanodes.
    let dom = page(&format!("{base}/datanodes"), 200, "nn-datanodes")?;
    assert_eq!(dom.matches("class=\"dn\"").count(), 3);
    assert_eq!(by_id(&dom, "dn-live")?, "3");
    let report = state.read(|f| f.datanode_report(std::time::Instant::now()));
    for d in &report {
        ensure!(
            dom.contains(&d.id.data_addr),
            "{} not listed",
            d.id.data_addr
        );
    }
    let blocks_on_page: u64 = dom
        .split("class=\"n blocks\">")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap_or(0)].parse::<u64>().unwrap_or(0))
        .sum();
    assert_eq!(
        blocks_on_page,
        report.iter().map(|d| d.num_blocks).sum::<u64>()
    );

    // The root directory, as dr.who: /private is listed (listing / is allowed).
    let dom = page(&format!("{base}/explorer?path=/"), 200, "nn-explorer-root")?;
    for n in ["data/", "private/", "under/"] {
        ensure!(
            dom.contains(&format!(">{n}</a>")),
            "{n} not in the root listing"
        );
    }
    ensure!(
        dom.contains("drwx------"),
        "the private dir's mode is not shown"
    );

    // A big directory is paged: 1000 entries, then a next page with the rest.
    let dom = page(
        &format!("{base}/explorer?path=/data/many"),
        200,
        "nn-explorer-page1",
    )?;
    assert_eq!(by_id(&dom, "entries")?, "1000");
    assert_eq!(dom.matches("class=\"entry\"").count(), 1000);
    ensure!(dom.contains(">f00999</a>") && !dom.contains(">f01000</a>"));
    let next = href_of(&dom, "next")?;
    ensure!(next.contains("start_after=f00999"), "next link: {next}");
    let dom = page(&format!("{base}{next}"), 200, "nn-explorer-page2")?;
    assert_eq!(dom.matches("class=\"entry\"").count(), many - 1000);
    ensure!(dom.contains(">f01002</a>") && !dom.contains(">f00999</a>"));
    ensure!(!dom.contains("id=\"next\""), "a next link on the last page");

    // A nasty name is shown as text, its link works.
    let raw = http_get(&format!("{base}/explorer?path=/data/nasty"))?.1;
    ensure!(
        !raw.contains("<b>&") && raw.contains("&lt;b&gt;&amp;&quot;q&#39;x.txt"),
        "the name is not escaped: {raw}"
    );
    let dom = page(
        &format!("{base}/explorer?path=/data/nasty"),
        200,
        "nn-explorer-nasty",
    )?;
    ensure!(
        dom.contains("&lt;b&gt;&amp;\"q'x.txt</a>"),
        "the rendered name is wrong"
    );
    ensure!(!dom.contains("<b>&amp;"), "the name became markup");
    let link = format!(
        "/explorer?path={}",
        tusk_common::webhdfs::encode_query_value(&format!("/data/nasty/{nasty}"))
    );
    ensure!(
        dom.contains(&link.replace('&', "&amp;")),
        "no link {link} in the page"
    );
    let dom = page(&format!("{base}{link}"), 200, "nn-file-nasty")?;
    assert_eq!(by_id(&dom, "block-count")?, "1");

    // A file's details: its blocks with their replicas, a download link.
    let dom = page(
        &format!("{base}/explorer?path=/data/big.bin"),
        200,
        "nn-file-big",
    )?;
    let blocks = client.block_locations("/data/big.bin").await?;
    assert_eq!(blocks.len(), 3);
    assert_eq!(by_id(&dom, "block-count")?, "3");
    for b in &blocks {
        ensure!(
            dom.contains(&format!(
                "<td>blk_{}</td><td class=\"n\">{}</td>",
                b.block_id, b.genstamp
            )),
            "block {} not shown",
            b.block_id
        );
        for l in &b.locations {
            ensure!(
                dom.contains(&l.data_addr),
                "replica {} not shown",
                l.data_addr
            );
        }
    }
    assert_eq!(
        href_of(&dom, "download")?,
        "/webhdfs/v1/data/big.bin?op=OPEN&user.name=dr.who"
    );
    let dom = page(
        &format!("{base}/explorer?path=/under/rep5.txt"),
        200,
        "nn-file-under",
    )?;
    ensure!(dom.contains("class=\"n replicas\">3<"), "replica count");

    // Permissions: dr.who may not list alice's directory, alice may.
    let dom = page(
        &format!("{base}/explorer?path=/private"),
        403,
        "nn-private-denied",
    )?;
    let err = by_id(&dom, "error")?;
    ensure!(
        err.contains("Permission denied") && err.contains("dr.who") && err.contains("/private"),
        "{err}"
    );
    let (code, _) = http_get(&format!("{base}/explorer?path=/private/secret.txt"))?;
    assert_eq!(code, 403);
    let dom = page(
        &format!("{base}/explorer?path=/private&user.name=alice"),
        200,
        "nn-private-owner",
    )?;
    ensure!(dom.contains(">secret.txt</a>"));
    ensure!(
        dom.contains("user.name=alice"),
        "links drop the user: the next click would act as dr.who"
    );

    // Missing and malformed paths.
    let dom = page(
        &format!("{base}/explorer?path=/no/such"),
        404,
        "nn-not-found",
    )?;
    ensure!(by_id(&dom, "error")?.contains("does not exist"));
    let (code, _) = http_get(&format!("{base}/explorer?path=/data/"))?;
    assert_eq!(code, 200, "a trailing slash");
    let (code, body) = http_get(&format!("{base}/explorer?path=relative/x"))?;
    assert_eq!(code, 400, "{body}");
    let (code, _) = http_get(&format!("{base}/explorer?path=/a/../b"))?;
    assert_eq!(code, 400);
    let (code, _) = http_get(&format!("{base}/explorer?path=%ZZ"))?;
    assert_eq!(code, 400);

    // Startup progress: loading done, safe mode over with every block reported.
    let dom = page(&format!("{base}/startup"), 200, "nn-startup")?;
    assert_eq!(by_id(&dom, "safemode-phase")?, "Complete");
    let (total, safe) = state.read(|f| f.block_map().safe_counts());
    assert_eq!(total, safe);
    assert_eq!(by_id(&dom, "safe-reported")?, safe.to_string());

    c.shutdown().await
}

/// Small blocks so a small input makes two splits; quick failure detection.
const CONFIG: &str = r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "5s"
"#;

/// `NAME=VALUE` counter lines of `mapred status` output.
fn counters_of(status: &str) -> Vec<(String, String)> {
    status
        .lines()
        .filter(|l| l.starts_with("\t\t"))
        .filter_map(|l| l.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_manager_pages() -> Result<()> {
    let c = LocalCluster::start(2, Some(CONFIG))?;
    let client = c.client().await?;
    let mut input = String::new();
    for i in 0..90_000 {
        input.push_str(&format!("w{} w{} common\n", i % 97, i % 13));
    }
    ensure!(input.len() > 1 << 20, "input too small for two splits");
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    c.tool_ok("mapred", &["wordcount", "/in", "/out"])?;
    let list = text(&c.tool_ok("mapred", &["list", "--all"])?.stdout);
    let app = list
        .lines()
        .find(|l| l.contains("wordcount"))
        .and_then(|l| l.split_whitespace().next())
        .with_context(|| format!("no wordcount job in {list}"))?
        .to_string();
    let status = text(&c.tool_ok("mapred", &["status", &app])?.stdout);
    let counters = counters_of(&status);
    ensure!(counters.len() > 5, "counters from mapred status: {status}");
    let field = |name: &str| -> Result<usize> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("no {name} in {status}"))?
            .trim()
            .parse::<usize>()
            .map_err(Into::into)
    };
    let (maps, reduces) = (field("Maps:")?, field("Reduces:")?);
    ensure!(maps >= 2, "expected two splits: {status}");

    let rm_http = std::fs::read_to_string(
        c.home
            .path()
            .join("resourcemanager/resourcemanager-http.addr"),
    )?;
    let base = format!("http://{}", rm_http.trim());

    // Cluster overview: both nodes, the job linking to its page.
    let dom = page(&format!("{base}/"), 200, "rm-overview")?;
    assert_eq!(by_id(&dom, "active-nodes")?, "2");
    assert_eq!(dom.matches("class=\"node\"").count(), 2);
    ensure!(
        dom.contains(&format!("<a href=\"/app/{app}\">{app}</a>")),
        "no link to {app}"
    );
    ensure!(dom.contains("SUCCEEDED"), "final status not shown");

    // The job's page: the same counters as `mapred status`, map/reduce totals.
    let dom = page(&format!("{base}/app/{app}"), 200, "rm-app")?;
    assert_eq!(by_id(&dom, "job-state")?, "SUCCEEDED");
    assert_eq!(by_id(&dom, "maps")?, format!("{maps} / {maps}"));
    assert_eq!(by_id(&dom, "reduces")?, format!("{reduces} / {reduces}"));
    assert_eq!(by_id(&dom, "counter-count")?, counters.len().to_string());
    for (k, v) in &counters {
        ensure!(
            dom.contains(&format!("<td>{k}</td><td class=\"n\">{v}</td>")),
            "counter {k}={v} not on the page"
        );
    }
    let attempts = dom.matches("class=\"attempt\"").count();
    ensure!(attempts >= maps + reduces, "{attempts} attempts shown");
    // The `job_…` form of the id and YARN's path work too.
    let job = app.replacen("application_", "job_", 1);
    let (code, _) = http_get(&format!("{base}/cluster/app/{job}"))?;
    assert_eq!(code, 200);

    // Logs: every container's, and one attempt's (its container only).
    let logs = page(&href_url(&base, &dom, "logs")?, 200, "rm-logs")?;
    let n: usize = by_id(&logs, "log-count")?.parse()?;
    ensure!(n >= 2 * (1 + maps + reduces), "{n} log files");
    let first = dom
        .split("class=\"attempt\"")
        .nth(1)
        .context("no attempt row")?;
    let attempt = first
        .split("<td>")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .context("attempt id")?
        .to_string();
    let h = first.find("href=\"").context("no logs link")? + 6;
    let link = unescape_attr(&first[h..h + first[h..].find('"').context("href")?]);
    let logs = page(&format!("{base}{link}"), 200, "rm-attempt-logs")?;
    assert_eq!(
        by_id(&logs, "log-count")?,
        "2",
        "stdout and stderr of one container"
    );
    ensure!(
        logs.contains(&format!("task starting attempt={attempt}")),
        "the attempt's container log is not shown"
    );

    // A running job: live progress from its application master. Its mapper
    // waits for a marker file, so the job stays running until we let it go.
    let marker = c.home.path().join("release-the-mappers");
    let mapper = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; cat",
        marker.display()
    );
    let out = c.tool_ok(
        "mapred",
        &[
            "--detach",
            "streaming",
            "-input",
            "/in",
            "-output",
            "/out-<i>s&\"q'",
            "-mapper",
            &mapper,
            "-reducer",
            "cat",
        ],
    )?;
    let running = text(&out.stdout).trim().to_string();
    ensure!(running.starts_with("application_"), "job id: {running}");
    let url = format!("{base}/app/{running}");
    wait_for("the job's maps to run", Duration::from_secs(60), || {
        let body = http_get(&url).map(|r| r.1).unwrap_or_default();
        async move { body.contains("id=\"map-progress\"") && body.contains(">RUNNING<") }
    })
    .await?;
    let live = page(&url, 200, "rm-app-running")?;
    assert_eq!(by_id(&live, "job-state")?, "RUNNING");
    // (The AM reports the number of maps only when the job ends.)
    let progress = by_id(&live, "map-progress")?;
    ensure!(progress.contains('%'), "map progress: {progress}");
    ensure!(
        by_id(&live, "reduce-progress")?.ends_with("of 1 reduces"),
        "reduce progress: {}",
        by_id(&live, "reduce-progress")?
    );
    std::fs::write(&marker, b"")?;
    wait_for("the streaming job to end", Duration::from_secs(60), || {
        let body = http_get(&url).map(|r| r.1).unwrap_or_default();
        async move { body.contains("id=\"counters\"") }
    })
    .await?;
    let dom = page(&url, 200, "rm-app-streaming")?;
    assert_eq!(by_id(&dom, "job-state")?, "SUCCEEDED");
    // Its output path is text, not markup.
    ensure!(
        dom.contains("<td>/out-&lt;i&gt;s&amp;\"q'</td>") && !dom.contains("<i>s"),
        "the output path is not escaped"
    );

    // Unknown applications: 404.
    let dom = page(
        &format!("{base}/app/application_1_9999"),
        404,
        "rm-not-found",
    )?;
    ensure!(by_id(&dom, "error")?.contains("unknown"));
    let (code, _) = http_get(&format!("{base}/app/application_1_9999/logs"))?;
    assert_eq!(code, 404);
    Ok(())
}

/// The absolute URL of the link `id` on a page.
fn href_url(base: &str, dom: &str, id: &str) -> Result<String> {
    let h = href_of(dom, id)?;
    if h.starts_with('/') {
        Ok(format!("{base}{h}"))
    } else {
        bail!("link {id} is not site-relative: {h}")
    }
}
