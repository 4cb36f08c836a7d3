//! Signed calls to a store's gateways: the S3 API ([`s3`]) and the admin API ([`admin`]), both
//! SigV4-signed with the store's admin credentials. The operator reaches a store only this way.
//!
//! The endpoint is the store's in-cluster Service, or `--store-endpoint-override` when the
//! operator runs where that Service cannot be reached (e2e against a gateway the test started).

pub mod admin;
pub mod s3;
mod signing;
mod tls;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use signing::Credentials;

/// A call that takes longer is abandoned and reported as unreachable.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest error body kept for messages.
const MAX_ERROR_BODY: usize = 2048;

/// Why a call to the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store endpoint {0:?} is not a valid http:// or https:// URL")]
    InvalidEndpoint(String),
    #[error("the store's CA bundle is unusable: {0}")]
    InvalidCa(String),
    #[error("store unreachable at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("store answered {status} {code}: {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the store's admin API is not available ({status} {code})")]
    AdminApiUnavailable { status: u16, code: String },
    #[error("unexpected answer from the store: {0}")]
    Protocol(String),
}

impl StoreError {
    /// Whether retrying later may help without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Rejected { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The S3 error code, if the store answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Rejected { code, .. } | StoreError::AdminApiUnavailable { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A response, body read whole (every body the operator reads is small).
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A signed HTTP client for one store.
#[derive(Clone)]
pub struct StoreClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    authority: String,
    region: String,
    credentials: Credentials,
}

impl std::fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl StoreClient {
    /// A client for the gateways at `endpoint` (`http://host:port`, or `https://` verified
    /// against the system's roots until [`trusting`](Self::trusting) says otherwise), signing for
    /// `region`.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Self, StoreError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let uri: Uri = endpoint
            .parse()
            .map_err(|_| StoreError::InvalidEndpoint(endpoint.clone()))?;
        let authority = match (uri.scheme_str(), uri.authority(), uri.path()) {
            (Some("http" | "https"), Some(authority), "" | "/") => authority.to_string(),
            _ => return Err(StoreError::InvalidEndpoint(endpoint)),
        };
        Ok(Self {
            http: http_client(tls::system_roots())?,
            endpoint,
            authority,
            region: region.to_owned(),
            credentials,
        })
    }

    /// The same store, its `https` endpoint verified against `ca_pem` (a PEM bundle: the store's
    /// `ca.crt`) instead of the system's roots; `None` changes nothing.
    pub fn trusting(self, ca_pem: Option<&str>) -> Result<Self, StoreError> {
        let Some(pem) = ca_pem else {
            return Ok(self);
        };
        Ok(Self {
            http: http_client(tls::roots_from_pem(pem)?)?,
            ..self
        })
    }

    /// The same store, signed with other credentials.
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self {
            credentials,
            ..self.clone()
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Sends one signed request. `path_and_query` is already percent-encoded and signed as is.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Response, StoreError> {
        let mut all_headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        all_headers.push(("host".to_owned(), self.authority.clone()));
        let signed = signing::sign(
            &self.credentials,
            &self.region,
            method.as_str(),
            &self.authority,
            path_and_query,
            &all_headers,
            &body,
            SystemTime::now(),
        )
        .map_err(|e| StoreError::Protocol(format!("signing failed: {e}")))?;
        all_headers.extend(signed);

        let mut builder = Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.endpoint, path_and_query));
        for (name, value) in &all_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| StoreError::Protocol(format!("building request: {e}")))?;
        let unreachable = |reason: String| StoreError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let call = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| unreachable(format!("reading the response: {e}")))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let response = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| unreachable(format!("no answer within {CALL_TIMEOUT:?}")))??;
        tracing::debug!(%method, path = path_and_query, status = response.status.as_u16(), "store call");
        Ok(response)
    }

    /// `GET /_stowage/ready`: whether the gateways answer and their metadata store is up.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let response = self
            .send(Method::GET, "/_stowage/ready", &[], Bytes::new())
            .await?;
        if response.status.is_success() {
            Ok(())
        } else {
            Err(StoreError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!("/_stowage/ready answered {}", response.status),
            })
        }
    }
}

fn http_client(
    roots: rustls::RootCertStore,
) -> Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, StoreError> {
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(Duration::from_secs(5)));
    tcp.set_nodelay(true);
    tcp.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls::client_config(roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    // Idle connections are dropped before the gateway closes them (its header deadline, 30 s by
    // default, also ends idle keep-alive): reusing one the server is closing fails the request.
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(10))
        .build(connector))
}

/// An error and its sources on one line (hyper's outer errors say little on their own).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// An S3 error body's `Code` and `Message` (empty strings if absent or not XML).
pub fn parse_error(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct ErrorXml {
        code: String,
        message: String,
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]).into_owned();
    match quick_xml::de::from_str::<ErrorXml>(&text) {
        Ok(e) => (e.code, e.message),
        Err(_) => (String::new(), text),
    }
}

/// A non-success response as an error.
pub fn rejected(response: &Response) -> StoreError {
    let (code, message) = parse_error(&response.body);
    StoreError::Rejected {
        status: response.status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests;
