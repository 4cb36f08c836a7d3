//! Scaling a store down on a real API server (`KUBECONFIG`; skipped with a notice without one)
//! against a real store of three gateways: `gateway serve --gateways 3` runs them in one process
//! over one embedded metadata store, each on its own volume, and each volume remembers one of the
//! StatefulSet's pod names (`demo-0`, `demo-1`, `demo-2`) as its node id, as a pod's volume does.
//!
//! From 3 to 2: the `Draining` condition appears while the StatefulSet still runs three gateways,
//! the StatefulSet goes down to two only once the gateway reports `demo-2` drained, and the
//! objects `demo-2` held are still there. Then the store runs without `demo-2` (the process is
//! restarted with `--gateways 2`, as the pod would be gone): once its heartbeat is stale, the
//! operator deletes its volume claim and forgets it, and the other claims stay. The operator runs
//! as its ServiceAccount bound to `config/rbac/`, so the verbs a scale-down needs are checked too.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use common::cluster::{self, eventually};
use common::rbac::OperatorAccount;
use e2e::{Gateway, GatewayOptions};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;
use operator::crd::ObjectStore;
use operator::store_client::admin::NodeView;
use operator::store_client::{Credentials, StoreClient};
use serde_json::json;

const STORE: &str = "demo";
const BUCKET: &str = "scaled";
/// A gateway's heartbeat, in seconds: short, so that a stopped one is soon seen as such.
const HEARTBEAT: &str = "1";

/// The volumes of the gateways of one process remember the StatefulSet's pod names as node ids
/// (gateway 0's volume is the data directory itself, gateway `i`'s is `gateway-<i>` in it).
fn name_volumes(data_dir: &Path, gateways: usize) {
    for i in 0..gateways {
        let volume = match i {
            0 => data_dir.to_owned(),
            i => data_dir.join(format!("gateway-{i}")),
        };
        std::fs::create_dir_all(&volume).expect("volume");
        std::fs::write(volume.join("node-id"), format!("{STORE}-{i}")).expect("node id");
    }
}

/// `gateway serve --gateways n` over `data_dir`, with `root`'s credentials when given.
fn start_gateways(bin: &Path, data_dir: &Path, n: usize, root: Option<(&str, &str)>) -> Gateway {
    let env = root.map_or_else(Vec::new, |(key, secret)| {
        vec![
            ("STOWAGE_ROOT_ACCESS_KEY_ID".to_owned(), key.to_owned()),
            ("STOWAGE_ROOT_SECRET_ACCESS_KEY".to_owned(), secret.to_owned()),
        ]
    });
    Gateway::start_with(
        bin,
        GatewayOptions {
            args: ["--gateways", &n.to_string(), "--heartbeat-interval", HEARTBEAT]
                .map(str::to_owned)
                .to_vec(),
            env,
            data_dir: Some(data_dir.to_owned()),
            ..GatewayOptions::default()
        },
    )
}

fn admin_client(gateway: &Gateway, key: &str, secret: &str) -> StoreClient {
    StoreClient::new(
        &gateway.endpoint(),
        &gateway.region,
        Credentials {
            access_key_id: key.to_owned(),
            secret_access_key: secret.to_owned(),
        },
    )
    .expect("endpoint")
}

fn node<'a>(nodes: &'a [NodeView], id: &str) -> Option<&'a NodeView> {
    nodes.iter().find(|n| n.id == id)
}

/// The `Draining` condition's status and reason.
fn draining(store: &ObjectStore) -> Option<(String, String, String)> {
    let c = store
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Draining")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn sts_replicas(sts: &StatefulSet) -> i32 {
    sts.spec.replicas.unwrap_or(1)
}

async fn apply_store(client: &kube::Client, namespace: &str, replicas: i32) {
    let store = json!({
        "apiVersion": "stowage.dev/v1alpha1",
        "kind": "ObjectStore",
        "metadata": {"name": STORE},
        // More than one gateway needs TiKV in a cluster; here the test's gateways stand in.
        "spec": {"replicas": replicas, "meta": {"backend": "tikv", "tikv": {"pdEndpoints": ["pd.invalid:2379"]}}},
    });
    cluster::apply_value(client, namespace, store).await;
}

#[tokio::test]
async fn scaling_down_drains_before_the_statefulset_goes_down_and_removes_the_gateway_once_stopped() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let data = tempfile::tempdir().expect("data dir");
    name_volumes(data.path(), 3);
    let mut gateways = start_gateways(&bin, data.path(), 3, None);
    let (key, secret) = (gateways.access_key.clone(), gateways.secret_key.clone());
    let admin = admin_client(&gateways, &key, &secret);
    // The harness waits for the first gateway; the others register as they come up.
    eventually("three gateways registered under the pod names", || {
        let admin = admin.clone();
        async move {
            let ids: Vec<String> = admin.list_nodes().await.ok()?.into_iter().map(|n| n.id).collect();
            (ids == ["demo-0", "demo-1", "demo-2"]).then_some(())
        }
    })
    .await;

    // Objects written through the third gateway: their bytes are on demo-2's volume.
    let third = gateways.client_with(|b| b.endpoint_url(format!("http://127.0.0.1:{}", gateways.port + 2)));
    third.create_bucket().bucket(BUCKET).send().await.expect("bucket");
    let objects: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("k{i}"), vec![b'a' + i as u8; 100_000 + i]))
        .collect();
    for (key, body) in &objects {
        third
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
    }

    let namespace = cluster::namespace(&client, "scale-down").await;
    cluster::admin_secret_for(&client, &namespace, STORE, &gateways).await;
    let account = OperatorAccount::bind(&client, &namespace).await;
    let operator = cluster::run_operator(&account.client, &namespace, &gateways.endpoint()).await;
    let stores: Api<ObjectStore> = Api::namespaced(client.clone(), &namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    apply_store(&client, &namespace, 3).await;
    eventually("three gateways, nothing draining, a claim each", || {
        let (stores, sets, claims) = (stores.clone(), sets.clone(), claims.clone());
        async move {
            let sts = sets.get_opt(STORE).await.ok()??;
            let (status, reason, _) = draining(&stores.get(STORE).await.ok()?)?;
            let claims = claims.list(&Default::default()).await.ok()?.items.len();
            (sts_replicas(&sts) == 3 && status == "False" && reason == "NoDrain" && claims == 3).then_some(())
        }
    })
    .await;

    apply_store(&client, &namespace, 2).await;
    // Read in this order: a Draining=True followed by a StatefulSet at 3 shows the condition came
    // first; a StatefulSet at 2 followed by an undrained demo-2 would show it went down too early.
    let draining_seen_at_3 = Arc::new(Mutex::new(None));
    eventually("the StatefulSet at 2", || {
        let (stores, sets, admin) = (stores.clone(), sets.clone(), admin.clone());
        let draining_seen_at_3 = draining_seen_at_3.clone();
        async move {
            let condition = draining(&stores.get(STORE).await.ok()?);
            let replicas = sts_replicas(&sets.get(STORE).await.ok()?);
            let nodes = admin.list_nodes().await.ok()?;
            match (condition, replicas) {
                (Some((status, reason, message)), 3) if status == "True" => {
                    assert_eq!(reason, "DrainInProgress", "{message}");
                    draining_seen_at_3.lock().expect("lock").get_or_insert(message);
                    None
                }
                (_, 2) => {
                    let demo_2 = node(&nodes, "demo-2").expect("still registered while it runs");
                    assert!(
                        demo_2.is_drained(),
                        "lowered before demo-2 was drained: {demo_2:?}"
                    );
                    let moved = demo_2.drain.as_ref().map_or(0, |d| d.blobs_moved);
                    assert!(moved > 0, "demo-2 held the blobs written through it: {demo_2:?}");
                    Some(())
                }
                _ => None,
            }
        }
    })
    .await;
    let message = draining_seen_at_3
        .lock()
        .expect("lock")
        .take()
        .expect("Draining=True while the StatefulSet still said 3");
    assert!(message.starts_with("draining demo-2: "), "{message}");
    let store = stores.get(STORE).await.expect("store");
    assert_eq!(
        store.status.as_ref().map(|s| s.leaving_gateways.clone()),
        Some(vec!["demo-2".to_owned()])
    );
    assert!(
        claims.get_opt("data-demo-2").await.expect("get").is_some(),
        "kept while its gateway runs"
    );

    // demo-2's pod is gone: the process runs the other two, over the same volumes and store.
    operator.stop().await;
    gateways.terminate();
    let gateways = start_gateways(&bin, data.path(), 2, Some((&key, &secret)));
    let admin = admin_client(&gateways, &key, &secret);
    let operator = cluster::run_operator(&account.client, &namespace, &gateways.endpoint()).await;
    eventually("demo-2's claim deleted and its registration forgotten", || {
        let (stores, claims, admin) = (stores.clone(), claims.clone(), admin.clone());
        async move {
            let claim_gone = claims
                .get_opt("data-demo-2")
                .await
                .ok()?
                .is_none_or(|c| c.metadata.deletion_timestamp.is_some());
            let forgotten = node(&admin.list_nodes().await.ok()?, "demo-2").is_none();
            let store = stores.get(STORE).await.ok()?;
            let (_, reason, _) = draining(&store)?;
            let leaving = store.status?.leaving_gateways;
            (claim_gone && forgotten && reason == "NoDrain" && leaving.is_empty()).then_some(())
        }
    })
    .await;
    for kept in ["data-demo-0", "data-demo-1"] {
        let claim = claims.get(kept).await.expect("kept");
        assert!(claim.metadata.deletion_timestamp.is_none(), "{kept}");
    }
    // The bytes demo-2 held were moved before it went.
    let s3 = gateways.client_for(&key, &secret);
    for (key, body) in &objects {
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(bytes.as_ref(), body.as_slice(), "{key}");
    }

    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
    account.unbind(&client).await;
}
