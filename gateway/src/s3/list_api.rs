//! Listing calls: ListObjectsV2, ListObjects (v1) and ListObjectVersions.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::listing::{decode_token, encode_token, url_encode, url_encode_owned};
use super::object_io::{etag, timestamp};
use super::request::owner_dto;
use super::service::Gateway;
use crate::ops::list::MAX_KEYS;
use crate::ops::version::VersionRef;
use crate::ops::versions::{VersionEntry, VersionQuery, shown_id};
use crate::ops::{ListEntry, ListQuery};

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647",
        )),
        Some(n) => Ok((n as usize).min(MAX_KEYS)),
    }
}

fn wants_url(encoding: Option<&EncodingType>) -> S3Result<bool> {
    match encoding.map(EncodingType::as_str) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// An empty `delimiter` is no delimiter, as AWS treats it (and no `Delimiter` comes back).
fn delimiter(d: Option<String>) -> Option<String> {
    d.filter(|d| !d.is_empty())
}

/// s3s sends every GET on a bucket with a `list-type` other than 2 to ListObjects (v1); AWS
/// refuses them.
fn refuse_unknown_list_type(query: Option<&str>) -> S3Result<()> {
    let names = query
        .unwrap_or_default()
        .split('&')
        .map(|p| p.split_once('=').map_or(p, |(n, _)| n));
    if names.into_iter().any(|n| n == "list-type") {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Invalid List Type specified in Request",
        ));
    }
    Ok(())
}

/// Names as the response shows them: percent-encoded under `encoding-type=url`.
struct Names(bool);

impl Names {
    fn name(&self, s: &str) -> String {
        if self.0 { url_encode(s) } else { s.to_owned() }
    }

    fn take(&self, s: String) -> String {
        if self.0 { url_encode_owned(s) } else { s }
    }

    fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.name(&s))
    }
}

/// Takes the entries: each key and ETag moves into the response rather than being copied.
fn render_listing(
    entries: Vec<ListEntry>,
    names: &Names,
    owner: Option<&str>,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::with_capacity(entries.len());
    let mut prefixes = Vec::new();
    // One owner per page (its canonical id is a hash), cloned into each entry.
    let owner = owner.map(owner_dto);
    for entry in entries {
        match entry {
            ListEntry::Object(key, head) => contents.push(Object {
                key: Some(names.take(key)),
                e_tag: Some(ETag::Strong(head.etag)),
                last_modified: Some(Timestamp::from(head.modified.to_time())),
                size: Some(head.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owner.clone(),
                checksum_algorithm: Some(vec![ChecksumAlgorithm::from_static(
                    head.checksum.algorithm.as_str(),
                )]),
                checksum_type: Some(ChecksumType::from_static(head.checksum.kind.as_str())),
                restore_status: None,
            }),
            ListEntry::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(names.take(p)),
            }),
        }
    }
    (contents, prefixes)
}

impl Gateway {
    pub(super) async fn list_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let mut input = req.input;
        input.delimiter = delimiter(input.delimiter);
        let names = Names(wants_url(input.encoding_type.as_ref())?);
        let resume = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let query = ListQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            resume,
            after: input.start_after.as_deref(),
            max_keys: max,
        };
        let page = self.store.list_objects(&input.bucket, &query).await?;
        let owner = (input.fetch_owner == Some(true)).then_some(page.owner.as_str());
        let key_count = page.entries.len() as i32;
        let (contents, prefixes) = render_listing(page.entries, &names, owner);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(names.name(&prefix)),
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.resume.is_some()),
            next_continuation_token: page.resume.as_deref().map(encode_token),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: names.opt(input.delimiter),
            encoding_type: input.encoding_type,
            start_after: names.opt(input.start_after),
            request_charged: None,
        }))
    }

    pub(super) async fn list_v1(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        refuse_unknown_list_type(req.uri.query())?;
        let mut input = req.input;
        input.delimiter = delimiter(input.delimiter);
        let names = Names(wants_url(input.encoding_type.as_ref())?);
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let query = ListQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            resume: None,
            after: input.marker.as_deref().filter(|m| !m.is_empty()),
            max_keys: max,
        };
        let page = self.store.list_objects(&input.bucket, &query).await?;
        // AWS returns NextMarker only with a delimiter; without one, clients resume after the
        // last key.
        let next_marker = match (&page.resume, &input.delimiter) {
            (Some(_), Some(_)) => page.entries.last().map(|e| e.name().to_owned()),
            _ => None,
        };
        let (contents, prefixes) = render_listing(page.entries, &names, Some(&page.owner));
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            // Version 1 echoes its prefix as sent, even under `encoding-type=url` (AWS does, and
            // botocore decodes every other name of this listing but not this one).
            prefix: Some(prefix),
            marker: Some(names.opt(input.marker).unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.resume.is_some()),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: names.opt(input.delimiter),
            next_marker: names.opt(next_marker),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    pub(super) async fn list_versions_api(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let mut input = req.input;
        input.delimiter = delimiter(input.delimiter);
        let names = Names(wants_url(input.encoding_type.as_ref())?);
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let version_marker = match input.version_id_marker.as_deref().filter(|m| !m.is_empty()) {
            Some(_) if input.key_marker.as_deref().is_none_or(str::is_empty) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "A version-id marker cannot be specified without a key marker.",
                ));
            }
            Some(m) => Some(VersionRef::parse(m)?),
            None => None,
        };
        let query = VersionQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            key_marker: input.key_marker.as_deref(),
            version_marker,
            max_keys: max,
        };
        let page = self.store.list_versions(&input.bucket, &query).await?;
        let owner = owner_dto(&self.store.bucket(&input.bucket).await?.owner);
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let mut prefixes = Vec::new();
        let (mut next_key, mut next_version) = (None, None);
        for entry in &page.entries {
            match entry {
                VersionEntry::Version { key, head, is_latest } => {
                    next_key = Some(key.clone());
                    next_version = Some(shown_id(head).to_owned());
                    if head.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            key: Some(names.name(key)),
                            version_id: Some(shown_id(head).to_owned()),
                            is_latest: Some(*is_latest),
                            last_modified: Some(timestamp(head)),
                            owner: Some(owner.clone()),
                        });
                    } else {
                        versions.push(ObjectVersion {
                            key: Some(names.name(key)),
                            version_id: Some(shown_id(head).to_owned()),
                            is_latest: Some(*is_latest),
                            last_modified: Some(timestamp(head)),
                            e_tag: Some(etag(head)),
                            size: Some(head.size as i64),
                            storage_class: Some(ObjectVersionStorageClass::from_static(
                                ObjectVersionStorageClass::STANDARD,
                            )),
                            owner: Some(owner.clone()),
                            checksum_algorithm: Some(vec![ChecksumAlgorithm::from_static(
                                head.checksum.algorithm.as_str(),
                            )]),
                            checksum_type: Some(ChecksumType::from_static(head.checksum.kind.as_str())),
                            restore_status: None,
                        });
                    }
                }
                VersionEntry::Prefix(p) => {
                    next_key = Some(p.clone());
                    next_version = None;
                    prefixes.push(CommonPrefix {
                        prefix: Some(names.name(p)),
                    });
                }
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(names.name(&prefix)),
            delimiter: names.opt(input.delimiter),
            key_marker: Some(names.opt(input.key_marker).unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            next_key_marker: if page.truncated { names.opt(next_key) } else { None },
            next_version_id_marker: if page.truncated { next_version } else { None },
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            versions: Some(versions),
            delete_markers: Some(markers),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}
