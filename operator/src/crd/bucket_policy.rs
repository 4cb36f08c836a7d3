//! `BucketPolicy`: statements of a bucket access policy in a Kubernetes-friendly shape (the seed
//! 004 shape: effect, principals, actions, resources, conditions), rendered as AWS policy JSON.
//! All BucketPolicies of one bucket make up its single S3 policy document.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LocalRef;

pub const MAX_STATEMENTS: u32 = 100;

/// Access policy statements for a Bucket of the same namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "stowage.dev",
    version = "v1alpha1",
    kind = "BucketPolicy",
    doc = "Access policy statements for a bucket (see spec).",
    namespaced,
    status = "BucketPolicyStatus",
    shortname = "bpol",
    category = "stowage",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Bucket","type":"string","jsonPath":".status.bucketName"}"#,
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".status.store"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BucketPolicySpec {
    /// The Bucket the statements apply to.
    pub bucket_ref: LocalRef,

    /// The statements. Statement ids must be unique across all policies of the bucket.
    #[schemars(length(min = 1, max = MAX_STATEMENTS))]
    pub statements: Vec<PolicyStatement>,
}

/// One statement: who (principals) may or may not (effect) do what (actions) to which objects
/// (resources), under which conditions.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatement {
    /// Statement id (`Sid`); defaults to `<policy name>-<index>` with non-alphanumerics removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = "^[A-Za-z0-9]+$"))]
    pub sid: Option<String>,

    pub effect: Effect,

    /// `*` for everyone, or user names / ARNs (`arn:aws:iam::<org>:user/<name>`).
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 256)))]
    #[x_kube(validation = Rule::new("!self.exists(p, p == '*') || size(self) == 1").message("'*' stands alone in principals"))]
    pub principals: Vec<String>,

    /// S3 actions such as `s3:GetObject`, with `*` and `?` wildcards, or `*` for all.
    #[schemars(length(min = 1, max = 100), inner(regex(pattern = "^(\\*|s3:[A-Za-z*?]+)$")))]
    pub actions: Vec<String>,

    /// Object key patterns in the bucket (`*`, `logs/*`), or full ARNs (`arn:aws:s3:::<bucket>`
    /// for the bucket itself). Unset means the bucket and every object in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 1024)))]
    pub resources: Option<Vec<String>>,

    /// Conditions, all of which must hold (AWS `Condition`); one entry per operator and key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["operator", "key"]))]
    pub conditions: Vec<PolicyCondition>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// `operator` applied to `key` against `values`, e.g. `StringEquals` `cw:PrincipalOrgID` `[my-org]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCondition {
    /// A condition operator: String*, Numeric*, Date*, Bool, IpAddress, NotIpAddress, Null, with an
    /// optional `ForAnyValue:`/`ForAllValues:` prefix and `IfExists` suffix.
    #[schemars(regex(
        pattern = "^(ForAnyValue:|ForAllValues:)?(StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase|StringLike|StringNotLike|NumericEquals|NumericNotEquals|NumericLessThan|NumericLessThanEquals|NumericGreaterThan|NumericGreaterThanEquals|DateEquals|DateNotEquals|DateLessThan|DateLessThanEquals|DateGreaterThan|DateGreaterThanEquals|Bool|IpAddress|NotIpAddress|Null)(IfExists)?$"
    ))]
    pub operator: String,

    /// The condition key, e.g. `aws:SourceIp`, `s3:prefix`, `cw:PrincipalOrgID`.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = "^[A-Za-z0-9]+:[A-Za-z0-9_./-]+$")
    )]
    pub key: String,

    #[schemars(length(min = 1, max = 100), inner(length(max = 1024)))]
    pub values: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The bucket the statements were applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,

    /// The ObjectStore holding the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}
