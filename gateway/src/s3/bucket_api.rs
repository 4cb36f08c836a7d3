//! Bucket calls: create, look up, list, delete; versioning, tags and the (read-only) ACL.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::acl::{self, AclRequest, acl_request};
use super::listing::{bad_token, decode_token, encode_token};
use super::object_lock;
use super::request::{caller, canonical_id, owner_dto, owner_of};
use super::service::Gateway;
use super::tags;
use crate::auth::policy::Policy;
use crate::model::{BucketRecord, VersioningState};
use crate::names::BucketName;

/// The owner with FULL_CONTROL: the only ACL this store has (ACLs are disabled, see `acl`).
/// Bucket policies grant access; they are not ACLs and do not appear here.
pub fn owner_acl(owner: &str) -> (Option<Owner>, Option<Vec<Grant>>) {
    let grant = Grant {
        grantee: Some(Grantee {
            display_name: Some(owner.to_owned()),
            email_address: None,
            id: Some(canonical_id(owner)),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    (Some(owner_dto(owner)), Some(vec![grant]))
}

impl Gateway {
    pub(super) async fn create_bucket_api(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = owner_of(&req)?;
        let input = req.input;
        let name = BucketName::parse(&input.bucket)
            .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidBucketName, e.to_string()))?;
        acl::check_ownership(input.object_ownership.as_ref().map(|o| o.as_str()))?;
        object_lock::refuse_bucket_lock(input.object_lock_enabled_for_bucket)?;
        acl::check(&acl_request!(input, write: input.grant_write.as_deref()), &owner)?;
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
        match self.store.create_bucket(&name, &owner).await {
            Ok(_) => {}
            // AWS in us-east-1 answers a repeated create by the owner with 200 and changes nothing.
            Err(e)
                if *e.code() == S3ErrorCode::BucketAlreadyOwnedByYou && !self.require_location_constraint => {
            }
            Err(e) => return Err(e),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    pub(super) async fn head_bucket_api(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(record.region),
            ..Default::default()
        }))
    }

    pub(super) async fn bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        // AWS answers an empty constraint for us-east-1, and clients map that back.
        let location_constraint =
            (record.region != "us-east-1").then(|| BucketLocationConstraint::from(record.region));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    pub(super) async fn delete_bucket_api(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store.delete_bucket(&req.input.bucket).await?;
        self.access.invalidate(&req.input.bucket);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(super) async fn list_buckets_api(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = caller(&req)?.clone();
        let input = req.input;
        let page_size = page_size(&input)?;
        let after = match input.continuation_token.as_deref() {
            Some(token) => Some(String::from_utf8(decode_token(token)?).map_err(|_| bad_token())?),
            None => None,
        };
        let prefix = input.prefix.clone();
        let mut buckets: Vec<BucketRecord> = self
            .store
            .list_buckets()
            .await?
            .into_iter()
            .filter(|b: &BucketRecord| caller.root || b.owner == caller.org)
            .filter(|b| prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
            .filter(|b| input.bucket_region.as_deref().is_none_or(|r| b.region == r))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let more = buckets.len() > page_size;
        buckets.truncate(page_size);
        let continuation_token = buckets
            .last()
            .filter(|_| more)
            .map(|b| encode_token(b.name.as_bytes()));
        let buckets = buckets
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(Timestamp::from(b.created.to_time())),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner_dto(&caller.org)),
            prefix,
            continuation_token,
        }))
    }

    pub(super) async fn put_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let config = &req.input.versioning_configuration;
        if config
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(s3_error!(NotImplemented, "MFA delete is not supported"));
        }
        let state = match config.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => VersioningState::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => VersioningState::Suspended,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The versioning Status must be Enabled or Suspended",
                ));
            }
        };
        self.store.set_versioning(&req.input.bucket, state).await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn get_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let status = record.versioning.map(|s| match s {
            VersioningState::Enabled => BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED),
            VersioningState::Suspended => {
                BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)
            }
        });
        Ok(S3Response::new(GetBucketVersioningOutput {
            status,
            mfa_delete: None,
        }))
    }

    pub(super) async fn put_bucket_tags(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = tags::from_dto(input.tagging.tag_set)?;
        self.store.set_bucket_tags(&input.bucket, Some(tags)).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub(super) async fn get_bucket_tags(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let tags = record
            .tags
            .filter(|t| !t.is_empty())
            .ok_or_else(|| S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist"))?;
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: tags::to_dto(&tags),
        }))
    }

    pub(super) async fn delete_bucket_tags(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.store.set_bucket_tags(&req.input.bucket, None).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    pub(super) async fn put_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        let policy = Policy::parse(&input.policy, &input.bucket)
            .and_then(|p| p.check_new().map(|()| p))
            .map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string()))?;
        self.store
            .put_bucket_policy(&input.bucket, input.policy, policy.is_public())
            .await?;
        self.access.invalidate(&input.bucket);
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub(super) async fn get_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let policy = record.policy.ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::NoSuchBucketPolicy,
                "The bucket policy does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub(super) async fn delete_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.store.set_bucket_policy(&req.input.bucket, None).await?;
        self.access.invalidate(&req.input.bucket);
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(super) async fn bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let (owner, grants) = owner_acl(&record.owner);
        Ok(S3Response::new(GetBucketAclOutput { owner, grants }))
    }

    /// PutBucketAcl: ACLs are disabled; only the owner's full control is accepted (and changes
    /// nothing).
    pub(super) async fn put_bucket_acl_api(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = &req.input;
        let record = self.store.bucket(&input.bucket).await?;
        let request = AclRequest {
            policy: input.access_control_policy.as_ref(),
            ..acl_request!(input, write: input.grant_write.as_deref())
        };
        acl::check(&request, &record.owner)?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.store.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from_static(acl::OWNERSHIP),
                }],
            }),
        }))
    }

    /// PutBucketOwnershipControls: `BucketOwnerEnforced` is what every bucket has; any other
    /// setting cannot be honoured.
    pub(super) async fn put_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let input = &req.input;
        self.store.bucket(&input.bucket).await?;
        for rule in &input.ownership_controls.rules {
            acl::check_ownership(Some(rule.object_ownership.as_str()))?;
        }
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }
}

/// Buckets per ListBuckets page: all of them for the classic request; `max-buckets` (1 to
/// 10,000), or 10,000 when only a prefix, a region or a token asks for pages, as on AWS.
fn page_size(input: &ListBucketsInput) -> S3Result<usize> {
    const MOST: i32 = 10_000;
    match input.max_buckets {
        Some(n) if (1..=MOST).contains(&n) => Ok(n as usize),
        Some(_) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "max-buckets must be between 1 and 10000",
        )),
        None if input.continuation_token.is_some()
            || input.prefix.is_some()
            || input.bucket_region.is_some() =>
        {
            Ok(MOST as usize)
        }
        None => Ok(usize::MAX),
    }
}
