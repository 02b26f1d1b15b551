//! What quotas cost the namesystem: N empty files created and closed in
//! `/a/b/c/d`, then the directory deleted, over the sled store, with
//!
//! - `none`: no quota anywhere (the baseline: the quota code is skipped),
//! - `one`: a name + space quota on `/a`,
//! - `nested`: quotas on `/a` and on `/a/b/c`,
//!
//! run in turns (`ROUNDS` times each, best kept) so that load from other
//! processes hits every mode alike. Prints µs per operation and the ratio to
//! the baseline of the same run.
//!
//! `cargo run --release -p tusk-namenode --example quota_cost [FILES] [ROUNDS] [MODE]`
//!
//! With MODE, only that mode runs (for instruction counts under
//! `valgrind --tool=callgrind`, one process per mode).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tusk_namenode::datanodes::Topology;
use tusk_namenode::fsn::{CoreConfig, CreateArgs, FsNamesystem};
use tusk_namenode::permission::Caller;
use tusk_namenode::store::{KvStore, SledStore};

/// One run: (create+complete per file, delete of the whole tree).
fn run(mode: &str, files: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledStore::open(dir.path(), 64 << 20).expect("sled"));
    let cfg = CoreConfig {
        superuser: "root".into(),
        supergroup: "supergroup".into(),
        ..CoreConfig::default()
    };
    let mut f = FsNamesystem::open(
        store.clone() as Arc<dyn KvStore>,
        cfg,
        Topology::default(),
        Instant::now(),
    )
    .expect("open");
    let root = Caller::superuser("root");
    f.mkdirs(&root, "/a/b/c/d", 0o755, true).expect("mkdirs");
    let big = i64::MAX - 1;
    match mode {
        "one" => f.set_quota(&root, "/a", big, big).expect("quota"),
        "nested" => {
            f.set_quota(&root, "/a", big, big).expect("quota");
            f.set_quota(&root, "/a/b/c", big, big).expect("quota");
        }
        _ => {}
    }
    let paths: Vec<String> = (0..files).map(|i| format!("/a/b/c/d/f{i}")).collect();
    let t = Instant::now();
    for p in &paths {
        let a = CreateArgs {
            path: p,
            permission: 0o644,
            client_name: "bench",
            overwrite: false,
            create_parent: false,
            replication: 0,
            block_size: 0,
        };
        f.create(&root, &a, Instant::now()).expect("create");
        f.complete(p, "bench", 0, None, b"").expect("complete");
    }
    let create = t.elapsed();
    let t = Instant::now();
    f.delete(&root, "/a/b/c/d", true).expect("delete");
    let delete = t.elapsed();
    drop(f);
    store.close().expect("close");
    (create, delete)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let only = args.next();
    if let Some(m) = only {
        let (c, d) = run(&m, files);
        let us = |d: Duration| d.as_secs_f64() * 1e6 / files as f64;
        println!(
            "{m}: create+close {:.2} µs, delete {:.2} µs/file",
            us(c),
            us(d)
        );
        return;
    }
    let modes = ["none", "one", "nested"];
    let mut best = [(Duration::MAX, Duration::MAX); 3];
    for _ in 0..rounds {
        for (k, m) in modes.iter().enumerate() {
            let (c, d) = run(m, files);
            best[k].0 = best[k].0.min(c);
            best[k].1 = best[k].1.min(d);
        }
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6 / files as f64;
    println!("{files} files, best of {rounds} rounds (sled store, no fsync per op)");
    println!(
        "{:<8} {:>18} {:>8} {:>18} {:>8}",
        "quotas", "create+close µs", "ratio", "delete µs/file", "ratio"
    );
    for (k, m) in modes.iter().enumerate() {
        println!(
            "{:<8} {:>18.2} {:>8.2} {:>18.2} {:>8.2}",
            m,
            us(best[k].0),
            best[k].0.as_secs_f64() / best[0].0.as_secs_f64(),
            us(best[k].1),
            best[k].1.as_secs_f64() / best[0].1.as_secs_f64()
        );
    }
}
