//! The store remembers a value sealed under its master key, so a gateway started with another
//! key (a regenerated Secret, a wrong file) refuses to start with a message naming the cause,
//! instead of failing every request of every user whose secret it cannot open.

use super::identity::KeyRecord;
use super::secrets::MasterKey;
use crate::meta::{MetaError, MetaStore, keys};

const CHECK_SETTING: &str = "master-key-check";
/// What the check value seals; bound to its own context so no other sealed value can pass.
const CHECK_PLAINTEXT: &[u8] = b"stowage master key check v1";

#[derive(Debug, thiserror::Error)]
pub enum MasterCheckError {
    #[error(
        "the master key does not open this store's secrets: it is not the key the store was created with (was the master key Secret regenerated, or --master-key-file pointed elsewhere?); start with the store's key"
    )]
    WrongKey,
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Verifies `master` against the store's check value, recording one on first start.
pub async fn verify(meta: &dyn MetaStore, master: &MasterKey) -> Result<(), MasterCheckError> {
    let key = keys::setting(CHECK_SETTING);
    let mut txn = meta.begin().await?;
    let stored = match txn.get(&key).await {
        Ok(v) => v,
        Err(e) => {
            let _ = txn.rollback().await;
            return Err(e.into());
        }
    };
    match stored {
        Some(sealed) => {
            let _ = txn.rollback().await;
            let sealed = String::from_utf8_lossy(&sealed);
            match master.open(CHECK_SETTING.as_bytes(), &sealed) {
                Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
                _ => Err(MasterCheckError::WrongKey),
            }
        }
        None => {
            // A store from before check values: its key secrets tell whether this is its key.
            let (start, end) = keys::all_access_keys();
            let sample = match txn.scan(&start, &end, 1).await {
                Ok(rows) => rows.into_iter().next(),
                Err(e) => {
                    let _ = txn.rollback().await;
                    return Err(e.into());
                }
            };
            if let Some((k, v)) = sample {
                let record: KeyRecord = crate::model::decode(&k, &v)?;
                if master
                    .open(record.access_key_id.as_bytes(), &record.sealed_secret)
                    .is_err()
                {
                    let _ = txn.rollback().await;
                    return Err(MasterCheckError::WrongKey);
                }
            }
            let sealed = master.seal(CHECK_SETTING.as_bytes(), CHECK_PLAINTEXT);
            if let Err(e) = txn.put(&key, sealed.as_bytes()).await {
                let _ = txn.rollback().await;
                return Err(e.into());
            }
            match txn.commit().await {
                // Another gateway recorded it first: check against theirs.
                Err(MetaError::Conflict) => Box::pin(verify(meta, master)).await,
                other => Ok(other?),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_first_key_is_remembered_and_another_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let meta = crate::meta::fjall::EmbeddedStore::open(&dir.path().join("meta")).unwrap();
        verify(&meta, &key(1)).await.unwrap();
        verify(&meta, &key(1)).await.unwrap();
        assert!(matches!(
            verify(&meta, &key(2)).await,
            Err(MasterCheckError::WrongKey)
        ));
    }
}
