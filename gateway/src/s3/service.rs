//! `impl s3s::S3` for the gateway: DTOs in, operations called, DTOs out. Nothing else.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::checksum_request::ChecksumRequest;
use super::conditions::{etag_match, header_etag, read_conditions, write_conditions};
use super::listing::{decode_token, encode_token, url_encode};
use super::object_io::{ChecksumFields, etag, metadata, select, set_checksums, timestamp};
use super::request::{
    check_content_md5, checksum_values, content_headers, content_md5, header_str, owner_dto, owner_of,
    user_metadata,
};
use crate::checksum::BodyDigest;
use crate::model::BucketRecord;
use crate::names::BucketName;
use crate::ops::list::MAX_KEYS;
use crate::ops::precondition::{ReadOutcome, precondition_failed};
use crate::ops::{CopyRequest, ListEntry, ListPage, ListQuery, NewObject, Store};

/// S3's cap on keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

pub struct Gateway {
    pub(super) store: Store,
    /// Seed 002: CreateBucket must carry a LocationConstraint (switchable for plain-S3 clients).
    require_location_constraint: bool,
}

impl Gateway {
    pub fn new(store: Store, require_location_constraint: bool) -> Self {
        Self {
            store,
            require_location_constraint,
        }
    }
}

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

struct ListedObjects {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
}

fn render_listing(page: &ListPage, url: bool, owner: Option<&str>) -> ListedObjects {
    let name = |s: &str| if url { url_encode(s) } else { s.to_owned() };
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in &page.entries {
        match entry {
            ListEntry::Object(key, head) => contents.push(Object {
                key: Some(name(key)),
                e_tag: Some(etag(head)),
                last_modified: Some(timestamp(head)),
                size: Some(head.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owner.map(owner_dto),
                checksum_algorithm: Some(vec![s3s::dto::ChecksumAlgorithm::from_static(
                    head.checksum.algorithm.as_str(),
                )]),
                checksum_type: Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
                restore_status: None,
            }),
            ListEntry::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(name(p)),
            }),
        }
    }
    ListedObjects { contents, prefixes }
}

/// A 304 travels as an error: s3s's generated GetObject/HeadObject ignore a success status
/// override. It carries the validators a cache needs and, being a 304, no body.
fn not_modified(head: &crate::model::ObjectHead) -> S3Error {
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

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = owner_of(&req)?;
        let input = req.input;
        let name = BucketName::parse(&input.bucket)
            .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidBucketName, e.to_string()))?;
        let location = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint);
        match location.as_ref().map(BucketLocationConstraint::as_str) {
            None if self.require_location_constraint => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidLocationConstraint,
                    format!(
                        "A LocationConstraint must be supplied: use <LocationConstraint>{}</LocationConstraint>",
                        self.store.region
                    ),
                ));
            }
            Some(l) if l != self.store.region => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidLocationConstraint,
                    format!(
                        "The specified location-constraint is not valid: this store serves {}",
                        self.store.region
                    ),
                ));
            }
            _ => {}
        }
        self.store.create_bucket(&name, &owner).await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(record.region),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        // AWS answers an empty constraint for us-east-1, and clients map that back.
        let location_constraint =
            (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let owner = owner_of(&req)?;
        let prefix = req.input.prefix.clone();
        let buckets: Vec<Bucket> = self
            .store
            .list_buckets()
            .await?
            .into_iter()
            .filter(|b: &BucketRecord| b.owner == owner)
            .filter(|b| prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(Timestamp::from(b.created.to_time())),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner_dto(&owner)),
            prefix,
            continuation_token: None,
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let trailer = header_str(&req, "x-amz-trailer").map(str::to_owned);
        let trailing = req.trailing_headers.clone();
        let mut input = req.input;
        // Fail before reading a byte of the body when the request cannot succeed.
        self.store.bucket(&input.bucket).await?;
        let checksum = ChecksumRequest::parse(
            input
                .checksum_algorithm
                .as_ref()
                .map(s3s::dto::ChecksumAlgorithm::as_str),
            &checksum_values!(input),
            trailer.as_deref(),
        )?;
        let content_md5 = content_md5(input.content_md5.as_deref())?;
        let headers = content_headers!(input);
        let user_metadata = user_metadata(input.metadata.take())?;
        let conditions = write_conditions(
            input.if_match.as_ref().map(etag_match),
            input.if_none_match.as_ref().map(etag_match),
        )?;

        let body = input.body.take().unwrap_or_else(|| {
            StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
        let upload = self
            .store
            .write_body(body, BodyDigest::new(checksum.algorithm))
            .await?;
        let verified = check_content_md5(content_md5, &upload.digests.md5).and_then(|()| {
            checksum.verify(&upload.digests, trailing.as_ref().and_then(|t| t.take()).as_ref())
        });
        if let Err(e) = verified {
            self.store.discard(&upload).await;
            return Err(e);
        }

        let head = self
            .store
            .put_object(
                &input.bucket,
                &input.key,
                &conditions,
                NewObject {
                    headers,
                    user_metadata,
                    upload,
                },
            )
            .await?;
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&head)),
            size: Some(head.size as i64),
            ..Default::default()
        };
        set_checksums!(out, ChecksumFields::of(&head.checksum));
        Ok(S3Response::new(out))
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let head = self.store.head_object(&input.bucket, &input.key).await?;
        let conditions = read_conditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        );
        match conditions.evaluate(&head) {
            ReadOutcome::Proceed => {}
            ReadOutcome::Failed => return Err(precondition_failed()),
            ReadOutcome::NotModified => return Err(not_modified(&head)),
        }
        let selection = select(&head, input.range.as_ref(), input.part_number)?;
        let whole = selection.is_whole(&head);
        let body = self.store.open_object(&head, selection.range.clone()).await?;
        let h = head.headers.clone();
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some((selection.range.end - selection.range.start) as i64),
            content_range: selection.content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&head)),
            last_modified: Some(timestamp(&head)),
            metadata: metadata(&head),
            content_type: h.content_type,
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires.map(|n| Timestamp::from(n.to_time())),
            storage_class: None,
            parts_count: input.part_number.map(|_| head.parts.len().max(1) as i32),
            ..Default::default()
        };
        set_checksums!(
            out,
            ChecksumFields::on_read(&head, input.checksum_mode.as_ref(), whole)
        );
        Ok(S3Response::new(out))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let head = self.store.head_object(&input.bucket, &input.key).await?;
        let conditions = read_conditions(
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        );
        match conditions.evaluate(&head) {
            ReadOutcome::Proceed => {}
            ReadOutcome::Failed => return Err(precondition_failed()),
            ReadOutcome::NotModified => return Err(not_modified(&head)),
        }
        let selection = select(&head, input.range.as_ref(), input.part_number)?;
        let whole = selection.is_whole(&head);
        let h = head.headers.clone();
        let mut out = HeadObjectOutput {
            content_length: Some((selection.range.end - selection.range.start) as i64),
            content_range: selection.content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&head)),
            last_modified: Some(timestamp(&head)),
            metadata: metadata(&head),
            content_type: h.content_type,
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires.map(|n| Timestamp::from(n.to_time())),
            parts_count: input.part_number.map(|_| head.parts.len().max(1) as i32),
            ..Default::default()
        };
        set_checksums!(
            out,
            ChecksumFields::on_read(&head, input.checksum_mode.as_ref(), whole)
        );
        Ok(S3Response::new(out))
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        // s3s 0.14's CopyObjectInput has no destination conditions: they come from the headers.
        let dst_conditions = write_conditions(
            header_etag(&req.headers, "if-match")?,
            header_etag(&req.headers, "if-none-match")?,
        )?;
        let mut input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => {
                if version_id.as_deref().is_some_and(|v| v != "null") {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidArgument,
                        "Invalid version id specified",
                    ));
                }
                (bucket.to_string(), key.to_string())
            }
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
                let headers = content_headers!(input);
                Some((headers, user_metadata(input.metadata.take())?))
            }
            Some(other) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    format!("Unknown metadata directive: {other}"),
                ));
            }
        };
        let src_conditions = read_conditions(
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        );
        let head = self
            .store
            .copy_object(&CopyRequest {
                src_bucket: &src_bucket,
                src_key: &src_key,
                src_conditions,
                dst_bucket: &input.bucket,
                dst_key: &input.key,
                dst_conditions,
                replace,
            })
            .await?;
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&head)),
            last_modified: Some(timestamp(&head)),
            ..Default::default()
        };
        set_checksums!(result, ChecksumFields::of(&head.checksum));
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.create_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        Gateway::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        Gateway::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.complete_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.abort_upload(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.list_upload_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.list_uploads(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store
            .delete_object(&req.input.bucket, &req.input.key)
            .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
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
            match self.store.delete_object(&input.bucket, &obj.key).await {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    ..Default::default()
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

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let resume = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let query = ListQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            resume,
            after: input.start_after.as_deref(),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = self.store.list_objects(&input.bucket, &query).await?;
        let max_keys = query.max_keys;
        drop(query);
        let owner = match input.fetch_owner {
            Some(true) => Some(self.store.bucket(&input.bucket).await?.owner),
            _ => None,
        };
        let listed = render_listing(&page, url, owner.as_deref());
        let enc = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(Some(prefix)).unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            key_count: Some(page.entries.len() as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.resume.is_some()),
            next_continuation_token: page.resume.as_deref().map(encode_token),
            contents: Some(listed.contents),
            common_prefixes: Some(listed.prefixes),
            delimiter: enc(input.delimiter),
            encoding_type: input.encoding_type,
            start_after: enc(input.start_after),
            request_charged: None,
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let query = ListQuery {
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            resume: None,
            after: input.marker.as_deref().filter(|m| !m.is_empty()),
            max_keys: max_keys(input.max_keys)?,
        };
        let page = self.store.list_objects(&input.bucket, &query).await?;
        let max_keys = query.max_keys;
        drop(query);
        let owner = self.store.bucket(&input.bucket).await?.owner;
        let listed = render_listing(&page, url, Some(&owner));
        // AWS returns NextMarker only with a delimiter; without one, clients resume after the
        // last key.
        let next_marker = match (&page.resume, &input.delimiter) {
            (Some(_), Some(_)) => page.entries.last().map(|e| e.name().to_owned()),
            _ => None,
        };
        let enc = |s: Option<String>| if url { s.map(|s| url_encode(&s)) } else { s };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(Some(prefix)).unwrap_or_default()),
            marker: Some(enc(input.marker).unwrap_or_default()),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(page.resume.is_some()),
            contents: Some(listed.contents),
            common_prefixes: Some(listed.prefixes),
            delimiter: enc(input.delimiter),
            next_marker: enc(next_marker),
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}
