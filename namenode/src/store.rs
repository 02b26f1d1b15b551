//! The namenode's durable storage: a small ordered key-value trait and its two
//! implementations, [`SledStore`] (production) and [`MemStore`] (tests).
//!
//! The namespace code above only needs point reads, ordered scans under a key
//! prefix, atomic batches and a durable flush, so that is all the trait offers.
//! Both implementations pass the same conformance suite (`tests` below).

use crate::packed::PackedTree;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

/// A storage failure. Fatal for the operation that hit it; the namenode
/// reports it as an `IOException`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("storage is closed")]
    Closed,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Writes applied all together or not at all, in order (a later write to the
/// same key wins).
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub ops: Vec<Op>,
}

impl Batch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(Op::Put(key, value));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(Op::Delete(key));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// The callback of [`KvStore::scan`]: gets each key and value, breaks to stop.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'a;

/// An ordered key-value store (keys compare bytewise).
pub trait KvStore: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Visits, in key order, the entries whose key starts with `prefix` and is
    /// `>= start` (`start` shorter than `prefix` means "from the first"), until
    /// `visit` breaks or the prefix ends.
    fn scan(&self, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError>;
    /// Applies every write of `batch` atomically (visible to readers at once,
    /// durable only after the next [`flush`](KvStore::flush)).
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// The sled-backed store: one sled tree (the default one) with key prefixes.
///
/// The `Db` sits in an `Option` so that [`SledStore::close`] can drop it even
/// if some stray `Arc<SledStore>` is still alive: once closed, the directory
/// can be reopened by another namenode in the same process.
///
/// The namespace's entries are packed into buckets in the sled tree
/// `namespace` ([`PackedTree`]); the default tree holds only the format
/// marker. Name dirs written before 2026-11-23 held one sled entry per key
/// in the default tree; [`SledStore::open`] converts them.
pub struct SledStore {
    db: RwLock<Option<Opened>>,
}

struct Opened {
    db: sled::Db,
    ns: PackedTree,
}

/// The default tree's key naming the store's format, and the format.
const FORMAT_KEY: &[u8] = b"\0tusk.store.format";
const FORMAT_PACKED: &[u8] = b"packed-1";
const NS_TREE: &[u8] = b"namespace";

impl SledStore {
    /// Opens (creating if needed) the database in `dir`.
    ///
    /// sled holds an exclusive lock on the directory until its background
    /// flusher thread has exited, a moment after the last handle is dropped;
    /// so a reopen right after a close in the same process (a restart in
    /// tests) retries for a few seconds before it reports the directory as
    /// in use by another process.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let opened = sled::Config::new()
                .path(dir)
                .cache_capacity(cache_capacity)
                .mode(sled::Mode::HighThroughput)
                .open();
            match opened {
                Ok(db) => {
                    let ns = PackedTree::new(db.open_tree(NS_TREE)?);
                    let converted = prepare_format(&db, &ns)
                        .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
                    if let Some(keys) = converted {
                        tracing::warn!(
                            dir = %dir.display(),
                            keys,
                            "converted the store to packed buckets (format of 2026-11-23)"
                        );
                    }
                    return Ok(Self {
                        db: RwLock::new(Some(Opened { db, ns })),
                    });
                }
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() > deadline {
                        return Err(sled::Error::Io(std::io::Error::new(
                            e.kind(),
                            format!(
                                "{}: name directory is in use by another namenode ({e})",
                                dir.display()
                            ),
                        ))
                        .into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Flushes and closes the database; later calls fail with `Closed`.
    pub fn close(&self) -> Result<(), StoreError> {
        let opened = self.db.write().take();
        match opened {
            Some(o) => {
                o.db.flush()?;
                drop(o);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&PackedTree) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let g = self.db.read();
        match g.as_ref() {
            Some(o) => f(&o.ns),
            None => Err(StoreError::Closed),
        }
    }

    /// Logical entries and sled entries (buckets) in the namespace tree.
    #[cfg(test)]
    fn stats(&self) -> Result<(u64, u64), StoreError> {
        self.with(|ns| ns.stats())
    }
}

/// Makes `db` hold the packed format: marks a new store; converts a store
/// of the format before 2026-11-23 (every key an entry of the default
/// tree) into `ns` and returns how many keys it copied.
///
/// Crash-safe: the marker is written only once the copy is complete and
/// flushed (an interrupted copy is discarded and redone at the next open),
/// and the old entries are removed only after that (an interrupted removal
/// is finished at the next open).
fn prepare_format(db: &sled::Db, ns: &PackedTree) -> Result<Option<u64>, StoreError> {
    let mut copied = None;
    match db.get(FORMAT_KEY)? {
        Some(f) if f == FORMAT_PACKED => {}
        Some(f) => {
            return Err(StoreError::Backend(format!(
                "unknown store format {:?} (written by a newer namenode?)",
                String::from_utf8_lossy(&f)
            )))
        }
        None => {
            if db.iter().next().is_some() {
                ns.clear()?;
                let mut n = 0u64;
                let mut batch = Batch::default();
                for kv in db.iter() {
                    let (k, v) = kv?;
                    batch.put(k.to_vec(), v.to_vec());
                    n += 1;
                    if batch.len() >= 10_000 {
                        ns.apply(std::mem::take(&mut batch))?;
                    }
                }
                ns.apply(batch)?;
                db.flush()?;
                copied = Some(n);
            }
            db.insert(FORMAT_KEY, FORMAT_PACKED)?;
            db.flush()?;
        }
    }
    // The old entries, after a conversion (or one interrupted here).
    let mut leftovers = false;
    loop {
        let mut b = sled::Batch::default();
        let mut n = 0;
        for kv in db.iter() {
            let (k, _) = kv?;
            if k != FORMAT_KEY {
                b.remove(k);
                n += 1;
                if n == 10_000 {
                    break;
                }
            }
        }
        if n == 0 {
            break;
        }
        db.apply_batch(b)?;
        leftovers = true;
    }
    if leftovers {
        db.flush()?;
    }
    Ok(copied)
}

impl KvStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|ns| ns.get(key))
    }

    fn scan(&self, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError> {
        self.with(|ns| ns.scan(prefix, start, visit))
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.with(|ns| ns.apply(batch))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.with(|ns| ns.flush())
    }
}

/// An in-memory store for tests; "durable" means "still in this object", so a
/// test simulates a restart by building a new namesystem over the same store.
#[derive(Default)]
pub struct MemStore {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvStore for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.read().get(key).cloned())
    }

    fn scan(&self, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError> {
        let from = if start > prefix { start } else { prefix };
        let map = self.map.read();
        for (k, v) in map.range(from.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            if visit(k, v).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut map = self.map.write();
        for op in batch.ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! The conformance suite, run against both stores (and, in editlog.rs,
    //! through the edit log).
    use super::*;

    pub(crate) fn collect(s: &dyn KvStore, prefix: &[u8], start: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        s.scan(prefix, start, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    pub(crate) fn conformance(s: &dyn KvStore) {
        assert_eq!(s.get(b"a").unwrap(), None);
        let mut b = Batch::default();
        b.put(b"a1".to_vec(), b"x".to_vec());
        b.put(b"a3".to_vec(), b"z".to_vec());
        b.put(b"a2".to_vec(), b"y".to_vec());
        b.put(b"b1".to_vec(), b"w".to_vec());
        b.put(b"a0".to_vec(), b"gone".to_vec());
        b.delete(b"a0".to_vec());
        assert_eq!(b.len(), 6);
        s.apply(b).unwrap();
        s.flush().unwrap();
        assert_eq!(s.get(b"a1").unwrap().as_deref(), Some(&b"x"[..]));
        assert_eq!(s.get(b"a0").unwrap(), None);
        // Prefix scan in key order, stops at the prefix end.
        let all = collect(s, b"a", b"");
        let keys: Vec<_> = all.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![b"a1".to_vec(), b"a2".to_vec(), b"a3".to_vec()]);
        // Scan from a start key.
        let from2 = collect(s, b"a", b"a2");
        assert_eq!(from2.len(), 2);
        assert_eq!(from2[0].1, b"y".to_vec());
        // Early stop.
        let mut n = 0;
        s.scan(b"", b"", &mut |_, _| {
            n += 1;
            if n == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(n, 2);
        // Overwrite and delete in one batch; later writes win.
        let mut b = Batch::default();
        b.put(b"a1".to_vec(), b"x2".to_vec());
        b.delete(b"a2".to_vec());
        b.put(b"a2".to_vec(), b"y2".to_vec());
        b.delete(b"b1".to_vec());
        s.apply(b).unwrap();
        assert_eq!(s.get(b"a1").unwrap().as_deref(), Some(&b"x2"[..]));
        assert_eq!(s.get(b"a2").unwrap().as_deref(), Some(&b"y2"[..]));
        assert_eq!(s.get(b"b1").unwrap(), None);
        assert!(collect(s, b"b", b"").is_empty());
        // Binary keys order bytewise.
        let mut b = Batch::default();
        b.put(vec![b'c', 0xff], vec![]);
        b.put(vec![b'c', 0x00], vec![]);
        b.put(vec![b'c', 0x7f], vec![]);
        s.apply(b).unwrap();
        let keys: Vec<_> = collect(s, b"c", b"").into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![vec![b'c', 0], vec![b'c', 0x7f], vec![b'c', 0xff]]
        );
    }

    #[test]
    fn mem_store_conforms() {
        conformance(&MemStore::new());
    }

    #[test]
    fn sled_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        conformance(&s);
        s.close().unwrap();
        assert!(matches!(s.get(b"a1"), Err(StoreError::Closed)));
    }

    #[test]
    fn sled_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path(), 1 << 20).unwrap();
            let mut b = Batch::default();
            b.put(b"k".to_vec(), b"v".to_vec());
            s.apply(b).unwrap();
            s.flush().unwrap();
            s.close().unwrap();
        }
        // Reopening in the same process works only if the first Db is gone:
        // sled holds an exclusive file lock while open.
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        assert!(
            SledStore::open(dir.path(), 1 << 20).is_err(),
            "sled locks its directory"
        );
        assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        s.close().unwrap();
    }

    #[test]
    fn a_store_of_the_old_format_is_converted_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = |i: u32| format!("i{i:07}").into_bytes();
        {
            // The format before 2026-11-23: every key in the default tree;
            // and a conversion that crashed half-way.
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            for i in 0..30_000u32 {
                db.insert(key(i), &i.to_be_bytes()[..]).unwrap();
            }
            let partial = PackedTree::new(db.open_tree(NS_TREE).unwrap());
            let mut b = Batch::default();
            b.put(b"junk".to_vec(), b"x".to_vec());
            partial.apply(b).unwrap();
            db.flush().unwrap();
        }
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(
            s.get(&key(12_345)).unwrap(),
            Some(12_345u32.to_be_bytes().to_vec())
        );
        assert_eq!(s.get(b"junk").unwrap(), None);
        assert_eq!(collect(&s, b"i", b"").len(), 30_000);
        let (entries, buckets) = s.stats().unwrap();
        assert_eq!(entries, 30_000);
        assert!(buckets < 30_000 / 50, "{buckets} buckets");
        {
            let g = s.db.read();
            let db = &g.as_ref().unwrap().db;
            let left: Vec<_> = db.iter().keys().map(|k| k.unwrap().to_vec()).collect();
            assert_eq!(left, vec![FORMAT_KEY.to_vec()]);
        }
        // A reopen converts nothing.
        s.close().unwrap();
        let s = SledStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(collect(&s, b"i", b"").len(), 30_000);
        s.close().unwrap();
    }
}
