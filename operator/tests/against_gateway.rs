//! The operator's store client against a real `gateway` process: every call the reconcilers
//! make (signed with aws-sigv4) is accepted, and its effect is checked independently through
//! `aws-sdk-s3`.
//!
//! The gateway binary belongs to another package, so `CARGO_BIN_EXE_gateway` is not available
//! here; it is found next to this test's executable (`target/<profile>/gateway`), where
//! `cargo test --workspace` builds it. When it is missing (`cargo test -p stowage-operator` on
//! a clean target), the tests print how to build it and pass.

use std::collections::BTreeMap;
use std::path::PathBuf;

use e2e::Gateway;
use operator::bucket_name::BucketName;
use operator::crd::{
    AbortIncompleteMultipartUpload, AccessMode, BucketPolicySpec, Effect, Expiration, LifecycleFilter,
    LifecycleRuleSpec, LocalRef, PolicyStatement, Versioning,
};
use operator::resources::{lifecycle, policy};
use operator::store_client::admin::KeyScope;
use operator::store_client::{Credentials, StoreClient, StoreError};

fn gateway_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "NOTICE: skipped: no gateway binary at {}; build it with `cargo build -p stowage-gateway` \
             (`cargo test --workspace` does)",
            bin.display()
        );
        None
    }
}

fn store_client(gateway: &Gateway) -> StoreClient {
    StoreClient::new(
        &gateway.endpoint(),
        &gateway.region,
        Credentials {
            access_key_id: gateway.access_key.clone(),
            secret_access_key: gateway.secret_key.clone(),
        },
    )
    .expect("endpoint")
}

fn name(s: &str) -> BucketName {
    BucketName::parse(s).expect("valid")
}

#[tokio::test]
async fn bucket_configuration_calls_are_accepted_and_take_effect() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let client = store_client(&gateway);
    let sdk = gateway.client();
    let logs = name("logs");

    assert!(!client.bucket_exists(&logs).await.expect("head"));
    client
        .create_bucket(&logs, &gateway.region)
        .await
        .expect("create");
    client
        .create_bucket(&logs, &gateway.region)
        .await
        .expect("creating again is fine");
    assert!(client.bucket_exists(&logs).await.expect("head"));
    assert_eq!(
        client.get_bucket_versioning(&logs).await.expect("versioning"),
        None
    );

    client
        .put_bucket_versioning(&logs, Versioning::Enabled)
        .await
        .expect("versioning");
    assert_eq!(
        client.get_bucket_versioning(&logs).await.expect("versioning"),
        Some(Versioning::Enabled)
    );
    let seen = sdk
        .get_bucket_versioning()
        .bucket("logs")
        .send()
        .await
        .expect("sdk");
    assert_eq!(seen.status().map(|s| s.as_str()), Some("Enabled"));

    assert!(
        client
            .get_bucket_tagging(&logs)
            .await
            .expect("no tags yet")
            .is_empty()
    );
    let tags = BTreeMap::from([
        ("team".to_owned(), "a & b".to_owned()),
        ("env".to_owned(), "prod".to_owned()),
    ]);
    client.put_bucket_tagging(&logs, &tags).await.expect("tag");
    assert_eq!(client.get_bucket_tagging(&logs).await.expect("tags"), tags);
    let seen = sdk.get_bucket_tagging().bucket("logs").send().await.expect("sdk");
    let seen: BTreeMap<String, String> = seen
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(seen, tags);
    client.delete_bucket_tagging(&logs).await.expect("untag");
    assert!(client.get_bucket_tagging(&logs).await.expect("tags").is_empty());
}

#[tokio::test]
async fn a_merged_policy_document_is_accepted_and_deleted() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let client = store_client(&gateway);
    let logs = name("logs");
    client
        .create_bucket(&logs, &gateway.region)
        .await
        .expect("create");
    let spec = BucketPolicySpec {
        bucket_ref: LocalRef { name: "logs".into() },
        statements: vec![PolicyStatement {
            sid: Some("PublicRead".into()),
            effect: Effect::Allow,
            principals: vec!["*".into()],
            actions: vec!["s3:GetObject".into()],
            resources: Some(vec!["public/*".into()]),
            conditions: Vec::new(),
        }],
    };
    let merged = policy::merge(
        "logs",
        &[policy::Named {
            name: "public",
            spec: &spec,
        }],
    );
    client
        .put_bucket_policy(&logs, &merged.document.expect("a document"))
        .await
        .expect("policy accepted");

    // The policy takes effect: anonymous reads under public/ work.
    let sdk = gateway.client();
    sdk.put_object()
        .bucket("logs")
        .key("public/hello.txt")
        .body(b"hi".to_vec().into())
        .send()
        .await
        .expect("put");
    let url = format!("{}/logs/public/hello.txt", gateway.endpoint());
    let anonymous = anonymous_get(&url).await;
    assert_eq!(
        anonymous, 200,
        "anonymous GET under public/ is allowed by the policy"
    );

    let stored = sdk.get_bucket_policy().bucket("logs").send().await.expect("sdk");
    assert!(
        stored.policy().is_some_and(|p| p.contains("PublicRead")),
        "{stored:?}"
    );
    client.delete_bucket_policy(&logs).await.expect("deleted");
    client
        .delete_bucket_policy(&logs)
        .await
        .expect("deleting again is fine");
    assert_eq!(
        anonymous_get(&url).await,
        403,
        "no policy: anonymous reads are denied"
    );
}

/// The status of an unsigned GET.
async fn anonymous_get(url: &str) -> u16 {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client.get(url.parse().expect("uri")).await.expect("answered");
    response.status().as_u16()
}

#[tokio::test]
async fn a_merged_lifecycle_configuration_is_accepted_and_deleted() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let client = store_client(&gateway);
    let logs = name("logs");
    client
        .create_bucket(&logs, &gateway.region)
        .await
        .expect("create");
    let mut expire = LifecycleRuleSpec {
        bucket_ref: LocalRef { name: "logs".into() },
        id: None,
        enabled: true,
        filter: Some(LifecycleFilter {
            prefix: Some("tmp/".into()),
            object_size_greater_than: Some(10),
            ..LifecycleFilter::default()
        }),
        expiration: Some(Expiration {
            days: Some(7),
            ..Expiration::default()
        }),
        noncurrent_version_expiration: None,
        abort_incomplete_multipart_upload: None,
    };
    let mut abort = expire.clone();
    abort.filter = None;
    abort.expiration = Some(Expiration {
        date: Some("2031-01-01".into()),
        ..Expiration::default()
    });
    abort.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
        days_after_initiation: 2,
    });
    expire.enabled = false;
    let merged = lifecycle::merge(&[
        lifecycle::Named {
            name: "expire-tmp",
            spec: &expire,
        },
        lifecycle::Named {
            name: "abort",
            spec: &abort,
        },
    ]);
    client
        .put_bucket_lifecycle(&logs, &merged.xml.expect("xml"))
        .await
        .expect("lifecycle accepted");
    let sdk = gateway.client();
    let stored = sdk
        .get_bucket_lifecycle_configuration()
        .bucket("logs")
        .send()
        .await
        .expect("sdk");
    let ids: Vec<_> = stored.rules().iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids, ["abort", "expire-tmp"]);
    assert_eq!(stored.rules()[1].status().as_str(), "Disabled");
    assert_eq!(stored.rules()[1].expiration().and_then(|e| e.days()), Some(7));
    assert_eq!(
        stored.rules()[0]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(2)
    );
    client.delete_bucket_lifecycle(&logs).await.expect("deleted");
    client
        .delete_bucket_lifecycle(&logs)
        .await
        .expect("deleting again is fine");
    assert!(
        sdk.get_bucket_lifecycle_configuration()
            .bucket("logs")
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_bucket_with_versions_and_delete_markers_is_emptied_then_deleted() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let client = store_client(&gateway);
    let sdk = gateway.client();
    let logs = name("logs");
    client
        .create_bucket(&logs, &gateway.region)
        .await
        .expect("create");
    let put = |key: &'static str| {
        sdk.put_object()
            .bucket("logs")
            .key(key)
            .body(key.as_bytes().to_vec().into())
            .send()
    };
    put("before-versioning & co").await.expect("put");
    client
        .put_bucket_versioning(&logs, Versioning::Enabled)
        .await
        .expect("versioning");
    put("a").await.expect("put");
    put("a").await.expect("put");
    sdk.delete_object()
        .bucket("logs")
        .key("a")
        .send()
        .await
        .expect("delete marker");

    let err = client.delete_bucket(&logs).await.expect_err("not empty");
    assert_eq!(err.code(), Some("BucketNotEmpty"));
    let versions = client.list_object_versions(&logs, 1000).await.expect("list");
    assert_eq!(versions.len(), 4, "{versions:?}");
    assert!(
        versions
            .iter()
            .any(|v| v.key == "before-versioning & co" && v.version_id == "null"),
        "{versions:?}"
    );
    let outcome = client.delete_objects(&logs, &versions).await.expect("delete");
    assert!(outcome.errors.is_empty(), "{outcome:?}");
    assert_eq!(outcome.deleted, 4);
    assert!(
        client
            .list_object_versions(&logs, 1000)
            .await
            .expect("list")
            .is_empty()
    );
    client.delete_bucket(&logs).await.expect("deleted");
    client.delete_bucket(&logs).await.expect("deleting again is fine");
    assert!(!client.bucket_exists(&logs).await.expect("head"));
}

#[tokio::test]
async fn a_scoped_key_issued_through_the_admin_api_reaches_only_its_bucket() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let admin = store_client(&gateway);
    match admin.whoami().await {
        Ok(_) => {}
        Err(StoreError::AdminApiUnavailable { .. }) => {
            eprintln!("NOTICE: skipped: this gateway build does not serve the admin API");
            return;
        }
        Err(e) => panic!("whoami: {e}"),
    }
    // As the operator does it: a tenant org (not the root org) owns the buckets, created with a
    // short-lived key of a tenant user.
    let org = "k8s.team-a.photos";
    let creator_key = admin
        .create_user("store.team-a.photos", org)
        .await
        .expect("creator")
        .expect("new");
    let creator = admin.with_credentials(Credentials {
        access_key_id: creator_key.access_key_id.clone(),
        secret_access_key: creator_key.secret_access_key.clone(),
    });
    for bucket in ["logs", "other"] {
        creator
            .create_bucket(&name(bucket), &gateway.region)
            .await
            .expect("create");
    }
    admin
        .delete_key("store.team-a.photos", &creator_key.access_key_id)
        .await
        .expect("creator key revoked");
    assert!(
        creator.bucket_exists(&name("logs")).await.is_err(),
        "the revoked key no longer works"
    );

    let initial = admin
        .create_user("bucket.team-a.logs", org)
        .await
        .expect("user")
        .expect("new");
    assert!(
        admin
            .create_user("bucket.team-a.logs", org)
            .await
            .expect("exists")
            .is_none()
    );
    let scope = KeyScope {
        bucket: "logs".into(),
        access: AccessMode::ReadOnly,
    };
    let key = admin
        .create_key("bucket.team-a.logs", Some(&scope))
        .await
        .expect("key");
    admin
        .delete_key("bucket.team-a.logs", &initial.access_key_id)
        .await
        .expect("revoke unscoped");
    let users = admin.list_users().await.expect("users");
    let user = users
        .iter()
        .find(|u| u.user == "bucket.team-a.logs")
        .expect("listed");
    assert_eq!(user.org, org);
    assert_eq!(user.access_keys.len(), 1);
    assert_eq!(user.access_keys[0].scope.as_ref(), Some(&scope));

    let root = gateway.client();
    for bucket in ["logs", "other"] {
        root.put_object()
            .bucket(bucket)
            .key("k")
            .body(b"v".to_vec().into())
            .send()
            .await
            .expect("put");
    }
    let app = gateway.client_for(&key.access_key_id, &key.secret_access_key);
    app.get_object()
        .bucket("logs")
        .key("k")
        .send()
        .await
        .expect("read in scope");
    assert!(
        app.get_object().bucket("other").key("k").send().await.is_err(),
        "other bucket"
    );
    assert!(
        app.put_object()
            .bucket("logs")
            .key("w")
            .body(b"v".to_vec().into())
            .send()
            .await
            .is_err(),
        "ReadOnly cannot write"
    );
    let app_admin = admin.with_credentials(Credentials {
        access_key_id: key.access_key_id.clone(),
        secret_access_key: key.secret_access_key.clone(),
    });
    let refused = app_admin
        .list_users()
        .await
        .expect_err("applications do not administer the store");
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused}");

    admin.delete_user("bucket.team-a.logs").await.expect("deleted");
    admin
        .delete_user("bucket.team-a.logs")
        .await
        .expect("deleting again is fine");
    assert!(
        app.get_object().bucket("logs").key("k").send().await.is_err(),
        "revoked"
    );
}

#[tokio::test]
async fn a_store_serving_tls_is_reached_over_https_verified_with_its_ca() {
    let Some(bin) = gateway_bin() else { return };
    let ca = e2e::tls::TestCa::new("store CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::start_with(
        &bin,
        e2e::GatewayOptions {
            tls: Some(ca.serving("store", dir.path())),
            ..Default::default()
        },
    );
    assert!(gateway.endpoint().starts_with("https://"));
    let trusting = store_client(&gateway)
        .trusting(Some(&ca.pem()))
        .expect("CA bundle");
    trusting.ready().await.expect("ready over https");
    trusting
        .create_bucket(&name("over-tls"), "us-east-1")
        .await
        .expect("create");
    assert!(trusting.bucket_exists(&name("over-tls")).await.expect("head"));

    // The system's roots do not include the store's private CA: no call gets through.
    let unverified = store_client(&gateway).ready().await;
    assert!(
        matches!(unverified, Err(StoreError::Unreachable { .. })),
        "{unverified:?}"
    );
}
