//! Object heads rendered as response fields, and request ranges resolved against them.

use std::ops::Range as ByteRange;

use s3s::dto::{ChecksumMode, ChecksumType, ETag, Metadata, Range, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::checksum::{Checksum, ChecksumAlgorithm};
use crate::errors::invalid_part_number;
use crate::model::ObjectHead;

pub fn etag(head: &ObjectHead) -> ETag {
    ETag::Strong(head.etag.clone())
}

pub fn timestamp(head: &ObjectHead) -> Timestamp {
    Timestamp::from(head.modified.to_time())
}

pub fn metadata(head: &ObjectHead) -> Option<Metadata> {
    (!head.user_metadata.is_empty()).then(|| head.user_metadata.clone().into_iter().collect())
}

/// The five checksum fields every object-returning output has, filled from a stored checksum.
#[derive(Default)]
pub struct ChecksumFields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<ChecksumType>,
}

impl ChecksumFields {
    pub fn of(checksum: &Checksum) -> Self {
        let mut f = Self {
            kind: Some(ChecksumType::from(checksum.kind.as_str().to_owned())),
            ..Self::default()
        };
        let v = Some(checksum.value.clone());
        match checksum.algorithm {
            ChecksumAlgorithm::Crc32 => f.crc32 = v,
            ChecksumAlgorithm::Crc32c => f.crc32c = v,
            ChecksumAlgorithm::Crc64Nvme => f.crc64nvme = v,
            ChecksumAlgorithm::Sha1 => f.sha1 = v,
            ChecksumAlgorithm::Sha256 => f.sha256 = v,
        }
        f
    }

    /// Returned only when asked for, and never for a part of the object (its value describes
    /// the whole).
    pub fn on_read(head: &ObjectHead, mode: Option<&ChecksumMode>, whole_object: bool) -> Self {
        match mode {
            Some(m) if m.as_str() == ChecksumMode::ENABLED && whole_object => Self::of(&head.checksum),
            _ => Self::default(),
        }
    }
}

/// Fills the checksum fields of any output struct that has the standard five.
macro_rules! set_checksums {
    ($out:expr, $fields:expr) => {{
        let f = $fields;
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
        $out.checksum_type = f.kind;
    }};
}
pub(crate) use set_checksums;

/// What a GET/HEAD returns of the object: the byte range and, when partial, its Content-Range.
pub struct Selection {
    pub range: ByteRange<u64>,
    pub content_range: Option<String>,
}

impl Selection {
    pub fn is_whole(&self, head: &ObjectHead) -> bool {
        self.content_range.is_none() && self.range == (0..head.size)
    }
}

pub fn select(head: &ObjectHead, range: Option<&Range>, part_number: Option<i32>) -> S3Result<Selection> {
    if let Some(n) = part_number {
        if range.is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            ));
        }
        if head.parts.is_empty() {
            // A single-PUT object is its own part 1.
            return match n {
                1 => Ok(Selection {
                    range: 0..head.size,
                    content_range: None,
                }),
                _ => Err(invalid_part_number()),
            };
        }
        let index = usize::try_from(n)
            .ok()
            .filter(|i| (1..=head.parts.len()).contains(i))
            .ok_or_else(invalid_part_number)?;
        let start: u64 = head.parts[..index - 1].iter().map(|p| p.size).sum();
        let end = start + head.parts[index - 1].size;
        let content_range = format!("bytes {}-{}/{}", start, end.saturating_sub(1), head.size);
        return Ok(Selection {
            range: start..end,
            content_range: Some(content_range),
        });
    }
    match range {
        None => Ok(Selection {
            range: 0..head.size,
            content_range: None,
        }),
        Some(r) => {
            let span = r.check(head.size).map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRange,
                    "The requested range is not satisfiable",
                )
            })?;
            let content_range = format!("bytes {}-{}/{}", span.start, span.end - 1, head.size);
            Ok(Selection {
                range: span,
                content_range: Some(content_range),
            })
        }
    }
}
