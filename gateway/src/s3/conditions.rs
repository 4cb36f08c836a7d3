//! Request preconditions, from s3s DTO fields or (where s3s 0.14 has no field: CopyObject's
//! destination, RenameObject) from raw headers, into the operation layer's types.

use http::HeaderMap;
use s3s::dto::{ETag, ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result};
use time::OffsetDateTime;

use crate::ops::precondition::{DeleteConditions, EtagMatch, MissingTarget, ReadConditions, WriteConditions};

pub fn etag_match(c: &ETagCondition) -> EtagMatch {
    match c {
        ETagCondition::Any => EtagMatch::Any,
        ETagCondition::ETag(e) => EtagMatch::Tag(e.value().to_owned()),
    }
}

fn time(t: &Timestamp) -> OffsetDateTime {
    OffsetDateTime::from(t.clone())
}

pub fn read_conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> ReadConditions {
    ReadConditions {
        if_match: if_match.map(etag_match),
        if_none_match: if_none_match.map(etag_match),
        if_modified_since: if_modified_since.map(time),
        if_unmodified_since: if_unmodified_since.map(time),
    }
}

/// PutObject, CopyObject and CompleteMultipartUpload: `If-None-Match` accepts only `*` (seed 000).
pub fn write_conditions(
    if_match: Option<EtagMatch>,
    if_none_match: Option<EtagMatch>,
) -> S3Result<WriteConditions> {
    if matches!(if_none_match, Some(EtagMatch::Tag(_))) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "If-None-Match only accepts the value '*' on writes.",
        ));
    }
    Ok(WriteConditions {
        if_match,
        if_none_match,
        ..WriteConditions::none(MissingTarget::NoSuchKey)
    })
}

/// DeleteObject's headers, or one DeleteObjects entry's `ETag`, `LastModifiedTime` and `Size`.
pub fn delete_conditions(
    if_match: Option<EtagMatch>,
    last_modified: Option<&Timestamp>,
    size: Option<i64>,
) -> S3Result<DeleteConditions> {
    let size = size
        .map(|s| {
            u64::try_from(s).map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "The size condition must not be negative.",
                )
            })
        })
        .transpose()?;
    Ok(DeleteConditions {
        if_match,
        last_modified: last_modified.map(time),
        size,
    })
}

/// The `ETag` element of a DeleteObjects entry: quoted or not, and `*` for "any object".
pub fn listed_etag(e: &ETag) -> EtagMatch {
    match e.value() {
        "*" => EtagMatch::Any,
        v => EtagMatch::Tag(v.to_owned()),
    }
}

pub fn header_etag(headers: &HeaderMap, name: &str) -> S3Result<Option<EtagMatch>> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let c = ETagCondition::parse_http_header(v.as_bytes()).map_err(|_| {
        S3Error::with_message(S3ErrorCode::InvalidArgument, format!("Invalid ETag in {name}."))
    })?;
    Ok(Some(etag_match(&c)))
}

pub fn header_date(headers: &HeaderMap, name: &str) -> S3Result<Option<OffsetDateTime>> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let parsed = v
        .to_str()
        .ok()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok());
    match parsed {
        Some(t) => Ok(Some(time(&t))),
        None => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("The {name} header is not a valid HTTP date."),
        )),
    }
}
