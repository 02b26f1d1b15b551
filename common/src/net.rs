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
//!
//! TLS (rustls, ring provider): each binary installs the `[tls]` section
//! once at start ([`install_tls`], [`install_daemon_tls`]); from then on
//! both servers accept TLS only (the handshake runs inside the connection,
//! after the handshake time-out machinery above, so limits and shutdown
//! work as before and a failed handshake closes that connection only),
//! [`endpoint`] makes `https://` channels that trust the cluster CA alone,
//! and [`http_scheme`] says `https` for the URLs the daemons hand out.

use crate::config::{LimitsConfig, TlsConfig};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
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

/// The server [`grpc_server`] builds: tonic's, with the load-shedding layer.
pub type GrpcServer = tonic::transport::Server<GrpcLayer>;
/// A [`GrpcServer`] with its services, as [`serve_grpc_with`] takes it.
pub type GrpcRouter = Router<GrpcLayer>;
type GrpcLayer = tower::layer::util::Stack<crate::shed::ShedLayer, tower::layer::util::Identity>;

/// A gRPC server builder with the connection limits of `limits`: streams
/// per connection, HTTP/2 keep-alive pings, TCP keep-alive, and at most
/// `rpc_max_pending` calls in flight over all connections (more are shed
/// with RESOURCE_EXHAUSTED, see [`crate::shed`]). Add services (each with
/// `max_decoding_message_size(limits.max_message())`) and pass the router
/// to [`serve_grpc_with`].
pub fn grpc_server(limits: &LimitsConfig) -> GrpcServer {
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(limits.rpc_max_concurrent_streams.max(1)))
        .http2_keepalive_interval(Some(limits.rpc_keepalive_interval.0))
        .http2_keepalive_timeout(Some(limits.rpc_keepalive_timeout.0))
        .tcp_keepalive(Some(limits.rpc_keepalive_interval.0))
        .layer(crate::shed::ShedLayer::new(limits.rpc_max_pending as usize))
}

/// [`serve_grpc_with`] with the default limits.
pub async fn serve_grpc(
    router: GrpcRouter,
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
    router: GrpcRouter,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    what: &'static str,
    limits: &LimitsConfig,
) {
    let (kill_tx, kill_rx) = watch::channel(false);
    let incoming = grpc_incoming(listener, kill_rx, limits.rpc_handshake_timeout.0);
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
    let tls = TLS.get().and_then(|t| t.http_acceptor.clone());
    let handshake = limits.http_header_read_timeout.0;
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
        // TLS (when on) is accepted inside the connection's task, so a slow
        // handshake holds up no other client; hyper's header time-out
        // covers it too.
        let stream = ServerIo::new(stream, tls.as_ref(), handshake, None);
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
/// when on, applies to every connection: with TLS installed
/// ([`install_tls`]) the channel is `https://`, verifies the server's
/// certificate against the cluster CA only, and checks it names the host
/// of `addr` (an IP address is matched against the certificate's IP SANs).
/// Callers add their own time-outs and windows.
pub fn endpoint(addr: &str) -> Result<tonic::transport::Endpoint, String> {
    let tls = TLS.get();
    let uri = match addr.split_once("://") {
        Some(("http", rest)) if tls.is_some() => format!("https://{rest}"),
        Some(_) => addr.to_string(),
        None => format!("{}://{addr}", http_scheme()),
    };
    let ep = tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("invalid address {addr:?}: {e}"))?;
    match tls {
        Some(t) => ep
            .tls_config(t.grpc_client.clone())
            .map_err(|e| format!("TLS for {addr}: {e}")),
        None => Ok(ep),
    }
}

/// An `https://` endpoint of `addr` whose TLS trusts the certificate(s) in
/// `ca_pem` alone (not the cluster CA), whether or not TLS is installed:
/// for a server that made its own certificate and handed it out (the
/// MapReduce application master, see [`incoming_with_cert`]).
pub fn endpoint_trusting(addr: &str, ca_pem: &[u8]) -> Result<tonic::transport::Endpoint, String> {
    let uri = match addr.split_once("://") {
        Some((_, rest)) => format!("https://{rest}"),
        None => format!("https://{addr}"),
    };
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem));
    tonic::transport::Endpoint::from_shared(uri)
        .map_err(|e| format!("invalid address {addr:?}: {e}"))?
        .tls_config(tls)
        .map_err(|e| format!("TLS for {addr}: {e}"))
}

// ---------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------

/// The process-wide TLS setting: installed once at start by every binary
/// from its config ([`install_tls`]); daemons of one process share the
/// cluster's config, so a global is simpler than threading it through
/// every daemon's signature. Not installed = plain TCP everywhere.
static TLS: OnceLock<Tls> = OnceLock::new();

struct Tls {
    /// What was installed (a second install must say the same).
    files: TlsConfig,
    /// The TLS side of `serve_grpc_with` (ALPN `h2` only, as gRPC
    /// clients require); `None` in a client-only process.
    grpc_acceptor: Option<TlsAcceptor>,
    /// The TLS side of `serve_http_with` (ALPN `h2`, `http/1.1`).
    http_acceptor: Option<TlsAcceptor>,
    /// tonic's client TLS: the cluster CA as the only root.
    grpc_client: tonic::transport::ClientTlsConfig,
    /// A rustls client config with the same single root, for HTTP clients
    /// and tests ([`tls_client_config`]).
    client: Arc<rustls::ClientConfig>,
}

/// Installs TLS for this process from `[tls]`: when `cfg.enabled`, every
/// channel made by [`endpoint`] is TLS checked against `ca_file` (the only
/// root), and when `cert_file` and `key_file` are set every server of
/// [`serve_grpc_with`] / [`serve_http_with`] speaks TLS with them. Does
/// nothing when `[tls]` is off. Installing again is allowed only with the
/// same files (or the same CA alone). Errors are one line naming the file and the cause.
pub fn install_tls(cfg: &TlsConfig) -> Result<(), String> {
    if !cfg.enabled {
        return Ok(());
    }
    if let Some(t) = TLS.get() {
        return if same_files(&t.files, cfg) {
            Ok(())
        } else {
            Err("TLS is already on in this process with other certificate files".into())
        };
    }
    let tls = build_tls(cfg)?;
    if TLS.set(tls).is_err() && !TLS.get().is_some_and(|t| same_files(&t.files, cfg)) {
        return Err("TLS is already on in this process with other certificate files".into());
    }
    Ok(())
}

/// [`install_tls`] for a daemon: with `[tls]` on, its certificate and key
/// must be set too (a daemon serves). Daemons' mains call this.
pub fn install_daemon_tls(cfg: &TlsConfig) -> Result<(), String> {
    if cfg.enabled {
        for (key, v) in [("cert_file", &cfg.cert_file), ("key_file", &cfg.key_file)] {
            if v.is_none() {
                return Err(format!(
                    "[tls] is enabled but {key} is not set (a daemon needs its certificate and key)"
                ));
            }
        }
    }
    install_tls(cfg)
}

/// Environment variables that turn TLS on for a process that has no
/// cluster config (clients, containers): `TUSK_TLS_CA` (the CA file; set
/// = TLS on), `TUSK_TLS_CERT` and `TUSK_TLS_KEY` (a certificate to serve
/// with, for a process started by hand that serves; node managers never
/// pass them to containers: [`tls_child_env`]).
pub mod env {
    pub const CA: &str = "TUSK_TLS_CA";
    pub const CERT: &str = "TUSK_TLS_CERT";
    pub const KEY: &str = "TUSK_TLS_KEY";
}

/// `cfg` with the [`env`] variables laid over it: a non-empty
/// `TUSK_TLS_CA` turns TLS on with that CA.
pub fn tls_with_env(cfg: &TlsConfig) -> TlsConfig {
    let mut c = cfg.clone();
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(ca) = var(env::CA) {
        c.enabled = true;
        c.ca_file = Some(ca);
    }
    if let Some(cert) = var(env::CERT) {
        c.cert_file = Some(cert);
    }
    if let Some(key) = var(env::KEY) {
        c.key_file = Some(key);
    }
    c
}

/// The [`env`] variables a process passes on to the processes it starts
/// (a node manager to its containers) so they speak TLS as it does: the
/// CA alone (`TUSK_TLS_CA`), never its own certificate and key, which
/// would let any job pass for a daemon (a container that serves makes its
/// own certificate: [`incoming_with_cert`]); empty when TLS is off.
pub fn tls_child_env() -> Vec<(&'static str, PathBuf)> {
    TLS.get()
        .and_then(|t| t.files.ca_file.as_deref())
        .map(|ca| vec![(env::CA, absolute(ca))])
        .unwrap_or_default()
}

/// Whether TLS is on in this process.
pub fn tls_enabled() -> bool {
    TLS.get().is_some()
}

/// The scheme of every Tusk HTTP URL (WebHDFS redirects, web UI links):
/// `https` when TLS is on, else `http`.
pub fn http_scheme() -> &'static str {
    if tls_enabled() {
        "https"
    } else {
        "http"
    }
}

/// The rustls client config trusting only the cluster CA, when TLS is on.
pub fn tls_client_config() -> Option<Arc<rustls::ClientConfig>> {
    TLS.get().map(|t| t.client.clone())
}

/// Whether `req` asks for nothing `installed` does not already give: the
/// same CA, and the same certificate and key unless `req` has none (a
/// client-side install in a process that also serves).
fn same_files(installed: &TlsConfig, req: &TlsConfig) -> bool {
    installed.ca_file == req.ca_file
        && ((req.cert_file.is_none() && req.key_file.is_none())
            || (installed.cert_file == req.cert_file && installed.key_file == req.key_file))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("[tls] {what} {}: {e}", path.display()))
}

fn load_certs(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    parse_certs(what, path, &read_pem(what, path)?)
}

fn parse_certs(
    what: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("[tls] {what} {}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "[tls] {what} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn build_tls(cfg: &TlsConfig) -> Result<Tls, String> {
    let ca_path = cfg
        .ca_file
        .as_deref()
        .ok_or("[tls] is enabled but ca_file is not set")?;
    let ca_pem = read_pem("ca_file", ca_path)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in parse_certs("ca_file", ca_path, &ca_pem)? {
        roots
            .add(c)
            .map_err(|e| format!("[tls] ca_file {}: {e}", ca_path.display()))?;
    }
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("[tls] client config: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let grpc_client = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca_pem));

    let (grpc_acceptor, http_acceptor) = match (&cfg.cert_file, &cfg.key_file) {
        (None, None) => (None, None),
        (Some(_), None) => return Err("[tls] cert_file is set but key_file is not".into()),
        (None, Some(_)) => return Err("[tls] key_file is set but cert_file is not".into()),
        (Some(cert_path), Some(key_path)) => {
            let certs = load_certs("cert_file", cert_path)?;
            let key_pem = read_pem("key_file", key_path)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                format!("[tls] key_file {}: no private key: {e}", key_path.display())
            })?;
            let server = |alpn: &[&[u8]]| {
                acceptor(certs.clone(), key.clone_key(), alpn).map_err(|e| {
                    format!(
                        "[tls] cert_file {} / key_file {}: {e}",
                        cert_path.display(),
                        key_path.display()
                    )
                })
            };
            (
                Some(server(&[b"h2"])?),
                Some(server(&[b"h2", b"http/1.1"])?),
            )
        }
    };
    Ok(Tls {
        files: cfg.clone(),
        grpc_acceptor,
        http_acceptor,
        grpc_client,
        client: Arc::new(client),
    })
}

/// A TLS acceptor serving `certs` with `key`, offering `alpn`.
fn acceptor(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<TlsAcceptor, rustls::Error> {
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(c)))
}

type Handshake<T> = Pin<Box<dyn Future<Output = io::Result<TlsStream<T>>> + Send>>;

/// A server-side connection: plain, or TLS once the handshake (driven by
/// the first reads and writes, bounded by a time-out) is done. A failed
/// handshake fails that connection's I/O only.
pub struct ServerIo<T> {
    state: IoState<T>,
    info: Option<TcpConnectInfo>,
}

enum IoState<T> {
    Plain(T),
    Handshaking(Handshake<T>),
    Tls(Box<TlsStream<T>>),
    Failed,
}

impl<T> ServerIo<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// `io` as is without `acceptor`, else its TLS handshake, which must
    /// be done within `timeout`.
    fn new(
        io: T,
        acceptor: Option<&TlsAcceptor>,
        timeout: Duration,
        info: Option<TcpConnectInfo>,
    ) -> Self {
        let state = match acceptor {
            None => IoState::Plain(io),
            Some(a) => {
                let accept = a.accept(io);
                let peer = info.as_ref().and_then(|i| i.remote_addr());
                IoState::Handshaking(Box::pin(async move {
                    let res = match tokio::time::timeout(timeout, accept).await {
                        Ok(r) => r,
                        Err(_) => Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake not done within the handshake time-out",
                        )),
                    };
                    if let Err(e) = &res {
                        tracing::debug!(peer = ?peer, "TLS handshake failed: {e}");
                    }
                    res
                }))
            }
        };
        Self { state, info }
    }

    /// Drives the handshake; Ready(Ok) once the stream can be used.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let IoState::Handshaking(h) = &mut self.state {
            match h.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(s)) => self.state = IoState::Tls(Box::new(s)),
                Poll::Ready(Err(e)) => {
                    self.state = IoState::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self.state {
            IoState::Failed => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "TLS handshake failed",
            ))),
            _ => Poll::Ready(Ok(())),
        }
    }
}

macro_rules! with_stream {
    ($self:ident, $cx:ident, |$s:ident| $body:expr) => {{
        let this = $self.get_mut();
        if let Err(e) = std::task::ready!(this.poll_ready($cx)) {
            return Poll::Ready(Err(e));
        }
        match &mut this.state {
            IoState::Plain($s) => $body,
            IoState::Tls(t) => {
                let $s = &mut **t;
                $body
            }
            _ => unreachable!("poll_ready leaves a usable stream"),
        }
    }};
}

impl<T> AsyncRead for ServerIo<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        with_stream!(self, cx, |s| Pin::new(s).poll_read(cx, buf))
    }
}

impl<T> AsyncWrite for ServerIo<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        with_stream!(self, cx, |s| Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        with_stream!(self, cx, |s| Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.state {
            IoState::Plain(s) => s.is_write_vectored(),
            IoState::Tls(s) => s.is_write_vectored(),
            _ => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_stream!(self, cx, |s| Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.state {
            IoState::Plain(s) => Pin::new(s).poll_shutdown(cx),
            IoState::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            // Nothing was established: nothing to shut down.
            IoState::Handshaking(_) | IoState::Failed => Poll::Ready(Ok(())),
        }
    }
}

impl Connected for ServerIo<KillableIo> {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info
            .clone()
            .expect("gRPC connections carry their TCP info")
    }
}

/// The connections of `listener` for a tonic server built elsewhere
/// (`Server::builder()…serve_with_incoming_shutdown(incoming(l), …)`):
/// TLS when it is on, with the default handshake time-out. Prefer
/// [`serve_grpc_with`], which also cuts connections at shutdown.
pub fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = io::Result<ServerIo<KillableIo>>> {
    let acceptor = TLS.get().and_then(|t| t.grpc_acceptor.clone());
    accept_stream(listener, never_killed(), default_handshake(), acceptor)
}

/// [`incoming`], but TLS always, with the certificate chain `cert_pem` and
/// its private key `key_pem` rather than the process's `[tls]` files: for
/// a process that makes its own certificate and keeps the key in memory
/// (the MapReduce application master). Clients use [`endpoint_trusting`].
pub fn incoming_with_cert(
    listener: TcpListener,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<impl tokio_stream::Stream<Item = io::Result<ServerIo<KillableIo>>>, String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("server certificate: bad PEM: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("server key: no private key: {e}"))?;
    let acceptor =
        acceptor(certs, key, &[b"h2"]).map_err(|e| format!("server certificate and key: {e}"))?;
    Ok(accept_stream(
        listener,
        never_killed(),
        default_handshake(),
        Some(acceptor),
    ))
}

/// A kill signal that never fires (connections not cut at shutdown).
fn never_killed() -> watch::Receiver<bool> {
    static NEVER: OnceLock<watch::Sender<bool>> = OnceLock::new();
    NEVER.get_or_init(|| watch::channel(false).0).subscribe()
}

fn default_handshake() -> Duration {
    LimitsConfig::default().rpc_handshake_timeout.0
}

fn grpc_incoming(
    listener: TcpListener,
    kill: watch::Receiver<bool>,
    handshake: Duration,
) -> impl tokio_stream::Stream<Item = io::Result<ServerIo<KillableIo>>> {
    let acceptor = TLS.get().and_then(|t| t.grpc_acceptor.clone());
    accept_stream(listener, kill, handshake, acceptor)
}

/// Every connection of `listener` as a [`ServerIo`]: cut when `kill`
/// fires, dropped when silent past `handshake`, TLS with `acceptor`.
fn accept_stream(
    listener: TcpListener,
    kill: watch::Receiver<bool>,
    handshake: Duration,
    acceptor: Option<TlsAcceptor>,
) -> impl tokio_stream::Stream<Item = io::Result<ServerIo<KillableIo>>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
        s.map(|s| {
            let _ = s.set_nodelay(true);
            let io = KillableIo::new(s, kill.clone(), handshake);
            let info = io.connect_info();
            ServerIo::new(io, acceptor.as_ref(), handshake, Some(info))
        })
    })
}

#[cfg(test)]
mod tls_tests {
    //! The TLS pieces without the process-wide install: config loading
    //! errors, and a [`ServerIo`] against real and wrong clients.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        /// A CA and a certificate for 127.0.0.1 it issued.
        fn new() -> Files {
            use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
            let dir = tempfile::tempdir().unwrap();
            let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_key = KeyPair::generate().unwrap();
            let ca_cert = ca.self_signed(&ca_key).unwrap();
            let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
            leaf.subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            let key = KeyPair::generate().unwrap();
            let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
            let other = KeyPair::generate().unwrap();
            std::fs::write(dir.path().join("other.key"), other.serialize_pem()).unwrap();
            Files { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn config(&self) -> TlsConfig {
            TlsConfig {
                enabled: true,
                cert_file: Some(self.path("cert.pem")),
                key_file: Some(self.path("key.pem")),
                ca_file: Some(self.path("ca.pem")),
            }
        }
    }

    fn err(cfg: &TlsConfig) -> String {
        match build_tls(cfg) {
            Ok(_) => panic!("{cfg:?} was accepted"),
            Err(e) => {
                assert!(!e.contains('\n'), "not one line: {e}");
                e
            }
        }
    }

    #[test]
    fn config_errors_name_the_file() {
        let f = Files::new();
        assert!(build_tls(&f.config()).is_ok());
        let client_only = TlsConfig {
            cert_file: None,
            key_file: None,
            ..f.config()
        };
        assert!(build_tls(&client_only).unwrap().grpc_acceptor.is_none());

        let e = err(&TlsConfig {
            key_file: Some(f.path("missing.key")),
            ..f.config()
        });
        assert!(
            e.starts_with("[tls] key_file ") && e.contains("missing.key"),
            "{e}"
        );
        let e = err(&TlsConfig {
            ca_file: Some(f.path("key.pem")),
            ..f.config()
        });
        assert!(
            e.contains("ca_file") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = err(&TlsConfig {
            key_file: Some(f.path("cert.pem")),
            ..f.config()
        });
        assert!(e.contains("key_file") && e.contains("cert.pem"), "{e}");
        // A key that is not the certificate's.
        let e = err(&TlsConfig {
            key_file: Some(f.path("other.key")),
            ..f.config()
        });
        assert!(e.contains("cert_file") && e.contains("other.key"), "{e}");
        let e = err(&TlsConfig {
            ca_file: None,
            ..f.config()
        });
        assert!(e.contains("ca_file is not set"), "{e}");
        let e = err(&TlsConfig {
            key_file: None,
            ..f.config()
        });
        assert!(e.contains("key_file is not"), "{e}");
        assert!(install_daemon_tls(&client_only)
            .unwrap_err()
            .contains("cert_file is not set"));
    }

    /// One connection accepted as `ServerIo` with `timeout`; echoes one
    /// read back, or returns the server side's error.
    async fn echo_once(
        acceptor: TlsAcceptor,
        timeout: Duration,
    ) -> (
        std::net::SocketAddr,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await?;
            let mut io = ServerIo::new(s, Some(&acceptor), timeout, None);
            let mut buf = [0u8; 5];
            io.read_exact(&mut buf).await?;
            io.write_all(&buf).await?;
            io.flush().await?;
            io.shutdown().await
        });
        (addr, h)
    }

    #[tokio::test]
    async fn server_io_speaks_tls_and_drops_bad_peers() {
        let f = Files::new();
        let tls = build_tls(&f.config()).unwrap();
        let acceptor = tls.grpc_acceptor.clone().unwrap();

        // A TLS client with the CA: TLS 1.3, ALPN h2, bytes both ways.
        let (addr, server) = echo_once(acceptor.clone(), Duration::from_secs(5)).await;
        let mut cfg = (*tls.client).clone();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut c = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(
            c.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(c.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        server.await.unwrap().unwrap();

        // Plain text: the server's I/O fails at once, the peer sees the
        // connection end.
        let (addr, server) = echo_once(acceptor.clone(), Duration::from_secs(5)).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("a plain-text peer was not dropped at once")
            .unwrap()
            .unwrap_err();
        assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e}");

        // Silent: dropped after the handshake time-out.
        let (addr, server) = echo_once(acceptor, Duration::from_millis(300)).await;
        let _tcp = TcpStream::connect(addr).await.unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("a silent peer was not dropped")
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }
}
