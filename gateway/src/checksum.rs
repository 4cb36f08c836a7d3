//! Object digests: the MD5 behind the ETag and the five S3 checksum algorithms, computed in one
//! pass over the body as it streams to disk.

use crate::md5_asm::Md5;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Digest as _;
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

/// How an object's checksum covers it: over all its bytes, or (multipart) over its parts'
/// checksums, written `<base64>-<parts>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumKind {
    #[default]
    #[serde(rename = "FULL_OBJECT")]
    FullObject,
    #[serde(rename = "COMPOSITE")]
    Composite,
}

impl ChecksumKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "FULL_OBJECT" => Some(Self::FullObject),
            "COMPOSITE" => Some(Self::Composite),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullObject => "FULL_OBJECT",
            Self::Composite => "COMPOSITE",
        }
    }

    /// The kinds S3 allows per algorithm: CRC64NVME is FULL_OBJECT only, SHA-1 and SHA-256
    /// COMPOSITE only, the CRC32s either.
    pub fn allowed_for(self, algorithm: ChecksumAlgorithm) -> bool {
        match algorithm {
            ChecksumAlgorithm::Crc64Nvme => self == Self::FullObject,
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => self == Self::Composite,
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => true,
        }
    }

    /// What S3 picks for a multipart upload that names an algorithm but no type.
    pub fn default_for(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc64Nvme => Self::FullObject,
            _ => Self::Composite,
        }
    }
}

/// A checksum as stored with an object and returned to clients (base64 of the big-endian digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: String,
    #[serde(default)]
    pub kind: ChecksumKind,
}

impl Checksum {
    pub fn full_object(algorithm: ChecksumAlgorithm, value: String) -> Self {
        Self {
            algorithm,
            value,
            kind: ChecksumKind::FullObject,
        }
    }
}

fn crc_algorithm(algorithm: ChecksumAlgorithm) -> Option<CrcAlgorithm> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

fn crc_from_b64(value: &str) -> Option<u64> {
    let raw = B64.decode(value).ok()?;
    match raw.len() {
        4 => Some(u64::from(u32::from_be_bytes(raw.try_into().ok()?))),
        8 => Some(u64::from_be_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

fn crc_to_b64(algorithm: ChecksumAlgorithm, crc: u64) -> String {
    match algorithm {
        ChecksumAlgorithm::Crc64Nvme => B64.encode(crc.to_be_bytes()),
        _ => B64.encode((crc as u32).to_be_bytes()),
    }
}

/// The CRC of a whole object from its parts' CRCs and lengths (CRC combine arithmetic: no byte
/// is read again). `None` for a non-CRC algorithm or a malformed part value.
pub fn combine_crcs(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)]) -> Option<String> {
    let crc = crc_algorithm(algorithm)?;
    let mut iter = parts.iter();
    let (first, _) = iter.next()?;
    let mut acc = crc_from_b64(first)?;
    for (value, len) in iter {
        acc = crc_fast::checksum_combine(crc, acc, crc_from_b64(value)?, *len);
    }
    Some(crc_to_b64(algorithm, acc))
}

/// A COMPOSITE checksum: the algorithm over the concatenated raw part checksums, `-<parts>`.
pub fn composite(algorithm: ChecksumAlgorithm, parts: &[&str]) -> Option<String> {
    let mut h = Hasher::new(algorithm);
    for p in parts {
        h.update(&B64.decode(p).ok()?);
    }
    Some(format!("{}-{}", B64.encode(h.finish(algorithm)), parts.len()))
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

/// Everything computed over a body in one pass: size, MD5, the checksum stored with it, and
/// optionally a second one the client sent to be verified (a part checked with CRC32 in an
/// upload that stores CRC64NVME).
pub struct BodyDigest {
    size: u64,
    /// `None` when the MD5 is computed elsewhere (`md5_thread`) and given to
    /// [`BodyDigest::finish_with_md5`].
    md5: Option<Md5>,
    hashers: Vec<(ChecksumAlgorithm, Hasher)>,
}

#[derive(Debug, Clone)]
pub struct BodyDigests {
    pub size: u64,
    pub md5: [u8; 16],
    /// The stored checksum.
    pub checksum: Checksum,
    /// The additional checksum computed only for verification.
    pub extra: Option<Checksum>,
}

impl BodyDigests {
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }

    pub fn value_of(&self, algorithm: ChecksumAlgorithm) -> Option<&str> {
        [Some(&self.checksum), self.extra.as_ref()]
            .into_iter()
            .flatten()
            .find(|c| c.algorithm == algorithm)
            .map(|c| c.value.as_str())
    }
}

impl BodyDigest {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        Self::with_extra(algorithm, None)
    }

    pub fn with_extra(algorithm: ChecksumAlgorithm, extra: Option<ChecksumAlgorithm>) -> Self {
        let mut hashers = vec![(algorithm, Hasher::new(algorithm))];
        if let Some(extra) = extra.filter(|e| *e != algorithm) {
            hashers.push((extra, Hasher::new(extra)));
        }
        Self {
            size: 0,
            md5: Some(Md5::new()),
            hashers,
        }
    }

    /// This digest without its MD5, which the caller computes on its own (`md5_thread`).
    pub fn without_md5(self) -> Self {
        Self { md5: None, ..self }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if let Some(md5) = &mut self.md5 {
            md5.update(data);
        }
        for (_, h) in &mut self.hashers {
            h.update(data);
        }
    }

    pub fn finish(mut self) -> BodyDigests {
        let md5 = self.md5.take().unwrap_or_default().finalize();
        self.finish_with_md5(md5)
    }

    /// [`BodyDigest::finish`] of a digest whose MD5 was computed elsewhere.
    pub fn finish_with_md5(self, md5: [u8; 16]) -> BodyDigests {
        let mut sums = self
            .hashers
            .into_iter()
            .map(|(a, h)| Checksum::full_object(a, B64.encode(h.finish(a))));
        // `hashers` always holds the stored algorithm first.
        let checksum = sums
            .next()
            .unwrap_or_else(|| Checksum::full_object(ChecksumAlgorithm::Crc64Nvme, String::new()));
        BodyDigests {
            size: self.size,
            md5,
            checksum,
            extra: sums.next(),
        }
    }
}

/// Bytes read back that do not match the checksum recorded when they were written.
#[derive(Debug, thiserror::Error)]
#[error("stored bytes do not match their {algorithm} checksum (span {span})")]
pub struct ChecksumMismatch {
    pub algorithm: &'static str,
    pub span: usize,
}

/// Checks bytes as they are read back against the checksums recorded at write time, span by
/// span: one span for a full-object checksum, one per part for a composite one.
pub struct SpanCheck {
    algorithm: ChecksumAlgorithm,
    /// (bytes left in the span, its recorded checksum), first span first.
    spans: std::collections::VecDeque<(u64, String)>,
    hasher: Hasher,
    done: usize,
}

impl SpanCheck {
    pub fn new(algorithm: ChecksumAlgorithm, spans: Vec<(u64, String)>) -> Self {
        Self {
            algorithm,
            spans: spans.into(),
            hasher: Hasher::new(algorithm),
            done: 0,
        }
    }

    fn close_span(&mut self) -> Result<(), ChecksumMismatch> {
        let Some((_, expected)) = self.spans.pop_front() else {
            return Ok(());
        };
        let hasher = std::mem::replace(&mut self.hasher, Hasher::new(self.algorithm));
        let actual = B64.encode(hasher.finish(self.algorithm));
        self.done += 1;
        if actual == expected {
            Ok(())
        } else {
            Err(ChecksumMismatch {
                algorithm: self.algorithm.as_str(),
                span: self.done,
            })
        }
    }

    pub fn update(&mut self, mut data: &[u8]) -> Result<(), ChecksumMismatch> {
        while !data.is_empty() {
            let Some((left, _)) = self.spans.front_mut() else {
                // More bytes than were recorded: the blob is not what was written.
                return Err(ChecksumMismatch {
                    algorithm: self.algorithm.as_str(),
                    span: self.done + 1,
                });
            };
            let take = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
            self.hasher.update(&data[..take]);
            *left -= take as u64;
            data = &data[take..];
            if *left == 0 {
                self.close_span()?;
            }
        }
        // Empty spans (a zero-byte object or part) complete as soon as they are reached.
        while self.spans.front().is_some_and(|(left, _)| *left == 0) {
            self.close_span()?;
        }
        Ok(())
    }

    /// After the last byte: every span must have been read and matched.
    pub fn finish(mut self) -> Result<(), ChecksumMismatch> {
        self.update(&[])?;
        match self.spans.is_empty() {
            true => Ok(()),
            false => Err(ChecksumMismatch {
                algorithm: self.algorithm.as_str(),
                span: self.done + 1,
            }),
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

    #[test]
    fn span_checks_pass_intact_bytes_in_any_chunking_and_catch_a_flipped_one() {
        let parts: Vec<Vec<u8>> = vec![vec![1; 1000], vec![2; 10], Vec::new(), vec![3; 77]];
        let sum = |b: &[u8]| {
            let mut h = Hasher::new(ChecksumAlgorithm::Crc32);
            h.update(b);
            B64.encode(h.finish(ChecksumAlgorithm::Crc32))
        };
        let spans: Vec<(u64, String)> = parts.iter().map(|p| (p.len() as u64, sum(p))).collect();
        let all = parts.concat();
        for chunk in [1, 7, 1000, 5000] {
            let mut check = SpanCheck::new(ChecksumAlgorithm::Crc32, spans.clone());
            for c in all.chunks(chunk) {
                check.update(c).unwrap();
            }
            check.finish().unwrap();
        }
        let mut damaged = all.clone();
        damaged[1005] ^= 1;
        let mut check = SpanCheck::new(ChecksumAlgorithm::Crc32, spans.clone());
        assert_eq!(check.update(&damaged).unwrap_err().span, 2);
        let mut short = SpanCheck::new(ChecksumAlgorithm::Crc32, spans);
        short.update(&all[..500]).unwrap();
        assert!(short.finish().is_err());
    }

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
    fn combined_part_crcs_equal_the_crc_of_the_whole() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let whole = checksum_of(alg, b"hello world, in three parts");
            let parts = [&b"hello "[..], b"world, in ", b"three parts"];
            let values: Vec<String> = parts.iter().map(|p| checksum_of(alg, p)).collect();
            let pairs: Vec<(&str, u64)> = values
                .iter()
                .map(String::as_str)
                .zip(parts.iter().map(|p| p.len() as u64))
                .collect();
            assert_eq!(
                combine_crcs(alg, &pairs).as_deref(),
                Some(whole.as_str()),
                "{alg:?}"
            );
        }
        assert_eq!(combine_crcs(ChecksumAlgorithm::Sha256, &[("x", 1)]), None);
    }

    #[test]
    fn composite_checksums_hash_the_raw_part_checksums() {
        // SHA-256 over the two raw SHA-256 digests, then "-2".
        let a = checksum_of(ChecksumAlgorithm::Sha256, b"a");
        let b = checksum_of(ChecksumAlgorithm::Sha256, b"b");
        let mut raw = B64.decode(&a).unwrap();
        raw.extend(B64.decode(&b).unwrap());
        let expected = format!("{}-2", checksum_of(ChecksumAlgorithm::Sha256, &raw));
        assert_eq!(composite(ChecksumAlgorithm::Sha256, &[&a, &b]), Some(expected));
    }

    #[test]
    fn kinds_follow_s3s_algorithm_rules() {
        assert!(!ChecksumKind::Composite.allowed_for(ChecksumAlgorithm::Crc64Nvme));
        assert!(!ChecksumKind::FullObject.allowed_for(ChecksumAlgorithm::Sha256));
        assert!(ChecksumKind::FullObject.allowed_for(ChecksumAlgorithm::Crc32c));
        assert_eq!(
            ChecksumKind::default_for(ChecksumAlgorithm::Crc32),
            ChecksumKind::Composite
        );
    }

    #[test]
    fn an_extra_algorithm_is_computed_alongside() {
        let mut d = BodyDigest::with_extra(ChecksumAlgorithm::Crc64Nvme, Some(ChecksumAlgorithm::Crc32));
        d.update(b"hello world");
        let out = d.finish();
        assert_eq!(out.value_of(ChecksumAlgorithm::Crc32), Some("DUoRhQ=="));
        assert_eq!(out.checksum.algorithm, ChecksumAlgorithm::Crc64Nvme);
    }

    #[test]
    fn content_md5_must_be_16_bytes_of_base64() {
        assert!(decode_content_md5("XrY7u+Ae7tCTyyK7j1rNww==").is_some());
        assert!(decode_content_md5("XrY7u+Ae7tCTyyK7").is_none());
        assert!(decode_content_md5("@@@").is_none());
    }
}
