//! Blob reference counts, and the frees that follow the last reference. A blob may back several
//! records (a copy shares its source's blob), so it is freed only when the last record that
//! points at it is gone; and then not at once but through each holder's free queue, after a
//! grace period, so a GET that started before the delete streams the old bytes to the end.

use std::time::SystemTime;

use crate::blob::BlobId;
use crate::cluster::NodeId;
use crate::meta::{MetaResult, MetaTxn, keys};
use crate::model;

async fn count(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<u64> {
    let raw = txn.get(&keys::blob_ref(blob.as_str())).await?;
    Ok(raw
        .and_then(|r| std::str::from_utf8(&r).ok()?.parse().ok())
        .unwrap_or(0))
}

/// Records a new reference to a blob.
pub async fn add(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<()> {
    let n = count(txn, blob).await?;
    txn.put(&keys::blob_ref(blob.as_str()), (n + 1).to_string().as_bytes())
        .await
}

/// Drops a reference to a blob held by `holders`; when it was the last, queues its free on each
/// holder and returns true.
pub async fn release(txn: &mut dyn MetaTxn, blob: &BlobId, holders: &[NodeId]) -> MetaResult<bool> {
    let n = count(txn, blob).await?;
    if n <= 1 {
        txn.delete(&keys::blob_ref(blob.as_str())).await?;
        queue_frees(txn, blob, holders).await?;
        Ok(true)
    } else {
        txn.put(&keys::blob_ref(blob.as_str()), (n - 1).to_string().as_bytes())
            .await?;
        Ok(false)
    }
}

/// Queues the free of `blob` on each of `holders` (none named: the legacy holder). Queued by the
/// wall clock, not the store's clock: the grace period protects reads, which run in real time.
pub async fn queue_frees(txn: &mut dyn MetaTxn, blob: &BlobId, holders: &[NodeId]) -> MetaResult<()> {
    let legacy;
    let holders = if holders.is_empty() {
        let key = keys::setting(crate::cluster::membership::LEGACY_HOLDER);
        let Some(raw) = txn.get(&key).await? else {
            return Ok(()); // no gateway ever started: nothing can hold it
        };
        legacy = [model::decode::<NodeId>(&key, &raw)?];
        &legacy[..]
    } else {
        holders
    };
    let now = queue_time(SystemTime::now());
    for node in holders {
        txn.put(&keys::free_queued(node.as_str(), now, blob.as_str()), b"")
            .await?;
        txn.put(
            &keys::free_pending(node.as_str(), blob.as_str()),
            &now.to_be_bytes(),
        )
        .await?;
    }
    Ok(())
}

/// A wall-clock time as the free queue orders by it: nanoseconds since the epoch.
pub(super) fn queue_time(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Whether `blob` must stay on `node`'s volume: a committed record points at it, or a free of it
/// is queued there (and an in-flight read may still stream it until the free is due).
pub async fn is_kept(txn: &mut dyn MetaTxn, blob: &BlobId, node: &NodeId) -> MetaResult<bool> {
    Ok(txn.get(&keys::blob_ref(blob.as_str())).await?.is_some()
        || txn
            .get(&keys::free_pending(node.as_str(), blob.as_str()))
            .await?
            .is_some())
}

pub async fn is_referenced(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<bool> {
    Ok(txn.get(&keys::blob_ref(blob.as_str())).await?.is_some())
}
