//! The real API server of the cluster tests (`KUBECONFIG`; `../shared/k8s/up` starts one): a
//! client, the CRDs applied from `crds/`, a fresh namespace per test (so tests run in parallel on
//! one control plane), polling until something holds, and the operator run in-process.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use serde_json::{Value, json};

/// Long enough for a loaded 2-core CI machine, short enough to fail a stuck test.
pub const TIMEOUT: Duration = Duration::from_secs(90);
pub const POLL: Duration = Duration::from_millis(250);
/// The field manager the tests apply with (a user's `kubectl apply --server-side`).
pub const TEST_MANAGER: &str = "stowage-test";

/// A client for the cluster in `KUBECONFIG`, with the CRDs applied; `None`, with a notice, when
/// there is no cluster to test against.
pub async fn connect() -> Option<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        // CI says it has a cluster: a skip there would be a silent pass.
        assert!(
            std::env::var_os("STOWAGE_REQUIRE_CLUSTER").is_none(),
            "STOWAGE_REQUIRE_CLUSTER is set but KUBECONFIG is not"
        );
        eprintln!(
            "NOTICE: skipped: KUBECONFIG is not set, so there is no cluster to test against \
             (`eval \"$(../shared/k8s/up)\"` starts one)"
        );
        return None;
    }
    operator::manager::install_crypto_provider();
    let client = Client::try_default()
        .await
        .expect("a client for the cluster in KUBECONFIG");
    apply_crds(&client).await;
    Some(client)
}

/// Applies every CRD of `crds/` (the committed, generated YAML) and waits until each is served.
pub async fn apply_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(super::repo().join("crds")).expect("crds/") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".stowage.dev.yaml") {
            continue;
        }
        for doc in super::yaml_documents(&path) {
            let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
            crds.patch(
                &name,
                &PatchParams::apply(TEST_MANAGER).force(),
                &Patch::Apply(&doc),
            )
            .await
            .unwrap_or_else(|e| panic!("the API server refused CRD {name}: {e}"));
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

/// Polls `check` until it returns `Some`, failing the test after [`TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
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

/// A new namespace, `<prefix>-<pid>-<n>`, unique across parallel tests and test processes.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace"),
        )
        .await
        .expect("namespace created");
    name
}

/// Deletes a test's namespace (the namespace controller removes what is in it).
pub async fn delete_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(name, &DeleteParams::default())
        .await
        .map(drop)
        .unwrap_or_else(|e| eprintln!("deleting namespace {name}: {e}"));
}

/// An untyped Api for `K` in `namespace`, to send what the Rust types could not hold (the point
/// of asking the server about invalid objects).
pub fn dynamic_api<K>(client: &Client, namespace: &str) -> Api<DynamicObject>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    Api::namespaced_with(client.clone(), namespace, &ApiResource::erase::<K>(&()))
}

/// `value` (apiVersion, kind, metadata, spec, ...) as an object to send.
pub fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("an object with apiVersion, kind and metadata")
}

/// Applies `doc` (one object) into `namespace` as `kubectl apply --server-side -n` would.
pub async fn apply_value(client: &Client, namespace: &str, mut doc: Value) -> DynamicObject {
    doc["metadata"]["namespace"] = json!(namespace);
    let kind = doc["kind"].as_str().expect("kind").to_owned();
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    api_for_object(client, &doc)
        .patch(&name, &PatchParams::apply(TEST_MANAGER), &Patch::Apply(&doc))
        .await
        .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"))
}

/// Applies the sample `config/samples/<file>` into `namespace`.
pub async fn apply_sample(client: &Client, namespace: &str, file: &str) -> DynamicObject {
    let doc = super::yaml_documents(&super::repo().join("config/samples").join(file)).remove(0);
    apply_value(client, namespace, doc).await
}

/// The operator, run in-process against the test cluster and watching one namespace, until
/// [`RunningOperator::stop`].
pub struct RunningOperator {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), operator::manager::RunError>>,
    /// Where its `/metrics` are served.
    pub http_addr: std::net::SocketAddr,
}

/// Starts the operator for `namespace`, talking to every store at `store_endpoint` (a gateway the
/// test started: gateway pods never run in a control plane without kubelets).
pub async fn run_operator(client: &Client, namespace: &str, store_endpoint: &str) -> RunningOperator {
    run_operator_with(client, namespace, store_endpoint, None).await
}

/// [`run_operator`], campaigning for `lease` first when given.
pub async fn run_operator_with(
    client: &Client,
    namespace: &str,
    store_endpoint: &str,
    lease: Option<operator::leader::LeaseConfig>,
) -> RunningOperator {
    let http_addr = free_local_addr();
    let options = operator::manager::Options {
        controller: operator::controller::Config {
            gateway_image: "ghcr.io/stowage/stowage:e2e".into(),
            store_endpoint_override: Some(store_endpoint.to_owned()),
            namespace: Some(namespace.to_owned()),
        },
        http_addr: Some(http_addr),
        lease,
        instance: Some(format!("test-{namespace}")),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(operator::manager::run(client.clone(), options, async move {
        let _ = stopped.await;
    }));
    RunningOperator {
        stop,
        task,
        http_addr,
    }
}

fn free_local_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("bound")
}

impl RunningOperator {
    /// The operator's Prometheus text, as scraped from `/metrics`.
    pub async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.http_addr)
            .await
            .expect("the operator serves /metrics");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: operator\r\n\r\n")
            .await
            .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("response");
        response
    }

    /// Reconciles run so far, all kinds together (the `stowage_operator_reconciliations` counter).
    pub async fn reconciliations(&self) -> u64 {
        self.reconciliations_where("").await
    }

    /// Reconciles of `kind` run so far.
    pub async fn reconciliations_of(&self, kind: &str) -> u64 {
        self.reconciliations_where(&format!("kind=\"{kind}\"")).await
    }

    async fn reconciliations_where(&self, label: &str) -> u64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("stowage_operator_reconciliations_total{") && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Stops the operator and checks that it stopped cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("operator task")
            .expect("operator stopped cleanly");
    }
}

/// The admin Secret of store `store` holding `gateway`'s root credentials (the operator keeps
/// what it finds), so the operator can sign for the test's gateway.
pub async fn admin_secret_for(client: &Client, namespace: &str, store: &str, gateway: &e2e::Gateway) {
    use operator::resources::object_store::{AdminCredentials, AdminSecretData, admin_secret};
    let store: operator::crd::ObjectStore = serde_json::from_value(json!({
        "apiVersion": "stowage.dev/v1alpha1", "kind": "ObjectStore",
        "metadata": {"name": store, "namespace": namespace}, "spec": {}
    }))
    .expect("store");
    let mut admin = admin_secret(
        &store,
        &AdminSecretData {
            credentials: AdminCredentials {
                access_key_id: gateway.access_key.clone(),
                secret_access_key: gateway.secret_key.clone(),
            },
            ..AdminSecretData::generate()
        },
    );
    admin.metadata.owner_references = None;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    secrets
        .create(&PostParams::default(), &admin)
        .await
        .expect("admin secret");
}

/// Waits until `kind` `name` in `namespace` reports `Ready=True`.
pub async fn wait_ready(client: &Client, namespace: &str, kind: &str, name: &str) {
    let api = api_for(client, namespace, kind);
    eventually(&format!("{kind} {name} Ready"), || {
        let api = api.clone();
        async move {
            let obj = api.get(name).await.ok()?;
            let ready = obj.data["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            ready.then_some(())
        }
    })
    .await;
}

/// An untyped Api for a stowage.dev kind in `namespace`.
pub fn api_for(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "stowage.dev",
        "v1alpha1",
        kind,
    ));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// The Api of a manifest's kind, in its namespace (cluster-wide when it names none).
pub fn api_for_object(client: &Client, object: &Value) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().expect("kind");
    let resource = ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(group, version, kind));
    match object["metadata"]["namespace"].as_str() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// Server-side applies `objects` as dry runs (those of a kind in `for_real` for real: a
/// namespaced dry run needs its Namespace to exist) and returns the API server's refusals.
pub async fn apply_refusals(client: &Client, objects: &[Value], for_real: &[&str]) -> Vec<String> {
    let mut refused = Vec::new();
    for object in objects {
        let name = object["metadata"]["name"].as_str().expect("name");
        let mut params = PatchParams::apply(TEST_MANAGER).force();
        params.dry_run = !for_real.iter().any(|k| object["kind"] == *k);
        if let Err(e) = api_for_object(client, object)
            .patch(name, &params, &Patch::Apply(object))
            .await
        {
            refused.push(format!("{} {name}: {e}", object["kind"]));
        }
    }
    refused
}
