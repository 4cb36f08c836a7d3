//! SigV4 for the admin API, which lives outside s3s's routing: signing (the CLI) and
//! verification (the server) with the same `aws-sigv4` implementation, so the two can only agree.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

pub const SERVICE: &str = "s3";
/// Requests signed further from the server's clock than this are refused (as S3 does).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    pub region: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        let (k, v) = part.split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let access_key = scope.next()?.to_owned();
    let _date = scope.next()?;
    let region = scope.next()?.to_owned();
    Some(Authorization {
        access_key,
        region,
        signed_headers: signed_headers?.split(';').map(str::to_owned).collect(),
        signature: signature?.to_owned(),
    })
}

fn settings() -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Single;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    s
}

fn signature_of(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body_sha256: &str,
    (access_key, secret, region): (&str, &str, &str),
    time: SystemTime,
) -> Option<(Vec<(String, String)>, String)> {
    let identity = Credentials::new(access_key, secret, None, None, "stowage").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings())
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        method,
        Cow::Borrowed(url),
        headers.iter().copied(),
        SignableBody::Precomputed(body_sha256.to_owned()),
    )
    .ok()?;
    let (instructions, signature) = sign(request, &params).ok()?.into_parts();
    let (out, _) = instructions.into_parts();
    Some((
        out.into_iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned()))
            .collect(),
        signature,
    ))
}

pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Headers to add to a request so it is signed: `x-amz-date`, `x-amz-content-sha256`,
/// `authorization`. `headers` must include `host`.
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: (&str, &str, &str),
) -> Vec<(String, String)> {
    let hash = sha256_hex(body);
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("x-amz-content-sha256", &hash));
    let (mut out, _) =
        signature_of(method, url, &all, &hash, credentials, SystemTime::now()).unwrap_or_default();
    out.push(("x-amz-content-sha256".to_owned(), hash.clone()));
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the request is not signed with AWS Signature Version 4")]
    Missing,
    #[error("x-amz-date is missing or malformed")]
    BadDate,
    #[error("the request time is too far from the server time")]
    Skewed,
    #[error("the payload hash does not match the body")]
    PayloadHash,
    #[error("the signature does not match")]
    Signature,
}

fn parse_amz_date(v: &str) -> Option<SystemTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    Some(SystemTime::from(t))
}

/// Checks a request's signature given the secret of the access key it names.
pub fn verify(
    method: &str,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization,
    secret: &str,
    now: OffsetDateTime,
) -> Result<(), VerifyError> {
    let date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(VerifyError::BadDate)?;
    let time = parse_amz_date(date).ok_or(VerifyError::BadDate)?;
    let skew = SystemTime::from(now)
        .duration_since(time)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(VerifyError::Skewed);
    }
    let hash = sha256_hex(body);
    let claimed = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&hash);
    if claimed != hash {
        return Err(VerifyError::PayloadHash);
    }
    let signed: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .filter_map(|name| Some((name.as_str(), headers.get(name.as_str())?.to_str().ok()?)))
        .collect();
    let (_, expected) = signature_of(
        method,
        url,
        &signed,
        claimed,
        (&auth.access_key, secret, &auth.region),
        time,
    )
    .ok_or(VerifyError::Signature)?;
    let same = expected.len() == auth.signature.len()
        && expected
            .bytes()
            .zip(auth.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same { Ok(()) } else { Err(VerifyError::Signature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(body: &[u8], secret: &str) -> HeaderMap {
        let out = sign_request(
            "POST",
            "http://127.0.0.1:9000/_stowage/admin/v1/users",
            &[("host", "127.0.0.1:9000"), ("content-type", "application/json")],
            body,
            ("AKID", secret, "us-east-1"),
        );
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:9000".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        for (k, v) in out {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_does_not() {
        let body = br#"{"name":"a","org":"o"}"#;
        let h = signed(body, "secret");
        let auth = parse_authorization(h["authorization"].to_str().unwrap()).unwrap();
        assert_eq!(auth.access_key, "AKID");
        let url = "http://127.0.0.1:9000/_stowage/admin/v1/users";
        let now = OffsetDateTime::now_utc();
        assert_eq!(verify("POST", url, &h, body, &auth, "secret", now), Ok(()));
        assert_eq!(
            verify("POST", url, &h, body, &auth, "other", now),
            Err(VerifyError::Signature)
        );
        assert_eq!(
            verify("POST", url, &h, b"{}", &auth, "secret", now),
            Err(VerifyError::PayloadHash)
        );
        assert_eq!(
            verify("DELETE", url, &h, body, &auth, "secret", now),
            Err(VerifyError::Signature)
        );
        let later = now + time::Duration::minutes(20);
        assert_eq!(
            verify("POST", url, &h, body, &auth, "secret", later),
            Err(VerifyError::Skewed)
        );
    }
}
