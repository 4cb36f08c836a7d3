//! Reading an object's bytes wherever they are: each segment's blob from this gateway's volume
//! when it holds a copy, otherwise streamed from a live holder, failing over to the next holder
//! when one cannot be reached (always before the first byte of that blob is sent).

use std::borrow::Cow;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
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

/// An object's segments, shared by the batches of one read: an object of 10,000 parts is read
/// without a copy of its segment list (which used to cost a large read more than its first
/// batch).
pub(super) type Segments = Arc<Vec<Segment>>;

/// A piece of a read: the index of its segment, and a range of that segment's blob.
pub(super) type Piece = (usize, Range<u64>);

/// The part of `segments` that `range` covers, as (segment index, range within its blob).
fn plan(segments: &[Segment], range: Range<u64>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut seg_start = 0u64;
    for (i, seg) in segments.iter().enumerate() {
        let seg_end = seg_start + seg.size;
        let start = range.start.max(seg_start);
        let end = range.end.min(seg_end);
        if start < end {
            out.push((i, start - seg_start..end - seg_start));
        }
        seg_start = seg_end;
        if seg_start >= range.end {
            break;
        }
    }
    out
}

/// Small pieces read per trip to the blocking pool: a thread hop per 1 KiB part, not the disk,
/// was what a GET of 10,000 such parts spent its time on. A batch is read whole before it is
/// sent, so it is also bounded in bytes ([`BATCH_BYTES`]).
const SMALL_BATCH: usize = 64;

/// Bytes of one batch at most (a single larger piece makes a batch of its own). With one batch
/// streaming and two read ahead, a GET holds at most a few MiB, whatever its parts' size.
const BATCH_BYTES: u64 = 2 * 1024 * 1024;

/// Whether a read of several pieces (their lengths as read) goes in batches: each piece is
/// small enough to be one read.
pub(super) fn in_small_pieces(count: usize, mut lengths: impl Iterator<Item = u64>) -> bool {
    count > 1 && lengths.all(|len| len <= crate::blob::READ_CHUNK)
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
    pub async fn segments_for<'h>(
        &self,
        head: &'h ObjectHead,
        range: &Range<u64>,
    ) -> S3Result<(u64, Cow<'h, [Segment]>)> {
        if head.segments_loaded() {
            return Ok((0, Cow::Borrowed(&head.segments)));
        }
        let (base, segments) = read_only(&*self.meta, &(head, range), |txn, (head, range)| {
            Box::pin(async move { manifest::segments_for(txn, head, range).await })
        })
        .await?;
        Ok((base, Cow::Owned(segments)))
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
        self.open_segments(
            Arc::new(segments.into_owned()),
            range.start - base..range.end - base,
        )
        .await
    }

    /// The stored bytes of small `pieces` (blob and range), in order: those on this volume read
    /// in one trip to the blocking pool, the rest (inline, on peers, or not where the reference
    /// says) opened one by one as any blob is.
    pub(super) async fn fetch_small(
        &self,
        segments: &[Segment],
        pieces: &[Piece],
    ) -> io::Result<Vec<BytesMut>> {
        let membership = &self.cluster.membership;
        let local: Vec<usize> = (0..pieces.len())
            .filter(|&i| {
                let (seg, range) = (&segments[pieces[i].0], &pieces[i].1);
                !seg.inline && !range.is_empty() && membership.holds_locally(&seg.holders)
            })
            .collect();
        let wanted = local
            .iter()
            .map(|&i| (&segments[pieces[i].0].blob, pieces[i].1.clone()));
        let mut found: Vec<Option<BytesMut>> = (0..pieces.len()).map(|_| None).collect();
        let reads = self.blobs.read_small_many(wanted).await;
        for (i, read) in local.into_iter().zip(reads) {
            found[i] = read.ok();
        }
        let mut out = Vec::with_capacity(pieces.len());
        for ((s, range), read) in pieces.iter().zip(found) {
            let bytes = match read {
                Some(bytes) => bytes,
                None => {
                    let chunks: Vec<Bytes> = self
                        .open_stored(&segments[*s], range.clone())
                        .await?
                        .try_collect()
                        .await?;
                    match chunks.len() {
                        1 => BytesMut::from(chunks.into_iter().next().unwrap_or_default()),
                        _ => BytesMut::from(&chunks.concat()[..]),
                    }
                }
            };
            out.push(bytes);
        }
        Ok(out)
    }

    /// [`Store::open_object`] over `segments`, `range` counted from the first one's start.
    pub(super) async fn open_segments(&self, segments: Segments, range: Range<u64>) -> S3Result<PlainStream> {
        let pieces = plan(&segments, range);
        if in_small_pieces(pieces.len(), pieces.iter().map(|(_, r)| r.end - r.start)) {
            let store = self.clone();
            let fetched = in_batches(
                pieces,
                |(_, r)| r.end - r.start,
                move |batch| {
                    let (store, segments) = (store.clone(), segments.clone());
                    async move {
                        let bytes = store.fetch_small(&segments, &batch).await?;
                        Ok(stream::iter(bytes.into_iter().map(|b| Ok(b.freeze()))))
                    }
                },
            )
            .await
            .map_err(|e| internal("blob read", e))?;
            return Ok(Box::pin(SyncStream::new(fetched)));
        }
        let store = self.clone();
        one_ahead(pieces, move |(i, range)| {
            let (store, segments) = (store.clone(), segments.clone());
            async move { store.open_stored(&segments[i], range).await }
        })
        .await
        .map_err(|e| internal("blob read", e))
    }
}

/// The streams `open` makes of `items`, one after another, each opened while the one before
/// it streams: the next blob is opened and its first chunk read (the rest waits until it is
/// polled, `BlobStore::read`), so a part boundary costs no wait; waiting there cost an object of
/// 5 MiB parts a fifth of its GET rate. The first is opened before this returns (an unreadable
/// object is an error, not a response cut short).
pub(super) async fn one_ahead<T, F, Fut>(items: Vec<T>, open: F) -> io::Result<PlainStream>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<PlainStream>> + Send + 'static,
{
    let mut opened = spawned_ahead(items.into_iter(), open);
    let first = match opened.next().await {
        Some(first) => first?,
        None => return Ok(Box::pin(stream::empty())),
    };
    Ok(Box::pin(SyncStream::new(first.chain(opened.try_flatten()))))
}

/// `items` in batches of at most [`SMALL_BATCH`] items and [`BATCH_BYTES`] (by `size`), each
/// turned into a stream by `fetch`: the first batch before this returns (an unreadable object
/// is an error, not a response cut short), each next one fetched while the one before streams.
pub(super) async fn in_batches<T, F, Fut, S>(
    items: Vec<T>,
    size: fn(&T) -> u64,
    fetch: F,
) -> io::Result<impl futures::Stream<Item = io::Result<Bytes>> + Send + use<T, F, Fut, S>>
where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
    S: futures::Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let mut fetched = spawned_ahead(batched(items, size), fetch);
    let first = match fetched.next().await {
        Some(first) => Some(first?),
        None => None,
    };
    Ok(stream::iter(first).flatten().chain(fetched.try_flatten()))
}

/// `work` of each of `items` in order, each on a task of its own spawned one item ahead: the
/// task is spawned as the queue of `buffered` is filled, so it runs while the output before it
/// is consumed, not once its own is asked for.
fn spawned_ahead<T, F, Fut, O>(
    items: impl Iterator<Item = T> + Send + 'static,
    work: F,
) -> impl futures::Stream<Item = io::Result<O>> + Send + Unpin
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<O>> + Send + 'static,
    O: Send + 'static,
{
    stream::iter(items)
        .map(move |item| {
            let task = tokio::spawn(work(item));
            async move { task.await.map_err(io::Error::other)? }
        })
        .buffered(2)
}

/// `items` cut into batches of at most [`SMALL_BATCH`] items and [`BATCH_BYTES`], in order.
fn batched<T>(items: Vec<T>, size: impl Fn(&T) -> u64) -> std::vec::IntoIter<Vec<T>> {
    let mut batches = Vec::new();
    let (mut batch, mut bytes) = (Vec::new(), 0u64);
    for item in items {
        let len = size(&item);
        if !batch.is_empty() && (batch.len() == SMALL_BATCH || bytes + len > BATCH_BYTES) {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += len;
        batch.push(item);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches.into_iter()
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

    #[test]
    fn batches_are_bounded_in_items_and_in_bytes() {
        let sizes = |batches: std::vec::IntoIter<Vec<u64>>| -> Vec<Vec<u64>> { batches.collect() };
        let tiny = vec![1024u64; 150];
        let got = sizes(batched(tiny, |s| *s));
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![64, 64, 22]);
        let mib = 1024 * 1024;
        let got = sizes(batched(vec![mib / 4; 10], |s| *s));
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![8, 2],
            "2 MiB a batch"
        );
        let got = sizes(batched(vec![mib, 3 * mib, 10, mib, mib], |s| *s));
        assert_eq!(
            got,
            vec![vec![mib], vec![3 * mib], vec![10, mib], vec![mib]],
            "a piece over the budget goes alone; order is kept"
        );
        assert!(batched(Vec::<u64>::new(), |s| *s).next().is_none());
    }
}
