//! Reading a range of one blob on this volume as a byte stream.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use super::held_dir::BlobName;
use super::{BlobId, BlobStore};

/// Large enough that a 1 GB/s stream is a thousand reads a second, small enough that a GET holds
/// at most `READ_AHEAD + 1` of them whatever the object size. A whole number (16) of sealed
/// chunks (`crate::sse`), so a sealed blob read from its first chunk arrives chunk-aligned and is
/// opened where it was read, never copied into another buffer.
pub const READ_CHUNK: u64 = 16 * (crate::sse::CHUNK + crate::sse::TAG);
const READ_AHEAD: usize = 2;

/// A blob's bytes as they arrive (from this volume or from a peer), with bounded read-ahead.
pub struct BlobStream {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    /// Told when the stream is first polled: a reader opened ahead of its turn (the next part of
    /// an object) holds its first chunk and reads no further until then.
    started: Option<oneshot::Sender<()>>,
}

impl BlobStream {
    /// A stream fed through the returned sender; `READ_AHEAD` chunks may wait in between.
    pub fn channel() -> (mpsc::Sender<io::Result<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        (tx, Self { rx, started: None })
    }
}

impl Stream for BlobStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
        self.rx.poll_recv(cx)
    }
}

impl BlobStore {
    /// Streams `range` of blob `id`. The file is opened and its first chunk read before this
    /// returns, so a missing blob is an error here rather than a response cut short, and a
    /// stream opened ahead of its turn has its first bytes ready; the rest is read once the
    /// stream is polled. Once open, the bytes stay readable even if the blob is freed meanwhile.
    /// Each chunk is read on the blocking pool and no thread waits for a slow reader: a stalled
    /// client holds its read-ahead, not a thread.
    pub async fn read(&self, id: &BlobId, range: Range<u64>) -> io::Result<BlobStream> {
        let (dir, name) = (self.held_dir().clone(), BlobName::of(id));
        let first_len = range.end.saturating_sub(range.start).min(READ_CHUNK);
        let (file, first) = tokio::task::spawn_blocking(move || {
            let file = dir.open_blob(&name)?;
            let first = read_at(&file, range.start, first_len)?;
            Ok::<_, io::Error>((file, first))
        })
        .await
        .map_err(io::Error::other)??;
        let (tx, mut stream) = BlobStream::channel();
        let _ = tx.try_send(Ok(first));
        let mut offset = range.start + first_len;
        if offset >= range.end {
            return Ok(stream);
        }
        let (started, wait) = oneshot::channel();
        stream.started = Some(started);
        let file = Arc::new(file);
        tokio::spawn(async move {
            if wait.await.is_err() {
                return; // dropped unread
            }
            while offset < range.end {
                let len = (range.end - offset).min(READ_CHUNK);
                let file = file.clone();
                let chunk = tokio::task::spawn_blocking(move || read_at(&file, offset, len))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e)));
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return; // the reader went away, or was told why not
                }
                offset += len;
            }
        });
        Ok(stream)
    }
}

impl BlobStore {
    /// Reads small ranges of many blobs in one trip to the blocking pool (the parts of an
    /// object of many small parts), each answered on its own. They are read into one buffer,
    /// each answer a view of its own range of it: one allocation a batch, not one a part.
    pub async fn read_small_many<'a>(
        &self,
        wanted: impl Iterator<Item = (&'a BlobId, Range<u64>)>,
    ) -> Vec<io::Result<BytesMut>> {
        let wanted: Vec<_> = wanted.map(|(id, range)| (BlobName::of(id), range)).collect();
        let (n, dir) = (wanted.len(), self.held_dir().clone());
        tokio::task::spawn_blocking(move || {
            let total: u64 = wanted.iter().map(|(_, r)| r.end.saturating_sub(r.start)).sum();
            let mut buf = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
            wanted
                .into_iter()
                .map(|(name, range)| {
                    let file = dir.open_blob(&name)?;
                    let len = range.end.saturating_sub(range.start);
                    if let Err(e) = read_into(&file, range.start, len, &mut buf) {
                        buf.clear();
                        return Err(e);
                    }
                    Ok(buf.split())
                })
                .collect()
        })
        .await
        .unwrap_or_else(|e| (0..n).map(|_| Err(io::Error::other(e.to_string()))).collect())
    }
}

/// Reads `len` bytes at `offset` into a fresh buffer, without first zeroing it: the read is the
/// only pass over the bytes in user space before they are sent (or opened in place).
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Bytes> {
    let mut buf = BytesMut::new();
    read_into(file, offset, len, &mut buf)?;
    Ok(buf.freeze())
}

/// Appends `len` bytes of `file` at `offset` to `buf` (growing it if it has not the room).
fn read_into(file: &File, offset: u64, len: u64, buf: &mut BytesMut) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = usize::try_from(len).map_err(io::Error::other)?;
    let base = buf.len();
    buf.reserve(len);
    while buf.len() - base < len {
        let filled = buf.len() - base;
        let spare = &mut buf.spare_capacity_mut()[..len - filled];
        let at = libc::off_t::try_from(offset + filled as u64).map_err(io::Error::other)?;
        // SAFETY: pread writes at most `spare.len()` bytes into the buffer's spare capacity,
        // which is valid for writes for that long; the descriptor is open for the call.
        let n = unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match n {
            n if n > 0 => {
                // SAFETY: pread initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(base + filled + n as usize) };
            }
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn reads_a_range_of_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let body = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"0123456789"))]);
        let w = store.write(body, |_: &[u8]| {}).await.unwrap();
        let chunks: Vec<Bytes> = store
            .read(&w.id, 3..8)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), b"34567");
        let missing = BlobId::parse(&"0".repeat(32)).unwrap();
        assert!(store.read(&missing, 0..1).await.is_err());
    }

    #[tokio::test]
    async fn a_stream_reads_its_first_chunk_when_opened_and_the_rest_once_polled() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let size = 3 * READ_CHUNK as usize + 5;
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let body = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from(bytes.clone()))]);
        let w = store.write(body, |_: &[u8]| {}).await.unwrap();

        // Across chunk boundaries, in order.
        let range = 7..size as u64 - 3;
        let chunks: Vec<Bytes> = store
            .read(&w.id, range.clone())
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.concat(), bytes[7..size - 3]);

        // Opened ahead of its turn, it holds its first chunk and reads nothing more until polled:
        // cut short before that, the rest is found missing.
        let mut ahead = store.read(&w.id, 0..size as u64).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        std::fs::OpenOptions::new()
            .write(true)
            .open(store.path(&w.id))
            .unwrap()
            .set_len(READ_CHUNK)
            .unwrap();
        let first = ahead.try_next().await.unwrap().unwrap();
        assert_eq!(first, bytes[..READ_CHUNK as usize]);
        let rest = ahead.try_next().await.unwrap_err();
        assert_eq!(rest.kind(), io::ErrorKind::UnexpectedEof);
    }
}
