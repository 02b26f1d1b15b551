//! Hadoop Streaming: MapReduce jobs whose mapper, combiner and reducer are
//! any commands (Python, awk, shell) that read lines on stdin and write
//! `key TAB value` lines on stdout.
//!
//! # Layout
//! - [`options`]: Hadoop Streaming's command line (`-input`, `-mapper`,
//!   `-files`…) → [`options::StreamingOptions`] → job settings with
//!   Hadoop's key names (`stream.map.streamprocessor`…); DFS URIs.
//! - `pipe`: a command as a child process driven with `poll(2)`: records
//!   in, lines out, `reporter:` lines and a stderr tail for diagnostics.
//! - `tasks`: the mapper, reducer and combiner over a pipe; the task
//!   environment (`mapreduce_map_input_file`…).
//! - [`partition`]: the key-field partitioner (Hadoop's
//!   `KeyFieldBasedPartitioner`).
//! - [`submit`]: the client side shared by `mapred streaming` and
//!   `hadoop jar hadoop-streaming.jar`: ships files, submits, follows,
//!   names the output `part-NNNNN`, exits with Hadoop's codes.
//!
//! [`StreamingJob`] is the built-in job `streaming` of the
//! [`crate::engine::jobs::JobRegistry`]: a task process rebuilds it from
//! its settings alone; the commands run in the task's working directory,
//! where the node manager has put the shipped files.

pub mod options;
pub mod partition;
mod pipe;
pub mod submit;
mod tasks;

use crate::engine::api::{
    HashPartitioner, IdentityReducer, Job, JobConf, JobPaths, Mapper, Partitioner, Reducer,
};
use crate::engine::error::Result;

/// The registry name of the streaming job.
pub const JOB_NAME: &str = "streaming";

/// The streaming job (see the module docs).
pub struct StreamingJob;

impl Job for StreamingJob {
    fn name(&self) -> &str {
        JOB_NAME
    }

    fn usage(&self) -> &str {
        "-input IN [-input IN]... -output OUT [-mapper CMD] [-combiner CMD] [-reducer CMD|NONE] [-file F]... (see -help)"
    }

    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let o = options::parse_args(args)?;
        o.validate()?;
        o.apply(conf)?;
        Ok(JobPaths {
            inputs: o.input_paths(),
            output: o.output_path().unwrap_or_default(),
        })
    }

    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(tasks::StreamMapper::new(conf)?))
    }

    fn reducer(&self, conf: &JobConf) -> Result<Box<dyn Reducer>> {
        match tasks::StreamReducer::command(conf) {
            Some(cmd) => Ok(Box::new(tasks::StreamReducer::new(conf, cmd)?)),
            None => Ok(Box::new(IdentityReducer)),
        }
    }

    fn partitioner(&self, conf: &JobConf) -> Result<Box<dyn Partitioner>> {
        match conf.get(options::PARTITIONER) {
            Some("keyfield") => Ok(Box::new(partition::KeyFieldPartitioner::from_conf(conf)?)),
            _ => Ok(Box::new(HashPartitioner)),
        }
    }
}
