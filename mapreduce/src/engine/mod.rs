//! MapReduce itself, free of how containers are obtained: the job API,
//! splits and record readers, the map-side sort and spill, the shuffle
//! (server and fetch client), the reduce-side merge, the output committer,
//! the job driver (the application master's brain) and the built-in jobs.
//!
//! # Layout
//! - [`api`]: [`api::Job`], [`api::Mapper`], [`api::Reducer`] (also the
//!   combiner), [`api::Partitioner`] + [`api::HashPartitioner`],
//!   [`api::JobConf`] with Hadoop's key names.
//! - [`counters`]: Hadoop-style counter groups, serializable.
//! - [`splits`]: input files/dirs/globs → one split per block with hosts.
//! - [`input`]: record readers (text lines, fixed-length records, rows)
//!   fed by an async DFS reader through a channel.
//! - [`ifile`]: the segment format (records + CRC32C trailer), the map
//!   output index, the k-way merge and key grouping.
//! - [`sortbuf`]: the bounded map output buffer: partition, sort (rayon),
//!   combine, spill, merge into `file.out` + `file.out.index`.
//! - [`shuffle`]: `tusk.yarn.Shuffle` server over a directory resolver and
//!   the reducer's fetch client.
//! - [`committer`]: `FileOutputCommitter` v1 semantics (`_temporary`,
//!   task and job commit, `_SUCCESS`, abort).
//! - [`task`]: [`task::TaskSpec`] (serializable) → [`task::run_task`] →
//!   [`task::TaskReport`]; the [`task::Umbilical`] back to the driver.
//! - [`driver`]: [`driver::run_job`]: splits, launches through a
//!   [`driver::TaskLauncher`], slow start, retries, map re-runs on fetch
//!   failure, counters, progress, commit/abort.
//! - [`local`]: [`local::LocalLauncher`], attempts on local threads with a
//!   real shuffle server.
//! - [`jobs`]: wordcount, grep, sort, teragen, terasort, teravalidate and
//!   the [`jobs::JobRegistry`].
//! - [`main`]: [`run_job_main`] and [`run_task_main`], the entry points of
//!   a job binary (built-in or a user's own).
//! - [`error`]: the engine's one error type, [`EngineError`].

pub mod api;
pub mod committer;
pub mod context;
pub mod counters;
pub mod driver;
pub mod error;
pub mod ifile;
pub mod input;
pub mod jobs;
pub mod local;
pub mod main;
pub mod shuffle;
pub mod sortbuf;
pub mod splits;
pub mod task;

pub use error::{EngineError, Result};
pub use main::{run_job_main, run_task_main};
