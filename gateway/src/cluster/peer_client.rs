//! Reading and writing blobs on other gateways over their peer endpoint ([`super::peer_api`]).

use std::io;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt as _;
use http::{Method, Request, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::PeerKey;
use super::peer_api::BLOB_PATH;
use crate::blob::{BlobId, BlobStream};

/// A holder that does not accept a connection this fast is taken for down, and the next one is
/// tried: a failover must finish long before a client gives up on the GET.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time for a peer to answer with its headers (it opens one file first).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer stream that delivers nothing for this long is broken: the read fails rather than
/// holding its client forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest transfer rate a copy may have before it is abandoned (bytes per second).
const MIN_COPY_RATE: u64 = 8 * 1024 * 1024;

type PeerBody = BoxBody<Bytes, io::Error>;

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
    http: Client<HttpConnector, PeerBody>,
    key: PeerKey,
}

impl PeerClient {
    pub fn new(key: PeerKey) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self { http, key }
    }

    fn request(&self, method: Method, base_url: &str, blob: &BlobId) -> http::request::Builder {
        let path = format!("{BLOB_PATH}{blob}");
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", base_url.trim_end_matches('/')));
        for (name, value) in self.key.sign(method.as_str(), &path, SystemTime::now()) {
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
    ) -> Result<BlobStream, PeerError> {
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
        let (tx, stream) = BlobStream::channel();
        let mut body = resp.into_body();
        tokio::spawn(async move {
            let mut received = 0u64;
            loop {
                let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "peer stream stalled")),
                    Ok(None) if received == expected => return,
                    Ok(None) => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "peer stream ended early",
                    )),
                    Ok(Some(Err(e))) => Err(io::Error::other(e)),
                    Ok(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => {
                            received += data.len() as u64;
                            Ok(data)
                        }
                        Err(_) => continue, // trailers: none are sent
                    },
                };
                let failed = frame.is_err();
                if tx.send(frame).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(stream)
    }

    /// Stores `body` (`size` bytes) as `blob` on the gateway at `base_url`; returns once the
    /// peer has it durably.
    pub async fn write(
        &self,
        base_url: &str,
        blob: &BlobId,
        size: u64,
        body: BlobStream,
    ) -> Result<(), PeerError> {
        let frames = body.map_ok(Frame::data);
        let req = self
            .request(Method::PUT, base_url, blob)
            .header(header::CONTENT_LENGTH, size)
            .body(BodyExt::boxed(StreamBody::new(frames)))
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        let limit = RESPONSE_TIMEOUT + Duration::from_secs(size / MIN_COPY_RATE);
        let resp = tokio::time::timeout(limit, self.http.request(req))
            .await
            .map_err(|_| PeerError::Timeout)?
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            other => Err(PeerError::Status(other)),
        }
    }
}
