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

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

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

/// Writes one segment to `W`, computing the trailer as it goes.
pub struct SegmentWriter<W: Write> {
    w: W,
    crc: u32,
    len: u64,
    records: u64,
    head: Vec<u8>,
}

impl<W: Write> SegmentWriter<W> {
    pub fn new(w: W) -> Self {
        Self {
            w,
            crc: 0,
            len: 0,
            records: 0,
            head: Vec::with_capacity(20),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.len += bytes.len() as u64;
        self.w.write_all(bytes)
    }

    /// Appends one record (callers keep keys sorted).
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        put_varint(&mut head, key.len() as u64);
        put_varint(&mut head, value.len() as u64);
        let r = self
            .put(&head)
            .and_then(|_| self.put(key))
            .and_then(|_| self.put(value));
        self.head = head;
        self.records += 1;
        r
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the trailer; returns the writer and the segment's length.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
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

/// A sorted stream of records.
pub trait RecordSource: Send {
    fn next_record(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
}

/// Records of a verified in-memory segment.
pub struct MemSegment {
    data: Bytes,
    pos: usize,
    end: usize,
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
            name,
        })
    }
}

impl RecordSource for MemSegment {
    fn next_record(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let body = &self.data[..self.end];
        let bad = |pos: usize| EngineError::Corrupt {
            what: self.name.clone(),
            cause: format!("bad record at byte {pos}"),
        };
        let start = self.pos;
        let mut p = self.pos;
        let kl = get_varint(body, &mut p).ok_or_else(|| bad(start))? as usize;
        let vl = get_varint(body, &mut p).ok_or_else(|| bad(start))? as usize;
        if body.len() - p < kl || body.len() - p - kl < vl {
            return Err(bad(start));
        }
        let k = body[p..p + kl].to_vec();
        let v = body[p + kl..p + kl + vl].to_vec();
        self.pos = p + kl + vl;
        Ok(Some((k, v)))
    }
}

/// Records of a segment inside a local file, read through a buffer; the
/// trailer is checked when the last record has been read.
pub struct FileSegment {
    r: BufReader<File>,
    /// Record bytes not yet read.
    left: u64,
    crc: u32,
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
        Ok(Self {
            r: BufReader::with_capacity(128 << 10, f),
            left: len - TRAILER_LEN as u64,
            crc: 0,
            name,
            done: false,
        })
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        if (buf.len() as u64) > self.left {
            return Err(self.corrupt("record runs past the segment end"));
        }
        self.r
            .read_exact(buf)
            .map_err(|e| EngineError::io(&self.name, e))?;
        self.left -= buf.len() as u64;
        self.crc = crc32c::crc32c_append(self.crc, buf);
        Ok(())
    }

    fn read_varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let mut b = [0u8];
            self.read_exact(&mut b)?;
            v |= ((b[0] & 0x7f) as u64) << shift;
            if b[0] & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.corrupt("varint too long"));
            }
        }
    }

    fn corrupt(&self, cause: &str) -> EngineError {
        EngineError::Corrupt {
            what: self.name.clone(),
            cause: cause.into(),
        }
    }
}

impl RecordSource for FileSegment {
    fn next_record(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.done {
            return Ok(None);
        }
        if self.left == 0 {
            let mut t = [0u8; TRAILER_LEN];
            self.r
                .read_exact(&mut t)
                .map_err(|e| EngineError::io(&self.name, e))?;
            self.done = true;
            if u32::from_le_bytes(t) != self.crc {
                return Err(self.corrupt("checksum mismatch"));
            }
            return Ok(None);
        }
        let kl = self.read_varint()?;
        let vl = self.read_varint()?;
        if kl.saturating_add(vl) > self.left {
            return Err(self.corrupt("record runs past the segment end"));
        }
        let mut k = vec![0u8; kl as usize];
        self.read_exact(&mut k)?;
        let mut v = vec![0u8; vl as usize];
        self.read_exact(&mut v)?;
        Ok(Some((k, v)))
    }
}

/// Heap entry of the merge: ordered by key, then by source index so equal
/// keys come out in source order (the merge is stable).
struct Head {
    key: Vec<u8>,
    src: usize,
    value: Vec<u8>,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key.cmp(&o.key).then(self.src.cmp(&o.src))
    }
}

/// K-way merge of sorted sources into one sorted source.
pub struct Merger {
    sources: Vec<Box<dyn RecordSource>>,
    heap: BinaryHeap<Reverse<Head>>,
    started: bool,
}

impl Merger {
    pub fn new(sources: Vec<Box<dyn RecordSource>>) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            started: false,
        }
    }

    fn pull(&mut self, src: usize) -> Result<()> {
        if let Some((key, value)) = self.sources[src].next_record()? {
            self.heap.push(Reverse(Head { key, src, value }));
        }
        Ok(())
    }
}

impl RecordSource for Merger {
    fn next_record(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.pull(i)?;
            }
        }
        let Some(Reverse(h)) = self.heap.pop() else {
            return Ok(None);
        };
        self.pull(h.src)?;
        Ok(Some((h.key, h.value)))
    }
}

/// The values of one key group, pulled lazily from a sorted source. The
/// first pair of the next group is left in `pending`.
pub struct GroupValues<'a> {
    src: &'a mut dyn RecordSource,
    key: &'a [u8],
    first: Option<Vec<u8>>,
    /// The value last handed out.
    cur: Vec<u8>,
    pending: &'a mut Option<(Vec<u8>, Vec<u8>)>,
    done: bool,
    /// Values handed out (for input-record counters).
    pub count: u64,
    /// A read error met while pulling; the caller must check it.
    pub error: Option<EngineError>,
}

impl GroupValues<'_> {
    /// Moves to the next value of the group, leaving it in `cur`.
    fn advance(&mut self) -> bool {
        if let Some(v) = self.first.take() {
            self.cur = v;
            self.count += 1;
            return true;
        }
        if self.done {
            return false;
        }
        match self.src.next_record() {
            Ok(Some((k, v))) if k == self.key => {
                self.cur = v;
                self.count += 1;
                true
            }
            Ok(Some(kv)) => {
                *self.pending = Some(kv);
                self.done = true;
                false
            }
            Ok(None) => {
                self.done = true;
                false
            }
            Err(e) => {
                self.error = Some(e);
                self.done = true;
                false
            }
        }
    }
}

impl Values for GroupValues<'_> {
    fn next_value(&mut self) -> Option<&[u8]> {
        if self.advance() {
            Some(&self.cur)
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
    let mut pending = src.next_record()?;
    let (mut groups, mut records) = (0u64, 0u64);
    while let Some((key, first)) = pending.take() {
        let mut g = GroupValues {
            src: &mut *src,
            key: &key,
            first: Some(first),
            cur: Vec::new(),
            pending: &mut pending,
            done: false,
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
    }
    Ok((groups, records))
}

/// Reads a whole source (helper for tests).
#[cfg(test)]
pub fn collect(src: &mut dyn RecordSource) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    while let Some(r) = src.next_record()? {
        out.push(r);
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
    fn index_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_INDEX);
        write_index(&p, &[(0, 4), (4, 100)]).unwrap();
        assert_eq!(read_index(&p).unwrap(), vec![(0, 4), (4, 100)]);
        assert!(parse_index(&[0; 15]).is_err());
    }
}
