//! `kubectl kustomize config/` renders and the API server accepts every object of it (a
//! server-side dry-run apply; only the operator's Namespace is created for real, since namespaced
//! dry runs need it). Needs `KUBECONFIG` (skipped with a notice without one).
//!
//! kustomize itself is not a dependency: [`kustomize`] renders the two features `config/` uses
//! (`resources`, files or directories, and `namespace`) and refuses a kustomization with anything
//! else, so it can never quietly render something kustomize would not. Where `kubectl` is on the
//! PATH, its `kustomize` must render the same objects.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::cluster;
use serde_json::{Value, json};

/// Kinds without a namespace, among those `config/` holds.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
];

/// The objects `dir`'s kustomization.yaml renders to, in order.
fn kustomize(dir: &Path) -> Vec<Value> {
    let file = dir.join("kustomization.yaml");
    let kustomization = common::yaml_documents(&file).remove(0);
    for key in kustomization.as_object().expect("a mapping").keys() {
        assert!(
            ["apiVersion", "kind", "namespace", "resources"].contains(&key.as_str()),
            "{}: `{key}` is not rendered by this test's kustomize; extend it",
            file.display()
        );
    }
    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_array().expect("resources") {
        let path = dir.join(resource.as_str().expect("a path"));
        if path.is_dir() {
            objects.extend(kustomize(&path));
        } else {
            objects.extend(common::yaml_documents(&path));
        }
    }
    if let Some(namespace) = kustomization["namespace"].as_str() {
        for object in &mut objects {
            set_namespace(object, namespace);
        }
    }
    objects
}

/// kustomize's namespace transformer: namespaced objects move to `namespace`, and so do the
/// ServiceAccount subjects of role bindings that name no namespace or `default`.
fn set_namespace(object: &mut Value, namespace: &str) {
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    if !CLUSTER_SCOPED.contains(&kind.as_str()) {
        object["metadata"]["namespace"] = json!(namespace);
    }
    // `get_mut`, not indexing: indexing a missing key would add `subjects: null`.
    if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects {
            let default = subject["namespace"].as_str().is_none_or(|n| n == "default");
            if subject["kind"] == "ServiceAccount" && default {
                subject["namespace"] = json!(namespace);
            }
        }
    }
}

/// `kind namespace/name` of each object.
fn identities(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{} {}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn the_renderer_agrees_with_kubectl_kustomize_where_there_is_one() {
    let config = common::repo().join("config");
    let Ok(output) = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(&config)
        .output()
    else {
        eprintln!("NOTICE: skipped: no kubectl on the PATH to compare with");
        return;
    };
    assert!(output.status.success(), "kubectl kustomize config/ failed");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let theirs: Vec<Value> = text
        .split("\n---\n")
        .map(|doc| serde_yaml::from_str(doc).expect("YAML"))
        .collect();
    assert_eq!(identities(&kustomize(&config)), identities(&theirs));
}

#[tokio::test]
async fn config_renders_and_every_object_is_accepted_by_the_api_server() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let objects = kustomize(&common::repo().join("config"));
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "Namespace",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ])
    );
    // The Namespace first: the namespaced objects' dry runs need it.
    let (namespaces, rest): (Vec<Value>, Vec<Value>) =
        objects.into_iter().partition(|o| o["kind"] == "Namespace");
    let refused = [
        cluster::apply_refusals(&client, &namespaces, &["Namespace"]).await,
        cluster::apply_refusals(&client, &rest, &[]).await,
    ]
    .concat();
    assert!(refused.is_empty(), "the API server refused: {refused:#?}");
}

#[tokio::test]
async fn the_samples_kustomization_renders_and_is_accepted() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let namespace = cluster::namespace(&client, "kustomize-samples").await;
    let mut objects = kustomize(&common::repo().join("config/samples"));
    assert_eq!(objects.len(), 4, "one sample of each kind");
    for object in &mut objects {
        set_namespace(object, &namespace);
    }
    let refused = cluster::apply_refusals(&client, &objects, &[]).await;
    assert!(refused.is_empty(), "the API server refused: {refused:#?}");
    cluster::delete_namespace(&client, &namespace).await;
}
