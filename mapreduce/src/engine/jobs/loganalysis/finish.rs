//! The client's finishing step after the `loganalysis` job: small work on
//! the job's already aggregated output, never on the logs.
//!
//! 1. The sections the reducers wrote (`OUT/<section>/part-r-NNNNN`, lines
//!    `key\tfigures…`) are read and merged: the reducers' top-N lists into
//!    one exact top N (by the first figure, descending, then by key),
//!    everything else sorted by key.
//! 2. A summary for the terminal, and the HTML report when asked for.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use tusk_client::DfsClient;

use super::{LogAnalysis, TOP};
use crate::engine::api::Job;
use crate::engine::error::{EngineError, Result};
use crate::engine::jobs::JobRegistry;
use crate::engine::main::parse_job_args;

/// Sections written as each reducer's top N (first figure = the rank).
pub const TOP_SECTIONS: [&str; 7] = [
    "top_urls",
    "top_urls_by_bytes",
    "top_clients",
    "top_error_clients",
    "top_agents",
    "top_referrers",
    "top_templates",
];

/// What `mapred loganalysis` needs besides the job: the output, N and
/// where the report goes.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// The arguments for the job itself.
    pub job_args: Vec<String>,
    pub output: String,
    pub top: usize,
    pub report: Option<PathBuf>,
}

impl ClientArgs {
    /// Checks the arguments as the job will (so a typo fails before
    /// submission) and picks out the client's part.
    pub fn parse(argv: &[String]) -> Result<ClientArgs> {
        let mut full = vec![LogAnalysis.name().to_string()];
        full.extend_from_slice(argv);
        let mut registry = JobRegistry::new();
        registry.register(std::sync::Arc::new(LogAnalysis));
        let parsed = parse_job_args(&registry, &full)?;
        let (mut conf, args) = (parsed.conf, parsed.args);
        let paths = LogAnalysis.configure(&args, &mut conf)?;
        let report = args
            .windows(2)
            .find(|w| w[0] == "--report")
            .map(|w| PathBuf::from(&w[1]));
        if let Some(r) = &report {
            let dir = match r.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                return Err(EngineError::Config(format!(
                    "{}: No such directory for the report",
                    dir.display()
                )));
            }
        }
        Ok(ClientArgs {
            job_args: argv.to_vec(),
            output: paths.output,
            top: conf.get_u64(TOP, 10)? as usize,
            report,
        })
    }
}

/// The merged results: section → rows of fields (key first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Results {
    pub sections: BTreeMap<String, Vec<Vec<String>>>,
}

impl Results {
    pub fn rows(&self, section: &str) -> &[Vec<String>] {
        self.sections.get(section).map(|v| &v[..]).unwrap_or(&[])
    }

    /// A `totals` figure (0 when absent).
    pub fn total(&self, name: &str) -> u64 {
        self.rows("totals")
            .iter()
            .find(|r| r[0] == name)
            .and_then(|r| r.get(1)?.parse().ok())
            .unwrap_or(0)
    }
}

/// Reads the section directories back and merges them.
pub async fn load(dfs: &DfsClient, out: &str, top: usize) -> Result<Results> {
    let dirs = dfs
        .list(out)
        .await?
        .into_iter()
        .filter(|d| d.is_dir() && !d.name.starts_with(['_', '.']));
    // The sections are small and independent: read them all at once.
    let loaded = futures::future::try_join_all(dirs.map(|dir| async move {
        let mut rows = Vec::new();
        let mut files = dfs.list(&dir.path).await?;
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for f in files.iter().filter(|f| f.name.starts_with("part-")) {
            let data = dfs.read_file(&f.path).await?;
            for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                rows.push(
                    String::from_utf8_lossy(line)
                        .split('\t')
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                );
            }
        }
        Ok::<_, EngineError>((dir.name, rows))
    }))
    .await?;
    let mut r = Results::default();
    for (name, mut rows) in loaded {
        if TOP_SECTIONS.contains(&name.as_str()) {
            let score = |r: &Vec<String>| r.get(1).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            rows.sort_by(|a, b| {
                score(b)
                    .cmp(&score(a))
                    .then_with(|| a[0].as_bytes().cmp(b[0].as_bytes()))
            });
            rows.truncate(top);
        } else {
            rows.sort_by(|a, b| a.join("\t").as_bytes().cmp(b.join("\t").as_bytes()));
            if name == "unparsed_examples" {
                rows.truncate(super::EXAMPLES);
            }
        }
        r.sections.insert(name, rows);
    }
    Ok(r)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn pct(a: u64, b: u64) -> String {
    if b == 0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", a as f64 * 100.0 / b as f64)
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The text `mapred loganalysis` prints.
pub fn summary(r: &Results, out: &str, report: Option<&PathBuf>) -> String {
    let mut s = String::new();
    let req = r.total("requests");
    let _ = writeln!(
        s,
        "\nLog analysis: {} lines — {} requests ({}), {} syslog messages, {} unparsed",
        r.total("lines"),
        req,
        human_bytes(r.total("bytes")),
        r.total("syslog"),
        r.total("unparsed")
    );
    let formats: Vec<String> = r
        .rows("totals")
        .iter()
        .filter_map(|row| {
            Some(format!(
                "{} {}",
                row[0].strip_prefix("format_")?,
                row.get(1)?
            ))
        })
        .collect();
    if !formats.is_empty() {
        let _ = writeln!(s, "Formats: {}", formats.join(", "));
    }
    if req > 0 {
        let (e4, e5) = (r.total("4xx"), r.total("5xx"));
        let _ = writeln!(
            s,
            "Errors: 4xx {e4} ({}), 5xx {e5} ({})",
            pct(e4, req),
            pct(e5, req)
        );
        let statuses: Vec<String> = r
            .rows("status")
            .iter()
            .map(|row| format!("{} {}", row[0], row[1]))
            .collect();
        let _ = writeln!(s, "Status: {}", statuses.join(", "));
        if let Some(peak) = r
            .rows("time")
            .iter()
            .max_by_key(|row| row[1].parse::<u64>().unwrap_or(0))
        {
            let _ = writeln!(
                s,
                "Busiest bucket: {} with {} requests ({} buckets)",
                peak[0],
                peak[1],
                r.rows("time").len()
            );
        }
        for (section, title) in [
            ("top_urls", "Top URLs by requests"),
            ("top_clients", "Top clients"),
            ("top_error_clients", "Clients with the most 4xx/5xx"),
        ] {
            let rows = r.rows(section);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n{title}:");
            for row in rows.iter().take(10) {
                let _ = writeln!(s, "  {:>10}  {}", row[1], cut(&row[0], 100));
            }
        }
    }
    if r.total("syslog") > 0 {
        let _ = writeln!(s, "\nTop message templates:");
        for row in r.rows("top_templates").iter().take(10) {
            let _ = writeln!(s, "  {:>10}  {}", row[1], cut(&row[0], 100));
        }
    }
    let examples = r.rows("unparsed_examples");
    if !examples.is_empty() {
        let _ = writeln!(s, "\nUnparsed lines (examples):");
        for row in examples.iter().take(3) {
            let _ = writeln!(s, "  {}", cut(&row.join("\t"), 120));
        }
    }
    let _ = writeln!(
        s,
        "\nResults (TSV): {out}/{{{}}}/part-r-*",
        r.sections.keys().cloned().collect::<Vec<_>>().join(",")
    );
    if let Some(p) = report {
        let _ = writeln!(s, "Report: {}", p.display());
    }
    s
}

/// Splits, merges, writes the report; returns the summary text.
pub async fn finish(dfs: &DfsClient, args: &ClientArgs) -> Result<String> {
    let out = dfs.resolve(&args.output)?;
    let results = load(dfs, &out, args.top).await?;
    if let Some(path) = &args.report {
        let html = super::report::render(&results, &args.output);
        std::fs::write(path, html).map_err(|e| EngineError::io(path.display(), e))?;
    }
    Ok(summary(&results, &args.output, args.report.as_ref()))
}
