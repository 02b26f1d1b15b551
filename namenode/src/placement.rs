//! Where replicas go, and in which order readers should try them.
//!
//! Pure functions over [`Candidate`]s; the datanode manager supplies the
//! candidates (live nodes only) and the caller's randomness.
//!
//! Writes (HDFS's default policy): distinct nodes with room for a block and not
//! excluded by the client; the first on the writer's host when a datanode runs
//! there, else a lightly loaded random node; the second on another rack when
//! there is more than one; the third on the second's rack; the rest random.

use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashSet;

/// A live datanode as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub uuid: String,
    pub host: String,
    pub rack: String,
    pub remaining: u64,
    /// Transfers in progress (xceivers): lower is better.
    pub load: u32,
}

/// Picks up to `replication` targets in pipeline order; returns indices into
/// `cands`. Empty when no node qualifies.
pub fn choose_targets<R: Rng>(
    cands: &[Candidate],
    replication: usize,
    block_size: u64,
    writer_host: Option<&str>,
    excluded: &HashSet<String>,
    rng: &mut R,
) -> Vec<usize> {
    let eligible: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].remaining >= block_size && !excluded.contains(&cands[i].uuid))
        .collect();
    let want = replication.min(eligible.len());
    let mut chosen: Vec<usize> = Vec::with_capacity(want);
    if want == 0 {
        return chosen;
    }
    let racks: HashSet<&str> = eligible.iter().map(|&i| cands[i].rack.as_str()).collect();
    let multi_rack = racks.len() > 1;

    // First: the writer's host, else lightly loaded random.
    let local: Vec<usize> = match writer_host {
        Some(h) if !h.is_empty() => eligible
            .iter()
            .copied()
            .filter(|&i| cands[i].host == h)
            .collect(),
        _ => Vec::new(),
    };
    let first = if local.is_empty() {
        pick_light(cands, &eligible, rng)
    } else {
        local.choose(rng).copied()
    };
    let Some(first) = first else {
        return chosen;
    };
    chosen.push(first);

    // Second: another rack when there is one.
    if chosen.len() < want {
        let first_rack = cands[first].rack.as_str();
        let pool: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|i| !chosen.contains(i) && (!multi_rack || cands[*i].rack != first_rack))
            .collect();
        let pool = if pool.is_empty() {
            rest(&eligible, &chosen)
        } else {
            pool
        };
        if let Some(i) = pick_light(cands, &pool, rng) {
            chosen.push(i);
        }
    }

    // Third: the second's rack, another node.
    if chosen.len() < want && chosen.len() == 2 {
        let second_rack = cands[chosen[1]].rack.as_str();
        let pool: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|i| !chosen.contains(i) && cands[*i].rack == second_rack)
            .collect();
        let pool = if pool.is_empty() {
            rest(&eligible, &chosen)
        } else {
            pool
        };
        if let Some(i) = pick_light(cands, &pool, rng) {
            chosen.push(i);
        }
    }

    // The rest: random.
    while chosen.len() < want {
        let pool = rest(&eligible, &chosen);
        match pick_light(cands, &pool, rng) {
            Some(i) => chosen.push(i),
            None => break,
        }
    }
    chosen
}

fn rest(eligible: &[usize], chosen: &[usize]) -> Vec<usize> {
    eligible
        .iter()
        .copied()
        .filter(|i| !chosen.contains(i))
        .collect()
}

/// Random, preferring light load: the less loaded of two random picks.
fn pick_light<R: Rng>(cands: &[Candidate], pool: &[usize], rng: &mut R) -> Option<usize> {
    let a = *pool.choose(rng)?;
    let b = *pool.choose(rng)?;
    Some(if cands[b].load < cands[a].load { b } else { a })
}

/// Distance tier of a replica from a reader: same host, same rack, other.
fn tier(host: &str, rack: &str, reader_host: &str, reader_rack: &str) -> u8 {
    if !reader_host.is_empty() && host == reader_host {
        0
    } else if rack == reader_rack {
        1
    } else {
        2
    }
}

/// Orders replicas `(host, rack)` for a reader: same host, then same rack,
/// then the rest, random within a tier. Returns indices.
pub fn sort_for_reader<R: Rng>(
    replicas: &[(&str, &str)],
    reader_host: &str,
    reader_rack: &str,
    rng: &mut R,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..replicas.len()).collect();
    idx.shuffle(rng);
    idx.sort_by_key(|&i| tier(replicas[i].0, replicas[i].1, reader_host, reader_rack));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn node(uuid: &str, host: &str, rack: &str) -> Candidate {
        Candidate {
            uuid: uuid.into(),
            host: host.into(),
            rack: rack.into(),
            remaining: 1 << 30,
            load: 0,
        }
    }

    fn cluster() -> Vec<Candidate> {
        vec![
            node("a1", "h1", "/r1"),
            node("a2", "h2", "/r1"),
            node("b1", "h3", "/r2"),
            node("b2", "h4", "/r2"),
            node("c1", "h5", "/r3"),
        ]
    }

    #[test]
    fn writer_first_then_remote_rack_then_same_rack_as_second() {
        // Two racks of two, so the second's rack always has room for the third.
        let c = &cluster()[..4];
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t = choose_targets(c, 3, 1024, Some("h1"), &HashSet::new(), &mut rng);
            assert_eq!(t.len(), 3);
            assert_eq!(c[t[0]].uuid, "a1");
            assert_ne!(c[t[1]].rack, "/r1");
            assert_eq!(c[t[2]].rack, c[t[1]].rack);
            assert_ne!(t[2], t[1]);
        }
    }

    #[test]
    fn distinct_and_capped_by_cluster_size() {
        let c = cluster();
        let mut rng = StdRng::seed_from_u64(1);
        let t = choose_targets(&c, 10, 1024, None, &HashSet::new(), &mut rng);
        assert_eq!(t.len(), 5);
        let set: HashSet<_> = t.iter().collect();
        assert_eq!(set.len(), 5);
    }

    #[test]
    fn single_rack_still_distinct() {
        let c = vec![
            node("a", "h1", "/d"),
            node("b", "h2", "/d"),
            node("c", "h3", "/d"),
        ];
        let mut rng = StdRng::seed_from_u64(3);
        let t = choose_targets(&c, 3, 1, Some("h2"), &HashSet::new(), &mut rng);
        assert_eq!(t.len(), 3);
        assert_eq!(c[t[0]].uuid, "b");
        let set: HashSet<_> = t.iter().collect();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn excluded_and_full_nodes_skipped() {
        let mut c = cluster();
        c[1].remaining = 10; // too small for the block
        let excluded: HashSet<String> = ["a1".to_string(), "b1".to_string()].into();
        let mut rng = StdRng::seed_from_u64(9);
        let t = choose_targets(&c, 3, 1024, Some("h1"), &excluded, &mut rng);
        let uuids: HashSet<_> = t.iter().map(|&i| c[i].uuid.as_str()).collect();
        assert_eq!(uuids, ["b2", "c1"].into());
        let none = choose_targets(&c[1..2], 1, 1024, None, &HashSet::new(), &mut rng);
        assert!(none.is_empty());
    }

    #[test]
    fn several_datanodes_on_the_writer_host() {
        let c = vec![
            node("x", "h", "/d"),
            node("y", "h", "/d"),
            node("z", "other", "/d"),
        ];
        let mut seen = HashSet::new();
        for seed in 0..40 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t = choose_targets(&c, 1, 1, Some("h"), &HashSet::new(), &mut rng);
            seen.insert(c[t[0]].uuid.clone());
        }
        assert_eq!(seen, ["x".to_string(), "y".to_string()].into());
    }

    #[test]
    fn prefers_lightly_loaded() {
        let mut c = cluster();
        for (i, n) in c.iter_mut().enumerate() {
            n.load = if i == 4 { 0 } else { 100 };
        }
        let mut hits = 0;
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let t = choose_targets(&c, 1, 1, None, &HashSet::new(), &mut rng);
            if c[t[0]].uuid == "c1" {
                hits += 1;
            }
        }
        // Uniform would give ~40; two-choice gives ~72.
        assert!(hits > 55, "{hits}");
    }

    #[test]
    fn reader_order() {
        let reps = [("h9", "/r2"), ("h1", "/r1"), ("h2", "/r1"), ("h8", "/r3")];
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let o = sort_for_reader(&reps, "h1", "/r1", &mut rng);
            assert_eq!(o[0], 1);
            assert_eq!(o[1], 2);
            assert!(o[2..].contains(&0) && o[2..].contains(&3));
        }
    }
}
