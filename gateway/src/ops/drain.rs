//! Draining a gateway: every blob it holds is copied to another gateway with room and the blob
//! record then names the new holder instead (the old copy is freed through the node's queue
//! after the grace period, so reads in flight finish). No new copy is placed on a draining node:
//! placement skips it, and the transaction recording a new blob refuses it (`refs::add`).
//!
//! The drain is done by the draining gateway itself while it is up (its copies are local); when
//! it is down, by the first live gateway by id, from the other copies. It is resumable: the work
//! left is the node's holder index. A node is *drained* once a pass found nothing left there, and
//! that stays true: every transaction that records a copy on a node peeks at the node's drain
//! mark and refuses a draining one. A transaction that peeked before the mark was set may still
//! commit for as long as a transaction can live (`MetaStore::longest_commit`: nothing on the
//! embedded store, whose commits conflict with writes to what they read; minutes on TiKV), so
//! only a pass that began that long after the drain was asked for can declare it drained.

use std::time::SystemTime;

use futures::StreamExt as _;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::{Store, read_only, refs, transact};
use crate::blob::BlobId;
use crate::cluster::{NodeId, NodeRecord, placement};
use crate::errors::{custom, from_meta};
use crate::meta::{MetaTxn, keys};
use crate::model::{self, DrainRecord, Nanos};

/// Blobs moved between progress updates.
const BATCH: usize = 32;
/// Blobs being moved at once.
const MOVES_AT_ONCE: usize = 4;

pub fn no_such_node(id: &str) -> S3Error {
    custom(
        "NoSuchNode",
        http::StatusCode::NOT_FOUND,
        format!("The store has no gateway {id}."),
    )
}

fn wall_now() -> Nanos {
    Nanos::from_time(SystemTime::now().into())
}

/// Refuses a node the store has never registered.
async fn require_node(txn: &mut dyn MetaTxn, node: &NodeId) -> S3Result<()> {
    match txn.get(&keys::node(node.as_str())).await.map_err(from_meta)? {
        Some(_) => Ok(()),
        None => Err(no_such_node(node.as_str())),
    }
}

/// What moving one blob off a node came to.
enum Moved {
    /// Copied elsewhere (bytes), and the record updated.
    Bytes(u64),
    /// Nothing to do: the blob is gone or no longer on the node.
    Nothing,
}

impl Store {
    pub async fn drain_record(&self, node: &NodeId) -> S3Result<Option<DrainRecord>> {
        read_only(&*self.meta, node, |txn, node| {
            Box::pin(async move {
                let key = keys::drain(node.as_str());
                match txn.get(&key).await.map_err(from_meta)? {
                    Some(raw) => Ok(Some(model::decode(&key, &raw).map_err(from_meta)?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    /// Starts draining `node` (a no-op when it is already draining).
    pub async fn start_drain(&self, node: &NodeId) -> S3Result<DrainRecord> {
        // What is left, so the answer shows it before the first pass has counted.
        let (blobs_left, bytes_left) = self.held_totals(node).await?;
        let args = (node, blobs_left, bytes_left);
        let record = transact(&*self.meta, &args, |txn, (node, blobs_left, bytes_left)| {
            Box::pin(async move {
                require_node(txn, node).await?;
                let key = keys::drain(node.as_str());
                if let Some(raw) = txn.get(&key).await.map_err(from_meta)? {
                    return model::decode(&key, &raw).map_err(from_meta);
                }
                let record = DrainRecord {
                    node: (*node).clone(),
                    requested: wall_now(),
                    drained: false,
                    blobs_left: *blobs_left,
                    bytes_left: *bytes_left,
                    blobs_moved: 0,
                    bytes_moved: 0,
                };
                txn.put(&key, &model::encode(&record)).await.map_err(from_meta)?;
                Ok(record)
            })
        })
        .await?;
        tracing::info!(node = %node, "drain requested");
        self.cluster
            .membership
            .refresh(&*self.meta)
            .await
            .map_err(from_meta)?;
        Ok(record)
    }

    /// Cancels a drain: the node takes new copies again (what was moved stays moved).
    pub async fn stop_drain(&self, node: &NodeId) -> S3Result<()> {
        transact(&*self.meta, node, |txn, node| {
            Box::pin(async move {
                require_node(txn, node).await?;
                txn.delete(&keys::drain(node.as_str())).await.map_err(from_meta)
            })
        })
        .await?;
        tracing::info!(node = %node, "drain cancelled");
        self.cluster
            .membership
            .refresh(&*self.meta)
            .await
            .map_err(from_meta)
    }

    /// Blob ids the node holds, up to `limit`.
    async fn held_by(&self, node: &NodeId, limit: usize) -> S3Result<Vec<BlobId>> {
        read_only(&*self.meta, node, |txn, node| {
            Box::pin(async move {
                let (start, end) = keys::all_held(node.as_str());
                let rows = txn.scan(&start, &end, limit).await.map_err(from_meta)?;
                Ok(rows
                    .iter()
                    .filter_map(|(k, _)| keys::held_blob(node.as_str(), k).and_then(BlobId::parse))
                    .collect())
            })
        })
        .await
    }

    /// Blobs and bytes the node holds.
    async fn held_totals(&self, node: &NodeId) -> S3Result<(u64, u64)> {
        let mut from: Option<Vec<u8>> = None;
        let (mut blobs, mut bytes) = (0u64, 0u64);
        loop {
            let args = (node, from.clone());
            let page = read_only(&*self.meta, &args, |txn, (node, from)| {
                Box::pin(async move {
                    let (start, end) = keys::all_held(node.as_str());
                    let start = from.clone().unwrap_or(start);
                    let rows = txn.scan(&start, &end, 512).await.map_err(from_meta)?;
                    let mut sized = Vec::with_capacity(rows.len());
                    for (k, _) in &rows {
                        let size = match keys::held_blob(node.as_str(), k).and_then(BlobId::parse) {
                            Some(blob) => refs::load(txn, &blob)
                                .await
                                .map_err(from_meta)?
                                .map_or(0, |r| r.size),
                            None => 0,
                        };
                        sized.push((k.clone(), size));
                    }
                    Ok(sized)
                })
            })
            .await?;
            let Some((last, _)) = page.last() else { break };
            from = Some(keys::successor(last));
            blobs += page.len() as u64;
            bytes += page.iter().map(|(_, s)| s).sum::<u64>();
            if page.len() < 512 {
                break;
            }
        }
        Ok((blobs, bytes))
    }

    /// Whether this gateway moves `node`'s blobs: the node itself while it is up, else the
    /// first live gateway by id that is not draining.
    fn drains_for(&self, node: &NodeId) -> bool {
        let membership = &self.cluster.membership;
        let me = self.cluster.me();
        if node == me {
            return true;
        }
        if membership.is_live(node) {
            return false;
        }
        let mut up: Vec<NodeId> = membership.placeable_peers().into_iter().map(|n| n.id).collect();
        if !membership.is_draining(me) {
            up.push(me.clone());
        }
        up.sort();
        up.first() == Some(me)
    }

    /// Works on every drain this gateway is responsible for; returns the blobs moved.
    pub async fn drain_round(&self) -> S3Result<u64> {
        let drains = read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                let (start, end) = keys::all_drains();
                txn.scan(&start, &end, 10_000).await.map_err(from_meta)
            })
        })
        .await?;
        let mut moved = 0;
        for (k, v) in drains {
            let record: DrainRecord = model::decode(&k, &v).map_err(from_meta)?;
            if self.drains_for(&record.node) {
                moved += self.drain_node(record).await?;
            }
        }
        Ok(moved)
    }

    async fn drain_node(&self, record: DrainRecord) -> S3Result<u64> {
        let node = record.node.clone();
        let pass_began = SystemTime::now();
        let (blobs_left, bytes_left) = self.held_totals(&node).await?;
        let mut progress = Progress {
            blobs_left,
            bytes_left,
            blobs_moved: 0,
            bytes_moved: 0,
            blobs_saved: 0,
            bytes_saved: 0,
            drained: false,
        };
        if !self.save_progress(&node, &mut progress).await? {
            return Ok(0);
        }
        let mut stuck = 0usize;
        loop {
            let batch = self.held_by(&node, BATCH + stuck).await?;
            let todo: Vec<_> = batch.into_iter().skip(stuck).collect();
            if todo.is_empty() {
                break;
            }
            // A few moves at once: each waits on a copy's fsync and a commit, not on the disk.
            let node_ref = &node;
            let moves: Vec<(BlobId, S3Result<Moved>)> = futures::stream::iter(todo)
                .map(|blob| async move {
                    let moved = self.move_off(&blob, node_ref).await;
                    (blob, moved)
                })
                .buffer_unordered(MOVES_AT_ONCE)
                .collect()
                .await;
            for (blob, moved) in moves {
                match moved {
                    Ok(Moved::Bytes(n)) => {
                        progress.blobs_moved += 1;
                        progress.bytes_moved += n;
                        progress.blobs_left = progress.blobs_left.saturating_sub(1);
                        progress.bytes_left = progress.bytes_left.saturating_sub(n);
                    }
                    Ok(Moved::Nothing) => progress.blobs_left = progress.blobs_left.saturating_sub(1),
                    Err(e) => {
                        tracing::warn!(blob = %blob, node = %node, error = %e, "could not move a blob off a draining gateway; will retry");
                        stuck += 1;
                    }
                }
            }
            if !self.save_progress(&node, &mut progress).await? {
                return Ok(progress.blobs_moved); // undrained meanwhile
            }
        }
        // Nothing is left; it stays so once no transaction that peeked before the drain mark can
        // still commit (the module comment), and when the store's old blob records all name their
        // holders.
        let requested = SystemTime::UNIX_EPOCH
            + std::time::Duration::from_nanos(u64::try_from(record.requested.0).unwrap_or(0));
        let settled = pass_began >= requested + self.meta.longest_commit();
        if stuck == 0 && settled && self.holders_indexed().await? {
            progress.drained = true;
            progress.blobs_left = 0;
            progress.bytes_left = 0;
            if self.save_progress(&node, &mut progress).await? && !record.drained {
                tracing::info!(node = %node, "gateway drained: it holds no referenced blob");
            }
        }
        Ok(progress.blobs_moved)
    }

    /// Records a pass's progress; false when the drain was cancelled.
    async fn save_progress(&self, node: &NodeId, p: &mut Progress) -> S3Result<bool> {
        let args = (node, &*p);
        transact(&*self.meta, &args, |txn, (node, p)| {
            Box::pin(async move {
                let key = keys::drain(node.as_str());
                let Some(raw) = txn.get(&key).await.map_err(from_meta)? else {
                    return Ok(false);
                };
                let mut record: DrainRecord = model::decode(&key, &raw).map_err(from_meta)?;
                record.blobs_left = p.blobs_left;
                record.bytes_left = p.bytes_left;
                record.drained = p.drained;
                record.blobs_moved += p.blobs_moved - p.blobs_saved;
                record.bytes_moved += p.bytes_moved - p.bytes_saved;
                txn.put(&key, &model::encode(&record)).await.map_err(from_meta)?;
                Ok(true)
            })
        })
        .await
        .inspect(|saved| {
            if *saved {
                self.cluster.volume_metrics.drain_progress(
                    node.as_str(),
                    p.blobs_left,
                    p.bytes_left,
                    p.blobs_moved - p.blobs_saved,
                    p.bytes_moved - p.bytes_saved,
                );
                p.blobs_saved = p.blobs_moved;
                p.bytes_saved = p.bytes_moved;
            }
        })
    }

    /// Where a copy of `blob` (`size` bytes) may go that none of `holders` has: a live gateway
    /// with room that is not draining (this one included), in placement order.
    pub(super) fn copy_target(&self, blob: &BlobId, size: u64, holders: &[NodeId]) -> Option<NodeRecord> {
        let membership = &self.cluster.membership;
        let high_water = self.cluster.high_water;
        let me = self.cluster.me();
        let mut candidates = membership.placeable_peers();
        if !membership.is_draining(me) {
            candidates.push(membership.my_record());
        }
        candidates.retain(|n| !holders.contains(&n.id) && n.room().fits(size, high_water));
        placement::rank(blob, size, candidates).into_iter().next()
    }

    /// A holder to copy `blob` from, best first: this gateway, then live ones.
    pub(super) fn copy_source(&self, holders: &[NodeId]) -> Option<NodeId> {
        let me = self.cluster.me();
        if holders.contains(me) {
            return Some(me.clone());
        }
        holders
            .iter()
            .find(|h| self.cluster.membership.is_live(h))
            .cloned()
    }

    /// Moves the copy of `blob` on `node` to another gateway.
    async fn move_off(&self, blob: &BlobId, node: &NodeId) -> S3Result<Moved> {
        let record = read_only(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { refs::load(txn, blob).await.map_err(from_meta) })
        })
        .await?;
        let Some(record) = record.filter(|r| r.holders.contains(node)) else {
            // A stale index entry (the record went or moved on): drop it.
            let args = (node, blob);
            transact(&*self.meta, &args, |txn, (node, blob)| {
                Box::pin(async move {
                    if refs::load(txn, blob)
                        .await
                        .map_err(from_meta)?
                        .is_none_or(|r| !r.holders.contains(node))
                    {
                        txn.delete(&keys::held(node.as_str(), blob.as_str()))
                            .await
                            .map_err(from_meta)?;
                    }
                    Ok(())
                })
            })
            .await?;
            return Ok(Moved::Nothing);
        };
        let Some(target) = self.copy_target(blob, record.size, &record.holders) else {
            // No room for another copy; with copies elsewhere the node's may simply go.
            if record.holders.len() > 1 && self.cluster.copies < record.holders.len() {
                return self.drop_holder(blob, node, None).await;
            }
            return Err(crate::errors::no_room());
        };
        let source = if self.cluster.membership.is_live(node) || node == self.cluster.me() {
            node.clone()
        } else {
            self.copy_source(&record.holders)
                .filter(|s| s != node)
                .ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::ServiceUnavailable,
                        format!("blob {blob}: no live gateway has a copy to move"),
                    )
                })?
        };
        self.copy_blob(blob, record.size, record.crc, &source, &target)
            .await
            .map_err(|e| S3Error::with_message(S3ErrorCode::ServiceUnavailable, e.to_string()))?;
        self.drop_holder(blob, node, Some(target.id)).await
    }

    /// Replaces `node` with `target` (when given) among the blob's holders and queues the free
    /// of the node's copy; a copy that landed for a blob released meanwhile is queued too.
    async fn drop_holder(&self, blob: &BlobId, node: &NodeId, target: Option<NodeId>) -> S3Result<Moved> {
        let args = (blob, node, target);
        transact(&*self.meta, &args, |txn, (blob, node, target)| {
            Box::pin(async move {
                let record = refs::load(txn, blob).await.map_err(from_meta)?;
                let Some(mut record) = record.filter(|r| r.holders.contains(node)) else {
                    if let Some(t) = target {
                        refs::queue_frees(txn, blob, std::slice::from_ref(t))
                            .await
                            .map_err(from_meta)?;
                    }
                    return Ok(Moved::Nothing);
                };
                let before = record.holders.clone();
                record.holders.retain(|h| h != *node);
                if let Some(t) = target
                    && !record.holders.contains(t)
                {
                    refs::refuse_draining(txn, std::slice::from_ref(t))
                        .await
                        .map_err(from_meta)?;
                    record.holders.push(t.clone());
                }
                refs::store(txn, blob, &record, &before)
                    .await
                    .map_err(from_meta)?;
                refs::queue_frees(txn, blob, std::slice::from_ref(node))
                    .await
                    .map_err(from_meta)?;
                Ok(Moved::Bytes(record.size))
            })
        })
        .await
    }

    /// Forgets a gateway that is gone for good: its registration, its drain and its free
    /// queue. Refused while it is up or still holds a referenced blob.
    pub async fn forget_node(&self, node: &NodeId) -> S3Result<()> {
        self.cluster
            .membership
            .refresh(&*self.meta)
            .await
            .map_err(from_meta)?;
        if self.cluster.membership.is_live(node) {
            return Err(custom(
                "NodeStillLive",
                http::StatusCode::CONFLICT,
                format!("Gateway {node} is still up; stop it before forgetting it."),
            ));
        }
        if !self.held_by(node, 1).await?.is_empty() {
            return Err(custom(
                "NodeNotDrained",
                http::StatusCode::CONFLICT,
                format!("Gateway {node} still holds blobs that objects use; drain it first."),
            ));
        }
        transact(&*self.meta, node, |txn, node| {
            Box::pin(async move {
                require_node(txn, node).await?;
                txn.delete(&keys::node(node.as_str())).await.map_err(from_meta)?;
                txn.delete(&keys::drain(node.as_str())).await.map_err(from_meta)
            })
        })
        .await?;
        // Its free queue frees nothing any more: the volume is gone with it.
        for (start, end) in keys::all_frees_of(node.as_str()) {
            loop {
                let range = (start.clone(), end.clone());
                let removed = transact(&*self.meta, &range, |txn, (start, end)| {
                    Box::pin(async move {
                        let rows = txn.scan(start, end, 512).await.map_err(from_meta)?;
                        for (k, _) in &rows {
                            txn.delete(k).await.map_err(from_meta)?;
                        }
                        Ok(rows.len())
                    })
                })
                .await?;
                if removed < 512 {
                    break;
                }
            }
        }
        tracing::info!(node = %node, "gateway forgotten");
        self.cluster
            .membership
            .refresh(&*self.meta)
            .await
            .map_err(from_meta)
    }
}

struct Progress {
    blobs_left: u64,
    bytes_left: u64,
    blobs_moved: u64,
    bytes_moved: u64,
    /// What of the moves the drain record already counts.
    blobs_saved: u64,
    bytes_saved: u64,
    drained: bool,
}
