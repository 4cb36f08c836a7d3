//! CopyObject within the store: the new object shares the source's blobs (reference counted),
//! so no bytes move, whatever the size.

use std::collections::BTreeMap;

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::object::{load_head, replace_head};
use super::precondition::{ReadConditions, WriteConditions};
use super::{Store, bucket, transact};
use crate::errors::no_such_key;
use crate::model::{ContentHeaders, Nanos, ObjectHead};

pub struct CopyRequest<'a> {
    pub src_bucket: &'a str,
    pub src_key: &'a str,
    pub src_conditions: ReadConditions,
    pub dst_bucket: &'a str,
    pub dst_key: &'a str,
    pub dst_conditions: WriteConditions,
    /// `x-amz-metadata-directive: REPLACE`: the request's headers and metadata instead of the
    /// source's.
    pub replace: Option<(ContentHeaders, BTreeMap<String, String>)>,
}

impl Store {
    pub async fn copy_object(&self, req: &CopyRequest<'_>) -> S3Result<ObjectHead> {
        let now = Nanos::from_time(self.clock.now());
        let (head, freed) = transact(&*self.meta, &(req, now), |txn, (req, now)| {
            Box::pin(async move {
                bucket::load(txn, req.dst_bucket).await?;
                let src = match load_head(txn, req.src_bucket, req.src_key).await? {
                    Some(h) => h,
                    None => {
                        bucket::load(txn, req.src_bucket).await?;
                        return Err(no_such_key());
                    }
                };
                req.src_conditions.check_source(&src)?;
                if req.src_bucket == req.dst_bucket && req.src_key == req.dst_key && req.replace.is_none() {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "This copy request is illegal because it is trying to copy an object to itself without \
                         changing the object's metadata, storage class, website redirect location or encryption \
                         attributes.",
                    ));
                }
                let old = load_head(txn, req.dst_bucket, req.dst_key).await?;
                req.dst_conditions.check(old.as_ref())?;
                let mut new = ObjectHead { modified: *now, version_id: None, ..src };
                if let Some((headers, metadata)) = &req.replace {
                    new.headers = headers.clone();
                    new.user_metadata = metadata.clone();
                }
                let freed = replace_head(txn, req.dst_bucket, req.dst_key, old.as_ref(), Some(&new)).await?;
                Ok((new, freed))
            })
        })
        .await?;
        self.free(&freed).await;
        Ok(head)
    }
}
