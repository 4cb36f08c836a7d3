//! The wire forms of listings: continuation tokens and `encoding-type=url` names.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::{S3Error, S3ErrorCode, S3Result};

/// A continuation token is the resume position, opaque to clients.
pub fn encode_token(resume: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(resume)
}

pub fn decode_token(token: &str) -> S3Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The continuation token provided is incorrect",
        )
    })
}

/// Percent-encodes a key for `encoding-type=url`: everything but RFC 3986 unreserved characters
/// and `/`, so that both `unquote` and `unquote_plus` (botocore) decode it back.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_arbitrary_bytes() {
        let raw = vec![0u8, 0xFF, b'a', b'/'];
        assert_eq!(decode_token(&encode_token(&raw)).unwrap(), raw);
        assert!(decode_token("not a token!").is_err());
    }

    #[test]
    fn url_encoding_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
    }
}
