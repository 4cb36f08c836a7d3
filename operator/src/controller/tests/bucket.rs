use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::*;
use crate::controller::bucket::{FINALIZER, reconcile};
use crate::controller::{Error, RESYNC, error_policy};
use crate::crd::{AccessMode, Bucket, CredentialsSpec, DeletionPolicy, Versioning};
use crate::fixtures::api_server::{self, Expect, stowage_path};
use crate::fixtures::fake_store::{Call, FakeStore, s3_error, unreachable_url};
use crate::fixtures::{self, NAMESPACE};

fn bucket_path(sub: &str) -> String {
    stowage_path("buckets", Some(&format!("logs{sub}")))
}

fn get_store() -> Expect {
    Expect::get(stowage_path("objectstores", Some("photos"))).respond(fixtures::ready_store("photos"))
}

fn with_finalizer(mut bucket: Bucket) -> Bucket {
    bucket.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    bucket
}

fn deleting(mut bucket: Bucket) -> Bucket {
    bucket.metadata.deletion_timestamp = bucket.metadata.creation_timestamp.clone();
    bucket
}

/// A gateway with an admin API: a new bucket, no users yet.
fn new_store(call: &Call) -> (u16, String) {
    match (call.method.as_str(), call.target.as_str()) {
        ("HEAD", "/logs") => (404, String::new()),
        ("GET", "/_stowage/admin/v1/users") => (200, r#"{"users":[]}"#.into()),
        ("POST", "/_stowage/admin/v1/users") if call.body.contains("store.team-a.photos") => (
            200,
            r#"{"user":"store.team-a.photos","org":"k8s.team-a.photos","accessKeyId":"AKCREATOR","secretAccessKey":"SKCREATOR"}"#.into(),
        ),
        ("POST", "/_stowage/admin/v1/users") => (
            200,
            r#"{"user":"bucket.team-a.logs","org":"k8s.team-a.photos","accessKeyId":"AKINITIAL","secretAccessKey":"SKINITIAL"}"#.into(),
        ),
        ("POST", "/_stowage/admin/v1/users/bucket.team-a.logs/keys") => (
            200,
            r#"{"user":"bucket.team-a.logs","org":"k8s.team-a.photos","accessKeyId":"AKAPP","secretAccessKey":"SKAPP","scope":{"bucket":"logs","access":"ReadOnly"}}"#.into(),
        ),
        ("DELETE", _) => (204, String::new()),
        _ => (200, String::new()),
    }
}

#[tokio::test]
async fn a_new_bucket_is_created_configured_and_given_scoped_credentials() {
    let store = FakeStore::start(new_store).await;
    let mut bucket = fixtures::bucket("logs", "photos");
    bucket.spec.versioning = Some(Versioning::Enabled);
    bucket.spec.tags = BTreeMap::from([("team".into(), "a".into())]);
    bucket.spec.credentials = Some(CredentialsSpec {
        secret_name: None,
        access: AccessMode::ReadOnly,
    });
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::patch(bucket_path("")).respond(with_finalizer(bucket.clone())),
        get_store(),
        get_admin_secret(),
        event(),
        event(),
        event(),
        Expect::get(core_path("secrets", "logs-credentials")).not_found(),
        event(),
        Expect::patch(core_path("secrets", "logs-credentials")),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let action = reconcile(bucket.clone().into(), context(client, Some(&store.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");

    assert_eq!(action, Action::requeue(RESYNC));
    // The finalizer goes on first, guarded by the resourceVersion it was read at.
    assert_eq!(
        seen[0].body,
        json!({"metadata": {"finalizers": [FINALIZER], "resourceVersion": "100"}})
    );
    assert_eq!(
        store.lines(),
        [
            "HEAD /logs",
            "POST /_stowage/admin/v1/users",
            "PUT /logs",
            "DELETE /_stowage/admin/v1/users/store.team-a.photos/keys/AKCREATOR",
            "PUT /logs?versioning",
            "PUT /logs?tagging",
            "GET /_stowage/admin/v1/users",
            "POST /_stowage/admin/v1/users",
            "POST /_stowage/admin/v1/users/bucket.team-a.logs/keys",
            "DELETE /_stowage/admin/v1/users/bucket.team-a.logs/keys/AKINITIAL",
        ]
    );
    let calls = store.calls();
    let signer = |c: &Call| {
        let auth = c.header("authorization").unwrap_or_default();
        auth.split("Credential=")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_default()
            .to_owned()
    };
    // The tenant org's short-lived key creates the bucket (so the tenant org owns it), then goes.
    assert_eq!(
        calls[1].body,
        r#"{"name":"store.team-a.photos","org":"k8s.team-a.photos"}"#
    );
    assert_eq!(signer(&calls[2]), "AKCREATOR");
    assert!(
        calls[2]
            .body
            .contains("<LocationConstraint>us-east-1</LocationConstraint>")
    );
    assert!(calls[4].body.contains("<Status>Enabled</Status>"));
    assert!(calls[5].body.contains("<Key>team</Key><Value>a</Value>"));
    // The application user is a tenant-org member, never a root-org one.
    assert_eq!(
        calls[7].body,
        r#"{"name":"bucket.team-a.logs","org":"k8s.team-a.photos"}"#
    );
    assert_eq!(
        calls[8].body,
        r#"{"scope":{"bucket":"logs","access":"ReadOnly"}}"#
    );
    let others: Vec<_> = calls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, c)| signer(c))
        .collect();
    assert!(others.iter().all(|s| s == "AKROOT"), "{others:?}");

    let reasons: Vec<_> = [3, 4, 5, 7, 9].iter().map(|&i| reason(&seen[i])).collect();
    assert_eq!(
        reasons,
        [
            "BucketCreated",
            "VersioningConfigured",
            "TagsConfigured",
            "CredentialsIssued",
            "Reconciled"
        ]
    );
    let secret = &seen[8];
    assert!(secret.is_apply());
    let data: BTreeMap<String, String> = serde_json::from_value(secret.body["data"].clone()).expect("data");
    let decoded: BTreeMap<&str, String> = data
        .iter()
        .map(|(k, v)| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .expect("base64");
            (k.as_str(), String::from_utf8(bytes).expect("utf-8"))
        })
        .collect();
    assert_eq!(decoded["AWS_ACCESS_KEY_ID"], "AKAPP");
    assert_eq!(decoded["AWS_SECRET_ACCESS_KEY"], "SKAPP");
    assert_eq!(decoded["AWS_ENDPOINT_URL"], "http://photos.team-a.svc:9000");
    assert_eq!(decoded["BUCKET_NAME"], "logs");
    assert_eq!(str_of(&secret.body, "/metadata/ownerReferences/0/kind"), "Bucket");

    let status = &seen[10];
    assert_eq!(status.ready()["status"], "True");
    assert_eq!(
        status.ready()["message"],
        "bucket logs is configured in store photos"
    );
    assert_eq!(status.condition("CredentialsReady")["status"], "True");
    assert_eq!(
        status.condition("CredentialsReady")["message"],
        "ReadOnly key for bucket logs in Secret logs-credentials"
    );
    assert_eq!(status.status()["bucketName"], "logs");
    assert_eq!(status.status()["credentialsSecret"], "logs-credentials");
    assert_eq!(status.status()["accessKeyId"], "AKAPP");
    assert_eq!(status.status()["observedGeneration"], 1);
}

#[tokio::test]
async fn a_configured_bucket_costs_reads_only() {
    let store = FakeStore::start(|c| match c.target.as_str() {
        "/logs?versioning" => (
            200,
            "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".into(),
        ),
        "/logs?tagging" => (404, s3_error("NoSuchTagSet")),
        _ => (200, String::new()),
    })
    .await;
    let mut bucket = fixtures::created_bucket("logs", "photos");
    bucket.spec.versioning = Some(Versioning::Enabled);
    let (client, server) = api_server::client();
    let verifier = server.run(vec![get_store(), get_admin_secret()]);

    reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect("reconciled");
    verifier.await.expect("no write, no event, same status");
    assert_eq!(
        store.lines(),
        ["HEAD /logs", "GET /logs?versioning", "GET /logs?tagging"]
    );
}

#[tokio::test]
async fn an_existing_key_with_the_right_scope_is_kept() {
    let store = FakeStore::start(|c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", "/_stowage/admin/v1/users") => (
            200,
            r#"{"users":[{"user":"bucket.team-a.logs","org":"k8s.team-a.photos","accessKeys":[
                {"accessKeyId":"AKAPP","status":"Active","scope":{"bucket":"logs","access":"ReadWrite"}}]}]}"#
                .into(),
        ),
        ("GET", "/logs?tagging") => (404, s3_error("NoSuchTagSet")),
        ("GET", _) => (200, "<VersioningConfiguration/>".into()),
        _ => (200, String::new()),
    })
    .await;
    let mut bucket = fixtures::created_bucket("logs", "photos");
    bucket.spec.credentials = Some(CredentialsSpec::default());
    let mut existing = crate::resources::bucket::credentials_secret(
        &bucket,
        "logs-credentials",
        &crate::bucket_name::BucketName::parse("logs").expect("valid"),
        &crate::resources::bucket::StoreAddress::of(&fixtures::store("photos"), None),
        &crate::store_client::admin::IssuedKey {
            access_key_id: "AKAPP".into(),
            secret_access_key: "SKAPP".into(),
        },
    );
    existing.metadata.uid = Some("uid-logs-credentials".into());
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        Expect::get(core_path("secrets", "logs-credentials")).respond(existing),
        Expect::patch(core_path("secrets", "logs-credentials")),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");
    assert_eq!(
        store.lines(),
        [
            "HEAD /logs",
            "GET /logs?versioning",
            "GET /logs?tagging",
            "GET /_stowage/admin/v1/users"
        ],
        "no key issued, none revoked"
    );
    // Ready was already True: no Event; the new CredentialsReady condition and key id are written.
    assert_eq!(seen[4].condition("CredentialsReady")["status"], "True");
    assert_eq!(seen[4].status()["accessKeyId"], "AKAPP");
    assert_eq!(
        seen[3].body["metadata"]["uid"], "uid-logs-credentials",
        "a kept key is applied only over the Secret it was read from"
    );
}

#[tokio::test]
async fn a_gateway_without_the_admin_api_leaves_the_bucket_made_but_credentials_pending() {
    let store = FakeStore::start(|c| match c.target.as_str() {
        t if t.starts_with("/_stowage/admin") => (400, s3_error("InvalidBucketName")),
        "/logs" if c.method == "HEAD" => (404, String::new()),
        _ => (200, String::new()),
    })
    .await;
    let mut bucket = with_finalizer(fixtures::bucket("logs", "photos"));
    bucket.spec.credentials = Some(CredentialsSpec::default());
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let err = reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect_err("credentials pending");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::AdminApiUnavailable(_)), "{err}");
    assert_eq!(reason(&seen[2]), "BucketCreated");
    assert_eq!(
        (reason(&seen[3]), event_type(&seen[3])),
        ("AdminApiUnavailable", "Warning")
    );
    let status = &seen[4];
    assert_eq!(
        status.status()["bucketName"],
        "logs",
        "dependents may configure the bucket"
    );
    assert_eq!(status.ready()["status"], "False");
    assert_eq!(status.ready()["reason"], "AdminApiUnavailable");
    assert_eq!(
        status.condition("CredentialsReady")["reason"],
        "AdminApiUnavailable"
    );
}

#[tokio::test]
async fn a_bucket_waits_for_its_store_with_a_condition_and_backoff() {
    let bucket = with_finalizer(fixtures::bucket("logs", "photos"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(stowage_path("objectstores", Some("photos"))).respond(fixtures::store("photos")),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let ctx = context(client, None);
    let err = reconcile(bucket.clone().into(), ctx.clone())
        .await
        .expect_err("not ready");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::StoreNotReady(_)), "{err}");
    assert_eq!(
        (reason(&seen[1]), event_type(&seen[1])),
        ("StoreNotReady", "Warning")
    );
    assert_eq!(seen[2].ready()["reason"], "StoreNotReady");
    assert_eq!(
        seen[2].ready()["message"],
        "ObjectStore \"photos\" is not ready yet"
    );
    assert_eq!(seen[2].condition("CredentialsReady"), &Value::Null);

    let bucket = Arc::new(bucket);
    let first = error_policy(bucket.clone(), &err, ctx.clone());
    let second = error_policy(bucket, &err, ctx);
    assert_eq!(first, Action::requeue(Duration::from_secs(5)));
    assert_eq!(second, Action::requeue(Duration::from_secs(10)));
}

#[tokio::test]
async fn an_unreachable_gateway_is_reported_as_such() {
    let down = unreachable_url().await;
    let bucket = with_finalizer(fixtures::bucket("logs", "photos"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let err = reconcile(bucket.into(), context(client, Some(&down)))
        .await
        .expect_err("unreachable");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::StoreUnreachable(_)), "{err}");
    assert_eq!(seen[3].ready()["reason"], "StoreUnreachable");
    let message = seen[3].ready()["message"].as_str().expect("message");
    assert!(
        message.starts_with(&format!("store unreachable at {down}")),
        "{message}"
    );
}

#[tokio::test]
async fn a_second_claim_on_one_bucket_is_a_conflict() {
    let store = FakeStore::start(|_| (200, String::new())).await;
    let mut older = fixtures::bucket("first-claim", "photos");
    older.spec.bucket_name = Some("shared".into());
    older.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(1_600_000_000).expect("valid"),
    ));
    let mut bucket = with_finalizer(fixtures::bucket("logs", "photos"));
    bucket.spec.bucket_name = Some("shared".into());
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let err = reconcile(
        bucket.clone().into(),
        context_with_buckets(client, Some(&store.url), &[older, bucket]),
    )
    .await
    .expect_err("conflict");
    let seen = verifier.await.expect("script");
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert_eq!(
        seen[3].ready()["message"],
        "Bucket first-claim already manages bucket shared in store photos"
    );
    assert!(store.lines().is_empty(), "the store is not touched");
}

/// The loser of a claim shows Conflict; deleting it with `Delete` and `forceDelete` must leave the
/// winner's bucket, and everything in it, alone.
#[tokio::test]
async fn deleting_the_loser_of_a_claim_never_touches_the_winners_bucket() {
    let store = FakeStore::start(|_| (200, String::new())).await;
    let mut winner = fixtures::created_bucket("first-claim", "photos");
    winner.spec.bucket_name = Some("shared".into());
    winner.metadata.uid = Some("uid-winner".into());
    winner.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(1_600_000_000).expect("valid"),
    ));
    let mut loser = deleting(with_finalizer(fixtures::bucket("logs", "photos")));
    loser.spec.bucket_name = Some("shared".into());
    loser.spec.deletion_policy = DeletionPolicy::Delete;
    loser.spec.force_delete = true;
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        Expect::patch(bucket_path("")).respond(&loser),
    ]);

    let action = reconcile(
        loser.clone().into(),
        context_with_buckets(client, Some(&store.url), &[winner, loser]),
    )
    .await
    .expect("released");
    let seen = verifier.await.expect("script");
    assert_eq!(action, Action::await_change());
    assert!(
        store.lines().is_empty(),
        "the store is not touched: {:?}",
        store.lines()
    );
    assert_eq!(
        (reason(&seen[2]), event_type(&seen[2])),
        ("NotClaimed", "Warning")
    );
    assert_eq!(
        seen[3].body,
        json!({"metadata": {"finalizers": [], "resourceVersion": "100"}})
    );
}

#[tokio::test]
async fn deleting_with_retain_keeps_the_bucket_and_revokes_the_credentials() {
    let store = FakeStore::start(|_| (204, String::new())).await;
    let mut bucket = deleting(fixtures::created_bucket("logs", "photos"));
    bucket.status.as_mut().expect("status").access_key_id = Some("AKAPP".into());
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        Expect::patch(bucket_path("")).respond(&bucket),
    ]);

    let action = reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect("released");
    let seen = verifier.await.expect("script");
    assert_eq!(action, Action::await_change());
    assert_eq!(
        store.lines(),
        ["DELETE /_stowage/admin/v1/users/bucket.team-a.logs"]
    );
    assert_eq!(reason(&seen[2]), "Retained");
    assert_eq!(
        seen[3].body,
        json!({"metadata": {"finalizers": [], "resourceVersion": "100"}})
    );
}

fn listing(entries: &[(&str, &str)]) -> String {
    let versions: String = entries
        .iter()
        .map(|(k, v)| format!("<Version><Key>{k}</Key><VersionId>{v}</VersionId></Version>"))
        .collect();
    format!("<ListVersionsResult>{versions}</ListVersionsResult>")
}

#[tokio::test]
async fn deleting_a_non_empty_bucket_without_force_is_refused_with_a_clear_condition() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "GET" => (200, listing(&[("a", "null"), ("b", "v1")])),
        _ => (200, String::new()),
    })
    .await;
    let mut bucket = deleting(fixtures::created_bucket("logs", "photos"));
    bucket.spec.deletion_policy = DeletionPolicy::Delete;
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
    ]);

    let err = reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect_err("blocked");
    let seen = verifier.await.expect("script: the finalizer stays");
    assert!(matches!(err, Error::DeletionBlocked(_)), "{err}");
    assert_eq!(store.lines(), ["HEAD /logs", "GET /logs?max-keys=1000&versions="]);
    assert_eq!(
        (reason(&seen[2]), event_type(&seen[2])),
        ("DeletionBlocked", "Warning")
    );
    assert_eq!(seen[3].ready()["reason"], "DeletionBlocked");
    assert!(
        seen[3].ready()["message"]
            .as_str()
            .is_some_and(|m| m.contains("set spec.forceDelete: true")),
        "{}",
        seen[3].ready()
    );
}

#[tokio::test]
async fn force_delete_empties_the_bucket_in_batches_reporting_progress_then_deletes_it() {
    let listed = Arc::new(Mutex::new(0));
    let counter = listed.clone();
    let store = FakeStore::start(move |c| match c.method.as_str() {
        "GET" => {
            let mut n = counter.lock().expect("lock");
            *n += 1;
            let page = if *n == 1 {
                listing(&[("a", "null"), ("b", "v1"), ("b", "v2")])
            } else {
                listing(&[])
            };
            (200, page)
        }
        "POST" => (200, "<DeleteResult/>".into()),
        _ => (204, String::new()),
    })
    .await;
    let mut bucket = deleting(fixtures::created_bucket("logs", "photos"));
    bucket.spec.deletion_policy = DeletionPolicy::Delete;
    bucket.spec.force_delete = true;
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
        event(),
        Expect::patch(bucket_path("")).respond(&bucket),
    ]);

    let action = reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect("deleted");
    let seen = verifier.await.expect("script");
    assert_eq!(action, Action::await_change());
    assert_eq!(
        store.lines(),
        [
            "HEAD /logs",
            "GET /logs?max-keys=1000&versions=",
            "POST /logs?delete=",
            "GET /logs?max-keys=1000&versions=",
            "GET /logs?max-uploads=1000&uploads=",
            "DELETE /logs",
        ]
    );
    assert!(
        store.calls()[2]
            .body
            .contains("<Object><Key>b</Key><VersionId>v2</VersionId></Object>")
    );
    assert_eq!((reason(&seen[2]), event_type(&seen[2])), ("Deleting", "Normal"));
    assert_eq!(
        seen[3].status()["deletion"],
        json!({"objectsDeleted": 3, "uploadsAborted": 0, "batches": 1})
    );
    assert_eq!(
        seen[3].ready()["message"],
        "emptying bucket logs: 3 objects deleted and 0 uploads aborted in 1 batches"
    );
    assert_eq!(reason(&seen[4]), "BucketDeleted");
    assert_eq!(seen[5].body["metadata"]["finalizers"], json!([]));
}

#[tokio::test]
async fn deleting_when_the_store_is_gone_just_lets_go() {
    let bucket = deleting(fixtures::created_bucket("logs", "photos"));
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(stowage_path("objectstores", Some("photos"))).not_found(),
        event(),
        Expect::patch(bucket_path("")).respond(&bucket),
    ]);
    reconcile(bucket.into(), context(client, None))
        .await
        .expect("released");
    let seen = verifier.await.expect("script");
    assert_eq!(reason(&seen[1]), "StoreGone");
    assert_eq!(seen[1].body["regarding"]["namespace"], NAMESPACE);
}

#[tokio::test]
async fn force_delete_aborts_incomplete_uploads_that_would_block_the_deletion() {
    let aborted = Arc::new(Mutex::new(false));
    let flag = aborted.clone();
    let store = FakeStore::start(move |c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", t) if t.contains("uploads") && !*flag.lock().expect("lock") => (
            200,
            "<ListMultipartUploadsResult><Upload><Key>big file/part</Key><UploadId>u-1</UploadId></Upload></ListMultipartUploadsResult>".into(),
        ),
        ("GET", t) if t.contains("uploads") => (200, "<ListMultipartUploadsResult/>".into()),
        ("GET", _) => (200, listing(&[])),
        ("DELETE", t) if t.contains("uploadId") => {
            *flag.lock().expect("lock") = true;
            (204, String::new())
        }
        _ => (204, String::new()),
    })
    .await;
    let mut bucket = deleting(fixtures::created_bucket("logs", "photos"));
    bucket.spec.deletion_policy = DeletionPolicy::Delete;
    bucket.spec.force_delete = true;
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_store(),
        get_admin_secret(),
        event(),
        status_patch(bucket_path("/status"), &bucket),
        event(),
        Expect::patch(bucket_path("")).respond(&bucket),
    ]);
    reconcile(bucket.into(), context(client, Some(&store.url)))
        .await
        .expect("deleted");
    let seen = verifier.await.expect("script");
    assert!(*aborted.lock().expect("lock"));
    assert_eq!(
        store.lines(),
        [
            "HEAD /logs",
            "GET /logs?max-keys=1000&versions=",
            "GET /logs?max-uploads=1000&uploads=",
            "DELETE /logs/big%20file/part?uploadId=u-1",
            "GET /logs?max-keys=1000&versions=",
            "GET /logs?max-uploads=1000&uploads=",
            "DELETE /logs",
        ]
    );
    assert_eq!(
        seen[3].status()["deletion"],
        json!({"objectsDeleted": 0, "uploadsAborted": 1, "batches": 1})
    );
}
