//! Every fuzz target for about two seconds with a fixed seed: the suite
//! keeps exercising the invariants (`scripts/bench.sh fuzz` runs them long).

use std::time::Duration;
use tusk_fuzz::{run_named, Budget, TARGETS};

#[test]
fn every_target_runs_clean_for_two_seconds() {
    for target in TARGETS {
        let report = run_named(
            target,
            Budget {
                seed: 0x7A5C,
                duration: Duration::from_secs(2),
                max_iterations: None,
                replay: None,
                max_crashes: 5,
            },
        )
        .unwrap();
        assert!(report.executions > 0, "{target}: no executions");
        assert!(
            report.crashes.is_empty(),
            "{target}: {} crash(es), first: {:?}",
            report.crashes.len(),
            report.crashes[0]
        );
    }
}
