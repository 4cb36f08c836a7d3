//! The store's key service: the keys that wrap SSE-S3 and SSE-KMS data keys.
//!
//! One trait, [`KeyService`], so an external service (Vault transit, AWS KMS) can stand in for
//! the store-managed one ([`managed::ManagedKeys`], key material in the metadata store sealed
//! under the master key). Key material never leaves the service: callers get data keys, fresh
//! and wrapped, and give wrapped ones back to open.

pub mod key_ref;
pub mod managed;

use async_trait::async_trait;
use serde::Serialize;

use crate::meta::MetaError;
use crate::sse::{DataKey, WrappedKey};

pub use key_ref::KeyRef;

/// What may be said about a key (never its material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub description: String,
    pub enabled: bool,
    /// RFC 3339.
    pub created: String,
    /// How many versions of material the key has (1 + rotations); data keys are wrapped by the
    /// newest, and opened by the one that wrapped them.
    pub versions: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("Key '{0}' does not exist")]
    NotFound(String),
    #[error("{0} is disabled.")]
    Disabled(String),
    #[error("invalid key name: {0}")]
    InvalidName(String),
    #[error("alias {0} is already in use")]
    AliasInUse(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("a wrapped data key could not be opened (wrong context, or damaged metadata)")]
    Damaged,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

#[async_trait]
pub trait KeyService: Send + Sync {
    async fn create(&self, alias: Option<&str>, description: &str) -> Result<KeyInfo, KmsError>;

    /// Every key a client can name (not the store's own SSE-S3 key).
    async fn list(&self) -> Result<Vec<KeyInfo>, KmsError>;

    /// The key `key` names; the default key (`aws/s3`) is created on first use.
    async fn describe(&self, key: &KeyRef) -> Result<KeyInfo, KmsError>;

    async fn set_enabled(&self, key: &KeyRef, enabled: bool) -> Result<KeyInfo, KmsError>;

    /// Adds a new version of the key's material; data keys wrapped by older versions still open.
    async fn rotate(&self, key: &KeyRef) -> Result<KeyInfo, KmsError>;

    /// A fresh data key, and the same wrapped by the newest version of `key`, bound to
    /// `context` (which must be given again to open it). Refused for a disabled key.
    async fn generate_data_key(
        &self,
        key: &KeyRef,
        context: &[u8],
    ) -> Result<(DataKey, WrappedKey), KmsError>;

    /// Opens data keys (one per blob of an object), all bound to `context`. Refused when a key
    /// that wrapped one is disabled.
    async fn unwrap_data_keys(
        &self,
        wrapped: &[&WrappedKey],
        context: &[u8],
    ) -> Result<Vec<DataKey>, KmsError>;

    /// After a master-key rotation: seals again under the new master key whatever only an old
    /// one opens; returns how many key versions it re-sealed.
    async fn reseal(&self) -> Result<u64, KmsError>;
}
