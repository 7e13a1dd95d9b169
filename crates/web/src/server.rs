//! Serving the router: plain HTTP or HTTPS (rustls), the peer address of every connection,
//! graceful shutdown, and the limits that keep slow or idle clients from exhausting the server
//! ([`ServerLimits`]): a cap on open connections, a deadline for the TLS handshake and each
//! request head, one for each request body, and an idle timeout. Each connection (its TLS
//! handshake included) runs in its own task, so one slow client cannot stall the accept loop.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;
use tower_http::timeout::DeadlineBody;

/// The TCP peer of a connection (before any proxy header is considered); in every request's
/// extensions as `ConnectInfo<Peer>`.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// What one client may hold and for how long. Defaults suit a helpdesk behind no proxy; each is
/// a `tokendesk serve` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time to finish the TLS handshake, and then to send a complete request head, counted
    /// from the connection's start or the end of the previous response (so it also ends a
    /// keep-alive connection that sends nothing).
    pub header_timeout: Duration,
    /// A connection on which no byte moved for this long while no request was being handled
    /// is closed (a client that stopped reading a response, a forgotten keep-alive).
    pub idle_timeout: Duration,
    /// Time to send a complete request body, counted from the end of its head. A late body
    /// fails the request and the connection is closed.
    pub body_timeout: Duration,
    /// Most connections open at once. At the cap, a new client takes the place of the oldest
    /// connection that is not handling a request (a slow or idle client); when every one is
    /// busy, it waits in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// Why the certificate or key could not be loaded. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no PEM certificate.
    #[error("cannot read a PEM certificate chain from {path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no PEM private key.
    #[error("cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (for example, the key does not match the certificate).
    #[error("the TLS certificate and key do not work together: {0}")]
    Config(String),
}

/// Loads a PEM certificate chain and private key into a rustls server configuration
/// (TLS 1.2 and 1.3, HTTP/1.1 via ALPN).
///
/// # Errors
/// [`TlsError`] naming the file at fault.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `tcp` (HTTPS when `tls` is given) with the default [`ServerLimits`] until
/// `shutdown` completes, then lets in-flight requests finish.
///
/// # Errors
/// None today; the result is kept for listener errors that end serving.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(tcp, tls, app, ServerLimits::default(), shutdown).await
}

/// [`serve`] with explicit limits. Stops accepting when `shutdown` completes, asks every open
/// connection to close after its current request, and returns once all have closed.
///
/// # Errors
/// None today; the result is kept for listener errors that end serving.
pub async fn serve_with(
    tcp: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let cap =
        u32::try_from(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(cap as usize));
    let open = Registry::default();
    let acceptor = tls.map(TlsAcceptor::from);
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // At the cap: the newcomer gets the slot of the oldest connection that is not
                // handling a request (a client that is slow to send its request, or idle). If
                // every connection is busy, it waits, and later clients wait in the kernel's
                // queue, which holds no descriptor of ours.
                open.evict_oldest_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let handle = Arc::new(Handle::default());
        open.add(&handle);
        let conn = Connection {
            app: app.clone(),
            peer,
            limits,
            stop: stop_rx.clone(),
            handle,
            _slot: slot,
        };
        tokio::spawn(conn.run(stream, acceptor.clone()));
    }
    drop(tcp);
    drop(stop_rx);
    let _ = stop_tx.send(());
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let _ = slots.acquire_many(cap).await;
    Ok(())
}

/// Open connections in accept order (oldest first), for eviction at the cap.
#[derive(Default)]
struct Registry(Mutex<VecDeque<Weak<Handle>>>);

impl Registry {
    fn add(&self, handle: &Arc<Handle>) {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|h| h.strong_count() > 0);
        open.push_back(Arc::downgrade(handle));
    }

    /// Asks the oldest connection not handling a request to close.
    fn evict_oldest_idle(&self) {
        let open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = open
            .iter()
            .filter_map(Weak::upgrade)
            .find(|h| !h.activity.is_busy() && !h.evicted.swap(true, Ordering::Relaxed));
        if let Some(handle) = oldest {
            handle.evict.notify_one();
        }
    }
}

/// What the accept loop knows of a connection.
#[derive(Default)]
struct Handle {
    activity: Activity,
    evicted: AtomicBool,
    evict: Notify,
}

/// After a failed `accept`: a client that gave up is nothing; anything else (out of file
/// descriptors) is logged and retried after a pause instead of spinning.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection and what it needs until it closes.
struct Connection {
    app: Router,
    peer: SocketAddr,
    limits: ServerLimits,
    stop: watch::Receiver<()>,
    handle: Arc<Handle>,
    /// Released (a new connection may be accepted) when this connection ends.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let peer = self.peer;
        match tls {
            None => self.serve_io(stream).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream));
                let handshake = tokio::select! {
                    done = handshake => done,
                    () = self.handle.evict.notified() => return,
                };
                match handshake {
                    Ok(Ok(tls)) => self.serve_io(tls).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    /// HTTP/1.1 on `io` until the client leaves, a timeout closes it, or shutdown.
    async fn serve_io<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let handle = Arc::clone(&self.handle);
        let io = TokioIo::new(Tracked {
            inner: io,
            handle: Arc::clone(&handle),
        });
        let handler = {
            let (app, handle) = (self.app.clone(), Arc::clone(&handle));
            let body_timeout = self.limits.body_timeout;
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(|body| Body::new(DeadlineBody::new(body_timeout, body)));
                req.extensions_mut().insert(ConnectInfo(Peer(peer)));
                let busy = Busy::enter(Arc::clone(&handle));
                let app = app.clone();
                async move {
                    let resp = app.oneshot(req).await;
                    drop(busy);
                    Ok::<_, Infallible>(resp.unwrap_or_else(|never| match never {}))
                }
            })
        };
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        let mut conn = pin!(builder.serve_connection(io, handler));
        let idle = self.limits.idle_timeout;
        let mut stopping = false;
        let activity = &handle.activity;
        loop {
            let check = tokio::time::Instant::from_std(activity.next_check(idle));
            tokio::select! {
                () = handle.evict.notified() => {
                    tracing::debug!(%peer, "closing a connection for a newcomer (at the cap)");
                    return;
                }
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = self.stop.changed(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep_until(check) => {
                    if activity.is_idle(idle) {
                        tracing::debug!(%peer, "closing an idle connection");
                        return;
                    }
                }
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests are being handled.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        }
    }
}

impl Activity {
    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// When the connection would be idle for `idle`, if nothing moves until then.
    fn next_check(&self, idle: Duration) -> Instant {
        if self.is_busy() {
            Instant::now() + idle
        } else {
            self.last() + idle
        }
    }

    fn is_idle(&self, idle: Duration) -> bool {
        !self.is_busy() && self.last().elapsed() >= idle
    }
}

/// Marks a request as being handled for as long as it lives (a slow handler is not idle).
struct Busy(Arc<Handle>);

impl Busy {
    fn enter(handle: Arc<Handle>) -> Self {
        handle.activity.busy.fetch_add(1, Ordering::Relaxed);
        Self(handle)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.activity.touch();
        self.0.activity.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that records in [`Activity`] every time bytes move.
struct Tracked<I> {
    inner: I,
    handle: Arc<Handle>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.handle.activity.touch();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.handle.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.handle.activity.touch();
        }
        result
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
