//! End to end against a real Kubernetes cluster, when `KUBECONFIG` is set (skipped with a notice
//! otherwise): applies `crds/`, runs the operator in-process with `--store-endpoint-override`
//! pointing at a gateway this test starts itself (gateway pods need not run in a test cluster),
//! applies `config/samples/` in a fresh namespace, checks through S3 that the bucket, its
//! versioning, tags, policy and lifecycle configuration exist, then deletes them and checks that
//! the deletion policies were honoured.
//!
//! Needs the `gateway` binary next to this test's executable (`cargo build -p stowage-gateway`).

mod common;

use std::time::Duration;

use common::cluster::{self, apply_sample, eventually};
use e2e::Gateway;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operator::crd::{Bucket, BucketPolicy, LifecycleRule, ObjectStore, ready_status};
use serde_json::json;

async fn wait_ready<K>(
    api: &Api<K>,
    name: &str,
    conditions: impl Fn(&K) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
) where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(&format!("{name} Ready"), || {
        let api = api.clone();
        let conditions = &conditions;
        async move {
            let obj = api.get(name).await.ok()?;
            (ready_status(&conditions(&obj)) == Some("True")).then_some(())
        }
    })
    .await;
}

async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(&format!("{name} deleted"), || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok()?.is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn samples_reconcile_into_a_real_gateway_and_deletion_policies_hold() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let namespace = cluster::namespace(&client, "e2e-samples").await;

    // The store's admin Secret holds the test gateway's root credentials (the operator keeps what
    // it finds), so the operator can sign for it.
    cluster::admin_secret_for(&client, &namespace, "demo", &gateway).await;
    let operator = cluster::run_operator(&client, &namespace, &gateway.endpoint()).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);

    let stores: Api<ObjectStore> = Api::namespaced(client.clone(), &namespace);
    let buckets: Api<Bucket> = Api::namespaced(client.clone(), &namespace);
    let policies: Api<BucketPolicy> = Api::namespaced(client.clone(), &namespace);
    let rules: Api<LifecycleRule> = Api::namespaced(client.clone(), &namespace);
    apply_sample(&client, &namespace, "objectstore.yaml").await;
    apply_sample(&client, &namespace, "bucket.yaml").await;
    apply_sample(&client, &namespace, "bucketpolicy.yaml").await;
    apply_sample(&client, &namespace, "lifecyclerule.yaml").await;

    wait_ready(&stores, "demo", |s: &ObjectStore| {
        s.status.clone().unwrap_or_default().conditions
    })
    .await;
    wait_ready(&buckets, "demo-data", |b: &Bucket| {
        b.status.clone().unwrap_or_default().conditions
    })
    .await;
    wait_ready(&policies, "demo-data-public-read", |p: &BucketPolicy| {
        p.status.clone().unwrap_or_default().conditions
    })
    .await;
    wait_ready(&rules, "demo-data-expire-tmp", |r: &LifecycleRule| {
        r.status.clone().unwrap_or_default().conditions
    })
    .await;

    // Through S3: the bucket, its versioning, tags, policy and lifecycle configuration.
    let s3 = gateway.client();
    s3.head_bucket()
        .bucket("demo-data")
        .send()
        .await
        .expect("bucket exists");
    let versioning = s3
        .get_bucket_versioning()
        .bucket("demo-data")
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let tags = s3
        .get_bucket_tagging()
        .bucket("demo-data")
        .send()
        .await
        .expect("tags");
    let mut tags: Vec<_> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("env".to_owned(), "demo".to_owned()),
            ("team".to_owned(), "platform".to_owned())
        ]
    );
    let policy = s3
        .get_bucket_policy()
        .bucket("demo-data")
        .send()
        .await
        .expect("policy");
    assert!(
        policy.policy().is_some_and(|p| p.contains("PublicRead")),
        "{policy:?}"
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket("demo-data")
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(lifecycle.rules()[0].id(), Some("demo-data-expire-tmp"));

    // The application credentials work against the bucket.
    let credentials = secrets
        .get("demo-data-credentials")
        .await
        .expect("credentials Secret");
    let data = credentials.data.expect("data");
    let value = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8");
    assert_eq!(value("BUCKET_NAME"), "demo-data");
    assert_eq!(
        value("AWS_ENDPOINT_URL"),
        format!("http://demo.{namespace}.svc:9000")
    );
    let app = gateway.client_for(&value("AWS_ACCESS_KEY_ID"), &value("AWS_SECRET_ACCESS_KEY"));
    app.put_object()
        .bucket("demo-data")
        .key("hello.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("the issued key writes");

    // Deleting the policy and the rule removes them from the bucket.
    policies
        .delete("demo-data-public-read", &DeleteParams::default())
        .await
        .expect("delete");
    rules
        .delete("demo-data-expire-tmp", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&policies, "demo-data-public-read").await;
    wait_gone(&rules, "demo-data-expire-tmp").await;
    assert!(
        s3.get_bucket_policy().bucket("demo-data").send().await.is_err(),
        "policy deleted"
    );
    assert!(
        s3.get_bucket_lifecycle_configuration()
            .bucket("demo-data")
            .send()
            .await
            .is_err(),
        "lifecycle deleted"
    );

    // deletionPolicy Delete refuses a non-empty bucket with a condition that says so...
    buckets
        .delete("demo-data", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("DeletionBlocked", || {
        let buckets = buckets.clone();
        async move {
            let b = buckets.get("demo-data").await.ok()?;
            let conditions = b.status?.conditions;
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.reason == "DeletionBlocked")
                .then_some(())
        }
    })
    .await;
    s3.head_bucket()
        .bucket("demo-data")
        .send()
        .await
        .expect("still there");
    // ...until forceDelete empties it.
    buckets
        .patch(
            "demo-data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"forceDelete": true}})),
        )
        .await
        .expect("force");
    wait_gone(&buckets, "demo-data").await;
    assert!(
        s3.head_bucket().bucket("demo-data").send().await.is_err(),
        "bucket deleted"
    );

    // deletionPolicy Retain keeps the bucket.
    let kept: Bucket = serde_json::from_value(json!({
        "apiVersion": "stowage.dev/v1alpha1", "kind": "Bucket",
        "metadata": {"name": "kept", "namespace": namespace},
        "spec": {"storeRef": {"name": "demo"}}
    }))
    .expect("bucket");
    buckets
        .create(&PostParams::default(), &kept)
        .await
        .expect("create");
    wait_ready(&buckets, "kept", |b: &Bucket| {
        b.status.clone().unwrap_or_default().conditions
    })
    .await;
    buckets
        .delete("kept", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&buckets, "kept").await;
    s3.head_bucket().bucket("kept").send().await.expect("retained");

    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

/// The review defect, through the front door: the loser of a claim on one bucket name shows
/// Conflict, and deleting it with `deletionPolicy: Delete` and `forceDelete` leaves the winner's
/// bucket and its objects alone.
#[tokio::test]
async fn deleting_the_loser_of_a_bucket_claim_leaves_the_winners_bucket_alone() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let namespace = cluster::namespace(&client, "e2e-claim").await;
    cluster::admin_secret_for(&client, &namespace, "demo", &gateway).await;
    let operator = cluster::run_operator(&client, &namespace, &gateway.endpoint()).await;
    apply_sample(&client, &namespace, "objectstore.yaml").await;
    let bucket = |name: &str| {
        json!({
            "apiVersion": "stowage.dev/v1alpha1", "kind": "Bucket",
            "metadata": {"name": name},
            "spec": {"storeRef": {"name": "demo"}, "bucketName": "shared",
                     "deletionPolicy": "Delete", "forceDelete": true},
        })
    };
    cluster::apply_value(&client, &namespace, bucket("winner")).await;
    cluster::wait_ready(&client, &namespace, "Bucket", "winner").await;
    // Creation timestamps have one-second resolution: the loser must be visibly younger.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    cluster::apply_value(&client, &namespace, bucket("loser")).await;
    let buckets = cluster::api_for(&client, &namespace, "Bucket");
    eventually("the loser to report Conflict", || {
        let buckets = buckets.clone();
        async move {
            let loser = buckets.get("loser").await.ok()?;
            let conflict = loser.data["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["reason"] == "Conflict");
            conflict.then_some(())
        }
    })
    .await;
    let s3 = gateway.client();
    s3.put_object()
        .bucket("shared")
        .key("keep.txt")
        .body(b"the winner's".to_vec().into())
        .send()
        .await
        .expect("written");

    buckets
        .delete("loser", &DeleteParams::default())
        .await
        .expect("delete");
    wait_gone(&buckets, "loser").await;

    let kept = s3
        .get_object()
        .bucket("shared")
        .key("keep.txt")
        .send()
        .await
        .expect("the winner's object is still there");
    assert_eq!(kept.content_length(), Some(12));
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn a_store_with_tls_mounts_its_secret_and_hands_its_ca_to_applications() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let ca = e2e::tls::TestCa::new("cluster test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = ca.serving("demo", dir.path());
    let gateway = Gateway::start_with(
        &bin,
        e2e::GatewayOptions {
            tls: Some(serving.clone()),
            ..Default::default()
        },
    );
    let namespace = cluster::namespace(&client, "e2e-tls").await;
    cluster::admin_secret_for(&client, &namespace, "demo", &gateway).await;
    // The Secret cert-manager would make: the gateway's own pair and the CA that issued it.
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read TLS file");
    let tls_secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "demo-tls"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": read(&serving.cert), "tls.key": read(&serving.key), "ca.crt": ca.pem()},
    }))
    .expect("secret");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    secrets
        .create(&PostParams::default(), &tls_secret)
        .await
        .expect("TLS secret");
    // The operator reaches the https endpoint, verified with the Secret's ca.crt.
    let operator = cluster::run_operator(&client, &namespace, &gateway.endpoint()).await;
    cluster::apply_value(
        &client,
        &namespace,
        json!({
            "apiVersion": "stowage.dev/v1alpha1", "kind": "ObjectStore",
            "metadata": {"name": "demo"},
            "spec": {"replicas": 1, "meta": {"backend": "embedded"}, "tls": {"secretName": "demo-tls"}},
        }),
    )
    .await;
    cluster::wait_ready(&client, &namespace, "ObjectStore", "demo").await;

    let stateful_sets: Api<k8s_openapi::api::apps::v1::StatefulSet> =
        Api::namespaced(client.clone(), &namespace);
    let sts = serde_json::to_value(stateful_sets.get("demo").await.expect("StatefulSet")).expect("json");
    let pod = &sts["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["name"] == "tls" && v["secret"]["secretName"] == "demo-tls"),
        "{pod}"
    );
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--tls-ca", "/etc/stowage/tls/ca.crt"]),
        "{args:?}"
    );
    let stores: Api<ObjectStore> = Api::namespaced(client.clone(), &namespace);
    let status = stores.get("demo").await.expect("store").status.expect("status");
    assert_eq!(
        status.endpoint,
        Some(format!("https://demo.{namespace}.svc:9000"))
    );

    cluster::apply_value(
        &client,
        &namespace,
        json!({
            "apiVersion": "stowage.dev/v1alpha1", "kind": "Bucket",
            "metadata": {"name": "secure-data"},
            "spec": {"storeRef": {"name": "demo"}, "deletionPolicy": "Delete", "forceDelete": true,
                     "credentials": {"access": "ReadWrite"}},
        }),
    )
    .await;
    cluster::wait_ready(&client, &namespace, "Bucket", "secure-data").await;
    let data = secrets
        .get("secure-data-credentials")
        .await
        .expect("credentials Secret")
        .data
        .expect("data");
    let value = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8");
    assert_eq!(value("ca.crt"), ca.pem());
    assert_eq!(
        value("AWS_CA_BUNDLE"),
        "/var/run/secrets/stowage.dev/bucket/ca.crt"
    );
    assert_eq!(
        value("AWS_ENDPOINT_URL"),
        format!("https://demo.{namespace}.svc:9000")
    );
    // The published CA and key are what an application needs: they reach the bucket over https.
    let app = e2e::s3_client(
        &gateway.endpoint(),
        &gateway.region,
        &value("AWS_ACCESS_KEY_ID"),
        &value("AWS_SECRET_ACCESS_KEY"),
        |b| b.http_client(e2e::tls::sdk_http_client(&value("ca.crt"))),
    );
    app.put_object()
        .bucket("secure-data")
        .key("hello.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("the issued key writes over https");

    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}
