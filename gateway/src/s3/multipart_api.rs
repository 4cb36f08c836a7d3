//! Multipart upload calls: DTOs to `ops::multipart` and back.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::acl::{self, acl_request};
use super::checksum_request::ChecksumRequest;
use super::conditions::{etag_match, read_conditions, write_conditions};
use super::encryption_request::{requested, set_encryption};
use super::listing::url_encode;
use super::object_io::{ChecksumFields, etag, set_checksums, set_part_checksums};
use super::object_lock::{self, object_lock_requested};
use super::request::{
    canonical_id, check_content_md5, checksum_values, content_headers, content_md5, header_str, owner_dto,
    owner_of, sse_key, user_metadata,
};
use super::service::Gateway;
use super::sse_request::unlock;
use crate::checksum::{BodyDigest, ChecksumAlgorithm, ChecksumKind};
use crate::model::{Nanos, ObjectHead, UploadRecord};
use crate::ops::multipart::{
    CompletedPart as Completed, Completion, MAX_PART_NUMBER, NewUpload, UploadEntry, UploadQuery,
};
use crate::ops::version::VersionRef;
use crate::ops::{BodyOf, copy_of_delete_marker};
use crate::sse::CustomerKey;
use crate::tls::Transport;

/// S3's page size for ListParts and ListMultipartUploads.
const MAX_PAGE: usize = 1000;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

fn page_size(requested: Option<i32>, what: &str) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_PAGE),
        Some(n) if n < 0 => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("{what} must be a non-negative integer"),
        )),
        Some(n) => Ok((n as usize).min(MAX_PAGE)),
    }
}

fn dto_algorithm(upload: &UploadRecord) -> Option<s3s::dto::ChecksumAlgorithm> {
    upload
        .checksum_requested
        .then(|| s3s::dto::ChecksumAlgorithm::from(upload.checksum_algorithm.as_str().to_owned()))
}

fn dto_kind(upload: &UploadRecord) -> Option<ChecksumType> {
    upload
        .checksum_requested
        .then(|| ChecksumType::from(upload.checksum_kind.as_str().to_owned()))
}

fn parse_kind(kind: Option<&ChecksumType>) -> S3Result<Option<ChecksumKind>> {
    kind.map(|k| {
        ChecksumKind::parse(k.as_str()).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Value for x-amz-checksum-type header is invalid.",
            )
        })
    })
    .transpose()
}

/// The part checksum in the upload's algorithm, as sent in the Complete XML.
fn completed_part_checksum(part: &CompletedPart, algorithm: ChecksumAlgorithm) -> Option<String> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => part.checksum_crc32.clone(),
        ChecksumAlgorithm::Crc32c => part.checksum_crc32c.clone(),
        ChecksumAlgorithm::Crc64Nvme => part.checksum_crc64nvme.clone(),
        ChecksumAlgorithm::Sha1 => part.checksum_sha1.clone(),
        ChecksumAlgorithm::Sha256 => part.checksum_sha256.clone(),
    }
}

fn part_checksum_fields(upload: &UploadRecord, value: &str) -> ChecksumFields {
    let mut f = ChecksumFields::of(&crate::checksum::Checksum::full_object(
        upload.checksum_algorithm,
        value.to_owned(),
    ));
    f.kind = None;
    f
}

/// Parses `x-amz-copy-source-range: bytes=first-last` (both inclusive, within the source).
fn copy_range(range: Option<&str>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(range) = range else { return Ok(0..size) };
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let (first, last): (u64, u64) = (
        first.parse().map_err(|_| invalid())?,
        last.parse().map_err(|_| invalid())?,
    );
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        ));
    }
    Ok(first..last + 1)
}

/// The key a part must be sealed with: the upload's, given again with every part.
fn upload_key(upload: &UploadRecord, given: Option<CustomerKey>) -> S3Result<Option<CustomerKey>> {
    match (&upload.sse, given) {
        (None, None) => Ok(None),
        (Some(f), Some(k)) if k.matches(f) => Ok(Some(k)),
        _ => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The provided encryption parameters did not match the ones used originally.",
        )),
    }
}

/// How a part of `upload` is sealed: as the upload was created (its SSE-C key given again).
fn part_target(upload: &UploadRecord, key: Option<CustomerKey>) -> super::encryption_request::Target {
    use super::encryption_request::Target;
    match (key, &upload.encryption) {
        (Some(k), _) => Target::Customer(k),
        (None, Some(m)) => Target::Managed(m.clone()),
        (None, None) => Target::Plain,
    }
}

/// CompleteMultipartUpload's answer for the object it made.
fn completed(
    input: CompleteMultipartUploadInput,
    head: &ObjectHead,
    region: &str,
) -> CompleteMultipartUploadOutput {
    let mut out = CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(etag(head)),
        version_id: head.version_id.clone(),
        ..Default::default()
    };
    set_checksums!(out, ChecksumFields::of(&head.checksum));
    set_encryption!(out, head.encryption.as_ref(), region);
    out
}

impl Gateway {
    pub(super) async fn create_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let transport = Transport::of(&req.extensions);
        let owner = owner_of(&req)?;
        let mut input = req.input;
        let acl = acl_request!(input, write: None);
        if !acl.is_empty() {
            acl::check(&acl, &self.store.bucket(&input.bucket).await?.owner)?;
        }
        object_lock::refuse_object_lock(object_lock_requested!(input))?;
        let checksum_algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| {
                ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "Value for x-amz-checksum-algorithm header is invalid.",
                    )
                })
            })
            .transpose()?;
        let checksum_kind = parse_kind(input.checksum_type.as_ref())?;
        if checksum_kind.is_some() && checksum_algorithm.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "x-amz-checksum-type requires x-amz-checksum-algorithm.",
            ));
        }
        let asked = requested(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.ssekms_encryption_context.as_deref(),
            input.bucket_key_enabled,
            sse_key!(self, transport, input)?,
        )?;
        let target = self
            .write_target(asked, &self.store.bucket(&input.bucket).await?)
            .await?;
        let new = NewUpload {
            key: input.key.clone(),
            tags: super::tags::from_header(input.tagging.as_deref())?,
            sse: target.fingerprint(),
            encryption: target.managed(),
            owner,
            headers: content_headers!(input),
            user_metadata: user_metadata(input.metadata.take())?,
            checksum_algorithm,
            checksum_kind,
        };
        let upload = self.store.create_upload(&input.bucket, new).await?;
        let mut out = CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id.clone()),
            checksum_algorithm: dto_algorithm(&upload),
            checksum_type: dto_kind(&upload),
            sse_customer_algorithm: super::sse_request::echo(upload.sse.as_ref()).0,
            sse_customer_key_md5: super::sse_request::echo(upload.sse.as_ref()).1,
            ..Default::default()
        };
        out.ssekms_encryption_context = set_encryption!(out, upload.encryption.as_ref(), &self.store.region);
        Ok(S3Response::new(out))
    }

    pub(super) async fn upload_part_api(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let transport = Transport::of(&req.extensions);
        let (headers, trailing) = (req.headers, req.trailing_headers);
        let mut input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let checksum = ChecksumRequest::of_request(
            &headers,
            input.checksum_algorithm.as_ref(),
            &checksum_values!(input),
        )?;
        let md5 = content_md5(&headers)?;
        let body = input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody, "UploadPart needs a body"))?;
        // Stored in the upload's algorithm; whatever the client sent is verified alongside.
        let key = sse_key!(self, transport, input)?;
        let key = upload_key(&upload, key)?;
        let digest = BodyDigest::with_extra(upload.checksum_algorithm, checksum.verified_algorithm());
        let size = super::object_api::exact_length(&body);
        let body = self
            .write_sealed(body, digest, &part_target(&upload, key), size, BodyOf::Part)
            .await?;
        let verified = check_content_md5(md5, &body.digests.md5)
            .and_then(|()| checksum.verify(&body.digests, trailing.as_ref().and_then(|t| t.take()).as_ref()));
        if let Err(e) = verified {
            self.store.discard(&body).await;
            return Err(e);
        }
        let part = self
            .store
            .put_part(&input.bucket, &input.key, &input.upload_id, number, body)
            .await?;
        let mut out = UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag.clone())),
            sse_customer_algorithm: super::sse_request::echo(upload.sse.as_ref()).0,
            sse_customer_key_md5: super::sse_request::echo(upload.sse.as_ref()).1,
            ..Default::default()
        };
        set_encryption!(out, upload.encryption.as_ref(), &self.store.region);
        if upload.checksum_requested {
            set_part_checksums!(out, part_checksum_fields(&upload, &part.checksum));
        }
        Ok(S3Response::new(out))
    }

    pub(super) async fn upload_part_copy_api(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let transport = Transport::of(&req.extensions);
        let range_header = header_str(&req, "x-amz-copy-source-range").map(str::to_owned);
        let input = req.input;
        let number = part_number(input.part_number)?;
        let upload = self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let (src_bucket, src_key, src_version) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => (
                bucket.to_string(),
                key.to_string(),
                version_id.as_deref().map(VersionRef::parse).transpose()?,
            ),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Copying from an access point or outpost is not supported"
                ));
            }
        };
        let source = self
            .store
            .head_object(&src_bucket, &src_key, src_version.as_ref())
            .await?;
        if source.delete_marker {
            return Err(match src_version {
                Some(_) => copy_of_delete_marker(),
                None => crate::errors::no_such_key(),
            });
        }
        read_conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .check_source(&source)?;
        let source_key = sse_key!(self, transport, input, copy_source)?;
        unlock(source.sse.as_ref(), source_key.as_ref())?;
        let key = sse_key!(self, transport, input)?;
        let key = upload_key(&upload, key)?;
        let range = copy_range(range_header.as_deref(), source.size)?;
        let size = range.end - range.start;
        let stream = self.store.read_plain(&source, range, source_key.as_ref()).await?;
        let digest = BodyDigest::new(upload.checksum_algorithm);
        let body = self
            .write_sealed(
                stream,
                digest,
                &part_target(&upload, key),
                Some(size),
                BodyOf::Part,
            )
            .await?;
        let part = self
            .store
            .put_part(&input.bucket, &input.key, &input.upload_id, number, body)
            .await?;
        let mut result = CopyPartResult {
            e_tag: Some(ETag::Strong(part.etag.clone())),
            last_modified: Some(Timestamp::from(part.modified.to_time())),
            ..Default::default()
        };
        if upload.checksum_requested {
            set_part_checksums!(result, part_checksum_fields(&upload, &part.checksum));
        }
        let mut out = UploadPartCopyOutput {
            copy_part_result: Some(result),
            copy_source_version_id: source.version_id.clone(),
            sse_customer_algorithm: super::sse_request::echo(upload.sse.as_ref()).0,
            sse_customer_key_md5: super::sse_request::echo(upload.sse.as_ref()).1,
            ..Default::default()
        };
        set_encryption!(out, upload.encryption.as_ref(), &self.store.region);
        Ok(S3Response::new(out))
    }

    pub(super) async fn complete_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let transport = Transport::of(&req.extensions);
        let mut input = req.input;
        let listed = input
            .multipart_upload
            .take()
            .and_then(|m| m.parts)
            .unwrap_or_default();
        let mut parts = Vec::with_capacity(listed.len());
        for p in &listed {
            let number = p
                .part_number
                .ok_or_else(|| s3_error!(MalformedXML, "Every part needs a PartNumber"))?;
            parts.push(Completed {
                number: part_number(number)
                    .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidPart, "Invalid part number"))?,
                etag: p.e_tag.as_ref().map(|e| e.value().to_owned()).unwrap_or_default(),
                checksum: None,
            });
        }
        let upload = match self
            .store
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Ok(upload) => upload,
            Err(e) if *e.code() == S3ErrorCode::NoSuchUpload => {
                return self.completed_again(input, &parts, e).await;
            }
            Err(e) => return Err(e),
        };
        // SSE-C headers are optional here (the parts are already sealed), but a key that is
        // given must be the upload's: a wrong one is refused, not ignored.
        let key = sse_key!(self, transport, input)?;
        if key.is_some() {
            upload_key(&upload, key)?;
        }
        for (part, p) in parts.iter_mut().zip(&listed) {
            part.checksum = completed_part_checksum(p, upload.checksum_algorithm);
        }
        let expected = [
            (ChecksumAlgorithm::Crc32, &input.checksum_crc32),
            (ChecksumAlgorithm::Crc32c, &input.checksum_crc32c),
            (ChecksumAlgorithm::Crc64Nvme, &input.checksum_crc64nvme),
            (ChecksumAlgorithm::Sha1, &input.checksum_sha1),
            (ChecksumAlgorithm::Sha256, &input.checksum_sha256),
        ]
        .into_iter()
        .find_map(|(a, v)| v.clone().map(|v| (a, v)));
        let completion = Completion {
            parts,
            conditions: write_conditions(
                input.if_match.as_ref().map(etag_match),
                input.if_none_match.as_ref().map(etag_match),
            )?,
            expected,
            expected_kind: parse_kind(input.checksum_type.as_ref())?,
            expected_size: input.mpu_object_size.and_then(|s| u64::try_from(s).ok()),
        };
        let head = match self
            .store
            .complete_upload(&input.bucket, &input.key, &input.upload_id, &completion)
            .await
        {
            Ok(head) => head,
            // Another request completed it first: a retry racing its original.
            Err(e) if *e.code() == S3ErrorCode::NoSuchUpload => {
                return self.completed_again(input, &completion.parts, e).await;
            }
            Err(e) => return Err(e),
        };
        Ok(S3Response::new(completed(input, &head, &self.store.region)))
    }

    /// A completion of an upload that is gone: the same answer again when it was completed
    /// with these parts and its object is still current, `NoSuchUpload` otherwise.
    async fn completed_again(
        &self,
        input: CompleteMultipartUploadInput,
        parts: &[Completed],
        no_such_upload: S3Error,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        match self
            .store
            .completed_upload(&input.bucket, &input.key, parts)
            .await?
        {
            Some(head) => Ok(S3Response::new(completed(input, &head, &self.store.region))),
            None => Err(no_such_upload),
        }
    }

    pub(super) async fn abort_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let i = &req.input;
        self.store.abort_upload(&i.bucket, &i.key, &i.upload_id).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn list_upload_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max = page_size(input.max_parts, "max-parts")?;
        let marker = input
            .part_number_marker
            .map(|m| u32::try_from(m).unwrap_or(0))
            .unwrap_or(0);
        let (upload, parts, truncated) = self
            .store
            .list_parts(&input.bucket, &input.key, &input.upload_id, marker, max)
            .await?;
        let next = parts.last().map(|p| p.number as i32);
        let dto_parts = parts
            .iter()
            .map(|p| {
                let mut part = Part {
                    e_tag: Some(ETag::Strong(p.etag.clone())),
                    last_modified: Some(Timestamp::from(p.modified.to_time())),
                    part_number: Some(p.number as i32),
                    size: Some(p.size as i64),
                    ..Default::default()
                };
                if upload.checksum_requested {
                    set_part_checksums!(part, part_checksum_fields(&upload, &p.checksum));
                }
                part
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(dto_parts),
            initiator: Some(Initiator {
                display_name: Some(upload.owner.clone()),
                id: Some(canonical_id(&upload.owner)),
            }),
            owner: Some(owner_dto(&upload.owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: dto_algorithm(&upload),
            checksum_type: dto_kind(&upload),
            ..Default::default()
        }))
    }

    pub(super) async fn list_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let url = match input.encoding_type.as_ref().map(EncodingType::as_str) {
            None => false,
            Some(EncodingType::URL) => true,
            Some(_) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Invalid Encoding Method specified in Request",
                ));
            }
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let query = UploadQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            key_marker: input.key_marker.as_deref(),
            upload_id_marker: input.upload_id_marker.as_deref(),
            max_uploads: page_size(input.max_uploads, "max-uploads")?,
        };
        let page = self.store.list_uploads(&input.bucket, &query).await?;
        let max_uploads = query.max_uploads;
        let name = |s: &str| if url { url_encode(s) } else { s.to_owned() };
        let mut uploads = Vec::new();
        let mut prefixes = Vec::new();
        let (mut next_key, mut next_id) = (None, None);
        for entry in &page.entries {
            match entry {
                UploadEntry::Upload(u) => {
                    next_key = Some(name(&u.key));
                    next_id = Some(u.upload_id.clone());
                    uploads.push(MultipartUpload {
                        key: Some(name(&u.key)),
                        upload_id: Some(u.upload_id.clone()),
                        initiated: Some(Timestamp::from(Nanos::to_time(u.initiated))),
                        initiator: Some(Initiator {
                            display_name: Some(u.owner.clone()),
                            id: Some(canonical_id(&u.owner)),
                        }),
                        owner: Some(owner_dto(&u.owner)),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        checksum_algorithm: dto_algorithm(u),
                        checksum_type: dto_kind(u),
                    });
                }
                UploadEntry::Prefix(p) => {
                    next_key = Some(name(p));
                    next_id = None;
                    prefixes.push(CommonPrefix {
                        prefix: Some(name(p)),
                    });
                }
            }
        }
        let enc = |s: Option<String>| s.map(|s| name(&s));
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(name(&prefix)),
            delimiter: enc(input.delimiter),
            key_marker: Some(enc(input.key_marker).unwrap_or_default()),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            next_key_marker: if page.truncated { next_key } else { None },
            next_upload_id_marker: if page.truncated { next_id } else { None },
            max_uploads: Some(max_uploads as i32),
            is_truncated: Some(page.truncated),
            uploads: Some(uploads),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_are_inclusive_and_within_the_source() {
        assert_eq!(copy_range(Some("bytes=0-9"), 100).unwrap(), 0..10);
        assert_eq!(copy_range(None, 100).unwrap(), 0..100);
        assert_eq!(
            *copy_range(Some("bytes=90-100"), 100).unwrap_err().code(),
            S3ErrorCode::InvalidRange
        );
        assert_eq!(
            *copy_range(Some("bytes=5-1"), 100).unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            *copy_range(Some("0-9"), 100).unwrap_err().code(),
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn part_numbers_run_from_1_to_10000() {
        assert!(part_number(0).is_err());
        assert_eq!(part_number(10_000).unwrap(), 10_000);
        assert!(part_number(10_001).is_err());
    }
}
