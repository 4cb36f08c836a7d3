//! A plain HTTP client for the S3 requests an SDK will not send: hand-set headers, wrong
//! signatures, skewed clocks, every aws-chunked form, virtual-host `Host` headers, presigned URLs.
//!
//! It speaks HTTP/1.1 through hyper with the request URI exactly as given: no URL parser
//! normalises `..` or re-encodes the path behind the test's back.

mod request;
mod response;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use request::{PayloadHash, RawRequest};
pub use response::RawResponse;

/// Why no HTTP response came back.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("request failed: {0:?}")]
    Request(#[from] hyper_util::client::legacy::Error),
    #[error("reading the response body failed: {0:?}")]
    Body(#[from] hyper::Error),
    #[error("no complete response within {0:?}")]
    Timeout(std::time::Duration),
}

/// Sends hand-built requests to one S3 endpoint, signed by default with one identity.
#[derive(Clone, Debug)]
pub struct RawClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `http` or `https`.
    scheme: String,
    /// `host:port` that connections go to, whatever the `Host` header says.
    authority: String,
    region: String,
    access_key: String,
    secret_key: String,
}

impl RawClient {
    /// `endpoint` is `http://host:port` (or `https://`, with [`trusting`](Self::trusting)).
    pub fn new(
        endpoint: &str,
        region: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        let uri: http::Uri = endpoint
            .parse()
            .unwrap_or_else(|e| panic!("endpoint {endpoint:?}: {e}"));
        let authority = uri
            .authority()
            .unwrap_or_else(|| panic!("endpoint {endpoint:?} has no host"))
            .to_string();
        let scheme = uri.scheme_str().unwrap_or("http").to_owned();
        Self {
            http: Self::http(None),
            scheme,
            authority,
            region: region.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The same client, verifying an `https` endpoint against `ca_pem` (a PEM CA bundle).
    pub fn trusting(mut self, ca_pem: Option<&str>) -> Self {
        self.http = Self::http(ca_pem);
        self
    }

    fn http(ca_pem: Option<&str>) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
        Client::builder(TokioExecutor::new()).build(crate::tls::https_connector(ca_pem))
    }

    /// `http://host:port` or `https://host:port`
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Starts a request for `path_and_query` (e.g. `/bucket/key?tagging`), sent and signed exactly
    /// as written, so percent-encode it yourself. Signed with the client's credentials unless told
    /// otherwise.
    pub fn request(&self, method: Method, path_and_query: &str) -> RawRequest {
        assert!(
            path_and_query.starts_with('/'),
            "path must start with '/': {path_and_query:?}"
        );
        RawRequest::new(
            self.clone(),
            method,
            self.authority.clone(),
            path_and_query.to_owned(),
        )
    }

    /// Starts an unsigned request for a full URL (a presigned URL, typically). The connection goes
    /// to this client's endpoint whatever the URL's host; the URL's host is sent as `Host`.
    pub fn request_url(&self, method: Method, url: &str) -> RawRequest {
        let uri: http::Uri = url.parse().unwrap_or_else(|e| panic!("url {url:?}: {e}"));
        let host = uri
            .authority()
            .unwrap_or_else(|| panic!("url {url:?} has no host"))
            .to_string();
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string);
        RawRequest::new(self.clone(), method, host, path_and_query).anonymous()
    }

    /// GETs a (presigned) URL without signing.
    pub async fn get_url(&self, url: &str) -> RawResponse {
        self.request_url(Method::GET, url).send().await
    }

    /// PUTs `body` to a (presigned) URL without signing.
    pub async fn put_url(&self, url: &str, body: impl Into<Bytes>) -> RawResponse {
        self.request_url(Method::PUT, url).body(body).send().await
    }

    fn port(&self) -> u16 {
        self.authority
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(80)
    }

    async fn execute(&self, request: http::Request<Bytes>) -> Result<RawResponse, TransportError> {
        let response = self.http.request(request.map(Full::new)).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(RawResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}
