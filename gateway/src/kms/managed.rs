//! The store-managed key service: one record per key in the metadata store, each version of its
//! material sealed under the master key (so a copy of the metadata alone opens nothing, and a
//! master-key rotation re-seals a few records, not every object).
//!
//! A data key is wrapped with AES-256-GCM under one version's material, with the key id, the
//! version and the caller's context as associated data: a wrapped key moved to another record,
//! or opened with another encryption context, fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use super::key_ref::{DEFAULT_ALIAS, arn, valid_alias};
use super::{KeyInfo, KeyRef, KeyService, KmsError};
use crate::auth::secrets::MasterKeys;
use crate::clock::SharedClock;
use crate::meta::{MetaStore, MetaTxn, keys, transact};
use crate::model::{self, Nanos};
use crate::sse::{DataKey, SSE_S3_KEY_ID, WrappedKey};

const NONCE_LEN: usize = 12;
/// Keys re-sealed per transaction after a master-key rotation.
const RESEAL_BATCH: usize = 64;
/// AWS's limit on a key description.
const MAX_DESCRIPTION: usize = 8192;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
    #[serde(default)]
    description: String,
    enabled: bool,
    created: Nanos,
    /// Version `n` (from 1) is `versions[n - 1]`: its material sealed under the master key.
    versions: Vec<String>,
}

impl KeyRecord {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id.clone(),
            alias: self.alias.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            created: self
                .created
                .to_time()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            versions: self.versions.len() as u32,
        }
    }

    fn newest(&self) -> u32 {
        self.versions.len() as u32
    }
}

/// What a version's material is sealed to: it cannot be moved to another key or version.
fn material_context(id: &str, version: u32) -> Vec<u8> {
    format!("kms-key:{id}:{version}").into_bytes()
}

fn wrap_aad(id: &str, version: u32, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(id.len() + 5 + context.len());
    aad.extend_from_slice(id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(context);
    aad
}

pub struct ManagedKeys {
    meta: Arc<dyn MetaStore>,
    master: MasterKeys,
    clock: SharedClock,
    region: String,
    /// Opened material by (key id, version). A version's material never changes, so this is
    /// never stale; whether a key is enabled is read from its record every time.
    opened: Mutex<HashMap<(String, u32), Arc<LessSafeKey>>>,
}

impl ManagedKeys {
    pub fn new(meta: Arc<dyn MetaStore>, master: MasterKeys, clock: SharedClock, region: String) -> Self {
        Self {
            meta,
            master,
            clock,
            region,
            opened: Mutex::default(),
        }
    }

    fn new_material(&self, id: &str, version: u32) -> String {
        self.master
            .seal(&material_context(id, version), &rand::random::<[u8; 32]>())
    }

    fn disabled(&self, id: &str) -> KmsError {
        KmsError::Disabled(arn(&self.region, id))
    }

    fn cached(&self, id: &str, version: u32) -> Option<Arc<LessSafeKey>> {
        self.opened
            .lock()
            .ok()
            .and_then(|m| m.get(&(id.to_owned(), version)).cloned())
    }

    /// The cipher of one version of a key's material.
    fn material(&self, record: &KeyRecord, version: u32) -> Result<Arc<LessSafeKey>, KmsError> {
        if let Some(k) = self.cached(&record.id, version) {
            return Ok(k);
        }
        let sealed = version
            .checked_sub(1)
            .and_then(|i| record.versions.get(i as usize))
            .ok_or(KmsError::Damaged)?;
        let raw = self
            .master
            .open(&material_context(&record.id, version), sealed)
            .map_err(|_| KmsError::Damaged)?;
        let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| KmsError::Damaged)?;
        let key = Arc::new(LessSafeKey::new(key));
        if let Ok(mut m) = self.opened.lock() {
            m.insert((record.id.clone(), version), key.clone());
        }
        Ok(key)
    }

    async fn read(&self, key: &KeyRef) -> Result<Option<KeyRecord>, KmsError> {
        let mut txn = self.meta.begin_read().await?;
        let found = find(&mut *txn, key).await;
        let _ = txn.rollback().await;
        found
    }

    /// The record `key` names, creating the keys the store makes on first use (its SSE-S3 key
    /// and the default `aws/s3`).
    async fn record(&self, key: &KeyRef) -> Result<KeyRecord, KmsError> {
        if let Some(r) = self.read(key).await? {
            return Ok(r);
        }
        match key {
            KeyRef::StoreSse => self.insert(SSE_S3_KEY_ID.to_owned(), None, "SSE-S3").await,
            KeyRef::Alias(a) if a == DEFAULT_ALIAS => {
                let id = uuid::Uuid::new_v4().to_string();
                self.insert(id, Some(DEFAULT_ALIAS), "Default key for aws:kms")
                    .await
            }
            other => Err(KmsError::NotFound(other.display())),
        }
    }

    /// Creates a key; a made-on-first-use key another gateway created meanwhile is returned as
    /// it is.
    async fn insert(
        &self,
        id: String,
        alias: Option<&str>,
        description: &str,
    ) -> Result<KeyRecord, KmsError> {
        let record = KeyRecord {
            versions: vec![self.new_material(&id, 1)],
            id,
            alias: alias.map(str::to_owned),
            description: description.to_owned(),
            enabled: true,
            created: Nanos::from_time(self.clock.now()),
        };
        transact(&*self.meta, &record, |txn, record| {
            Box::pin(async move {
                let made_by_store =
                    record.id == SSE_S3_KEY_ID || record.alias.as_deref() == Some(DEFAULT_ALIAS);
                // The SSE-S3 key answers only to its own name (not to its id, which clients
                // could send): asked by id, a racer would never see the key another made, and
                // would replace its material under the data keys already wrapped with it.
                let existing = match &record.alias {
                    Some(a) => find(txn, &KeyRef::Alias(a.clone())).await?,
                    None if record.id == SSE_S3_KEY_ID => find(txn, &KeyRef::StoreSse).await?,
                    None => find(txn, &KeyRef::Id(record.id.clone())).await?,
                };
                match existing {
                    Some(found) if made_by_store => return Ok(found),
                    Some(_) => return Err(KmsError::AliasInUse(record.alias.clone().unwrap_or_default())),
                    None => {}
                }
                if let Some(a) = &record.alias {
                    txn.put(&keys::kms_alias(a), record.id.as_bytes()).await?;
                }
                txn.put(&keys::kms_key(&record.id), &model::encode(record))
                    .await?;
                Ok(record.clone())
            })
        })
        .await
    }

    /// Changes a client-nameable key in one transaction.
    async fn update(
        &self,
        key: &KeyRef,
        change: impl Fn(&mut KeyRecord) + Sync,
    ) -> Result<KeyInfo, KmsError> {
        // The default key may not exist yet; naming it makes it.
        self.record(key).await?;
        transact(&*self.meta, &(key, &change), |txn, (key, change)| {
            Box::pin(async move {
                let mut record = find(txn, key)
                    .await?
                    .ok_or_else(|| KmsError::NotFound(key.display()))?;
                change(&mut record);
                txn.put(&keys::kms_key(&record.id), &model::encode(&record))
                    .await?;
                Ok(record.info())
            })
        })
        .await
    }
}

/// The record `key` names, if any. The store's SSE-S3 key answers only to [`KeyRef::StoreSse`].
async fn find(txn: &mut dyn MetaTxn, key: &KeyRef) -> Result<Option<KeyRecord>, KmsError> {
    let id = match key {
        KeyRef::StoreSse => SSE_S3_KEY_ID.to_owned(),
        KeyRef::Id(id) if id == SSE_S3_KEY_ID => return Ok(None),
        KeyRef::Id(id) => id.clone(),
        KeyRef::Alias(a) => match txn.get(&keys::kms_alias(a)).await? {
            Some(id) => String::from_utf8_lossy(&id).into_owned(),
            None => return Ok(None),
        },
    };
    let k = keys::kms_key(&id);
    match txn.get(&k).await? {
        Some(raw) => Ok(Some(model::decode(&k, &raw)?)),
        None => Ok(None),
    }
}

fn client_key(key: &KeyRef) -> Result<(), KmsError> {
    match key {
        KeyRef::StoreSse => Err(KmsError::NotAllowed(
            "the store's SSE-S3 key cannot be changed".into(),
        )),
        _ => Ok(()),
    }
}

#[async_trait]
impl KeyService for ManagedKeys {
    async fn create(&self, alias: Option<&str>, description: &str) -> Result<KeyInfo, KmsError> {
        if let Some(a) = alias {
            valid_alias(a)?;
            if a.starts_with("aws/") {
                return Err(KmsError::InvalidName(format!(
                    "alias/{a}: the aws/ prefix is reserved"
                )));
            }
        }
        if description.len() > MAX_DESCRIPTION {
            return Err(KmsError::NotAllowed(format!(
                "a description is at most {MAX_DESCRIPTION} bytes"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        Ok(self.insert(id, alias, description).await?.info())
    }

    async fn list(&self) -> Result<Vec<KeyInfo>, KmsError> {
        let (start, end) = keys::all_kms_keys();
        let mut txn = self.meta.begin_read().await?;
        let rows = txn.scan(&start, &end, usize::MAX).await;
        let _ = txn.rollback().await;
        let mut out = Vec::new();
        for (k, v) in rows? {
            let record: KeyRecord = model::decode(&k, &v)?;
            if record.id != SSE_S3_KEY_ID {
                out.push(record.info());
            }
        }
        Ok(out)
    }

    async fn describe(&self, key: &KeyRef) -> Result<KeyInfo, KmsError> {
        client_key(key)?;
        Ok(self.record(key).await?.info())
    }

    async fn set_enabled(&self, key: &KeyRef, enabled: bool) -> Result<KeyInfo, KmsError> {
        client_key(key)?;
        self.update(key, move |r| r.enabled = enabled).await
    }

    async fn rotate(&self, key: &KeyRef) -> Result<KeyInfo, KmsError> {
        client_key(key)?;
        let current = self.record(key).await?;
        let next = current.newest() + 1;
        let material = self.new_material(&current.id, next);
        let info = self
            .update(key, move |r| {
                // Another rotation won the race: keep its version rather than stack a second.
                if r.newest() + 1 == next {
                    r.versions.push(material.clone());
                }
            })
            .await?;
        Ok(info)
    }

    async fn generate_data_key(
        &self,
        key: &KeyRef,
        context: &[u8],
    ) -> Result<(DataKey, WrappedKey), KmsError> {
        // The SSE-S3 key is never disabled nor rotated: once opened, no read is needed.
        let (id, version, kek) = match self.cached(SSE_S3_KEY_ID, 1) {
            Some(kek) if *key == KeyRef::StoreSse => (SSE_S3_KEY_ID.to_owned(), 1, kek),
            _ => {
                let record = self.record(key).await?;
                if !record.enabled {
                    return Err(self.disabled(&record.id));
                }
                let version = record.newest();
                let kek = self.material(&record, version)?;
                (record.id, version, kek)
            }
        };
        let data = DataKey::random();
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = data.0.to_vec();
        kek.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(&id, version, context)),
            &mut sealed,
        )
        .map_err(|_| KmsError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        let wrapped = WrappedKey {
            key_id: id,
            version,
            sealed: B64.encode(out),
        };
        Ok((data, wrapped))
    }

    async fn unwrap_data_keys(
        &self,
        wrapped: &[&WrappedKey],
        context: &[u8],
    ) -> Result<Vec<DataKey>, KmsError> {
        // One record read per key, not per blob: a multipart object has many blobs, one key.
        let mut records: HashMap<&str, KeyRecord> = HashMap::new();
        let mut out = Vec::with_capacity(wrapped.len());
        for w in wrapped {
            let kek = match self.cached(&w.key_id, w.version) {
                Some(kek) if w.key_id == SSE_S3_KEY_ID => kek,
                _ => {
                    if !records.contains_key(w.key_id.as_str()) {
                        let key = match w.key_id.as_str() {
                            SSE_S3_KEY_ID => KeyRef::StoreSse,
                            id => KeyRef::Id(id.to_owned()),
                        };
                        let record = self
                            .read(&key)
                            .await?
                            .ok_or_else(|| KmsError::NotFound(arn(&self.region, &w.key_id)))?;
                        if !record.enabled {
                            return Err(self.disabled(&record.id));
                        }
                        records.insert(&w.key_id, record);
                    }
                    let record = records.get(w.key_id.as_str()).ok_or(KmsError::Damaged)?;
                    self.material(record, w.version)?
                }
            };
            let raw = B64.decode(&w.sealed).map_err(|_| KmsError::Damaged)?;
            if raw.len() < NONCE_LEN {
                return Err(KmsError::Damaged);
            }
            let (nonce, sealed) = raw.split_at(NONCE_LEN);
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsError::Damaged)?;
            let mut buf = sealed.to_vec();
            let plain = kek
                .open_in_place(
                    nonce,
                    Aad::from(wrap_aad(&w.key_id, w.version, context)),
                    &mut buf,
                )
                .map_err(|_| KmsError::Damaged)?;
            out.push(DataKey(plain.try_into().map_err(|_| KmsError::Damaged)?));
        }
        Ok(out)
    }

    async fn reseal(&self) -> Result<u64, KmsError> {
        let (mut start, end) = keys::all_kms_keys();
        let mut resealed = 0u64;
        loop {
            let (count, next) = transact(
                &*self.meta,
                &(&self.master, start, &end),
                |txn, (master, start, end)| Box::pin(reseal_batch(txn, master, start, end)),
            )
            .await?;
            resealed += count;
            match next {
                Some(next) => start = next,
                None => return Ok(resealed),
            }
        }
    }
}

/// Re-seals one batch of key records from `start`: returns how many versions, and where the
/// next batch begins.
async fn reseal_batch(
    txn: &mut dyn MetaTxn,
    master: &MasterKeys,
    start: &[u8],
    end: &[u8],
) -> Result<(u64, Option<Vec<u8>>), KmsError> {
    let rows = txn.scan(start, end, RESEAL_BATCH).await?;
    let next = (rows.len() == RESEAL_BATCH)
        .then(|| rows.last().map(|(k, _)| keys::successor(k)))
        .flatten();
    let mut count = 0;
    for (k, v) in &rows {
        let mut record: KeyRecord = model::decode(k, v)?;
        let mut changed = false;
        for (i, sealed) in record.versions.iter_mut().enumerate() {
            let context = material_context(&record.id, i as u32 + 1);
            if master.sealing().open(&context, sealed).is_ok() {
                continue;
            }
            let raw = master.open(&context, sealed).map_err(|_| KmsError::Damaged)?;
            *sealed = master.seal(&context, &raw);
            changed = true;
            count += 1;
        }
        if changed {
            txn.put(k, &model::encode(&record)).await?;
        }
    }
    Ok((count, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::MasterKey;

    fn master(byte: u8, extra: &[u8]) -> MasterKeys {
        let key = |b: u8| MasterKey::from_base64(&B64.encode([b; 32])).unwrap();
        MasterKeys::new(key(byte), extra.iter().map(|b| key(*b)).collect())
    }

    /// Every backend: the embedded store always, TiKV when `TIKV_PD_ENDPOINTS` is set.
    async fn backends(dir: &std::path::Path) -> Vec<Arc<dyn MetaStore>> {
        let embedded = crate::meta::fjall::EmbeddedStore::open(&dir.join("meta")).unwrap();
        let mut out: Vec<Arc<dyn MetaStore>> = vec![Arc::new(embedded)];
        if let Some(endpoints) = std::env::var("TIKV_PD_ENDPOINTS").ok().filter(|e| !e.is_empty()) {
            let prefix = format!("kms-{:016x}", rand::random::<u64>());
            let tls = crate::meta::tikv::TlsPaths::from_parts(None, None, None).unwrap();
            let store = crate::meta::tikv::open(&format!("tikv://{endpoints}/{prefix}"), tls)
                .await
                .unwrap();
            out.push(Arc::new(store));
        }
        out
    }

    fn service(meta: Arc<dyn MetaStore>, master: MasterKeys) -> ManagedKeys {
        ManagedKeys::new(
            meta,
            master,
            Arc::new(crate::clock::SystemClock),
            "us-east-1".into(),
        )
    }

    async fn round_trip(keys: &ManagedKeys, key: &KeyRef, context: &[u8]) -> Result<(), KmsError> {
        let (data, wrapped) = keys.generate_data_key(key, context).await?;
        let opened = keys.unwrap_data_keys(&[&wrapped], context).await?;
        assert_eq!(opened[0].0, data.0);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rotated_keys_open_every_old_data_key_and_disabled_keys_open_none() {
        let dir = tempfile::tempdir().unwrap();
        for meta in backends(dir.path()).await {
            let keys = service(meta, master(1, &[]));
            let alias = format!("app-{}", uuid::Uuid::new_v4().simple());
            let info = keys.create(Some(&alias), "test").await.unwrap();
            let key = KeyRef::Alias(alias.clone());
            let (data, old) = keys.generate_data_key(&key, b"ctx").await.unwrap();
            let rotated = keys.rotate(&KeyRef::Id(info.id.clone())).await.unwrap();
            assert_eq!(rotated.versions, 2);
            let (_, new) = keys.generate_data_key(&key, b"ctx").await.unwrap();
            assert_eq!((old.version, new.version), (1, 2));
            assert_eq!(keys.unwrap_data_keys(&[&old], b"ctx").await.unwrap()[0].0, data.0);
            assert!(matches!(
                keys.unwrap_data_keys(&[&old], b"other ctx").await,
                Err(KmsError::Damaged)
            ));
            keys.set_enabled(&key, false).await.unwrap();
            assert!(matches!(
                keys.unwrap_data_keys(&[&old], b"ctx").await,
                Err(KmsError::Disabled(_))
            ));
            assert!(matches!(
                keys.generate_data_key(&key, b"ctx").await,
                Err(KmsError::Disabled(_))
            ));
            keys.set_enabled(&key, true).await.unwrap();
            round_trip(&keys, &key, b"ctx").await.unwrap();
            assert!(matches!(
                keys.create(Some(&alias), "again").await,
                Err(KmsError::AliasInUse(_))
            ));
            let listed = keys.list().await.unwrap();
            assert!(listed.iter().any(|k| k.id == info.id));
            assert!(listed.iter().all(|k| k.id != SSE_S3_KEY_ID));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn store_keys_are_made_on_first_use_and_hidden_from_clients() {
        let dir = tempfile::tempdir().unwrap();
        for meta in backends(dir.path()).await {
            let keys = service(meta, master(1, &[]));
            round_trip(&keys, &KeyRef::StoreSse, b"").await.unwrap();
            round_trip(&keys, &KeyRef::Alias(DEFAULT_ALIAS.into()), b"")
                .await
                .unwrap();
            assert!(matches!(
                keys.describe(&KeyRef::Id(SSE_S3_KEY_ID.into())).await,
                Err(KmsError::NotFound(_))
            ));
            assert!(matches!(
                keys.generate_data_key(&KeyRef::Id(uuid::Uuid::new_v4().to_string()), b"")
                    .await,
                Err(KmsError::NotFound(_))
            ));
        }
    }

    /// Many first writes at once all make the store's SSE-S3 key: one material is kept, and
    /// every data key wrapped meanwhile opens with it, read afresh (as after a restart).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_first_uses_of_the_sse_s3_key_keep_one_material() {
        let dir = tempfile::tempdir().unwrap();
        for meta in backends(dir.path()).await {
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let keys = service(meta.clone(), master(1, &[]));
                    tokio::spawn(async move { keys.generate_data_key(&KeyRef::StoreSse, b"").await })
                })
                .collect();
            let mut wrapped = Vec::new();
            for t in tasks {
                // A racer that lost every attempt fails (its write is refused), never wraps
                // under a material that is not kept.
                if let Ok((data, w)) = t.await.unwrap() {
                    wrapped.push((data, w));
                }
            }
            assert!(!wrapped.is_empty());
            let fresh = service(meta.clone(), master(1, &[]));
            for (data, w) in &wrapped {
                let opened = fresh.unwrap_data_keys(&[w], b"").await;
                assert_eq!(opened.expect("opens with the kept material")[0].0, data.0);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_master_key_rotation_reseals_key_material_and_keeps_data_keys_open() {
        let dir = tempfile::tempdir().unwrap();
        for meta in backends(dir.path()).await {
            let old = service(meta.clone(), master(1, &[]));
            let (data, wrapped) = old.generate_data_key(&KeyRef::StoreSse, b"").await.unwrap();
            let during = service(meta.clone(), master(2, &[1]));
            assert!(during.reseal().await.unwrap() >= 1);
            let after = service(meta.clone(), master(2, &[]));
            assert_eq!(
                after.unwrap_data_keys(&[&wrapped], b"").await.unwrap()[0].0,
                data.0
            );
        }
    }
}
