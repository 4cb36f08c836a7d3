//! What every response carries: a request id (`x-amz-request-id`, `x-amz-id-2`), a tracing span,
//! and, for errors, the complete S3 error document (`Code`, `Message`, `Resource`, `RequestId`).
//! s3s renders `Code` and `Message` only; the rest is added here, in one place.

use std::time::Instant;

use axum::body::Body;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::metrics::Metrics;

/// Error documents are tiny; anything larger is passed through untouched.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn generate() -> Self {
        Self(format!("{:016X}", rand::random::<u64>()))
    }
}

pub async fn envelope(State(metrics): State<Arc<Metrics>>, mut req: Request, next: Next) -> Response {
    let id = RequestId::generate();
    let method = req.method().clone();
    let resource = req.uri().path().to_owned();
    let has_body = request_has_body(req.headers());
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id.0, %method, path = %resource);
    let started = Instant::now();
    let mut resp = if is_s3_method(&method) || resource.starts_with(STOWAGE_PATHS) {
        next.run(req).instrument(span.clone()).await
    } else {
        method_not_allowed()
    };

    let status = resp.status();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        headers.insert("x-amz-request-id", v.clone());
        headers.insert("x-amz-id-2", v);
    }
    metrics.observe(method.as_str(), status.as_u16(), started.elapsed().as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_us = started.elapsed().as_micros() as u64,
            "done"
        );
    });
    if status.is_client_error() || status.is_server_error() {
        if has_body {
            // An error may be answered before the body was read (or, with `Expect:
            // 100-continue`, before the client sent it). Whether the client will still send it
            // is unknowable, so the connection cannot be reused safely.
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if method == Method::HEAD {
            return resp;
        }
        return complete_error(resp, &resource, &id).await;
    }
    resp
}

/// The gateway's own routes (health, metrics, admin), which no bucket can shadow.
const STOWAGE_PATHS: &str = "/_stowage/";

/// The methods S3 has operations for. Anything else is `405 MethodNotAllowed`, as AWS answers;
/// s3s would route it nowhere and say `501 NotImplemented`.
fn is_s3_method(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::POST | Method::DELETE | Method::OPTIONS
    )
}

/// The error document for a method S3 does not have; `complete_error` adds the rest.
fn method_not_allowed() -> Response {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>MethodNotAllowed</Code>\
                <Message>The specified method is not allowed against this resource.</Message></Error>";
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

fn request_has_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

async fn complete_error(resp: Response, resource: &str, id: &RequestId) -> Response {
    let is_xml = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("xml"));
    if !is_xml {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    let patched = match std::str::from_utf8(&bytes) {
        Ok(text) => patch_error_xml(text, resource, &id.0),
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(patched.len()));
    Response::from_parts(parts, Body::from(patched))
}

/// Inserts what an S3 error document lacks before its closing tag.
fn patch_error_xml(xml: &str, resource: &str, request_id: &str) -> String {
    let Some(close) = xml.rfind("</Error>") else {
        return xml.to_owned();
    };
    let mut extra = String::new();
    if !xml.contains("<Message>") {
        let code = between(xml, "<Code>", "</Code>").unwrap_or("");
        extra.push_str(&format!(
            "<Message>{}</Message>",
            quick_xml::escape::escape(default_message(code))
        ));
    }
    if !xml.contains("<Resource>") {
        extra.push_str(&format!(
            "<Resource>{}</Resource>",
            quick_xml::escape::escape(resource)
        ));
    }
    if !xml.contains("<RequestId>") {
        extra.push_str(&format!("<RequestId>{request_id}</RequestId>"));
    }
    format!("{}{}{}", &xml[..close], extra, &xml[close..])
}

/// The text between the first `open` and the `close` after it.
pub(super) fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// AWS's wording for the codes s3s may raise without a message.
fn default_message(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "Access Denied",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "RequestTimeTooSkewed" => {
            "The difference between the request time and the current time is too large."
        }
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "InvalidArgument" => "Invalid Argument",
        _ => "The request could not be completed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_resource_request_id_and_missing_message() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>"#;
        let out = patch_error_xml(xml, "/b/a&b", "ABC");
        assert_eq!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/a&amp;b</Resource><RequestId>ABC</RequestId></Error>"#
        );
    }

    #[test]
    fn keeps_an_existing_message() {
        let xml = "<Error><Code>X</Code><Message>why</Message></Error>";
        assert_eq!(
            patch_error_xml(xml, "/", "1"),
            "<Error><Code>X</Code><Message>why</Message><Resource>/</Resource><RequestId>1</RequestId></Error>"
        );
    }
}
