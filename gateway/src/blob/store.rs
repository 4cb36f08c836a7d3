//! Writing and removing blobs.
//!
//! A blob is written to `tmp/`, fsynced, and renamed into `blobs/<fan-out>/<id>` before the
//! metadata commit that makes it visible; until a committed record points at it, it is an
//! orphan that the sweeper collects. So a crash at any point leaves no visible half-object.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Body chunks queued between the network and the disk writer: bounds a PUT's memory to a few
/// chunks whatever the object size.
const WRITE_QUEUE_DEPTH: usize = 8;
/// Write-back is started every this many bytes, so the disk writes while the body is still
/// arriving and the final fsync waits only for the tail.
const WRITE_BEHIND: u64 = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    /// Time-ordered and random: never repeats, across gateways too.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().simple().to_string())
    }

    /// Accepts only ids this store could have generated (32 lowercase hex digits), so a file name
    /// found on disk can never be mistaken for a path.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Directory fan-out from the random tail (the head of a v7 uuid is a timestamp).
    fn shard(&self) -> &str {
        &self.0[30..]
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request body failed (client went away, bad chunk signature, hash mismatch...).
    #[error("request body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    /// The volume failed.
    #[error("blob volume: {0}")]
    Io(#[from] io::Error),
}

/// A blob durably on the volume, not yet referenced by metadata.
#[derive(Debug)]
pub struct Written<O> {
    pub id: BlobId,
    pub size: u64,
    /// The observer that saw every byte, handed back with what it computed.
    pub observer: O,
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Dirs>,
}

struct Dirs {
    blobs: PathBuf,
    tmp: PathBuf,
}

/// Sees every byte of a blob as it is written (digests are computed this way, in one pass).
pub trait Observer: Send + 'static {
    fn observe(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8]) + Send + 'static> Observer for F {
    fn observe(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

impl Observer for crate::checksum::BodyDigest {
    fn observe(&mut self, bytes: &[u8]) {
        self.update(bytes)
    }
}

enum Chunk {
    Data(Bytes),
    /// Sent only after the whole body arrived intact: anything else discards the temp file.
    Finish,
}

impl BlobStore {
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        for shard in 0..=255u8 {
            fs::create_dir_all(blobs.join(format!("{shard:02x}")))?;
        }
        Ok(Self {
            inner: Arc::new(Dirs { blobs, tmp }),
        })
    }

    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.inner.blobs.join(id.shard()).join(id.as_str())
    }

    pub(super) fn blobs_dir(&self) -> &Path {
        &self.inner.blobs
    }

    pub(super) fn tmp_dir(&self) -> &Path {
        &self.inner.tmp
    }

    /// Streams `body` into a new blob, showing every byte to `observer` (digests) on the way.
    /// Returns once the blob is fsynced under its final name.
    pub async fn write<S, E, O>(&self, body: S, observer: O) -> Result<Written<O>, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        O: Observer,
    {
        self.write_as(BlobId::generate(), body, observer).await
    }

    /// [`BlobStore::write`] under a given id: a copy of a blob another gateway wrote. Writing
    /// the same id again (a retried copy) replaces the file atomically with the same bytes.
    pub async fn write_as<S, E, O>(&self, id: BlobId, body: S, observer: O) -> Result<Written<O>, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        O: Observer,
    {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_DEPTH);
        let writer = {
            let store = self.clone();
            let id = id.clone();
            tokio::task::spawn_blocking(move || store.write_blocking(&id, rx, observer))
        };

        let mut body = std::pin::pin!(body);
        let mut failure = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if tx.send(Chunk::Data(bytes)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    failure = Some(WriteError::Body(e.into()));
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(Chunk::Finish).await;
        }
        drop(tx);

        let written = writer.await.map_err(|e| WriteError::Io(io::Error::other(e)))?;
        match (failure, written) {
            (Some(body_error), _) => Err(body_error),
            (None, Ok((size, observer))) => Ok(Written { id, size, observer }),
            (None, Err(e)) => Err(WriteError::Io(e)),
        }
    }

    fn write_blocking<O: Observer>(
        &self,
        id: &BlobId,
        mut rx: mpsc::Receiver<Chunk>,
        mut observer: O,
    ) -> io::Result<(u64, O)> {
        // Unique per write: two copies of one blob may arrive at once (a retry racing the first).
        let tmp_path = self
            .inner
            .tmp
            .join(format!("{id}.{:016x}", rand::random::<u64>()));
        let result = (|| {
            let mut file = File::create(&tmp_path)?;
            let mut size = 0u64;
            let mut flushed = 0u64;
            loop {
                match rx.blocking_recv() {
                    Some(Chunk::Data(bytes)) => {
                        observer.observe(&bytes);
                        file.write_all(&bytes)?;
                        size += bytes.len() as u64;
                        if size - flushed >= WRITE_BEHIND {
                            start_writeback(&file, flushed, size - flushed);
                            flushed = size;
                        }
                    }
                    Some(Chunk::Finish) => break,
                    None => return Err(io::Error::new(io::ErrorKind::Interrupted, "body aborted")),
                }
            }
            // fdatasync also makes the file's size durable: all a new, never-modified file needs.
            file.sync_data()?;
            drop(file);
            let final_path = self.path(id);
            fs::rename(&tmp_path, &final_path)?;
            sync_dir(final_path.parent().unwrap_or(&self.inner.blobs))?;
            Ok(size)
        })();
        match result {
            Ok(size) => Ok((size, observer)),
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                Err(e)
            }
        }
    }

    /// Removes a blob no committed record points at any more. Missing is fine (idempotent).
    pub async fn delete(&self, id: &BlobId) -> io::Result<()> {
        let path = self.path(id);
        tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
        .map_err(io::Error::other)?
    }

    pub fn size_of(&self, id: &BlobId) -> io::Result<u64> {
        Ok(fs::metadata(self.path(id))?.len())
    }
}

/// Asks the kernel to start writing a range back now, without waiting for it.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the duration of the call; the call only schedules I/O.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "sync_file_range");
    }
}

/// A rename is durable only once its directory entry is.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Send {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn written_blob_holds_every_chunk_and_no_temp_file_remains() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut seen = Vec::new();
        let w = store
            .write(body(&[b"hello ", b"", b"world"]), move |b: &[u8]| {
                seen.extend_from_slice(b)
            })
            .await;
        let w = w.unwrap();
        assert_eq!(w.size, 11);
        assert_eq!(fs::read(store.path(&w.id)).unwrap(), b"hello world");
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_failed_body_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let failing = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(io::Error::other("client went away")),
        ]);
        let result = store.write(failing, |_: &[u8]| {}).await;
        assert!(matches!(result, Err(WriteError::Body(_))));
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        let blobs: usize = fs::read_dir(store.blobs_dir())
            .unwrap()
            .map(|d| fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum();
        assert_eq!(blobs, 0);
    }

    #[test]
    fn blob_ids_parse_only_generated_shapes() {
        let id = BlobId::generate();
        assert_eq!(BlobId::parse(id.as_str()), Some(id));
        assert_eq!(BlobId::parse("../../etc/passwd"), None);
        assert_eq!(BlobId::parse("ABCDEF0123456789abcdef0123456789"), None);
    }
}
