//! SSE-C at the S3 boundary: request headers to keys, the errors seed 002 lists, whether an
//! object may be read with the key given, and the headers echoed back.

use s3s::{S3Error, S3ErrorCode, S3Result};

use crate::sse::{ALGORITHM, CustomerKey, KeyFingerprint, SseError};

pub fn sse_error(e: SseError) -> S3Error {
    match e {
        SseError::KeyMd5 => S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ),
        SseError::WrongKey => S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied"),
        SseError::Damaged => crate::errors::internal("sse", e),
        SseError::Algorithm | SseError::KeyLength | SseError::Incomplete => {
            S3Error::with_message(S3ErrorCode::InvalidArgument, e.to_string())
        }
    }
}

/// A customer key from the three headers (or their copy-source twins), refused unless the
/// request came over TLS or the gateway is told its clients reach it through TLS (`secure`).
pub fn customer_key(
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
    secure: bool,
) -> S3Result<Option<CustomerKey>> {
    let parsed = CustomerKey::from_headers(algorithm, key, key_md5).map_err(sse_error)?;
    if parsed.is_some() && !secure {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    Ok(parsed)
}

/// Whether an object stored with `stored` may be read with `given`.
pub fn unlock(stored: Option<&KeyFingerprint>, given: Option<&CustomerKey>) -> S3Result<()> {
    match (stored, given) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
        )),
        (None, Some(_)) => Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        )),
        (Some(f), Some(k)) if k.matches(f) => Ok(()),
        (Some(_), Some(_)) => Err(sse_error(SseError::WrongKey)),
    }
}

/// `(algorithm, key MD5)` to echo in a response.
pub fn echo(stored: Option<&KeyFingerprint>) -> (Option<String>, Option<String>) {
    match stored {
        Some(f) => (Some(ALGORITHM.to_owned()), Some(f.key_md5.clone())),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use md5::{Digest as _, Md5};

    fn headers(raw: [u8; 32]) -> (String, String) {
        (B64.encode(raw), B64.encode(Md5::digest(raw)))
    }

    #[test]
    fn errors_follow_the_seed() {
        let (k, m) = headers([1; 32]);
        let code = |r: S3Result<Option<CustomerKey>>| r.unwrap_err().code().as_str().to_owned();
        assert_eq!(
            code(customer_key(
                Some("AES256"),
                Some(&B64.encode([1u8; 8])),
                Some(&m),
                true
            )),
            "InvalidArgument"
        );
        assert_eq!(
            code(customer_key(Some("AES256"), Some(&k), Some("wrong"), true)),
            "InvalidRequest"
        );
        assert_eq!(
            code(customer_key(Some("AES256"), Some(&k), Some(&m), false)),
            "InvalidRequest",
            "over HTTP"
        );
        let key = customer_key(Some("AES256"), Some(&k), Some(&m), true)
            .unwrap()
            .unwrap();
        let stored = key.fingerprint();
        assert!(unlock(Some(&stored), Some(&key)).is_ok());
        assert_eq!(
            unlock(Some(&stored), None).unwrap_err().code().as_str(),
            "InvalidRequest"
        );
        let (k2, m2) = headers([2; 32]);
        let other = customer_key(Some("AES256"), Some(&k2), Some(&m2), true)
            .unwrap()
            .unwrap();
        let denied = unlock(Some(&stored), Some(&other)).unwrap_err();
        assert_eq!(
            (denied.code().as_str(), denied.status_code().map(|s| s.as_u16())),
            ("AccessDenied", Some(403))
        );
    }
}
