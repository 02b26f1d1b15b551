//! An inverted index, as a user of Tusk writes a MapReduce job: its own
//! crate depending on `tusk-mapreduce`, one binary, shipped to the cluster
//! like a jar.
//!
//! ```text
//! cargo build --release -p inverted-index
//! mapred run target/release/inverted-index -- /logs /index
//! mapred run target/release/inverted-index -- -D index.min.length=4 /logs /index
//! ```
//!
//! For every word (lowercased ASCII letters and digits, at least
//! `index.min.length` long, default 3) the output has one line
//! `word<TAB>count<TAB>file1,file2,…`: how often it occurs and the input
//! files it occurs in, in name order. The mapper emits `(word, file)` per
//! occurrence; the combiner folds those into `(word, "n file1,file2")`
//! partial postings per map, which the reducer merges the same way, so
//! the shuffle carries one record per word and map.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use tusk_mapreduce::engine::api::{Context, Job, JobConf, Mapper, Reducer, Values};
use tusk_mapreduce::engine::jobs::JobRegistry;
use tusk_mapreduce::engine::splits::InputSplit;
use tusk_mapreduce::engine::{EngineError, Result};

/// Shortest word indexed.
const MIN_LENGTH: &str = "index.min.length";

struct InvertedIndex;

impl Job for InvertedIndex {
    fn name(&self) -> &str {
        "inverted-index"
    }

    fn usage(&self) -> &str {
        "[-D index.min.length=N] <in> [<in>...] <out>"
    }

    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(WordMapper {
            min_len: conf.get_u64(MIN_LENGTH, 3)? as usize,
            file: Vec::new(),
            word: Vec::new(),
        }))
    }

    fn combiner(&self, _conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(PostingsReducer { last: false })))
    }

    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(PostingsReducer { last: true }))
    }
}

/// Emits `(word, "1 file")` for each word of each line.
struct WordMapper {
    min_len: usize,
    /// `1 <file name>`: the value of every pair this map emits.
    file: Vec<u8>,
    word: Vec<u8>,
}

impl Mapper for WordMapper {
    fn setup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let Some(InputSplit::File { path, .. }) = ctx.input_split() else {
            return Err(EngineError::task("inverted-index reads files only"));
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        self.file = format!("1 {name}").into_bytes();
        Ok(())
    }

    fn map(&mut self, _offset: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        for token in line.split(|b| !b.is_ascii_alphanumeric()) {
            if token.len() < self.min_len {
                continue;
            }
            self.word.clear();
            self.word.extend(token.iter().map(u8::to_ascii_lowercase));
            ctx.emit(&self.word, &self.file)?;
        }
        Ok(())
    }
}

/// Merges partial postings `n file1,file2,…` of one word. As the combiner
/// it emits the merged posting; as the reducer, `count<TAB>files`.
struct PostingsReducer {
    last: bool,
}

impl Reducer for PostingsReducer {
    fn reduce(
        &mut self,
        word: &[u8],
        values: &mut dyn Values,
        ctx: &mut dyn Context,
    ) -> Result<()> {
        let mut count = 0u64;
        let mut files = BTreeSet::new();
        while let Some(v) = values.next_value() {
            let text =
                std::str::from_utf8(v).map_err(|_| EngineError::task("posting is not UTF-8"))?;
            let (n, names) = text
                .split_once(' ')
                .ok_or_else(|| EngineError::task(format!("bad posting {text:?}")))?;
            count += n
                .parse::<u64>()
                .map_err(|_| EngineError::task(format!("bad count in posting {text:?}")))?;
            files.extend(names.split(',').map(str::to_owned));
        }
        let files = files.into_iter().collect::<Vec<_>>().join(",");
        let sep = if self.last { '\t' } else { ' ' };
        ctx.incr("InvertedIndex", "POSTINGS", i64::from(self.last));
        ctx.emit(word, format!("{count}{sep}{files}").as_bytes())
    }
}

fn main() -> ExitCode {
    let mut jobs = JobRegistry::new();
    jobs.register(Arc::new(InvertedIndex));
    tusk_mapreduce::job_main(jobs)
}
