//! `wordcount IN… OUT`: counts whitespace-separated words; the reducer
//! doubles as combiner. Output lines: `word\tcount`, sorted per part.
//!
//! The job's mapper combines in memory ("in-mapper combining", Lin & Dyer,
//! *Data-Intensive Text Processing with MapReduce*, 3.1): it counts words
//! in a hash map and emits one `(word, count)` pair per distinct word when
//! the split is done, or earlier when the map holds more than
//! `tusk.wordcount.map.memory.mb` (default 128). So the sort buffer sees
//! each distinct word once per flush instead of once per occurrence. The
//! counters stay truthful: MAP_OUTPUT_RECORDS counts the pairs emitted, and
//! the job's own counter `WordCount`/`WORDS` the words seen.
//! [`WordMapper`] is the plain one-pair-per-word mapper.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::engine::api::{Context, Job, JobConf, Mapper, Reducer, Values};
use crate::engine::error::{EngineError, Result};
use crate::engine::input::push_decimal;

/// Memory (MiB, roughly) the in-mapper counts may hold before they are
/// emitted.
pub const MAP_MEMORY_MB: &str = "tusk.wordcount.map.memory.mb";
/// The job's counter group.
pub const WORDCOUNT_GROUP: &str = "WordCount";
/// Words the mappers saw (MAP_OUTPUT_RECORDS counts the pairs they emitted).
pub const WORDS: &str = "WORDS";

/// The job.
pub struct WordCount;

/// Bytes that separate words: ASCII whitespace as `u8::is_ascii_whitespace`
/// (space, `\t`, `\n`, `\x0c`, `\r`).
const fn separators() -> [bool; 256] {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[0x0c] = true;
    t[b'\r' as usize] = true;
    t
}
static SEPARATOR: [bool; 256] = separators();

/// Calls `f` on every word of `line`.
#[inline]
fn for_each_word(line: &[u8], mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let n = line.len();
    let mut i = 0;
    while i < n {
        while i < n && SEPARATOR[line[i] as usize] {
            i += 1;
        }
        let s = i;
        while i < n && !SEPARATOR[line[i] as usize] {
            i += 1;
        }
        if i > s {
            f(&line[s..i])?;
        }
    }
    Ok(())
}

/// Emits `(word, "1")` per word.
pub struct WordMapper;

impl Mapper for WordMapper {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        for_each_word(line, |w| ctx.emit(w, b"1"))
    }
}

/// A fast hash for short byte strings (FxHash's mixing, eight bytes at a
/// time, with a final avalanche so the table's low bits are good); the
/// keys are the job's own data, so no DoS resistance is needed.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 31;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 29;
        h
    }
}

/// A hash map keyed by byte strings with [`WordHasher`].
pub type WordMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<WordHasher>>;

/// Parses a decimal count (ASCII digits only, no sign, no overflow).
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n = 0u64;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// One slot of [`WordCounts`]; `count == 0` marks an empty slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// High bits of the word's hash: most mismatches end here.
    tag: u32,
    len: u32,
    /// The word's first 8 bytes, zero-padded: a word of up to 8 bytes
    /// is compared without touching the arena.
    prefix: u64,
    /// Where the word is in the arena.
    off: usize,
    count: u64,
}

/// Counts per distinct word: open addressing with linear probing over
/// slots that point into one arena of word bytes, so a new word costs no
/// allocation and dropping the counts frees two blocks, not a million.
struct WordCounts {
    slots: Vec<Slot>,
    used: usize,
    arena: Vec<u8>,
    hasher: BuildHasherDefault<WordHasher>,
}

impl WordCounts {
    fn new() -> Self {
        Self {
            slots: vec![Slot::default(); 1 << 12],
            used: 0,
            arena: Vec::new(),
            hasher: BuildHasherDefault::default(),
        }
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        self.arena.len() + self.slots.len() * std::mem::size_of::<Slot>()
    }

    fn hash(&self, w: &[u8]) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(w);
        h.finish()
    }

    #[inline]
    fn add(&mut self, w: &[u8]) {
        let h = self.hash(w);
        let tag = (h >> 32) as u32;
        let prefix = {
            let mut b = [0u8; 8];
            let n = w.len().min(8);
            b[..n].copy_from_slice(&w[..n]);
            u64::from_le_bytes(b)
        };
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = &mut self.slots[i];
            if s.count == 0 {
                *s = Slot {
                    tag,
                    len: w.len() as u32,
                    prefix,
                    off: self.arena.len(),
                    count: 1,
                };
                self.arena.extend_from_slice(w);
                self.used += 1;
                if self.used * 10 > self.slots.len() * 7 {
                    self.grow();
                }
                return;
            }
            if s.tag == tag
                && s.len as usize == w.len()
                && s.prefix == prefix
                && (w.len() <= 8 || self.arena[s.off + 8..s.off + w.len()] == w[8..])
            {
                s.count += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.count > 0) {
            let h = self.hash(&self.arena[s.off..s.off + s.len as usize]);
            let mut i = h as usize & mask;
            while self.slots[i].count != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// Calls `f(word, count)` for every word and empties the counts.
    fn drain(&mut self, mut f: impl FnMut(&[u8], u64) -> Result<()>) -> Result<()> {
        for s in self.slots.iter_mut().filter(|s| s.count > 0) {
            f(&self.arena[s.off..s.off + s.len as usize], s.count)?;
            *s = Slot::default();
        }
        self.used = 0;
        self.arena.clear();
        Ok(())
    }
}

/// Counts words in memory and emits `(word, count)` per distinct word at
/// the end of the split (or when the counts outgrow their memory).
pub struct CountingWordMapper {
    counts: WordCounts,
    /// Words seen, for the WORDS counter.
    words: u64,
    limit: usize,
    num: Vec<u8>,
}

impl CountingWordMapper {
    /// `limit` is the bytes the counts may hold before they are emitted.
    pub fn new(limit: usize) -> Self {
        Self {
            counts: WordCounts::new(),
            words: 0,
            limit: limit.max(1),
            num: Vec::with_capacity(20),
        }
    }

    /// Emits every count (in hash order: the sort buffer sorts them).
    fn flush(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let num = &mut self.num;
        self.counts.drain(|w, n| {
            num.clear();
            push_decimal(num, n);
            ctx.emit(w, num)
        })
    }
}

impl Mapper for CountingWordMapper {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        let (counts, words) = (&mut self.counts, &mut self.words);
        for_each_word(line, |w| {
            counts.add(w);
            *words += 1;
            Ok(())
        })?;
        // Slots keep word lengths in 32 bits: flush long before that.
        if self.counts.bytes() > self.limit || self.counts.arena.len() > u32::MAX as usize / 2 {
            self.flush(ctx)?;
        }
        Ok(())
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        ctx.incr(WORDCOUNT_GROUP, WORDS, self.words as i64);
        self.flush(ctx)
    }
}

/// Sums decimal counts.
pub struct SumReducer;

impl Reducer for SumReducer {
    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        let mut sum = 0u64;
        while let Some(v) = values.next_value() {
            let n = parse_decimal(v).ok_or_else(|| {
                EngineError::task(format!(
                    "count of {:?} is not a number: {:?}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(v)
                ))
            })?;
            sum = sum.saturating_add(n);
        }
        let mut num = [0u8; 20];
        let mut i = num.len();
        loop {
            i -= 1;
            num[i] = b'0' + (sum % 10) as u8;
            sum /= 10;
            if sum == 0 {
                break;
            }
        }
        ctx.emit(key, &num[i..])
    }
}

impl Job for WordCount {
    fn name(&self) -> &str {
        "wordcount"
    }
    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>> {
        let mb = conf.get_u64(MAP_MEMORY_MB, 128)?.clamp(1, 1 << 20) as usize;
        Ok(Box::new(CountingWordMapper::new(mb << 20)))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(SumReducer))
    }
    fn combiner(&self, _conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(SumReducer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::SliceValues;
    use crate::engine::context::{Sink, SinkContext, TaskInfo};
    use crate::engine::counters::Counters;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Collect(Vec<(Vec<u8>, Vec<u8>)>);
    impl Sink for Collect {
        fn put(&mut self, k: &[u8], v: &[u8], _c: &mut Counters) -> Result<()> {
            self.0.push((k.to_vec(), v.to_vec()));
            Ok(())
        }
    }

    fn info() -> TaskInfo {
        TaskInfo {
            conf: JobConf::new(),
            attempt_id: "attempt_t_m_000000_0".into(),
            attempt_number: 0,
            split: None,
        }
    }

    /// Sums the emitted pairs per word.
    fn totals(pairs: &[(Vec<u8>, Vec<u8>)]) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (k, v) in pairs {
            *m.entry(String::from_utf8(k.clone()).unwrap()).or_insert(0) +=
                parse_decimal(v).unwrap();
        }
        m
    }

    fn run(mapper: &mut dyn Mapper, lines: &[&str]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut sink = Collect::default();
        let mut counters = Counters::new();
        let info = info();
        let mut ctx = SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        };
        for l in lines {
            mapper.map(b"0", l.as_bytes(), &mut ctx).unwrap();
        }
        mapper.cleanup(&mut ctx).unwrap();
        sink.0
    }

    #[test]
    fn counting_mapper_agrees_with_plain_mapper_and_flushes() {
        let lines = [
            "a b\tc  a",
            "",
            " \r\n\x0c",
            "b a x\x0by",
            "\u{e9}t\u{e9} a",
        ];
        let mut reference = BTreeMap::new();
        for l in lines {
            for w in l.split_ascii_whitespace() {
                *reference.entry(w.to_string()).or_insert(0u64) += 1;
            }
        }
        let plain = run(&mut WordMapper, &lines);
        assert_eq!(totals(&plain), reference);
        assert_eq!(plain.len() as u64, reference.values().sum::<u64>());
        // One pair per distinct word.
        let counted = run(&mut CountingWordMapper::new(1 << 20), &lines);
        assert_eq!(totals(&counted), reference);
        assert_eq!(counted.len(), reference.len());
        // A tiny limit flushes after every line: more pairs, same totals.
        let flushed = run(&mut CountingWordMapper::new(1), &lines);
        assert_eq!(totals(&flushed), reference);
        assert!(flushed.len() > counted.len());
    }

    #[test]
    fn sum_reducer_sums_and_rejects() {
        let mut sink = Collect::default();
        let mut counters = Counters::new();
        let info = info();
        let mut ctx = SinkContext {
            sink: &mut sink,
            counters: &mut counters,
            info: &info,
        };
        let vals = ["1", "20", "300"];
        SumReducer
            .reduce(b"k", &mut SliceValues::new(&vals), &mut ctx)
            .unwrap();
        let zero: [&str; 0] = [];
        SumReducer
            .reduce(b"z", &mut SliceValues::new(&zero), &mut ctx)
            .unwrap();
        for bad in ["", "-1", "1x", "99999999999999999999999"] {
            let vals = [bad];
            let e = SumReducer
                .reduce(b"k", &mut SliceValues::new(&vals), &mut ctx)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a number"), "{bad}: {e}");
        }
        assert_eq!(
            sink.0,
            vec![
                (b"k".to_vec(), b"321".to_vec()),
                (b"z".to_vec(), b"0".to_vec())
            ]
        );
    }

    #[test]
    fn word_counts_grow_and_drain() {
        let mut c = WordCounts::new();
        let words: Vec<String> = (0..20_000).map(|i| format!("w{}", i % 7000)).collect();
        for w in &words {
            c.add(w.as_bytes());
        }
        c.add(b"");
        let mut got = BTreeMap::new();
        c.drain(|w, n| {
            assert!(got.insert(w.to_vec(), n).is_none());
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 7001);
        assert_eq!(got[&b"w0".to_vec()], 3);
        assert_eq!(got[&b"w6999".to_vec()], 2);
        assert_eq!(got[&Vec::new()], 1);
        // Empty after a drain, and usable again.
        c.drain(|_, _| panic!("not empty")).unwrap();
        c.add(b"x");
        let mut n = 0;
        c.drain(|_, k| {
            n += k;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn hasher_spreads_low_bits() {
        let b = BuildHasherDefault::<WordHasher>::default();
        let mut buckets = [0u32; 64];
        for i in 0..6400u32 {
            let k = format!("10.0.{}.{}", i / 256, i % 256);
            buckets[(b.hash_one(k.as_bytes()) & 63) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 50 && n < 150), "{buckets:?}");
    }
}
