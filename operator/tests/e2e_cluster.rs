//! End to end against a real Kubernetes cluster, when `KUBECONFIG` is set (skipped with a notice
//! otherwise): applies `crds/`, runs the operator in-process with `--store-endpoint-override`
//! pointing at a gateway this test starts itself (gateway pods need not run in a test cluster),
//! applies `config/samples/` in a fresh namespace, checks through S3 that the bucket, its
//! versioning, tags, policy and lifecycle configuration exist, then deletes them and checks that
//! the deletion policies were honoured.
//!
//! Needs the `gateway` binary next to this test's executable (`cargo build -p stowage-gateway`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::Gateway;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operator::controller::Config;
use operator::crd::{Bucket, BucketPolicy, LifecycleRule, ObjectStore, ready_status};
use operator::manager::{self, Options};
use operator::resources::object_store::{AdminCredentials, AdminSecretData, admin_secret};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(500);
const MANAGER: &str = "stowage-e2e";

fn gateway_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    bin.exists().then_some(bin)
}

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    text.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| serde_yaml::from_str(doc).expect("YAML"))
        .collect()
}

async fn apply_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(common::repo().join("crds")).expect("crds/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".stowage.dev.yaml") {
            continue;
        }
        for doc in yaml_documents(&path) {
            let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
            crds.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&doc))
                .await
                .expect("CRD applied");
            eventually(&format!("CRD {name} established"), || {
                let crds = crds.clone();
                let name = name.clone();
                async move {
                    let crd = crds.get(&name).await.ok()?;
                    let established = crd
                        .status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    established.then_some(())
                }
            })
            .await;
        }
    }
}

/// Applies a sample into `namespace`, as `kubectl apply -n` would.
async fn apply_sample<K>(client: &Client, namespace: &str, file: &str) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let mut doc = yaml_documents(&common::repo().join("config/samples").join(file)).remove(0);
    doc["metadata"]["namespace"] = json!(namespace);
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&doc))
        .await
        .unwrap_or_else(|e| panic!("applying {file}: {e}"))
}

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
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("NOTICE: skipped: KUBECONFIG is not set, so there is no cluster to test against");
        return;
    }
    let Some(bin) = gateway_bin() else {
        eprintln!("NOTICE: skipped: no gateway binary next to the test; `cargo build -p stowage-gateway`");
        return;
    };
    manager::install_crypto_provider();
    let gateway = Gateway::start(&bin);
    let client = Client::try_default().await.expect("the cluster in KUBECONFIG");
    apply_crds(&client).await;

    let namespace = format!("stowage-e2e-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": namespace}})).expect("namespace"),
        )
        .await
        .expect("namespace created");

    // The store's admin Secret holds the test gateway's root credentials (the operator keeps what
    // it finds), so the operator can sign for it.
    let store: ObjectStore = serde_json::from_value(json!({
        "apiVersion": "stowage.dev/v1alpha1", "kind": "ObjectStore",
        "metadata": {"name": "demo", "namespace": namespace}, "spec": {}
    }))
    .expect("store");
    let mut admin = admin_secret(
        &store,
        &AdminSecretData {
            credentials: AdminCredentials {
                access_key_id: gateway.access_key.clone(),
                secret_access_key: gateway.secret_key.clone(),
            },
            master_key: AdminSecretData::generate().master_key,
        },
    );
    admin.metadata.owner_references = None;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    secrets
        .create(&PostParams::default(), &admin)
        .await
        .expect("admin secret");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = Options {
        controller: Config {
            gateway_image: "ghcr.io/stowage/stowage:e2e".into(),
            store_endpoint_override: Some(gateway.endpoint()),
            namespace: Some(namespace.clone()),
        },
        http_addr: None,
        lease: None,
        instance: Some("e2e".into()),
    };
    let operator = tokio::spawn(manager::run(client.clone(), options, async move {
        let _ = stopped.await;
    }));

    let stores: Api<ObjectStore> = Api::namespaced(client.clone(), &namespace);
    let buckets: Api<Bucket> = Api::namespaced(client.clone(), &namespace);
    let policies: Api<BucketPolicy> = Api::namespaced(client.clone(), &namespace);
    let rules: Api<LifecycleRule> = Api::namespaced(client.clone(), &namespace);
    let _: ObjectStore = apply_sample(&client, &namespace, "objectstore.yaml").await;
    let _: Bucket = apply_sample(&client, &namespace, "bucket.yaml").await;
    let _: BucketPolicy = apply_sample(&client, &namespace, "bucketpolicy.yaml").await;
    let _: LifecycleRule = apply_sample(&client, &namespace, "lifecyclerule.yaml").await;

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

    let _ = stop.send(());
    operator
        .await
        .expect("operator task")
        .expect("operator stopped cleanly");
    namespaces
        .delete(&namespace, &DeleteParams::default())
        .await
        .map(drop)
        .unwrap_or_else(|e| eprintln!("deleting namespace {namespace}: {e}"));
}
