//! A volume's blob directory, held open: a blob is read by opening `<shard>/<id>` relative to
//! it, two path components for the kernel to look up instead of every component of the volume's
//! path. A GET of an object of 10,000 parts opens 10,000 blobs, and the path walk was a tenth
//! of its time. One descriptor per volume, not one per shard: a process of several gateways
//! stays far from a 1,024-descriptor limit.
//!
//! Blobs are still written, renamed and removed by path: only reads go through this handle, and
//! the blob directory is never replaced while its gateway runs.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::BlobId;

pub(super) struct HeldDir(OwnedFd);

/// A blob's path below the blob directory as the kernel takes it (`<shard>/<id>`, NUL-ended):
/// built where the id is at hand, and moved to the thread that opens it without an allocation.
pub(super) struct BlobName([u8; 36]);

impl BlobName {
    pub(super) fn of(id: &BlobId) -> Self {
        // An id is 32 hex digits (`BlobId::parse`); its shard is the last two.
        let mut name = [0u8; 36];
        name[..2].copy_from_slice(id.shard().as_bytes());
        name[2] = b'/';
        name[3..35].copy_from_slice(id.as_str().as_bytes());
        Self(name)
    }
}

impl HeldDir {
    /// Opens the blob directory `blobs` (its shards `00` to `ff` below it).
    pub(super) fn open(blobs: &Path) -> io::Result<Self> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(blobs)?;
        Ok(Self(OwnedFd::from(dir)))
    }

    /// Opens a blob for reading.
    pub(super) fn open_blob(&self, blob: &BlobName) -> io::Result<File> {
        let name = CStr::from_bytes_with_nul(&blob.0).map_err(io::Error::other)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; the directory descriptor is
        // open for as long as `self` is.
        let fd = unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
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
    fn a_blob_is_opened_below_the_held_directory_and_a_missing_one_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        for shard in 0..=255u8 {
            std::fs::create_dir_all(dir.path().join(format!("{shard:02x}"))).unwrap();
        }
        let id = BlobId::parse("0123456789abcdef0123456789abcd7e").unwrap();
        std::fs::write(dir.path().join("7e").join(id.as_str()), b"bytes").unwrap();
        let dir_handle = HeldDir::open(dir.path()).unwrap();
        let mut file = dir_handle.open_blob(&BlobName::of(&id)).unwrap();
        let mut read = String::new();
        std::io::Read::read_to_string(&mut file, &mut read).unwrap();
        assert_eq!(read, "bytes");
        let missing = BlobId::parse("0123456789abcdef0123456789abcd7f").unwrap();
        let err = dir_handle.open_blob(&BlobName::of(&missing)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
