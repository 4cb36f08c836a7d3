//! Reading and writing blobs on other gateways over their peer endpoint ([`super::peer_api`]).

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt as _;
use http::{Method, Request, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::PeerKey;
use super::peer_api::{BLOB_PATH, CRC_HEADER, SIZE_HEADER, VERDICT_HEADER};
use crate::blob::{BlobId, Verdict};

/// A holder that does not accept a connection this fast is taken for down, and the next one is
/// tried: a failover must finish long before a client gives up on the GET.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for a peer to answer with its headers (it opens one file first).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer stream that delivers nothing for this long is broken: the read fails rather than
/// holding its client forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from a peer's socket at a time.
const READ_BUFFER: usize = 1024 * 1024;
/// The slowest transfer rate a copy may have before it is abandoned (bytes per second).
const MIN_COPY_RATE: u64 = 8 * 1024 * 1024;

type PeerBody = BoxBody<Bytes, io::Error>;
/// A blob's bytes as a peer sends them.
pub type PeerStream = std::pin::Pin<Box<dyn futures::Stream<Item = io::Result<Bytes>> + Send + Sync>>;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    #[error("peer answered {0}")]
    Status(StatusCode),
    #[error("peer timed out")]
    Timeout,
    #[error("peer sent a malformed answer: {0}")]
    Protocol(String),
}

impl From<PeerError> for io::Error {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Status(StatusCode::NOT_FOUND) => io::Error::new(io::ErrorKind::NotFound, e),
            other => io::Error::other(other),
        }
    }
}

#[derive(Clone)]
pub struct PeerClient {
    http: Client<HttpsConnector<HttpConnector>, PeerBody>,
    key: PeerKey,
}

impl PeerClient {
    /// A client for peers at `http://` URLs, and at `https://` ones verified with `tls` (a
    /// store without TLS has none, and an `https` peer is then unreachable).
    pub fn new(key: PeerKey, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        // Without TLS of its own a gateway trusts no certificate: its store's peers are `http`.
        let tls = tls.unwrap_or_else(crate::tls::trust_nothing);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            // Shorter than the peers' own idle deadline (`--header-timeout`, 30 s by default), so
            // a request never goes out on a connection the peer is closing.
            .pool_idle_timeout(Duration::from_secs(10))
            // Blob bytes arrive in frames as large as a read: fewer, larger frames cost the
            // gateway relaying them less per byte than hyper's adaptive default.
            .http1_read_buf_exact_size(READ_BUFFER)
            .build(connector);
        Self { http, key }
    }

    fn request(&self, method: Method, base_url: &str, blob: &BlobId) -> http::request::Builder {
        self.request_at(method, base_url, &format!("{BLOB_PATH}{blob}"))
    }

    fn request_at(&self, method: Method, base_url: &str, path: &str) -> http::request::Builder {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", base_url.trim_end_matches('/')));
        for (name, value) in self.key.sign(method.as_str(), path, SystemTime::now()) {
            req = req.header(name, value);
        }
        req
    }

    /// Streams `range` (non-empty) of `blob` from the gateway at `base_url`. Returns once the
    /// peer has answered, so an unreachable or empty-handed peer is an error here, before any
    /// byte of a response depends on it.
    pub async fn read(
        &self,
        base_url: &str,
        blob: &BlobId,
        range: Range<u64>,
    ) -> Result<PeerStream, PeerError> {
        let expected = range.end - range.start;
        let req = self
            .request(Method::GET, base_url, blob)
            .header(header::RANGE, format!("bytes={}-{}", range.start, range.end - 1))
            .body(Empty::new().map_err(|never| match never {}).boxed())
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        let resp = tokio::time::timeout(RESPONSE_TIMEOUT, self.http.request(req))
            .await
            .map_err(|_| PeerError::Timeout)?
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(PeerError::Status(resp.status()));
        }
        let length = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length != Some(expected) {
            return Err(PeerError::Protocol(format!(
                "{length:?} bytes for a range of {expected}"
            )));
        }
        // The body is streamed straight to the reader (no task or channel in between: a hop per
        // frame costs a third of the throughput), ending in an error if the peer stalls or
        // sends less than it announced; after an error nothing more is read.
        let frames = futures::stream::unfold(Some((resp.into_body(), 0u64)), move |state| async move {
            let (mut body, received) = state?;
            loop {
                let failure = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                    Err(_) => io::Error::new(io::ErrorKind::TimedOut, "peer stream stalled"),
                    Ok(None) if received == expected => return None,
                    Ok(None) => io::Error::new(io::ErrorKind::UnexpectedEof, "peer stream ended early"),
                    Ok(Some(Err(e))) => io::Error::other(e),
                    Ok(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => {
                            let received = received + data.len() as u64;
                            return Some((Ok(data), Some((body, received))));
                        }
                        Err(_) => continue, // trailers: none are sent
                    },
                };
                return Some((Err(failure), None));
            }
        });
        Ok(Box::pin(sync_wrapper::SyncStream::new(frames)))
    }

    /// Stores `body` (`size` bytes) as `blob` on the gateway at `base_url`, checked there
    /// against `crc` when it is known; returns once the peer has it durably, with the CRC the
    /// peer computed of what it stored.
    pub async fn write<S>(
        &self,
        base_url: &str,
        blob: &BlobId,
        size: u64,
        crc: Option<u64>,
        body: S,
    ) -> Result<u64, PeerError>
    where
        S: futures::Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        let frames = sync_wrapper::SyncStream::new(body.map_ok(Frame::data));
        let mut req = self
            .request(Method::PUT, base_url, blob)
            .header(header::CONTENT_LENGTH, size);
        if let Some(crc) = crc {
            req = req.header(CRC_HEADER, crc);
        }
        let req = req
            .body(BodyExt::boxed(StreamBody::new(frames)))
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        let resp = self.send_for(req, size, StatusCode::CREATED).await?;
        resp.headers()
            .get(CRC_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| PeerError::Protocol("a copy's CRC is missing".into()))
    }

    /// Sends a request that moves or reads `size` bytes of a blob on the peer: it may take as
    /// long as that takes at the slowest rate a copy may have, and must answer `expected`.
    async fn send_for(
        &self,
        req: Request<PeerBody>,
        size: u64,
        expected: StatusCode,
    ) -> Result<http::Response<hyper::body::Incoming>, PeerError> {
        let limit = RESPONSE_TIMEOUT + Duration::from_secs(size / MIN_COPY_RATE);
        let resp = tokio::time::timeout(limit, self.http.request(req))
            .await
            .map_err(|_| PeerError::Timeout)?
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        if resp.status() != expected {
            return Err(PeerError::Status(resp.status()));
        }
        Ok(resp)
    }

    /// Has the gateway at `base_url` check its copy of `blob` against `size` and `crc`.
    pub async fn check(
        &self,
        base_url: &str,
        blob: &BlobId,
        size: u64,
        crc: u64,
    ) -> Result<Verdict, PeerError> {
        let req = self
            .request_at(Method::POST, base_url, &format!("{BLOB_PATH}{blob}/check"))
            .header(CRC_HEADER, crc)
            .header(SIZE_HEADER, size)
            .body(Empty::new().map_err(|never| match never {}).boxed())
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        let resp = self.send_for(req, size, StatusCode::OK).await?;
        resp.headers()
            .get(VERDICT_HEADER)
            .and_then(|v| Verdict::parse(v.to_str().ok()?))
            .ok_or_else(|| PeerError::Protocol("a check without a verdict".into()))
    }
}
