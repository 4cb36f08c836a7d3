//! Bucket -> the S3 calls that make the bucket in the store match its spec, and the Secret that
//! hands its credentials to applications.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::common_labels;
use crate::bucket_name::{BucketName, InvalidBucketName};
use crate::crd::{AccessMode, Bucket, Versioning};
use crate::store_client::admin::{AccessKey, IssuedKey, KeyScope};

pub const COMPONENT: &str = "bucket";

/// The keys of the credentials Secret, in the names AWS SDKs and Rook's ObjectBucketClaim use.
pub mod keys {
    pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    pub const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    pub const REGION: &str = "AWS_REGION";
    pub const BUCKET_NAME: &str = "BUCKET_NAME";
    pub const BUCKET_HOST: &str = "BUCKET_HOST";
    pub const BUCKET_PORT: &str = "BUCKET_PORT";
    /// The store's CA (PEM), for a store with TLS and a private CA: mount the Secret at
    /// [`super::CA_MOUNT_DIR`] and `AWS_CA_BUNDLE` points at it.
    pub const CA_CERT: &str = "ca.crt";
    /// The path AWS SDKs and the AWS CLI read a CA bundle from.
    pub const CA_BUNDLE: &str = "AWS_CA_BUNDLE";
}

/// Where applications mount the credentials Secret for `AWS_CA_BUNDLE` to find its `ca.crt`.
pub const CA_MOUNT_DIR: &str = "/var/run/secrets/stowage.dev/bucket";

/// Where applications reach a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreAddress {
    /// `http(s)://<host>:<port>`
    pub endpoint: String,
    pub host: String,
    pub port: i32,
    pub region: String,
    /// The PEM CA that issued the store's certificate, when it has TLS from a private CA.
    pub ca_pem: Option<String>,
}

impl StoreAddress {
    /// `ca_pem`: the store's CA (`ca.crt` of its TLS Secret), if any.
    pub fn of(store: &crate::crd::ObjectStore, ca_pem: Option<String>) -> Self {
        Self {
            endpoint: super::object_store::endpoint(store),
            host: super::object_store::service_host(store),
            port: store.spec.service.port,
            region: store.spec.region.clone(),
            ca_pem,
        }
    }
}

/// The bucket's name in the store: `spec.bucketName`, or else `metadata.name`.
pub fn bucket_name(bucket: &Bucket) -> Result<BucketName, InvalidBucketName> {
    BucketName::parse(bucket.spec.bucket_name.as_deref().unwrap_or(&bucket.name_any()))
}

/// What the store says about the bucket now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub exists: bool,
    /// `None`: never versioned.
    pub versioning: Option<Versioning>,
    pub tags: BTreeMap<String, String>,
}

/// One S3 call on the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketCall {
    /// CreateBucket with a LocationConstraint of the store's region.
    Create {
        location: String,
    },
    PutVersioning(Versioning),
    PutTagging(BTreeMap<String, String>),
    DeleteTagging,
}

/// The calls that take the bucket from `observed` to the spec, in order; none when it matches.
pub fn plan(bucket: &Bucket, region: &str, observed: &Observed) -> Vec<BucketCall> {
    let mut calls = Vec::new();
    if !observed.exists {
        calls.push(BucketCall::Create {
            location: region.to_owned(),
        });
    }
    // A bucket cannot go back to unversioned: without a desired state, leave it as it is.
    if let Some(desired) = bucket.spec.versioning
        && observed.versioning != Some(desired)
    {
        calls.push(BucketCall::PutVersioning(desired));
    }
    if bucket.spec.tags != observed.tags {
        calls.push(if bucket.spec.tags.is_empty() {
            BucketCall::DeleteTagging
        } else {
            BucketCall::PutTagging(bucket.spec.tags.clone())
        });
    }
    calls
}

/// The credentials Secret's name: `credentials.secretName` or `<metadata.name>-credentials`.
pub fn credentials_secret_name(bucket: &Bucket) -> Option<String> {
    let credentials = bucket.spec.credentials.as_ref()?;
    Some(
        credentials
            .secret_name
            .clone()
            .unwrap_or_else(|| format!("{}-credentials", bucket.name_any())),
    )
}

/// Identities the operator creates through the admin API. Admin API names are at most
/// [`MAX_NAME`] characters; a longer one keeps its start and ends in a digest of the whole.
/// Namespaces are DNS labels (no dots), so `<namespace>.<name>` is unambiguous.
fn bounded(full: String) -> String {
    if full.len() <= MAX_NAME {
        return full;
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(&Sha256::digest(full.as_bytes())[..4]);
    format!("{}-{digest}", &full[..MAX_NAME - digest.len() - 1])
}

/// The admin API's limit on user and org names.
pub const MAX_NAME: usize = 64;

/// The org that owns a store's buckets and their application users: `k8s.<namespace>.<store>`.
/// Not the root org: members of the root org may use the admin API, applications must not.
pub fn tenant_org(namespace: &str, store: &str) -> String {
    bounded(format!("k8s.{namespace}.{store}"))
}

/// The tenant-org user whose short-lived key creates a store's buckets (a bucket belongs to the
/// org of the key that created it): `store.<namespace>.<store>`.
pub fn creator_user(namespace: &str, store: &str) -> String {
    bounded(format!("store.{namespace}.{store}"))
}

/// The tenant-org user that owns a Bucket's application keys: `bucket.<namespace>.<name>`.
pub fn user_name(bucket: &Bucket) -> String {
    bounded(format!(
        "bucket.{}.{}",
        bucket.namespace().unwrap_or_default(),
        bucket.name_any()
    ))
}

/// The scope the bucket's key should have.
pub fn key_scope(bucket: &BucketName, access: AccessMode) -> KeyScope {
    KeyScope {
        bucket: bucket.as_str().to_owned(),
        access,
    }
}

/// The key in the existing Secret, if the store still has it with the wanted scope: then it is
/// kept, and nothing is issued.
pub fn reusable_key(
    existing: Option<&Secret>,
    user_keys: &[AccessKey],
    scope: &KeyScope,
) -> Option<IssuedKey> {
    let data = existing?.data.as_ref()?;
    let read = |key: &str| data.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok());
    let access_key_id = read(keys::ACCESS_KEY_ID)?;
    let secret_access_key = read(keys::SECRET_ACCESS_KEY)?;
    user_keys
        .iter()
        .any(|k| k.access_key_id == access_key_id && k.scope.as_ref() == Some(scope))
        .then_some(IssuedKey {
            access_key_id,
            secret_access_key,
        })
}

/// Keys of the user other than the one in use: revoked after the Secret holds the new one.
pub fn stale_keys(user_keys: &[AccessKey], keep: &str) -> Vec<String> {
    user_keys
        .iter()
        .filter(|k| k.access_key_id != keep)
        .map(|k| k.access_key_id.clone())
        .collect()
}

/// The Secret applications mount (`envFrom`), owned by the Bucket so it goes with it.
pub fn credentials_secret(
    bucket: &Bucket,
    secret_name: &str,
    name: &BucketName,
    address: &StoreAddress,
    key: &IssuedKey,
) -> Secret {
    let mut entries = vec![
        (keys::ACCESS_KEY_ID, key.access_key_id.clone()),
        (keys::SECRET_ACCESS_KEY, key.secret_access_key.clone()),
        (keys::ENDPOINT_URL, address.endpoint.clone()),
        (keys::REGION, address.region.clone()),
        (keys::BUCKET_NAME, name.as_str().to_owned()),
        (keys::BUCKET_HOST, address.host.clone()),
        (keys::BUCKET_PORT, address.port.to_string()),
    ];
    if let Some(ca) = &address.ca_pem {
        entries.push((keys::CA_CERT, ca.clone()));
        entries.push((keys::CA_BUNDLE, format!("{CA_MOUNT_DIR}/{}", keys::CA_CERT)));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.to_owned()),
            namespace: bucket.namespace(),
            labels: Some(common_labels(&bucket.name_any(), COMPONENT)),
            owner_references: Some(super::owner_reference(bucket).into_iter().collect()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::CredentialsSpec;
    use crate::fixtures;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn configured() -> Bucket {
        let mut bucket = fixtures::bucket("logs", "photos");
        bucket.spec.versioning = Some(Versioning::Enabled);
        bucket.spec.tags = tags(&[("team", "a")]);
        bucket
    }

    #[test]
    fn bucket_name_defaults_to_metadata_name() {
        let mut bucket = fixtures::bucket("logs", "photos");
        assert_eq!(bucket_name(&bucket).expect("valid").as_str(), "logs");
        bucket.spec.bucket_name = Some("archive-2024".into());
        assert_eq!(bucket_name(&bucket).expect("valid").as_str(), "archive-2024");
        let dotted = fixtures::bucket("my.logs", "photos");
        assert!(bucket_name(&dotted).is_err());
    }

    #[test]
    fn a_missing_bucket_is_created_in_the_region_then_configured() {
        assert_eq!(
            plan(&configured(), "eu-west-3", &Observed::default()),
            [
                BucketCall::Create {
                    location: "eu-west-3".into()
                },
                BucketCall::PutVersioning(Versioning::Enabled),
                BucketCall::PutTagging(tags(&[("team", "a")])),
            ]
        );
    }

    #[test]
    fn a_bucket_that_matches_needs_no_call() {
        let observed = Observed {
            exists: true,
            versioning: Some(Versioning::Enabled),
            tags: tags(&[("team", "a")]),
        };
        assert_eq!(plan(&configured(), "us-east-1", &observed), []);
    }

    #[test]
    fn only_what_differs_is_changed() {
        let observed = Observed {
            exists: true,
            versioning: Some(Versioning::Suspended),
            tags: tags(&[("team", "a")]),
        };
        assert_eq!(
            plan(&configured(), "us-east-1", &observed),
            [BucketCall::PutVersioning(Versioning::Enabled)]
        );
        let observed = Observed {
            exists: true,
            versioning: Some(Versioning::Enabled),
            tags: tags(&[("team", "b")]),
        };
        assert_eq!(
            plan(&configured(), "us-east-1", &observed),
            [BucketCall::PutTagging(tags(&[("team", "a")]))]
        );
    }

    #[test]
    fn removed_tags_are_deleted_and_unset_versioning_is_left_alone() {
        let bucket = fixtures::bucket("logs", "photos");
        let observed = Observed {
            exists: true,
            versioning: Some(Versioning::Enabled),
            tags: tags(&[("team", "a")]),
        };
        assert_eq!(plan(&bucket, "us-east-1", &observed), [BucketCall::DeleteTagging]);
    }

    #[test]
    fn credentials_secret_is_named_after_the_bucket_unless_given() {
        let mut bucket = fixtures::bucket("logs", "photos");
        assert_eq!(credentials_secret_name(&bucket), None);
        bucket.spec.credentials = Some(CredentialsSpec::default());
        assert_eq!(
            credentials_secret_name(&bucket).as_deref(),
            Some("logs-credentials")
        );
        bucket.spec.credentials = Some(CredentialsSpec {
            secret_name: Some("app-s3".into()),
            access: AccessMode::ReadOnly,
        });
        assert_eq!(credentials_secret_name(&bucket).as_deref(), Some("app-s3"));
        assert_eq!(user_name(&bucket), "bucket.team-a.logs");
        assert_eq!(tenant_org("team-a", "photos"), "k8s.team-a.photos");
        assert_eq!(creator_user("team-a", "photos"), "store.team-a.photos");
    }

    #[test]
    fn long_user_names_are_shortened_distinctly() {
        let long = |suffix: &str| fixtures::bucket(&format!("{}-{suffix}", "b".repeat(80)), "photos");
        let (a, b) = (user_name(&long("one")), user_name(&long("two")));
        assert_eq!(a.len(), MAX_NAME);
        assert!(a.starts_with("bucket.team-a.bbbb"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, user_name(&long("one")), "stable");
    }

    fn address() -> StoreAddress {
        StoreAddress::of(&fixtures::store("photos"), None)
    }

    #[test]
    fn store_address_is_the_in_cluster_service() {
        assert_eq!(
            address(),
            StoreAddress {
                endpoint: "http://photos.team-a.svc:9000".into(),
                host: "photos.team-a.svc".into(),
                port: 9000,
                region: "us-east-1".into(),
                ca_pem: None,
            }
        );
    }

    #[test]
    fn credentials_of_a_store_with_a_private_ca_carry_it_for_aws_ca_bundle() {
        let bucket = fixtures::bucket("logs", "photos");
        let name = BucketName::parse("logs").expect("valid");
        let key = IssuedKey {
            access_key_id: "AKAPP".into(),
            secret_access_key: "SKAPP".into(),
        };
        let mut store = fixtures::store("photos");
        store.spec.tls = Some(crate::crd::TlsSpec {
            secret_name: "photos-tls".into(),
        });
        let ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let address = StoreAddress::of(&store, Some(ca.to_owned()));
        let data = credentials_secret(&bucket, "logs-credentials", &name, &address, &key)
            .data
            .expect("data");
        let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8");
        assert_eq!(text("AWS_ENDPOINT_URL"), "https://photos.team-a.svc:9000");
        assert_eq!(text("ca.crt"), ca);
        assert_eq!(
            text("AWS_CA_BUNDLE"),
            "/var/run/secrets/stowage.dev/bucket/ca.crt"
        );

        // A public CA needs no bundle: none is published.
        let public = StoreAddress::of(&store, None);
        let data = credentials_secret(&bucket, "logs-credentials", &name, &public, &key)
            .data
            .expect("data");
        assert!(!data.contains_key("ca.crt") && !data.contains_key("AWS_CA_BUNDLE"));
    }

    #[test]
    fn credentials_secret_has_every_key_applications_expect() {
        let bucket = fixtures::bucket("logs", "photos");
        let name = BucketName::parse("logs-2024").expect("valid");
        let key = IssuedKey {
            access_key_id: "AKAPP".into(),
            secret_access_key: "SKAPP".into(),
        };
        let secret = credentials_secret(&bucket, "logs-credentials", &name, &address(), &key);
        let decoded: BTreeMap<String, String> = secret
            .data
            .clone()
            .expect("data")
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).expect("utf-8")))
            .collect();
        assert_eq!(
            decoded,
            tags(&[
                ("AWS_ACCESS_KEY_ID", "AKAPP"),
                ("AWS_SECRET_ACCESS_KEY", "SKAPP"),
                ("AWS_ENDPOINT_URL", "http://photos.team-a.svc:9000"),
                ("AWS_REGION", "us-east-1"),
                ("BUCKET_NAME", "logs-2024"),
                ("BUCKET_HOST", "photos.team-a.svc"),
                ("BUCKET_PORT", "9000"),
            ])
        );
        let mut meta = serde_json::to_value(&secret.metadata).expect("json");
        meta.as_object_mut().expect("object");
        assert_eq!(
            meta,
            json!({
                "name": "logs-credentials",
                "namespace": "team-a",
                "labels": {
                    "app.kubernetes.io/component": "bucket",
                    "app.kubernetes.io/instance": "logs",
                    "app.kubernetes.io/managed-by": "stowage-operator",
                    "app.kubernetes.io/name": "stowage",
                },
                "ownerReferences": [{
                    "apiVersion": "stowage.dev/v1alpha1",
                    "kind": "Bucket",
                    "name": "logs",
                    "uid": "uid-bucket",
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            })
        );
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    }

    fn key(id: &str, scope: Option<KeyScope>) -> AccessKey {
        AccessKey {
            access_key_id: id.into(),
            status: Some("Active".into()),
            scope,
        }
    }

    fn secret_with(id: &str) -> Secret {
        let bucket = fixtures::bucket("logs", "photos");
        let name = BucketName::parse("logs").expect("valid");
        let issued = IssuedKey {
            access_key_id: id.into(),
            secret_access_key: "SK".into(),
        };
        credentials_secret(&bucket, "logs-credentials", &name, &address(), &issued)
    }

    #[test]
    fn a_key_in_the_secret_that_the_store_still_has_with_the_scope_is_reused() {
        let name = BucketName::parse("logs").expect("valid");
        let scope = key_scope(&name, AccessMode::ReadWrite);
        let keys = [key("AK1", Some(scope.clone()))];
        let reused = reusable_key(Some(&secret_with("AK1")), &keys, &scope).expect("reused");
        assert_eq!(reused.access_key_id, "AK1");
        assert_eq!(reused.secret_access_key, "SK");
    }

    #[test]
    fn a_key_is_issued_anew_when_revoked_rescoped_or_never_stored() {
        let name = BucketName::parse("logs").expect("valid");
        let rw = key_scope(&name, AccessMode::ReadWrite);
        let ro = key_scope(&name, AccessMode::ReadOnly);
        let keys = [key("AK1", Some(rw.clone()))];
        assert!(reusable_key(None, &keys, &rw).is_none(), "no Secret yet");
        assert!(
            reusable_key(Some(&secret_with("AK1")), &[], &rw).is_none(),
            "revoked"
        );
        assert!(
            reusable_key(Some(&secret_with("AK1")), &keys, &ro).is_none(),
            "access changed"
        );
        let unscoped = [key("AK1", None)];
        assert!(
            reusable_key(Some(&secret_with("AK1")), &unscoped, &rw).is_none(),
            "unscoped"
        );
    }

    #[test]
    fn every_other_key_of_the_user_is_stale() {
        let keys = [key("AK1", None), key("AK2", None), key("AK3", None)];
        assert_eq!(stale_keys(&keys, "AK2"), ["AK1", "AK3"]);
        assert!(stale_keys(&keys[1..2], "AK2").is_empty());
    }
}
