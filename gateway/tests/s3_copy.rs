//! CopyObject: metadata directives, source and destination preconditions, and copies that share
//! the source's bytes instead of moving them.

mod common;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::MetadataDirective;
use common::*;

const B: &str = "copies";

async fn put_with_metadata(c: &aws_sdk_s3::Client, key: &str) -> String {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from_static(b"source bytes"))
        .content_type("text/plain")
        .metadata("owner", "team-a")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap()
}

#[tokio::test]
async fn copy_keeps_content_etag_and_metadata_by_default() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put_with_metadata(&c, "src").await;
    let out = c
        .copy_object()
        .bucket(B)
        .key("dst")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.copy_object_result.and_then(|r| r.e_tag), Some(etag.clone()));
    let head = c.head_object().bucket(B).key("dst").send().await.unwrap();
    assert_eq!(head.e_tag, Some(etag));
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        head.metadata.unwrap().get("owner").map(String::as_str),
        Some("team-a")
    );
    assert_eq!(get(&c, B, "dst").await, b"source bytes");
}

#[tokio::test]
async fn replace_directive_takes_headers_and_metadata_from_the_request() {
    let (_gw, c) = with_bucket(B).await;
    put_with_metadata(&c, "src").await;
    c.copy_object()
        .bucket(B)
        .key("dst")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("application/json")
        .metadata("stage", "final")
        .send()
        .await
        .unwrap();
    let head = c.head_object().bucket(B).key("dst").send().await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/json"));
    let meta = head.metadata.unwrap();
    assert_eq!(meta.get("stage").map(String::as_str), Some("final"));
    assert!(!meta.contains_key("owner"));
}

#[tokio::test]
async fn copying_onto_itself_needs_the_replace_directive() {
    let (_gw, c) = with_bucket(B).await;
    put_with_metadata(&c, "k").await;
    let same = c
        .copy_object()
        .bucket(B)
        .key("k")
        .copy_source(format!("{B}/k"))
        .send()
        .await;
    assert_s3_error(same, "InvalidRequest", 400);
    let replaced = c
        .copy_object()
        .bucket(B)
        .key("k")
        .copy_source(format!("{B}/k"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("v", "2")
        .send()
        .await;
    assert!(replaced.is_ok(), "{replaced:?}");
    assert_eq!(get(&c, B, "k").await, b"source bytes");
}

#[tokio::test]
async fn source_preconditions_that_fail_are_412_and_copy_nothing() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put_with_metadata(&c, "src").await;
    let before = snapshot(&c, B).await;
    let copy = || {
        c.copy_object()
            .bucket(B)
            .key("dst")
            .copy_source(format!("{B}/src"))
    };
    assert_s3_error(
        copy().copy_source_if_match("\"other\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_error(
        copy().copy_source_if_none_match(&etag).send().await,
        "PreconditionFailed",
        412,
    );
    let future = DateTime::from_secs(4_000_000_000);
    let past = DateTime::from_secs(1_000_000_000);
    assert_s3_error(
        copy().copy_source_if_modified_since(future).send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_error(
        copy().copy_source_if_unmodified_since(past).send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(snapshot(&c, B).await, before);
    assert!(
        copy()
            .copy_source_if_match(&etag)
            .copy_source_if_unmodified_since(future)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn destination_preconditions_guard_the_overwrite() {
    let (_gw, c) = with_bucket(B).await;
    put_with_metadata(&c, "src").await;
    let dst_etag = put(&c, B, "dst", b"old".to_vec()).await;
    let copy = || {
        c.copy_object()
            .bucket(B)
            .key("dst")
            .copy_source(format!("{B}/src"))
    };
    assert_s3_error(copy().if_none_match("*").send().await, "PreconditionFailed", 412);
    assert_s3_error(
        copy().if_match("\"stale\"").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, B, "dst").await, b"old");
    assert!(copy().if_match(&dst_etag).send().await.is_ok());
    assert_eq!(get(&c, B, "dst").await, b"source bytes");
}

#[tokio::test]
async fn a_copy_shares_the_source_bytes_and_survives_its_deletion() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "src", vec![3u8; 1 << 20]).await;
    let blobs = blob_files(&gw);
    c.copy_object()
        .bucket(B)
        .key("dst")
        .copy_source(format!("{B}/src"))
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), blobs, "a copy moves no bytes");
    c.delete_object().bucket(B).key("src").send().await.unwrap();
    assert_eq!(get(&c, B, "dst").await, vec![3u8; 1 << 20]);
    c.delete_object().bucket(B).key("dst").send().await.unwrap();
    assert_eq!(blob_files(&gw), 0, "the last reference frees the blob");
}

#[tokio::test]
async fn copy_sources_with_encoded_keys_resolve() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "dir/a b+c%é.txt", b"x".to_vec()).await;
    let source = format!("{B}/{}", urlencode("dir/a b+c%é.txt"));
    c.copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(source)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, B, "copy").await, b"x");
}

#[tokio::test]
async fn copying_a_missing_source_is_no_such_key_or_no_such_bucket() {
    let (_gw, c) = with_bucket(B).await;
    assert_s3_error(
        c.copy_object()
            .bucket(B)
            .key("d")
            .copy_source(format!("{B}/nope"))
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_error(
        c.copy_object()
            .bucket(B)
            .key("d")
            .copy_source("no-bucket/k")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert!(snapshot(&c, B).await.is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
