//! Open files: one task per file handle runs that handle's reads, writes,
//! flushes and release in the order the kernel sent them.
//!
//! Reads: the handle keeps a [`DfsReader`]. A read at its position streams
//! on (the block stream is the read-ahead: the datanode keeps sending while
//! we hand pages to the kernel); a read elsewhere is a positional read of
//! just that range, and the stream moves there (a reopen at the offset) when
//! the next read continues from where that one ended, so `tail`, `pread` and
//! `mmap` cost no wasted stream while a seek-then-read-on pattern still
//! streams.
//!
//! Writes follow HDFS, made friendly:
//! - `create` and `open(O_TRUNC)` start a new file; sequential writes stream
//!   into a [`DfsWriter`].
//! - `O_APPEND` appends (the offset the kernel passes is ignored).
//! - A handle opened for writing without either writes nothing until its
//!   first write: at offset 0 it rewrites the file, at the file's end it
//!   appends.
//! - Any other offset fails with `EOPNOTSUPP` and changes nothing.
//! - `flush` (every `close(2)`) and `fsync` complete the file: all data
//!   acknowledged by every datanode of the pipeline and the length committed
//!   at the namenode (HDFS `close`, stronger than `hsync`). A later write
//!   on the same handle appends.
//! - Truncating to 0 rewrites; to the current length does nothing; any
//!   other length fails with `EOPNOTSUPP`.

use crate::errno::errno;
use crate::fs::Shared;
use fuser::{Errno, ReplyData, ReplyEmpty, ReplyWrite};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tusk_client::{CreateOptions, DfsReader, DfsWriter};

/// One request for a handle's task.
pub enum HandleOp {
    Read {
        offset: u64,
        size: u32,
        reply: ReplyData,
    },
    Write {
        offset: u64,
        data: Vec<u8>,
        reply: ReplyWrite,
    },
    /// `flush` and `fsync`: complete what was written.
    Flush { reply: ReplyEmpty },
    /// `ftruncate` (or `open(O_TRUNC)` without atomic truncation).
    Truncate {
        size: u64,
        done: oneshot::Sender<Result<(), Errno>>,
    },
    /// The last close: complete, then end the task.
    Release {
        reply: Option<ReplyEmpty>,
        done: Option<oneshot::Sender<()>>,
    },
}

/// What a handle was opened for.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    pub read: bool,
    pub write: bool,
    pub append: bool,
}

/// The state of one open file.
pub struct FileHandle {
    shared: Arc<Shared>,
    path: String,
    mode: Mode,
    /// Mode bits for a rewrite (the existing file's).
    permission: u32,
    reader: Option<DfsReader>,
    /// Where the last positional read ended (see the module docs).
    last_end: u64,
    writer: Option<DfsWriter>,
    /// The file's length before the current writer's bytes.
    base: u64,
    /// The file's committed length as this handle knows it.
    committed: u64,
    /// A write or close failed: the handle only reports it from now on.
    failed: Option<Errno>,
    /// This handle's entry among the files being written (once it wrote).
    open_write: Option<Arc<OpenWrite>>,
}

impl FileHandle {
    pub fn new(
        shared: Arc<Shared>,
        path: String,
        mode: Mode,
        permission: u32,
        committed: u64,
    ) -> Self {
        FileHandle {
            shared,
            path,
            mode,
            permission,
            reader: None,
            last_end: u64::MAX,
            writer: None,
            base: 0,
            committed,
            failed: None,
            open_write: None,
        }
    }

    /// Starts with an open reader (opened at `open` so errors show there).
    pub fn with_reader(mut self, r: DfsReader) -> Self {
        self.committed = r.len();
        self.reader = Some(r);
        self
    }

    /// Starts with a writer of a new (empty) file.
    pub fn with_writer(mut self, w: DfsWriter) -> Self {
        self.begin_write(0);
        self.writer = Some(w);
        self.base = 0;
        self.committed = 0;
        self
    }

    /// Runs the handle's requests in order until it is released.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<HandleOp>) {
        let limit = self.shared.cfg.op_timeout;
        while let Some(op) = rx.recv().await {
            match op {
                HandleOp::Read {
                    offset,
                    size,
                    reply,
                } => match timed(limit, self.read(offset, size)).await {
                    Ok(data) => reply.data(&data),
                    Err(e) => {
                        // A timed-out stream is in an unknown state.
                        self.reader = None;
                        reply.error(e)
                    }
                },
                HandleOp::Write {
                    offset,
                    data,
                    reply,
                } => {
                    let n = data.len() as u32;
                    match timed(limit, self.write(offset, data)).await {
                        Ok(()) => reply.written(n),
                        Err(e) => {
                            self.fail(e);
                            reply.error(e)
                        }
                    }
                }
                HandleOp::Flush { reply } => match timed(limit, self.finish()).await {
                    Ok(()) => reply.ok(),
                    Err(e) => {
                        self.fail(e);
                        reply.error(e)
                    }
                },
                HandleOp::Truncate { size, done } => {
                    let r = timed(limit, self.truncate(size)).await;
                    if let Err(e) = r {
                        self.fail(e);
                    }
                    let _ = done.send(r);
                }
                HandleOp::Release { reply, done } => {
                    let r = timed(limit, self.finish()).await;
                    if let Err(e) = &r {
                        tracing::warn!(path = %self.path, errno = e.code(), "closing the file on release failed");
                    }
                    self.end_write();
                    if let Some(reply) = reply {
                        // release errors are not seen by anyone; flush
                        // reported them.
                        reply.ok();
                    }
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    return;
                }
            }
        }
        // The sender went away without a release (shutdown): complete.
        let _ = timed(limit, self.finish()).await;
        self.end_write();
    }

    /// Registers this handle as writing its path (once) at size `size`.
    fn begin_write(&mut self, size: u64) {
        if self.open_write.is_none() {
            self.open_write = Some(self.shared.register_write(&self.path));
        }
        self.set_size(size);
    }

    fn set_size(&self, size: u64) {
        if let Some(ow) = &self.open_write {
            ow.size.store(size, Ordering::Relaxed);
        }
    }

    fn end_write(&mut self) {
        if let Some(ow) = self.open_write.take() {
            self.shared.unregister_write(&self.path, ow);
        }
    }

    fn fail(&mut self, e: Errno) {
        // A refused request (EOPNOTSUPP, EBADF) changed nothing.
        if e.code() == libc::EOPNOTSUPP || e == Errno::EBADF {
            return;
        }
        if self.writer.is_some() {
            // The writer's state is unknown; drop it (the namenode recovers
            // the lease) and report the failure from now on.
            self.writer = None;
            self.failed = Some(e);
        }
    }

    async fn read(&mut self, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        if !self.mode.read {
            return Err(Errno::EBADF);
        }
        if self.writer.is_some() {
            // Bytes still in the pipeline cannot be read back (HDFS).
            tracing::info!(path = %self.path, "read of a file while this handle writes it: EOPNOTSUPP");
            return Err(Errno::from_i32(libc::EOPNOTSUPP));
        }
        if self.reader.is_none() {
            let r = self
                .shared
                .client
                .open(&self.path)
                .await
                .map_err(|e| errno(&e))?;
            self.committed = r.len();
            self.reader = Some(r);
        }
        let r = self.reader.as_mut().expect("opened above");
        let len = r.len();
        if offset >= len || size == 0 {
            return Ok(Vec::new());
        }
        let want = (size as u64).min(len - offset) as usize;
        let mut buf = vec![0u8; want];
        if offset != r.position() && offset != self.last_end {
            // A random read: just this range.
            let n = r.read_at(offset, &mut buf).await.map_err(|e| errno(&e))?;
            buf.truncate(n);
            self.last_end = offset + n as u64;
            return Ok(buf);
        }
        if offset != r.position() {
            // Reads continue from the last random one: stream from here.
            r.seek(offset);
        }
        let mut filled = 0;
        while filled < want {
            let n = r.read(&mut buf[filled..]).await.map_err(|e| errno(&e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        self.last_end = u64::MAX;
        Ok(buf)
    }

    async fn write(&mut self, offset: u64, data: Vec<u8>) -> Result<(), Errno> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if !self.mode.write {
            return Err(Errno::EBADF);
        }
        if self.writer.is_none() {
            self.start_writer(offset).await?;
        }
        let w = self.writer.as_mut().expect("started above");
        let end = self.base + w.bytes_written();
        if offset != end && !self.mode.append {
            tracing::info!(path = %self.path, offset, end, "non-sequential write: EOPNOTSUPP");
            return Err(Errno::from_i32(libc::EOPNOTSUPP));
        }
        let n = data.len() as u64;
        w.write_bytes(data.into()).await.map_err(|e| errno(&e))?;
        self.set_size(end + n);
        Ok(())
    }

    /// The first write of a writer: append at the end, rewrite at 0.
    async fn start_writer(&mut self, offset: u64) -> Result<(), Errno> {
        let c = &self.shared.client;
        let append = self.mode.append || (offset == self.committed && offset > 0);
        let w = if append {
            c.append(&self.path).await.map_err(|e| errno(&e))?
        } else if offset == 0 {
            self.create().await?
        } else {
            tracing::info!(path = %self.path, offset, length = self.committed, "write at neither 0 nor the end: EOPNOTSUPP");
            return Err(Errno::from_i32(libc::EOPNOTSUPP));
        };
        self.base = if append { self.committed } else { 0 };
        self.begin_write(self.base);
        self.reader = None;
        self.writer = Some(w);
        Ok(())
    }

    async fn create(&self) -> Result<DfsWriter, Errno> {
        let opts = CreateOptions::default()
            .with_overwrite(true)
            .with_create_parent(false)
            .with_permission(self.permission);
        self.shared
            .client
            .create(&self.path, opts)
            .await
            .map_err(|e| errno(&e))
    }

    /// Completes the current writer, if any (flush, fsync, release).
    async fn finish(&mut self) -> Result<(), Errno> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let Some(w) = self.writer.take() else {
            return Ok(());
        };
        let end = self.base + w.bytes_written();
        let r = w.close().await.map_err(|e| errno(&e));
        self.committed = end;
        let times = self
            .open_write
            .as_ref()
            .and_then(|ow| ow.times.lock().take());
        self.shared.completed(&self.path, times).await;
        r
    }

    async fn truncate(&mut self, size: u64) -> Result<(), Errno> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let length = match &self.writer {
            Some(w) => self.base + w.bytes_written(),
            None => self.committed,
        };
        if size == length {
            return Ok(());
        }
        if size != 0 {
            tracing::info!(path = %self.path, size, length, "truncate to other than 0 or the length: EOPNOTSUPP");
            return Err(Errno::from_i32(libc::EOPNOTSUPP));
        }
        if let Some(w) = self.writer.take() {
            w.close().await.map_err(|e| errno(&e))?;
        }
        let w = self.create().await?;
        self.base = 0;
        self.committed = 0;
        self.reader = None;
        self.begin_write(0);
        self.writer = Some(w);
        Ok(())
    }
}

/// Runs `fut` for at most `limit`; past it, EIO.
pub async fn timed<T>(
    limit: std::time::Duration,
    fut: impl std::future::Future<Output = Result<T, Errno>>,
) -> Result<T, Errno> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(Errno::EIO),
    }
}

/// Sizes of files being written through the mount, for `stat` while the
/// namenode only knows their finished blocks; times set on them meanwhile
/// are applied when they complete (completing sets the mtime to now).
#[derive(Default)]
pub struct OpenWrite {
    pub size: std::sync::atomic::AtomicU64,
    pub handles: std::sync::atomic::AtomicUsize,
    pub times: parking_lot::Mutex<Option<(Option<u64>, Option<u64>)>>,
}

impl OpenWrite {
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }
}
