//! The store client against a recording fake store: the exact requests (method, path, query,
//! headers, body) of every call, and how answers and failures are read.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::admin::KeyScope;
use super::s3::ObjectVersion;
use super::*;
use crate::bucket_name::BucketName;
use crate::crd::{AccessMode, Versioning};
use crate::fixtures::fake_store::{Call, FakeStore, s3_error, unreachable_url};

fn credentials() -> Credentials {
    Credentials {
        access_key_id: "AKROOT".into(),
        secret_access_key: "SKROOT".into(),
    }
}

fn client(url: &str) -> StoreClient {
    StoreClient::new(url, "eu-west-3", credentials()).expect("valid endpoint")
}

fn logs() -> BucketName {
    BucketName::parse("logs").expect("valid")
}

fn ok(_: &Call) -> (u16, String) {
    (200, String::new())
}

/// Every request is SigV4-signed for the store's region, with the payload hash of its body.
fn assert_signed(call: &Call) {
    let authorization = call.header("authorization").expect("authorization");
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKROOT/")
            && authorization.contains("/eu-west-3/s3/aws4_request"),
        "{authorization}"
    );
    assert!(
        authorization.contains("SignedHeaders=") && authorization.contains("host"),
        "{authorization}"
    );
    assert_eq!(
        call.header("x-amz-content-sha256"),
        Some(hex::encode(Sha256::digest(call.body.as_bytes())).as_str())
    );
    assert!(call.header("x-amz-date").is_some());
}

#[test]
fn only_http_and_https_base_urls_are_endpoints() {
    for bad in [
        "http://host:9000/prefix",
        "https://host:9000/prefix",
        "not a url",
        "ftp://x",
    ] {
        assert!(
            matches!(
                StoreClient::new(bad, "us-east-1", credentials()),
                Err(StoreError::InvalidEndpoint(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        client("http://photos.team-a.svc:9000/").endpoint(),
        "http://photos.team-a.svc:9000"
    );
    assert_eq!(
        client("https://photos.team-a.svc:9000").endpoint(),
        "https://photos.team-a.svc:9000"
    );
}

#[test]
fn a_ca_bundle_without_certificates_is_refused() {
    let refused = client("https://photos.team-a.svc:9000").trusting(Some("not PEM at all"));
    assert!(matches!(refused, Err(StoreError::InvalidCa(_))), "{refused:?}");
}

#[tokio::test]
async fn create_bucket_sends_the_region_as_location_constraint() {
    let store = FakeStore::start(ok).await;
    client(&store.url)
        .create_bucket(&logs(), "eu-west-3")
        .await
        .expect("created");
    let calls = store.calls();
    assert_eq!(store.lines(), ["PUT /logs"]);
    assert_signed(&calls[0]);
    assert_eq!(
        calls[0].body,
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <LocationConstraint>eu-west-3</LocationConstraint></CreateBucketConfiguration>"
    );
    assert_eq!(
        calls[0].header("content-md5"),
        Some(s3::tests_support::md5(&calls[0].body).as_str())
    );
}

#[tokio::test]
async fn creating_a_bucket_we_own_already_succeeds_but_someone_elses_fails() {
    let store = FakeStore::start(|_| (409, s3_error("BucketAlreadyOwnedByYou"))).await;
    client(&store.url)
        .create_bucket(&logs(), "eu-west-3")
        .await
        .expect("ours");
    let store = FakeStore::start(|_| (409, s3_error("BucketAlreadyExists"))).await;
    let err = client(&store.url)
        .create_bucket(&logs(), "eu-west-3")
        .await
        .expect_err("theirs");
    assert_eq!(err.code(), Some("BucketAlreadyExists"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn head_bucket_tells_existence() {
    let store = FakeStore::start(|c| (if c.target == "/logs" { 200 } else { 404 }, String::new())).await;
    assert!(client(&store.url).bucket_exists(&logs()).await.expect("head"));
    let other = BucketName::parse("other").expect("valid");
    assert!(!client(&store.url).bucket_exists(&other).await.expect("head"));
    assert_eq!(store.lines(), ["HEAD /logs", "HEAD /other"]);
    let store = FakeStore::start(|_| (403, String::new())).await;
    let err = client(&store.url)
        .bucket_exists(&logs())
        .await
        .expect_err("forbidden");
    assert!(matches!(err, StoreError::Rejected { status: 403, .. }), "{err}");
}

#[tokio::test]
async fn versioning_is_read_and_written() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "GET" => (
            200,
            "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>".into(),
        ),
        _ => (200, String::new()),
    })
    .await;
    let client = client(&store.url);
    assert_eq!(
        client.get_bucket_versioning(&logs()).await.expect("get"),
        Some(Versioning::Suspended)
    );
    client
        .put_bucket_versioning(&logs(), Versioning::Enabled)
        .await
        .expect("put");
    let calls = store.calls();
    assert_eq!(store.lines(), ["GET /logs?versioning", "PUT /logs?versioning"]);
    assert_eq!(
        calls[1].body,
        "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>"
    );
    assert_signed(&calls[1]);
    let never = FakeStore::start(|_| (200, "<VersioningConfiguration/>".into())).await;
    assert_eq!(
        super::tests::client(&never.url)
            .get_bucket_versioning(&logs())
            .await
            .expect("get"),
        None
    );
}

#[tokio::test]
async fn tags_are_read_written_and_deleted() {
    let store = FakeStore::start(|c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", "/logs?tagging") => (
            200,
            "<Tagging><TagSet><Tag><Key>team</Key><Value>a &amp; b</Value></Tag><Tag><Key>env</Key><Value>prod</Value></Tag></TagSet></Tagging>".into(),
        ),
        ("GET", _) => (404, s3_error("NoSuchTagSet")),
        _ => (204, String::new()),
    })
    .await;
    let client = client(&store.url);
    let tags = client.get_bucket_tagging(&logs()).await.expect("get");
    assert_eq!(
        tags,
        BTreeMap::from([("env".into(), "prod".into()), ("team".into(), "a & b".into())])
    );
    let untagged = BucketName::parse("untagged").expect("valid");
    assert!(
        client
            .get_bucket_tagging(&untagged)
            .await
            .expect("no tag set")
            .is_empty()
    );
    client
        .put_bucket_tagging(&logs(), &BTreeMap::from([("k<".into(), "v".into())]))
        .await
        .expect("put");
    client.delete_bucket_tagging(&logs()).await.expect("delete");
    let calls = store.calls();
    assert_eq!(
        store.lines(),
        [
            "GET /logs?tagging",
            "GET /untagged?tagging",
            "PUT /logs?tagging",
            "DELETE /logs?tagging"
        ]
    );
    assert_eq!(
        calls[2].body,
        "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>k&lt;</Key><Value>v</Value></Tag></TagSet></Tagging>"
    );
    assert!(calls[2].header("content-md5").is_some());
}

#[tokio::test]
async fn policy_and_lifecycle_are_put_and_deleted() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "DELETE" if c.target.ends_with("policy") => (404, s3_error("NoSuchBucketPolicy")),
        "DELETE" => (404, s3_error("NoSuchLifecycleConfiguration")),
        _ => (200, String::new()),
    })
    .await;
    let client = client(&store.url);
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": []});
    client
        .put_bucket_policy(&logs(), &policy)
        .await
        .expect("put policy");
    client
        .delete_bucket_policy(&logs())
        .await
        .expect("absent is deleted");
    client
        .put_bucket_lifecycle(&logs(), "<LifecycleConfiguration/>")
        .await
        .expect("put lifecycle");
    client
        .delete_bucket_lifecycle(&logs())
        .await
        .expect("absent is deleted");
    let calls = store.calls();
    assert_eq!(
        store.lines(),
        [
            "PUT /logs?policy",
            "DELETE /logs?policy",
            "PUT /logs?lifecycle",
            "DELETE /logs?lifecycle"
        ]
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].body).expect("JSON"),
        policy
    );
    assert_eq!(calls[0].header("content-type"), Some("application/json"));
    assert_eq!(calls[2].body, "<LifecycleConfiguration/>");
    assert_eq!(
        calls[2].header("content-md5"),
        Some(s3::tests_support::md5(&calls[2].body).as_str())
    );
    calls.iter().for_each(assert_signed);
}

#[tokio::test]
async fn emptying_lists_versions_and_markers_then_deletes_them_in_one_batch() {
    let listing = "<ListVersionsResult><Name>logs</Name>\
        <Version><Key>a &amp; b</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest></Version>\
        <Version><Key>plain</Key><VersionId>null</VersionId></Version>\
        <DeleteMarker><Key>gone</Key><VersionId>m1</VersionId></DeleteMarker>\
        </ListVersionsResult>";
    let store = FakeStore::start(move |c| match c.method.as_str() {
        "GET" => (200, listing.to_owned()),
        "POST" => (200, "<DeleteResult><Error><Key>plain</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>".into()),
        _ => (204, String::new()),
    })
    .await;
    let client = client(&store.url);
    let versions = client.list_object_versions(&logs(), 5000).await.expect("list");
    let version = |key: &str, id: &str| ObjectVersion {
        key: key.into(),
        version_id: id.into(),
    };
    assert_eq!(
        versions,
        [
            version("a & b", "v1"),
            version("plain", "null"),
            version("gone", "m1")
        ]
    );
    let outcome = client.delete_objects(&logs(), &versions).await.expect("delete");
    assert_eq!(outcome.deleted, 2);
    assert_eq!(
        outcome.errors,
        [("plain".to_owned(), "AccessDenied".to_owned(), "no".to_owned())]
    );
    client.delete_bucket(&logs()).await.expect("deleted");
    let calls = store.calls();
    assert_eq!(
        store.lines(),
        [
            "GET /logs?max-keys=1000&versions=",
            "POST /logs?delete=",
            "DELETE /logs"
        ]
    );
    assert_eq!(
        calls[1].body,
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\
         <Object><Key>a &amp; b</Key><VersionId>v1</VersionId></Object>\
         <Object><Key>plain</Key><VersionId>null</VersionId></Object>\
         <Object><Key>gone</Key><VersionId>m1</VersionId></Object></Delete>"
    );
    assert_eq!(
        calls[1].header("content-md5"),
        Some(s3::tests_support::md5(&calls[1].body).as_str())
    );
}

#[tokio::test]
async fn deleting_a_missing_bucket_succeeds_and_a_full_one_fails() {
    let store = FakeStore::start(|c| match c.target.as_str() {
        "/gone" => (404, s3_error("NoSuchBucket")),
        _ => (409, s3_error("BucketNotEmpty")),
    })
    .await;
    let client = client(&store.url);
    client
        .delete_bucket(&BucketName::parse("gone").expect("valid"))
        .await
        .expect("already gone");
    let err = client.delete_bucket(&logs()).await.expect_err("not empty");
    assert_eq!(err.code(), Some("BucketNotEmpty"));
}

#[tokio::test]
async fn a_down_store_is_unreachable_and_transient() {
    let url = unreachable_url().await;
    let err = client(&url).bucket_exists(&logs()).await.expect_err("down");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&url), "{err}");
    let store = FakeStore::start(|_| (503, s3_error("SlowDown"))).await;
    let err = client(&store.url)
        .get_bucket_versioning(&logs())
        .await
        .expect_err("busy");
    assert!(err.is_transient());
}

#[tokio::test]
async fn readiness_is_the_gateways_ready_route() {
    let store = FakeStore::start(|c| {
        (
            if c.target == "/_stowage/ready" { 200 } else { 404 },
            String::new(),
        )
    })
    .await;
    client(&store.url).ready().await.expect("ready");
    let store = FakeStore::start(|_| (503, "metadata store unavailable".into())).await;
    let err = client(&store.url).ready().await.expect_err("not ready");
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn admin_calls_follow_the_admin_api_contract() {
    let store = FakeStore::start(|c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", "/_stowage/admin/v1/whoami") => (200, r#"{"user":"root","org":"stowage"}"#.into()),
        ("GET", "/_stowage/admin/v1/users") => (
            200,
            r#"{"users":[{"user":"k8s.team-a.logs","org":"stowage","accessKeys":[
                {"accessKeyId":"AK1","status":"Active","created":"2026-01-01T00:00:00Z","scope":{"bucket":"logs","access":"ReadOnly"}},
                {"accessKeyId":"AK2","status":"Active","created":"2026-01-01T00:00:00Z"}]}]}"#
                .into(),
        ),
        ("POST", "/_stowage/admin/v1/users") => (
            200,
            r#"{"user":"k8s.team-a.logs","org":"stowage","accessKeyId":"AKNEW","secretAccessKey":"SKNEW"}"#.into(),
        ),
        ("POST", _) => (
            200,
            r#"{"user":"k8s.team-a.logs","org":"stowage","accessKeyId":"AKSCOPED","secretAccessKey":"SKSCOPED","scope":{"bucket":"logs","access":"WriteOnly"}}"#.into(),
        ),
        ("DELETE", _) => (204, String::new()),
        _ => (400, s3_error("InvalidArgument")),
    })
    .await;
    let client = client(&store.url);
    let me = client.whoami().await.expect("whoami");
    assert_eq!((me.user.as_str(), me.org.as_str()), ("root", "stowage"));
    let users = client.list_users().await.expect("users");
    assert_eq!(users[0].access_keys.len(), 2);
    assert_eq!(
        users[0].access_keys[0].scope,
        Some(KeyScope {
            bucket: "logs".into(),
            access: AccessMode::ReadOnly
        })
    );
    assert_eq!(users[0].access_keys[1].scope, None);
    let initial = client
        .create_user("k8s.team-a.logs", "stowage")
        .await
        .expect("created");
    assert_eq!(initial.map(|k| k.access_key_id), Some("AKNEW".into()));
    let scope = KeyScope {
        bucket: "logs".into(),
        access: AccessMode::WriteOnly,
    };
    let key = client
        .create_key("k8s.team-a.logs", Some(&scope))
        .await
        .expect("key");
    assert_eq!(
        (key.access_key_id.as_str(), key.secret_access_key.as_str()),
        ("AKSCOPED", "SKSCOPED")
    );
    client
        .delete_key("k8s.team-a.logs", "AKNEW")
        .await
        .expect("revoked");
    client.delete_user("k8s.team-a.logs").await.expect("deleted");

    let calls = store.calls();
    assert_eq!(
        store.lines(),
        [
            "GET /_stowage/admin/v1/whoami",
            "GET /_stowage/admin/v1/users",
            "POST /_stowage/admin/v1/users",
            "POST /_stowage/admin/v1/users/k8s.team-a.logs/keys",
            "DELETE /_stowage/admin/v1/users/k8s.team-a.logs/keys/AKNEW",
            "DELETE /_stowage/admin/v1/users/k8s.team-a.logs",
        ]
    );
    assert_eq!(calls[2].body, r#"{"name":"k8s.team-a.logs","org":"stowage"}"#);
    assert_eq!(calls[2].header("content-type"), Some("application/json"));
    assert_eq!(
        calls[3].body,
        r#"{"scope":{"bucket":"logs","access":"WriteOnly"}}"#
    );
    calls.iter().for_each(assert_signed);
}

#[tokio::test]
async fn admin_conflicts_and_missing_entities_are_the_goal_state() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "POST" => (409, s3_error("EntityAlreadyExists")),
        _ => (404, s3_error("NoSuchEntity")),
    })
    .await;
    let client = client(&store.url);
    assert!(client.create_user("u", "o").await.expect("exists").is_none());
    client.delete_user("u").await.expect("absent");
    client.delete_key("u", "AK").await.expect("absent");
}

#[tokio::test]
async fn a_gateway_without_the_admin_api_is_told_apart_from_admin_errors() {
    // Without the admin routes the path is an S3 request for the bucket `_stowage`.
    let store = FakeStore::start(|_| (400, s3_error("InvalidBucketName"))).await;
    let err = client(&store.url).whoami().await.expect_err("no admin API");
    assert!(
        matches!(err, StoreError::AdminApiUnavailable { status: 400, .. }),
        "{err}"
    );
    let store = FakeStore::start(|_| (404, s3_error("NoSuchBucket"))).await;
    let err = client(&store.url).list_users().await.expect_err("no admin API");
    assert!(matches!(err, StoreError::AdminApiUnavailable { .. }), "{err}");
    let store = FakeStore::start(|_| (501, s3_error("NotImplemented"))).await;
    let err = client(&store.url).list_users().await.expect_err("no admin API");
    assert!(matches!(err, StoreError::AdminApiUnavailable { .. }), "{err}");
    for code in ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"] {
        let store = FakeStore::start(move |_| (403, s3_error(code))).await;
        let err = client(&store.url).list_users().await.expect_err("denied");
        assert!(matches!(err, StoreError::Rejected { status: 403, .. }), "{err}");
    }
}

#[tokio::test]
async fn user_names_are_percent_encoded_in_paths() {
    let store = FakeStore::start(|_| (204, String::new())).await;
    client(&store.url).delete_user("a b/c").await.expect("deleted");
    assert_eq!(store.lines(), ["DELETE /_stowage/admin/v1/users/a%20b%2Fc"]);
}

#[tokio::test]
async fn incomplete_uploads_are_listed_and_aborted() {
    let store = FakeStore::start(|c| match c.method.as_str() {
        "GET" => (
            200,
            "<ListMultipartUploadsResult><Bucket>logs</Bucket>\
             <Upload><Key>dir/a b.bin</Key><UploadId>u/1+</UploadId></Upload>\
             <Upload><Key>c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>"
                .into(),
        ),
        _ if c.target.contains("u2") => (404, s3_error("NoSuchUpload")),
        _ => (204, String::new()),
    })
    .await;
    let client = client(&store.url);
    let uploads = client.list_multipart_uploads(&logs(), 5000).await.expect("list");
    assert_eq!(
        uploads,
        [
            s3::Upload {
                key: "dir/a b.bin".into(),
                upload_id: "u/1+".into()
            },
            s3::Upload {
                key: "c".into(),
                upload_id: "u2".into()
            },
        ]
    );
    for upload in &uploads {
        client
            .abort_multipart_upload(&logs(), upload)
            .await
            .expect("aborted or gone");
    }
    assert_eq!(
        store.lines(),
        [
            "GET /logs?max-uploads=1000&uploads=",
            "DELETE /logs/dir/a%20b.bin?uploadId=u%2F1%2B",
            "DELETE /logs/c?uploadId=u2",
        ]
    );
    store.calls().iter().for_each(assert_signed);
}

#[tokio::test]
async fn an_unscoped_key_is_asked_for_with_an_empty_object() {
    let store = FakeStore::start(|_| (200, r#"{"accessKeyId":"AK","secretAccessKey":"SK"}"#.into())).await;
    let key = client(&store.url)
        .create_key("store.team-a.photos", None)
        .await
        .expect("key");
    assert_eq!(key.access_key_id, "AK");
    assert_eq!(store.calls()[0].body, "{}");
    assert_eq!(
        store.lines(),
        ["POST /_stowage/admin/v1/users/store.team-a.photos/keys"]
    );
}

const DRAINING_NODE: &str = r#"{"id":"photos-2","peerUrl":"http://photos-2.photos-headless.team-a.svc:9000",
    "live":true,"capacity":1000,"free":600,"heartbeat":"2025-01-01T00:00:00Z",
    "drain":{"state":"draining","requested":"2025-01-01T00:00:00Z","blobsLeft":12,"bytesLeft":3456,
    "blobsMoved":3,"bytesMoved":1024}}"#;

#[tokio::test]
async fn node_calls_follow_the_admin_api_contract() {
    use super::admin::{DrainState, DrainView, NodeView};
    let store = FakeStore::start(|c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", "/_stowage/admin/v1/nodes") => (
            200,
            format!(r#"{{"nodes":[{{"id":"photos-0","live":true,"drain":null}},{DRAINING_NODE}]}}"#),
        ),
        ("POST", _) => (200, DRAINING_NODE.into()),
        _ => (204, String::new()),
    })
    .await;
    let client = client(&store.url);

    let nodes = client.list_nodes().await.expect("nodes");
    client.drain_node("photos-2").await.expect("drain");
    let undrained = client.undrain_node("photos-2").await.expect("undrain");
    client.forget_node("photos-2").await.expect("forget");

    assert_eq!(nodes.len(), 2);
    assert_eq!(
        (nodes[0].id.as_str(), nodes[0].live, &nodes[0].drain),
        ("photos-0", true, &None)
    );
    assert_eq!(
        nodes[1],
        NodeView {
            id: "photos-2".into(),
            peer_url: "http://photos-2.photos-headless.team-a.svc:9000".into(),
            live: true,
            capacity: 1000,
            free: 600,
            heartbeat: Some("2025-01-01T00:00:00Z".into()),
            drain: Some(DrainView {
                state: DrainState::Draining,
                requested: Some("2025-01-01T00:00:00Z".into()),
                blobs_left: 12,
                bytes_left: 3456,
                blobs_moved: 3,
                bytes_moved: 1024,
            }),
        }
    );
    assert_eq!(undrained, nodes[1]);
    assert_eq!(
        store.lines(),
        [
            "GET /_stowage/admin/v1/nodes",
            "POST /_stowage/admin/v1/nodes/photos-2/drain",
            "POST /_stowage/admin/v1/nodes/photos-2/undrain",
            "DELETE /_stowage/admin/v1/nodes/photos-2",
        ]
    );
    store.calls().iter().for_each(assert_signed);
}

#[tokio::test]
async fn only_a_drained_node_without_blobs_left_counts_as_drained() {
    use super::admin::NodeView;
    let node = |drain: &str| -> NodeView {
        serde_json::from_str(&format!(r#"{{"id":"photos-2","live":false,"drain":{drain}}}"#)).expect("node")
    };
    assert!(node(r#"{"state":"drained","blobsLeft":0}"#).is_drained());
    assert!(!node(r#"{"state":"drained","blobsLeft":1}"#).is_drained());
    assert!(!node(r#"{"state":"draining","blobsLeft":0}"#).is_drained());
    assert!(
        !node(r#"{"state":"paused","blobsLeft":0}"#).is_drained(),
        "an unknown state is not drained"
    );
    assert!(!node("null").is_drained());
}

#[tokio::test]
async fn forgetting_a_forgotten_node_is_the_goal_but_a_refusal_is_an_error() {
    let store = FakeStore::start(|c| match c.target.as_str() {
        "/_stowage/admin/v1/nodes/photos-1" => (409, s3_error("NodeNotDrained")),
        _ => (404, s3_error("NoSuchNode")),
    })
    .await;
    let client = client(&store.url);
    client.forget_node("photos-2").await.expect("already forgotten");
    let err = client.forget_node("photos-1").await.expect_err("refused");
    assert_eq!(err.code(), Some("NodeNotDrained"));
    let err = client
        .drain_node("photos-2")
        .await
        .expect_err("an unknown node cannot be drained");
    assert_eq!(err.code(), Some("NoSuchNode"));
}
