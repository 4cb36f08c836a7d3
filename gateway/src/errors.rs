//! The S3 errors the gateway returns, built in one place.
//!
//! `s3s::S3Error` is the one error type at the S3 boundary (its codes carry their HTTP status).
//! This module adds the codes s3s does not know, and the single conversion from the metadata
//! and blob layers' errors.

use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};

use crate::blob::WriteError;
use crate::meta::MetaError;

pub fn custom(code: &'static str, status: StatusCode, message: impl Into<String>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message.into());
    e.set_status_code(status);
    e
}

pub fn x_amz_content_sha256_mismatch() -> S3Error {
    custom(
        "XAmzContentSHA256Mismatch",
        StatusCode::BAD_REQUEST,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

pub fn invalid_part_number() -> S3Error {
    custom(
        "InvalidPartNumber",
        StatusCode::RANGE_NOT_SATISFIABLE,
        "The requested partnumber is not satisfiable",
    )
}

pub fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchBucket,
        format!("The specified bucket does not exist: {bucket}"),
    )
}

pub fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

pub fn no_such_version() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchVersion,
        "The specified version does not exist.",
    )
}

pub fn conditional_request_conflict() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::ConditionalRequestConflict,
        "A conflicting operation occurred. If using PutObject you can retry the request.",
    )
}

pub fn internal(context: &str, e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, context, "internal error");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

/// A key-service refusal as S3 reports it: KMS's own exception names, with 400 (as S3 answers
/// for an unknown or disabled key).
pub fn from_kms(e: crate::kms::KmsError) -> S3Error {
    use crate::kms::KmsError;
    match e {
        KmsError::NotFound(_) => custom("KMS.NotFoundException", StatusCode::BAD_REQUEST, e.to_string()),
        KmsError::Disabled(_) => custom("KMS.DisabledException", StatusCode::BAD_REQUEST, e.to_string()),
        KmsError::InvalidName(_) | KmsError::AliasInUse(_) | KmsError::NotAllowed(_) => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, e.to_string())
        }
        KmsError::Damaged => internal("kms", e),
        KmsError::Meta(m) => from_meta(m),
    }
}

pub fn from_meta(e: MetaError) -> S3Error {
    match e {
        MetaError::Conflict => conditional_request_conflict(),
        MetaError::Unavailable(msg) => {
            tracing::error!(error = %msg, "metadata store unavailable");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "Please reduce your request rate.",
            )
        }
        MetaError::Backend(msg) => internal("metadata", msg),
    }
}
/// No volume of the store can take an object now. 503 `ServiceUnavailable`, AWS's own answer
/// for a request the service cannot take at the moment: every SDK retries it with backoff, and
/// room comes back as deletes are freed, lifecycle expires objects and gateways are added.
/// (MinIO answers 507 `XMinioStorageFull`, which no AWS SDK retries or knows.)
pub fn no_room() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::ServiceUnavailable,
        "The store has no room for this object: every gateway's volume is at its high-water mark. Please retry later.",
    )
}

/// Maps a failed body upload. s3s's body-verification errors (payload hash, chunk signatures)
/// are private types, so they are recognised by their messages, here and only here.
pub fn from_write(e: WriteError) -> S3Error {
    match e {
        WriteError::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            no_room()
        }
        WriteError::Io(e) => internal("blob write", e),
        WriteError::Body(e) => from_body_error(&*e),
        WriteError::Stalled(_) => S3Error::with_message(
            S3ErrorCode::RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
        ),
    }
}

pub fn from_body_error(e: &(dyn std::error::Error + 'static)) -> S3Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if text.contains("Sha256Mismatch") {
            return x_amz_content_sha256_mismatch();
        }
        if text.contains("SignatureMismatch") {
            return S3Error::with_message(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided.",
            );
        }
        if text.contains("LengthMismatch") || text.contains("Incomplete") {
            return S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            );
        }
        if text.contains("FormatError") || text.contains("TooLarge") || text.contains("TooManyTrailerHeaders")
        {
            return S3Error::with_message(S3ErrorCode::InvalidRequest, "Malformed aws-chunked request body.");
        }
        cur = err.source();
    }
    tracing::info!(error = %e, "request body failed");
    S3Error::with_message(
        S3ErrorCode::IncompleteBody,
        "The request body was not received completely.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("UploadStreamError: Sha256Mismatch")]
    struct FakeUpload;

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapper(#[source] FakeUpload);

    #[test]
    fn payload_hash_mismatch_is_found_through_source_chain() {
        let e = from_body_error(&Wrapper(FakeUpload));
        assert_eq!(e.code().as_str(), "XAmzContentSHA256Mismatch");
        assert_eq!(e.status_code(), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn meta_conflict_becomes_409() {
        let e = from_meta(MetaError::Conflict);
        assert_eq!(e.status_code(), Some(StatusCode::CONFLICT));
    }
}
