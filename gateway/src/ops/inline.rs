//! Small objects kept in the metadata store. A whole object's body of at most `--inline-max-size`
//! bytes as stored (sealed, when the object is) is not written to a volume: its bytes are stored
//! under `keys::inline_blob` by the transaction that publishes the object, and its blob record
//! counts references as any blob's does (`refs::add`, `refs::release`).
//!
//! Why: a small PUT spent most of its time making a file (an inode, a directory entry, a rename,
//! two fsyncs of its own). Inline, it costs one metadata commit, whose fsync concurrent writers
//! share (`meta::group_sync`); and every gateway of a store serves it without a peer hop, since
//! the metadata store is shared (on TiKV, replicated). Parts of multipart uploads always go to a
//! volume: they are small only when they are last.

use std::ops::Range;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt as _, stream};
use s3s::S3Result;

use super::{PlainStream, Store, read_only};
use crate::blob::WriteError;
use crate::errors::from_meta;
use crate::meta::{MetaTxn, keys};
use crate::model::{ObjectHead, Segment};

/// The default `--inline-max-size`: a 16 KiB value is a small record for fjall and for TiKV.
pub const DEFAULT_MAX: u64 = 16 * 1024;

/// What a body is the bytes of: only a whole object's may be kept inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyOf {
    Object,
    Part,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(super) type BoxedBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// A body read up to the inline limit.
pub(super) enum Gathered {
    /// All of it, within the limit.
    Whole(Bytes),
    /// More than the limit (its length was misstated): the body again, from its first byte.
    Larger(BoxedBody),
}

/// Reads `body` whole when it ends within `max` bytes, holding each read to `deadline`, as a
/// volume write does.
pub(super) async fn gather<S, E>(
    body: S,
    max: u64,
    deadline: Option<Duration>,
) -> Result<Gathered, WriteError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let mut body = Box::pin(body);
    let mut buf = BytesMut::new();
    loop {
        let next = match deadline {
            Some(d) => tokio::time::timeout(d, body.next())
                .await
                .map_err(|_| WriteError::Stalled(d))?,
            None => body.next().await,
        };
        match next {
            Some(Ok(bytes)) => {
                buf.extend_from_slice(&bytes);
                if buf.len() as u64 > max {
                    let read = stream::once(futures::future::ready(Ok(buf.freeze())));
                    let rest = body.map(|r| r.map_err(Into::into));
                    return Ok(Gathered::Larger(Box::pin(read.chain(rest))));
                }
            }
            Some(Err(e)) => return Err(WriteError::Body(e.into())),
            None => return Ok(Gathered::Whole(buf.freeze())),
        }
    }
}

/// Reads the bytes of the head's inline segments into them, in the transaction that read the
/// head: a GET then serves the version it read even if an overwrite lands meanwhile.
pub async fn attach(txn: &mut dyn MetaTxn, head: &mut ObjectHead) -> S3Result<()> {
    for seg in head.segments.iter_mut().filter(|s| s.inline && s.bytes.is_none()) {
        seg.bytes = txn
            .get(&keys::inline_blob(seg.blob.as_str()))
            .await
            .map_err(from_meta)?
            .map(Bytes::from);
    }
    Ok(())
}

/// An inline segment's bytes as stored: those it carries, else read now.
async fn stored_bytes(store: &Store, seg: &Segment) -> std::io::Result<Bytes> {
    if let Some(bytes) = &seg.bytes {
        return Ok(bytes.clone());
    }
    let found = read_only(&*store.meta, &seg.blob, |txn, blob| {
        Box::pin(async move {
            txn.get(&keys::inline_blob(blob.as_str()))
                .await
                .map_err(from_meta)
        })
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Gone: the object was deleted or replaced after its head was read (as for a manifest, the
    // client's retry reads the key as it is now).
    found.map(Bytes::from).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "inline blob {} is gone: the object changed while it was being read",
                seg.blob
            ),
        )
    })
}

impl Store {
    /// Streams `range` of a segment's blob as stored, wherever it is: in the metadata store when
    /// inline, else on the volumes of its holders.
    pub(super) async fn open_stored(&self, seg: &Segment, range: Range<u64>) -> std::io::Result<PlainStream> {
        if !seg.inline {
            return self.open_blob(&seg.blob, &seg.holders, range).await;
        }
        if range.is_empty() {
            return Ok(Box::pin(stream::empty()));
        }
        let bytes = stored_bytes(self, seg).await?;
        let end = usize::try_from(range.end).unwrap_or(usize::MAX);
        if end > bytes.len() {
            return Err(std::io::Error::other(crate::sse::SseError::Damaged));
        }
        let piece = bytes.slice(range.start as usize..end);
        Ok(Box::pin(stream::once(futures::future::ready(Ok(piece)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pieces: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        stream::iter(
            pieces
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_gathered_whole() {
        match gather(body(&[b"abc", b"de"]), 5, None).await.unwrap() {
            Gathered::Whole(b) => assert_eq!(&b[..], b"abcde"),
            Gathered::Larger(_) => panic!("five bytes fit in five"),
        }
        assert!(matches!(
            gather(body(&[]), 0, None).await.unwrap(),
            Gathered::Whole(b) if b.is_empty()
        ));
    }

    #[tokio::test]
    async fn a_larger_body_is_given_back_from_its_first_byte() {
        let Gathered::Larger(rest) = gather(body(&[b"abc", b"def", b"gh"]), 5, None).await.unwrap() else {
            panic!("eight bytes do not fit in five");
        };
        let all: Vec<Bytes> = rest.map(|r| r.unwrap()).collect().await;
        assert_eq!(all.concat(), b"abcdefgh");
    }

    #[tokio::test]
    async fn a_body_that_fails_or_stalls_fails_the_gather() {
        let failing = stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(std::io::Error::other("reset")),
        ]);
        assert!(matches!(
            gather(failing, 10, None).await,
            Err(WriteError::Body(_))
        ));
        let stalled = stream::pending::<Result<Bytes, std::io::Error>>();
        let d = Duration::from_millis(20);
        assert!(matches!(
            gather(stalled, 10, Some(d)).await,
            Err(WriteError::Stalled(_))
        ));
    }
}
