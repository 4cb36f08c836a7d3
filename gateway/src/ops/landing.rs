//! Where a new blob's first copy lands: this gateway's volume when it has room and is not being
//! drained; otherwise the gateway with room that placement ranks first, the body streaming there
//! as it arrives (digests are computed here on the way). When no gateway has room the write is
//! refused before a byte of its body is read, so nothing is half-written.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt as _, stream};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::Store;
use super::inline::{self, BodyOf, Gathered};
use crate::blob::{BlobId, Observer, WriteError};
use crate::cluster::{NodeId, NodeRecord, peer_client::PeerError, placement};
use crate::errors::{from_write, no_room};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A new blob durably on its first holder.
pub struct Landed<O> {
    pub id: BlobId,
    /// Bytes as stored.
    pub size: u64,
    /// CRC64NVME of the bytes as stored.
    pub crc: u64,
    pub observer: O,
    pub at: NodeId,
    /// The stored bytes of a body kept inline (`ops::inline`); `at` is then this gateway, which
    /// holds nothing.
    pub inline: Option<Bytes>,
}

/// What a body streaming to a peer has shown so far.
struct Tap<O> {
    observer: O,
    crc: crc_fast::Digest,
    size: u64,
    failure: Option<WriteError>,
}

impl Store {
    /// The gateway a new blob of `size` stored bytes (when known) goes to: `None` for this one.
    /// This gateway's view of the others may be behind (one just joined, one just freed room):
    /// before refusing, it is re-read once, as copies do.
    async fn home_for(&self, id: &BlobId, size: Option<u64>) -> S3Result<Option<NodeRecord>> {
        let membership = &self.cluster.membership;
        if !membership.is_draining(self.cluster.me())
            && self.blobs.room().fits(size.unwrap_or(0), self.cluster.high_water)
        {
            return Ok(None);
        }
        // A peer needs the length up front; every S3 write states it.
        let Some(size) = size else {
            return Err(no_room());
        };
        if let Some(node) = self.peer_with_room(id, size) {
            return Ok(Some(node));
        }
        if let Err(e) = membership.refresh(&*self.meta).await {
            tracing::warn!(error = %e, "could not re-read the store's gateways");
        }
        self.peer_with_room(id, size).map(Some).ok_or_else(no_room)
    }

    /// The live gateway with room for `size` bytes that placement ranks first for `id`.
    fn peer_with_room(&self, id: &BlobId, size: u64) -> Option<NodeRecord> {
        let high_water = self.cluster.high_water;
        let with_room: Vec<NodeRecord> = self
            .cluster
            .membership
            .placeable_peers()
            .into_iter()
            .filter(|n| n.room().fits(size, high_water))
            .collect();
        placement::rank(id, size, with_room).into_iter().next()
    }

    /// Writes a new blob where there is room, showing every byte to `observer`; a whole object's
    /// body small enough is kept for the metadata store instead (`ops::inline`).
    pub(super) async fn land<S, E, O>(
        &self,
        body: S,
        mut observer: O,
        size: Option<u64>,
        of: BodyOf,
    ) -> S3Result<Landed<O>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
        O: Observer,
    {
        let id = BlobId::generate();
        let fits_inline = size.is_some_and(|s| s <= self.inline_max);
        if of == BodyOf::Object && fits_inline {
            match inline::gather(body, self.inline_max, self.blobs.body_deadline())
                .await
                .map_err(from_write)?
            {
                Gathered::Whole(bytes) => {
                    observer.observe(&bytes);
                    return Ok(Landed {
                        id,
                        size: bytes.len() as u64,
                        crc: crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &bytes),
                        observer,
                        at: self.cluster.me().clone(),
                        inline: Some(bytes),
                    });
                }
                Gathered::Larger(body) => return self.land_blob(id, body, observer, size).await,
            }
        }
        self.land_blob(id, body, observer, size).await
    }

    async fn land_blob<S, E, O>(
        &self,
        id: BlobId,
        body: S,
        observer: O,
        size: Option<u64>,
    ) -> S3Result<Landed<O>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
        O: Observer,
    {
        match self.home_for(&id, size).await? {
            None => {
                let written = self
                    .blobs
                    .write_as(id, body, observer)
                    .await
                    .map_err(from_write)?;
                Ok(Landed {
                    id: written.id,
                    size: written.size,
                    crc: written.crc,
                    observer: written.observer,
                    at: self.cluster.me().clone(),
                    inline: None,
                })
            }
            Some(node) => {
                let size = size.unwrap_or_default();
                self.land_on_peer(id, node, body, observer, size).await
            }
        }
    }

    async fn land_on_peer<S, E, O>(
        &self,
        id: BlobId,
        node: NodeRecord,
        body: S,
        observer: O,
        size: u64,
    ) -> S3Result<Landed<O>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
        O: Observer,
    {
        let tap = Arc::new(Mutex::new(Tap {
            observer,
            crc: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            size: 0,
            failure: None,
        }));
        let deadline = self.blobs.body_deadline();
        let fed = tap.clone();
        let tapped = stream::unfold(Some(Box::pin(body)), move |state| {
            let tap = fed.clone();
            async move {
                let mut body = state?;
                let next = match deadline {
                    Some(d) => match tokio::time::timeout(d, body.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            record(&tap, WriteError::Stalled(d));
                            return Some((Err(std::io::Error::other("request body stalled")), None));
                        }
                    },
                    None => body.next().await,
                };
                match next {
                    Some(Ok(bytes)) => {
                        if let Ok(mut t) = tap.lock() {
                            t.observer.observe(&bytes);
                            t.crc.update(&bytes);
                            t.size += bytes.len() as u64;
                        }
                        Some((Ok(bytes), Some(body)))
                    }
                    Some(Err(e)) => {
                        record(&tap, WriteError::Body(e.into()));
                        Some((Err(std::io::Error::other("request body failed")), None))
                    }
                    None => None,
                }
            }
        });
        let result = self
            .cluster
            .peers
            .write(&node.peer_url, &id, size, None, tapped)
            .await;
        let tap = Arc::try_unwrap(tap)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .ok_or_else(|| crate::errors::internal("landing", "body tap still shared"))?;
        if let Some(failure) = tap.failure {
            self.discard_blob(&id, std::slice::from_ref(&node.id)).await;
            return Err(from_write(failure));
        }
        let crc = tap.crc.finalize();
        match result {
            Ok(theirs) if theirs == crc && tap.size == size => {
                tracing::debug!(blob = %id, node = %node.id, "this volume has no room: the blob landed on a peer");
                Ok(Landed {
                    id,
                    size,
                    crc,
                    observer: tap.observer,
                    at: node.id,
                    inline: None,
                })
            }
            Ok(_) => {
                self.discard_blob(&id, std::slice::from_ref(&node.id)).await;
                Err(S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    "The object's bytes were damaged on their way to a volume; please retry.",
                ))
            }
            Err(PeerError::Status(http::StatusCode::BAD_REQUEST)) if tap.size != size => {
                Err(S3Error::with_message(
                    S3ErrorCode::IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                ))
            }
            Err(PeerError::Status(http::StatusCode::INSUFFICIENT_STORAGE)) => Err(no_room()),
            Err(e) => {
                tracing::warn!(blob = %id, node = %node.id, error = %e, "landing a blob on a peer failed");
                self.discard_blob(&id, std::slice::from_ref(&node.id)).await;
                Err(S3Error::with_message(
                    S3ErrorCode::ServiceUnavailable,
                    "The gateway holding this object's bytes could not be reached; please retry.",
                ))
            }
        }
    }
}

fn record<O>(tap: &Mutex<Tap<O>>, failure: WriteError) {
    if let Ok(mut t) = tap.lock() {
        t.failure.get_or_insert(failure);
    }
}
