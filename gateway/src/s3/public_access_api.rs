//! Block Public Access on a bucket: its four settings (Get/Put/DeletePublicAccessBlock) and
//! whether its policy is public (GetBucketPolicyStatus). The settings are enforced where they
//! act: BlockPublicPolicy when a policy is put, RestrictPublicBuckets in the access decision.
//! ACLs are disabled (see `acl`), so a public ACL is refused whatever BlockPublicAcls says.

use http::StatusCode;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::service::Gateway;
use crate::auth::policy::Policy;
use crate::errors::custom;
use crate::model::PublicAccessBlock;

fn no_configuration() -> s3s::S3Error {
    custom(
        "NoSuchPublicAccessBlockConfiguration",
        StatusCode::NOT_FOUND,
        "The public access block configuration was not found",
    )
}

impl Gateway {
    pub(super) async fn public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let b = record.public_access_block.ok_or_else(no_configuration)?;
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(b.block_public_acls),
                ignore_public_acls: Some(b.ignore_public_acls),
                block_public_policy: Some(b.block_public_policy),
                restrict_public_buckets: Some(b.restrict_public_buckets),
            }),
        }))
    }

    /// An element left out is `false`, as in AWS.
    pub(super) async fn put_public_access_block_api(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let input = req.input;
        let c = &input.public_access_block_configuration;
        let block = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        self.store
            .set_public_access_block(&input.bucket, Some(block))
            .await?;
        self.access.invalidate(&input.bucket);
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub(super) async fn delete_public_access_block_api(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.store
            .set_public_access_block(&req.input.bucket, None)
            .await?;
        self.access.invalidate(&req.input.bucket);
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }

    pub(super) async fn policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = &req.input.bucket;
        let record = self.store.bucket(bucket).await?;
        let doc = record.policy.ok_or_else(|| {
            s3s::S3Error::with_message(
                s3s::S3ErrorCode::NoSuchBucketPolicy,
                "The bucket policy does not exist",
            )
        })?;
        // A stored policy was validated when it was put.
        let public = Policy::parse(&doc, bucket).is_ok_and(|p| p.is_public());
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(public),
            }),
        }))
    }
}
