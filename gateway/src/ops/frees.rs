//! Draining this gateway's free queue: a blob whose last reference went more than the grace
//! period ago leaves the volume. A holder that was down when the delete committed finds the entry
//! when it comes back.

use std::time::SystemTime;

use s3s::S3Result;

use super::{Store, read_only, refs, transact};
use crate::blob::BlobId;
use crate::errors::from_meta;
use crate::meta::keys;

/// Entries freed per transaction.
const BATCH: usize = 256;

impl Store {
    /// Frees every blob queued on this gateway more than the grace period ago; returns how many.
    pub async fn drain_frees(&self) -> S3Result<u64> {
        let me = self.cluster.me().as_str().to_owned();
        let until = SystemTime::now()
            .checked_sub(self.cluster.free_grace)
            .map_or(0, refs::queue_time);
        let mut freed = 0u64;
        loop {
            let (start, end) = keys::frees_queued_before(&me, until);
            let due = read_only(&*self.meta, &(start, end), |txn, (start, end)| {
                Box::pin(async move { txn.scan(start, end, BATCH).await.map_err(from_meta) })
            })
            .await?;
            if due.is_empty() {
                return Ok(freed);
            }
            let mut done = Vec::new();
            for (key, _) in &due {
                let Some(blob) = keys::free_queued_parts(&me, key).and_then(|(_, b)| BlobId::parse(b)) else {
                    done.push((key.clone(), None));
                    continue;
                };
                // A free follows the last reference, or a copy moved elsewhere (drain, repair);
                // checked all the same, since removing a copy a record still counts on is the one
                // mistake that loses data.
                let node = self.cluster.me().clone();
                let held = read_only(&*self.meta, &(&blob, &node), |txn, (blob, node)| {
                    Box::pin(async move { refs::is_held_by(txn, blob, node).await.map_err(from_meta) })
                })
                .await?;
                if !held && let Err(e) = self.blobs.delete(&blob).await {
                    tracing::warn!(blob = %blob, error = %e, "could not free blob; will retry");
                    continue;
                }
                done.push((key.clone(), Some(keys::free_pending(&me, blob.as_str()))));
                freed += 1;
            }
            let progressed = !done.is_empty();
            transact(&*self.meta, &done, |txn, done| {
                Box::pin(async move {
                    for (queued, pending) in done {
                        txn.delete(queued).await.map_err(from_meta)?;
                        if let Some(pending) = pending {
                            txn.delete(pending).await.map_err(from_meta)?;
                        }
                    }
                    Ok(())
                })
            })
            .await?;
            if !progressed {
                return Ok(freed); // every due blob failed to delete: try again next time
            }
        }
    }
}
