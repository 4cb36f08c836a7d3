//! The harness's requests, checked against an independent SigV4 verifier: s3s (the gateway's
//! protocol layer) serving an in-memory recorder. A request that passes authentication reaches
//! the recorder, which stores the decoded body; one that fails never gets there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use bytes::Bytes;
use e2e::{Corruption, PayloadHash, RawClient};
use futures::StreamExt;
use http::{HeaderMap, Method};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use s3s::dto::{GetObjectInput, GetObjectOutput, PutObjectInput, PutObjectOutput, StreamingBlob};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};

const ACCESS_KEY: &str = "AKIDHARNESSTEST00001";
const SECRET_KEY: &str = "harness/secret/key/for/the/s3s/crosscheck";
const REGION: &str = "us-east-1";
const BASE_DOMAIN: &str = "s3.local";

/// What the recorder saw of one PUT.
#[derive(Clone, Debug)]
struct Stored {
    body: Bytes,
    trailers: Option<HeaderMap>,
}

#[derive(Clone, Default)]
struct Recorder {
    objects: Arc<Mutex<HashMap<(String, String), Stored>>>,
}

#[async_trait::async_trait]
impl S3 for Recorder {
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let mut body = Vec::new();
        if let Some(mut stream) = req.input.body {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| S3Error::with_message(S3ErrorCode::IncompleteBody, e.to_string()))?;
                body.extend_from_slice(&chunk);
            }
        }
        let trailers = req.trailing_headers.and_then(|t| t.take());
        let stored = Stored {
            body: Bytes::from(body),
            trailers,
        };
        self.objects
            .lock()
            .expect("lock")
            .insert((req.input.bucket, req.input.key), stored);
        Ok(S3Response::new(PutObjectOutput::default()))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let key = (req.input.bucket, req.input.key);
        let Some(stored) = self.objects.lock().expect("lock").get(&key).cloned() else {
            return Err(s3_error!(NoSuchKey));
        };
        let length = i64::try_from(stored.body.len()).expect("small body");
        let body = StreamingBlob::from(s3s::Body::from(stored.body));
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: Some(length),
            ..Default::default()
        }))
    }
}

struct Server {
    endpoint: String,
    recorder: Recorder,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let recorder = Recorder::default();
        let mut builder = s3s::service::S3ServiceBuilder::new(recorder.clone());
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        // s3s matches the Host header, port included, against the base domain.
        let base_domain = format!("{BASE_DOMAIN}:{}", addr.port());
        builder.set_host(s3s::host::SingleDomain::new(&base_domain).expect("domain"));
        let service = builder.build();
        let endpoint = format!("http://{addr}");
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { endpoint, recorder }
    }

    fn raw(&self) -> RawClient {
        RawClient::new(&self.endpoint, REGION, ACCESS_KEY, SECRET_KEY)
    }

    fn stored(&self, bucket: &str, key: &str) -> Option<Stored> {
        self.recorder
            .objects
            .lock()
            .expect("lock")
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
    }
}

fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| u8::try_from(i % 251).expect("fits"))
        .collect::<Vec<u8>>()
        .into()
}

fn sha256_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

#[tokio::test]
async fn signed_put_is_accepted_and_stored() {
    let server = Server::start().await;
    let body = payload(1000);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/plain")
        .body(body.clone())
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.stored("bkt", "plain").expect("stored").body, body);
}

#[tokio::test]
async fn unsigned_payload_is_accepted() {
    let server = Server::start().await;
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/unsigned")
        .payload_hash(PayloadHash::Unsigned)
        .body("x")
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let server = Server::start().await;
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/k")
        .credentials(ACCESS_KEY, "not-the-secret")
        .body("x")
        .send()
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.error_code().as_deref(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn lying_payload_hash_is_rejected() {
    let server = Server::start().await;
    let wrong = hex::encode(Sha256::digest(b"something else"));
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/k")
        .payload_hash(PayloadHash::Literal(wrong))
        .body("x")
        .send()
        .await;
    assert_ne!(response.status, 200, "{}", response.text());
    assert!(server.stored("bkt", "k").is_none());
}

#[tokio::test]
async fn skewed_signing_time_is_rejected() {
    let server = Server::start().await;
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/k")
        .signing_time(an_hour_ago)
        .body("x")
        .send()
        .await;
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("RequestTimeTooSkewed"));
}

#[tokio::test]
async fn anonymous_request_has_no_identity() {
    let server = Server::start().await;
    let response = server
        .raw()
        .request(Method::GET, "/bkt/k")
        .anonymous()
        .send()
        .await;
    // s3s without an access checker denies every anonymous request.
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("AccessDenied"));
}

#[tokio::test]
async fn virtual_host_request_addresses_the_bucket() {
    let server = Server::start().await;
    let response = server
        .raw()
        .request(Method::PUT, "/vkey")
        .virtual_host(&format!("vbkt.{BASE_DOMAIN}"))
        .body("hello")
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        server.stored("vbkt", "vkey").expect("stored").body,
        Bytes::from("hello")
    );
}

#[tokio::test]
async fn streaming_signed_body_is_decoded() {
    let server = Server::start().await;
    let body = payload(200_000);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/chunked")
        .streaming_signed(64 * 1024)
        .body(body.clone())
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.stored("bkt", "chunked").expect("stored").body, body);
}

#[tokio::test]
async fn corrupted_chunk_signature_is_rejected() {
    let server = Server::start().await;
    for corruption in [
        Corruption::ChunkSignature(1),
        Corruption::ChunkSignature(3),
        Corruption::ChunkData(0),
    ] {
        let response = server
            .raw()
            .request(Method::PUT, "/bkt/corrupt")
            .streaming_signed(64 * 1024)
            .corrupt(corruption)
            .body(payload(200_000))
            .try_send()
            .await;
        if let Ok(response) = response {
            assert_ne!(response.status, 200, "{corruption:?} accepted");
        }
        assert!(server.stored("bkt", "corrupt").is_none(), "{corruption:?} stored");
    }
}

#[tokio::test]
async fn streaming_signed_trailer_delivers_the_trailer() {
    let server = Server::start().await;
    let body = payload(100_000);
    let checksum = sha256_base64(&body);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/trailer")
        .streaming_signed_trailer(64 * 1024, "x-amz-checksum-sha256", checksum.clone())
        .body(body.clone())
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let stored = server.stored("bkt", "trailer").expect("stored");
    assert_eq!(stored.body, body);
    let trailers = stored.trailers.expect("trailers");
    assert_eq!(
        trailers.get("x-amz-checksum-sha256").expect("checksum trailer"),
        checksum.as_str()
    );
}

#[tokio::test]
async fn corrupted_trailer_signature_is_rejected() {
    let server = Server::start().await;
    let body = payload(1000);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/bad-trailer")
        .streaming_signed_trailer(64 * 1024, "x-amz-checksum-sha256", sha256_base64(&body))
        .corrupt(Corruption::TrailerSignature)
        .body(body)
        .try_send()
        .await;
    if let Ok(response) = response {
        assert_ne!(response.status, 200, "{}", response.text());
    }
    assert!(server.stored("bkt", "bad-trailer").is_none());
}

#[tokio::test]
async fn streaming_unsigned_trailer_is_decoded() {
    let server = Server::start().await;
    let body = payload(70_000);
    let checksum = sha256_base64(&body);
    let response = server
        .raw()
        .request(Method::PUT, "/bkt/unsigned-trailer")
        .streaming_unsigned_trailer(8 * 1024, "x-amz-checksum-sha256", checksum.clone())
        .body(body.clone())
        .send()
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let stored = server.stored("bkt", "unsigned-trailer").expect("stored");
    assert_eq!(stored.body, body);
    assert_eq!(
        stored
            .trailers
            .expect("trailers")
            .get("x-amz-checksum-sha256")
            .expect("trailer"),
        checksum.as_str()
    );
}

#[tokio::test]
async fn presigned_put_then_get_round_trips() {
    let server = Server::start().await;
    let raw = server.raw();
    let put_url = raw
        .request(Method::PUT, "/bkt/presigned")
        .presign(Duration::from_secs(300));
    let response = raw.put_url(&put_url, "presigned body").await;
    assert_eq!(response.status, 200, "{}", response.text());

    let get_url = raw
        .request(Method::GET, "/bkt/presigned")
        .presign(Duration::from_secs(300));
    let response = raw.get_url(&get_url).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.body, Bytes::from("presigned body"));
}

#[tokio::test]
async fn expired_presigned_url_is_rejected() {
    let server = Server::start().await;
    let raw = server.raw();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let url = raw
        .request(Method::GET, "/bkt/presigned")
        .signing_time(two_hours_ago)
        .presign(Duration::from_secs(3600));
    let response = raw.get_url(&url).await;
    assert_eq!(response.status, 403, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("AccessDenied"));
}

#[tokio::test]
async fn sdk_client_with_default_checksums_is_accepted() {
    let server = Server::start().await;
    let client = e2e::s3_client(&server.endpoint, REGION, ACCESS_KEY, SECRET_KEY, |b| b);
    let body = payload(300_000);
    client
        .put_object()
        .bucket("bkt")
        .key("sdk")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("SDK PUT accepted");
    assert_eq!(server.stored("bkt", "sdk").expect("stored").body, body);

    let object = client
        .get_object()
        .bucket("bkt")
        .key("sdk")
        .send()
        .await
        .expect("SDK GET");
    let data = object.body.collect().await.expect("body").into_bytes();
    assert_eq!(data, body);
}
