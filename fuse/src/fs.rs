//! [`TuskFs`]: the `fuser::Filesystem` over a [`DfsClient`].
//!
//! Callbacks never block the FUSE session thread: each one hands its work to
//! the tokio runtime and the task replies when done. Namespace calls run as
//! independent tasks (bounded by `op_timeout`, after the client's own
//! bounded retry of an unreachable namenode); the requests of one open file
//! go to that file's task in order (see [`crate::handle`]).

use crate::cache::{AttrCache, IdMap};
use crate::dir::DirCursor;
use crate::errno::errno;
use crate::handle::{timed, FileHandle, HandleOp, Mode, OpenWrite};
use crate::inodes::{child_path, parent_path, InodeTable};
use crate::options::MountConfig;
use fuser::{
    Errno, FileAttr, FileType, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig,
    OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tusk_client::{CreateOptions, DfsClient, FileStatus};

/// `st_blksize`: programs size their I/O by it (cp reads and writes this
/// much at a time), and bigger FUSE requests are cheaper.
const BLKSIZE: u32 = 1 << 20;
/// statfs block size.
const STATFS_BSIZE: u64 = 4096;

/// What every callback's task shares.
pub struct Shared {
    pub client: DfsClient,
    pub cfg: MountConfig,
    pub inodes: Mutex<InodeTable>,
    pub attrs: AttrCache,
    ids: IdMap,
    /// Open file handles → their task.
    files: Mutex<HashMap<u64, mpsc::UnboundedSender<HandleOp>>>,
    /// Open directory handles.
    dirs: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<DirCursor>>>>,
    /// Paths being written through the mount.
    writing: Mutex<HashMap<String, Arc<OpenWrite>>>,
    next_fh: AtomicU64,
}

/// The file system the session drives.
pub struct TuskFs {
    rt: Handle,
    s: Arc<Shared>,
}

fn einval() -> Errno {
    Errno::EINVAL
}

fn enotsup() -> Errno {
    Errno::from_i32(libc::EOPNOTSUPP)
}

fn ms_to_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn time_to_ms(t: TimeOrNow) -> u64 {
    let t = match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    };
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    /// The path of an inode the kernel holds; ENOENT once it was deleted.
    fn path_of(&self, ino: INodeNo) -> Result<String, Errno> {
        self.inodes.lock().path(ino.0).ok_or(Errno::ENOENT)
    }

    /// `parent/name`, for a name Tusk can hold.
    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<String, Errno> {
        let name = name.to_str().ok_or_else(einval)?;
        if name.is_empty() || name.contains('/') {
            return Err(einval());
        }
        Ok(child_path(&self.path_of(parent)?, name))
    }

    /// The status of a path, from the cache when fresh.
    async fn status(&self, path: &str) -> Result<FileStatus, Errno> {
        if let Some(st) = self.attrs.get(path) {
            return Ok(st);
        }
        self.fresh_status(path).await
    }

    /// The status of a path from the namenode.
    async fn fresh_status(&self, path: &str) -> Result<FileStatus, Errno> {
        match self.client.get_file_info(path).await {
            Ok(Some(st)) => {
                self.attrs.put(path, st.clone());
                Ok(st)
            }
            Ok(None) => Err(Errno::ENOENT),
            Err(e) => Err(errno(&e)),
        }
    }

    fn attr(&self, ino: u64, st: &FileStatus) -> FileAttr {
        let mut size = st.length;
        if let Some(ow) = self.writing.lock().get(&st.path) {
            size = ow.size();
        }
        let mtime = ms_to_time(st.mtime_ms);
        let atime = if st.atime_ms > 0 {
            ms_to_time(st.atime_ms)
        } else {
            mtime
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind: if st.is_dir() {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: (st.permission & 0o7777) as u16,
            // Unknown link counts are 1 (tools then do not assume 2 + subdirs).
            nlink: 1,
            uid: self.ids.uid(&st.owner),
            gid: self.ids.gid(&st.group),
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }

    /// An entry for the kernel: counts one lookup of `path`.
    fn entry(&self, path: &str, st: &FileStatus) -> FileAttr {
        let ino = self.inodes.lock().lookup(path);
        self.attr(ino, st)
    }

    /// `d_ino` for a listed entry: its inode when the kernel holds one, else
    /// a number derived from Tusk's inode id (outside the allocated range).
    pub fn dirent_ino(&self, path: &str, file_id: u64) -> u64 {
        self.inodes
            .lock()
            .peek(path)
            .unwrap_or((1 << 62) | (file_id & ((1 << 62) - 1)))
    }

    /// Something changed at `path`: drop it and its parent from the cache.
    fn changed(&self, path: &str) {
        self.attrs.invalidate(path);
        self.attrs.invalidate_one(parent_path(path));
    }

    pub fn register_write(&self, path: &str) -> Arc<OpenWrite> {
        let ow = self
            .writing
            .lock()
            .entry(path.to_string())
            .or_default()
            .clone();
        ow.handles.fetch_add(1, Ordering::Relaxed);
        ow
    }

    pub fn unregister_write(&self, path: &str, ow: Arc<OpenWrite>) {
        if ow.handles.fetch_sub(1, Ordering::Relaxed) == 1 {
            let mut w = self.writing.lock();
            if w.get(path).is_some_and(|x| Arc::ptr_eq(x, &ow)) {
                w.remove(path);
            }
        }
        self.changed(path);
    }

    /// A writer of `path` completed: apply times set while it was open
    /// (completing set the mtime to now).
    pub async fn completed(&self, path: &str, times: Option<(Option<u64>, Option<u64>)>) {
        if let Some((mtime, atime)) = times {
            if let Err(e) = self.client.set_times(path, mtime, atime).await {
                tracing::warn!(path, error = %e, "setting times after close failed");
            }
        }
        self.changed(path);
    }

    fn new_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// `parent/name` for a change to the namespace (EROFS on a read-only
    /// mount).
    fn writable_child(&self, parent: INodeNo, name: &OsStr) -> Result<String, Errno> {
        let path = self.child(parent, name)?;
        self.check_writable()?;
        Ok(path)
    }

    fn check_writable(&self) -> Result<(), Errno> {
        if self.cfg.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Starts a handle's task; returns its number.
    fn start_handle(&self, h: FileHandle, rt: &Handle) -> u64 {
        let fh = self.new_fh();
        let (tx, rx) = mpsc::unbounded_channel();
        self.files.lock().insert(fh, tx);
        rt.spawn(h.run(rx));
        fh
    }

    fn send(&self, fh: u64, op: HandleOp) -> Result<(), HandleOp> {
        let tx = self.files.lock().get(&fh).cloned();
        match tx {
            Some(tx) => tx.send(op).map_err(|e| e.0),
            None => Err(op),
        }
    }

    /// truncate(2) by path (no handle).
    async fn truncate_path(&self, path: &str, size: u64) -> Result<(), Errno> {
        let st = self.fresh_status(path).await?;
        let length = match self.writing.lock().get(path) {
            Some(ow) => ow.size(),
            None => st.length,
        };
        if size == length {
            return Ok(());
        }
        if size != 0 {
            tracing::info!(
                path,
                size,
                length,
                "truncate to other than 0 or the length: EOPNOTSUPP"
            );
            return Err(enotsup());
        }
        if self.writing.lock().contains_key(path) {
            // Another handle of this mount is writing it.
            return Err(Errno::EBUSY);
        }
        let opts = CreateOptions::default()
            .with_overwrite(true)
            .with_create_parent(false)
            .with_permission(st.permission & 0o7777);
        let w = self
            .client
            .create(path, opts)
            .await
            .map_err(|e| errno(&e))?;
        w.close().await.map_err(|e| errno(&e))?;
        self.changed(path);
        Ok(())
    }

    async fn rename(&self, src: String, dst: String, flags: RenameFlags) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(einval());
        }
        let from = self.fresh_status(&src).await?;
        if src == dst {
            return Ok(());
        }
        let c = &self.client;
        let target = c.get_file_info(&dst).await.map_err(|e| errno(&e))?;
        match target {
            None => c.rename(&src, &dst, false).await,
            Some(_) if flags.contains(RenameFlags::RENAME_NOREPLACE) => {
                return Err(Errno::EEXIST);
            }
            Some(t) if t.is_file() => {
                if from.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                // Atomic replacement at the namenode.
                c.rename(&src, &dst, true).await
            }
            Some(t) => {
                if !from.is_dir() {
                    return Err(Errno::EISDIR);
                }
                if t.children_num > 0 {
                    return Err(Errno::ENOTEMPTY);
                }
                // HDFS renames *into* an existing directory; POSIX replaces
                // an empty one: remove it first (not atomic).
                match c.delete(&dst, false).await {
                    Ok(_) => c.rename(&src, &dst, false).await,
                    Err(e) => Err(e),
                }
            }
        }
        .map_err(|e| errno(&e))?;
        self.inodes.lock().rename(&src, &dst);
        if let Some(ow) = self.writing.lock().remove(&src) {
            self.writing.lock().insert(dst.clone(), ow);
        }
        self.changed(&src);
        self.changed(&dst);
        Ok(())
    }
}

impl TuskFs {
    pub fn new(rt: Handle, client: DfsClient, cfg: MountConfig) -> Self {
        let ids = IdMap::new(client.user());
        let attrs = AttrCache::new(cfg.attr_ttl);
        TuskFs {
            rt,
            s: Arc::new(Shared {
                client,
                cfg,
                inodes: Mutex::new(InodeTable::new()),
                attrs,
                ids,
                files: Mutex::new(HashMap::new()),
                dirs: Mutex::new(HashMap::new()),
                writing: Mutex::new(HashMap::new()),
                next_fh: AtomicU64::new(1),
            }),
        }
    }

    fn ttl(&self) -> Duration {
        self.s.cfg.attr_ttl
    }

    /// Runs `work` on the runtime (at most `op_timeout`), then `done` with
    /// its result.
    fn spawn<T, F, D>(&self, work: F, done: D)
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Errno>> + Send + 'static,
        D: FnOnce(Result<T, Errno>) + Send + 'static,
    {
        let limit = self.s.cfg.op_timeout;
        self.rt.spawn(async move { done(timed(limit, work).await) });
    }

    fn reply_entry(&self, reply: ReplyEntry) -> impl FnOnce(Result<FileAttr, Errno>) + Send {
        let ttl = self.ttl();
        move |r| match r {
            Ok(attr) => reply.entry(&ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    /// unlink (`dir` false) or rmdir. The kernel checked the type from its
    /// own entry; our cache may know better (EISDIR / ENOTDIR). A
    /// non-recursive delete refuses a non-empty directory (ENOTEMPTY).
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        let s = self.s.clone();
        let path = match s.writable_child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move {
                match s.attrs.get(&path) {
                    Some(st) if dir && st.is_file() => return Err(Errno::ENOTDIR),
                    Some(st) if !dir && st.is_dir() => return Err(Errno::EISDIR),
                    _ => {}
                }
                if !s.client.delete(&path, false).await.map_err(|e| errno(&e))? {
                    return Err(Errno::ENOENT);
                }
                s.inodes.lock().detach(&path);
                s.changed(&path);
                Ok(())
            },
            Self::reply_empty(reply),
        );
    }

    fn reply_empty(reply: ReplyEmpty) -> impl FnOnce(Result<(), Errno>) + Send {
        move |r| match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

impl Filesystem for TuskFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC reaches open (one create instead of setattr + open).
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_ATOMIC_O_TRUNC);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_write(1 << 20);
        Ok(())
    }

    fn destroy(&mut self) {
        // Complete every file still open for writing before the process goes.
        let handles: Vec<_> = self.s.files.lock().drain().collect();
        let mut waits = Vec::new();
        for (_, tx) in handles {
            let (done, wait) = oneshot::channel();
            if tx
                .send(HandleOp::Release {
                    reply: None,
                    done: Some(done),
                })
                .is_ok()
            {
                waits.push(wait);
            }
        }
        if waits.is_empty() {
            return;
        }
        let limit = self.s.cfg.op_timeout;
        let _ = self.rt.block_on(tokio::time::timeout(limit, async move {
            for w in waits {
                let _ = w.await;
            }
        }));
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let s = self.s.clone();
        let path = match s.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move {
                let st = s.status(&path).await?;
                Ok(s.entry(&path, &st))
            },
            self.reply_entry(reply),
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.s.inodes.lock().forget(ino.0, nlookup);
    }

    fn getattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: Option<fuser::FileHandle>,
        reply: ReplyAttr,
    ) {
        let s = self.s.clone();
        let ttl = self.ttl();
        let path = match s.path_of(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move {
                let st = s.status(&path).await?;
                Ok(s.attr(ino.0, &st))
            },
            move |r| match r {
                Ok(a) => reply.attr(&ttl, &a),
                Err(e) => reply.error(e),
            },
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<fuser::FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let s = self.s.clone();
        let ttl = self.ttl();
        let path = match s.path_of(ino).and_then(|p| s.check_writable().map(|_| p)) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move {
                let c = &s.client;
                if let Some(m) = mode {
                    c.set_permission(&path, m & 0o7777)
                        .await
                        .map_err(|e| errno(&e))?;
                }
                if uid.is_some() || gid.is_some() {
                    let owner = uid.map(|u| s.ids.user_name(u)).unwrap_or_default();
                    let group = gid.map(|g| s.ids.group_name(g)).unwrap_or_default();
                    c.set_owner(&path, &owner, &group)
                        .await
                        .map_err(|e| errno(&e))?;
                }
                if let Some(size) = size {
                    let by_handle = match fh {
                        Some(fh) => {
                            let (done, wait) = oneshot::channel();
                            match s.send(fh.0, HandleOp::Truncate { size, done }) {
                                Ok(()) => Some(wait),
                                Err(_) => None,
                            }
                        }
                        None => None,
                    };
                    match by_handle {
                        Some(wait) => wait.await.map_err(|_| Errno::EIO)??,
                        None => s.truncate_path(&path, size).await?,
                    }
                }
                if atime.is_some() || mtime.is_some() {
                    let m = mtime.map(time_to_ms);
                    let a = atime.map(time_to_ms);
                    let pending = s.writing.lock().get(&path).cloned();
                    match pending {
                        // Completing the file would overwrite the mtime.
                        Some(ow) => *ow.times.lock() = Some((m, a)),
                        None => c.set_times(&path, m, a).await.map_err(|e| errno(&e))?,
                    }
                }
                s.changed(&path);
                let st = s.fresh_status(&path).await?;
                let mut a = s.attr(ino.0, &st);
                if let Some(ow) = s.writing.lock().get(&path) {
                    if let Some((m, _)) = *ow.times.lock() {
                        a.mtime = m.map(ms_to_time).unwrap_or(a.mtime);
                    }
                }
                Ok(a)
            },
            move |r| match r {
                Ok(a) => reply.attr(&ttl, &a),
                Err(e) => reply.error(e),
            },
        );
    }

    fn readlink(&self, _req: &Request, _ino: INodeNo, reply: ReplyData) {
        // Tusk has no symbolic links.
        reply.error(einval());
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let s = self.s.clone();
        let path = match s.writable_child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(enotsup());
        }
        self.spawn(
            async move {
                let opts = CreateOptions::default()
                    .with_create_parent(false)
                    .with_permission(mode & !umask & 0o7777);
                let w = s.client.create(&path, opts).await.map_err(|e| errno(&e))?;
                w.close().await.map_err(|e| errno(&e))?;
                s.changed(&path);
                let st = s.fresh_status(&path).await?;
                Ok(s.entry(&path, &st))
            },
            self.reply_entry(reply),
        );
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let s = self.s.clone();
        let path = match s.writable_child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move {
                let c = &s.client;
                // mkdirs succeeds on an existing directory; POSIX says EEXIST.
                if c.get_file_info(&path)
                    .await
                    .map_err(|e| errno(&e))?
                    .is_some()
                {
                    return Err(Errno::EEXIST);
                }
                c.mkdirs(&path, mode & !umask & 0o7777, false)
                    .await
                    .map_err(|e| errno(&e))?;
                s.changed(&path);
                let st = s.fresh_status(&path).await?;
                Ok(s.entry(&path, &st))
            },
            self.reply_entry(reply),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        // Tusk's namespace has no symbolic links.
        reply.error(enotsup());
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        // Nor hard links.
        reply.error(enotsup());
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let s = self.s.clone();
        let paths = s
            .check_writable()
            .and_then(|_| Ok((s.child(parent, name)?, s.child(newparent, newname)?)));
        let (src, dst) = match paths {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        self.spawn(
            async move { s.rename(src, dst, flags).await },
            Self::reply_empty(reply),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let s = self.s.clone();
        let rt = self.rt.clone();
        let path = match s.path_of(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let acc = flags.acc_mode();
        let mode = Mode {
            read: acc != OpenAccMode::O_WRONLY,
            write: acc != OpenAccMode::O_RDONLY,
            append: flags.0 & libc::O_APPEND != 0,
        };
        if mode.write {
            if let Err(e) = s.check_writable() {
                return reply.error(e);
            }
        }
        let trunc = mode.write && flags.0 & libc::O_TRUNC != 0;
        self.spawn(
            async move {
                let st = s.fresh_status(&path).await?;
                if st.is_dir() {
                    return Err(Errno::EISDIR);
                }
                let perm = st.permission & 0o7777;
                let h = FileHandle::new(s.clone(), path.clone(), mode, perm, st.length);
                let h = if trunc {
                    if s.writing.lock().contains_key(&path) {
                        return Err(Errno::EBUSY);
                    }
                    let opts = CreateOptions::default()
                        .with_overwrite(true)
                        .with_create_parent(false)
                        .with_permission(perm);
                    let w = s.client.create(&path, opts).await.map_err(|e| errno(&e))?;
                    s.changed(&path);
                    h.with_writer(w)
                } else if mode.read {
                    // Opened now so a permission error shows at open(2).
                    let r = s.client.open(&path).await.map_err(|e| errno(&e))?;
                    h.with_reader(r)
                } else {
                    h
                };
                Ok(s.start_handle(h, &rt))
            },
            move |r| match r {
                Ok(fh) => reply.opened(fuser::FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(e),
            },
        );
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        if let Err(HandleOp::Read { reply, .. }) = self.s.send(
            fh.0,
            HandleOp::Read {
                offset,
                size,
                reply,
            },
        ) {
            reply.error(Errno::EBADF);
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let op = HandleOp::Write {
            offset,
            data: data.to_vec(),
            reply,
        };
        if let Err(HandleOp::Write { reply, .. }) = self.s.send(fh.0, op) {
            reply.error(Errno::EBADF);
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        if let Err(HandleOp::Flush { reply }) = self.s.send(fh.0, HandleOp::Flush { reply }) {
            reply.error(Errno::EBADF);
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if let Err(HandleOp::Flush { reply }) = self.s.send(fh.0, HandleOp::Flush { reply }) {
            reply.error(Errno::EBADF);
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let tx = self.s.files.lock().remove(&fh.0);
        let op = HandleOp::Release {
            reply: Some(reply),
            done: None,
        };
        match tx {
            Some(tx) => {
                if let Err(e) = tx.send(op) {
                    if let HandleOp::Release {
                        reply: Some(reply), ..
                    } = e.0
                    {
                        reply.ok();
                    }
                }
            }
            None => {
                if let HandleOp::Release {
                    reply: Some(reply), ..
                } = op
                {
                    reply.ok();
                }
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let path = match self.s.path_of(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let fh = self.s.new_fh();
        self.s.dirs.lock().insert(
            fh,
            Arc::new(tokio::sync::Mutex::new(DirCursor::new(path, ino.0))),
        );
        reply.opened(fuser::FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        let Some(cursor) = self.s.dirs.lock().get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let s = self.s.clone();
        let limit = s.cfg.op_timeout;
        self.rt.spawn(async move {
            let mut reply = reply;
            let mut c = cursor.lock().await;
            match timed(limit, c.fill(&s, offset, &mut reply)).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: fuser::FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.s.dirs.lock().remove(&fh.0);
        reply.ok();
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Tusk checks permissions (as the mount's user) on every operation.
        reply.ok();
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: fuser::ReplyXattr,
    ) {
        reply.error(enotsup());
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        // No extended attributes.
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(enotsup());
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(enotsup());
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: fuser::FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Namespace changes are durable at the namenode when they return.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.s.clone();
        self.spawn(
            async move { s.client.fs_stats().await.map_err(|e| errno(&e)) },
            move |r| match r {
                Ok(st) => {
                    let blocks = st.capacity / STATFS_BSIZE;
                    let free = st.remaining / STATFS_BSIZE;
                    // Tusk has no inode limit: report plenty free.
                    let files = st.total_files + (1 << 32);
                    reply.statfs(
                        blocks,
                        free,
                        free,
                        files,
                        1 << 32,
                        STATFS_BSIZE as u32,
                        255,
                        STATFS_BSIZE as u32,
                    )
                }
                Err(e) => reply.error(e),
            },
        );
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let s = self.s.clone();
        let rt = self.rt.clone();
        let ttl = self.ttl();
        let path = match s.writable_child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let acc = flags & libc::O_ACCMODE;
        let hmode = Mode {
            read: acc != libc::O_WRONLY,
            write: true,
            append: flags & libc::O_APPEND != 0,
        };
        let perm = mode & !umask & 0o7777;
        self.spawn(
            async move {
                let opts = CreateOptions::default()
                    .with_overwrite(flags & libc::O_EXCL == 0)
                    .with_create_parent(false)
                    .with_permission(perm);
                let w = s.client.create(&path, opts).await.map_err(|e| errno(&e))?;
                s.changed(&path);
                let h = FileHandle::new(s.clone(), path.clone(), hmode, perm, 0).with_writer(w);
                let fh = s.start_handle(h, &rt);
                match s.fresh_status(&path).await {
                    Ok(st) => Ok((s.entry(&path, &st), fh)),
                    Err(e) => {
                        // Close what was created; the caller sees the error.
                        if let Some(tx) = s.files.lock().remove(&fh) {
                            let _ = tx.send(HandleOp::Release {
                                reply: None,
                                done: None,
                            });
                        }
                        Err(e)
                    }
                }
            },
            move |r| match r {
                Ok((attr, fh)) => reply.created(
                    &ttl,
                    &attr,
                    Generation(0),
                    fuser::FileHandle(fh),
                    FopenFlags::empty(),
                ),
                Err(e) => reply.error(e),
            },
        );
    }
}
