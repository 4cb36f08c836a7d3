//! The peer endpoint: where other gateways of the store read blobs held on this gateway's volume
//! and place copies of new ones. Only requests signed with the store-internal key
//! ([`super::peer_auth`]) are served; S3 credentials mean nothing here, so no S3 client can
//! reach a blob this way.

use std::io;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::TryStreamExt;
use http::{StatusCode, header};

use super::PeerKey;
use crate::blob::{BlobId, BlobStore, WriteError};

/// Under `/_stowage/`, a path no bucket can have.
pub const BLOB_PATH: &str = "/_stowage/peer/blobs/";
/// CRC64NVME of a blob as stored (decimal): sent with a copy to have it checked on arrival,
/// answered for every copy written, and named in a check.
pub const CRC_HEADER: &str = "x-stowage-crc64";
/// The size the checked copy must have.
pub const SIZE_HEADER: &str = "x-stowage-size";
/// The verdict of a check: `good`, `damaged` (quarantined) or `missing`.
pub const VERDICT_HEADER: &str = "x-stowage-verdict";

#[derive(Clone)]
pub struct PeerState {
    pub blobs: BlobStore,
    pub key: PeerKey,
    /// No copy is taken past this share of the volume's capacity.
    pub high_water: f64,
}

pub fn router(state: PeerState) -> Router {
    Router::new()
        .route("/_stowage/peer/blobs/{id}", get(read_blob).put(write_blob))
        .route("/_stowage/peer/blobs/{id}/check", post(check_blob))
        .with_state(state)
}

fn number_header(req: &Request, name: &str) -> Option<u64> {
    req.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// Re-reads this volume's copy of a blob against the CRC its record names (a reader saw bytes
/// that did not match); a damaged copy is quarantined, so reads go to another holder.
async fn check_blob(State(state): State<PeerState>, Path(id): Path<String>, req: Request) -> Response {
    let id = match admit(&state, &req, &id) {
        Ok(id) => id,
        Err((status, why)) => return refuse(status, why),
    };
    let (Some(crc), Some(size)) = (number_header(&req, CRC_HEADER), number_header(&req, SIZE_HEADER)) else {
        return refuse(StatusCode::BAD_REQUEST, "a check names the CRC and size");
    };
    match crate::blob::check_copy(&state.blobs, &id, size, crc).await {
        Ok(verdict) => (StatusCode::OK, [(VERDICT_HEADER, verdict.as_str())]).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

/// The signature and the blob id, or why the request is refused.
fn admit(state: &PeerState, req: &Request, id: &str) -> Result<BlobId, (StatusCode, String)> {
    state
        .key
        .verify(
            req.method().as_str(),
            req.uri().path(),
            req.headers(),
            SystemTime::now(),
        )
        .map_err(|e| (StatusCode::FORBIDDEN, e.to_string()))?;
    BlobId::parse(id).ok_or_else(|| (StatusCode::BAD_REQUEST, "not a blob id".to_owned()))
}

/// `bytes=<first>-<last>`, the one form peers send, as a half-open range within `size`.
fn parse_range(value: &str, size: u64) -> Option<std::ops::Range<u64>> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    (first <= last && last < size).then_some(first..last + 1)
}

async fn read_blob(State(state): State<PeerState>, Path(id): Path<String>, req: Request) -> Response {
    let id = match admit(&state, &req, &id) {
        Ok(id) => id,
        Err((status, why)) => return refuse(status, why),
    };
    let size = match state.blobs.size_of(&id) {
        Ok(size) => size,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return refuse(StatusCode::NOT_FOUND, "no such blob");
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let Some(range) = range.and_then(|r| parse_range(r, size)) else {
        return refuse(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "peers ask for one satisfiable range",
        );
    };
    let (start, end) = (range.start, range.end);
    match state.blobs.read(&id, range).await {
        Ok(stream) => Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, end - start)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1))
            .body(Body::from_stream(stream))
            .unwrap_or_else(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => refuse(StatusCode::NOT_FOUND, "no such blob"),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn write_blob(State(state): State<PeerState>, Path(id): Path<String>, req: Request) -> Response {
    let id = match admit(&state, &req, &id) {
        Ok(id) => id,
        Err((status, why)) => return refuse(status, why),
    };
    let expected = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let Some(expected) = expected else {
        return refuse(StatusCode::LENGTH_REQUIRED, "a copy states its length");
    };
    if !state.blobs.room().fits(expected, state.high_water) {
        return refuse(
            StatusCode::INSUFFICIENT_STORAGE,
            "this volume is at its high-water mark",
        );
    }
    let crc = number_header(&req, CRC_HEADER);
    let body = TryStreamExt::map_err(req.into_body().into_data_stream(), io::Error::other);
    match state.blobs.write_as(id.clone(), body, |_: &[u8]| {}).await {
        Ok(written) if written.size == expected && crc.is_none_or(|c| c == written.crc) => {
            (StatusCode::CREATED, [(CRC_HEADER, written.crc.to_string())]).into_response()
        }
        Ok(written) => {
            let _ = state.blobs.delete(&id).await;
            refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} bytes arrived of {expected}, CRC {} (expected {crc:?})",
                    written.size, written.crc
                ),
            )
        }
        Err(WriteError::Body(e)) => refuse(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ WriteError::Stalled(_)) => refuse(StatusCode::REQUEST_TIMEOUT, e.to_string()),
        Err(WriteError::Io(e)) => refuse(StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_one_satisfiable_span() {
        assert_eq!(parse_range("bytes=0-9", 10), Some(0..10));
        assert_eq!(parse_range("bytes=5-5", 10), Some(5..6));
        assert_eq!(parse_range("bytes=5-10", 10), None);
        assert_eq!(parse_range("bytes=6-5", 10), None);
        assert_eq!(parse_range("bytes=-5", 10), None);
        assert_eq!(parse_range("items=0-1", 10), None);
    }
}
