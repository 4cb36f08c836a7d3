//! Lifecycle actions. Each is one transaction that re-checks its premise against the current
//! state: an object overwritten since the worker looked is not expired, a version that became
//! current again is kept. Lifecycle runs as the store itself: bucket policies do not apply
//! (seed 002: lifecycle deletions bypass Deny statements).
//!
//! The actions commit with deferred durability: they are idempotent re-checks, so losing the
//! last few in a crash only means redoing them. The worker flushes the store once per batch and
//! only then deletes the blobs the actions released (deleting them earlier could leave a record
//! that a crash brought back pointing at nothing).

use s3s::S3Result;

use super::version::{self, VersionRef};
use super::{Durability, Store, bucket, read_only, transact_with};
use crate::blob::BlobId;
use crate::errors::from_meta;
use crate::meta::keys;
use crate::model::{Nanos, VersionOrder};

/// What one action did, and the blobs it released (to free after the next flush).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub done: bool,
    pub bytes_freed: u64,
    pub blobs: Vec<BlobId>,
}

impl Store {
    /// Up to `limit` raw records of `[start, end)`, for the lifecycle worker's scans.
    pub async fn scan_raw(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> S3Result<Vec<(Vec<u8>, Vec<u8>)>> {
        read_only(&*self.meta, &(start, end, limit), |txn, (start, end, limit)| {
            Box::pin(async move { txn.scan(start, end, *limit).await.map_err(from_meta) })
        })
        .await
    }

    /// Expires `key` if its current version is still `order`: deletes it in a bucket that never
    /// versioned, adds a delete marker in one that does.
    pub async fn expire_current(&self, bucket: &str, key: &str, order: &VersionOrder) -> S3Result<Expired> {
        let now = Nanos::from_time(self.clock.now());
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        let args = (bucket, key, order, now);
        transact_with(
            &*self.meta,
            Durability::Deferred,
            &args,
            |txn, (bucket, key, order, now)| {
                Box::pin(async move {
                    let record = bucket::load_for_write(txn, bucket).await?;
                    let space = record.space();
                    let current = version::live(version::current(txn, &space, key).await?);
                    let Some(current) = current.filter(|c| c.order == **order) else {
                        return Ok(Expired::default());
                    };
                    let (_, blobs) = version::delete_current(txn, &record, key, Some(&current), *now).await?;
                    let bytes_freed = if blobs.is_empty() { 0 } else { current.size };
                    Ok(Expired {
                        done: true,
                        bytes_freed,
                        blobs,
                    })
                })
            },
        )
        .await
    }

    /// Removes the version `order` of `key` if it is (still) noncurrent.
    pub async fn expire_noncurrent(
        &self,
        bucket: &str,
        key: &str,
        order: &VersionOrder,
    ) -> S3Result<Expired> {
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        transact_with(
            &*self.meta,
            Durability::Deferred,
            &(bucket, key, order),
            |txn, (bucket, key, order)| {
                Box::pin(async move {
                    let space = bucket::space_of(txn, bucket).await?;
                    let current = version::current(txn, &space, key).await?;
                    if current.as_ref().is_some_and(|c| c.order == **order) {
                        return Ok(Expired::default());
                    }
                    let v = VersionRef::Order((*order).clone());
                    let Some(found) = version::load(txn, &space, key, &v).await? else {
                        return Ok(Expired::default());
                    };
                    let (_, blobs) = version::delete_version(txn, &space, key, &v).await?;
                    let bytes_freed = if blobs.is_empty() { 0 } else { found.size };
                    Ok(Expired {
                        done: true,
                        bytes_freed,
                        blobs,
                    })
                })
            },
        )
        .await
    }

    /// Removes a delete marker that is the current and only version of `key`.
    pub async fn remove_expired_marker(
        &self,
        bucket: &str,
        key: &str,
        order: &VersionOrder,
    ) -> S3Result<bool> {
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        transact_with(
            &*self.meta,
            Durability::Deferred,
            &(bucket, key, order),
            |txn, (bucket, key, order)| {
                Box::pin(async move {
                    let space = bucket::space_of(txn, bucket).await?;
                    let current = version::current(txn, &space, key).await?;
                    if !current.is_some_and(|c| c.delete_marker && c.order == **order) {
                        return Ok(false);
                    }
                    let prefix = keys::version(&space, key, &[]);
                    let versions = txn
                        .scan(&prefix, &keys::prefix_end(&prefix), 2)
                        .await
                        .map_err(from_meta)?;
                    if versions.len() != 1 {
                        return Ok(false);
                    }
                    version::delete_version(txn, &space, key, &VersionRef::Order((*order).clone())).await?;
                    Ok(true)
                })
            },
        )
        .await
    }
}
