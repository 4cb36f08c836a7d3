//! Sealed objects (SSE-S3, SSE-KMS, SSE-C): bodies sealed chunk by chunk on the way to disk, and
//! read back decrypting only the chunks a range touches (see `crate::sse` for the format).

use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use s3s::S3Result;

use super::{Store, Upload};
use crate::checksum::BodyDigest;
use crate::errors::{from_kms, internal};
use crate::kms::KeyRef;
use crate::md5_thread::{self, Md5Thread};
use crate::model::{ObjectHead, Segment, ServerSide};
use crate::sse::{self, CHUNK, CustomerKey, Seal, Sealer, TAG, WrappedKey};

/// How a new blob is sealed: under the customer's key, or under a data key the key service
/// wraps.
#[derive(Clone, Copy)]
pub enum Sealing<'a> {
    Customer(&'a CustomerKey),
    Managed(&'a ServerSide),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type PlainStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>>;

/// Seals a plaintext stream into chunks, holding one full chunk back until it is known whether
/// more follows (the last chunk is sealed as such, even when it is full). Each chunk is gathered
/// straight into the buffer it is sealed in: the body's bytes are copied once on their way to
/// the volume.
fn seal_stream<S, E>(
    body: S,
    sealer: Sealer,
    digest: Arc<Mutex<BodyDigest>>,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError>,
{
    struct State<S> {
        body: Pin<Box<S>>,
        /// The chunk being gathered, with room for its tag.
        chunk: Vec<u8>,
        /// What is left of the last piece of the body.
        pending: Bytes,
        index: u64,
        done: bool,
    }
    let frame = (CHUNK + TAG) as usize;
    let state = State {
        body: Box::pin(body),
        chunk: Vec::with_capacity(frame),
        pending: Bytes::new(),
        index: 0,
        done: false,
    };
    stream::try_unfold(
        (state, sealer, digest),
        move |(mut st, sealer, digest)| async move {
            loop {
                if !st.pending.is_empty() {
                    // A full chunk with more to follow: it is not the last, seal it.
                    if st.chunk.len() as u64 == CHUNK {
                        let mut sealed = std::mem::replace(&mut st.chunk, Vec::with_capacity(frame));
                        sealer.seal_in_place(st.index, false, &mut sealed)?;
                        st.index += 1;
                        return Ok(Some((Bytes::from(sealed), (st, sealer, digest))));
                    }
                    let take = (CHUNK as usize - st.chunk.len()).min(st.pending.len());
                    st.chunk.extend_from_slice(&st.pending.split_to(take));
                    continue;
                }
                if st.done {
                    return Ok(None);
                }
                match st.body.next().await {
                    Some(Ok(bytes)) => {
                        if let Ok(mut d) = digest.lock() {
                            d.update(&bytes);
                        }
                        st.pending = bytes;
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => {
                        st.done = true;
                        let mut last = std::mem::take(&mut st.chunk);
                        sealer.seal_in_place(st.index, true, &mut last)?;
                        return Ok(Some((Bytes::from(last), (st, sealer, digest))));
                    }
                }
            }
        },
    )
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

impl Store {
    /// Streams a request body into a new sealed blob; digests are of the plaintext.
    pub async fn write_sealed_body<S, E>(
        &self,
        body: S,
        digest: BodyDigest,
        sealing: Sealing<'_>,
        size: Option<u64>,
        of: super::BodyOf,
    ) -> S3Result<Upload>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let (seal, sealer) = match sealing {
            Sealing::Customer(key) => {
                let seal = Seal::new();
                let sealer = key.sealer(&seal).map_err(|e| internal("sse", e))?;
                (seal, sealer)
            }
            Sealing::Managed(mode) => {
                let key = match mode {
                    ServerSide::S3 => KeyRef::StoreSse,
                    ServerSide::Kms { key_id, .. } => KeyRef::Id(key_id.clone()),
                };
                let (data, wrapped) = self
                    .keys
                    .generate_data_key(&key, mode.context())
                    .await
                    .map_err(from_kms)?;
                let sealer = data.sealer().map_err(|e| internal("sse", e))?;
                (Seal::wrapped(wrapped), sealer)
            }
        };
        // MD5 on a thread of its own, beside the checksums, sealing and writes (`md5_thread`).
        let md5 = Arc::new(tokio::sync::Mutex::new(Md5Thread::new()));
        let body = md5_thread::tee(body, md5.clone());
        let digest = Arc::new(Mutex::new(digest.without_md5()));
        let sealed = seal_stream(body, sealer, digest.clone());
        let landed = self
            .land(sealed, |_: &[u8]| {}, size.map(crate::sse::sealed_size), of)
            .await?;
        let digest = Arc::try_unwrap(digest)
            .ok()
            .and_then(|m| m.into_inner().ok())
            .ok_or_else(|| internal("sse", "digest still shared"))?;
        let digests = digest.finish_with_md5(super::object::finish_md5(md5).await?);
        let segment = self.segment_of(&landed, digests.size, Some(seal)).await?;
        Ok(Upload { segment, digests })
    }

    /// Streams `range` of an object's plaintext, opening sealed segments with `key` (plain
    /// segments pass through).
    pub async fn read_plain(
        &self,
        head: &ObjectHead,
        range: Range<u64>,
        key: Option<&CustomerKey>,
    ) -> S3Result<PlainStream> {
        let (base, segments) = self.segments_for(head, &range).await?;
        let range = range.start - base..range.end - base;
        if segments.iter().all(|s| s.seal.is_none()) {
            return self.open_segments(&segments, range).await;
        }
        let mut pieces = Vec::new();
        let mut start = 0u64;
        for seg in &segments {
            let end = start + seg.size;
            let (lo, hi) = (range.start.max(start), range.end.min(end));
            if lo < hi || (seg.size == 0 && range.is_empty() && lo == start) {
                pieces.push((seg.clone(), lo - start..hi.max(lo) - start));
            }
            start = end;
        }
        // Every data key is opened before the first byte: a disabled key is an S3 error, not a
        // response cut short.
        let wrapped: Vec<&WrappedKey> = pieces
            .iter()
            .filter_map(|(seg, _)| seg.seal.as_ref()?.key.as_ref())
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
        for (seg, local) in pieces {
            let sealer = match &seg.seal {
                None => None,
                Some(Seal { key: Some(_), .. }) => {
                    let data = data_keys
                        .next()
                        .ok_or_else(|| internal("sse", "a data key is missing"))?;
                    Some(data.sealer().map_err(|e| internal("sse", e))?)
                }
                Some(seal) => {
                    let key = key.ok_or_else(|| internal("sse", "a sealed segment needs its key"))?;
                    Some(key.sealer(seal).map_err(|e| internal("sse", e))?)
                }
            };
            planned.push((seg, local, sealer));
        }
        // The first blob is opened before this returns, as for plain objects: an unreadable
        // object is an error rather than a response cut short, and a blob freed by an overwrite
        // racing this read is already open.
        let small = planned.iter().map(|(seg, local, sealer)| {
            let read = stored_range(seg, local, sealer.is_some());
            read.end - read.start
        });
        if super::segments::in_small_pieces(planned.len(), small) {
            let store = self.clone();
            let stored_len = |(seg, local, sealer): &Planned| {
                let read = stored_range(seg, local, sealer.is_some());
                read.end - read.start
            };
            let fetched = super::segments::in_batches(planned, stored_len, move |batch: Vec<Planned>| {
                let store = store.clone();
                async move {
                    let reads = batch
                        .iter()
                        .map(|(seg, local, sealer)| (seg.clone(), stored_range(seg, local, sealer.is_some())))
                        .collect();
                    let stored = store.fetch_small(reads).await?;
                    let opened = batch
                        .into_iter()
                        .zip(stored)
                        .map(|((seg, local, sealer), bytes)| {
                            let stored: PlainStream = Box::pin(stream::iter([Ok(bytes)]));
                            opened(&seg, local, sealer, stored)
                        });
                    Ok(stream::iter(opened).flatten())
                }
            })
            .await
            .map_err(|e| internal("blob read", e))?;
            return Ok(Box::pin(sync_wrapper::SyncStream::new(fetched)));
        }
        let mut planned = planned.into_iter();
        let first = match planned.next() {
            Some((seg, local, sealer)) => self
                .read_segment(&seg, local, sealer)
                .await
                .map_err(|e| internal("blob read", e))?,
            None => Box::pin(stream::empty()),
        };
        let store = self.clone();
        let rest = stream::iter(planned)
            .then(move |(seg, local, sealer)| {
                let store = store.clone();
                async move { store.read_segment(&seg, local, sealer).await }
            })
            .map(|r| r.map_err(std::io::Error::other))
            .try_flatten();
        Ok(Box::pin(sync_wrapper::SyncStream::new(first.chain(rest))))
    }

    async fn read_segment(
        &self,
        seg: &Segment,
        local: Range<u64>,
        sealer: Option<Sealer>,
    ) -> Result<PlainStream, BoxError> {
        let stored = self
            .open_stored(seg, stored_range(seg, &local, sealer.is_some()))
            .await?;
        Ok(opened(seg, local, sealer, stored))
    }
}

/// A segment about to be read: its plaintext range, and what opens it when sealed.
type Planned = (Segment, Range<u64>, Option<Sealer>);

/// The range of a segment's stored bytes that its plaintext range `local` needs.
fn stored_range(seg: &Segment, local: &Range<u64>, sealed: bool) -> Range<u64> {
    match sealed {
        true => sse::span(local.clone(), seg.size).blob_range,
        false => local.clone(),
    }
}

/// The plaintext `local` of a segment, from the stored bytes [`stored_range`] named.
fn opened(seg: &Segment, local: Range<u64>, sealer: Option<Sealer>, stored: PlainStream) -> PlainStream {
    let Some(sealer) = sealer else {
        return stored;
    };
    let span = sse::span(local, seg.size);
    open_stream(
        stored,
        sealer,
        span.chunks,
        sse::last_chunk(seg.size),
        span.skip,
        span.take,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use md5::{Digest as _, Md5};

    fn key() -> CustomerKey {
        let raw = [9u8; 32];
        CustomerKey::from_headers(
            Some("AES256"),
            Some(&B64.encode(raw)),
            Some(&B64.encode(Md5::digest(raw))),
        )
        .unwrap()
        .unwrap()
    }

    async fn sealed(plain: &[u8], piece: usize) -> Vec<u8> {
        let seal = Seal::new();
        let body = stream::iter(
            plain
                .chunks(piece.max(1))
                .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let digest = Arc::new(Mutex::new(BodyDigest::new(
            crate::checksum::ChecksumAlgorithm::Crc32,
        )));
        let out: Vec<Bytes> = seal_stream(body, key().sealer(&seal).unwrap(), digest)
            .try_collect()
            .await
            .unwrap();
        let opened: Vec<Bytes> = open_stream(
            stream::iter(vec![Ok(Bytes::from(out.concat()))]),
            key().sealer(&seal).unwrap(),
            0..sse::last_chunk(plain.len() as u64) + 1,
            sse::last_chunk(plain.len() as u64),
            0,
            plain.len() as u64,
        )
        .try_collect()
        .await
        .unwrap();
        assert_eq!(out.concat().len() as u64, sse::sealed_size(plain.len() as u64));
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
