//! Prometheus text exposition (format 0.0.4), shared by every daemon's
//! `/metrics`: a family is a `# HELP` line, a `# TYPE` line, then its
//! samples. RPC metrics are in [`crate::rpc_metrics`].

use std::fmt::{Display, Write};

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends one metric without labels: its HELP and TYPE lines and its value.
/// `kind` is `counter` or `gauge`.
pub fn write_metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl Display) {
    write_header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Appends the HELP and TYPE lines of a metric whose labelled samples follow
/// (HELP text escaped as the format asks: `\\` and `\n`).
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends one sample `name{k="v",…} value`, label values escaped; no braces
/// when `labels` is empty.
pub fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_into(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format quotes it: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    escape_label_into(&mut s, v);
    s
}

fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `Content-Type` of the JSON form (`/metrics?format=json`).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Whether a `/metrics` query string asks for JSON (`format=json`).
pub fn wants_json(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv == "format=json"))
}

/// The `/metrics` answer for `query`: the text as is, or its JSON form.
pub fn respond(text: String, query: Option<&str>) -> (&'static str, String) {
    if wants_json(query) {
        (JSON_CONTENT_TYPE, to_json(&text))
    } else {
        (CONTENT_TYPE, text)
    }
}

/// The JSON form of a page this module wrote (like Hadoop's `/jmx`, for
/// tools without a Prometheus parser):
/// `{"metrics":[{"name":…,"type":…,"help":…,"samples":[{"name":…,
/// "labels":{…},"value":…}]}]}`, families in page order. A value that is
/// not a finite number (`+Inf`) is given as a string.
pub fn to_json(text: &str) -> String {
    let mut out = String::from("{\"metrics\":[");
    let mut open = false; // a family's "samples" array is open
    let mut first_sample = true;
    let mut help = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = rest.split_once(' ').map_or("", |(_, h)| h).to_string();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            if open {
                out.push_str("]},");
            }
            let help = unescape(&help);
            let _ = write!(
                out,
                "{{\"name\":{},\"type\":{},\"help\":{},\"samples\":[",
                json_str(name),
                json_str(kind),
                json_str(&help)
            );
            open = true;
            first_sample = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') || !open {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.strip_suffix('}').unwrap_or(l))),
            None => (series, Vec::new()),
        };
        if !first_sample {
            out.push(',');
        }
        first_sample = false;
        let _ = write!(out, "{{\"name\":{},\"labels\":{{", json_str(name));
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:{}", json_str(k), json_str(v));
        }
        // Integers as written (a u64 counter keeps every digit), other
        // numbers as Rust prints them (valid JSON), the rest as strings.
        let value = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            value.to_string()
        } else {
            match value.parse::<f64>() {
                Ok(v) if v.is_finite() => v.to_string(),
                _ => json_str(value),
            }
        };
        let _ = write!(out, "}},\"value\":{value}}}");
    }
    if open {
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

/// Undoes the HELP escaping of [`write_header`] (`\\\\`, `\\n`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(c) => out.push(c),
            None => out.push('\\'),
        }
    }
    out
}

/// `k="v",k2="v2"` (values escaped as [`write_sample`] escapes them).
fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.push((key.trim_start_matches(',').to_string(), value));
        rest = &after[end..];
    }
    labels
}

use crate::escape::json_str;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut s = String::new();
        write_metric(&mut s, "tusk_x_total", "counter", "Things.", 3);
        assert_eq!(
            s,
            "# HELP tusk_x_total Things.\n# TYPE tusk_x_total counter\ntusk_x_total 3\n"
        );
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = String::new();
        write_header(&mut s, "tusk_v", "gauge", "Back\\slash\nnewline.");
        write_sample(&mut s, "tusk_v", &[("dir", "/a\"b\\c\nd"), ("k", "v")], 1.5);
        write_sample(&mut s, "tusk_v", &[], 2);
        assert_eq!(
            s,
            "# HELP tusk_v Back\\\\slash\\nnewline.\n# TYPE tusk_v gauge\n\
             tusk_v{dir=\"/a\\\"b\\\\c\\nd\",k=\"v\"} 1.5\ntusk_v 2\n"
        );
        assert_eq!(escape_label("plain"), "plain");
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn json_form_round_trips_families_labels_and_values() {
        let mut s = String::new();
        write_metric(
            &mut s,
            "tusk_x_total",
            "counter",
            "Things \"quoted\" \\n.",
            3,
        );
        write_header(&mut s, "tusk_v", "gauge", "Per dir.");
        write_sample(&mut s, "tusk_v", &[("dir", "/a\"b\\c"), ("k", "v")], 1.5);
        write_sample(&mut s, "tusk_v", &[("dir", "/d")], 2);
        write_header(&mut s, "tusk_h_seconds", "histogram", "Latency.");
        write_sample(&mut s, "tusk_h_seconds_bucket", &[("le", "+Inf")], 4);
        write_sample(&mut s, "tusk_h_seconds_sum", &[], "+Inf");
        let j: serde_json::Value = serde_json::from_str(&to_json(&s)).expect("valid JSON");
        let m = j["metrics"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0]["name"], "tusk_x_total");
        assert_eq!(m[0]["type"], "counter");
        assert_eq!(m[0]["help"], "Things \"quoted\" \\n.");
        assert_eq!(m[0]["samples"][0]["value"], 3);
        assert_eq!(m[1]["samples"][0]["labels"]["dir"], "/a\"b\\c");
        assert_eq!(m[1]["samples"][0]["labels"]["k"], "v");
        assert_eq!(m[1]["samples"][0]["value"], 1.5);
        assert_eq!(m[1]["samples"][1]["labels"]["dir"], "/d");
        assert_eq!(m[2]["samples"][0]["labels"]["le"], "+Inf");
        assert_eq!(m[2]["samples"][1]["value"], "+Inf");
    }

    #[test]
    fn format_json_is_asked_by_query() {
        assert!(wants_json(Some("format=json")));
        assert!(wants_json(Some("x=1&format=json")));
        assert!(!wants_json(Some("format=jsonx")));
        assert!(!wants_json(None));
        assert_eq!(respond("a".into(), None).0, CONTENT_TYPE);
        assert_eq!(
            respond("a".into(), Some("format=json")).0,
            JSON_CONTENT_TYPE
        );
    }
}
