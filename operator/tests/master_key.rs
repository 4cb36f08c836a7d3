//! The master key on a real API server: generated once into its own Secret, untouched when the
//! admin Secret is deleted to rotate root credentials, never regenerated when its Secret is lost
//! (the store is refused until it is restored), rotated through `previous.key`, and kept when the
//! store is deleted (its volumes are kept too). Skipped with a notice without `KUBECONFIG`.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::cluster::{self, apply_sample, eventually};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operator::crd::ObjectStore;
use operator::resources::master_key::fingerprint;
use serde_json::json;

fn text(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

fn ready_reason(store: &ObjectStore) -> Option<String> {
    store
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.clone())
}

fn key_files(sts: &StatefulSet) -> Vec<String> {
    let volumes = sts
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.volumes.clone())
        .unwrap_or_default();
    volumes
        .iter()
        .find(|v| v.name == "master-key")
        .and_then(|v| v.secret.as_ref()?.items.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.key)
        .collect()
}

fn env(sts: &StatefulSet, name: &str) -> Option<String> {
    let pod = sts.spec.template.spec.as_ref()?;
    pod.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .clone()
}

#[tokio::test]
async fn the_master_key_survives_credential_rotation_its_own_loss_and_the_store() {
    let Some(client) = cluster::connect().await else {
        return;
    };
    let namespace = cluster::namespace(&client, "master-key").await;
    // No gateway runs (no kubelet): the store never turns Ready, which does not matter here.
    let operator = cluster::run_operator(&client, &namespace, "http://127.0.0.1:9").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let stores: Api<ObjectStore> = Api::namespaced(client.clone(), &namespace);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &namespace);
    apply_sample(&client, &namespace, "objectstore.yaml").await;

    // Generated once, in its own Secret, its fingerprint recorded.
    let key = eventually("the master key and its fingerprint", || {
        let (secrets, stores) = (secrets.clone(), stores.clone());
        async move {
            let key = text(&secrets.get_opt("demo-master-key").await.ok()??, "master.key")?;
            let recorded = stores.get("demo").await.ok()?.status?.master_key_fingerprint?;
            (recorded == fingerprint(&key)).then_some(key)
        }
    })
    .await;
    assert_eq!(B64.decode(&key).expect("base64").len(), 32);
    let admin = secrets.get("demo-admin").await.expect("admin Secret");
    assert_eq!(text(&admin, "master.key"), None, "the admin Secret holds no key");

    // Deleting the admin Secret rotates the root credentials, and nothing else.
    let old_root = text(&admin, "STOWAGE_ROOT_ACCESS_KEY_ID").expect("root key id");
    secrets
        .delete("demo-admin", &DeleteParams::default())
        .await
        .expect("delete admin");
    let new_root = eventually("new root credentials", || {
        let secrets = secrets.clone();
        let old_root = old_root.clone();
        async move {
            let root = text(
                &secrets.get_opt("demo-admin").await.ok()??,
                "STOWAGE_ROOT_ACCESS_KEY_ID",
            )?;
            (root != old_root).then_some(root)
        }
    })
    .await;
    assert!(new_root.starts_with("STW"));
    let kept = secrets.get("demo-master-key").await.expect("key Secret");
    assert_eq!(text(&kept, "master.key").as_deref(), Some(key.as_str()));

    // Losing the key's Secret: refused, not regenerated, the gateways left as they are.
    let template_before = sets.get("demo").await.expect("sts").spec.template;
    secrets
        .delete("demo-master-key", &DeleteParams::default())
        .await
        .expect("delete key");
    eventually("MasterKeyMissing", || {
        let stores = stores.clone();
        async move { (ready_reason(&stores.get("demo").await.ok()?)? == "MasterKeyMissing").then_some(()) }
    })
    .await;
    // Long enough for several reconciles (each Secret and store event triggers one).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        secrets.get_opt("demo-master-key").await.expect("get").is_none(),
        "not regenerated"
    );
    assert_eq!(
        sets.get("demo").await.expect("sts").spec.template,
        template_before
    );

    // Restored from a backup (as `kubectl get -o yaml` saved it, labels included): accepted.
    let mut restored = kept.clone();
    restored.metadata.resource_version = None;
    restored.metadata.uid = None;
    restored.metadata.creation_timestamp = None;
    restored.metadata.managed_fields = None;
    secrets
        .create(&PostParams::default(), &restored)
        .await
        .expect("restore");
    eventually("the restored key accepted", || {
        let stores = stores.clone();
        async move {
            let reason = ready_reason(&stores.get("demo").await.ok()?)?;
            (!reason.starts_with("MasterKey")).then_some(())
        }
    })
    .await;

    // Rotation: the new key in master.key, the store's in previous.key.
    let new_key = B64.encode(rand::random::<[u8; 32]>());
    let rotation = json!({"data": {
        "master.key": B64.encode(new_key.as_bytes()),
        "previous.key": B64.encode(key.as_bytes()),
    }});
    secrets
        .patch(
            "demo-master-key",
            &PatchParams::default(),
            &Patch::Merge(&rotation),
        )
        .await
        .expect("rotate");
    // First rollout: every gateway holds the new key, still sealing with the store's.
    eventually("the new key staged", || {
        let (sets, stores, new_key, key) = (sets.clone(), stores.clone(), new_key.clone(), key.clone());
        async move {
            let sts = sets.get("demo").await.ok()?;
            let status = stores.get("demo").await.ok()?.status?;
            (key_files(&sts) == ["master.key", "previous.key"]
                && env(&sts, "STOWAGE_MASTER_KEY_FILE")? == "/etc/stowage/master-key/previous.key"
                && env(&sts, "STOWAGE_EXTRA_MASTER_KEY_FILES")? == "/etc/stowage/master-key/master.key"
                && status.master_key_staged? == fingerprint(&new_key)
                && status.master_key_fingerprint? == fingerprint(&key))
            .then_some(())
        }
    })
    .await;
    // No kubelet runs the pods: report the rollout done as the StatefulSet controller would
    // (again each round, since the real one writes its own view back).
    eventually("sealing with the new key once every gateway has it", || {
        let (sets, stores, new_key) = (sets.clone(), stores.clone(), new_key.clone());
        async move {
            let sts = sets.get("demo").await.ok()?;
            let done = json!({"status": {
                "observedGeneration": sts.metadata.generation,
                "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                "currentRevision": "demo-1", "updateRevision": "demo-1",
            }});
            sets.patch_status("demo", &PatchParams::default(), &Patch::Merge(&done))
                .await
                .ok()?;
            let status = stores.get("demo").await.ok()?.status?;
            (env(&sts, "STOWAGE_MASTER_KEY_FILE")? == "/etc/stowage/master-key/master.key"
                && env(&sts, "STOWAGE_EXTRA_MASTER_KEY_FILES")? == "/etc/stowage/master-key/previous.key"
                && status.master_key_staged.is_none()
                && status.master_key_fingerprint? == fingerprint(&new_key))
            .then_some(())
        }
    })
    .await;

    // Deleting the store: what it owns goes, the key stays for the volumes it leaves behind.
    stores
        .delete("demo", &DeleteParams::default())
        .await
        .expect("delete store");
    eventually("the admin Secret collected", || {
        let secrets = secrets.clone();
        async move { secrets.get_opt("demo-admin").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let left = secrets
        .get("demo-master-key")
        .await
        .expect("the key Secret is kept");
    assert_eq!(text(&left, "master.key").as_deref(), Some(new_key.as_str()));

    operator.stop().await;
    cluster::delete_namespace(&client, &namespace).await;
}
