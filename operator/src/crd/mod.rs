//! The custom resources of group `stowage.dev`, version `v1alpha1`: Rust types from which the
//! CustomResourceDefinitions in `crds/` are generated (`operator crds`). Validation lives in the
//! schema (patterns, enums, bounds, CEL rules), so the API server refuses a bad resource before
//! the operator ever sees it.

pub mod bucket;
pub mod bucket_policy;
pub mod lifecycle_rule;
pub mod object_store;

pub use bucket::{
    AccessMode, Bucket, BucketSpec, BucketStatus, CredentialsSpec, DeletionPolicy, DeletionProgress,
    Versioning,
};
pub use bucket_policy::{
    BucketPolicy, BucketPolicySpec, BucketPolicyStatus, Effect, PolicyCondition, PolicyStatement,
};
pub use lifecycle_rule::{
    AbortIncompleteMultipartUpload, Expiration, LifecycleFilter, LifecycleRule, LifecycleRuleSpec,
    LifecycleRuleStatus, NoncurrentVersionExpiration,
};
pub use object_store::{
    MetaBackend, MetaSpec, ObjectStore, ObjectStoreSpec, ObjectStoreStatus, ServiceSpec, ServiceType,
    StorageSpec, TikvSpec, TlsSpec,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every CRD of the operator, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        ObjectStore::crd(),
        Bucket::crd(),
        BucketPolicy::crd(),
        LifecycleRule::crd(),
    ]
}

/// A reference to another resource in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Name of the resource, in the namespace of the referring one.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The `Ready` condition's status (`"True"`, `"False"`, `"Unknown"`) if present.
pub fn ready_status(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == crate::conditions::READY)
        .map(|c| c.status.as_str())
}

/// Schema of a `conditions` list: a list-map keyed by `type`, so server-side apply merges by type.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema.insert(
        "description".into(),
        "Current state: `Ready` and, where a resource has more than one concern, one condition per \
         concern."
            .into(),
    );
    schema
}
