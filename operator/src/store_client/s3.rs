//! The S3 calls the operator makes, path-style (`/<bucket>?<subresource>`), with their XML.
//! Bodies carry `Content-MD5`, which S3 requires on tagging, lifecycle and multi-object delete.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use quick_xml::escape::escape;
use serde::Deserialize;

use super::{Response, StoreClient, StoreError, rejected};
use crate::bucket_name::BucketName;
use crate::crd::Versioning;

/// S3's limit of keys per DeleteObjects request (and of entries per list page).
pub const MAX_BATCH: usize = 1000;

/// One entry of ListObjectVersions: a version or a delete marker. `version_id` is `null` for an
/// object written while the bucket was unversioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectVersion {
    pub key: String,
    pub version_id: String,
}

/// An incomplete multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
}

/// What a DeleteObjects call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub deleted: usize,
    /// `(key, code, message)` of entries the store refused.
    pub errors: Vec<(String, String, String)>,
}

fn content_md5(body: &[u8]) -> String {
    BASE64.encode(Md5::digest(body))
}

fn xml_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/xml".to_owned()),
        ("content-md5", content_md5(body)),
    ]
}

fn ensure_success(response: Response) -> Result<Response, StoreError> {
    if response.status.is_success() {
        Ok(response)
    } else {
        Err(rejected(&response))
    }
}

fn parse_xml<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T, StoreError> {
    let text =
        std::str::from_utf8(body).map_err(|_| StoreError::Protocol(format!("{what}: body is not UTF-8")))?;
    quick_xml::de::from_str(text).map_err(|e| StoreError::Protocol(format!("{what}: {e}")))
}

/// The CreateBucket body: the store's region as LocationConstraint (the gateway requires it).
pub fn create_bucket_xml(location: &str) -> String {
    format!(
        "<CreateBucketConfiguration xmlns=\"{}\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
        crate::resources::lifecycle::S3_NAMESPACE,
        escape(location)
    )
}

pub fn versioning_xml(versioning: Versioning) -> String {
    format!(
        "<VersioningConfiguration xmlns=\"{}\"><Status>{}</Status></VersioningConfiguration>",
        crate::resources::lifecycle::S3_NAMESPACE,
        versioning.as_str()
    )
}

pub fn tagging_xml(tags: &BTreeMap<String, String>) -> String {
    let tags: String = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                escape(k.as_str()),
                escape(v.as_str())
            )
        })
        .collect();
    format!(
        "<Tagging xmlns=\"{}\"><TagSet>{tags}</TagSet></Tagging>",
        crate::resources::lifecycle::S3_NAMESPACE
    )
}

pub fn delete_objects_xml(objects: &[ObjectVersion]) -> String {
    let objects: String = objects
        .iter()
        .map(|o| {
            format!(
                "<Object><Key>{}</Key><VersionId>{}</VersionId></Object>",
                escape(o.key.as_str()),
                escape(o.version_id.as_str())
            )
        })
        .collect();
    format!(
        "<Delete xmlns=\"{}\"><Quiet>true</Quiet>{objects}</Delete>",
        crate::resources::lifecycle::S3_NAMESPACE
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct VersioningConfiguration {
    status: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Tagging {
    tag_set: TagSet,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TagSet {
    tag: Vec<TagXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagXml {
    key: String,
    value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListVersionsResult {
    version: Vec<VersionXml>,
    delete_marker: Vec<VersionXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionXml {
    key: String,
    #[serde(default)]
    version_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ListUploadsResult {
    upload: Vec<UploadXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadXml {
    key: String,
    upload_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DeleteResult {
    deleted: Vec<serde::de::IgnoredAny>,
    error: Vec<DeleteErrorXml>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct DeleteErrorXml {
    key: String,
    code: String,
    message: String,
}

/// Parses GetBucketVersioning: no Status means never versioned.
pub fn parse_versioning(body: &[u8]) -> Result<Option<Versioning>, StoreError> {
    let parsed: VersioningConfiguration = parse_xml("GetBucketVersioning", body)?;
    match parsed.status.as_deref() {
        None | Some("") => Ok(None),
        Some("Enabled") => Ok(Some(Versioning::Enabled)),
        Some("Suspended") => Ok(Some(Versioning::Suspended)),
        Some(other) => Err(StoreError::Protocol(format!(
            "GetBucketVersioning: status {other:?}"
        ))),
    }
}

pub fn parse_tagging(body: &[u8]) -> Result<BTreeMap<String, String>, StoreError> {
    let parsed: Tagging = parse_xml("GetBucketTagging", body)?;
    Ok(parsed.tag_set.tag.into_iter().map(|t| (t.key, t.value)).collect())
}

pub fn parse_versions(body: &[u8]) -> Result<Vec<ObjectVersion>, StoreError> {
    let parsed: ListVersionsResult = parse_xml("ListObjectVersions", body)?;
    Ok(parsed
        .version
        .into_iter()
        .chain(parsed.delete_marker)
        .map(|v| ObjectVersion {
            key: v.key,
            version_id: v.version_id.unwrap_or_else(|| "null".to_owned()),
        })
        .collect())
}

pub fn parse_uploads(body: &[u8]) -> Result<Vec<Upload>, StoreError> {
    let parsed: ListUploadsResult = parse_xml("ListMultipartUploads", body)?;
    Ok(parsed
        .upload
        .into_iter()
        .map(|u| Upload {
            key: u.key,
            upload_id: u.upload_id,
        })
        .collect())
}

/// An object key as a path: every segment percent-encoded, the slashes kept.
pub fn key_path(key: &str) -> String {
    key.split('/')
        .map(|s| urlencoding::encode(s).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

pub fn parse_delete_result(body: &[u8], requested: usize) -> Result<DeleteOutcome, StoreError> {
    let parsed: DeleteResult = parse_xml("DeleteObjects", body)?;
    let errors: Vec<_> = parsed
        .error
        .into_iter()
        .map(|e| (e.key, e.code, e.message))
        .collect();
    // Quiet mode lists only failures; count the rest as deleted.
    let deleted = if parsed.deleted.is_empty() {
        requested.saturating_sub(errors.len())
    } else {
        parsed.deleted.len()
    };
    Ok(DeleteOutcome { deleted, errors })
}

fn bucket_path(bucket: &BucketName, query: &str) -> String {
    if query.is_empty() {
        format!("/{bucket}")
    } else {
        format!("/{bucket}?{query}")
    }
}

impl StoreClient {
    /// HeadBucket: `true` if it exists (and we may see it), `false` on 404.
    pub async fn bucket_exists(&self, bucket: &BucketName) -> Result<bool, StoreError> {
        let response = self
            .send(Method::HEAD, &bucket_path(bucket, ""), &[], Bytes::new())
            .await?;
        match response.status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            // HEAD has no body to explain itself.
            s => Err(StoreError::Rejected {
                status: s.as_u16(),
                code: s.canonical_reason().unwrap_or("").replace(' ', ""),
                message: format!("HeadBucket {bucket}"),
            }),
        }
    }

    /// CreateBucket in the store's region. Already owning it counts as success.
    pub async fn create_bucket(&self, bucket: &BucketName, location: &str) -> Result<(), StoreError> {
        let body = create_bucket_xml(location);
        let response = self
            .send(
                Method::PUT,
                &bucket_path(bucket, ""),
                &xml_headers(body.as_bytes()),
                body.into(),
            )
            .await?;
        match ensure_success(response) {
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            other => other.map(drop),
        }
    }

    pub async fn get_bucket_versioning(&self, bucket: &BucketName) -> Result<Option<Versioning>, StoreError> {
        let response = ensure_success(
            self.send(Method::GET, &bucket_path(bucket, "versioning"), &[], Bytes::new())
                .await?,
        )?;
        parse_versioning(&response.body)
    }

    pub async fn put_bucket_versioning(
        &self,
        bucket: &BucketName,
        versioning: Versioning,
    ) -> Result<(), StoreError> {
        let body = versioning_xml(versioning);
        ensure_success(
            self.send(
                Method::PUT,
                &bucket_path(bucket, "versioning"),
                &xml_headers(body.as_bytes()),
                body.into(),
            )
            .await?,
        )
        .map(drop)
    }

    /// GetBucketTagging; a bucket without tags (`NoSuchTagSet`) has an empty set.
    pub async fn get_bucket_tagging(
        &self,
        bucket: &BucketName,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let response = self
            .send(Method::GET, &bucket_path(bucket, "tagging"), &[], Bytes::new())
            .await?;
        match ensure_success(response) {
            Ok(r) => parse_tagging(&r.body),
            Err(e) if e.code() == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    pub async fn put_bucket_tagging(
        &self,
        bucket: &BucketName,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let body = tagging_xml(tags);
        ensure_success(
            self.send(
                Method::PUT,
                &bucket_path(bucket, "tagging"),
                &xml_headers(body.as_bytes()),
                body.into(),
            )
            .await?,
        )
        .map(drop)
    }

    pub async fn delete_bucket_tagging(&self, bucket: &BucketName) -> Result<(), StoreError> {
        ensure_success(
            self.send(Method::DELETE, &bucket_path(bucket, "tagging"), &[], Bytes::new())
                .await?,
        )
        .map(drop)
    }

    pub async fn put_bucket_policy(
        &self,
        bucket: &BucketName,
        policy: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_vec(policy).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("content-md5", content_md5(&body)),
        ];
        ensure_success(
            self.send(Method::PUT, &bucket_path(bucket, "policy"), &headers, body.into())
                .await?,
        )
        .map(drop)
    }

    /// DeleteBucketPolicy; no policy is already the goal.
    pub async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), StoreError> {
        let response = self
            .send(Method::DELETE, &bucket_path(bucket, "policy"), &[], Bytes::new())
            .await?;
        match ensure_success(response) {
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(()),
            other => other.map(drop),
        }
    }

    pub async fn put_bucket_lifecycle(&self, bucket: &BucketName, xml: &str) -> Result<(), StoreError> {
        ensure_success(
            self.send(
                Method::PUT,
                &bucket_path(bucket, "lifecycle"),
                &xml_headers(xml.as_bytes()),
                Bytes::copy_from_slice(xml.as_bytes()),
            )
            .await?,
        )
        .map(drop)
    }

    /// DeleteBucketLifecycle; no configuration is already the goal.
    pub async fn delete_bucket_lifecycle(&self, bucket: &BucketName) -> Result<(), StoreError> {
        let response = self
            .send(
                Method::DELETE,
                &bucket_path(bucket, "lifecycle"),
                &[],
                Bytes::new(),
            )
            .await?;
        match ensure_success(response) {
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(()),
            other => other.map(drop),
        }
    }

    /// The first page (up to `max` entries) of versions and delete markers: what the next
    /// DeleteObjects batch removes. Unversioned objects come back with version `null`.
    pub async fn list_object_versions(
        &self,
        bucket: &BucketName,
        max: usize,
    ) -> Result<Vec<ObjectVersion>, StoreError> {
        let query = format!("max-keys={}&versions=", max.min(MAX_BATCH));
        let response = ensure_success(
            self.send(Method::GET, &bucket_path(bucket, &query), &[], Bytes::new())
                .await?,
        )?;
        parse_versions(&response.body)
    }

    /// DeleteObjects (quiet) for up to [`MAX_BATCH`] versions.
    pub async fn delete_objects(
        &self,
        bucket: &BucketName,
        objects: &[ObjectVersion],
    ) -> Result<DeleteOutcome, StoreError> {
        let body = delete_objects_xml(&objects[..objects.len().min(MAX_BATCH)]);
        let response = ensure_success(
            self.send(
                Method::POST,
                &bucket_path(bucket, "delete="),
                &xml_headers(body.as_bytes()),
                body.into(),
            )
            .await?,
        )?;
        parse_delete_result(&response.body, objects.len().min(MAX_BATCH))
    }

    /// The first page (up to `max`) of incomplete multipart uploads.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        max: usize,
    ) -> Result<Vec<Upload>, StoreError> {
        let query = format!("max-uploads={}&uploads=", max.min(MAX_BATCH));
        let response = ensure_success(
            self.send(Method::GET, &bucket_path(bucket, &query), &[], Bytes::new())
                .await?,
        )?;
        parse_uploads(&response.body)
    }

    /// AbortMultipartUpload; an upload that is already gone is the goal.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        upload: &Upload,
    ) -> Result<(), StoreError> {
        let target = format!(
            "/{bucket}/{}?uploadId={}",
            key_path(&upload.key),
            urlencoding::encode(&upload.upload_id)
        );
        match ensure_success(self.send(Method::DELETE, &target, &[], Bytes::new()).await?) {
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            other => other.map(drop),
        }
    }

    /// DeleteBucket; a bucket that is already gone counts as deleted.
    pub async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), StoreError> {
        let response = self
            .send(Method::DELETE, &bucket_path(bucket, ""), &[], Bytes::new())
            .await?;
        match ensure_success(response) {
            Err(e) if e.code() == Some("NoSuchBucket") => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// The Content-MD5 a body should carry.
    pub fn md5(body: &str) -> String {
        super::content_md5(body.as_bytes())
    }
}
