//! Reading an object's bytes wherever they are: each segment's blob from this gateway's volume
//! when it holds a copy, otherwise streamed from a live holder, failing over to the next holder
//! when one cannot be reached (always before the first byte of that blob is sent).

use std::io;
use std::ops::Range;

use futures::{StreamExt as _, TryStreamExt as _, stream};
use s3s::S3Result;
use sync_wrapper::SyncStream;

use super::{PlainStream, Store, manifest, read_only, refs};
use crate::blob::BlobId;
use crate::cluster::NodeId;
use crate::cluster::membership::Source;
use crate::errors::from_meta;
use crate::errors::internal;
use crate::model::{ObjectHead, Segment};

/// The part of `segments` that `range` covers, as (segment, range within its blob).
fn plan(segments: &[Segment], range: Range<u64>) -> Vec<(Segment, Range<u64>)> {
    let mut out = Vec::new();
    let mut seg_start = 0u64;
    for seg in segments {
        let seg_end = seg_start + seg.size;
        let start = range.start.max(seg_start);
        let end = range.end.min(seg_end);
        if start < end {
            out.push((seg.clone(), start - seg_start..end - seg_start));
        }
        seg_start = seg_end;
        if seg_start >= range.end {
            break;
        }
    }
    out
}

impl Store {
    /// Streams `range` of one blob (as stored: sealed bytes for a sealed blob) from the best of
    /// its holders that answers. When none does, the view of the gateways may be stale (a holder
    /// restarted at another address): it is re-read once and the holders tried again; and the
    /// holders a reference names may be stale (a drain or repair moved a copy): the blob record,
    /// which has the truth, is read and its holders tried.
    pub async fn open_blob(
        &self,
        blob: &BlobId,
        holders: &[NodeId],
        range: Range<u64>,
    ) -> io::Result<PlainStream> {
        if range.is_empty() {
            return Ok(Box::pin(stream::empty()));
        }
        let tried = self.cluster.membership.read_order(holders);
        let failed = match self.open_from(blob, &tried, &range).await {
            Ok(stream) => return Ok(stream),
            Err(e) => e,
        };
        if let Err(e) = self.cluster.membership.refresh(&*self.meta).await {
            tracing::warn!(error = %e, "could not re-read the store's gateways");
            return Err(failed);
        }
        let fresh = self.cluster.membership.read_order(holders);
        let failed = if fresh == tried {
            failed
        } else {
            match self.open_from(blob, &fresh, &range).await {
                Ok(stream) => return Ok(stream),
                Err(e) => e,
            }
        };
        let record = read_only(&*self.meta, blob, |txn, blob| {
            Box::pin(async move { refs::load(txn, blob).await.map_err(from_meta) })
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        let Some(record) = record.filter(|r| !r.holders.is_empty() && r.holders != holders) else {
            return Err(failed);
        };
        let truth: Vec<Source> = self
            .cluster
            .membership
            .read_order(&record.holders)
            .into_iter()
            .filter(|s| !fresh.contains(s))
            .collect();
        if truth.is_empty() {
            return Err(failed);
        }
        self.open_from(blob, &truth, &range).await
    }

    async fn open_from(
        &self,
        blob: &BlobId,
        sources: &[Source],
        range: &Range<u64>,
    ) -> io::Result<PlainStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no known holder of blob {blob}"));
        for source in sources {
            let opened: io::Result<PlainStream> = match source {
                Source::Local => self
                    .blobs
                    .read(blob, range.clone())
                    .await
                    .map(|s| Box::pin(s) as PlainStream),
                Source::Peer(_, url) => self
                    .cluster
                    .peers
                    .read(url, blob, range.clone())
                    .await
                    .map_err(io::Error::from),
            };
            match opened {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    tracing::warn!(blob = %blob, source = ?source, error = %e, "blob holder failed; trying the next");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// The segments of `head` that `range` touches, and the object offset where the first one
    /// starts: the head's own when inline or loaded, else read from its manifest (only the
    /// chunks the range touches).
    pub async fn segments_for(&self, head: &ObjectHead, range: &Range<u64>) -> S3Result<(u64, Vec<Segment>)> {
        if head.segments_loaded() {
            return Ok((0, head.segments.clone()));
        }
        read_only(&*self.meta, &(head, range), |txn, (head, range)| {
            Box::pin(async move { manifest::segments_for(txn, head, range).await })
        })
        .await
    }

    /// `head` with its segments and parts loaded (a whole-object read, `partNumber`, the parts
    /// of GetObjectAttributes).
    pub async fn with_segments(&self, head: ObjectHead) -> S3Result<ObjectHead> {
        if head.segments_loaded() {
            return Ok(head);
        }
        read_only(&*self.meta, &head, |txn, head| {
            Box::pin(async move {
                let mut full = head.clone_without_segments();
                manifest::load(txn, &mut full).await?;
                Ok(full)
            })
        })
        .await
    }

    /// Streams `range` of an object made of plain (unsealed) segments. The first blob is opened
    /// before this returns, so an unreadable object is an error rather than a response cut short.
    pub async fn open_object(&self, head: &ObjectHead, range: Range<u64>) -> S3Result<PlainStream> {
        let (base, segments) = self.segments_for(head, &range).await?;
        self.open_segments(&segments, range.start - base..range.end - base)
            .await
    }

    /// [`Store::open_object`] over `segments`, `range` counted from the first one's start.
    pub(super) async fn open_segments(
        &self,
        segments: &[Segment],
        range: Range<u64>,
    ) -> S3Result<PlainStream> {
        let mut pieces = plan(segments, range).into_iter();
        let Some((first, first_range)) = pieces.next() else {
            return Ok(Box::pin(stream::empty()));
        };
        let first = self
            .open_stored(&first, first_range)
            .await
            .map_err(|e| internal("blob read", e))?;
        let store = self.clone();
        let rest = stream::iter(pieces)
            .then(move |(seg, range)| {
                let store = store.clone();
                async move { store.open_stored(&seg, range).await }
            })
            .try_flatten();
        Ok(Box::pin(SyncStream::new(first.chain(rest))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(size: u64) -> Segment {
        Segment {
            blob: BlobId::parse(&format!("{size:032x}")).unwrap(),
            size,
            seal: None,
            holders: Vec::new(),
            crc: None,
            inline: false,
            bytes: None,
        }
    }

    #[test]
    fn plan_spans_segment_boundaries() {
        let segs = [seg(10), seg(5), seg(10)];
        let got: Vec<Range<u64>> = plan(&segs, 8..17).into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, vec![8..10, 0..5, 0..2]);
        assert!(plan(&segs, 3..3).is_empty());
        assert_eq!(plan(&segs, 0..25).len(), 3);
    }
}
