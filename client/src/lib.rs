//! Tusk's client library and the `dfs` shell.
//!
//! ```no_run
//! # async fn demo() -> tusk_client::Result<()> {
//! use tusk_client::{ClientConfig, CreateOptions, DfsClient};
//! let fs = DfsClient::connect(ClientConfig::from_env()).await?;
//! fs.mkdirs("/data", 0o755, true).await?;
//! let mut w = fs.create("/data/a.txt", CreateOptions::default()).await?;
//! w.write(b"hello").await?;
//! w.close().await?;
//! let bytes = fs.read_file("/data/a.txt").await?;
//! assert_eq!(bytes, b"hello");
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`ClientConfig`] (namenode address, user, defaults for new
//!   files) and its lookup from the environment.
//! - [`client`]: [`DfsClient`]: the namenode connection (user interceptor,
//!   retry while unreachable), namespace calls, listing, trash.
//! - [`writer`]: [`DfsWriter`]: create/append, block pipelines, packets and
//!   acks, whole-file SHA-256, lease renewal.
//! - [`reader`]: [`DfsReader`]: block reads with checksum verification and
//!   replica fall-back, positional reads.
//! - [`shortcircuit`]: short-circuit local reads — replica files handed
//!   over a datanode's UNIX domain socket, read and CRC-checked in place
//!   (the datanode side reuses its framing and descriptor passing).
//! - [`io`]: `tokio::io::AsyncRead`/`AsyncWrite` adapters of the two.
//! - [`packet`]: CRC32C chunking of the data transfer protocol (pure).
//! - [`glob`]: Hadoop-style glob matching and expansion.
//! - [`types`]: the public domain types; `convert` maps them from proto.
//! - [`error`]: [`DfsError`], mapped from gRPC statuses in one place.
//! - [`shell`]: the `dfs` command line (argument parsing, commands, output
//!   formats); `src/bin/dfs.rs` only calls [`shell::main`].

pub mod client;
pub mod config;
mod convert;
pub mod error;
pub mod glob;
pub mod io;
pub mod packet;
pub mod reader;
pub mod shell;
pub mod shortcircuit;
pub mod types;
pub mod writer;

pub use client::{DfsClient, ListPage};
pub use config::ClientConfig;
pub use error::{DfsError, Result};
pub use io::{AsyncDfsReader, AsyncDfsWriter};
pub use reader::DfsReader;
pub use types::*;
pub use writer::DfsWriter;

/// Compile-time checks: handles and their futures can cross tasks.
#[cfg(test)]
#[allow(dead_code)]
mod send_checks {
    use super::*;

    fn send<T: Send>(_: T) {}

    fn futures_are_send(c: DfsClient, mut w: DfsWriter, mut r: DfsReader) {
        send(c.clone());
        send(c.create("/x", CreateOptions::default()));
        send(c.open("/x"));
        send(c.glob("/x/*"));
        send(c.list("/x"));
        send(c.move_to_trash("/x"));
        send(w.write(b"x"));
        send(r.read(&mut [0u8; 1]));
        send(r.read_at(0, &mut [0u8; 1]));
        send(w.close());
    }

    /// The shapes the workspace's integration tests rely on.
    #[allow(clippy::needless_borrows_for_generic_args)]
    async fn api_shapes(c: DfsClient) -> Result<()> {
        let sum = c.file_checksum("/f").await?;
        let _hex: String = hex::encode(sum);
        let blocks: Vec<LocatedBlock> = c.block_locations("/f").await?;
        let _uuids: Vec<String> = blocks[0].locations.iter().map(|d| d.uuid.clone()).collect();
        let _id: u64 = blocks[0].block_id;
        let page = c.list_page("/d", "").await?;
        let _more: bool = page.remaining > 0 && page.has_more();
        let names: Vec<String> = c.list("/d").await?.into_iter().map(|s| s.name).collect();
        let _ = names;
        let st: Option<FileStatus> = c.get_file_info("/f").await?;
        c.set_owner("/f", "alice", "").await?;
        let _perm: u32 = st.map(|s| s.permission).unwrap_or(0);
        let _cfg = ClientConfig::default()
            .with_namenode("127.0.0.1:1".to_string())
            .with_user(&"u".to_string());
        Ok(())
    }

    fn adapters_are_send(w: DfsWriter, r: DfsReader) {
        send(w.into_async_write());
        send(r.into_async_read());
    }
}
