//! Objects: PutObject's headers and digests, GetObject's ranges and overrides, HeadObject,
//! DeleteObject(s), what keys may hold, and bodies from empty to 50 MiB.

mod common;

use std::io::Write;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::*;
use http::Method;
use md5::{Digest as _, Md5};
use sha2::Sha256;

fn md5_base64(data: &[u8]) -> String {
    BASE64.encode(Md5::digest(data))
}

/// An S3 ETag of a single-part object: the quoted hex MD5 of its bytes.
fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(data)))
}

fn delete_request(keys: &[&str], quiet: bool) -> Delete {
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().expect("key set"))
        .collect();
    Delete::builder()
        .set_objects(Some(objects))
        .quiet(quiet)
        .build()
        .expect("objects set")
}

/// `POST /{bucket}?delete` with `body`, as a client that computes Content-MD5 sends it.
async fn raw_delete_objects(gw: &Gateway, bucket: &str, body: String) -> RawResponse {
    gw.raw()
        .request(Method::POST, &format!("/{bucket}?delete"))
        .header("content-md5", md5_base64(body.as_bytes()))
        .body(body)
        .send()
        .await
}

async fn put_keys(client: &Client, bucket: &str, keys: &[&str]) {
    for key in keys {
        put(client, bucket, key, key.as_bytes().to_vec()).await;
    }
}

const TEN_BYTES: &[u8] = b"0123456789";

#[tokio::test]
async fn content_headers_and_user_metadata_come_back_on_get_and_head() {
    let (_gw, client) = with_bucket("headers").await;
    let expires = DateTime::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    client
        .put_object()
        .bucket("headers")
        .key("doc")
        .body(ByteStream::from_static(b"{\"a\":1}"))
        .metadata("color", "blue")
        .metadata("owner-team", "storage")
        .content_type("application/json; charset=utf-8")
        .content_encoding("gzip")
        .content_disposition("attachment; filename=\"doc.json\"")
        .content_language("de-DE")
        .cache_control("max-age=60, must-revalidate")
        .expires(expires)
        .send()
        .await
        .expect("put with headers");

    let got = client
        .get_object()
        .bucket("headers")
        .key("doc")
        .send()
        .await
        .expect("get");
    let head = client
        .head_object()
        .bucket("headers")
        .key("doc")
        .send()
        .await
        .expect("head");

    let expected_metadata = [
        ("color".to_owned(), "blue".to_owned()),
        ("owner-team".to_owned(), "storage".to_owned()),
    ]
    .into_iter()
    .collect();
    let expected = (
        Some("application/json; charset=utf-8"),
        Some("gzip"),
        Some("attachment; filename=\"doc.json\""),
        Some("de-DE"),
        Some("max-age=60, must-revalidate"),
        Some("Tue, 01 Jan 2030 00:00:00 GMT"),
        Some(&expected_metadata),
    );
    let from_get = (
        got.content_type(),
        got.content_encoding(),
        got.content_disposition(),
        got.content_language(),
        got.cache_control(),
        got.expires_string(),
        got.metadata(),
    );
    let from_head = (
        head.content_type(),
        head.content_encoding(),
        head.content_disposition(),
        head.content_language(),
        head.cache_control(),
        head.expires_string(),
        head.metadata(),
    );
    assert_eq!(from_get, expected);
    assert_eq!(from_head, expected);
}

#[tokio::test]
async fn etag_is_the_quoted_md5_of_the_body() {
    let (_gw, client) = with_bucket("etags").await;
    let body = b"the quick brown fox".to_vec();

    let etag = put(&client, "etags", "fox", body.clone()).await;

    assert_eq!(etag, quoted_md5(&body));
    assert_eq!(head_etag(&client, "etags", "fox").await, Some(quoted_md5(&body)));
}

#[tokio::test]
async fn a_correct_content_md5_is_accepted() {
    let (_gw, client) = with_bucket("digests").await;
    let body = b"checked on arrival".to_vec();

    client
        .put_object()
        .bucket("digests")
        .key("k")
        .content_md5(md5_base64(&body))
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put with the right Content-MD5");

    assert_eq!(get(&client, "digests", "k").await, body);
}

#[tokio::test]
async fn a_wrong_content_md5_is_bad_digest_and_stores_nothing() {
    let (_gw, client) = with_bucket("digests").await;
    put(&client, "digests", "k", b"original".to_vec()).await;
    let before = snapshot(&client, "digests").await;

    let result = client
        .put_object()
        .bucket("digests")
        .key("k")
        .content_md5(md5_base64(b"something else"))
        .body(ByteStream::from_static(b"replacement"))
        .send()
        .await;

    assert_s3_error(result, "BadDigest", 400);
    assert_eq!(snapshot(&client, "digests").await, before);
    assert_eq!(get(&client, "digests", "k").await, b"original");
}

#[tokio::test]
async fn a_malformed_content_md5_is_invalid_digest_and_stores_nothing() {
    let (gw, client) = with_bucket("digests").await;
    put(&client, "digests", "k", b"original".to_vec()).await;
    let before = snapshot(&client, "digests").await;
    // Not base64 at all, and base64 of something that is not 16 bytes long.
    for malformed in ["not base64!".to_owned(), BASE64.encode([7u8; 15])] {
        let result = client
            .put_object()
            .bucket("digests")
            .key("k")
            .content_md5(&malformed)
            .body(ByteStream::from_static(b"replacement"))
            .send()
            .await;
        assert_s3_error(result, "InvalidDigest", 400);
    }
    // Sent empty: malformed too, not the same as not sent.
    let empty = gw
        .raw()
        .request(Method::PUT, "/digests/k")
        .header("content-md5", "")
        .body("replacement")
        .send()
        .await;
    assert_raw_error(&empty, "InvalidDigest", 400);
    assert_eq!(snapshot(&client, "digests").await, before);
}

#[tokio::test]
async fn byte_ranges_are_partial_content_with_a_content_range() {
    let (_gw, client) = with_bucket("ranges").await;
    put(&client, "ranges", "digits", TEN_BYTES.to_vec()).await;
    let cases = [
        ("bytes=2-5", "bytes 2-5/10", &b"2345"[..]),
        ("bytes=0-0", "bytes 0-0/10", b"0"),
        ("bytes=4-", "bytes 4-9/10", b"456789"),
        ("bytes=-3", "bytes 7-9/10", b"789"),
        ("bytes=7-100", "bytes 7-9/10", b"789"), // the end is clamped to the object
        ("bytes=-100", "bytes 0-9/10", TEN_BYTES),
    ];
    for (range, content_range, body) in cases {
        let out = client
            .get_object()
            .bucket("ranges")
            .key("digits")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}"));
        let length = out.content_length();
        let got_range = out.content_range().map(str::to_owned);
        let got = out.body.collect().await.expect("body").into_bytes();
        assert_eq!(
            (got_range.as_deref(), length, &got[..]),
            (Some(content_range), Some(body.len() as i64), body),
            "{range}"
        );
    }
}

#[tokio::test]
async fn a_range_is_206_on_the_wire() {
    let (gw, client) = with_bucket("ranges").await;
    put(&client, "ranges", "digits", TEN_BYTES.to_vec()).await;

    let resp = gw
        .raw()
        .request(Method::GET, "/ranges/digits")
        .header("range", "bytes=2-5")
        .send()
        .await;

    assert_eq!(
        (resp.status, resp.header("content-range"), &resp.body[..]),
        (206, Some("bytes 2-5/10"), &b"2345"[..])
    );
}

#[tokio::test]
async fn a_range_starting_past_the_end_is_invalid_range() {
    let (_gw, client) = with_bucket("ranges").await;
    put(&client, "ranges", "digits", TEN_BYTES.to_vec()).await;

    let result = client
        .get_object()
        .bucket("ranges")
        .key("digits")
        .range("bytes=10-")
        .send()
        .await;

    assert_s3_error(result, "InvalidRange", 416);
}

/// RFC 9110 lets a server ignore a Range it cannot parse, and AWS does: the whole object, 200.
/// The SDK sends what it is given, so garbage reaches the gateway signed.
#[tokio::test]
async fn a_syntactically_invalid_range_is_ignored() {
    let (gw, client) = with_bucket("ranges").await;
    put(&client, "ranges", "digits", TEN_BYTES.to_vec()).await;

    for range in ["bytes=abc", "bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes="] {
        let out = client
            .get_object()
            .bucket("ranges")
            .key("digits")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}"));
        assert_eq!(out.content_range(), None, "{range}");
        let got = out.body.collect().await.expect("body").into_bytes();
        assert_eq!(&got[..], TEN_BYTES, "{range}");

        let head = gw
            .raw()
            .request(Method::HEAD, "/ranges/digits")
            .header("range", range)
            .send()
            .await;
        assert_eq!(
            (
                head.status,
                head.header("content-length"),
                head.header("content-range")
            ),
            (200, Some("10"), None),
            "HEAD {range}"
        );
    }

    // Query parameters still apply to the replayed request.
    let resp = gw
        .raw()
        .request(
            Method::GET,
            "/ranges/digits?response-content-type=text%2Fx-digits",
        )
        .header("range", "bytes=9-0")
        .send()
        .await;
    assert_eq!(
        (resp.status, resp.header("content-type"), &resp.body[..]),
        (200, Some("text/x-digits"), TEN_BYTES),
        "{}",
        resp.text()
    );
}

/// Ignoring the Range never skips verifying the request that carried it.
#[tokio::test]
async fn an_invalid_range_does_not_excuse_a_bad_signature() {
    let (gw, client) = with_bucket("ranges").await;
    put(&client, "ranges", "digits", TEN_BYTES.to_vec()).await;

    let forged = gw
        .raw()
        .request(Method::GET, "/ranges/digits")
        .header("range", "bytes=abc")
        .credentials(&gw.access_key, "not-the-secret")
        .send()
        .await;
    assert_raw_error(&forged, "SignatureDoesNotMatch", 403);

    let anonymous = gw
        .raw()
        .request(Method::GET, "/ranges/digits")
        .header("range", "bytes=abc")
        .anonymous()
        .send()
        .await;
    assert_raw_error(&anonymous, "AccessDenied", 403);

    // A presigned URL signs only the host: the Range a browser adds is not covered, and ignored.
    let url = gw
        .raw()
        .request(Method::GET, "/ranges/digits")
        .presign(std::time::Duration::from_secs(300));
    let shared = gw
        .raw()
        .request_url(Method::GET, &url)
        .header("range", "bytes=0-1,5-6")
        .send()
        .await;
    assert_eq!(
        (shared.status, &shared.body[..]),
        (200, TEN_BYTES),
        "{}",
        shared.text()
    );
}

#[tokio::test]
async fn response_overrides_replace_the_stored_headers() {
    let (_gw, client) = with_bucket("overrides").await;
    client
        .put_object()
        .bucket("overrides")
        .key("k")
        .body(ByteStream::from_static(b"body"))
        .content_type("text/plain")
        .content_disposition("inline")
        .send()
        .await
        .expect("put");

    let out = client
        .get_object()
        .bucket("overrides")
        .key("k")
        .response_content_type("application/octet-stream")
        .response_content_disposition("attachment; filename=\"k.bin\"")
        .response_content_encoding("identity")
        .response_content_language("fr")
        .response_cache_control("no-store")
        .response_expires(DateTime::from_secs(1_893_456_000))
        .send()
        .await
        .expect("get with overrides");

    assert_eq!(
        (
            out.content_type(),
            out.content_disposition(),
            out.content_encoding(),
            out.content_language(),
            out.cache_control(),
            out.expires_string(),
        ),
        (
            Some("application/octet-stream"),
            Some("attachment; filename=\"k.bin\""),
            Some("identity"),
            Some("fr"),
            Some("no-store"),
            Some("Tue, 01 Jan 2030 00:00:00 GMT"),
        )
    );
}

#[tokio::test]
async fn head_object_of_a_missing_key_is_404_without_a_body() {
    let (gw, _client) = with_bucket("heads").await;
    let resp = gw.raw().request(Method::HEAD, "/heads/missing").send().await;
    assert_eq!((resp.status, resp.body.len()), (404, 0));
}

#[tokio::test]
async fn get_object_of_a_missing_key_is_no_such_key() {
    let (_gw, client) = with_bucket("gets").await;
    let result = client.get_object().bucket("gets").key("missing").send().await;
    assert_s3_error(result, "NoSuchKey", 404);
}

#[tokio::test]
async fn get_object_in_a_missing_bucket_is_no_such_bucket() {
    let gw = start();
    let result = gw.client().get_object().bucket("nowhere").key("k").send().await;
    assert_s3_error(result, "NoSuchBucket", 404);
}

#[tokio::test]
async fn deleting_an_object_twice_is_no_content_both_times() {
    let (gw, client) = with_bucket("deletes").await;
    put(&client, "deletes", "k", b"doomed".to_vec()).await;

    let first = gw.raw().request(Method::DELETE, "/deletes/k").send().await;
    let second = gw.raw().request(Method::DELETE, "/deletes/k").send().await;

    assert_eq!((first.status, second.status), (204, 204));
    assert_s3_error(
        client.get_object().bucket("deletes").key("k").send().await,
        "NoSuchKey",
        404,
    );
}

#[tokio::test]
async fn deleting_a_key_that_never_existed_is_no_content() {
    let (gw, client) = with_bucket("deletes").await;
    put(&client, "deletes", "other", b"untouched".to_vec()).await;
    let before = snapshot(&client, "deletes").await;

    let resp = gw.raw().request(Method::DELETE, "/deletes/never").send().await;

    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(snapshot(&client, "deletes").await, before);
}

#[tokio::test]
async fn delete_objects_reports_every_key_including_missing_ones() {
    let (_gw, client) = with_bucket("batch").await;
    put_keys(&client, "batch", &["a", "b", "keep"]).await;

    let out = client
        .delete_objects()
        .bucket("batch")
        .delete(delete_request(&["a", "b", "missing"], false))
        .send()
        .await
        .expect("delete objects");

    let mut deleted: Vec<&str> = out
        .deleted()
        .iter()
        .map(|d| d.key().unwrap_or_default())
        .collect();
    deleted.sort_unstable();
    assert_eq!((deleted, out.errors().len()), (vec!["a", "b", "missing"], 0));
    let remaining: Vec<String> = snapshot(&client, "batch")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(remaining, ["keep"]);
}

#[tokio::test]
async fn delete_objects_in_quiet_mode_reports_nothing_and_deletes() {
    let (_gw, client) = with_bucket("batch").await;
    put_keys(&client, "batch", &["a", "b", "keep"]).await;

    let out = client
        .delete_objects()
        .bucket("batch")
        .delete(delete_request(&["a", "b", "missing"], true))
        .send()
        .await
        .expect("delete objects");

    assert_eq!((out.deleted().len(), out.errors().len()), (0, 0));
    let remaining: Vec<String> = snapshot(&client, "batch")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(remaining, ["keep"]);
}

#[tokio::test]
async fn delete_objects_with_more_than_1000_keys_is_malformed_xml_and_deletes_nothing() {
    let (gw, client) = with_bucket("batch").await;
    put_keys(&client, "batch", &["k0", "k1"]).await;
    let before = snapshot(&client, "batch").await;
    let objects: String = (0..1001)
        .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
        .collect();
    let body = format!("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{objects}</Delete>");

    let resp = raw_delete_objects(&gw, "batch", body).await;

    assert_raw_error(&resp, "MalformedXML", 400);
    assert_eq!(snapshot(&client, "batch").await, before);
}

#[tokio::test]
async fn delete_objects_with_malformed_xml_is_malformed_xml_and_deletes_nothing() {
    let (gw, client) = with_bucket("batch").await;
    put_keys(&client, "batch", &["k0"]).await;
    let before = snapshot(&client, "batch").await;
    let body = "<Delete><Object><Key>k0</Key></Object>".to_owned(); // never closed

    let resp = raw_delete_objects(&gw, "batch", body).await;

    assert_raw_error(&resp, "MalformedXML", 400);
    assert_eq!(snapshot(&client, "batch").await, before);
}

#[tokio::test]
async fn keys_of_any_utf8_round_trip_and_list_as_written() {
    let (_gw, client) = with_bucket("keys").await;
    let mut keys = vec![
        "with space",
        "plus+sign",
        "percent%20literal",
        "percent%",
        "double//slash",
        "/leading-slash",
        "trailing-slash/",
        "query?and#fragment&amp=1",
        "tilde~star*quote'paren(",
        "unicode/ключ/鍵/🎉",
        "xml<&>\"specials",
    ];

    put_keys(&client, "keys", &keys).await;

    for key in &keys {
        assert_eq!(get(&client, "keys", key).await, key.as_bytes(), "{key}");
    }
    keys.sort_unstable();
    let listed: Vec<String> = snapshot(&client, "keys")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, keys);
}

#[tokio::test]
async fn a_key_of_1024_bytes_is_accepted() {
    let (_gw, client) = with_bucket("keys").await;
    let key = "é".repeat(512); // 512 characters, 1,024 bytes of UTF-8

    put(&client, "keys", &key, b"longest".to_vec()).await;

    assert_eq!(get(&client, "keys", &key).await, b"longest");
    let listed: Vec<String> = snapshot(&client, "keys")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, [key]);
}

#[tokio::test]
async fn a_key_of_1025_bytes_is_key_too_long() {
    let (gw, client) = with_bucket("keys").await;
    let before = snapshot(&client, "keys").await;
    // 513 characters, 1,025 bytes of UTF-8, percent-encoded in the path.
    let path = format!("/keys/{}k", "%C3%A9".repeat(512));

    let resp = gw.raw().request(Method::PUT, &path).body("too long").send().await;

    assert_raw_error(&resp, "KeyTooLongError", 400);
    assert_eq!(snapshot(&client, "keys").await, before);
}

/// 50 MiB: several times any buffer between the client and the volume.
const LARGE_OBJECT_BYTES: usize = 50 * 1024 * 1024;

/// Writes `len` pseudo-random bytes to a temporary file and returns it with their SHA-256.
fn random_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let mut hasher = Sha256::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; 1024 * 1024];
    for _ in 0..len / block.len() {
        for word in block.chunks_exact_mut(8) {
            // xorshift64: incompressible enough that no layer can cheat.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&block);
        file.write_all(&block).expect("write temp file");
    }
    file.flush().expect("flush temp file");
    (file, hasher.finalize().to_vec())
}

#[tokio::test]
async fn a_50_mib_object_round_trips_byte_for_byte() {
    let (_gw, client) = with_bucket("large").await;
    let (file, sha256) = random_file(LARGE_OBJECT_BYTES);
    client
        .put_object()
        .bucket("large")
        .key("big")
        .body(ByteStream::from_path(file.path()).await.expect("open temp file"))
        .send()
        .await
        .expect("put 50 MiB");

    let mut body = client
        .get_object()
        .bucket("large")
        .key("big")
        .send()
        .await
        .expect("get 50 MiB")
        .body;
    let mut hasher = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("read body");
        len += chunk.len();
        hasher.update(&chunk);
    }

    assert_eq!((len, hasher.finalize().to_vec()), (LARGE_OBJECT_BYTES, sha256));
}

#[tokio::test]
async fn an_empty_object_round_trips() {
    let (_gw, client) = with_bucket("empty").await;

    let etag = put(&client, "empty", "nothing", Vec::new()).await;

    assert_eq!(etag, quoted_md5(b""));
    let head = client
        .head_object()
        .bucket("empty")
        .key("nothing")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(0));
    assert_eq!(get(&client, "empty", "nothing").await, b"");
}

#[tokio::test]
async fn an_overwrite_replaces_content_and_etag() {
    let (_gw, client) = with_bucket("overwrite").await;
    put(&client, "overwrite", "k", b"first version".to_vec()).await;

    let etag = put(&client, "overwrite", "k", b"second".to_vec()).await;

    assert_eq!(etag, quoted_md5(b"second"));
    assert_eq!(get(&client, "overwrite", "k").await, b"second");
    assert_eq!(
        snapshot(&client, "overwrite").await,
        [("k".to_owned(), quoted_md5(b"second"))]
    );
}

#[tokio::test]
async fn a_method_s3_does_not_have_is_method_not_allowed() {
    let (gw, client) = with_bucket("methods").await;
    put(&client, "methods", "k", b"kept".to_vec()).await;

    for path in ["/methods/k", "/methods", "/"] {
        let resp = gw
            .raw()
            .request(Method::from_bytes(b"PATCH").unwrap(), path)
            .body("x")
            .send()
            .await;

        assert_raw_error(&resp, "MethodNotAllowed", 405);
    }
    assert_eq!(get(&client, "methods", "k").await, b"kept");
}

#[tokio::test]
async fn content_encoding_is_stored_as_sent_without_aws_chunked() {
    let (gw, client) = with_bucket("encodings").await;
    let plain = gw
        .raw()
        .request(Method::PUT, "/encodings/plain")
        .header("content-encoding", "gzip, br")
        .body("x")
        .send()
        .await;
    let chunked = gw
        .raw()
        .request(Method::PUT, "/encodings/chunked")
        .header("content-encoding", "aws-chunked, gzip")
        .body("x")
        .streaming_signed(1024)
        .send()
        .await;
    assert_eq!(
        (plain.status, chunked.status),
        (200, 200),
        "{}{}",
        plain.text(),
        chunked.text()
    );

    let encoding = |key: &'static str| {
        let client = client.clone();
        async move {
            let head = client
                .head_object()
                .bucket("encodings")
                .key(key)
                .send()
                .await
                .unwrap();
            head.content_encoding().map(str::to_owned)
        }
    };
    assert_eq!(encoding("plain").await.as_deref(), Some("gzip, br"));
    assert_eq!(encoding("chunked").await.as_deref(), Some("gzip"));
}

#[tokio::test]
async fn non_ascii_user_metadata_round_trips_rfc_2047_encoded_as_aws_returns_it() {
    let (gw, client) = with_bucket("unicode").await;
    let value = "café ☕ 東京";
    let encoded = format!("=?UTF-8?B?{}?=", BASE64.encode(value));
    client
        .put_object()
        .bucket("unicode")
        .key("k")
        .metadata("name", &encoded)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put with encoded metadata");

    let head = gw.raw().request(Method::HEAD, "/unicode/k").send().await;
    let sdk = client
        .head_object()
        .bucket("unicode")
        .key("k")
        .send()
        .await
        .unwrap();

    assert_eq!(head.header("x-amz-meta-name"), Some(encoded.as_str()));
    assert_eq!(
        sdk.metadata().and_then(|m| m.get("name")).map(String::as_str),
        Some(encoded.as_str()),
        "clients see what AWS sends; they decode it themselves"
    );
}

/// Object Lock is not built, so a request for it is refused and changes nothing: a locked bucket
/// is `501 NotImplemented`; a write with a retention or a legal hold gets AWS's answer for a
/// bucket without Object Lock, `400 InvalidRequest`.
#[tokio::test]
async fn requests_for_object_lock_are_refused_not_ignored() {
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    const B: &str = "lockless";
    let (_gw, c) = with_bucket(B).await;
    assert_s3_error(
        c.create_bucket()
            .bucket("locked")
            .object_lock_enabled_for_bucket(true)
            .send()
            .await,
        "NotImplemented",
        501,
    );
    assert!(
        c.head_bucket().bucket("locked").send().await.is_err(),
        "no bucket was created"
    );
    c.create_bucket()
        .bucket("unlocked")
        .object_lock_enabled_for_bucket(false)
        .send()
        .await
        .expect("a bucket that asks for no lock");

    let until = DateTime::from_secs(4_102_444_800);
    assert_s3_error(
        c.put_object()
            .bucket(B)
            .key("retained")
            .body(ByteStream::from_static(b"x"))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(until)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_error(
        c.put_object()
            .bucket(B)
            .key("held")
            .body(ByteStream::from_static(b"x"))
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    put(&c, B, "source", b"x".to_vec()).await;
    assert_s3_error(
        c.copy_object()
            .bucket(B)
            .key("copied")
            .copy_source(format!("{B}/source"))
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_error(
        c.create_multipart_upload()
            .bucket(B)
            .key("parts")
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    let keys: Vec<String> = snapshot(&c, B).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["source"], "refused writes wrote nothing");
    let uploads = c.list_multipart_uploads().bucket(B).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "no upload was started");
}

/// GetObjectAttributes gives the ETag without the quotes of every other response, as AWS does;
/// the rest of its document is untouched.
#[tokio::test]
async fn get_object_attributes_gives_the_etag_unquoted() {
    use aws_sdk_s3::types::ObjectAttributes;
    let (_gw, client) = with_bucket("attrs").await;
    let single = put(&client, "attrs", "single", b"foo".to_vec()).await;
    let part = vec![b'p'; 5 * 1024 * 1024];
    let parts = [(&client, part.clone()), (&client, part)];
    let multi = multipart(&client, "attrs", "multi", &parts).await;
    for (key, etag, size) in [("single", single, 3), ("multi", multi, 10 * 1024 * 1024)] {
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let attributes = client
            .get_object_attributes()
            .bucket("attrs")
            .key(key)
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
            .await
            .expect("GetObjectAttributes");
        assert_eq!(attributes.e_tag(), Some(etag.trim_matches('"')), "{key}");
        assert_eq!(attributes.object_size(), Some(size), "{key}");
        let head = client
            .head_object()
            .bucket("attrs")
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.e_tag(),
            Some(etag.as_str()),
            "other responses keep the quotes"
        );
    }
}
