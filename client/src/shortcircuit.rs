//! Short-circuit local reads (HDFS's `dfs.client.read.shortcircuit`).
//!
//! A reader on the same host as a replica asks that replica's datanode, over
//! the datanode's UNIX domain socket, for the replica's block file and meta
//! file. The datanode checks the request (this datanode, a finalized replica
//! with that generation stamp, a valid READ block access token) and answers with the
//! two open files as descriptors (`SCM_RIGHTS`), so the client needs no
//! permission on the data directories and the datanode decides who reads.
//! The client then `pread`s the block file and verifies every 512-byte
//! chunk against the CRC32C stored in the meta file, as the network path
//! verifies the CRCs the datanode sends.
//!
//! This module holds both sides' pieces that are not the datanode's policy:
//! the framing of [`pb::ShortCircuitRequest`]/[`pb::ShortCircuitResponse`]
//! (a big-endian u32 length, then the prost message), descriptor passing,
//! the rendezvous directory through which clients find a datanode's socket,
//! and [`LocalReplica`], the verified reader over the two files. The datanode
//! side is `datanode/src/shortcircuit.rs`; the read path's use of it is in
//! `reader.rs`.
//!
//! # Finding the socket
//!
//! The namenode's `DatanodeInfo` names a replica's datanode by host and data
//! address only. Each datanode therefore advertises its socket with a
//! symlink `<rendezvous dir>/<host>_<data port>` → its socket path, where the
//! rendezvous dir is `$TUSK_SHORTCIRCUIT_DIR`, else `<tmp>/tusk-shortcircuit-<euid>`
//! (created mode 0700). A client follows the entry only when the datanode's
//! host is one of this machine's addresses (or the client's configured host
//! identity) and the directory belongs to its own user and is writable by no
//! one else, so a client never takes descriptors from a socket another user
//! could have planted. Every request names the datanode's uuid and the
//! datanode refuses any other, so a stale entry (a datanode gone, its port
//! reused by another cluster) is harmless: the client falls back to the
//! network read.

use bytes::{Bytes, BytesMut};
use prost::Message as _;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tusk_common::blockmeta::{crc_offset, MetaHeader, HEADER_LEN};
use tusk_proto as pb;

/// Environment variable naming the rendezvous directory.
pub const RENDEZVOUS_ENV: &str = "TUSK_SHORTCIRCUIT_DIR";

/// The socket's file name in the datanode's state dir by default.
pub const SOCKET_FILE: &str = "dn_socket";

/// Largest request or response frame (they are a few dozen bytes).
const MAX_FRAME: usize = 64 << 10;

/// How long the client waits for the datanode's answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes per CRC32C: the meta format's only value.
const BPC: u64 = 512;

/// The rendezvous directory: `$TUSK_SHORTCIRCUIT_DIR`, else
/// `<tmp>/tusk-shortcircuit-<euid>`.
pub fn rendezvous_dir() -> PathBuf {
    match std::env::var_os(RENDEZVOUS_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            std::env::temp_dir().join(format!("tusk-shortcircuit-{uid}"))
        }
    }
}

/// The entry a datanode with this advertised host and data port writes in
/// `dir` (characters other than `[A-Za-z0-9.-]` of the host become `_`).
pub fn rendezvous_entry(dir: &Path, host: &str, port: u16) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{host}_{port}"))
}

/// Datanode side: makes `entry` a symlink to `socket` (atomically replacing
/// an older one), creating the rendezvous directory (mode 0700) if needed.
pub fn advertise(entry: &Path, socket: &Path) -> io::Result<()> {
    let dir = entry
        .parent()
        .ok_or_else(|| io::Error::other("rendezvous entry has no directory"))?;
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    check_private_dir(dir)?;
    prune_dangling(dir);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("entry"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(socket, &tmp)?;
    std::fs::rename(&tmp, entry)
}

/// Removes entries whose socket file is gone (datanodes that stopped
/// without withdrawing theirs, e.g. test clusters dropped with their dirs).
fn prune_dangling(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if std::fs::read_link(&p).is_ok() && std::fs::metadata(&p).is_err() {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Datanode side: removes `entry` if it still points at `socket` (a newer
/// datanode on the same address may have replaced it).
pub fn withdraw(entry: &Path, socket: &Path) {
    if std::fs::read_link(entry).is_ok_and(|t| t == socket) {
        let _ = std::fs::remove_file(entry);
    }
}

/// Client side: the socket path to try for a datanode advertised as `host`
/// with DataTransfer address `data_addr`, when it is on this host and its
/// rendezvous entry is trustworthy (blocking: file system checks).
pub fn find_socket(
    host: &str,
    data_addr: &str,
    client_host: Option<&str>,
) -> Result<PathBuf, LocalError> {
    if !is_local_host(host, client_host) {
        return Err(LocalError::unavailable(format!("{host} is not this host")));
    }
    let port = data_addr
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .ok_or_else(|| LocalError::unavailable(format!("bad datanode address {data_addr:?}")))?;
    let dir = rendezvous_dir();
    check_private_dir(&dir).map_err(|e| LocalError::unavailable(format!("rendezvous dir: {e}")))?;
    Ok(rendezvous_entry(&dir, host, port))
}

/// The directory belongs to this process's user and nobody else may write
/// in it (what makes its entries trustworthy).
fn check_private_dir(dir: &Path) -> io::Result<()> {
    let md = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !md.is_dir() {
        return Err(io::Error::other(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    if md.uid() != uid {
        return Err(io::Error::other(format!(
            "{}: owned by uid {}, not {uid}",
            dir.display(),
            md.uid()
        )));
    }
    if md.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{}: writable by group or others (mode {:o})",
            dir.display(),
            md.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Whether `host` (a datanode's advertised host) is this machine: the
/// client's configured host identity, or an address this process can bind.
/// Answers are cached per host for the life of the process.
pub fn is_local_host(host: &str, client_host: Option<&str>) -> bool {
    if client_host.is_some_and(|c| c == host) {
        return true;
    }
    static CACHE: OnceLock<parking_lot::Mutex<HashMap<String, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(&v) = cache.lock().get(host) {
        return v;
    }
    let local = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::UdpSocket::bind((ip, 0)).is_ok(),
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
            .map(|mut addrs| addrs.any(|a| std::net::UdpSocket::bind((a.ip(), 0)).is_ok()))
            .unwrap_or(false),
    };
    cache.lock().insert(host.to_string(), local);
    local
}

/// One message as a frame: big-endian u32 length, then the bytes.
pub fn encode_frame<M: prost::Message>(m: &M) -> Vec<u8> {
    let body = m.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads one frame's body from `r`, given the bytes of it already read.
pub fn read_frame(r: &mut impl Read, mut have: Vec<u8>) -> io::Result<Vec<u8>> {
    if have.len() < 4 {
        let mut rest = vec![0u8; 4 - have.len()];
        r.read_exact(&mut rest)?;
        have.extend_from_slice(&rest);
    }
    let len = u32::from_be_bytes([have[0], have[1], have[2], have[3]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut body = have.split_off(4);
    if body.len() > len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bytes after the frame",
        ));
    }
    let start = body.len();
    body.resize(len, 0);
    r.read_exact(&mut body[start..])?;
    Ok(body)
}

/// Sends `data` on a UNIX stream socket with `fds` attached to its first
/// byte (`SCM_RIGHTS`). The descriptors stay open here.
pub fn send_with_fds(sock: &UnixStream, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if data.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors need at least one byte of data",
        ));
    }
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    // u64 words: the control buffer must be aligned for cmsghdr.
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = space as _;
        // SAFETY: msg_control points at `space` bytes, enough for one
        // header with `fd_bytes` of data (CMSG_SPACE); the header and data
        // are written inside that buffer.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr() as *const u8,
                libc::CMSG_DATA(cmsg),
                fd_bytes,
            );
        }
    }
    let sent = loop {
        // SAFETY: msg and everything it points to outlive the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // The descriptors went with the first byte; the rest is plain data.
    let mut w = sock;
    w.write_all(&data[sent..])
}

/// Receives into `buf` and takes up to `max_fds` descriptors passed with
/// the data (close-on-exec). Returns the bytes read and the descriptors.
pub fn recv_with_fds(
    sock: &UnixStream,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let fd_bytes = max_fds * std::mem::size_of::<RawFd>();
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: msg points at live buffers of the sizes it states.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control with well-formed headers within
    // msg_controllen; each SCM_RIGHTS payload is an array of descriptors now
    // owned by this process (wrapped at once so they are closed on error).
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(cmsg) as *const RawFd;
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than {max_fds} descriptors sent"),
        ));
    }
    Ok((n, fds))
}

/// Why a short-circuit read failed, and whether the replica is corrupt
/// (a stored CRC disagrees with the data) or only unavailable this way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalError {
    pub cause: String,
    pub checksum: bool,
}

impl LocalError {
    fn unavailable(cause: impl Into<String>) -> Self {
        Self {
            cause: cause.into(),
            checksum: false,
        }
    }
}

impl std::fmt::Display for LocalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cause)
    }
}

/// A finalized replica opened through its datanode's socket.
#[derive(Debug)]
pub struct LocalReplica {
    data: File,
    meta: File,
    /// Replica length from the meta header.
    len: u64,
    /// Where the socket answered (for messages).
    socket: PathBuf,
}

/// How a datanode's refusal of a block access token starts (HDFS's
/// exception class), on the network and on the domain socket.
pub const INVALID_TOKEN: &str = "InvalidBlockTokenException";

/// Asks the datanode behind `socket` for the files of `blk_<id>_<genstamp>`,
/// with the READ block access token from the block's locations. Blocking:
/// call it from `spawn_blocking`.
pub fn request_replica(
    socket: &Path,
    block_id: u64,
    genstamp: u64,
    datanode_uuid: &str,
    client_name: &str,
    access_token: &Bytes,
) -> Result<LocalReplica, LocalError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        LocalError::unavailable(format!(
            "short-circuit socket {}: {what}: {e}",
            socket.display()
        ))
    };
    let sock = UnixStream::connect(socket).map_err(|e| fail("connect", &e))?;
    sock.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|_| sock.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| fail("set time-out", &e))?;
    let req = pb::ShortCircuitRequest {
        block_id,
        genstamp,
        datanode_uuid: datanode_uuid.to_string(),
        access_token: access_token.clone(),
        client_name: client_name.to_string(),
    };
    (&sock)
        .write_all(&encode_frame(&req))
        .map_err(|e| fail("send request", &e))?;
    let mut buf = vec![0u8; 512];
    let (n, fds) = recv_with_fds(&sock, &mut buf, 2).map_err(|e| fail("receive", &e))?;
    if n == 0 {
        return Err(fail("receive", &"closed without an answer"));
    }
    buf.truncate(n);
    let body = read_frame(&mut &sock, buf).map_err(|e| fail("receive", &e))?;
    let resp =
        pb::ShortCircuitResponse::decode(body.as_slice()).map_err(|e| fail("bad answer", &e))?;
    let status = pb::ShortCircuitStatus::try_from(resp.status)
        .unwrap_or(pb::ShortCircuitStatus::ShortCircuitUnsupported);
    if status != pb::ShortCircuitStatus::ShortCircuitGranted {
        return Err(LocalError::unavailable(format!(
            "short-circuit read of blk_{block_id}_{genstamp} refused by {}: {}",
            socket.display(),
            resp.message
        )));
    }
    if resp.datanode_uuid != datanode_uuid {
        return Err(fail(
            "wrong datanode",
            &format!("{} answered for {datanode_uuid}", resp.datanode_uuid),
        ));
    }
    let mut fds = fds.into_iter();
    let (Some(data), Some(meta), None) = (fds.next(), fds.next(), fds.next()) else {
        return Err(fail("granted", &"without exactly two descriptors"));
    };
    LocalReplica::from_files(File::from(data), File::from(meta), socket.to_path_buf())
}

impl LocalReplica {
    /// Checks the meta header (a finalized replica, 512-byte chunks) and
    /// that the block file is as long as it says.
    pub fn from_files(data: File, meta: File, socket: PathBuf) -> Result<Self, LocalError> {
        let h = read_header(&meta)?;
        if !h.is_finalized() {
            return Err(LocalError::unavailable("replica is not finalized"));
        }
        if h.bytes_per_checksum as u64 != BPC {
            return Err(LocalError::unavailable(format!(
                "meta header: {} bytes per checksum (only {BPC} is read locally)",
                h.bytes_per_checksum
            )));
        }
        let flen = data
            .metadata()
            .map_err(|e| LocalError::unavailable(format!("block file: {e}")))?
            .len();
        if flen < h.len {
            return Err(LocalError::unavailable(format!(
                "block file has {flen} bytes, meta header says {}",
                h.len
            )));
        }
        Ok(Self {
            data,
            meta,
            len: h.len,
            socket,
        })
    }

    /// Bytes in the replica.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The socket that handed the files over.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Reads block bytes `[offset, end)` (`end` within the replica), reading
    /// and verifying whole chunks around them. A CRC mismatch is a checksum
    /// error unless the replica was reopened for append meanwhile (its meta
    /// header no longer finalized), which is only "unavailable".
    pub fn read(&self, offset: u64, end: u64) -> Result<Bytes, LocalError> {
        if end > self.len || offset > end {
            return Err(LocalError::unavailable(format!(
                "range {offset}..{end} outside the replica's {} bytes",
                self.len
            )));
        }
        if offset == end {
            return Ok(Bytes::new());
        }
        let start = offset / BPC * BPC;
        let stop = end.div_ceil(BPC).saturating_mul(BPC).min(self.len);
        let mut buf = BytesMut::zeroed((stop - start) as usize);
        self.data
            .read_exact_at(&mut buf, start)
            .map_err(|e| LocalError::unavailable(format!("block file at offset {start}: {e}")))?;
        let chunks = (stop - start).div_ceil(BPC) as usize;
        let mut crc_bytes = vec![0u8; chunks * 4];
        self.meta
            .read_exact_at(&mut crc_bytes, crc_offset(start / BPC))
            .map_err(|e| LocalError::unavailable(format!("meta file: {e}")))?;
        for (i, (chunk, want)) in buf
            .chunks(BPC as usize)
            .zip(crc_bytes.chunks(4))
            .enumerate()
        {
            let want = u32::from_be_bytes([want[0], want[1], want[2], want[3]]);
            if crc32c::crc32c(chunk) != want {
                let at = start + i as u64 * BPC;
                return match read_header(&self.meta) {
                    Ok(h) if h.is_finalized() && h.len == self.len => Err(LocalError {
                        cause: format!("checksum error at block offset {at} (short-circuit read)"),
                        checksum: true,
                    }),
                    _ => Err(LocalError::unavailable(
                        "replica changed while being read (reopened for append)",
                    )),
                };
            }
        }
        let buf = buf.freeze();
        Ok(buf.slice((offset - start) as usize..(end - start) as usize))
    }
}

fn read_header(meta: &File) -> Result<MetaHeader, LocalError> {
    let mut h = [0u8; HEADER_LEN];
    meta.read_exact_at(&mut h, 0)
        .map_err(|e| LocalError::unavailable(format!("meta header: {e}")))?;
    MetaHeader::decode(&h).map_err(|e| LocalError::unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tusk_common::blockmeta::{FLAG_FINALIZED, VERSION};

    fn write_replica(dir: &Path, data: &[u8]) -> (File, File) {
        let dp = dir.join("blk_1");
        let mp = dir.join("blk_1_1.meta");
        std::fs::write(&dp, data).unwrap();
        let h = MetaHeader {
            version: VERSION,
            flags: FLAG_FINALIZED,
            bytes_per_checksum: 512,
            len: data.len() as u64,
            sha256: [0; 32],
        };
        let mut m = h.encode().to_vec();
        for c in data.chunks(512) {
            m.extend_from_slice(&crc32c::crc32c(c).to_be_bytes());
        }
        std::fs::write(&mp, m).unwrap();
        (File::open(dp).unwrap(), File::open(mp).unwrap())
    }

    #[test]
    fn passes_descriptors_over_a_socket_pair() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let (d, m) = write_replica(dir.path(), &data);
        let (a, b) = UnixStream::pair().unwrap();
        let frame = encode_frame(&pb::ShortCircuitResponse {
            status: pb::ShortCircuitStatus::ShortCircuitGranted as i32,
            message: String::new(),
            datanode_uuid: "dn".into(),
            replica_length: data.len() as u64,
        });
        send_with_fds(&a, &frame, &[d.as_raw_fd(), m.as_raw_fd()]).unwrap();
        // The sender's copies may close: the receiver holds its own.
        drop((d, m));
        let mut buf = vec![0u8; 3];
        let (n, fds) = recv_with_fds(&b, &mut buf, 2).unwrap();
        assert_eq!(fds.len(), 2);
        buf.truncate(n);
        let body = read_frame(&mut &b, buf).unwrap();
        let resp = pb::ShortCircuitResponse::decode(body.as_slice()).unwrap();
        assert_eq!(resp.datanode_uuid, "dn");
        let mut fds = fds.into_iter();
        let r = LocalReplica::from_files(
            File::from(fds.next().unwrap()),
            File::from(fds.next().unwrap()),
            PathBuf::from("pair"),
        )
        .unwrap();
        assert_eq!(r.len(), 3000);
        assert_eq!(&r.read(0, 3000).unwrap()[..], &data[..]);
        assert_eq!(&r.read(700, 1100).unwrap()[..], &data[700..1100]);
        assert_eq!(&r.read(2999, 3000).unwrap()[..], &data[2999..]);
        assert!(r.read(10, 10).unwrap().is_empty());
        assert!(r.read(0, 3001).is_err());
    }

    #[test]
    fn no_descriptors_and_too_many() {
        let (a, b) = UnixStream::pair().unwrap();
        send_with_fds(&a, b"hi", &[]).unwrap();
        let mut buf = [0u8; 8];
        let (n, fds) = recv_with_fds(&b, &mut buf, 2).unwrap();
        assert_eq!((&buf[..n], fds.len()), (&b"hi"[..], 0));
        let f = File::open("/dev/null").unwrap();
        let fd = f.as_raw_fd();
        send_with_fds(&a, b"x", &[fd, fd, fd]).unwrap();
        let e = recv_with_fds(&b, &mut buf, 2).unwrap_err();
        assert!(e.to_string().contains("more than 2"), "{e}");
    }

    #[test]
    fn detects_a_corrupt_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![5u8; 2048];
        let (d, m) = write_replica(dir.path(), &data);
        drop(d);
        let mut bad = data.clone();
        bad[1500] ^= 1;
        std::fs::write(dir.path().join("blk_1"), &bad).unwrap();
        let d = File::open(dir.path().join("blk_1")).unwrap();
        let r = LocalReplica::from_files(d, m, PathBuf::from("x")).unwrap();
        assert!(r.read(0, 1024).is_ok());
        let e = r.read(1000, 2048).unwrap_err();
        assert!(e.checksum, "{e}");
        assert!(e.cause.contains("offset 1024"), "{e}");
    }

    #[test]
    fn refuses_an_unfinalized_replica() {
        let dir = tempfile::tempdir().unwrap();
        let (d, _) = write_replica(dir.path(), &[1; 10]);
        let mp = dir.path().join("blk_1_1.meta");
        std::fs::write(&mp, MetaHeader::unfinalized(512).encode()).unwrap();
        let e = LocalReplica::from_files(d, File::open(mp).unwrap(), "x".into()).unwrap_err();
        assert!(!e.checksum && e.cause.contains("not finalized"), "{e}");
    }

    #[test]
    fn rendezvous_entries_and_private_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let rdv = dir.path().join("rdv");
        let e = rendezvous_entry(&rdv, "::1", 9866);
        assert_eq!(e.file_name().unwrap(), "__1_9866");
        let sock = dir.path().join("s");
        std::fs::write(&sock, b"").unwrap();
        advertise(&e, &sock).unwrap();
        assert_eq!(std::fs::read_link(&e).unwrap(), sock);
        assert_eq!(
            std::fs::metadata(&rdv).unwrap().mode() & 0o777,
            0o700,
            "created private"
        );
        let gone = rendezvous_entry(&rdv, "10.0.0.9", 1);
        std::os::unix::fs::symlink(dir.path().join("no-such-socket"), &gone).unwrap();
        advertise(&e, &sock).unwrap();
        assert!(gone.symlink_metadata().is_err(), "dangling entry pruned");
        assert!(e.symlink_metadata().is_ok(), "live entry kept");
        withdraw(&e, Path::new("/elsewhere"));
        assert!(e.symlink_metadata().is_ok(), "kept: not ours");
        withdraw(&e, &sock);
        assert!(e.symlink_metadata().is_err());
        std::fs::set_permissions(&rdv, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_private_dir(&rdv).is_err());
        assert!(is_local_host("127.0.0.1", None));
        assert!(is_local_host("dn7", Some("dn7")));
    }
}
