//! Extra copies of a new blob on other gateways (`--blob-copies`): once the blob is durable on
//! its first holder, it is streamed from there to the next live gateways with room in the blob's
//! placement order (checked on arrival against its CRC), and the write is acknowledged only when
//! every copy is durable.

use futures::future::join_all;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::Store;
use crate::blob::BlobId;
use crate::cluster::{NodeId, placement};

impl Store {
    /// Places the copies of `blob` (`size` bytes as stored, CRC `crc`, first on `first`) that
    /// the store's copy count asks for; returns every holder, the first one first.
    pub async fn replicate(
        &self,
        blob: &BlobId,
        size: u64,
        crc: u64,
        first: &NodeId,
    ) -> S3Result<Vec<NodeId>> {
        let mut holders = vec![first.clone()];
        let wanted = self.cluster.copies;
        if wanted <= 1 {
            return Ok(holders);
        }
        let mut failed = Vec::new();
        self.place_copies(blob, size, crc, &mut holders, &mut failed)
            .await;
        // This gateway's view of the others may be behind (one joined, one restarted at another
        // address, one went down since the last heartbeat): re-read it once and try the rest.
        if holders.len() < wanted {
            match self.cluster.membership.refresh(&*self.meta).await {
                Ok(()) => {
                    self.place_copies(blob, size, crc, &mut holders, &mut failed)
                        .await
                }
                Err(e) => tracing::warn!(error = %e, "could not re-read the store's gateways"),
            }
        }
        if holders.len() < wanted {
            // The copies that did land are freed through the queue like any unreferenced blob.
            self.discard_blob(blob, &holders).await;
            return Err(S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                format!(
                    "The store keeps {wanted} copies of every object and only {} gateways could take one; please retry.",
                    holders.len()
                ),
            ));
        }
        Ok(holders)
    }

    /// Pushes copies of `blob` to live gateways with room in its placement order, skipping those
    /// that already hold it and those that failed (by URL: a restarted gateway may be tried again
    /// at its new address), until `holders` has the copy count or no candidate is left.
    async fn place_copies(
        &self,
        blob: &BlobId,
        size: u64,
        crc: u64,
        holders: &mut Vec<NodeId>,
        failed: &mut Vec<String>,
    ) {
        let wanted = self.cluster.copies;
        let high_water = self.cluster.high_water;
        let candidates: Vec<_> = self
            .cluster
            .membership
            .placeable_peers()
            .into_iter()
            .filter(|n| n.room().fits(size, high_water))
            .collect();
        // Collected first: `holders` and `failed` grow below.
        let fresh: Vec<_> = placement::rank(blob, size, candidates)
            .into_iter()
            .filter(|n| !holders.contains(&n.id) && !failed.contains(&n.peer_url))
            .collect();
        let source = holders[0].clone();
        let mut candidates = fresh.into_iter();
        while holders.len() < wanted {
            let round: Vec<_> = candidates.by_ref().take(wanted - holders.len()).collect();
            if round.is_empty() {
                return;
            }
            let source = &source;
            let pushes = round
                .iter()
                .map(|node| async move { self.copy_blob(blob, size, Some(crc), source, node).await });
            for (node, result) in round.iter().zip(join_all(pushes).await) {
                match result {
                    Ok(()) => holders.push(node.id.clone()),
                    Err(e) => {
                        tracing::warn!(blob = %blob, node = %node.id, error = %e, "copy failed; trying another gateway");
                        failed.push(node.peer_url.clone());
                    }
                }
            }
        }
    }

    /// Drops a blob that no record will ever reference: this gateway's copy at once, the others
    /// through their holders' free queues.
    pub async fn discard_blob(&self, blob: &BlobId, holders: &[NodeId]) {
        if let Err(e) = self.blobs.delete(blob).await {
            tracing::warn!(blob = %blob, error = %e, "could not delete blob; the sweeper will");
        }
        let me = self.cluster.me();
        let others: Vec<NodeId> = holders.iter().filter(|h| *h != me).cloned().collect();
        if others.is_empty() {
            return;
        }
        let queued = super::transact(&*self.meta, &(blob, &others), |txn, (blob, others)| {
            Box::pin(async move {
                super::refs::queue_frees(txn, blob, others)
                    .await
                    .map_err(crate::errors::from_meta)
            })
        })
        .await;
        if let Err(e) = queued {
            tracing::warn!(blob = %blob, error = %e, "could not queue frees of copies; their sweepers will");
        }
    }
}
