//! Request fields shared by several operations, read the same way everywhere: the caller's
//! identity, stored content headers, user metadata, checksum headers.

use std::collections::BTreeMap;

use s3s::dto::{Metadata, Owner};

use crate::auth::access::Caller;
use crate::auth::identity::Identity;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result, s3_error};

/// Where AWS caps user metadata: 2 KB of names and values.
const MAX_USER_METADATA_BYTES: usize = 2 * 1024;
/// What S3 stores for an object uploaded without a Content-Type.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// The caller resolved by the access check (see `auth::access::Caller`).
pub fn caller<T>(req: &S3Request<T>) -> S3Result<&Identity> {
    req.extensions
        .get::<Caller>()
        .and_then(|c| c.0.as_ref())
        .ok_or_else(|| s3_error!(AccessDenied, "Anonymous users cannot perform this operation"))
}

/// The org a new bucket or upload belongs to: the caller's.
pub fn owner_of<T>(req: &S3Request<T>) -> S3Result<String> {
    caller(req).map(|c| c.org.clone())
}

pub use crate::auth::identity::canonical_id;

pub fn owner_dto(org: &str) -> Owner {
    Owner {
        display_name: Some(org.to_owned()),
        id: Some(canonical_id(org)),
    }
}

pub fn header_str<'a, T>(req: &'a S3Request<T>, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// `aws-chunked` is a transfer framing, not a property of the object: strip it, keep the rest
/// as the client sent it.
pub fn stored_content_encoding(value: Option<&str>) -> Option<String> {
    let value = value?;
    let is_framing = |e: &str| e.trim().eq_ignore_ascii_case("aws-chunked");
    if !value.split(',').any(is_framing) {
        return (!value.trim().is_empty()).then(|| value.to_owned());
    }
    let kept: Vec<&str> = value
        .split(',')
        .filter(|e| !e.trim().is_empty() && !is_framing(e))
        .collect();
    (!kept.is_empty()).then(|| kept.join(",").trim().to_owned())
}

pub fn user_metadata(m: Option<Metadata>) -> S3Result<BTreeMap<String, String>> {
    let m: BTreeMap<String, String> = m.unwrap_or_default().into_iter().collect();
    let bytes: usize = m.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_USER_METADATA_BYTES {
        return Err(S3Error::with_message(
            S3ErrorCode::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size.",
        ));
    }
    Ok(m)
}

/// The content headers to store, taken from any input with the standard fields (PutObject,
/// CopyObject with REPLACE, CreateMultipartUpload).
macro_rules! content_headers {
    ($input:expr) => {
        $crate::model::ContentHeaders {
            content_type: Some(
                $input
                    .content_type
                    .take()
                    .unwrap_or_else(|| $crate::s3::request::DEFAULT_CONTENT_TYPE.to_owned()),
            ),
            content_encoding: $crate::s3::request::stored_content_encoding(
                $input.content_encoding.as_deref(),
            ),
            content_disposition: $input.content_disposition.take(),
            content_language: $input.content_language.take(),
            cache_control: $input.cache_control.take(),
            expires: $input
                .expires
                .take()
                .map(|t| $crate::model::Nanos::from_time(t.into())),
        }
    };
}
pub(crate) use content_headers;

/// Every `x-amz-checksum-<alg>` value an input (PutObject, UploadPart) carries.
macro_rules! checksum_values {
    ($input:expr) => {
        [
            ($crate::checksum::ChecksumAlgorithm::Crc32, &$input.checksum_crc32),
            (
                $crate::checksum::ChecksumAlgorithm::Crc32c,
                &$input.checksum_crc32c,
            ),
            (
                $crate::checksum::ChecksumAlgorithm::Crc64Nvme,
                &$input.checksum_crc64nvme,
            ),
            ($crate::checksum::ChecksumAlgorithm::Sha1, &$input.checksum_sha1),
            (
                $crate::checksum::ChecksumAlgorithm::Sha256,
                &$input.checksum_sha256,
            ),
        ]
        .into_iter()
        .filter_map(|(a, v)| v.as_deref().map(|v| (a, v)))
        .collect::<Vec<_>>()
    };
}
pub(crate) use checksum_values;

/// The SSE-C key an input carries (`sse_customer_*`), or the one for its copy source
/// (`copy_source_sse_customer_*`), through `Gateway::sse_key`. A macro because s3s gives each
/// input these fields but no common type.
macro_rules! sse_key {
    ($gateway:expr, $transport:expr, $input:expr) => {
        $gateway.sse_key(
            $transport,
            $input.sse_customer_algorithm.as_deref(),
            $input.sse_customer_key.as_deref(),
            $input.sse_customer_key_md5.as_deref(),
        )
    };
    ($gateway:expr, $transport:expr, $input:expr, copy_source) => {
        $gateway.sse_key(
            $transport,
            $input.copy_source_sse_customer_algorithm.as_deref(),
            $input.copy_source_sse_customer_key.as_deref(),
            $input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}
pub(crate) use sse_key;

/// Decodes `Content-MD5` (400 InvalidDigest when malformed). Read from the headers themselves:
/// s3s takes a header sent empty for one not sent, and an empty digest is malformed.
pub fn content_md5(headers: &http::HeaderMap) -> S3Result<Option<[u8; 16]>> {
    headers
        .get("content-md5")
        .map(|v| {
            let v = v.to_str().unwrap_or_default();
            crate::checksum::decode_content_md5(v).ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified is not valid.",
                )
            })
        })
        .transpose()
}

/// Compares a body's MD5 with the `Content-MD5` the client sent.
pub fn check_content_md5(expected: Option<[u8; 16]>, actual: &[u8; 16]) -> S3Result<()> {
    match expected {
        Some(md5) if md5 != *actual => Err(S3Error::with_message(
            S3ErrorCode::BadDigest,
            "The Content-MD5 you specified did not match what we received.",
        )),
        _ => Ok(()),
    }
}
