//! The map side: a bounded sort buffer that partitions, sorts, combines
//! and spills map output, then merges the spills into one `file.out` +
//! `file.out.index` (format in [`super::ifile`]).
//!
//! Pairs are copied into one byte arena with a small metadata entry each
//! (partition, offsets). When arena + metadata reach the spill threshold
//! (`mapreduce.task.io.sort.mb` × `mapreduce.map.sort.spill.percent`) the
//! entries are sorted by (partition, key) with rayon (equal keys keep
//! emission order), the combiner (if any) runs over each key
//! group, and the result is written as one spill file with one segment per
//! partition. At the end, a single spill is renamed to `file.out`;
//! several are merged partition by partition (k-way, stable by spill
//! order, at most `mapreduce.task.io.sort.factor` spills at once: more
//! take intermediate passes through run files), with the combiner run
//! again in the final merge when there are at least
//! [`COMBINE_MIN_SPILLS`] spills, as Hadoop does. With one reduce
//! partition the partitioner is not called (as in Hadoop's `MapTask`).
//!
//! Spills run on the map thread (the sort itself is parallel, with
//! rayon); there is no separate spill thread like Hadoop's `SpillThread`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rayon::slice::ParallelSliceMut;

use super::api::{Partitioner, Reducer, Values, SORT_FACTOR};
use super::context::{Sink, SinkContext, TaskInfo};
use super::counters::{self as c, Counters};
use super::error::{EngineError, Result};
use super::ifile::{
    copy_records, for_each_group, merge_segments, merge_to_factor, write_index, Segment,
    SegmentWriter, FILE_INDEX, FILE_OUT,
};

/// Spills needed before the combiner also runs during the final merge.
pub const COMBINE_MIN_SPILLS: usize = 3;

/// Bytes of bookkeeping per buffered record, counted against the buffer.
const META_BYTES: usize = std::mem::size_of::<Meta>();

#[derive(Clone, Copy)]
struct Meta {
    /// The key's first 8 bytes (zero-padded, big-endian): most comparisons
    /// end here without touching the arena.
    prefix: u64,
    partition: u32,
    key_len: u32,
    off: usize,
    val_len: usize,
}

/// One spill file and where its partitions are.
struct Spill {
    path: PathBuf,
    index: Vec<(u64, u64)>,
}

/// The map output collector.
pub struct MapOutputBuffer {
    partitions: u32,
    partitioner: Box<dyn Partitioner>,
    combiner: Option<Box<dyn Reducer>>,
    info: TaskInfo,
    /// Where spill files go (removed by the caller with the attempt).
    spill_dir: PathBuf,
    /// Bytes of arena + metadata that trigger a spill.
    threshold: usize,
    arena: Vec<u8>,
    meta: Vec<Meta>,
    spills: Vec<Spill>,
    /// MAP_OUTPUT_RECORDS / MAP_OUTPUT_BYTES, added to the counters at the
    /// end (a map lookup per record is too slow).
    out_records: u64,
    out_bytes: u64,
}

/// A combiner's emitted pairs go straight into the segment being written.
struct SegmentSink<'a, W: Write> {
    w: &'a mut SegmentWriter<W>,
    path: &'a Path,
    /// Records emitted (counted here, not per record in `Counters`).
    out: &'a mut u64,
}

impl<W: Write> Sink for SegmentSink<'_, W> {
    fn put(&mut self, key: &[u8], value: &[u8], _counters: &mut Counters) -> Result<()> {
        *self.out += 1;
        self.w
            .append(key, value)
            .map_err(|e| EngineError::io(self.path.display(), e))
    }
}

impl MapOutputBuffer {
    /// `sort_bytes` is the buffer size, `spill_percent` the share that
    /// triggers a spill.
    pub fn new(
        partitions: u32,
        partitioner: Box<dyn Partitioner>,
        combiner: Option<Box<dyn Reducer>>,
        info: TaskInfo,
        spill_dir: PathBuf,
        sort_bytes: usize,
        spill_percent: f64,
    ) -> Self {
        let threshold = ((sort_bytes as f64) * spill_percent.clamp(0.05, 1.0)) as usize;
        Self {
            partitions: partitions.max(1),
            partitioner,
            combiner,
            info,
            spill_dir,
            threshold: threshold.max(1),
            arena: Vec::new(),
            meta: Vec::new(),
            spills: Vec::new(),
            out_records: 0,
            out_bytes: 0,
        }
    }

    /// Number of spills written so far.
    pub fn spill_count(&self) -> usize {
        self.spills.len()
    }

    fn used(&self) -> usize {
        self.arena.len() + self.meta.len() * META_BYTES
    }

    /// Sorts the buffer and writes it as the next spill file.
    fn spill(&mut self, counters: &mut Counters) -> Result<()> {
        let arena = &self.arena;
        // Unstable sort with the arena offset (= emission order) as the
        // last tie-breaker: as deterministic as a stable sort, and faster.
        self.meta.par_sort_unstable_by(|a, b| {
            a.partition
                .cmp(&b.partition)
                .then(a.prefix.cmp(&b.prefix))
                .then_with(|| {
                    // Equal prefixes: a key of at most 8 bytes is a prefix
                    // of the other key (the padding is zeros), so the
                    // lengths decide; otherwise compare past the prefix.
                    if a.key_len <= 8 || b.key_len <= 8 {
                        a.key_len.cmp(&b.key_len)
                    } else {
                        arena[a.off + 8..a.off + a.key_len as usize]
                            .cmp(&arena[b.off + 8..b.off + b.key_len as usize])
                    }
                })
                .then(a.off.cmp(&b.off))
        });
        std::fs::create_dir_all(&self.spill_dir)
            .map_err(|e| EngineError::io(self.spill_dir.display(), e))?;
        let path = self
            .spill_dir
            .join(format!("spill{}.out", self.spills.len()));
        let file = File::create(&path).map_err(|e| EngineError::io(path.display(), e))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let mut index = Vec::with_capacity(self.partitions as usize);
        let mut offset = 0u64;
        let mut i = 0;
        let (mut combine_in, mut combine_out) = (0u64, 0u64);
        for p in 0..self.partitions {
            let mut w = SegmentWriter::new(&mut out);
            let start = i;
            while i < self.meta.len() && self.meta[i].partition == p {
                i += 1;
            }
            let run = &self.meta[start..i];
            let key = |m: &Meta| &arena[m.off..m.off + m.key_len as usize];
            let val = |m: &Meta| {
                &arena[m.off + m.key_len as usize..m.off + m.key_len as usize + m.val_len]
            };
            match self.combiner.as_mut() {
                None => {
                    for m in run {
                        w.append(key(m), val(m))
                            .map_err(|e| EngineError::io(path.display(), e))?;
                    }
                }
                Some(comb) => {
                    let mut j = 0;
                    while j < run.len() {
                        let k = key(&run[j]);
                        let mut e = j + 1;
                        while e < run.len() && key(&run[e]) == k {
                            e += 1;
                        }
                        combine_in += (e - j) as u64;
                        let mut values = RunValues {
                            arena,
                            run: &run[j..e],
                        };
                        let mut sink = SegmentSink {
                            w: &mut w,
                            path: &path,
                            out: &mut combine_out,
                        };
                        let mut ctx = SinkContext {
                            sink: &mut sink,
                            counters,
                            info: &self.info,
                        };
                        comb.reduce(k, &mut values, &mut ctx)?;
                        j = e;
                    }
                }
            }
            let records = w.records();
            let (_, len) = w.finish().map_err(|e| EngineError::io(path.display(), e))?;
            counters.task(c::SPILLED_RECORDS, records as i64);
            index.push((offset, len));
            offset += len;
        }
        if self.combiner.is_some() {
            counters.task(c::COMBINE_INPUT_RECORDS, combine_in as i64);
            counters.task(c::COMBINE_OUTPUT_RECORDS, combine_out as i64);
        }
        let file = out
            .into_inner()
            .map_err(|e| EngineError::io(path.display(), e.into_error()))?;
        drop(file);
        self.spills.push(Spill { path, index });
        self.arena.clear();
        self.meta.clear();
        Ok(())
    }

    /// Spills what is buffered and merges every spill into
    /// `out_dir/file.out` + `file.out.index`. Returns the final index.
    pub fn finish(mut self, out_dir: &Path, counters: &mut Counters) -> Result<Vec<(u64, u64)>> {
        counters.task(c::MAP_OUTPUT_RECORDS, self.out_records as i64);
        counters.task(c::MAP_OUTPUT_BYTES, self.out_bytes as i64);
        if !self.meta.is_empty() || self.spills.is_empty() {
            self.spill(counters)?;
        }
        std::fs::create_dir_all(out_dir).map_err(|e| EngineError::io(out_dir.display(), e))?;
        let out_path = out_dir.join(FILE_OUT);
        let index = if self.spills.len() == 1 {
            let s = self.spills.pop().expect("one spill");
            std::fs::rename(&s.path, &out_path)
                .map_err(|e| EngineError::io(out_path.display(), e))?;
            s.index
        } else {
            self.merge_spills(&out_path, counters)?
        };
        write_index(&out_dir.join(FILE_INDEX), &index)?;
        for s in &self.spills {
            let _ = std::fs::remove_file(&s.path);
        }
        Ok(index)
    }

    fn merge_spills(
        &mut self,
        out_path: &Path,
        counters: &mut Counters,
    ) -> Result<Vec<(u64, u64)>> {
        let factor = self.info.conf.get_u64(SORT_FACTOR, 10)?.max(2) as usize;
        let file = File::create(out_path).map_err(|e| EngineError::io(out_path.display(), e))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let combine = self.spills.len() >= COMBINE_MIN_SPILLS;
        let mut index = Vec::with_capacity(self.partitions as usize);
        let mut offset = 0u64;
        for p in 0..self.partitions as usize {
            let segs: Vec<Segment> = self
                .spills
                .iter()
                .map(|s| Segment::File {
                    path: s.path.clone(),
                    offset: s.index[p].0,
                    len: s.index[p].1,
                })
                .collect();
            // More spills than the factor: intermediate passes first.
            let passes = merge_to_factor(segs, factor, &self.spill_dir, &format!("merge{p}."))?;
            counters.task(c::SPILLED_RECORDS, passes.spilled as i64);
            let mut merged = merge_segments(passes.segments)?;
            let mut w = SegmentWriter::new(&mut out);
            match self.combiner.as_mut().filter(|_| combine) {
                Some(comb) => {
                    let info = &self.info;
                    let (mut combine_in, mut combine_out) = (0u64, 0u64);
                    for_each_group(&mut merged, |k, values| {
                        let mut sink = SegmentSink {
                            w: &mut w,
                            path: out_path,
                            out: &mut combine_out,
                        };
                        let mut ctx = SinkContext {
                            sink: &mut sink,
                            counters: &mut *counters,
                            info,
                        };
                        let r = comb.reduce(k, values, &mut ctx);
                        combine_in += values.count;
                        r
                    })?;
                    counters.task(c::COMBINE_INPUT_RECORDS, combine_in as i64);
                    counters.task(c::COMBINE_OUTPUT_RECORDS, combine_out as i64);
                }
                None => copy_records(&mut merged, &mut w, out_path)?,
            }
            drop(merged);
            for r in &passes.runs {
                let _ = std::fs::remove_file(r);
            }
            let records = w.records();
            let (_, len) = w
                .finish()
                .map_err(|e| EngineError::io(out_path.display(), e))?;
            counters.task(c::SPILLED_RECORDS, records as i64);
            index.push((offset, len));
            offset += len;
        }
        out.flush()
            .map_err(|e| EngineError::io(out_path.display(), e))?;
        Ok(index)
    }
}

impl Sink for MapOutputBuffer {
    fn put(&mut self, key: &[u8], value: &[u8], counters: &mut Counters) -> Result<()> {
        // One reducer: every pair goes to partition 0 without asking the
        // partitioner (Hadoop's MapTask does the same).
        let p = if self.partitions == 1 {
            0
        } else {
            self.partitioner.partition(key, value, self.partitions)
        };
        if p >= self.partitions {
            return Err(EngineError::task(format!(
                "partitioner returned {p} for {} partitions",
                self.partitions
            )));
        }
        let key_len = u32::try_from(key.len())
            .map_err(|_| EngineError::task(format!("key of {} bytes is too large", key.len())))?;
        self.out_records += 1;
        self.out_bytes += (key.len() + value.len()) as u64;
        let off = self.arena.len();
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(value);
        let mut prefix = [0u8; 8];
        let n = key.len().min(8);
        prefix[..n].copy_from_slice(&key[..n]);
        self.meta.push(Meta {
            prefix: u64::from_be_bytes(prefix),
            partition: p,
            key_len,
            off,
            val_len: value.len(),
        });
        if self.used() >= self.threshold {
            self.spill(counters)?;
        }
        Ok(())
    }
}

/// The values of one key in a sorted run of the sort buffer.
struct RunValues<'a> {
    arena: &'a [u8],
    run: &'a [Meta],
}

impl Values for RunValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        let (m, rest) = self.run.split_first()?;
        self.run = rest;
        let start = m.off + m.key_len as usize;
        Some(&self.arena[start..start + m.val_len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::api::{Context, HashPartitioner, JobConf};
    use crate::engine::ifile::{collect, read_index, FileSegment};

    /// Sums decimal values per key.
    struct Sum;
    impl Reducer for Sum {
        fn reduce(
            &mut self,
            key: &[u8],
            values: &mut dyn Values,
            ctx: &mut dyn Context,
        ) -> Result<()> {
            let mut n = 0u64;
            while let Some(v) = values.next_value() {
                n += std::str::from_utf8(v).unwrap().parse::<u64>().unwrap();
            }
            ctx.emit(key, n.to_string().as_bytes())
        }
    }

    fn info() -> TaskInfo {
        TaskInfo {
            conf: JobConf::new(),
            attempt_id: "attempt_test_m_000000_0".into(),
            attempt_number: 0,
            split: None,
        }
    }

    fn read_partition(dir: &Path, p: usize) -> Vec<(String, String)> {
        let idx = read_index(&dir.join(FILE_INDEX)).unwrap();
        let (off, len) = idx[p];
        let mut s = FileSegment::open(&dir.join(FILE_OUT), off, len).unwrap();
        collect(&mut s)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    }

    /// Feeds `n` records of words `w{i % distinct}` into a buffer of
    /// `sort_bytes` and returns the output per partition.
    fn run(
        n: usize,
        distinct: usize,
        sort_bytes: usize,
        combine: bool,
        parts: u32,
    ) -> (Vec<Vec<(String, String)>>, Counters, usize) {
        run_with(n, distinct, sort_bytes, combine, parts, info())
    }

    fn run_with(
        n: usize,
        distinct: usize,
        sort_bytes: usize,
        combine: bool,
        parts: u32,
        info: TaskInfo,
    ) -> (Vec<Vec<(String, String)>>, Counters, usize) {
        let dir = tempfile::tempdir().unwrap();
        let combiner: Option<Box<dyn Reducer>> = if combine { Some(Box::new(Sum)) } else { None };
        let mut buf = MapOutputBuffer::new(
            parts,
            Box::new(HashPartitioner),
            combiner,
            info,
            dir.path().join("spill"),
            sort_bytes,
            0.8,
        );
        let mut counters = Counters::new();
        for i in 0..n {
            let k = format!("w{}", (i * 7919) % distinct);
            buf.put(k.as_bytes(), b"1", &mut counters).unwrap();
        }
        let spills = buf.spill_count();
        let out = dir.path().join("out");
        let index = buf.finish(&out, &mut counters).unwrap();
        assert_eq!(index.len(), parts as usize);
        let parts: Vec<_> = (0..parts as usize)
            .map(|p| read_partition(&out, p))
            .collect();
        (parts, counters, spills)
    }

    fn check_sorted_and_partitioned(parts: &[Vec<(String, String)>]) {
        for (p, recs) in parts.iter().enumerate() {
            for w in recs.windows(2) {
                assert!(w[0].0 <= w[1].0, "partition {p} not sorted: {w:?}");
            }
            for (k, _) in recs {
                assert_eq!(
                    HashPartitioner.partition(k.as_bytes(), b"", parts.len() as u32) as usize,
                    p
                );
            }
        }
    }

    #[test]
    fn single_spill_without_combiner_keeps_every_record() {
        let (parts, counters, spills) = run(1000, 50, 1 << 20, false, 3);
        assert_eq!(spills, 0);
        check_sorted_and_partitioned(&parts);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 1000);
        assert_eq!(counters.get(c::TASK_GROUP, c::MAP_OUTPUT_RECORDS), 1000);
        assert_eq!(counters.get(c::TASK_GROUP, c::SPILLED_RECORDS), 1000);
    }

    #[test]
    fn many_spills_merge_sorted_without_combiner() {
        // A 2 KiB buffer over ~40 KiB of records: many spills.
        // A factor above the spill count: one merge pass.
        let mut i = info();
        i.conf.set(SORT_FACTOR, 1000);
        let (parts, counters, spills) = run_with(2000, 300, 2048, false, 4, i);
        assert!(spills >= 5, "only {spills} spills");
        check_sorted_and_partitioned(&parts);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 2000);
        // Every spill plus the merged output.
        assert_eq!(counters.get(c::TASK_GROUP, c::SPILLED_RECORDS), 4000);
    }

    #[test]
    fn combiner_runs_on_spill_and_merge() {
        let (parts, counters, spills) = run(5000, 40, 4096, true, 2);
        assert!(spills >= COMBINE_MIN_SPILLS, "only {spills} spills");
        check_sorted_and_partitioned(&parts);
        let all: Vec<_> = parts.concat();
        // One record per distinct key, counts summing to the input.
        assert_eq!(all.len(), 40);
        let total: u64 = all.iter().map(|(_, v)| v.parse::<u64>().unwrap()).sum();
        assert_eq!(total, 5000);
        assert!(counters.get(c::TASK_GROUP, c::COMBINE_INPUT_RECORDS) >= 5000);
        assert!(counters.get(c::TASK_GROUP, c::COMBINE_OUTPUT_RECORDS) < 5000);
    }

    #[test]
    fn spills_merge_in_passes_of_the_sort_factor() {
        // Many spills with a factor of 3: intermediate merge passes, the
        // same records as with one pass, and the extra passes counted as
        // spilled records (as Hadoop does).
        let mut i = info();
        i.conf.set(SORT_FACTOR, 1000);
        let (one_pass, c1, spills) = run_with(3000, 200, 2048, false, 2, i);
        assert!(spills >= 10, "only {spills} spills");
        let mut i = info();
        i.conf.set(SORT_FACTOR, 3);
        let (passes, c3, spills3) = run_with(3000, 200, 2048, false, 2, i);
        assert_eq!(spills3, spills);
        check_sorted_and_partitioned(&passes);
        assert_eq!(passes, one_pass);
        assert_eq!(c1.get(c::TASK_GROUP, c::SPILLED_RECORDS), 6000);
        assert!(c3.get(c::TASK_GROUP, c::SPILLED_RECORDS) > 6000);
        // With a combiner the final merge still combines.
        let mut i = info();
        i.conf.set(SORT_FACTOR, 2);
        let (parts, _, _) = run_with(5000, 40, 4096, true, 2, i);
        let all: Vec<_> = parts.concat();
        assert_eq!(all.len(), 40);
        let total: u64 = all.iter().map(|(_, v)| v.parse::<u64>().unwrap()).sum();
        assert_eq!(total, 5000);
    }

    #[test]
    fn sort_orders_keys_around_the_prefix() {
        // Keys equal in their first 8 bytes, shorter and longer, with zero
        // bytes: bytewise order whatever the prefix shortcut does.
        let dir = tempfile::tempdir().unwrap();
        let mut buf = MapOutputBuffer::new(
            1,
            Box::new(HashPartitioner),
            None,
            info(),
            dir.path().join("spill"),
            1 << 20,
            0.8,
        );
        let mut keys: Vec<Vec<u8>> = vec![
            b"abcdefgh".to_vec(),
            b"abcdefg".to_vec(),
            b"abcdefg\0".to_vec(),
            b"abcdefgh\0".to_vec(),
            b"abcdefghi".to_vec(),
            b"abcdefgha".to_vec(),
            b"abcdefgh".to_vec(),
            b"".to_vec(),
            b"\0".to_vec(),
            b"abcdefghij".to_vec(),
            b"abcdefghi\0".to_vec(),
        ];
        let mut counters = Counters::new();
        for k in &keys {
            buf.put(k, b"v", &mut counters).unwrap();
        }
        let out = dir.path().join("out");
        buf.finish(&out, &mut counters).unwrap();
        let idx = read_index(&out.join(FILE_INDEX)).unwrap();
        let mut s = FileSegment::open(&out.join(FILE_OUT), idx[0].0, idx[0].1).unwrap();
        let got: Vec<Vec<u8>> = collect(&mut s)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        assert_eq!(got, keys);
    }

    #[test]
    fn empty_output_has_empty_segments() {
        let (parts, _, _) = run(0, 1, 1 << 20, false, 3);
        assert!(parts.iter().all(|p| p.is_empty()));
    }
}
