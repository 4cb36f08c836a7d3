//! CopyObject within the store: the new object shares the source's blobs (reference counted),
//! so no bytes move, whatever the size.

use std::collections::BTreeMap;

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::precondition::{ReadConditions, WriteConditions};
use super::version::{self, VersionRef};
use super::{Store, bucket, transact};
use crate::errors::{no_such_key, no_such_version};
use crate::model::{ContentHeaders, Nanos, ObjectHead};

pub struct CopyRequest<'a> {
    pub src_bucket: &'a str,
    pub src_key: &'a str,
    pub src_version: Option<VersionRef>,
    pub src_conditions: ReadConditions,
    pub dst_bucket: &'a str,
    pub dst_key: &'a str,
    pub dst_conditions: WriteConditions,
    /// `x-amz-metadata-directive: REPLACE`: the request's headers and metadata instead of the
    /// source's.
    pub replace: Option<(ContentHeaders, BTreeMap<String, String>)>,
    /// `x-amz-tagging-directive: REPLACE`: the request's tags instead of the source's.
    pub replace_tags: Option<Vec<(String, String)>>,
}

/// What a copy produced, and which source version it read.
pub struct Copied {
    pub head: ObjectHead,
    pub source_version: Option<String>,
}

pub fn copy_of_delete_marker() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "The source of a copy request may not specifically refer to a delete marker by version id.",
    )
}

impl Store {
    pub async fn copy_object(&self, req: &CopyRequest<'_>) -> S3Result<Copied> {
        let now = Nanos::from_time(self.clock.now());
        let _turn = self.locks.lock(&[(req.dst_bucket, req.dst_key)]).await;
        let (copied, freed) = transact(&*self.meta, &(req, now), |txn, (req, now)| {
            Box::pin(async move {
                let dst_bucket = bucket::load_for_write(txn, req.dst_bucket).await?;
                let dst_space = dst_bucket.space();
                let src_space = bucket::space_of(txn, req.src_bucket).await?;
                let src = match &req.src_version {
                    None => version::live(version::current(txn, &src_space, req.src_key).await?),
                    Some(v) => match version::load(txn, &src_space, req.src_key, v).await? {
                        Some(h) if h.delete_marker => return Err(copy_of_delete_marker()),
                        found => found,
                    },
                };
                let Some(src) = src else {
                    return Err(if req.src_version.is_some() { no_such_version() } else { no_such_key() });
                };
                req.src_conditions.check_source(&src)?;
                let same_object = req.src_bucket == req.dst_bucket && req.src_key == req.dst_key;
                if same_object && req.replace.is_none() && req.replace_tags.is_none() && req.src_version.is_none() {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "This copy request is illegal because it is trying to copy an object to itself without \
                         changing the object's metadata, storage class, website redirect location or encryption \
                         attributes.",
                    ));
                }
                let old = version::current(txn, &dst_space, req.dst_key).await?;
                req.dst_conditions.check(version::live(old.clone()).as_ref())?;
                let source_version = src.version_id.clone();
                let mut new = ObjectHead { modified: *now, ..src };
                if let Some((headers, metadata)) = &req.replace {
                    new.headers = headers.clone();
                    new.user_metadata = metadata.clone();
                }
                if let Some(tags) = &req.replace_tags {
                    new.tags = tags.clone();
                }
                let (head, freed) = version::publish(txn, &dst_bucket, req.dst_key, old.as_ref(), new, *now).await?;
                Ok((Copied { head, source_version }, freed))
            })
        })
        .await?;
        self.free(&freed).await;
        Ok(copied)
    }
}
