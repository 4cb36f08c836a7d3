//! Requests that s3s would verify but AWS refuses, refused before s3s sees them: Signature
//! Version 2 (the product documentation names Signature Version 4 only, as every AWS region
//! opened since 2014 does), and presigned URLs valid for more than seven days.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};

/// The longest validity AWS allows a presigned URL (SigV4): seven days.
const MAX_PRESIGNED_SECONDS: u64 = 7 * 24 * 3600;

pub async fn signature_gate(req: Request, next: Next) -> Response {
    match refusal(req.headers(), req.uri().query()) {
        Some((code, message)) => error(code, message),
        None => next.run(req).await,
    }
}

/// The value of query parameter `name` (empty for a bare `?name`), undecoded.
pub(super) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// The S3 error code and message for a request signed in a way this store does not accept.
fn refusal(headers: &HeaderMap, query: Option<&str>) -> Option<(&'static str, &'static str)> {
    const V4_ONLY: &str =
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if authorization.is_some_and(|a| a.starts_with("AWS ")) {
        return Some(("InvalidRequest", V4_ONLY));
    }
    if query_param(query, "AWSAccessKeyId").is_some() && query_param(query, "Signature").is_some() {
        return Some(("InvalidRequest", V4_ONLY));
    }
    let expires = query_param(query, "X-Amz-Expires")?;
    match expires.parse::<u64>() {
        Ok(seconds) if seconds <= MAX_PRESIGNED_SECONDS => None,
        _ => Some((
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800",
        )),
    }
}

fn error(code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from(body))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(auth: Option<&str>, query: Option<&str>) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        refusal(&headers, query).map(|(c, _)| c)
    }

    #[test]
    fn only_signature_v4_within_a_week_passes() {
        assert_eq!(code(Some("AWS4-HMAC-SHA256 Credential=a/b"), None), None);
        assert_eq!(code(Some("AWS AKID:c2lnbmF0dXJl"), None), Some("InvalidRequest"));
        assert_eq!(
            code(None, Some("AWSAccessKeyId=AK&Expires=1700000000&Signature=abc")),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(
                None,
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800")
            ),
            None
        );
        assert_eq!(
            code(None, Some("X-Amz-Expires=604801")),
            Some("AuthorizationQueryParametersError")
        );
        assert_eq!(
            code(None, Some("X-Amz-Expires=-1")),
            Some("AuthorizationQueryParametersError")
        );
        assert_eq!(code(None, Some("versionId=x")), None);
    }
}
