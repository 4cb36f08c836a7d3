//! Object tags: stored in the version record they describe (and its current copy).

use s3s::S3Result;

use super::version::{self, VersionRef};
use super::{Store, bucket, transact};
use crate::errors::{from_meta, no_such_key, no_such_version};
use crate::meta::keys;
use crate::model;

impl Store {
    /// Replaces the tags of the current version (or the named one); returns its version id.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        tags: Vec<(String, String)>,
    ) -> S3Result<Option<String>> {
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        transact(
            &*self.meta,
            &(bucket, key, version, tags),
            |txn, (bucket, key, version, tags)| {
                Box::pin(async move {
                    let space = bucket::load(txn, bucket).await?.space();
                    // Tags change only the head: segments kept in a manifest stay there.
                    let current = version::current_head(txn, &space, key).await?;
                    let target = match version {
                        None => version::live(current.clone()),
                        Some(v) => version::load_head(txn, &space, key, v).await?,
                    };
                    let Some(mut target) = target.filter(|t| !t.delete_marker) else {
                        return Err(if version.is_some() {
                            no_such_version()
                        } else {
                            no_such_key()
                        });
                    };
                    target.tags = tags.clone();
                    target.null_order = None;
                    let vkey = keys::version(&space, key, target.order.as_bytes());
                    txn.put(&vkey, &model::encode_head(&target))
                        .await
                        .map_err(from_meta)?;
                    if let Some(current) = current.filter(|c| c.order == target.order) {
                        let updated = model::ObjectHead {
                            null_order: current.null_order,
                            ..target.clone()
                        };
                        txn.put(&keys::object(&space, key), &model::encode_head(&updated))
                            .await
                            .map_err(from_meta)?;
                    }
                    Ok(target.version_id)
                })
            },
        )
        .await
    }
}
