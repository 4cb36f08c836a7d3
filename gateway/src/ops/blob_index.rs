//! Every reference to a blob on a volume, walked: what fills the holder index for blob records
//! that earlier releases wrote (a bare count, no holders), once per store and without a manual
//! step, and what names the objects of a blob with no good copy left. Inline blobs (`ops::inline`)
//! are on no volume: they have no holders to index and no copy to lose.

use s3s::S3Result;

use super::{Store, read_only, refs, transact};
use crate::blob::BlobId;
use crate::cluster::NodeId;
use crate::errors::from_meta;
use crate::meta::keys;
use std::collections::HashMap;

use super::manifest;
use crate::model::{self, BlobRecord, ObjectHead, PartRecord, Segment};

/// Records read per transaction.
const PAGE: usize = 256;
/// Set once every blob record names its holders.
const INDEXED: &str = "blob-holders-indexed";

/// One reference: who uses the blob, and what the reference says about it.
pub struct Reference {
    pub label: String,
    pub blob: BlobId,
    pub holders: Vec<NodeId>,
    pub stored_size: u64,
    pub crc: Option<u64>,
}

fn reference(label: &str, seg: &Segment) -> Reference {
    Reference {
        label: label.to_owned(),
        blob: seg.blob.clone(),
        holders: seg.holders.clone(),
        stored_size: seg.stored_size(),
        crc: seg.crc,
    }
}

/// The references one record holds; the labels of objects whose segments are in a manifest are
/// remembered in `manifests` (versions are walked before manifests).
fn references_in(key: &[u8], value: &[u8], manifests: &mut HashMap<String, String>) -> Vec<Reference> {
    match key.first() {
        Some(b'P') => {
            let Ok(part) = model::decode::<PartRecord>(key, value) else {
                return Vec::new();
            };
            let stored_size = model::stored_size(part.size, part.seal.is_some());
            vec![Reference {
                label: format!("a part ({}) of an unfinished multipart upload", part.number),
                blob: part.blob,
                holders: part.holders,
                stored_size,
                crc: part.crc,
            }]
        }
        Some(b'V') => {
            let Ok(version) = model::decode::<ObjectHead>(key, value) else {
                return Vec::new();
            };
            let object = keys::space_of_scoped(key)
                .and_then(|space| {
                    let (name, _) = keys::version_parts(&space, key)?;
                    let bucket = space.as_str().split('#').next().unwrap_or_default().to_owned();
                    Some(match &version.version_id {
                        Some(id) => format!("{bucket}/{name} (version {id})"),
                        None => format!("{bucket}/{name}"),
                    })
                })
                .unwrap_or_else(|| "an object".to_owned());
            if let Some(manifest) = &version.manifest {
                manifests.insert(manifest.id.clone(), object.clone());
            }
            version
                .segments
                .iter()
                .filter(|seg| !seg.inline)
                .map(|seg| reference(&object, seg))
                .collect()
        }
        _ => {
            let label = keys::manifest_of(key)
                .and_then(|id| manifests.get(id).cloned())
                .unwrap_or_else(|| "an object of many parts".to_owned());
            manifest::chunk_segments(key, value)
                .unwrap_or_default()
                .iter()
                .filter(|seg| !seg.inline)
                .map(|seg| reference(&label, seg))
                .collect()
        }
    }
}

/// Where a walk over every reference is: the table and the next key.
pub struct Walk {
    tables: Vec<(Vec<u8>, Vec<u8>)>,
    /// The object of each manifest met so far.
    manifests: HashMap<String, String>,
}

impl Walk {
    /// A walk over versions, then parts, then the manifests of objects of many parts.
    pub fn new() -> Self {
        Self {
            tables: vec![keys::all_manifests(), keys::all_parts(), keys::all_versions()],
            manifests: HashMap::new(),
        }
    }
}

impl Default for Walk {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// The next page of references of a walk (maybe none); `None` when it is over.
    pub(super) async fn next_references(&self, walk: &mut Walk) -> S3Result<Option<Vec<Reference>>> {
        while let Some((from, end)) = walk.tables.last().cloned() {
            let page = read_only(&*self.meta, &(&from, &end), |txn, (from, end)| {
                Box::pin(async move { txn.scan(from, end, PAGE).await.map_err(from_meta) })
            })
            .await?;
            match page.last() {
                Some((last, _)) if page.len() == PAGE => {
                    if let Some(t) = walk.tables.last_mut() {
                        t.0 = keys::successor(last);
                    }
                }
                _ => {
                    walk.tables.pop();
                }
            }
            if !page.is_empty() {
                let manifests = &mut walk.manifests;
                return Ok(Some(
                    page.iter()
                        .flat_map(|(k, v)| references_in(k, v, manifests))
                        .collect(),
                ));
            }
        }
        Ok(None)
    }

    /// Whether every blob record names its holders (the holder index is complete).
    pub async fn holders_indexed(&self) -> S3Result<bool> {
        read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                Ok(txn
                    .get(&keys::setting(INDEXED))
                    .await
                    .map_err(from_meta)?
                    .is_some())
            })
        })
        .await
    }

    /// Gives every blob record from an earlier release its holders (from its references), once
    /// per store; resumable, and harmless to run on several gateways at once.
    pub async fn index_holders(&self) -> S3Result<u64> {
        if self.holders_indexed().await? {
            return Ok(0);
        }
        let mut upgraded = 0u64;
        let mut walk = Walk::new();
        while let Some(page) = self.next_references(&mut walk).await? {
            for r in page {
                let done = transact(&*self.meta, &r, |txn, r| {
                    Box::pin(async move {
                        let Some(record) = refs::load(txn, &r.blob).await.map_err(from_meta)? else {
                            return Ok(false);
                        };
                        if !record.holders.is_empty() || record.inline {
                            return Ok(false);
                        }
                        let upgraded = BlobRecord {
                            refs: record.refs,
                            holders: refs::resolve(txn, &r.holders).await.map_err(from_meta)?,
                            size: r.stored_size,
                            crc: r.crc,
                            inline: false,
                        };
                        refs::store(txn, &r.blob, &upgraded, &[])
                            .await
                            .map_err(from_meta)?;
                        Ok(true)
                    })
                })
                .await?;
                upgraded += u64::from(done);
            }
        }
        transact(&*self.meta, &(), |txn, ()| {
            Box::pin(async move { txn.put(&keys::setting(INDEXED), b"1").await.map_err(from_meta) })
        })
        .await?;
        if upgraded > 0 {
            tracing::info!(upgraded, "blob records now name their holders");
        }
        Ok(upgraded)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::meta::MetaStore;
    use crate::model::{Nanos, Segment};
    use crate::ops::version;

    /// What an earlier release left: a version whose segment names no holder, and a bare count.
    async fn legacy_object(store: &Store, blob: &BlobId) {
        let name = crate::names::BucketName::parse("old").unwrap();
        let record = store.create_bucket(&name, "org").await.unwrap();
        transact(&*store.meta, &(record, blob.clone()), |txn, (record, blob)| {
            Box::pin(async move {
                let mut head = ObjectHead::delete_marker(Nanos(1));
                head.delete_marker = false;
                head.size = 5;
                head.segments = vec![Segment {
                    blob: blob.clone(),
                    size: 5,
                    seal: None,
                    holders: Vec::new(),
                    crc: None,
                    inline: false,
                    bytes: None,
                }];
                version::publish(txn, record, "k", None, head, Nanos(2)).await?;
                // Back to the old form: a bare count and no holder index.
                txn.put(&keys::blob_ref(blob.as_str()), b"1")
                    .await
                    .map_err(from_meta)?;
                let (start, end) = keys::all_held("test-0");
                for (k, _) in txn.scan(&start, &end, 10).await.map_err(from_meta)? {
                    txn.delete(&k).await.map_err(from_meta)?;
                }
                txn.delete(&keys::setting(INDEXED)).await.map_err(from_meta)
            })
        })
        .await
        .expect("a legacy object");
    }

    #[tokio::test]
    async fn blob_records_of_an_earlier_release_learn_their_holders_once() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> =
            Arc::new(crate::meta::fjall::EmbeddedStore::open(&dir.path().join("meta")).unwrap());
        let store = crate::ops::test_store(meta.clone(), dir.path(), Arc::new(SystemClock)).await;
        let blob = BlobId::generate();
        legacy_object(&store, &blob).await;
        assert!(!store.holders_indexed().await.unwrap());

        assert_eq!(store.index_holders().await.unwrap(), 1);

        let me = store.cluster.me().clone();
        let (record, held) = read_only(&*meta, &(&blob, &me), |txn, (blob, me)| {
            Box::pin(async move {
                let record = refs::load(txn, blob).await.map_err(from_meta)?;
                let held = txn
                    .get(&keys::held(me.as_str(), blob.as_str()))
                    .await
                    .map_err(from_meta)?;
                Ok((record, held))
            })
        })
        .await
        .unwrap();
        let record = record.expect("the record");
        assert_eq!((record.refs, record.holders, record.size), (1, vec![me], 5));
        assert!(held.is_some(), "the holder index names it");
        assert!(store.holders_indexed().await.unwrap());
        assert_eq!(store.index_holders().await.unwrap(), 0, "once");
    }
}
