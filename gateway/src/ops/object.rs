//! Objects: write a body to a blob, publish it with one metadata commit, read it back, delete it.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use futures::Stream;
use s3s::S3Result;

use super::precondition::WriteConditions;
use super::{Store, bucket, read_only, refs, transact};
use crate::blob::{BlobId, BlobStream, Segment};
use crate::checksum::{BodyDigest, BodyDigests};
use crate::errors::{from_meta, from_write, internal, no_such_key};
use crate::meta::{MetaTxn, keys};
use crate::model::{self, ContentHeaders, Nanos, ObjectHead};

/// A body durably on the volume, not yet visible as an object.
#[derive(Debug)]
pub struct Upload {
    pub segment: Segment,
    pub digests: BodyDigests,
}

pub struct NewObject {
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub upload: Upload,
}

/// Reads the current head of `key`, if any.
pub async fn load_head(txn: &mut dyn MetaTxn, bucket: &str, key: &str) -> S3Result<Option<ObjectHead>> {
    let k = keys::object(bucket, key);
    match txn.get(&k).await.map_err(from_meta)? {
        Some(raw) => Ok(Some(model::decode(&k, &raw).map_err(from_meta)?)),
        None => Ok(None),
    }
}

/// Replaces (or creates) the head at `key`, moving blob references from the old head to the new
/// one. Returns the blobs that lost their last reference, to be freed after commit.
pub async fn replace_head(
    txn: &mut dyn MetaTxn,
    bucket: &str,
    key: &str,
    old: Option<&ObjectHead>,
    new: Option<&ObjectHead>,
) -> S3Result<Vec<BlobId>> {
    let k = keys::object(bucket, key);
    match new {
        Some(head) => {
            txn.put(&k, &model::encode(head)).await.map_err(from_meta)?;
            for seg in &head.segments {
                refs::add(txn, &seg.blob).await.map_err(from_meta)?;
            }
        }
        None => txn.delete(&k).await.map_err(from_meta)?,
    }
    let mut freed = Vec::new();
    for seg in old.map(|h| h.segments.as_slice()).unwrap_or_default() {
        if refs::release(txn, &seg.blob).await.map_err(from_meta)? {
            freed.push(seg.blob.clone());
        }
    }
    Ok(freed)
}

impl Store {
    /// Streams a request body to a new blob, computing its digests on the way.
    pub async fn write_body<S, E>(&self, body: S, digest: BodyDigest) -> S3Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let written = self.blobs.write(body, digest).await.map_err(from_write)?;
        Ok(Upload {
            segment: Segment {
                blob: written.id,
                size: written.size,
            },
            digests: written.observer.finish(),
        })
    }

    /// Drops a body that will never be published.
    pub async fn discard(&self, upload: &Upload) {
        self.free(std::slice::from_ref(&upload.segment.blob)).await;
    }

    /// Deletes blobs whose last reference was committed away. A failure only leaves an orphan
    /// for the sweeper.
    pub async fn free(&self, blobs: &[BlobId]) {
        for id in blobs {
            if let Err(e) = self.blobs.delete(id).await {
                tracing::warn!(blob = %id, error = %e, "could not delete blob; the sweeper will");
            }
        }
    }

    /// Publishes an uploaded body as the object at `key`, in one transaction that also checks
    /// `conditions` against the object it replaces.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        conditions: &WriteConditions,
        new: NewObject,
    ) -> S3Result<ObjectHead> {
        let head = ObjectHead {
            size: new.upload.digests.size,
            etag: new.upload.digests.md5_hex(),
            modified: Nanos::from_time(self.clock.now()),
            headers: new.headers,
            user_metadata: new.user_metadata,
            checksum: new.upload.digests.checksum.clone(),
            segments: vec![new.upload.segment.clone()],
            version_id: None,
            parts: Vec::new(),
        };
        let args = (bucket, key, &head, conditions);
        let result = transact(&*self.meta, &args, |txn, (bucket, key, head, conditions)| {
            Box::pin(async move {
                bucket::load(txn, bucket).await?;
                let old = load_head(txn, bucket, key).await?;
                conditions.check(old.as_ref())?;
                replace_head(txn, bucket, key, old.as_ref(), Some(head)).await
            })
        })
        .await;
        match result {
            Ok(freed) => {
                self.free(&freed).await;
                Ok(head)
            }
            Err(e) => {
                self.discard(&new.upload).await;
                Err(e)
            }
        }
    }

    /// The current head of `key`: one point read when the object exists.
    pub async fn head_object(&self, bucket: &str, key: &str) -> S3Result<ObjectHead> {
        read_only(&*self.meta, &(bucket, key), |txn, (bucket, key)| {
            Box::pin(async move {
                if let Some(head) = load_head(txn, bucket, key).await? {
                    return Ok(head);
                }
                bucket::load(txn, bucket).await?;
                Err(no_such_key())
            })
        })
        .await
    }

    pub async fn open_object(&self, head: &ObjectHead, range: Range<u64>) -> S3Result<BlobStream> {
        self.blobs
            .read(&head.segments, range)
            .await
            .map_err(|e| internal("blob read", e))
    }

    /// Deletes `key`; deleting a key that does not exist succeeds (S3 semantics).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> S3Result<()> {
        let freed = transact(&*self.meta, &(bucket, key), |txn, (bucket, key)| {
            Box::pin(async move {
                bucket::load(txn, bucket).await?;
                match load_head(txn, bucket, key).await? {
                    Some(old) => replace_head(txn, bucket, key, Some(&old), None).await,
                    None => Ok(Vec::new()),
                }
            })
        })
        .await?;
        self.free(&freed).await;
        Ok(())
    }

    /// Whether any committed record points at `blob` (asked by the sweeper).
    pub async fn blob_is_referenced(&self, blob: &BlobId) -> S3Result<bool> {
        read_only(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { refs::is_referenced(txn, blob).await.map_err(from_meta) })
        })
        .await
    }
}
