//! Serving HTTP connections with deadlines a slow or silent client cannot get around.
//!
//! `axum::serve` has no header deadline, so a client that opens connections and sends its
//! headers a byte at a time holds them open forever. Here a new connection must deliver its first
//! request's headers within the header deadline, and a keep-alive connection must start its next
//! request within the idle deadline (hyper's header-read timer, which runs from the moment a
//! connection waits for a request head). Request bodies that stall are ended by the blob writer
//! (`BlobStore::write`'s stall deadline), which is where a body is read.
//!
//! With TLS, the handshake runs in the connection's own task and counts against the header
//! deadline. Every request is tagged with how its connection arrived ([`Transport`]), which
//! decides SSE-C acceptance and `aws:SecureTransport`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::tls::Transport;

/// A pause before accepting again after `accept` fails (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The longest a TLS handshake may take (within the header deadline, which it counts against): a
/// real client finishes in a few round trips, one that stalls mid-handshake holds a socket.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long clients may take: a new connection to deliver its first request's headers (its TLS
/// handshake included), and a keep-alive connection to begin its next request.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// With `tls`, every connection is a TLS one (HTTP/1.1 or HTTP/2, by ALPN).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    deadlines: Deadlines,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(deadlines.idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(deadlines.idle);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written as headers then body: without TCP_NODELAY a small body waits
        // for the client's delayed ACK (~40 ms) behind the headers.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let connection = Connection {
            app: app.clone(),
            builder: builder.clone(),
            peer,
            header_deadline: Instant::now() + deadlines.header,
            watcher: graceful.watcher(),
        };
        // The handshake runs in the connection's task: a slow client must not hold up `accept`.
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => connection.serve(TokioIo::new(tcp), Transport::Plain).await,
                Some(acceptor) => {
                    if let Some(stream) = connection.handshake(&acceptor, tcp).await {
                        connection.serve(TokioIo::new(stream), Transport::Tls).await;
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One accepted connection, before it is served.
struct Connection {
    app: Router,
    builder: Arc<Builder<TokioExecutor>>,
    peer: SocketAddr,
    /// When its first request's headers must have arrived, counted from `accept`.
    header_deadline: Instant,
    watcher: Watcher,
}

impl Connection {
    async fn handshake(
        &self,
        acceptor: &TlsAcceptor,
        tcp: TcpStream,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let limit = (Instant::now() + HANDSHAKE_TIMEOUT).min(self.header_deadline);
        match tokio::time::timeout_at(limit, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, peer = %self.peer, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                None
            }
        }
    }

    async fn serve<I>(self, io: I, transport: Transport)
    where
        I: Read + Write + Unpin + Send + 'static,
    {
        let Connection {
            app,
            builder,
            peer,
            header_deadline,
            watcher,
        } = self;
        let started = Arc::new(AtomicBool::new(false));
        let first_request = started.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            first_request.store(true, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(transport);
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(
                    app.oneshot(req.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|e| match e {}),
                )
            }
        });
        let conn = builder.serve_connection_with_upgrades(io, service);
        let mut conn = std::pin::pin!(watcher.watch(conn.into_owned()));
        let ended = tokio::select! {
            ended = conn.as_mut() => Some(ended),
            () = tokio::time::sleep_until(header_deadline) => None,
        };
        let ended = match ended {
            Some(ended) => ended,
            // Dropping the connection closes it: no request head arrived in time.
            None if !started.load(Ordering::Relaxed) => return,
            None => conn.await,
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}
