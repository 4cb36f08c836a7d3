//! The chunked AES-256-GCM format every sealed blob uses, and the keys that open it.
//!
//! A blob's data key comes one of two ways. SSE-C: the customer's key is never stored. Each blob gets a random salt; its data key is
//! HMAC-SHA256(customer key, "data" || salt), so nonces can never repeat across blobs under one
//! customer key. The blob is a sequence of independently sealed AES-256-GCM chunks of
//! [`CHUNK`] plaintext bytes, each `ciphertext || 16-byte tag`, with the chunk index as nonce
//! and "is this the last chunk" as associated data: a range read decrypts only the chunks it
//! touches, and a tampered, reordered or truncated blob fails to decrypt. What is stored to
//! recognise the key later is HMAC-SHA256(customer key, "verify" || salt).
//!
//! SSE-S3 and SSE-KMS: the data key is 32 random bytes, stored only wrapped (see
//! [`WrappedKey`]) by a key of the store's key service (`crate::kms`).

use std::ops::Range;

use crate::md5_asm::Md5;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::BytesMut;
use hmac::{Hmac, KeyInit as _, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Plaintext bytes per sealed chunk.
pub const CHUNK: u64 = 64 * 1024;
/// Bytes GCM adds to each chunk.
pub const TAG: u64 = 16;
pub const ALGORITHM: &str = "AES256";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    #[error("the SSE-C algorithm must be AES256")]
    Algorithm,
    #[error("the SSE-C key must be 256 bits, base64 encoded")]
    KeyLength,
    #[error("the SSE-C key MD5 does not match the key")]
    KeyMd5,
    #[error("SSE-C needs the algorithm, the key and its MD5")]
    Incomplete,
    #[error("the provided SSE-C key does not match the object's")]
    WrongKey,
    #[error("an encrypted chunk failed authentication (the data is damaged)")]
    Damaged,
}

/// A customer key from request headers, checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    md5_b64: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("md5", &self.md5_b64)
            .finish_non_exhaustive()
    }
}

impl CustomerKey {
    /// From the three `x-amz-server-side-encryption-customer-*` values (or their copy-source
    /// twins). `Ok(None)` when none is present.
    pub fn from_headers(
        algorithm: Option<&str>,
        key: Option<&str>,
        key_md5: Option<&str>,
    ) -> Result<Option<Self>, SseError> {
        match (algorithm, key, key_md5) {
            (None, None, None) => Ok(None),
            (Some(a), Some(k), Some(m)) => {
                if a != ALGORITHM {
                    return Err(SseError::Algorithm);
                }
                let raw = B64.decode(k.trim()).map_err(|_| SseError::KeyLength)?;
                let key: [u8; 32] = raw.try_into().map_err(|_| SseError::KeyLength)?;
                let md5 = B64.encode(Md5::digest(key));
                if md5 != m.trim() {
                    return Err(SseError::KeyMd5);
                }
                Ok(Some(Self { key, md5_b64: md5 }))
            }
            _ => Err(SseError::Incomplete),
        }
    }

    pub fn md5(&self) -> &str {
        &self.md5_b64
    }

    /// The key of 32 bytes of `byte`, as its headers would give it: for tests.
    #[cfg(test)]
    pub fn of_bytes(byte: u8) -> Self {
        let raw = [byte; 32];
        Self::from_headers(
            Some(ALGORITHM),
            Some(&B64.encode(raw)),
            Some(&B64.encode(Md5::digest(raw))),
        )
        .expect("a well-formed key")
        .expect("all three headers")
    }

    fn hmac(&self, label: &[u8], salt: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(salt);
        mac.finalize().into_bytes().into()
    }

    /// What is stored to recognise this key later, with a fresh salt.
    pub fn fingerprint(&self) -> KeyFingerprint {
        let salt: [u8; 16] = rand::random();
        KeyFingerprint {
            salt: B64.encode(salt),
            hash: B64.encode(self.hmac(b"verify", &salt)),
            key_md5: self.md5_b64.clone(),
        }
    }

    pub fn matches(&self, f: &KeyFingerprint) -> bool {
        let Ok(salt) = B64.decode(&f.salt) else {
            return false;
        };
        let ours = B64.encode(self.hmac(b"verify", &salt));
        ours.len() == f.hash.len()
            && ours
                .bytes()
                .zip(f.hash.bytes())
                .fold(0u8, |a, (x, y)| a | (x ^ y))
                == 0
    }

    /// The cipher of one blob.
    pub fn sealer(&self, seal: &Seal) -> Result<Sealer, SseError> {
        let salt = B64.decode(&seal.salt).map_err(|_| SseError::Damaged)?;
        let key = UnboundKey::new(&AES_256_GCM, &self.hmac(b"data", &salt)).map_err(|_| SseError::Damaged)?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }
}

/// Stored with an SSE-C object: proves a later key is the same one, never reveals it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFingerprint {
    pub salt: String,
    pub hash: String,
    pub key_md5: String,
}

/// Stored with each sealed blob: the salt an SSE-C data key is derived with, or the wrapped
/// data key of an SSE-S3 / SSE-KMS blob (its salt then only feeds the ETag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub salt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<WrappedKey>,
}

impl Seal {
    pub fn new() -> Self {
        Self {
            salt: B64.encode(rand::random::<[u8; 16]>()),
            key: None,
        }
    }

    /// The seal of a blob whose data key the key service wrapped.
    pub fn wrapped(key: WrappedKey) -> Self {
        Self {
            key: Some(key),
            ..Self::new()
        }
    }
}

/// The id of the store's own key that wraps SSE-S3 data keys (never a KMS key's id, which is a
/// UUID).
pub const SSE_S3_KEY_ID: &str = "sse-s3";

/// A data key as stored: sealed by one version of one key-service key. Naming the key and its
/// version (rather than trying every key) is what lets keys rotate and keep every old blob
/// readable: the old versions' material is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The key-service key (`SSE_S3_KEY_ID` for SSE-S3).
    pub key_id: String,
    pub version: u32,
    /// Base64 of nonce || AES-256-GCM(data key).
    pub sealed: String,
}

/// A data key in the clear, held only while a blob is sealed or opened.
pub struct DataKey(pub [u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn sealer(&self) -> Result<Sealer, SseError> {
        let key = UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| SseError::Damaged)?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }
}

impl Default for Seal {
    fn default() -> Self {
        Self::new()
    }
}

/// AES-256-GCM over one blob's data key. `ring` rather than a pure-Rust AEAD: its assembly runs
/// at several GB/s per core, so an SSE-C GET is bounded by the disk, not the cipher.
pub struct Sealer {
    key: LessSafeKey,
}

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    // Unique per (data key, chunk index): every blob has its own key (derived from a fresh salt,
    // or random).
    Nonce::assume_unique_for_key(n)
}

impl Sealer {
    /// Seals the plaintext in `chunk` where it lies and appends the tag (no reallocation when
    /// the vector has room for it).
    pub fn seal_in_place(&self, index: u64, last: bool, chunk: &mut Vec<u8>) -> Result<(), SseError> {
        self.key
            .seal_in_place_append_tag(nonce(index), Aad::from([u8::from(last)]), chunk)
            .map_err(|_| SseError::Damaged)
    }

    /// Opens a sealed chunk where it lies, leaving its plaintext in `frame`: a GET streams
    /// gigabytes through here, so no per-chunk allocation or copy.
    pub fn open_in_place(&self, index: u64, last: bool, frame: &mut BytesMut) -> Result<(), SseError> {
        let plain = self
            .key
            .open_in_place(nonce(index), Aad::from([u8::from(last)]), frame)
            .map_err(|_| SseError::Damaged)?
            .len();
        frame.truncate(plain);
        Ok(())
    }

    pub fn open(&self, index: u64, last: bool, sealed: &[u8]) -> Result<Vec<u8>, SseError> {
        let mut frame = BytesMut::from(sealed);
        self.open_in_place(index, last, &mut frame)?;
        Ok(frame.to_vec())
    }
}

/// Bytes on disk of a blob holding `plain` plaintext bytes.
pub fn sealed_size(plain: u64) -> u64 {
    plain + plain.div_ceil(CHUNK).max(1) * TAG
}

/// The chunks covering `range` of a blob of `plain_size` plaintext bytes: their indexes, where
/// they lie in the blob, and which plaintext bytes of their concatenation are wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSpan {
    pub chunks: Range<u64>,
    pub blob_range: Range<u64>,
    pub skip: u64,
    pub take: u64,
}

pub fn span(range: Range<u64>, plain_size: u64) -> ChunkSpan {
    let last_chunk = plain_size.div_ceil(CHUNK).max(1);
    let first = range.start / CHUNK;
    let end = range.end.div_ceil(CHUNK).clamp(first + 1, last_chunk);
    let blob_start = first * (CHUNK + TAG);
    let blob_end = (end * (CHUNK + TAG)).min(sealed_size(plain_size));
    ChunkSpan {
        chunks: first..end,
        blob_range: blob_start..blob_end,
        skip: range.start - first * CHUNK,
        take: range.end - range.start,
    }
}

/// The last chunk's index of a blob of `plain_size` bytes.
pub fn last_chunk(plain_size: u64) -> u64 {
    plain_size.div_ceil(CHUNK).max(1) - 1
}

/// The ETag of a sealed body: not its plaintext MD5 (as in AWS), yet stable and unique per blob.
pub fn etag(seal: &Seal, plaintext_md5: &[u8; 16]) -> String {
    let mut h = Md5::new();
    h.update(seal.salt.as_bytes());
    h.update(plaintext_md5);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CustomerKey {
        CustomerKey::of_bytes(7)
    }

    #[test]
    fn headers_must_be_complete_consistent_and_256_bit() {
        let raw = [1u8; 32];
        let (k, m) = (B64.encode(raw), B64.encode(Md5::digest(raw)));
        assert!(CustomerKey::from_headers(None, None, None).unwrap().is_none());
        assert_eq!(
            CustomerKey::from_headers(Some("AES128"), Some(&k), Some(&m)).unwrap_err(),
            SseError::Algorithm
        );
        let short = B64.encode([1u8; 16]);
        let short_md5 = B64.encode(Md5::digest([1u8; 16]));
        assert_eq!(
            CustomerKey::from_headers(Some("AES256"), Some(&short), Some(&short_md5)).unwrap_err(),
            SseError::KeyLength
        );
        assert_eq!(
            CustomerKey::from_headers(Some("AES256"), Some(&k), Some("bm90IGl0")).unwrap_err(),
            SseError::KeyMd5
        );
        assert_eq!(
            CustomerKey::from_headers(Some("AES256"), Some(&k), None).unwrap_err(),
            SseError::Incomplete
        );
    }

    #[test]
    fn a_fingerprint_recognises_only_its_key() {
        let f = key().fingerprint();
        assert!(key().matches(&f));
        let other_raw = [8u8; 32];
        let other = CustomerKey::from_headers(
            Some("AES256"),
            Some(&B64.encode(other_raw)),
            Some(&B64.encode(Md5::digest(other_raw))),
        )
        .unwrap()
        .unwrap();
        assert!(!other.matches(&f));
        assert!(!f.hash.contains(&B64.encode([7u8; 32])));
    }

    #[test]
    fn chunks_open_only_at_their_place_and_as_last_or_not() {
        let seal = Seal::new();
        let s = key().sealer(&seal).unwrap();
        let mut sealed = b"hello".to_vec();
        s.seal_in_place(3, false, &mut sealed).unwrap();
        assert_eq!(sealed.len() as u64, 5 + TAG);
        assert_eq!(s.open(3, false, &sealed).unwrap(), b"hello");
        assert_eq!(s.open(4, false, &sealed), Err(SseError::Damaged), "moved");
        assert_eq!(
            s.open(3, true, &sealed),
            Err(SseError::Damaged),
            "truncated to end here"
        );
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert_eq!(s.open(3, false, &flipped), Err(SseError::Damaged), "tampered");
        let other_blob = key().sealer(&Seal::new()).unwrap();
        assert_eq!(
            other_blob.open(3, false, &sealed),
            Err(SseError::Damaged),
            "another blob's data key"
        );
    }

    #[test]
    fn spans_cover_exactly_the_chunks_a_range_touches() {
        let size = 3 * CHUNK + 10;
        assert_eq!(sealed_size(size), size + 4 * TAG);
        let s = span(CHUNK - 1..CHUNK + 1, size);
        assert_eq!(s.chunks, 0..2);
        assert_eq!(s.blob_range, 0..2 * (CHUNK + TAG));
        assert_eq!((s.skip, s.take), (CHUNK - 1, 2));
        let tail = span(3 * CHUNK..size, size);
        assert_eq!(tail.chunks, 3..4);
        assert_eq!(tail.blob_range, 3 * (CHUNK + TAG)..sealed_size(size));
        assert_eq!(span(0..0, 0).chunks, 0..1, "an empty object is one empty chunk");
        assert_eq!(last_chunk(0), 0);
        assert_eq!(last_chunk(CHUNK), 0);
        assert_eq!(last_chunk(CHUNK + 1), 1);
    }
}
