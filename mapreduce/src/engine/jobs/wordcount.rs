//! `wordcount IN… OUT`: counts whitespace-separated words; the reducer
//! doubles as combiner. Output lines: `word\tcount`, sorted per part.

use crate::engine::api::{Context, Job, JobConf, Mapper, Reducer, Values};
use crate::engine::error::{EngineError, Result};

/// The job.
pub struct WordCount;

/// Emits `(word, "1")` per word.
pub struct WordMapper;

impl Mapper for WordMapper {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        for w in line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            ctx.emit(w, b"1")?;
        }
        Ok(())
    }
}

/// Sums decimal counts.
pub struct SumReducer;

impl Reducer for SumReducer {
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        let mut sum = 0u64;
        while let Some(v) = values.next_value() {
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    EngineError::task(format!(
                        "count of {:?} is not a number: {:?}",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(v)
                    ))
                })?;
            sum += n;
        }
        ctx.emit(key, sum.to_string().as_bytes())
    }
}

impl Job for WordCount {
    fn name(&self) -> &str {
        "wordcount"
    }
    fn mapper(&self, _conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(WordMapper))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(SumReducer))
    }
    fn combiner(&self, _conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(SumReducer)))
    }
}
