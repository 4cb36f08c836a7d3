//! A volume's 256 shard directories, held open: a blob is read by opening its name relative to
//! its shard's directory, one path component for the kernel to look up instead of every
//! component of the volume's path. A GET of an object of 10,000 parts opens 10,000 blobs, and
//! the path walk was a tenth of its time.
//!
//! Blobs are still written, renamed and removed by path: only reads go through these handles,
//! and a shard directory is never replaced while its gateway runs.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::BlobId;

pub(super) struct Shards(Box<[OwnedFd]>);

/// A blob's shard and its file name as the kernel takes it: built where the id is at hand, and
/// moved to the thread that opens it without an allocation.
pub(super) struct BlobName {
    shard: u8,
    name: [u8; 33],
}

impl BlobName {
    pub(super) fn of(id: &BlobId) -> Self {
        let mut name = [0u8; 33];
        // An id is 32 hex digits (`BlobId::parse`); its shard is the last two.
        name[..32].copy_from_slice(id.as_str().as_bytes());
        let shard = u8::from_str_radix(id.shard(), 16).unwrap_or(0);
        Self { shard, name }
    }
}

impl Shards {
    /// Opens the shard directories under `blobs` (`00` to `ff`).
    pub(super) fn open(blobs: &Path) -> io::Result<Self> {
        let dirs = (0..=255u8)
            .map(|shard| {
                let dir = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY)
                    .open(blobs.join(format!("{shard:02x}")))?;
                Ok(OwnedFd::from(dir))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self(dirs.into_boxed_slice()))
    }

    /// Opens a blob for reading.
    pub(super) fn open_blob(&self, blob: &BlobName) -> io::Result<File> {
        let name = CStr::from_bytes_with_nul(&blob.name).map_err(io::Error::other)?;
        let dir = &self.0[usize::from(blob.shard)];
        // SAFETY: `name` is NUL-terminated and outlives the call; the directory descriptor is
        // open for as long as `self` is.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_opened_in_its_shard_and_a_missing_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        for shard in 0..=255u8 {
            std::fs::create_dir_all(dir.path().join(format!("{shard:02x}"))).unwrap();
        }
        let id = BlobId::parse("0123456789abcdef0123456789abcd7e").unwrap();
        std::fs::write(dir.path().join("7e").join(id.as_str()), b"bytes").unwrap();
        let shards = Shards::open(dir.path()).unwrap();
        let mut file = shards.open_blob(&BlobName::of(&id)).unwrap();
        let mut read = String::new();
        std::io::Read::read_to_string(&mut file, &mut read).unwrap();
        assert_eq!(read, "bytes");
        let missing = BlobId::parse("0123456789abcdef0123456789abcd7f").unwrap();
        let err = shards.open_blob(&BlobName::of(&missing)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
