//! SigV4 header signing with `aws-sigv4`, set up the way S3 wants it: the path is signed exactly
//! as sent (no double percent-encoding, no `.` normalisation) and the payload's SHA-256 travels in
//! `x-amz-content-sha256`.

use std::borrow::Cow;
use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningError, SigningSettings,
    UriPathNormalizationMode, sign as sigv4_sign,
};
use aws_sigv4::sign::v4;

/// S3's service name in the credential scope (the admin API signs the same way).
pub const SERVICE: &str = "s3";

/// An access key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The headers to add (`authorization`, `x-amz-date`, `x-amz-content-sha256`) to a request with
/// these `headers` (which include `host`) and `body`.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    credentials: &Credentials,
    region: &str,
    method: &str,
    authority: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        None,
        None,
        "stowage-operator",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .expect("every signing parameter is set")
        .into();
    let uri = format!("http://{authority}{path_and_query}");
    let signable = SignableRequest::new(
        method,
        Cow::Owned(uri),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _signature) = sigv4_sign(signable, &params)?.into_parts();
    let (signed_headers, _params) = instructions.into_parts();
    Ok(signed_headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        &headers.iter().find(|(k, _)| k == name).expect(name).1
    }

    /// AWS's documented example: GET /test.txt of examplebucket with a Range header.
    #[test]
    fn matches_the_aws_get_object_example() {
        let credentials = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        };
        let headers = vec![
            ("host".to_owned(), "examplebucket.s3.amazonaws.com".to_owned()),
            ("range".to_owned(), "bytes=0-9".to_owned()),
        ];
        let signed = sign(
            &credentials,
            "us-east-1",
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            &headers,
            b"",
            UNIX_EPOCH + Duration::from_secs(1_369_353_600),
        )
        .expect("sign");
        assert_eq!(header(&signed, "x-amz-date"), "20130524T000000Z");
        assert_eq!(
            header(&signed, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            header(&signed, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let credentials = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret".into(),
        };
        assert!(!format!("{credentials:?}").contains("very-secret"));
    }
}
