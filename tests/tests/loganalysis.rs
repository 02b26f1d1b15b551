//! `mapred loganalysis` on a real multi-process cluster
//! (`scripts/local-cluster.sh`), every figure checked against an
//! independent single-process reference (tests/data/loganalysis/reference.py,
//! Python, over the same local files): generated logs (plain and gzip, access
//! logs and syslog) and hand-written edge cases of each format
//! (tests/data/loganalysis/edge, custom). The HTML report is rendered by
//! headless Chromium and its tables compared with the TSV output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, ensure, Context, Result};
use tusk_client::{CreateOptions, DfsClient};
use tusk_tests::LocalCluster;

/// Small blocks so a few MB make several splits.
const CONFIG: &str = r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "10s"
"#;

/// Sections written as each reducer's top N.
const TOP_SECTIONS: [&str; 7] = [
    "top_urls",
    "top_urls_by_bytes",
    "top_clients",
    "top_error_clients",
    "top_agents",
    "top_referrers",
    "top_templates",
];

type Sections = BTreeMap<String, Vec<Vec<u8>>>;

fn data_dir() -> PathBuf {
    LocalCluster::repo().join("tests/data/loganalysis")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mapred(c: &LocalCluster, args: &[&str]) -> Output {
    c.tool("mapred", args)
}

fn mapred_ok(c: &LocalCluster, args: &[&str]) -> Result<Output> {
    c.tool_ok("mapred", args)
}

async fn put_file(client: &DfsClient, local: &Path, dfs: &str) -> Result<()> {
    let data = std::fs::read(local).with_context(|| local.display().to_string())?;
    let mut w = client
        .create(dfs, CreateOptions::default().with_create_parent(true))
        .await?;
    w.write_all(&data).await?;
    w.close().await?;
    Ok(())
}

/// The reference's sections for `files` with the job's options.
fn reference(opts: &[&str], files: &[PathBuf]) -> Result<Sections> {
    let out = Command::new("python3")
        .arg(data_dir().join("reference.py"))
        .args(opts)
        .args(files)
        .output()
        .context("python3 is needed (scripts/test.sh installs it)")?;
    ensure!(out.status.success(), "reference.py: {}", text(&out.stderr));
    let mut m = Sections::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let tab = line
            .iter()
            .position(|&b| b == b'\t')
            .context("no section")?;
        m.entry(text(&line[..tab]))
            .or_default()
            .push(line[tab + 1..].to_vec());
    }
    Ok(m)
}

fn score(row: &[u8]) -> u64 {
    row.split(|&b| b == b'\t')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok()?.parse().ok())
        .unwrap_or(0)
}

fn key(row: &[u8]) -> &[u8] {
    row.split(|&b| b == b'\t').next().unwrap_or(row)
}

/// The job's sections: `OUT/<section>/part-r-*`, merged here (not by the
/// code under test): top-N parts sorted by figure then key and cut to
/// `top`, the others sorted by line.
async fn job_sections(client: &DfsClient, out: &str, top: usize) -> Result<Sections> {
    let mut m = Sections::new();
    for dir in client.list(out).await? {
        if dir.is_file() {
            ensure!(
                dir.name == "_SUCCESS",
                "{out}: unexpected file {} beside the sections",
                dir.name
            );
            continue;
        }
        let mut rows = Vec::new();
        for f in client.list(&dir.path).await? {
            ensure!(f.name.starts_with("part-r-"), "{}: not a part", f.path);
            let data = client.read_file(&f.path).await?;
            rows.extend(
                data.split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        if TOP_SECTIONS.contains(&dir.name.as_str()) {
            rows.sort_by(|a, b| score(b).cmp(&score(a)).then_with(|| key(a).cmp(key(b))));
            rows.truncate(top);
        } else {
            rows.sort();
        }
        m.insert(dir.name, rows);
    }
    Ok(m)
}

/// Every section equal; distinct clients exact where the job says
/// `exact`, within 3% where it says `hll`; unparsed examples are lines the
/// reference could not parse either.
fn compare(job: &Sections, reference: &Sections, what: &str) -> Result<()> {
    let mut names: Vec<&String> = job.keys().chain(reference.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let j = job.get(name).map(|v| &v[..]).unwrap_or(&[]);
        let r = reference.get(name).map(|v| &v[..]).unwrap_or(&[]);
        match name.as_str() {
            "unparsed_candidates" => {}
            "unparsed_examples" => {
                let cands = reference.get("unparsed_candidates");
                ensure!(!j.is_empty() || cands.is_none(), "{what}: no examples");
                for e in j {
                    ensure!(
                        cands.is_some_and(|c| c.contains(e)),
                        "{what}: example {:?} is not an unparsed line",
                        text(e)
                    );
                }
            }
            "distinct_clients" => {
                ensure!(
                    j.len() == r.len(),
                    "{what}: distinct_clients rows {} vs {}",
                    j.len(),
                    r.len()
                );
                for (a, b) in j.iter().zip(r) {
                    let (fa, fb): (Vec<&[u8]>, Vec<&[u8]>) = (
                        a.split(|&x| x == b'\t').collect(),
                        b.split(|&x| x == b'\t').collect(),
                    );
                    ensure!(
                        fa.len() == 3 && fa[0] == fb[0] && fa[2] == fb[2],
                        "{what}: {} vs {}",
                        text(a),
                        text(b)
                    );
                    let (na, nb): (f64, f64) = (text(fa[1]).parse()?, text(fb[1]).parse()?);
                    if fa[2] == b"exact" {
                        ensure!(na == nb, "{what}: distinct {} vs {}", text(a), text(b));
                    } else {
                        ensure!(
                            (na / nb - 1.0).abs() < 0.03,
                            "{what}: estimate {} vs exact {}",
                            text(a),
                            text(b)
                        );
                    }
                }
            }
            _ => {
                if j != r {
                    let show = |v: &[Vec<u8>]| {
                        v.iter()
                            .take(40)
                            .map(|l| text(&l[..l.len().min(160)]))
                            .collect::<Vec<_>>()
                            .join("\n  ")
                    };
                    bail!(
                        "{what}: section {name} differs\njob:\n  {}\nreference:\n  {}",
                        show(j),
                        show(r)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Runs the job and checks it against the reference.
async fn check(
    c: &LocalCluster,
    client: &DfsClient,
    job_args: &[&str],
    ref_opts: &[&str],
    files: &[PathBuf],
    top: usize,
) -> Result<(Output, Sections)> {
    let out = mapred_ok(c, job_args)?;
    let output = job_args
        .iter()
        .rev()
        .find(|a| a.starts_with("/out"))
        .context("no /out path")?;
    let job = job_sections(client, output, top).await?;
    let r = reference(ref_opts, files)?;
    compare(&job, &r, &format!("{job_args:?}"))?;
    Ok((out, job))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// `<table id="sec-NAME">`'s rows as cell texts, from Chromium's DOM.
fn dom_table(dom: &str, name: &str) -> Option<Vec<Vec<String>>> {
    let start = dom.find(&format!("<table id=\"sec-{name}\">"))?;
    let end = start + dom[start..].find("</table>")?;
    let body = &dom[start..end];
    let body = &body[body.find("<tbody>")?..];
    let mut rows = Vec::new();
    for tr in body.split("<tr>").skip(1) {
        let mut cells = Vec::new();
        for td in tr.split("<td").skip(1) {
            let open = td.find('>')? + 1;
            let close = td.find("</td>")?;
            cells.push(unescape(&td[open..close]));
        }
        rows.push(cells);
    }
    Some(rows)
}

/// Renders the report in headless Chromium; its tables must equal the TSV
/// sections and its totals the `totals` section.
fn check_report(report: &Path, job: &Sections) -> Result<()> {
    let dom = tusk_tests::chromium_dom(&format!("file://{}", report.display()), None)?;
    ensure!(
        dom.contains("<svg id=\"chart-time\""),
        "no time chart in the rendered page"
    );
    ensure!(
        dom.contains("<svg id=\"chart-status\""),
        "no status chart in the rendered page"
    );
    ensure!(
        !dom.contains("http://") || !dom.contains("<script"),
        "the page loads scripts"
    );
    for (name, rows) in job {
        let page = dom_table(&dom, name).with_context(|| format!("no table {name} on the page"))?;
        let tsv: Vec<Vec<String>> = rows
            .iter()
            .map(|r| text(r).split('\t').map(str::to_string).collect())
            .collect();
        ensure!(
            page == tsv,
            "report table {name} differs from the TSV:\npage: {:?}\ntsv:  {:?}",
            &page[..page.len().min(5)],
            &tsv[..tsv.len().min(5)]
        );
    }
    for row in &job["totals"] {
        let t = text(row);
        let (k, v) = t.split_once('\t').context("totals row")?;
        if k.starts_with("format_") {
            continue;
        }
        ensure!(
            dom.contains(&format!("id=\"total-{k}\">{v}<")),
            "the page's total {k} is not {v}"
        );
    }
    Ok(())
}

fn gen_logs(c: &LocalCluster, args: &[&str], dest: &Path) -> Result<()> {
    let out = Command::new(LocalCluster::repo().join("scripts/gen-logs"))
        .args(args)
        .env("TUSK_BIN_DIR", &c.bin_dir)
        .output()?;
    ensure!(
        out.status.success(),
        "gen-logs {args:?}: {}",
        text(&out.stderr)
    );
    std::fs::write(dest, &out.stdout)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loganalysis_matches_reference() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();

    // Generated logs: ~3 MiB of access log (several splits), a gzip file
    // (one split) and syslog, in one directory.
    gen_logs(
        &c,
        &["--size", "3MiB", "--seed", "5"],
        &t.join("access.log"),
    )?;
    gen_logs(
        &c,
        &["--size", "1MiB", "--seed", "6", "--tz", "-0500"],
        &t.join("more.log"),
    )?;
    let gz = Command::new("gzip")
        .arg("-k")
        .arg(t.join("more.log"))
        .status()?;
    ensure!(gz.success(), "gzip failed");
    gen_logs(&c, &["--format", "syslog", "3000", "9"], &t.join("sys.log"))?;
    let gen_files = vec![
        t.join("access.log"),
        t.join("more.log.gz"),
        t.join("sys.log"),
    ];
    for f in &gen_files {
        let name = f.file_name().unwrap().to_string_lossy();
        put_file(&client, f, &format!("/logs/gen/{name}")).await?;
    }

    // Default options, with the report.
    let report = t.join("report.html");
    let report_s = report.to_string_lossy().into_owned();
    let (out, job) = check(
        &c,
        &client,
        &[
            "loganalysis",
            "/logs/gen",
            "/out/gen",
            "--report",
            &report_s,
        ],
        &[],
        &gen_files,
        10,
    )
    .await?;
    let stdout = text(&out.stdout);
    ensure!(
        stdout.contains("Log analysis:") && stdout.contains("Top URLs by requests"),
        "summary: {stdout}"
    );
    ensure!(
        stdout.contains(&format!("Report: {report_s}")),
        "summary: {stdout}"
    );
    ensure!(
        job.contains_key("syslog_hosts") && job.contains_key("top_urls"),
        "sections: {:?}",
        job.keys()
    );
    ensure!(
        job["time"].len() >= 24,
        "one day of hourly buckets: {}",
        job["time"].len()
    );
    check_report(&report, &job)?;

    // Strict combined format (the syslog lines become unparsed), one bucket
    // per day (thousands of clients: the HyperLogLog path), top 5, 3 reducers.
    let (_, job) = check(
        &c,
        &client,
        &[
            "-D",
            "mapreduce.job.reduces=3",
            "loganalysis",
            "/logs/gen",
            "/out/gen-1d",
            "--format",
            "combined",
            "--bucket",
            "1d",
            "--top",
            "5",
        ],
        &[
            "--format",
            "combined",
            "--bucket-secs",
            "86400",
            "--top",
            "5",
        ],
        &gen_files,
        5,
    )
    .await?;
    ensure!(
        job["distinct_clients"]
            .iter()
            .any(|r| r.ends_with(b"\thll")),
        "expected a HyperLogLog estimate: {:?}",
        job["distinct_clients"]
            .iter()
            .map(|r| text(r))
            .collect::<Vec<_>>()
    );

    // Hand-written edge cases of every format, auto-detected, 5-minute
    // buckets, top 3.
    let edge = data_dir().join("edge");
    let mut edge_files: Vec<PathBuf> = std::fs::read_dir(&edge)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    edge_files.sort();
    for f in &edge_files {
        let name = f.file_name().unwrap().to_string_lossy();
        put_file(&client, f, &format!("/logs/edge/{name}")).await?;
    }
    let (_, job) = check(
        &c,
        &client,
        &[
            "loganalysis",
            "/logs/edge",
            "/out/edge",
            "--bucket",
            "5m",
            "--top",
            "3",
            "--year",
            "2026",
        ],
        &["--bucket-secs", "300", "--top", "3", "--year", "2026"],
        &edge_files,
        3,
    )
    .await?;
    for k in [
        "format_combined",
        "format_common",
        "format_jsonl",
        "format_rfc3164",
        "format_rfc5424",
        "unparsed",
    ] {
        ensure!(
            job["totals"]
                .iter()
                .any(|r| r.starts_with(format!("{k}\t").as_bytes())),
            "edge cases should include {k}"
        );
    }

    // Each explicit format over the same files.
    for (fmt, year) in [("syslog", "2025"), ("common", "2026"), ("nginx", "2026")] {
        let out_dir = format!("/out/edge-{fmt}");
        check(
            &c,
            &client,
            &[
                "loganalysis",
                "/logs/edge",
                &out_dir,
                "--format",
                fmt,
                "--year",
                year,
            ],
            &["--format", fmt, "--year", year],
            &edge_files,
            10,
        )
        .await?;
    }

    // JSON lines with configured field names.
    let custom = data_dir().join("custom/events.jsonl");
    put_file(&client, &custom, "/logs/custom/events.jsonl").await?;
    let fields =
        "time=when,client=addr,method=verb,url=target,status=code,bytes=len,agent=ua,referrer=from";
    check(
        &c,
        &client,
        &[
            "loganalysis",
            "/logs/custom",
            "/out/custom",
            "--format",
            "jsonl",
            "--json-fields",
            fields,
        ],
        &["--format", "jsonl", "--json-fields", fields],
        &[custom],
        10,
    )
    .await?;

    // Bad arguments: one line, exit 1, nothing written.
    for (args, msg) in [
        (
            vec!["loganalysis", "/logs/gen", "/out/x", "--format", "bogus"],
            "--format bogus",
        ),
        (
            vec!["loganalysis", "/logs/gen", "/out/x", "--bucket", "7q"],
            "--bucket 7q",
        ),
        (
            vec![
                "loganalysis",
                "/logs/gen",
                "/out/x",
                "--report",
                "/no/such/dir/r.html",
            ],
            "/no/such/dir",
        ),
        (
            vec!["loganalysis", "/no/such/logs", "/out/x"],
            "/no/such/logs",
        ),
        (vec!["loganalysis", "/logs/gen", "/out/gen"], "/out/gen"),
    ] {
        let out = mapred(&c, &args);
        let err = text(&out.stderr);
        ensure!(
            out.status.code() == Some(1),
            "{args:?}: exit {:?}: {err}",
            out.status
        );
        ensure!(
            err.trim().lines().count() == 1 && err.contains(msg),
            "{args:?}: {err}"
        );
    }
    ensure!(
        !client.exists("/out/x").await?,
        "a rejected job wrote output"
    );
    Ok(())
}
