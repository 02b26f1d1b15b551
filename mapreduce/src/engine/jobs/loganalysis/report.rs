//! The HTML report: one self-contained page (inline CSS and SVG, no
//! script, nothing fetched). Every table is a section of the TSV output,
//! cell for cell (`<table id="sec-SECTION">`, one `<td>` per field), so a
//! test can compare the page with the part files.

use std::fmt::Write as _;

use super::finish::Results;

use tusk_common::escape::html as esc;

/// Column headings of each section (key first).
fn headings(section: &str) -> &'static [&'static str] {
    match section {
        "time" => &[
            "bucket (UTC)",
            "requests",
            "bytes",
            "4xx",
            "5xx",
            "error rate",
        ],
        "distinct_clients" => &["bucket (UTC)", "distinct clients", "method"],
        "status" => &["status", "requests"],
        "methods" => &["method", "requests"],
        "top_urls" => &["URL", "requests", "bytes"],
        "top_urls_by_bytes" => &["URL", "bytes", "requests"],
        "top_clients" => &["client", "requests", "4xx", "5xx"],
        "top_error_clients" => &["client", "4xx + 5xx", "4xx", "5xx"],
        "top_agents" => &["user agent", "requests"],
        "top_referrers" => &["referrer", "requests"],
        "top_templates" => &["message template", "messages"],
        "syslog_hosts" => &["host", "messages"],
        "syslog_programs" => &["bucket (UTC)", "program", "messages"],
        "syslog_severity" => &["bucket (UTC)", "severity", "messages"],
        "totals" => &["figure", "value"],
        "unparsed_examples" => &["line"],
        _ => &[],
    }
}

fn title(section: &str) -> &str {
    match section {
        "time" => "Requests per time bucket",
        "distinct_clients" => "Distinct clients per bucket",
        "status" => "Status codes",
        "methods" => "Methods",
        "top_urls" => "Top URLs by requests",
        "top_urls_by_bytes" => "Top URLs by bytes",
        "top_clients" => "Top clients",
        "top_error_clients" => "Clients with the most 4xx/5xx",
        "top_agents" => "Top user agents",
        "top_referrers" => "Top referrers",
        "top_templates" => "Most frequent syslog message templates",
        "syslog_hosts" => "Syslog messages per host",
        "syslog_programs" => "Syslog messages per program and bucket",
        "syslog_severity" => "Syslog messages per severity and bucket",
        "totals" => "Totals",
        "unparsed_examples" => "Lines that could not be parsed (examples)",
        other => other,
    }
}

fn table(out: &mut String, r: &Results, section: &str) {
    let rows = r.rows(section);
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"sec-{}\">\n<thead><tr>",
        esc(title(section)),
        esc(section)
    );
    for h in headings(section) {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, f) in row.iter().enumerate() {
            let class = if i > 0 { " class=\"n\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(f));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn num(s: Option<&String>) -> f64 {
    s.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
}

/// Requests (bars) and errors (red bars in front) per bucket.
fn time_chart(out: &mut String, r: &Results) {
    let rows = r.rows("time");
    if rows.is_empty() {
        return;
    }
    let (w, h, left, bottom) = (960.0, 260.0, 60.0, 30.0);
    let max = rows.iter().map(|r| num(r.get(1))).fold(1.0, f64::max);
    let bw = (w - left - 10.0) / rows.len() as f64;
    let _ = writeln!(
        out,
        "<h2>Requests and errors over time</h2>\n<svg id=\"chart-time\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    let plot_h = h - bottom - 10.0;
    for i in 0..=4 {
        let y = 10.0 + plot_h * (1.0 - i as f64 / 4.0);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{:.0}</text>",
            w - 10.0,
            left - 4.0,
            y + 4.0,
            max * i as f64 / 4.0
        );
    }
    // A label every ~120 px.
    let step = ((120.0 / bw).ceil() as usize).max(1);
    for (i, row) in rows.iter().enumerate() {
        let req = num(row.get(1));
        let err = num(row.get(3)) + num(row.get(4));
        let x = left + i as f64 * bw;
        let rh = plot_h * req / max;
        let eh = plot_h * err / max;
        let _ = writeln!(
            out,
            "<g><title>{}: {} requests, {} errors (4xx {}, 5xx {})</title><rect class=\"req\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{rh:.2}\"/><rect class=\"err\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{eh:.2}\"/></g>",
            esc(&row[0]),
            req,
            err,
            num(row.get(3)),
            num(row.get(4)),
            10.0 + plot_h - rh,
            (bw - 1.0).max(0.5),
            10.0 + plot_h - eh,
            (bw - 1.0).max(0.5)
        );
        if i % step == 0 {
            let _ = writeln!(
                out,
                "<text x=\"{x:.1}\" y=\"{}\" class=\"axis\">{}</text>",
                h - 10.0,
                esc(&row[0])
            );
        }
    }
    out.push_str("</svg>\n<p class=\"legend\"><span class=\"sw req\"></span> requests <span class=\"sw err\"></span> 4xx + 5xx</p>\n");
}

/// Horizontal bars of the status distribution.
fn status_chart(out: &mut String, r: &Results) {
    let rows = r.rows("status");
    if rows.is_empty() {
        return;
    }
    let max = rows.iter().map(|r| num(r.get(1))).fold(1.0, f64::max);
    let h = 22.0 * rows.len() as f64 + 10.0;
    let _ = writeln!(
        out,
        "<h2>Status distribution</h2>\n<svg id=\"chart-status\" width=\"600\" height=\"{h}\" viewBox=\"0 0 600 {h}\" role=\"img\">"
    );
    for (i, row) in rows.iter().enumerate() {
        let y = 5.0 + 22.0 * i as f64;
        let n = num(row.get(1));
        let class = match row[0].as_bytes().first() {
            Some(b'5') => "s5",
            Some(b'4') => "s4",
            Some(b'3') => "s3",
            _ => "s2",
        };
        let _ = writeln!(
            out,
            "<g><title>{} {}</title><text x=\"40\" y=\"{:.0}\" class=\"axis\" text-anchor=\"end\">{}</text><rect class=\"{class}\" x=\"46\" y=\"{y:.0}\" width=\"{:.1}\" height=\"18\"/><text x=\"{:.1}\" y=\"{:.0}\" class=\"axis\">{}</text></g>",
            esc(&row[0]),
            esc(&row[1]),
            y + 14.0,
            esc(&row[0]),
            460.0 * n / max,
            50.0 + 460.0 * n / max,
            y + 14.0,
            esc(&row[1])
        );
    }
    out.push_str("</svg>\n");
}

/// The whole page.
pub fn render(r: &Results, output: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Tusk log analysis: {}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; margin: .4em 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }}
td {{ word-break: break-all; max-width: 640px; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; word-break: normal; }}
.cards {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: .5em 1em; }}
.card b {{ display: block; font-size: 1.4em; }}
svg .grid {{ stroke: #eee; }} svg .axis {{ font-size: 11px; fill: #555; }}
.req {{ fill: #4a79c4; }} .err {{ fill: #d9534f; }}
.s2 {{ fill: #5cb85c; }} .s3 {{ fill: #5bc0de; }} .s4 {{ fill: #f0ad4e; }} .s5 {{ fill: #d9534f; }}
.sw {{ display: inline-block; width: 12px; height: 12px; vertical-align: middle; }}
.sw.req {{ background: #4a79c4; }} .sw.err {{ background: #d9534f; }}
</style></head><body>
<h1>Log analysis of <code>{}</code></h1>
<div class="cards">
"#,
        esc(output),
        esc(output)
    );
    for (id, label) in [
        ("lines", "lines"),
        ("requests", "requests"),
        ("bytes", "bytes"),
        ("4xx", "4xx"),
        ("5xx", "5xx"),
        ("syslog", "syslog messages"),
        ("unparsed", "unparsed lines"),
    ] {
        let _ = writeln!(
            o,
            "<div class=\"card\"><b id=\"total-{id}\">{}</b>{label}</div>",
            r.total(id)
        );
    }
    o.push_str("</div>\n");
    time_chart(&mut o, r);
    status_chart(&mut o, r);
    for section in [
        "status",
        "methods",
        "top_urls",
        "top_urls_by_bytes",
        "top_clients",
        "top_error_clients",
        "top_agents",
        "top_referrers",
        "time",
        "distinct_clients",
        "syslog_hosts",
        "top_templates",
        "syslog_severity",
        "syslog_programs",
        "totals",
        "unparsed_examples",
    ] {
        table(&mut o, r, section);
    }
    o.push_str("<p>Generated by <code>mapred loganalysis</code>. Distinct clients are exact where the method column says <code>exact</code>, else a HyperLogLog estimate (standard error about 0.8%).</p>\n</body></html>\n");
    o
}
