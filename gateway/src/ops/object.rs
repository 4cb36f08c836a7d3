//! Objects: write a body to a blob, publish it with one metadata commit, read it back, delete it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use s3s::S3Result;

use super::inline::{self, BodyOf};
use super::landing::Landed;
use super::precondition::{DeleteConditions, WriteConditions};
use super::version::{self, Deleted, VersionRef};
use super::{Store, bucket, read_only, refs, transact};
use crate::blob::BlobId;
use crate::checksum::{BodyDigest, BodyDigests};
use crate::errors::{from_meta, internal, no_such_key, no_such_version};
use crate::md5_thread::{self, Md5Thread};
use crate::model::{ContentHeaders, Nanos, ObjectHead, Segment};

/// A body durably on the volume, not yet visible as an object.
#[derive(Debug)]
pub struct Upload {
    pub segment: Segment,
    pub digests: BodyDigests,
}

pub struct NewObject {
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub sse: Option<crate::sse::KeyFingerprint>,
    pub encryption: Option<crate::model::ServerSide>,
    pub upload: Upload,
}

/// The ETag of an uploaded body: its MD5 when plain or SSE-S3 (as AWS), a value that is not for
/// SSE-C and SSE-KMS.
pub fn body_etag(upload: &Upload) -> String {
    match &upload.segment.seal {
        Some(seal)
            if seal
                .key
                .as_ref()
                .is_none_or(|k| k.key_id != crate::sse::SSE_S3_KEY_ID) =>
        {
            crate::sse::etag(seal, &upload.digests.md5)
        }
        _ => upload.digests.md5_hex(),
    }
}

/// The MD5 of a body written through [`md5_thread::tee`], once the write consumed it.
pub(super) async fn finish_md5(md5: Arc<tokio::sync::Mutex<Md5Thread>>) -> S3Result<[u8; 16]> {
    let lane = Arc::try_unwrap(md5)
        .map_err(|_| internal("md5", "the body stream is still alive"))?
        .into_inner();
    lane.finish().await.map_err(|e| internal("md5", e))
}

impl Store {
    /// Streams a request body (`size` bytes, when known) to a new blob, computing its digests on
    /// the way.
    pub async fn write_body<S, E>(
        &self,
        body: S,
        digest: BodyDigest,
        size: Option<u64>,
        of: BodyOf,
    ) -> S3Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        // MD5 on a thread of its own, beside the checksums and the writes (`md5_thread`).
        let md5 = Arc::new(tokio::sync::Mutex::new(Md5Thread::new()));
        let body = md5_thread::tee(body, md5.clone());
        let landed = self.land(body, digest.without_md5(), size, of).await?;
        let md5 = finish_md5(md5).await?;
        let segment = self.segment_of(&landed, landed.size, None).await?;
        Ok(Upload {
            segment,
            digests: landed.observer.finish_with_md5(md5),
        })
    }

    /// The segment of a landed blob of `size` plaintext bytes, with copies placed on other
    /// gateways as the store keeps them (none of an inline blob).
    pub(super) async fn segment_of<O>(
        &self,
        landed: &Landed<O>,
        size: u64,
        seal: Option<crate::sse::Seal>,
    ) -> S3Result<Segment> {
        let holders = match landed.inline {
            Some(_) => Vec::new(),
            None => {
                self.replicate(&landed.id, landed.size, landed.crc, &landed.at)
                    .await?
            }
        };
        Ok(Segment {
            blob: landed.id.clone(),
            size,
            seal,
            holders,
            crc: Some(landed.crc),
            inline: landed.inline.is_some(),
            bytes: landed.inline.clone(),
        })
    }

    /// Drops a body that will never be published (an inline one was never stored).
    pub async fn discard(&self, upload: &Upload) {
        if !upload.segment.inline {
            self.discard_blob(&upload.segment.blob, &upload.segment.holders)
                .await;
        }
    }

    /// Drops a body after its publishing transaction failed, when the failure certainly means
    /// nothing was committed (a refusal: 4xx). After a server-side failure the commit's outcome
    /// may be unknown (a TiKV commit whose answer was lost), so the blob is left to the sweeper,
    /// which removes it only if no committed record points at it.
    pub async fn discard_unless_unknown(&self, upload: &Upload, error: &s3s::S3Error) {
        if error.status_code().is_some_and(|s| s.is_client_error()) {
            self.discard(upload).await;
        }
    }

    /// Follows a commit that dropped the last references of `blobs`: their frees are queued
    /// and the free worker removes them after the grace period. With no grace period (tests,
    /// and stores whose clients never read while others delete), this gateway's share is freed
    /// now, before the request returns.
    pub async fn free(&self, blobs: &[BlobId]) {
        if blobs.is_empty() || !self.cluster.free_grace.is_zero() {
            return;
        }
        if let Err(e) = self.drain_frees().await {
            tracing::warn!(error = %e, "could not free blobs now; the free worker will");
        }
    }

    /// Publishes an uploaded body as the newest version of `key`, in one transaction that also
    /// checks `conditions` against the current object.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        conditions: &WriteConditions,
        new: NewObject,
    ) -> S3Result<ObjectHead> {
        let now = Nanos::from_time(self.clock.now());
        let head = ObjectHead {
            size: new.upload.digests.size,
            etag: body_etag(&new.upload),
            modified: now,
            headers: new.headers,
            user_metadata: new.user_metadata,
            checksum: new.upload.digests.checksum.clone(),
            segments: vec![new.upload.segment.clone()],
            version_id: None,
            parts: Vec::new(),
            delete_marker: false,
            order: Default::default(),
            null_order: None,
            tags: new.tags,
            sse: new.sse,
            encryption: new.encryption,
            manifest: None,
        };
        let args = (bucket, key, &head, conditions, now);
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        let result = transact(&*self.meta, &args, |txn, (bucket, key, head, conditions, now)| {
            Box::pin(async move {
                let record = bucket::load_for_write(txn, bucket).await?;
                let old = version::current(txn, &record.space(), key).await?;
                conditions.check(version::live(old.clone()).as_ref())?;
                version::publish(txn, &record, key, old.as_ref(), (*head).clone(), *now).await
            })
        })
        .await;
        match result {
            Ok((head, freed)) => {
                self.free(&freed).await;
                Ok(head)
            }
            Err(e) => {
                self.discard_unless_unknown(&new.upload, &e).await;
                Err(e)
            }
        }
    }

    /// The current record of `key`, or the named version: one point read when it exists. A
    /// delete marker is returned as such; the caller answers for it.
    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
    ) -> S3Result<ObjectHead> {
        self.load_object(bucket, key, version, false).await
    }

    /// [`Store::head_object`] for a GET: a small object's bytes kept inline are read with its
    /// head, from the same snapshot.
    pub async fn object_to_read(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
    ) -> S3Result<ObjectHead> {
        self.load_object(bucket, key, version, true).await
    }

    async fn load_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        with_bytes: bool,
    ) -> S3Result<ObjectHead> {
        read_only(
            &*self.meta,
            &(bucket, key, version),
            |txn, (bucket, key, version)| {
                Box::pin(async move {
                    let space = bucket::space_of(txn, bucket).await?;
                    // As stored: the segments of an object of many parts are read by the GET
                    // that needs them, only those its range touches (`Store::segments_for`).
                    let found = match version {
                        None => version::current_head(txn, &space, key).await?,
                        Some(v) => version::load_head(txn, &space, key, v).await?,
                    };
                    if let Some(mut head) = found {
                        if with_bytes {
                            inline::attach(txn, &mut head).await?;
                        }
                        return Ok(head);
                    }
                    Err(match version {
                        None => no_such_key(),
                        Some(_) => no_such_version(),
                    })
                })
            },
        )
        .await
    }

    /// DeleteObject: without a version, the object goes (or a delete marker is added when the
    /// bucket versions); with one, exactly that version goes. Deleting what does not exist
    /// succeeds, as S3 does. `conditions` are checked against what would be removed (the
    /// current object, or the named version) in the transaction that removes it.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        conditions: &DeleteConditions,
    ) -> S3Result<Deleted> {
        let now = Nanos::from_time(self.clock.now());
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        let (deleted, freed) = transact(
            &*self.meta,
            &(bucket, key, version, conditions, now),
            |txn, (bucket, key, version, conditions, now)| {
                Box::pin(async move {
                    let record = bucket::load_for_write(txn, bucket).await?;
                    let space = record.space();
                    match version {
                        Some(v) => {
                            if !conditions.is_empty() {
                                let target = version::load(txn, &space, key, v).await?;
                                conditions.check(version::live(target).as_ref())?;
                            }
                            version::delete_version(txn, &space, key, v).await
                        }
                        None => {
                            let old = version::current(txn, &space, key).await?;
                            conditions.check(version::live(old.clone()).as_ref())?;
                            version::delete_current(txn, &record, key, old.as_ref(), *now).await
                        }
                    }
                })
            },
        )
        .await?;
        self.free(&freed).await;
        Ok(deleted)
    }

    /// Whether `blob` must stay on this gateway's volume (asked by the sweeper): a committed
    /// record points at it or its free is still in its grace period.
    pub async fn blob_is_kept(&self, blob: &BlobId) -> S3Result<bool> {
        read_only(&*self.meta, &(blob, self.cluster.me()), |txn, (blob, me)| {
            Box::pin(async move { refs::is_kept(txn, blob, me).await.map_err(from_meta) })
        })
        .await
    }
}
