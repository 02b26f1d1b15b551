//! Record readers: the bytes of a split become (key, value) records.
//!
//! Reading is split in two halves so CPU work never runs on a tokio
//! thread: an async task ([`spawn_dfs_reader`]) streams the file's chunks
//! from a [`tusk_client::DfsReader`] into a bounded channel, and the map
//! thread reads them through [`ChannelReader`] (a blocking
//! `std::io::Read`). Dropping the reader stops the stream.
//!
//! Ownership of records at split edges:
//! - Text: a line belongs to the split in which its first byte lies. A
//!   split starting at `s > 0` reads from `s - 1` and drops everything up to
//!   and including the first `\n` (so a line starting exactly at `s` is
//!   kept, one starting before is not); it then reads every line that
//!   starts before its end, reading past the end to finish the last one.
//! - Fixed-length: records start at multiples of the record length; a
//!   split owns those starting in `[start, end)`.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;
use tusk_client::DfsClient;

use super::error::{EngineError, Result};

/// Chunks in flight between the DFS reader task and the map thread.
const READ_AHEAD_CHUNKS: usize = 16;

/// Starts streaming `path` from byte `pos`; chunks (or one error naming
/// the path) arrive on the returned receiver.
pub fn spawn_dfs_reader(
    client: DfsClient,
    path: String,
    pos: u64,
) -> mpsc::Receiver<std::result::Result<Bytes, String>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD_CHUNKS);
    tokio::spawn(async move {
        let mut r = match client.open(&path).await {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e.to_string())).await;
                return;
            }
        };
        r.seek(pos);
        loop {
            match r.next_chunk().await {
                Ok(Some(b)) => {
                    if tx.send(Ok(b)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            }
        }
    });
    rx
}

/// A blocking `Read` over a channel of chunks. Must not be used on a
/// tokio worker thread (it blocks).
pub struct ChannelReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    cur: Bytes,
    /// Bytes received so far (for HDFS_BYTES_READ and progress).
    pub received: Arc<AtomicU64>,
    eof: bool,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<std::result::Result<Bytes, String>>) -> Self {
        Self {
            rx,
            cur: Bytes::new(),
            received: Arc::new(AtomicU64::new(0)),
            eof: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.eof {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                None => {
                    self.eof = true;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.eof = true;
                    return Err(std::io::Error::other(e));
                }
                Some(Ok(b)) => {
                    self.received.fetch_add(b.len() as u64, Ordering::Relaxed);
                    self.cur = b;
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

/// Produces a split's records.
pub trait RecordReader: Send {
    /// Fills `key` and `value` with the next record; false at the end.
    fn next(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool>;
    /// Share of the split consumed, 0..=1.
    fn progress(&self) -> f32;
}

/// Appends `n` in decimal without allocating.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `BufRead::read_until(b'\n')` with the `memchr` crate's vectorized search
/// (std's is a word-at-a-time loop; this is the inner loop of every text job).
fn read_line<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut n = 0;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (done, used) = match memchr::memchr(b'\n', buf) {
            Some(i) => (true, i + 1),
            None => (buf.is_empty(), buf.len()),
        };
        out.extend_from_slice(&buf[..used]);
        r.consume(used);
        n += used;
        if done {
            return Ok(n);
        }
    }
}

/// `TextInputFormat`'s reader over any `BufRead` positioned at `start - 1`
/// (or at 0 when `start == 0`).
pub struct LineReader<R: BufRead + Send> {
    r: R,
    /// File offset of the next unread byte.
    pos: u64,
    start: u64,
    /// Lines starting at or after this offset belong to the next split.
    end: u64,
    /// For errors.
    path: String,
}

impl<R: BufRead + Send> LineReader<R> {
    /// `end = u64::MAX` reads to the end (unsplittable files).
    pub fn new(mut r: R, start: u64, end: u64, path: &str) -> Result<Self> {
        let mut pos = start;
        if start > 0 {
            let mut skip = Vec::new();
            let n = r
                .read_until(b'\n', &mut skip)
                .map_err(|e| EngineError::io(path, e))?;
            pos = start - 1 + n as u64;
        }
        Ok(Self {
            r,
            pos,
            start,
            end,
            path: path.to_string(),
        })
    }
}

impl<R: BufRead + Send> RecordReader for LineReader<R> {
    fn next(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        if self.pos >= self.end {
            return Ok(false);
        }
        value.clear();
        let n = read_line(&mut self.r, value).map_err(|e| EngineError::io(&self.path, e))?;
        if n == 0 {
            self.end = self.pos;
            return Ok(false);
        }
        key.clear();
        push_decimal(key, self.pos);
        self.pos += n as u64;
        if value.last() == Some(&b'\n') {
            value.pop();
            if value.last() == Some(&b'\r') {
                value.pop();
            }
        }
        Ok(true)
    }

    fn progress(&self) -> f32 {
        if self.end == u64::MAX || self.end <= self.start {
            return 0.0;
        }
        ((self.pos.saturating_sub(self.start)) as f32 / (self.end - self.start) as f32).min(1.0)
    }
}

/// Fixed-length records (`TeraInputFormat`): `key_len` bytes of key, the
/// rest value. The reader is positioned at [`FixedReader::first_record`].
pub struct FixedReader<R: Read + Send> {
    r: R,
    pos: u64,
    start: u64,
    end: u64,
    record_len: usize,
    key_len: usize,
    buf: Vec<u8>,
    path: String,
}

impl<R: Read + Send> FixedReader<R> {
    /// The offset of the first record a split starting at `start` owns.
    pub fn first_record(start: u64, record_len: u64) -> u64 {
        start.div_ceil(record_len) * record_len
    }

    pub fn new(r: R, start: u64, end: u64, record_len: u32, key_len: u32, path: &str) -> Self {
        let record_len = record_len.max(1) as usize;
        Self {
            r,
            pos: Self::first_record(start, record_len as u64),
            start,
            end,
            record_len,
            key_len: (key_len as usize).min(record_len),
            buf: vec![0; record_len],
            path: path.to_string(),
        }
    }
}

impl<R: Read + Send> RecordReader for FixedReader<R> {
    fn next(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        if self.pos >= self.end {
            return Ok(false);
        }
        let mut got = 0;
        while got < self.record_len {
            let n = self
                .r
                .read(&mut self.buf[got..])
                .map_err(|e| EngineError::io(&self.path, e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 0 {
            self.end = self.pos;
            return Ok(false);
        }
        if got < self.record_len {
            return Err(EngineError::Corrupt {
                what: self.path.clone(),
                cause: format!(
                    "truncated record at offset {}: {got} of {} bytes",
                    self.pos, self.record_len
                ),
            });
        }
        key.clear();
        key.extend_from_slice(&self.buf[..self.key_len]);
        value.clear();
        value.extend_from_slice(&self.buf[self.key_len..]);
        self.pos += self.record_len as u64;
        Ok(true)
    }

    fn progress(&self) -> f32 {
        if self.end <= self.start {
            return 0.0;
        }
        ((self.pos.saturating_sub(self.start)) as f32 / (self.end - self.start) as f32).min(1.0)
    }
}

/// Generated input: keys are row numbers (u64 big-endian), values empty.
pub struct RowReader {
    next: u64,
    first: u64,
    end: u64,
}

impl RowReader {
    pub fn new(first: u64, count: u64) -> Self {
        Self {
            next: first,
            first,
            end: first + count,
        }
    }
}

impl RecordReader for RowReader {
    fn next(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        if self.next >= self.end {
            return Ok(false);
        }
        key.clear();
        key.extend_from_slice(&self.next.to_be_bytes());
        value.clear();
        self.next += 1;
        Ok(true)
    }

    fn progress(&self) -> f32 {
        if self.end == self.first {
            return 1.0;
        }
        (self.next - self.first) as f32 / (self.end - self.first) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Lines of `data` read by splits at `cuts` (start offsets).
    fn read_all(data: &[u8], cuts: &[u64]) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for (i, &start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).copied().unwrap_or(data.len() as u64);
            let from = start.saturating_sub(1) as usize;
            let r = Cursor::new(data[from..].to_vec());
            let mut lr = LineReader::new(r, start, end, "/t").unwrap();
            let (mut k, mut v) = (Vec::new(), Vec::new());
            while lr.next(&mut k, &mut v).unwrap() {
                let off: u64 = String::from_utf8(k.clone()).unwrap().parse().unwrap();
                out.push((off, String::from_utf8(v.clone()).unwrap()));
            }
        }
        out
    }

    #[test]
    fn every_line_once_whatever_the_cuts() {
        let data = b"alpha\nbeta\r\n\ngamma delta\nlast-no-newline";
        let whole = read_all(data, &[0]);
        assert_eq!(
            whole,
            vec![
                (0, "alpha".to_string()),
                (6, "beta".into()),
                (12, "".into()),
                (13, "gamma delta".into()),
                (25, "last-no-newline".into())
            ]
        );
        // Every single cut and every pair of cuts gives the same lines.
        for a in 1..data.len() as u64 {
            assert_eq!(read_all(data, &[0, a]), whole, "cut at {a}");
            for b in a + 1..data.len() as u64 {
                assert_eq!(read_all(data, &[0, a, b]), whole, "cuts at {a},{b}");
            }
        }
    }

    #[test]
    fn fixed_records_belong_to_their_start() {
        let data: Vec<u8> = (0..50u8).collect(); // five records of 10
        let mut all = Vec::new();
        for (start, end) in [(0u64, 17u64), (17, 30), (30, 50)] {
            let first = FixedReader::<Cursor<Vec<u8>>>::first_record(start, 10);
            let r = Cursor::new(data[first as usize..].to_vec());
            let mut fr = FixedReader::new(r, start, end, 10, 2, "/t");
            let (mut k, mut v) = (Vec::new(), Vec::new());
            while fr.next(&mut k, &mut v).unwrap() {
                assert_eq!(k.len(), 2);
                assert_eq!(v.len(), 8);
                all.push(k[0]);
            }
        }
        assert_eq!(all, vec![0, 10, 20, 30, 40]);
        // A truncated last record is an error naming the file.
        let mut fr = FixedReader::new(Cursor::new(vec![0u8; 15]), 0, 15, 10, 2, "/trunc");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        assert!(fr.next(&mut k, &mut v).unwrap());
        let e = fr.next(&mut k, &mut v).unwrap_err().to_string();
        assert!(e.contains("/trunc"), "{e}");
    }

    #[test]
    fn channel_reader_reads_chunks_and_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"cd\n"))).unwrap();
        tx.try_send(Err("boom".to_string())).unwrap();
        drop(tx);
        let mut r = ChannelReader::new(rx);
        let mut s = Vec::new();
        let e = r.read_to_end(&mut s).unwrap_err();
        assert_eq!(s, b"abcd\n");
        assert!(e.to_string().contains("boom"));
    }

    #[test]
    fn gzip_lines_through_the_channel() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..1000 {
            writeln!(gz, "line {i}").unwrap();
        }
        let data = gz.finish().unwrap();
        let (tx, rx) = mpsc::channel(64);
        for c in data.chunks(100) {
            tx.try_send(Ok(Bytes::copy_from_slice(c))).unwrap();
        }
        drop(tx);
        let r = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(ChannelReader::new(rx)));
        let mut lr = LineReader::new(r, 0, u64::MAX, "/t.gz").unwrap();
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut n = 0;
        while lr.next(&mut k, &mut v).unwrap() {
            assert_eq!(v, format!("line {n}").as_bytes());
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn rows() {
        let mut r = RowReader::new(5, 2);
        let (mut k, mut v) = (Vec::new(), Vec::new());
        assert!(r.next(&mut k, &mut v).unwrap());
        assert_eq!(k, 5u64.to_be_bytes());
        assert!(r.next(&mut k, &mut v).unwrap());
        assert!(!r.next(&mut k, &mut v).unwrap());
    }
}
