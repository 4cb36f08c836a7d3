//! Bucket -> the S3 calls that make the bucket in the store match its spec, and the Secret that
//! hands its credentials to applications.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

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
}

/// Where applications reach a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreAddress {
    /// `http://<host>:<port>`
    pub endpoint: String,
    pub host: String,
    pub port: i32,
    pub region: String,
}

impl StoreAddress {
    pub fn of(store: &crate::crd::ObjectStore) -> Self {
        Self {
            endpoint: super::object_store::endpoint(store),
            host: super::object_store::service_host(store),
            port: store.spec.service.port,
            region: store.spec.region.clone(),
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

/// The admin API user that owns the bucket's application keys, one per Bucket resource.
/// Namespaces are DNS labels (no dots), so `<namespace>.<name>` is unambiguous.
pub fn user_name(bucket: &Bucket) -> String {
    format!(
        "k8s.{}.{}",
        bucket.namespace().unwrap_or_default(),
        bucket.name_any()
    )
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
    let entries = [
        (keys::ACCESS_KEY_ID, key.access_key_id.clone()),
        (keys::SECRET_ACCESS_KEY, key.secret_access_key.clone()),
        (keys::ENDPOINT_URL, address.endpoint.clone()),
        (keys::REGION, address.region.clone()),
        (keys::BUCKET_NAME, name.as_str().to_owned()),
        (keys::BUCKET_HOST, address.host.clone()),
        (keys::BUCKET_PORT, address.port.to_string()),
    ];
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.to_owned()),
            namespace: bucket.namespace(),
            labels: Some(common_labels(&bucket.name_any(), COMPONENT)),
            owner_references: Some(bucket.controller_owner_ref(&()).into_iter().collect()),
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
