//! The store's side of the master key. The store remembers a value sealed under it, so a gateway
//! started with another key (a regenerated Secret, a wrong file) refuses to start with a message
//! naming the cause, instead of failing every request of every user whose secret it cannot open.
//! And after a rotation (a new sealing key, the old one kept as an extra key), the secrets still
//! sealed under the old key are sealed again under the new one.

use super::identity::KeyRecord;
use super::secrets::MasterKeys;
use crate::meta::{MetaError, MetaStore, MetaTxn, keys, transact};
use crate::model;

const CHECK_SETTING: &str = "master-key-check";
/// What the check value seals; bound to its own context so no other sealed value can pass.
const CHECK_PLAINTEXT: &[u8] = b"stowage master key check v1";
/// Access keys re-sealed per transaction.
const RESEAL_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum MasterCheckError {
    #[error(
        "the master key does not open this store's secrets: it is not the key the store was created with (was the master key Secret regenerated, or --master-key-file pointed elsewhere?); start with the store's key, or during a rotation give the old one with --extra-master-key-file"
    )]
    WrongKey,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Verifies that `keys` open the store's secrets, recording a check value on first start.
pub async fn verify(meta: &dyn MetaStore, keys: &MasterKeys) -> Result<(), MasterCheckError> {
    transact(meta, keys, |txn, keys| Box::pin(check_in(txn, keys))).await
}

/// Checks `keys` against the check value, recording one if the store has none.
async fn check_in(txn: &mut dyn MetaTxn, keys: &MasterKeys) -> Result<(), MasterCheckError> {
    let key = keys::setting(CHECK_SETTING);
    if let Some(sealed) = txn.get(&key).await? {
        return match keys.open(CHECK_SETTING.as_bytes(), &String::from_utf8_lossy(&sealed)) {
            Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
            _ => Err(MasterCheckError::WrongKey),
        };
    }
    // A store from before check values: its key secrets tell whether these are its keys.
    let (start, end) = keys::all_access_keys();
    if let Some((k, v)) = txn.scan(&start, &end, 1).await?.into_iter().next() {
        let record: KeyRecord = model::decode(&k, &v)?;
        if keys
            .open(record.access_key_id.as_bytes(), &record.sealed_secret)
            .is_err()
        {
            return Err(MasterCheckError::WrongKey);
        }
    }
    txn.put(
        &key,
        keys.seal(CHECK_SETTING.as_bytes(), CHECK_PLAINTEXT).as_bytes(),
    )
    .await?;
    Ok(())
}

/// Seals again under the sealing key every secret (and the check value) that only an extra key
/// opens; returns how many secrets it re-sealed. Idempotent, and safe on several gateways at
/// once: each batch is one transaction.
pub async fn reseal(meta: &dyn MetaStore, keys: &MasterKeys) -> Result<u64, MasterCheckError> {
    let (mut start, end) = keys::all_access_keys();
    let mut resealed = 0u64;
    loop {
        let (count, next) = transact(meta, &(keys, start, &end), |txn, (keys, start, end)| {
            Box::pin(reseal_batch(txn, keys, start, end))
        })
        .await?;
        resealed += count;
        match next {
            Some(next) => start = next,
            None => break,
        }
    }
    transact(meta, keys, |txn, keys| Box::pin(reseal_check(txn, keys))).await?;
    Ok(resealed)
}

/// Seals the check value under the sealing key, if an extra key sealed it.
async fn reseal_check(txn: &mut dyn MetaTxn, keys: &MasterKeys) -> Result<(), MasterCheckError> {
    let key = keys::setting(CHECK_SETTING);
    let sealed = txn.get(&key).await?;
    let by_sealing_key = |c: &[u8]| {
        keys.sealing()
            .open(CHECK_SETTING.as_bytes(), &String::from_utf8_lossy(c))
            .is_ok()
    };
    if sealed.is_some_and(|c| !by_sealing_key(&c)) {
        txn.put(
            &key,
            keys.seal(CHECK_SETTING.as_bytes(), CHECK_PLAINTEXT).as_bytes(),
        )
        .await?;
    }
    Ok(())
}

/// Re-seals one batch of access keys from `start`; returns how many, and where the next begins.
async fn reseal_batch(
    txn: &mut dyn MetaTxn,
    keys: &MasterKeys,
    start: &[u8],
    end: &[u8],
) -> Result<(u64, Option<Vec<u8>>), MasterCheckError> {
    let rows = txn.scan(start, end, RESEAL_BATCH).await?;
    let next = (rows.len() == RESEAL_BATCH).then(|| rows.last().map(|(k, _)| keys::successor(k)));
    let mut count = 0;
    for (k, v) in &rows {
        let mut record: KeyRecord = model::decode(k, v)?;
        let context = record.access_key_id.clone();
        if keys
            .sealing()
            .open(context.as_bytes(), &record.sealed_secret)
            .is_ok()
        {
            continue;
        }
        let secret = keys
            .open(context.as_bytes(), &record.sealed_secret)
            .map_err(|_| MasterCheckError::WrongKey)?;
        record.sealed_secret = keys.seal(context.as_bytes(), &secret);
        txn.put(k, &model::encode(&record)).await?;
        count += 1;
    }
    Ok((count, next.flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::MasterKey;
    use base64::Engine as _;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    fn ring(sealing: u8, extra: &[u8]) -> MasterKeys {
        MasterKeys::new(key(sealing), extra.iter().map(|b| key(*b)).collect())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_first_key_is_remembered_and_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::meta::fjall::EmbeddedStore::open(&dir.path().join("meta")).unwrap();
        verify(&meta, &ring(1, &[])).await.unwrap();
        verify(&meta, &ring(1, &[])).await.unwrap();
        assert!(matches!(
            verify(&meta, &ring(2, &[])).await,
            Err(MasterCheckError::WrongKey)
        ));
        // During a rotation the old key, kept as an extra, still opens the store.
        verify(&meta, &ring(2, &[1])).await.unwrap();
        reseal(&meta, &ring(2, &[1])).await.unwrap();
        verify(&meta, &ring(2, &[])).await.unwrap();
        assert!(matches!(
            verify(&meta, &ring(1, &[])).await,
            Err(MasterCheckError::WrongKey)
        ));
    }
}
