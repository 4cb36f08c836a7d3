//! Copying a blob from one holder to another gateway, whichever of them this gateway is: from
//! this volume to a peer, from a peer to this volume, or relayed between two peers. Every copy is
//! checked on arrival against the CRC its record names, so a damaged source never spreads.

use std::io;

use futures::StreamExt as _;

use super::Store;
use crate::blob::BlobId;
use crate::cluster::{NodeId, NodeRecord};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source {0} is not a known gateway")]
    UnknownSource(NodeId),
    #[error("reading the source: {0}")]
    Source(io::Error),
    #[error("writing the copy: {0}")]
    Target(String),
    #[error("the copy's CRC {got:#x} is not the blob's {want:#x}")]
    Damaged { got: u64, want: u64 },
}

impl Store {
    /// Copies `blob` (`size` bytes as stored, CRC `crc` when recorded) from `source` to
    /// `target`; returns once the target has it durably.
    pub(super) async fn copy_blob(
        &self,
        blob: &BlobId,
        size: u64,
        crc: Option<u64>,
        source: &NodeId,
        target: &NodeRecord,
    ) -> Result<(), CopyError> {
        let me = self.cluster.me();
        let body: crate::cluster::peer_client::PeerStream = if source == me {
            let local = self.blobs.read(blob, 0..size).await.map_err(CopyError::Source)?;
            Box::pin(sync_wrapper::SyncStream::new(local))
        } else {
            let url = self
                .cluster
                .membership
                .peer_url(source)
                .ok_or_else(|| CopyError::UnknownSource(source.clone()))?;
            if size == 0 {
                Box::pin(futures::stream::empty())
            } else {
                self.cluster
                    .peers
                    .read(&url, blob, 0..size)
                    .await
                    .map_err(|e| CopyError::Source(e.into()))?
            }
        };
        if target.id == *me {
            let written = self
                .blobs
                .write_as(blob.clone(), body, |_: &[u8]| {})
                .await
                .map_err(|e| CopyError::Target(e.to_string()))?;
            if let Some(want) = crc
                && written.crc != want
            {
                let _ = self.blobs.delete(blob).await;
                return Err(CopyError::Damaged {
                    got: written.crc,
                    want,
                });
            }
            if written.size != size {
                let _ = self.blobs.delete(blob).await;
                return Err(CopyError::Target(format!("{} bytes of {size}", written.size)));
            }
            return Ok(());
        }
        self.cluster
            .peers
            .write(&target.peer_url, blob, size, crc, body.map(|r| r))
            .await
            .map(|_| ())
            .map_err(|e| CopyError::Target(e.to_string()))
    }
}
