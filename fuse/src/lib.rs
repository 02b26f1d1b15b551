//! `dfs-fuse`: a Tusk namespace as a directory ordinary programs use.
//!
//! The mount acts as one Tusk user (`--user`, else the process owner);
//! Tusk checks every operation's permissions as that user.
//!
//! # Layout
//! - [`options`]: [`MountConfig`], what a mount is configured with.
//! - [`mount`]: mounting (mount syscall as root, fusermount3 for
//!   `--auto-unmount`), the signal loop, clean unmount.
//! - [`fs`]: [`fs::TuskFs`], the `fuser::Filesystem`; every callback hands
//!   its work to a tokio runtime so the session thread never blocks.
//! - [`handle`]: open files (one task per handle: ordered reads with
//!   read-ahead, sequential writes with HDFS semantics made friendly).
//! - [`dir`]: directory handles paging through `list_page`.
//! - [`inodes`]: the inode number ↔ path table (renames move numbers).
//! - [`cache`]: the attribute cache (TTL `--attr-ttl`) and owner ↔ uid map.
//! - [`errno`]: client errors → errno, in one place.

pub mod cache;
pub mod dir;
pub mod errno;
pub mod fs;
pub mod handle;
pub mod inodes;
pub mod mount;
pub mod options;

pub use options::MountConfig;
