//! A store's TLS (`spec.tls`): what its certificate Secret holds, where the gateways find it, and
//! the scheme everything that reaches the store uses.

use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource, Volume, VolumeMount};

use crate::crd::ObjectStore;

/// Keys of a `kubernetes.io/tls` Secret (cert-manager adds `ca.crt` when it knows the CA).
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";
pub const CA_KEY: &str = "ca.crt";
pub const VOLUME: &str = "tls";
/// Where the Secret is mounted: whole, as a directory, so the kubelet's in-place updates reach
/// the files (a `subPath` mount would freeze them) and the gateway reloads them.
pub const DIR: &str = "/etc/stowage/tls";

/// What the operator read from a store's TLS Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServingTls {
    /// The PEM CA bundle (`ca.crt`), when the Secret has one.
    pub ca_pem: Option<String>,
}

impl ServingTls {
    /// The Secret must hold a certificate and its key; `ca.crt` is optional.
    pub fn from_secret(secret: &Secret) -> Result<Self, String> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let value = |key: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .filter(|v| !v.0.is_empty())
        };
        for key in [CERT_KEY, KEY_KEY] {
            if value(key).is_none() {
                return Err(format!("the TLS Secret {name:?} has no {key}"));
            }
        }
        let ca_pem = match value(CA_KEY) {
            None => None,
            Some(bytes) => Some(
                String::from_utf8(bytes.0.clone())
                    .map_err(|_| format!("{CA_KEY} of the TLS Secret {name:?} is not PEM text"))?,
            ),
        };
        Ok(Self { ca_pem })
    }
}

/// Whether the store serves TLS.
pub fn enabled(store: &ObjectStore) -> bool {
    store.spec.tls.is_some()
}

/// `https` for a store with TLS, `http` otherwise.
pub fn scheme(store: &ObjectStore) -> &'static str {
    if enabled(store) { "https" } else { "http" }
}

/// The gateway flags that serve the mounted certificate and verify peers with its CA (without
/// one, the gateway's default trust applies: the system roots and its own chain).
pub fn gateway_args(tls: &ServingTls) -> Vec<String> {
    let mut args = vec![
        "--tls-cert".to_owned(),
        format!("{DIR}/{CERT_KEY}"),
        "--tls-key".to_owned(),
        format!("{DIR}/{KEY_KEY}"),
    ];
    if tls.ca_pem.is_some() {
        args.extend(["--tls-ca".to_owned(), format!("{DIR}/{CA_KEY}")]);
    }
    args
}

pub fn volume(store: &ObjectStore) -> Option<Volume> {
    let spec = store.spec.tls.as_ref()?;
    Some(Volume {
        name: VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(spec.secret_name.clone()),
            // Owner and group (the pod's fsGroup): the gateway runs as neither root nor the owner.
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    })
}

pub fn volume_mount(store: &ObjectStore) -> Option<VolumeMount> {
    enabled(store).then(|| VolumeMount {
        name: VOLUME.to_owned(),
        mount_path: DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
}
