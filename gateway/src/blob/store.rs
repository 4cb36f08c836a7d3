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
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

/// Body bytes gathered before one blocking write of them: bounds a PUT's memory to two batches
/// (one being written, one arriving) whatever the object size.
const WRITE_BATCH: usize = 1024 * 1024;
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
    pub(super) fn shard(&self) -> &str {
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
    /// The request body sent nothing for this long.
    #[error("request body stalled for {0:?}")]
    Stalled(std::time::Duration),
}

/// A blob durably on the volume, not yet referenced by metadata.
#[derive(Debug)]
pub struct Written<O> {
    pub id: BlobId,
    pub size: u64,
    /// CRC64NVME of the bytes as stored: what scrubs and repairs check a copy against.
    pub crc: u64,
    /// The observer that saw every byte, handed back with what it computed.
    pub observer: O,
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<Dirs>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore")
            .field("root", &self.inner.root)
            .finish()
    }
}

struct Dirs {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    quarantine: PathBuf,
    /// The blob directory, held open for reads.
    held_dir: Arc<super::held_dir::HeldDir>,
    /// How long a body may send nothing before its write fails.
    body_deadline: Option<std::time::Duration>,
    /// At most this many bytes of blobs on the volume (`--volume-quota`), whatever the
    /// filesystem has.
    quota: Option<u64>,
    /// Bytes of blobs on the volume, counted when there is a quota to hold them to.
    used: AtomicU64,
}

/// How much a volume can take: its capacity and what is free, as the filesystem (or the quota,
/// when lower) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub capacity: u64,
    pub free: u64,
}

impl Room {
    /// Whether `size` more bytes keep the volume at or under `high_water` (a fraction of its
    /// capacity), with room for them.
    pub fn fits(&self, size: u64, high_water: f64) -> bool {
        let used_after = (self.capacity.saturating_sub(self.free)).saturating_add(size);
        size <= self.free && (used_after as f64) <= self.capacity as f64 * high_water
    }
}

/// Capacity and free bytes of the filesystem holding `path`.
fn filesystem_room(path: &Path) -> Room {
    use std::os::unix::ffi::OsStrExt as _;
    let none = Room { capacity: 0, free: 0 };
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return none;
    };
    // SAFETY: `statvfs` only writes into the zeroed struct we own; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut st) != 0 {
            return none;
        }
        // As `df` counts: what is used plus what an unprivileged writer may still use. Blocks
        // reserved for root (or held back by the host) are neither, and counting them as used
        // would put a half-empty volume past its high-water mark.
        let frsize = st.f_frsize as u64;
        let used = (st.f_blocks as u64).saturating_sub(st.f_bfree as u64) * frsize;
        let free = st.f_bavail as u64 * frsize;
        Room {
            capacity: used + free,
            free,
        }
    }
}

/// Bytes of every blob under `blobs` (a quota's starting point).
fn bytes_under(blobs: &Path) -> io::Result<u64> {
    let mut total = 0;
    for shard in fs::read_dir(blobs)?.filter_map(Result::ok) {
        for entry in fs::read_dir(shard.path())?.filter_map(Result::ok) {
            total += entry.metadata().map_or(0, |m| m.len());
        }
    }
    Ok(total)
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

/// A blob file being filled, and what has seen its bytes.
struct Sink<O> {
    file: File,
    observer: O,
    /// Boxed: the digest's SIMD state is large, and a sink moves between threads per batch.
    crc: Box<crc_fast::Digest>,
    size: u64,
    flushed: u64,
}

impl<O: Observer> Sink<O> {
    /// Hashes and writes a batch (on the blocking pool).
    fn absorb(mut self, batch: Vec<Bytes>) -> io::Result<Self> {
        for bytes in &batch {
            self.observer.observe(bytes);
            self.crc.update(bytes);
            self.size += bytes.len() as u64;
        }
        write_all_vectored(&mut self.file, &batch)?;
        if self.size - self.flushed >= WRITE_BEHIND {
            start_writeback(&self.file, self.flushed, self.size - self.flushed);
            self.flushed = self.size;
        }
        Ok(self)
    }
}

/// Writes a batch in as few calls as the kernel allows, not one per buffer: a body arrives in
/// buffers of 64 KiB or less (a sealed chunk, a network read), and the page cache makes its pages
/// as large as the write that fills them, which later reads of the blob copy out faster.
fn write_all_vectored(file: &mut File, batch: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = batch.iter().map(|b| io::IoSlice::new(b)).collect();
    let mut left = &mut slices[..];
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file of a write: free for the next batch, or busy writing one on the blocking pool.
enum Writer<O> {
    Idle(Sink<O>),
    Busy(tokio::task::JoinHandle<io::Result<Sink<O>>>),
}

impl<O> Writer<O> {
    async fn ready(self) -> Result<Sink<O>, WriteError> {
        match self {
            Writer::Idle(sink) => Ok(sink),
            Writer::Busy(handle) => Ok(handle.await.map_err(io::Error::other)??),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, WriteError> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(io::Error::other)??)
}

impl BlobStore {
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        let quarantine = data_dir.join("quarantine");
        fs::create_dir_all(&tmp)?;
        fs::create_dir_all(&quarantine)?;
        for shard in 0..=255u8 {
            fs::create_dir_all(blobs.join(format!("{shard:02x}")))?;
        }
        let held_dir = Arc::new(super::held_dir::HeldDir::open(&blobs)?);
        Ok(Self {
            inner: Arc::new(Dirs {
                root: data_dir.to_owned(),
                blobs,
                tmp,
                quarantine,
                held_dir,
                body_deadline: None,
                quota: None,
                used: AtomicU64::new(0),
            }),
        })
    }

    fn with(self, change: impl FnOnce(&mut Dirs)) -> Self {
        let mut dirs = Dirs {
            root: self.inner.root.clone(),
            blobs: self.inner.blobs.clone(),
            tmp: self.inner.tmp.clone(),
            quarantine: self.inner.quarantine.clone(),
            held_dir: self.inner.held_dir.clone(),
            body_deadline: self.inner.body_deadline,
            quota: self.inner.quota,
            used: AtomicU64::new(self.inner.used.load(Ordering::Relaxed)),
        };
        change(&mut dirs);
        Self {
            inner: Arc::new(dirs),
        }
    }

    /// Fails a write whose body sends nothing for `deadline` (a stalled or trickling client).
    pub fn with_body_deadline(self, deadline: std::time::Duration) -> Self {
        self.with(|d| d.body_deadline = Some(deadline))
    }

    pub fn body_deadline(&self) -> Option<std::time::Duration> {
        self.inner.body_deadline
    }

    /// Holds the volume to `quota` bytes of blobs (counted from what is on it now).
    pub fn with_quota(self, quota: u64) -> io::Result<Self> {
        let used = bytes_under(&self.inner.blobs)?;
        Ok(self.with(|d| {
            d.quota = Some(quota);
            d.used = AtomicU64::new(used);
        }))
    }

    /// What the volume can take now.
    pub fn room(&self) -> Room {
        let fs = filesystem_room(&self.inner.root);
        match self.inner.quota {
            None => fs,
            Some(quota) => {
                let left = quota.saturating_sub(self.inner.used.load(Ordering::Relaxed));
                Room {
                    capacity: quota.min(fs.capacity),
                    free: left.min(fs.free),
                }
            }
        }
    }

    fn count_in(&self, bytes: u64) {
        self.inner.used.fetch_add(bytes, Ordering::Relaxed);
    }

    fn count_out(&self, bytes: u64) {
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
    }

    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.inner.blobs.join(id.shard()).join(id.as_str())
    }

    pub(super) fn held_dir(&self) -> &Arc<super::held_dir::HeldDir> {
        &self.inner.held_dir
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
    ///
    /// No thread waits for the body: bytes are gathered here and handed to the blocking pool a
    /// batch at a time (one batch in flight while the next arrives), so clients that send slowly
    /// cost memory for one batch each, never a thread each.
    pub async fn write_as<S, E, O>(&self, id: BlobId, body: S, observer: O) -> Result<Written<O>, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        O: Observer,
    {
        // Unique per write: two copies of one blob may arrive at once (a retry racing the first).
        let tmp_path = self
            .inner
            .tmp
            .join(format!("{id}.{:016x}", rand::random::<u64>()));
        let result = self.fill(&tmp_path, &id, body, observer).await;
        if result.is_err() {
            let path = tmp_path.clone();
            let _ = tokio::task::spawn_blocking(move || fs::remove_file(path)).await;
        }
        let sink = result?;
        self.count_in(sink.size);
        Ok(Written {
            id,
            size: sink.size,
            crc: sink.crc.finalize(),
            observer: sink.observer,
        })
    }

    async fn fill<S, E, O>(
        &self,
        tmp_path: &Path,
        id: &BlobId,
        body: S,
        observer: O,
    ) -> Result<Sink<O>, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        O: Observer,
    {
        let path = tmp_path.to_owned();
        let file = blocking(move || File::create(path)).await?;
        let mut writer = Writer::Idle(Sink {
            file,
            observer,
            crc: Box::new(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme)),
            size: 0,
            flushed: 0,
        });
        let mut batch = Vec::new();
        let mut batched = 0usize;
        let mut body = std::pin::pin!(body);
        loop {
            let next = match self.inner.body_deadline {
                Some(deadline) => match tokio::time::timeout(deadline, body.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let _ = writer.ready().await;
                        return Err(WriteError::Stalled(deadline));
                    }
                },
                None => body.next().await,
            };
            match next {
                Some(Ok(bytes)) => {
                    batched += bytes.len();
                    batch.push(bytes);
                    if batched < WRITE_BATCH {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    // Let a write in flight finish before the caller removes the file.
                    let _ = writer.ready().await;
                    return Err(WriteError::Body(e.into()));
                }
                None => break,
            }
            let sink = writer.ready().await?;
            let full = std::mem::take(&mut batch);
            batched = 0;
            writer = Writer::Busy(tokio::task::spawn_blocking(move || sink.absorb(full)));
        }
        let sink = writer.ready().await?;
        if let Some(quota) = self.inner.quota {
            let after = self.inner.used.load(Ordering::Relaxed) + sink.size + batched as u64;
            if after > quota {
                return Err(WriteError::Io(io::Error::from(io::ErrorKind::QuotaExceeded)));
            }
        }
        let (final_path, dir, tmp_path) = (self.path(id), self.inner.blobs.clone(), tmp_path.to_owned());
        blocking(move || {
            let sink = sink.absorb(batch)?;
            // fdatasync also makes the file's size durable: all a new, never-modified file needs.
            sink.file.sync_data()?;
            // A repair writes a good copy over a damaged one: its bytes leave the count.
            let replaced = fs::metadata(&final_path).map_or(0, |m| m.len());
            fs::rename(&tmp_path, &final_path)?;
            sync_dir(final_path.parent().unwrap_or(&dir))?;
            Ok((sink, replaced))
        })
        .await
        .map(|(sink, replaced)| {
            self.count_out(replaced);
            sink
        })
    }

    /// Removes a blob no committed record points at any more. Missing is fine (idempotent).
    pub async fn delete(&self, id: &BlobId) -> io::Result<()> {
        let path = self.path(id);
        let size = tokio::task::spawn_blocking(move || {
            let size = fs::metadata(&path).map_or(0, |m| m.len());
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                Err(_) => Ok(0),
                Ok(()) => Ok(size),
            }
        })
        .await
        .map_err(io::Error::other)??;
        self.count_out(size);
        Ok(())
    }

    /// Keeps a damaged copy's bytes under `quarantine/` (a hard link: the copy itself stays
    /// until a good one is written over it). Missing is fine.
    pub async fn keep_aside(&self, id: &BlobId) -> io::Result<()> {
        let (path, aside) = (self.path(id), self.inner.quarantine.join(id.as_str()));
        tokio::task::spawn_blocking(move || {
            let _ = fs::remove_file(&aside);
            match fs::hard_link(&path, &aside) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await
        .map_err(io::Error::other)?
    }

    /// The CRC64NVME and size of a blob as stored, read in `piece`-sized reads with `pause`
    /// awaited after each (a scrub's pace). `None` when the volume has no such blob.
    pub async fn stored_crc(
        &self,
        id: &BlobId,
        piece: usize,
        pause: impl Fn(usize) -> std::time::Duration,
    ) -> io::Result<Option<(u64, u64)>> {
        use std::io::Read as _;
        let path = self.path(id);
        let file = match blocking_io(move || File::open(path)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut state = (
            file,
            crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            0u64,
        );
        loop {
            let (n, back) = blocking_io(move || {
                let (mut file, mut crc, mut size) = state;
                let mut buf = vec![0u8; piece];
                let n = file.read(&mut buf)?;
                crc.update(&buf[..n]);
                size += n as u64;
                Ok((n, (file, crc, size)))
            })
            .await?;
            state = back;
            if n == 0 {
                return Ok(Some((state.1.finalize(), state.2)));
            }
            let wait = pause(n);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Whether the volume has a file for the blob.
    pub fn has(&self, id: &BlobId) -> bool {
        self.path(id).is_file()
    }

    pub fn size_of(&self, id: &BlobId) -> io::Result<u64> {
        Ok(fs::metadata(self.path(id))?.len())
    }
}

async fn blocking_io<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
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

    #[tokio::test]
    async fn a_body_that_stops_sending_fails_the_write_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path())
            .unwrap()
            .with_body_deadline(std::time::Duration::from_millis(100));
        let stalls = futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b"some"))])
            .chain(futures::stream::pending());
        let result = store.write(stalls, |_: &[u8]| {}).await;
        assert!(matches!(result, Err(WriteError::Stalled(_))));
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn bodies_larger_than_a_batch_arrive_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let chunk = Bytes::from(vec![3u8; 300_000]);
        let body = futures::stream::iter((0..10).map(|_| Ok::<_, io::Error>(chunk.clone())));
        let w = store.write(body, |_: &[u8]| {}).await.unwrap();
        assert_eq!(w.size, 3_000_000);
        assert_eq!(fs::read(store.path(&w.id)).unwrap(), vec![3u8; 3_000_000]);
    }

    #[test]
    fn room_keeps_the_high_water_mark() {
        let room = Room {
            capacity: 100,
            free: 20,
        };
        assert!(room.fits(15, 0.95), "80 used + 15 = 95: at the mark");
        assert!(!room.fits(16, 0.95), "past the mark");
        assert!(!room.fits(21, 1.0), "more than is free");
        assert!(!Room { capacity: 0, free: 0 }.fits(1, 0.95));
    }

    #[tokio::test]
    async fn a_quota_counts_what_is_written_and_freed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap().with_quota(1000).unwrap();
        let w = store.write(body(&[&[7u8; 300]]), |_: &[u8]| {}).await.unwrap();
        assert_eq!(store.room().free, 700);
        let over = store.write(body(&[&[7u8; 800]]), |_: &[u8]| {}).await;
        assert!(matches!(over, Err(WriteError::Io(e)) if e.kind() == io::ErrorKind::QuotaExceeded));
        assert_eq!(
            fs::read_dir(store.tmp_dir()).unwrap().count(),
            0,
            "nothing half-written"
        );
        store.delete(&w.id).await.unwrap();
        assert_eq!(store.room().free, 1000);
        let reopened = BlobStore::open(dir.path()).unwrap().with_quota(1000).unwrap();
        assert_eq!(reopened.room().free, 1000);
    }

    #[tokio::test]
    async fn a_copys_crc_is_computed_as_written_and_checked_on_reread() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let w = store
            .write(body(&[b"hello ", b"world"]), |_: &[u8]| {})
            .await
            .unwrap();
        let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        digest.update(b"hello world");
        let crc = digest.finalize();
        assert_eq!(w.crc, crc);
        use crate::blob::{Verdict, check_copy};
        assert_eq!(check_copy(&store, &w.id, 11, crc).await.unwrap(), Verdict::Good);
        let mut bytes = fs::read(store.path(&w.id)).unwrap();
        bytes[3] ^= 1;
        fs::write(store.path(&w.id), bytes).unwrap();
        assert_eq!(
            check_copy(&store, &w.id, 11, crc).await.unwrap(),
            Verdict::Damaged
        );
        assert!(
            store.has(&w.id),
            "a damaged copy stays until a good one replaces it"
        );
        assert!(
            dir.path().join("quarantine").join(w.id.as_str()).exists(),
            "and is kept aside"
        );
        store.delete(&w.id).await.unwrap();
        assert_eq!(
            check_copy(&store, &w.id, 11, crc).await.unwrap(),
            Verdict::Missing
        );
    }

    #[test]
    fn blob_ids_parse_only_generated_shapes() {
        let id = BlobId::generate();
        assert_eq!(BlobId::parse(id.as_str()), Some(id));
        assert_eq!(BlobId::parse("../../etc/passwd"), None);
        assert_eq!(BlobId::parse("ABCDEF0123456789abcdef0123456789"), None);
    }
}
