use std::time::Duration;

use http::Method;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::*;
use crate::controller::objectstore::{NOT_READY_RECHECK, reconcile};
use crate::controller::{Error, RESYNC};
use crate::crd::ObjectStoreStatus;
use crate::fixtures::api_server::{self, Expect, stowage_path};
use crate::fixtures::fake_store::{FakeStore, unreachable_url};
use crate::fixtures::{self, ready_condition};

fn sts_path() -> String {
    "/apis/apps/v1/namespaces/team-a/statefulsets/photos".into()
}

/// The store's StatefulSet as the API server has it, at `replicas`.
fn existing_sts(replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "photos", "namespace": "team-a"},
        "spec": {"replicas": replicas, "selector": {}, "serviceName": "photos-headless", "template": {}},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    })
}

fn get_sts(replicas: i32) -> Expect {
    Expect::get(sts_path()).respond(existing_sts(replicas))
}

/// The applies of everything a store owns, in order; the StatefulSet comes back with one ready
/// replica.
fn owned_applies() -> Vec<Expect> {
    vec![
        Expect::patch(core_path("secrets", "photos-admin")),
        Expect::patch(core_path("configmaps", "photos-config")),
        Expect::patch(core_path("services", "photos")),
        Expect::patch(core_path("services", "photos-headless")),
        Expect::patch("/apis/policy/v1/namespaces/team-a/poddisruptionbudgets/photos"),
        Expect::patch(sts_path()).map(|body: &Value| {
            let mut stored = body.clone();
            stored["status"] = json!({"replicas": 1, "readyReplicas": 1});
            stored
        }),
    ]
}

async fn ready_gateway() -> FakeStore {
    FakeStore::start(|c| {
        (
            if c.target == "/_stowage/ready" { 200 } else { 404 },
            "ready".into(),
        )
    })
    .await
}

#[tokio::test]
async fn a_new_store_gets_its_objects_and_turns_ready_when_the_endpoint_answers() {
    let gateway = ready_gateway().await;
    let (client, server) = api_server::client();
    let mut script = vec![
        Expect::get(core_path("secrets", "photos-admin")).not_found(),
        Expect::get(core_path("secrets", "photos-master-key")).not_found(),
        Expect::get(sts_path()).not_found(),
        Expect::patch(core_path("secrets", "photos-master-key")),
        event(),
        event(),
    ];
    script.extend(owned_applies());
    script.extend([
        event(),
        status_patch(
            stowage_path("objectstores", Some("photos/status")),
            &fixtures::store("photos"),
        ),
    ]);
    let verifier = server.run(script);

    let action = reconcile(
        fixtures::store("photos").into(),
        context(client, Some(&gateway.url)),
    )
    .await
    .expect("reconciled");
    let seen = verifier.await.expect("script");

    assert_eq!(action, Action::requeue(RESYNC));
    let key_secret = &seen[3];
    assert!(key_secret.is_apply(), "{key_secret:?}");
    assert_eq!(str_of(&key_secret.body, "/metadata/name"), "photos-master-key");
    assert_eq!(
        key_secret.body["metadata"]["ownerReferences"],
        Value::Null,
        "the key outlives the store, as its volumes do"
    );
    let written_key = str_of(&key_secret.body, "/data/master.key").to_owned();
    assert_eq!(
        (reason(&seen[4]), event_type(&seen[4])),
        ("MasterKeyCreated", "Normal")
    );
    assert_eq!(reason(&seen[5]), "AdminCredentialsCreated");
    for apply in &seen[6..12] {
        assert!(apply.is_apply(), "{apply:?}");
    }
    let secret = &seen[6].body;
    assert_eq!(str_of(secret, "/metadata/name"), "photos-admin");
    let data = secret["data"].as_object().expect("data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [
            "STOWAGE_ROOT_ACCESS_KEY_ID",
            "STOWAGE_ROOT_SECRET_ACCESS_KEY",
            "peer-secret"
        ],
        "the master key is not in the admin Secret: deleting that one rotates root credentials only"
    );
    assert_eq!(
        str_of(&seen[11].body, "/spec/template/spec/containers/0/image"),
        "img:1"
    );
    assert_eq!(
        gateway.lines(),
        ["GET /_stowage/ready"],
        "no gateway to ask about before the StatefulSet exists"
    );

    assert_eq!(
        (reason(&seen[12]), event_type(&seen[12])),
        ("GatewaysReady", "Normal")
    );
    let status = &seen[13];
    assert!(status.is_apply());
    assert_eq!(status.body["apiVersion"], "stowage.dev/v1alpha1");
    assert_eq!(status.body["kind"], "ObjectStore");
    assert_eq!(status.ready()["status"], "True");
    assert_eq!(status.ready()["reason"], "GatewaysReady");
    assert_eq!(
        status.ready()["message"],
        "1/1 gateways ready; the S3 endpoint answers"
    );
    assert_eq!(status.ready()["observedGeneration"], 1);
    assert_eq!(
        status.status()["endpoint"],
        "http://photos.team-a.svc:9000",
        "the in-cluster endpoint, not the override"
    );
    assert_eq!(status.status()["readyReplicas"], 1);
    assert_eq!(status.status()["adminSecret"], "photos-admin");
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&written_key)
        .expect("base64");
    assert_eq!(
        status.status()["masterKeyFingerprint"],
        crate::resources::master_key::fingerprint(std::str::from_utf8(&key).expect("text"))
    );
    assert_eq!(status.status()["observedGeneration"], 1);
}

#[tokio::test]
async fn an_unchanged_store_is_applied_again_but_its_status_is_not_rewritten() {
    let gateway = ready_gateway().await;
    let mut store = fixtures::store("photos");
    store.status = Some(ObjectStoreStatus {
        conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            message: "1/1 gateways ready; the S3 endpoint answers".into(),
            ..ready_condition()
        }],
        observed_generation: Some(1),
        ready_replicas: Some(1),
        endpoint: Some("http://photos.team-a.svc:9000".into()),
        admin_secret: Some("photos-admin".into()),
        master_key_fingerprint: Some(crate::resources::master_key::fingerprint(PHOTOS_MASTER_KEY)),
        master_key_staged: None,
        leaving_gateways: vec![],
    });
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(1)];
    script.extend(owned_applies());
    let verifier = server.run(script);

    reconcile(store.into(), context(client, Some(&gateway.url)))
        .await
        .expect("reconciled");
    let seen = verifier
        .await
        .expect("script: no event, no status write (a gateway without the nodes API changes nothing)");
    let data = &seen[3].body["data"];
    assert_eq!(
        data["STOWAGE_ROOT_ACCESS_KEY_ID"], "QUtST09U",
        "base64 of AKROOT: kept, not regenerated"
    );
    assert_eq!(
        str_of(&seen[3].body, "/metadata/uid"),
        PHOTOS_ADMIN_UID,
        "kept credentials are applied only over the Secret they were read from"
    );
}

#[tokio::test]
async fn a_store_whose_endpoint_does_not_answer_is_not_ready_and_rechecked_soon() {
    let down = unreachable_url().await;
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(1)];
    script.extend(owned_applies());
    script.extend([
        event(),
        status_patch(
            stowage_path("objectstores", Some("photos/status")),
            &fixtures::store("photos"),
        ),
    ]);
    let verifier = server.run(script);

    let action = reconcile(fixtures::store("photos").into(), context(client, Some(&down)))
        .await
        .expect("not ready is not an error");
    let seen = verifier.await.expect("script");

    assert_eq!(action, Action::requeue(NOT_READY_RECHECK));
    assert_eq!(NOT_READY_RECHECK, Duration::from_secs(10));
    assert_eq!(
        (reason(&seen[9]), event_type(&seen[9])),
        ("GatewaysNotReady", "Normal")
    );
    let ready = seen[10].ready();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "GatewaysNotReady");
    let message = ready["message"].as_str().expect("message");
    assert!(
        message.starts_with("1/1 gateways ready; store unreachable at http://127.0.0.1:"),
        "{message}"
    );
}

#[tokio::test]
async fn a_refused_apply_is_an_error_with_a_condition_and_a_warning() {
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_admin_secret(),
        get_master_key_secret(),
        Expect::get(sts_path()).not_found(),
        Expect::patch(core_path("secrets", "photos-admin")).fail(403, "Forbidden"),
        event(),
        status_patch(
            stowage_path("objectstores", Some("photos/status")),
            &fixtures::store("photos"),
        ),
    ]);

    let ctx = context(client, None);
    let err = reconcile(fixtures::store("photos").into(), ctx.clone())
        .await
        .expect_err("forbidden");
    let seen = verifier.await.expect("script");

    assert!(matches!(err, Error::KubernetesError(_)), "{err}");
    assert_eq!(
        (reason(&seen[4]), event_type(&seen[4])),
        ("KubernetesError", "Warning")
    );
    assert_eq!(seen[5].ready()["reason"], "KubernetesError");
    assert_eq!(seen[5].status()["readyReplicas"], Value::Null);
    let metrics = ctx.metrics.render();
    assert!(
        metrics.contains(
            "stowage_operator_reconciliation_errors_total{kind=\"ObjectStore\",error=\"KubernetesError\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_store_being_deleted_is_left_to_the_garbage_collector() {
    let mut store = fixtures::store("photos");
    store.metadata.deletion_timestamp = store.metadata.creation_timestamp.clone();
    let (client, server) = api_server::client();
    let verifier = server.run(vec![]);
    let action = reconcile(store.into(), context(client, None))
        .await
        .expect("nothing to do");
    verifier.await.expect("no request at all");
    assert_eq!(action, Action::await_change());
    let _ = Method::GET;
}

/// A store whose status records its master key's fingerprint (it has data sealed under it).
fn store_with_key() -> crate::crd::ObjectStore {
    let mut store = fixtures::store("photos");
    store.status = Some(ObjectStoreStatus {
        master_key_fingerprint: Some(crate::resources::master_key::fingerprint(PHOTOS_MASTER_KEY)),
        ..ObjectStoreStatus::default()
    });
    store
}

#[tokio::test]
async fn a_lost_master_key_is_not_regenerated_and_nothing_is_applied() {
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_admin_secret(),
        Expect::get(core_path("secrets", "photos-master-key")).not_found(),
        Expect::get(sts_path()).not_found(),
        event(),
        status_patch(
            stowage_path("objectstores", Some("photos/status")),
            &store_with_key(),
        ),
    ]);

    let err = reconcile(store_with_key().into(), context(client, None))
        .await
        .expect_err("refused, retried with backoff (a restored Secret may carry no label to watch)");
    let seen = verifier
        .await
        .expect("script: no Secret written, no StatefulSet touched");

    assert!(matches!(err, Error::MasterKeyMissing(_)), "{err}");
    assert_eq!(
        (reason(&seen[3]), event_type(&seen[3])),
        ("MasterKeyMissing", "Warning")
    );
    let ready = seen[4].ready();
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("MasterKeyMissing"))
    );
    let message = ready["message"].as_str().expect("message");
    assert!(
        message.contains("photos-master-key") && message.contains("restore"),
        "{message}"
    );
    assert_eq!(
        seen[4].status()["masterKeyFingerprint"],
        crate::resources::master_key::fingerprint(PHOTOS_MASTER_KEY),
        "the fingerprint is kept while the key is refused"
    );
}

#[tokio::test]
async fn a_different_master_key_is_refused() {
    use crate::resources::master_key::{self, MasterKey};
    let other = master_key::secret(
        &fixtures::store("photos"),
        &MasterKey {
            key: "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=".into(),
            previous: None,
            write: false,
            staging: false,
        },
    );
    let (client, server) = api_server::client();
    let verifier = server.run(vec![
        get_admin_secret(),
        Expect::get(core_path("secrets", "photos-master-key")).respond(other),
        Expect::get(sts_path()).not_found(),
        event(),
        status_patch(
            stowage_path("objectstores", Some("photos/status")),
            &store_with_key(),
        ),
    ]);

    let err = reconcile(store_with_key().into(), context(client, None))
        .await
        .expect_err("refused");
    let seen = verifier.await.expect("script");

    assert!(matches!(err, Error::MasterKeyMismatch(_)), "{err}");
    assert_eq!(seen[4].ready()["reason"], "MasterKeyMismatch");
    let message = seen[4].ready()["message"].as_str().expect("message");
    assert!(message.contains("previous.key"), "{message}");
}

/// A TiKV store of `replicas` gateways whose status records a master key (and, as the operator
/// wrote it, `leaving`).
fn scaled_store(replicas: i32, leaving: &[&str]) -> crate::crd::ObjectStore {
    let mut store = store_with_key();
    store.spec.replicas = replicas;
    store.spec.meta =
        serde_json::from_value(json!({"backend": "tikv", "tikv": {"pdEndpoints": ["pd:2379"]}}))
            .expect("meta");
    if let Some(status) = store.status.as_mut() {
        status.conditions = vec![ready_condition()];
        status.leaving_gateways = leaving.iter().map(|s| (*s).to_owned()).collect();
    }
    store
}

/// The store's applies up to the PodDisruptionBudget; the StatefulSet comes next.
fn applies_before_sts() -> Vec<Expect> {
    let mut applies = owned_applies();
    applies.pop();
    applies
}

/// A gateway that answers readiness and the nodes API with `nodes` (a JSON array) and
/// `drained` (a node view) for any node call.
async fn gateway_with_nodes(nodes: &'static str, node: &'static str) -> FakeStore {
    FakeStore::start(move |c| match (c.method.as_str(), c.target.as_str()) {
        ("GET", "/_stowage/ready") => (200, "ready".into()),
        ("GET", "/_stowage/admin/v1/nodes") => (200, format!(r#"{{"nodes":{nodes}}}"#)),
        ("DELETE", _) => (204, String::new()),
        _ => (200, node.into()),
    })
    .await
}

fn sts_replicas(seen: &api_server::Seen) -> i64 {
    seen.body["spec"]["replicas"].as_i64().expect("replicas")
}

#[tokio::test]
async fn lowering_replicas_drains_the_leaving_gateway_and_keeps_the_statefulset() {
    let gateway = gateway_with_nodes(
        r#"[{"id":"photos-0","live":true},{"id":"photos-1","live":true},{"id":"photos-2","live":true}]"#,
        r#"{"id":"photos-2","live":true,"capacity":2048,"free":1024,"drain":{"state":"draining","blobsLeft":4,"bytesLeft":4096}}"#,
    )
    .await;
    let store = scaled_store(2, &[]);
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(3)];
    script.extend(applies_before_sts());
    script.extend([
        Expect::patch(sts_path()),
        event(),
        event(),
        status_patch(stowage_path("objectstores", Some("photos/status")), &store),
    ]);
    let verifier = server.run(script);

    let action = reconcile(store.into(), context(client, Some(&gateway.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");

    assert_eq!(
        sts_replicas(&seen[8]),
        3,
        "the StatefulSet keeps its size while photos-2 drains"
    );
    assert_eq!(
        gateway.lines(),
        [
            "GET /_stowage/admin/v1/nodes",
            "POST /_stowage/admin/v1/nodes/photos-2/drain",
            "GET /_stowage/ready",
        ]
    );
    assert_eq!(
        (reason(&seen[9]), event_type(&seen[9])),
        ("DrainStarted", "Normal")
    );
    assert_eq!(reason(&seen[10]), "DrainInProgress");
    let draining = seen[11].condition("Draining");
    assert_eq!(
        (&draining["status"], &draining["reason"], &draining["message"]),
        (
            &json!("True"),
            &json!("DrainInProgress"),
            &json!(
                "draining photos-2: drain requested; the StatefulSet keeps 3 gateways until they are drained"
            )
        )
    );
    assert_eq!(seen[11].status()["leavingGateways"], json!(["photos-2"]));
    assert_eq!(
        action,
        Action::requeue(crate::controller::objectstore::DRAIN_RECHECK)
    );
}

#[tokio::test]
async fn once_drained_the_statefulset_goes_down_and_a_stopped_gateway_loses_claim_then_registration() {
    let gateway = gateway_with_nodes(
        r#"[{"id":"photos-0","live":true},{"id":"photos-1","live":true},
            {"id":"photos-2","live":false,"drain":{"state":"drained","blobsLeft":0,"bytesLeft":0}}]"#,
        "{}",
    )
    .await;
    let store = scaled_store(2, &["photos-2"]);
    let claim = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "data-photos-2", "namespace": "team-a", "uid": "uid-claim-2",
            "labels": crate::resources::common_labels("photos", "gateway"),
        },
    });
    let claim_path = core_path("persistentvolumeclaims", "data-photos-2");
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(3)];
    script.extend(applies_before_sts());
    script.extend([
        Expect::patch(sts_path()),
        event(),
        Expect::get(claim_path.clone()).respond(claim.clone()),
        Expect::delete(claim_path).respond(claim),
        event(),
        event(),
        status_patch(stowage_path("objectstores", Some("photos/status")), &store),
    ]);
    let verifier = server.run(script);

    reconcile(store.into(), context(client, Some(&gateway.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script");

    assert_eq!(sts_replicas(&seen[8]), 2);
    assert_eq!(reason(&seen[9]), "ScaledDown");
    assert_eq!(
        seen[11].body["preconditions"]["uid"], "uid-claim-2",
        "the claim deleted is the one whose labels were checked"
    );
    assert_eq!(reason(&seen[12]), "GatewayRemoved");
    assert_eq!(
        gateway.lines(),
        [
            "GET /_stowage/admin/v1/nodes",
            "DELETE /_stowage/admin/v1/nodes/photos-2",
            "GET /_stowage/ready",
        ],
        "the registration goes after the claim: it is what says the claim may go"
    );
    assert_eq!(reason(&seen[13]), "Drained");
    assert_eq!(seen[14].condition("Draining")["status"], "False");
    assert_eq!(seen[14].status()["leavingGateways"], Value::Null, "forgotten");
}

#[tokio::test]
async fn a_claim_without_the_stores_labels_is_never_deleted() {
    let gateway = gateway_with_nodes(
        r#"[{"id":"photos-0","live":true},
            {"id":"photos-1","live":false,"drain":{"state":"drained","blobsLeft":0}}]"#,
        "{}",
    )
    .await;
    let store = scaled_store(1, &["photos-1"]);
    let claim_path = core_path("persistentvolumeclaims", "data-photos-1");
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(1)];
    script.extend(applies_before_sts());
    script.extend([
        Expect::patch(sts_path()),
        Expect::get(claim_path).respond(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-photos-1", "namespace": "team-a", "uid": "someone-elses"},
        })),
        event(),
        event(),
        status_patch(stowage_path("objectstores", Some("photos/status")), &store),
    ]);
    let verifier = server.run(script);

    reconcile(store.into(), context(client, Some(&gateway.url)))
        .await
        .expect("reconciled");
    let seen = verifier.await.expect("script: no DELETE of the claim");

    assert_eq!(reason(&seen[10]), "GatewayRemoved");
    let note = seen[10].body["note"].as_str().expect("note");
    assert!(note.contains("left its volume claim data-photos-1"), "{note}");
    assert_eq!(
        gateway.lines()[1],
        "DELETE /_stowage/admin/v1/nodes/photos-1",
        "the drained registration is forgotten all the same"
    );
}

#[tokio::test]
async fn without_the_nodes_api_a_pending_scale_down_keeps_the_statefulset_and_says_why() {
    let gateway = FakeStore::start(|c| match c.target.as_str() {
        "/_stowage/ready" => (200, "ready".into()),
        _ => (503, crate::fixtures::fake_store::s3_error("SlowDown")),
    })
    .await;
    let store = scaled_store(2, &[]);
    let (client, server) = api_server::client();
    let mut script = vec![get_admin_secret(), get_master_key_secret(), get_sts(3)];
    script.extend(applies_before_sts());
    script.extend([
        Expect::patch(sts_path()),
        event(),
        status_patch(stowage_path("objectstores", Some("photos/status")), &store),
    ]);
    let verifier = server.run(script);

    let action = reconcile(store.into(), context(client, Some(&gateway.url)))
        .await
        .expect("not an error of the reconcile: the store is otherwise fine");
    let seen = verifier.await.expect("script");

    assert_eq!(sts_replicas(&seen[8]), 3);
    assert_eq!(
        (reason(&seen[9]), event_type(&seen[9])),
        ("StoreUnreachable", "Warning")
    );
    let draining = seen[10].condition("Draining");
    assert_eq!(
        (&draining["status"], &draining["reason"]),
        (&json!("True"), &json!("StoreUnreachable"))
    );
    let message = draining["message"].as_str().expect("message");
    assert!(
        message
            .starts_with("cannot drain photos-2 for the scale-down from 3 to 2: store answered 503 SlowDown")
            && message.ends_with("the StatefulSet stays at 3"),
        "{message}"
    );
    assert_eq!(seen[10].ready()["status"], "True", "readiness is another matter");
    assert_eq!(
        action,
        Action::requeue(crate::controller::objectstore::DRAIN_RECHECK)
    );
}
