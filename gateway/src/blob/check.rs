//! Checking a stored copy against the CRC its blob record names: what a scrub does to every
//! copy at a pace, and what a read that saw wrong bytes asks of each holder at once. A damaged
//! copy stays in place (its undamaged ranges still read while it is the only one) until repair
//! writes a good copy over it; a hard link to it is kept under `quarantine/` for a post-mortem.

use std::io;
use std::time::Duration;

use super::{BlobId, BlobStore};

/// Bytes read at a time.
const PIECE: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Good,
    /// It did not match (a link to it is kept in quarantine).
    Damaged,
    Missing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Damaged => "damaged",
            Verdict::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "good" => Some(Verdict::Good),
            "damaged" => Some(Verdict::Damaged),
            "missing" => Some(Verdict::Missing),
            _ => None,
        }
    }
}

/// Checks this volume's copy of `id` against `size` and `crc`, reading at most `rate` bytes per
/// second (0: as fast as the disk goes).
pub async fn check_copy_paced(
    blobs: &BlobStore,
    id: &BlobId,
    size: u64,
    crc: u64,
    rate: u64,
) -> io::Result<Verdict> {
    let pause = |n: usize| {
        if rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(n as f64 / rate as f64)
        }
    };
    match blobs.stored_crc(id, PIECE, pause).await? {
        None => Ok(Verdict::Missing),
        Some((stored_crc, stored_size)) if stored_crc == crc && stored_size == size => Ok(Verdict::Good),
        Some((stored_crc, stored_size)) => {
            tracing::error!(blob = %id, size, stored_size, crc, stored_crc, "damaged copy");
            blobs.keep_aside(id).await?;
            Ok(Verdict::Damaged)
        }
    }
}

/// [`check_copy_paced`] at the disk's own speed.
pub async fn check_copy(blobs: &BlobStore, id: &BlobId, size: u64, crc: u64) -> io::Result<Verdict> {
    check_copy_paced(blobs, id, size, crc, 0).await
}
