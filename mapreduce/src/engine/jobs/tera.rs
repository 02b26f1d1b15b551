//! `teragen ROWS OUT`, `terasort IN OUT`, `teravalidate IN OUT`, after
//! Hadoop's examples.
//!
//! Records are 100 bytes: a 10-byte key and a 90-byte value laid out as
//! GenSort's: `00 11`, the row id as 32 hex digits, `88 99 AA BB`, 48
//! filler bytes (letters derived from the row), `CC DD EE FF`. Keys are
//! pseudo-random but a pure function of the row id (SplitMix64), so a run
//! is reproducible. teragen is map-only (`mapreduce.job.maps` maps,
//! default 2). terasort samples keys from up to [`SAMPLE_SPLITS`] splits
//! in the driver, stores `reduces - 1` split points in the configuration
//! ([`SPLIT_POINTS`], hex) and range-partitions by them, so the parts
//! concatenated are in total order. teravalidate checks order within each
//! split and across splits and files (in path order) and writes `error\t…`
//! lines for every violation, plus `records\tN`.

use futures::future::BoxFuture;
use tusk_client::DfsClient;

use crate::engine::api::{
    Context, IdentityMapper, IdentityReducer, InputFormat, Job, JobConf, JobPaths, Mapper,
    OutputFormat, Partitioner, Reducer, Values, NUM_REDUCES, OUTPUT_REPLICATION,
};
use crate::engine::driver::NUM_ROWS;
use crate::engine::error::{EngineError, Result};
use crate::engine::input::FixedReader;
use crate::engine::splits::InputSplit;

pub const RECORD_LEN: usize = 100;
pub const KEY_LEN: usize = 10;
/// terasort's split points: comma-separated hex keys.
pub const SPLIT_POINTS: &str = "tusk.terasort.split.points";
/// Replication of terasort's output (Hadoop's key and default: 1). An
/// explicit `-D dfs.replication=N` wins.
pub const OUTPUT_REPLICATION_KEY: &str = "mapreduce.terasort.output.replication";
/// Splits sampled by terasort.
pub const SAMPLE_SPLITS: usize = 10;
/// Records sampled per split.
pub const SAMPLE_RECORDS: usize = 10_000;

const TERA_INPUT: InputFormat = InputFormat::Fixed {
    record_len: RECORD_LEN as u32,
    key_len: KEY_LEN as u32,
};

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Row `row`'s record.
pub fn record(row: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    let a = splitmix64(row);
    let b = splitmix64(a ^ 0x5555);
    r[..8].copy_from_slice(&a.to_be_bytes());
    r[8..10].copy_from_slice(&b.to_be_bytes()[..2]);
    r[10] = 0x00;
    r[11] = 0x11;
    let hex = format!("{:032X}", row as u128);
    r[12..44].copy_from_slice(hex.as_bytes());
    r[44..48].copy_from_slice(&[0x88, 0x99, 0xAA, 0xBB]);
    for i in 0..48 {
        r[48 + i] = b'A' + ((row as usize + i / 4) % 26) as u8;
    }
    r[96..100].copy_from_slice(&[0xCC, 0xDD, 0xEE, 0xFF]);
    r
}

/// teragen.
pub struct TeraGen;

struct GenMapper;

impl Mapper for GenMapper {
    fn map(&mut self, key: &[u8], _value: &[u8], ctx: &mut dyn Context) -> Result<()> {
        let row = u64::from_be_bytes(
            key.try_into()
                .map_err(|_| EngineError::task("teragen: row key is not 8 bytes"))?,
        );
        let r = record(row);
        ctx.emit(&r[..KEY_LEN], &r[KEY_LEN..])
    }
}

impl Job for TeraGen {
    fn name(&self) -> &str {
        "teragen"
    }
    fn usage(&self) -> &str {
        "<num rows> <out>"
    }
    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let [rows, out] = args else {
            return Err(EngineError::Config(format!(
                "usage: teragen {}",
                self.usage()
            )));
        };
        let n: u64 = rows
            .replace('_', "")
            .parse()
            .map_err(|_| EngineError::Config(format!("teragen: bad row count {rows:?}")))?;
        conf.set(NUM_ROWS, n);
        conf.set(NUM_REDUCES, 0);
        Ok(JobPaths {
            inputs: Vec::new(),
            output: out.clone(),
        })
    }
    fn input_format(&self, _conf: &JobConf) -> InputFormat {
        InputFormat::Rows
    }
    fn output_format(&self, _conf: &JobConf) -> OutputFormat {
        OutputFormat::Raw
    }
    fn mapper(&self, _conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(GenMapper))
    }
}

/// Range partitioner over sorted split points (Hadoop's
/// `TotalOrderPartitioner`): keys below the first point go to 0, keys in
/// `[p[i-1], p[i])` to `i`.
pub struct TotalOrderPartitioner {
    points: Vec<Vec<u8>>,
}

impl TotalOrderPartitioner {
    pub fn new(mut points: Vec<Vec<u8>>) -> Self {
        points.sort();
        Self { points }
    }

    pub fn from_conf(conf: &JobConf) -> Result<Self> {
        let mut points = Vec::new();
        if let Some(s) = conf.get(SPLIT_POINTS) {
            for p in s.split(',').filter(|p| !p.is_empty()) {
                points.push(hex::decode(p).map_err(|e| {
                    EngineError::Config(format!("{SPLIT_POINTS}: bad point {p:?}: {e}"))
                })?);
            }
        }
        Ok(Self::new(points))
    }
}

impl Partitioner for TotalOrderPartitioner {
    fn partition(&self, key: &[u8], _value: &[u8], n: u32) -> u32 {
        let i = self.points.partition_point(|p| p.as_slice() <= key) as u32;
        i.min(n.max(1) - 1)
    }
}

/// `n - 1` evenly spaced points of the sorted sample.
pub fn pick_split_points(mut sample: Vec<Vec<u8>>, n: u32) -> Vec<Vec<u8>> {
    sample.sort();
    if sample.is_empty() || n <= 1 {
        return Vec::new();
    }
    (1..n as usize)
        .map(|i| sample[(i * sample.len() / n as usize).min(sample.len() - 1)].clone())
        .collect()
}

/// terasort.
pub struct TeraSort;

async fn sample_keys(client: &DfsClient, splits: &[InputSplit]) -> Result<Vec<Vec<u8>>> {
    let step = (splits.len() / SAMPLE_SPLITS).max(1);
    let mut keys = Vec::new();
    for s in splits.iter().step_by(step).take(SAMPLE_SPLITS) {
        let InputSplit::File {
            path,
            start,
            length,
            ..
        } = s
        else {
            continue;
        };
        let first = FixedReader::<std::io::Empty>::first_record(*start, RECORD_LEN as u64);
        let end = start + length;
        if first >= end {
            continue;
        }
        let want = ((end - first) as usize).min(SAMPLE_RECORDS * RECORD_LEN);
        let want = want - want % RECORD_LEN;
        let mut buf = vec![0u8; want];
        let r = client.open(path).await?;
        let mut got = 0;
        while got < want {
            let n = r.read_at(first + got as u64, &mut buf[got..]).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        for rec in buf[..got - got % RECORD_LEN].chunks_exact(RECORD_LEN) {
            keys.push(rec[..KEY_LEN].to_vec());
        }
    }
    Ok(keys)
}

impl Job for TeraSort {
    fn name(&self) -> &str {
        "terasort"
    }
    fn usage(&self) -> &str {
        "<in> <out>"
    }
    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let [input, out] = args else {
            return Err(EngineError::Config(format!(
                "usage: terasort {}",
                self.usage()
            )));
        };
        // As Hadoop's TeraSort: the output is written once (replication
        // `mapreduce.terasort.output.replication`, default 1).
        if conf.get(OUTPUT_REPLICATION).is_none() {
            let r = conf.get_u64(OUTPUT_REPLICATION_KEY, 1)?.clamp(1, 512);
            conf.set(OUTPUT_REPLICATION, r);
        }
        Ok(JobPaths {
            inputs: vec![input.clone()],
            output: out.clone(),
        })
    }
    fn input_format(&self, _conf: &JobConf) -> InputFormat {
        TERA_INPUT
    }
    fn output_format(&self, _conf: &JobConf) -> OutputFormat {
        OutputFormat::Raw
    }
    fn mapper(&self, _conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(IdentityMapper))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(IdentityReducer))
    }
    fn partitioner(&self, conf: &JobConf) -> Result<Box<dyn Partitioner>> {
        Ok(Box::new(TotalOrderPartitioner::from_conf(conf)?))
    }
    fn prepare<'a>(
        &'a self,
        client: &'a DfsClient,
        conf: &'a mut JobConf,
        splits: &'a [InputSplit],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let n = conf.num_reduces()?;
            if n <= 1 {
                return Ok(());
            }
            let sample = sample_keys(client, splits).await?;
            let points = pick_split_points(sample, n);
            let text: Vec<String> = points.iter().map(hex::encode).collect();
            conf.set(SPLIT_POINTS, text.join(","));
            tracing::info!(points = points.len(), "terasort split points chosen");
            Ok(())
        })
    }
}

/// teravalidate.
pub struct TeraValidate;

struct ValidateMapper {
    first: Option<Vec<u8>>,
    last: Vec<u8>,
    count: u64,
    errors: u64,
}

impl Mapper for ValidateMapper {
    fn map(&mut self, key: &[u8], _value: &[u8], ctx: &mut dyn Context) -> Result<()> {
        if self.first.is_none() {
            self.first = Some(key.to_vec());
        } else if key < self.last.as_slice() {
            self.errors += 1;
            if self.errors <= 10 {
                let at = ctx.input_split().map(|s| s.describe()).unwrap_or_default();
                let msg = format!(
                    "misorder in {at} at record {}: {} after {}",
                    self.count,
                    hex::encode(key),
                    hex::encode(&self.last)
                );
                ctx.emit(b"error", msg.as_bytes())?;
            }
        }
        self.last.clear();
        self.last.extend_from_slice(key);
        self.count += 1;
        Ok(())
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let Some(first) = &self.first else {
            return Ok(());
        };
        let (path, start) = match ctx.input_split() {
            Some(InputSplit::File { path, start, .. }) => (path.clone(), *start),
            _ => (String::new(), 0),
        };
        // Keys sort by file, then offset.
        let key = format!("{path}\u{1}{start:020}");
        let value = format!(
            "{} {} {}",
            hex::encode(first),
            hex::encode(&self.last),
            self.count
        );
        ctx.emit(key.as_bytes(), value.as_bytes())
    }
}

/// Checks that each split's first key is not below the previous split's
/// last key; passes error lines through; counts records.
struct ValidateReducer {
    prev: Option<(String, Vec<u8>)>,
    records: u64,
}

impl Reducer for ValidateReducer {
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        if key == b"error" {
            while let Some(v) = values.next_value() {
                ctx.emit(b"error", v)?;
            }
            return Ok(());
        }
        let where_ = String::from_utf8_lossy(key).replace('\u{1}', ":");
        while let Some(v) = values.next_value() {
            let text = String::from_utf8_lossy(v).to_string();
            let mut parts = text.split(' ');
            let (Some(f), Some(l), Some(n)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(EngineError::task(format!(
                    "teravalidate: bad summary {text:?}"
                )));
            };
            let first = hex::decode(f).map_err(|e| EngineError::task(e.to_string()))?;
            let last = hex::decode(l).map_err(|e| EngineError::task(e.to_string()))?;
            self.records += n.parse::<u64>().unwrap_or(0);
            if let Some((pw, pl)) = &self.prev {
                if first < *pl {
                    let msg = format!(
                        "misorder between {pw} and {where_}: {} after {}",
                        hex::encode(&first),
                        hex::encode(pl)
                    );
                    ctx.emit(b"error", msg.as_bytes())?;
                }
            }
            self.prev = Some((where_.clone(), last));
        }
        Ok(())
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        ctx.emit(b"records", self.records.to_string().as_bytes())
    }
}

impl Job for TeraValidate {
    fn name(&self) -> &str {
        "teravalidate"
    }
    fn usage(&self) -> &str {
        "<terasort out> <report out>"
    }
    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let [input, out] = args else {
            return Err(EngineError::Config(format!(
                "usage: teravalidate {}",
                self.usage()
            )));
        };
        conf.set(NUM_REDUCES, 1);
        Ok(JobPaths {
            inputs: vec![input.clone()],
            output: out.clone(),
        })
    }
    fn input_format(&self, _conf: &JobConf) -> InputFormat {
        TERA_INPUT
    }
    fn mapper(&self, _conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(ValidateMapper {
            first: None,
            last: Vec::new(),
            count: 0,
            errors: 0,
        }))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(ValidateReducer {
            prev: None,
            records: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_the_gensort_layout() {
        let r = record(12345);
        assert_eq!(&r[10..12], &[0x00, 0x11]);
        assert_eq!(&r[12..44], format!("{:032X}", 12345u128).as_bytes());
        assert_eq!(&r[44..48], &[0x88, 0x99, 0xAA, 0xBB]);
        assert_eq!(&r[96..], &[0xCC, 0xDD, 0xEE, 0xFF]);
        assert_eq!(record(12345), r, "deterministic");
        assert_ne!(record(1)[..10], record(2)[..10]);
    }

    #[test]
    fn total_order_partitioner_ranges() {
        let sample: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let points = pick_split_points(sample, 4);
        assert_eq!(points.len(), 3);
        let p = TotalOrderPartitioner::new(points.clone());
        let mut last = 0;
        for i in 0..1000u32 {
            let x = p.partition(&i.to_be_bytes(), b"", 4);
            assert!(x >= last, "not monotone at {i}");
            last = x;
        }
        assert_eq!(p.partition(&0u32.to_be_bytes(), b"", 4), 0);
        assert_eq!(p.partition(&999u32.to_be_bytes(), b"", 4), 3);
        assert_eq!(
            p.partition(&points[0], b"", 4),
            1,
            "a point starts its range"
        );
        // Round trip through the configuration.
        let text: Vec<String> = points.iter().map(hex::encode).collect();
        let conf = JobConf::new().with(SPLIT_POINTS, text.join(","));
        let q = TotalOrderPartitioner::from_conf(&conf).unwrap();
        assert_eq!(q.points, points);
        assert!(
            TotalOrderPartitioner::from_conf(&JobConf::new().with(SPLIT_POINTS, "zz")).is_err()
        );
    }
}
