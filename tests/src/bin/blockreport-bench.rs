//! `blockreport-bench [N]`: the namenode's time to process one full block
//! report of N (default 1,000,000) replicas from a simulated datanode, for
//! blocks the namenode knows (N closed one-block files), beside baselines
//! measured in the same run: sorting N u64s and building a HashSet of them.
//!
//! Runs the namesystem in-process (the time is the namenode's own work under
//! its lock, not the RPC's transfer or decoding) over the in-memory store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tusk_namenode::datanodes::Topology;
use tusk_namenode::fsn::{AddBlockArgs, CoreConfig, CreateArgs, FsNamesystem};
use tusk_namenode::permission::Caller;
use tusk_namenode::store::MemStore;
use tusk_namenode::types::{Block, DatanodeId, StorageStats};

fn datanode(i: usize) -> DatanodeId {
    DatanodeId {
        uuid: format!("sim-{i}"),
        host: format!("10.1.0.{i}"),
        data_addr: format!("10.1.0.{i}:9866"),
        http_addr: String::new(),
        rack: String::new(),
    }
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let stats = StorageStats {
        capacity: 1 << 50,
        used: 0,
        remaining: 1 << 50,
    };
    let cfg = CoreConfig {
        superuser: "bench".into(),
        default_replication: 1,
        ..CoreConfig::default()
    };
    let t0 = Instant::now();
    let mut f = FsNamesystem::open(
        Arc::new(MemStore::new()),
        cfg,
        Topology::default(),
        Instant::now(),
    )?;
    f.register_datanode(datanode(0), stats.clone(), Instant::now());
    f.leave_safe_mode();
    let caller = Caller::new("bench", vec![], "bench", "supergroup");
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        let path = format!("/br/d{:04}/f{:06}", i / 1000, i % 1000);
        f.create(
            &caller,
            &CreateArgs {
                path: &path,
                permission: 0o644,
                client_name: "gen",
                overwrite: false,
                create_parent: true,
                replication: 1,
                block_size: 0,
            },
            Instant::now(),
        )?;
        let lb = f.add_block(&AddBlockArgs {
            path: &path,
            client_name: "gen",
            file_id: 0,
            previous: None,
            excluded: &[],
            writer_host: "",
        })?;
        let b = Block {
            num_bytes: 1024,
            ..lb.block
        };
        f.block_received_and_deleted("sim-0", &[b], &[]);
        anyhow::ensure!(
            f.complete(&path, "gen", 0, Some(b), b"")?,
            "{path} did not close"
        );
        blocks.push(b);
    }
    eprintln!(
        "set-up: {n} one-block files in {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    // The simulated datanode holds a replica of every block.
    f.register_datanode(datanode(1), stats, Instant::now());
    let t = Instant::now();
    let cmds = f.block_report("sim-1", &blocks, &[], Instant::now());
    let first = t.elapsed();
    anyhow::ensure!(cmds.is_empty(), "unexpected commands: {}", cmds.len());
    let t = Instant::now();
    f.block_report("sim-1", &blocks, &[], Instant::now());
    let again = t.elapsed();

    let ids: Vec<u64> = blocks
        .iter()
        .map(|b| b.id ^ 0x9E37_79B9_7F4A_7C15)
        .collect();
    let t = Instant::now();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    let sort = t.elapsed();
    let t = Instant::now();
    let set: HashSet<u64> = ids.iter().copied().collect();
    let hash = t.elapsed();
    assert_eq!(set.len(), sorted.len());

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("# full block report of {n} replicas, namenode processing time (in-process)");
    println!(
        "{:<44} {:>9.1} ms  {:>6.1}x sort  {:>6.1}x hashset",
        "first report (every replica new)",
        ms(first),
        ms(first) / ms(sort),
        ms(first) / ms(hash)
    );
    println!(
        "{:<44} {:>9.1} ms  {:>6.1}x sort  {:>6.1}x hashset",
        "same report again (steady state)",
        ms(again),
        ms(again) / ms(sort),
        ms(again) / ms(hash)
    );
    println!(
        "{:<44} {:>9.1} ms",
        "baseline: sort_unstable of N u64",
        ms(sort)
    );
    println!("{:<44} {:>9.1} ms", "baseline: HashSet of N u64", ms(hash));
    Ok(())
}
