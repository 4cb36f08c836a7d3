//! Conditional writes (If-None-Match: *, If-Match) checked atomically with the write, and
//! conditional reads (304/412) with S3's precedence rules.

mod common;

use std::sync::Arc;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use common::*;

const B: &str = "cond";

#[tokio::test]
async fn if_none_match_star_creates_only_when_the_key_is_absent() {
    let (_gw, c) = with_bucket(B).await;
    let first = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .if_none_match("*")
        .send()
        .await;
    assert!(first.is_ok(), "{first:?}");
    let second = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"two"))
        .if_none_match("*")
        .send()
        .await;
    assert_s3_error(second, "PreconditionFailed", 412);
    assert_eq!(get(&c, B, "k").await, b"one");
}

#[tokio::test]
async fn if_none_match_with_an_etag_on_a_write_is_invalid_request() {
    let (_gw, c) = with_bucket(B).await;
    let r = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .if_none_match("\"abc\"")
        .send()
        .await;
    assert_s3_error(r, "InvalidRequest", 400);
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn if_match_replaces_only_the_current_version() {
    let (_gw, c) = with_bucket(B).await;
    let v1 = put(&c, B, "k", b"v1".to_vec()).await;
    let ok = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"v2"))
        .if_match(&v1)
        .send()
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let stale = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"v3"))
        .if_match(&v1)
        .send()
        .await;
    assert_s3_error(stale, "PreconditionFailed", 412);
    assert_eq!(get(&c, B, "k").await, b"v2");
}

#[tokio::test]
async fn if_match_on_a_missing_key_is_no_such_key() {
    let (_gw, c) = with_bucket(B).await;
    let r = c
        .put_object()
        .bucket(B)
        .key("nope")
        .body(ByteStream::from_static(b"x"))
        .if_match("\"abc\"")
        .send()
        .await;
    assert_s3_error(r, "NoSuchKey", 404);
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn a_failed_precondition_leaves_no_orphaned_blob() {
    let (gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"kept".to_vec()).await;
    let before = blob_files(&gw);
    let r = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from(vec![7u8; 100_000]))
        .if_none_match("*")
        .send()
        .await;
    assert_s3_error(r, "PreconditionFailed", 412);
    assert_eq!(blob_files(&gw), before);
    assert_eq!(get(&c, B, "k").await, b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_none_match_star_race_has_exactly_one_winner() {
    const WRITERS: usize = 32;
    let (_gw, c) = with_bucket(B).await;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer-{i}");
            let r = c
                .put_object()
                .bucket(B)
                .key("ckpt")
                .body(ByteStream::from(body.clone().into_bytes()))
                .if_none_match("*")
                .send()
                .await;
            (body, r.map(|o| o.e_tag).map_err(s3_error))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (body, Ok(_)) => winners.push(body),
            (_, Err((code, status))) => assert!(
                (code.as_str(), status) == ("PreconditionFailed", 412)
                    || (code.as_str(), status) == ("ConditionalRequestConflict", 409),
                "loser got {code} {status}"
            ),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(get(&c, B, "ckpt").await, winners[0].as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_compare_and_swap_writers_lose_no_increment() {
    const WRITERS: u64 = 16;
    const INCREMENTS: u64 = 8;
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "counter", b"0".to_vec()).await;
    let c = Arc::new(c);
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < INCREMENTS {
                let out = c
                    .get_object()
                    .bucket(B)
                    .key("counter")
                    .send()
                    .await
                    .expect("read counter");
                let etag = out.e_tag.clone().expect("etag");
                let body = out.body.collect().await.unwrap().into_bytes();
                let n: u64 = std::str::from_utf8(&body).unwrap().parse().unwrap();
                let next = (n + 1).to_string().into_bytes();
                match c
                    .put_object()
                    .bucket(B)
                    .key("counter")
                    .body(ByteStream::from(next))
                    .if_match(etag)
                    .send()
                    .await
                {
                    Ok(_) => done += 1,
                    Err(e) => {
                        let (code, status) = s3_error(e);
                        assert!(status == 412 || status == 409, "unexpected {code} {status}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        get(&c, B, "counter").await,
        (WRITERS * INCREMENTS).to_string().into_bytes()
    );
}

#[tokio::test]
async fn get_with_the_current_etag_in_if_none_match_is_304_without_a_body() {
    let (gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "k", b"data".to_vec()).await;
    let resp = gw
        .raw()
        .request(http::Method::GET, "/cond/k")
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(resp.status, 304);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("etag"), Some(etag.as_str()));
    let head = c
        .head_object()
        .bucket(B)
        .key("k")
        .if_none_match(&etag)
        .send()
        .await;
    assert_eq!(s3_error(head.unwrap_err()).1, 304);
}

#[tokio::test]
async fn get_with_another_etag_in_if_match_is_412() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"data".to_vec()).await;
    assert_s3_error(
        c.get_object()
            .bucket(B)
            .key("k")
            .if_match("\"other\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    let head = c
        .head_object()
        .bucket(B)
        .key("k")
        .if_match("\"other\"")
        .send()
        .await;
    assert_eq!(s3_error(head.unwrap_err()).1, 412);
}

#[tokio::test]
async fn time_conditions_compare_against_last_modified() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"data".to_vec()).await;
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    let get = |ims: Option<DateTime>, ius: Option<DateTime>| {
        c.get_object()
            .bucket(B)
            .key("k")
            .set_if_modified_since(ims)
            .set_if_unmodified_since(ius)
            .send()
    };
    assert!(get(Some(past), None).await.is_ok());
    assert_eq!(s3_error(get(Some(future), None).await.unwrap_err()).1, 304);
    assert!(get(None, Some(future)).await.is_ok());
    assert_s3_error(get(None, Some(past)).await, "PreconditionFailed", 412);
}

#[tokio::test]
async fn if_match_wins_over_if_unmodified_since_and_if_none_match_over_if_modified_since() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "k", b"data".to_vec()).await;
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    // If-Match holds, If-Unmodified-Since does not: S3 returns the object.
    let r = c
        .get_object()
        .bucket(B)
        .key("k")
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await;
    assert!(r.is_ok(), "{r:?}");
    // If-None-Match does not hold (other etag), If-Modified-Since would give 304: the object.
    let r = c
        .get_object()
        .bucket(B)
        .key("k")
        .if_none_match("\"other\"")
        .if_modified_since(future)
        .send()
        .await;
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconditional_writers_racing_on_one_key_all_land() {
    const WRITERS: usize = 32;
    let (_gw, c) = with_bucket(B).await;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer-{i}").into_bytes();
            c.put_object()
                .bucket(B)
                .key("hot")
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .map(|_| body)
        }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(
            t.await
                .unwrap()
                .expect("an unconditional PUT never fails for contention"),
        );
    }
    assert!(
        bodies.contains(&get(&c, B, "hot").await),
        "the stored body is one writer's"
    );
}
