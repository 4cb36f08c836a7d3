//! `impl s3s::S3` for the gateway. Each call is translated in the module of its concern
//! (`bucket_api`, `object_api`, `list_api`, `multipart_api`); this file only routes to them,
//! so the set of supported operations reads at a glance. Everything not listed answers
//! `501 NotImplemented` (the s3s default).

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use std::sync::Arc;

use crate::auth::access::Access;
use crate::auth::missing_key::{self, MayList};
use crate::ops::Store;

pub struct Gateway {
    pub(super) store: Store,
    pub(super) access: Arc<Access>,
    /// Length of a lifecycle day (for `x-amz-expiration`).
    pub(super) lifecycle_day: std::time::Duration,
    pub(super) rules: super::lifecycle_api::RulesCache,
    /// Strict CreateBucket (seed 002): a LocationConstraint is required and re-creating an owned
    /// bucket is `BucketAlreadyOwnedByYou`; otherwise both answer as AWS us-east-1 does.
    pub(super) require_location_constraint: bool,
    /// SSE-C over plain HTTP: only behind a TLS-terminating ingress.
    pub(super) allow_sse_c_over_http: bool,
    /// SSE-S3 for writes that ask for no encryption in buckets without a default.
    pub(super) default_sse: bool,
}

impl Gateway {
    pub fn new(
        store: Store,
        access: Arc<Access>,
        lifecycle_day: std::time::Duration,
        require_location_constraint: bool,
    ) -> Self {
        Self {
            store,
            access,
            lifecycle_day,
            rules: Default::default(),
            require_location_constraint,
            allow_sse_c_over_http: false,
            default_sse: true,
        }
    }

    /// Whether writes that ask for nothing (in buckets without default encryption) are sealed
    /// with SSE-S3; on unless the store's volumes are encrypted otherwise.
    pub fn default_sse(mut self, on: bool) -> Self {
        self.default_sse = on;
        self
    }

    /// What a write with these encryption headers gets in `bucket`.
    pub(super) async fn write_target(
        &self,
        requested: super::encryption_request::Requested,
        bucket: &crate::model::BucketRecord,
    ) -> S3Result<super::encryption_request::Target> {
        super::encryption_request::target(requested, bucket, self.default_sse, &*self.store.keys).await
    }

    /// Streams a body (`size` bytes, when known) to a new blob, sealed as `target` says.
    pub(super) async fn write_sealed<S, E>(
        &self,
        body: S,
        digest: crate::checksum::BodyDigest,
        target: &super::encryption_request::Target,
        size: Option<u64>,
        of: crate::ops::BodyOf,
    ) -> S3Result<crate::ops::Upload>
    where
        S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        match target.sealing() {
            Some(sealing) => {
                self.store
                    .write_sealed_body(body, digest, sealing, size, of)
                    .await
            }
            None => self.store.write_body(body, digest, size, of).await,
        }
    }

    /// Accepts SSE-C requests that reach the gateway over plain HTTP (TLS ends at an ingress).
    pub fn allow_sse_c_over_http(mut self, allow: bool) -> Self {
        self.allow_sse_c_over_http = allow;
        self
    }
}

type Out<T> = S3Result<S3Response<T>>;

#[async_trait::async_trait]
impl S3 for Gateway {
    // Buckets.
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> Out<CreateBucketOutput> {
        self.create_bucket_api(req).await
    }
    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> Out<HeadBucketOutput> {
        self.head_bucket_api(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> Out<GetBucketLocationOutput> {
        self.bucket_location(req).await
    }
    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> Out<DeleteBucketOutput> {
        self.delete_bucket_api(req).await
    }
    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> Out<ListBucketsOutput> {
        self.list_buckets_api(req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> Out<PutBucketVersioningOutput> {
        self.put_versioning(req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> Out<GetBucketVersioningOutput> {
        self.get_versioning(req).await
    }
    async fn put_bucket_tagging(&self, req: S3Request<PutBucketTaggingInput>) -> Out<PutBucketTaggingOutput> {
        self.put_bucket_tags(req).await
    }
    async fn get_bucket_tagging(&self, req: S3Request<GetBucketTaggingInput>) -> Out<GetBucketTaggingOutput> {
        self.get_bucket_tags(req).await
    }
    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> Out<DeleteBucketTaggingOutput> {
        self.delete_bucket_tags(req).await
    }
    async fn put_bucket_policy(&self, req: S3Request<PutBucketPolicyInput>) -> Out<PutBucketPolicyOutput> {
        self.put_policy(req).await
    }
    async fn get_bucket_policy(&self, req: S3Request<GetBucketPolicyInput>) -> Out<GetBucketPolicyOutput> {
        self.get_policy(req).await
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> Out<DeleteBucketPolicyOutput> {
        self.delete_policy(req).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> Out<PutBucketLifecycleConfigurationOutput> {
        self.put_lifecycle(req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> Out<GetBucketLifecycleConfigurationOutput> {
        self.get_lifecycle(req).await
    }
    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> Out<DeleteBucketLifecycleOutput> {
        self.delete_lifecycle(req).await
    }
    async fn put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> Out<PutBucketEncryptionOutput> {
        self.put_encryption(req).await
    }
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> Out<GetBucketEncryptionOutput> {
        self.get_encryption(req).await
    }
    async fn delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> Out<DeleteBucketEncryptionOutput> {
        self.delete_encryption(req).await
    }
    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> Out<GetBucketAclOutput> {
        self.bucket_acl(req).await
    }
    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> Out<GetPublicAccessBlockOutput> {
        self.public_access_block(req).await
    }
    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> Out<PutPublicAccessBlockOutput> {
        self.put_public_access_block_api(req).await
    }
    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> Out<DeletePublicAccessBlockOutput> {
        self.delete_public_access_block_api(req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> Out<GetBucketPolicyStatusOutput> {
        self.policy_status(req).await
    }
    async fn put_bucket_acl(&self, req: S3Request<PutBucketAclInput>) -> Out<PutBucketAclOutput> {
        self.put_bucket_acl_api(req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> Out<GetBucketOwnershipControlsOutput> {
        self.ownership_controls(req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> Out<PutBucketOwnershipControlsOutput> {
        self.put_ownership_controls(req).await
    }

    // Objects.
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> Out<PutObjectOutput> {
        self.put_object_api(req).await
    }
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> Out<GetObjectOutput> {
        let may_list = req.extensions.get::<MayList>().copied();
        missing_key::as_seen(self.get_object_api(req).await, may_list)
    }
    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> Out<HeadObjectOutput> {
        let may_list = req.extensions.get::<MayList>().copied();
        missing_key::as_seen(self.head_object_api(req).await, may_list)
    }
    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> Out<CopyObjectOutput> {
        self.copy_object_api(req).await
    }
    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> Out<DeleteObjectOutput> {
        self.delete_object_api(req).await
    }
    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> Out<DeleteObjectsOutput> {
        self.delete_objects_api(req).await
    }
    async fn put_object_tagging(&self, req: S3Request<PutObjectTaggingInput>) -> Out<PutObjectTaggingOutput> {
        self.put_object_tags(req).await
    }
    async fn get_object_tagging(&self, req: S3Request<GetObjectTaggingInput>) -> Out<GetObjectTaggingOutput> {
        self.get_object_tags(req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> Out<DeleteObjectTaggingOutput> {
        self.delete_object_tags(req).await
    }
    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> Out<GetObjectAclOutput> {
        self.object_acl(req).await
    }
    async fn put_object_acl(&self, req: S3Request<PutObjectAclInput>) -> Out<PutObjectAclOutput> {
        self.put_object_acl_api(req).await
    }
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> Out<GetObjectAttributesOutput> {
        let may_list = req.extensions.get::<MayList>().copied();
        missing_key::as_seen(self.object_attributes(req).await, may_list)
    }

    // Listings.
    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> Out<ListObjectsV2Output> {
        self.list_v2(req).await
    }
    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> Out<ListObjectsOutput> {
        self.list_v1(req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> Out<ListObjectVersionsOutput> {
        self.list_versions_api(req).await
    }

    // Multipart uploads.
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> Out<CreateMultipartUploadOutput> {
        self.create_upload(req).await
    }
    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> Out<UploadPartOutput> {
        self.upload_part_api(req).await
    }
    async fn upload_part_copy(&self, req: S3Request<UploadPartCopyInput>) -> Out<UploadPartCopyOutput> {
        self.upload_part_copy_api(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> Out<CompleteMultipartUploadOutput> {
        self.complete_upload(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> Out<AbortMultipartUploadOutput> {
        self.abort_upload(req).await
    }
    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> Out<ListPartsOutput> {
        self.list_upload_parts(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> Out<ListMultipartUploadsOutput> {
        self.list_uploads(req).await
    }
}
