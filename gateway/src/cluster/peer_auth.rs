//! Authenticating gateway-to-gateway requests: HMAC-SHA256 under a store-internal secret over
//! the method, the path and a near expiry. S3 credentials mean nothing here, and a captured
//! request stops working within a minute.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use sha2::Sha256;

pub const EXPIRES_HEADER: &str = "x-stowage-peer-expires";
pub const SIGNATURE_HEADER: &str = "x-stowage-peer-signature";
/// How long a signed peer request stays valid: long enough for clock skew between gateways,
/// short enough that a replayed request is soon useless.
pub const VALIDITY: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct PeerKey([u8; 32]);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerAuthError {
    #[error("missing peer signature")]
    Unsigned,
    #[error("peer request expired or not yet valid")]
    Expired,
    #[error("peer signature does not match")]
    Forged,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl PeerKey {
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// A key from a secret of any length (a file's contents): its SHA-256.
    pub fn from_secret(secret: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(Sha256::digest(secret).into())
    }

    fn mac(&self, method: &str, path: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("stowage-peer-v1\n{method}\n{path}\n{expires}").as_bytes());
        mac
    }

    /// The headers that authenticate `method path` until `now + VALIDITY`.
    pub fn sign(&self, method: &str, path: &str, now: SystemTime) -> [(&'static str, String); 2] {
        let expires = unix_secs(now + VALIDITY);
        let signature = hex::encode(self.mac(method, path, expires).finalize().into_bytes());
        [
            (EXPIRES_HEADER, expires.to_string()),
            (SIGNATURE_HEADER, signature),
        ]
    }

    pub fn verify(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<(), PeerAuthError> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(expires), Some(signature)) = (header(EXPIRES_HEADER), header(SIGNATURE_HEADER)) else {
            return Err(PeerAuthError::Unsigned);
        };
        let expires: u64 = expires.parse().map_err(|_| PeerAuthError::Forged)?;
        let now = unix_secs(now);
        // Valid from `expires - VALIDITY` (allowing as much again for clock skew) to `expires`.
        if expires < now || expires > now + 2 * VALIDITY.as_secs() {
            return Err(PeerAuthError::Expired);
        }
        let signature = hex::decode(signature).map_err(|_| PeerAuthError::Forged)?;
        self.mac(method, path, expires)
            .verify_slice(&signature)
            .map_err(|_| PeerAuthError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_signature_verifies_only_for_its_request_key_and_time() {
        let key = PeerKey::new([7; 32]);
        let now = SystemTime::now();
        let signed = headers(&key.sign("GET", "/_stowage/peer/blobs/x", now));
        assert_eq!(key.verify("GET", "/_stowage/peer/blobs/x", &signed, now), Ok(()));
        assert_eq!(
            key.verify("PUT", "/_stowage/peer/blobs/x", &signed, now),
            Err(PeerAuthError::Forged)
        );
        assert_eq!(
            key.verify("GET", "/_stowage/peer/blobs/y", &signed, now),
            Err(PeerAuthError::Forged)
        );
        assert_eq!(
            PeerKey::new([8; 32]).verify("GET", "/_stowage/peer/blobs/x", &signed, now),
            Err(PeerAuthError::Forged)
        );
        assert_eq!(
            key.verify("GET", "/_stowage/peer/blobs/x", &signed, now + 2 * VALIDITY),
            Err(PeerAuthError::Expired)
        );
        assert_eq!(
            key.verify("GET", "/_stowage/peer/blobs/x", &HeaderMap::new(), now),
            Err(PeerAuthError::Unsigned)
        );
    }
}
