//! `/metrics` on every daemon, scraped after known work and parsed by a
//! strict Prometheus text-format parser: every sample belongs to a family
//! with one HELP and one TYPE, families are contiguous, no series repeats,
//! histogram buckets are cumulative and end with `le="+Inf"` equal to
//! `_count`, names follow the conventions (`tusk_<daemon>_`, counters in
//! `_total`). Then the figures are checked against the work done: RPC
//! counts, bytes written and read, heartbeats, containers, shuffle bytes.
//!
//! The namenode and datanodes run in this process (`MiniCluster`); the
//! YARN part runs a wordcount with reducers and a streaming job shipping a
//! file on a real multi-process cluster
//! (`LocalCluster`, like `mapred.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tusk_tests::{put, wait_for, LocalCluster, MiniCluster};

const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ parser

/// One sample line: metric name, labels (sorted), value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A histogram series' labels other than `le`, sorted.
type Labels = Vec<(String, String)>;

#[derive(Debug)]
struct Family {
    kind: String,
}

/// A parsed `/metrics` page.
#[derive(Debug)]
struct Page {
    families: HashMap<String, Family>,
    samples: Vec<Sample>,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{k="v",…} value` (no timestamp: our daemons never write one).
fn parse_sample(line: &str) -> Result<Sample> {
    let name_end = line
        .find(['{', ' '])
        .with_context(|| format!("no value: {line:?}"))?;
    let name = &line[..name_end];
    ensure!(valid_name(name), "bad metric name {name:?} in {line:?}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            if let Some(after) = r.strip_prefix('}') {
                r = after;
                break;
            }
            let eq = r
                .find('=')
                .with_context(|| format!("label without '=': {line:?}"))?;
            let key = &r[..eq];
            ensure!(
                valid_name(key) && !key.contains(':'),
                "bad label name {key:?}: {line:?}"
            );
            let mut chars = r[eq + 1..].char_indices();
            ensure!(
                chars.next().map(|(_, c)| c) == Some('"'),
                "unquoted label value: {line:?}"
            );
            let mut value = String::new();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => bail!("bad escape \\{other:?} in {line:?}"),
                    },
                    '"' => {
                        end = Some(eq + 1 + i + 1);
                        break;
                    }
                    '\n' => bail!("raw newline in a label value: {line:?}"),
                    c => value.push(c),
                }
            }
            let end = end.with_context(|| format!("unterminated label value: {line:?}"))?;
            ensure!(
                labels.insert(key.to_string(), value).is_none(),
                "label {key} twice: {line:?}"
            );
            r = &r[end..];
            if let Some(after) = r.strip_prefix(',') {
                r = after;
            } else {
                ensure!(r.starts_with('}'), "expected ',' or '}}': {line:?}");
            }
        }
        rest = r;
    }
    let value = rest
        .strip_prefix(' ')
        .with_context(|| format!("no space before the value: {line:?}"))?;
    ensure!(
        !value.contains(' '),
        "timestamp or junk after the value: {line:?}"
    );
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .with_context(|| format!("bad value {v:?}: {line:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The family a sample name belongs to, given the declared families.
fn family_of<'a>(name: &'a str, families: &HashMap<String, Family>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if families.get(base).is_some_and(|f| f.kind == "histogram") {
                return Some(base);
            }
        }
    }
    None
}

/// Parses strictly and checks the conventions of `prefix` (`tusk_namenode`).
fn parse(text: &str, prefix: &str) -> Result<Page> {
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    let mut series = HashSet::new();
    // Families whose lines are over (another family's lines came after).
    let mut closed: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut enter = |fam: &str, closed: &mut HashSet<String>| -> Result<()> {
        if current.as_deref() != Some(fam) {
            ensure!(!closed.contains(fam), "family {fam} is split in two");
            if let Some(prev) = current.replace(fam.to_string()) {
                closed.insert(prev);
            }
        }
        Ok(())
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .with_context(|| format!("HELP without text: {line:?}"))?;
            ensure!(!help.trim().is_empty(), "empty HELP for {name}");
            ensure!(helps.insert(name.to_string()), "two HELP lines for {name}");
            enter(name, &mut closed)?;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .with_context(|| format!("TYPE without a type: {line:?}"))?;
            ensure!(valid_name(name), "bad family name {name:?}");
            ensure!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {kind:?} of {name}"
            );
            ensure!(
                families
                    .insert(
                        name.to_string(),
                        Family {
                            kind: kind.to_string()
                        }
                    )
                    .is_none(),
                "two TYPE lines for {name}"
            );
            enter(name, &mut closed)?;
            continue;
        }
        ensure!(!line.starts_with('#'), "stray comment {line:?}");
        let s = parse_sample(line)?;
        let fam = family_of(&s.name, &families)
            .with_context(|| format!("sample {} before (or without) its TYPE", s.name))?
            .to_string();
        enter(&fam, &mut closed)?;
        let key = format!("{}{:?}", s.name, s.labels);
        ensure!(series.insert(key), "duplicate series: {line:?}");
        ensure!(!s.value.is_nan(), "NaN: {line:?}");
        if families[&fam].kind == "counter" {
            ensure!(s.value >= 0.0, "negative counter: {line:?}");
        }
        samples.push(s);
    }
    for (name, f) in &families {
        ensure!(helps.contains(name), "family {name} has no HELP");
        ensure!(
            name.starts_with(&format!("{prefix}_")),
            "{name} lacks the {prefix}_ prefix"
        );
        ensure!(
            (f.kind == "counter") == name.ends_with("_total"),
            "{name} is a {}: counters and only counters end in _total",
            f.kind
        );
        if f.kind == "histogram" {
            ensure!(
                name.ends_with("_seconds"),
                "histogram {name} not in seconds"
            );
        }
    }
    for name in &helps {
        ensure!(families.contains_key(name), "HELP without TYPE: {name}");
    }
    let page = Page { families, samples };
    page.check_histograms()?;
    Ok(page)
}

impl Page {
    /// Buckets cumulative, sorted by `le`, ending with `+Inf` = `_count`;
    /// `_sum` present.
    fn check_histograms(&self) -> Result<()> {
        for (name, f) in &self.families {
            if f.kind != "histogram" {
                continue;
            }
            let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            let bucket = format!("{name}_bucket");
            for s in self.samples.iter().filter(|s| s.name == bucket) {
                let le = s
                    .labels
                    .get("le")
                    .with_context(|| format!("{bucket} without le"))?;
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().with_context(|| format!("bad le {le:?}"))?
                };
                let rest: Labels = s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                groups.entry(rest).or_default().push((le, s.value));
            }
            for (labels, buckets) in groups {
                let lmap: BTreeMap<String, String> = labels.iter().cloned().collect();
                ensure!(
                    buckets.windows(2).all(|w| w[0].0 < w[1].0),
                    "{name}{labels:?}: le not increasing"
                );
                ensure!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{name}{labels:?}: buckets not cumulative: {buckets:?}"
                );
                let (last_le, last) = *buckets.last().expect("a bucket");
                ensure!(last_le.is_infinite(), "{name}{labels:?}: no le=\"+Inf\"");
                let count = self
                    .find(&format!("{name}_count"), &lmap)
                    .with_context(|| format!("{name}{labels:?}: no _count"))?;
                ensure!(
                    count == last,
                    "{name}{labels:?}: +Inf {last} != _count {count}"
                );
                ensure!(
                    self.find(&format!("{name}_sum"), &lmap).is_some(),
                    "{name}{labels:?}: no _sum"
                );
            }
        }
        Ok(())
    }

    /// The value of the series with exactly these labels.
    fn find(&self, name: &str, labels: &BTreeMap<String, String>) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && &s.labels == labels)
            .map(|s| s.value)
    }

    /// The value of a series given as `name` plus label pairs.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let l = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.find(name, &l)
    }

    /// The sum of every series of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn has_family(&self, name: &str) -> bool {
        self.families.contains_key(name)
    }

    /// Calls of `service`/`method` answered with `code` (None: any code).
    fn rpcs(&self, prefix: &str, service: &str, method: &str, code: Option<&str>) -> f64 {
        let name = format!("{prefix}_rpc_requests_total");
        match code {
            Some(c) => self.sum(
                &name,
                &[("service", service), ("method", method), ("code", c)],
            ),
            None => self.sum(&name, &[("service", service), ("method", method)]),
        }
    }
}

#[test]
fn the_parser_refuses_what_it_should() {
    let ok = "# HELP tusk_x_total X.\n# TYPE tusk_x_total counter\ntusk_x_total{a=\"q\\\"\"} 1\n";
    assert!(parse(ok, "tusk_x").is_ok());
    let bad = [
        ("tusk_x_total 1\n", "no TYPE"),
        ("# TYPE tusk_x_total counter\ntusk_x_total 1\n", "no HELP"),
        (
            "# HELP tusk_x_total X.\n# TYPE tusk_x_total counter\ntusk_x_total 1\ntusk_x_total 2\n",
            "duplicate",
        ),
        (
            "# HELP tusk_x X.\n# TYPE tusk_x counter\ntusk_x 1\n",
            "counter without _total",
        ),
        (
            "# HELP tusk_x_seconds X.\n# TYPE tusk_x_seconds histogram\n\
             tusk_x_seconds_bucket{le=\"1\"} 2\ntusk_x_seconds_bucket{le=\"+Inf\"} 1\n\
             tusk_x_seconds_sum 1\ntusk_x_seconds_count 1\n",
            "not cumulative",
        ),
        (
            "# HELP tusk_x_seconds X.\n# TYPE tusk_x_seconds histogram\n\
             tusk_x_seconds_bucket{le=\"1\"} 1\ntusk_x_seconds_bucket{le=\"+Inf\"} 2\n\
             tusk_x_seconds_sum 1\ntusk_x_seconds_count 3\n",
            "+Inf != count",
        ),
        (
            "# HELP tusk_a X.\n# TYPE tusk_a gauge\ntusk_a{k=\"1\"} 1\n\
             # HELP tusk_b X.\n# TYPE tusk_b gauge\ntusk_b 1\ntusk_a{k=\"2\"} 1\n",
            "split family",
        ),
        (
            "# HELP tusk_a X.\n# TYPE tusk_a gauge\ntusk_a{k=\"1} 1\n",
            "unterminated label",
        ),
        (
            "# HELP other_a X.\n# TYPE other_a gauge\nother_a 1\n",
            "prefix",
        ),
    ];
    for (text, why) in bad {
        assert!(parse(text, "tusk").is_err(), "accepted ({why}): {text}");
    }
}

// -------------------------------------------------------------------- HTTP

/// `GET path` at `addr`: the status line and headers (one string), the body.
async fn get(addr: &str, path: &str) -> Result<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("no HTTP header from {addr}"))?;
    ensure!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{addr}{path}: {head}"
    );
    Ok((head.to_ascii_lowercase(), body.to_string()))
}

/// `GET /metrics` at `addr`: checks the content type, returns the body.
async fn scrape(addr: &str) -> Result<String> {
    let (head, body) = get(addr, "/metrics").await?;
    ensure!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{addr}/metrics content type: {head}"
    );
    Ok(body)
}

async fn page(addr: &str, prefix: &str) -> Result<Page> {
    let text = scrape(addr).await?;
    parse(&text, prefix).with_context(|| format!("{addr}/metrics:\n{text}"))
}

// ----------------------------------------------------- namenode + datanodes

const FILES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namenode_and_datanode_metrics_count_the_work_done() -> Result<()> {
    let cluster = MiniCluster::start().await?; // 3 datanodes, replication 3
                                               // Reads over the network (short-circuit off), so the datanodes count them.
    let c = tusk_client::DfsClient::connect(
        tusk_client::ClientConfig::default()
            .with_namenode(cluster.nn_addr().to_string())
            .with_user(tusk_common::sys::login_user())
            .with_read_shortcircuit(false),
    )
    .await?;
    let mut written = 0u64;
    for i in 0..FILES {
        let data: Vec<u8> = (0..300_000 + i * 1000).map(|j| (j * 7 + i) as u8).collect();
        put(&c, &format!("/m/f{i}"), &data).await?;
        written += data.len() as u64;
    }
    let mut read = 0u64;
    for i in 0..FILES {
        read += c.read_file(&format!("/m/f{i}")).await?.len() as u64;
    }
    assert_eq!(read, written);
    // A call that fails: mkdir under a file.
    assert!(c.mkdirs("/m/f0/sub", 0o755, true).await.is_err());

    let nn_http = cluster.nn_http_addr().to_string();
    let dn_http: Vec<String> = (0..cluster.num_datanodes())
        .map(|i| cluster.datanode(i).expect("running").http_addr.to_string())
        .collect();
    // Heartbeats pass: each datanode has had two answered since it began.
    wait_for("two heartbeats from every datanode", WAIT, || {
        let dn_http = dn_http.clone();
        async move {
            for a in &dn_http {
                match page(a, "tusk_datanode").await {
                    Ok(p) if p.get("tusk_datanode_heartbeats_total", &[]) >= Some(2.0) => {}
                    _ => return false,
                }
            }
            true
        }
    })
    .await?;

    // --- namenode
    let nn = page(&nn_http, "tusk_namenode").await?;
    let p = "tusk_namenode";
    let cp = "tusk.ClientProtocol";
    let files = FILES as f64;
    for m in ["Create", "AddBlock", "Complete", "GetBlockLocations"] {
        let n = nn.rpcs(p, cp, m, Some("OK"));
        assert!(n >= files, "{m}: {n} OK calls for {FILES} files");
        let hist = nn
            .get(
                "tusk_namenode_rpc_duration_seconds_count",
                &[("service", cp), ("method", m)],
            )
            .unwrap_or(0.0);
        assert!(hist >= n, "{m}: histogram count {hist} < {n}");
        assert_eq!(
            nn.get(
                "tusk_namenode_rpc_in_flight",
                &[("service", cp), ("method", m)]
            ),
            Some(0.0)
        );
    }
    let mkdirs_failed = nn.rpcs(p, cp, "Mkdirs", None) - nn.rpcs(p, cp, "Mkdirs", Some("OK"));
    assert!(mkdirs_failed >= 1.0, "the failed mkdirs is not counted");
    // The older per-method family still answers (scripts and tests use it).
    assert!(nn.get("tusk_namenode_rpc_total", &[("method", "create")]) >= Some(files));
    assert!(nn.get("tusk_namenode_rpc_total", &[("method", "mkdirs")]) >= Some(1.0));
    // Datanode traffic.
    let dp = "tusk.DatanodeProtocol";
    let heartbeats = nn.get("tusk_namenode_heartbeats_total", &[]).unwrap_or(0.0);
    assert!(heartbeats >= 6.0, "{heartbeats} heartbeats");
    assert!(nn.rpcs(p, dp, "Heartbeat", None) >= 6.0);
    assert!(nn.get("tusk_namenode_block_reports_total", &[]) >= Some(3.0));
    assert!(nn.get("tusk_namenode_incremental_block_reports_total", &[]) >= Some(1.0));
    assert!(nn.rpcs(p, dp, "Register", Some("OK")) >= 3.0);
    // Namespace and blocks.
    assert_eq!(nn.get("tusk_namenode_files", &[]), Some(files));
    assert!(nn.get("tusk_namenode_directories", &[]) >= Some(2.0)); // / and /m
    assert_eq!(nn.get("tusk_namenode_blocks", &[]), Some(files));
    assert_eq!(nn.get("tusk_namenode_live_datanodes", &[]), Some(3.0));
    assert_eq!(nn.get("tusk_namenode_dead_datanodes", &[]), Some(0.0));
    assert_eq!(
        nn.get("tusk_namenode_decommissioning_datanodes", &[]),
        Some(0.0)
    );
    assert_eq!(nn.get("tusk_namenode_safe_mode", &[]), Some(0.0));
    assert_eq!(nn.get("tusk_namenode_missing_blocks", &[]), Some(0.0));
    assert!(nn.get("tusk_namenode_capacity_bytes", &[]) > Some(0.0));
    assert!(nn.get("tusk_namenode_mutations_total", &[]) >= Some(2.0 * files));
    for f in [
        "tusk_namenode_under_replicated_blocks",
        "tusk_namenode_corrupt_blocks",
        "tusk_namenode_pending_replication_blocks",
        "tusk_namenode_used_bytes",
        "tusk_namenode_remaining_bytes",
        "tusk_namenode_flushes_total",
        "tusk_namenode_rpc_duration_seconds",
    ] {
        assert!(nn.has_family(f), "{f} missing");
    }

    // The JSON form: same figures.
    let (head, json) = get(&nn_http, "/metrics?format=json").await?;
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(
        json.starts_with("{\"metrics\":[{\"name\":\"tusk_namenode_"),
        "{json}"
    );
    let files_json = format!(
        "{{\"name\":\"tusk_namenode_files\",\"type\":\"gauge\",\"help\":\"Files in the namespace.\",\
         \"samples\":[{{\"name\":\"tusk_namenode_files\",\"labels\":{{}},\"value\":{FILES}}}]}}"
    );
    assert!(json.contains(&files_json), "{files_json} not in {json}");
    assert!(
        json.contains("{\"name\":\"tusk_namenode_rpc_requests_total\",\"labels\":{\"service\":\"tusk.ClientProtocol\",\"method\":\"Create\",\"code\":\"OK\"},\"value\":"),
        "{json}"
    );

    // --- datanodes
    let mut sum: BTreeMap<&str, f64> = BTreeMap::new();
    for a in &dn_http {
        let dn = page(a, "tusk_datanode").await?;
        for name in [
            "tusk_datanode_bytes_written_total",
            "tusk_datanode_bytes_read_total",
            "tusk_datanode_blocks_written_total",
            "tusk_datanode_blocks_read_total",
        ] {
            *sum.entry(name).or_default() += dn.get(name, &[]).unwrap_or(0.0);
        }
        let dt = "tusk.DataTransfer";
        *sum.entry("write_block_rpcs").or_default() +=
            dn.rpcs("tusk_datanode", dt, "WriteBlock", Some("OK"));
        *sum.entry("read_block_rpcs").or_default() +=
            dn.rpcs("tusk_datanode", dt, "ReadBlock", Some("OK"));
        assert!(dn.get("tusk_datanode_heartbeats_total", &[]) >= Some(2.0));
        assert!(dn.get("tusk_datanode_block_reports_total", &[]) >= Some(1.0));
        assert_eq!(
            dn.get("tusk_datanode_checksum_errors_total", &[]),
            Some(0.0)
        );
        assert_eq!(dn.get("tusk_datanode_replicas", &[]), Some(files));
        assert_eq!(dn.get("tusk_datanode_xceivers", &[]), Some(0.0));
        let vols = dn
            .samples
            .iter()
            .filter(|s| s.name == "tusk_datanode_volume_capacity_bytes")
            .count();
        assert_eq!(vols, 2, "two data dirs");
        assert_eq!(dn.sum("tusk_datanode_volume_failed", &[]), 0.0);
        assert!(dn.sum("tusk_datanode_volume_used_bytes", &[]) >= 0.0);
    }
    let replicas = (FILES * 3) as f64;
    let w = written as f64;
    assert!(
        sum["tusk_datanode_bytes_written_total"] >= w * 3.0,
        "{sum:?}"
    );
    assert!(sum["tusk_datanode_bytes_read_total"] >= w, "{sum:?}");
    assert!(
        sum["tusk_datanode_blocks_written_total"] >= replicas,
        "{sum:?}"
    );
    assert!(sum["tusk_datanode_blocks_read_total"] >= files, "{sum:?}");
    assert!(sum["write_block_rpcs"] >= replicas, "{sum:?}");
    assert!(sum["read_block_rpcs"] >= files, "{sum:?}");
    drop(c);
    cluster.shutdown().await
}

// ------------------------------------------------------- YARN + MapReduce

const CONFIG: &str = r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "5s"
"#;

/// `host:port` from a daemon's `*.addr` file under the cluster's home.
fn addr_file(c: &LocalCluster, rel: &str) -> Result<String> {
    let p = c.home.path().join(rel);
    Ok(std::fs::read_to_string(&p)
        .with_context(|| format!("{}", p.display()))?
        .trim()
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_daemon_of_a_real_cluster_after_two_jobs() -> Result<()> {
    let c = LocalCluster::start(2, Some(CONFIG))?;
    let client = c.client().await?;
    let mut text = String::new();
    for i in 0..60_000 {
        text.push_str(&format!("w{} w{} common\n", i % 97, i % 13));
    }
    put(&client, "/in/words.txt", text.as_bytes()).await?;
    c.tool_ok(
        "mapred",
        &["wordcount", "-D", "mapreduce.job.reduces=2", "/in", "/out"],
    )?;
    // A job that ships a file: its containers localize it from DFS.
    let script = c.home.path().join("upper.sh");
    let script_body = "#!/bin/sh\nexec tr a-z A-Z\n";
    std::fs::write(&script, script_body)?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    c.tool_ok(
        "mapred",
        &[
            "streaming",
            "-D",
            "mapreduce.job.reduces=1",
            "-file",
            &script.to_string_lossy(),
            "-input",
            "/in",
            "-output",
            "/out-upper",
            "-mapper",
            "./upper.sh",
            "-reducer",
            "cat",
        ],
    )?;

    // The job has ended; its containers finish on the node managers and
    // are reported at the next heartbeats.
    let rm_http = format!("127.0.0.1:{}", c.base_port + 3);
    let nm_http: Vec<String> = (1..=2)
        .map(|i| addr_file(&c, &format!("nodemanager-{i}/nodemanager-http.addr")))
        .collect::<Result<_>>()?;
    let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let waited = wait_for("no container running", WAIT, || {
        let (rm_http, nm_http, last) = (rm_http.clone(), nm_http.clone(), last.clone());
        async move {
            let mut running = 0.0;
            for (a, prefix) in std::iter::once((&rm_http, "tusk_resourcemanager"))
                .chain(nm_http.iter().map(|a| (a, "tusk_nodemanager")))
            {
                match page(a, prefix).await {
                    Ok(p) => {
                        running += p
                            .get(&format!("{prefix}_containers_running"), &[])
                            .unwrap_or(1.0)
                    }
                    Err(e) => {
                        *last.lock().unwrap() = format!("{e:#}");
                        return false;
                    }
                }
            }
            *last.lock().unwrap() = format!("{running} containers running");
            running == 0.0
        }
    })
    .await;
    if let Err(e) = waited {
        bail!("{e}: {}", last.lock().unwrap());
    }

    // --- resource manager
    let rm = page(&rm_http, "tusk_resourcemanager").await?;
    let p = "tusk_resourcemanager";
    assert!(rm.get("tusk_resourcemanager_apps_submitted_total", &[]) >= Some(2.0));
    assert_eq!(rm.get("tusk_resourcemanager_active_nodes", &[]), Some(2.0));
    let allocated = rm
        .get("tusk_resourcemanager_containers_allocated_total", &[])
        .unwrap_or(0.0);
    // Per job an AM, at least one map; two reduces, then one.
    assert!(allocated >= 7.0, "{allocated} containers allocated");
    let released = rm
        .get("tusk_resourcemanager_containers_released_total", &[])
        .unwrap_or(-1.0);
    let completed = rm
        .get("tusk_resourcemanager_containers_completed_total", &[])
        .unwrap_or(-1.0);
    let running = rm
        .get("tusk_resourcemanager_containers_running", &[])
        .unwrap_or(-1.0);
    assert_eq!(
        allocated,
        released + completed + running,
        "allocated = released + completed + running"
    );
    assert_eq!(running, 0.0);
    assert!(completed >= 5.0, "{completed} containers completed");
    assert!(
        rm.rpcs(
            p,
            "tusk.yarn.ApplicationClient",
            "SubmitApplication",
            Some("OK")
        ) >= 1.0
    );
    assert!(
        rm.rpcs(
            p,
            "tusk.yarn.ApplicationMaster",
            "RegisterApplicationMaster",
            Some("OK")
        ) >= 1.0
    );
    assert!(rm.rpcs(p, "tusk.yarn.ApplicationMaster", "Allocate", Some("OK")) >= 1.0);
    assert!(rm.rpcs(p, "tusk.yarn.ResourceTracker", "NodeHeartbeat", Some("OK")) >= 2.0);

    let (head, json) = get(&rm_http, "/metrics?format=json").await?;
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(
        json.contains("\"samples\":[{\"name\":\"tusk_resourcemanager_active_nodes\",\"labels\":{},\"value\":2}]"),
        "{json}"
    );

    // --- node managers
    let mut launched = 0.0;
    let mut completed_nm = 0.0;
    let mut shuffle_bytes = 0.0;
    let mut shuffle_requests = 0.0;
    let mut fetch_rpcs = 0.0;
    let mut start_rpcs = 0.0;
    let mut localized_files = 0.0;
    let mut localized_bytes = 0.0;
    for a in &nm_http {
        let nm = page(a, "tusk_nodemanager").await?;
        let g = |n: &str| nm.get(n, &[]).unwrap_or(0.0);
        launched += g("tusk_nodemanager_containers_launched_total");
        completed_nm += g("tusk_nodemanager_containers_completed_total");
        shuffle_bytes += g("tusk_nodemanager_shuffle_bytes_total");
        localized_files += g("tusk_nodemanager_localized_files_total");
        localized_bytes += g("tusk_nodemanager_localized_bytes_total");
        shuffle_requests += g("tusk_nodemanager_shuffle_requests_total");
        fetch_rpcs += nm.rpcs(
            "tusk_nodemanager",
            "tusk.yarn.Shuffle",
            "FetchMapOutput",
            None,
        );
        start_rpcs += nm.rpcs(
            "tusk_nodemanager",
            "tusk.yarn.ContainerManager",
            "StartContainer",
            Some("OK"),
        );
        assert_eq!(g("tusk_nodemanager_registered"), 1.0);
        for f in [
            "tusk_nodemanager_containers_running",
            "tusk_nodemanager_containers_failed_total",
            "tusk_nodemanager_containers_killed_total",
            "tusk_nodemanager_localized_bytes_total",
        ] {
            assert!(nm.has_family(f), "{f} missing");
        }
    }
    // Two jobs: at least an AM, a map and a reduce each, two reduces for
    // the wordcount.
    assert!(launched >= 7.0, "{launched} containers launched");
    // The script, once per node manager that ran a task of the streaming job.
    assert!(localized_files >= 1.0, "{localized_files} files localized");
    assert!(
        localized_bytes >= script_body.len() as f64 * localized_files,
        "{localized_bytes} bytes localized in {localized_files} files"
    );
    assert!(start_rpcs >= launched, "{start_rpcs} StartContainer calls");
    assert!(completed_nm >= 5.0, "{completed_nm} containers completed");
    assert!(
        shuffle_bytes > 0.0,
        "no shuffle bytes after a job with reducers"
    );
    // Two reduces, each fetching every map's partition.
    assert!(
        shuffle_requests >= 2.0,
        "{shuffle_requests} shuffle requests"
    );
    assert!(
        fetch_rpcs >= shuffle_requests,
        "{fetch_rpcs} FetchMapOutput calls"
    );

    // --- namenode and datanodes of the same cluster: the format holds
    // there too, and the job's files were written through them.
    let nn = page(&format!("127.0.0.1:{}", c.base_port + 1), "tusk_namenode").await?;
    assert!(nn.rpcs("tusk_namenode", "tusk.ClientProtocol", "Create", Some("OK")) >= 3.0);
    let mut dn_written = 0.0;
    for i in 1..=2 {
        let a = addr_file(&c, &format!("datanode-{i}/datanode-http.addr"))?;
        let dn = page(&a, "tusk_datanode").await?;
        dn_written += dn
            .get("tusk_datanode_bytes_written_total", &[])
            .unwrap_or(0.0);
    }
    assert!(
        dn_written >= 2.0 * text.len() as f64,
        "{dn_written} bytes written for {} input bytes at replication 2",
        text.len()
    );
    Ok(())
}
