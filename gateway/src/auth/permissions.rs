//! What each S3 call needs: the actions of seed 002's permission list, on which resource.

use http::HeaderMap;
use s3s::path::S3Path;

/// One permission a request needs: `action` on `key` (or on the bucket itself) of `bucket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needed {
    pub action: &'static str,
    pub bucket: String,
    pub key: Option<String>,
}

impl Needed {
    pub fn arn(&self) -> String {
        match &self.key {
            Some(k) => format!("arn:aws:s3:::{}/{}", self.bucket, k),
            None => format!("arn:aws:s3:::{}", self.bucket),
        }
    }

    /// Reads (Get*, List*, Head*) as opposed to changes; a key scoped ReadOnly/WriteOnly
    /// allows one kind.
    pub fn is_read(&self) -> bool {
        self.action.starts_with("s3:Get") || self.action.starts_with("s3:List")
    }

    /// Actions on objects (as opposed to bucket configuration), the only ones scoped keys get.
    pub fn is_object_data(&self) -> bool {
        matches!(
            self.action,
            "s3:GetObject"
                | "s3:GetObjectVersion"
                | "s3:GetObjectTagging"
                | "s3:PutObject"
                | "s3:PutObjectTagging"
                | "s3:DeleteObject"
                | "s3:DeleteObjectVersion"
                | "s3:DeleteObjectTagging"
                | "s3:AbortMultipartUpload"
                | "s3:ListBucket"
                | "s3:ListBucketMultipartUploads"
                | "s3:ListMultipartUploadParts"
        )
    }
}

/// The source of a copy: `x-amz-copy-source: [/]bucket/key[?versionId=...]`, URL-encoded.
/// Parsed by the same parser the copy itself uses, so the key authorized is exactly the key read
/// (a header s3s cannot parse fails the request before anything is read).
pub fn copy_source(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = headers.get("x-amz-copy-source")?.to_str().ok()?;
    match s3s::dto::CopySource::parse(raw).ok()? {
        s3s::dto::CopySource::Bucket { bucket, key, .. } => Some((bucket.into(), key.into())),
        _ => None,
    }
}

/// Whether `query` carries the parameter `name` (with a value or not).
pub(super) fn has_query(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    })
}

/// The permissions of operation `op` (s3s's operation name) on `path`.
pub fn needed(op: &str, path: &S3Path, headers: &HeaderMap, query: Option<&str>) -> Vec<Needed> {
    let (bucket, key) = match path {
        S3Path::Root => return vec![],
        S3Path::Bucket { bucket } => (bucket.to_string(), None),
        S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
    };
    let on = |action: &'static str, key: Option<String>| Needed {
        action,
        bucket: bucket.clone(),
        key,
    };
    let versioned = has_query(query, "versionId");
    let action: &'static str = match op {
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "CompleteMultipartUpload" | "CreateMultipartUpload" | "UploadPart" | "PutObject" => "s3:PutObject",
        "CopyObject" | "UploadPartCopy" => {
            let mut out = vec![on("s3:PutObject", key.clone())];
            if let Some((b, k)) = copy_source(headers) {
                out.push(Needed {
                    action: "s3:GetObject",
                    bucket: b,
                    key: Some(k),
                });
            }
            return out;
        }
        "CreateBucket" => "s3:CreateBucket",
        // Its key is in the form, read after this check: `S3Access::post_object` authorizes it.
        "PostObject" => return vec![],
        "DeleteBucket" => "s3:DeleteBucket",
        "DeleteBucketLifecycle" => "s3:DeleteLifecycleConfiguration",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "DeleteBucketTagging" => "s3:DeleteBucketTagging",
        "DeleteObject" => {
            let mut out = vec![on("s3:DeleteObject", key.clone())];
            if versioned {
                out.push(on("s3:DeleteObjectVersion", key.clone()));
            }
            // A delete conditional on the ETag reveals it: AWS also asks for s3:GetObject.
            if headers.contains_key("if-match") {
                out.push(on("s3:GetObject", key));
            }
            return out;
        }
        // Per-key permissions are checked once the body is parsed (`S3Access::delete_objects`).
        "DeleteObjects" => return vec![],
        "DeleteObjectTagging" => "s3:DeleteObjectTagging",
        "GetBucketAcl" | "HeadBucket" | "ListObjects" | "ListObjectsV2" | "ListObjectVersions" => {
            "s3:ListBucket"
        }
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "GetObject" | "HeadObject" | "GetObjectAcl" | "GetObjectAttributes" => "s3:GetObject",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "ListParts" => "s3:ListMultipartUploadParts",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "PutBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "PutObjectAcl" => "s3:PutObjectAcl",
        "PutBucketLifecycleConfiguration" => "s3:PutLifecycleConfiguration",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "PutBucketTagging" => "s3:PutBucketTagging",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        // Decided once the body's tags are parsed (`S3Access::put_object_tagging`).
        "PutObjectTagging" => return vec![],
        // Anything else is owner-only: an action no policy grants.
        _ => "s3:OwnerOnlyOperation",
    };
    vec![on(action, key)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> S3Path {
        S3Path::object("b", "k")
    }

    #[test]
    fn copy_needs_get_on_the_source_and_put_on_the_destination() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-copy-source",
            "/src-bucket/dir/a%20b?versionId=1".parse().unwrap(),
        );
        let n = needed("CopyObject", &object(), &h, None);
        assert_eq!(n[0].action, "s3:PutObject");
        assert_eq!(
            n[1],
            Needed {
                action: "s3:GetObject",
                bucket: "src-bucket".into(),
                key: Some("dir/a b".into())
            }
        );
    }

    #[test]
    fn versioned_deletes_also_need_delete_object_version() {
        let n = needed(
            "DeleteObject",
            &object(),
            &HeaderMap::new(),
            Some("versionId=abc"),
        );
        assert_eq!(
            n.iter().map(|n| n.action).collect::<Vec<_>>(),
            vec!["s3:DeleteObject", "s3:DeleteObjectVersion"]
        );
        assert_eq!(n[0].arn(), "arn:aws:s3:::b/k");
    }

    #[test]
    fn deletes_conditional_on_the_etag_also_need_get_object() {
        let mut h = HeaderMap::new();
        h.insert("if-match", "\"abc\"".parse().unwrap());
        let n = needed("DeleteObject", &object(), &h, None);
        assert_eq!(
            n.iter().map(|n| n.action).collect::<Vec<_>>(),
            vec!["s3:DeleteObject", "s3:GetObject"]
        );
    }

    #[test]
    fn bucket_reads_map_to_seed_permissions() {
        let bucket = S3Path::bucket("b");
        assert_eq!(
            needed("HeadBucket", &bucket, &HeaderMap::new(), None)[0].action,
            "s3:ListBucket"
        );
        assert_eq!(
            needed("GetBucketAcl", &bucket, &HeaderMap::new(), None)[0].action,
            "s3:ListBucket"
        );
        assert_eq!(
            needed("ListObjectsV2", &bucket, &HeaderMap::new(), None)[0].arn(),
            "arn:aws:s3:::b"
        );
        assert!(needed("ListBuckets", &S3Path::Root, &HeaderMap::new(), None).is_empty());
    }
}
