//! The operator as `config/rbac/` makes it: a ServiceAccount bound to exactly those roles, and a
//! client that authenticates as it (a TokenRequest token, no cluster-admin), so a cluster test
//! run with it fails when the operator needs a verb the manifests do not grant.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

use super::cluster::{self, TEST_MANAGER};

const SERVICE_ACCOUNT: &str = "stowage-operator";

/// Applies one manifest of `config/rbac/`, bound to the ServiceAccount in `namespace`; cluster-
/// scoped ones get `name` (parallel test runs each bind their own ServiceAccount).
async fn apply_rbac(client: &Client, namespace: &str, file: &str, name: Option<&str>) {
    let mut doc = super::yaml_documents(&super::repo().join("config/rbac").join(file)).remove(0);
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

/// The operator's ServiceAccount in a test namespace, bound to `config/rbac/`.
pub struct OperatorAccount {
    /// Authenticates as the ServiceAccount.
    pub client: Client,
    /// The namespace's own ClusterRoleBinding (parallel tests each bind their ServiceAccount).
    binding: String,
}

impl OperatorAccount {
    /// Applies every manifest of `config/rbac/` for `namespace`.
    pub async fn bind(admin: &Client, namespace: &str) -> Self {
        apply_rbac(admin, namespace, "service_account.yaml", None).await;
        apply_rbac(admin, namespace, "cluster_role.yaml", None).await;
        let binding = format!("stowage-operator-{namespace}");
        apply_rbac(admin, namespace, "cluster_role_binding.yaml", Some(&binding)).await;
        apply_rbac(admin, namespace, "leader_election_role.yaml", None).await;
        apply_rbac(admin, namespace, "leader_election_role_binding.yaml", None).await;
        Self {
            client: client_as_service_account(admin, namespace).await,
            binding,
        }
    }

    /// Removes the cluster-scoped binding (the namespace takes the rest with it).
    pub async fn unbind(self, admin: &Client) {
        let bindings: Api<ClusterRoleBinding> = Api::all(admin.clone());
        let _ = bindings.delete(&self.binding, &DeleteParams::default()).await;
    }
}
