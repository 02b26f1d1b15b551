//! Model-based test of the namespace: random mkdir / create+complete /
//! rename / delete / restart sequences against a `BTreeMap` model, on the
//! in-memory store and on sled (restart = close and reopen the database).
//! Half the runs use a deletion increment of 2, so most recursive deletes
//! detach their tree and random purge steps remove it later (`purge`).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tusk_common::path::{file_name, is_under, join, parent};
use tusk_namenode::datanodes::Topology;
use tusk_namenode::fsn::{CoreConfig, CreateArgs, FsNamesystem};
use tusk_namenode::permission::Caller;
use tusk_namenode::store::{KvStore, MemStore, SledStore};
use tusk_namenode::types::InodeKind;

/// path → is_dir.
type Model = BTreeMap<String, bool>;

#[derive(Debug, Clone)]
enum Op {
    Mkdir(String, bool),
    Create(String, bool, bool),
    Rename(String, String, bool),
    Delete(String, bool),
    Restart,
    /// A purge step of this many inodes.
    Purge(usize),
}

fn random_path(rng: &mut StdRng) -> String {
    let depth = rng.gen_range(1..=3);
    let mut p = String::new();
    for _ in 0..depth {
        p.push('/');
        p.push_str(["a", "b", "c"][rng.gen_range(0..3)]);
    }
    p
}

fn random_op(rng: &mut StdRng) -> Op {
    match rng.gen_range(0..100) {
        0..=24 => Op::Mkdir(random_path(rng), rng.gen_bool(0.7)),
        25..=54 => Op::Create(random_path(rng), rng.gen_bool(0.5), rng.gen_bool(0.3)),
        55..=74 => {
            let dst = if rng.gen_bool(0.1) {
                "/".to_string()
            } else {
                random_path(rng)
            };
            Op::Rename(random_path(rng), dst, rng.gen_bool(0.5))
        }
        75..=89 => Op::Delete(random_path(rng), rng.gen_bool(0.6)),
        90..=95 => Op::Purge(rng.gen_range(1..=4)),
        _ => Op::Restart,
    }
}

fn has_children(m: &Model, p: &str) -> bool {
    m.keys().any(|k| k != p && is_under(k, p))
}

/// Some ancestor (not the path itself) is missing or a file.
fn ancestors_ok(m: &Model, p: &str) -> Result<(), ()> {
    let mut cur = parent(p);
    while let Some(a) = cur {
        match m.get(a) {
            Some(true) => {}
            _ => return Err(()),
        }
        cur = parent(a);
    }
    Ok(())
}

fn any_ancestor_file(m: &Model, p: &str) -> bool {
    let mut cur = parent(p);
    while let Some(a) = cur {
        if m.get(a) == Some(&false) {
            return true;
        }
        cur = parent(a);
    }
    false
}

/// Applies `op` to the model; returns whether it should succeed.
fn model_apply(m: &mut Model, op: &Op) -> bool {
    match op {
        Op::Mkdir(p, parents) => {
            if let Some(d) = m.get(p) {
                return *d;
            }
            if any_ancestor_file(m, p) {
                return false;
            }
            if !parents && ancestors_ok(m, p).is_err() {
                return false;
            }
            let mut cur = Some(p.as_str());
            while let Some(a) = cur {
                m.entry(a.to_string()).or_insert(true);
                cur = parent(a);
            }
            true
        }
        Op::Create(p, overwrite, parents) => {
            match m.get(p) {
                Some(true) => return false,
                Some(false) if !overwrite => return false,
                _ => {}
            }
            if any_ancestor_file(m, p) {
                return false;
            }
            if !parents && ancestors_ok(m, p).is_err() {
                return false;
            }
            let mut cur = parent(p);
            while let Some(a) = cur {
                m.entry(a.to_string()).or_insert(true);
                cur = parent(a);
            }
            m.insert(p.clone(), false);
            true
        }
        Op::Rename(src, dst, overwrite) => {
            let Some(&src_dir) = m.get(src) else {
                return false;
            };
            if any_ancestor_file(m, dst) {
                return false;
            }
            let fin = match m.get(dst) {
                Some(true) => join(dst, file_name(src)),
                Some(false) => dst.clone(),
                None => {
                    if ancestors_ok(m, dst).is_err() {
                        return false;
                    }
                    dst.clone()
                }
            };
            if fin == *src {
                return true;
            }
            if src_dir && is_under(&fin, src) {
                return false;
            }
            if let Some(&fin_dir) = m.get(&fin) {
                if !overwrite || fin_dir != src_dir || (fin_dir && has_children(m, &fin)) {
                    return false;
                }
                m.remove(&fin);
            }
            let moved: Vec<(String, bool)> = m
                .iter()
                .filter(|(k, _)| is_under(k, src))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for (k, _) in &moved {
                m.remove(k);
            }
            for (k, v) in moved {
                m.insert(format!("{fin}{}", &k[src.len()..]), v);
            }
            true
        }
        Op::Delete(p, recursive) => match m.get(p) {
            None => true,
            Some(&dir) => {
                if dir && has_children(m, p) && !recursive {
                    return false;
                }
                let doomed: Vec<String> = m.keys().filter(|k| is_under(k, p)).cloned().collect();
                for k in doomed {
                    m.remove(&k);
                }
                true
            }
        },
        Op::Restart | Op::Purge(_) => true,
    }
}

fn fsn_apply(f: &mut FsNamesystem, op: &Op, n: u64) -> bool {
    let su = Caller::superuser("root");
    match op {
        Op::Mkdir(p, parents) => f.mkdirs(&su, p, 0o755, *parents).is_ok(),
        Op::Create(p, overwrite, parents) => {
            let client = format!("client-{n}");
            let args = CreateArgs {
                path: p,
                permission: 0o644,
                client_name: &client,
                overwrite: *overwrite,
                create_parent: *parents,
                replication: 1,
                block_size: 1024,
            };
            match f.create(&su, &args, Instant::now()) {
                Ok(_) => {
                    assert!(f.complete(p, &client, 0, None, b"").unwrap());
                    true
                }
                Err(_) => false,
            }
        }
        Op::Rename(s, d, o) => f.rename(&su, s, d, *o).is_ok(),
        Op::Delete(p, r) => f.delete(&su, p, *r).is_ok(),
        Op::Restart => true,
        Op::Purge(n) => {
            f.purge_detached(*n).unwrap();
            true
        }
    }
}

/// Reads the whole tree through listings (paged, 2 at a time) and checks
/// directory child counts on the way.
fn dump(f: &FsNamesystem) -> Model {
    let su = Caller::superuser("root");
    let mut out = Model::new();
    let mut stack = vec!["/".to_string()];
    while let Some(dir) = stack.pop() {
        out.insert(dir.clone(), true);
        let mut after = String::new();
        let mut count = 0;
        loop {
            let page = f.get_listing(&su, &dir, &after, 2).unwrap();
            for e in &page.entries {
                let p = join(&dir, &e.name);
                count += 1;
                if e.kind == InodeKind::Dir {
                    stack.push(p);
                } else {
                    out.insert(p, false);
                }
            }
            if page.remaining == 0 {
                break;
            }
            after = page.entries.last().unwrap().name.clone();
        }
        let st = f.get_file_info(&su, &dir).unwrap().unwrap();
        assert_eq!(st.children_num, count, "children_num of {dir}");
    }
    out
}

fn core(increment: usize) -> CoreConfig {
    CoreConfig {
        superuser: "root".into(),
        deletion_increment: increment,
        ..CoreConfig::default()
    }
}

/// Increments the runs use: the default (trees of the test's size go at
/// once) and 2 (nearly every recursive delete detaches).
const INCREMENTS: [usize; 2] = [5000, 2];

/// Inode records in the store.
fn stored_inodes(f: &FsNamesystem) -> usize {
    let mut n = 0;
    f.namespace()
        .store()
        .scan(b"i", b"", &mut |_, _| {
            n += 1;
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    n
}

/// Runs `ops` random operations; returns how many deletes detached a tree.
fn run(
    seed: u64,
    ops: usize,
    mut reopen: impl FnMut(Option<FsNamesystem>) -> FsNamesystem,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::new();
    model.insert("/".into(), true);
    let mut f = reopen(None);
    let mut succeeded = 0;
    let mut detached = 0;
    for n in 0..ops {
        let op = random_op(&mut rng);
        if let Op::Restart = op {
            f = reopen(Some(f));
        }
        let want = model_apply(&mut model, &op);
        let got = fsn_apply(&mut f, &op, n as u64);
        assert_eq!(got, want, "seed {seed} op #{n} {op:?}");
        succeeded += usize::from(got);
        if let Op::Delete(..) = op {
            detached += usize::from(got && f.purge_pending());
        }
        if n % 10 == 0 || matches!(op, Op::Restart) {
            assert_eq!(dump(&f), model, "seed {seed} after op #{n} {op:?}");
        }
    }
    assert_eq!(dump(&f), model, "seed {seed} at the end");
    assert!(
        succeeded > ops / 3,
        "seed {seed}: only {succeeded} of {ops} ops succeeded"
    );
    // Detached trees still count until purged; then nothing is left over.
    while f.purge_detached(3).unwrap() > 0 {}
    assert!(!f.purge_pending());
    let stats = f.fs_stats();
    let files = model.values().filter(|d| !**d).count() as u64;
    assert_eq!(stats.total_files, files, "seed {seed}");
    assert_eq!(stats.total_dirs, model.len() as u64 - files, "seed {seed}");
    assert_eq!(stored_inodes(&f), model.len(), "seed {seed}: inode records");
    detached
}

#[test]
fn model_mem_store() {
    for seed in 0..6 {
        let store = Arc::new(MemStore::new());
        let increment = INCREMENTS[seed as usize % 2];
        let detached = run(seed, 400, |old| {
            drop(old);
            FsNamesystem::open(
                store.clone(),
                core(increment),
                Topology::default(),
                Instant::now(),
            )
            .unwrap()
        });
        assert_eq!(
            detached > 0,
            increment == 2,
            "seed {seed}: {detached} detached"
        );
    }
}

#[test]
fn model_sled_store_with_reopen() {
    for seed in 100..104 {
        let dir = tempfile::tempdir().unwrap();
        let mut current: Option<Arc<SledStore>> = None;
        let increment = INCREMENTS[seed as usize % 2];
        let detached = run(seed, 300, |old| {
            drop(old);
            if let Some(s) = current.take() {
                s.flush().unwrap();
                s.close().unwrap();
                assert_eq!(Arc::strong_count(&s), 1, "nothing else holds the store");
            }
            let s = Arc::new(SledStore::open(dir.path(), 1 << 20).unwrap());
            current = Some(s.clone());
            FsNamesystem::open(s, core(increment), Topology::default(), Instant::now()).unwrap()
        });
        assert_eq!(
            detached > 0,
            increment == 2,
            "seed {seed}: {detached} detached"
        );
        if let Some(s) = current {
            s.close().unwrap();
        }
    }
}
