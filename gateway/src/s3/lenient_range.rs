//! A syntactically invalid `Range` on GET or HEAD is ignored: the whole object, 200, as RFC 9110
//! (§14.2: "a server MAY ignore the Range header field") and AWS do. Several ranges, units other
//! than `bytes`, `bytes=5-2` and garbage are all invalid in that sense; a valid range that starts
//! past the end is a different case (416 `InvalidRange`, answered by the object handlers).
//!
//! s3s 0.14 refuses such a header with `400 InvalidArgument` when it parses the operation's
//! input, after it has verified the signature. The header is usually signed, so it cannot be
//! dropped before s3s sees it: the request is replayed instead (see `auth::replay`). The first
//! pass verifies and authorizes it as sent and goes no further; only if that succeeds does the
//! second pass, without the `Range` and its signature, run as the caller the first pass proved.
//! A request that fails verification or authorization gets the first pass's answer unchanged.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, Method, Uri, header};

use crate::auth::replay::ReplayProbe;

pub async fn lenient_range(req: Request, next: Next) -> Response {
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || !invalid_range(req.headers()) {
        return next.run(req).await;
    }
    let (parts, _body) = req.into_parts();
    let probe = ReplayProbe::default();
    let mut first = Request::from_parts(parts.clone(), Body::empty());
    first.extensions_mut().insert(probe.clone());
    let refused = next.clone().run(first).await;
    let Some(proven) = probe.proven() else {
        return refused;
    };

    let mut replay = Request::from_parts(parts, Body::empty());
    replay.headers_mut().remove(header::RANGE);
    replay.headers_mut().remove(header::AUTHORIZATION);
    *replay.uri_mut() = without_presigning(replay.uri());
    replay.extensions_mut().insert(proven);
    next.run(replay).await
}

/// A `Range` header is present and is not exactly one range s3s can parse.
fn invalid_range(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::RANGE).iter();
    let Some(first) = values.next() else {
        return false;
    };
    if values.next().is_some() {
        return true;
    }
    first
        .to_str()
        .map_or(true, |v| s3s::dto::Range::parse(v).is_err())
}

/// The query parameters of a presigned URL's signature (SigV4; SigV2 never gets this far).
const PRESIGNING: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The URI without the presigning parameters, the others kept as sent (still encoded).
fn without_presigning(uri: &Uri) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !PRESIGNING.contains(&name)
        })
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ranges: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for r in ranges {
            h.append(header::RANGE, r.parse().unwrap());
        }
        h
    }

    #[test]
    fn ranges_s3s_parses_are_valid_even_when_unsatisfiable() {
        for r in ["bytes=0-1", "bytes=5-", "bytes=-3", "bytes=100-200"] {
            assert!(!invalid_range(&headers(&[r])), "{r}");
        }
        assert!(!invalid_range(&HeaderMap::new()));
    }

    #[test]
    fn garbage_several_ranges_and_other_units_are_invalid() {
        for r in [
            "bytes=abc",
            "bytes=0-1,3-4",
            "bytes=5-2",
            "items=0-1",
            "0-1",
            "bytes=",
        ] {
            assert!(invalid_range(&headers(&[r])), "{r}");
        }
        assert!(invalid_range(&headers(&["bytes=0-1", "bytes=2-3"])));
    }

    #[test]
    fn presigning_parameters_are_removed_and_the_rest_kept_as_sent() {
        let uri: Uri = "/b/k?versionId=a%2Bb&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x%2Fy\
                        &X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                        &X-Amz-Signature=ff&response-content-type=text%2Fplain"
            .parse()
            .unwrap();
        assert_eq!(
            without_presigning(&uri).to_string(),
            "/b/k?versionId=a%2Bb&response-content-type=text%2Fplain"
        );
        let only: Uri = "/b/k?X-Amz-Signature=ff".parse().unwrap();
        assert_eq!(without_presigning(&only).to_string(), "/b/k");
        let none: Uri = "/b/k".parse().unwrap();
        assert_eq!(without_presigning(&none).to_string(), "/b/k");
    }
}
