//! Bucket lifecycle: the configuration API and the worker, with short lifecycle "days"
//! (`--lifecycle-day-seconds`) so rules act within seconds. Each test checks that exactly the
//! right things went and nothing else did.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
    Transition, TransitionStorageClass,
};
use common::*;

const B: &str = "expiring";

/// A gateway whose lifecycle day lasts one second and whose worker wakes every second.
async fn fast_lifecycle() -> (Gateway, Client) {
    let gw = start_with_args(&["--lifecycle-day-seconds", "1", "--lifecycle-interval", "1"]);
    let c = gw.client();
    create_bucket(&c, B).await;
    (gw, c)
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn configure(c: &Client, rules: Vec<LifecycleRule>) {
    c.put_bucket_lifecycle_configuration()
        .bucket(B)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("put lifecycle configuration");
}

/// Polls `check` until it holds or `within` passes.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

async fn keys(c: &Client) -> Vec<String> {
    snapshot(c, B).await.into_iter().map(|(k, _)| k).collect()
}

async fn versions(c: &Client, key: &str) -> (usize, usize) {
    let out = c
        .list_object_versions()
        .bucket(B)
        .prefix(key)
        .send()
        .await
        .unwrap();
    (out.versions().len(), out.delete_markers().len())
}

#[tokio::test]
async fn a_configuration_reads_back_and_is_gone_after_delete() {
    let (_gw, c) = fast_lifecycle().await;
    assert_s3_error(
        c.get_bucket_lifecycle_configuration().bucket(B).send().await,
        "NoSuchLifecycleConfiguration",
        404,
    );
    let tagged = LifecycleRule::builder()
        .id("tagged-logs")
        .status(ExpirationStatus::Disabled)
        .filter(
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix("logs/")
                        .tags(Tag::builder().key("tier").value("tmp").build().unwrap())
                        .object_size_greater_than(1024)
                        .build(),
                )
                .build(),
        )
        .expiration(LifecycleExpiration::builder().days(30).build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .newer_noncurrent_versions(3)
                .build(),
        )
        .build()
        .unwrap();
    let uploads = rule("uploads", "")
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(2)
                .build(),
        )
        .build()
        .unwrap();
    configure(&c, vec![tagged.clone(), uploads.clone()]).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket(B)
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules(), &[tagged, uploads]);
    c.delete_bucket_lifecycle().bucket(B).send().await.unwrap();
    assert_s3_error(
        c.get_bucket_lifecycle_configuration().bucket(B).send().await,
        "NoSuchLifecycleConfiguration",
        404,
    );
}

#[tokio::test]
async fn transitions_and_invalid_rules_are_refused() {
    let (_gw, c) = fast_lifecycle().await;
    let put = |rules: Vec<LifecycleRule>| {
        c.put_bucket_lifecycle_configuration()
            .bucket(B)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let transition = rule("t", "")
        .transitions(
            Transition::builder()
                .days(30)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()
        .unwrap();
    let e = put(vec![transition]).await.unwrap_err();
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(e.as_service_error().unwrap())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(s3_error(e), ("InvalidArgument".to_owned(), 400));
    assert!(message.contains("not supported"), "{message}");
    let expire = |id: &str| {
        rule(id, "")
            .expiration(LifecycleExpiration::builder().days(1).build())
            .build()
            .unwrap()
    };
    assert_s3_error(
        put(vec![expire("same"), expire("same")]).await,
        "InvalidArgument",
        400,
    );
    let zero = rule("z", "")
        .expiration(LifecycleExpiration::builder().days(0).build())
        .build()
        .unwrap();
    assert_s3_error(put(vec![zero]).await, "InvalidArgument", 400);
    assert_s3_error(
        c.get_bucket_lifecycle_configuration().bucket(B).send().await,
        "NoSuchLifecycleConfiguration",
        404,
    );
}

#[tokio::test]
async fn expiration_deletes_exactly_the_covered_objects_of_an_unversioned_bucket() {
    let (_gw, c) = fast_lifecycle().await;
    for k in ["tmp/a", "tmp/b", "keep/a", "tmpfile"] {
        put(&c, B, k, b"x".to_vec()).await;
    }
    configure(
        &c,
        vec![
            rule("tmp", "tmp/")
                .expiration(LifecycleExpiration::builder().days(2).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    let header = c
        .head_object()
        .bucket(B)
        .key("tmp/a")
        .send()
        .await
        .unwrap()
        .expiration;
    assert!(
        header.is_some_and(|h| h.contains("rule-id=\"tmp\"")),
        "x-amz-expiration names the rule"
    );
    assert!(
        c.head_object()
            .bucket(B)
            .key("keep/a")
            .send()
            .await
            .unwrap()
            .expiration
            .is_none()
    );
    assert!(
        eventually(Duration::from_secs(20), || async { keys(&c).await.len() == 2 }).await,
        "tmp/ objects expire"
    );
    assert_eq!(keys(&c).await, vec!["keep/a".to_owned(), "tmpfile".to_owned()]);
}

#[tokio::test]
async fn expiration_bypasses_a_deny_policy() {
    let (_gw, c) = fast_lifecycle().await;
    put(&c, B, "tmp/a", b"x".to_vec()).await;
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
        "Action": "s3:DeleteObject", "Resource": format!("arn:aws:s3:::{B}/*")}]});
    c.put_bucket_policy()
        .bucket(B)
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    configure(
        &c,
        vec![
            rule("tmp", "tmp/")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    assert!(eventually(Duration::from_secs(20), || async { keys(&c).await.is_empty() }).await);
}

#[tokio::test]
async fn in_a_versioned_bucket_expiration_adds_markers_and_noncurrent_versions_go() {
    let (_gw, c) = fast_lifecycle().await;
    enable_versioning(&c, B).await;
    for body in ["v1", "v2", "v3"] {
        put(&c, B, "doc", body.as_bytes().to_vec()).await;
    }
    configure(
        &c,
        vec![
            rule("current", "")
                .expiration(LifecycleExpiration::builder().days(2).build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .newer_noncurrent_versions(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    // v3 expires as current (a delete marker covers it) and so becomes noncurrent too; of the
    // noncurrent v3, v2, v1 only the newest is kept (NewerNoncurrentVersions = 1).
    assert!(
        eventually(Duration::from_secs(25), || async {
            versions(&c, "doc").await == (1, 1)
        })
        .await,
        "got {:?}",
        versions(&c, "doc").await
    );
    assert_s3_error(c.get_object().bucket(B).key("doc").send().await, "NoSuchKey", 404);
    let kept = c.list_object_versions().bucket(B).send().await.unwrap();
    let id = kept.versions()[0].version_id().unwrap().to_owned();
    let body = c
        .get_object()
        .bucket(B)
        .key("doc")
        .version_id(id)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"v3");
}

#[tokio::test]
async fn expired_delete_markers_with_no_versions_left_are_removed() {
    let (_gw, c) = fast_lifecycle().await;
    enable_versioning(&c, B).await;
    let v = c
        .put_object()
        .bucket(B)
        .key("gone")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    c.delete_object().bucket(B).key("gone").send().await.unwrap();
    c.delete_object()
        .bucket(B)
        .key("gone")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    put(&c, B, "alive", b"x".to_vec()).await;
    c.delete_object().bucket(B).key("alive").send().await.unwrap();
    assert_eq!(versions(&c, "gone").await, (0, 1));
    configure(
        &c,
        vec![
            rule("markers", "")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            versions(&c, "gone").await == (0, 0)
        })
        .await
    );
    assert_eq!(
        versions(&c, "alive").await,
        (1, 1),
        "a marker with a version behind it stays"
    );
}

#[tokio::test]
async fn stale_multipart_uploads_are_aborted_with_their_parts() {
    let (gw, c) = fast_lifecycle().await;
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("big")
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    c.upload_part()
        .bucket(B)
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    // Larger than objects kept inline: its blob file is what must remain.
    put(&c, B, "kept", vec![b'x'; 20_000]).await;
    configure(
        &c,
        vec![
            rule("uploads", "")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(1)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            c.list_multipart_uploads()
                .bucket(B)
                .send()
                .await
                .unwrap()
                .uploads()
                .is_empty()
        })
        .await
    );
    assert_eq!(
        blob_files(&gw),
        1,
        "the part's bytes are freed; the object's remain"
    );
    assert_eq!(keys(&c).await, vec!["kept".to_owned()]);
}

fn filtered(id: &str, filter: LifecycleRuleFilter) -> LifecycleRule {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(filter)
        .expiration(LifecycleExpiration::builder().days(2).build())
        .build()
        .unwrap()
}

async fn put_tagged(c: &Client, key: &str, len: usize, tagging: &str) -> Option<String> {
    c.put_object()
        .bucket(B)
        .key(key)
        .body(ByteStream::from(vec![b'x'; len]))
        .set_tagging((!tagging.is_empty()).then(|| tagging.to_owned()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"))
        .expiration
}

#[tokio::test]
async fn expiration_selects_by_tags_and_size_and_says_so_on_put_get_and_head() {
    let (_gw, c) = fast_lifecycle().await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    configure(
        &c,
        vec![
            filtered(
                "big-tmp",
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .tags(tag("tier", "tmp"))
                            .object_size_greater_than(3)
                            .build(),
                    )
                    .build(),
            ),
            filtered(
                "scratch",
                LifecycleRuleFilter::builder().tag(tag("team", "scratch")).build(),
            ),
            filtered(
                "tiny",
                LifecycleRuleFilter::builder().object_size_less_than(2).build(),
            ),
        ],
    )
    .await;

    let on_put = put_tagged(&c, "big-tmp", 8, "tier=tmp").await;
    put_tagged(&c, "small-tmp", 3, "tier=tmp").await;
    put_tagged(&c, "scratch", 5, "team=scratch&tier=other").await;
    put_tagged(&c, "dot", 1, "").await;
    put_tagged(&c, "plain", 8, "").await;
    let on_get = c
        .get_object()
        .bucket(B)
        .key("scratch")
        .send()
        .await
        .unwrap()
        .expiration;
    let head = |key: &'static str| {
        let c = c.clone();
        async move {
            c.head_object()
                .bucket(B)
                .key(key)
                .send()
                .await
                .unwrap()
                .expiration
        }
    };

    assert!(on_put.is_some_and(|h| h.contains("rule-id=\"big-tmp\"")));
    assert!(on_get.is_some_and(|h| h.contains("rule-id=\"scratch\"")));
    assert!(head("dot").await.is_some_and(|h| h.contains("rule-id=\"tiny\"")));
    assert_eq!(
        head("small-tmp").await,
        None,
        "too small for big-tmp, too big for tiny"
    );
    assert_eq!(head("plain").await, None);
    assert!(
        eventually(Duration::from_secs(20), || async { keys(&c).await.len() == 2 }).await,
        "the selected objects expire"
    );
    assert_eq!(keys(&c).await, ["plain", "small-tmp"]);
}
