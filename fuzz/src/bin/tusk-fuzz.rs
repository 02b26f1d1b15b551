//! `tusk-fuzz [TARGET…] [--seconds N] [--seed S] [--replay I]`: runs each
//! fuzz target for a bounded time and prints executions, executions/s and
//! crashes (each with its input and how to replay it). Exit status 1 when
//! any target crashed.

use clap::Parser;
use std::time::Duration;
use tusk_fuzz::{run_named, Budget, TARGETS};

#[derive(Parser)]
#[command(about = "Fuzz Tusk's parsers and RPC handlers for a bounded time")]
struct Args {
    /// Targets to run (default: all): path, webhdfs, rpc-decode, rpc-namenode.
    targets: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Base seed (default: from the clock; printed so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Run only this iteration of the seed (reproduce a crash).
    #[arg(long)]
    replay: Option<u64>,
}

fn main() {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let targets: Vec<String> = if args.targets.is_empty() {
        TARGETS.iter().map(|s| s.to_string()).collect()
    } else {
        args.targets
    };
    let budget = Budget {
        seed,
        duration: Duration::from_secs(args.seconds),
        max_iterations: None,
        replay: args.replay,
        max_crashes: 20,
    };
    let mut failed = false;
    println!("seed {seed}");
    println!(
        "{:<14} {:>12} {:>12} {:>8}",
        "target", "executions", "exec/s", "crashes"
    );
    for t in &targets {
        let report = match run_named(t, budget) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tusk-fuzz: {t}: {e:#}");
                std::process::exit(1);
            }
        };
        println!(
            "{:<14} {:>12} {:>12.0} {:>8}",
            report.target,
            report.executions,
            report.per_second(),
            report.crashes.len()
        );
        for c in &report.crashes {
            failed = true;
            println!("  CRASH {}: {}", report.target, c.what);
            println!("    input: {}", c.input);
            println!(
                "    replay: tusk-fuzz {} --seed {} --replay {}",
                report.target, report.seed, c.iteration
            );
            if matches!(report.target, "webhdfs" | "rpc-namenode") {
                // These keep one namesystem across iterations.
                println!("    (stateful target: if the replay passes, rerun the whole seed)");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
