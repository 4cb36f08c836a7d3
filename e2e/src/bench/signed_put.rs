//! `PUT-S` of `large`: a PUT whose payload is signed chunk by chunk as it is sent, with a CRC32
//! trailer (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`, 64 KiB chunks). The SDK for Rust does
//! not send this form (over plain HTTP it hashes the whole body before the first byte), so it is
//! sent here through hyper, signed by `aws-sigv4` and [`crate::signed_stream`].

use std::convert::Infallible;
use std::time::SystemTime;

use anyhow::{Context as _, anyhow, ensure};
use aws_sigv4::http_request::SignableBody;
use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::BenchContext;
use super::driver::{Run, closed_loop};
use crate::chunked::{ChunkSigner, STREAMING_SIGNED_TRAILER};
use crate::signed_stream::{CRC32_TRAILER, SignedStream};
use crate::sigv4::{self, Signer, Unsigned};

/// Bytes per signed chunk.
const CHUNK: usize = 64 * 1024;

type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, BoxBody<Bytes, Infallible>>;

/// Where and as whom the PUTs go.
#[derive(Clone)]
struct Target {
    endpoint: String,
    region: String,
    access_key: String,
    secret_key: String,
    bucket: String,
}

/// PUTs `body` under the keys numbered `keys` (`<prefix>0000`, ...) of the run's bucket, one at
/// a time, each signed as it streams.
pub async fn put_objects(
    ctx: &BenchContext,
    prefix: &str,
    keys: std::ops::Range<usize>,
    body: Bytes,
) -> anyhow::Result<Run> {
    let http: Http = Client::builder(TokioExecutor::new()).build(crate::tls::https_connector(None));
    let target = Target {
        endpoint: ctx.endpoint.clone(),
        region: ctx.region.clone(),
        access_key: ctx.credentials.0.clone(),
        secret_key: ctx.credentials.1.clone(),
        bucket: ctx.bucket.clone(),
    };
    let (prefix, first) = (prefix.to_owned(), keys.start);
    closed_loop(keys.len(), 1, move |i| {
        let (http, target, body) = (http.clone(), target.clone(), body.clone());
        let key = format!("{prefix}{:04}", first + i);
        async move {
            put(&http, &target, &key, body)
                .await
                .with_context(|| format!("PUT-S {key}"))
        }
    })
    .await
}

async fn put(http: &Http, target: &Target, key: &str, body: Bytes) -> anyhow::Result<u64> {
    let uri: http::Uri = target.endpoint.parse()?;
    let host = uri
        .authority()
        .ok_or_else(|| anyhow!("endpoint {} has no host", target.endpoint))?
        .to_string();
    let path = format!(
        "/{}/{}",
        sigv4::uri_encode(&target.bucket),
        key.split('/')
            .map(sigv4::uri_encode)
            .collect::<Vec<_>>()
            .join("/")
    );
    let size = body.len();
    let mut headers = vec![
        ("host".to_owned(), host),
        ("content-encoding".to_owned(), "aws-chunked".to_owned()),
        (
            "content-length".to_owned(),
            SignedStream::encoded_len(size, CHUNK).to_string(),
        ),
        ("x-amz-decoded-content-length".to_owned(), size.to_string()),
        ("x-amz-trailer".to_owned(), CRC32_TRAILER.to_owned()),
    ];
    let time = SystemTime::now();
    let signer = Signer {
        access_key: &target.access_key,
        secret_key: &target.secret_key,
        region: &target.region,
        time,
    };
    let unsigned = Unsigned {
        method: "PUT",
        path_and_query: &path,
        headers: &headers,
    };
    let signed = signer.sign_headers(
        &unsigned,
        SignableBody::Precomputed(STREAMING_SIGNED_TRAILER.to_owned()),
    )?;
    headers.extend(signed.headers.into_iter().map(|(n, v)| (n.to_owned(), v)));
    let chunks = ChunkSigner::new(
        &target.secret_key,
        time,
        &target.region,
        sigv4::SERVICE,
        &signed.signature,
    );
    let frames = SignedStream::new(body, CHUNK, chunks).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut request = http::Request::builder()
        .method("PUT")
        .uri(format!("{}{path}", target.endpoint.trim_end_matches('/')));
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let request = request.body(StreamBody::new(futures::stream::iter(frames)).boxed())?;
    let response = http.request(request).await?;
    let status = response.status();
    let answer = response.into_body().collect().await?.to_bytes();
    ensure!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(size as u64)
}
