//! The gateway's admin API (docs/admin-api.md): users and access keys under
//! `/_stowage/admin/v1/`, JSON bodies, SigV4 with the root credentials. The operator uses it to
//! issue each Bucket's application key, scoped to that bucket, and to drain and forget the
//! gateways a scale-down removes (`nodes`, see `resources::scale_down`).

use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};

use super::{Response, StoreClient, StoreError, parse_error, rejected};
use crate::crd::AccessMode;

pub const PREFIX: &str = "/_stowage/admin/v1";

/// `GET whoami`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct WhoAmI {
    pub user: String,
    pub org: String,
}

/// A key's scope: one bucket, and what it may do there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyScope {
    pub bucket: String,
    pub access: AccessMode,
}

/// An access key as `GET users` lists it (no secret).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub scope: Option<KeyScope>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user: String,
    pub org: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
}

#[derive(Deserialize)]
struct Users {
    users: Vec<User>,
}

/// A freshly issued key: the only time its secret is seen.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct CreateUser<'a> {
    name: &'a str,
    org: &'a str,
}

#[derive(Serialize)]
struct CreateKey<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a KeyScope>,
}

/// A gateway of the store as the admin API reports it (`GET nodes`); its id is its pod name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: String,
    #[serde(default)]
    pub peer_url: String,
    /// Its heartbeat is recent: the gateway (pod) is running.
    pub live: bool,
    #[serde(default)]
    pub capacity: u64,
    #[serde(default)]
    pub free: u64,
    #[serde(default)]
    pub heartbeat: Option<String>,
    /// Set from the drain request until the node is undrained or forgotten.
    #[serde(default)]
    pub drain: Option<DrainView>,
}

/// How far a gateway's drain got.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainView {
    pub state: DrainState,
    #[serde(default)]
    pub requested: Option<String>,
    #[serde(default)]
    pub blobs_left: u64,
    #[serde(default)]
    pub bytes_left: u64,
    #[serde(default)]
    pub blobs_moved: u64,
    #[serde(default)]
    pub bytes_moved: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrainState {
    Draining,
    Drained,
    /// A state this operator does not know (a newer gateway): never taken for drained.
    #[serde(other)]
    Unknown,
}

impl NodeView {
    /// The gateway's own word that it holds no referenced blob and none can be placed on it any
    /// more: the only state in which its volume may go.
    pub fn is_drained(&self) -> bool {
        self.drain
            .as_ref()
            .is_some_and(|d| d.state == DrainState::Drained && d.blobs_left == 0)
    }
}

#[derive(Deserialize)]
struct Nodes {
    nodes: Vec<NodeView>,
}

/// Admin API paths carry user names; encode everything but unreserved characters.
fn segment(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

/// A gateway without the admin API answers its paths as S3 requests for a bucket named
/// `_stowage` (an invalid name), or as unknown routes; anything else is the API's own answer
/// (docs/admin-api.md: `AccessDenied`, `NoSuchEntity`, `EntityAlreadyExists`, `InvalidArgument`,
/// signature errors), to report as it is.
fn admin_error(response: &Response) -> StoreError {
    let (code, _) = parse_error(&response.body);
    let not_served = matches!(
        code.as_str(),
        "InvalidBucketName" | "NoSuchBucket" | "NotImplemented" | "MethodNotAllowed"
    ) || (code.is_empty() && matches!(response.status.as_u16(), 404 | 405 | 501));
    if not_served {
        StoreError::AdminApiUnavailable {
            status: response.status.as_u16(),
            code,
        }
    } else {
        rejected(response)
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(what: &str, response: &Response) -> Result<T, StoreError> {
    serde_json::from_slice(&response.body).map_err(|e| StoreError::Protocol(format!("admin {what}: {e}")))
}

impl StoreClient {
    async fn admin(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Response, StoreError> {
        let headers: Vec<(&str, String)> = match body {
            Some(_) => vec![("content-type", "application/json".to_owned())],
            None => Vec::new(),
        };
        self.send(
            method,
            &format!("{PREFIX}{path}"),
            &headers,
            body.map(Bytes::from).unwrap_or_default(),
        )
        .await
    }

    pub async fn whoami(&self) -> Result<WhoAmI, StoreError> {
        let response = self.admin(Method::GET, "/whoami", None).await?;
        if !response.status.is_success() {
            return Err(admin_error(&response));
        }
        parse_json("whoami", &response)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let response = self.admin(Method::GET, "/users", None).await?;
        if !response.status.is_success() {
            return Err(admin_error(&response));
        }
        Ok(parse_json::<Users>("users", &response)?.users)
    }

    /// Creates a user; `None` if it exists already. The key created with a new user is not
    /// scoped: callers revoke it (see `resources::bucket::stale_keys`).
    pub async fn create_user(&self, name: &str, org: &str) -> Result<Option<IssuedKey>, StoreError> {
        let body = serde_json::to_vec(&CreateUser { name, org }).expect("serializes");
        let response = self.admin(Method::POST, "/users", Some(body)).await?;
        if response.status.is_success() {
            return parse_json("create user", &response).map(Some);
        }
        match admin_error(&response) {
            e if e.code() == Some("EntityAlreadyExists") => Ok(None),
            e => Err(e),
        }
    }

    /// Deletes a user and its keys; a missing user is already the goal.
    pub async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let response = self
            .admin(Method::DELETE, &format!("/users/{}", segment(name)), None)
            .await?;
        if response.status.is_success() {
            return Ok(());
        }
        match admin_error(&response) {
            e if e.code() == Some("NoSuchEntity") => Ok(()),
            e => Err(e),
        }
    }

    /// Issues a key for `user`, scoped to one bucket or (`None`) acting as the user.
    pub async fn create_key(&self, user: &str, scope: Option<&KeyScope>) -> Result<IssuedKey, StoreError> {
        let body = serde_json::to_vec(&CreateKey { scope }).expect("serializes");
        let response = self
            .admin(
                Method::POST,
                &format!("/users/{}/keys", segment(user)),
                Some(body),
            )
            .await?;
        if !response.status.is_success() {
            return Err(admin_error(&response));
        }
        parse_json("create key", &response)
    }

    /// Revokes a key; a missing key is already the goal.
    pub async fn delete_key(&self, user: &str, access_key_id: &str) -> Result<(), StoreError> {
        let path = format!("/users/{}/keys/{}", segment(user), segment(access_key_id));
        let response = self.admin(Method::DELETE, &path, None).await?;
        if response.status.is_success() {
            return Ok(());
        }
        match admin_error(&response) {
            e if e.code() == Some("NoSuchEntity") => Ok(()),
            e => Err(e),
        }
    }

    /// Every gateway registered in the store.
    pub async fn list_nodes(&self) -> Result<Vec<NodeView>, StoreError> {
        let response = self.admin(Method::GET, "/nodes", None).await?;
        if !response.status.is_success() {
            return Err(admin_error(&response));
        }
        Ok(parse_json::<Nodes>("nodes", &response)?.nodes)
    }

    /// Starts moving every blob `id` holds to other gateways (idempotent, resumable).
    pub async fn drain_node(&self, id: &str) -> Result<NodeView, StoreError> {
        self.node_action(id, "drain").await
    }

    /// Cancels `id`'s drain (idempotent): blobs may be placed on it again.
    pub async fn undrain_node(&self, id: &str) -> Result<NodeView, StoreError> {
        self.node_action(id, "undrain").await
    }

    async fn node_action(&self, id: &str, action: &str) -> Result<NodeView, StoreError> {
        let path = format!("/nodes/{}/{action}", segment(id));
        let response = self.admin(Method::POST, &path, None).await?;
        if !response.status.is_success() {
            return Err(admin_error(&response));
        }
        parse_json(action, &response)
    }

    /// Forgets `id` (its registration and drain record). The gateway refuses with
    /// `NodeNotDrained` while it holds a referenced blob and `NodeStillLive` while it runs; a
    /// node already forgotten is the goal.
    pub async fn forget_node(&self, id: &str) -> Result<(), StoreError> {
        let response = self
            .admin(Method::DELETE, &format!("/nodes/{}", segment(id)), None)
            .await?;
        if response.status.is_success() {
            return Ok(());
        }
        match admin_error(&response) {
            e if e.code() == Some("NoSuchNode") => Ok(()),
            e => Err(e),
        }
    }
}
