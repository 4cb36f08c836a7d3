//! A SigV4 request may be dated by its `Date` header instead of `x-amz-date` (the SigV4 spec
//! takes either; botocore signs with `Date`, in RFC 2822's form, when a caller sets one). s3s reads the date from
//! `x-amz-date` only and refuses such a request, so the `Date` is copied into `x-amz-date` in
//! SigV4's own format first. The signature is unaffected: `x-amz-date` is not among the request's
//! signed headers (the `Date` it came from is), and the string to sign is built from that same
//! instant.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::header::{AUTHORIZATION, DATE};
use time::OffsetDateTime;
use time::macros::format_description;

const AMZ_DATE: &str = "x-amz-date";

pub async fn date_header(mut req: Request, next: Next) -> Response {
    if let Some(value) = amz_date_from_date(req.headers()) {
        req.headers_mut().insert(AMZ_DATE, value);
    }
    next.run(req).await
}

/// `x-amz-date` for a header-signed SigV4 request that has only a `Date`.
fn amz_date_from_date(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let sigv4 = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    if !sigv4 || headers.contains_key(AMZ_DATE) {
        return None;
    }
    let date = parse_date(headers.get(DATE)?.to_str().ok()?)?;
    let formatted = date
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .ok()?;
    HeaderValue::from_str(&formatted).ok()
}

/// An HTTP date (`Tue, 01 Dec 2026 04:05:06 GMT`) or an RFC 2822 one, which botocore sends
/// (`Tue, 01 Dec 2026 04:05:06 -0000`).
fn parse_date(value: &str) -> Option<OffsetDateTime> {
    match httpdate::parse_http_date(value) {
        Ok(at) => Some(OffsetDateTime::from(at)),
        Err(_) => OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn only_a_sigv4_request_dated_by_date_alone_gets_an_amz_date() {
        let auth = (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20261201/us-east-1/s3/aws4_request",
        );
        let date = ("date", "Tue, 01 Dec 2026 04:05:06 GMT");
        assert_eq!(
            amz_date_from_date(&headers(&[auth, date]))
                .as_ref()
                .map(|v| v.to_str().unwrap()),
            Some("20261201T040506Z")
        );
        for rfc2822 in [
            "Tue, 01 Dec 2026 04:05:06 -0000",
            "Tue, 01 Dec 2026 06:05:06 +0200",
        ] {
            assert_eq!(
                amz_date_from_date(&headers(&[auth, ("date", rfc2822)]))
                    .as_ref()
                    .map(|v| v.to_str().unwrap()),
                Some("20261201T040506Z"),
                "{rfc2822}"
            );
        }
        assert_eq!(
            amz_date_from_date(&headers(&[auth, date, ("x-amz-date", "20261201T000000Z")])),
            None
        );
        assert_eq!(
            amz_date_from_date(&headers(&[date])),
            None,
            "unsigned or presigned"
        );
        assert_eq!(
            amz_date_from_date(&headers(&[("authorization", "AWS AK:sig"), date])),
            None
        );
        assert_eq!(amz_date_from_date(&headers(&[auth, ("date", "yesterday")])), None);
    }
}
