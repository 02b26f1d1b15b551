//! Runs the loganalysis mapper over a local file in this process, without a
//! cluster, and prints lines/s: the figure to profile the parser and the
//! in-mapper aggregation with (`perf record`, `valgrind --tool=callgrind`).
//!
//! `cargo run --release -p tusk-mapreduce --example loganalysis_map -- FILE [--format F]`

use std::io::BufReader;
use std::time::Instant;
use tusk_mapreduce::engine::api::{Context, JobConf, Mapper};
use tusk_mapreduce::engine::counters::Counters;
use tusk_mapreduce::engine::input::{LineReader, RecordReader};
use tusk_mapreduce::engine::jobs::loganalysis::LogMapper;

struct Sink {
    conf: JobConf,
    counters: Counters,
    pairs: u64,
    bytes: u64,
}

impl Context for Sink {
    fn emit(&mut self, key: &[u8], value: &[u8]) -> tusk_mapreduce::engine::Result<()> {
        self.pairs += 1;
        self.bytes += (key.len() + value.len()) as u64;
        Ok(())
    }
    fn counters(&mut self) -> &mut Counters {
        &mut self.counters
    }
    fn conf(&self) -> &JobConf {
        &self.conf
    }
    fn attempt_id(&self) -> &str {
        "attempt_local_0001_m_000000_0"
    }
    fn attempt_number(&self) -> u32 {
        0
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: loganalysis_map FILE [--format F]")?;
    let mut conf = JobConf::new();
    if let Some(i) = args.iter().position(|a| a == "--format") {
        let f = args.get(i + 1).ok_or("--format needs a value")?;
        conf.set(tusk_mapreduce::engine::jobs::loganalysis::FORMAT, f);
    }
    let mut mapper = LogMapper::new(&conf)?;
    let mut ctx = Sink {
        conf,
        counters: Counters::default(),
        pairs: 0,
        bytes: 0,
    };
    let file = std::fs::File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut r = LineReader::new(BufReader::with_capacity(1 << 20, file), 0, u64::MAX, path)?;
    let (mut key, mut line) = (Vec::new(), Vec::new());
    let mut lines = 0u64;
    let t = Instant::now();
    while r.next(&mut key, &mut line)? {
        lines += 1;
        mapper.map(&key, &line, &mut ctx)?;
    }
    mapper.cleanup(&mut ctx)?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "{lines} lines, {:.0} MiB in {s:.3} s: {:.0} lines/s, {:.0} MiB/s; {} pairs out ({} bytes)",
        bytes as f64 / 1048576.0,
        lines as f64 / s,
        bytes as f64 / 1048576.0 / s,
        ctx.pairs,
        ctx.bytes
    );
    Ok(())
}
