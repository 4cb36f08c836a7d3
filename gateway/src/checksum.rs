//! Object digests: the MD5 behind the ETag and the five S3 checksum algorithms, computed in one
//! pass over the body as it streams to disk.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    #[serde(rename = "CRC32")]
    Crc32,
    #[serde(rename = "CRC32C")]
    Crc32c,
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [Self; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Crc64Nvme,
        Self::Sha1,
        Self::Sha256,
    ];

    /// Parses the value of `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    /// The header (and trailer) that carries a value of this algorithm.
    pub fn header_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Whether `value` is the base64 of a digest of this algorithm's length.
    pub fn is_well_formed(self, value: &str) -> bool {
        B64.decode(value).is_ok_and(|raw| raw.len() == self.digest_len())
    }
}

/// A checksum as stored with an object and returned to clients (base64 of the big-endian digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: String,
}

enum Hasher {
    Crc(CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc(CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => Self::Crc(CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc(CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
            ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(d) => d.update(data),
            Self::Sha1(d) => d.update(data),
            Self::Sha256(d) => d.update(data),
        }
    }

    fn finish(self, algorithm: ChecksumAlgorithm) -> Vec<u8> {
        match self {
            Self::Crc(d) => {
                let v = d.finalize();
                match algorithm {
                    ChecksumAlgorithm::Crc64Nvme => v.to_be_bytes().to_vec(),
                    // CRC32 variants live in the low 32 bits.
                    _ => (v as u32).to_be_bytes().to_vec(),
                }
            }
            Self::Sha1(d) => d.finalize().to_vec(),
            Self::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

/// Everything computed over a body in one pass: size, MD5, and one S3 checksum.
pub struct BodyDigest {
    size: u64,
    md5: Md5,
    algorithm: ChecksumAlgorithm,
    hasher: Hasher,
}

#[derive(Debug, Clone)]
pub struct BodyDigests {
    pub size: u64,
    pub md5: [u8; 16],
    pub checksum: Checksum,
}

impl BodyDigests {
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

impl BodyDigest {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        Self {
            size: 0,
            md5: Md5::new(),
            algorithm,
            hasher: Hasher::new(algorithm),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        self.md5.update(data);
        self.hasher.update(data);
    }

    pub fn finish(self) -> BodyDigests {
        let value = B64.encode(self.hasher.finish(self.algorithm));
        BodyDigests {
            size: self.size,
            md5: self.md5.finalize().into(),
            checksum: Checksum {
                algorithm: self.algorithm,
                value,
            },
        }
    }
}

/// Decodes a `Content-MD5` header: base64 of exactly 16 bytes.
pub fn decode_content_md5(value: &str) -> Option<[u8; 16]> {
    B64.decode(value.trim()).ok().and_then(|raw| raw.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut d = BodyDigest::new(algorithm);
        for chunk in data.chunks(3) {
            d.update(chunk);
        }
        d.finish().checksum.value
    }

    #[test]
    fn checksums_match_aws_reference_values() {
        // Values S3 returns for the body "hello world".
        let body = b"hello world";
        assert_eq!(checksum_of(ChecksumAlgorithm::Crc32, body), "DUoRhQ==");
        assert_eq!(checksum_of(ChecksumAlgorithm::Crc32c, body), "yZRlqg==");
        assert_eq!(checksum_of(ChecksumAlgorithm::Crc64Nvme, body), "jSnVw/bqjr4=");
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha1, body),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha256, body),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn md5_and_size_cover_every_chunk() {
        let mut d = BodyDigest::new(ChecksumAlgorithm::Crc64Nvme);
        d.update(b"hello ");
        d.update(b"world");
        let out = d.finish();
        assert_eq!(out.size, 11);
        assert_eq!(out.md5_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
    }

    #[test]
    fn parses_algorithm_names_case_insensitively() {
        assert_eq!(
            ChecksumAlgorithm::parse("crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(
            ChecksumAlgorithm::parse("SHA256"),
            Some(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(ChecksumAlgorithm::parse("MD5"), None);
    }

    #[test]
    fn well_formedness_checks_digest_length() {
        assert!(ChecksumAlgorithm::Crc32.is_well_formed("DUoRhQ=="));
        assert!(!ChecksumAlgorithm::Crc32.is_well_formed("jSnVw/bqjr4="));
        assert!(!ChecksumAlgorithm::Sha1.is_well_formed("not base64!"));
    }

    #[test]
    fn content_md5_must_be_16_bytes_of_base64() {
        assert!(decode_content_md5("XrY7u+Ae7tCTyyK7j1rNww==").is_some());
        assert!(decode_content_md5("XrY7u+Ae7tCTyyK7").is_none());
        assert!(decode_content_md5("@@@").is_none());
    }
}
