//! The admin API (docs/admin-api.md): users, orgs, access keys and encryption keys over signed
//! HTTP, for the root identity and members of the root org.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use s3s::{S3Error, S3ErrorCode};
use serde::{Deserialize, Serialize};

use super::sigv4::{self, parse_authorization};
use crate::auth::identity::{Identities, Identity, KeyScope};
use crate::clock::SharedClock;
use crate::errors::{custom, from_meta, internal};
use crate::kms::{KeyRef, KeyService, KmsError};

/// A key-service refusal as the admin API reports it.
fn kms_error(e: KmsError) -> S3Error {
    match e {
        KmsError::NotFound(_) => custom("NotFoundException", StatusCode::NOT_FOUND, e.to_string()),
        KmsError::AliasInUse(_) => custom("AlreadyExistsException", StatusCode::CONFLICT, e.to_string()),
        KmsError::InvalidName(_) | KmsError::NotAllowed(_) | KmsError::Disabled(_) => {
            bad_request(e.to_string())
        }
        KmsError::Damaged => internal("kms", e),
        KmsError::Meta(m) => from_meta(m),
    }
}

#[derive(Deserialize, Default)]
struct NewEncryptionKey {
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    description: String,
}

pub const PREFIX: &str = "/_stowage/admin/v1";

#[derive(Clone)]
pub struct AdminState {
    pub identities: Arc<Identities>,
    pub clock: SharedClock,
    pub keys: Arc<dyn KeyService>,
    /// The gateways of the store (nodes, drains, lost blobs).
    pub store: crate::ops::Store,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/{{*rest}}"), any(handle))
        .with_state(state)
}

fn error(e: S3Error) -> Response {
    match e.to_http_response() {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn denied(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, msg.into())
}

fn bad_request(msg: impl Into<String>) -> S3Error {
    custom("InvalidArgument", StatusCode::BAD_REQUEST, msg.into())
}

async fn authenticate(
    st: &AdminState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Identity, S3Error> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_authorization)
        .ok_or_else(|| denied("The admin API requires SigV4-signed requests."))?;
    let (identity, secret) = st.identities.resolve(&auth.access_key).await?.ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    })?;
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let url = format!(
        "http://{host}{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    sigv4::verify(
        method.as_str(),
        &url,
        headers,
        body,
        &auth,
        &secret,
        st.clock.now(),
    )
    .map_err(|e| {
        S3Error::with_message(
            match e {
                sigv4::VerifyError::Skewed => S3ErrorCode::RequestTimeTooSkewed,
                _ => S3ErrorCode::SignatureDoesNotMatch,
            },
            e.to_string(),
        )
    })?;
    if !identity.root && identity.org != st.identities.root_org() {
        return Err(denied(
            "Only the root identity and members of the root org may use the admin API.",
        ));
    }
    Ok(identity)
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    org: String,
}

#[derive(Deserialize, Default)]
struct NewKey {
    #[serde(default)]
    scope: Option<KeyScope>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    access_key_id: String,
    status: String,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<KeyScope>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserView {
    user: String,
    org: String,
    access_keys: Vec<KeyView>,
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, S3Error> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

async fn handle(
    State(st): State<AdminState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match route(&st, &method, &uri, &headers, &body).await {
        Ok(resp) => resp,
        Err(e) => error(e),
    }
}

async fn route(
    st: &AdminState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, S3Error> {
    let identity = authenticate(st, method, uri, headers, body).await?;
    let path = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| urlencoding::decode(s).map(|c| c.into_owned()).unwrap_or_default())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let ids = &st.identities;
    Ok(match (method.as_str(), segs.as_slice()) {
        ("GET", ["whoami"]) => json(&serde_json::json!({"user": identity.user, "org": identity.org})),
        ("POST", ["users"]) => {
            let new: NewUser = parse_json(body)?;
            json(&ids.create_user(&new.name, &new.org).await?)
        }
        ("GET", ["users"]) => {
            let users: Vec<UserView> = ids
                .list()
                .await?
                .into_iter()
                .map(|(u, keys)| UserView {
                    user: u.name,
                    org: u.org,
                    access_keys: keys
                        .into_iter()
                        .map(|k| KeyView {
                            access_key_id: k.access_key_id,
                            status: format!("{:?}", k.status),
                            created: k.created.to_time().to_string(),
                            scope: k.scope,
                        })
                        .collect(),
                })
                .collect();
            json(&serde_json::json!({ "users": users }))
        }
        ("DELETE", ["users", name]) => {
            ids.delete_user(name).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["users", name, "keys"]) => {
            let new: NewKey = if body.is_empty() {
                NewKey::default()
            } else {
                parse_json(body)?
            };
            json(&ids.create_key(name, new.scope).await?)
        }
        ("DELETE", ["users", name, "keys", id]) => {
            ids.delete_key(name, id).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["nodes"]) => json(&serde_json::json!({ "nodes": super::nodes::list(&st.store).await? })),
        ("GET", ["nodes", id]) => json(&super::nodes::view(&st.store, &super::nodes::node_id(id)?).await?),
        ("POST", ["nodes", id, "drain"]) => {
            let id = super::nodes::node_id(id)?;
            st.store.start_drain(&id).await?;
            json(&super::nodes::view(&st.store, &id).await?)
        }
        ("POST", ["nodes", id, "undrain"]) => {
            let id = super::nodes::node_id(id)?;
            st.store.stop_drain(&id).await?;
            json(&super::nodes::view(&st.store, &id).await?)
        }
        ("DELETE", ["nodes", id]) => {
            st.store.forget_node(&super::nodes::node_id(id)?).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["blobs", "lost"]) => json(&super::nodes::lost(&st.store).await?),
        ("POST", ["kms", "keys"]) => {
            let new: NewEncryptionKey = if body.is_empty() {
                NewEncryptionKey::default()
            } else {
                parse_json(body)?
            };
            let alias = new
                .alias
                .as_deref()
                .map(|a| a.strip_prefix("alias/").unwrap_or(a));
            json(&st.keys.create(alias, &new.description).await.map_err(kms_error)?)
        }
        ("GET", ["kms", "keys"]) => {
            json(&serde_json::json!({ "keys": st.keys.list().await.map_err(kms_error)? }))
        }
        ("GET", ["kms", "keys", key]) => {
            let key = KeyRef::parse(key).map_err(kms_error)?;
            json(&st.keys.describe(&key).await.map_err(kms_error)?)
        }
        ("POST", ["kms", "keys", key, action]) => {
            let key = KeyRef::parse(key).map_err(kms_error)?;
            let info = match *action {
                "enable" => st.keys.set_enabled(&key, true).await,
                "disable" => st.keys.set_enabled(&key, false).await,
                "rotate" => st.keys.rotate(&key).await,
                _ => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::NotImplemented,
                        "Unknown admin API call",
                    ));
                }
            };
            json(&info.map_err(kms_error)?)
        }
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "Unknown admin API call",
            ));
        }
    })
}
