//! HTTP preconditions as S3 applies them (RFC 7232 with S3's precedence rules), as pure
//! functions of the object's current head. Callers evaluate them inside the transaction that
//! writes, so the check and the write are one atomic step.

use s3s::{S3Error, S3ErrorCode, S3Result};
use time::OffsetDateTime;

use crate::errors::no_such_key;
use crate::model::ObjectHead;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EtagMatch {
    Any,
    Tag(String),
}

impl EtagMatch {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tag(t) => t.trim_matches('"') == etag,
        }
    }
}

pub fn precondition_failed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold",
    )
}

/// HTTP dates have one-second resolution: compare what the client could have seen.
fn modified_after(head: &ObjectHead, t: OffsetDateTime) -> bool {
    head.modified.to_time().unix_timestamp() > t.unix_timestamp()
}

/// What a read's conditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    Proceed,
    /// `304 Not Modified` for GET/HEAD; `412` where S3 has no 304 (copy sources).
    NotModified,
    Failed,
}

/// Conditions on the object being read: GET/HEAD, and the source of a copy or rename.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReadConditions {
    pub if_match: Option<EtagMatch>,
    pub if_none_match: Option<EtagMatch>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
}

impl ReadConditions {
    /// S3's precedence: If-Match decides over If-Unmodified-Since, and If-None-Match over
    /// If-Modified-Since; a failed If-Match/If-Unmodified-Since (412) wins over a 304.
    pub fn evaluate(&self, head: &ObjectHead) -> ReadOutcome {
        match &self.if_match {
            Some(m) if !m.matches(&head.etag) => return ReadOutcome::Failed,
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified_after(head, t)) {
                    return ReadOutcome::Failed;
                }
            }
        }
        match &self.if_none_match {
            Some(m) if m.matches(&head.etag) => ReadOutcome::NotModified,
            Some(_) => ReadOutcome::Proceed,
            None => match self.if_modified_since {
                Some(t) if !modified_after(head, t) => ReadOutcome::NotModified,
                _ => ReadOutcome::Proceed,
            },
        }
    }

    /// For sources of copies and renames, every failed condition is a 412.
    pub fn check_source(&self, head: &ObjectHead) -> S3Result<()> {
        match self.evaluate(head) {
            ReadOutcome::Proceed => Ok(()),
            ReadOutcome::NotModified | ReadOutcome::Failed => Err(precondition_failed()),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a conditional write does when `If-Match` names an object that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingTarget {
    /// PutObject, CopyObject, CompleteMultipartUpload: 404 NoSuchKey, as AWS answers.
    NoSuchKey,
    /// RenameObject's destination conditions: the precondition simply does not hold.
    PreconditionFailed,
}

/// Conditions on the object a write replaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteConditions {
    pub if_match: Option<EtagMatch>,
    pub if_none_match: Option<EtagMatch>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
    pub missing: MissingTarget,
}

impl WriteConditions {
    pub fn none(missing: MissingTarget) -> Self {
        Self {
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
            missing,
        }
    }

    pub fn check(&self, current: Option<&ObjectHead>) -> S3Result<()> {
        let Some(head) = current else {
            if self.if_match.is_some() {
                return Err(match self.missing {
                    MissingTarget::NoSuchKey => no_such_key(),
                    MissingTarget::PreconditionFailed => precondition_failed(),
                });
            }
            // Time conditions describe an existing object: with none there, they cannot hold.
            if self.if_modified_since.is_some() || self.if_unmodified_since.is_some() {
                return Err(precondition_failed());
            }
            return Ok(());
        };
        let holds = self.if_match.as_ref().is_none_or(|m| m.matches(&head.etag))
            && self.if_none_match.as_ref().is_none_or(|m| !m.matches(&head.etag))
            && self.if_modified_since.is_none_or(|t| modified_after(head, t))
            && self.if_unmodified_since.is_none_or(|t| !modified_after(head, t));
        if holds { Ok(()) } else { Err(precondition_failed()) }
    }
}

/// Conditions on the object a delete removes (DeleteObject's `If-Match`,
/// `x-amz-if-match-last-modified-time` and `x-amz-if-match-size`; DeleteObjects' `ETag`,
/// `LastModifiedTime` and `Size` per object). All that are given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DeleteConditions {
    pub if_match: Option<EtagMatch>,
    pub last_modified: Option<OffsetDateTime>,
    pub size: Option<u64>,
}

impl DeleteConditions {
    /// `target` is the object the delete would remove (`None` when there is none, or only a
    /// delete marker). AWS answers `If-Match` on a missing object with 404 `NoSuchKey`; a time
    /// or size condition alone on a missing object lets the (no-op) delete succeed.
    pub fn check(&self, target: Option<&ObjectHead>) -> S3Result<()> {
        let Some(head) = target else {
            return if self.if_match.is_some() {
                Err(no_such_key())
            } else {
                Ok(())
            };
        };
        let holds = self.if_match.as_ref().is_none_or(|m| m.matches(&head.etag))
            && self
                .last_modified
                .is_none_or(|t| head.modified.to_time().unix_timestamp() == t.unix_timestamp())
            && self.size.is_none_or(|s| s == head.size);
        if holds { Ok(()) } else { Err(precondition_failed()) }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{Checksum, ChecksumAlgorithm};
    use crate::model::Nanos;
    use time::macros::datetime;

    fn head(etag: &str, modified: OffsetDateTime) -> ObjectHead {
        ObjectHead {
            size: 1,
            etag: etag.into(),
            modified: Nanos::from_time(modified),
            headers: Default::default(),
            user_metadata: Default::default(),
            checksum: Checksum::full_object(ChecksumAlgorithm::Crc64Nvme, String::new()),
            segments: vec![],
            version_id: None,
            parts: Vec::new(),
            delete_marker: false,
            ..ObjectHead::delete_marker(Nanos(0))
        }
    }

    const T: OffsetDateTime = datetime!(2026-01-01 12:00:00.5 UTC);
    const BEFORE: OffsetDateTime = datetime!(2026-01-01 11:00:00 UTC);
    const AFTER: OffsetDateTime = datetime!(2026-01-01 13:00:00 UTC);
    const SAME_SECOND: OffsetDateTime = datetime!(2026-01-01 12:00:00 UTC);

    fn tag(t: &str) -> Option<EtagMatch> {
        Some(EtagMatch::Tag(t.into()))
    }

    #[test]
    fn if_match_decides_over_if_unmodified_since() {
        let c = ReadConditions {
            if_match: tag("\"abc\""),
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("abc", T)), ReadOutcome::Proceed);
        let c = ReadConditions {
            if_match: tag("other"),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("abc", T)), ReadOutcome::Failed);
    }

    #[test]
    fn if_none_match_decides_over_if_modified_since() {
        let c = ReadConditions {
            if_none_match: tag("abc"),
            if_modified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("abc", T)), ReadOutcome::NotModified);
        let c = ReadConditions {
            if_none_match: tag("zzz"),
            if_modified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("abc", T)), ReadOutcome::Proceed);
    }

    #[test]
    fn dates_compare_at_second_resolution() {
        let c = ReadConditions {
            if_modified_since: Some(SAME_SECOND),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("a", T)), ReadOutcome::NotModified);
        let c = ReadConditions {
            if_unmodified_since: Some(SAME_SECOND),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("a", T)), ReadOutcome::Proceed);
        let c = ReadConditions {
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("a", T)), ReadOutcome::Failed);
    }

    #[test]
    fn a_failed_if_match_beats_a_304() {
        let c = ReadConditions {
            if_match: tag("x"),
            if_none_match: tag("abc"),
            ..Default::default()
        };
        assert_eq!(c.evaluate(&head("abc", T)), ReadOutcome::Failed);
    }

    #[test]
    fn copy_sources_turn_304_into_412() {
        let c = ReadConditions {
            if_none_match: tag("abc"),
            ..Default::default()
        };
        assert_eq!(
            *c.check_source(&head("abc", T)).unwrap_err().code(),
            S3ErrorCode::PreconditionFailed
        );
    }

    #[test]
    fn if_none_match_star_refuses_an_existing_object_only() {
        let c = WriteConditions {
            if_none_match: Some(EtagMatch::Any),
            ..WriteConditions::none(MissingTarget::NoSuchKey)
        };
        assert!(c.check(None).is_ok());
        assert_eq!(
            *c.check(Some(&head("a", T))).unwrap_err().code(),
            S3ErrorCode::PreconditionFailed
        );
    }

    #[test]
    fn if_match_on_a_missing_object_depends_on_the_operation() {
        let put = WriteConditions {
            if_match: tag("a"),
            ..WriteConditions::none(MissingTarget::NoSuchKey)
        };
        assert_eq!(*put.check(None).unwrap_err().code(), S3ErrorCode::NoSuchKey);
        let rename = WriteConditions {
            if_match: tag("a"),
            ..WriteConditions::none(MissingTarget::PreconditionFailed)
        };
        assert_eq!(
            *rename.check(None).unwrap_err().code(),
            S3ErrorCode::PreconditionFailed
        );
    }

    #[test]
    fn if_match_compares_etags_with_or_without_quotes() {
        let c = WriteConditions {
            if_match: tag("\"a\""),
            ..WriteConditions::none(MissingTarget::NoSuchKey)
        };
        assert!(c.check(Some(&head("a", T))).is_ok());
        let c = WriteConditions {
            if_match: tag("b"),
            ..WriteConditions::none(MissingTarget::NoSuchKey)
        };
        assert!(c.check(Some(&head("a", T))).is_err());
    }

    #[test]
    fn time_conditions_on_a_missing_destination_fail() {
        let c = WriteConditions {
            if_unmodified_since: Some(AFTER),
            ..WriteConditions::none(MissingTarget::PreconditionFailed)
        };
        assert!(c.check(None).is_err());
        assert!(c.check(Some(&head("a", T))).is_ok());
    }

    #[test]
    fn delete_conditions_must_all_hold() {
        let c = DeleteConditions {
            if_match: tag("a"),
            last_modified: Some(SAME_SECOND),
            size: Some(1),
        };
        assert!(c.check(Some(&head("a", T))).is_ok());
        for wrong in [
            DeleteConditions {
                if_match: tag("b"),
                ..c.clone()
            },
            DeleteConditions {
                last_modified: Some(BEFORE),
                ..c.clone()
            },
            DeleteConditions {
                size: Some(2),
                ..c.clone()
            },
        ] {
            assert_eq!(
                *wrong.check(Some(&head("a", T))).unwrap_err().code(),
                S3ErrorCode::PreconditionFailed
            );
        }
    }

    #[test]
    fn a_conditional_delete_of_nothing_is_no_such_key_only_with_if_match() {
        let star = DeleteConditions {
            if_match: Some(EtagMatch::Any),
            ..Default::default()
        };
        assert_eq!(*star.check(None).unwrap_err().code(), S3ErrorCode::NoSuchKey);
        let size = DeleteConditions {
            size: Some(1),
            ..Default::default()
        };
        assert!(size.check(None).is_ok());
    }
}
