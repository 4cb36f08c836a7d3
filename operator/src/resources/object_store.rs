//! ObjectStore -> the Kubernetes objects that run it: a StatefulSet of gateways with one volume
//! each, a Service (the S3 endpoint), a headless Service (stable pod names), a ConfigMap (gateway
//! settings), a Secret (root credentials and peer secret, generated once), the master key's Secret
//! (see [`super::master_key`]) and a PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, KeyToPath, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile, Secret,
    SecretKeySelector, SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::common_labels;
use super::master_key::{self, MasterKey};
use super::store_tls::{self, ServingTls};
use crate::crd::object_store::GATEWAY_PORT;
use crate::crd::{MetaBackend, ObjectStore};

pub const COMPONENT: &str = "gateway";
pub const CONTAINER: &str = "gateway";
/// The port's name, used by probes and the Services' `targetPort`.
pub const PORT_NAME: &str = "s3";
/// The volume claim template's name; pods get claims `data-<store>-<ordinal>`.
pub const DATA_VOLUME: &str = "data";
/// Where the volume is mounted: object bytes and (embedded backend) metadata.
pub const DATA_DIR: &str = "/var/lib/stowage";
pub const TIKV_TLS_VOLUME: &str = "tikv-tls";
pub const TIKV_TLS_DIR: &str = "/etc/stowage/tikv-tls";
pub const READY_PATH: &str = "/_stowage/ready";
pub const HEALTH_PATH: &str = "/_stowage/health";
/// Keys of the admin Secret: the gateway reads its root credentials from these variables.
pub const ROOT_ACCESS_KEY_ID: &str = "STOWAGE_ROOT_ACCESS_KEY_ID";
pub const ROOT_SECRET_ACCESS_KEY: &str = "STOWAGE_ROOT_SECRET_ACCESS_KEY";
/// Where the master key's Secret is mounted; every gateway of a store uses the same key.
pub const MASTER_KEY_VOLUME: &str = "master-key";
pub const MASTER_KEY_DIR: &str = "/etc/stowage/master-key";
/// Key of the admin Secret holding the store-internal secret that signs gateway-to-gateway
/// requests. Its own key (rather than one derived from the master key) so it can be rotated
/// without re-sealing anything; every gateway of the store mounts the same one.
pub const PEER_SECRET: &str = "peer-secret";
pub const PEER_SECRET_VOLUME: &str = "peer-secret";
pub const PEER_SECRET_DIR: &str = "/etc/stowage/peer-secret";
/// The peer secret is 32 random bytes (an HMAC-SHA256 key), base64-encoded.
pub const PEER_SECRET_BYTES: usize = 32;
/// The variable the pod's own name is in, for `$(POD_NAME)` expansion in the others.
pub const POD_NAME_ENV: &str = "POD_NAME";
/// Pod template annotation that changes whenever the ConfigMap or the admin Secret does, so
/// gateways restart to read them (env from a Secret is read once, at start).
pub const CONFIG_HASH_ANNOTATION: &str = "stowage.dev/config-hash";
/// The distroless `nonroot` user of the image.
pub const RUN_AS_USER: i64 = 65532;

/// Everything the operator owns for one store, ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Owned {
    pub admin_secret: Secret,
    /// Only when the key is new to the cluster (fresh, or adopted from an older release's admin
    /// Secret); an existing master key Secret is the administrator's.
    pub master_key_secret: Option<Secret>,
    pub config_map: ConfigMap,
    pub service: Service,
    pub headless_service: Service,
    pub stateful_set: StatefulSet,
    pub pod_disruption_budget: PodDisruptionBudget,
}

/// Root credentials for a store's gateways.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .filter(|v| !v.is_empty())
}

fn random_alphanumeric(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl AdminCredentials {
    /// Reads the credentials from an admin Secret, if it holds both keys.
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        Some(Self {
            access_key_id: secret_value(secret, ROOT_ACCESS_KEY_ID)?,
            secret_access_key: secret_value(secret, ROOT_SECRET_ACCESS_KEY)?,
        })
    }

    /// Fresh random credentials: a 20-character key id and a 40-character secret, like AWS's.
    pub fn generate() -> Self {
        Self {
            access_key_id: format!("STW{}", random_alphanumeric(17).to_ascii_uppercase()),
            secret_access_key: random_alphanumeric(40),
        }
    }
}

/// What the admin Secret holds: root credentials and the peer secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSecretData {
    pub credentials: AdminCredentials,
    /// Base64 of [`PEER_SECRET_BYTES`] random bytes.
    pub peer_secret: String,
}

impl std::fmt::Debug for AdminSecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSecretData")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl AdminSecretData {
    pub fn generate() -> Self {
        use base64::Engine;
        Self {
            credentials: AdminCredentials::generate(),
            peer_secret: base64::engine::general_purpose::STANDARD
                .encode(rand::random::<[u8; PEER_SECRET_BYTES]>()),
        }
    }

    /// What is in `existing` is kept; only what is missing comes from `fresh`. (Changing any of
    /// it would lock the operator out or split the gateways into groups that refuse each other's
    /// peer requests.)
    pub fn keep_existing(existing: Option<&Secret>, fresh: Self) -> Self {
        Self {
            credentials: existing
                .and_then(AdminCredentials::from_secret)
                .unwrap_or(fresh.credentials),
            peer_secret: existing
                .and_then(|s| secret_value(s, PEER_SECRET))
                .unwrap_or(fresh.peer_secret),
        }
    }
}

pub fn admin_secret_name(store: &str) -> String {
    format!("{store}-admin")
}

pub fn config_map_name(store: &str) -> String {
    format!("{store}-config")
}

pub fn headless_service_name(store: &str) -> String {
    format!("{store}-headless")
}

/// The Service's in-cluster DNS name.
pub fn service_host(store: &ObjectStore) -> String {
    format!(
        "{}.{}.svc",
        store.name_any(),
        store.namespace().unwrap_or_default()
    )
}

/// The in-cluster S3 endpoint (`https` for a store with TLS).
pub fn endpoint(store: &ObjectStore) -> String {
    format!(
        "{}://{}:{}",
        store_tls::scheme(store),
        service_host(store),
        store.spec.service.port
    )
}

/// Labels that select a store's gateway pods.
pub fn selector_labels(store: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "stowage".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), store.to_owned()),
        ("app.kubernetes.io/component".to_owned(), COMPONENT.to_owned()),
    ])
}

/// The `--meta` argument: `embedded`, or `tikv://<pd endpoints>/<namespace>_<name>` (the key
/// prefix keeps stores sharing one TiKV apart; `_` appears in neither a namespace nor a name, so
/// no two stores get the same prefix, as `-` would allow: `a-b`/`c` and `a`/`b-c`).
pub fn meta_url(store: &ObjectStore) -> String {
    match (&store.spec.meta.backend, &store.spec.meta.tikv) {
        (MetaBackend::Tikv, Some(tikv)) => format!(
            "tikv://{}/{}_{}",
            tikv.pd_endpoints.join(","),
            store.namespace().unwrap_or_default(),
            store.name_any()
        ),
        // The schema requires `tikv` with backend tikv; without it there is nothing to point at.
        _ => "embedded".to_owned(),
    }
}

/// Everything a store owns. `existing_admin` is the admin Secret as it is in the cluster (what
/// it holds is kept); `fresh` fills in only what it lacks; `tls` is what the store's TLS Secret
/// holds, for a store with `spec.tls`.
pub fn owned(
    store: &ObjectStore,
    default_image: &str,
    existing_admin: Option<&Secret>,
    fresh: AdminSecretData,
    master_key: &MasterKey,
    tls: Option<&ServingTls>,
) -> Owned {
    let admin = AdminSecretData::keep_existing(existing_admin, fresh);
    let config_map = config_map(store);
    let hash = config_hash(&config_map, &admin, master_key);
    Owned {
        admin_secret: admin_secret(store, &admin),
        master_key_secret: master_key
            .write
            .then(|| super::master_key::secret(store, master_key)),
        stateful_set: stateful_set(store, default_image, &hash, master_key, tls),
        config_map,
        service: service(store),
        headless_service: headless_service(store),
        pod_disruption_budget: pod_disruption_budget(store),
    }
}

fn metadata(store: &ObjectStore, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: store.namespace(),
        labels: Some(common_labels(&store.name_any(), COMPONENT)),
        owner_references: Some(owner_reference(store).into_iter().collect()),
        ..ObjectMeta::default()
    }
}

fn owner_reference(store: &ObjectStore) -> Option<OwnerReference> {
    super::owner_reference(store)
}

pub fn admin_secret(store: &ObjectStore, admin: &AdminSecretData) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    let data = BTreeMap::from([
        (
            ROOT_ACCESS_KEY_ID.to_owned(),
            bytes(&admin.credentials.access_key_id),
        ),
        (
            ROOT_SECRET_ACCESS_KEY.to_owned(),
            bytes(&admin.credentials.secret_access_key),
        ),
        (PEER_SECRET.to_owned(), bytes(&admin.peer_secret)),
    ]);
    Secret {
        metadata: metadata(store, admin_secret_name(&store.name_any())),
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Gateway settings that are not secret and not part of the command line.
pub fn config_map(store: &ObjectStore) -> ConfigMap {
    let mut data = BTreeMap::from([
        ("STOWAGE_REGION".to_owned(), store.spec.region.clone()),
        ("STOWAGE_LOG_FORMAT".to_owned(), "json".to_owned()),
        (
            "STOWAGE_SSE_S3_DEFAULT".to_owned(),
            store.spec.encryption.default_sse.to_string(),
        ),
    ]);
    if let Some(domain) = &store.spec.domain {
        data.insert("STOWAGE_DOMAIN".to_owned(), domain.clone());
    }
    ConfigMap {
        metadata: metadata(store, config_map_name(&store.name_any())),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// A short digest of the ConfigMap's data and the Secrets' contents (digested, so the
/// annotation reveals nothing of them).
pub fn config_hash(config_map: &ConfigMap, admin: &AdminSecretData, master_key: &MasterKey) -> String {
    let mut hasher = Sha256::new();
    let no_previous = String::new();
    let sealing = master_key.sealing_file().to_owned();
    let admin_entries = [
        (ROOT_ACCESS_KEY_ID, &admin.credentials.access_key_id),
        (ROOT_SECRET_ACCESS_KEY, &admin.credentials.secret_access_key),
        (master_key::MASTER_KEY, &master_key.key),
        (
            master_key::PREVIOUS_KEY,
            master_key.previous.as_ref().unwrap_or(&no_previous),
        ),
        ("sealing", &sealing),
        (PEER_SECRET, &admin.peer_secret),
    ];
    let entries = config_map
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v))
        .chain(admin_entries);
    for (key, value) in entries {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

fn s3_port(store: &ObjectStore) -> ServicePort {
    ServicePort {
        name: Some(PORT_NAME.to_owned()),
        port: GATEWAY_PORT,
        target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
        protocol: Some("TCP".to_owned()),
        // Tells ingress controllers and meshes to speak TLS to the gateways.
        app_protocol: store_tls::enabled(store).then(|| "https".to_owned()),
        ..ServicePort::default()
    }
}

pub fn service(store: &ObjectStore) -> Service {
    let mut meta = metadata(store, store.name_any());
    if !store.spec.service.annotations.is_empty() {
        meta.annotations = Some(store.spec.service.annotations.clone());
    }
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some(store.spec.service.type_.as_str().to_owned()),
            selector: Some(selector_labels(&store.name_any())),
            ports: Some(vec![ServicePort {
                port: store.spec.service.port,
                ..s3_port(store)
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Gives each gateway a stable DNS name; lists pods before they are ready, so gateways can find
/// each other while starting.
pub fn headless_service(store: &ObjectStore) -> Service {
    Service {
        metadata: metadata(store, headless_service_name(&store.name_any())),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&store.name_any())),
            ports: Some(vec![s3_port(store)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// One voluntary disruption at a time (and never zero allowed, which would block node drains of
/// a single-gateway store).
pub fn pod_disruption_budget(store: &ObjectStore) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: metadata(store, store.name_any()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&store.name_any())),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// The gateway's command line after the binary: `serve` and the flags that locate its data and
/// its TLS files.
pub fn gateway_args(store: &ObjectStore, tls: Option<&ServingTls>) -> Vec<String> {
    let mut args = vec![
        "serve".to_owned(),
        "--listen".to_owned(),
        format!("0.0.0.0:{GATEWAY_PORT}"),
        "--data-dir".to_owned(),
        DATA_DIR.to_owned(),
        "--meta".to_owned(),
        meta_url(store),
    ];
    if tikv_tls_secret(store).is_some() {
        for (flag, file) in [
            ("--tikv-ca", "ca.crt"),
            ("--tikv-cert", "tls.crt"),
            ("--tikv-key", "tls.key"),
        ] {
            args.push(flag.to_owned());
            args.push(format!("{TIKV_TLS_DIR}/{file}"));
        }
    }
    if store_tls::enabled(store) {
        // Before its Secret is read, a store's CA is unknown: the gateways' default trust applies.
        let unread = ServingTls { ca_pem: None };
        args.extend(store_tls::gateway_args(tls.unwrap_or(&unread)));
    }
    args
}

fn tikv_tls_secret(store: &ObjectStore) -> Option<&str> {
    match store.spec.meta.backend {
        MetaBackend::Tikv => store.spec.meta.tikv.as_ref()?.tls_secret_name.as_deref(),
        MetaBackend::Embedded => None,
    }
}

fn secret_env(name: &str, secret: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: name.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn value_env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        ..EnvVar::default()
    }
}

/// The pod's own name, from the downward API.
fn pod_name_env(name: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The URL the store's other gateways reach this pod at: its stable name under the headless
/// Service. `$(POD_NAME)` is expanded by the kubelet from the variable defined before it.
pub fn peer_url(store: &ObjectStore) -> String {
    format!(
        "{}://$({POD_NAME_ENV}).{}.{}.svc:{GATEWAY_PORT}",
        store_tls::scheme(store),
        headless_service_name(&store.name_any()),
        store.namespace().unwrap_or_default()
    )
}

/// The gateway's environment: root credentials, key files, and who it is among its peers (the
/// node id is the pod name, stable across restarts of a StatefulSet pod, so blob locations
/// recorded in the metadata stay valid).
pub fn gateway_env(store: &ObjectStore, master_key: &MasterKey) -> Vec<EnvVar> {
    let admin = admin_secret_name(&store.name_any());
    let mut env = vec![
        secret_env(ROOT_ACCESS_KEY_ID, &admin),
        secret_env(ROOT_SECRET_ACCESS_KEY, &admin),
        value_env(
            "STOWAGE_MASTER_KEY_FILE",
            format!("{MASTER_KEY_DIR}/{}", master_key.sealing_file()),
        ),
        pod_name_env(POD_NAME_ENV),
        pod_name_env("STOWAGE_NODE_ID"),
        value_env("STOWAGE_PEER_URL", peer_url(store)),
        value_env(
            "STOWAGE_PEER_SECRET_FILE",
            format!("{PEER_SECRET_DIR}/{PEER_SECRET}"),
        ),
        value_env("STOWAGE_BLOB_COPIES", store.spec.blob_copies.to_string()),
    ];
    if let Some(extra) = master_key.extra_file() {
        // A rotation (resources::master_key): opened with either key; what only the extra one
        // opens is re-sealed as the gateway starts.
        env.push(value_env(
            "STOWAGE_EXTRA_MASTER_KEY_FILES",
            format!("{MASTER_KEY_DIR}/{extra}"),
        ));
    }
    env
}

fn secret_file_volume(volume: &str, secret: &str, keys: &[&str]) -> Volume {
    Volume {
        name: volume.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            items: Some(
                keys.iter()
                    .map(|key| KeyToPath {
                        key: (*key).to_owned(),
                        path: (*key).to_owned(),
                        // Owner and group (the pod's fsGroup): the gateway runs as neither root
                        // nor the owner.
                        mode: Some(0o440),
                        user: None,
                    })
                    .collect(),
            ),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A probe of `path` on the S3 port, over TLS when the store has it (the kubelet does not
/// verify the certificate).
fn http_probe(store: &ObjectStore, path: &str, period: i32, failures: i32) -> Probe {
    let scheme = if store_tls::enabled(store) {
        "HTTPS"
    } else {
        "HTTP"
    };
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(PORT_NAME.to_owned()),
            scheme: Some(scheme.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

pub fn gateway_container(
    store: &ObjectStore,
    default_image: &str,
    master_key: &MasterKey,
    tls: Option<&ServingTls>,
) -> Container {
    let name = store.name_any();
    let mut volume_mounts = vec![
        VolumeMount {
            name: DATA_VOLUME.to_owned(),
            mount_path: DATA_DIR.to_owned(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: MASTER_KEY_VOLUME.to_owned(),
            mount_path: MASTER_KEY_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: PEER_SECRET_VOLUME.to_owned(),
            mount_path: PEER_SECRET_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ];
    if tikv_tls_secret(store).is_some() {
        volume_mounts.push(VolumeMount {
            name: TIKV_TLS_VOLUME.to_owned(),
            mount_path: TIKV_TLS_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    volume_mounts.extend(store_tls::volume_mount(store));
    Container {
        name: CONTAINER.to_owned(),
        image: Some(
            store
                .spec
                .image
                .clone()
                .unwrap_or_else(|| default_image.to_owned()),
        ),
        image_pull_policy: store.spec.image_pull_policy.map(|p| p.as_str().to_owned()),
        args: Some(gateway_args(store, tls)),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(&name),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        }]),
        env: Some(gateway_env(store, master_key)),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_owned()),
            container_port: GATEWAY_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(http_probe(store, READY_PATH, 5, 3)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..http_probe(store, HEALTH_PATH, 10, 3)
        }),
        resources: store.spec.resources.clone(),
        volume_mounts: Some(volume_mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// The gateways; `config_hash` (of the ConfigMap and admin Secret) goes on the pod template.
pub fn stateful_set(
    store: &ObjectStore,
    default_image: &str,
    config_hash: &str,
    master_key: &MasterKey,
    tls: Option<&ServingTls>,
) -> StatefulSet {
    let name = store.name_any();
    let selector = selector_labels(&name);
    let mut pod_labels = common_labels(&name, COMPONENT);
    pod_labels.extend(selector.clone());
    let key_files: &[&str] = if master_key.previous.is_some() {
        &[master_key::MASTER_KEY, master_key::PREVIOUS_KEY]
    } else {
        &[master_key::MASTER_KEY]
    };
    let mut volumes = vec![
        secret_file_volume(MASTER_KEY_VOLUME, &master_key::secret_name(&name), key_files),
        secret_file_volume(PEER_SECRET_VOLUME, &admin_secret_name(&name), &[PEER_SECRET]),
    ];
    if let Some(secret) = tikv_tls_secret(store) {
        volumes.push(Volume {
            name: TIKV_TLS_VOLUME.to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_owned()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes.extend(store_tls::volume(store));
    StatefulSet {
        metadata: metadata(store, name.clone()),
        spec: StatefulSetSpec {
            replicas: Some(store.spec.replicas),
            service_name: Some(headless_service_name(&name)),
            // Gateways do not depend on each other's start order.
            pod_management_policy: Some("Parallel".to_owned()),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![gateway_container(store, default_image, master_key, tls)],
                    volumes: Some(volumes),
                    // The gateway drains in-flight requests on SIGTERM.
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_USER),
                        run_as_group: Some(RUN_AS_USER),
                        fs_group: Some(RUN_AS_USER),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![volume_claim_template(store)]),
            // A volume may hold the only copy of a blob: the StatefulSet controller never deletes
            // one. The operator deletes a leaving gateway's claim itself, once that gateway is
            // drained and gone (`super::scale_down`).
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Retain".to_owned()),
                when_scaled: Some("Retain".to_owned()),
            }),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    }
}

fn volume_claim_template(store: &ObjectStore) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.to_owned()),
            labels: Some(common_labels(&store.name_any(), COMPONENT)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: store.spec.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(store.spec.storage.size.0.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::crd::{MetaBackend, TikvSpec};
    use crate::fixtures;

    fn fresh() -> AdminSecretData {
        AdminSecretData {
            credentials: AdminCredentials {
                access_key_id: "AKFRESH".into(),
                secret_access_key: "SKFRESH".into(),
            },
            peer_secret: "PSFRESH".into(),
        }
    }

    /// The store's master key (base64 of 32 bytes of 7).
    fn key() -> MasterKey {
        MasterKey {
            key: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".into(),
            previous: None,
            write: true,
            staging: false,
        }
    }

    fn to_json(v: &impl serde::Serialize) -> Value {
        serde_json::to_value(v).expect("serializes")
    }

    fn labels() -> Value {
        json!({
            "app.kubernetes.io/component": "gateway",
            "app.kubernetes.io/instance": "photos",
            "app.kubernetes.io/managed-by": "stowage-operator",
            "app.kubernetes.io/name": "stowage",
        })
    }

    fn selector() -> Value {
        json!({
            "app.kubernetes.io/component": "gateway",
            "app.kubernetes.io/instance": "photos",
            "app.kubernetes.io/name": "stowage",
        })
    }

    fn meta(name: &str) -> Value {
        json!({
            "name": name,
            "namespace": "team-a",
            "labels": labels(),
            "ownerReferences": [{
                "apiVersion": "stowage.dev/v1alpha1",
                "kind": "ObjectStore",
                "name": "photos",
                "uid": "uid-store",
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        })
    }

    fn tikv_store() -> ObjectStore {
        let mut store = fixtures::store("photos");
        store.spec.replicas = 3;
        store.spec.meta.backend = MetaBackend::Tikv;
        store.spec.meta.tikv = Some(TikvSpec {
            pd_endpoints: vec!["pd-0.pd:2379".into(), "pd-1.pd:2379".into()],
            tls_secret_name: Some("tikv-client".into()),
        });
        store
    }

    #[test]
    fn admin_secret_holds_generated_credentials_and_peer_secret() {
        let owned = owned(&fixtures::store("photos"), "img:1", None, fresh(), &key(), None);
        assert_eq!(
            to_json(&owned.admin_secret),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta("photos-admin"),
                "type": "Opaque",
                "data": {
                    // base64 of AKFRESH, SKFRESH, PSFRESH
                    "STOWAGE_ROOT_ACCESS_KEY_ID": "QUtGUkVTSA==",
                    "STOWAGE_ROOT_SECRET_ACCESS_KEY": "U0tGUkVTSA==",
                    "peer-secret": "UFNGUkVTSA==",
                },
            })
        );
    }

    #[test]
    fn the_pod_template_carries_the_hash_of_config_and_admin_secret() {
        let owned = owned(&fixtures::store("photos"), "img:1", None, fresh(), &key(), None);
        let annotations = owned
            .stateful_set
            .spec
            .template
            .metadata
            .and_then(|m| m.annotations);
        assert_eq!(
            annotations.and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned()),
            Some(config_hash(&owned.config_map, &fresh(), &key()))
        );
    }

    #[test]
    fn admin_secret_keeps_what_exists_and_fills_in_what_is_missing() {
        let store = fixtures::store("photos");
        let mut existing = admin_secret(
            &store,
            &AdminSecretData {
                credentials: AdminCredentials {
                    access_key_id: "AKOLD".into(),
                    secret_access_key: "SKOLD".into(),
                },
                peer_secret: "PSOLD".into(),
            },
        );
        let kept = owned(&store, "img:1", Some(&existing), fresh(), &key(), None).admin_secret;
        assert_eq!(kept, existing);

        existing.data.as_mut().expect("data").remove(PEER_SECRET);
        let filled = owned(&store, "img:1", Some(&existing), fresh(), &key(), None).admin_secret;
        let data = filled.data.expect("data");
        assert_eq!(data[ROOT_ACCESS_KEY_ID].0, b"AKOLD");
        assert_eq!(data[ROOT_SECRET_ACCESS_KEY].0, b"SKOLD");
        assert_eq!(data[PEER_SECRET].0, b"PSFRESH");
    }

    #[test]
    fn generated_credentials_are_random_and_shaped_like_aws_keys() {
        let (a, b) = (AdminSecretData::generate(), AdminSecretData::generate());
        assert_ne!(a.credentials, b.credentials);
        assert_eq!(a.credentials.access_key_id.len(), 20);
        assert!(a.credentials.access_key_id.starts_with("STW"));
        assert_eq!(a.credentials.secret_access_key.len(), 40);
        use base64::Engine;
        assert_ne!(a.peer_secret, b.peer_secret);
        let peer = base64::engine::general_purpose::STANDARD
            .decode(&a.peer_secret)
            .expect("base64");
        assert_eq!(peer.len(), PEER_SECRET_BYTES);
    }

    #[test]
    fn config_map_carries_region_domain_and_log_format() {
        let mut store = fixtures::store("photos");
        store.spec.region = "eu-west-3".into();
        store.spec.domain = Some("s3.example.com".into());
        store.spec.encryption.default_sse = false;
        assert_eq!(
            to_json(&config_map(&store)),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta("photos-config"),
                "data": {
                    "STOWAGE_REGION": "eu-west-3",
                    "STOWAGE_DOMAIN": "s3.example.com",
                    "STOWAGE_LOG_FORMAT": "json",
                    "STOWAGE_SSE_S3_DEFAULT": "false",
                },
            })
        );
    }

    #[test]
    fn config_hash_follows_the_config_map() {
        let mut store = fixtures::store("photos");
        let before = config_hash(&config_map(&store), &fresh(), &key());
        assert_eq!(before, config_hash(&config_map(&store), &fresh(), &key()));
        store.spec.region = "eu-west-3".into();
        assert_ne!(before, config_hash(&config_map(&store), &fresh(), &key()));
        store.spec.region = "us-east-1".into();
        let mut rotated = fresh();
        rotated.credentials.secret_access_key = "SKOTHER".into();
        assert_ne!(
            before,
            config_hash(&config_map(&store), &rotated, &key()),
            "new admin credentials restart gateways"
        );
        let mut new_peer_secret = fresh();
        new_peer_secret.peer_secret = "PSOTHER".into();
        assert_ne!(
            before,
            config_hash(&config_map(&store), &new_peer_secret, &key()),
            "a new peer secret restarts gateways"
        );
        let mut rotating = key();
        rotating.previous = Some(rotating.key.clone());
        rotating.key = "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg=".into();
        assert_ne!(
            before,
            config_hash(&config_map(&store), &fresh(), &rotating),
            "a master key rotation restarts gateways"
        );
        assert_eq!(before, config_hash(&config_map(&store), &fresh(), &key()));
        assert_eq!(before.len(), 16);
    }

    #[test]
    fn a_rotation_mounts_both_keys_and_names_the_sealing_one_and_the_extra_one() {
        let store = fixtures::store("photos");
        let env_of = |key: &MasterKey| {
            let sts = to_json(&stateful_set(&store, "img:1", "h4sh", key, None));
            let env = sts["spec"]["template"]["spec"]["containers"][0]["env"].clone();
            let value = |name: &str| {
                env.as_array()
                    .expect("env")
                    .iter()
                    .find(|e| e["name"] == name)
                    .map(|e| e["value"].as_str().expect("value").to_owned())
            };
            (
                value("STOWAGE_MASTER_KEY_FILE"),
                value("STOWAGE_EXTRA_MASTER_KEY_FILES"),
                sts["spec"]["template"]["spec"]["volumes"][0].clone(),
            )
        };
        let mut staging = key();
        staging.previous = Some(staging.key.clone());
        staging.staging = true;
        let (sealing, extra, volume) = env_of(&staging);
        assert_eq!(
            (sealing.as_deref(), extra.as_deref()),
            (
                Some("/etc/stowage/master-key/previous.key"),
                Some("/etc/stowage/master-key/master.key")
            ),
            "first rollout: every gateway gets the new key before any seals with it"
        );
        assert_eq!(
            volume,
            json!({"name": "master-key", "secret": {"secretName": "photos-master-key", "items": [
                {"key": "master.key", "path": "master.key", "mode": 0o440},
                {"key": "previous.key", "path": "previous.key", "mode": 0o440},
            ]}})
        );
        let sealing_phase = MasterKey {
            staging: false,
            ..staging
        };
        let (sealing, extra, _) = env_of(&sealing_phase);
        assert_eq!(
            (sealing.as_deref(), extra.as_deref()),
            (
                Some("/etc/stowage/master-key/master.key"),
                Some("/etc/stowage/master-key/previous.key")
            )
        );
        let (sealing, extra, _) = env_of(&key());
        assert_eq!(
            (sealing.as_deref(), extra),
            (Some("/etc/stowage/master-key/master.key"), None)
        );
    }

    #[test]
    fn a_new_master_key_is_written_to_its_own_secret_without_an_owner() {
        let store = fixtures::store("photos");
        let written = owned(&store, "img:1", None, fresh(), &key(), None).master_key_secret;
        let secret = to_json(&written.expect("a fresh key is written"));
        assert_eq!(secret["metadata"]["name"], "photos-master-key");
        assert_eq!(secret["metadata"]["ownerReferences"], Value::Null);
        assert_eq!(
            secret["metadata"]["labels"]["app.kubernetes.io/component"],
            "master-key"
        );
        use base64::Engine;
        let stored = base64::engine::general_purpose::STANDARD.encode(key().key.as_bytes());
        assert_eq!(secret["data"]["master.key"], json!(stored));
        let kept = MasterKey {
            write: false,
            ..key()
        };
        assert!(
            owned(&store, "img:1", None, fresh(), &kept, None)
                .master_key_secret
                .is_none()
        );
    }

    #[test]
    fn service_is_the_s3_endpoint_with_type_port_and_annotations() {
        let mut store = fixtures::store("photos");
        store.spec.service.type_ = crate::crd::ServiceType::LoadBalancer;
        store.spec.service.port = 443;
        store.spec.service.annotations = BTreeMap::from([("lb.example/internal".into(), "true".into())]);
        let mut expected_meta = meta("photos");
        expected_meta["annotations"] = json!({"lb.example/internal": "true"});
        assert_eq!(
            to_json(&service(&store)),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": expected_meta,
                "spec": {
                    "type": "LoadBalancer",
                    "selector": selector(),
                    "ports": [{"name": "s3", "port": 443, "targetPort": "s3", "protocol": "TCP"}],
                },
            })
        );
        assert_eq!(endpoint(&store), "http://photos.team-a.svc:443");
        assert_eq!(service_host(&store), "photos.team-a.svc");
    }

    #[test]
    fn headless_service_publishes_pods_before_they_are_ready() {
        assert_eq!(
            to_json(&headless_service(&fixtures::store("photos"))),
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta("photos-headless"),
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": true,
                    "selector": selector(),
                    "ports": [{"name": "s3", "port": 9000, "targetPort": "s3", "protocol": "TCP"}],
                },
            })
        );
    }

    #[test]
    fn pod_disruption_budget_allows_one_gateway_down() {
        assert_eq!(
            to_json(&pod_disruption_budget(&fixtures::store("photos"))),
            json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta("photos"),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector()}},
            })
        );
    }

    #[test]
    fn embedded_store_runs_one_gateway_on_its_volume() {
        let mut store = fixtures::store("photos");
        store.spec.image_pull_policy = Some(crate::crd::object_store::PullPolicy::IfNotPresent);
        store.spec.storage.storage_class_name = Some("fast".into());
        store.spec.storage.size = Quantity("50Gi".into());
        store.spec.resources =
            Some(serde_json::from_value(json!({"limits": {"memory": "1Gi"}})).expect("valid"));
        let secret_env = |name: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "photos-admin", "key": name, "optional": false}}});
        assert_eq!(
            to_json(&stateful_set(&store, "img:1", "h4sh", &key(), None)),
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": meta("photos"),
                "spec": {
                    "replicas": 1,
                    "serviceName": "photos-headless",
                    "podManagementPolicy": "Parallel",
                    "selector": {"matchLabels": selector()},
                    "template": {
                        "metadata": {
                            "labels": labels(),
                            "annotations": {"stowage.dev/config-hash": "h4sh"},
                        },
                        "spec": {
                            "terminationGracePeriodSeconds": 30,
                            "securityContext": {
                                "runAsNonRoot": true,
                                "runAsUser": 65532,
                                "runAsGroup": 65532,
                                "fsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [{
                                "name": "gateway",
                                "image": "img:1",
                                "imagePullPolicy": "IfNotPresent",
                                "args": ["serve", "--listen", "0.0.0.0:9000", "--data-dir", "/var/lib/stowage", "--meta", "embedded"],
                                "envFrom": [{"configMapRef": {"name": "photos-config", "optional": false}}],
                                "env": [
                                    secret_env("STOWAGE_ROOT_ACCESS_KEY_ID"),
                                    secret_env("STOWAGE_ROOT_SECRET_ACCESS_KEY"),
                                    {"name": "STOWAGE_MASTER_KEY_FILE", "value": "/etc/stowage/master-key/master.key"},
                                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                    {"name": "STOWAGE_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                    {"name": "STOWAGE_PEER_URL", "value": "http://$(POD_NAME).photos-headless.team-a.svc:9000"},
                                    {"name": "STOWAGE_PEER_SECRET_FILE", "value": "/etc/stowage/peer-secret/peer-secret"},
                                    {"name": "STOWAGE_BLOB_COPIES", "value": "1"},
                                ],
                                "ports": [{"name": "s3", "containerPort": 9000, "protocol": "TCP"}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/_stowage/ready", "port": "s3", "scheme": "HTTP"},
                                    "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3,
                                },
                                "livenessProbe": {
                                    "httpGet": {"path": "/_stowage/health", "port": "s3", "scheme": "HTTP"},
                                    "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3,
                                },
                                "resources": {"limits": {"memory": "1Gi"}},
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/stowage"},
                                    {"name": "master-key", "mountPath": "/etc/stowage/master-key", "readOnly": true},
                                    {"name": "peer-secret", "mountPath": "/etc/stowage/peer-secret", "readOnly": true},
                                ],
                                "securityContext": {
                                    "allowPrivilegeEscalation": false,
                                    "readOnlyRootFilesystem": true,
                                    "runAsNonRoot": true,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }],
                            "volumes": [
                                {
                                    "name": "master-key",
                                    "secret": {
                                        "secretName": "photos-master-key",
                                        "items": [{"key": "master.key", "path": "master.key", "mode": 0o440}],
                                    },
                                },
                                {
                                    "name": "peer-secret",
                                    "secret": {
                                        "secretName": "photos-admin",
                                        "items": [{"key": "peer-secret", "path": "peer-secret", "mode": 0o440}],
                                    },
                                },
                            ],
                        },
                    },
                    "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                    "volumeClaimTemplates": [{
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data", "labels": labels()},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "fast",
                            "resources": {"requests": {"storage": "50Gi"}},
                        },
                    }],
                },
            })
        );
    }

    #[test]
    fn tikv_store_points_every_gateway_at_pd_with_its_own_prefix_and_tls() {
        let store = tikv_store();
        assert_eq!(meta_url(&store), "tikv://pd-0.pd:2379,pd-1.pd:2379/team-a_photos");
        assert_eq!(
            gateway_args(&store, None),
            [
                "serve",
                "--listen",
                "0.0.0.0:9000",
                "--data-dir",
                "/var/lib/stowage",
                "--meta",
                "tikv://pd-0.pd:2379,pd-1.pd:2379/team-a_photos",
                "--tikv-ca",
                "/etc/stowage/tikv-tls/ca.crt",
                "--tikv-cert",
                "/etc/stowage/tikv-tls/tls.crt",
                "--tikv-key",
                "/etc/stowage/tikv-tls/tls.key",
            ]
        );
        let sts = to_json(&stateful_set(&store, "img:1", "h4sh", &key(), None));
        assert_eq!(sts["spec"]["replicas"], 3);
        let pod = &sts["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][2],
            json!({"name": "tikv-tls", "secret": {"secretName": "tikv-client"}})
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][3],
            json!({"name": "tikv-tls", "mountPath": "/etc/stowage/tikv-tls", "readOnly": true})
        );
    }

    #[test]
    fn tikv_without_tls_passes_no_tls_flags() {
        let mut store = tikv_store();
        store.spec.meta.tikv.as_mut().expect("tikv").tls_secret_name = None;
        let args = gateway_args(&store, None);
        assert!(!args.iter().any(|a| a.starts_with("--tikv")), "{args:?}");
        let sts = to_json(&stateful_set(&store, "img:1", "h4sh", &key(), None));
        assert_eq!(
            sts["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn gateways_of_a_tikv_store_find_each_other_and_keep_the_asked_copies() {
        let mut store = tikv_store();
        store.spec.blob_copies = 2;
        let env = to_json(&gateway_env(&store, &key()));
        let value = |name: &str| {
            env.as_array()
                .and_then(|vars| vars.iter().find(|v| v["name"] == name))
                .cloned()
                .unwrap_or_else(|| panic!("{name} is set"))
        };
        assert_eq!(value("STOWAGE_BLOB_COPIES")["value"], "2");
        assert_eq!(
            value("STOWAGE_PEER_URL")["value"],
            "http://$(POD_NAME).photos-headless.team-a.svc:9000"
        );
        assert_eq!(
            value("STOWAGE_NODE_ID")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        // The kubelet expands $(POD_NAME) only from a variable defined earlier in the list.
        let position = |name: &str| {
            env.as_array()
                .and_then(|vars| vars.iter().position(|v| v["name"] == name))
                .expect("set")
        };
        assert!(position("POD_NAME") < position("STOWAGE_PEER_URL"));
    }

    #[test]
    fn the_store_image_overrides_the_default() {
        let mut store = fixtures::store("photos");
        store.spec.image = Some("registry.example/gateway:dev".into());
        let container = gateway_container(&store, "img:1", &key(), None);
        assert_eq!(container.image.as_deref(), Some("registry.example/gateway:dev"));
        assert_eq!(container.image_pull_policy, None);
    }
}
