//! A store's master key: the key every access-key secret is sealed under (and, with encryption
//! at rest, every data key). Unlike everything else the operator makes, it is never regenerated
//! over a store that has data, and it outlives the `ObjectStore`.
//!
//! It lives in its own Secret, `<store>-master-key`, apart from the root credentials of
//! `<store>-admin` (deleting that one rotates them and nothing else). The Secret carries no
//! ownerReference: the gateways' volumes are kept when a store is deleted (StatefulSet claims
//! are), and a store re-created over them needs the key they were sealed under. The store's
//! status records the key's fingerprint once the operator has handed it to gateways; from then
//! on a missing Secret or a key with another fingerprint is refused (`MasterKeyMissing`,
//! `MasterKeyMismatch`) instead of being replaced: a regenerated key opens none of the store's
//! secrets.
//!
//! Rotation is asked for in the Secret: the new key in `master.key`, the store's in
//! `previous.key`. It runs in two rollouts, so that no gateway ever meets a secret sealed under a
//! key it lacks: first every gateway gets the new key as an extra key while still sealing with
//! the old one (`status.masterKeyStaged` names it); once that rollout is complete, they seal with
//! the new one, keep the old as the extra, re-seal as they start, and the fingerprint moves to the
//! new key. `previous.key` can go after that.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::common_labels;
use crate::crd::ObjectStore;

/// The key the gateways seal under.
pub const MASTER_KEY: &str = "master.key";
/// During a rotation, the key being replaced: still accepted, so secrets sealed under it open.
pub const PREVIOUS_KEY: &str = "previous.key";
/// The master key is 32 random bytes (AES-256), base64-encoded.
pub const MASTER_KEY_BYTES: usize = 32;
/// The `app.kubernetes.io/component` of the Secret.
pub const COMPONENT: &str = "master-key";

pub fn secret_name(store: &str) -> String {
    format!("{store}-master-key")
}

/// What the gateways are given.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    /// Base64, as stored in the Secret.
    pub key: String,
    pub previous: Option<String>,
    /// The Secret must be written (a fresh key, or one adopted from the admin Secret of an
    /// older release); an existing Secret is left as the administrator keeps it.
    pub write: bool,
    /// First half of a rotation: the gateways still seal with `previous`, `key` is their extra.
    pub staging: bool,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("fingerprint", &fingerprint(&self.key))
            .field("rotating", &self.previous.is_some())
            .field("staging", &self.staging)
            .field("write", &self.write)
            .finish()
    }
}

impl MasterKey {
    /// The file (of the Secret) the gateways seal with.
    pub fn sealing_file(&self) -> &'static str {
        if self.staging { PREVIOUS_KEY } else { MASTER_KEY }
    }

    /// The file the gateways also accept keys from, during and after a rotation.
    pub fn extra_file(&self) -> Option<&'static str> {
        match (&self.previous, self.staging) {
            (None, _) => None,
            (Some(_), true) => Some(MASTER_KEY),
            (Some(_), false) => Some(PREVIOUS_KEY),
        }
    }

    /// The fingerprint of the key the gateways seal with: what the status records.
    pub fn fingerprint(&self) -> String {
        match (&self.previous, self.staging) {
            (Some(previous), true) => fingerprint(previous),
            _ => fingerprint(&self.key),
        }
    }

    /// During the first half of a rotation, the fingerprint of the key being staged.
    pub fn staged(&self) -> Option<String> {
        self.staging.then(|| fingerprint(&self.key))
    }
}

/// What the status and the StatefulSet say of a rotation under way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation<'a> {
    /// `status.masterKeyStaged`: the key the gateways were given as an extra key.
    pub staged: Option<&'a str>,
    /// Every gateway runs the StatefulSet's current template and is ready.
    pub rolled_out: bool,
}

/// Every replica runs the StatefulSet's latest template and is ready.
pub fn rolled_out(sts: &StatefulSet) -> bool {
    let Some(status) = &sts.status else {
        return false;
    };
    let replicas = sts.spec.replicas.unwrap_or(1);
    status.observed_generation.is_some()
        && status.observed_generation >= sts.metadata.generation
        && status.updated_replicas == Some(replicas)
        && status.ready_replicas == Some(replicas)
        && status.update_revision.is_some()
        && status.current_revision == status.update_revision
}

/// Why the operator will not hand a key to the gateways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The store has a key (its fingerprint is recorded) and the Secret holding it is gone.
    Missing { recorded: String },
    /// The Secret holds a key that is not the store's, and not a rotation from it.
    Mismatch { recorded: String, found: String },
    /// `master.key` is not base64 of 32 bytes.
    Malformed(String),
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing { .. } => "MasterKeyMissing",
            Refusal::Mismatch { .. } => "MasterKeyMismatch",
            Refusal::Malformed(_) => "MasterKeyMalformed",
        }
    }

    pub fn message(&self, secret: &str) -> String {
        match self {
            Refusal::Missing { recorded } => format!(
                "Secret {secret} with the store's master key (fingerprint {recorded}) is gone; a new key would open none of the store's secrets, so none is generated: restore the Secret from a backup"
            ),
            Refusal::Mismatch { recorded, found } => format!(
                "Secret {secret} holds a master key with fingerprint {found}, not the store's {recorded}; to rotate, put the store's key in {PREVIOUS_KEY} and the new one in {MASTER_KEY}"
            ),
            Refusal::Malformed(why) => format!("Secret {secret}: {why}"),
        }
    }
}

/// A short, non-reversible name for a key (a SHA-256 prefix of its bytes under a label), safe to
/// show in a status: the key is 256 random bits.
pub fn fingerprint(key_base64: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"stowage master key fingerprint\0");
    hasher.update(key_base64.trim().as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

pub fn generate() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; MASTER_KEY_BYTES]>())
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn well_formed(key: &str, name: &str) -> Result<(), Refusal> {
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == MASTER_KEY_BYTES => Ok(()),
        _ => Err(Refusal::Malformed(format!(
            "{name} must be base64 of {MASTER_KEY_BYTES} bytes (openssl rand -base64 {MASTER_KEY_BYTES})"
        ))),
    }
}

/// Decides the key from the store's Secret (`existing`), the admin Secret of a release that kept
/// the key there (`legacy_admin`), the fingerprint the store's status recorded, the state of a
/// rotation, and a `fresh` key used only for a store that never had one.
pub fn plan(
    existing: Option<&Secret>,
    legacy_admin: Option<&Secret>,
    recorded: Option<&str>,
    rotation: Rotation<'_>,
    fresh: String,
) -> Result<MasterKey, Refusal> {
    let (key, previous, write) = match existing.and_then(|s| value(s, MASTER_KEY)) {
        Some(key) => (key, existing.and_then(|s| value(s, PREVIOUS_KEY)), false),
        None => match legacy_admin.and_then(|s| value(s, MASTER_KEY)) {
            Some(key) => (key, None, true),
            None => match recorded {
                Some(recorded) => {
                    return Err(Refusal::Missing {
                        recorded: recorded.to_owned(),
                    });
                }
                None => (fresh, None, true),
            },
        },
    };
    well_formed(&key, MASTER_KEY)?;
    if let Some(previous) = &previous {
        well_formed(previous, PREVIOUS_KEY)?;
    }
    let found = fingerprint(&key);
    let staging = match recorded {
        None => false,
        Some(recorded) if recorded == found => false,
        // A rotation: staged until every gateway holds the new key.
        Some(recorded) if previous.as_deref().map(fingerprint).as_deref() == Some(recorded) => {
            !(rotation.staged == Some(found.as_str()) && rotation.rolled_out)
        }
        Some(recorded) => {
            return Err(Refusal::Mismatch {
                recorded: recorded.to_owned(),
                found,
            });
        }
    };
    Ok(MasterKey {
        key,
        previous,
        write,
        staging,
    })
}

/// The Secret as the operator writes it: labelled as the store's, with no ownerReference (see
/// the module comment).
pub fn secret(store: &ObjectStore, key: &MasterKey) -> Secret {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    let mut data = BTreeMap::from([(MASTER_KEY.to_owned(), bytes(&key.key))]);
    if let Some(previous) = &key.previous {
        data.insert(PREVIOUS_KEY.to_owned(), bytes(previous));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&store.name_any())),
            namespace: store.namespace(),
            labels: Some(common_labels(&store.name_any(), COMPONENT)),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_with(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    const NONE: Rotation<'static> = Rotation {
        staged: None,
        rolled_out: false,
    };

    fn key(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; MASTER_KEY_BYTES])
    }

    #[test]
    fn a_new_store_gets_a_fresh_key_written() {
        let planned = plan(None, None, None, NONE, key(1)).unwrap();
        assert_eq!(
            (planned.key, planned.previous, planned.write),
            (key(1), None, true)
        );
    }

    #[test]
    fn an_existing_secret_is_used_as_it_is_and_not_rewritten() {
        let existing = secret_with(&[(MASTER_KEY, &key(2))]);
        let recorded = fingerprint(&key(2));
        let planned = plan(Some(&existing), None, Some(&recorded), NONE, key(1)).unwrap();
        assert_eq!((planned.key, planned.write), (key(2), false));
    }

    #[test]
    fn the_key_an_older_release_kept_in_the_admin_secret_is_adopted() {
        let admin = secret_with(&[(MASTER_KEY, &key(3)), ("STOWAGE_ROOT_ACCESS_KEY_ID", "AK")]);
        let planned = plan(None, Some(&admin), Some(&fingerprint(&key(3))), NONE, key(1)).unwrap();
        assert_eq!((planned.key, planned.write), (key(3), true));
        // An upgraded store has no fingerprint recorded yet: adopted all the same.
        assert_eq!(plan(None, Some(&admin), None, NONE, key(1)).unwrap().key, key(3));
    }

    #[test]
    fn a_store_that_had_a_key_never_gets_a_new_one() {
        let recorded = fingerprint(&key(2));
        assert_eq!(
            plan(None, None, Some(&recorded), NONE, key(1)),
            Err(Refusal::Missing {
                recorded: recorded.clone()
            })
        );
        let replaced = secret_with(&[(MASTER_KEY, &key(9))]);
        assert_eq!(
            plan(Some(&replaced), None, Some(&recorded), NONE, key(1)),
            Err(Refusal::Mismatch {
                recorded,
                found: fingerprint(&key(9))
            })
        );
    }

    #[test]
    fn a_rotation_stages_the_new_key_then_seals_with_it_once_every_gateway_has_it() {
        let recorded = fingerprint(&key(2));
        let rotating = secret_with(&[(MASTER_KEY, &key(5)), (PREVIOUS_KEY, &key(2))]);

        // Asked: the gateways get the new key as an extra one, still sealing with the store's.
        let staged = plan(Some(&rotating), None, Some(&recorded), NONE, key(1)).unwrap();
        assert_eq!(
            (
                staged.sealing_file(),
                staged.extra_file(),
                staged.fingerprint(),
                staged.staged()
            ),
            (
                PREVIOUS_KEY,
                Some(MASTER_KEY),
                recorded.clone(),
                Some(fingerprint(&key(5)))
            )
        );

        // Staged, but the rollout is not complete: still staging.
        let waiting = Rotation {
            staged: Some(&fingerprint(&key(5))),
            rolled_out: false,
        };
        assert!(
            plan(Some(&rotating), None, Some(&recorded), waiting, key(1))
                .unwrap()
                .staging
        );

        // Every gateway holds it: seal with it, the old key as the extra one.
        let done = Rotation {
            staged: Some(&fingerprint(&key(5))),
            rolled_out: true,
        };
        let sealing = plan(Some(&rotating), None, Some(&recorded), done, key(1)).unwrap();
        assert_eq!(
            (
                sealing.sealing_file(),
                sealing.extra_file(),
                sealing.fingerprint(),
                sealing.staged()
            ),
            (MASTER_KEY, Some(PREVIOUS_KEY), fingerprint(&key(5)), None)
        );

        // A different key staged before (the administrator changed their mind): staged afresh.
        let other = Rotation {
            staged: Some(&fingerprint(&key(6))),
            rolled_out: true,
        };
        assert!(
            plan(Some(&rotating), None, Some(&recorded), other, key(1))
                .unwrap()
                .staging
        );

        // Once the new fingerprint is recorded, previous.key may stay or go.
        let recorded = fingerprint(&key(5));
        assert!(
            !plan(Some(&rotating), None, Some(&recorded), NONE, key(1))
                .unwrap()
                .staging
        );
        let after = secret_with(&[(MASTER_KEY, &key(5))]);
        let plain = plan(Some(&after), None, Some(&recorded), NONE, key(1)).unwrap();
        assert_eq!((plain.sealing_file(), plain.extra_file()), (MASTER_KEY, None));
    }

    #[test]
    fn a_key_that_is_not_32_bytes_of_base64_is_refused() {
        let bad = secret_with(&[(MASTER_KEY, "not a key")]);
        assert!(matches!(
            plan(Some(&bad), None, None, NONE, key(1)),
            Err(Refusal::Malformed(_))
        ));
        let short = secret_with(&[(MASTER_KEY, &key(2)), (PREVIOUS_KEY, "c2hvcnQ=")]);
        assert!(matches!(
            plan(Some(&short), None, None, NONE, key(1)),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn the_fingerprint_is_stable_short_and_not_the_key() {
        assert_eq!(fingerprint(&key(2)), fingerprint(&format!("{}\n", key(2))));
        assert_ne!(fingerprint(&key(2)), fingerprint(&key(3)));
        assert_eq!(fingerprint(&key(2)).len(), 16);
    }
}
