//! Deleted buckets' spaces: what writes that raced a DeleteBucket left there, removed.
//!
//! A write into a bucket only peeks at the bucket's record (`bucket::load_for_write`), so that
//! writers of one bucket never contend on it; on TiKV such a write can therefore commit after a
//! concurrent DeleteBucket. It lands in the deleted bucket's space (`keys::Space`), which no
//! request reads again, so the next bucket of that name, whoever owns it, starts empty.
//! DeleteBucket marks the space dead; once no write that started before the delete can still
//! commit ([`MetaStore::longest_commit`](crate::meta::MetaStore::longest_commit)), this sweep
//! removes the space's records and releases the blobs they referenced.

use s3s::S3Result;

use super::{Store, manifest, multipart, read_only, refs, transact};
use crate::blob::BlobId;
use crate::errors::from_meta;
use crate::meta::MetaTxn;
use crate::meta::keys::{self, Space};
use crate::model::{self, DeadSpace, Nanos, ObjectHead, UploadRecord};

/// Records removed per transaction.
const BATCH: usize = 256;
/// Dead spaces examined per sweep.
const SPACES_PER_SWEEP: usize = 1000;

impl Store {
    /// Sweeps every dead space whose bucket was deleted longer ago than the backend's longest
    /// commit. Returns how many records were removed.
    pub async fn sweep_dead_spaces(&self) -> S3Result<u64> {
        let settle = i64::try_from(self.meta.longest_commit().as_nanos()).unwrap_or(i64::MAX);
        let now = Nanos::from_time(self.clock.now());
        let dead = read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                let (start, end) = keys::all_dead_spaces();
                txn.scan(&start, &end, SPACES_PER_SWEEP).await.map_err(from_meta)
            })
        })
        .await?;
        let mut removed = 0;
        for (raw, value) in dead {
            let Some(space) = keys::dead_space_of(&raw) else {
                continue;
            };
            let marker: DeadSpace = model::decode(&raw, &value).map_err(from_meta)?;
            if now.0.saturating_sub(marker.deleted.0) < settle {
                continue;
            }
            loop {
                let (n, freed, done) = transact(&*self.meta, &space, |txn, space| {
                    Box::pin(sweep_batch(txn, space))
                })
                .await?;
                self.free(&freed).await;
                removed += n;
                if done {
                    break;
                }
            }
        }
        Ok(removed)
    }
}

/// Removes up to [`BATCH`] records of `space` (versions with their blob references, current
/// heads, uploads with their parts, rename tokens); when none is left, the space's mark too.
/// Returns the records removed, the blobs freed and whether the space is gone.
async fn sweep_batch(txn: &mut dyn MetaTxn, space: &Space) -> S3Result<(u64, Vec<BlobId>, bool)> {
    let mut removed = 0;
    let mut freed = Vec::new();
    let tables = [
        (Table::Versions, keys::versions_prefix(space, "")),
        (Table::Heads, keys::object(space, "")),
        (Table::Uploads, keys::uploads_prefix(space, "")),
        (Table::Tokens, keys::tokens_prefix(space)),
    ];
    for (table, prefix) in tables {
        let room = BATCH - removed;
        let batch = txn
            .scan(&prefix, &keys::prefix_end(&prefix), room)
            .await
            .map_err(from_meta)?;
        let full = batch.len() == room;
        for (k, v) in batch {
            match table {
                Table::Versions => {
                    let mut version: ObjectHead = model::decode(&k, &v).map_err(from_meta)?;
                    manifest::load(txn, &mut version).await?;
                    manifest::delete(txn, &version).await?;
                    for seg in &version.segments {
                        if refs::release(txn, &seg.blob, &seg.holders)
                            .await
                            .map_err(from_meta)?
                        {
                            freed.push(seg.blob.clone());
                        }
                    }
                    txn.delete(&k).await.map_err(from_meta)?;
                }
                Table::Uploads => {
                    let upload: UploadRecord = model::decode(&k, &v).map_err(from_meta)?;
                    freed.extend(multipart::remove_upload(txn, space, &upload).await?);
                }
                Table::Heads | Table::Tokens => txn.delete(&k).await.map_err(from_meta)?,
            }
            removed += 1;
        }
        if full {
            return Ok((removed as u64, freed, false));
        }
    }
    txn.delete(&keys::dead_space(space)).await.map_err(from_meta)?;
    Ok((removed as u64, freed, true))
}

#[derive(Clone, Copy)]
enum Table {
    Versions,
    Heads,
    Uploads,
    Tokens,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::meta::MetaStore;
    use crate::model::{BucketRecord, Segment};
    use crate::ops::version;

    /// What a PUT that committed after its bucket's deletion leaves: a version and head in the
    /// dead space, a reference to its blob, and the space marked dead.
    async fn raced_write(store: &Store, record: &BucketRecord, blob: &BlobId) {
        let (record, blob) = (record.clone(), blob.clone());
        let me = store.cluster.me().clone();
        transact(&*store.meta, &(record, blob, me), |txn, (record, blob, me)| {
            Box::pin(async move {
                let mut head = ObjectHead::delete_marker(Nanos(1));
                head.delete_marker = false;
                head.segments = vec![Segment {
                    blob: blob.clone(),
                    size: 1,
                    seal: None,
                    holders: vec![me.clone()],
                    crc: None,
                    inline: false,
                    bytes: None,
                }];
                version::publish(txn, record, "raced", None, head, Nanos(2)).await?;
                let dead = DeadSpace { deleted: Nanos(3) };
                txn.put(&keys::dead_space(&record.space()), &model::encode(&dead))
                    .await
                    .map_err(from_meta)
            })
        })
        .await
        .expect("raced write");
    }

    #[tokio::test]
    async fn a_dead_space_is_emptied_its_blobs_released_and_its_mark_removed() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> =
            Arc::new(crate::meta::fjall::EmbeddedStore::open(&dir.path().join("meta")).unwrap());
        let store = crate::ops::test_store(meta.clone(), dir.path(), Arc::new(SystemClock)).await;
        let name = crate::names::BucketName::parse("gone").unwrap();
        let record = store.create_bucket(&name, "org").await.unwrap();
        store.delete_bucket("gone").await.unwrap();
        let blob = BlobId::generate();
        raced_write(&store, &record, &blob).await;

        let removed = store.sweep_dead_spaces().await.unwrap();

        assert_eq!(removed, 2, "the version and the head");
        let space = record.space();
        let left = read_only(&*meta, &(&space, &blob), |txn, (space, blob)| {
            Box::pin(async move {
                let mut all = Vec::new();
                for prefix in [
                    keys::object(space, ""),
                    keys::versions_prefix(space, ""),
                    keys::dead_space(space),
                ] {
                    all.extend(
                        txn.scan(&prefix, &keys::prefix_end(&prefix), 10)
                            .await
                            .map_err(from_meta)?,
                    );
                }
                all.extend(
                    txn.get(&keys::blob_ref(blob.as_str()))
                        .await
                        .map_err(from_meta)?
                        .map(|v| (Vec::new(), v)),
                );
                Ok(all)
            })
        })
        .await
        .unwrap();
        assert!(left.is_empty(), "{left:?}");
        // A new bucket of the name starts empty, in a space of its own.
        let again = store.create_bucket(&name, "another-org").await.unwrap();
        assert_ne!(again.space(), space);
    }
}
