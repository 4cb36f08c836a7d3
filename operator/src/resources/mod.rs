//! Desired state as pure functions of the resources' specs: the Kubernetes objects an ObjectStore
//! owns, the S3 calls a Bucket needs, a bucket's policy document and its lifecycle configuration,
//! the steps of a scale-down.
//! Nothing here talks to a cluster or a store, so every field is tested without one.

pub mod bucket;
pub mod lifecycle;
pub mod master_key;
pub mod object_store;
pub mod policy;
pub mod scale_down;
pub mod store_tls;

use std::collections::BTreeMap;

/// The field manager of every server-side apply, and the `managed-by` label value.
pub const MANAGER: &str = "stowage-operator";

/// Labels every object the operator creates carries.
pub fn common_labels(instance: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "stowage".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), instance.to_owned()),
        ("app.kubernetes.io/component".to_owned(), component.to_owned()),
        ("app.kubernetes.io/managed-by".to_owned(), MANAGER.to_owned()),
    ])
}

/// The ownerReference of an object the operator makes for `owner`: the controller reference,
/// blocking the owner's foreground deletion until the object is gone (so `kubectl delete
/// --cascade=foreground` and GitOps tools that wait see the whole tree removed). Setting it needs
/// `update` on the owner's `finalizers` subresource (config/rbac).
pub fn owner_reference<K: kube::Resource<DynamicType = ()>>(
    owner: &K,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    let mut reference = owner.controller_owner_ref(&())?;
    reference.block_owner_deletion = Some(true);
    Some(reference)
}
