//! One task attempt, from its serializable [`TaskSpec`] to a [`TaskReport`]:
//! the code that runs inside a container (or on a thread of the
//! [`super::local::LocalLauncher`]).
//!
//! Map: records of the split go through the mapper into the sort buffer
//! ([`super::sortbuf`]), which leaves `file.out` and `file.out.index` in
//! `<local_dir>/output/<attempt>/` for the shuffle; a map-only job's mapper
//! writes `part-m-NNNNN` under the attempt's committer directory instead.
//!
//! Reduce: the reducer learns where map outputs are from the
//! [`Umbilical`] (a versioned snapshot it can wait on), fetches its
//! partition of each with bounded parallelism and retries, keeps small
//! segments in memory and merges them to local disk runs when they
//! exceed the shuffle memory, then merges everything (k-way), groups by
//! key, runs the reducer and writes `part-r-NNNNN`. A map output that
//! cannot be fetched after the retries is reported with
//! [`Umbilical::fetch_failed`], naming the map attempt and host; the
//! driver re-runs that map and publishes the new location.
//!
//! CPU work (mapping, sorting, merging, reducing) runs on blocking
//! threads; DFS and network I/O stay async and talk to them over bounded
//! channels.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tusk_client::{CreateOptions, DfsClient};

use super::api::{
    part_file_name, InputFormat, Job, JobConf, OutputFormat, LAZY_OUTPUT, OUTPUT_REPLICATION,
    SHUFFLE_FETCH_RETRIES, SHUFFLE_MEMORY_MB, SHUFFLE_PARALLEL_COPIES, SORT_FACTOR,
    SORT_SPILL_PERCENT,
};
use super::committer::Committer;
use super::context::{Sink, SinkContext, TaskInfo};
use super::counters::{self as c, Counters};
use super::error::{EngineError, Result};
use super::ifile::{
    for_each_group, merge_segments, merge_to_factor, write_run, MemSegment, Merger, RecordSource,
    Segment,
};
use super::input::{
    spawn_dfs_reader, ChannelReader, FixedReader, LineReader, RecordReader, RowReader,
};
use super::shuffle::fetch_segment;
use super::sortbuf::MapOutputBuffer;
use super::splits::{is_splittable, InputSplit};

/// Map or reduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskType {
    Map,
    Reduce,
}

impl TaskType {
    pub fn letter(self) -> char {
        match self {
            TaskType::Map => 'm',
            TaskType::Reduce => 'r',
        }
    }
}

/// Identifies one attempt of one task of one application.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttemptId {
    pub app_id: String,
    pub task_type: TaskType,
    pub task: u32,
    /// 0 for the first attempt.
    pub attempt: u32,
}

impl AttemptId {
    /// `task_<app>_m_000003`.
    pub fn task_id(&self) -> String {
        format!(
            "task_{}_{}_{:06}",
            self.job_part(),
            self.task_type.letter(),
            self.task
        )
    }

    /// The id's application part as Hadoop writes it: `1795…_0001` of
    /// `application_1795…_0001`.
    fn job_part(&self) -> &str {
        self.app_id
            .strip_prefix("application_")
            .unwrap_or(&self.app_id)
    }
}

impl fmt::Display for AttemptId {
    /// `attempt_<cluster ts>_<app seq>_m_000003_0`, as Hadoop's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt_{}_{}_{:06}_{}",
            self.job_part(),
            self.task_type.letter(),
            self.task,
            self.attempt
        )
    }
}

/// What one attempt does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskWork {
    Map {
        split: InputSplit,
        num_reduces: u32,
    },
    /// Reduces partition `attempt.task` of `num_maps` maps.
    Reduce {
        num_maps: u32,
    },
}

/// Everything a task process needs; serializable so it can be handed to a
/// container (as JSON, see [`TaskSpec::to_json`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Registry name of the job.
    pub job: String,
    pub conf: JobConf,
    pub attempt: AttemptId,
    /// Namenode address and user the task uses for DFS.
    pub namenode: String,
    pub user: String,
    /// Absolute output directory of the job.
    pub output: String,
    /// Application (driver) attempt, part of the committer's paths.
    pub app_attempt: u32,
    /// `$TUSK_APP_LOCAL_DIR`: map outputs go to `output/<attempt>/` here.
    pub local_dir: PathBuf,
    pub work: TaskWork,
}

impl TaskSpec {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("task specs serialize")
    }

    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| EngineError::Config(format!("bad task spec: {e}")))
    }

    /// Where a map attempt's `file.out` and index go.
    pub fn map_output_dir(&self) -> PathBuf {
        self.local_dir.join("output").join(self.attempt.to_string())
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    Succeeded,
    Failed,
    /// Stopped because the job no longer needed it.
    Killed,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    pub attempt: AttemptId,
    pub status: TaskStatus,
    pub counters: Counters,
    /// Why it failed (one line), empty on success.
    pub diagnostics: String,
}

/// Where one map's output can be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOutputLocation {
    pub attempt_id: String,
    pub host: String,
    /// `host:port` of the shuffle service serving it.
    pub shuffle_addr: String,
}

/// The map outputs known to the driver, versioned so a reducer can wait
/// for news.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOutputs {
    pub version: u64,
    /// Indexed by map; `None` while the map has no usable output.
    pub maps: Vec<Option<MapOutputLocation>>,
    /// The job is over (finished or failed): stop.
    pub stop: bool,
}

/// A reducer could not fetch a map's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchFailure {
    pub reduce_attempt: String,
    pub map: u32,
    pub map_attempt: String,
    pub host: String,
    pub cause: String,
}

/// The task's line back to its driver (Hadoop's umbilical protocol). The
/// local launcher hands the driver's own object to tasks; a container's
/// task talks to it over RPC.
pub trait Umbilical: Send + Sync {
    /// The map outputs, once their version exceeds `seen` (or the job stops).
    fn map_outputs(&self, seen: u64) -> BoxFuture<'_, MapOutputs>;
    /// Reports an output that could not be fetched.
    fn fetch_failed(&self, failure: FetchFailure);
    /// Share of the attempt's work done, 0..=1.
    fn progress(&self, attempt_id: &str, fraction: f32);
    /// The job no longer needs this task.
    fn should_stop(&self) -> bool;
}

/// Runs one attempt to the end. Never panics on user code: a panic in a
/// mapper or reducer becomes a failed report with the panic message.
pub async fn run_task(
    spec: TaskSpec,
    job: Arc<dyn Job>,
    client: DfsClient,
    umbilical: Arc<dyn Umbilical>,
) -> TaskReport {
    let attempt = spec.attempt.clone();
    let t0 = std::time::Instant::now();
    let res = match spec.work.clone() {
        TaskWork::Map { split, num_reduces } => {
            run_map(&spec, split, num_reduces, job, client, umbilical).await
        }
        TaskWork::Reduce { num_maps } => run_reduce(&spec, num_maps, job, client, umbilical).await,
    };
    tracing::debug!(attempt = %attempt, secs = t0.elapsed().as_secs_f64(), ok = res.is_ok(), "task attempt done");
    match res {
        Ok(counters) => TaskReport {
            attempt,
            status: TaskStatus::Succeeded,
            counters,
            diagnostics: String::new(),
        },
        Err(e) => {
            let status = match e {
                EngineError::Killed(_) => TaskStatus::Killed,
                _ => TaskStatus::Failed,
            };
            tracing::info!(attempt = %attempt, "task attempt ended: {e}");
            TaskReport {
                attempt,
                status,
                counters: Counters::new(),
                diagnostics: e.to_string(),
            }
        }
    }
}

/// Runs `f` on a blocking thread, turning a panic into a task error.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let r = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    })
    .await
    .map_err(|e| EngineError::task(format!("{what}: {e}")))?;
    match r {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(EngineError::task(format!("{what} panicked: {msg}")))
        }
    }
}

/// Writes formatted output records to a DFS file through a channel.
struct OutputSink {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
    format: OutputFormat,
    /// Counter of the records written, added at [`OutputSink::finish`]
    /// (none for named outputs, as Hadoop's `MultipleOutputs`).
    counter: Option<&'static str>,
    records: u64,
}

const OUTPUT_FLUSH: usize = 1 << 20;

impl OutputSink {
    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::replace(&mut self.buf, Vec::with_capacity(OUTPUT_FLUSH + 4096));
        self.tx
            .blocking_send(buf)
            .map_err(|_| EngineError::task("output writer stopped"))
    }
}

impl OutputSink {
    fn new(tx: mpsc::Sender<Vec<u8>>, format: OutputFormat, counter: Option<&'static str>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(OUTPUT_FLUSH + 4096),
            format,
            counter,
            records: 0,
        }
    }

    /// Sends what is buffered and counts the records.
    fn finish(&mut self, counters: &mut Counters) -> Result<()> {
        if let Some(name) = self.counter {
            counters.task(name, self.records as i64);
        }
        self.records = 0;
        self.flush()
    }
}

impl Sink for OutputSink {
    fn put(&mut self, key: &[u8], value: &[u8], _counters: &mut Counters) -> Result<()> {
        self.records += 1;
        match self.format {
            OutputFormat::Text => {
                self.buf.extend_from_slice(key);
                if !value.is_empty() {
                    self.buf.push(b'\t');
                    self.buf.extend_from_slice(value);
                }
                self.buf.push(b'\n');
            }
            OutputFormat::Raw => {
                self.buf.extend_from_slice(key);
                self.buf.extend_from_slice(value);
            }
        }
        if self.buf.len() >= OUTPUT_FLUSH {
            self.flush()?;
        }
        Ok(())
    }
}

/// The task writing an output file; resolves to the bytes written.
type OutputWriter = tokio::task::JoinHandle<Result<u64>>;

/// Creates the output file and writes what arrives until the sender is
/// dropped. Returns the bytes written.
fn spawn_output_writer(
    client: DfsClient,
    path: String,
    conf: &JobConf,
) -> Result<(mpsc::Sender<Vec<u8>>, OutputWriter)> {
    let mut opts = CreateOptions::default().with_overwrite(true);
    if conf.get(OUTPUT_REPLICATION).is_some() {
        opts = opts.with_replication(conf.get_u64(OUTPUT_REPLICATION, 3)? as u32);
    }
    let lazy = conf.get_bool(LAZY_OUTPUT, false)?;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
    let h = tokio::spawn(async move {
        let mut first = None;
        if lazy {
            // Hadoop's LazyOutputFormat: no file until there is a record.
            match rx.recv().await {
                Some(buf) => first = Some(buf),
                None => return Ok(0),
            }
        }
        let mut w = client.create(&path, opts).await?;
        let mut total = 0u64;
        if let Some(buf) = first {
            w.write_all(&buf).await?;
            total += buf.len() as u64;
        }
        while let Some(buf) = rx.recv().await {
            w.write_all(&buf).await?;
            total += buf.len() as u64;
        }
        w.close().await?;
        Ok(total)
    });
    Ok((tx, h))
}

/// Waits for the writer; its error explains a "writer stopped" failure.
async fn finish_output(
    work: Result<Counters>,
    writer: tokio::task::JoinHandle<Result<u64>>,
) -> Result<Counters> {
    let written = writer
        .await
        .map_err(|e| EngineError::task(format!("output writer: {e}")))?;
    let mut counters = match (work, written) {
        (Err(e), Ok(_)) => return Err(e),
        (Err(EngineError::Task(m)), Err(we)) if m == "output writer stopped" => return Err(we),
        (Err(e), Err(_)) => return Err(e),
        (Ok(_), Err(we)) => return Err(we),
        (Ok(c), Ok(n)) => {
            let mut c = c;
            c.incr(c::FS_GROUP, c::HDFS_BYTES_WRITTEN, n as i64);
            c
        }
    };
    counters.incr(c::FS_GROUP, c::HDFS_BYTES_WRITTEN, 0);
    Ok(counters)
}

/// A reducer's named outputs (Hadoop's `MultipleOutputs`): one file
/// `<attempt dir>/<name>/<part file>` per name, created when the name is
/// first written, committed with the attempt's main output.
struct NamedOutputs {
    client: DfsClient,
    /// The attempt's directory and the part file name every output uses.
    dir: String,
    file: String,
    conf: JobConf,
    format: OutputFormat,
    open: std::collections::BTreeMap<String, (OutputSink, OutputWriter)>,
}

impl NamedOutputs {
    fn put(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        if !self.open.contains_key(name) {
            let valid = !name.is_empty()
                && !name.starts_with(['_', '.'])
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !valid {
                return Err(EngineError::task(format!(
                    "named output {name:?}: a name is one path component of letters, digits, '_', '-' and '.', not starting with '_' or '.'"
                )));
            }
            let path = format!("{}/{name}/{}", self.dir, self.file);
            let (tx, writer) = spawn_output_writer(self.client.clone(), path, &self.conf)?;
            self.open.insert(
                name.to_string(),
                (OutputSink::new(tx, self.format, None), writer),
            );
        }
        let (sink, _) = self.open.get_mut(name).expect("inserted above");
        let mut unused = Counters::default();
        sink.put(key, value, &mut unused)
    }

    /// Flushes every output and hands back the writers to wait for.
    fn close(self) -> Result<Vec<OutputWriter>> {
        let mut writers = Vec::with_capacity(self.open.len());
        let mut first_err = None;
        for (_, (mut sink, writer)) in self.open {
            if let Err(e) = sink.finish(&mut Counters::default()) {
                first_err.get_or_insert(e);
            }
            drop(sink);
            writers.push(writer);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(writers),
        }
    }
}

/// What a reducer's output goes into: the main part file and the named outputs.
struct ReduceSink {
    main: OutputSink,
    named: NamedOutputs,
}

impl Sink for ReduceSink {
    fn put(&mut self, key: &[u8], value: &[u8], counters: &mut Counters) -> Result<()> {
        self.main.put(key, value, counters)
    }
    fn put_named(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.named.put(name, key, value)
    }
}

/// What map output goes into.
enum MapSink {
    Sorted(Box<MapOutputBuffer>),
    Direct(OutputSink),
}

impl Sink for MapSink {
    fn put(&mut self, key: &[u8], value: &[u8], counters: &mut Counters) -> Result<()> {
        match self {
            MapSink::Sorted(b) => b.put(key, value, counters),
            MapSink::Direct(o) => o.put(key, value, counters),
        }
    }
}

async fn run_map(
    spec: &TaskSpec,
    split: InputSplit,
    num_reduces: u32,
    job: Arc<dyn Job>,
    client: DfsClient,
    umb: Arc<dyn Umbilical>,
) -> Result<Counters> {
    let conf = spec.conf.clone();
    let attempt_id = spec.attempt.to_string();
    let info = TaskInfo {
        conf: conf.clone(),
        attempt_id: attempt_id.clone(),
        attempt_number: spec.attempt.attempt,
        split: Some(split.clone()),
    };
    let in_format = job.input_format(&conf);
    // The input stream, started before the blocking work.
    let input = match (&split, in_format) {
        (InputSplit::File { path, start, .. }, InputFormat::Text) => {
            let from = if is_splittable(in_format, path) {
                start.saturating_sub(1)
            } else {
                0
            };
            Some(ChannelReader::new(spawn_dfs_reader(
                client.clone(),
                path.clone(),
                from,
            )))
        }
        (InputSplit::File { path, start, .. }, InputFormat::Fixed { record_len, .. }) => {
            let from =
                FixedReader::<std::io::Empty>::first_record(*start, record_len.max(1) as u64);
            Some(ChannelReader::new(spawn_dfs_reader(
                client.clone(),
                path.clone(),
                from,
            )))
        }
        (InputSplit::Rows { .. }, InputFormat::Rows) => None,
        (s, f) => {
            return Err(EngineError::Config(format!(
                "split {} does not fit input format {f:?}",
                s.describe()
            )))
        }
    };
    let out_dir = spec.map_output_dir();
    let spill_dir = spec.local_dir.join("spill").join(&attempt_id);
    let writer = if num_reduces == 0 {
        let committer = Committer::new(client.clone(), &spec.output, spec.app_attempt);
        let path = format!(
            "{}/{}",
            committer.attempt_path(&attempt_id),
            part_file_name(&conf, true, spec.attempt.task)
        );
        Some(spawn_output_writer(client.clone(), path, &conf)?)
    } else {
        None
    };
    let (out_tx, writer_handle) = match writer {
        Some((tx, h)) => (Some(tx), Some(h)),
        None => (None, None),
    };
    let out_format = job.output_format(&conf);
    let spill_dir2 = spill_dir.clone();
    let work = blocking("map", move || {
        let mut counters = Counters::new();
        let received = input.as_ref().map(|r| r.received.clone());
        let mut reader: Box<dyn RecordReader> = match (split, input) {
            (
                InputSplit::File {
                    path,
                    start,
                    length,
                    ..
                },
                Some(ch),
            ) => match in_format {
                InputFormat::Text if !is_splittable(in_format, &path) => Box::new(LineReader::new(
                    std::io::BufReader::with_capacity(
                        1 << 20,
                        flate2::read::MultiGzDecoder::new(ch),
                    ),
                    0,
                    u64::MAX,
                    &path,
                )?),
                InputFormat::Text => Box::new(LineReader::new(
                    std::io::BufReader::with_capacity(1 << 20, ch),
                    start,
                    start + length,
                    &path,
                )?),
                InputFormat::Fixed {
                    record_len,
                    key_len,
                } => Box::new(FixedReader::new(
                    std::io::BufReader::with_capacity(1 << 20, ch),
                    start,
                    start + length,
                    record_len,
                    key_len,
                    &path,
                )),
                InputFormat::Rows => unreachable!("checked above"),
            },
            (InputSplit::Rows { first, count }, _) => Box::new(RowReader::new(first, count)),
            (InputSplit::File { .. }, None) => unreachable!("file splits have an input"),
        };
        let mut sink = match out_tx {
            Some(tx) => {
                MapSink::Direct(OutputSink::new(tx, out_format, Some(c::MAP_OUTPUT_RECORDS)))
            }
            None => MapSink::Sorted(Box::new(MapOutputBuffer::new(
                num_reduces,
                job.partitioner(&info.conf)?,
                job.combiner(&info.conf)?,
                info.clone(),
                spill_dir2,
                info.conf.sort_bytes()?,
                info.conf.get_f64(SORT_SPILL_PERCENT, 0.8)?,
            ))),
        };
        let mut mapper = job.mapper(&info.conf)?;
        mapper.setup(&mut SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        })?;
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut n = 0u64;
        while reader.next(&mut k, &mut v)? {
            mapper.map(
                &k,
                &v,
                &mut SinkContext {
                    sink: &mut sink,
                    counters: &mut counters,
                    info: &info,
                },
            )?;
            n += 1;
            if n.is_multiple_of(4096) {
                if umb.should_stop() {
                    return Err(EngineError::Killed(info.attempt_id.clone()));
                }
                umb.progress(&info.attempt_id, reader.progress());
            }
        }
        mapper.cleanup(&mut SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        })?;
        drop(reader);
        counters.task(c::MAP_INPUT_RECORDS, n as i64);
        if let Some(r) = received {
            counters.incr(
                c::FS_GROUP,
                c::HDFS_BYTES_READ,
                r.load(Ordering::Relaxed) as i64,
            );
        }
        match sink {
            MapSink::Sorted(buf) => {
                buf.finish(&out_dir, &mut counters)?;
            }
            MapSink::Direct(mut o) => o.finish(&mut counters)?,
        }
        Ok(counters)
    })
    .await;
    let _ = tokio::fs::remove_dir_all(&spill_dir).await;
    match writer_handle {
        Some(h) => finish_output(work, h).await,
        None => {
            if work.is_err() {
                let _ = tokio::fs::remove_dir_all(spec.map_output_dir()).await;
            }
            work
        }
    }
}

/// Fetches with retries and backoff; the last error on failure.
async fn fetch_with_retries(
    loc: &MapOutputLocation,
    app_id: &str,
    partition: u32,
    retries: u32,
) -> std::result::Result<Bytes, String> {
    let mut last = String::new();
    for i in 0..retries.max(1) {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100 << i.min(5))).await;
        }
        match fetch_segment(
            &loc.shuffle_addr,
            app_id,
            &loc.attempt_id,
            partition,
            Duration::from_secs(120),
        )
        .await
        {
            Ok(b) => return Ok(b),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn run_reduce(
    spec: &TaskSpec,
    num_maps: u32,
    job: Arc<dyn Job>,
    client: DfsClient,
    umb: Arc<dyn Umbilical>,
) -> Result<Counters> {
    let conf = spec.conf.clone();
    let attempt_id = spec.attempt.to_string();
    let partition = spec.attempt.task;
    let work_dir = spec.local_dir.join("reduce").join(&attempt_id);
    let res = shuffle_and_reduce(
        spec,
        num_maps,
        job,
        client,
        umb,
        &work_dir,
        &conf,
        &attempt_id,
        partition,
    )
    .await;
    let _ = tokio::fs::remove_dir_all(&work_dir).await;
    res
}

#[allow(clippy::too_many_arguments)]
async fn shuffle_and_reduce(
    spec: &TaskSpec,
    num_maps: u32,
    job: Arc<dyn Job>,
    client: DfsClient,
    umb: Arc<dyn Umbilical>,
    work_dir: &Path,
    conf: &JobConf,
    attempt_id: &str,
    partition: u32,
) -> Result<Counters> {
    let mem_limit = (conf.get_u64(SHUFFLE_MEMORY_MB, 128)? as usize).max(1) << 20;
    let parallel = conf.get_u64(SHUFFLE_PARALLEL_COPIES, 5)?.clamp(1, 64) as usize;
    let retries = conf.get_u64(SHUFFLE_FETCH_RETRIES, 3)?.clamp(1, 20) as u32;
    tokio::fs::create_dir_all(work_dir)
        .await
        .map_err(|e| EngineError::io(work_dir.display(), e))?;
    let mut counters = Counters::new();
    let mut mem: Vec<(String, Bytes)> = Vec::new();
    let mut mem_bytes = 0usize;
    let mut runs: Vec<PathBuf> = Vec::new();
    let mut fetched = vec![false; num_maps as usize];
    let mut done = 0usize;
    let mut in_flight: HashSet<u32> = HashSet::new();
    let mut bad: HashSet<String> = HashSet::new();
    let mut fetches: JoinSet<(u32, MapOutputLocation, std::result::Result<Bytes, String>)> =
        JoinSet::new();
    let mut snap = umb.map_outputs(0).await;
    while done < num_maps as usize {
        if snap.stop || umb.should_stop() {
            fetches.abort_all();
            return Err(EngineError::Killed(attempt_id.to_string()));
        }
        for (i, loc) in snap.maps.iter().enumerate().take(num_maps as usize) {
            let i32_ = i as u32;
            if fetches.len() >= parallel {
                break;
            }
            let Some(loc) = loc else { continue };
            if fetched[i] || in_flight.contains(&i32_) || bad.contains(&loc.attempt_id) {
                continue;
            }
            in_flight.insert(i32_);
            let loc = loc.clone();
            let app = spec.attempt.app_id.clone();
            fetches.spawn(async move {
                let r = fetch_with_retries(&loc, &app, partition, retries).await;
                (i32_, loc, r)
            });
        }
        let seen = snap.version;
        tokio::select! {
            Some(joined) = fetches.join_next(), if !fetches.is_empty() => {
                let (map, loc, r) = joined.map_err(|e| EngineError::task(format!("fetcher: {e}")))?;
                in_flight.remove(&map);
                match r {
                    Ok(seg) => {
                        fetched[map as usize] = true;
                        done += 1;
                        counters.task(c::REDUCE_SHUFFLE_BYTES, seg.len() as i64);
                        umb.progress(attempt_id, done as f32 / num_maps as f32 / 3.0);
                        let name = format!("{} partition {partition}", loc.attempt_id);
                        if seg.len() > mem_limit / 4 {
                            let path = work_dir.join(format!("fetched{}", runs.len()));
                            tokio::fs::write(&path, &seg)
                                .await
                                .map_err(|e| EngineError::io(path.display(), e))?;
                            runs.push(path);
                        } else {
                            mem_bytes += seg.len();
                            mem.push((name, seg));
                            if mem_bytes > mem_limit {
                                let path = work_dir.join(format!("merged{}", runs.len()));
                                let segs = std::mem::take(&mut mem);
                                mem_bytes = 0;
                                let p2 = path.clone();
                                let spilled = blocking("shuffle merge", move || {
                                    let mut srcs: Vec<Box<dyn RecordSource>> = Vec::new();
                                    for (n, s) in segs {
                                        srcs.push(Box::new(MemSegment::new(s, n)?));
                                    }
                                    write_run(&p2, &mut Merger::new(srcs))
                                })
                                .await?;
                                counters.task(c::SPILLED_RECORDS, spilled as i64);
                                runs.push(path);
                            }
                        }
                    }
                    Err(cause) => {
                        tracing::warn!(map = %loc.attempt_id, host = %loc.host, "fetch failed: {cause}");
                        bad.insert(loc.attempt_id.clone());
                        umb.fetch_failed(FetchFailure {
                            reduce_attempt: attempt_id.to_string(),
                            map,
                            map_attempt: loc.attempt_id.clone(),
                            host: loc.host.clone(),
                            cause,
                        });
                    }
                }
            }
            s = umb.map_outputs(seen) => snap = s,
        }
    }
    umb.progress(attempt_id, 2.0 / 3.0);
    tracing::debug!(attempt = %attempt_id, disk_runs = runs.len(), in_memory = mem.len(), "shuffle done");

    // Merge, group, reduce, write.
    let committer = Committer::new(client.clone(), &spec.output, spec.app_attempt);
    let path = format!(
        "{}/{}",
        committer.attempt_path(attempt_id),
        part_file_name(conf, false, partition)
    );
    let (tx, writer) = spawn_output_writer(client.clone(), path, conf)?;
    let info = TaskInfo {
        conf: conf.clone(),
        attempt_id: attempt_id.to_string(),
        attempt_number: spec.attempt.attempt,
        split: None,
    };
    let out_format = job.output_format(conf);
    let named = NamedOutputs {
        client,
        dir: committer.attempt_path(attempt_id),
        file: part_file_name(conf, false, partition),
        conf: conf.clone(),
        format: out_format,
        open: Default::default(),
    };
    let umb2 = umb.clone();
    let sort_factor = conf.get_u64(SORT_FACTOR, 10)?.max(2) as usize;
    let merge_dir = work_dir.to_path_buf();
    let work = blocking("reduce", move || {
        // Disk runs first, then what is in memory; at most
        // `mapreduce.task.io.sort.factor` segments in the final merge.
        let mut segs: Vec<Segment> = Vec::with_capacity(runs.len() + mem.len());
        for r in runs {
            segs.push(Segment::whole_file(r)?);
        }
        for (name, data) in mem {
            segs.push(Segment::Mem { data, name });
        }
        let passes = merge_to_factor(segs, sort_factor, &merge_dir, "pass")?;
        counters.task(c::SPILLED_RECORDS, passes.spilled as i64);
        let mut merged = merge_segments(passes.segments)?;
        let mut sink = ReduceSink {
            main: OutputSink::new(tx, out_format, Some(c::REDUCE_OUTPUT_RECORDS)),
            named,
        };
        let mut reducer = job.reducer(&info.conf)?;
        reducer.setup(&mut SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        })?;
        let mut groups = 0u64;
        let (g, records) = for_each_group(&mut merged, |k, values| {
            groups += 1;
            if groups.is_multiple_of(4096) && umb2.should_stop() {
                return Err(EngineError::Killed(info.attempt_id.clone()));
            }
            reducer.reduce(
                k,
                values,
                &mut SinkContext {
                    sink: &mut sink,
                    counters: &mut counters,
                    info: &info,
                },
            )
        })?;
        counters.task(c::REDUCE_INPUT_GROUPS, g as i64);
        counters.task(c::REDUCE_INPUT_RECORDS, records as i64);
        reducer.cleanup(&mut SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        })?;
        sink.main.finish(&mut counters)?;
        let named = sink.named.close()?;
        Ok((counters, named))
    })
    .await;
    let (work, named) = match work {
        Ok((c, named)) => (Ok(c), named),
        Err(e) => (Err(e), Vec::new()),
    };
    let mut counters = finish_output(work, writer).await?;
    for w in named {
        let n = w
            .await
            .map_err(|e| EngineError::task(format!("named output writer: {e}")))??;
        counters.incr(c::FS_GROUP, c::HDFS_BYTES_WRITTEN, n as i64);
    }
    umb.progress(attempt_id, 1.0);
    Ok(counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_hadoop() {
        let a = AttemptId {
            app_id: "1700000000000_0001".into(),
            task_type: TaskType::Map,
            task: 3,
            attempt: 1,
        };
        assert_eq!(a.to_string(), "attempt_1700000000000_0001_m_000003_1");
        // A YARN application id loses its `application_` prefix.
        let a = AttemptId {
            app_id: "application_1700000000000_0001".into(),
            ..a
        };
        assert_eq!(a.to_string(), "attempt_1700000000000_0001_m_000003_1");
        assert_eq!(a.task_id(), "task_1700000000000_0001_m_000003");
        assert_eq!(a.task_id(), "task_1700000000000_0001_m_000003");
        assert!(super::super::shuffle::is_safe_id(&a.to_string()));
    }

    #[test]
    fn spec_round_trips_through_json() {
        let spec = TaskSpec {
            job: "wordcount".into(),
            conf: JobConf::new().with("mapreduce.job.reduces", 2),
            attempt: AttemptId {
                app_id: "a".into(),
                task_type: TaskType::Reduce,
                task: 1,
                attempt: 0,
            },
            namenode: "127.0.0.1:9000".into(),
            user: "u".into(),
            output: "/out".into(),
            app_attempt: 1,
            local_dir: "/tmp/x".into(),
            work: TaskWork::Reduce { num_maps: 4 },
        };
        assert_eq!(TaskSpec::from_json(&spec.to_json()).unwrap(), spec);
        assert!(TaskSpec::from_json("{").is_err());
    }
}
