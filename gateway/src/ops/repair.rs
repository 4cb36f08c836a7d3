//! Keeping every copy a blob record names. A pass walks the blobs this gateway holds (its
//! holder index): a copy missing from the volume (a lost or replaced disk) is fetched again from
//! another holder; when scrubbing, every present copy is re-read at a pace and checked against
//! the CRC recorded when it was written, and a damaged one is replaced the same way (a good copy
//! is written over it). A blob that no holder has a good copy of is reported (admin API, metric,
//! one log line per object), never dropped from listings, and a damaged copy of it is left in
//! place: the ranges it still has right remain readable.

use std::time::SystemTime;

use futures::StreamExt as _;
use s3s::S3Result;

use super::{Store, read_only, refs, transact};
use crate::blob::{BlobId, Verdict, check_copy, check_copy_paced};
use crate::cluster::NodeId;
use crate::errors::from_meta;
use crate::meta::keys;
use crate::model::{self, BlobRecord, LostBlob, Nanos, Segment};

/// Index entries read per transaction.
const PAGE: usize = 256;
/// Copies fetched at once.
const FETCHES_AT_ONCE: usize = 4;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RepairReport {
    pub checked: u64,
    pub damaged: u64,
    pub missing: u64,
    pub repaired: u64,
    /// Bytes of the copies repaired.
    pub repaired_bytes: u64,
    pub lost: u64,
}

impl Store {
    /// One pass over this gateway's blobs; `scrub_rate` (bytes per second, 0 for the disk's
    /// speed) re-reads and checks every present copy, `None` only looks for missing ones.
    pub async fn repair_pass(&self, scrub_rate: Option<u64>) -> S3Result<RepairReport> {
        let me = self.cluster.me().clone();
        let mut report = RepairReport::default();
        let mut lost = Vec::new();
        let (mut from, end) = keys::all_held(me.as_str());
        loop {
            let page = read_only(&*self.meta, &(&from, &end), |txn, (from, end)| {
                Box::pin(async move { txn.scan(from, end, PAGE).await.map_err(from_meta) })
            })
            .await?;
            let Some((last, _)) = page.last() else { break };
            from = keys::successor(last);
            let full = page.len() == PAGE;
            let mut to_fix = Vec::new();
            for blob in page
                .iter()
                .filter_map(|(k, _)| keys::held_blob(me.as_str(), k).and_then(BlobId::parse))
            {
                let Some(record) = self.blob_record(&blob).await? else {
                    continue;
                };
                if !record.holders.contains(&me) {
                    continue;
                }
                let verdict = match (scrub_rate, record.crc) {
                    (Some(rate), Some(crc)) => {
                        report.checked += 1;
                        check_copy_paced(&self.blobs, &blob, record.size, crc, rate)
                            .await
                            .map_err(|e| crate::errors::internal("scrub", e))?
                    }
                    _ if self.blobs.has(&blob) => Verdict::Good,
                    _ => Verdict::Missing,
                };
                match verdict {
                    Verdict::Good => {
                        if scrub_rate.is_some() {
                            self.cluster.volume_metrics.scrubbed_bytes.inc_by(record.size);
                        }
                        continue;
                    }
                    Verdict::Damaged => report.damaged += 1,
                    Verdict::Missing => report.missing += 1,
                }
                to_fix.push((blob, record));
            }
            // A few fetches at once: each waits on a peer's read and this volume's fsync.
            let fixed: Vec<(BlobId, BlobRecord, bool)> = futures::stream::iter(to_fix)
                .map(|(blob, record)| async move {
                    let fixed = self.fetch_copy(&blob, &record).await;
                    (blob, record, fixed)
                })
                .buffer_unordered(FETCHES_AT_ONCE)
                .collect()
                .await;
            for (blob, record, fixed) in fixed {
                if fixed {
                    report.repaired += 1;
                    report.repaired_bytes += record.size;
                    self.clear_lost(&blob).await?;
                } else {
                    report.lost += 1;
                    lost.push((blob, record.holders.clone()));
                }
            }
            if !full {
                break;
            }
        }
        if !lost.is_empty() {
            self.report_lost(lost).await?;
            self.lost_blobs().await?; // brings the metric up to date
        }
        self.note_repairs(&report);
        Ok(report)
    }

    pub(super) async fn blob_record(&self, blob: &BlobId) -> S3Result<Option<BlobRecord>> {
        read_only(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { refs::load(txn, blob).await.map_err(from_meta) })
        })
        .await
    }

    /// Writes a good copy of `blob` over this volume's (missing or damaged) from another
    /// holder; false when none could give one.
    async fn fetch_copy(&self, blob: &BlobId, record: &BlobRecord) -> bool {
        let me = self.cluster.me().clone();
        let sources: Vec<NodeId> = record.holders.iter().filter(|h| **h != me).cloned().collect();
        self.repair_copy(blob, record, &sources, &me).await
    }

    /// Writes a good copy of `blob` onto `target` (this gateway or a peer) from the first of
    /// `sources` that gives one (every copy is checked against the CRC on arrival).
    async fn repair_copy(
        &self,
        blob: &BlobId,
        record: &BlobRecord,
        sources: &[NodeId],
        target: &NodeId,
    ) -> bool {
        let me = self.cluster.me();
        let target = if target == me {
            self.cluster.membership.my_record()
        } else {
            match self
                .cluster
                .membership
                .nodes()
                .into_iter()
                .find(|n| n.id == *target)
            {
                Some(node) => node,
                None => return false,
            }
        };
        for source in sources.iter().filter(|s| **s != target.id) {
            match self
                .copy_blob(blob, record.size, record.crc, source, &target)
                .await
            {
                Ok(()) => {
                    tracing::info!(blob = %blob, from = %source, to = %target.id, "copy repaired");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(blob = %blob, from = %source, error = %e, "could not repair from this holder")
                }
            }
        }
        false
    }

    /// [`Store::check_copies`] of every segment of an object (those of an object of many parts
    /// are read from its manifest).
    pub(super) async fn check_object_copies(&self, head: &crate::model::ObjectHead) {
        match self.segments_for(head, &(0..head.size)).await {
            Ok((_, segments)) => self.check_copies(&segments).await,
            Err(e) => tracing::warn!(error = ?e, "could not read an object's segments to check its copies"),
        }
    }

    /// Checks every copy of the blobs of `segments` (a read saw bytes that did not match what
    /// was written) and writes a good copy over each damaged or missing one, so the next read
    /// gets the object's bytes from whichever copy it takes; a blob with no good copy left is
    /// reported.
    pub(super) async fn check_copies(&self, segments: &[Segment]) {
        let me = self.cluster.me().clone();
        let mut lost = Vec::new();
        for seg in segments.iter().filter(|s| !s.inline) {
            let Ok(Some(record)) = self.blob_record(&seg.blob).await else {
                continue;
            };
            let Some(crc) = record.crc else { continue };
            let mut good = Vec::new();
            let mut bad = Vec::new();
            for holder in &record.holders {
                let verdict = if *holder == me {
                    check_copy(&self.blobs, &seg.blob, record.size, crc).await.ok()
                } else {
                    match self.cluster.membership.peer_url(holder) {
                        Some(url) => self
                            .cluster
                            .peers
                            .check(&url, &seg.blob, record.size, crc)
                            .await
                            .ok(),
                        None => None,
                    }
                };
                tracing::warn!(blob = %seg.blob, holder = %holder, verdict = ?verdict, "copy checked after a read mismatch");
                match verdict {
                    Some(Verdict::Good) => good.push(holder.clone()),
                    Some(Verdict::Damaged) | Some(Verdict::Missing) => bad.push(holder.clone()),
                    None => {} // an unreachable holder gives no verdict either way
                }
            }
            if good.is_empty() && !bad.is_empty() {
                lost.push((seg.blob.clone(), record.holders.clone()));
                continue;
            }
            for holder in bad {
                let repaired = self.repair_copy(&seg.blob, &record, &good, &holder).await;
                self.note_repairs(&RepairReport {
                    damaged: 1,
                    repaired: u64::from(repaired),
                    ..Default::default()
                });
            }
        }
        if !lost.is_empty() {
            let reported = self.report_lost(lost).await;
            if let Err(e) = reported.and(self.lost_blobs().await.map(|_| ())) {
                tracing::warn!(error = %e, "could not report blobs without a good copy");
            }
        }
    }

    /// Records blobs no holder has a good copy of, naming the objects that use them; each
    /// object is logged once, when its blob is first found lost.
    async fn report_lost(&self, lost: Vec<(BlobId, Vec<NodeId>)>) -> S3Result<()> {
        let mut fresh = Vec::new();
        for (blob, holders) in lost {
            if read_only(&*self.meta, &blob, |txn, blob| {
                Box::pin(async move { txn.get(&keys::lost(blob.as_str())).await.map_err(from_meta) })
            })
            .await?
            .is_none()
            {
                fresh.push((blob, holders, Vec::new()));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let mut walk = super::blob_index::Walk::new();
        while let Some(page) = self.next_references(&mut walk).await? {
            for r in page {
                if let Some((_, _, objects)) = fresh.iter_mut().find(|(b, _, _)| *b == r.blob) {
                    objects.push(r.label);
                }
            }
        }
        let found = Nanos::from_time(SystemTime::now().into());
        for (blob, holders, objects) in fresh {
            for object in &objects {
                tracing::error!(blob = %blob, object = %object, holders = ?holders, "object lost: no gateway has a good copy of its bytes");
            }
            let record = LostBlob {
                found,
                holders,
                objects,
            };
            transact(&*self.meta, &(&blob, &record), |txn, (blob, record)| {
                Box::pin(async move {
                    txn.put(&keys::lost(blob.as_str()), &model::encode(*record))
                        .await
                        .map_err(from_meta)
                })
            })
            .await?;
        }
        Ok(())
    }

    async fn clear_lost(&self, blob: &BlobId) -> S3Result<()> {
        let reported = read_only(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { txn.get(&keys::lost(blob.as_str())).await.map_err(from_meta) })
        })
        .await?;
        if reported.is_none() {
            return Ok(());
        }
        transact(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { txn.delete(&keys::lost(blob.as_str())).await.map_err(from_meta) })
        })
        .await
    }

    /// Every blob reported lost, with the objects that use it.
    pub async fn lost_blobs(&self) -> S3Result<Vec<(BlobId, LostBlob)>> {
        let rows = read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                let (start, end) = keys::all_lost();
                txn.scan(&start, &end, 100_000).await.map_err(from_meta)
            })
        })
        .await?;
        let mut out = Vec::new();
        for (k, v) in rows {
            let Some(blob) = k
                .get(1..)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(BlobId::parse)
            else {
                continue;
            };
            let lost: LostBlob = model::decode(&k, &v).map_err(from_meta)?;
            // A blob released since it was reported is no object's loss any more.
            if self.blob_record(&blob).await?.is_some() {
                out.push((blob, lost));
            }
        }
        self.cluster.volume_metrics.set_lost(out.len() as u64);
        Ok(out)
    }

    fn note_repairs(&self, report: &RepairReport) {
        let m = &self.cluster.volume_metrics;
        m.copies_damaged.inc_by(report.damaged);
        m.copies_missing.inc_by(report.missing);
        m.copies_repaired.inc_by(report.repaired);
    }
}
