//! The wire forms of listings: continuation tokens and `encoding-type=url` names.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::{S3Error, S3ErrorCode, S3Result};

/// A continuation token is the resume position, opaque to clients.
pub fn encode_token(resume: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(resume)
}

pub fn decode_token(token: &str) -> S3Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token).map_err(|_| bad_token())
}

/// A continuation token this gateway did not issue.
pub fn bad_token() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        "The continuation token provided is incorrect",
    )
}

/// What `encoding-type=url` escapes: everything but RFC 3986 unreserved characters and `/`, so
/// that both `unquote` and `unquote_plus` (botocore) decode it back.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a key for `encoding-type=url`.
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, ESCAPED).to_string()
}

/// [`url_encode`] of an owned key, which is returned as it is when nothing in it needs escaping
/// (most keys): a listing page does not copy its keys.
pub fn url_encode_owned(s: String) -> String {
    match Cow::from(utf8_percent_encode(&s, ESCAPED)) {
        Cow::Borrowed(_) => s,
        Cow::Owned(escaped) => escaped,
    }
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
        assert_eq!(url_encode_owned("a b/c+d%é".into()), "a%20b/c%2Bd%25%C3%A9");
        assert_eq!(url_encode_owned("AZaz09-_.~/x".into()), "AZaz09-_.~/x");
        assert_eq!(
            url_encode("\u{0}*'()!$&,;=:@"),
            "%00%2A%27%28%29%21%24%26%2C%3B%3D%3A%40"
        );
    }
}
