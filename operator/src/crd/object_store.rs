//! `ObjectStore`: a store of gateways (a StatefulSet with one volume each) and its metadata backend.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The gateway's S3 port inside the pod (and the Service port unless `service.port` says otherwise).
pub const GATEWAY_PORT: i32 = 9000;
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_STORAGE_SIZE: &str = "10Gi";
/// Gateways per store. TiKV carries the shared state; more gateways than this is a mistake.
pub const MAX_REPLICAS: i32 = 64;
/// Copies of each blob, on as many gateways: the gateway's `--blob-copies` accepts 1 to 3.
pub const MAX_BLOB_COPIES: i32 = 3;

/// An S3-compatible object store: gateways serving the S3 API, their volumes, and the metadata
/// backend they share.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "stowage.dev",
    version = "v1alpha1",
    kind = "ObjectStore",
    doc = "An S3-compatible object store of gateways (see spec).",
    namespaced,
    status = "ObjectStoreStatus",
    shortname = "ostore",
    category = "stowage",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready Replicas","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoint"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.meta.backend != 'embedded' || self.replicas == 1")
    .message("the embedded metadata backend serves exactly one gateway: set replicas to 1, or use meta.backend tikv")
    .field_path(".replicas"))]
#[x_kube(validation = Rule::new("self.blobCopies <= self.replicas")
    .message("blobCopies cannot exceed replicas: each copy of a blob lives on a different gateway")
    .field_path(".blobCopies"))]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    /// Number of gateways. More than one needs the `tikv` metadata backend. Lowering it drains
    /// the leaving gateways (the highest ordinals) before the StatefulSet goes down: see the
    /// `Draining` condition. At least 1: scaling to zero would leave the bytes nowhere.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = MAX_REPLICAS))]
    pub replicas: i32,

    /// Copies of each object's bytes, each on a different gateway (a write is acknowledged when
    /// all are durable; reads fail over between them). At most `replicas`.
    #[serde(default = "default_blob_copies")]
    #[schemars(range(min = 1, max = MAX_BLOB_COPIES))]
    pub blob_copies: i32,

    /// Gateway container image; defaults to the operator's `--gateway-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// Image pull policy of the gateway container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,

    /// CPU and memory for each gateway container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// The volume each gateway keeps object bytes on.
    #[serde(default)]
    pub storage: StorageSpec,

    /// Where object metadata lives.
    #[serde(default)]
    pub meta: MetaSpec,

    /// The region the store serves: the LocationConstraint of its buckets and the SigV4 scope.
    #[serde(default = "default_region")]
    #[schemars(length(min = 1, max = 32), regex(pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub region: String,

    /// Base domain for virtual-host-style addressing (`<bucket>.<domain>`); path style always works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
    )]
    pub domain: Option<String>,

    /// The Service that is the store's S3 endpoint.
    #[serde(default)]
    pub service: ServiceSpec,

    /// Encryption at rest.
    #[serde(default)]
    pub encryption: EncryptionSpec,

    /// TLS on the S3 endpoint and between the gateways; plain HTTP when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
}

/// The certificate the gateways serve.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// A `kubernetes.io/tls` Secret in the store's namespace (cert-manager's, for instance):
    /// `tls.crt` and `tls.key`, and `ca.crt` when a private CA issued them (gateways verify each
    /// other with it, and bucket credentials Secrets carry it). The certificate must name the
    /// Service (`<store>.<namespace>.svc`) and each gateway (`*.<store>-headless.<namespace>.svc`).
    /// Rotated in place without restarting the gateways.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// Encryption at rest: SSE-S3 (AES-256-GCM under per-object data keys wrapped by the store's
/// master key) for every write that asks for nothing else, as AWS does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionSpec {
    /// Seal writes that ask for no encryption (in buckets without default encryption) with
    /// SSE-S3. Turn off only for volumes encrypted otherwise; objects already stored stay
    /// readable either way.
    #[serde(default = "default_sse")]
    #[serde(rename = "defaultSSE")]
    pub default_sse: bool,
}

impl Default for EncryptionSpec {
    fn default() -> Self {
        Self { default_sse: true }
    }
}

fn default_sse() -> bool {
    true
}

fn default_replicas() -> i32 {
    1
}

fn default_blob_copies() -> i32 {
    1
}

fn default_region() -> String {
    DEFAULT_REGION.to_owned()
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// One PersistentVolumeClaim per gateway, from the StatefulSet's `volumeClaimTemplates`.
/// Immutable once the store exists (StatefulSets cannot change their claim templates).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self == oldSelf").message("storage is immutable: StatefulSets cannot change their volume claim templates"))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// StorageClass of the volumes; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,

    /// Size of each gateway's volume.
    #[serde(default = "default_size")]
    pub size: Quantity,
}

fn default_size() -> Quantity {
    Quantity(DEFAULT_STORAGE_SIZE.to_owned())
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            storage_class_name: None,
            size: default_size(),
        }
    }
}

/// The metadata backend of the gateways.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("self.backend != 'tikv' || has(self.tikv)").message("meta.backend tikv needs meta.tikv (PD endpoints)"),
    validation = Rule::new("self.backend == 'tikv' || !has(self.tikv)").message("meta.tikv is only used with meta.backend tikv")
)]
#[serde(rename_all = "camelCase")]
pub struct MetaSpec {
    /// `embedded` (on the gateway's own volume; one replica only) or `tikv` (shared by all gateways).
    #[serde(default)]
    pub backend: MetaBackend,

    /// The TiKV cluster, when `backend` is `tikv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tikv: Option<TikvSpec>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetaBackend {
    #[default]
    Embedded,
    Tikv,
}

/// A TiKV cluster reached through its placement drivers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TikvSpec {
    /// PD endpoints as `host:port`.
    #[schemars(
        length(min = 1, max = 16),
        inner(regex(pattern = "^[A-Za-z0-9.-]+:[0-9]{1,5}$"))
    )]
    pub pd_endpoints: Vec<String>,

    /// Secret with the client TLS material (`ca.crt`, `tls.crt`, `tls.key`), mounted into the
    /// gateways; plain connections when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub tls_secret_name: Option<String>,
}

/// The store's S3 endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,

    /// Port of the S3 endpoint on the Service.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// Annotations for the Service (load balancer settings, for instance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_port() -> i32 {
    GATEWAY_PORT
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::default(),
            port: default_port(),
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Gateways passing their readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,

    /// The in-cluster S3 endpoint, `http(s)://<service>.<namespace>.svc:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// The Secret with the store's admin (root) credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_secret: Option<String>,

    /// The fingerprint of the master key the gateways were given. Once recorded, the operator
    /// never generates another key for the store: a missing or different one is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_fingerprint: Option<String>,

    /// During a master key rotation, the fingerprint of the new key the gateways are being given
    /// as an extra key; they seal with it once every one of them has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_staged: Option<String>,

    /// Gateways the operator asked to drain for a scale-down, until they are removed (or their
    /// drain is cancelled because `replicas` went up again). A drain someone else asked for is
    /// not listed, and the operator never cancels it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaving_gateways: Vec<String>,
}
