//! Reading an object back: its blobs, in order, as one byte stream, optionally a sub-range.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{BlobId, BlobStore};

/// Large enough that a 1 GB/s stream is a thousand reads a second, small enough that a GET holds
/// at most `READ_AHEAD + 1` of them whatever the object size.
const READ_CHUNK: u64 = 1024 * 1024;
const READ_AHEAD: usize = 2;

/// One blob of an object, in object order. `size` counts the object's bytes it holds; a sealed
/// (SSE-C) blob is larger on disk by its chunks' tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: BlobId,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<crate::sse::Seal>,
}

pub struct BlobStream {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl Stream for BlobStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The part of `segments` that `range` covers, as (segment, offset within it, length).
fn plan(segments: &[Segment], range: Range<u64>) -> Vec<(BlobId, u64, u64)> {
    let mut out = Vec::new();
    let mut seg_start = 0u64;
    for seg in segments {
        let seg_end = seg_start + seg.size;
        let start = range.start.max(seg_start);
        let end = range.end.min(seg_end);
        if start < end {
            out.push((seg.blob.clone(), start - seg_start, end - start));
        }
        seg_start = seg_end;
        if seg_start >= range.end {
            break;
        }
    }
    out
}

impl BlobStore {
    /// Streams `range` of the object made of `segments`. The first blob is opened before this
    /// returns, so a missing blob is an error here rather than a response cut short.
    pub async fn read(&self, segments: &[Segment], range: Range<u64>) -> io::Result<BlobStream> {
        let pieces = plan(segments, range);
        let store = self.clone();
        let first = match pieces.first() {
            Some((id, ..)) => {
                let path = store.path(id);
                Some(
                    tokio::task::spawn_blocking(move || File::open(path))
                        .await
                        .map_err(io::Error::other)??,
                )
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        if let Some(first) = first {
            tokio::task::spawn_blocking(move || store.read_blocking(pieces, first, &tx));
        }
        Ok(BlobStream { rx })
    }

    fn read_blocking(
        &self,
        pieces: Vec<(BlobId, u64, u64)>,
        first: File,
        tx: &mpsc::Sender<io::Result<Bytes>>,
    ) {
        let mut first = Some(first);
        for (id, mut offset, mut remaining) in pieces {
            let file = match first.take() {
                Some(f) => Ok(f),
                None => File::open(self.path(&id)),
            };
            let file = match file {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            while remaining > 0 {
                let len = remaining.min(READ_CHUNK) as usize;
                let mut buf = BytesMut::zeroed(len);
                if let Err(e) = file.read_exact_at(&mut buf, offset) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                offset += len as u64;
                remaining -= len as u64;
                if tx.blocking_send(Ok(buf.freeze())).is_err() {
                    return; // the client went away
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn seg(size: u64) -> Segment {
        Segment {
            blob: BlobId::parse(&format!("{size:032x}")).unwrap(),
            size,
            seal: None,
        }
    }

    #[test]
    fn plan_spans_segment_boundaries() {
        let segs = [seg(10), seg(5), seg(10)];
        let p = plan(&segs, 8..17);
        let got: Vec<(u64, u64)> = p.iter().map(|(_, o, l)| (*o, *l)).collect();
        assert_eq!(got, vec![(8, 2), (0, 5), (0, 2)]);
        assert!(plan(&segs, 3..3).is_empty());
        assert_eq!(plan(&segs, 0..25).len(), 3);
    }

    #[tokio::test]
    async fn reads_a_range_across_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut segments = Vec::new();
        for part in [&b"0123456789"[..], b"abcde", b"ABCDEFGHIJ"] {
            let body = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(part))]);
            let w = store.write(body, |_: &[u8]| {}).await.unwrap();
            segments.push(Segment {
                blob: w.id,
                size: w.size,
                seal: None,
            });
        }
        let chunks: Vec<Bytes> = store
            .read(&segments, 8..17)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), b"89abcdeAB");
    }
}
