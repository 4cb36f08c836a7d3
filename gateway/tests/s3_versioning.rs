//! Versioning: version ids, delete markers, suspension and its `null` version, versioned reads
//! and deletes, ListObjectVersions, and what versioning forbids (RenameObject, non-empty
//! DeleteBucket).

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use common::*;
use http::Method;

const B: &str = "versioned";

async fn set_versioning(c: &Client, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(B)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put_v(c: &Client, key: &str, body: &str) -> Option<String> {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap()
        .version_id
}

async fn get_v(c: &Client, key: &str, version: &str) -> Result<Vec<u8>, (String, u16)> {
    match c.get_object().bucket(B).key(key).version_id(version).send().await {
        Ok(o) => Ok(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => Err(s3_error(e)),
    }
}

/// Every (key, version id, is latest, is delete marker) of the bucket, paging `page` at a time.
async fn all_versions(c: &Client, page: i32) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let (mut km, mut vm) = (None, None);
    loop {
        let r = c
            .list_object_versions()
            .bucket(B)
            .max_keys(page)
            .set_key_marker(km)
            .set_version_id_marker(vm)
            .send()
            .await
            .unwrap();
        let mut rows: Vec<(String, String, bool, bool)> = r
            .versions()
            .iter()
            .map(|v| {
                (
                    v.key().unwrap().to_owned(),
                    v.version_id().unwrap().to_owned(),
                    v.is_latest().unwrap(),
                    false,
                )
            })
            .chain(r.delete_markers().iter().map(|m| {
                (
                    m.key().unwrap().to_owned(),
                    m.version_id().unwrap().to_owned(),
                    m.is_latest().unwrap(),
                    true,
                )
            }))
            .collect();
        // Versions and markers come in two lists; S3 interleaves them by key, newest first.
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2).reverse()));
        out.extend(rows);
        if r.is_truncated != Some(true) {
            return out;
        }
        (km, vm) = (r.next_key_marker, r.next_version_id_marker);
    }
}

#[tokio::test]
async fn versioning_status_is_empty_until_set_and_reports_what_was_set() {
    let (_gw, c) = with_bucket(B).await;
    assert_eq!(
        c.get_bucket_versioning().bucket(B).send().await.unwrap().status,
        None
    );
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    assert_eq!(
        c.get_bucket_versioning().bucket(B).send().await.unwrap().status,
        Some(BucketVersioningStatus::Enabled)
    );
    set_versioning(&c, BucketVersioningStatus::Suspended).await;
    assert_eq!(
        c.get_bucket_versioning().bucket(B).send().await.unwrap().status,
        Some(BucketVersioningStatus::Suspended)
    );
}

#[tokio::test]
async fn a_key_keeps_its_history_across_enable_and_suspend() {
    let (_gw, c) = with_bucket(B).await;
    assert_eq!(put_v(&c, "k", "v1 before versioning").await, None);
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let v2 = put_v(&c, "k", "v2").await.expect("a version id once enabled");
    let v3 = put_v(&c, "k", "v3").await.unwrap();
    assert_ne!(v2, v3);
    assert_eq!(get_v(&c, "k", "null").await.unwrap(), b"v1 before versioning");
    set_versioning(&c, BucketVersioningStatus::Suspended).await;
    put_v(&c, "k", "v4 replaces the null version").await;

    assert_eq!(get(&c, B, "k").await, b"v4 replaces the null version");
    assert_eq!(
        get_v(&c, "k", "null").await.unwrap(),
        b"v4 replaces the null version"
    );
    assert_eq!(get_v(&c, "k", &v2).await.unwrap(), b"v2");
    assert_eq!(get_v(&c, "k", &v3).await.unwrap(), b"v3");
    let listed = all_versions(&c, 1000).await;
    assert_eq!(
        listed,
        vec![
            ("k".to_owned(), "null".to_owned(), true, false),
            ("k".to_owned(), v3, false, false),
            ("k".to_owned(), v2, false, false),
        ]
    );
}

#[tokio::test]
async fn deleting_without_a_version_adds_a_delete_marker() {
    let (gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let v1 = put_v(&c, "k", "data").await.unwrap();
    let del = c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(del.delete_marker, Some(true));
    let marker = del.version_id.expect("the marker's version id");

    let resp = gw.raw().request(Method::GET, "/versioned/k").send().await;
    assert_raw_error(&resp, "NoSuchKey", 404);
    assert_eq!(resp.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(resp.header("x-amz-version-id"), Some(marker.as_str()));
    let by_id = gw
        .raw()
        .request(Method::GET, &format!("/versioned/k?versionId={marker}"))
        .send()
        .await;
    assert_raw_error(&by_id, "MethodNotAllowed", 405);
    assert_eq!(by_id.header("x-amz-delete-marker"), Some("true"));
    assert!(
        snapshot(&c, B).await.is_empty(),
        "ListObjects hides keys whose latest version is a marker"
    );
    assert_eq!(get_v(&c, "k", &v1).await.unwrap(), b"data");

    // Removing the marker brings the object back.
    let undelete = c
        .delete_object()
        .bucket(B)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(undelete.delete_marker, Some(true));
    assert_eq!(get(&c, B, "k").await, b"data");
}

#[tokio::test]
async fn deleting_a_version_removes_exactly_that_version_and_its_bytes() {
    let (gw, c) = with_bucket_args(B, &ON_VOLUMES).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let v1 = put_v(&c, "k", "one").await.unwrap();
    let v2 = put_v(&c, "k", "two").await.unwrap();
    let v3 = put_v(&c, "k", "three").await.unwrap();
    assert_eq!(blob_files(&gw), 3);
    c.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(blob_files(&gw), 2);
    assert_eq!(get_v(&c, "k", &v2).await, Err(("NoSuchVersion".to_owned(), 404)));
    assert_eq!(get_v(&c, "k", &v1).await.unwrap(), b"one");
    // Deleting the latest promotes the next newest.
    c.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&v3)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, B, "k").await, b"one");
}

#[tokio::test]
async fn listing_versions_pages_through_many_keys_newest_first() {
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let mut expected = Vec::new();
    for key in ["a", "b/x", "c"] {
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(put_v(&c, key, &format!("{key}{i}")).await.unwrap());
        }
        for (n, id) in ids.into_iter().rev().enumerate() {
            expected.push((key.to_owned(), id, n == 0, false));
        }
    }
    let marker = c
        .delete_object()
        .bucket(B)
        .key("a")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    expected.insert(0, ("a".to_owned(), marker, true, true));
    expected[1].2 = false;
    for page in [1, 3, 4, 1000] {
        assert_eq!(all_versions(&c, page).await, expected, "page size {page}");
    }
    let folded = c
        .list_object_versions()
        .bucket(B)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        folded
            .common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap())
            .collect::<Vec<_>>(),
        vec!["b/"]
    );
    assert_eq!(folded.versions().len(), 10);
}

/// Versions and common prefixes, paged with a delimiter: every page resumes after the last
/// version or prefix it showed, and no prefix comes back twice.
#[tokio::test]
async fn listing_versions_with_a_delimiter_pages_through_prefixes() {
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let mut ids = std::collections::HashMap::new();
    for (key, count) in [
        ("a", 1),
        ("d1/x", 3),
        ("d1/y", 1),
        ("d2/z", 2),
        ("e", 2),
        ("f/g", 1),
    ] {
        for i in 0..count {
            let id = put_v(&c, key, &format!("{key}{i}")).await.unwrap();
            ids.entry(key).or_insert_with(Vec::new).insert(0, id);
        }
    }
    let expected: Vec<String> = [
        format!("a {}", ids["a"][0]),
        "d1/".to_owned(),
        "d2/".to_owned(),
        format!("e {}", ids["e"][0]),
        format!("e {}", ids["e"][1]),
        "f/".to_owned(),
    ]
    .into();
    for page in [1, 2, 3, 1000] {
        let mut shown = Vec::new();
        let (mut km, mut vm) = (None, None);
        loop {
            let r = c
                .list_object_versions()
                .bucket(B)
                .delimiter("/")
                .max_keys(page)
                .set_key_marker(km)
                .set_version_id_marker(vm)
                .send()
                .await
                .unwrap();
            let mut rows: Vec<String> = r
                .versions()
                .iter()
                .map(|v| format!("{} {}", v.key().unwrap(), v.version_id().unwrap()))
                .chain(r.common_prefixes().iter().map(|p| p.prefix().unwrap().to_owned()))
                .collect();
            assert!(rows.len() <= page as usize, "page size {page}: {rows:?}");
            rows.sort_by_key(|row| expected.iter().position(|e| e == row));
            shown.extend(rows);
            assert!(
                shown.len() <= expected.len(),
                "page size {page}: paging does not end: {shown:?}"
            );
            if r.is_truncated != Some(true) {
                break;
            }
            (km, vm) = (r.next_key_marker, r.next_version_id_marker);
        }
        assert_eq!(shown, expected, "page size {page}");
    }
}

#[tokio::test]
async fn conditional_writes_act_on_the_current_version() {
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    put_v(&c, "k", "one").await;
    let create = || {
        c.put_object()
            .bucket(B)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .if_none_match("*")
    };
    assert_s3_error(create().send().await, "PreconditionFailed", 412);
    c.delete_object().bucket(B).key("k").send().await.unwrap();
    // The current version is a delete marker: there is no object, so the create succeeds.
    assert!(create().send().await.is_ok());
}

#[tokio::test]
async fn delete_bucket_refuses_while_versions_or_markers_remain() {
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let v = put_v(&c, "k", "x").await.unwrap();
    let marker = c
        .delete_object()
        .bucket(B)
        .key("k")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert!(snapshot(&c, B).await.is_empty());
    assert_s3_error(c.delete_bucket().bucket(B).send().await, "BucketNotEmpty", 409);
    c.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_s3_error(c.delete_bucket().bucket(B).send().await, "BucketNotEmpty", 409);
    c.delete_object()
        .bucket(B)
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    c.delete_bucket().bucket(B).send().await.unwrap();
}

#[tokio::test]
async fn rename_refuses_buckets_that_ever_versioned() {
    let (_gw, c) = with_bucket(B).await;
    put(&c, B, "src", b"x".to_vec()).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    set_versioning(&c, BucketVersioningStatus::Suspended).await;
    let r = c
        .rename_object()
        .bucket(B)
        .key("dst")
        .rename_source(format!("/{B}/src"))
        .send()
        .await;
    assert_s3_error(r, "InvalidBucketState", 409);
    assert_eq!(snapshot(&c, B).await[0].0, "src");

    create_bucket(&c, "suspended-only").await;
    c.put_bucket_versioning()
        .bucket("suspended-only")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&c, "suspended-only", "src", b"x".to_vec()).await;
    let r = c
        .rename_object()
        .bucket("suspended-only")
        .key("dst")
        .rename_source("/suspended-only/src")
        .send()
        .await;
    assert_s3_error(r, "InvalidBucketState", 409);
}

#[tokio::test]
async fn copy_reads_the_source_version_it_is_given() {
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    let old = put_v(&c, "src", "old").await.unwrap();
    put_v(&c, "src", "new").await;
    let out = c
        .copy_object()
        .bucket(B)
        .key("dst")
        .copy_source(format!("{B}/src?versionId={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.copy_source_version_id.as_deref(), Some(old.as_str()));
    assert!(out.version_id.is_some());
    assert_eq!(get(&c, B, "dst").await, b"old");
}

#[tokio::test]
async fn malformed_and_unknown_version_ids_are_rejected() {
    let (gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    put_v(&c, "k", "x").await;
    let bad = gw
        .raw()
        .request(Method::GET, "/versioned/k?versionId=not-a-version")
        .send()
        .await;
    assert_raw_error(&bad, "InvalidArgument", 400);
    assert_eq!(
        get_v(&c, "k", "0123456789abcdef0123456789abcdef").await,
        Err(("NoSuchVersion".to_owned(), 404))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_leave_the_latest_version_the_one_get_returns() {
    const WRITERS: usize = 16;
    let (_gw, c) = with_bucket(B).await;
    set_versioning(&c, BucketVersioningStatus::Enabled).await;
    for round in 0..3 {
        let key = format!("hot-{round}");
        let writers: Vec<_> = (0..WRITERS)
            .map(|i| {
                let (c, key) = (c.clone(), key.clone());
                // A body large enough that writers overlap and queue for the key.
                let body = format!("writer {i} ").repeat(20_000);
                tokio::spawn(async move { put_v(&c, &key, &body).await })
            })
            .collect();
        for w in writers {
            w.await.expect("writer");
        }
        let current = c.get_object().bucket(B).key(&key).send().await.expect("get");
        let current_id = current.version_id().expect("version id").to_owned();
        let listed = c
            .list_object_versions()
            .bucket(B)
            .prefix(&key)
            .send()
            .await
            .expect("list versions");
        let versions = listed.versions();
        assert_eq!(versions.len(), WRITERS);
        let latest: Vec<&str> = versions
            .iter()
            .filter(|v| v.is_latest() == Some(true))
            .filter_map(|v| v.version_id())
            .collect();
        assert_eq!(
            latest,
            [current_id.as_str()],
            "round {round}: IsLatest names what GET returns"
        );
        assert_eq!(
            versions[0].version_id(),
            Some(current_id.as_str()),
            "and it is listed first"
        );
    }
}
