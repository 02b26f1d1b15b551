//! `loganalysis IN… OUT [--format F] [--top N] [--bucket 1h|5m|1d] …`:
//! web server and syslog analysis as one MapReduce job.
//!
//! # Layout
//!
//! - [`parse`]: the line parsers (combined, common, nginx, jsonl, RFC 3164 and
//!   RFC 5424 syslog, auto-detection), time zones → UTC, message templates.
//! - [`sketch`]: the distinct-clients sketch (exact when small, HyperLogLog
//!   when large).
//! - this file: the job, its mapper and its combiner/reducer.
//! - [`finish`]: the client's finishing step after the job (merged top-N,
//!   the printed summary); [`report`]: the HTML report.
//!
//! # How it runs
//!
//! The mapper parses each line and aggregates in memory (in-mapper
//! combining: one hash map per section, flushed when it holds more than
//! `tusk.loganalysis.map.memory.mb`), so the sort buffer sees each distinct
//! key once per flush instead of once per line. Keys are a one-byte section
//! code and the section's key (`s200`, `b2026-11-22T10:00Z`, `u/index.html`);
//! values are little-endian u64 counters (or a sketch). The combiner and the
//! reducer sum them. Each reducer writes, per section, either every key
//! (time buckets, statuses, methods, syslog hosts/programs/severities,
//! totals) or its own top N (URLs, clients, agents, referrers, templates):
//! the job partitions by key, so every key's total lives in exactly one
//! reducer and the client's merge of the reducers' top-Ns is exact. Ties
//! are broken by key (bytewise ascending), everywhere.
//!
//! Reducers write each section as a named output (`MultipleOutputs`):
//! `OUT/<section>/part-r-NNNNN`, lines `key\tfigures…`, committed with the
//! job, so the TSV sections are complete when the job is (also with
//! `--detach`); the main output is lazy, so there are no empty
//! `OUT/part-r-*` files.

pub mod finish;
pub mod parse;
pub mod report;
pub mod sketch;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::engine::api::{
    Context, Job, JobConf, JobPaths, Mapper, Reducer, Values, LAZY_OUTPUT, NUM_REDUCES,
};
use crate::engine::error::{EngineError, Result};
use parse::{Format, JsonFields, Parsed, Parser};
use sketch::Sketch;

/// `auto|combined|common|nginx|jsonl|syslog`.
pub const FORMAT: &str = "tusk.loganalysis.format";
/// Entries per top-N list (default 10).
pub const TOP: &str = "tusk.loganalysis.top";
/// Time bucket in seconds (default 3600).
pub const BUCKET_SECS: &str = "tusk.loganalysis.bucket.seconds";
/// JSON field names, `time=ts,client=addr,…`.
pub const JSON_FIELDS: &str = "tusk.loganalysis.json.fields";
/// The year of RFC 3164 timestamps (default: the current UTC year).
pub const SYSLOG_YEAR: &str = "tusk.loganalysis.syslog.year";
/// Memory a map task aggregates in before it flushes, MiB (default 64).
pub const MAP_MEMORY_MB: &str = "tusk.loganalysis.map.memory.mb";
/// Reducers when `mapreduce.job.reduces` is not set.
pub const DEFAULT_REDUCES: u32 = 2;
/// Unparsed lines each map (and each reducer) keeps as examples.
pub const EXAMPLES: usize = 10;
/// Example lines are cut to this many bytes.
pub const EXAMPLE_MAX: usize = 1000;

/// The job.
pub struct LogAnalysis;

/// Parses `1h`, `5m`, `30s`, `1d` into seconds.
pub fn parse_bucket(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok().filter(|&n| n > 0)?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(n * mult)
}

/// `2026-11-22T10:00Z` for the bucket starting at `t`.
pub fn bucket_label(t: i64) -> String {
    let (y, m, d) = parse::civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}Z", s / 3600, s % 3600 / 60)
}

/// Section codes (the first byte of a map output key).
mod code {
    pub const TOTALS: u8 = b'T';
    pub const TIME: u8 = b'b';
    pub const DISTINCT: u8 = b'd';
    pub const EXAMPLE: u8 = b'e';
    pub const STATUS: u8 = b's';
    pub const METHOD: u8 = b'm';
    pub const URL: u8 = b'u';
    pub const CLIENT: u8 = b'c';
    pub const AGENT: u8 = b'a';
    pub const REFERRER: u8 = b'r';
    pub const HOST: u8 = b'h';
    pub const PROGRAM: u8 = b'p';
    pub const SEVERITY: u8 = b'v';
    pub const TEMPLATE: u8 = b'x';
}

/// Counters per key of a section.
fn width(c: u8) -> usize {
    match c {
        code::TIME => 4,   // requests, bytes, 4xx, 5xx
        code::URL => 2,    // requests, bytes
        code::CLIENT => 3, // requests, 4xx, 5xx
        _ => 1,
    }
}

/// Sections whose keys the mapper aggregates, in map-slot order.
const SLOTS: [u8; 12] = [
    code::TOTALS,
    code::TIME,
    code::STATUS,
    code::METHOD,
    code::URL,
    code::CLIENT,
    code::AGENT,
    code::REFERRER,
    code::HOST,
    code::PROGRAM,
    code::SEVERITY,
    code::TEMPLATE,
];
const S_TOTALS: usize = 0;
const S_TIME: usize = 1;
const S_STATUS: usize = 2;
const S_METHOD: usize = 3;
const S_URL: usize = 4;
const S_CLIENT: usize = 5;
const S_AGENT: usize = 6;
const S_REFERRER: usize = 7;
const S_HOST: usize = 8;
const S_PROGRAM: usize = 9;
const S_SEVERITY: usize = 10;
const S_TEMPLATE: usize = 11;

/// FxHash (rustc's): a multiply-rotate hash, several times faster than
/// SipHash on short keys; the keys are not attacker-chosen in a way that
/// matters for a batch job's own hash tables.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.write(&[b]);
    }
    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Tabs and line breaks would split a TSV field: spaces instead.
fn sanitize(key: &mut [u8]) {
    for b in key.iter_mut() {
        if matches!(*b, b'\t' | b'\n' | b'\r') {
            *b = b' ';
        }
    }
}

fn encode(vals: &[u64], out: &mut Vec<u8>) {
    out.clear();
    vals.iter()
        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
}

fn decode_into(key: &[u8], v: &[u8], sums: &mut [u64]) -> Result<()> {
    if v.len() != sums.len() * 8 {
        return Err(EngineError::task(format!(
            "loganalysis: value of {:?} has {} bytes, expected {}",
            String::from_utf8_lossy(key),
            v.len(),
            sums.len() * 8
        )));
    }
    for (s, c) in sums.iter_mut().zip(v.chunks_exact(8)) {
        *s += u64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
    Ok(())
}

impl Job for LogAnalysis {
    fn name(&self) -> &str {
        "loganalysis"
    }

    fn usage(&self) -> &str {
        "<in> [<in>...] <out> [--format auto|combined|common|nginx|jsonl|syslog] [--top N] \
         [--bucket 1h|5m|1d] [--json-fields time=NAME,client=NAME,...] [--year YYYY] \
         [--report FILE.html]"
    }

    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let usage = || EngineError::Config(format!("usage: loganalysis {}", self.usage()));
        let mut paths = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next().cloned().ok_or_else(|| {
                    EngineError::Config(format!("loganalysis: {name} needs a value"))
                })
            };
            match a.as_str() {
                "--format" => {
                    let f = value(a)?;
                    Format::parse(&f).ok_or_else(|| {
                        EngineError::Config(format!(
                            "loganalysis: --format {f}: not one of auto, combined, common, nginx, jsonl, syslog"
                        ))
                    })?;
                    conf.set(FORMAT, f);
                }
                "--top" => {
                    let n = value(a)?;
                    match n.parse::<u64>() {
                        Ok(k) if (1..=100_000).contains(&k) => conf.set(TOP, k),
                        _ => {
                            return Err(EngineError::Config(format!(
                                "loganalysis: --top {n}: expected a number from 1 to 100000"
                            )))
                        }
                    };
                }
                "--bucket" => {
                    let b = value(a)?;
                    let secs = parse_bucket(&b).ok_or_else(|| {
                        EngineError::Config(format!(
                            "loganalysis: --bucket {b}: expected a duration like 5m, 1h or 1d"
                        ))
                    })?;
                    conf.set(BUCKET_SECS, secs);
                }
                "--json-fields" => {
                    let spec = value(a)?;
                    JsonFields::parse(&spec)
                        .map_err(|e| EngineError::Config(format!("loganalysis: {e}")))?;
                    conf.set(JSON_FIELDS, spec);
                }
                "--year" => {
                    let y = value(a)?;
                    match y.parse::<i64>() {
                        Ok(n) if (1970..=9999).contains(&n) => conf.set(SYSLOG_YEAR, n),
                        _ => {
                            return Err(EngineError::Config(format!(
                                "loganalysis: --year {y}: not a year"
                            )))
                        }
                    };
                }
                // The client writes the report after the job.
                "--report" => {
                    value(a)?;
                }
                s if s.starts_with("--") => {
                    return Err(EngineError::Config(format!(
                        "loganalysis: unknown option {s} (usage: loganalysis {})",
                        self.usage()
                    )))
                }
                _ => paths.push(a.clone()),
            }
        }
        if paths.len() < 2 {
            return Err(usage());
        }
        // Everything goes to named outputs (one directory per section).
        conf.set(LAZY_OUTPUT, "true");
        if conf.get(NUM_REDUCES).is_none() {
            conf.set(NUM_REDUCES, DEFAULT_REDUCES);
        }
        if conf.num_reduces()? == 0 {
            return Err(EngineError::Config(
                "loganalysis: needs at least one reducer (mapreduce.job.reduces=0)".into(),
            ));
        }
        if conf.get(SYSLOG_YEAR).is_none() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            conf.set(SYSLOG_YEAR, parse::civil_from_days(now.div_euclid(86400)).0);
        }
        let output = paths.pop().expect("two or more paths");
        Ok(JobPaths {
            inputs: paths,
            output,
        })
    }

    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(LogMapper::new(conf)?))
    }

    fn reducer(&self, conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(LogReducer::new(conf, false)?))
    }

    fn combiner(&self, conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(LogReducer::new(conf, true)?)))
    }
}

/// The parser a configuration asks for.
pub fn parser(conf: &JobConf) -> Result<Parser> {
    let f = conf.get(FORMAT).unwrap_or("auto");
    let format = Format::parse(f)
        .ok_or_else(|| EngineError::Config(format!("{FORMAT}: unknown format {f:?}")))?;
    let json = JsonFields::parse(conf.get(JSON_FIELDS).unwrap_or(""))
        .map_err(|e| EngineError::Config(format!("{JSON_FIELDS}: {e}")))?;
    Ok(Parser {
        format,
        json,
        year: conf.get_u64(SYSLOG_YEAR, 2026)? as i64,
    })
}

fn bucket_secs(conf: &JobConf) -> Result<i64> {
    match conf.get_u64(BUCKET_SECS, 3600)? {
        0 => Err(EngineError::Config(format!(
            "{BUCKET_SECS}: must be positive"
        ))),
        n => Ok(n as i64),
    }
}

/// Totals the mapper counts (`totals` section).
#[derive(Default)]
struct Totals {
    lines: u64,
    requests: u64,
    bytes: u64,
    e4xx: u64,
    e5xx: u64,
    syslog: u64,
    unparsed: u64,
    kinds: [u64; 5],
}

/// One time bucket's figures (requests, bytes, 4xx, 5xx) and sketch.
struct Bucket {
    start: i64,
    label: Vec<u8>,
    figures: [u64; 4],
    sketch: Sketch,
}

/// Parses lines and aggregates per section in memory.
pub struct LogMapper {
    parser: Parser,
    bucket: i64,
    /// The last bucket's start and label (logs are mostly in time order).
    label: (i64, Vec<u8>),
    maps: Vec<FxMap<Vec<u8>, [u64; 4]>>,
    sketches: FxMap<Vec<u8>, Sketch>,
    /// The bucket of the last access line: its figures and distinct-client
    /// sketch live here, out of `maps`/`sketches`, until a line of another
    /// bucket comes (logs are mostly in time order, so most lines touch
    /// neither map). `None` before the first line and after a flush.
    cur: Option<Bucket>,
    /// Requests per status code (always three digits, 100…999).
    status: Box<[u64; 1000]>,
    totals: Totals,
    examples: usize,
    /// Bytes held in the maps, roughly; flushed above `limit`.
    held: usize,
    limit: usize,
    buf: Vec<u8>,
    tmpl: Vec<u8>,
}

impl LogMapper {
    pub fn new(conf: &JobConf) -> Result<Self> {
        Ok(Self {
            parser: parser(conf)?,
            bucket: bucket_secs(conf)?,
            label: (i64::MIN, Vec::new()),
            maps: (0..SLOTS.len()).map(|_| FxMap::default()).collect(),
            sketches: FxMap::default(),
            cur: None,
            status: Box::new([0; 1000]),
            totals: Totals::default(),
            examples: 0,
            held: 0,
            limit: (conf.get_u64(MAP_MEMORY_MB, 64)?.max(1) as usize) << 20,
            buf: Vec::new(),
            tmpl: Vec::new(),
        })
    }

    fn label(&mut self, t: i64) -> &[u8] {
        let start = t - t.rem_euclid(self.bucket);
        if self.label.0 != start {
            self.label = (start, bucket_label(start).into_bytes());
        }
        &self.label.1
    }

    fn add(&mut self, slot: usize, key: &[u8], vals: &[u64]) {
        let m = &mut self.maps[slot];
        if let Some(v) = m.get_mut(key) {
            v.iter_mut().zip(vals).for_each(|(a, b)| *a += b);
        } else {
            let mut a = [0u64; 4];
            a[..vals.len()].copy_from_slice(vals);
            self.held += key.len() + 64;
            m.insert(key.to_vec(), a);
        }
    }

    /// `label \t sanitized(part)` into `buf`.
    fn composite(&mut self, t: i64, part: &[u8]) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(self.label(t));
        buf.push(b'\t');
        let at = buf.len();
        buf.extend_from_slice(part);
        sanitize(&mut buf[at..]);
        self.buf = buf;
    }

    /// Makes `start`'s bucket the current one, folding the previous one
    /// back into the maps.
    fn enter_bucket(&mut self, start: i64) -> &mut Bucket {
        if self.cur.as_ref().is_some_and(|b| b.start == start) {
            return self.cur.as_mut().expect("checked");
        }
        self.fold_bucket();
        let label = bucket_label(start).into_bytes();
        let figures = self.maps[S_TIME].remove(&label).unwrap_or_default();
        let sketch = match self.sketches.remove(&label) {
            Some(s) => s,
            None => {
                self.held += sketch::EXACT_MAX * 16 + label.len() + 64;
                Sketch::default()
            }
        };
        self.cur.insert(Bucket {
            start,
            label,
            figures,
            sketch,
        })
    }

    fn fold_bucket(&mut self) {
        if let Some(b) = self.cur.take() {
            self.maps[S_TIME].insert(b.label.clone(), b.figures);
            self.sketches.insert(b.label, b.sketch);
        }
    }

    fn flush(&mut self, ctx: &mut dyn Context) -> Result<()> {
        self.fold_bucket();
        for code in 100..self.status.len() {
            let n = std::mem::take(&mut self.status[code]);
            if n > 0 {
                let st = [
                    b'0' + (code / 100) as u8,
                    b'0' + (code / 10 % 10) as u8,
                    b'0' + (code % 10) as u8,
                ];
                self.add(S_STATUS, &st, &[n]);
            }
        }
        let t = std::mem::take(&mut self.totals);
        let mut totals: Vec<(String, u64)> = vec![
            ("lines".into(), t.lines),
            ("requests".into(), t.requests),
            ("bytes".into(), t.bytes),
            ("4xx".into(), t.e4xx),
            ("5xx".into(), t.e5xx),
            ("syslog".into(), t.syslog),
            ("unparsed".into(), t.unparsed),
        ];
        for (i, k) in [
            parse::Kind::Combined,
            parse::Kind::Common,
            parse::Kind::Jsonl,
            parse::Kind::Rfc3164,
            parse::Kind::Rfc5424,
        ]
        .into_iter()
        .enumerate()
        {
            totals.push((format!("format_{}", k.name()), t.kinds[i]));
        }
        for (name, n) in totals.into_iter().filter(|(_, n)| *n > 0) {
            self.add(S_TOTALS, name.as_bytes(), &[n]);
        }
        let mut key = Vec::new();
        let mut val = Vec::new();
        for (slot, map) in self.maps.iter_mut().enumerate() {
            let c = SLOTS[slot];
            let w = width(c);
            for (k, v) in map.drain() {
                key.clear();
                key.push(c);
                key.extend_from_slice(&k);
                if c != code::PROGRAM && c != code::SEVERITY {
                    sanitize(&mut key[1..]);
                }
                encode(&v[..w], &mut val);
                ctx.emit(&key, &val)?;
            }
        }
        for (label, s) in self.sketches.drain() {
            key.clear();
            key.push(code::DISTINCT);
            key.extend_from_slice(&label);
            ctx.emit(&key, &s.to_bytes())?;
        }
        self.held = 0;
        Ok(())
    }
}

impl Mapper for LogMapper {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.totals.lines += 1;
        match self.parser.parse(line) {
            None => {
                self.totals.unparsed += 1;
                if self.examples < EXAMPLES {
                    self.examples += 1;
                    let mut k = Vec::with_capacity(1 + line.len().min(EXAMPLE_MAX));
                    k.push(code::EXAMPLE);
                    k.extend_from_slice(&line[..line.len().min(EXAMPLE_MAX)]);
                    sanitize(&mut k[1..]);
                    ctx.emit(&k, b"")?;
                }
            }
            Some(Parsed::Access(a, kind)) => {
                self.totals.kinds[kind as usize] += 1;
                self.totals.requests += 1;
                self.totals.bytes += a.bytes;
                let e4 = (400..500).contains(&a.status) as u64;
                let e5 = (500..600).contains(&a.status) as u64;
                self.totals.e4xx += e4;
                self.totals.e5xx += e5;
                let start = a.time - a.time.rem_euclid(self.bucket);
                let b = self.enter_bucket(start);
                for (f, v) in b.figures.iter_mut().zip([1, a.bytes, e4, e5]) {
                    *f += v;
                }
                b.sketch.insert_hash(sketch::hash(&a.client));
                // The parser accepts three-digit codes from 100 only.
                self.status[a.status as usize % 1000] += 1;
                self.add(S_METHOD, a.method.as_deref().unwrap_or(b"-"), &[1]);
                if let Some(p) = &a.path {
                    self.add(S_URL, p, &[1, a.bytes]);
                }
                self.add(S_CLIENT, &a.client, &[1, e4, e5]);
                if let Some(u) = &a.agent {
                    self.add(S_AGENT, u, &[1]);
                }
                if let Some(r) = &a.referrer {
                    self.add(S_REFERRER, r, &[1]);
                }
            }
            Some(Parsed::Syslog(s, kind)) => {
                self.totals.kinds[kind as usize] += 1;
                self.totals.syslog += 1;
                self.add(S_HOST, s.host, &[1]);
                self.composite(s.time, s.program);
                let k = std::mem::take(&mut self.buf);
                self.add(S_PROGRAM, &k, &[1]);
                let sev = s
                    .severity
                    .map(|v| parse::SEVERITIES[v as usize])
                    .unwrap_or("-");
                self.buf = k;
                self.composite(s.time, sev.as_bytes());
                let k = std::mem::take(&mut self.buf);
                self.add(S_SEVERITY, &k, &[1]);
                self.buf = k;
                let mut t = std::mem::take(&mut self.tmpl);
                parse::template(s.message, &mut t);
                self.add(S_TEMPLATE, &t, &[1]);
                self.tmpl = t;
            }
        }
        if self.held > self.limit {
            self.flush(ctx)?;
        }
        Ok(())
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        self.flush(ctx)
    }
}

/// One candidate of a top-N list. Orders by score, then by key reversed,
/// so "greater" is "ranks higher".
#[derive(PartialEq, Eq)]
struct Entry {
    score: u64,
    key: Vec<u8>,
    figures: Vec<u64>,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score.cmp(&o.score).then_with(|| o.key.cmp(&self.key))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// The N highest-ranked entries (a min-heap of them).
struct TopN {
    section: &'static str,
    n: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TopN {
    fn new(section: &'static str, n: usize) -> Self {
        Self {
            section,
            n,
            heap: BinaryHeap::new(),
        }
    }

    /// `figures` follow the score in the output line.
    fn offer(&mut self, score: u64, key: &[u8], figures: &[u64]) {
        if self.heap.len() >= self.n {
            let Some(Reverse(worst)) = self.heap.peek() else {
                return;
            };
            let better = score > worst.score || (score == worst.score && key < &worst.key[..]);
            if !better {
                return;
            }
            self.heap.pop();
        }
        self.heap.push(Reverse(Entry {
            score,
            key: key.to_vec(),
            figures: figures.to_vec(),
        }));
    }

    fn emit(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let mut v: Vec<Entry> = std::mem::take(&mut self.heap)
            .into_iter()
            .map(|r| r.0)
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        for e in v {
            let mut line = format!("{}", e.score);
            e.figures
                .iter()
                .for_each(|f| line.push_str(&format!("\t{f}")));
            ctx.emit_named(self.section, &e.key, line.as_bytes())?;
        }
        Ok(())
    }
}

/// `errors / requests` with four decimals, rounded half up, by integer
/// arithmetic (so any reference can reproduce it digit for digit).
pub fn rate(errors: u64, requests: u64) -> String {
    if requests == 0 {
        return "0.0000".into();
    }
    let r = (errors as u128 * 20000 + requests as u128) / (2 * requests as u128);
    format!("{}.{:04}", r / 10000, r % 10000)
}

/// The combiner (`combine`: sums and merges, same keys out) and the
/// reducer (writes the sections).
pub struct LogReducer {
    combine: bool,
    examples: usize,
    top_urls: TopN,
    top_urls_bytes: TopN,
    top_clients: TopN,
    top_error_clients: TopN,
    top_agents: TopN,
    top_referrers: TopN,
    top_templates: TopN,
    sums: Vec<u64>,
    val: Vec<u8>,
}

impl LogReducer {
    pub fn new(conf: &JobConf, combine: bool) -> Result<Self> {
        let n = conf.get_u64(TOP, 10)?.clamp(1, 100_000) as usize;
        Ok(Self {
            combine,
            examples: 0,
            top_urls: TopN::new("top_urls", n),
            top_urls_bytes: TopN::new("top_urls_by_bytes", n),
            top_clients: TopN::new("top_clients", n),
            top_error_clients: TopN::new("top_error_clients", n),
            top_agents: TopN::new("top_agents", n),
            top_referrers: TopN::new("top_referrers", n),
            top_templates: TopN::new("top_templates", n),
            sums: Vec::new(),
            val: Vec::new(),
        })
    }
}

impl Reducer for LogReducer {
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        let Some((&c, k)) = key.split_first() else {
            return Err(EngineError::task("loganalysis: empty key"));
        };
        match c {
            code::DISTINCT => {
                let mut s = Sketch::default();
                while let Some(v) = values.next_value() {
                    let other = Sketch::from_bytes(v).ok_or_else(|| {
                        EngineError::task(format!(
                            "loganalysis: bad sketch for {:?}",
                            String::from_utf8_lossy(k)
                        ))
                    })?;
                    s.merge(other);
                }
                if self.combine {
                    return ctx.emit(key, &s.to_bytes());
                }
                let how = if s.is_exact() { "exact" } else { "hll" };
                let line = format!("{}\t{how}", s.estimate());
                return ctx.emit_named("distinct_clients", k, line.as_bytes());
            }
            code::EXAMPLE => {
                while values.next_value().is_some() {}
                if self.combine {
                    return ctx.emit(key, b"");
                }
                if self.examples < EXAMPLES {
                    self.examples += 1;
                    return ctx.emit_named("unparsed_examples", k, b"");
                }
                return Ok(());
            }
            _ => {}
        }
        self.sums.clear();
        self.sums.resize(width(c), 0);
        while let Some(v) = values.next_value() {
            decode_into(key, v, &mut self.sums)?;
        }
        if self.combine {
            encode(&self.sums, &mut self.val);
            return ctx.emit(key, &self.val);
        }
        let s = &self.sums;
        let plain = |section: &str, ctx: &mut dyn Context| {
            ctx.emit_named(section, k, s[0].to_string().as_bytes())
        };
        match c {
            code::TOTALS => plain("totals", ctx),
            code::STATUS => plain("status", ctx),
            code::METHOD => plain("methods", ctx),
            code::HOST => plain("syslog_hosts", ctx),
            code::PROGRAM => plain("syslog_programs", ctx),
            code::SEVERITY => plain("syslog_severity", ctx),
            code::TIME => {
                let line = format!(
                    "{}\t{}\t{}\t{}\t{}",
                    s[0],
                    s[1],
                    s[2],
                    s[3],
                    rate(s[2] + s[3], s[0])
                );
                ctx.emit_named("time", k, line.as_bytes())
            }
            code::URL => {
                self.top_urls.offer(s[0], k, &[s[1]]);
                self.top_urls_bytes.offer(s[1], k, &[s[0]]);
                Ok(())
            }
            code::CLIENT => {
                self.top_clients.offer(s[0], k, &[s[1], s[2]]);
                if s[1] + s[2] > 0 {
                    self.top_error_clients.offer(s[1] + s[2], k, &[s[1], s[2]]);
                }
                Ok(())
            }
            code::AGENT => {
                self.top_agents.offer(s[0], k, &[]);
                Ok(())
            }
            code::REFERRER => {
                self.top_referrers.offer(s[0], k, &[]);
                Ok(())
            }
            code::TEMPLATE => {
                self.top_templates.offer(s[0], k, &[]);
                Ok(())
            }
            other => Err(EngineError::task(format!(
                "loganalysis: unknown section code {:?} in key {:?}",
                other as char,
                String::from_utf8_lossy(key)
            ))),
        }
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        if self.combine {
            return Ok(());
        }
        for t in [
            &mut self.top_urls,
            &mut self.top_urls_bytes,
            &mut self.top_clients,
            &mut self.top_error_clients,
            &mut self.top_agents,
            &mut self.top_referrers,
            &mut self.top_templates,
        ] {
            t.emit(ctx)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_rates() {
        assert_eq!(parse_bucket("5m"), Some(300));
        assert_eq!(parse_bucket("1d"), Some(86400));
        assert_eq!(parse_bucket("h"), None);
        assert_eq!(parse_bucket("0h"), None);
        assert_eq!(bucket_label(1793491200 + 3600 * 10), "2026-11-01T10:00Z");
        assert_eq!(rate(1, 32), "0.0313");
        assert_eq!(rate(0, 0), "0.0000");
        assert_eq!(rate(3, 3), "1.0000");
    }

    #[test]
    fn top_n_breaks_ties_by_key() {
        let mut t = TopN::new("x", 2);
        t.offer(5, b"b", &[]);
        t.offer(5, b"a", &[]);
        t.offer(5, b"c", &[]);
        t.offer(1, b"0", &[]);
        let mut v: Vec<_> = t.heap.into_iter().map(|r| r.0.key).collect();
        v.sort();
        assert_eq!(v, vec![b"a".to_vec(), b"b".to_vec()]);
    }
}
