//! Serving HTTP connections with deadlines a slow or silent client cannot get around.
//!
//! `axum::serve` has no header deadline, so a client that opens connections and sends its
//! headers a byte at a time holds them open forever. Here a new connection must deliver its first
//! request's headers within the header deadline, and a keep-alive connection must start its next
//! request within the idle deadline (hyper's header-read timer, which runs from the moment a
//! connection waits for a request head). Request bodies that stall are ended by the blob writer
//! (`BlobStore::write`'s stall deadline), which is where a body is read.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// A pause before accepting again after `accept` fails (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// How long clients may take: a new connection to deliver its first request's headers, and a
/// keep-alive connection to begin its next request.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
}

pub async fn serve(
    listener: TcpListener,
    app: Router,
    deadlines: Deadlines,
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
        let app = app.clone();
        let started = Arc::new(AtomicBool::new(false));
        let first_request = started.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            first_request.store(true, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(
                    app.oneshot(req.map(axum::body::Body::new))
                        .await
                        .unwrap_or_else(|e| match e {}),
                )
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                () = tokio::time::sleep(deadlines.header) => None,
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
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
