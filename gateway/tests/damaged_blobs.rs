//! Bytes that rot on the volume are never served as if they were the object: a whole-object GET
//! is checked against the checksums recorded at write time as it streams, and a mismatch cuts the
//! response short instead of completing it.

mod common;

use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;

const B: &str = "rot";

/// Every blob file on the gateway's volume, largest first.
fn blob_paths(gw: &Gateway) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(gw.data_dir().join("blobs"))
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    files
}

fn flip_byte(path: &PathBuf, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

async fn whole_get(c: &aws_sdk_s3::Client, key: &str) -> Result<Vec<u8>, String> {
    let out = c
        .get_object()
        .bucket(B)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    out.body
        .collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_in_a_stored_object_cuts_its_get_short() {
    let (gw, c) = with_bucket(B).await;
    let body: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7) as u8).collect();
    put(&c, B, "k", body.clone()).await;
    assert_eq!(
        whole_get(&c, "k").await.unwrap(),
        body,
        "intact bytes are served whole"
    );

    flip_byte(&blob_paths(&gw)[0], 1_000_000);
    let got = whole_get(&c, "k").await;
    assert!(
        got.is_err(),
        "a damaged object's GET must not complete: got {} bytes",
        got.map(|b| b.len()).unwrap_or(0)
    );
    c.head_object()
        .bucket(B)
        .key("k")
        .send()
        .await
        .expect("HEAD reads no bytes");
    assert!(
        gw.log().contains("damaged object"),
        "the gateway says which object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_in_one_part_of_a_multipart_object_cuts_its_get_short() {
    let (gw, c) = with_bucket(B).await;
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, size) in [(1, 5 * 1024 * 1024), (2, 1024 * 1024)] {
        let out = c
            .upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; size]))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(whole_get(&c, "mp").await.unwrap().len(), 6 * 1024 * 1024);

    flip_byte(&blob_paths(&gw)[0], 12_345);
    assert!(
        whole_get(&c, "mp").await.is_err(),
        "a damaged part fails the whole GET"
    );
}

/// The SSE-C headers of a request, when it has a customer key.
struct CustomerKey {
    b64: String,
    md5: String,
}

fn customer_key() -> CustomerKey {
    use base64::Engine as _;
    use md5::Digest as _;
    let raw = [0x5au8; 32];
    let b64 = base64::engine::general_purpose::STANDARD;
    CustomerKey {
        b64: b64.encode(raw),
        md5: b64.encode(md5::Md5::digest(raw)),
    }
}

/// `$request` with the SSE-C headers of `$key` (an `Option<&CustomerKey>`), or without.
macro_rules! sse_c {
    ($request:expr, $key:expr) => {{
        let key: Option<&CustomerKey> = $key;
        $request
            .set_sse_customer_algorithm(key.map(|_| "AES256".to_owned()))
            .set_sse_customer_key(key.map(|k| k.b64.clone()))
            .set_sse_customer_key_md5(key.map(|k| k.md5.clone()))
    }};
}

/// An object of `sizes.len()` parts, part n of `sizes[n - 1]` bytes, sealed under `key` when
/// given (else under the store's key, the default); returns its bytes.
async fn many_parts(
    c: &aws_sdk_s3::Client,
    key: &str,
    sizes: &[usize],
    sse_c: Option<&CustomerKey>,
) -> Vec<u8> {
    let up = sse_c!(c.create_multipart_upload().bucket(B).key(key), sse_c)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let (mut parts, mut body) = (Vec::new(), Vec::new());
    for (i, size) in sizes.iter().enumerate() {
        let n = i as i32 + 1;
        let bytes: Vec<u8> = (0..*size).map(|b| (b as u8).wrapping_mul(31) ^ n as u8).collect();
        body.extend_from_slice(&bytes);
        let out = sse_c!(
            c.upload_part()
                .bucket(B)
                .key(key)
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(bytes)),
            sse_c
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let complete = c
        .complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
    sse_c!(complete, sse_c).send().await.unwrap();
    body
}

/// A whole GET that must start (200 and headers) and then fail in its body; the bytes before the
/// failure are returned as the error.
async fn get_cut_short(
    c: &aws_sdk_s3::Client,
    key: &str,
    sse_c: Option<&CustomerKey>,
) -> Result<Vec<u8>, usize> {
    let out = sse_c!(c.get_object().bucket(B).key(key), sse_c)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: the GET must start, as damage is found while it streams: {e:?}"));
    let mut body = out.body;
    let mut got = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => got.extend_from_slice(&bytes),
            Err(_) => return Err(got.len()),
        }
    }
    Ok(got)
}

/// An object of many small parts is read in batches, each opened as a whole where it was read:
/// damage in any part, in the first batch or a later one, still starts the GET and cuts it
/// short (never a wrong byte, never a failed request the client would retry forever), under
/// the store's key and a customer's alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_in_one_small_part_cuts_the_get_of_an_object_of_many_parts_short() {
    let gw = start_with_args(&["--min-part-size", "1", "--allow-sse-c-over-http"]);
    let c = gw.client();
    create_bucket(&c, B).await;
    let ck = customer_key();
    for (key, base, sse_c) in [("s3", 20_000, None), ("c", 21_000, Some(&ck))] {
        // 150 parts: three batches of at most 64. Each part's size names its blob on disk
        // (sealed: one chunk and its 16-byte tag).
        let sizes: Vec<usize> = (1..=150).map(|n| base + n).collect();
        let body = many_parts(&c, key, &sizes, sse_c).await;
        assert!(
            get_cut_short(&c, key, sse_c).await == Ok(body.clone()),
            "{key}: intact, it reads whole"
        );
        let blob_of = |part: usize| {
            let len = (sizes[part - 1] + 16) as u64;
            blob_paths(&gw)
                .into_iter()
                .find(|p| std::fs::metadata(p).unwrap().len() == len)
                .unwrap_or_else(|| panic!("{key}: the blob of part {part}"))
        };
        for part in [140, 1] {
            flip_byte(&blob_of(part), 100);
            let before: usize = sizes[..part - 1].iter().sum();
            match get_cut_short(&c, key, sse_c).await {
                Ok(_) => panic!("{key}: a damaged part {part} must not complete the GET"),
                Err(sent) => assert!(sent <= before, "{key}: {sent} bytes sent, past part {part}"),
            }
            // Ranges away from the damage still read.
            let tail = format!("bytes={}-{}", body.len() - 5, body.len() - 1);
            let got = sse_c!(c.get_object().bucket(B).key(key).range(tail), sse_c)
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.body.collect().await.unwrap().into_bytes().to_vec(),
                body[body.len() - 5..]
            );
            flip_byte(&blob_of(part), 100);
        }
    }
    assert!(
        gw.log().contains("damaged object"),
        "the gateway says which object"
    );
}
