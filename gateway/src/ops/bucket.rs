//! Buckets: create, look up, list, delete.

use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use super::{Store, read_only, transact};
use crate::errors::{from_meta, no_such_bucket};
use crate::meta::MetaTxn;
use crate::meta::keys::{self, Space};
use crate::model::{self, BucketRecord, Nanos, VersioningState};
use crate::names::BucketName;

/// Reads a bucket's record inside `txn` (so a concurrent DeleteBucket conflicts with the caller).
pub async fn load(txn: &mut dyn MetaTxn, bucket: &str) -> S3Result<BucketRecord> {
    let key = keys::bucket(bucket);
    match txn.get(&key).await.map_err(from_meta)? {
        Some(raw) => model::decode(&key, &raw).map_err(from_meta),
        None => Err(no_such_bucket(bucket)),
    }
}

/// A bucket's record for a write into the bucket: read without claiming it, so writers of one
/// bucket do not contend on its record (see `MetaTxn::peek`).
pub async fn load_for_write(txn: &mut dyn MetaTxn, bucket: &str) -> S3Result<BucketRecord> {
    let key = keys::bucket(bucket);
    match txn.peek(&key).await.map_err(from_meta)? {
        Some(raw) => model::decode(&key, &raw).map_err(from_meta),
        None => Err(no_such_bucket(bucket)),
    }
}

/// The space of the bucket named `bucket`, read without claiming its record (for reads, and
/// for writes as [`load_for_write`]).
pub async fn space_of(txn: &mut dyn MetaTxn, bucket: &str) -> S3Result<Space> {
    load_for_write(txn, bucket).await.map(|r| r.space())
}

/// Whether any record with this prefix exists.
async fn any_under(txn: &mut dyn MetaTxn, prefix: &[u8]) -> S3Result<bool> {
    let hit = txn
        .scan(prefix, &keys::prefix_end(prefix), 1)
        .await
        .map_err(from_meta)?;
    Ok(!hit.is_empty())
}

impl Store {
    pub async fn create_bucket(&self, name: &BucketName, owner: &str) -> S3Result<BucketRecord> {
        let record = BucketRecord {
            name: name.as_str().to_owned(),
            incarnation: Some(rand::random()),
            created: Nanos::from_time(self.clock.now()),
            region: self.region.clone(),
            owner: owner.to_owned(),
            versioning: None,
            versioning_ever_enabled: false,
            tags: None,
            policy: None,
            lifecycle: None,
            public_access_block: None,
            encryption: None,
        };
        transact(&*self.meta, &record, |txn, record| {
            Box::pin(async move {
                let key = keys::bucket(&record.name);
                if let Some(raw) = txn.get(&key).await.map_err(from_meta)? {
                    let existing: BucketRecord = model::decode(&key, &raw).map_err(from_meta)?;
                    return Err(if existing.owner == record.owner {
                        S3Error::with_message(
                            S3ErrorCode::BucketAlreadyOwnedByYou,
                            "Your previous request to create the named bucket succeeded and you already own it.",
                        )
                    } else {
                        S3Error::with_message(
                            S3ErrorCode::BucketAlreadyExists,
                            "The requested bucket name is not available. Please select a different name and try again.",
                        )
                    });
                }
                txn.put(&key, &model::encode(record)).await.map_err(from_meta)?;
                Ok(record.clone())
            })
        })
        .await
    }

    pub async fn bucket(&self, bucket: &str) -> S3Result<BucketRecord> {
        read_only(&*self.meta, bucket, |txn, bucket| Box::pin(load(txn, bucket))).await
    }

    pub async fn list_buckets(&self) -> S3Result<Vec<BucketRecord>> {
        read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                let (mut start, end) = keys::all_buckets();
                let mut out = Vec::new();
                loop {
                    let batch = txn.scan(&start, &end, 1000).await.map_err(from_meta)?;
                    let Some((last, _)) = batch.last() else { break };
                    start = keys::successor(last);
                    for (k, v) in &batch {
                        out.push(model::decode(k, v).map_err(from_meta)?);
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// Deletes an empty bucket: no objects, versions or delete markers. Multipart uploads in
    /// progress do not keep it, as on AWS (only its directory buckets refuse): they go with the
    /// bucket's space, and the sweep frees their parts.
    /// The emptiness scans are part of the transaction, so a concurrent PUT that has written
    /// conflicts with it. One that has only peeked at the bucket record may still commit after
    /// it (on TiKV): it lands in the bucket's space, which is recorded as dead here and swept
    /// (`ops::dead_spaces`), so no later bucket of this name ever sees it.
    pub async fn delete_bucket(&self, bucket: &str) -> S3Result<()> {
        let now = Nanos::from_time(self.clock.now());
        transact(&*self.meta, &(bucket, now), |txn, (bucket, now)| {
            Box::pin(async move {
                let record = load(txn, bucket).await?;
                let space = record.space();
                let prefixes = [keys::object(&space, ""), keys::versions_prefix(&space, "")];
                for prefix in &prefixes {
                    if any_under(txn, prefix).await? {
                        return Err(s3_error!(
                            BucketNotEmpty,
                            "The bucket you tried to delete is not empty"
                        ));
                    }
                }
                txn.delete(&keys::bucket(bucket)).await.map_err(from_meta)?;
                let dead = model::DeadSpace { deleted: *now };
                txn.put(&keys::dead_space(&space), &model::encode(&dead))
                    .await
                    .map_err(from_meta)?;
                Ok(())
            })
        })
        .await
    }
}

impl Store {
    /// PutBucketVersioning. Enabling is remembered forever (seed 004: RenameObject refuses such
    /// buckets, and so does any bucket whose versioning was ever set).
    pub async fn set_versioning(&self, bucket: &str, state: VersioningState) -> S3Result<()> {
        self.update_bucket(bucket, move |r| {
            r.versioning = Some(state);
            r.versioning_ever_enabled |= state == VersioningState::Enabled;
        })
        .await
    }

    pub async fn set_bucket_policy(&self, bucket: &str, policy: Option<String>) -> S3Result<()> {
        self.update_bucket(bucket, move |r| r.policy = policy.clone())
            .await
    }

    /// PutBucketPolicy: `public` says whether the policy is public, which the bucket's
    /// BlockPublicPolicy setting refuses (checked in the transaction that stores it, so a
    /// concurrent PutPublicAccessBlock cannot slip a public policy past it).
    pub async fn put_bucket_policy(&self, bucket: &str, policy: String, public: bool) -> S3Result<()> {
        transact(
            &*self.meta,
            &(bucket, &policy, public),
            |txn, (bucket, policy, public)| {
                Box::pin(async move {
                    let mut record = load(txn, bucket).await?;
                    if *public && record.public_access_block.is_some_and(|b| b.block_public_policy) {
                        return Err(S3Error::with_message(
                            S3ErrorCode::AccessDenied,
                            "The bucket's BlockPublicPolicy setting refuses a public policy.",
                        ));
                    }
                    record.policy = Some((*policy).clone());
                    txn.put(&keys::bucket(bucket), &model::encode(&record))
                        .await
                        .map_err(from_meta)
                })
            },
        )
        .await
    }

    pub async fn set_public_access_block(
        &self,
        bucket: &str,
        block: Option<model::PublicAccessBlock>,
    ) -> S3Result<()> {
        self.update_bucket(bucket, move |r| r.public_access_block = block)
            .await
    }

    pub async fn set_lifecycle(
        &self,
        bucket: &str,
        config: Option<crate::lifecycle::rules::LifecycleConfig>,
    ) -> S3Result<()> {
        self.update_bucket(bucket, move |r| r.lifecycle = config.clone())
            .await
    }

    pub async fn set_bucket_encryption(
        &self,
        bucket: &str,
        config: Option<crate::model::BucketEncryption>,
    ) -> S3Result<()> {
        self.update_bucket(bucket, move |r| r.encryption = config.clone())
            .await
    }

    pub async fn set_bucket_tags(&self, bucket: &str, tags: Option<Vec<(String, String)>>) -> S3Result<()> {
        self.update_bucket(bucket, move |r| r.tags = tags.clone()).await
    }

    async fn update_bucket(&self, bucket: &str, change: impl Fn(&mut BucketRecord) + Sync) -> S3Result<()> {
        transact(&*self.meta, &(bucket, &change), |txn, (bucket, change)| {
            Box::pin(async move {
                let mut record = load(txn, bucket).await?;
                change(&mut record);
                txn.put(&keys::bucket(bucket), &model::encode(&record))
                    .await
                    .map_err(from_meta)
            })
        })
        .await
    }
}
