//! SigV4 header and presigned-URL signing through `aws-sigv4`, configured the way S3 wants it.
//!
//! S3 differs from most AWS services in two settings: the request path is signed exactly as sent
//! (no second percent-encoding, no `.`/`..` normalisation), and header-signed requests carry the
//! payload hash in `x-amz-content-sha256`.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningError,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

/// The service name in S3's credential scope.
pub const SERVICE: &str = "s3";

/// Who signs, where, and when.
#[derive(Clone, Debug)]
pub struct Signer<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub time: SystemTime,
}

/// One request as it will go on the wire. `headers` must include `host`; `path_and_query` is
/// already percent-encoded and is signed as is.
#[derive(Clone, Debug)]
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a [(String, String)],
}

/// Headers to add to a header-signed request, and its signature (the seed of a chunked upload).
#[derive(Clone, Debug)]
pub struct HeaderSignature {
    /// `x-amz-date`, `authorization` and `x-amz-content-sha256`.
    pub headers: Vec<(&'static str, String)>,
    pub signature: String,
}

impl Signer<'_> {
    /// Signs `request` in the `Authorization` header. `body` decides the payload hash: the sha256
    /// of the bytes, `UNSIGNED-PAYLOAD`, or any literal (a streaming marker or a deliberate lie).
    pub fn sign_headers(
        &self,
        request: &Unsigned<'_>,
        body: SignableBody<'_>,
    ) -> Result<HeaderSignature, SigningError> {
        let mut settings = s3_settings();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let (instructions, signature) = self.sign(request, body, settings)?;
        let (headers, _params) = instructions.into_parts();
        let headers = headers
            .into_iter()
            .map(|h| (h.name(), h.value().to_owned()))
            .collect();
        Ok(HeaderSignature { headers, signature })
    }

    /// Signs `request` into query parameters valid for `expires_in` from the signing time, and
    /// returns them (already percent-encoded) to append to the request's query.
    pub fn presign_query(
        &self,
        request: &Unsigned<'_>,
        expires_in: Duration,
    ) -> Result<String, SigningError> {
        let mut settings = s3_settings();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        // A presigned URL cannot know what body it will carry.
        let (instructions, _signature) = self.sign(request, SignableBody::UnsignedPayload, settings)?;
        let (_headers, params) = instructions.into_parts();
        Ok(params
            .iter()
            .map(|(name, value)| format!("{}={}", uri_encode(name), uri_encode(value)))
            .collect::<Vec<_>>()
            .join("&"))
    }

    fn sign(
        &self,
        request: &Unsigned<'_>,
        body: SignableBody<'_>,
        settings: SigningSettings,
    ) -> Result<(aws_sigv4::http_request::SigningInstructions, String), SigningError> {
        let identity = Credentials::new(self.access_key, self.secret_key, None, None, "stowage-e2e").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(SERVICE)
            .time(self.time)
            .settings(settings)
            .build()
            .expect("every signing parameter is set")
            .into();
        let host = request
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map_or("localhost", |(_, value)| value.as_str());
        // aws-sigv4 takes the canonical path and query from this URI; the authority is only a
        // fallback for a missing Host header, which we always set.
        let uri = format!("http://{host}{}", request.path_and_query);
        let signable = SignableRequest::new(
            request.method,
            Cow::Owned(uri),
            request
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            body,
        )?;
        Ok(sign(signable, &params)?.into_parts())
    }
}

fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings
}

/// Percent-encodes everything but SigV4's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::{STREAMING_SIGNED, STREAMING_SIGNED_TRAILER};
    use std::time::UNIX_EPOCH;

    fn example_signer() -> Signer<'static> {
        Signer {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            time: UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn authorization(signature: &HeaderSignature) -> &str {
        &signature
            .headers
            .iter()
            .find(|(name, _)| *name == "authorization")
            .expect("authorization header")
            .1
    }

    #[test]
    fn seed_signature_matches_aws_chunked_upload_example() {
        let headers = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ]);
        let request = Unsigned {
            method: "PUT",
            path_and_query: "/examplebucket/chunkObject.txt",
            headers: &headers,
        };
        let signed = example_signer()
            .sign_headers(&request, SignableBody::Precomputed(STREAMING_SIGNED.to_owned()))
            .expect("sign");
        assert_eq!(
            signed.signature,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        assert_eq!(
            authorization(&signed),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class, \
             Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        assert!(
            signed
                .headers
                .contains(&("x-amz-content-sha256", STREAMING_SIGNED.to_owned()))
        );
    }

    #[test]
    fn seed_signature_matches_aws_trailer_example() {
        let headers = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ]);
        let request = Unsigned {
            method: "PUT",
            path_and_query: "/examplebucket/chunkObject.txt",
            headers: &headers,
        };
        let signed = example_signer()
            .sign_headers(
                &request,
                SignableBody::Precomputed(STREAMING_SIGNED_TRAILER.to_owned()),
            )
            .expect("sign");
        assert_eq!(
            signed.signature,
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
        );
    }

    #[test]
    fn get_object_signature_matches_aws_example() {
        // "Example: GET Object" of AWS's single-chunk header signing page.
        let headers = headers(&[("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")]);
        let request = Unsigned {
            method: "GET",
            path_and_query: "/test.txt",
            headers: &headers,
        };
        let signed = example_signer()
            .sign_headers(&request, SignableBody::Bytes(&[]))
            .expect("sign");
        assert_eq!(
            signed.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn presigned_get_matches_aws_example() {
        // "Example: Presigned URL" of AWS's query-string authentication page: valid for 24 hours.
        let headers = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
        let request = Unsigned {
            method: "GET",
            path_and_query: "/test.txt",
            headers: &headers,
        };
        let query = example_signer()
            .presign_query(&request, Duration::from_secs(86_400))
            .expect("presign");
        assert!(
            query
                .contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request")
        );
        assert!(query.contains("X-Amz-Expires=86400"));
        assert!(query.contains("X-Amz-SignedHeaders=host"));
        assert!(
            query
                .contains("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
            "{query}"
        );
    }

    #[test]
    fn path_is_signed_exactly_as_sent() {
        let headers = headers(&[("host", "h")]);
        let sign = |path| {
            let request = Unsigned {
                method: "GET",
                path_and_query: path,
                headers: &headers,
            };
            example_signer()
                .sign_headers(&request, SignableBody::UnsignedPayload)
                .expect("sign")
                .signature
        };
        // Neither `..` resolution nor double encoding may make different wire paths sign alike.
        assert_ne!(sign("/b/a/../k"), sign("/b/k"));
        assert_ne!(sign("/b/a%2Fk"), sign("/b/a/k"));
    }

    #[test]
    fn uri_encode_keeps_only_unreserved() {
        assert_eq!(uri_encode("a-Z_0.~ /+=é"), "a-Z_0.~%20%2F%2B%3D%C3%A9");
    }
}
