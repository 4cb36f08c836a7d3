//! Blob records: how many records point at a blob and which gateways hold it. A blob may back
//! several records (a copy shares its source's blob), so it is freed only when the last record
//! that points at it is gone; and then not at once but through each holder's free queue, after a
//! grace period, so a GET that started before the delete streams the old bytes to the end.
//!
//! The blob record is the truth about holders, and `G<node, blob>` indexes it by holder, so a
//! node's blobs are one range scan (drain, repair, scrub).

use std::time::SystemTime;

use crate::blob::BlobId;
use crate::cluster::NodeId;
use crate::meta::{MetaError, MetaResult, MetaTxn, keys};
use crate::model::{self, BlobRecord};

/// The blob's record; a record from before holders were kept in it has none.
pub async fn load(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<Option<BlobRecord>> {
    let key = keys::blob_ref(blob.as_str());
    match txn.get(&key).await? {
        Some(raw) => BlobRecord::decode(&key, &raw).map(Some),
        None => Ok(None),
    }
}

/// Writes the record and its holder index; `before` is what the index said until now.
pub async fn store(
    txn: &mut dyn MetaTxn,
    blob: &BlobId,
    record: &BlobRecord,
    before: &[NodeId],
) -> MetaResult<()> {
    for gone in before.iter().filter(|h| !record.holders.contains(h)) {
        txn.delete(&keys::held(gone.as_str(), blob.as_str())).await?;
    }
    for new in record.holders.iter().filter(|h| !before.contains(h)) {
        txn.put(&keys::held(new.as_str(), blob.as_str()), b"").await?;
    }
    txn.put(&keys::blob_ref(blob.as_str()), &model::encode(record))
        .await
}

/// The legacy holder when `holders` names none (a reference from before holders were kept).
pub async fn resolve(txn: &mut dyn MetaTxn, holders: &[NodeId]) -> MetaResult<Vec<NodeId>> {
    if !holders.is_empty() {
        return Ok(holders.to_vec());
    }
    let key = keys::setting(crate::cluster::membership::LEGACY_HOLDER);
    match txn.get(&key).await? {
        Some(raw) => Ok(vec![model::decode::<NodeId>(&key, &raw)?]),
        None => Ok(Vec::new()), // no gateway ever started: nothing can hold it
    }
}

/// Refuses new copies on a gateway being drained, in the committing transaction: a write that
/// placed a copy before the drain was known fails instead of adding to it. A peek, so writers do
/// not conflict with one another through the mark (on TiKV a claimed read is a lock); the drain
/// allows for writers that peeked before the mark ([`crate::meta::MetaStore::longest_commit`]).
pub async fn refuse_draining(txn: &mut dyn MetaTxn, holders: &[NodeId]) -> MetaResult<()> {
    for h in holders {
        if txn.peek(&keys::drain(h.as_str())).await?.is_some() {
            return Err(MetaError::Unavailable(format!(
                "a copy of the new blob is on gateway {h}, which is being drained; the client retries"
            )));
        }
    }
    Ok(())
}

/// A reference about to be recorded: the blob, its holders as the writer placed them, and what
/// the stored bytes are.
pub struct NewRef<'a> {
    pub blob: &'a BlobId,
    pub holders: &'a [NodeId],
    pub stored_size: u64,
    pub crc: Option<u64>,
    /// An inline blob (`ops::inline`), with its bytes when it is new.
    pub inline: Option<Option<&'a bytes::Bytes>>,
}

impl<'a> NewRef<'a> {
    pub fn of(seg: &'a crate::model::Segment) -> Self {
        Self {
            blob: &seg.blob,
            holders: &seg.holders,
            stored_size: seg.stored_size(),
            crc: seg.crc,
            inline: seg.inline.then_some(seg.bytes.as_ref()),
        }
    }
}

/// Records a new reference to a blob.
pub async fn add(txn: &mut dyn MetaTxn, new: NewRef<'_>) -> MetaResult<()> {
    if let Some(bytes) = new.inline {
        return add_inline(txn, &new, bytes).await;
    }
    match load(txn, new.blob).await? {
        Some(mut record) if !record.holders.is_empty() => {
            record.refs += 1;
            let before = record.holders.clone();
            store(txn, new.blob, &record, &before).await
        }
        // A count from an earlier release: it learns its holders from this reference.
        Some(legacy) => {
            let record = BlobRecord {
                refs: legacy.refs + 1,
                holders: resolve(txn, new.holders).await?,
                size: new.stored_size,
                crc: new.crc,
                inline: false,
            };
            store(txn, new.blob, &record, &[]).await
        }
        None => {
            let holders = resolve(txn, new.holders).await?;
            refuse_draining(txn, &holders).await?;
            let record = BlobRecord {
                refs: 1,
                holders,
                size: new.stored_size,
                crc: new.crc,
                inline: false,
            };
            store(txn, new.blob, &record, &[]).await
        }
    }
}

/// A reference to an inline blob: its record counts references as any blob's does, and the
/// first one stores the bytes, in the transaction that publishes them.
async fn add_inline(txn: &mut dyn MetaTxn, new: &NewRef<'_>, bytes: Option<&bytes::Bytes>) -> MetaResult<()> {
    let record = match load(txn, new.blob).await? {
        Some(mut record) => {
            record.refs += 1;
            record
        }
        None => {
            // Only a new body carries its bytes; a copy, which read its source in this
            // transaction, finds the record the source holds.
            let bytes =
                bytes.ok_or_else(|| MetaError::Backend(format!("inline blob {} has no record", new.blob)))?;
            txn.put(&keys::inline_blob(new.blob.as_str()), bytes).await?;
            BlobRecord {
                refs: 1,
                holders: Vec::new(),
                size: new.stored_size,
                crc: new.crc,
                inline: true,
            }
        }
    };
    store(txn, new.blob, &record, &[]).await
}

/// Drops a reference to a blob (whose references name `holders`); when it was the last, queues
/// its free on each holder the blob record names and returns true. The last reference to an
/// inline blob takes its bytes with it, in this transaction: there is nothing to free.
pub async fn release(txn: &mut dyn MetaTxn, blob: &BlobId, holders: &[NodeId]) -> MetaResult<bool> {
    let Some(mut record) = load(txn, blob).await? else {
        return Ok(false);
    };
    if record.inline {
        if record.refs <= 1 {
            txn.delete(&keys::blob_ref(blob.as_str())).await?;
            txn.delete(&keys::inline_blob(blob.as_str())).await?;
        } else {
            record.refs -= 1;
            store(txn, blob, &record, &[]).await?;
        }
        return Ok(false);
    }
    let holders = if record.holders.is_empty() {
        resolve(txn, holders).await?
    } else {
        record.holders.clone()
    };
    if record.refs <= 1 {
        txn.delete(&keys::blob_ref(blob.as_str())).await?;
        for h in &holders {
            txn.delete(&keys::held(h.as_str(), blob.as_str())).await?;
        }
        queue_frees(txn, blob, &holders).await?;
        Ok(true)
    } else {
        record.refs -= 1;
        if record.holders.is_empty() {
            record.holders = holders;
            store(txn, blob, &record, &[]).await?;
        } else {
            let before = record.holders.clone();
            store(txn, blob, &record, &before).await?;
        }
        Ok(false)
    }
}

/// Queues the free of `blob` on each of `holders` (none named: the legacy holder). Queued by the
/// wall clock, not the store's clock: the grace period protects reads, which run in real time.
pub async fn queue_frees(txn: &mut dyn MetaTxn, blob: &BlobId, holders: &[NodeId]) -> MetaResult<()> {
    let holders = resolve(txn, holders).await?;
    let now = queue_time(SystemTime::now());
    for node in &holders {
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

/// Whether `node` holds `blob` for a record: the blob record names it (or, from an earlier
/// release, names nobody, and the references then decide).
pub async fn is_held_by(txn: &mut dyn MetaTxn, blob: &BlobId, node: &NodeId) -> MetaResult<bool> {
    Ok(load(txn, blob)
        .await?
        .is_some_and(|r| !r.inline && (r.holders.is_empty() || r.holders.contains(node))))
}

/// Whether `blob` must stay on `node`'s volume: a committed record points at it there, or a free
/// of it is queued there (and an in-flight read may still stream it until the free is due).
pub async fn is_kept(txn: &mut dyn MetaTxn, blob: &BlobId, node: &NodeId) -> MetaResult<bool> {
    Ok(is_held_by(txn, blob, node).await?
        || txn
            .get(&keys::free_pending(node.as_str(), blob.as_str()))
            .await?
            .is_some())
}
