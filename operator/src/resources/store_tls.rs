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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use serde_json::{Value, json};

    use super::*;
    use crate::crd::TlsSpec;
    use crate::fixtures;
    use crate::resources::object_store::{endpoint, gateway_args, headless_service, service, stateful_set};

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn tls_store() -> ObjectStore {
        let mut store = fixtures::store("photos");
        store.spec.tls = Some(TlsSpec {
            secret_name: "photos-tls".into(),
        });
        store
    }

    fn secret(keys: &[(&str, &str)]) -> Secret {
        let mut secret = Secret {
            data: Some(
                keys.iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Secret::default()
        };
        secret.metadata.name = Some("photos-tls".into());
        secret
    }

    fn pod_of(store: &ObjectStore, tls: Option<&ServingTls>) -> Value {
        let key = crate::resources::master_key::MasterKey {
            key: "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=".into(),
            previous: None,
            write: false,
            staging: false,
        };
        serde_json::to_value(stateful_set(store, "img:1", "h4sh", &key, tls)).expect("json")["spec"]["template"]
            ["spec"]
            .clone()
    }

    #[test]
    fn the_secret_is_mounted_whole_and_served_with_its_ca_for_peers() {
        let store = tls_store();
        let tls = ServingTls {
            ca_pem: Some(CA.into()),
        };
        let pod = pod_of(&store, Some(&tls));
        let volumes = pod["volumes"].as_array().expect("volumes");
        assert_eq!(
            volumes.last(),
            Some(&json!({"name": "tls", "secret": {"secretName": "photos-tls", "defaultMode": 0o440}}))
        );
        let container = &pod["containers"][0];
        let mounts = container["volumeMounts"].as_array().expect("mounts");
        assert_eq!(
            mounts.last(),
            Some(&json!({"name": "tls", "mountPath": "/etc/stowage/tls", "readOnly": true}))
        );
        let args = gateway_args(&store, Some(&tls));
        assert_eq!(
            args[args.len() - 6..],
            [
                "--tls-cert",
                "/etc/stowage/tls/tls.crt",
                "--tls-key",
                "/etc/stowage/tls/tls.key",
                "--tls-ca",
                "/etc/stowage/tls/ca.crt",
            ]
        );
        assert_eq!(container["args"], json!(args));
    }

    #[test]
    fn without_a_ca_the_gateways_keep_their_default_peer_trust() {
        let store = tls_store();
        let args = gateway_args(&store, Some(&ServingTls { ca_pem: None }));
        assert!(args.ends_with(&[
            "--tls-cert".to_owned(),
            "/etc/stowage/tls/tls.crt".to_owned(),
            "--tls-key".to_owned(),
            "/etc/stowage/tls/tls.key".to_owned(),
        ]));
        assert!(!args.contains(&"--tls-ca".to_owned()), "{args:?}");
    }

    #[test]
    fn probes_peers_and_the_endpoint_use_https() {
        let store = tls_store();
        let pod = pod_of(&store, None);
        let container = &pod["containers"][0];
        assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
        assert_eq!(container["livenessProbe"]["httpGet"]["scheme"], "HTTPS");
        let peer_url = container["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == "STOWAGE_PEER_URL")
            .expect("peer url")["value"]
            .clone();
        assert_eq!(peer_url, "https://$(POD_NAME).photos-headless.team-a.svc:9000");
        assert_eq!(endpoint(&store), "https://photos.team-a.svc:9000");
        for svc in [service(&store), headless_service(&store)] {
            let port = &serde_json::to_value(svc).expect("json")["spec"]["ports"][0];
            assert_eq!(port["appProtocol"], "https");
        }
    }

    #[test]
    fn a_store_without_tls_stays_plain() {
        let store = fixtures::store("photos");
        let pod = pod_of(&store, None);
        let container = &pod["containers"][0];
        assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTP");
        assert!(!gateway_args(&store, None).iter().any(|a| a.starts_with("--tls")));
        assert_eq!(endpoint(&store), "http://photos.team-a.svc:9000");
        let port = &serde_json::to_value(service(&store)).expect("json")["spec"]["ports"][0];
        assert_eq!(port.get("appProtocol"), None);
    }

    #[test]
    fn the_secret_must_hold_a_certificate_and_its_key() {
        assert_eq!(
            ServingTls::from_secret(&secret(&[("tls.crt", "c"), ("tls.key", "k"), ("ca.crt", CA)])),
            Ok(ServingTls {
                ca_pem: Some(CA.into())
            })
        );
        assert_eq!(
            ServingTls::from_secret(&secret(&[("tls.crt", "c"), ("tls.key", "k")])),
            Ok(ServingTls { ca_pem: None })
        );
        assert_eq!(
            ServingTls::from_secret(&secret(&[("tls.crt", "c")])),
            Err("the TLS Secret \"photos-tls\" has no tls.key".to_owned())
        );
        assert_eq!(
            ServingTls::from_secret(&secret(&[("tls.key", "k"), ("tls.crt", "")])),
            Err("the TLS Secret \"photos-tls\" has no tls.crt".to_owned())
        );
    }
}
