//! Serving gRPC on an already-bound listener with a shutdown that really
//! ends every connection: graceful first (open calls may finish for a
//! grace period), then cut. tonic's connection tasks outlive its accept
//! loop, so without the cut a stopped daemon would keep answering peers on
//! connections opened before the stop (e.g. a datanode restarted on the
//! same port, or a client that keeps a stream open).
//!
//! Both servers here also apply the `[limits]` of the config
//! ([`LimitsConfig`]): a gRPC connection must send its preface within a
//! time-out and is pinged while idle; an HTTP client must send each request
//! header within a time-out. The per-message size limit is set on each
//! tonic service (`max_decoding_message_size(limits.max_message())`).

use crate::config::LimitsConfig;
use std::future::Future;
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
/// It also fails reads when the peer has sent nothing at all within the
/// handshake time-out (a connection opened and left silent).
pub struct KillableIo {
    inner: TcpStream,
    kill: KillFuture,
    killed: bool,
    /// Until the first byte arrives: when the peer must have spoken.
    handshake: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl KillableIo {
    fn new(inner: TcpStream, mut kill: watch::Receiver<bool>, handshake: Duration) -> Self {
        Self {
            inner,
            kill: Box::pin(async move {
                let _ = kill.wait_for(|k| *k).await;
            }),
            killed: false,
            handshake: Some(Box::pin(tokio::time::sleep(handshake))),
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
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.handshake.is_some() {
            if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
                self.handshake = None;
            } else if res.is_pending()
                && self
                    .handshake
                    .as_mut()
                    .is_some_and(|h| h.as_mut().poll(cx).is_ready())
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "peer sent nothing within the handshake time-out",
                )));
            }
        }
        res
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

/// A gRPC server builder with the connection limits of `limits`: streams
/// per connection, HTTP/2 keep-alive pings, TCP keep-alive. Add services
/// (each with `max_decoding_message_size(limits.max_message())`) and pass
/// the router to [`serve_grpc_with`].
pub fn grpc_server(limits: &LimitsConfig) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(limits.rpc_max_concurrent_streams.max(1)))
        .http2_keepalive_interval(Some(limits.rpc_keepalive_interval.0))
        .http2_keepalive_timeout(Some(limits.rpc_keepalive_timeout.0))
        .tcp_keepalive(Some(limits.rpc_keepalive_interval.0))
}

/// [`serve_grpc_with`] with the default limits.
pub async fn serve_grpc(
    router: Router,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    grace: Duration,
    what: &'static str,
) {
    serve_grpc_with(
        router,
        listener,
        stop,
        grace,
        what,
        &LimitsConfig::default(),
    )
    .await
}

/// Serves `router` until `stop` fires; then lets open calls finish for up to
/// `grace` and cuts the connections that are left. `what` names the server
/// in log lines. A connection that sends nothing within
/// `limits.rpc_handshake_timeout` is closed.
pub async fn serve_grpc_with(
    router: Router,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    what: &'static str,
    limits: &LimitsConfig,
) {
    let (kill_tx, kill_rx) = watch::channel(false);
    let handshake = limits.rpc_handshake_timeout.0;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
        s.map(|s| {
            let _ = s.set_nodelay(true);
            KillableIo::new(s, kill_rx.clone(), handshake)
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

/// [`serve_http_with`] with the default limits.
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    stop: watch::Receiver<bool>,
    what: &'static str,
) {
    serve_http_with(listener, router, stop, what, &LimitsConfig::default()).await
}

/// How long open HTTP requests may finish after `stop` before their
/// connections are dropped.
const HTTP_GRACE: Duration = Duration::from_secs(10);

/// Serves an HTTP `router` (WebHDFS, status pages, `/metrics`) until `stop`
/// fires, letting open requests finish; failures are logged naming `what`.
/// Each request carries the peer's `ConnectInfo<SocketAddr>`. A client that
/// does not send a whole request header within
/// `limits.http_header_read_timeout` has its connection closed (hyper's
/// `header_read_timeout`, which `axum::serve` does not set).
pub async fn serve_http_with(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
    limits: &LimitsConfig,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.http_header_read_timeout.0);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.rpc_keepalive_interval.0))
        .keep_alive_timeout(limits.rpc_keepalive_timeout.0);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            conn = listener.accept() => match conn {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!("{what} HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, "{what} HTTP connection ended: {e}");
            }
        });
    }
    // Free the port at once (a restarted daemon may bind it again), then
    // let open requests finish.
    drop(listener);
    if tokio::time::timeout(HTTP_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("{what} HTTP connections still open after {HTTP_GRACE:?} dropped");
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

/// The endpoint of a gRPC server at `addr` (`host:port`, or a URI), the one
/// way every Tusk process (daemon or client) makes a channel, so that TLS,
/// when on, applies to every connection. Callers add their own time-outs
/// and windows.
pub fn endpoint(addr: &str) -> Result<tonic::transport::Endpoint, String> {
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("invalid address {addr:?}: {e}"))
}
