//! Line parsers for the log formats `loganalysis` reads, as the servers
//! really write them (not idealized):
//!
//! - **common / combined / nginx** (`host ident user [date] "request"
//!   status bytes ["referrer" "agent" [extra fields…]]`): quoted fields end
//!   at the first `"` not escaped by a backslash (Apache writes `\"` and
//!   `\\`, nginx `\x22`), and are kept as logged (escapes intact, so a key
//!   never holds a raw control byte); `-` means missing; the host may be
//!   IPv4, IPv6 or a name; the date's zone offset is applied (UTC out); a
//!   request line that is not `METHOD TARGET [HTTP/x]` (TLS probes' `\x16\x03…`,
//!   `-`) still counts as a request, with method `-` and no URL.
//! - **jsonl**: one JSON object a line; each field is looked up under the
//!   name configured for it, else the first present of a few usual names
//!   ([`JsonFields`]); time as RFC 3339, CLF date or epoch seconds
//!   (milliseconds above 10^11).
//! - **syslog**: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`)
//!   and RFC 3164 (`[<PRI>]Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, also with an
//!   RFC 3339 timestamp as rsyslog writes it). RFC 3164 has no year or zone:
//!   the configured year, UTC.
//!
//! Everything here is pure and allocation-free on the access-log path.

use std::borrow::Cow;

use serde_json::Value;

/// Which parser(s) to try on each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Pick per line: `{` → jsonl, `<PRI>` / `Mmm dd` / `YYYY-MM-DDT` →
    /// syslog, else an access log (combined when the referrer and agent
    /// fields are there, common otherwise).
    Auto,
    Combined,
    Common,
    /// Combined, plus any trailing fields (`"$http_x_forwarded_for"` …).
    Nginx,
    Jsonl,
    Syslog,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "auto" => Format::Auto,
            "combined" => Format::Combined,
            "common" => Format::Common,
            "nginx" => Format::Nginx,
            "jsonl" | "json" => Format::Jsonl,
            "syslog" => Format::Syslog,
            _ => return None,
        })
    }
}

/// The format a line was read as (counted in `totals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Combined,
    Common,
    Jsonl,
    Rfc3164,
    Rfc5424,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Combined => "combined",
            Kind::Common => "common",
            Kind::Jsonl => "jsonl",
            Kind::Rfc3164 => "rfc3164",
            Kind::Rfc5424 => "rfc5424",
        }
    }
}

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access<'a> {
    /// Seconds since the epoch, UTC.
    pub time: i64,
    pub client: Cow<'a, [u8]>,
    /// `None` when the request line is not `METHOD TARGET [PROTOCOL]`.
    pub method: Option<Cow<'a, [u8]>>,
    /// The target without its query string; `None` with `method`.
    pub path: Option<Cow<'a, [u8]>>,
    pub status: u16,
    pub bytes: u64,
    /// `None` when absent or `-`.
    pub referrer: Option<Cow<'a, [u8]>>,
    pub agent: Option<Cow<'a, [u8]>>,
}

/// One syslog message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog<'a> {
    pub time: i64,
    pub host: &'a [u8],
    /// The tag / APP-NAME, `-` when absent.
    pub program: &'a [u8],
    /// 0 (emerg) … 7 (debug); `None` without a PRI.
    pub severity: Option<u8>,
    pub message: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    Access(Access<'a>, Kind),
    Syslog(Syslog<'a>, Kind),
}

/// Severity names, RFC 5424 table 2.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// JSON field names; `None` = try the usual names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonFields {
    pub time: Option<String>,
    pub client: Option<String>,
    pub request: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    pub status: Option<String>,
    pub bytes: Option<String>,
    pub referrer: Option<String>,
    pub agent: Option<String>,
}

/// The names tried, in order, when a field's name is not configured.
pub const JSON_DEFAULTS: [(&str, &[&str]); 9] = [
    (
        "time",
        &[
            "time",
            "timestamp",
            "@timestamp",
            "time_iso8601",
            "time_local",
            "ts",
        ],
    ),
    (
        "client",
        &["remote_addr", "client", "client_ip", "ip", "remote_ip"],
    ),
    ("request", &["request"]),
    ("method", &["method", "request_method"]),
    ("url", &["url", "uri", "path", "request_uri"]),
    ("status", &["status", "status_code"]),
    (
        "bytes",
        &[
            "bytes",
            "body_bytes_sent",
            "bytes_sent",
            "size",
            "response_size",
        ],
    ),
    ("referrer", &["referrer", "referer", "http_referer"]),
    ("agent", &["user_agent", "agent", "http_user_agent"]),
];

impl JsonFields {
    /// Parses `time=ts,client=addr,…` (names from [`JSON_DEFAULTS`]).
    pub fn parse(spec: &str) -> Result<JsonFields, String> {
        let mut f = JsonFields::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("json field {part:?}: expected FIELD=NAME"))?;
            let slot = match k.trim() {
                "time" => &mut f.time,
                "client" => &mut f.client,
                "request" => &mut f.request,
                "method" => &mut f.method,
                "url" => &mut f.url,
                "status" => &mut f.status,
                "bytes" => &mut f.bytes,
                "referrer" => &mut f.referrer,
                "agent" => &mut f.agent,
                other => {
                    return Err(format!(
                        "json field {other:?}: not one of time, client, request, method, url, status, bytes, referrer, agent"
                    ))
                }
            };
            *slot = Some(v.trim().to_string());
        }
        Ok(f)
    }

    fn configured(&self, field: &str) -> Option<&str> {
        match field {
            "time" => self.time.as_deref(),
            "client" => self.client.as_deref(),
            "request" => self.request.as_deref(),
            "method" => self.method.as_deref(),
            "url" => self.url.as_deref(),
            "status" => self.status.as_deref(),
            "bytes" => self.bytes.as_deref(),
            "referrer" => self.referrer.as_deref(),
            "agent" => self.agent.as_deref(),
            _ => None,
        }
    }
}

/// How to read lines.
#[derive(Debug, Clone)]
pub struct Parser {
    pub format: Format,
    pub json: JsonFields,
    /// The year of RFC 3164 timestamps.
    pub year: i64,
}

impl Parser {
    /// The line's record, or `None` when it is not in the format.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Option<Parsed<'a>> {
        let line = trim_end(line);
        match self.format {
            Format::Combined | Format::Nginx => {
                access(line, Need::Combined).map(|(a, _)| Parsed::Access(a, Kind::Combined))
            }
            Format::Common => {
                access(line, Need::Common).map(|(a, _)| Parsed::Access(a, Kind::Common))
            }
            Format::Jsonl => self.jsonl(line),
            Format::Syslog => syslog(line, self.year),
            Format::Auto => match line.first()? {
                b'{' => self.jsonl(line),
                b'<' => syslog(line, self.year),
                _ => {
                    let sys = if month(line).is_some() || looks_iso(line) {
                        syslog(line, self.year)
                    } else {
                        None
                    };
                    sys.or_else(|| {
                        let (a, combined) = access(line, Need::Either)?;
                        let kind = if combined {
                            Kind::Combined
                        } else {
                            Kind::Common
                        };
                        Some(Parsed::Access(a, kind))
                    })
                }
            },
        }
    }

    fn jsonl<'a>(&self, line: &'a [u8]) -> Option<Parsed<'a>> {
        let obj: serde_json::Map<String, Value> = serde_json::from_slice(line).ok()?;
        let get = |field: &str| -> Option<&Value> {
            match self.json.configured(field) {
                Some(name) => obj.get(name),
                None => JSON_DEFAULTS
                    .iter()
                    .find(|(f, _)| *f == field)
                    .and_then(|(_, names)| names.iter().find_map(|n| obj.get(*n))),
            }
            .filter(|v| !v.is_null())
        };
        let time = match get("time")? {
            Value::String(s) => parse_time_text(s.as_bytes())?,
            Value::Number(n) => {
                let f = n.as_f64()?;
                let secs = if f.abs() >= 1e11 { f / 1000.0 } else { f };
                secs.floor() as i64
            }
            _ => return None,
        };
        let status = match get("status")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        if !(100..=999).contains(&status) {
            return None;
        }
        let bytes = match get("bytes") {
            None => 0,
            Some(Value::Number(n)) => n.as_u64()?,
            Some(Value::String(s)) if s == "-" || s.is_empty() => 0,
            Some(Value::String(s)) => s.trim().parse().ok()?,
            Some(_) => return None,
        };
        let text = |field: &str| -> Option<Vec<u8>> {
            match get(field)? {
                Value::String(s) => Some(s.as_bytes().to_vec()),
                Value::Number(n) => Some(n.to_string().into_bytes()),
                _ => None,
            }
        };
        let present = |v: Option<Vec<u8>>| v.filter(|s| !s.is_empty() && s != b"-");
        let (method, path) = match text("request") {
            Some(r) => match request(&r) {
                Some((m, p)) => (Some(m.to_vec()), Some(p.to_vec())),
                None => (None, None),
            },
            None => match (present(text("method")), present(text("url"))) {
                (Some(m), Some(u)) if valid_method(&m) => {
                    let p = strip_query(&u).to_vec();
                    (Some(m), Some(p))
                }
                _ => (None, None),
            },
        };
        Some(Parsed::Access(
            Access {
                time,
                client: Cow::Owned(present(text("client")).unwrap_or_else(|| b"-".to_vec())),
                method: method.map(Cow::Owned),
                path: path.map(Cow::Owned),
                status: status as u16,
                bytes,
                referrer: present(text("referrer")).map(Cow::Owned),
                agent: present(text("agent")).map(Cow::Owned),
            },
            Kind::Jsonl,
        ))
    }
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n' | b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Common,
    Combined,
    Either,
}

/// `"…"` at `s[0]`: the content (escapes intact) and the rest after the
/// closing quote.
fn quoted(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < s.len() {
        i += memchr::memchr2(b'"', b'\\', &s[i..])?;
        if s[i] == b'"' {
            return Some((&s[1..i], &s[i + 1..]));
        }
        i += 2;
    }
    None
}

/// Where ` [` starts in `s` (a memmem searcher costs more to build than
/// this short scan takes).
fn space_bracket(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let i = from + memchr::memchr(b'[', &s[from..])?;
        if i > 0 && s[i - 1] == b' ' {
            return Some(i - 1);
        }
        from = i + 1;
    }
}

/// Up to the next space. A plain loop: the fields split this way (client,
/// status, size, syslog words) are short, where a vectorized search costs
/// more to set up than it saves.
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, &[]),
    }
}

fn skip_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    s
}

fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &b| n * 10 + (b - b'0') as u64))
}

fn valid_method(m: &[u8]) -> bool {
    !m.is_empty()
        && m.len() <= 32
        && m.iter()
            .all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
}

fn strip_query(target: &[u8]) -> &[u8] {
    match memchr::memchr(b'?', target) {
        Some(i) => &target[..i],
        None => target,
    }
}

/// `METHOD TARGET [HTTP/x.y]` → (method, path without the query).
pub fn request(r: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr::memchr(b' ', r)?;
    let (method, mut target) = (&r[..sp], &r[sp + 1..]);
    if !valid_method(method) {
        return None;
    }
    if let Some(last) = memchr::memrchr(b' ', target) {
        if target[last + 1..].starts_with(b"HTTP/") {
            target = &target[..last];
        }
    }
    let path = strip_query(target);
    if target.is_empty() || path.is_empty() {
        return None;
    }
    Some((method, path))
}

/// An access-log line, and whether it had the combined format's referrer
/// and agent fields.
fn access(line: &[u8], need: Need) -> Option<(Access<'_>, bool)> {
    let (client, rest) = token(line);
    if client.is_empty() {
        return None;
    }
    // ident and authuser (which may hold spaces): up to ` [`.
    let open = space_bracket(rest)?;
    let rest = &rest[open + 2..];
    let close = memchr::memchr(b']', rest)?;
    let time = clf_time(&rest[..close])?;
    let rest = rest[close + 1..].strip_prefix(b" ")?;
    let (req, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(b" ")?;
    let (status, rest) = token(rest);
    if status.len() != 3 {
        return None;
    }
    let status = digits(status)? as u16;
    if status < 100 {
        return None;
    }
    let rest = skip_spaces(rest);
    let (bytes, rest) = token(rest);
    let bytes = if bytes == b"-" { 0 } else { digits(bytes)? };
    let (referrer, agent, combined) = match need {
        Need::Common => (None, None, false),
        Need::Combined | Need::Either => {
            let fields = (|| {
                let rest = skip_spaces(rest);
                let (r, rest) = quoted(rest)?;
                let rest = skip_spaces(rest);
                let (a, _extra) = quoted(rest)?;
                Some((r, a))
            })();
            match (fields, need) {
                (Some(f), _) => (Some(f.0), Some(f.1), true),
                (None, Need::Combined) => return None,
                (None, _) => (None, None, false),
            }
        }
    };
    fn present(f: Option<&[u8]>) -> Option<Cow<'_, [u8]>> {
        f.filter(|s| !s.is_empty() && *s != b"-").map(Cow::Borrowed)
    }
    let (method, path) = match request(req) {
        Some((m, p)) => (Some(Cow::Borrowed(m)), Some(Cow::Borrowed(p))),
        None => (None, None),
    };
    let a = Access {
        time,
        client: Cow::Borrowed(client),
        method,
        path,
        status,
        bytes,
        referrer: present(referrer),
        agent: present(agent),
    };
    Some((a, combined))
}

/// `Mmm` at the start of `s` → 1…12.
fn month(s: &[u8]) -> Option<i64> {
    Some(match s.get(..3)? {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date of a day number: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn num(s: &[u8], at: usize, len: usize) -> Option<i64> {
    digits(s.get(at..at + len)?).map(|n| n as i64)
}

fn epoch(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s)
}

/// `10/Oct/2000:13:55:36 -0700` → UTC seconds.
pub fn clf_time(s: &[u8]) -> Option<i64> {
    if s.len() != 26 || s[2] != b'/' || s[6] != b'/' || s[11] != b':' || s[20] != b' ' {
        return None;
    }
    let local = epoch(
        num(s, 7, 4)?,
        month(&s[3..])?,
        num(s, 0, 2)?,
        num(s, 12, 2)?,
        num(s, 15, 2)?,
        num(s, 18, 2)?,
    )?;
    let off = num(s, 22, 2)? * 3600 + num(s, 24, 2)? * 60;
    match s[21] {
        b'+' => Some(local - off),
        b'-' => Some(local + off),
        _ => None,
    }
}

fn looks_iso(s: &[u8]) -> bool {
    s.len() >= 11 && s[..4].iter().all(u8::is_ascii_digit) && s[4] == b'-' && s[10] == b'T'
}

/// RFC 3339 (`2026-11-22T10:00:00.123+01:00`, `Z`, also `+0100` and a
/// space for `T`) → (UTC seconds, bytes used).
pub fn iso_time(s: &[u8]) -> Option<(i64, usize)> {
    if s.len() < 19 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b' ') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let local = epoch(
        num(s, 0, 4)?,
        num(s, 5, 2)?,
        num(s, 8, 2)?,
        num(s, 11, 2)?,
        num(s, 14, 2)?,
        num(s, 17, 2)?,
    )?;
    let mut i = 19;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    match s.get(i) {
        Some(b'Z' | b'z') => Some((local, i + 1)),
        Some(&sign @ (b'+' | b'-')) => {
            let h = num(s, i + 1, 2)?;
            let (m, used) = if s.get(i + 3) == Some(&b':') {
                (num(s, i + 4, 2)?, 6)
            } else {
                (num(s, i + 3, 2)?, 5)
            };
            let off = h * 3600 + m * 60;
            Some((
                if sign == b'+' {
                    local - off
                } else {
                    local + off
                },
                i + used,
            ))
        }
        _ => None,
    }
}

/// A JSON time string: RFC 3339 (the whole string) or a CLF date.
fn parse_time_text(s: &[u8]) -> Option<i64> {
    if let Some((t, used)) = iso_time(s) {
        return (used == s.len()).then_some(t);
    }
    clf_time(s)
}

/// `<PRI>` at the start → (PRI, rest).
fn pri(s: &[u8]) -> Option<(u8, &[u8])> {
    let s = s.strip_prefix(b"<")?;
    let end = s.iter().position(|&b| b == b'>')?;
    let n = digits(&s[..end])?;
    if end > 3 || n > 191 {
        return None;
    }
    Some((n as u8, &s[end + 1..]))
}

fn syslog(line: &[u8], year: i64) -> Option<Parsed<'_>> {
    let (severity, rest) = match pri(line) {
        Some((p, rest)) => (Some(p % 8), rest),
        None if line.first() == Some(&b'<') => return None,
        None => (None, line),
    };
    // RFC 5424: a version digit and a space after the PRI.
    if severity.is_some() {
        if let [b'1'..=b'9', b' ', ..] = rest {
            return rfc5424(&rest[2..], severity).map(|s| Parsed::Syslog(s, Kind::Rfc5424));
        }
    }
    let (time, rest) = if let Some(m) = month(rest) {
        // `Mmm dd hh:mm:ss ` with a space-padded day.
        let t = rest.get(..16)?;
        if t[3] != b' ' || t[6] != b' ' || t[9] != b':' || t[12] != b':' || t[15] != b' ' {
            return None;
        }
        let day = if t[4] == b' ' {
            num(t, 5, 1)?
        } else {
            num(t, 4, 2)?
        };
        let time = epoch(year, m, day, num(t, 7, 2)?, num(t, 10, 2)?, num(t, 13, 2)?)?;
        (time, &rest[16..])
    } else {
        let (t, used) = iso_time(rest)?;
        (t, rest.get(used..)?.strip_prefix(b" ")?)
    };
    let (host, rest) = token(rest);
    if host.is_empty() {
        return None;
    }
    let rest = skip_spaces(rest);
    // TAG: up to `[`, `:` or a space.
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'[' | b':' | b' '))
        .unwrap_or(rest.len());
    let (program, message) = match rest.get(end) {
        Some(b':') if end > 0 => (&rest[..end], skip_spaces(&rest[end + 1..])),
        Some(b'[') if end > 0 => {
            let close = rest[end..].iter().position(|&b| b == b']')? + end;
            let after = &rest[close + 1..];
            let after = after.strip_prefix(b":").unwrap_or(after);
            (&rest[..end], skip_spaces(after))
        }
        _ => (&b"-"[..], rest),
    };
    Some(Parsed::Syslog(
        Syslog {
            time,
            host,
            program,
            severity,
            message,
        },
        Kind::Rfc3164,
    ))
}

fn rfc5424(s: &[u8], severity: Option<u8>) -> Option<Syslog<'_>> {
    let (ts, rest) = token(s);
    let (time, used) = iso_time(ts)?;
    if used != ts.len() {
        return None;
    }
    let (host, rest) = token(rest.strip_prefix(b" ")?);
    let (app, rest) = token(rest.strip_prefix(b" ")?);
    let (_procid, rest) = token(rest.strip_prefix(b" ")?);
    let (_msgid, rest) = token(rest.strip_prefix(b" ")?);
    let mut rest = rest.strip_prefix(b" ")?;
    // STRUCTURED-DATA: `-` or `[id k="v" …]…` (`\"`, `\\`, `\]` escaped).
    if let Some(r) = rest.strip_prefix(b"-") {
        rest = r;
    } else if rest.first() == Some(&b'[') {
        while rest.first() == Some(&b'[') {
            let mut i = 1;
            let mut in_quote = false;
            loop {
                match *rest.get(i)? {
                    b'\\' => i += 1,
                    b'"' => in_quote = !in_quote,
                    b']' if !in_quote => break,
                    _ => {}
                }
                i += 1;
            }
            rest = &rest[i + 1..];
        }
    } else {
        return None;
    }
    let message = match rest {
        [] => &[][..],
        [b' ', m @ ..] => m.strip_prefix("\u{feff}".as_bytes()).unwrap_or(m),
        _ => return None,
    };
    Some(Syslog {
        time,
        host,
        program: app,
        severity,
        message,
    })
}

/// A message's template: whitespace-separated tokens, each token holding a
/// digit replaced by `<*>` (after its `name=` when the name has no digit),
/// joined by single spaces. Numbers, ids, addresses, ports and times so
/// collapse into one template.
pub fn template(message: &[u8], out: &mut Vec<u8>) {
    out.clear();
    for tok in message
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        if !out.is_empty() {
            out.push(b' ');
        }
        if tok.iter().any(u8::is_ascii_digit) {
            if let Some(eq) = tok.iter().position(|&b| b == b'=') {
                if !tok[..eq].iter().any(u8::is_ascii_digit) {
                    out.extend_from_slice(&tok[..=eq]);
                }
            }
            out.extend_from_slice(b"<*>");
        } else {
            out.extend_from_slice(tok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(format: Format) -> Parser {
        Parser {
            format,
            json: JsonFields::default(),
            year: 2026,
        }
    }

    fn acc(line: &str, f: Format) -> Access<'_> {
        match p(f).parse(line.as_bytes()) {
            Some(Parsed::Access(a, _)) => a,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            civil_from_days(days_from_civil(2026, 11, 22)),
            (2026, 11, 22)
        );
        assert_eq!(clf_time(b"10/Oct/2000:13:55:36 -0700"), Some(971211336));
        assert_eq!(clf_time(b"10/Oct/2000:20:55:36 +0000"), Some(971211336));
        assert_eq!(iso_time(b"2000-10-10T20:55:36Z"), Some((971211336, 20)));
        assert_eq!(
            iso_time(b"2000-10-10T22:55:36.123+02:00"),
            Some((971211336, 29))
        );
        assert_eq!(clf_time(b"10/Foo/2000:13:55:36 -0700"), None);
    }

    #[test]
    fn combined_edge_cases() {
        let a = acc(
            r#"2001:db8::1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a\"b?x=1 HTTP/1.1" 200 2326 "-" "Mozilla \"x\" y""#,
            Format::Auto,
        );
        assert_eq!(&*a.client, b"2001:db8::1");
        assert_eq!(a.path.as_deref(), Some(&br#"/a\"b"#[..]));
        assert_eq!(a.referrer, None);
        assert_eq!(a.agent.as_deref(), Some(&br#"Mozilla \"x\" y"#[..]));
        assert_eq!(a.time, 971211336);
        let a = acc(
            r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01\x02\x00" 400 - "-" "-""#,
            Format::Combined,
        );
        assert_eq!((a.method, a.path, a.bytes, a.status), (None, None, 0, 400));
        let a = acc(
            r#"h - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.0" 304 -"#,
            Format::Auto,
        );
        assert_eq!(a.agent, None);
        assert!(p(Format::Combined)
            .parse(br#"h - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.0" 304 -"#)
            .is_none());
        assert!(p(Format::Auto).parse(b"garbage line").is_none());
    }

    #[test]
    fn syslogs() {
        let l = b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed for lonvick on /dev/pts/8";
        let Some(Parsed::Syslog(s, Kind::Rfc3164)) = p(Format::Auto).parse(l) else {
            panic!()
        };
        assert_eq!(
            (s.host, s.program, s.severity),
            (&b"mymachine"[..], &b"su"[..], Some(2))
        );
        assert_eq!(s.message, b"'su root' failed for lonvick on /dev/pts/8");
        let l = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\]" eventID="1011"] An application event"#;
        let Some(Parsed::Syslog(s, Kind::Rfc5424)) = p(Format::Syslog).parse(l) else {
            panic!()
        };
        assert_eq!((s.program, s.severity), (&b"evntslog"[..], Some(5)));
        assert_eq!(s.message, b"An application event");
        let mut t = Vec::new();
        template(
            b"Accepted password for bob from 10.0.0.1 port 22 pid=77 ssh2",
            &mut t,
        );
        assert_eq!(
            t,
            b"Accepted password for bob from <*> port <*> pid=<*> <*>"
        );
    }

    #[test]
    fn json_lines() {
        let a = acc(
            r#"{"time":"2026-11-22T10:00:00+01:00","remote_addr":"::1","request":"POST /x?y HTTP/2.0","status":"201","body_bytes_sent":12,"http_user_agent":"-"}"#,
            Format::Auto,
        );
        assert_eq!(a.time, days_from_civil(2026, 11, 22) * 86400 + 9 * 3600);
        assert_eq!(a.path.as_deref(), Some(&b"/x"[..]));
        assert_eq!((a.status, a.bytes, a.agent), (201, 12, None));
        let mut q = p(Format::Jsonl);
        q.json = JsonFields::parse("time=t,status=code").unwrap();
        let a = match q.parse(br#"{"t":1700000000123,"code":404}"#) {
            Some(Parsed::Access(a, _)) => a,
            o => panic!("{o:?}"),
        };
        assert_eq!((a.time, a.status, &*a.client), (1700000000, 404, &b"-"[..]));
        assert!(JsonFields::parse("nope=x").is_err());
    }
}
