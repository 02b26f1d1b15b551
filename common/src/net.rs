//! Serving gRPC on an already-bound listener with a shutdown that really
//! ends every connection: graceful first (open calls may finish for a
//! grace period), then cut. tonic's connection tasks outlive its accept
//! loop, so without the cut a stopped daemon would keep answering peers on
//! connections opened before the stop (e.g. a datanode restarted on the
//! same port, or a client that keeps a stream open).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::transport::server::{Connected, Router, TcpConnectInfo};

type KillFuture = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A TCP connection that fails every read and write once `kill` fires, so
/// that tonic's connection tasks (which outlive the accept loop) end even
/// when a peer keeps a stream open.
pub struct KillableIo {
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
                "server shutting down",
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

/// Serves `router` until `stop` fires; then lets open calls finish for up to
/// `grace` and cuts the connections that are left. `what` names the server
/// in log lines.
pub async fn serve_grpc(
    router: Router,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    what: &'static str,
) {
    let (kill_tx, kill_rx) = watch::channel(false);
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
        s.map(|s| {
            let _ = s.set_nodelay(true);
            KillableIo::new(s, kill_rx.clone())
        })
    });
    let mut stop2 = stop.clone();
    let serve = router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop2.wait_for(|s| *s).await;
    });
    tokio::pin!(serve);
    tokio::select! {
        res = &mut serve => {
            if let Err(e) = res {
                tracing::error!("{what} server failed: {e}");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    if tokio::time::timeout(grace, &mut serve).await.is_err() {
        tracing::info!("closing {what} connections still open after {grace:?}");
        kill_tx.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut serve).await;
    }
}

/// Serves an HTTP `router` (status pages, `/metrics`) until `stop` fires,
/// letting open requests finish; failures are logged naming `what`.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) {
    let res = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = res {
        tracing::error!("{what} HTTP server failed: {e}");
    }
}

/// Waits for SIGTERM or SIGINT: how every daemon is told to stop.
pub async fn wait_for_stop_signal() -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// `host:port` as peers should dial it, bracketing IPv6 hosts.
pub fn advertised(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host a daemon advertises: the configured one, else the bound IP,
/// else 127.0.0.1 for a wildcard bind. Datanodes and node managers use the
/// same rule, so the two daemons of a machine agree by default (locality).
pub fn host_identity(configured: Option<&str>, bound: std::net::SocketAddr) -> String {
    match configured {
        Some(h) if !h.is_empty() => h.to_string(),
        _ if bound.ip().is_unspecified() => "127.0.0.1".to_string(),
        _ => bound.ip().to_string(),
    }
}
