//! The operator's RBAC from `config/rbac/` is all it needs: on a real API server (`KUBECONFIG`;
//! skipped with a notice without one), the operator runs as a ServiceAccount bound to exactly those
//! roles (a TokenRequest token, no cluster-admin), campaigns for its lease, and reconciles the
//! samples to Ready, owned objects with `blockOwnerDeletion` and finalizer removal included.
//! (Run the API server with the `OwnerReferencesPermissionEnforcement` admission plugin, as
//! `.ci/run` does, for `blockOwnerDeletion` to be checked against `*/finalizers`.)

mod common;

use common::cluster::{self, TEST_MANAGER, api_for, apply_sample, eventually};
use e2e::Gateway;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

const SERVICE_ACCOUNT: &str = "stowage-operator";

/// Applies one manifest of `config/rbac/`, bound to the ServiceAccount in `namespace`; cluster-
/// scoped ones get `name` (parallel test runs each bind their own ServiceAccount).
async fn apply_rbac(client: &Client, namespace: &str, file: &str, name: Option<&str>) {
    let mut doc = common::yaml_documents(&common::repo().join("config/rbac").join(file)).remove(0);
    if let Some(name) = name {
        doc["metadata"]["name"] = json!(name);
    }
    if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects {
            subject["namespace"] = json!(namespace);
        }
    }
    if !doc["kind"].as_str().is_some_and(|k| k.starts_with("Cluster")) {
        doc["metadata"]["namespace"] = json!(namespace);
    }
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    let api = cluster::api_for_object(client, &doc);
    api.patch(
        &name,
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(&doc),
    )
    .await
    .unwrap_or_else(|e| panic!("applying config/rbac/{file}: {e}"));
}

/// A client that authenticates as the ServiceAccount: the admin kubeconfig's cluster with a
/// short-lived token from the TokenRequest API (what `kubectl create token` does).
async fn client_as_service_account(admin: &Client, namespace: &str) -> Client {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("a token for the ServiceAccount")
        .status
        .expect("issued")
        .token;
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let mut kubeconfig: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("kubeconfig")).expect("YAML");
    for user in kubeconfig["users"].as_array_mut().expect("users") {
        user["user"] = json!({"token": token});
    }
    let kubeconfig: Kubeconfig = serde_json::from_value(kubeconfig).expect("a kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

#[tokio::test]
async fn the_operator_needs_no_more_than_config_rbac() {
    let Some(admin) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let namespace = cluster::namespace(&admin, "rbac").await;
    apply_rbac(&admin, &namespace, "service_account.yaml", None).await;
    apply_rbac(&admin, &namespace, "cluster_role.yaml", None).await;
    let binding = format!("stowage-operator-{namespace}");
    apply_rbac(&admin, &namespace, "cluster_role_binding.yaml", Some(&binding)).await;
    apply_rbac(&admin, &namespace, "leader_election_role.yaml", None).await;
    apply_rbac(&admin, &namespace, "leader_election_role_binding.yaml", None).await;
    let operator_client = client_as_service_account(&admin, &namespace).await;

    // The test's gateway credentials, put where the operator looks (by the admin, as a user would).
    cluster::admin_secret_for(&admin, &namespace, "demo", &gateway).await;
    let lease = operator::leader::LeaseConfig::new("stowage-operator", &namespace, "rbac-test");
    let operator =
        cluster::run_operator_with(&operator_client, &namespace, &gateway.endpoint(), Some(lease)).await;
    for file in [
        "objectstore.yaml",
        "bucket.yaml",
        "bucketpolicy.yaml",
        "lifecyclerule.yaml",
    ] {
        apply_sample(&admin, &namespace, file).await;
    }
    for (kind, name) in [
        ("ObjectStore", "demo"),
        ("Bucket", "demo-data"),
        ("BucketPolicy", "demo-data-public-read"),
        ("LifecycleRule", "demo-data-expire-tmp"),
    ] {
        cluster::wait_ready(&admin, &namespace, kind, name).await;
    }

    // Finalizers come off (a patch of the resource) when the resources are deleted.
    let policies = api_for(&admin, &namespace, "BucketPolicy");
    policies
        .delete("demo-data-public-read", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the policy's finalizer removed", || {
        let policies = policies.clone();
        async move {
            policies
                .get_opt("demo-data-public-read")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;

    operator.stop().await;
    cluster::delete_namespace(&admin, &namespace).await;
    let bindings = api_for_cluster_role_bindings(&admin);
    let _ = bindings.delete(&binding, &DeleteParams::default()).await;
}

fn api_for_cluster_role_bindings(client: &Client) -> Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> {
    Api::all(client.clone())
}
