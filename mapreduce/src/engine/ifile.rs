//! The intermediate file format: sorted segments of records, the map output
//! index, and the k-way merge over segments.
//!
//! # Segment
//!
//! One partition of one map's output (and every spill or on-disk merge run)
//! is a *segment*:
//!
//! ```text
//! record*  crc32c
//! record = varint(key_len) varint(value_len) key value
//! ```
//!
//! Varints are unsigned LEB128. The trailer is the CRC32C (Castagnoli) of
//! every byte before it, as u32 little-endian, so an empty segment is the
//! four bytes `00 00 00 00`. Records are sorted by key (bytewise). A reader
//! knows a segment's length from the index (or the file size) and verifies
//! the trailer before trusting a byte of it: reducers verify what they
//! fetched ([`verify_segment`]) and file readers check at the end
//! ([`FileSegment`]).
//!
//! # Map output
//!
//! `file.out` is the segments of partitions 0, 1, … back to back;
//! `file.out.index` holds one 16-byte entry per partition: offset u64 LE,
//! length u64 LE (length includes the trailer). The node manager's shuffle
//! service serves `[offset, offset+length)` unchanged.
//!
//! # Reading and merging
//!
//! A [`RecordSource`] lends its current record (`advance`, then `key` and
//! `value` until the next `advance`): segments are read in place from
//! their buffer, the [`Merger`] keeps a heap of source numbers, and
//! [`for_each_group`] hands a reducer the values of one key without
//! copying or allocating per record. [`merge_to_factor`] applies
//! `mapreduce.task.io.sort.factor`: more segments than the factor are
//! merged in intermediate passes into run files first.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::api::Values;
use super::error::{EngineError, Result};

/// Name of a map's output file inside its attempt directory.
pub const FILE_OUT: &str = "file.out";
/// Name of its index.
pub const FILE_INDEX: &str = "file.out.index";
/// Bytes of the CRC trailer.
pub const TRAILER_LEN: usize = 4;
/// Bytes per index entry.
pub const INDEX_ENTRY_LEN: usize = 16;

/// Appends `v` as LEB128.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a LEB128 value at `*pos`; `None` if truncated or over 64 bits.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Bytes a [`SegmentWriter`] gathers before it checksums and writes them.
const WRITE_CHUNK: usize = 64 << 10;

/// Writes one segment to `W`, computing the trailer as it goes. Records
/// are gathered in a buffer and checksummed and written a chunk at a time,
/// so an append is a few copies.
pub struct SegmentWriter<W: Write> {
    w: W,
    crc: u32,
    len: u64,
    records: u64,
    buf: Vec<u8>,
}

impl<W: Write> SegmentWriter<W> {
    pub fn new(w: W) -> Self {
        Self {
            w,
            crc: 0,
            len: 0,
            records: 0,
            buf: Vec::with_capacity(WRITE_CHUNK + 64),
        }
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
        self.len += self.buf.len() as u64;
        let r = self.w.write_all(&self.buf);
        self.buf.clear();
        r
    }

    /// Appends one record (callers keep keys sorted).
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        put_varint(&mut self.buf, key.len() as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value);
        self.records += 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the trailer; returns the writer and the segment's length.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.flush_buf()?;
        self.w.write_all(&self.crc.to_le_bytes())?;
        Ok((self.w, self.len + TRAILER_LEN as u64))
    }
}

/// Checks a whole segment's trailer; returns the record bytes.
pub fn verify_segment(seg: &[u8]) -> std::result::Result<&[u8], String> {
    if seg.len() < TRAILER_LEN {
        return Err(format!("segment of {} bytes has no trailer", seg.len()));
    }
    let (body, trailer) = seg.split_at(seg.len() - TRAILER_LEN);
    let want = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    let got = crc32c::crc32c(body);
    if want != got {
        return Err(format!(
            "checksum mismatch: trailer {want:08x}, data {got:08x} ({} bytes)",
            seg.len()
        ));
    }
    Ok(body)
}

/// Writes `file.out.index`.
pub fn write_index(path: &Path, entries: &[(u64, u64)]) -> Result<()> {
    let mut buf = Vec::with_capacity(entries.len() * INDEX_ENTRY_LEN);
    for (off, len) in entries {
        buf.extend_from_slice(&off.to_le_bytes());
        buf.extend_from_slice(&len.to_le_bytes());
    }
    let tmp = path.with_extension("index.tmp");
    std::fs::write(&tmp, &buf).map_err(|e| EngineError::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| EngineError::io(path.display(), e))
}

/// Parses index bytes.
pub fn parse_index(buf: &[u8]) -> std::result::Result<Vec<(u64, u64)>, String> {
    if !buf.len().is_multiple_of(INDEX_ENTRY_LEN) {
        return Err(format!(
            "index length {} is not a multiple of 16",
            buf.len()
        ));
    }
    Ok(buf
        .chunks_exact(INDEX_ENTRY_LEN)
        .map(|c| {
            (
                u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
            )
        })
        .collect())
}

/// Reads `file.out.index`.
pub fn read_index(path: &Path) -> Result<Vec<(u64, u64)>> {
    let buf = std::fs::read(path).map_err(|e| EngineError::io(path.display(), e))?;
    parse_index(&buf).map_err(|cause| EngineError::Corrupt {
        what: path.display().to_string(),
        cause,
    })
}

/// A sorted stream of records, read in place: [`RecordSource::advance`]
/// moves to the next record and [`RecordSource::key`] /
/// [`RecordSource::value`] lend it until the next call, so reading,
/// merging and grouping copy and allocate nothing per record.
pub trait RecordSource: Send {
    /// Moves to the next record; false at the end (then key and value are
    /// empty).
    fn advance(&mut self) -> Result<bool>;
    /// The current record's key.
    fn key(&self) -> &[u8];
    /// The current record's value.
    fn value(&self) -> &[u8];
}

/// Parses one record header (two varints) at the start of `buf`: the
/// header length and the key and value lengths; `None` when `buf` holds no
/// complete header.
fn parse_header(buf: &[u8]) -> Option<(usize, u64, u64)> {
    let mut p = 0;
    let kl = get_varint(buf, &mut p)?;
    let vl = get_varint(buf, &mut p)?;
    Some((p, kl, vl))
}

/// Longest possible record header: two 10-byte varints.
const MAX_HEADER: usize = 20;

/// Records of a verified in-memory segment.
pub struct MemSegment {
    data: Bytes,
    pos: usize,
    end: usize,
    /// The current record: key start, key end (= value start), value end.
    cur: (usize, usize, usize),
    name: String,
}

impl MemSegment {
    /// Verifies `seg` (a whole segment with trailer); `name` appears in errors.
    pub fn new(seg: Bytes, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let end = verify_segment(&seg)
            .map_err(|cause| EngineError::Corrupt {
                what: name.clone(),
                cause,
            })?
            .len();
        Ok(Self {
            data: seg,
            pos: 0,
            end,
            cur: (0, 0, 0),
            name,
        })
    }
}

impl RecordSource for MemSegment {
    fn advance(&mut self) -> Result<bool> {
        if self.pos >= self.end {
            self.cur = (0, 0, 0);
            return Ok(false);
        }
        let body = &self.data[self.pos..self.end];
        let bad = || EngineError::Corrupt {
            what: self.name.clone(),
            cause: format!("bad record at byte {}", self.pos),
        };
        let (h, kl, vl) = parse_header(body).ok_or_else(bad)?;
        let rest = (body.len() - h) as u64;
        if kl > rest || vl > rest - kl {
            return Err(bad());
        }
        let ks = self.pos + h;
        let ke = ks + kl as usize;
        let ve = ke + vl as usize;
        self.cur = (ks, ke, ve);
        self.pos = ve;
        Ok(true)
    }

    fn key(&self) -> &[u8] {
        &self.data[self.cur.0..self.cur.1]
    }

    fn value(&self) -> &[u8] {
        &self.data[self.cur.1..self.cur.2]
    }
}

/// Read size of a [`FileSegment`].
const FILE_BUF: usize = 128 << 10;

/// Records of a segment inside a local file, read through its own buffer
/// (records are lent from it); the trailer is checked when the last record
/// has been read.
pub struct FileSegment {
    f: File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..filled]`.
    pos: usize,
    filled: usize,
    /// Record bytes still in the file.
    body_left: u64,
    /// CRC32C of the record bytes read so far.
    crc: u32,
    /// The current record in `buf`: key start, key end, value end.
    cur: (usize, usize, usize),
    name: String,
    done: bool,
}

impl FileSegment {
    /// The segment at `[offset, offset+len)` of `path`.
    pub fn open(path: &Path, offset: u64, len: u64) -> Result<Self> {
        let name = format!("{} @{offset}+{len}", path.display());
        if len < TRAILER_LEN as u64 {
            return Err(EngineError::Corrupt {
                what: name,
                cause: "segment shorter than its trailer".into(),
            });
        }
        let mut f = File::open(path).map_err(|e| EngineError::io(path.display(), e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| EngineError::io(path.display(), e))?;
        let body = len - TRAILER_LEN as u64;
        Ok(Self {
            f,
            buf: vec![0; (FILE_BUF as u64).min(body).max(2 * MAX_HEADER as u64) as usize],
            pos: 0,
            filled: 0,
            body_left: body,
            crc: 0,
            cur: (0, 0, 0),
            name,
            done: false,
        })
    }

    fn corrupt(&self, cause: &str) -> EngineError {
        EngineError::Corrupt {
            what: self.name.clone(),
            cause: cause.into(),
        }
    }

    /// Moves the unread bytes to the front and reads more, making room for
    /// at least `need` unread bytes.
    fn refill(&mut self, need: usize) -> Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < need {
            self.buf.resize(need.max(2 * self.buf.len()), 0);
        }
        let want = ((self.buf.len() - self.filled) as u64).min(self.body_left) as usize;
        let dst = &mut self.buf[self.filled..self.filled + want];
        self.f
            .read_exact(dst)
            .map_err(|e| EngineError::io(&self.name, e))?;
        self.crc = crc32c::crc32c_append(self.crc, dst);
        self.filled += want;
        self.body_left -= want as u64;
        Ok(())
    }
}

impl RecordSource for FileSegment {
    fn advance(&mut self) -> Result<bool> {
        self.cur = (0, 0, 0);
        if self.done {
            return Ok(false);
        }
        loop {
            let avail = &self.buf[self.pos..self.filled];
            if avail.is_empty() && self.body_left == 0 {
                let mut t = [0u8; TRAILER_LEN];
                self.f
                    .read_exact(&mut t)
                    .map_err(|e| EngineError::io(&self.name, e))?;
                self.done = true;
                if u32::from_le_bytes(t) != self.crc {
                    return Err(self.corrupt("checksum mismatch"));
                }
                return Ok(false);
            }
            match parse_header(avail) {
                Some((h, kl, vl)) => {
                    let need = (h as u64).saturating_add(kl).saturating_add(vl);
                    if need <= avail.len() as u64 {
                        let ks = self.pos + h;
                        let ke = ks + kl as usize;
                        let ve = ke + vl as usize;
                        self.cur = (ks, ke, ve);
                        self.pos = ve;
                        return Ok(true);
                    }
                    if need > avail.len() as u64 + self.body_left {
                        return Err(self.corrupt("record runs past the segment end"));
                    }
                    self.refill(need as usize)?;
                }
                None => {
                    if avail.len() >= MAX_HEADER {
                        return Err(self.corrupt("bad record header"));
                    }
                    if self.body_left == 0 {
                        return Err(self.corrupt("record runs past the segment end"));
                    }
                    self.refill(MAX_HEADER)?;
                }
            }
        }
    }

    fn key(&self) -> &[u8] {
        &self.buf[self.cur.0..self.cur.1]
    }

    fn value(&self) -> &[u8] {
        &self.buf[self.cur.1..self.cur.2]
    }
}

/// K-way merge of sorted sources into one sorted source: a binary min-heap
/// of source numbers ordered by each source's current key, then by source
/// number so equal keys come out in source order (the merge is stable).
pub struct Merger {
    sources: Vec<Box<dyn RecordSource>>,
    /// Sources that have a current record; `heap[0]` holds the smallest.
    heap: Vec<usize>,
    started: bool,
}

impl Merger {
    pub fn new(sources: Vec<Box<dyn RecordSource>>) -> Self {
        Self {
            heap: Vec::with_capacity(sources.len()),
            sources,
            started: false,
        }
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match self.sources[a].key().cmp(self.sources[b].key()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => a < b,
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let c = if r < n && self.less(self.heap[r], self.heap[l]) {
                r
            } else {
                l
            };
            if self.less(self.heap[c], self.heap[i]) {
                self.heap.swap(c, i);
                i = c;
            } else {
                return;
            }
        }
    }
}

impl RecordSource for Merger {
    fn advance(&mut self) -> Result<bool> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                if self.sources[i].advance()? {
                    self.heap.push(i);
                }
            }
            for i in (0..self.heap.len() / 2).rev() {
                self.sift_down(i);
            }
            return Ok(!self.heap.is_empty());
        }
        let Some(&top) = self.heap.first() else {
            return Ok(false);
        };
        if !self.sources[top].advance()? {
            self.heap.swap_remove(0);
        }
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
        Ok(!self.heap.is_empty())
    }

    fn key(&self) -> &[u8] {
        match self.heap.first() {
            Some(&i) => self.sources[i].key(),
            None => &[],
        }
    }

    fn value(&self) -> &[u8] {
        match self.heap.first() {
            Some(&i) => self.sources[i].value(),
            None => &[],
        }
    }
}

/// Copies every record of `src` into `w`; `path` names the output in errors.
pub fn copy_records<W: Write>(
    src: &mut dyn RecordSource,
    w: &mut SegmentWriter<W>,
    path: &Path,
) -> Result<()> {
    while src.advance()? {
        w.append(src.key(), src.value())
            .map_err(|e| EngineError::io(path.display(), e))?;
    }
    Ok(())
}

/// A sorted segment waiting to be merged: fetched bytes, or a range of a
/// local file.
pub enum Segment {
    Mem {
        data: Bytes,
        name: String,
    },
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Segment {
    /// The whole of a local run file.
    pub fn whole_file(path: PathBuf) -> Result<Self> {
        let len = std::fs::metadata(&path)
            .map_err(|e| EngineError::io(path.display(), e))?
            .len();
        Ok(Segment::File {
            path,
            offset: 0,
            len,
        })
    }

    /// Bytes of the segment (with its trailer).
    pub fn len(&self) -> u64 {
        match self {
            Segment::Mem { data, .. } => data.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() <= TRAILER_LEN as u64
    }

    /// Opens it for reading (a memory segment is verified here).
    pub fn open(self) -> Result<Box<dyn RecordSource>> {
        Ok(match self {
            Segment::Mem { data, name } => Box::new(MemSegment::new(data, name)?),
            Segment::File { path, offset, len } => Box::new(FileSegment::open(&path, offset, len)?),
        })
    }
}

/// Opens segments as one merged source.
pub fn merge_segments(segs: Vec<Segment>) -> Result<Merger> {
    let mut sources = Vec::with_capacity(segs.len());
    for s in segs {
        sources.push(s.open()?);
    }
    Ok(Merger::new(sources))
}

/// What [`merge_to_factor`] left.
pub struct MergePasses {
    /// The segments for the final merge (at most the factor).
    pub segments: Vec<Segment>,
    /// Records written to run files (Hadoop counts them as spilled).
    pub spilled: u64,
    /// Run files among `segments`; the caller removes them when done.
    pub runs: Vec<PathBuf>,
}

/// Hadoop's `mapreduce.task.io.sort.factor` at work: while more than
/// `factor` segments are left, merges runs of consecutive segments (at most
/// `factor` at a time, in order, so the final merge stays stable) into run
/// files `dir/<prefix><n>`, merging no more than needed to leave exactly
/// `factor`. Runs consumed by a later pass are removed at once.
pub fn merge_to_factor(
    mut segs: Vec<Segment>,
    factor: usize,
    dir: &Path,
    prefix: &str,
) -> Result<MergePasses> {
    let factor = factor.max(2);
    let mut spilled = 0u64;
    let mut runs: Vec<PathBuf> = Vec::new();
    while segs.len() > factor {
        let mut excess = segs.len() - factor;
        let mut next = Vec::with_capacity(factor);
        let mut it = segs.into_iter().peekable();
        while it.peek().is_some() {
            if excess == 0 {
                next.extend(it.by_ref());
                break;
            }
            // Merging g segments into one removes g - 1.
            let g = factor.min(excess + 1);
            let group: Vec<Segment> = it.by_ref().take(g).collect();
            excess -= group.len() - 1;
            let consumed: Vec<PathBuf> = group
                .iter()
                .filter_map(|s| match s {
                    Segment::File { path, .. } if runs.contains(path) => Some(path.clone()),
                    _ => None,
                })
                .collect();
            let path = dir.join(format!("{prefix}{}", runs.len()));
            let mut merged = merge_segments(group)?;
            spilled += write_run(&path, &mut merged)?;
            drop(merged);
            for c in consumed {
                let _ = std::fs::remove_file(&c);
            }
            runs.push(path.clone());
            next.push(Segment::whole_file(path)?);
        }
        segs = next;
    }
    let runs = runs
        .into_iter()
        .filter(|r| {
            segs.iter()
                .any(|s| matches!(s, Segment::File { path, .. } if path == r))
        })
        .collect();
    Ok(MergePasses {
        segments: segs,
        spilled,
        runs,
    })
}

/// Writes a sorted source as one segment file; returns its records.
pub fn write_run(path: &Path, src: &mut dyn RecordSource) -> Result<u64> {
    let f = File::create(path).map_err(|e| EngineError::io(path.display(), e))?;
    let mut w = SegmentWriter::new(BufWriter::with_capacity(256 << 10, f));
    copy_records(src, &mut w, path)?;
    let records = w.records();
    let (bw, _) = w.finish().map_err(|e| EngineError::io(path.display(), e))?;
    bw.into_inner()
        .map_err(|e| EngineError::io(path.display(), e.into_error()))?;
    Ok(records)
}

/// The values of one key group, lent one at a time from a sorted source.
/// When the group ends the source is left on the next group's first
/// record.
pub struct GroupValues<'a> {
    src: &'a mut dyn RecordSource,
    key: &'a [u8],
    /// The source is on the group's first record, not yet handed out.
    first: bool,
    /// The group has no more values.
    ended: bool,
    /// After the end: the source holds the next group's first record.
    more: bool,
    /// Values handed out (for input-record counters).
    pub count: u64,
    /// A read error met while pulling; the caller must check it.
    pub error: Option<EngineError>,
}

impl GroupValues<'_> {
    /// Moves to the next value of the group.
    fn advance(&mut self) -> bool {
        if self.first {
            self.first = false;
            self.count += 1;
            return true;
        }
        if self.ended {
            return false;
        }
        self.ended = true;
        match self.src.advance() {
            Ok(true) => {
                if self.src.key() == self.key {
                    self.ended = false;
                    self.count += 1;
                    return true;
                }
                self.more = true;
                false
            }
            Ok(false) => false,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

impl Values for GroupValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        if self.advance() {
            Some(self.src.value())
        } else {
            None
        }
    }
}

/// Calls `f(key, values)` once per key of a sorted source, in key order.
/// Values `f` does not consume are skipped. Returns (groups, records).
pub fn for_each_group(
    src: &mut dyn RecordSource,
    mut f: impl FnMut(&[u8], &mut GroupValues<'_>) -> Result<()>,
) -> Result<(u64, u64)> {
    let (mut groups, mut records) = (0u64, 0u64);
    let mut key = Vec::new();
    let mut more = src.advance()?;
    while more {
        key.clear();
        key.extend_from_slice(src.key());
        let mut g = GroupValues {
            src: &mut *src,
            key: &key,
            first: true,
            ended: false,
            more: false,
            count: 0,
            error: None,
        };
        let r = f(&key, &mut g);
        while g.advance() {}
        if let Some(e) = g.error.take() {
            return Err(e);
        }
        r?;
        groups += 1;
        records += g.count;
        more = g.more;
    }
    Ok((groups, records))
}

/// Reads a whole source into owned pairs (helper for tests).
#[cfg(test)]
pub fn collect(src: &mut dyn RecordSource) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    while src.advance()? {
        out.push((src.key().to_vec(), src.value().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(records: &[(&str, &str)]) -> Vec<u8> {
        let mut w = SegmentWriter::new(Vec::new());
        for (k, v) in records {
            w.append(k.as_bytes(), v.as_bytes()).unwrap();
        }
        w.finish().unwrap().0
    }

    fn strs(v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
        v.into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    }

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
            let mut p = 0;
            assert_eq!(get_varint(&b[..b.len() - 1], &mut p), None);
        }
    }

    #[test]
    fn empty_segment_is_four_zero_bytes() {
        assert_eq!(seg(&[]), vec![0, 0, 0, 0]);
    }

    #[test]
    fn memory_segment_round_trip_and_corruption() {
        let data = seg(&[("a", "1"), ("b", ""), ("c", "333")]);
        let mut s = MemSegment::new(Bytes::from(data.clone()), "s").unwrap();
        assert_eq!(
            strs(collect(&mut s).unwrap()),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "333".into())
            ]
        );
        let mut bad = data.clone();
        bad[2] ^= 1;
        let e = MemSegment::new(Bytes::from(bad), "map_0 partition 1")
            .err()
            .unwrap();
        assert!(e.to_string().contains("map_0 partition 1"), "{e}");
        assert!(MemSegment::new(Bytes::from_static(b"ab"), "x").is_err());
    }

    #[test]
    fn file_segment_checks_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let a = seg(&[("k1", "v1"), ("k2", "v2")]);
        let b = seg(&[("x", "y")]);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        std::fs::write(&p, &all).unwrap();
        let mut s = FileSegment::open(&p, a.len() as u64, b.len() as u64).unwrap();
        assert_eq!(
            strs(collect(&mut s).unwrap()),
            vec![("x".into(), "y".into())]
        );
        all[3] ^= 0x40; // inside the first segment's records
        std::fs::write(&p, &all).unwrap();
        let mut s = FileSegment::open(&p, 0, a.len() as u64).unwrap();
        assert!(collect(&mut s).is_err());
    }

    #[test]
    fn merge_is_sorted_and_stable_and_groups() {
        let s1 = seg(&[("a", "1"), ("c", "1"), ("e", "1")]);
        let s2 = seg(&[("a", "2"), ("b", "2"), ("e", "2")]);
        let s3 = seg(&[]);
        let srcs: Vec<Box<dyn RecordSource>> = vec![
            Box::new(MemSegment::new(Bytes::from(s1), "1").unwrap()),
            Box::new(MemSegment::new(Bytes::from(s2), "2").unwrap()),
            Box::new(MemSegment::new(Bytes::from(s3), "3").unwrap()),
        ];
        let mut m = Merger::new(srcs);
        let mut seen = Vec::new();
        let (groups, records) = for_each_group(&mut m, |k, vals| {
            let mut vs = Vec::new();
            while let Some(v) = vals.next_value() {
                vs.push(String::from_utf8(v.to_vec()).unwrap());
            }
            seen.push((String::from_utf8(k.to_vec()).unwrap(), vs.join(",")));
            Ok(())
        })
        .unwrap();
        assert_eq!((groups, records), (4, 6));
        assert_eq!(
            seen,
            vec![
                ("a".to_string(), "1,2".to_string()),
                ("b".into(), "2".into()),
                ("c".into(), "1".into()),
                ("e".into(), "1,2".into())
            ]
        );
    }

    #[test]
    fn groups_skip_unconsumed_values() {
        let s = seg(&[("a", "1"), ("a", "2"), ("b", "3")]);
        let mut m = MemSegment::new(Bytes::from(s), "s").unwrap();
        let mut keys = Vec::new();
        let (g, r) = for_each_group(&mut m, |k, _vals| {
            keys.push(k.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!((g, r), (2, 3));
    }

    #[test]
    fn merge_respects_the_sort_factor() {
        let dir = tempfile::tempdir().unwrap();
        // 23 segments; segment i holds keys k{j} for j ≡ i (mod 5) and
        // value "i", so equal keys come from several segments.
        let segs: Vec<Vec<u8>> = (0..23)
            .map(|i| {
                let recs: Vec<(String, String)> = (0..40)
                    .filter(|j| j % 5 == i % 5)
                    .map(|j| (format!("k{j:03}"), format!("{i:02}")))
                    .collect();
                let refs: Vec<(&str, &str)> =
                    recs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                seg(&refs)
            })
            .collect();
        let mem = |segs: &[Vec<u8>]| -> Vec<Segment> {
            segs.iter()
                .enumerate()
                .map(|(i, s)| Segment::Mem {
                    data: Bytes::from(s.clone()),
                    name: format!("seg {i}"),
                })
                .collect()
        };
        let want = collect(&mut merge_segments(mem(&segs)).unwrap()).unwrap();
        assert_eq!(want.len(), 23 * 8);
        for factor in [2usize, 3, 4, 10, 22, 23, 100] {
            let passes =
                merge_to_factor(mem(&segs), factor, dir.path(), &format!("f{factor}.")).unwrap();
            assert!(passes.segments.len() <= factor.max(2), "factor {factor}");
            assert_eq!(passes.segments.len(), 23.min(factor.max(2)));
            // Records went through passes only when needed.
            assert_eq!(passes.spilled == 0, factor >= 23, "factor {factor}");
            let runs = passes.runs.clone();
            let got = collect(&mut merge_segments(passes.segments).unwrap()).unwrap();
            // Same records in the same (stable) order as a one-pass merge.
            assert_eq!(got, want, "factor {factor}");
            for r in &runs {
                std::fs::remove_file(r).unwrap();
            }
            // No other run file is left behind.
            let left = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(left, 0, "factor {factor}");
        }
    }

    #[test]
    fn file_segment_reads_records_larger_than_its_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let big = "x".repeat(3 * FILE_BUF + 7);
        let data = seg(&[("a", "1"), ("b", &big), ("c", "")]);
        std::fs::write(&p, &data).unwrap();
        let mut s = FileSegment::open(&p, 0, data.len() as u64).unwrap();
        let got = strs(collect(&mut s).unwrap());
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1.len(), big.len());
        assert_eq!(got[2], ("c".to_string(), String::new()));
        // Truncated: the index says less than the records need.
        let mut s = FileSegment::open(&p, 0, 40).unwrap();
        assert!(collect(&mut s).is_err());
    }

    #[test]
    fn index_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_INDEX);
        write_index(&p, &[(0, 4), (4, 100)]).unwrap();
        assert_eq!(read_index(&p).unwrap(), vec![(0, 4), (4, 100)]);
        assert!(parse_index(&[0; 15]).is_err());
    }
}
