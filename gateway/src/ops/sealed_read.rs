//! Reading sealed objects back: decrypting only the chunks a range touches, opening each blob
//! with its own key (a data key the key service unwraps, or one derived from the customer's key
//! and the blob's salt).
//!
//! An object of many small parts is read in batches (`ops::segments`); a batch's pieces are
//! opened on the blocking pool where they were read, so the connection's task is left only the
//! socket to feed, and each piece's cipher is made there too, not for all 10,000 parts before
//! the first byte.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use s3s::S3Result;

use super::segments::{Piece, Segments, in_batches, in_small_pieces, one_ahead};
use super::{PlainStream, Store};
use crate::errors::{from_kms, internal};
use crate::model::{ObjectHead, Segment, ServerSide};
use crate::sse::{self, CHUNK, ChunkSpan, CustomerKey, DataKey, Seal, Sealer, SseError, TAG, WrappedKey};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What opens one segment's blob.
enum Opener {
    Plain,
    /// Its data key, unwrapped before the first byte (a disabled key is an S3 error, not a
    /// response cut short).
    Data(DataKey),
    /// The customer's key of the request, with the segment's salt.
    Customer,
}

/// A segment about to be read: its plaintext range, the range of its blob that holds it, and
/// what opens it.
struct Planned {
    seg: usize,
    local: Range<u64>,
    stored: Range<u64>,
    opener: Opener,
}

impl Planned {
    fn stored_len(&self) -> u64 {
        self.stored.end - self.stored.start
    }

    fn sealer(&self, seg: &Segment, customer: Option<&CustomerKey>) -> Result<Option<Sealer>, SseError> {
        match &self.opener {
            Opener::Plain => Ok(None),
            Opener::Data(key) => key.sealer().map(Some),
            Opener::Customer => {
                let (Some(key), Some(seal)) = (customer, &seg.seal) else {
                    return Err(SseError::Damaged);
                };
                key.sealer(seal).map(Some)
            }
        }
    }
}

impl Store {
    /// Streams `range` of an object's plaintext, opening sealed segments with `key` (plain
    /// segments pass through).
    pub async fn read_plain(
        &self,
        head: &ObjectHead,
        range: Range<u64>,
        key: Option<&CustomerKey>,
    ) -> S3Result<PlainStream> {
        let (base, segments) = self.segments_for(head, &range).await?;
        let segments = Arc::new(segments.into_owned());
        self.read_plain_of(head, segments, range.start - base..range.end - base, key)
            .await
    }

    /// [`Store::read_plain`] over `segments` of `head`, `range` counted from the first one's
    /// start.
    pub(super) async fn read_plain_of(
        &self,
        head: &ObjectHead,
        segments: Segments,
        range: Range<u64>,
        key: Option<&CustomerKey>,
    ) -> S3Result<PlainStream> {
        if segments.iter().all(|s| s.seal.is_none()) {
            return self.open_segments(segments, range).await;
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut start = 0u64;
        for (i, seg) in segments.iter().enumerate() {
            let end = start + seg.size;
            let (lo, hi) = (range.start.max(start), range.end.min(end));
            if lo < hi || (seg.size == 0 && range.is_empty() && lo == start) {
                pieces.push((i, lo - start..hi.max(lo) - start));
            }
            start = end;
        }
        let wrapped: Vec<&WrappedKey> = pieces
            .iter()
            .filter_map(|(i, _)| segments[*i].seal.as_ref()?.key.as_ref())
            .collect();
        let mut data_keys = match wrapped.is_empty() {
            true => Vec::new(),
            false => {
                let context = head.encryption.as_ref().map_or(&[][..], ServerSide::context);
                self.keys
                    .unwrap_data_keys(&wrapped, context)
                    .await
                    .map_err(from_kms)?
            }
        }
        .into_iter();
        let mut planned = Vec::with_capacity(pieces.len());
        for (i, local) in pieces {
            let seg = &segments[i];
            let opener = match &seg.seal {
                None => Opener::Plain,
                Some(Seal { key: Some(_), .. }) => Opener::Data(
                    data_keys
                        .next()
                        .ok_or_else(|| internal("sse", "a data key is missing"))?,
                ),
                Some(_) if key.is_some() => Opener::Customer,
                Some(_) => return Err(internal("sse", "a sealed segment needs its key")),
            };
            let stored = match opener {
                Opener::Plain => local.clone(),
                _ => sse::span(local.clone(), seg.size).blob_range,
            };
            planned.push(Planned {
                seg: i,
                local,
                stored,
                opener,
            });
        }
        let customer = key.cloned().map(Arc::new);
        // The first blob is opened before this returns, as for plain objects: an unreadable
        // object is an error rather than a response cut short, and a blob freed by an overwrite
        // racing this read is already open.
        if in_small_pieces(planned.len(), planned.iter().map(Planned::stored_len)) {
            let store = self.clone();
            let fetched = in_batches(planned, Planned::stored_len, move |batch: Vec<Planned>| {
                let (store, segments, customer) = (store.clone(), segments.clone(), customer.clone());
                async move {
                    let reads: Vec<Piece> = batch.iter().map(|p| (p.seg, p.stored.clone())).collect();
                    let stored = store.fetch_small(&segments, &reads).await?;
                    let plain = tokio::task::spawn_blocking(move || {
                        open_batch(&segments, customer.as_deref(), batch, stored)
                    })
                    .await
                    .map_err(std::io::Error::other)?;
                    Ok(stream::iter(plain))
                }
            })
            .await
            .map_err(|e| internal("blob read", e))?;
            return Ok(Box::pin(sync_wrapper::SyncStream::new(fetched)));
        }
        let store = self.clone();
        one_ahead(planned, move |piece| {
            let (store, segments, customer) = (store.clone(), segments.clone(), customer.clone());
            async move {
                let opened = store.read_piece(&segments, customer.as_deref(), piece).await;
                opened.map_err(std::io::Error::other)
            }
        })
        .await
        .map_err(|e| internal("blob read", e))
    }

    async fn read_piece(
        &self,
        segments: &[Segment],
        customer: Option<&CustomerKey>,
        piece: Planned,
    ) -> Result<PlainStream, BoxError> {
        let seg = &segments[piece.seg];
        let sealer = piece.sealer(seg, customer)?;
        let stored = self.open_stored(seg, piece.stored).await?;
        let Some(sealer) = sealer else {
            return Ok(stored);
        };
        let span = sse::span(piece.local, seg.size);
        Ok(open_stream(
            stored,
            sealer,
            span.chunks,
            sse::last_chunk(seg.size),
            span.skip,
            span.take,
        ))
    }
}

/// The plaintext of a batch of small pieces, from their stored bytes (each whole, as its
/// `stored` range named it), up to the first that does not open. That one ends the batch as an
/// error in the stream, as it would in [`open_stream`]: damage found after the response started
/// is handled as damage (the response cut short, the copies checked), not as a failed request.
fn open_batch(
    segments: &[Segment],
    customer: Option<&CustomerKey>,
    batch: Vec<Planned>,
    stored: Vec<BytesMut>,
) -> Vec<std::io::Result<Bytes>> {
    let mut out = Vec::with_capacity(batch.len());
    for (piece, bytes) in batch.into_iter().zip(stored) {
        let seg = &segments[piece.seg];
        let opened = piece.sealer(seg, customer).and_then(|sealer| match sealer {
            None => Ok(vec![bytes.freeze()]),
            Some(sealer) => {
                let span = sse::span(piece.local, seg.size);
                open_frames(bytes, &sealer, span, sse::last_chunk(seg.size))
            }
        });
        match opened {
            Ok(plain) => out.extend(plain.into_iter().map(Ok)),
            Err(e) => {
                out.push(Err(std::io::Error::other(e)));
                break;
            }
        }
    }
    out
}

/// Opens the sealed chunks `span.chunks` of a blob whose last chunk is `last`, read whole into
/// `sealed`, in place, keeping the plaintext `span` asks for. Bytes missing at the end are
/// damage (a truncated blob), never a short answer.
fn open_frames(
    mut sealed: BytesMut,
    sealer: &Sealer,
    span: ChunkSpan,
    last: u64,
) -> Result<Vec<Bytes>, SseError> {
    let frame = (CHUNK + TAG) as usize;
    let (mut skip, mut take) = (span.skip as usize, span.take as usize);
    let mut out = Vec::new();
    for index in span.chunks {
        let whole = sealed.len() >= frame;
        if !whole && (index != last || sealed.is_empty()) {
            return Err(SseError::Damaged);
        }
        let mut chunk = sealed.split_to(frame.min(sealed.len()));
        sealer.open_in_place(index, index == last, &mut chunk)?;
        let from = skip.min(chunk.len());
        skip -= from;
        let to = (from + take).min(chunk.len());
        take -= to - from;
        if to > from {
            out.push(chunk.freeze().slice(from..to));
        }
    }
    Ok(out)
}

/// Splits a sealed byte stream into its chunks and opens them, keeping `skip..skip + take` of
/// the plaintext.
fn open_stream(
    sealed: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    sealer: Sealer,
    chunks: Range<u64>,
    last: u64,
    mut skip: u64,
    mut take: u64,
) -> PlainStream {
    // Opened inline: GCM in `ring` costs microseconds per chunk, less than a hop to a thread.
    let opened = frames(sealed, chunks, last).and_then(move |(index, mut frame)| {
        let plain = sealer
            .open_in_place(index, index == last, &mut frame)
            .map(|()| frame.freeze())
            .map_err(std::io::Error::other);
        futures::future::ready(plain)
    });
    Box::pin(opened.try_filter_map(move |plain| {
        let from = (skip as usize).min(plain.len());
        skip -= from as u64;
        let to = (from as u64 + take).min(plain.len() as u64) as usize;
        take -= (to - from) as u64;
        futures::future::ready(Ok((to > from).then(|| plain.slice(from..to))))
    }))
}

/// The sealed chunks `chunks` of a blob whose last chunk is `last`, each with its index; a
/// stream that ends early (a truncated blob) is damage, not a short object.
fn frames(
    sealed: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    chunks: Range<u64>,
    last: u64,
) -> impl Stream<Item = Result<(u64, BytesMut), std::io::Error>> + Send + Sync {
    struct State {
        sealed: PlainStream,
        buf: BytesMut,
        index: u64,
    }
    let state = State {
        sealed: Box::pin(sealed),
        buf: BytesMut::new(),
        index: chunks.start,
    };
    stream::try_unfold(state, move |mut st| async move {
        let frame = (CHUNK + TAG) as usize;
        loop {
            if st.index >= chunks.end {
                return Ok(None);
            }
            if st.buf.len() >= frame {
                break;
            }
            match st.sealed.next().await {
                // Reads from this volume arrive chunk-aligned in buffers of their own: taken as
                // they are, with no copy.
                Some(Ok(bytes)) if st.buf.is_empty() => {
                    st.buf = bytes
                        .try_into_mut()
                        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                }
                Some(Ok(bytes)) => st.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(e),
                None if st.index == last => break,
                None => return Err(std::io::Error::other(sse::SseError::Damaged)),
            }
        }
        let chunk = if st.buf.len() >= frame {
            st.buf.split_to(frame)
        } else {
            st.buf.split()
        };
        let index = st.index;
        st.index += 1;
        Ok(Some(((index, chunk), st)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::BodyDigest;
    use crate::ops::sealed::seal_stream;
    use std::sync::Mutex;

    fn key() -> CustomerKey {
        CustomerKey::of_bytes(9)
    }

    /// `plain` sealed under `key()` and `seal`, from a body in pieces of `piece` bytes.
    async fn seal(plain: &[u8], piece: usize, seal: &Seal) -> Bytes {
        let body = stream::iter(
            plain
                .chunks(piece.max(1))
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let digest = Arc::new(Mutex::new(BodyDigest::new(
            crate::checksum::ChecksumAlgorithm::Crc32,
        )));
        let out: Vec<Bytes> = seal_stream(body, key().sealer(seal).unwrap(), digest)
            .try_collect()
            .await
            .unwrap();
        Bytes::from(out.concat())
    }

    #[tokio::test]
    async fn a_blob_read_whole_opens_to_any_range_and_a_truncated_one_is_damage() {
        let len = 3 * CHUNK + 17;
        let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let s = Seal::new();
        let sealed = seal(&plain, 100_000, &s).await;
        let sealer = key().sealer(&s).unwrap();
        let last = sse::last_chunk(len);
        for range in [
            0..len,
            0..1,
            5..CHUNK + 9,
            CHUNK..2 * CHUNK,
            3 * CHUNK..len,
            len - 1..len,
        ] {
            let span = sse::span(range.clone(), len);
            let stored =
                BytesMut::from(&sealed[span.blob_range.start as usize..span.blob_range.end as usize]);
            let opened = open_frames(stored, &sealer, span, last).unwrap();
            assert_eq!(
                opened.concat(),
                &plain[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
        // A blob cut short, inside its last chunk or before it, does not open.
        for cut in [1, 17, 18, (CHUNK + TAG) as usize + 17] {
            let span = sse::span(0..len, len);
            let short = BytesMut::from(&sealed[..sealed.len() - cut]);
            assert_eq!(
                open_frames(short, &sealer, span, last),
                Err(SseError::Damaged),
                "cut {cut}"
            );
        }
        // The empty object is a tag alone, and opens to nothing.
        let empty = seal(&[], 1, &s).await;
        assert_eq!(empty.len() as u64, TAG);
        let opened = open_frames(BytesMut::from(&empty[..]), &sealer, sse::span(0..0, 0), 0).unwrap();
        assert!(opened.concat().is_empty());
    }

    /// `plain` sealed from pieces of `piece` bytes and opened again as a stream.
    async fn sealed(plain: &[u8], piece: usize) -> Vec<u8> {
        let s = Seal::new();
        let out = seal(plain, piece, &s).await;
        assert_eq!(out.len() as u64, sse::sealed_size(plain.len() as u64));
        let opened: Vec<Bytes> = open_stream(
            stream::iter(vec![Ok(out)]),
            key().sealer(&s).unwrap(),
            0..sse::last_chunk(plain.len() as u64) + 1,
            sse::last_chunk(plain.len() as u64),
            0,
            plain.len() as u64,
        )
        .try_collect()
        .await
        .unwrap();
        opened.concat()
    }

    #[tokio::test]
    async fn sealing_round_trips_at_every_chunk_boundary() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for piece in [1000, CHUNK as usize, 100_000] {
                assert_eq!(sealed(&plain, piece).await, plain, "len {len} piece {piece}");
            }
        }
    }
}
