//! RenameObject (`PUT /{key}?renameObject`): s3s 0.14 predates the operation, so it is served
//! by this custom route, which parses the headers into an `ops::RenameRequest` and calls the
//! same operation layer as every other call.

use http::{HeaderMap, HeaderValue, Method, Uri, header::ETAG};
use s3s::host::S3Host;
use s3s::path::{S3Path, parse_path_style, parse_virtual_hosted_style};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;

use crate::tls::Transport;

use super::conditions::{header_date, header_etag};
use crate::auth::access::{Access, Caller, FactsOf};
use crate::auth::permissions::Needed;
use crate::names::MAX_KEY_BYTES;
use crate::ops::precondition::{MissingTarget, ReadConditions, WriteConditions};
use crate::ops::{RenameRequest, RenameSource, Store};

/// Client tokens are 1 to 64 printable ASCII characters (seed 004).
const MAX_CLIENT_TOKEN_LEN: usize = 64;

pub struct RenameRoute {
    store: Store,
    access: Arc<Access>,
    host: Option<Box<dyn S3Host>>,
}

fn invalid_request(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, msg.into())
}

fn has_rename_query(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "renameObject" || p.starts_with("renameObject="))
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> S3Result<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| invalid_request(format!("The {name} header is not valid ASCII.")))
        })
        .transpose()
}

fn client_token(headers: &HeaderMap) -> S3Result<Option<String>> {
    let Some(token) = header(headers, "x-amz-client-token")? else {
        return Ok(None);
    };
    let printable = token.bytes().all(|b| (0x20..0x7F).contains(&b));
    if token.is_empty() || token.len() > MAX_CLIENT_TOKEN_LEN || !printable {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "x-amz-client-token must be 1 to 64 printable ASCII characters.",
        ));
    }
    Ok(Some(token.to_owned()))
}

impl RenameRoute {
    pub fn new(store: Store, access: Arc<Access>, host: Option<Box<dyn S3Host>>) -> Self {
        Self { store, access, host }
    }

    fn destination(&self, req: &S3Request<Body>) -> S3Result<(String, String)> {
        let decoded =
            urlencoding::decode(req.uri.path()).map_err(|_| S3Error::new(S3ErrorCode::InvalidURI))?;
        let host = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
        let path = match (&self.host, host) {
            (Some(parser), Some(host)) if host.parse::<std::net::SocketAddr>().is_err() => {
                let vh = parser.parse_host_header(host)?;
                parse_virtual_hosted_style(vh.bucket(), &decoded)
            }
            _ => parse_path_style(&decoded),
        };
        match path {
            Ok(S3Path::Object { bucket, key }) => Ok((bucket.into(), key.into())),
            Ok(_) => Err(invalid_request("RenameObject needs a destination key.")),
            Err(s3s::path::ParseS3PathError::KeyTooLong) => Err(S3Error::new(S3ErrorCode::KeyTooLongError)),
            Err(s3s::path::ParseS3PathError::InvalidBucketName) => {
                Err(S3Error::new(S3ErrorCode::InvalidBucketName))
            }
            Err(_) => Err(S3Error::new(S3ErrorCode::InvalidURI)),
        }
    }

    fn parse(&self, req: &S3Request<Body>) -> S3Result<RenameRequest> {
        let (bucket, dst_key) = self.destination(req)?;
        let h = &req.headers;
        let source = header(h, "x-amz-rename-source")?
            .ok_or_else(|| invalid_request("RenameObject requires the x-amz-rename-source header."))?;
        let source = urlencoding::decode(source)
            .map_err(|_| invalid_request("x-amz-rename-source is not valid UTF-8."))?;
        let source = source.strip_prefix('/').unwrap_or(&source);
        if source.is_empty() {
            return Err(invalid_request("x-amz-rename-source names no object."));
        }
        if source.len() > MAX_KEY_BYTES + bucket.len() + 1 {
            return Err(S3Error::new(S3ErrorCode::KeyTooLongError));
        }
        let dst_conditions = WriteConditions {
            if_match: header_etag(h, "if-match")?,
            if_none_match: header_etag(h, "if-none-match")?,
            if_modified_since: header_date(h, "if-modified-since")?,
            if_unmodified_since: header_date(h, "if-unmodified-since")?,
            missing: MissingTarget::PreconditionFailed,
        };
        let src_conditions = ReadConditions {
            if_match: header_etag(h, "x-amz-rename-source-if-match")?,
            if_none_match: header_etag(h, "x-amz-rename-source-if-none-match")?,
            if_modified_since: header_date(h, "x-amz-rename-source-if-modified-since")?,
            if_unmodified_since: header_date(h, "x-amz-rename-source-if-unmodified-since")?,
        };
        Ok(RenameRequest {
            source: RenameSource::resolve(source, &bucket),
            bucket,
            dst_key,
            src_conditions,
            dst_conditions,
            client_token: client_token(h)?,
        })
    }
}

#[async_trait::async_trait]
impl S3Route for RenameRoute {
    fn is_match(&self, method: &Method, uri: &Uri, _: &HeaderMap, _: &mut http::Extensions) -> bool {
        method == Method::PUT && has_rename_query(uri)
    }

    /// Seed 004: s3:PutObject on the destination and s3:DeleteObject on the source (every key
    /// the source may resolve to).
    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let rename = self.parse(req)?;
        let access_key = req.credentials.as_ref().map(|c| c.access_key.clone());
        let caller = self.access.caller(access_key.as_deref()).await?;
        let source = req.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        let facts = FactsOf {
            source,
            transport: Transport::of(&req.extensions),
            query: req.uri.query(),
            headers: &req.headers,
            body_tags: None,
        };
        let put = Needed {
            action: "s3:PutObject",
            bucket: rename.bucket.clone(),
            key: Some(rename.dst_key.clone()),
        };
        self.access.authorize(caller.as_ref(), &put, &facts).await?;
        for key in &rename.source.candidates {
            let delete = Needed {
                action: "s3:DeleteObject",
                bucket: rename.bucket.clone(),
                key: Some(key.clone()),
            };
            self.access.authorize(caller.as_ref(), &delete, &facts).await?;
        }
        req.extensions.insert(Caller(caller));
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let rename = self.parse(&req)?;
        let outcome = self.store.rename_object(&rename).await?;
        tracing::info!(
            bucket = %rename.bucket,
            to = %rename.dst_key,
            replayed = outcome.replayed,
            "rename"
        );
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", outcome.etag)) {
            headers.insert(ETAG, v);
        }
        Ok(S3Response::with_headers(Body::empty(), headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_rename_subresource() {
        assert!(has_rename_query(&"/b/k?renameObject".parse().unwrap()));
        assert!(has_rename_query(
            &"/b/k?x-id=RenameObject&renameObject".parse().unwrap()
        ));
        assert!(has_rename_query(&"/b/k?renameObject=".parse().unwrap()));
        assert!(!has_rename_query(&"/b/k?renameObjectX".parse().unwrap()));
        assert!(!has_rename_query(&"/b/k".parse().unwrap()));
    }

    #[test]
    fn client_tokens_are_short_printable_ascii() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-client-token", HeaderValue::from_static("abc-123"));
        assert_eq!(client_token(&h).unwrap().as_deref(), Some("abc-123"));
        h.insert(
            "x-amz-client-token",
            HeaderValue::from_str(&"x".repeat(65)).unwrap(),
        );
        assert!(client_token(&h).is_err());
        h.insert("x-amz-client-token", HeaderValue::from_static(""));
        assert!(client_token(&h).is_err());
    }
}
