//! Segment manifests: the segments and parts of an object of many parts, kept beside its head.
//!
//! A head is read by every GET, HEAD and listing page; inline, the segments of a 10,000-part
//! object made it a megabyte of JSON to decode each time. A version with more than [`INLINE`]
//! segments stores them (and its part summaries, one per segment) in chunks of [`CHUNK`] under
//! `keys::manifest_chunk(id, end, n)`, keyed by the object offset where each chunk's bytes end,
//! and its head keeps a [`Manifest`]: the id and the counts. A range seeks to the chunk holding
//! its first byte and reads only the chunks it touches.
//!
//! Lifetime: the version record (`V`) that names a manifest owns it; the current-head copy (`O`)
//! shares it. Manifests are written once, by [`spill`] when a version is published, and deleted
//! by [`delete`] when that version goes. Heads without a manifest (every record written before
//! manifests existed) keep their segments inline and are read as they always were.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use s3s::S3Result;

use crate::errors::from_meta;
use crate::meta::{MetaTxn, keys};
use crate::model::{self, Manifest, ObjectHead, PartSummary, Segment};

/// Segments a head keeps inline: an object of a few parts gains nothing from a second read.
pub const INLINE: usize = 32;
/// Segments (and parts) per chunk: a range near the end of a 10,000-part object reads one chunk
/// of this many entries (about 10 KiB), and a whole read ceil(10,000 / CHUNK) in one scan.
pub const CHUNK: usize = 32;
/// Chunks read per scan while a range is being gathered (most ranges end in the first).
const RANGE_SCAN: usize = 4;

#[derive(Serialize)]
struct ChunkOut<'a> {
    segments: &'a [Segment],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    parts: &'a [PartSummary],
}

#[derive(Deserialize)]
struct ChunkIn {
    segments: Vec<Segment>,
    #[serde(default)]
    parts: Vec<PartSummary>,
}

/// The segments a stored chunk holds (the blob references of an object of many parts).
pub fn chunk_segments(key: &[u8], raw: &[u8]) -> Option<Vec<Segment>> {
    model::decode::<ChunkIn>(key, raw).ok().map(|c| c.segments)
}

/// Moves the segments and parts of a version about to be stored into a new manifest when there
/// are more than [`INLINE`]; the head keeps them in memory (callers answer from it) and
/// `model::encode_head` leaves them out. A manifest the head named before (a copy, a rename, a
/// promoted version) is never shared: the new version gets its own.
pub async fn spill(txn: &mut dyn MetaTxn, head: &mut ObjectHead) -> S3Result<()> {
    head.manifest = None;
    if head.segments.len() <= INLINE && head.parts.len() <= INLINE {
        return Ok(());
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let chunks = head.segments.len().max(head.parts.len()).div_ceil(CHUNK);
    let mut end = 0u64;
    for n in 0..chunks {
        let span = n * CHUNK..(n + 1) * CHUNK;
        let segments = slice(&head.segments, &span);
        let parts = slice(&head.parts, &span);
        end += segments.iter().map(|s| s.size).sum::<u64>();
        let chunk = ChunkOut { segments, parts };
        txn.put(
            &keys::manifest_chunk(&id, end, chunk_index(n)),
            &model::encode(&chunk),
        )
        .await
        .map_err(from_meta)?;
    }
    head.manifest = Some(Manifest {
        id,
        segments: u32::try_from(head.segments.len()).unwrap_or(u32::MAX),
        parts: u32::try_from(head.parts.len()).unwrap_or(u32::MAX),
        chunks: chunk_index(chunks),
    });
    Ok(())
}

fn slice<'a, T>(all: &'a [T], span: &Range<usize>) -> &'a [T] {
    &all[span.start.min(all.len())..span.end.min(all.len())]
}

fn chunk_index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Fills a head's segments and parts from its manifest, if it has one and they are not loaded.
pub async fn load(txn: &mut dyn MetaTxn, head: &mut ObjectHead) -> S3Result<()> {
    if head.segments_loaded() {
        return Ok(());
    }
    let Some(manifest) = head.manifest.clone() else {
        return Ok(());
    };
    let (segments, parts) = read_all(txn, &manifest).await?;
    if segments.len() != manifest.segments as usize || parts.len() != manifest.parts as usize {
        return Err(missing(&manifest));
    }
    head.segments = segments;
    head.parts = parts;
    Ok(())
}

/// The segments of `head` that `range` of the object touches, and the object offset where the
/// first of them starts: from the head when inline, else from the chunks the range touches
/// (one seek to the chunk holding its first byte).
pub async fn segments_for(
    txn: &mut dyn MetaTxn,
    head: &ObjectHead,
    range: &Range<u64>,
) -> S3Result<(u64, Vec<Segment>)> {
    let manifest = match &head.manifest {
        Some(m) if !head.segments_loaded() => m,
        _ => return Ok((0, head.segments.clone())),
    };
    if range.start >= head.size {
        return Ok((range.start, Vec::new()));
    }
    let end = keys::prefix_end(&keys::manifest_prefix(&manifest.id));
    let mut cursor = keys::manifest_chunk(&manifest.id, range.start + 1, 0);
    let mut base = None;
    let mut segments = Vec::new();
    loop {
        let found = txn.scan(&cursor, &end, RANGE_SCAN).await.map_err(from_meta)?;
        let exhausted = found.len() < RANGE_SCAN;
        for (k, v) in found {
            let chunk: ChunkIn = model::decode(&k, &v).map_err(from_meta)?;
            let chunk_end = chunk_end_of(&k).ok_or_else(|| missing(manifest))?;
            let bytes: u64 = chunk.segments.iter().map(|s| s.size).sum();
            base.get_or_insert(chunk_end - bytes);
            segments.extend(chunk.segments);
            if chunk_end >= range.end {
                return Ok((base.unwrap_or(0), segments));
            }
            cursor = keys::successor(&k);
        }
        if exhausted {
            // The object's bytes end before the range does: its chunks are gone.
            return Err(missing(manifest));
        }
    }
}

/// The object offset where a chunk's bytes end, from its key.
fn chunk_end_of(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(12)?;
    Some(u64::from_be_bytes(key.get(tail..tail + 8)?.try_into().ok()?))
}

/// Every chunk of `manifest`, in one range scan.
async fn read_all(txn: &mut dyn MetaTxn, manifest: &Manifest) -> S3Result<(Vec<Segment>, Vec<PartSummary>)> {
    let prefix = keys::manifest_prefix(&manifest.id);
    let found = txn
        .scan(&prefix, &keys::prefix_end(&prefix), manifest.chunks as usize)
        .await
        .map_err(from_meta)?;
    if found.len() != manifest.chunks as usize {
        return Err(missing(manifest));
    }
    let (mut segments, mut parts) = (Vec::new(), Vec::new());
    for (k, v) in found {
        let chunk: ChunkIn = model::decode(&k, &v).map_err(from_meta)?;
        segments.extend(chunk.segments);
        parts.extend(chunk.parts);
    }
    Ok((segments, parts))
}

/// A manifest without its chunks: the version was removed (deleted, or replaced in a bucket that
/// keeps one version) after the head was read, in another transaction. The read answers
/// `500 InternalError`, which clients retry: the retry reads the key as it is now (the new
/// object, or `404`). Blobs outlive such races by the free grace period; manifests go with their
/// version, so a read that lost one starts over rather than serving a key that no longer is.
fn missing(manifest: &Manifest) -> s3s::S3Error {
    tracing::debug!(manifest = %manifest.id, "manifest chunks gone: the version was removed");
    s3s::S3Error::with_message(
        s3s::S3ErrorCode::InternalError,
        "The object changed while it was being read; please retry.",
    )
}

/// Deletes the chunks of the manifest a removed version owned.
pub async fn delete(txn: &mut dyn MetaTxn, head: &ObjectHead) -> S3Result<()> {
    let Some(manifest) = &head.manifest else {
        return Ok(());
    };
    let prefix = keys::manifest_prefix(&manifest.id);
    let found = txn
        .scan(&prefix, &keys::prefix_end(&prefix), manifest.chunks as usize)
        .await
        .map_err(from_meta)?;
    for (k, _) in found {
        txn.delete(&k).await.map_err(from_meta)?;
    }
    Ok(())
}
