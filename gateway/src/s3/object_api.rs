//! Object calls: PUT, GET, HEAD, DELETE (one and many), COPY; their tags, ACL and attributes.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::acl::{self, AclRequest, acl_request};
use super::bucket_api::owner_acl;
use super::checksum_request::ChecksumRequest;
use super::conditions::{
    delete_conditions, etag_match, header_etag, listed_etag, read_conditions, write_conditions,
};
use super::encryption_request::{self, requested, set_encryption};
use super::object_io::{ChecksumFields, etag, select, set_checksums, set_object_fields, timestamp};
use super::object_lock::{self, object_lock_requested};
use super::request::{
    check_content_md5, checksum_values, content_headers, content_md5, sse_key, user_metadata,
};
use super::service::Gateway;
use super::sse_request::{customer_key, echo, unlock};
use super::tags;
use crate::checksum::BodyDigest;
use crate::model::ObjectHead;
use crate::ops::precondition::{ReadConditions, ReadOutcome, precondition_failed};
use crate::ops::version::VersionRef;
use crate::ops::{BodyOf, CopyRequest, NewObject};
use crate::tls::Transport;

/// The attributes GetObjectAttributes knows, by their wire names.
const OBJECT_ATTRIBUTES: [&str; 5] = [
    ObjectAttributes::CHECKSUM,
    ObjectAttributes::ETAG,
    ObjectAttributes::OBJECT_PARTS,
    ObjectAttributes::OBJECT_SIZE,
    ObjectAttributes::STORAGE_CLASS,
];

/// `x-amz-object-attributes` as AWS reads it: boto3 and the AWS CLI send one comma-separated
/// header, the Rust SDK one header per value (s3s keeps each header value whole).
fn requested_attributes(list: &[ObjectAttributes]) -> S3Result<Vec<&'static str>> {
    let mut out = Vec::new();
    let names = list.iter().flat_map(|a| a.as_str().split(',')).map(str::trim);
    for name in names.filter(|n| !n.is_empty()) {
        let known = OBJECT_ATTRIBUTES
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid attribute name specified.")
            })?;
        out.push(known);
    }
    Ok(out)
}

/// S3's cap on keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

fn version_ref(id: Option<&str>) -> S3Result<Option<VersionRef>> {
    id.map(VersionRef::parse).transpose()
}

fn marker_headers(head: &ObjectHead) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    let id = head.version_id.as_deref().unwrap_or("null");
    if let Ok(v) = http::HeaderValue::from_str(id) {
        h.insert("x-amz-version-id", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&httpdate::fmt_http_date(head.modified.to_time().into())) {
        h.insert(http::header::LAST_MODIFIED, v);
    }
    h
}

/// A read that lands on a delete marker: 404 for the current version, 405 when the marker was
/// asked for by version id (as S3 answers); both say it is a marker.
fn read_of_marker(head: &ObjectHead, by_version: bool) -> S3Error {
    let mut e = if by_version {
        let mut e = S3Error::with_message(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        );
        e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
        e
    } else {
        crate::errors::no_such_key()
    };
    e.set_headers(marker_headers(head));
    e
}

/// A 304 travels as an error: s3s's generated GetObject/HeadObject ignore a success status
/// override. It carries the validators a cache needs and, being a 304, no body.
fn not_modified(head: &ObjectHead) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&head.quoted_etag()) {
        headers.insert(http::header::ETAG, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&httpdate::fmt_http_date(head.modified.to_time().into())) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    e.set_headers(headers);
    e
}

fn evaluate(conditions: &ReadConditions, head: &ObjectHead) -> S3Result<()> {
    match conditions.evaluate(head) {
        ReadOutcome::Proceed => Ok(()),
        ReadOutcome::Failed => Err(precondition_failed()),
        ReadOutcome::NotModified => Err(not_modified(head)),
    }
}

fn tag_count(head: &ObjectHead) -> Option<i32> {
    (!head.tags.is_empty()).then_some(head.tags.len() as i32)
}

/// What GET and HEAD share: the version asked for, its preconditions, the SSE-C key that
/// unlocks it and the bytes selected. A macro because s3s gives the two inputs the same fields
/// but no common type.
macro_rules! read_target {
    ($gateway:expr, $input:expr, $transport:expr, $bytes:expr) => {{
        let input = &$input;
        let head = $gateway
            .readable(&input.bucket, &input.key, input.version_id.as_deref(), $bytes)
            .await?;
        evaluate(
            &read_conditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            ),
            &head,
        )?;
        let sse_key = sse_key!($gateway, $transport, input)?;
        unlock(head.sse.as_ref(), sse_key.as_ref())?;
        // `partNumber` needs the parts; a head of many keeps them in its manifest.
        let head = match input.part_number {
            Some(_) => $gateway.store.with_segments(head).await?,
            None => head,
        };
        let selection = select(&head, input.range.as_ref(), input.part_number)?;
        (head, sse_key, selection)
    }};
}

impl Gateway {
    /// The SSE-C key of a request, if it carries one (refused over plain HTTP unless allowed:
    /// the key must not cross the network in the clear).
    pub(super) fn sse_key(
        &self,
        transport: Transport,
        algorithm: Option<&str>,
        key: Option<&str>,
        key_md5: Option<&str>,
    ) -> S3Result<Option<crate::sse::CustomerKey>> {
        customer_key(
            algorithm,
            key,
            key_md5,
            transport.is_tls() || self.allow_sse_c_over_http,
        )
    }

    /// The record a GET/HEAD reads: the current object or the named version, never a marker;
    /// for a GET (`with_bytes`), with a small object's bytes kept inline.
    async fn readable(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        with_bytes: bool,
    ) -> S3Result<ObjectHead> {
        let version = version_ref(version_id)?;
        let head = match with_bytes {
            true => self.store.object_to_read(bucket, key, version.as_ref()).await?,
            false => self.store.head_object(bucket, key, version.as_ref()).await?,
        };
        if head.delete_marker {
            return Err(read_of_marker(&head, version.is_some()));
        }
        Ok(head)
    }

    pub(super) async fn put_object_api(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let transport = Transport::of(&req.extensions);
        let (headers, trailing) = (req.headers, req.trailing_headers);
        let mut input = req.input;
        // Fail before reading a byte of the body when the request cannot succeed.
        let bucket = self.store.bucket(&input.bucket).await?;
        acl::check(&acl_request!(input, write: None), &bucket.owner)?;
        object_lock::refuse_object_lock(object_lock_requested!(input))?;
        let checksum = ChecksumRequest::of_request(
            &headers,
            input.checksum_algorithm.as_ref(),
            &checksum_values!(input),
        )?;
        let md5 = content_md5(&headers)?;
        let sse_key = sse_key!(self, transport, input)?;
        let asked = requested(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.ssekms_encryption_context.as_deref(),
            input.bucket_key_enabled,
            sse_key,
        )?;
        let target = self.write_target(asked, &bucket).await?;
        let headers = content_headers!(input);
        let user_metadata = user_metadata(input.metadata.take())?;
        let tags = tags::from_header(input.tagging.as_deref())?;
        let conditions = write_conditions(
            input.if_match.as_ref().map(etag_match),
            input.if_none_match.as_ref().map(etag_match),
        )?;

        let body = input.body.take().unwrap_or_else(|| {
            StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
        let digest = BodyDigest::new(checksum.algorithm);
        let size = exact_length(&body);
        let upload = self
            .write_sealed(body, digest, &target, size, BodyOf::Object)
            .await?;
        let verified = check_content_md5(md5, &upload.digests.md5).and_then(|()| {
            checksum.verify(&upload.digests, trailing.as_ref().and_then(|t| t.take()).as_ref())
        });
        if let Err(e) = verified {
            self.store.discard(&upload).await;
            return Err(e);
        }
        let new = NewObject {
            headers,
            user_metadata,
            tags,
            sse: target.fingerprint(),
            encryption: target.managed(),
            upload,
        };
        let head = self
            .store
            .put_object(&input.bucket, &input.key, &conditions, new)
            .await?;
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&head)),
            size: Some(head.size as i64),
            version_id: head.version_id.clone(),
            ..Default::default()
        };
        set_checksums!(out, ChecksumFields::of(&head.checksum));
        (out.sse_customer_algorithm, out.sse_customer_key_md5) = echo(head.sse.as_ref());
        out.ssekms_encryption_context = set_encryption!(out, head.encryption.as_ref(), &self.store.region);
        out.expiration = self.expiration_of(&input.bucket, &input.key, &head).await;
        Ok(S3Response::new(out))
    }

    pub(super) async fn get_object_api(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        encryption_request::refuse_on_read(&req.headers)?;
        let transport = Transport::of(&req.extensions);
        let input = req.input;
        let (head, sse_key, selection) = read_target!(self, input, transport, true);
        let whole = selection.is_whole(&head);
        let body = match whole {
            true => {
                self.store
                    .read_whole_verified(&input.bucket, &input.key, &head, sse_key.as_ref())
                    .await?
            }
            false => {
                self.store
                    .read_plain(&head, selection.range.clone(), sse_key.as_ref())
                    .await?
            }
        };
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            tag_count: tag_count(&head),
            ..Default::default()
        };
        set_object_fields!(out, &head, selection, input.part_number, input.version_id);
        set_checksums!(
            out,
            ChecksumFields::on_read(&head, input.checksum_mode.as_ref(), whole, input.part_number)
        );
        (out.sse_customer_algorithm, out.sse_customer_key_md5) = echo(head.sse.as_ref());
        set_encryption!(out, head.encryption.as_ref(), &self.store.region);
        out.expiration = self.expiration_of(&input.bucket, &input.key, &head).await;
        Ok(S3Response::new(out))
    }

    pub(super) async fn head_object_api(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        encryption_request::refuse_on_read(&req.headers)?;
        let transport = Transport::of(&req.extensions);
        let input = req.input;
        let (head, _, selection) = read_target!(self, input, transport, false);
        let whole = selection.is_whole(&head);
        let mut out = HeadObjectOutput::default();
        set_object_fields!(out, &head, selection, input.part_number, input.version_id);
        set_checksums!(
            out,
            ChecksumFields::on_read(&head, input.checksum_mode.as_ref(), whole, input.part_number)
        );
        out.expiration = self.expiration_of(&input.bucket, &input.key, &head).await;
        (out.sse_customer_algorithm, out.sse_customer_key_md5) = echo(head.sse.as_ref());
        set_encryption!(out, head.encryption.as_ref(), &self.store.region);
        let mut resp = S3Response::new(out);
        if let Some(n) = tag_count(&head) {
            resp.headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(resp)
    }

    pub(super) async fn copy_object_api(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let transport = Transport::of(&req.extensions);
        // s3s 0.14's CopyObjectInput has no destination conditions: they come from the headers.
        let dst_conditions = write_conditions(
            header_etag(&req.headers, "if-match")?,
            header_etag(&req.headers, "if-none-match")?,
        )?;
        let mut input = req.input;
        let acl = acl_request!(input, write: None);
        if !acl.is_empty() {
            acl::check(&acl, &self.store.bucket(&input.bucket).await?.owner)?;
        }
        object_lock::refuse_object_lock(object_lock_requested!(input))?;
        let (src_bucket, src_key, src_version) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => (
                bucket.to_string(),
                key.to_string(),
                version_ref(version_id.as_deref())?,
            ),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Copying from an access point or outpost is not supported"
                ));
            }
        };
        if input.checksum_algorithm.is_some() {
            // Re-hashing the source would move its bytes; a copy here never does.
            return Err(s3_error!(
                NotImplemented,
                "CopyObject cannot change an object's checksum algorithm"
            ));
        }
        let replace = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some(MetadataDirective::COPY) => None,
            Some(MetadataDirective::REPLACE) => {
                Some((content_headers!(input), user_metadata(input.metadata.take())?))
            }
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown metadata directive: {other}"),
                ));
            }
        };
        let replace_tags = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some(TaggingDirective::COPY) => None,
            Some(TaggingDirective::REPLACE) => Some(tags::from_header(input.tagging.as_deref())?),
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown tagging directive: {other}"),
                ));
            }
        };
        let src_conditions = read_conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        );
        let source_key = sse_key!(self, transport, input, copy_source)?;
        let dest_key = sse_key!(self, transport, input)?;
        let asked = requested(
            input.server_side_encryption.as_ref(),
            input.ssekms_key_id.as_deref(),
            input.ssekms_encryption_context.as_deref(),
            input.bucket_key_enabled,
            dest_key,
        )?;
        // Re-encrypting an object in place is a copy onto itself that names an encryption.
        let reencrypt = !matches!(asked, super::encryption_request::Requested::Unspecified)
            && src_bucket == input.bucket
            && src_key == input.key;
        let target = self
            .write_target(asked, &self.store.bucket(&input.bucket).await?)
            .await?;
        let source = self
            .store
            .head_object(&src_bucket, &src_key, src_version.as_ref())
            .await?;
        let mut request = CopyRequest {
            src_bucket: &src_bucket,
            src_key: &src_key,
            src_version,
            src_conditions,
            dst_bucket: &input.bucket,
            dst_key: &input.key,
            dst_conditions,
            replace,
            replace_tags,
        };
        let copied = if source.delete_marker {
            // The metadata path answers for markers (NoSuchKey / InvalidRequest).
            self.store.copy_object(&request).await?
        } else {
            unlock(source.sse.as_ref(), source_key.as_ref())?;
            if target.matches(source.sse.as_ref(), source.encryption.as_ref()) && !reencrypt {
                // Same encryption on both sides: the copy shares the source's blobs.
                self.store.copy_object(&request).await?
            } else {
                self.copy_rewritten(&mut request, &source, source_key.as_ref(), &target)
                    .await?
            }
        };
        let head = copied.head;
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&head)),
            last_modified: Some(timestamp(&head)),
            ..Default::default()
        };
        set_checksums!(result, ChecksumFields::of(&head.checksum));
        let mut out = CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: copied.source_version,
            sse_customer_algorithm: echo(head.sse.as_ref()).0,
            sse_customer_key_md5: echo(head.sse.as_ref()).1,
            version_id: head.version_id.clone(),
            ..Default::default()
        };
        out.ssekms_encryption_context = set_encryption!(out, head.encryption.as_ref(), &self.store.region);
        Ok(S3Response::new(out))
    }

    /// A copy between different encryptions (re-keying, encrypting, decrypting): the source's
    /// plaintext is streamed into a new blob.
    async fn copy_rewritten(
        &self,
        req: &mut CopyRequest<'_>,
        source: &ObjectHead,
        source_key: Option<&crate::sse::CustomerKey>,
        target: &super::encryption_request::Target,
    ) -> S3Result<crate::ops::Copied> {
        req.src_conditions.check_source(source)?;
        let plain = self.store.read_plain(source, 0..source.size, source_key).await?;
        let digest = BodyDigest::new(source.checksum.algorithm);
        let upload = self
            .write_sealed(plain, digest, target, Some(source.size), BodyOf::Object)
            .await?;
        let (headers, user_metadata) = req
            .replace
            .take()
            .unwrap_or_else(|| (source.headers.clone(), source.user_metadata.clone()));
        let new = NewObject {
            headers,
            user_metadata,
            tags: req.replace_tags.take().unwrap_or_else(|| source.tags.clone()),
            sse: target.fingerprint(),
            encryption: target.managed(),
            upload,
        };
        let head = self
            .store
            .put_object(req.dst_bucket, req.dst_key, &req.dst_conditions, new)
            .await?;
        Ok(crate::ops::Copied {
            head,
            source_version: source.version_id.clone(),
        })
    }

    pub(super) async fn delete_object_api(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let i = &req.input;
        let version = version_ref(i.version_id.as_deref())?;
        let conditions = delete_conditions(
            i.if_match.as_ref().map(etag_match),
            i.if_match_last_modified_time.as_ref(),
            i.if_match_size,
        )?;
        let deleted = self
            .store
            .delete_object(&i.bucket, &i.key, version.as_ref(), &conditions)
            .await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            version_id: deleted.version_id,
            ..Default::default()
        }))
    }

    pub(super) async fn delete_objects_api(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        self.store.bucket(&input.bucket).await?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in objects {
            let target = version_ref(obj.version_id.as_deref()).and_then(|version| {
                let conditions = delete_conditions(
                    obj.e_tag.as_ref().map(listed_etag),
                    obj.last_modified_time.as_ref(),
                    obj.size,
                )?;
                Ok((version, conditions))
            });
            let result = match target {
                Ok((version, conditions)) => {
                    self.store
                        .delete_object(&input.bucket, &obj.key, version.as_ref(), &conditions)
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(_) if quiet => {}
                Ok(d) => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    delete_marker: d.delete_marker.then_some(true),
                    delete_marker_version_id: if d.delete_marker && obj.version_id.is_none() {
                        d.version_id.clone()
                    } else {
                        None
                    },
                    version_id: obj.version_id,
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    message: e.message().map(str::to_owned),
                    key: Some(obj.key),
                    version_id: obj.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            request_charged: None,
        }))
    }

    pub(super) async fn put_object_tags(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags = tags::from_dto(input.tagging.tag_set)?;
        let version = version_ref(input.version_id.as_deref())?;
        let version_id = self
            .store
            .set_object_tags(&input.bucket, &input.key, version.as_ref(), tags)
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn get_object_tags(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let i = &req.input;
        let head = self
            .readable(&i.bucket, &i.key, i.version_id.as_deref(), false)
            .await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tags::to_dto(&head.tags),
            version_id: head.version_id,
        }))
    }

    pub(super) async fn delete_object_tags(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let i = &req.input;
        let version = version_ref(i.version_id.as_deref())?;
        let version_id = self
            .store
            .set_object_tags(&i.bucket, &i.key, version.as_ref(), Vec::new())
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
    }

    pub(super) async fn object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        self.readable(&i.bucket, &i.key, i.version_id.as_deref(), false)
            .await?;
        let owner = self.store.bucket(&i.bucket).await?.owner;
        let (owner, grants) = owner_acl(&owner);
        Ok(S3Response::new(GetObjectAclOutput {
            owner,
            grants,
            request_charged: None,
        }))
    }

    /// PutObjectAcl: ACLs are disabled; only the owner's full control is accepted (and changes
    /// nothing) on an object that exists.
    pub(super) async fn put_object_acl_api(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        self.readable(&i.bucket, &i.key, i.version_id.as_deref(), false)
            .await?;
        let owner = self.store.bucket(&i.bucket).await?.owner;
        let request = AclRequest {
            policy: i.access_control_policy.as_ref(),
            ..acl_request!(i, write: i.grant_write.as_deref())
        };
        acl::check(&request, &owner)?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }

    pub(super) async fn object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let transport = Transport::of(&req.extensions);
        let input = req.input;
        let asked = requested_attributes(&input.object_attributes)?;
        let head = self
            .readable(&input.bucket, &input.key, input.version_id.as_deref(), false)
            .await?;
        let sse_key = sse_key!(self, transport, input)?;
        unlock(head.sse.as_ref(), sse_key.as_ref())?;
        let wants = |a: &str| asked.contains(&a);
        let head = match wants(ObjectAttributes::OBJECT_PARTS) {
            true => self.store.with_segments(head).await?,
            false => head,
        };
        let mut out = GetObjectAttributesOutput {
            version_id: head.version_id.clone(),
            last_modified: Some(timestamp(&head)),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            out.e_tag = Some(etag(&head));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(head.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM) {
            let mut c = Checksum::default();
            set_checksums!(c, ChecksumFields::of(&head.checksum));
            out.checksum = Some(c);
        }
        if wants(ObjectAttributes::OBJECT_PARTS) && !head.parts.is_empty() {
            let max = input.max_parts.map_or(1000, |m| m.clamp(0, 1000) as usize);
            let marker = input.part_number_marker.unwrap_or(0);
            let after: Vec<_> = head.parts.iter().filter(|p| p.number as i32 > marker).collect();
            let page: Vec<ObjectPart> = after
                .iter()
                .take(max)
                .map(|p| {
                    let f = ChecksumFields::of(&crate::checksum::Checksum::full_object(
                        head.checksum.algorithm,
                        p.checksum.clone(),
                    ));
                    ObjectPart {
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        checksum_crc32: f.crc32,
                        checksum_crc32c: f.crc32c,
                        checksum_crc64nvme: f.crc64nvme,
                        checksum_sha1: f.sha1,
                        checksum_sha256: f.sha256,
                    }
                })
                .collect();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(after.len() > max),
                max_parts: Some(max as i32),
                next_part_number_marker: page.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker),
                total_parts_count: Some(head.parts.len() as i32),
                parts: Some(page),
            });
        }
        Ok(S3Response::new(out))
    }
}

/// The exact length of a request body, when the request states it (every S3 write does, in
/// Content-Length or, for aws-chunked bodies, x-amz-decoded-content-length).
pub(super) fn exact_length(body: &StreamingBlob) -> Option<u64> {
    use s3s::stream::ByteStream as _;
    body.remaining_length()
        .exact()
        .and_then(|n| u64::try_from(n).ok())
}
