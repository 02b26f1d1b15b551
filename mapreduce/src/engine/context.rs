//! The [`Context`] implementation handed to user code, over a [`Sink`]
//! that receives emitted pairs (the sort buffer, a segment writer for a
//! combiner, or an output file).

use super::api::{Context, JobConf};
use super::counters::Counters;
use super::error::Result;
use super::splits::InputSplit;

/// Where emitted pairs go.
pub trait Sink {
    fn put(&mut self, key: &[u8], value: &[u8], counters: &mut Counters) -> Result<()>;
    /// A pair for the named output `name` ([`Context::emit_named`]).
    fn put_named(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let _ = (key, value);
        Err(super::error::EngineError::task(format!(
            "named output {name}: only reducers have named outputs"
        )))
    }
}

/// Who is running: the attempt's id and number and the job configuration.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub conf: JobConf,
    pub attempt_id: String,
    pub attempt_number: u32,
    /// The split a map reads (`None` for reducers).
    pub split: Option<InputSplit>,
}

/// A [`Context`] over a sink and a counter set.
pub struct SinkContext<'a> {
    pub sink: &'a mut dyn Sink,
    pub counters: &'a mut Counters,
    pub info: &'a TaskInfo,
}

impl Context for SinkContext<'_> {
    fn emit(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.sink.put(key, value, self.counters)
    }
    fn emit_named(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.sink.put_named(name, key, value)
    }
    fn counters(&mut self) -> &mut Counters {
        self.counters
    }
    fn conf(&self) -> &JobConf {
        &self.info.conf
    }
    fn attempt_id(&self) -> &str {
        &self.info.attempt_id
    }
    fn attempt_number(&self) -> u32 {
        self.info.attempt_number
    }
    fn input_split(&self) -> Option<&InputSplit> {
        self.info.split.as_ref()
    }
}
