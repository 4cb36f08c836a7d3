//! `LifecycleRule`: one rule of a bucket's lifecycle configuration. All rules of a bucket are
//! merged into the one PutBucketLifecycleConfiguration S3 allows per bucket.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LocalRef;

/// S3 caps a rule ID at 255 characters.
pub const MAX_RULE_ID: u32 = 255;
/// S3 keeps at most 100 newer noncurrent versions per rule.
pub const MAX_NEWER_NONCURRENT_VERSIONS: i32 = 100;

/// A lifecycle rule for a Bucket of the same namespace: which objects (filter) expire when.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "stowage.dev",
    version = "v1alpha1",
    kind = "LifecycleRule",
    doc = "A lifecycle rule of a bucket (see spec).",
    namespaced,
    status = "LifecycleRuleStatus",
    shortname = "lcr",
    category = "stowage",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".status.bucketName"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".status.store"}"#,
    printcolumn = r#"{"name":"Enabled","type":"boolean","jsonPath":".spec.enabled","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("has(self.expiration) || has(self.noncurrentVersionExpiration) || has(self.abortIncompleteMultipartUpload)")
        .message("a rule needs at least one action: expiration, noncurrentVersionExpiration or abortIncompleteMultipartUpload"),
    validation = Rule::new("!(has(self.filter) && has(self.filter.tags) && has(self.expiration) && has(self.expiration.expiredObjectDeleteMarker))")
        .message("expiration.expiredObjectDeleteMarker cannot be combined with a tag filter"),
    validation = Rule::new("!(has(self.filter) && has(self.filter.tags) && has(self.abortIncompleteMultipartUpload))")
        .message("abortIncompleteMultipartUpload cannot be combined with a tag filter")
)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleRuleSpec {
    /// The Bucket the rule applies to.
    pub bucket_ref: LocalRef,

    /// The rule's ID in the bucket's configuration; defaults to metadata.name. Unique per bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_RULE_ID))]
    pub id: Option<String>,

    /// `false` keeps the rule in the configuration with Status Disabled.
    #[serde(default = "enabled")]
    pub enabled: bool,

    /// Which objects the rule applies to; every object when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<LifecycleFilter>,

    /// When current objects expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,

    /// When noncurrent versions expire (versioned buckets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,

    /// When incomplete multipart uploads are aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
}

fn enabled() -> bool {
    true
}

/// All given criteria must match (S3's `And`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.objectSizeGreaterThan) || !has(self.objectSizeLessThan) || self.objectSizeGreaterThan < self.objectSizeLessThan")
    .message("objectSizeGreaterThan must be less than objectSizeLessThan"))]
#[serde(rename_all = "camelCase")]
pub struct LifecycleFilter {
    /// Key prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub prefix: Option<String>,

    /// Object tags, all of which must be present with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 10, "minProperties" = 1))]
    pub tags: Option<BTreeMap<String, String>>,

    /// Only objects larger than this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub object_size_greater_than: Option<i64>,

    /// Only objects smaller than this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub object_size_less_than: Option<i64>,
}

/// Exactly one of `days`, `date` and `expiredObjectDeleteMarker`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("(has(self.days) ? 1 : 0) + (has(self.date) ? 1 : 0) + (has(self.expiredObjectDeleteMarker) ? 1 : 0) == 1")
    .message("expiration takes exactly one of days, date and expiredObjectDeleteMarker"))]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    /// Days after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub days: Option<i32>,

    /// A date (`YYYY-MM-DD`, midnight UTC) from which objects expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"))]
    pub date: Option<String>,

    /// Remove delete markers that no longer hide any version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoncurrentVersionExpiration {
    /// Days after a version becomes noncurrent.
    #[schemars(range(min = 1))]
    pub noncurrent_days: i32,

    /// Keep this many newer noncurrent versions regardless of age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_NEWER_NONCURRENT_VERSIONS))]
    pub newer_noncurrent_versions: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortIncompleteMultipartUpload {
    /// Days after an upload was initiated.
    #[schemars(range(min = 1))]
    pub days_after_initiation: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleRuleStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The bucket the rule was applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,

    /// The ObjectStore holding the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,

    /// The rule's ID in the bucket's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}
