//! Sealed objects (SSE-S3, SSE-KMS, SSE-C): bodies sealed chunk by chunk on the way to disk (see
//! `crate::sse` for the format; `ops::sealed_read` reads them back).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use s3s::S3Result;

use super::{Store, Upload};
use crate::checksum::BodyDigest;
use crate::errors::{from_kms, internal};
use crate::kms::KeyRef;
use crate::md5_thread::{self, Md5Thread};
use crate::model::ServerSide;
use crate::sse::{CHUNK, CustomerKey, Seal, Sealer, TAG};

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
pub(super) fn seal_stream<S, E>(
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
}
