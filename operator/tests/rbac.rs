//! The operator's RBAC from `config/rbac/` is all it needs: on a real API server (`KUBECONFIG`;
//! skipped with a notice without one), the operator runs as a ServiceAccount bound to exactly those
//! roles (a TokenRequest token, no cluster-admin), campaigns for its lease, and reconciles the
//! samples to Ready, owned objects with `blockOwnerDeletion` and finalizer removal included.
//! (Run the API server with the `OwnerReferencesPermissionEnforcement` admission plugin, as
//! `.ci/run` does, for `blockOwnerDeletion` to be checked against `*/finalizers`.)

mod common;

use common::cluster::{self, api_for, apply_sample, eventually};
use common::rbac::OperatorAccount;
use e2e::Gateway;
use kube::api::DeleteParams;

#[tokio::test]
async fn the_operator_needs_no_more_than_config_rbac() {
    let Some(admin) = cluster::connect().await else {
        return;
    };
    let Some(bin) = common::gateway_bin() else { return };
    let gateway = Gateway::start(&bin);
    let namespace = cluster::namespace(&admin, "rbac").await;
    let account = OperatorAccount::bind(&admin, &namespace).await;

    // The test's gateway credentials, put where the operator looks (by the admin, as a user would).
    cluster::admin_secret_for(&admin, &namespace, "demo", &gateway).await;
    let lease = operator::leader::LeaseConfig::new("stowage-operator", &namespace, "rbac-test");
    let operator =
        cluster::run_operator_with(&account.client, &namespace, &gateway.endpoint(), Some(lease)).await;
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
    account.unbind(&admin).await;
}
