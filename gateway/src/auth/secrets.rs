//! Sealing secrets at rest: access-key secrets are stored encrypted (AES-256-GCM) under a master
//! key from the gateway's configuration, so a copy of the metadata does not reveal them.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct MasterKey {
    aead: Aes256Gcm,
    raw: [u8; KEY_LEN],
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be {KEY_LEN} bytes, base64 encoded")]
    BadKey,
    #[error("a sealed secret could not be opened (wrong master key, or tampered metadata)")]
    Unseal,
}

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let raw = B64.decode(text.trim()).map_err(|_| SealError::BadKey)?;
        let raw: [u8; KEY_LEN] = raw.try_into().map_err(|_| SealError::BadKey)?;
        let aead = Aes256Gcm::new_from_slice(&raw).map_err(|_| SealError::BadKey)?;
        Ok(Self { aead, raw })
    }

    /// A key for another purpose (`label` names it), derived so that it is as secret as the
    /// master key and shared by every gateway that shares it, without being the master key.
    pub fn derive(&self, label: &str) -> [u8; KEY_LEN] {
        use hmac::{Hmac, KeyInit as _, Mac as _};
        let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(&self.raw).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Reads the key at `path`, creating it (random, mode 0600) on first use. Every gateway of a
    /// store must share it (the operator mounts one from a Secret).
    pub fn load_or_create(path: &Path) -> io::Result<Self> {
        match fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let text = B64.encode(rand::random::<[u8; KEY_LEN]>());
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                Self::from_base64(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
            Err(e) => Err(e),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the access key id) so a sealed value cannot
    /// be moved to another record.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = Nonce::from(nonce_bytes);
        // Encryption with a valid key and an in-memory buffer cannot fail.
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend(sealed);
        B64.encode(out)
    }

    pub fn open(&self, context: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = B64.decode(sealed).map_err(|_| SealError::Unseal)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Unseal);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Unseal)?;
        self.aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| SealError::Unseal)
    }
}

/// The master keys a gateway holds: one seals, every one opens. Rotating the master key is
/// adding the new one beside the old (as an extra key), then making it the sealing key with the
/// old one as an extra while the store's secrets are re-sealed, then dropping the old one.
#[derive(Clone)]
pub struct MasterKeys {
    sealing: MasterKey,
    extra: Vec<MasterKey>,
}

impl MasterKeys {
    pub fn new(sealing: MasterKey, extra: Vec<MasterKey>) -> Self {
        Self { sealing, extra }
    }

    pub fn sealing(&self) -> &MasterKey {
        &self.sealing
    }

    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> String {
        self.sealing.seal(context, plaintext)
    }

    /// Opens with the sealing key or, failing that, any extra key.
    pub fn open(&self, context: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
        std::iter::once(&self.sealing)
            .chain(&self.extra)
            .find_map(|key| key.open(context, sealed).ok())
            .ok_or(SealError::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let sealed = key.seal(b"AKID1", b"top secret");
        assert!(!sealed.contains("top secret"));
        assert_eq!(key.open(b"AKID1", &sealed).unwrap(), b"top secret");
        assert!(key.open(b"AKID2", &sealed).is_err());
        let again = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        assert_eq!(again.open(b"AKID1", &sealed).unwrap(), b"top secret");
        let other = MasterKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.open(b"AKID1", &sealed).is_err());
    }

    #[test]
    fn a_keyring_seals_with_its_first_key_and_opens_with_any() {
        let dir = tempfile::tempdir().unwrap();
        let old = MasterKey::load_or_create(&dir.path().join("old.key")).unwrap();
        let new = MasterKey::load_or_create(&dir.path().join("new.key")).unwrap();
        let by_old = old.seal(b"AK", b"s");
        let ring = MasterKeys::new(new.clone(), vec![old.clone()]);
        assert_eq!(ring.open(b"AK", &by_old).unwrap(), b"s");
        let by_ring = ring.seal(b"AK", b"s");
        assert_eq!(new.open(b"AK", &by_ring).unwrap(), b"s");
        assert!(old.open(b"AK", &by_ring).is_err());
        assert!(MasterKeys::new(new, vec![]).open(b"AK", &by_old).is_err());
    }
}
