//! `tokio::io` adapters: [`AsyncDfsReader`] (`AsyncRead`) and
//! [`AsyncDfsWriter`] (`AsyncWrite`), for `tokio::io::copy` and friends.
//!
//! They wrap [`DfsReader`] / [`DfsWriter`] by moving them into a boxed
//! future per operation and taking them back when it completes, so the
//! async methods stay the one implementation.

use crate::error::{DfsError, Result};
use crate::{DfsReader, DfsWriter};
use bytes::{Buf, Bytes};
use futures::future::BoxFuture;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

fn lost() -> io::Error {
    io::Error::other("the DFS stream was lost after an earlier failure")
}

/// A [`DfsReader`] as a `tokio::io::AsyncRead`.
pub struct AsyncDfsReader {
    reader: Option<DfsReader>,
    chunk: Bytes,
    fut: Option<BoxFuture<'static, (DfsReader, Result<Option<Bytes>>)>>,
    eof: bool,
}

impl DfsReader {
    /// Wraps the reader as an `AsyncRead` (reading from its position).
    pub fn into_async_read(self) -> AsyncDfsReader {
        AsyncDfsReader {
            reader: Some(self),
            chunk: Bytes::new(),
            fut: None,
            eof: false,
        }
    }
}

impl AsyncRead for AsyncDfsReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.chunk.is_empty() {
                let n = buf.remaining().min(this.chunk.len());
                buf.put_slice(&this.chunk[..n]);
                this.chunk.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.fut.is_none() {
                let Some(mut r) = this.reader.take() else {
                    return Poll::Ready(Err(lost()));
                };
                this.fut = Some(Box::pin(async move {
                    let res = r.next_chunk().await;
                    (r, res)
                }));
            }
            let Some(fut) = this.fut.as_mut() else {
                return Poll::Ready(Err(lost()));
            };
            let (r, res) = ready!(fut.as_mut().poll(cx));
            this.fut = None;
            this.reader = Some(r);
            match res {
                Ok(Some(b)) => this.chunk = b,
                Ok(None) => this.eof = true,
                Err(e) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

/// A [`DfsWriter`] as a `tokio::io::AsyncWrite`. Writes are accepted into
/// the writer's packet buffer (an error shows on a later call); `flush`
/// waits for pending work; `shutdown` closes the file (Complete) — the file
/// is complete only after a successful shutdown.
pub struct AsyncDfsWriter {
    writer: Option<DfsWriter>,
    fut: Option<BoxFuture<'static, (Option<DfsWriter>, Result<()>)>>,
    closed: bool,
}

impl DfsWriter {
    /// Wraps the writer as an `AsyncWrite`; call `shutdown` to close the file.
    pub fn into_async_write(self) -> AsyncDfsWriter {
        AsyncDfsWriter {
            writer: Some(self),
            fut: None,
            closed: false,
        }
    }
}

impl AsyncDfsWriter {
    /// Drives the pending operation, if any, to completion.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(fut) = self.fut.as_mut() {
            let (w, res) = ready!(fut.as_mut().poll(cx));
            self.fut = None;
            self.writer = w;
            res.map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    fn start(&mut self, f: impl Future<Output = (Option<DfsWriter>, Result<()>)> + Send + 'static) {
        self.fut = Some(Box::pin(f));
    }
}

impl AsyncWrite for AsyncDfsWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if this.closed {
            return Poll::Ready(Err(io::Error::other(DfsError::Protocol(
                "write after shutdown".into(),
            ))));
        }
        let Some(mut w) = this.writer.take() else {
            return Poll::Ready(Err(lost()));
        };
        let data = buf.to_vec();
        this.start(async move {
            let r = w.write(&data).await;
            (Some(w), r)
        });
        // Make progress now; a pending result is picked up by the next call.
        if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        let Some(w) = this.writer.take() else {
            return Poll::Ready(Err(lost()));
        };
        this.closed = true;
        this.start(async move { (None, w.close().await) });
        this.poll_pending(cx)
    }
}
