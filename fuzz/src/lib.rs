//! A coverage-free fuzzer for the parts of Tusk that parse what a peer sends:
//! path normalization, the WebHDFS parameter parser and op dispatch, and the
//! decoding and handling of every RPC request.
//!
//! `cargo fuzz` needs a nightly toolchain and libFuzzer, which a fresh
//! machine of this project does not have (it installs stable only), so the
//! fuzzer is a plain program: a seeded PRNG drives structured generation
//! (random mixes of the pieces that break parsers) and mutation of a corpus
//! of valid inputs; each input is checked against invariants under
//! `catch_unwind`. Every input is derived from `(seed, iteration)` alone, so
//! a crash is reproduced with `tusk-fuzz TARGET --seed S --replay I`.
//!
//! Layout:
//! - [`gen`]: the generators and mutators shared by the targets;
//! - [`path`], [`webhdfs`], [`rpc`]: one target each;
//! - [`run`]: the bounded loop that counts executions and records crashes.

pub mod gen;
pub mod path;
pub mod rpc;
pub mod webhdfs;

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One fuzz target: generates an input from a PRNG and checks it.
pub trait Target {
    type Input: Debug;
    /// An input derived only from `rng` (so it can be replayed).
    fn generate(&mut self, rng: &mut StdRng) -> Self::Input;
    /// Runs the code under test; `Err` names a broken invariant.
    fn check(&mut self, input: &Self::Input) -> Result<(), String>;
}

/// A failed check: a panic or a broken invariant.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The iteration whose input failed (`--replay` it with the same seed).
    pub iteration: u64,
    pub what: String,
    /// `Debug` of the input, cut to a readable length.
    pub input: String,
}

/// What one bounded run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub seed: u64,
    pub executions: u64,
    pub elapsed: Duration,
    pub crashes: Vec<Crash>,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How long and from where a run goes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub seed: u64,
    pub duration: Duration,
    /// Stop after this many iterations even if time is left.
    pub max_iterations: Option<u64>,
    /// Run only this iteration (reproduce a crash).
    pub replay: Option<u64>,
    /// Stop at this many crashes (the rest would mostly repeat them).
    pub max_crashes: usize,
}

/// The PRNG of one iteration: inputs depend on `(seed, iteration)` only.
pub fn iteration_rng(seed: u64, iteration: u64) -> StdRng {
    // splitmix64 of the pair, so neighbouring iterations are unrelated.
    let mut z = seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Runs `target` within `budget`, catching panics (their message and
/// location are recorded instead of printed).
pub fn run<T: Target>(name: &'static str, target: &mut T, budget: Budget) -> Report {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("panic: {msg}{at}"));
    }));
    let started = Instant::now();
    let mut crashes = Vec::new();
    let mut executions = 0;
    let (first, last) = match budget.replay {
        Some(i) => (i, i),
        None => (
            0,
            budget.max_iterations.unwrap_or(u64::MAX).saturating_sub(1),
        ),
    };
    for iteration in first..=last {
        if budget.replay.is_none()
            && (started.elapsed() >= budget.duration || crashes.len() >= budget.max_crashes)
        {
            break;
        }
        let mut rng = iteration_rng(budget.seed, iteration);
        let input = target.generate(&mut rng);
        let res = catch_unwind(AssertUnwindSafe(|| target.check(&input)));
        executions += 1;
        let what = match res {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(_) => PANIC_MESSAGE
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| "panic".into()),
        };
        crashes.push(Crash {
            iteration,
            what: cut(what, 600),
            input: cut(format!("{input:?}"), 2000),
        });
    }
    std::panic::set_hook(previous);
    Report {
        target: name,
        seed: budget.seed,
        executions,
        elapsed: started.elapsed(),
        crashes,
    }
}

fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push('…');
    }
    s
}

/// The targets by name, for the command line and the test.
pub const TARGETS: &[&str] = &["path", "webhdfs", "rpc-decode", "rpc-namenode"];

/// Runs the target called `name`.
pub fn run_named(name: &str, budget: Budget) -> anyhow::Result<Report> {
    Ok(match name {
        "path" => run("path", &mut path::PathTarget, budget),
        "webhdfs" => run("webhdfs", &mut webhdfs::WebHdfsTarget::new()?, budget),
        "rpc-decode" => run("rpc-decode", &mut rpc::DecodeTarget, budget),
        "rpc-namenode" => run("rpc-namenode", &mut rpc::NamenodeTarget::new()?, budget),
        other => anyhow::bail!(
            "unknown fuzz target {other:?} (targets: {})",
            TARGETS.join(", ")
        ),
    })
}
