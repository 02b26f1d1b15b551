//! The job API: what a user (or a built-in job) writes.
//!
//! Keys and values are byte strings. A [`Mapper`] turns each input record
//! into any number of `(key, value)` pairs; the framework partitions them
//! with a [`Partitioner`] (the [`HashPartitioner`] by default), sorts them
//! by key (bytewise), optionally pre-aggregates them with a combiner (a
//! [`Reducer`] run on the map side) and hands each key with all its values
//! to a [`Reducer`]. A [`Job`] ties these together, names the input and
//! output formats and parses its command-line arguments; jobs are looked up
//! by name in a [`crate::engine::jobs::JobRegistry`] so a task process can
//! rebuild the job from its serialized [`crate::engine::task::TaskSpec`].
//!
//! Configuration is a [`JobConf`], a string map using Hadoop's key names.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tusk_client::DfsClient;

use super::counters::Counters;
use super::error::{EngineError, Result};
use super::splits::InputSplit;

/// Number of reduce tasks (default 1; 0 = map-only job).
pub const NUM_REDUCES: &str = "mapreduce.job.reduces";
/// Number of map tasks for inputs that are generated (teragen).
pub const NUM_MAPS: &str = "mapreduce.job.maps";
/// The map-side sort buffer in MiB (default 100).
pub const SORT_MB: &str = "mapreduce.task.io.sort.mb";
/// Share of the sort buffer that triggers a spill (default 0.80).
pub const SORT_SPILL_PERCENT: &str = "mapreduce.map.sort.spill.percent";
/// Maximum number of spills merged at once (default 10).
pub const SORT_FACTOR: &str = "mapreduce.task.io.sort.factor";
/// The job's name, shown in reports.
pub const JOB_NAME: &str = "mapreduce.job.name";
/// Attempts per map task before the job fails (default 4).
pub const MAP_MAX_ATTEMPTS: &str = "mapreduce.map.maxattempts";
/// Attempts per reduce task before the job fails (default 4).
pub const REDUCE_MAX_ATTEMPTS: &str = "mapreduce.reduce.maxattempts";
/// Share of maps done before reducers start (default 0.05).
pub const SLOWSTART: &str = "mapreduce.job.reduce.slowstart.completedmaps";
/// Parallel fetches per reducer (default 5).
pub const SHUFFLE_PARALLEL_COPIES: &str = "mapreduce.reduce.shuffle.parallelcopies";
/// Memory (MiB) a reducer keeps fetched segments in before merging them
/// to disk (Tusk's own key; Hadoop sizes it from the heap; default 128).
pub const SHUFFLE_MEMORY_MB: &str = "tusk.reduce.shuffle.memory.mb";
/// Fetch attempts per map output before a fetch failure is reported (default 3).
pub const SHUFFLE_FETCH_RETRIES: &str = "tusk.reduce.shuffle.fetch.retries";
/// Output file replication (default: the client's).
pub const OUTPUT_REPLICATION: &str = "dfs.replication";
/// `true`: output files are named as by Hadoop's old `mapred` API
/// (`part-NNNNN`, what Hadoop Streaming writes) instead of `part-r-NNNNN` /
/// `part-m-NNNNN` (Tusk's key; default false).
pub const OLD_API_PART_NAMES: &str = "tusk.output.old.part.names";
/// `true`: a task's main output file is created only when the task writes
/// to it (Hadoop's `LazyOutputFormat`), e.g. for jobs that write only named
/// outputs.
pub const LAZY_OUTPUT: &str = "tusk.output.lazy";

/// The name of the output file of reduce (or, in a map-only job, map)
/// task `task`.
pub fn part_file_name(conf: &JobConf, map_only: bool, task: u32) -> String {
    if conf.get(OLD_API_PART_NAMES) == Some("true") {
        format!("part-{task:05}")
    } else if map_only {
        format!("part-m-{task:05}")
    } else {
        format!("part-r-{task:05}")
    }
}

/// A job's configuration: Hadoop key names, string values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConf {
    values: BTreeMap<String, String>,
}

impl JobConf {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl ToString) -> &mut Self {
        self.values.insert(key.into(), value.to_string());
        self
    }

    pub fn with(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.set(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|s| s.as_str())
    }

    /// Parses `key` as a number; `default` when unset, an error naming the
    /// key when malformed.
    pub fn get_u64(&self, key: &str, default: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| EngineError::Config(format!("{key}: not a number: {v:?}"))),
        }
    }

    /// `true`/`false` in any case, as Hadoop's `Configuration.getBoolean`.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(str::trim) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(EngineError::Config(format!(
                "{key}: not true or false: {v:?}"
            ))),
        }
    }

    pub fn get_f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| EngineError::Config(format!("{key}: not a number: {v:?}"))),
        }
    }

    /// Applies a `key=value` setting (`-D` on a command line).
    pub fn set_pair(&mut self, kv: &str) -> Result<()> {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| EngineError::Config(format!("-D {kv}: expected key=value")))?;
        if k.is_empty() {
            return Err(EngineError::Config(format!("-D {kv}: empty key")));
        }
        self.set(k, v);
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn num_reduces(&self) -> Result<u32> {
        let n = self.get_u64(NUM_REDUCES, 1)?;
        u32::try_from(n).map_err(|_| EngineError::Config(format!("{NUM_REDUCES}: too large: {n}")))
    }

    /// The sort buffer size in bytes.
    pub fn sort_bytes(&self) -> Result<usize> {
        let mb = self.get_u64(SORT_MB, 100)?;
        if mb == 0 || mb > 2047 {
            return Err(EngineError::Config(format!(
                "{SORT_MB}: must be between 1 and 2047, got {mb}"
            )));
        }
        Ok((mb as usize) << 20)
    }

    pub fn max_attempts(&self, map: bool) -> Result<u32> {
        let key = if map {
            MAP_MAX_ATTEMPTS
        } else {
            REDUCE_MAX_ATTEMPTS
        };
        Ok(self.get_u64(key, 4)?.clamp(1, 100) as u32)
    }

    pub fn slowstart(&self) -> Result<f64> {
        Ok(self.get_f64(SLOWSTART, 0.05)?.clamp(0.0, 1.0))
    }

    pub fn job_name(&self) -> &str {
        self.get(JOB_NAME).unwrap_or("")
    }
}

/// What user code sees while it runs: where output goes, counters, the
/// configuration and which attempt this is.
pub trait Context {
    /// Emits one output pair (to the sort buffer, or to the output file for
    /// a reducer or a map-only job).
    fn emit(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// The task's counters; user counters go in any group of one's own.
    fn counters(&mut self) -> &mut Counters;
    fn conf(&self) -> &JobConf;
    /// `attempt_<app>_m_000003_1`-style id of the running attempt.
    fn attempt_id(&self) -> &str;
    /// 0 for the first attempt of a task, 1 for the next…
    fn attempt_number(&self) -> u32;
    /// The split a map task reads (`None` in reducers and combiners).
    fn input_split(&self) -> Option<&InputSplit> {
        None
    }
    /// Emits one pair to the named output `name` (Hadoop's
    /// `MultipleOutputs`): it goes to `OUT/<name>/part-r-NNNNN` and is
    /// committed with the task's main output. `name` is one path component
    /// of letters, digits, `_`, `-` and `.`, not starting with `_` or `.`.
    /// Reducers have named outputs; elsewhere this is an error.
    fn emit_named(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let _ = (key, value);
        Err(super::error::EngineError::task(format!(
            "named output {name}: only reducers have named outputs"
        )))
    }
    /// Adds to a counter.
    fn incr(&mut self, group: &str, name: &str, n: i64) {
        self.counters().incr(group, name, n);
    }
}

/// Turns input records into intermediate pairs.
pub trait Mapper: Send {
    fn setup(&mut self, _ctx: &mut dyn Context) -> Result<()> {
        Ok(())
    }
    fn map(&mut self, key: &[u8], value: &[u8], ctx: &mut dyn Context) -> Result<()>;
    fn cleanup(&mut self, _ctx: &mut dyn Context) -> Result<()> {
        Ok(())
    }
}

/// The values of one key, lent one at a time: each slice is valid until the
/// next call (Hadoop reuses its value object the same way), so the
/// framework copies nothing per value. Copy a value (`to_vec`) to keep it.
pub trait Values {
    /// The next value of the key, `None` after the last.
    fn next_value(&mut self) -> Option<&[u8]>;
}

/// Values from a slice of byte strings (tests, in-memory callers).
pub struct SliceValues<'a, T: AsRef<[u8]>> {
    items: &'a [T],
    pos: usize,
}

impl<'a, T: AsRef<[u8]>> SliceValues<'a, T> {
    pub fn new(items: &'a [T]) -> Self {
        Self { items, pos: 0 }
    }
}

impl<T: AsRef<[u8]>> Values for SliceValues<'_, T> {
    fn next_value(&mut self) -> Option<&[u8]> {
        let v = self.items.get(self.pos)?;
        self.pos += 1;
        Some(v.as_ref())
    }
}

/// Gets each key once with all its values (in key order). Also the type
/// of a combiner, which must emit pairs a reducer accepts as input.
pub trait Reducer: Send {
    fn setup(&mut self, _ctx: &mut dyn Context) -> Result<()> {
        Ok(())
    }
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()>;
    fn cleanup(&mut self, _ctx: &mut dyn Context) -> Result<()> {
        Ok(())
    }
}

/// Chooses the reduce partition of a map output pair.
pub trait Partitioner: Send + Sync {
    /// A number in `0..num_partitions` (`num_partitions` ≥ 1).
    fn partition(&self, key: &[u8], value: &[u8], num_partitions: u32) -> u32;
}

/// Hadoop's `HashPartitioner` over Hadoop's `Text.hashCode`
/// (`WritableComparator.hashBytes`: `h = 31·h + b` over signed bytes,
/// starting at 1): stable across runs and processes, unlike `SipHash`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashPartitioner;

/// Hadoop's `WritableComparator.hashBytes`.
pub fn hadoop_hash_bytes(bytes: &[u8]) -> i32 {
    let mut h: i32 = 1;
    for &b in bytes {
        h = h.wrapping_mul(31).wrapping_add(b as i8 as i32);
    }
    h
}

impl Partitioner for HashPartitioner {
    fn partition(&self, key: &[u8], _value: &[u8], n: u32) -> u32 {
        ((hadoop_hash_bytes(key) & i32::MAX) as u32) % n.max(1)
    }
}

/// Emits every value under its key unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityReducer;

impl Reducer for IdentityReducer {
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        while let Some(v) = values.next_value() {
            ctx.emit(key, v)?;
        }
        Ok(())
    }
}

/// Emits its input unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityMapper;

impl Mapper for IdentityMapper {
    fn map(&mut self, key: &[u8], value: &[u8], ctx: &mut dyn Context) -> Result<()> {
        ctx.emit(key, value)
    }
}

/// How input files become records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputFormat {
    /// Hadoop's `TextInputFormat`: key = byte offset of the line (decimal
    /// ASCII), value = the line without `\n`/`\r\n`. `.gz` files are one
    /// unsplittable split.
    Text,
    /// Fixed-length records (`TeraInputFormat` with 100): key = the first
    /// `key_len` bytes, value = the rest. A record belongs to the split in
    /// which its first byte lies.
    Fixed { record_len: u32, key_len: u32 },
    /// No input files: the job generates its records (teragen). The splits
    /// are row ranges; key = row number (u64 BE), value empty.
    Rows,
}

/// How output pairs become bytes in `part-*` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputFormat {
    /// Hadoop's `TextOutputFormat`: `key\tvalue\n`, or `key\n` when the
    /// value is empty.
    Text,
    /// Key bytes then value bytes, nothing between (`TeraOutputFormat`).
    Raw,
}

/// Where a job reads and writes, from its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPaths {
    /// Files, directories or globs; empty for generated input.
    pub inputs: Vec<String>,
    pub output: String,
}

/// A MapReduce job: its parts and how it reads its arguments. Implement
/// this in your own crate and run it with [`crate::job_main`].
pub trait Job: Send + Sync {
    /// Registry name (`wordcount`).
    fn name(&self) -> &str;

    /// One-line argument synopsis for usage messages.
    fn usage(&self) -> &str {
        "<in> [<in>...] <out>"
    }

    /// Reads the arguments after the job name into `conf` and the paths.
    /// Default: one or more inputs, then the output.
    fn configure(&self, args: &[String], _conf: &mut JobConf) -> Result<JobPaths> {
        if args.len() < 2 {
            return Err(EngineError::Config(format!(
                "usage: {} {}",
                self.name(),
                self.usage()
            )));
        }
        Ok(JobPaths {
            inputs: args[..args.len() - 1].to_vec(),
            output: args[args.len() - 1].clone(),
        })
    }

    fn input_format(&self, _conf: &JobConf) -> InputFormat {
        InputFormat::Text
    }

    fn output_format(&self, _conf: &JobConf) -> OutputFormat {
        OutputFormat::Text
    }

    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>>;

    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(IdentityReducer))
    }

    fn combiner(&self, _conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(None)
    }

    fn partitioner(&self, _conf: &JobConf) -> Result<Box<dyn Partitioner>> {
        Ok(Box::new(HashPartitioner))
    }

    /// Runs once in the driver after splits are known and before any task
    /// (terasort samples its input here and stores the split points in
    /// `conf`).
    fn prepare<'a>(
        &'a self,
        _client: &'a DfsClient,
        _conf: &'a mut JobConf,
        _splits: &'a [InputSplit],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_hadoop_text_hash() {
        // Java: WritableComparator.hashBytes("hello".getBytes(), 5)
        // = 31^5 + Σ b·31^(4-i) over "hello" = 127791473 (checked by hand:
        // it is String.hashCode("hello") + 31^5).
        assert_eq!(hadoop_hash_bytes(b"hello"), 99162322 + 28629151);
        assert_eq!(hadoop_hash_bytes(b""), 1);
        // Signed bytes: 0xff counts as -1.
        assert_eq!(hadoop_hash_bytes(&[0xff]), 31 - 1);
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        let p = HashPartitioner;
        for n in 1..7u32 {
            for k in [&b"a"[..], b"hello", b"\xff\xfe", b""] {
                let x = p.partition(k, b"", n);
                assert!(x < n);
                assert_eq!(x, p.partition(k, b"other value", n));
            }
        }
        // Spread: 1000 keys over 4 partitions, none empty or dominant.
        let mut counts = [0u32; 4];
        for i in 0..1000 {
            counts[p.partition(format!("key{i}").as_bytes(), b"", 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 150 && c < 350), "{counts:?}");
    }

    #[test]
    fn part_names_new_and_old_api() {
        let mut c = JobConf::new();
        assert_eq!(part_file_name(&c, false, 3), "part-r-00003");
        assert_eq!(part_file_name(&c, true, 0), "part-m-00000");
        c.set(OLD_API_PART_NAMES, "true");
        assert_eq!(part_file_name(&c, false, 3), "part-00003");
        assert_eq!(part_file_name(&c, true, 12), "part-00012");
    }

    #[test]
    fn conf_parses_and_rejects() {
        let mut c = JobConf::new();
        assert_eq!(c.num_reduces().unwrap(), 1);
        assert_eq!(c.sort_bytes().unwrap(), 100 << 20);
        assert_eq!(c.max_attempts(true).unwrap(), 4);
        c.set_pair("mapreduce.job.reduces=3").unwrap();
        assert_eq!(c.num_reduces().unwrap(), 3);
        c.set(SORT_MB, "x");
        let e = c.sort_bytes().unwrap_err().to_string();
        assert!(e.contains(SORT_MB), "{e}");
        assert!(c.set_pair("novalue").is_err());
        c.set(SORT_MB, 0);
        assert!(c.sort_bytes().is_err());
    }
}
