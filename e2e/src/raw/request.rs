//! One hand-built S3 request: every header, the signature, the body encoding and the Host are the
//! test's to choose, including choices no SDK would make.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::SignableBody;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use super::{RawClient, RawResponse, TransportError};
use crate::chunked::{self, ChunkSigner, Corruption};
use crate::sigv4::{self, Signer, Unsigned};

/// What `x-amz-content-sha256` says (and what the signature covers as the payload hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// The real lower-case hex SHA-256 of the body.
    Signed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Exactly this string, true or not.
    Literal(String),
}

#[derive(Clone, Debug)]
enum Auth {
    Anonymous,
    Signed { access_key: String, secret_key: String },
}

#[derive(Clone, Debug)]
enum BodyEncoding {
    /// The body as given.
    Plain,
    /// aws-chunked with a signature per chunk, optionally followed by a signed trailer.
    SignedChunks {
        chunk_size: usize,
        trailer: Option<(String, String)>,
    },
    /// aws-chunked without chunk signatures, followed by an unsigned trailer.
    UnsignedChunks {
        chunk_size: usize,
        trailer: (String, String),
    },
}

/// How long [`RawRequest::send`] waits for the whole response before failing the test.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A request under construction; see [`RawClient::request`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RawRequest {
    client: RawClient,
    method: Method,
    host: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    auth: Auth,
    region: String,
    signing_time: Option<SystemTime>,
    payload_hash: Option<PayloadHash>,
    encoding: BodyEncoding,
    corruption: Option<Corruption>,
    timeout: Duration,
}

impl RawRequest {
    pub(super) fn new(client: RawClient, method: Method, host: String, path_and_query: String) -> Self {
        let auth = Auth::Signed {
            access_key: client.access_key.clone(),
            secret_key: client.secret_key.clone(),
        };
        let region = client.region.clone();
        Self {
            client,
            method,
            host,
            path_and_query,
            headers: Vec::new(),
            body: Bytes::new(),
            auth,
            region,
            signing_time: None,
            payload_hash: None,
            encoding: BodyEncoding::Plain,
            corruption: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds a header (repeatable: the same name twice sends it twice). Set here, it is signed.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends no signature at all.
    pub fn anonymous(mut self) -> Self {
        self.auth = Auth::Anonymous;
        self
    }

    /// Signs with these credentials instead of the client's.
    pub fn credentials(mut self, access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        self.auth = Auth::Signed {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        };
        self
    }

    /// Signs for this region instead of the client's.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Signs as of this time instead of now (clock skew, expired presigned URLs).
    pub fn signing_time(mut self, time: SystemTime) -> Self {
        self.signing_time = Some(time);
        self
    }

    /// Chooses `x-amz-content-sha256`. The default is [`PayloadHash::Signed`] for plain bodies and
    /// the matching `STREAMING-*` marker for chunked ones; a `Literal` overrides both.
    pub fn payload_hash(mut self, hash: PayloadHash) -> Self {
        self.payload_hash = Some(hash);
        self
    }

    /// Virtual-host addressing: sends (and signs) `Host: <bucket_host>` while still connecting to
    /// the gateway. Without a port, the gateway's port is appended (`bkt.s3.local` ->
    /// `bkt.s3.local:PORT`).
    pub fn virtual_host(mut self, bucket_host: &str) -> Self {
        self.host = if bucket_host.contains(':') {
            bucket_host.to_owned()
        } else {
            format!("{bucket_host}:{}", self.client.port())
        };
        self
    }

    /// Sends the body as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, each chunk signed.
    pub fn streaming_signed(mut self, chunk_size: usize) -> Self {
        self.encoding = BodyEncoding::SignedChunks {
            chunk_size,
            trailer: None,
        };
        self
    }

    /// Sends the body as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks, then
    /// `trailer_name: trailer_value` (announced in `x-amz-trailer`) and the trailer signature.
    pub fn streaming_signed_trailer(
        mut self,
        chunk_size: usize,
        trailer_name: impl Into<String>,
        trailer_value: impl Into<String>,
    ) -> Self {
        let trailer = Some((trailer_name.into(), trailer_value.into()));
        self.encoding = BodyEncoding::SignedChunks { chunk_size, trailer };
        self
    }

    /// Sends the body as `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain aws-chunked chunks, then
    /// `trailer_name: trailer_value` (announced in `x-amz-trailer`). Only the headers are signed.
    pub fn streaming_unsigned_trailer(
        mut self,
        chunk_size: usize,
        trailer_name: impl Into<String>,
        trailer_value: impl Into<String>,
    ) -> Self {
        let trailer = (trailer_name.into(), trailer_value.into());
        self.encoding = BodyEncoding::UnsignedChunks { chunk_size, trailer };
        self
    }

    /// Breaks a signed chunked body after signing it (see [`Corruption`]).
    pub fn corrupt(mut self, corruption: Corruption) -> Self {
        self.corruption = Some(corruption);
        self
    }

    /// How long [`send`](Self::send) waits for the response (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request and reads the whole response; panics if no HTTP response arrives.
    pub async fn send(self) -> RawResponse {
        let what = format!("{} {}", self.method, self.path_and_query);
        self.try_send().await.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Like [`send`](Self::send), but a transport failure (say, the gateway closing the connection
    /// on a rejected body) is returned rather than panicking.
    pub async fn try_send(self) -> Result<RawResponse, TransportError> {
        let client = self.client.clone();
        let timeout = self.timeout;
        let request = self.into_http();
        match tokio::time::timeout(timeout, client.execute(request)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }

    /// A presigned URL for this request (method, path, query, headers, credentials, region and
    /// signing time), valid for `expires_in` from the signing time. Headers added with
    /// [`header`](Self::header) are signed, so whoever uses the URL must send them too.
    pub fn presign(self, expires_in: Duration) -> String {
        let Auth::Signed {
            access_key,
            secret_key,
        } = &self.auth
        else {
            panic!("a presigned URL needs credentials");
        };
        assert!(
            matches!(self.encoding, BodyEncoding::Plain),
            "a presigned URL cannot carry a chunked body"
        );
        let signer = Signer {
            access_key,
            secret_key,
            region: &self.region,
            time: self.signing_time.unwrap_or_else(SystemTime::now),
        };
        let headers = self.headers_with_host();
        let unsigned = Unsigned {
            method: self.method.as_str(),
            path_and_query: &self.path_and_query,
            headers: &headers,
        };
        let query = signer
            .presign_query(&unsigned, expires_in)
            .expect("presign request");
        let separator = if self.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}://{}{}{separator}{query}",
            self.client.scheme, self.host, self.path_and_query
        )
    }

    /// The exact request [`send`](Self::send) would put on the wire (signed, body encoded), for
    /// inspection or for sending some other way.
    pub fn into_http(self) -> http::Request<Bytes> {
        let time = self.signing_time.unwrap_or_else(SystemTime::now);
        let mut headers = self.headers_with_host();
        let content_sha256 = self.content_sha256();

        match &self.encoding {
            BodyEncoding::Plain => {
                assert!(
                    self.corruption.is_none(),
                    "corruption applies to signed chunked bodies only"
                );
                let may_have_body = matches!(self.method, Method::PUT | Method::POST);
                if (!self.body.is_empty() || may_have_body) && !has_header(&headers, "content-length") {
                    headers.push(("content-length".to_owned(), self.body.len().to_string()));
                }
            }
            BodyEncoding::SignedChunks { chunk_size, trailer } => {
                let trailers = trailer_slice(trailer.as_ref());
                let encoded_len = chunked::signed_encoded_len(self.body.len(), *chunk_size, &trailers);
                add_chunked_headers(&mut headers, self.body.len(), encoded_len, trailer.as_ref());
            }
            BodyEncoding::UnsignedChunks { chunk_size, trailer } => {
                assert!(
                    self.corruption.is_none(),
                    "corruption applies to signed chunked bodies only"
                );
                let trailers = trailer_slice(Some(trailer));
                let encoded_len = chunked::unsigned_encoded_len(self.body.len(), *chunk_size, &trailers);
                add_chunked_headers(&mut headers, self.body.len(), encoded_len, Some(trailer));
            }
        }

        let seed_signature = match &self.auth {
            Auth::Anonymous => {
                if let Some(value) = content_sha256 {
                    headers.push(("x-amz-content-sha256".to_owned(), value));
                }
                None
            }
            Auth::Signed {
                access_key,
                secret_key,
            } => {
                let signer = Signer {
                    access_key,
                    secret_key,
                    region: &self.region,
                    time,
                };
                // The hash is precomputed even for a signed body: aws-sigv4 would hash the same bytes.
                let signable = match content_sha256 {
                    Some(hash) => SignableBody::Precomputed(hash),
                    None => SignableBody::UnsignedPayload,
                };
                let unsigned = Unsigned {
                    method: self.method.as_str(),
                    path_and_query: &self.path_and_query,
                    headers: &headers,
                };
                let signed = signer.sign_headers(&unsigned, signable).expect("sign request");
                headers.extend(
                    signed
                        .headers
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), value)),
                );
                Some((secret_key.clone(), signed.signature))
            }
        };

        let body =
            match &self.encoding {
                BodyEncoding::Plain => self.body.clone(),
                BodyEncoding::SignedChunks { chunk_size, trailer } => {
                    let Some((secret_key, seed)) = seed_signature else {
                        panic!("a signed chunked body needs credentials");
                    };
                    let mut signer = ChunkSigner::new(&secret_key, time, &self.region, sigv4::SERVICE, &seed);
                    let trailers = trailer_slice(trailer.as_ref());
                    Bytes::from(chunked::encode_signed(
                        &self.body,
                        *chunk_size,
                        &mut signer,
                        &trailers,
                        self.corruption,
                    ))
                }
                BodyEncoding::UnsignedChunks { chunk_size, trailer } => Bytes::from(
                    chunked::encode_unsigned(&self.body, *chunk_size, &trailer_slice(Some(trailer))),
                ),
            };

        let uri = format!(
            "{}://{}{}",
            self.client.scheme, self.client.authority, self.path_and_query
        );
        let mut builder = http::Request::builder().method(self.method.clone()).uri(&uri);
        for (name, value) in &headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
            let value =
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("header {name}: {value:?}: {e}"));
            builder = builder.header(name, value);
        }
        builder
            .body(body)
            .unwrap_or_else(|e| panic!("request {} {uri}: {e}", self.method))
    }

    /// The test's headers with `host` first, unless the test set its own.
    fn headers_with_host(&self) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(self.headers.len() + 8);
        if !has_header(&self.headers, "host") {
            headers.push(("host".to_owned(), self.host.clone()));
        }
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// The value of `x-amz-content-sha256`, or `None` when nothing asks for one (an anonymous
    /// plain request without an explicit [`payload_hash`](Self::payload_hash)).
    fn content_sha256(&self) -> Option<String> {
        let hash = |hash: &PayloadHash| match hash {
            PayloadHash::Signed => chunked::sha256_hex(&self.body),
            PayloadHash::Unsigned => "UNSIGNED-PAYLOAD".to_owned(),
            PayloadHash::Literal(literal) => literal.clone(),
        };
        match (&self.encoding, &self.payload_hash) {
            (_, Some(PayloadHash::Literal(literal))) => Some(literal.clone()),
            (BodyEncoding::SignedChunks { trailer: None, .. }, _) => {
                Some(chunked::STREAMING_SIGNED.to_owned())
            }
            (BodyEncoding::SignedChunks { trailer: Some(_), .. }, _) => {
                Some(chunked::STREAMING_SIGNED_TRAILER.to_owned())
            }
            (BodyEncoding::UnsignedChunks { .. }, _) => Some(chunked::STREAMING_UNSIGNED_TRAILER.to_owned()),
            (BodyEncoding::Plain, Some(explicit)) => Some(hash(explicit)),
            (BodyEncoding::Plain, None) => match self.auth {
                Auth::Anonymous => None,
                Auth::Signed { .. } => Some(hash(&PayloadHash::Signed)),
            },
        }
    }
}

/// The headers every aws-chunked request carries (unless the test set them itself).
fn add_chunked_headers(
    headers: &mut Vec<(String, String)>,
    decoded_len: usize,
    encoded_len: usize,
    trailer: Option<&(String, String)>,
) {
    let mut add = |name: &str, value: String| {
        if !has_header(headers, name) {
            headers.push((name.to_owned(), value));
        }
    };
    add("content-encoding", "aws-chunked".to_owned());
    add("x-amz-decoded-content-length", decoded_len.to_string());
    add("content-length", encoded_len.to_string());
    if let Some((name, _)) = trailer {
        add("x-amz-trailer", name.clone());
    }
}

fn trailer_slice(trailer: Option<&(String, String)>) -> Vec<(&str, &str)> {
    trailer
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .into_iter()
        .collect()
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}
