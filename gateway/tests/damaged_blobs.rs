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
