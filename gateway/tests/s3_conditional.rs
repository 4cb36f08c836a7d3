//! Conditional writes (If-None-Match: *, If-Match) and conditional deletes (If-Match, last
//! modified time, size; per object in DeleteObjects) checked atomically with the write, and
//! conditional reads (304/412) with S3's precedence rules.

mod common;

use std::sync::Arc;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
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

async fn put_if_match(
    c: &aws_sdk_s3::Client,
    key: &str,
    if_match: &str,
    body: &'static [u8],
) -> Result<(), (String, u16)> {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from_static(body))
        .if_match(if_match)
        .send()
        .await
        .map(|_| ())
        .map_err(s3_error)
}

#[tokio::test]
async fn if_match_star_writes_exactly_when_the_key_exists() {
    let (_gw, c) = with_bucket(B).await;
    let missing = put_if_match(&c, "k", "*", b"one").await;
    put(&c, B, "k", b"one".to_vec()).await;
    let present = put_if_match(&c, "k", "*", b"two").await;

    assert_eq!(missing, Err(("NoSuchKey".to_owned(), 404)));
    assert_eq!(present, Ok(()));
    assert_eq!(get(&c, B, "k").await, b"two");
}

#[tokio::test]
async fn if_match_judges_the_current_version_of_a_versioned_key() {
    let (_gw, c) = with_bucket(B).await;
    enable_versioning(&c, B).await;
    let old = put(&c, B, "k", b"v1".to_vec()).await;
    let current = put(&c, B, "k", b"v2".to_vec()).await;

    assert_eq!(
        put_if_match(&c, "k", &old, b"v3").await,
        Err(("PreconditionFailed".to_owned(), 412)),
        "an older version's ETag is not the current one"
    );
    assert_eq!(put_if_match(&c, "k", &current, b"v3").await, Ok(()));
    c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(
        put_if_match(&c, "k", "*", b"v4").await,
        Err(("NoSuchKey".to_owned(), 404)),
        "behind a delete marker there is no current object"
    );
}

#[tokio::test]
async fn delete_with_if_match_removes_only_the_object_it_names() {
    let (_gw, c) = with_bucket(B).await;
    let etag = put(&c, B, "k", b"data".to_vec()).await;
    let delete = |if_match: &str| c.delete_object().bucket(B).key("k").if_match(if_match).send();

    assert_s3_error(delete("\"stale\"").await, "PreconditionFailed", 412);
    assert_eq!(get(&c, B, "k").await, b"data");
    delete(&etag).await.expect("the matching ETag deletes");
    assert!(snapshot(&c, B).await.is_empty());
    assert_s3_error(delete(&etag).await, "NoSuchKey", 404);
    assert_s3_error(delete("*").await, "NoSuchKey", 404);
}

#[tokio::test]
async fn delete_with_if_match_star_needs_an_object() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"data".to_vec()).await;
    c.delete_object()
        .bucket(B)
        .key("k")
        .if_match("*")
        .send()
        .await
        .expect("an existing object matches *");
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn delete_with_size_and_last_modified_time_needs_both_to_hold() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "k", b"four".to_vec()).await;
    let modified = c
        .head_object()
        .bucket(B)
        .key("k")
        .send()
        .await
        .unwrap()
        .last_modified
        .unwrap();
    let delete = |size: i64, time: DateTime| {
        c.delete_object()
            .bucket(B)
            .key("k")
            .if_match_size(size)
            .if_match_last_modified_time(time)
            .send()
    };

    assert_s3_error(delete(5, modified).await, "PreconditionFailed", 412);
    assert_s3_error(
        delete(4, DateTime::from_secs(1_000_000_000)).await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get(&c, B, "k").await, b"four");
    delete(4, modified).await.expect("size and time both hold");
    assert!(snapshot(&c, B).await.is_empty());
}

#[tokio::test]
async fn delete_of_a_version_judges_that_version() {
    let (_gw, c) = with_bucket(B).await;
    enable_versioning(&c, B).await;
    let first = c
        .put_object()
        .bucket(B)
        .key("k")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let current = put(&c, B, "k", b"v2".to_vec()).await;
    let (v1, v1_etag) = (first.version_id.unwrap(), first.e_tag.unwrap());
    let delete_v1 = |if_match: &str| {
        c.delete_object()
            .bucket(B)
            .key("k")
            .version_id(&v1)
            .if_match(if_match)
            .send()
    };

    assert_s3_error(delete_v1(&current).await, "PreconditionFailed", 412);
    let deleted = delete_v1(&v1_etag).await.expect("v1's own ETag deletes v1");

    assert_eq!(deleted.version_id.as_deref(), Some(v1.as_str()));
    let versions = c.list_object_versions().bucket(B).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "only v2 is left");
    assert_eq!(get(&c, B, "k").await, b"v2");
}

#[tokio::test]
async fn delete_objects_fails_only_the_keys_whose_conditions_do_not_hold() {
    let (_gw, c) = with_bucket(B).await;
    let a = put(&c, B, "a", b"aaa".to_vec()).await;
    put(&c, B, "b", b"bbb".to_vec()).await;
    put(&c, B, "c", b"ccc".to_vec()).await;
    put(&c, B, "d", b"ddd".to_vec()).await;
    let modified = c
        .head_object()
        .bucket(B)
        .key("d")
        .send()
        .await
        .unwrap()
        .last_modified
        .unwrap();
    let id = |key: &str| ObjectIdentifier::builder().key(key);
    let objects = vec![
        id("a").e_tag(&a).build().unwrap(),
        id("b").e_tag("\"stale\"").build().unwrap(),
        id("c").size(99).build().unwrap(),
        id("d").size(3).last_modified_time(modified).build().unwrap(),
    ];

    let out = c
        .delete_objects()
        .bucket(B)
        .delete(Delete::builder().set_objects(Some(objects)).build().unwrap())
        .send()
        .await
        .expect("DeleteObjects answers per key");

    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    let mut failed: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap(), e.code().unwrap()))
        .collect();
    failed.sort();
    assert_eq!(deleted, ["a", "d"]);
    assert_eq!(failed, [("b", "PreconditionFailed"), ("c", "PreconditionFailed")]);
    let left: Vec<_> = snapshot(&c, B).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(left, ["b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conditional_delete_racing_an_overwrite_never_removes_the_new_object() {
    const ROUNDS: usize = 20;
    let (_gw, c) = with_bucket(B).await;
    for round in 0..ROUNDS {
        let old = put(&c, B, "k", format!("old-{round}")).await;
        let new_body = format!("new-{round}");
        let (writer, deleter) = (c.clone(), c.clone());
        let write = tokio::spawn(async move { put(&writer, B, "k", new_body).await });
        let delete = tokio::spawn(async move {
            deleter
                .delete_object()
                .bucket(B)
                .key("k")
                .if_match(old)
                .send()
                .await
        });
        write.await.unwrap();
        let deleted = delete.await.unwrap();

        // The delete went first and the new object landed after it, or the delete saw the new
        // ETag and failed: either way the new object is there.
        assert_eq!(
            get(&c, B, "k").await,
            format!("new-{round}").into_bytes(),
            "round {round}: {deleted:?}"
        );
    }
}
