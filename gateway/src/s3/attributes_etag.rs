//! GetObjectAttributes answers its `ETag` without the quotes every other response carries, as
//! AWS does: clients compare it with PutObject's ETag stripped of its quotes. s3s 0.14 quotes
//! every ETag it renders, so the one element is unquoted here, after s3s has rendered the
//! (small, fully buffered) document.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode, Uri};
use http_body_util::BodyExt;

use super::signature_gate::query_param;

const OPEN: &str = "<ETag>\"";
const CLOSE: &str = "\"</ETag>";

pub async fn unquoted_attributes_etag(req: Request, next: Next) -> Response {
    let asks = req.method() == Method::GET && asks_attributes(req.uri());
    let resp = next.run(req).await;
    if !asks || resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(collected) = body.collect().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let document = match String::from_utf8(collected.to_bytes().to_vec()) {
        Ok(xml) => unquote_etag(xml).into_bytes(),
        Err(e) => e.into_bytes(),
    };
    parts.headers.insert(CONTENT_LENGTH, document.len().into());
    Response::from_parts(parts, Body::from(document))
}

/// Whether the query names the `attributes` subresource (`?attributes`, `?attributes=`).
fn asks_attributes(uri: &Uri) -> bool {
    query_param(uri.query(), "attributes").is_some()
}

/// The document with the quotes of its first `ETag` element removed; unchanged without one.
fn unquote_etag(xml: String) -> String {
    let Some(open) = xml.find(OPEN) else {
        return xml;
    };
    let value = open + OPEN.len();
    let Some(close) = xml[value..].find(CLOSE).map(|at| value + at) else {
        return xml;
    };
    format!(
        "{}<ETag>{}</ETag>{}",
        &xml[..open],
        &xml[value..close],
        &xml[close + CLOSE.len()..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_element_loses_its_quotes_and_nothing_else_changes() {
        let xml = "<GetObjectAttributesResponse><ETag>\"abc-6\"</ETag><ObjectSize>3</ObjectSize>\
                    </GetObjectAttributesResponse>";
        assert_eq!(
            unquote_etag(xml.to_owned()),
            "<GetObjectAttributesResponse><ETag>abc-6</ETag><ObjectSize>3</ObjectSize>\
              </GetObjectAttributesResponse>"
        );
        let without = "<GetObjectAttributesResponse><ObjectSize>3</ObjectSize></GetObjectAttributesResponse>";
        assert_eq!(unquote_etag(without.to_owned()), without);
    }

    #[test]
    fn only_the_attributes_subresource_is_recognised() {
        let asks = |q: &str| asks_attributes(&format!("/b/k{q}").parse::<Uri>().expect("uri"));
        assert!(asks("?attributes"));
        assert!(asks("?attributes="));
        assert!(asks("?versionId=1&attributes"));
        assert!(!asks(""));
        assert!(!asks("?prefix=attributes"));
        assert!(!asks("?attributes-x"));
    }
}
