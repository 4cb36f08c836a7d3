//! GitOps-grade behaviour on a real API server (`KUBECONFIG`; skipped with a notice without one):
//! re-applying what is already applied changes nothing, another field manager cannot silently
//! take a field the operator owns, and deletion cascades (the controller-manager's garbage
//! collector and namespace controller do the work, as in a real cluster).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::cluster::{self, api_for, apply_sample, eventually};
use e2e::Gateway;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

const SAMPLES: [(&str, &str, &str); 4] = [
    ("objectstore.yaml", "ObjectStore", "demo"),
    ("bucket.yaml", "Bucket", "demo-data"),
    ("bucketpolicy.yaml", "BucketPolicy", "demo-data-public-read"),
    ("lifecyclerule.yaml", "LifecycleRule", "demo-data-expire-tmp"),
];
/// How long nothing may change for the namespace to count as settled.
const QUIET: Duration = Duration::from_secs(4);

async fn versions_of<K>(client: &Client, namespace: &str, into: &mut BTreeMap<String, String>)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    // What the operator made; not, say, the `kube-root-ca.crt` ConfigMap of every namespace.
    let owned = ListParams::default().labels(operator::controller::OWNED_SELECTOR);
    for obj in api.list(&owned).await.expect("list") {
        into.insert(
            format!("{}/{}", K::kind(&()), obj.name_any()),
            obj.resource_version().unwrap_or_default(),
        );
    }
}

/// The resourceVersion of every custom resource and every object the operator owns in
/// `namespace`: any write to any of them, spec or status, changes this.
async fn versions(client: &Client, namespace: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for (_, kind, _) in SAMPLES {
        for obj in api_for(client, namespace, kind)
            .list(&ListParams::default())
            .await
            .expect("list")
        {
            all.insert(
                format!("{kind}/{}", obj.name_any()),
                obj.resource_version().unwrap_or_default(),
            );
        }
    }
    versions_of::<Secret>(client, namespace, &mut all).await;
    versions_of::<ConfigMap>(client, namespace, &mut all).await;
    versions_of::<Service>(client, namespace, &mut all).await;
    versions_of::<StatefulSet>(client, namespace, &mut all).await;
    versions_of::<PodDisruptionBudget>(client, namespace, &mut all).await;
    all
}

/// Waits until nothing in `namespace` has changed for [`QUIET`]; returns the versions then.
async fn settled(client: &Client, namespace: &str) -> BTreeMap<String, String> {
    let deadline = tokio::time::Instant::now() + cluster::TIMEOUT;
    let mut before = versions(client, namespace).await;
    loop {
        tokio::time::sleep(QUIET).await;
        let now = versions(client, namespace).await;
        if now == before {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still changing after {:?}: {before:?} -> {now:?}",
            cluster::TIMEOUT
        );
        before = now;
    }
}

/// A namespace with the samples applied and Ready, reconciled by an operator into `gateway`.
async fn samples_ready(
    client: &Client,
    prefix: &str,
    gateway: &Gateway,
) -> (String, cluster::RunningOperator) {
    let namespace = cluster::namespace(client, prefix).await;
    cluster::admin_secret_for(client, &namespace, "demo", gateway).await;
    let operator = cluster::run_operator(client, &namespace, &gateway.endpoint()).await;
    for (file, _, _) in SAMPLES {
        apply_sample(client, &namespace, file).await;
    }
    for (_, kind, name) in SAMPLES {
        cluster::wait_ready(client, &namespace, kind, name).await;
    }
    (namespace, operator)
}

#[tokio::test]
async fn reapplying_the_samples_changes_nothing_and_triggers_no_reconcile() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let (namespace, operator) = samples_ready(&client, "gitops-reapply", &gateway).await;
    let before = settled(&client, &namespace).await;
    let reconciles = operator.reconciliations().await;

    for (file, _, _) in SAMPLES {
        apply_sample(&client, &namespace, file).await;
    }
    tokio::time::sleep(QUIET).await;

    assert_eq!(
        versions(&client, &namespace).await,
        before,
        "no custom resource or owned object was written"
    );
    assert_eq!(
        operator.reconciliations().await,
        reconciles,
        "nothing changed, so nothing was reconciled (the operator's own writes included)"
    );
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn another_manager_taking_an_operator_field_gets_a_conflict() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let (namespace, operator) = samples_ready(&client, "gitops-conflict", &gateway).await;

    // `kubectl apply --server-side` of a field the operator set, by someone else.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let theirs = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "demo-config"},
        "data": {"STOWAGE_REGION": "eu-west-3"},
    });
    let refused = config_maps
        .patch(
            "demo-config",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&theirs),
        )
        .await
        .expect_err("a conflict, not a silent takeover");
    let kube::Error::Api(status) = refused else {
        panic!("expected the API server's refusal, got {refused}")
    };
    assert_eq!(status.code, 409, "{status:?}");
    assert!(
        status.message.contains("stowage-operator"),
        "the conflict names the operator as the owner: {}",
        status.message
    );
    let kept = config_maps.get("demo-config").await.expect("config map");
    assert_eq!(
        kept.data.unwrap_or_default()["STOWAGE_REGION"],
        "us-east-1",
        "the operator's value stands"
    );
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn deleting_an_object_store_collects_everything_it_owns() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let namespace = cluster::namespace(&client, "gitops-gc").await;
    // No gateway: what the store owns is applied whether or not its gateways answer.
    let operator = cluster::run_operator(&client, &namespace, "http://127.0.0.1:9").await;
    apply_sample(&client, &namespace, "objectstore.yaml").await;
    let expected = [
        "ConfigMap/demo-config",
        "PodDisruptionBudget/demo",
        "Secret/demo-admin",
        "Secret/demo-master-key",
        "Service/demo",
        "Service/demo-headless",
        "StatefulSet/demo",
    ];
    eventually("everything the store owns", || async {
        let owned: Vec<String> = versions(&client, &namespace)
            .await
            .into_keys()
            .filter(|k| !k.starts_with("ObjectStore/"))
            .collect();
        (owned == expected).then_some(())
    })
    .await;

    api_for(&client, &namespace, "ObjectStore")
        .delete("demo", &DeleteParams::default())
        .await
        .expect("deleted");
    // The master key stays for the volumes the StatefulSet leaves behind (resources::master_key).
    eventually("the garbage collector to remove what the store owned", || async {
        let left: Vec<String> = versions(&client, &namespace).await.into_keys().collect();
        (left == ["Secret/demo-master-key"]).then_some(())
    })
    .await;
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn deleting_a_namespace_with_delete_buckets_finishes() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let (namespace, operator) = samples_ready(&client, "gitops-ns", &gateway).await;
    let mut bucket = common::yaml_documents(&common::repo().join("config/samples/bucket.yaml")).remove(0);
    bucket["metadata"]["name"] = json!("scratch");
    bucket["spec"] = json!({"storeRef": {"name": "demo"}, "deletionPolicy": "Delete", "forceDelete": true});
    cluster::apply_value(&client, &namespace, bucket).await;
    cluster::wait_ready(&client, &namespace, "Bucket", "scratch").await;

    cluster::delete_namespace(&client, &namespace).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    eventually("the namespace to be deleted", || async {
        namespaces.get_opt(&namespace).await.ok()?.is_none().then_some(())
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn a_deleted_credentials_secret_is_reissued_within_seconds() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let (namespace, operator) = samples_ready(&client, "gitops-secret", &gateway).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let issued = secrets.get("demo-data-credentials").await.expect("issued");

    secrets
        .delete("demo-data-credentials", &DeleteParams::default())
        .await
        .expect("deleted");
    // Far sooner than the resync (minutes): the operator watches the Secrets it owns.
    let reissued = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match secrets.get_opt("demo-data-credentials").await {
                Ok(Some(s)) if s.uid() != issued.uid() => return s,
                _ => tokio::time::sleep(cluster::POLL).await,
            }
        }
    })
    .await
    .expect("the credentials Secret is back within 15 s");
    let data = reissued.data.expect("data");
    assert!(data.contains_key("AWS_ACCESS_KEY_ID") && data.contains_key("AWS_SECRET_ACCESS_KEY"));
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn a_spec_change_costs_one_reconcile_and_the_status_write_none() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let (namespace, operator) = samples_ready(&client, "gitops-generation", &gateway).await;
    settled(&client, &namespace).await;
    let before = operator.reconciliations_of("Bucket").await;

    let buckets = api_for(&client, &namespace, "Bucket");
    let changed = buckets
        .patch(
            "demo-data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tags": {"team": "storage"}}})),
        )
        .await
        .expect("patched");
    let generation = changed.metadata.generation.expect("generation");
    eventually("the change to be observed", || async {
        let bucket = buckets.get("demo-data").await.ok()?;
        (bucket.data["status"]["observedGeneration"] == json!(generation)).then_some(())
    })
    .await;
    settled(&client, &namespace).await;

    // The reconcile of the new generation wrote the status; that write triggered nothing.
    assert_eq!(operator.reconciliations_of("Bucket").await - before, 1);
    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}
