//! Which checksum a request asks for, and whether the body matched it.
//!
//! A client names at most one algorithm, by a value header (`x-amz-checksum-crc32: ...`), a
//! trailer (`x-amz-trailer: x-amz-checksum-crc32`), or `x-amz-sdk-checksum-algorithm` /
//! `x-amz-checksum-algorithm` alone. With none, the object gets a CRC64NVME, as on AWS.

use http::HeaderMap;
use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::checksum::{BodyDigests, ChecksumAlgorithm};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// Nothing to compare: the checksum is computed and stored.
    Computed,
    Header(String),
    Trailer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumRequest {
    pub algorithm: ChecksumAlgorithm,
    expected: Expected,
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg.into())
}

impl ChecksumRequest {
    /// The checksum a body-carrying request (PutObject, UploadPart) asks for. `declared` is what
    /// s3s parsed from `x-amz-checksum-algorithm`; SDKs send `x-amz-sdk-checksum-algorithm`
    /// instead, which s3s does not read, so it is taken from the raw headers here.
    pub fn of_request(
        headers: &HeaderMap,
        declared: Option<&s3s::dto::ChecksumAlgorithm>,
        values: &[(ChecksumAlgorithm, &str)],
    ) -> S3Result<Self> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self::parse(
            declared
                .map(s3s::dto::ChecksumAlgorithm::as_str)
                .or(header("x-amz-sdk-checksum-algorithm")),
            values,
            header("x-amz-trailer"),
        )
    }

    /// `declared`: the algorithm header; `values`: every `x-amz-checksum-<alg>` header present;
    /// `trailer`: the `x-amz-trailer` header.
    pub fn parse(
        declared: Option<&str>,
        values: &[(ChecksumAlgorithm, &str)],
        trailer: Option<&str>,
    ) -> S3Result<Self> {
        let declared = declared
            .map(|d| {
                ChecksumAlgorithm::parse(d)
                    .ok_or_else(|| invalid("Value for x-amz-checksum-algorithm header is invalid."))
            })
            .transpose()?;
        if values.len() > 1 {
            return Err(invalid(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let trailer = trailer
            .map(|t| {
                let name = t.trim().to_ascii_lowercase();
                ChecksumAlgorithm::ALL
                    .into_iter()
                    .find(|a| a.header_name() == name)
                    .ok_or_else(|| invalid(format!("The trailer {t} is not supported.")))
            })
            .transpose()?;

        let (algorithm, expected) = match (values.first(), trailer) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "Expecting a single x-amz-checksum- header or trailer, not both.",
                ));
            }
            (Some((alg, value)), None) => {
                if !alg.is_well_formed(value) {
                    return Err(invalid(format!(
                        "Value for {} header is invalid.",
                        alg.header_name()
                    )));
                }
                (*alg, Expected::Header((*value).to_owned()))
            }
            (None, Some(alg)) => (alg, Expected::Trailer),
            (None, None) => (
                declared.unwrap_or(ChecksumAlgorithm::Crc64Nvme),
                Expected::Computed,
            ),
        };
        if declared.is_some_and(|d| d != algorithm) {
            return Err(invalid(format!(
                "Value for x-amz-sdk-checksum-algorithm header is invalid: the request carries a {} checksum.",
                algorithm.as_str()
            )));
        }
        Ok(Self { algorithm, expected })
    }

    /// The algorithm whose value the client sent (in a header or a trailer), if any.
    pub fn verified_algorithm(&self) -> Option<ChecksumAlgorithm> {
        (self.expected != Expected::Computed).then_some(self.algorithm)
    }

    /// Compares what the body hashed to with what the client sent (in a header, or in the
    /// trailers that arrived after the body).
    pub fn verify(&self, digests: &BodyDigests, trailers: Option<&HeaderMap>) -> S3Result<()> {
        let sent = match &self.expected {
            Expected::Computed => return Ok(()),
            Expected::Header(v) => v.clone(),
            Expected::Trailer => {
                let name = self.algorithm.header_name();
                let value = trailers.and_then(|t| t.get(name)).and_then(|v| v.to_str().ok());
                let value = value.ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::IncompleteBody,
                        format!("The request declared the trailer {name} but did not send it."),
                    )
                })?;
                if !self.algorithm.is_well_formed(value) {
                    return Err(invalid(format!("Value for {name} trailing header is invalid.")));
                }
                value.to_owned()
            }
        };
        if digests.value_of(self.algorithm) == Some(sent.as_str()) {
            Ok(())
        } else {
            Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    self.algorithm.as_str()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChecksumAlgorithm::*;

    #[test]
    fn defaults_to_crc64nvme() {
        let r = ChecksumRequest::parse(None, &[], None).unwrap();
        assert_eq!(r.algorithm, Crc64Nvme);
    }

    #[test]
    fn declared_algorithm_alone_is_computed() {
        let r = ChecksumRequest::parse(Some("sha256"), &[], None).unwrap();
        assert_eq!(r.algorithm, Sha256);
    }

    #[test]
    fn trailer_names_the_algorithm() {
        let r = ChecksumRequest::parse(Some("CRC32"), &[], Some("x-amz-checksum-crc32")).unwrap();
        assert_eq!(r.algorithm, Crc32);
        assert_eq!(r.expected, Expected::Trailer);
    }

    #[test]
    fn rejects_unknown_conflicting_and_multiple() {
        assert!(ChecksumRequest::parse(Some("MD5"), &[], None).is_err());
        assert!(ChecksumRequest::parse(Some("CRC32C"), &[(Crc32, "DUoRhQ==")], None).is_err());
        assert!(ChecksumRequest::parse(None, &[(Crc32, "DUoRhQ=="), (Crc32c, "yZRlqg==")], None).is_err());
        assert!(ChecksumRequest::parse(None, &[(Crc32, "short")], None).is_err());
        assert!(ChecksumRequest::parse(None, &[], Some("x-amz-checksum-md5")).is_err());
    }

    #[test]
    fn header_value_must_match_body() {
        let r = ChecksumRequest::parse(None, &[(Crc32, "DUoRhQ==")], None).unwrap();
        let mut d = crate::checksum::BodyDigest::new(Crc32);
        d.update(b"hello world");
        let digests = d.finish();
        assert!(r.verify(&digests, None).is_ok());
        let mut d = crate::checksum::BodyDigest::new(Crc32);
        d.update(b"hello world!");
        let e = r.verify(&d.finish(), None).unwrap_err();
        assert_eq!(*e.code(), S3ErrorCode::BadDigest);
    }
}
