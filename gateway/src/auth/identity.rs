//! Who is asking: users in organizations and their access keys, kept in the metadata store with
//! their secrets sealed under the master key; plus the root identity from the configuration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use rand::Rng;
use rand::distr::Alphanumeric;
use s3s::{S3Error, S3Result};
use serde::{Deserialize, Serialize};

use super::secrets::MasterKeys;
use crate::clock::SharedClock;
use crate::credentials::AccessKey;
use crate::errors::{custom, from_meta};
use crate::meta::{MetaStore, keys};
use crate::model::{self, Nanos};
use crate::ops::{read_only, transact};

pub const ROOT_USER: &str = "root";
/// Access keys remembered at most: far more than a store's active keys, and a bound on what
/// lookups of made-up keys can cost in memory.
const MAX_CACHED_KEYS: usize = 10_000;
/// How long a resolved key is trusted without asking the store again: bounds how long a deleted
/// key keeps working on other gateways (this one forgets it at once).
const CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessMode {
    ReadWrite,
    ReadOnly,
    WriteOnly,
}

/// What a scoped key may touch, beyond what policies allow: one bucket, reads and/or writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyScope {
    pub bucket: String,
    pub access: AccessMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub org: String,
    pub created: Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub access_key_id: String,
    pub user: String,
    pub org: String,
    /// The secret, sealed under the master key with the key id as context.
    pub sealed_secret: String,
    pub status: KeyStatus,
    pub created: Nanos,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<KeyScope>,
}

/// The authenticated principal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub org: String,
    pub access_key: String,
    /// The store's administrator: configured, not stored.
    pub root: bool,
    pub scope: Option<KeyScope>,
}

/// A key as handed out once, with its secret in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub user: String,
    pub org: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<KeyScope>,
}

type Resolved = Option<(Identity, String)>;

pub struct Identities {
    meta: Arc<dyn MetaStore>,
    clock: SharedClock,
    master: MasterKeys,
    root: AccessKey,
    root_org: String,
    cache: Mutex<HashMap<String, (Instant, Resolved)>>,
}

fn no_such_entity(what: &str) -> S3Error {
    custom(
        "NoSuchEntity",
        StatusCode::NOT_FOUND,
        format!("{what} does not exist."),
    )
}

fn invalid(msg: impl Into<String>) -> S3Error {
    custom("InvalidArgument", StatusCode::BAD_REQUEST, msg.into())
}

/// User and org names: IAM's character set, 1 to 64 characters.
pub fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+=,-".contains(&b))
}

fn new_key_id() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..18)
        .map(|_| rng.sample(Alphanumeric).to_ascii_uppercase() as char)
        .collect();
    format!("SK{tail}")
}

fn new_secret() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

impl Identities {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        clock: SharedClock,
        master: MasterKeys,
        root: AccessKey,
        root_org: String,
    ) -> Self {
        Self {
            meta,
            clock,
            master,
            root,
            root_org,
            cache: Mutex::default(),
        }
    }

    pub fn root_org(&self) -> &str {
        &self.root_org
    }

    fn forget(&self, access_key: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(access_key);
        }
    }

    /// The identity and secret behind an access key, if it exists and is active.
    pub async fn resolve(&self, access_key: &str) -> S3Result<Resolved> {
        if access_key == self.root.access_key_id {
            let identity = Identity {
                user: ROOT_USER.to_owned(),
                org: self.root_org.clone(),
                access_key: access_key.to_owned(),
                root: true,
                scope: None,
            };
            return Ok(Some((identity, self.root.secret_access_key.clone())));
        }
        if let Ok(c) = self.cache.lock()
            && let Some((at, hit)) = c.get(access_key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(hit.clone());
        }
        let record: Option<KeyRecord> = read_only(&*self.meta, access_key, |txn, id| {
            Box::pin(async move {
                let k = keys::access_key(id);
                match txn.get(&k).await.map_err(from_meta)? {
                    Some(raw) => Ok(Some(model::decode(&k, &raw).map_err(from_meta)?)),
                    None => Ok(None),
                }
            })
        })
        .await?;
        let resolved = match record.filter(|r| r.status == KeyStatus::Active) {
            Some(r) => {
                let secret = self
                    .master
                    .open(r.access_key_id.as_bytes(), &r.sealed_secret)
                    .map_err(|e| crate::errors::internal("access key secret", e))?;
                let identity = Identity {
                    user: r.user,
                    org: r.org,
                    access_key: r.access_key_id,
                    root: false,
                    scope: r.scope,
                };
                Some((identity, String::from_utf8_lossy(&secret).into_owned()))
            }
            None => None,
        };
        if let Ok(mut c) = self.cache.lock() {
            // Unknown keys are whatever a caller makes up: the cache must not grow with them.
            if c.len() >= MAX_CACHED_KEYS {
                c.retain(|_, (at, hit)| hit.is_some() && at.elapsed() < CACHE_TTL);
            }
            if c.len() < MAX_CACHED_KEYS {
                c.insert(access_key.to_owned(), (Instant::now(), resolved.clone()));
            }
        }
        Ok(resolved)
    }

    fn issue(&self, user: &UserRecord, scope: Option<KeyScope>) -> (KeyRecord, IssuedKey) {
        let id = new_key_id();
        let secret = new_secret();
        let record = KeyRecord {
            access_key_id: id.clone(),
            user: user.name.clone(),
            org: user.org.clone(),
            sealed_secret: self.master.seal(id.as_bytes(), secret.as_bytes()),
            status: KeyStatus::Active,
            created: Nanos::from_time(self.clock.now()),
            scope: scope.clone(),
        };
        let issued = IssuedKey {
            user: user.name.clone(),
            org: user.org.clone(),
            access_key_id: id,
            secret_access_key: secret,
            scope,
        };
        (record, issued)
    }

    pub async fn create_user(&self, name: &str, org: &str) -> S3Result<IssuedKey> {
        if !valid_name(name) || name == ROOT_USER {
            return Err(invalid(format!("invalid user name {name:?}")));
        }
        if !valid_name(org) {
            return Err(invalid(format!("invalid org {org:?}")));
        }
        let user = UserRecord {
            name: name.to_owned(),
            org: org.to_owned(),
            created: Nanos::from_time(self.clock.now()),
        };
        let (key, issued) = self.issue(&user, None);
        transact(&*self.meta, &(&user, &key), |txn, (user, key)| {
            Box::pin(async move {
                let k = keys::user(&user.name);
                if txn.get(&k).await.map_err(from_meta)?.is_some() {
                    return Err(custom(
                        "EntityAlreadyExists",
                        StatusCode::CONFLICT,
                        format!("User {} already exists.", user.name),
                    ));
                }
                txn.put(&k, &model::encode(*user)).await.map_err(from_meta)?;
                txn.put(&keys::access_key(&key.access_key_id), &model::encode(*key))
                    .await
                    .map_err(from_meta)
            })
        })
        .await?;
        Ok(issued)
    }

    pub async fn create_key(&self, name: &str, scope: Option<KeyScope>) -> S3Result<IssuedKey> {
        let user = self.user(name).await?;
        let (key, issued) = self.issue(&user, scope);
        transact(&*self.meta, &(name, &key), |txn, (name, key)| {
            Box::pin(async move {
                if txn.get(&keys::user(name)).await.map_err(from_meta)?.is_none() {
                    return Err(no_such_entity(&format!("User {name}")));
                }
                txn.put(&keys::access_key(&key.access_key_id), &model::encode(*key))
                    .await
                    .map_err(from_meta)
            })
        })
        .await?;
        Ok(issued)
    }

    async fn user(&self, name: &str) -> S3Result<UserRecord> {
        read_only(&*self.meta, name, |txn, name| {
            Box::pin(async move {
                let k = keys::user(name);
                match txn.get(&k).await.map_err(from_meta)? {
                    Some(raw) => model::decode(&k, &raw).map_err(from_meta),
                    None => Err(no_such_entity(&format!("User {name}"))),
                }
            })
        })
        .await
    }

    /// Every user with its keys (secrets stay sealed).
    pub async fn list(&self) -> S3Result<Vec<(UserRecord, Vec<KeyRecord>)>> {
        read_only(&*self.meta, &(), |txn, ()| {
            Box::pin(async move {
                let mut users: Vec<(UserRecord, Vec<KeyRecord>)> = Vec::new();
                for (table, is_user) in [(keys::all_users(), true), (keys::all_access_keys(), false)] {
                    let (mut start, end) = table;
                    loop {
                        let batch = txn.scan(&start, &end, 1000).await.map_err(from_meta)?;
                        let Some((last, _)) = batch.last() else { break };
                        start = keys::successor(last);
                        for (k, v) in &batch {
                            if is_user {
                                users.push((model::decode(k, v).map_err(from_meta)?, Vec::new()));
                            } else {
                                let key: KeyRecord = model::decode(k, v).map_err(from_meta)?;
                                if let Some((_, ks)) = users.iter_mut().find(|(u, _)| u.name == key.user) {
                                    ks.push(key);
                                }
                            }
                        }
                    }
                }
                Ok(users)
            })
        })
        .await
    }

    pub async fn delete_key(&self, name: &str, access_key_id: &str) -> S3Result<()> {
        transact(&*self.meta, &(name, access_key_id), |txn, (name, id)| {
            Box::pin(async move {
                let k = keys::access_key(id);
                let key: Option<KeyRecord> = match txn.get(&k).await.map_err(from_meta)? {
                    Some(raw) => Some(model::decode(&k, &raw).map_err(from_meta)?),
                    None => None,
                };
                match key {
                    Some(key) if key.user == *name => txn.delete(&k).await.map_err(from_meta),
                    _ => Err(no_such_entity(&format!("Access key {id} of user {name}"))),
                }
            })
        })
        .await?;
        self.forget(access_key_id);
        Ok(())
    }

    pub async fn delete_user(&self, name: &str) -> S3Result<()> {
        // The user's keys are found inside the deleting transaction, so a key created meanwhile
        // either conflicts with it or is deleted with it.
        let deleted = transact(&*self.meta, name, |txn, name| {
            Box::pin(async move {
                if txn.get(&keys::user(name)).await.map_err(from_meta)?.is_none() {
                    return Err(no_such_entity(&format!("User {name}")));
                }
                let (mut start, end) = keys::all_access_keys();
                let mut ids = Vec::new();
                loop {
                    let batch = txn.scan(&start, &end, 1000).await.map_err(from_meta)?;
                    let Some((last, _)) = batch.last() else { break };
                    start = keys::successor(last);
                    for (k, v) in &batch {
                        let key: KeyRecord = model::decode(k, v).map_err(from_meta)?;
                        if key.user == *name {
                            txn.delete(k).await.map_err(from_meta)?;
                            ids.push(key.access_key_id);
                        }
                    }
                }
                txn.delete(&keys::user(name)).await.map_err(from_meta)?;
                Ok(ids)
            })
        })
        .await?;
        for id in &deleted {
            self.forget(id);
        }
        Ok(())
    }
}

/// The canonical user id S3 shows for an organization: 64 hex digits, as AWS's are, the same
/// wherever an owner appears (ListBuckets, ACLs, listings, multipart initiators) and stable
/// for the life of the org. Its display name is the org's name.
pub fn canonical_id(org: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("stowage-org:{org}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_iam_rules() {
        assert!(valid_name("app-1.team@corp"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn issued_key_ids_and_secrets_have_aws_shapes() {
        let id = new_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert_eq!(new_secret().len(), 40);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lookups_of_made_up_keys_do_not_grow_the_cache_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(crate::meta::fjall::EmbeddedStore::open(&dir.path().join("meta")).unwrap());
        let master = crate::auth::secrets::MasterKey::from_base64(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [1u8; 32],
        ))
        .unwrap();
        let master = MasterKeys::new(master, Vec::new());
        let root = AccessKey {
            access_key_id: "ROOT".into(),
            secret_access_key: "secret".into(),
        };
        let ids = Identities::new(
            meta,
            Arc::new(crate::clock::SystemClock),
            master,
            root,
            "org".into(),
        );
        for i in 0..MAX_CACHED_KEYS + 500 {
            assert!(ids.resolve(&format!("MADEUP{i:014}")).await.unwrap().is_none());
        }
        assert!(ids.cache.lock().unwrap().len() <= MAX_CACHED_KEYS);
    }
}
