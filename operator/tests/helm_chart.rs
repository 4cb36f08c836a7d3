//! The Helm chart renders, with its default values and with the other values its README
//! documents, and the API server accepts every object it renders (a server-side dry-run apply of
//! the chart's CRDs and templates; the release Namespace is created for real). Needs
//! `KUBECONFIG` (skipped with a notice without one). No `helm` binary is needed: the templates are
//! rendered by `common::go_template`, which knows the template language as far as the chart uses
//! it and refuses anything else.

mod common;

use std::collections::BTreeSet;

use common::cluster;
use common::go_template::Templates;
use serde_json::{Value, json};

const CHART: &str = "charts/stowage-operator";

fn read(path: &str) -> String {
    std::fs::read_to_string(common::repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `over` merged into `base`, maps key by key (Helm's `--set`/`-f` semantics).
fn merged(mut base: Value, over: &Value) -> Value {
    match (base.as_object_mut(), over.as_object()) {
        (Some(b), Some(o)) => {
            for (key, value) in o {
                let next = merged(b.get(key).cloned().unwrap_or(Value::Null), value);
                b.insert(key.clone(), next);
            }
            base
        }
        _ => over.clone(),
    }
}

/// What `helm template <release> charts/stowage-operator -n <namespace>` with `values` on top
/// of values.yaml renders: the objects of every template.
fn render(release: &str, namespace: &str, values: &Value) -> Vec<Value> {
    let chart: Value = serde_yaml::from_str(&read(&format!("{CHART}/Chart.yaml"))).expect("Chart.yaml");
    let defaults: Value = serde_yaml::from_str(&read(&format!("{CHART}/values.yaml"))).expect("values.yaml");
    let dot = json!({
        "Values": merged(defaults, values),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    });
    let mut templates = Templates::default();
    templates
        .render(&read(&format!("{CHART}/templates/_helpers.tpl")), &dot)
        .expect("_helpers.tpl");
    let mut files: Vec<_> = std::fs::read_dir(common::repo().join(CHART).join("templates"))
        .expect("templates/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for path in files {
        let source = std::fs::read_to_string(&path).expect("template");
        let text = templates
            .render(&source, &dot)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in text.split("\n---") {
            let value: Value = serde_yaml::from_str(doc)
                .unwrap_or_else(|e| panic!("{} renders invalid YAML: {e}\n{text}", path.display()));
            if !value.is_null() {
                objects.push(value);
            }
        }
    }
    objects
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn env_of(objects: &[Value]) -> Vec<Value> {
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone()
}

#[tokio::test]
async fn the_chart_renders_with_its_defaults_and_the_server_accepts_it() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let namespace = cluster::namespace(&client, "helm-defaults").await;
    let objects = render("stowage-operator", &namespace, &json!({}));
    assert_eq!(
        kinds(&objects),
        BTreeSet::from(
            [
                "ClusterRole",
                "ClusterRoleBinding",
                "Deployment",
                "Role",
                "RoleBinding",
                "Service",
                "ServiceAccount"
            ]
            .map(str::to_owned)
        )
    );
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("Deployment");
    assert_eq!(deployment["metadata"]["name"], "stowage-operator");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/stowage/operator:0.1.0",
        "the tag defaults to the chart's appVersion"
    );
    let crds: Vec<Value> = operator::crd::all()
        .iter()
        .map(|c| serde_json::to_value(c).expect("JSON"))
        .collect();
    let refused = [
        cluster::apply_refusals(&client, &crds, &[]).await,
        cluster::apply_refusals(&client, &objects, &[]).await,
    ]
    .concat();
    assert!(refused.is_empty(), "the API server refused: {refused:#?}");
    cluster::delete_namespace(&client, &namespace).await;
}

#[tokio::test]
async fn the_documented_values_render_and_the_server_accepts_them() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let namespace = cluster::namespace(&client, "helm-values").await;
    let values = json!({
        "image": {"repository": "registry.example/operator", "tag": "dev", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "gatewayImage": {"repository": "registry.example/gateway", "tag": "dev"},
        "replicas": 1,
        "leaderElection": {"enabled": false},
        "logLevel": "operator=debug,kube=info",
        "logFormat": "text",
        "watchNamespace": "team-a",
        "resources": {"limits": {"memory": "512Mi"}},
        "serviceAccount": {"create": false, "name": "existing"},
        "metrics": {"service": {"enabled": false}},
        "podAnnotations": {"prometheus.io/scrape": "true"},
        "podLabels": {"team": "storage"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "stowage-operator"}}}}]}},
    });
    let objects = render("storage", &namespace, &values);
    // No ServiceAccount, no metrics Service, no leader-election Role: all switched off.
    assert_eq!(
        kinds(&objects),
        BTreeSet::from(["ClusterRole", "ClusterRoleBinding", "Deployment"].map(str::to_owned))
    );
    let env = env_of(&objects);
    assert!(
        env.contains(&json!({"name": "STOWAGE_WATCH_NAMESPACE", "value": "team-a"})),
        "{env:?}"
    );
    assert!(
        env.contains(&json!({"name": "STOWAGE_LEADER_ELECTION", "value": "false"})),
        "{env:?}"
    );
    assert!(
        env.contains(&json!({"name": "STOWAGE_GATEWAY_IMAGE", "value": "registry.example/gateway:dev"})),
        "{env:?}"
    );
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"]["team"], "storage");
    assert_eq!(pod["spec"]["serviceAccountName"], "existing");
    assert_eq!(pod["spec"]["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    let refused = cluster::apply_refusals(&client, &objects, &[]).await;
    assert!(refused.is_empty(), "the API server refused: {refused:#?}");
    cluster::delete_namespace(&client, &namespace).await;
}
