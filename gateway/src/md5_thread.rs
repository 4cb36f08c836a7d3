//! The MD5 of a body computed on a thread of its own, beside the rest of a PUT's work.
//!
//! MD5 (the ETag) is the slowest digest a PUT computes and cannot be split: one core hashes it
//! at most as fast as the disk writes. Computed inline with the SigV4 payload hash, the
//! requested checksums, sealing and the copies into the write buffers, the PUT ran at the sum of
//! their costs; on its own thread it overlaps them, and a large PUT runs at the pace of the
//! slowest of them, MD5 or the disk.
//!
//! The body's chunks are handed over as `Bytes` (shared, not copied) through a bounded queue, so
//! memory stays at a few chunks whatever the object size. Small bodies never leave the request's
//! task: the thread is started only once [`OFFLOAD_AFTER`] bytes have been seen.

use crate::md5_asm::Md5;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes hashed inline before the rest goes to the thread: below this, handing chunks over
/// costs more than hashing them.
pub const OFFLOAD_AFTER: u64 = 256 * 1024;
/// Chunks queued for the thread. Body chunks are at most a few hundred KiB (hyper's read
/// buffer), so this bounds a PUT's extra memory to a few MiB.
const QUEUE: usize = 16;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the MD5 of a body is being computed.
enum Lane {
    Inline {
        md5: Md5,
        seen: u64,
    },
    Thread {
        queue: mpsc::Sender<Bytes>,
        done: JoinHandle<Md5>,
    },
    Poisoned,
}

/// The MD5 of a body, fed chunk by chunk; see the module comment.
pub struct Md5Thread {
    lane: Lane,
}

impl Default for Md5Thread {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5Thread {
    pub fn new() -> Self {
        Self {
            lane: Lane::Inline {
                md5: Md5::new(),
                seen: 0,
            },
        }
    }

    /// Hashes `chunk`, inline or on the thread; waits (without blocking a thread) while the
    /// thread is a full queue behind.
    pub async fn feed(&mut self, chunk: Bytes) {
        if let Lane::Inline { md5, seen } = &mut self.lane {
            if *seen < OFFLOAD_AFTER {
                *seen += chunk.len() as u64;
                md5.update(&chunk);
                return;
            }
            let Lane::Inline { md5, .. } = std::mem::replace(&mut self.lane, Lane::Poisoned) else {
                unreachable!("matched above");
            };
            let (queue, mut chunks) = mpsc::channel::<Bytes>(QUEUE);
            let done = tokio::task::spawn_blocking(move || {
                let mut md5 = md5;
                while let Some(chunk) = chunks.blocking_recv() {
                    md5.update(&chunk);
                }
                md5
            });
            self.lane = Lane::Thread { queue, done };
        }
        if let Lane::Thread { queue, .. } = &self.lane {
            // The receiver lives until the queue closes: a send cannot fail before `finish`.
            let _ = queue.send(chunk).await;
        }
    }

    /// The digest of everything fed.
    pub async fn finish(self) -> Result<[u8; 16], tokio::task::JoinError> {
        match self.lane {
            Lane::Inline { md5, .. } => Ok(md5.finalize()),
            Lane::Thread { queue, done } => {
                drop(queue);
                Ok(done.await?.finalize())
            }
            Lane::Poisoned => Ok(Md5::new().finalize()),
        }
    }
}

/// `body`, with every chunk also fed to `md5` on its way through. The digest is complete once
/// the stream has ended; [`Md5Thread::finish`] it after that.
pub fn tee<S, E>(
    body: S,
    md5: std::sync::Arc<tokio::sync::Mutex<Md5Thread>>,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    body.map(|item| item.map_err(Into::into)).then(move |item| {
        let md5 = md5.clone();
        async move {
            if let Ok(chunk) = &item {
                md5.lock().await.feed(chunk.clone()).await;
            }
            item
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_hashed_across_the_thread_boundary_has_its_md5() {
        let body: Vec<u8> = (0..3 * OFFLOAD_AFTER as usize + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut lane = Md5Thread::new();
        for chunk in body.chunks(65_536) {
            lane.feed(Bytes::copy_from_slice(chunk)).await;
        }
        assert!(
            matches!(lane.lane, Lane::Thread { .. }),
            "a large body went to the thread"
        );
        let expected: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&body).into();
        assert_eq!(lane.finish().await.unwrap(), expected);
    }

    #[tokio::test]
    async fn a_small_body_is_hashed_inline() {
        let mut lane = Md5Thread::new();
        lane.feed(Bytes::from_static(b"hello")).await;
        assert!(matches!(lane.lane, Lane::Inline { .. }));
        let expected: [u8; 16] = <md5::Md5 as md5::Digest>::digest(b"hello").into();
        assert_eq!(lane.finish().await.unwrap(), expected);
    }
}
