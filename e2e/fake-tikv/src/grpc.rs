//! gRPC over HTTP/2, server side, just as much as tonic's client needs: a request is
//! `POST /<package.Service>/<Method>` whose body is length-prefixed messages (1 byte compressed
//! flag, 4 bytes big-endian length, the protobuf bytes); the answer is `200`,
//! `content-type: application/grpc`, the messages framed the same way, and a `grpc-status`
//! trailer. tonic's server is not used: the one in the dependency tree (0.10) sits on hyper 0.14,
//! and faults need control below it (a reset stream where an answer was due).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use futures::channel::mpsc;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What a handler answers to one request message.
pub enum Reply {
    /// The encoded response message.
    Message(Vec<u8>),
    /// A gRPC error status (code, message).
    Status(u32, String),
    /// No answer: the stream is reset (RST_STREAM), as when a connection breaks after the
    /// server acted and before its answer arrived.
    Reset,
}

pub const UNIMPLEMENTED: u32 = 12;
pub const INVALID_ARGUMENT: u32 = 3;

/// A gRPC service: unary calls by path, and streams of messages answered one for one.
pub trait Handler: Send + Sync + 'static {
    fn unary(&self, path: &str, message: &[u8]) -> Reply;

    /// Whether `path` is a bidirectional stream answered message by message ([`Handler::each`]).
    fn is_stream(&self, path: &str) -> bool;

    fn each(&self, path: &str, message: &[u8]) -> Reply;
}

/// Serves `handler` on `listener` until the returned future is dropped.
pub async fn serve(listener: TcpListener, handler: Arc<dyn Handler>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { call(&handler, req).await }
            });
            // A connection ends when the client goes away; nothing to report.
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Returned to hyper to make it reset the stream instead of answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reply dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn call(handler: &Arc<dyn Handler>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_owned();
    if handler.is_stream(&path) {
        return Ok(stream(handler.clone(), path, req.into_body()));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    let mut buf = BytesMut::from(&body[..]);
    let reply = match next_message(&mut buf) {
        Ok(Some(message)) if buf.is_empty() => handler.unary(&path, &message),
        _ => Reply::Status(
            INVALID_ARGUMENT,
            "expected exactly one uncompressed message".into(),
        ),
    };
    match reply {
        Reply::Message(m) => Ok(answer(futures::stream::iter([
            Ok(Frame::data(frame(&m))),
            Ok(Frame::trailers(status_headers(0, ""))),
        ]))),
        Reply::Status(code, message) => Ok(trailers_only(code, &message)),
        Reply::Reset => Err(Dropped),
    }
}

/// A bidirectional stream: each request message is answered as it arrives.
fn stream(handler: Arc<dyn Handler>, path: String, mut body: Incoming) -> Response<Body> {
    let (tx, rx) = mpsc::unbounded::<Result<Frame<Bytes>, Infallible>>();
    tokio::spawn(async move {
        let mut buf = BytesMut::new();
        let mut status = (0, String::new());
        'read: while let Some(received) = body.frame().await {
            let Ok(received) = received else { break };
            let Ok(data) = received.into_data() else { continue };
            buf.extend_from_slice(&data);
            loop {
                match next_message(&mut buf) {
                    Ok(Some(message)) => match handler.each(&path, &message) {
                        Reply::Message(m) => {
                            if tx.unbounded_send(Ok(Frame::data(frame(&m)))).is_err() {
                                return;
                            }
                        }
                        Reply::Status(code, message) => {
                            status = (code, message);
                            break 'read;
                        }
                        // Ends the stream without a status: the client sees it break.
                        Reply::Reset => return,
                    },
                    Ok(None) => break,
                    Err(()) => {
                        status = (INVALID_ARGUMENT, "compressed messages are not supported".into());
                        break 'read;
                    }
                }
            }
        }
        let _ = tx.unbounded_send(Ok(Frame::trailers(status_headers(status.0, &status.1))));
    });
    answer(rx)
}

fn answer<S>(frames: S) -> Response<Body>
where
    S: futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static,
{
    let mut resp = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames.boxed())));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    resp
}

/// An error answered in the headers alone (gRPC's "trailers-only" response).
fn trailers_only(code: u32, message: &str) -> Response<Body> {
    let mut resp = answer(futures::stream::empty());
    resp.headers_mut().extend(status_headers(code, message));
    resp
}

fn status_headers(code: u32, message: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("grpc-status", HeaderValue::from(code));
    if !message.is_empty() {
        // Percent-encoding is required only for non-ASCII; keep messages plain.
        let plain: String = message
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        if let Ok(v) = HeaderValue::from_str(&plain) {
            h.insert("grpc-message", v);
        }
    }
    h
}

/// One length-prefixed message off the front of `buf`: `Ok(None)` until it is complete,
/// `Err` for a compressed one.
fn next_message(buf: &mut BytesMut) -> Result<Option<Bytes>, ()> {
    if buf.len() < 5 {
        return Ok(None);
    }
    if buf[0] != 0 {
        return Err(());
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < 5 + len {
        return Ok(None);
    }
    buf.advance(5);
    Ok(Some(buf.split_to(len).freeze()))
}

fn frame(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(
        &u32::try_from(message.len())
            .expect("message under 4 GiB")
            .to_be_bytes(),
    );
    out.extend_from_slice(message);
    out.into()
}

/// A server on its own thread and runtime, so it keeps answering while a test blocks its own
/// runtime (starting a gateway process waits synchronously).
pub struct Server {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on `listener` (bound by the caller, who needs the address first).
    pub fn start(listener: std::net::TcpListener, handler: Arc<dyn Handler>) -> std::io::Result<Server> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-tikv")
            .enable_all()
            .build()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-tikv".into())
            .spawn(move || {
                runtime.block_on(async {
                    let listener = TcpListener::from_std(listener).expect("a bound listener");
                    let serving: Pin<Box<dyn Future<Output = ()> + Send>> =
                        Box::pin(serve(listener, handler));
                    tokio::select! {
                        () = serving => {}
                        _ = stopped => {}
                    }
                });
                // Connections still open die with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(Server {
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_length_prefixed_and_may_arrive_in_pieces() {
        let framed = frame(b"hello");
        assert_eq!(&framed[..5], [0, 0, 0, 0, 5]);
        let mut buf = BytesMut::from(&framed[..3]);
        assert_eq!(next_message(&mut buf), Ok(None));
        buf.extend_from_slice(&framed[3..]);
        buf.extend_from_slice(&frame(b""));
        assert_eq!(next_message(&mut buf), Ok(Some(Bytes::from_static(b"hello"))));
        assert_eq!(next_message(&mut buf), Ok(Some(Bytes::new())));
        assert_eq!(next_message(&mut buf), Ok(None));
        assert_eq!(next_message(&mut BytesMut::from(&[1, 0, 0, 0, 0][..])), Err(()));
    }
}
