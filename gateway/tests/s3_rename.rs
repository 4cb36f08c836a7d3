//! RenameObject: atomic, metadata-only, guarded by source and destination preconditions, and
//! idempotent under a client token. Through `aws-sdk-s3`'s `rename_object` and raw HTTP.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::ChecksumMode;
use common::*;
use http::Method;

const B: &str = "renames";

async fn rename(c: &aws_sdk_s3::Client, from: &str, to: &str) -> Result<(), (String, u16)> {
    c.rename_object()
        .bucket(B)
        .key(to)
        .rename_source(format!("/{B}/{from}"))
        .send()
        .await
        .map(|_| ())
        .map_err(s3_error)
}

#[tokio::test]
async fn rename_moves_the_object_and_preserves_its_metadata() {
    let (gw, c) = with_bucket(B).await;
    let put = c
        .put_object()
        .bucket(B)
        .key("ckpt/epoch-1.tmp")
        .body(ByteStream::from(vec![9u8; 300_000]))
        .content_type("application/octet-stream")
        .metadata("run", "7")
        .send()
        .await
        .unwrap();
    let blobs = blob_files(&gw);
    rename(&c, "ckpt/epoch-1.tmp", "ckpt/epoch-1").await.unwrap();
    assert_eq!(blob_files(&gw), blobs, "a rename moves no bytes");
    assert_s3_error(
        c.head_object().bucket(B).key("ckpt/epoch-1.tmp").send().await,
        "NotFound",
        404,
    );
    let head = c
        .head_object()
        .bucket(B)
        .key("ckpt/epoch-1")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag, put.e_tag);
    assert_eq!(head.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(head.metadata.unwrap().get("run").map(String::as_str), Some("7"));
    assert_eq!(head.checksum_crc32, put.checksum_crc32);
    assert_eq!(get(&c, B, "ckpt/epoch-1").await, vec![9u8; 300_000]);
}

#[tokio::test]
async fn raw_rename_accepts_a_bare_key_source_and_answers_the_etag() {
    let (gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "src.txt", b"x".to_vec()).await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/renames/dst.txt?renameObject")
        .header("x-amz-rename-source", "/src.txt")
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    assert_eq!(snapshot(&c, B).await, vec![("dst.txt".to_owned(), etag)]);
}

#[tokio::test]
async fn a_bucket_qualified_source_falls_back_to_the_whole_value_as_a_key() {
    // "/renames/a" starts with the bucket's name, so key "a" is tried first; it does not exist,
    // so the whole value "renames/a" is the key (the documented resolution rule).
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "renames/a", b"x".to_vec()).await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/renames/b?renameObject")
        .header("x-amz-rename-source", "/renames/a")
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        snapshot(&c, B)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec!["b".to_owned()]
    );
}

#[tokio::test]
async fn renaming_from_another_bucket_is_invalid_request() {
    let (gw, c) = with_bucket(B).await;
    create_bucket(&c, "other").await;
    put(&c, "other", "k", b"x".to_vec()).await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/renames/k?renameObject")
        .header("x-amz-rename-source", "/other/k")
        .send()
        .await;
    assert_raw_error(&resp, "InvalidRequest", 400);
    assert_eq!(snapshot(&c, "other").await.len(), 1);
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn renaming_a_missing_source_is_no_such_key() {
    let (_gw, c) = with_bucket(B).await;
    assert_eq!(
        rename(&c, "nope", "dst").await,
        Err(("NoSuchKey".to_owned(), 404))
    );
}

#[tokio::test]
async fn renaming_a_key_onto_itself_is_invalid_request() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"x".to_vec()).await;
    assert_eq!(
        rename(&c, "k", "k").await,
        Err(("InvalidRequest".to_owned(), 400))
    );
    assert_eq!(get(&c, B, "k").await, b"x");
}

#[tokio::test]
async fn failed_source_preconditions_rename_nothing() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "src", b"x".to_vec()).await;
    let before = snapshot(&c, B).await;
    let r = || {
        c.rename_object()
            .bucket(B)
            .key("dst")
            .rename_source(format!("/{B}/src"))
    };
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    for attempt in [
        r().source_if_match("\"other\"").send().await,
        r().source_if_none_match(&etag).send().await,
        r().source_if_modified_since(future).send().await,
        r().source_if_unmodified_since(past).send().await,
    ] {
        assert_s3_error(attempt, "PreconditionFailed", 412);
    }
    assert_eq!(snapshot(&c, B).await, before);
    assert!(
        r().source_if_match(&etag)
            .source_if_unmodified_since(future)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn destination_preconditions_guard_the_overwrite() {
    let (gw, c) = with_bucket_args(B, &ON_VOLUMES).await;
    put(&c, B, "src", b"new".to_vec()).await;
    let dst = put(&c, B, "dst", b"old".to_vec()).await;
    let r = || {
        c.rename_object()
            .bucket(B)
            .key("dst")
            .rename_source(format!("/{B}/src"))
    };
    assert_s3_error(
        r().destination_if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_s3_error(
        r().destination_if_match("\"stale\"").send().await,
        "PreconditionFailed",
        412,
    );
    let missing = c
        .rename_object()
        .bucket(B)
        .key("none")
        .rename_source(format!("/{B}/src"))
        .destination_if_match(&dst);
    assert_s3_error(missing.send().await, "PreconditionFailed", 412);
    assert_eq!(get(&c, B, "dst").await, b"old");
    let blobs = blob_files(&gw);
    r().destination_if_match(&dst).send().await.unwrap();
    assert_eq!(get(&c, B, "dst").await, b"new");
    assert_eq!(
        blob_files(&gw),
        blobs - 1,
        "the overwritten destination's blob is freed"
    );
}

#[tokio::test]
async fn a_retry_with_the_same_token_returns_the_original_success() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "src", b"x".to_vec()).await;
    let r = || {
        c.rename_object()
            .bucket(B)
            .key("dst")
            .rename_source(format!("/{B}/src"))
            .client_token("token-1")
    };
    assert!(r().send().await.is_ok());
    // The source is gone, yet the retry succeeds and changes nothing.
    assert!(r().send().await.is_ok());
    assert_eq!(snapshot(&c, B).await, vec![("dst".to_owned(), etag)]);
    let other = c
        .rename_object()
        .bucket(B)
        .key("elsewhere")
        .rename_source(format!("/{B}/src"))
        .client_token("token-1");
    assert_s3_error(other.send().await, "IdempotencyParameterMismatch", 400);
}

#[tokio::test]
async fn client_tokens_longer_than_64_characters_are_rejected() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "src", b"x".to_vec()).await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/renames/dst?renameObject")
        .header("x-amz-rename-source", "/renames/src")
        .header("x-amz-client-token", "t".repeat(65))
        .send()
        .await;
    assert_raw_error(&resp, "InvalidArgument", 400);
    assert_eq!(snapshot(&c, B).await.len(), 1);
}

#[tokio::test]
async fn unparseable_precondition_dates_are_rejected() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "src", b"x".to_vec()).await;
    let resp = gw
        .raw()
        .request(Method::PUT, "/renames/dst?renameObject")
        .header("x-amz-rename-source", "/renames/src")
        .header("x-amz-rename-source-if-modified-since", "yesterday")
        .send()
        .await;
    assert_raw_error(&resp, "InvalidArgument", 400);
    assert_eq!(snapshot(&c, B).await[0].0, "src");
}

#[tokio::test]
async fn a_destination_key_over_1024_bytes_is_rejected() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "src", b"x".to_vec()).await;
    let long = "k".repeat(1025);
    let resp = gw
        .raw()
        .request(Method::PUT, &format!("/renames/{long}?renameObject"))
        .header("x-amz-rename-source", "/renames/src")
        .send()
        .await;
    assert_raw_error(&resp, "KeyTooLongError", 400);
    assert_eq!(snapshot(&c, B).await[0].0, "src");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_renames_of_one_source_have_exactly_one_winner() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "src", b"x".to_vec()).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            rename(&c, "src", &format!("dst-{i}")).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err((code, status)) => {
                assert!(matches!(
                    (code.as_str(), status),
                    ("NoSuchKey", 404) | ("ConditionalRequestConflict", 409)
                ))
            }
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(snapshot(&c, B).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_listings_see_exactly_one_of_the_two_keys() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "job/out.tmp", b"x".to_vec()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (c, stop) = (c.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut seen = 0;
            while !stop.load(Ordering::Relaxed) {
                let page = c.list_objects_v2().bucket(B).prefix("job/").send().await.unwrap();
                assert_eq!(page.key_count, Some(1), "a listing saw {:?}", page.contents());
                seen += 1;
            }
            seen
        }));
    }
    for i in 0..20 {
        let (from, to) = if i % 2 == 0 {
            ("job/out.tmp", "job/out")
        } else {
            ("job/out", "job/out.tmp")
        };
        rename(&c, from, to).await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
}
