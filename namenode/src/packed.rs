//! The namenode's ordered key-value store packed into buckets over one sled
//! tree, so that sled's resident bookkeeping does not grow with the
//! namespace.
//!
//! sled 0.34 splits a tree leaf at 16 entries and keeps, for every leaf,
//! a page-table entry with its on-disk fragments and a place in its
//! segment accounting resident in memory, cached or not (~400 bytes per
//! leaf). With one sled entry per inode and per directory entry, that made
//! the namenode's memory grow by ~75 bytes per file at start and ~110 after
//! a walk. Here each sled entry is a *bucket*: a sorted run of logical
//! entries of up to [`BUCKET_MAX`] bytes, keyed by the lowest key it may
//! hold; the bucket with the greatest start `<=` a key holds that key. The
//! first bucket starts at the empty key and always exists once anything was
//! written, so every key has a bucket. A file costs ~120 bytes of keys and
//! values, so 1,000,000 files fill ~80,000 buckets in ~5,000 sled leaves
//! instead of ~170,000 leaves: 14 MiB resident after start instead of 82.
//!
//! Reads are lock-free: a lookup fetches one (start, bucket) pair from sled,
//! which is always a consistent version of that bucket, and binary-searches
//! it in place (the encoding has an offset table). Writes are serialized
//! (the edit log's applier is the only writer in a running namenode): a
//! batch loads the buckets it touches, applies its operations, merges
//! buckets that fell under [`BUCKET_MIN`] into their predecessor, splits
//! those over [`BUCKET_MAX`], and writes the result as one atomic sled batch.
//! A scan re-reads the bucket it has just visited together with the next
//! one (one sled range), and re-finds its position by key if that bucket
//! was merged away, so a concurrent split or merge never makes it skip or
//! repeat an entry that did not change.

use crate::store::{Batch, KvStore, Op, StoreError, Visitor};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ops::Bound;

/// A bucket is split when its encoding exceeds this many bytes (a single
/// entry larger than this gets a bucket of its own).
pub const BUCKET_MAX: usize = 2048;
/// A bucket whose encoding falls under this is merged into its predecessor.
pub const BUCKET_MIN: usize = 512;

/// The encoding: `n: u32`, then `n + 1` entry offsets (`u32`, relative to
/// the data area, the last one its length), then the entries, each
/// `key length: u32`, key, value. All little-endian.
fn encode(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_size(entries.iter().copied()));
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let mut off = 0u32;
    for (k, v) in entries {
        out.extend_from_slice(&off.to_le_bytes());
        off += (4 + k.len() + v.len()) as u32;
    }
    out.extend_from_slice(&off.to_le_bytes());
    for (k, v) in entries {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out
}

/// The encoded size of one entry, offset included.
fn entry_size(k: &[u8], v: &[u8]) -> usize {
    8 + k.len() + v.len()
}

fn corrupt(start: &[u8], why: &str) -> StoreError {
    StoreError::Backend(format!(
        "corrupt store bucket starting at key {}: {why}",
        String::from_utf8_lossy(start)
    ))
}

/// A read-only view of an encoded bucket.
struct View<'a> {
    n: usize,
    offsets: &'a [u8],
    data: &'a [u8],
}

impl<'a> View<'a> {
    fn parse(start: &[u8], buf: &'a [u8]) -> Result<Self, StoreError> {
        let n = u32::from_le_bytes(
            buf.get(..4)
                .ok_or_else(|| corrupt(start, "short header"))?
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        let table_end = 4 + 4 * (n + 1);
        if buf.len() < table_end {
            return Err(corrupt(start, "short offset table"));
        }
        let v = View {
            n,
            offsets: &buf[4..table_end],
            data: &buf[table_end..],
        };
        if v.offset(n) != v.data.len() {
            return Err(corrupt(start, "length mismatch"));
        }
        for i in 0..n {
            let (a, b) = (v.offset(i), v.offset(i + 1));
            if a + 4 > b || b > v.data.len() {
                return Err(corrupt(start, "bad entry offset"));
            }
            let klen = u32::from_le_bytes(v.data[a..a + 4].try_into().expect("4 bytes")) as usize;
            if a + 4 + klen > b {
                return Err(corrupt(start, "bad key length"));
            }
        }
        Ok(v)
    }

    fn offset(&self, i: usize) -> usize {
        u32::from_le_bytes(self.offsets[4 * i..4 * i + 4].try_into().expect("4 bytes")) as usize
    }

    fn entry(&self, i: usize) -> (&'a [u8], &'a [u8]) {
        let (a, b) = (self.offset(i), self.offset(i + 1));
        let klen = u32::from_le_bytes(self.data[a..a + 4].try_into().expect("4 bytes")) as usize;
        (&self.data[a + 4..a + 4 + klen], &self.data[a + 4 + klen..b])
    }

    /// The index of the first entry whose key is `>= key` (`> key` if
    /// `exclusive`).
    fn lower_bound(&self, key: &[u8], exclusive: bool) -> usize {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let k = self.entry(mid).0;
            if k < key || (exclusive && k == key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// The packed store over one sled tree (which holds nothing else).
pub struct PackedTree {
    tree: sled::Tree,
    writer: Mutex<()>,
}

impl KvStore for PackedTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((start, buf)) = self.bucket_for(key)? else {
            return Ok(None);
        };
        let view = View::parse(&start, &buf)?;
        let i = view.lower_bound(key, false);
        if i < view.n {
            let (k, v) = view.entry(i);
            if k == key {
                return Ok(Some(v.to_vec()));
            }
        }
        Ok(None)
    }

    fn scan(&self, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError> {
        let from = if start > prefix { start } else { prefix };
        // Entries are visited in order, each once: `after` is the last key
        // visited. Each step reads, in one sled range, the current version
        // of the bucket just visited (a merge may have moved the next
        // bucket's entries into it) and the bucket after it.
        let mut after: Option<Vec<u8>> = None;
        let mut emit = |bstart: &[u8], buf: &[u8], after: &mut Option<Vec<u8>>| {
            let view = View::parse(bstart, buf)?;
            let first = match after {
                Some(a) => view.lower_bound(a, true),
                None => view.lower_bound(from, false),
            };
            for i in first..view.n {
                let (k, v) = view.entry(i);
                if !k.starts_with(prefix) || visit(k, v).is_break() {
                    return Ok::<bool, StoreError>(true);
                }
            }
            if first < view.n {
                *after = Some(view.entry(view.n - 1).0.to_vec());
            }
            Ok(false)
        };
        let mut cur = match self.bucket_for(from)? {
            Some((s, _)) => s,
            None => return Ok(()),
        };
        loop {
            let mut it = self.tree.range(&cur[..]..);
            match it.next().transpose()? {
                Some((s, buf)) if s == cur => {
                    if emit(&s, &buf, &mut after)? {
                        return Ok(());
                    }
                }
                _ => {
                    // Merged into its predecessor meanwhile: find the
                    // bucket that holds the position now.
                    let pos = after.clone().unwrap_or_else(|| from.to_vec());
                    cur = match self.bucket_for(&pos)? {
                        Some((s, _)) => s,
                        None => return Ok(()),
                    };
                    continue;
                }
            }
            match it.next().transpose()? {
                Some((s, buf)) => {
                    if emit(&s, &buf, &mut after)? {
                        return Ok(());
                    }
                    cur = s;
                }
                None => return Ok(()),
            }
        }
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _writer = self.writer.lock();
        // Buckets touched, decoded, by start key. Bucket boundaries do not
        // move until every operation is in, so each loaded bucket's end (the
        // next bucket's start; `None` for the last) is known, and an
        // operation on a key inside a loaded bucket needs no sled lookup.
        let mut touched: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
        let mut ends: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for op in batch.ops {
            let (Op::Put(key, _) | Op::Delete(key)) = &op;
            let loaded = ends
                .range::<[u8], _>((Bound::Unbounded, Bound::Included(&key[..])))
                .next_back()
                .filter(|(_, end)| end.as_deref().is_none_or(|e| &key[..] < e))
                .map(|(s, _)| s.clone());
            let start = match loaded {
                Some(s) => s,
                None => {
                    let (s, entries) = match self.bucket_for(key)? {
                        Some((s, buf)) => (s.to_vec(), decode(&s, &buf)?),
                        // No bucket yet: the first one starts at the empty key.
                        None => (Vec::new(), BTreeMap::new()),
                    };
                    let end = self
                        .tree
                        .range::<&[u8], _>((Bound::Excluded(&s[..]), Bound::Unbounded))
                        .next()
                        .transpose()?
                        .map(|(k, _)| k.to_vec());
                    touched.insert(s.clone(), entries);
                    ends.insert(s.clone(), end);
                    s
                }
            };
            let bucket = touched.get_mut(&start).expect("loaded above");
            match op {
                Op::Put(k, v) => {
                    bucket.insert(k, v);
                }
                Op::Delete(k) => {
                    bucket.remove(&k);
                }
            }
        }
        // Merge small buckets (but never the first) into their predecessor,
        // in ascending order, so a chain of small ones ends in one bucket.
        // `merged`: each bucket merged away → the bucket it went into.
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let small: Vec<Vec<u8>> = touched
            .iter()
            .filter(|(s, b)| !s.is_empty() && map_size(b) < BUCKET_MIN)
            .map(|(s, _)| s.clone())
            .collect();
        for s in small {
            let Some(entries) = touched.get(&s) else {
                continue;
            };
            if map_size(entries) >= BUCKET_MIN {
                continue; // grew by an earlier merge
            }
            let pred = self.predecessor(&s, &merged)?;
            if !touched.contains_key(&pred) {
                let buf = self
                    .tree
                    .get(&pred)?
                    .ok_or_else(|| corrupt(&pred, "predecessor vanished"))?;
                touched.insert(pred.clone(), decode(&pred, &buf)?);
            }
            let entries = touched.remove(&s).expect("present");
            touched.get_mut(&pred).expect("loaded").extend(entries);
            merged.insert(s, pred);
        }
        let mut out = sled::Batch::default();
        for s in merged.keys() {
            out.remove(&s[..]);
        }
        for (start, entries) in &touched {
            let list: Vec<(&[u8], &[u8])> = entries.iter().map(|(k, v)| (&k[..], &v[..])).collect();
            for (i, chunk) in split(&list).into_iter().enumerate() {
                let key: &[u8] = if i == 0 { start } else { chunk[0].0 };
                out.insert(key, encode(chunk));
            }
        }
        self.tree.apply_batch(out)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }
}

impl PackedTree {
    pub fn new(tree: sled::Tree) -> Self {
        Self {
            tree,
            writer: Mutex::new(()),
        }
    }

    /// The bucket holding `key`: the one with the greatest start `<= key`.
    fn bucket_for(&self, key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        Ok(self.tree.range(..=key).next_back().transpose()?)
    }

    /// The start of the bucket before the one starting at `start`, skipping
    /// buckets merged away in this batch (`merged`, bucket → where it
    /// went). Merges run in ascending order, so the bucket the one just
    /// below `start` went into is still there and is the nearest one left:
    /// one lookup, however long the run of merged buckets (a recursive
    /// delete empties thousands in one batch; skipping them one by one made
    /// such a batch quadratic). The first bucket (empty key) always exists,
    /// so there is one.
    fn predecessor(
        &self,
        start: &[u8],
        merged: &BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(kv) = self.tree.range(..start).next_back() else {
            return Err(corrupt(start, "no first bucket"));
        };
        let (k, _) = kv?;
        Ok(match merged.get(&k[..]) {
            Some(into) => into.clone(),
            None => k.to_vec(),
        })
    }

    /// Logical entries and buckets.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> Result<(u64, u64), StoreError> {
        let (mut entries, mut buckets) = (0u64, 0u64);
        for kv in self.tree.iter() {
            let (s, buf) = kv?;
            entries += View::parse(&s, &buf)?.n as u64;
            buckets += 1;
        }
        Ok((entries, buckets))
    }

    pub fn clear(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock();
        self.tree.clear()?;
        Ok(())
    }
}

fn decode(start: &[u8], buf: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
    let view = View::parse(start, buf)?;
    Ok((0..view.n)
        .map(|i| {
            let (k, v) = view.entry(i);
            (k.to_vec(), v.to_vec())
        })
        .collect())
}

fn map_size(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> usize {
    encoded_size(entries.iter().map(|(k, v)| (&k[..], &v[..])))
}

/// The encoded size of a bucket holding `entries`.
fn encoded_size<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> usize {
    8 + entries
        .into_iter()
        .map(|(k, v)| entry_size(k, v))
        .sum::<usize>()
}

/// Cuts a sorted run into buckets of at most [`BUCKET_MAX`] bytes, all about
/// the same size (3/4 full on average after a split). Never returns an empty
/// list: an empty run is one empty bucket.
fn split<'a>(list: &'a [(&'a [u8], &'a [u8])]) -> Vec<&'a [(&'a [u8], &'a [u8])]> {
    let total = encoded_size(list.iter().copied());
    if total <= BUCKET_MAX || list.len() < 2 {
        return vec![list];
    }
    let parts = total.div_ceil(BUCKET_MAX * 3 / 4);
    let target = total / parts;
    let mut out = Vec::with_capacity(parts);
    let (mut begin, mut size) = (0, 8);
    for (i, (k, v)) in list.iter().enumerate() {
        let s = entry_size(k, v);
        if i > begin && (size + s > BUCKET_MAX || size >= target) {
            out.push(&list[begin..i]);
            begin = i;
            size = 8;
        }
        size += s;
    }
    out.push(&list[begin..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{collect, conformance};
    use crate::store::MemStore;
    use rand::{Rng, SeedableRng};
    use std::ops::ControlFlow;

    fn tree() -> (tempfile::TempDir, PackedTree) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        (dir, PackedTree::new(db.open_tree("t").unwrap()))
    }

    #[test]
    fn packed_tree_conforms() {
        let (_d, t) = tree();
        conformance(&t);
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let e: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"bb", b""), (b"", b"xyz")];
        let buf = encode(&e);
        let v = View::parse(b"s", &buf).unwrap();
        assert_eq!(v.n, 3);
        assert_eq!(v.entry(1), (&b"bb"[..], &b""[..]));
        for cut in 0..buf.len() {
            assert!(View::parse(b"s", &buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[8] = 0xff;
        assert!(View::parse(b"s", &bad).is_err());
    }

    #[test]
    fn one_batch_deleting_long_runs_merges_them_in_linear_time() {
        // A recursive delete: one batch empties thousands of neighbouring
        // buckets, with runs of survivors between them.
        let (_d, t) = tree();
        let model = MemStore::new();
        let key = |i: u32| format!("k{i:07}").into_bytes();
        let n = 400_000;
        for chunk in (0..n).collect::<Vec<_>>().chunks(20_000) {
            let mut b = Batch::default();
            for &i in chunk {
                b.put(key(i), vec![b'v'; 24]);
            }
            t.apply(b.clone()).unwrap();
            model.apply(b).unwrap();
        }
        let before = t.stats().unwrap().1;
        assert!(before > 6000, "{before} buckets");
        let mut b = Batch::default();
        for i in 0..n {
            // Keep a few keys at the ends and in three places in between.
            if !(i < 10 || i >= n - 10 || (i % 120_000) < 5) {
                b.delete(key(i));
            }
        }
        let t0 = std::time::Instant::now();
        t.apply(b.clone()).unwrap();
        let took = t0.elapsed();
        model.apply(b).unwrap();
        assert_eq!(collect(&t, b"", b""), collect(&model, b"", b""));
        let (entries, after) = t.stats().unwrap();
        assert_eq!(entries, 10 + 10 + 4 * 5 - 5);
        assert!(after <= 2, "{after} buckets left of {before}");
        // Skipping merged buckets one by one, this batch took ~30 s in a
        // debug build; with one lookup per merge, about a second.
        assert!(took < std::time::Duration::from_secs(15), "{took:?}");
    }

    #[test]
    fn splits_merges_and_matches_a_model() {
        let (_d, t) = tree();
        let model = MemStore::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut mid_buckets = 0;
        for round in 0..300 {
            let mut b = Batch::default();
            for _ in 0..rng.gen_range(1..200) {
                let k = format!(
                    "{}{:05}",
                    ["e", "i", "m"][rng.gen_range(0..3)],
                    rng.gen_range(0..4000)
                )
                .into_bytes();
                if rng.gen_bool(if round < 150 { 0.2 } else { 0.7 }) {
                    b.delete(k);
                } else {
                    let v = vec![b'v'; rng.gen_range(0..300)];
                    b.put(k, v);
                }
            }
            t.apply(b.clone()).unwrap();
            model.apply(b).unwrap();
            if round == 149 {
                mid_buckets = t.stats().unwrap().1;
            }
            if round % 25 == 0 {
                for (p, s) in [
                    (&b""[..], &b""[..]),
                    (b"i", b""),
                    (b"e", b"e02000"),
                    (b"m", b"zz"),
                ] {
                    assert_eq!(collect(&t, p, s), collect(&model, p, s));
                }
                for i in 0..4000 {
                    let k = format!("i{i:05}").into_bytes();
                    assert_eq!(t.get(&k).unwrap(), model.get(&k).unwrap());
                }
            }
        }
        // Every bucket but a lone last one respects the bounds.
        for kv in t.tree.iter() {
            let (_, buf) = kv.unwrap();
            assert!(buf.len() <= BUCKET_MAX || View::parse(b"", &buf).unwrap().n == 1);
        }
        let (entries, buckets) = t.stats().unwrap();
        let mut n = 0;
        model
            .scan(b"", b"", &mut |_, _| {
                n += 1;
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(entries, n);
        assert!(buckets > 10, "{buckets} buckets for {entries} entries");
        // The delete-heavy second half merged buckets.
        assert!(
            buckets < mid_buckets,
            "{buckets} buckets, {mid_buckets} at half-time"
        );
    }

    #[test]
    fn a_scan_sees_unchanged_entries_once_while_buckets_split_and_merge() {
        let (_d, t) = tree();
        let t = std::sync::Arc::new(t);
        let mut b = Batch::default();
        for i in 0..3000 {
            b.put(format!("k{i:05}").into_bytes(), vec![b'x'; 40]);
        }
        t.apply(b).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(3);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Churn keys between the stable ones ("k01234.5"), big
                    // enough to split and small enough to merge again.
                    let mut b = Batch::default();
                    for _ in 0..50 {
                        let k = format!("k{:05}.5", rng.gen_range(0..3000)).into_bytes();
                        if rng.gen_bool(0.5) {
                            b.put(k, vec![b'y'; rng.gen_range(0..400)]);
                        } else {
                            b.delete(k);
                        }
                    }
                    t.apply(b).unwrap();
                }
            })
        };
        for _ in 0..30 {
            let mut seen = Vec::new();
            t.scan(b"k", b"", &mut |k, _| {
                if !k.ends_with(b".5") {
                    seen.push(k.to_vec());
                }
                ControlFlow::Continue(())
            })
            .unwrap();
            let want: Vec<Vec<u8>> = (0..3000).map(|i| format!("k{i:05}").into_bytes()).collect();
            assert_eq!(seen, want);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
    }
}
