//! Integrity on the way in and out: flexible checksums (the five algorithms, checksum mode, the
//! CRC64NVME default), x-amz-content-sha256, and every aws-chunked form with its signatures and
//! trailers.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType, ObjectAttributes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use crc_fast::CrcAlgorithm;
use e2e::{Corruption, PayloadHash};
use http::Method;
use sha2::Digest as _;

/// Chunks of a streaming upload: S3's usual 64 KiB.
const CHUNK: usize = 64 * 1024;

/// Three chunks, the last one short.
fn body() -> Vec<u8> {
    (0..150_000u32).map(|i| (i % 251) as u8).collect()
}

/// The base64 checksum S3 reports for `data` under `algorithm`, computed here independently.
fn checksum(algorithm: &ChecksumAlgorithm, data: &[u8]) -> String {
    let crc32 = |a| (crc_fast::checksum(a, data) as u32).to_be_bytes().to_vec();
    let digest = match algorithm {
        ChecksumAlgorithm::Crc32 => crc32(CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32C => crc32(CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => crc_fast::checksum(CrcAlgorithm::Crc64Nvme, data)
            .to_be_bytes()
            .to_vec(),
        ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        other => panic!("S3 has no {other:?} checksum here"),
    };
    BASE64.encode(digest)
}

/// `x-amz-checksum-crc32` etc.
fn header_name(algorithm: &ChecksumAlgorithm) -> String {
    format!("x-amz-checksum-{}", algorithm.as_str().to_ascii_lowercase())
}

/// The five checksum value headers of a response that carries any.
fn checksum_headers(resp: &RawResponse) -> Vec<(String, String)> {
    [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ]
    .iter()
    .filter_map(|a| {
        let name = header_name(a);
        resp.header(&name).map(|v| (name, v.to_owned()))
    })
    .collect()
}

/// The checksum field for `algorithm` of a Put/Get/HeadObject output.
macro_rules! checksum_field {
    ($out:expr, $algorithm:expr) => {
        match $algorithm {
            ChecksumAlgorithm::Crc32 => $out.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => $out.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => $out.checksum_sha1(),
            ChecksumAlgorithm::Sha256 => $out.checksum_sha256(),
            other => panic!("S3 has no {other:?} checksum here"),
        }
    };
}

/// `HEAD` with `x-amz-checksum-mode: ENABLED`, as raw headers.
async fn head_with_checksum_mode(gw: &Gateway, path: &str) -> RawResponse {
    gw.raw()
        .request(Method::HEAD, path)
        .header("x-amz-checksum-mode", "ENABLED")
        .send()
        .await
}

async fn assert_sdk_checksum_round_trips(algorithm: ChecksumAlgorithm) {
    let (_gw, client) = with_bucket("sums").await;
    let data = body();

    let put = client
        .put_object()
        .bucket("sums")
        .key("k")
        .checksum_algorithm(algorithm.clone())
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .expect("put with a checksum");

    let get = client
        .get_object()
        .bucket("sums")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("get with checksum mode");
    let head = client
        .head_object()
        .bucket("sums")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .expect("head with checksum mode");
    let expected = checksum(&algorithm, &data);
    assert_eq!(
        checksum_field!(put, &algorithm),
        Some(expected.as_str()),
        "PutObject"
    );
    assert_eq!(
        checksum_field!(get, &algorithm),
        Some(expected.as_str()),
        "GetObject"
    );
    assert_eq!(
        checksum_field!(head, &algorithm),
        Some(expected.as_str()),
        "HeadObject"
    );
    assert_eq!(get.body.collect().await.expect("body").into_bytes(), data);
}

#[tokio::test]
async fn crc32_from_the_sdk_is_stored_and_returned_in_checksum_mode() {
    assert_sdk_checksum_round_trips(ChecksumAlgorithm::Crc32).await;
}

#[tokio::test]
async fn crc32c_from_the_sdk_is_stored_and_returned_in_checksum_mode() {
    assert_sdk_checksum_round_trips(ChecksumAlgorithm::Crc32C).await;
}

#[tokio::test]
async fn crc64nvme_from_the_sdk_is_stored_and_returned_in_checksum_mode() {
    assert_sdk_checksum_round_trips(ChecksumAlgorithm::Crc64Nvme).await;
}

#[tokio::test]
async fn sha1_from_the_sdk_is_stored_and_returned_in_checksum_mode() {
    assert_sdk_checksum_round_trips(ChecksumAlgorithm::Sha1).await;
}

#[tokio::test]
async fn sha256_from_the_sdk_is_stored_and_returned_in_checksum_mode() {
    assert_sdk_checksum_round_trips(ChecksumAlgorithm::Sha256).await;
}

#[tokio::test]
async fn without_checksum_mode_no_checksum_is_returned() {
    let (gw, client) = with_bucket("sums").await;
    client
        .put_object()
        .bucket("sums")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body()))
        .send()
        .await
        .expect("put with a checksum");

    let get = gw.raw().request(Method::GET, "/sums/k").send().await;
    let head = gw.raw().request(Method::HEAD, "/sums/k").send().await;

    assert_eq!((get.status, head.status), (200, 200));
    assert_eq!(checksum_headers(&get), []);
    assert_eq!(checksum_headers(&head), []);
}

#[tokio::test]
async fn a_ranged_get_in_checksum_mode_returns_no_whole_object_checksum() {
    let (gw, client) = with_bucket("sums").await;
    put(&client, "sums", "k", body()).await;

    let resp = gw
        .raw()
        .request(Method::GET, "/sums/k")
        .header("x-amz-checksum-mode", "ENABLED")
        .header("range", "bytes=0-99")
        .send()
        .await;

    assert_eq!(resp.status, 206, "{}", resp.text());
    assert_eq!(checksum_headers(&resp), []);
}

#[tokio::test]
async fn an_object_uploaded_without_a_checksum_gets_a_crc64nvme() {
    let (gw, _client) = with_bucket("sums").await;
    let data = body();
    for (key, payload_hash) in [
        ("signed", PayloadHash::Signed),
        ("unsigned", PayloadHash::Unsigned),
    ] {
        let put = gw
            .raw()
            .request(Method::PUT, &format!("/sums/{key}"))
            .payload_hash(payload_hash)
            .body(data.clone())
            .send()
            .await;
        assert_eq!(put.status, 200, "{key}: {}", put.text());

        let head = head_with_checksum_mode(&gw, &format!("/sums/{key}")).await;

        assert_eq!(
            checksum_headers(&head),
            [(
                "x-amz-checksum-crc64nvme".to_owned(),
                checksum(&ChecksumAlgorithm::Crc64Nvme, &data)
            )],
            "{key}"
        );
    }
}

#[tokio::test]
async fn a_wrong_crc32_header_is_bad_digest_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("sums").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/sums/k")
        .header(
            "x-amz-checksum-crc32",
            checksum(&ChecksumAlgorithm::Crc32, b"other"),
        )
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "BadDigest", 400);
    assert_eq!(snapshot(&client, "sums").await, before);
}

#[tokio::test]
async fn two_checksum_headers_are_invalid_request_and_store_nothing() {
    let (gw, client, before) = bucket_with_original("sums").await;
    let data = body();

    let resp = gw
        .raw()
        .request(Method::PUT, "/sums/k")
        .header("x-amz-checksum-crc32", checksum(&ChecksumAlgorithm::Crc32, &data))
        .header(
            "x-amz-checksum-sha256",
            checksum(&ChecksumAlgorithm::Sha256, &data),
        )
        .body(data)
        .send()
        .await;

    assert_raw_error(&resp, "InvalidRequest", 400);
    assert_eq!(snapshot(&client, "sums").await, before);
}

#[tokio::test]
async fn md5_as_sdk_checksum_algorithm_is_invalid_request_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("sums").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/sums/k")
        .header("x-amz-sdk-checksum-algorithm", "MD5")
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "InvalidRequest", 400);
    assert_eq!(snapshot(&client, "sums").await, before);
}

#[tokio::test]
async fn a_content_sha256_not_matching_the_body_is_x_amz_content_sha256_mismatch() {
    let (gw, client, before) = bucket_with_original("sums").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/sums/k")
        .payload_hash(PayloadHash::Literal(hex::encode(sha2::Sha256::digest(b"other"))))
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "XAmzContentSHA256Mismatch", 400);
    assert_eq!(snapshot(&client, "sums").await, before);
}

#[tokio::test]
async fn signed_chunks_store_the_decoded_body() {
    let (gw, client) = with_bucket("chunks").await;
    let data = body();

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed(CHUNK)
        .body(data.clone())
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get(&client, "chunks", "k").await, data);
}

#[tokio::test]
async fn a_corrupted_chunk_signature_is_signature_does_not_match_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("chunks").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed(CHUNK)
        .corrupt(Corruption::ChunkSignature(1))
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "SignatureDoesNotMatch", 403);
    assert_eq!(snapshot(&client, "chunks").await, before);
}

#[tokio::test]
async fn a_corrupted_chunk_byte_is_signature_does_not_match_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("chunks").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed(CHUNK)
        .corrupt(Corruption::ChunkData(0))
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "SignatureDoesNotMatch", 403);
    assert_eq!(snapshot(&client, "chunks").await, before);
}

#[tokio::test]
async fn a_signed_trailer_with_the_right_crc32_is_stored_with_it() {
    let (gw, client) = with_bucket("chunks").await;
    let data = body();
    let crc32 = checksum(&ChecksumAlgorithm::Crc32, &data);

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed_trailer(CHUNK, "x-amz-checksum-crc32", crc32.clone())
        .body(data.clone())
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get(&client, "chunks", "k").await, data);
    let head = head_with_checksum_mode(&gw, "/chunks/k").await;
    assert_eq!(head.header("x-amz-checksum-crc32"), Some(crc32.as_str()));
}

#[tokio::test]
async fn a_signed_trailer_with_a_wrong_crc32_is_bad_digest_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("chunks").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed_trailer(
            CHUNK,
            "x-amz-checksum-crc32",
            checksum(&ChecksumAlgorithm::Crc32, b"other"),
        )
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "BadDigest", 400);
    assert_eq!(snapshot(&client, "chunks").await, before);
}

#[tokio::test]
async fn a_corrupted_trailer_signature_is_signature_does_not_match_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("chunks").await;
    let data = body();

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_signed_trailer(
            CHUNK,
            "x-amz-checksum-crc32",
            checksum(&ChecksumAlgorithm::Crc32, &data),
        )
        .corrupt(Corruption::TrailerSignature)
        .body(data)
        .send()
        .await;

    assert_raw_error(&resp, "SignatureDoesNotMatch", 403);
    assert_eq!(snapshot(&client, "chunks").await, before);
}

#[tokio::test]
async fn an_unsigned_trailer_with_the_right_crc32_is_stored_with_it() {
    let (gw, client) = with_bucket("chunks").await;
    let data = body();
    let crc32 = checksum(&ChecksumAlgorithm::Crc32, &data);

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_unsigned_trailer(CHUNK, "x-amz-checksum-crc32", crc32.clone())
        .body(data.clone())
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(get(&client, "chunks", "k").await, data);
    let head = head_with_checksum_mode(&gw, "/chunks/k").await;
    assert_eq!(head.header("x-amz-checksum-crc32"), Some(crc32.as_str()));
}

#[tokio::test]
async fn an_unsigned_trailer_with_a_wrong_crc32_is_bad_digest_and_stores_nothing() {
    let (gw, client, before) = bucket_with_original("chunks").await;

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .streaming_unsigned_trailer(
            CHUNK,
            "x-amz-checksum-crc32",
            checksum(&ChecksumAlgorithm::Crc32, b"other"),
        )
        .body(body())
        .send()
        .await;

    assert_raw_error(&resp, "BadDigest", 400);
    assert_eq!(snapshot(&client, "chunks").await, before);
}

#[tokio::test]
async fn aws_chunked_is_stripped_from_a_stored_content_encoding() {
    let (gw, client) = with_bucket("chunks").await;
    let data = body();

    let resp = gw
        .raw()
        .request(Method::PUT, "/chunks/k")
        .header("content-encoding", "aws-chunked,gzip")
        .streaming_unsigned_trailer(
            CHUNK,
            "x-amz-checksum-crc32",
            checksum(&ChecksumAlgorithm::Crc32, &data),
        )
        .body(data.clone())
        .send()
        .await;

    assert_eq!(resp.status, 200, "{}", resp.text());
    let head = client
        .head_object()
        .bucket("chunks")
        .key("k")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_encoding(), Some("gzip"));
    assert_eq!(get(&client, "chunks", "k").await, data);
}

#[tokio::test]
async fn every_response_with_a_checksum_names_its_type() {
    let (_gw, c) = with_bucket("typed").await;
    let put = c
        .put_object()
        .bucket("typed")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body()))
        .send()
        .await
        .unwrap();
    let head = c
        .head_object()
        .bucket("typed")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let get = c
        .get_object()
        .bucket("typed")
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let attributes = c
        .get_object_attributes()
        .bucket("typed")
        .key("k")
        .object_attributes(ObjectAttributes::Checksum)
        .send()
        .await
        .unwrap();

    let full = Some(ChecksumType::FullObject);
    assert!(put.checksum_sha256.is_some());
    assert_eq!(put.checksum_type, full);
    assert_eq!(head.checksum_type, full);
    assert_eq!(get.checksum_type, full);
    assert_eq!(attributes.checksum.and_then(|c| c.checksum_type), full);
}
