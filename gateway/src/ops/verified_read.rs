//! Whole-object reads checked as they stream against the checksums recorded at write time. The
//! last chunk is held back until every checksum matched, so a damaged blob ends the response
//! short (the client sees an incomplete body and retries) and never completes it with wrong
//! bytes. Ranges cannot be checked this way and are served as read. Sealed objects need no
//! checksum pass: opening each chunk authenticates it. Before the response ends short, every copy
//! of the object's blobs is checked against its recorded CRC and the damaged ones quarantined,
//! so the next read of the object takes a good copy.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, stream};
use s3s::S3Result;

use super::{PlainStream, Store};
use crate::checksum::{ChecksumKind, SpanCheck};
use crate::model::ObjectHead;
use crate::sse::CustomerKey;

/// What the recorded checksums cover: the whole object, or each part of a composite one. None
/// when nothing usable was recorded (a record from before checksums).
fn spans_of(head: &ObjectHead) -> Option<SpanCheck> {
    let sum = &head.checksum;
    if sum.value.is_empty() {
        return None;
    }
    let spans = match sum.kind {
        ChecksumKind::FullObject => vec![(head.size, sum.value.clone())],
        ChecksumKind::Composite if !head.parts.is_empty() => {
            head.parts.iter().map(|p| (p.size, p.checksum.clone())).collect()
        }
        ChecksumKind::Composite => return None,
    };
    Some(SpanCheck::new(sum.algorithm, spans))
}

fn is_damage(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::sse::SseError>())
        .is_some_and(|s| *s == crate::sse::SseError::Damaged)
}

struct Verifying {
    inner: PlainStream,
    check: Option<SpanCheck>,
    held: Option<Bytes>,
    label: String,
    /// Whose copies to check when the bytes turn out wrong.
    copies: Option<(Store, ObjectHead)>,
}

impl Verifying {
    async fn check_copies(&mut self) {
        if let Some((store, head)) = self.copies.take() {
            store.check_object_copies(&head).await;
        }
    }
}

fn verified(inner: PlainStream, check: SpanCheck, label: String, copies: (Store, ObjectHead)) -> PlainStream {
    let state = Verifying {
        inner,
        check: Some(check),
        held: None,
        label,
        copies: Some(copies),
    };
    Box::pin(sync_wrapper::SyncStream::new(stream::unfold(
        state,
        |mut st| async move {
            let failure = loop {
                let check = st.check.as_mut()?;
                match st.inner.next().await {
                    Some(Ok(chunk)) => match check.update(&chunk) {
                        Ok(()) => match st.held.replace(chunk) {
                            Some(released) => return Some((Ok(released), st)),
                            None => continue,
                        },
                        Err(mismatch) => break mismatch,
                    },
                    Some(Err(e)) => {
                        // A sealed chunk that fails to open is damage found before any checksum.
                        if is_damage(&e) {
                            tracing::error!(object = %st.label, error = %e, "damaged object: response cut short");
                            st.check_copies().await;
                        }
                        st.check = None;
                        return Some((Err(e), st));
                    }
                    None => match st.check.take().map(SpanCheck::finish) {
                        Some(Ok(())) => return st.held.take().map(|last| (Ok(last), st)),
                        Some(Err(mismatch)) => break mismatch,
                        None => return None,
                    },
                }
            };
            tracing::error!(object = %st.label, error = %failure, "damaged object: response cut short");
            st.check_copies().await;
            st.check = None;
            Some((Err(std::io::Error::other(failure)), st))
        },
    )))
}

impl Store {
    /// The whole plaintext of an object, checked as it streams (see the module comment).
    pub async fn read_whole_verified(
        &self,
        bucket: &str,
        key: &str,
        head: &ObjectHead,
        sse_key: Option<&CustomerKey>,
    ) -> S3Result<PlainStream> {
        // A whole read needs every segment, and the parts of a composite checksum. Loaded ones
        // are moved, not copied: the segments of 10,000 parts were copied three times before the
        // first byte.
        let composite = head.checksum.kind == ChecksumKind::Composite && !head.checksum.value.is_empty();
        let (segments, parts_head) = if composite && !head.segments_loaded() {
            let mut full = self.with_segments(head.clone_without_segments()).await?;
            (std::mem::take(&mut full.segments), Some(full))
        } else {
            let (_, segments) = self.segments_for(head, &(0..head.size)).await?;
            (segments.into_owned(), None)
        };
        let sealed = !segments.is_empty() && segments.iter().all(|s| s.seal.is_some());
        let plain = self
            .read_plain_of(head, Arc::new(segments), 0..head.size, sse_key)
            .await?;
        let label: Arc<str> = format!("{bucket}/{key}").into();
        // Whose copies to check if the bytes turn out wrong: the head alone, its segments read
        // again then (`check_object_copies`), unless they are its own.
        let copies = match head.manifest {
            Some(_) => head.clone_without_segments(),
            None => head.clone(),
        };
        let copies = (self.clone(), copies);
        if sealed {
            // Every chunk of a sealed object is authenticated as it is opened (GCM), which
            // catches any damage a checksum would, first: a second pass over the plaintext would
            // only cost time. Damage still ends the response short, is logged, and has the
            // copies checked.
            let copies = Arc::new(tokio::sync::Mutex::new(Some(copies)));
            return Ok(Box::pin(sync_wrapper::SyncStream::new(plain.then(move |item| {
                let damaged = match &item {
                    Err(e) if is_damage(e) => Some((copies.clone(), label.clone())),
                    _ => None,
                };
                async move {
                    if let (Some((copies, label)), Err(e)) = (damaged, &item) {
                        tracing::error!(object = %label, error = %e, "damaged object: response cut short");
                        if let Some((store, head)) = copies.lock().await.take() {
                            store.check_object_copies(&head).await;
                        }
                    }
                    item
                }
            }))));
        }
        Ok(match spans_of(parts_head.as_ref().unwrap_or(head)) {
            Some(check) => verified(plain, check, label.to_string(), copies),
            None => plain,
        })
    }
}
