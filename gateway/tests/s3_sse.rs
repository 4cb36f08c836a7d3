//! SSE-C end to end: customer keys on every object call, the errors the seed lists, range reads
//! at chunk boundaries, tampering detected, and copies/renames that move no bytes when the
//! encryption does not change.

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use http::Method;
use md5::{Digest as _, Md5};

const B: &str = "sealed";
const CHUNK: usize = 64 * 1024;

struct Key {
    b64: String,
    md5: String,
}

fn key(byte: u8) -> Key {
    let raw = [byte; 32];
    Key {
        b64: B64.encode(raw),
        md5: B64.encode(Md5::digest(raw)),
    }
}

async fn sse_gateway() -> (Gateway, Client) {
    let gw = start_with_args(&["--allow-sse-c-over-http"]);
    let c = gw.client();
    create_bucket(&c, B).await;
    (gw, c)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

async fn put_sealed(
    c: &Client,
    k: &str,
    body: Vec<u8>,
    key: &Key,
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    c.put_object()
        .bucket(B)
        .key(k)
        .body(ByteStream::from(body))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {k}: {e:?}"))
}

async fn get_sealed(c: &Client, k: &str, key: &Key, range: Option<String>) -> Result<Vec<u8>, (String, u16)> {
    let out = c
        .get_object()
        .bucket(B)
        .key(k)
        .set_range(range)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key.b64)
        .sse_customer_key_md5(&key.md5)
        .send()
        .await
        .map_err(s3_error)?;
    Ok(out
        .body
        .collect()
        .await
        .map_err(|e| (format!("{e:?}"), 0))?
        .into_bytes()
        .to_vec())
}

#[tokio::test]
async fn an_object_round_trips_with_its_key_and_echoes_it() {
    let (_gw, c) = sse_gateway().await;
    let body = data(200_000);
    let k = key(1);
    let put = put_sealed(&c, "obj", body.clone(), &k).await;
    assert_eq!(put.sse_customer_algorithm.as_deref(), Some("AES256"));
    assert_eq!(put.sse_customer_key_md5.as_deref(), Some(k.md5.as_str()));
    assert_ne!(
        put.e_tag.as_deref(),
        Some(format!("\"{}\"", hex::encode(Md5::digest(&body))).as_str()),
        "not the plaintext MD5"
    );
    assert_eq!(get_sealed(&c, "obj", &k, None).await.unwrap(), body);
    let head = c
        .head_object()
        .bucket(B)
        .key("obj")
        .checksum_mode(ChecksumMode::Enabled)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(head.sse_customer_key_md5.as_deref(), Some(k.md5.as_str()));
    assert_eq!(head.content_length, Some(200_000));
    assert_eq!(
        head.checksum_crc32, put.checksum_crc32,
        "checksums are of the plaintext"
    );
}

#[tokio::test]
async fn reads_without_the_key_or_with_another_are_refused() {
    let (gw, c) = sse_gateway().await;
    put_sealed(&c, "obj", b"secret".to_vec(), &key(1)).await;
    let bare = gw.raw().request(Method::GET, "/sealed/obj").send().await;
    assert_raw_error(&bare, "InvalidRequest", 400);
    assert_eq!(
        get_sealed(&c, "obj", &key(2), None).await,
        Err(("AccessDenied".to_owned(), 403))
    );
    let head = c.head_object().bucket(B).key("obj").send().await;
    assert_eq!(s3_error(head.unwrap_err()).1, 400);
}

#[tokio::test]
async fn malformed_keys_are_refused_as_the_seed_lists() {
    let (gw, c) = sse_gateway().await;
    let short = [3u8; 16];
    let resp = gw
        .raw()
        .request(Method::PUT, "/sealed/obj")
        .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
        .header("x-amz-server-side-encryption-customer-key", B64.encode(short))
        .header(
            "x-amz-server-side-encryption-customer-key-md5",
            B64.encode(Md5::digest(short)),
        )
        .body("x")
        .send()
        .await;
    assert_raw_error(&resp, "InvalidArgument", 400);
    let k = key(4);
    let resp = gw
        .raw()
        .request(Method::PUT, "/sealed/obj")
        .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
        .header("x-amz-server-side-encryption-customer-key", &k.b64)
        .header("x-amz-server-side-encryption-customer-key-md5", key(5).md5)
        .body("x")
        .send()
        .await;
    assert_raw_error(&resp, "InvalidRequest", 400);
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn sse_c_over_plain_http_is_refused_unless_allowed() {
    let gw = start();
    let c = gw.client();
    create_bucket(&c, B).await;
    let k = key(1);
    let r = c
        .put_object()
        .bucket(B)
        .key("obj")
        .body(ByteStream::from_static(b"x"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await;
    assert_s3_error(r, "InvalidRequest", 400);
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn ranges_at_every_chunk_boundary_decrypt_exactly() {
    let (_gw, c) = sse_gateway().await;
    let len = 3 * CHUNK + 17;
    let body = data(len);
    let k = key(6);
    put_sealed(&c, "obj", body.clone(), &k).await;
    let mut ranges: Vec<(usize, usize)> = vec![(0, 0), (0, len - 1), (len - 1, len - 1), (len - 17, len - 1)];
    for b in [CHUNK, 2 * CHUNK, 3 * CHUNK] {
        ranges.extend([
            (b - 1, b - 1),
            (b, b),
            (b - 1, b),
            (b - 10, b + 10),
            (b, (b + CHUNK - 1).min(len - 1)),
        ]);
    }
    for (first, last) in ranges {
        let got = get_sealed(&c, "obj", &k, Some(format!("bytes={first}-{last}")))
            .await
            .unwrap();
        assert_eq!(got, body[first..=last], "bytes={first}-{last}");
    }
    let tail = get_sealed(&c, "obj", &k, Some("bytes=-10".to_owned()))
        .await
        .unwrap();
    assert_eq!(tail, body[len - 10..]);
}

#[tokio::test]
async fn a_flipped_byte_on_disk_fails_the_read_instead_of_returning_wrong_bytes() {
    let (gw, c) = sse_gateway().await;
    let body = data(3 * CHUNK);
    let k = key(7);
    put_sealed(&c, "obj", body.clone(), &k).await;
    let blob = std::fs::read_dir(gw.data_dir().join("blobs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .next()
        .expect("one blob");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[CHUNK + 100] ^= 0x01; // inside the second chunk's ciphertext
    std::fs::write(&blob, bytes).unwrap();
    assert!(
        get_sealed(&c, "obj", &k, None).await.is_err(),
        "a damaged chunk must fail the whole read"
    );
    // Chunks the damage does not touch still read.
    assert_eq!(
        get_sealed(&c, "obj", &k, Some(format!("bytes=0-{}", CHUNK - 1)))
            .await
            .unwrap(),
        body[..CHUNK]
    );
}

#[tokio::test]
async fn multipart_uploads_seal_every_part_with_the_same_key() {
    let (_gw, c) = sse_gateway().await;
    let k = key(8);
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    let (p1, p2) = (data(5 * 1024 * 1024), data(1000));
    let mut parts = Vec::new();
    for (n, body) in [(1, p1.clone()), (2, p2.clone())] {
        let out = c
            .upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(body))
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k.b64)
            .sse_customer_key_md5(&k.md5)
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag)
                .build(),
        );
    }
    let other = key(9);
    let wrong = c
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"x"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other.b64)
        .sse_customer_key_md5(&other.md5)
        .send()
        .await;
    assert_s3_error(wrong, "InvalidRequest", 400);
    // The completion need not repeat the key, but one it gives must be the upload's.
    let completion = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    let wrong = c
        .complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(completion.clone())
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other.b64)
        .sse_customer_key_md5(&other.md5)
        .send()
        .await;
    assert_s3_error(wrong, "InvalidRequest", 400);
    c.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(completion)
        .send()
        .await
        .unwrap();
    let whole = [p1.clone(), p2].concat();
    assert_eq!(get_sealed(&c, "mp", &k, None).await.unwrap(), whole);
    let across = 5 * 1024 * 1024 - 5;
    let got = get_sealed(&c, "mp", &k, Some(format!("bytes={across}-{}", across + 9)))
        .await
        .unwrap();
    assert_eq!(got, whole[across..across + 10]);
}

#[tokio::test]
async fn same_key_copies_and_renames_move_no_bytes_and_rekeying_copies_do() {
    let (gw, c) = sse_gateway().await;
    let (k1, k2) = (key(10), key(11));
    let body = data(100_000);
    put_sealed(&c, "src", body.clone(), &k1).await;
    let blobs = blob_files(&gw);
    let copy = |dst: &str| {
        c.copy_object()
            .bucket(B)
            .key(dst)
            .copy_source(format!("{B}/src"))
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&k1.b64)
            .copy_source_sse_customer_key_md5(&k1.md5)
    };
    copy("same")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k1.b64)
        .sse_customer_key_md5(&k1.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), blobs, "a same-key copy shares the blob");
    c.rename_object()
        .bucket(B)
        .key("renamed")
        .rename_source(format!("/{B}/same"))
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), blobs, "a rename moves no bytes");
    assert_eq!(get_sealed(&c, "renamed", &k1, None).await.unwrap(), body);

    copy("rekeyed")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2.b64)
        .sse_customer_key_md5(&k2.md5)
        .send()
        .await
        .unwrap();
    assert_eq!(get_sealed(&c, "rekeyed", &k2, None).await.unwrap(), body);
    assert_eq!(
        get_sealed(&c, "rekeyed", &k1, None).await,
        Err(("AccessDenied".to_owned(), 403))
    );
    copy("plain").send().await.unwrap();
    assert_eq!(get(&c, B, "plain").await, body, "a decrypting copy");
    let missing_source_key = c
        .copy_object()
        .bucket(B)
        .key("x")
        .copy_source(format!("{B}/src"))
        .send()
        .await;
    assert_s3_error(missing_source_key, "InvalidRequest", 400);
}

#[tokio::test]
async fn attributes_of_a_sealed_object_need_its_key() {
    let (_gw, c) = sse_gateway().await;
    let k = key(1);
    put_sealed(&c, "obj", b"secret".to_vec(), &k).await;
    let attributes = || {
        c.get_object_attributes()
            .bucket(B)
            .key("obj")
            .object_attributes(ObjectAttributes::ObjectSize)
    };

    let bare = attributes().send().await;
    let wrong = attributes()
        .sse_customer_algorithm("AES256")
        .sse_customer_key(key(2).b64)
        .sse_customer_key_md5(key(2).md5)
        .send()
        .await;
    let right = attributes()
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k.b64)
        .sse_customer_key_md5(&k.md5)
        .send()
        .await
        .expect("attributes with the object's key");

    assert_s3_error(bare, "InvalidRequest", 400);
    assert_s3_error(wrong, "AccessDenied", 403);
    assert_eq!(right.object_size, Some(6));
}
