//! Serving the DataTransfer service on an already-bound listener, with a
//! shutdown that really ends every connection: graceful first, then forced.

use crate::node::{Node, CONNECTION_WINDOW, MAX_FRAME, MAX_MESSAGE, STREAM_WINDOW};
use crate::transfer::DataTransferService;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tusk_proto::data_transfer_server::DataTransferServer;

type KillFuture = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A TCP connection that fails every read and write once `kill` fires, so
/// that tonic's connection tasks (which outlive the accept loop) end even
/// when a peer keeps a stream open.
pub(crate) struct KillableIo {
    inner: TcpStream,
    kill: KillFuture,
    killed: bool,
}

impl KillableIo {
    fn new(inner: TcpStream, mut kill: watch::Receiver<bool>) -> Self {
        Self {
            inner,
            kill: Box::pin(async move {
                let _ = kill.wait_for(|k| *k).await;
            }),
            killed: false,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.killed && self.kill.as_mut().poll(cx).is_ready() {
            self.killed = true;
        }
        if self.killed {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "datanode shutting down",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for KillableIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Serves DataTransfer until `stop` fires; then lets open streams finish for
/// up to `grace` and kills the connections that are left.
pub(crate) async fn serve_data(
    node: Arc<Node>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let (kill_tx, kill_rx) = watch::channel(false);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
        s.map(|s| {
            let _ = s.set_nodelay(true);
            KillableIo::new(s, kill_rx.clone())
        })
    });
    let svc = DataTransferServer::new(DataTransferService { node })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut stop2 = stop.clone();
    let serve = tonic::transport::Server::builder()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Whole 64 KiB packets in one HTTP/2 frame instead of four.
        .max_frame_size(MAX_FRAME)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop2.wait_for(|s| *s).await;
        });
    tokio::pin!(serve);
    tokio::select! {
        res = &mut serve => {
            if let Err(e) = res {
                tracing::error!("data transfer server failed: {e}");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    if tokio::time::timeout(grace, &mut serve).await.is_err() {
        tracing::info!("closing data transfer connections still open after {grace:?}");
        kill_tx.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut serve).await;
    }
}
