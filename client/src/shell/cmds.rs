//! The commands of `dfs`, one method each.

use super::args::{parse_flags, Flags};
use super::{format, mode, Shell};
use crate::error::{DfsError, Result};
use crate::glob;
use crate::types::{CreateOptions, FileStatus, TrashChange};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tusk_common::path as tpath;

/// Local I/O buffer: large reads and writes keep `put`/`get` near disk speed.
const LOCAL_BUF: usize = 4 << 20;
/// Transfers smaller than this get no progress bar.
const PROGRESS_MIN: u64 = 16 << 20;
/// Bytes `head` and `tail` show.
const HEAD_TAIL: u64 = 1024;

const NAMES: &[&str] = &[
    "admin",
    "dfsadmin",
    "fsck",
    "appendToFile",
    "cat",
    "checksum",
    "chgrp",
    "chmod",
    "chown",
    "copyFromLocal",
    "copyToLocal",
    "count",
    "cp",
    "df",
    "du",
    "expunge",
    "dus",
    "find",
    "get",
    "getmerge",
    "head",
    "lsr",
    "ls",
    "mkdir",
    "moveFromLocal",
    "mv",
    "put",
    "rm",
    "rmr",
    "rmdir",
    "setrep",
    "stat",
    "tail",
    "test",
    "text",
    "touchz",
    "touch",
];

/// The command name a user's spelling refers to.
pub(super) fn canonical(cmd: &str) -> &str {
    NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(cmd))
        .copied()
        .unwrap_or(cmd)
}

pub(super) fn is_command(cmd: &str) -> bool {
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(cmd))
}

fn progress(total: u64, label: &str) -> Option<indicatif::ProgressBar> {
    if total < PROGRESS_MIN || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style.progress_chars("=> "));
    pb.set_message(label.to_string());
    Some(pb)
}

fn io_err(ctx: &Path, e: std::io::Error) -> DfsError {
    DfsError::io(ctx.display().to_string(), e)
}

/// `get -p`: the local copy gets the file's mode, modification and access
/// times (a directory only its mode and times, not its children's).
fn preserve_local(st: &FileStatus, target: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let t = |ms: u64| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    let times = std::fs::FileTimes::new()
        .set_modified(t(st.mtime_ms))
        .set_accessed(t(st.atime_ms));
    std::fs::File::open(target)
        .and_then(|f| f.set_times(times))
        .map_err(|e| io_err(target, e))?;
    std::fs::set_permissions(
        target,
        std::fs::Permissions::from_mode(st.permission & 0o7777),
    )
    .map_err(|e| io_err(target, e))
}

fn copying(p: &str) -> String {
    format!("{p}._COPYING_")
}

impl Shell {
    pub(super) async fn dispatch(&mut self, cmd: &str, args: &[String]) -> i32 {
        let c = canonical(cmd);
        let r = match c {
            "ls" => self.ls(args, false).await,
            "lsr" => self.ls(args, true).await,
            "mkdir" => self.mkdir(args).await,
            "put" | "copyFromLocal" => self.put(args, false).await,
            "moveFromLocal" => self.put(args, true).await,
            "get" | "copyToLocal" => self.get(args).await,
            "cat" => self.cat(args, false).await,
            "text" => self.cat(args, true).await,
            "head" => self.head(args).await,
            "tail" => self.tail(args).await,
            "rm" => self.rm(args, false).await,
            "rmr" => self.rm(args, true).await,
            "rmdir" => self.rmdir(args).await,
            "expunge" => self.expunge(args).await,
            "mv" => self.mv(args).await,
            "cp" => self.cp(args).await,
            "du" => self.du(args, false).await,
            "dus" => self.du(args, true).await,
            "df" => self.df(args).await,
            "count" => self.count(args).await,
            "stat" => self.stat(args).await,
            "test" => return self.test(args).await,
            "touchz" | "touch" => self.touchz(args).await,
            "setrep" => self.setrep(args).await,
            "chmod" => self.chmod(args).await,
            "chown" => self.chown(args, false).await,
            "chgrp" => self.chown(args, true).await,
            "checksum" => self.checksum(args).await,
            "appendToFile" => self.append_to_file(args).await,
            "getmerge" => self.getmerge(args).await,
            "find" => self.find(args).await,
            "admin" | "dfsadmin" => self.admin(args).await,
            "fsck" => self.fsck(args).await,
            _ => Err(format!("{cmd}: Unknown command")),
        };
        match r {
            Ok(()) => i32::from(self.failed),
            Err(msg) => self.usage_error(c, &msg),
        }
    }

    /// How a path is shown: relative to home when the user typed a
    /// relative path, absolute otherwise.
    fn display(&self, arg: &str, abs: &str) -> String {
        format::display_path(self.fs.home_dir(), arg, abs)
    }

    /// Expands one argument; reports (and returns nothing) when it matches
    /// nothing.
    async fn expand(&mut self, arg: &str) -> Vec<FileStatus> {
        match self.fs.glob(arg).await {
            Ok(v) if v.is_empty() => {
                self.report(arg, &DfsError::FileNotFound { path: arg.into() });
                Vec::new()
            }
            Ok(v) => v,
            Err(e) => {
                self.report(arg, &e);
                Vec::new()
            }
        }
    }

    /// The files `arg` names (a glob), each with the path as shown to the
    /// user; directories are reported as "Is a directory" and skipped.
    async fn expand_files(&mut self, arg: &str) -> Vec<(String, FileStatus)> {
        let mut files = Vec::new();
        for st in self.expand(arg).await {
            let shown = self.display(arg, &st.path);
            if st.is_dir() {
                let e = DfsError::IsDirectory {
                    path: st.path.clone(),
                };
                self.report(&shown, &e);
            } else {
                files.push((shown, st));
            }
        }
        files
    }

    fn flags(&self, args: &[String], known: &[&str]) -> std::result::Result<Flags, String> {
        parse_flags(args, known)
    }

    // ------------------------------------------------------------ ls

    async fn ls(
        &mut self,
        args: &[String],
        force_recursive: bool,
    ) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-R", "-h", "-d", "-C", "-t", "-S", "-r", "-u"])?;
        let o = LsOpts {
            recursive: f.has("-R") || force_recursive,
            human: f.has("-h"),
            path_only: f.has("-C"),
            by_time: f.has("-t"),
            by_size: f.has("-S"),
            reverse: f.has("-r"),
            atime: f.has("-u"),
        };
        let paths = if f.rest.is_empty() {
            vec![".".to_string()]
        } else {
            f.rest.clone()
        };
        for arg in &paths {
            let items = self.expand(arg).await;
            let (dirs, mut files): (Vec<_>, Vec<_>) =
                items.into_iter().partition(|s| s.is_dir() && !f.has("-d"));
            if !files.is_empty() {
                o.arrange(&mut files);
                self.print_ls(arg, &files, &o);
            }
            for d in dirs {
                if let Err(e) = self.ls_dir(arg, &d.path, &o).await {
                    self.report(&self.display(arg, &d.path), &e);
                }
            }
        }
        Ok(())
    }

    fn print_ls(&mut self, arg: &str, items: &[FileStatus], o: &LsOpts) {
        if o.path_only {
            for s in items {
                let l = self.display(arg, &s.path);
                self.line(&l);
            }
            return;
        }
        let disp = |p: &str| self.display(arg, p);
        let lines = format::ls_lines(items, o.human, &disp);
        for l in lines {
            self.line(&l);
        }
    }

    async fn ls_dir(&mut self, arg: &str, dir: &str, o: &LsOpts) -> Result<()> {
        let mut children = self.fs.list(dir).await?;
        o.arrange(&mut children);
        if !o.recursive {
            if !children.is_empty() && !o.path_only {
                self.line(&format!("Found {} items", children.len()));
            }
            self.print_ls(arg, &children, o);
            return Ok(());
        }
        // Depth first, each directory's listing with its own widths: its
        // lines are formatted once, when it is listed.
        let mut stack = vec![self.ls_level(arg, children, o)];
        while let Some((items, lines, i)) = stack.pop() {
            if i >= items.len() {
                continue;
            }
            let item = items[i].clone();
            self.line(&lines[i]);
            stack.push((items, lines, i + 1));
            if item.is_dir() {
                match self.fs.list(&item.path).await {
                    Ok(mut c) => {
                        o.arrange(&mut c);
                        stack.push(self.ls_level(arg, c, o));
                    }
                    Err(e) => self.report(&self.display(arg, &item.path), &e),
                }
            }
        }
        Ok(())
    }

    /// One directory of `ls -R`: its entries, their lines, the next to print.
    fn ls_level(
        &self,
        arg: &str,
        items: Vec<FileStatus>,
        o: &LsOpts,
    ) -> (Vec<FileStatus>, Vec<String>, usize) {
        let lines = if o.path_only {
            items.iter().map(|s| self.display(arg, &s.path)).collect()
        } else {
            format::ls_lines(&items, o.human, &|p: &str| self.display(arg, p))
        };
        (items, lines, 0)
    }

    // ------------------------------------------------------------ mkdir

    async fn mkdir(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-p"])?;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        for arg in &f.rest {
            let r = async {
                if f.has("-p") {
                    return self.fs.mkdirs(arg, 0o755, true).await;
                }
                let p = self.fs.resolve(arg)?;
                if self.fs.exists(&p).await? {
                    return Err(DfsError::AlreadyExists { path: p });
                }
                if let Some(parent) = tpath::parent(&p) {
                    match self.fs.get_file_info(parent).await? {
                        None => return Err(DfsError::FileNotFound { path: p }),
                        Some(s) if !s.is_dir() => return Err(DfsError::NotDirectory { path: p }),
                        _ => {}
                    }
                }
                self.fs.mkdirs(&p, 0o755, false).await
            }
            .await;
            if let Err(e) = r {
                self.report(arg, &e);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ put

    async fn put(&mut self, args: &[String], move_src: bool) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-f", "-p", "-d", "-l"])?;
        if f.rest.len() < 2 {
            return Err("needs a source and a destination".into());
        }
        let (srcs, dst_arg) = f.rest.split_at(f.rest.len() - 1);
        let dst_arg = &dst_arg[0];
        let dst = match self.fs.resolve(dst_arg) {
            Ok(d) => d,
            Err(e) => {
                self.report(dst_arg, &e);
                return Ok(());
            }
        };
        let dst_st = match self.fs.get_file_info(&dst).await {
            Ok(s) => s,
            Err(e) => {
                self.report(dst_arg, &e);
                return Ok(());
            }
        };
        let dst_is_dir = dst_st.as_ref().is_some_and(|s| s.is_dir());
        if srcs.len() > 1 && !dst_is_dir {
            let e = if dst_st.is_none() {
                DfsError::FileNotFound { path: dst.clone() }
            } else {
                DfsError::NotDirectory { path: dst.clone() }
            };
            self.report(dst_arg, &e);
            return Ok(());
        }
        for src in srcs {
            if src == "-" {
                if dst_is_dir {
                    self.report(dst_arg, &DfsError::IsDirectory { path: dst.clone() });
                    continue;
                }
                if let Err(e) = self.upload(None, &dst, f.has("-f"), false).await {
                    self.report(dst_arg, &e);
                }
                continue;
            }
            let local = PathBuf::from(src);
            let name = match local.file_name().and_then(|n| n.to_str()) {
                Some(n) => n.to_string(),
                None => {
                    self.report_msg(src, "invalid source name");
                    continue;
                }
            };
            let target = if dst_is_dir {
                tpath::join(&dst, &name)
            } else {
                dst.clone()
            };
            let meta = match tokio::fs::metadata(&local).await {
                Ok(m) => m,
                Err(e) => {
                    self.report(src, &io_err(&local, e));
                    continue;
                }
            };
            let r = if meta.is_dir() {
                Box::pin(self.upload_dir(&local, &target, f.has("-f"), f.has("-p"))).await
            } else {
                self.upload(Some(&local), &target, f.has("-f"), f.has("-p"))
                    .await
            };
            match r {
                Ok(()) if move_src => {
                    let res = if meta.is_dir() {
                        tokio::fs::remove_dir_all(&local).await
                    } else {
                        tokio::fs::remove_file(&local).await
                    };
                    if let Err(e) = res {
                        self.report(src, &io_err(&local, e));
                    }
                }
                Ok(()) => {}
                // Hadoop's words: `put: The DiskSpace quota of /d is exceeded: …`.
                Err(DfsError::QuotaExceeded { msg, .. }) => {
                    let cmd = if move_src { "moveFromLocal" } else { "put" };
                    let _ = self.out.flush();
                    let _ = writeln!(self.err, "{cmd}: {msg}");
                    self.failed = true;
                }
                Err(e) => {
                    let shown = if dst_is_dir {
                        self.display(dst_arg, &target)
                    } else {
                        dst_arg.clone()
                    };
                    self.report(&shown, &e);
                }
            }
        }
        Ok(())
    }

    async fn upload_dir(
        &mut self,
        local: &Path,
        target: &str,
        overwrite: bool,
        preserve: bool,
    ) -> Result<()> {
        match self.fs.get_file_info(target).await? {
            Some(s) if !s.is_dir() => {
                return Err(DfsError::AlreadyExists {
                    path: target.into(),
                })
            }
            Some(_) if !overwrite => {
                return Err(DfsError::AlreadyExists {
                    path: target.into(),
                })
            }
            Some(_) => {}
            None => self.fs.mkdirs(target, 0o755, false).await?,
        }
        let mut rd = tokio::fs::read_dir(local)
            .await
            .map_err(|e| io_err(local, e))?;
        let mut entries = Vec::new();
        while let Some(e) = rd.next_entry().await.map_err(|e| io_err(local, e))? {
            entries.push(e.path());
        }
        entries.sort();
        for p in entries {
            let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            let t = tpath::join(target, &name);
            let meta = tokio::fs::metadata(&p).await.map_err(|e| io_err(&p, e))?;
            let r = if meta.is_dir() {
                Box::pin(self.upload_dir(&p, &t, overwrite, preserve)).await
            } else {
                self.upload(Some(&p), &t, overwrite, preserve).await
            };
            if let Err(e) = r {
                self.report(&t, &e);
            }
        }
        if preserve {
            self.preserve(local, target).await?;
        }
        Ok(())
    }

    async fn preserve(&self, local: &Path, target: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = tokio::fs::metadata(local)
            .await
            .map_err(|e| io_err(local, e))?;
        let ms = |t: std::io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
        };
        self.fs
            .set_times(target, ms(meta.modified()), ms(meta.accessed()))
            .await?;
        self.fs
            .set_permission(target, meta.permissions().mode() & 0o7777)
            .await
    }

    /// Uploads a local file (`None` = stdin) to `target` through
    /// `target._COPYING_`, removing the temporary file on failure.
    async fn upload(
        &mut self,
        local: Option<&Path>,
        target: &str,
        overwrite: bool,
        preserve: bool,
    ) -> Result<()> {
        if let Some(st) = self.fs.get_file_info(target).await? {
            if st.is_dir() {
                return Err(DfsError::IsDirectory {
                    path: target.into(),
                });
            }
            if !overwrite {
                return Err(DfsError::AlreadyExists {
                    path: target.into(),
                });
            }
        }
        let tmp = copying(target);
        let r = self.upload_to(local, &tmp, target).await;
        let r = match r {
            Ok(()) => self.fs.rename(&tmp, target, overwrite).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            let _ = self.fs.delete(&tmp, false).await;
            return Err(match e {
                DfsError::FileNotFound { .. } => DfsError::FileNotFound {
                    path: target.into(),
                },
                other => other,
            });
        }
        if preserve {
            if let Some(l) = local {
                self.preserve(l, target).await?;
            }
        }
        Ok(())
    }

    async fn upload_to(&mut self, local: Option<&Path>, tmp: &str, target: &str) -> Result<()> {
        let opts = CreateOptions::default()
            .with_overwrite(true)
            .with_create_parent(false);
        let mut reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match local {
            Some(p) => Box::new(tokio::fs::File::open(p).await.map_err(|e| io_err(p, e))?),
            None => Box::new(tokio::io::stdin()),
        };
        let total = match local {
            Some(p) => tokio::fs::metadata(p).await.map(|m| m.len()).unwrap_or(0),
            None => 0,
        };
        let pb = progress(total, tpath::file_name(target));
        let mut w = self.fs.create(tmp, opts).await?;
        let mut buf = bytes::BytesMut::with_capacity(LOCAL_BUF);
        let ctx = local
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("-"));
        loop {
            if buf.capacity() - buf.len() < LOCAL_BUF / 2 {
                buf.reserve(LOCAL_BUF);
            }
            let n = reader
                .read_buf(&mut buf)
                .await
                .map_err(|e| io_err(&ctx, e))?;
            if n == 0 {
                break;
            }
            if buf.len() >= LOCAL_BUF / 2 {
                w.write_bytes(buf.split().freeze()).await?;
            }
            if let Some(pb) = &pb {
                pb.inc(n as u64);
            }
        }
        if !buf.is_empty() {
            w.write_bytes(buf.split().freeze()).await?;
        }
        w.close().await?;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        Ok(())
    }

    // ------------------------------------------------------------ get

    async fn get(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-f", "-p", "-ignoreCrc", "-crc"])?;
        if f.rest.len() < 2 {
            return Err("needs a source and a local destination".into());
        }
        let (srcs, dst) = f.rest.split_at(f.rest.len() - 1);
        let dst = PathBuf::from(&dst[0]);
        let dst_is_dir = dst.is_dir();
        let mut all = Vec::new();
        for s in srcs {
            for st in self.expand(s).await {
                all.push((s.clone(), st));
            }
        }
        if all.len() > 1 && !dst_is_dir {
            self.report(
                &dst.display().to_string(),
                &io_err(
                    &dst,
                    std::io::Error::from(std::io::ErrorKind::NotADirectory),
                ),
            );
            return Ok(());
        }
        for (arg, st) in all {
            let target = if dst_is_dir {
                dst.join(&st.name)
            } else {
                dst.clone()
            };
            let r = if st.is_dir() {
                Box::pin(self.download_dir(&st, &target, f.has("-f"))).await
            } else {
                self.download(&st, &target, f.has("-f")).await
            };
            let r = match r {
                Ok(()) if f.has("-p") => preserve_local(&st, &target),
                other => other,
            };
            if let Err(e) = r {
                let shown = match &e {
                    DfsError::Io { context, .. } => context.clone(),
                    _ => self.display(&arg, &st.path),
                };
                self.report(&shown, &e);
            }
        }
        Ok(())
    }

    async fn download_dir(
        &mut self,
        st: &FileStatus,
        target: &Path,
        overwrite: bool,
    ) -> Result<()> {
        if target.exists() && !target.is_dir() {
            return Err(io_err(
                target,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        tokio::fs::create_dir_all(target)
            .await
            .map_err(|e| io_err(target, e))?;
        for c in self.fs.list(&st.path).await? {
            let t = target.join(&c.name);
            let r = if c.is_dir() {
                Box::pin(self.download_dir(&c, &t, overwrite)).await
            } else {
                self.download(&c, &t, overwrite).await
            };
            if let Err(e) = r {
                self.report(&c.path, &e);
            }
        }
        Ok(())
    }

    /// Downloads a file to `target` through `target._COPYING_`.
    async fn download(&mut self, st: &FileStatus, target: &Path, overwrite: bool) -> Result<()> {
        if target.exists() && !overwrite {
            return Err(io_err(
                target,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let mut tmp = target.as_os_str().to_owned();
        tmp.push("._COPYING_");
        let tmp = PathBuf::from(tmp);
        let r = self.download_to(st, &tmp).await;
        let r = match r {
            Ok(()) => tokio::fs::rename(&tmp, target)
                .await
                .map_err(|e| io_err(target, e)),
            Err(e) => Err(e),
        };
        if r.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        r
    }

    async fn download_to(&mut self, st: &FileStatus, tmp: &Path) -> Result<()> {
        let mut r = self.fs.open(&st.path).await?;
        let file = tokio::fs::File::create(tmp)
            .await
            .map_err(|e| io_err(tmp, e))?;
        let mut w = tokio::io::BufWriter::with_capacity(LOCAL_BUF, file);
        let pb = progress(r.len(), &st.name);
        while let Some(chunk) = r.next_chunk().await? {
            w.write_all(&chunk).await.map_err(|e| io_err(tmp, e))?;
            if let Some(pb) = &pb {
                pb.inc(chunk.len() as u64);
            }
        }
        w.flush().await.map_err(|e| io_err(tmp, e))?;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        Ok(())
    }

    // ------------------------------------------------------------ cat / text / head / tail

    async fn cat(&mut self, args: &[String], text: bool) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-ignoreCrc"])?;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        for arg in &f.rest {
            for (shown, st) in self.expand_files(arg).await {
                if let Err(e) = self.cat_one(&st, text).await {
                    self.report(&shown, &e);
                }
            }
        }
        Ok(())
    }

    async fn cat_one(&mut self, st: &FileStatus, text: bool) -> Result<()> {
        let mut r = self.fs.open(&st.path).await?;
        let mut magic = [0u8; 2];
        let gz = text && r.read_at(0, &mut magic).await? == 2 && magic == [0x1f, 0x8b];
        if gz {
            let mut dec = flate2::write::MultiGzDecoder::new(&mut self.out);
            while let Some(chunk) = r.next_chunk().await? {
                dec.write_all(&chunk)
                    .map_err(|e| DfsError::io(st.path.clone(), e))?;
            }
            dec.finish().map_err(|e| DfsError::io(st.path.clone(), e))?;
            return Ok(());
        }
        while let Some(chunk) = r.next_chunk().await? {
            self.out
                .write_all(&chunk)
                .map_err(|e| DfsError::io("stdout", e))?;
        }
        Ok(())
    }

    async fn head(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &[])?;
        let [arg] = f.rest.as_slice() else {
            return Err("needs exactly one file".into());
        };
        let r = async {
            let st = self.fs.status(arg).await?;
            if st.is_dir() {
                return Err(DfsError::IsDirectory { path: st.path });
            }
            let r = self.fs.open(&st.path).await?;
            let mut buf = vec![0u8; HEAD_TAIL.min(r.len()) as usize];
            let n = r.read_at(0, &mut buf).await?;
            self.out
                .write_all(&buf[..n])
                .map_err(|e| DfsError::io("stdout", e))
        }
        .await;
        if let Err(e) = r {
            self.report(arg, &e);
        }
        Ok(())
    }

    async fn tail(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-f"])?;
        let [arg] = f.rest.as_slice() else {
            return Err("needs exactly one file".into());
        };
        let r = async {
            let st = self.fs.status(arg).await?;
            if st.is_dir() {
                return Err(DfsError::IsDirectory { path: st.path });
            }
            let mut off = st.length.saturating_sub(HEAD_TAIL);
            loop {
                let r = self.fs.open(&st.path).await?;
                if r.len() > off {
                    let mut buf = vec![0u8; (r.len() - off) as usize];
                    let n = r.read_at(off, &mut buf).await?;
                    self.out
                        .write_all(&buf[..n])
                        .map_err(|e| DfsError::io("stdout", e))?;
                    let _ = self.out.flush();
                    off += n as u64;
                }
                if !f.has("-f") {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
        .await;
        if let Err(e) = r {
            self.report(arg, &e);
        }
        Ok(())
    }

    // ------------------------------------------------------------ rm / rmdir / mv / cp

    async fn rm(
        &mut self,
        args: &[String],
        force_recursive: bool,
    ) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-r", "-R", "-f", "-skipTrash", "-safely"])?;
        let recursive = f.has("-r") || f.has("-R") || force_recursive;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        // Hadoop asks the namenode whether the trash is on.
        let mut trash = None;
        for arg in &f.rest {
            let items = match self.fs.glob(arg).await {
                Ok(v) if v.is_empty() => {
                    if !f.has("-f") {
                        self.report(arg, &DfsError::FileNotFound { path: arg.clone() });
                    }
                    continue;
                }
                Ok(v) => v,
                Err(e) => {
                    self.report(arg, &e);
                    continue;
                }
            };
            for st in items {
                let shown = self.display(arg, &st.path);
                if st.is_dir() && !recursive {
                    self.report(
                        &shown,
                        &DfsError::IsDirectory {
                            path: st.path.clone(),
                        },
                    );
                    continue;
                }
                if trash.is_none() && !f.has("-skipTrash") {
                    trash = Some(match self.fs.server_defaults().await {
                        Ok(d) => !d.trash_interval.is_zero(),
                        Err(e) => {
                            self.report(&shown, &e);
                            continue;
                        }
                    });
                }
                let r = if f.has("-skipTrash") || trash == Some(false) {
                    self.fs.delete(&st.path, recursive).await.map(|_| None)
                } else {
                    self.fs.move_to_trash(&st.path).await
                };
                match r {
                    Ok(Some(t)) => self.line(&format!("Moved: '{}' to trash at: {t}", st.path)),
                    Ok(None) => self.line(&format!("Deleted {shown}")),
                    Err(e) => self.report(&shown, &e),
                }
            }
        }
        Ok(())
    }

    async fn expunge(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-immediate"])?;
        if !f.rest.is_empty() {
            return Err(format!("unexpected argument {}", f.rest[0]));
        }
        let root = self.fs.trash_root();
        match self.fs.expunge(f.has("-immediate")).await {
            Ok(changes) => {
                for c in changes {
                    match c {
                        TrashChange::Deleted(p) => {
                            self.line(&format!("Deleted trash checkpoint: {p}"))
                        }
                        TrashChange::Checkpointed(p) => {
                            self.line(&format!("Created trash checkpoint: {p}"))
                        }
                    }
                }
            }
            Err(e) => self.report(&root, &e),
        }
        Ok(())
    }

    async fn rmdir(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["--ignore-fail-on-non-empty"])?;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        for arg in &f.rest {
            for st in self.expand(arg).await {
                let shown = self.display(arg, &st.path);
                if !st.is_dir() {
                    self.report(
                        &shown,
                        &DfsError::NotDirectory {
                            path: st.path.clone(),
                        },
                    );
                    continue;
                }
                match self.fs.delete(&st.path, false).await {
                    Ok(_) => {}
                    Err(DfsError::NotEmpty { .. }) if f.has("--ignore-fail-on-non-empty") => {}
                    Err(e) => self.report(&shown, &e),
                }
            }
        }
        Ok(())
    }

    async fn mv(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &[])?;
        if f.rest.len() < 2 {
            return Err("needs a source and a destination".into());
        }
        let (srcs, dst) = f.rest.split_at(f.rest.len() - 1);
        let dst_arg = &dst[0];
        let dst_st = match self.fs.get_file_info(dst_arg).await {
            Ok(s) => s,
            Err(e) => {
                self.report(dst_arg, &e);
                return Ok(());
            }
        };
        let mut all = Vec::new();
        for s in srcs {
            for st in self.expand(s).await {
                all.push((s.clone(), st));
            }
        }
        let dst_is_dir = dst_st.as_ref().is_some_and(|s| s.is_dir());
        if all.len() > 1 && !dst_is_dir {
            self.report(
                dst_arg,
                &DfsError::NotDirectory {
                    path: dst_arg.clone(),
                },
            );
            return Ok(());
        }
        for (arg, st) in all {
            let r = async {
                let final_dst = if dst_is_dir {
                    tpath::join(&self.fs.resolve(dst_arg)?, &st.name)
                } else {
                    self.fs.resolve(dst_arg)?
                };
                if self.fs.exists(&final_dst).await? {
                    return Err(DfsError::AlreadyExists { path: final_dst });
                }
                self.fs.rename(&st.path, &final_dst, false).await
            }
            .await;
            if let Err(e) = r {
                let shown = match &e {
                    DfsError::AlreadyExists { path } => self.display(dst_arg, path),
                    _ => self.display(&arg, &st.path),
                };
                self.report(&shown, &e);
            }
        }
        Ok(())
    }

    async fn cp(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-f", "-p", "-d"])?;
        if f.rest.len() < 2 {
            return Err("needs a source and a destination".into());
        }
        let (srcs, dst) = f.rest.split_at(f.rest.len() - 1);
        let dst_arg = &dst[0];
        let dst_abs = match self.fs.resolve(dst_arg) {
            Ok(p) => p,
            Err(e) => {
                self.report(dst_arg, &e);
                return Ok(());
            }
        };
        let dst_is_dir = match self.fs.get_file_info(&dst_abs).await {
            Ok(s) => s.is_some_and(|s| s.is_dir()),
            Err(e) => {
                self.report(dst_arg, &e);
                return Ok(());
            }
        };
        let mut all = Vec::new();
        for s in srcs {
            for st in self.expand(s).await {
                all.push((s.clone(), st));
            }
        }
        if all.len() > 1 && !dst_is_dir {
            self.report(dst_arg, &DfsError::NotDirectory { path: dst_abs });
            return Ok(());
        }
        for (arg, st) in all {
            let target = if dst_is_dir {
                tpath::join(&dst_abs, &st.name)
            } else {
                dst_abs.clone()
            };
            if tpath::is_under(&target, &st.path) && st.is_dir() {
                self.report_msg(
                    &self.display(&arg, &st.path),
                    "cannot copy a directory into itself",
                );
                continue;
            }
            let r = Box::pin(self.copy_tree(&st, &target, f.has("-f"), f.has("-p"))).await;
            if let Err(e) = r {
                let shown = match &e {
                    DfsError::AlreadyExists { path } => self.display(dst_arg, path),
                    _ => self.display(&arg, &st.path),
                };
                self.report(&shown, &e);
            }
        }
        Ok(())
    }

    async fn copy_tree(
        &mut self,
        st: &FileStatus,
        target: &str,
        overwrite: bool,
        preserve: bool,
    ) -> Result<()> {
        if st.is_dir() {
            match self.fs.get_file_info(target).await? {
                Some(t) if !t.is_dir() => {
                    return Err(DfsError::AlreadyExists {
                        path: target.into(),
                    })
                }
                Some(_) => {}
                None => self.fs.mkdirs(target, 0o755, false).await?,
            }
            for c in self.fs.list(&st.path).await? {
                let t = tpath::join(target, &c.name);
                if let Err(e) = Box::pin(self.copy_tree(&c, &t, overwrite, preserve)).await {
                    self.report(&c.path, &e);
                }
            }
        } else {
            if let Some(t) = self.fs.get_file_info(target).await? {
                if t.is_dir() {
                    return Err(DfsError::IsDirectory {
                        path: target.into(),
                    });
                }
                if !overwrite {
                    return Err(DfsError::AlreadyExists {
                        path: target.into(),
                    });
                }
            }
            let tmp = copying(target);
            let r = async {
                let mut r = self.fs.open(&st.path).await?;
                let opts = CreateOptions::default()
                    .with_overwrite(true)
                    .with_create_parent(false)
                    .with_replication(st.replication.max(1));
                let mut w = self.fs.create(&tmp, opts).await?;
                let pb = progress(st.length, &st.name);
                while let Some(chunk) = r.next_chunk().await? {
                    w.write(&chunk).await?;
                    if let Some(pb) = &pb {
                        pb.inc(chunk.len() as u64);
                    }
                }
                w.close().await?;
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                self.fs.rename(&tmp, target, overwrite).await
            }
            .await;
            if let Err(e) = r {
                let _ = self.fs.delete(&tmp, false).await;
                return Err(e);
            }
        }
        if preserve {
            self.fs
                .set_times(target, Some(st.mtime_ms), Some(st.atime_ms))
                .await?;
            self.fs.set_permission(target, st.permission).await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ du / df / count / stat / test

    async fn du(
        &mut self,
        args: &[String],
        force_summary: bool,
    ) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-s", "-h", "-v", "-x"])?;
        let summary = f.has("-s") || force_summary;
        let paths = if f.rest.is_empty() {
            vec![".".to_string()]
        } else {
            f.rest.clone()
        };
        if f.has("-v") {
            self.line("SIZE  DISK_SPACE_CONSUMED_WITH_ALL_REPLICAS  FULL_PATH_NAME");
        }
        for arg in &paths {
            let mut rows = Vec::new();
            for st in self.expand(arg).await {
                let targets = if st.is_dir() && !summary {
                    match self.fs.list(&st.path).await {
                        Ok(c) => c,
                        Err(e) => {
                            self.report(&self.display(arg, &st.path), &e);
                            continue;
                        }
                    }
                } else {
                    vec![st]
                };
                for t in targets {
                    match self.fs.content_summary(&t.path).await {
                        Ok(c) => rows.push((c, self.display(arg, &t.path))),
                        Err(e) => self.report(&self.display(arg, &t.path), &e),
                    }
                }
            }
            for l in format::du_lines(&rows, f.has("-h")) {
                self.line(&l);
            }
        }
        Ok(())
    }

    async fn df(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-h"])?;
        match self.fs.fs_stats().await {
            Ok(st) => {
                let name = format!("tusk://{}", self.fs.config().namenode);
                for l in format::df_lines(&name, &st, f.has("-h")) {
                    self.line(&l);
                }
            }
            Err(e) => {
                let p = f.rest.first().cloned().unwrap_or_else(|| "/".into());
                self.report(&p, &e);
            }
        }
        Ok(())
    }

    async fn count(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-q", "-h", "-v", "-u"])?;
        let paths = if f.rest.is_empty() {
            vec![".".to_string()]
        } else {
            f.rest.clone()
        };
        if f.has("-v") {
            self.line(&format::count_header(f.has("-q")));
        }
        for arg in &paths {
            for st in self.expand(arg).await {
                let shown = self.display(arg, &st.path);
                match self.fs.content_summary(&st.path).await {
                    Ok(c) => self.line(&format::count_line(&c, &shown, f.has("-q"), f.has("-h"))),
                    Err(e) => self.report(&shown, &e),
                }
            }
        }
        Ok(())
    }

    async fn stat(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &[])?;
        let (fmt, paths) = match f.rest.as_slice() {
            [] => return Err("missing path".into()),
            [fmt, rest @ ..] if !rest.is_empty() && fmt.contains('%') => {
                (fmt.clone(), rest.to_vec())
            }
            all => ("%y".to_string(), all.to_vec()),
        };
        let fmt = fmt.replace("\\n", "\n").replace("\\t", "\t");
        for arg in &paths {
            for st in self.expand(arg).await {
                self.line(&format::stat_format(&fmt, &st));
            }
        }
        Ok(())
    }

    async fn test(&mut self, args: &[String]) -> i32 {
        let f = match self.flags(args, &["-e", "-d", "-f", "-s", "-z", "-r", "-w"]) {
            Ok(f) => f,
            Err(e) => return self.usage_error("test", &e),
        };
        let ([arg], [flag]) = (f.rest.as_slice(), f.set.as_slice()) else {
            return self.usage_error("test", "needs exactly one of -e -d -f -s -z and one path");
        };
        match self.fs.get_file_info(arg).await {
            Ok(st) => {
                let ok = match (flag.as_str(), &st) {
                    (_, None) => false,
                    ("-e", Some(_)) | ("-r", Some(_)) | ("-w", Some(_)) => true,
                    ("-d", Some(s)) => s.is_dir(),
                    ("-f", Some(s)) => s.is_file(),
                    ("-s", Some(s)) => s.length > 0,
                    ("-z", Some(s)) => s.length == 0,
                    _ => false,
                };
                i32::from(!ok)
            }
            Err(e) => {
                self.report(arg, &e);
                1
            }
        }
    }

    // ------------------------------------------------------------ touchz / setrep / chmod / chown

    async fn touchz(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-a", "-m", "-c"])?;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        for arg in &f.rest {
            let r = async {
                match self.fs.get_file_info(arg).await? {
                    Some(s) if s.is_dir() => Err(DfsError::IsDirectory { path: s.path }),
                    Some(s) if s.length > 0 => {
                        Err(DfsError::InvalidArgument("Not a zero-length file".into()))
                    }
                    Some(s) => {
                        let now = tusk_common::sys::now_ms();
                        self.fs.set_times(&s.path, Some(now), Some(now)).await
                    }
                    None => {
                        let opts = CreateOptions::default().with_create_parent(false);
                        self.fs.create(arg, opts).await?.close().await
                    }
                }
            }
            .await;
            if let Err(e) = r {
                self.report(arg, &e);
            }
        }
        Ok(())
    }

    /// The files at and below each expanded argument (`recursive`) or the
    /// expanded arguments themselves.
    async fn targets(&mut self, arg: &str, recursive: bool) -> Vec<FileStatus> {
        let mut out = Vec::new();
        for st in self.expand(arg).await {
            if recursive && st.is_dir() {
                match self.fs.walk(&st.path).await {
                    Ok(v) => out.extend(v),
                    Err(e) => self.report(&self.display(arg, &st.path), &e),
                }
            } else {
                out.push(st);
            }
        }
        out
    }

    async fn setrep(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-R", "-w"])?;
        let [rep, paths @ ..] = f.rest.as_slice() else {
            return Err("missing replication".into());
        };
        let rep: u32 = match rep.parse() {
            Ok(r) if r >= 1 => r,
            _ => return Err(format!("invalid replication {rep:?}")),
        };
        if paths.is_empty() {
            return Err("missing path".into());
        }
        let mut set = Vec::new();
        for arg in paths {
            // Like Hadoop, a directory means every file below it.
            for st in self.targets(arg, true).await {
                if st.is_dir() {
                    continue;
                }
                let shown = self.display(arg, &st.path);
                match self.fs.set_replication(&st.path, rep).await {
                    Ok(_) => {
                        self.line(&format!("Replication {rep} set: {shown}"));
                        set.push((st.path, shown));
                    }
                    Err(e) => self.report(&shown, &e),
                }
            }
        }
        if f.has("-w") {
            for (path, shown) in set {
                self.wait_replication(&path, &shown, rep).await;
            }
        }
        Ok(())
    }

    async fn chmod(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-R"])?;
        let [m, paths @ ..] = f.rest.as_slice() else {
            return Err("missing mode".into());
        };
        let change = mode::parse(m)?;
        if paths.is_empty() {
            return Err("missing path".into());
        }
        for arg in paths {
            for st in self.targets(arg, f.has("-R")).await {
                let new = change.apply(st.permission, st.is_dir());
                if let Err(e) = self.fs.set_permission(&st.path, new).await {
                    self.report(&self.display(arg, &st.path), &e);
                }
            }
        }
        Ok(())
    }

    async fn chown(
        &mut self,
        args: &[String],
        group_only: bool,
    ) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-R"])?;
        let [spec, paths @ ..] = f.rest.as_slice() else {
            return Err("missing owner".into());
        };
        let (owner, group) = if group_only {
            (None, Some(spec.clone()))
        } else {
            match spec.split_once(':') {
                Some((o, g)) => (
                    Some(o.to_string()).filter(|s| !s.is_empty()),
                    Some(g.to_string()).filter(|s| !s.is_empty()),
                ),
                None => (Some(spec.clone()), None),
            }
        };
        let valid = |s: &Option<String>| {
            s.as_deref().is_none_or(|s| {
                s.chars()
                    .all(|c| c.is_alphanumeric() || "._-@$".contains(c))
            })
        };
        if (owner.is_none() && group.is_none()) || !valid(&owner) || !valid(&group) {
            return Err(format!(
                "'{spec}' does not match expected pattern for [owner][:group]"
            ));
        }
        if paths.is_empty() {
            return Err("missing path".into());
        }
        for arg in paths {
            for st in self.targets(arg, f.has("-R")).await {
                if let Err(e) = self
                    .fs
                    .set_owner(
                        &st.path,
                        owner.as_deref().unwrap_or(""),
                        group.as_deref().unwrap_or(""),
                    )
                    .await
                {
                    self.report(&self.display(arg, &st.path), &e);
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ checksum / appendToFile / getmerge / find

    async fn checksum(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-v"])?;
        if f.rest.is_empty() {
            return Err("missing path".into());
        }
        for arg in &f.rest {
            for (shown, st) in self.expand_files(arg).await {
                match self.fs.file_checksum(&st.path).await {
                    Ok(c) => match c.hex() {
                        Some(h) => self.line(&format!("{shown}\tSHA-256\t{h}")),
                        None => {
                            self.report_msg(&shown, "checksum unknown (the file was appended to)")
                        }
                    },
                    Err(e) => self.report(&shown, &e),
                }
            }
        }
        Ok(())
    }

    async fn append_to_file(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &[])?;
        if f.rest.len() < 2 {
            return Err("needs a local source and a destination".into());
        }
        let (srcs, dst) = f.rest.split_at(f.rest.len() - 1);
        let dst = &dst[0];
        let r = async {
            let mut w = match self.fs.get_file_info(dst).await? {
                Some(s) if s.is_dir() => return Err(DfsError::IsDirectory { path: s.path }),
                Some(_) => self.fs.append(dst).await?,
                None => {
                    self.fs
                        .create(dst, CreateOptions::default().with_create_parent(false))
                        .await?
                }
            };
            let mut buf = vec![0u8; LOCAL_BUF];
            for s in srcs {
                let mut reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if s == "-" {
                    Box::new(tokio::io::stdin())
                } else {
                    let p = Path::new(s);
                    Box::new(tokio::fs::File::open(p).await.map_err(|e| io_err(p, e))?)
                };
                loop {
                    let n = reader
                        .read(&mut buf)
                        .await
                        .map_err(|e| io_err(Path::new(s), e))?;
                    if n == 0 {
                        break;
                    }
                    w.write(&buf[..n]).await?;
                }
            }
            w.close().await
        }
        .await;
        if let Err(e) = r {
            let shown = match &e {
                DfsError::Io { context, .. } => context.clone(),
                _ => dst.clone(),
            };
            self.report(&shown, &e);
        }
        Ok(())
    }

    async fn getmerge(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let f = self.flags(args, &["-nl", "-skip-empty-file"])?;
        let [src, dst] = f.rest.as_slice() else {
            return Err("needs a source and a local destination".into());
        };
        let mut files = Vec::new();
        for st in self.expand(src).await {
            if st.is_dir() {
                match self.fs.list(&st.path).await {
                    Ok(c) => files.extend(c.into_iter().filter(|c| c.is_file())),
                    Err(e) => self.report(&self.display(src, &st.path), &e),
                }
            } else {
                files.push(st);
            }
        }
        let local = PathBuf::from(dst);
        let r = async {
            let file = tokio::fs::File::create(&local)
                .await
                .map_err(|e| io_err(&local, e))?;
            let mut w = tokio::io::BufWriter::with_capacity(LOCAL_BUF, file);
            let total = files.iter().map(|f| f.length).sum();
            let pb = progress(total, dst);
            for st in &files {
                if f.has("-skip-empty-file") && st.length == 0 {
                    continue;
                }
                let mut r = self.fs.open(&st.path).await?;
                while let Some(chunk) = r.next_chunk().await? {
                    w.write_all(&chunk).await.map_err(|e| io_err(&local, e))?;
                    if let Some(pb) = &pb {
                        pb.inc(chunk.len() as u64);
                    }
                }
                if f.has("-nl") {
                    w.write_all(b"\n").await.map_err(|e| io_err(&local, e))?;
                }
            }
            w.flush().await.map_err(|e| io_err(&local, e))?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            Ok::<(), DfsError>(())
        }
        .await;
        if let Err(e) = r {
            self.report(src, &e);
        }
        Ok(())
    }

    async fn find(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let mut paths = Vec::new();
        let mut i = 0;
        while i < args.len() && !args[i].starts_with('-') {
            paths.push(args[i].clone());
            i += 1;
        }
        if paths.is_empty() {
            paths.push(".".into());
        }
        let mut name: Option<(String, bool)> = None;
        let mut ftype: Option<bool> = None; // Some(true) = directories
        while i < args.len() {
            match args[i].as_str() {
                "-name" | "-iname" => {
                    let p = args.get(i + 1).ok_or("-name needs a pattern")?;
                    name = Some((p.clone(), args[i] == "-iname"));
                    i += 2;
                }
                "-type" => {
                    ftype = match args.get(i + 1).map(String::as_str) {
                        Some("d") => Some(true),
                        Some("f") => Some(false),
                        _ => return Err("-type needs f or d".into()),
                    };
                    i += 2;
                }
                "-print" | "-print0" => i += 1,
                other => return Err(format!("unexpected argument {other}")),
            }
        }
        for arg in &paths {
            for st in self.expand(arg).await {
                let walk = self.fs.walk(&st.path).await;
                match walk {
                    Ok(all) => {
                        for e in all {
                            let name_ok = match &name {
                                None => true,
                                Some((p, false)) => glob::matches(p, &e.name),
                                Some((p, true)) => glob::matches_ignore_case(p, &e.name),
                            };
                            let type_ok = ftype.is_none_or(|d| d == e.is_dir());
                            if name_ok && type_ok {
                                let l = self.display(arg, &e.path);
                                self.line(&l);
                            }
                        }
                    }
                    Err(e) => self.report(&self.display(arg, &st.path), &e),
                }
            }
        }
        Ok(())
    }
}

/// How `ls` lists (Hadoop's `Ls` flags).
struct LsOpts {
    recursive: bool,
    human: bool,
    /// `-C`: paths only.
    path_only: bool,
    /// `-t`: newest first.
    by_time: bool,
    /// `-S`: largest first.
    by_size: bool,
    /// `-r`: the other way round.
    reverse: bool,
    /// `-u`: access times instead of modification times, shown and sorted.
    atime: bool,
}

impl LsOpts {
    /// Orders one listing as Hadoop's `Ls` does: by name (the namenode's
    /// order), or newest / largest first; a stable sort, so ties keep the
    /// name order, also when reversed.
    fn arrange(&self, items: &mut [FileStatus]) {
        if self.atime {
            for s in items.iter_mut() {
                s.mtime_ms = s.atime_ms;
            }
        }
        items.sort_by(|a, b| {
            let o = if self.by_time {
                b.mtime_ms.cmp(&a.mtime_ms)
            } else if self.by_size {
                b.length.cmp(&a.length)
            } else {
                a.path.cmp(&b.path)
            };
            if self.reverse {
                o.reverse()
            } else {
                o
            }
        });
    }
}
