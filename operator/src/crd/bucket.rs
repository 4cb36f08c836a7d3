//! `Bucket`: a bucket in an ObjectStore, its versioning and tags, application credentials, and
//! what happens to its data when the resource is deleted.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LocalRef;

/// S3's limit on tags per bucket.
pub const MAX_TAGS: u32 = 50;

/// A bucket in an ObjectStore of the same namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "stowage.dev",
    version = "v1alpha1",
    kind = "Bucket",
    doc = "A bucket in an ObjectStore (see spec).",
    namespaced,
    status = "BucketStatus",
    shortname = "bkt",
    category = "stowage",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".status.bucketName"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.storeRef.name"}"#,
    printcolumn = r#"{"name":"Deletion","type":"string","jsonPath":".spec.deletionPolicy","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = crate::bucket_name::metadata_name_rules()[0].clone(),
    validation = crate::bucket_name::metadata_name_rules()[1].clone(),
    validation = crate::bucket_name::metadata_name_rules()[2].clone()
)]
#[x_kube(
    validation = Rule::new("has(self.bucketName) == has(oldSelf.bucketName)").message("bucketName is immutable"),
    validation = Rule::new("!self.forceDelete || self.deletionPolicy == 'Delete'").message("forceDelete only applies with deletionPolicy Delete")
)]
#[serde(rename_all = "camelCase")]
pub struct BucketSpec {
    /// The ObjectStore that holds the bucket. Immutable: a bucket does not move between stores.
    #[x_kube(validation = Rule::new("self == oldSelf").message("storeRef is immutable"))]
    pub store_ref: LocalRef,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bucket_name_schema")]
    pub bucket_name: Option<String>,

    /// Versioning of the bucket: `Enabled` or `Suspended`. Unset leaves a new bucket unversioned
    /// (a bucket that has been versioned can only be suspended, never unversioned again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,

    /// Bucket tags (PutBucketTagging); the bucket's tag set is exactly this.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = MAX_TAGS))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) >= 1 && size(k) <= 128 && size(self[k]) <= 256)")
        .message("tag keys are 1 to 128 characters, values at most 256"))]
    pub tags: BTreeMap<String, String>,

    /// What deleting this resource does to the bucket: `Retain` (default) keeps it and its data;
    /// `Delete` deletes it, but only once it is empty unless `forceDelete` is set.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// With `deletionPolicy: Delete`, empty a non-empty bucket (every object, version and delete
    /// marker, in batches) before deleting it.
    #[serde(default)]
    pub force_delete: bool,

    /// Issue an access key scoped to this bucket and write it, with the endpoint, into a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,
}

fn bucket_name_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = crate::bucket_name::schema(generator);
    let rules = schema
        .get_mut("x-kubernetes-validations")
        .and_then(|v| v.as_array_mut())
        .expect("bucket_name::schema has rules");
    rules.push(serde_json::json!({"rule": "self == oldSelf", "message": "bucketName is immutable"}));
    schema
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Versioning {
    Enabled,
    Suspended,
}

impl Versioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// Application credentials for the bucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// Name of the Secret to write (keys `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ENDPOINT_URL`, `AWS_REGION`, `BUCKET_NAME`, `BUCKET_HOST`, `BUCKET_PORT`); defaults to
    /// `<metadata.name>-credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub secret_name: Option<String>,

    /// What the key may do in the bucket.
    #[serde(default)]
    pub access: AccessMode,
}

/// The scope of an issued key (the admin API's `scope.access`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AccessMode {
    /// Reads and writes.
    #[default]
    ReadWrite,
    /// GetObject, HeadObject, List*, Get*.
    ReadOnly,
    /// PutObject, multipart, DeleteObject.
    WriteOnly,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::ReadWrite => "ReadWrite",
            AccessMode::ReadOnly => "ReadOnly",
            AccessMode::WriteOnly => "WriteOnly",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The bucket's name in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,

    /// The S3 endpoint of the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// The Secret holding the application credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,

    /// The access key id of the issued credentials (the secret key is only in the Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,

    /// The uid of the Bucket resource holding the claim on the bucket in the store: set when this
    /// resource wins it, cleared when it loses it. Deleting a Bucket deletes the bucket (with
    /// `deletionPolicy: Delete`) only when this is its own uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,

    /// Progress of emptying the bucket before deletion (`forceDelete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionProgress>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionProgress {
    /// Objects, versions and delete markers deleted so far.
    pub objects_deleted: i64,
    /// Incomplete multipart uploads aborted so far.
    #[serde(default)]
    pub uploads_aborted: i64,
    /// Batches (DeleteObjects, or aborts of uploads) sent so far.
    pub batches: i64,
}
