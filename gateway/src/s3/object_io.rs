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

    /// Returned only when asked for. A part read by its number (`partNumber`) gets the part's
    /// own checksum, under the object's checksum type, as on AWS; a byte range gets none (the
    /// stored value describes the whole).
    pub fn on_read(
        head: &ObjectHead,
        mode: Option<&ChecksumMode>,
        whole_object: bool,
        part_number: Option<i32>,
    ) -> Self {
        if mode.is_none_or(|m| m.as_str() != ChecksumMode::ENABLED) {
            return Self::default();
        }
        let part = part_number
            .and_then(|n| usize::try_from(n).ok()?.checked_sub(1))
            .and_then(|i| head.parts.get(i));
        match part {
            Some(p) if p.checksum.is_empty() => Self::default(),
            Some(p) => Self {
                kind: Some(ChecksumType::from(head.checksum.kind.as_str().to_owned())),
                ..Self::of(&Checksum::full_object(
                    head.checksum.algorithm,
                    p.checksum.clone(),
                ))
            },
            None if whole_object => Self::of(&head.checksum),
            None => Self::default(),
        }
    }
}

/// Fills the five checksum values of a part-level output (parts have no checksum type).
macro_rules! set_part_checksums {
    ($out:expr, $fields:expr) => {{
        let f = $fields;
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
    }};
}
pub(crate) use set_part_checksums;

/// Fills the checksum fields of any output struct that has the standard five and their type.
macro_rules! set_checksums {
    ($out:expr, $fields:expr) => {{
        let mut f = $fields;
        $out.checksum_type = f.kind.take();
        $crate::s3::object_io::set_part_checksums!($out, f);
    }};
}
pub(crate) use set_checksums;

/// Fills the representation fields GET and HEAD share: what the object is and how it is cached.
macro_rules! set_object_fields {
    ($out:expr, $head:expr, $selection:expr, $part_number:expr, $version_id:expr) => {{
        let head = $head;
        let h = head.headers.clone();
        $out.content_length = Some(($selection.range.end - $selection.range.start) as i64);
        $out.content_range = $selection.content_range.clone();
        $out.accept_ranges = Some("bytes".to_owned());
        $out.e_tag = Some($crate::s3::object_io::etag(head));
        $out.last_modified = Some($crate::s3::object_io::timestamp(head));
        $out.metadata = $crate::s3::object_io::metadata(head);
        $out.content_type = h.content_type;
        $out.content_encoding = h.content_encoding;
        $out.content_disposition = h.content_disposition;
        $out.content_language = h.content_language;
        $out.cache_control = h.cache_control;
        $out.expires = h.expires.map(|n| s3s::dto::Timestamp::from(n.to_time()));
        $out.parts_count = $part_number.map(|_| head.part_count().max(1) as i32);
        $out.version_id = head.version_id.clone().or($version_id);
    }};
}
pub(crate) use set_object_fields;

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
