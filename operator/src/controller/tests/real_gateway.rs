//! The Bucket reconciler end to end against a real `gateway` process (the Kubernetes side is the
//! mocked API server): create with versioning, tags and credentials, then force-delete. The
//! binary is looked up next to the test executable, as in `tests/against_gateway.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use e2e::Gateway;
use kube::runtime::controller::Action;

use super::*;
use crate::controller::RESYNC;
use crate::controller::bucket::{FINALIZER, reconcile};
use crate::crd::{CredentialsSpec, DeletionPolicy, Versioning};
use crate::fixtures::api_server::{self, Expect, stowage_path};
use crate::fixtures::{self};
use crate::resources::object_store::{AdminCredentials, AdminSecretData, admin_secret};

fn gateway_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        eprintln!(
            "NOTICE: skipped: no gateway binary at {}; `cargo build -p stowage-gateway`",
            bin.display()
        );
    }
    bin.exists().then_some(bin)
}

/// The store's admin Secret holding the test gateway's root credentials.
fn admin_secret_for(gateway: &Gateway) -> k8s_openapi::api::core::v1::Secret {
    admin_secret(
        &fixtures::store("photos"),
        &AdminSecretData {
            credentials: AdminCredentials {
                access_key_id: gateway.access_key.clone(),
                secret_access_key: gateway.secret_key.clone(),
            },
            peer_secret: "unused".into(),
        },
    )
}

fn decoded(secret: &serde_json::Value, key: &str) -> String {
    use base64::Engine;
    let b64 = secret["data"][key].as_str().expect("key present");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64"),
    )
    .expect("utf-8")
}

#[tokio::test]
async fn a_bucket_is_created_configured_credentialed_and_force_deleted_in_a_real_gateway() {
    let Some(bin) = gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let mut bucket = fixtures::bucket("logs", "photos");
    bucket.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    bucket.spec.versioning = Some(Versioning::Enabled);
    bucket.spec.tags = BTreeMap::from([("team".into(), "a".into())]);
    bucket.spec.credentials = Some(CredentialsSpec::default());
    bucket.spec.deletion_policy = DeletionPolicy::Delete;
    bucket.spec.force_delete = true;

    // Create.
    let (client, server) = api_server::client();
    let admin = admin_secret_for(&gateway);
    let verifier = server.run(vec![
        Expect::get(stowage_path("objectstores", Some("photos"))).respond(fixtures::ready_store("photos")),
        Expect::get(core_path("secrets", "photos-admin")).respond(&admin),
        event(),
        event(),
        event(),
        Expect::get(core_path("secrets", "logs-credentials")).not_found(),
        event(),
        Expect::patch(core_path("secrets", "logs-credentials")),
        event(),
        status_patch(stowage_path("buckets", Some("logs/status")), &bucket),
    ]);
    let action = reconcile(bucket.clone().into(), context(client, Some(&gateway.endpoint())))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");
    assert_eq!(action, Action::requeue(RESYNC));

    let sdk = gateway.client();
    let versioning = sdk
        .get_bucket_versioning()
        .bucket("logs")
        .send()
        .await
        .expect("sdk");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let tags = sdk.get_bucket_tagging().bucket("logs").send().await.expect("sdk");
    assert_eq!(tags.tag_set()[0].key(), "team");
    let secret = &seen[7].body;
    let app = gateway.client_for(
        &decoded(secret, "AWS_ACCESS_KEY_ID"),
        &decoded(secret, "AWS_SECRET_ACCESS_KEY"),
    );
    app.put_object()
        .bucket("logs")
        .key("from-the-app")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("the issued key writes to its bucket");
    sdk.put_object()
        .bucket("logs")
        .key("from-the-app")
        .body(b"v2".to_vec().into())
        .send()
        .await
        .expect("v2");
    sdk.create_multipart_upload()
        .bucket("logs")
        .key("unfinished upload")
        .send()
        .await
        .expect("an upload left incomplete");
    let app_admin = crate::store_client::StoreClient::new(
        &gateway.endpoint(),
        &gateway.region,
        crate::store_client::Credentials {
            access_key_id: decoded(secret, "AWS_ACCESS_KEY_ID"),
            secret_access_key: decoded(secret, "AWS_SECRET_ACCESS_KEY"),
        },
    )
    .expect("client");
    let refused = app_admin
        .whoami()
        .await
        .expect_err("the application key is no admin");
    assert_eq!(refused.code(), Some("AccessDenied"), "{refused}");
    let status = &seen[9];
    assert_eq!(status.ready()["status"], "True", "{status:?}");
    let access_key_id = status.status()["accessKeyId"]
        .as_str()
        .expect("key id")
        .to_owned();

    // Delete: the bucket holds two versions and an incomplete upload; forceDelete deletes the
    // versions, then aborts the upload (two batches, one Event), then deletes the bucket.
    let mut going = fixtures::created_bucket("logs", "photos");
    going.spec = bucket.spec.clone();
    going.metadata.deletion_timestamp = going.metadata.creation_timestamp.clone();
    going.status.as_mut().expect("status").access_key_id = Some(access_key_id);
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        Expect::get(stowage_path("objectstores", Some("photos"))).respond(fixtures::ready_store("photos")),
        Expect::get(core_path("secrets", "photos-admin")).respond(&admin),
        event(),
        status_patch(stowage_path("buckets", Some("logs/status")), &going),
        status_patch(stowage_path("buckets", Some("logs/status")), &going),
        event(),
        Expect::patch(stowage_path("buckets", Some("logs"))).respond(&going),
    ]);
    reconcile(going.into(), context(client, Some(&gateway.endpoint())))
        .await
        .expect("deleted");
    let seen = verifier.await.expect("script");
    assert_eq!(
        seen[4].status()["deletion"],
        serde_json::json!({"objectsDeleted": 2, "uploadsAborted": 1, "batches": 2})
    );
    assert_eq!(reason(&seen[5]), "BucketDeleted");
    assert!(
        sdk.head_bucket().bucket("logs").send().await.is_err(),
        "the bucket is gone"
    );
    assert!(
        app.list_objects_v2().bucket("logs").send().await.is_err(),
        "the application key was revoked"
    );
}
