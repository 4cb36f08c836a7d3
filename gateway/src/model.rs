//! The typed records kept in the metadata store, and their (de)serialization.
//!
//! Records are JSON: small, self-describing, and new fields arrive with `#[serde(default)]`
//! without a migration. Object heads lead with a small binary prefix of what listings show
//! (`head_prefix`), which every decoder skips.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use time::OffsetDateTime;

use crate::blob::BlobId;
use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumKind};
use crate::cluster::NodeId;
use crate::meta::MetaError;

/// Unix time in nanoseconds, the resolution every timestamp is stored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nanos(pub i64);

impl Nanos {
    pub fn from_time(t: OffsetDateTime) -> Self {
        Self(i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX))
    }

    pub fn to_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersioningState {
    Enabled,
    Suspended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    /// Which bucket of this name it is: its records live in `keys::Space::new(name, incarnation)`.
    /// `None` for buckets created before incarnations (their records keep the bare name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
    pub created: Nanos,
    pub region: String,
    /// The organization that owns the bucket: the org of the key that created it.
    pub owner: String,
    #[serde(default)]
    pub versioning: Option<VersioningState>,
    /// Once versioning has been enabled a bucket never forgets it (RenameObject refuses such
    /// buckets, seed 004).
    #[serde(default)]
    pub versioning_ever_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<(String, String)>>,
    /// The bucket policy document as it was put (validated then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::lifecycle::rules::LifecycleConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Default encryption (PutBucketEncryption) for writes that ask for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

/// A bucket's default encryption, as PutBucketEncryption set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    /// `aws:kms` rather than `AES256`.
    pub kms: bool,
    /// The key as the configuration named it (id, alias or ARN); `aws:kms` without one uses the
    /// default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}

/// How an object's (or an upload's parts') data keys are wrapped, when the store holds the key:
/// SSE-S3 or SSE-KMS. Each sealed segment records its own wrapped key; this is what responses
/// report. SSE-C is [`ObjectHead::sse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum ServerSide {
    S3,
    Kms {
        /// The key's id (whatever name the request used).
        key_id: String,
        /// `x-amz-server-side-encryption-context` as sent (base64 JSON): every data key is bound
        /// to these bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        bucket_key: bool,
    },
}

impl ServerSide {
    /// What each data key of this object is bound to.
    pub fn context(&self) -> &[u8] {
        match self {
            Self::S3 => &[],
            Self::Kms { context, .. } => context.as_deref().unwrap_or_default().as_bytes(),
        }
    }
}

impl BucketRecord {
    /// Where the bucket's objects, versions, uploads and tokens live.
    pub fn space(&self) -> crate::meta::keys::Space {
        crate::meta::keys::Space::new(&self.name, self.incarnation)
    }
}

/// A deleted bucket's space (`keys::dead_space`), to sweep once no write that raced the delete
/// can still commit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DeadSpace {
    pub deleted: Nanos,
}

/// A bucket's Block Public Access settings, as PutPublicAccessBlock sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    /// PutBucketPolicy refuses a public policy.
    pub block_public_policy: bool,
    /// A public policy grants nothing to anonymous callers or other orgs.
    pub restrict_public_buckets: bool,
}

/// One blob of an object, in object order. `size` counts the object's bytes it holds; a sealed
/// (SSE-C) blob is larger on disk by its chunks' tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: BlobId,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<crate::sse::Seal>,
    /// The gateways whose volumes hold the blob. Empty in records written before references
    /// named their holders: those blobs are on the legacy holder (`cluster::Membership`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<NodeId>,
    /// CRC64NVME of the blob as stored (absent in records from before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc: Option<u64>,
    /// A small object's blob kept in the metadata store (`ops::inline`), not on a volume: it has
    /// no holders.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
    /// An inline blob's bytes as stored, when this segment carries them: one about to be
    /// published, or read together with its head. Never part of the record.
    #[serde(skip)]
    pub bytes: Option<bytes::Bytes>,
}

impl Segment {
    /// Bytes of the blob as stored: a sealed blob carries a tag per chunk.
    pub fn stored_size(&self) -> u64 {
        stored_size(self.size, self.seal.is_some())
    }
}

pub fn stored_size(size: u64, sealed: bool) -> u64 {
    if sealed {
        crate::sse::sealed_size(size)
    } else {
        size
    }
}

/// HTTP representation headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Nanos>,
}

/// The current state of one object key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHead {
    pub size: u64,
    /// Hex MD5 for a single PUT, `<md5-of-md5s>-<parts>` for multipart; without quotes.
    pub etag: String,
    pub modified: Nanos,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    pub checksum: Checksum,
    /// The object's bytes: its blobs in order.
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The parts of a multipart object, in order (one per segment); empty for a single PUT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// A delete marker: a version that says the key has no object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// Where this version sorts among the key's versions (newest first); its version id when
    /// the bucket versions objects.
    #[serde(default)]
    pub order: VersionOrder,
    /// On the current record only: the order of the key's `null` version, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_order: Option<VersionOrder>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// SSE-C: what recognises the customer key; the bytes are sealed segment by segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::sse::KeyFingerprint>,
    /// SSE-S3 / SSE-KMS. Absent in records from before encryption at rest (plaintext blobs) and
    /// for objects written with the store's default off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<ServerSide>,
    /// An object of many segments keeps them (and its parts) beside the head, in chunks
    /// (`ops::manifest`), so the head stays small; `segments` and `parts` are then empty as
    /// stored, filled when read for the bytes. Absent: both are inline (every record written
    /// before manifests, and objects of few segments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
}

/// Where an object's segments and parts are kept when they are not inline in its head: chunks
/// of `ops::manifest::CHUNK` entries under `keys::manifest_chunk(id, end, n)`. The V record that
/// names a manifest owns it (the current-head copy shares it); it goes with that record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unique per manifest, never reused (32 hex digits).
    pub id: String,
    pub segments: u32,
    pub parts: u32,
    pub chunks: u32,
}

/// What a listing shows of an object: read from its head without the rest of it (segments,
/// metadata, tags), so a page costs the same whatever the objects hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedHead {
    pub size: u64,
    pub etag: String,
    pub modified: Nanos,
    pub checksum: Checksum,
    #[serde(default)]
    pub delete_marker: bool,
}

/// 16 bytes, hex encoded: the inverted creation time in nanoseconds, then random bits so two
/// versions written in the same nanosecond (on different gateways) still differ. Sorting the
/// bytes puts the newest version first.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionOrder(String);

impl VersionOrder {
    pub fn new(now: Nanos) -> Self {
        let inverted = u64::MAX - u64::try_from(now.0).unwrap_or(0);
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&inverted.to_be_bytes());
        raw[8..].copy_from_slice(&rand::random::<u64>().to_be_bytes());
        Self(hex::encode(raw))
    }

    /// This order, or if it does not sort before (newer than) `current`, one that just does:
    /// a version's place follows the order versions commit in, not the clock of the gateway
    /// that wrote it (clocks differ between gateways, and a writer may wait its turn).
    pub fn newer_than(self, current: &VersionOrder) -> Self {
        if self < *current || current.0.is_empty() {
            return self;
        }
        let inverted = hex::decode(&current.0)
            .ok()
            .and_then(|raw| Some(u64::from_be_bytes(raw.get(..8)?.try_into().ok()?)))
            .unwrap_or(u64::MAX);
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&inverted.saturating_sub(1).to_be_bytes());
        raw[8..].copy_from_slice(&rand::random::<u64>().to_be_bytes());
        Self(hex::encode(raw))
    }

    /// Parses a version id that names an order (anything but `null`).
    pub fn parse(version_id: &str) -> Option<Self> {
        (version_id.len() == 32
            && version_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(version_id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub number: u32,
    pub size: u64,
    /// The part's checksum in the object's algorithm.
    pub checksum: String,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub key: String,
    pub upload_id: String,
    pub initiated: Nanos,
    pub owner: String,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// The algorithm every part is hashed with (CRC64NVME when the client named none) and how
    /// the parts' checksums make the object's.
    pub checksum_algorithm: ChecksumAlgorithm,
    pub checksum_kind: ChecksumKind,
    /// Whether the client named the algorithm (ListParts and ListMultipartUploads echo it).
    #[serde(default)]
    pub checksum_requested: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// SSE-C: the key every part must be uploaded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<crate::sse::KeyFingerprint>,
    /// SSE-S3 / SSE-KMS: how every part is sealed (chosen when the upload was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<ServerSide>,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub modified: Nanos,
    pub blob: BlobId,
    /// In the upload's algorithm.
    pub checksum: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<crate::sse::Seal>,
    /// Where the part's blob is (see [`Segment::holders`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<NodeId>,
    /// See [`Segment::crc`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc: Option<u64>,
}

impl ObjectHead {
    pub fn delete_marker(now: Nanos) -> Self {
        Self {
            size: 0,
            etag: String::new(),
            modified: now,
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            checksum: Checksum::full_object(ChecksumAlgorithm::Crc64Nvme, String::new()),
            segments: Vec::new(),
            version_id: None,
            parts: Vec::new(),
            delete_marker: true,
            order: VersionOrder::default(),
            null_order: None,
            tags: Vec::new(),
            sse: None,
            encryption: None,
            manifest: None,
        }
    }

    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// A blob's references and where its copies are. The holders here are the truth; the copies of
/// them in object and part records are where reads look first, and may be stale after a drain
/// or a repair moved a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Records that point at the blob.
    pub refs: u64,
    pub holders: Vec<NodeId>,
    /// Bytes as stored.
    pub size: u64,
    /// CRC64NVME of the bytes as stored; absent for blobs written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc: Option<u64>,
    /// The bytes are in the metadata store (`keys::inline_blob`), on no volume (`holders` is
    /// empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
}

impl BlobRecord {
    /// Reads the record, or the bare reference count that earlier releases stored (its holders
    /// then are only in the references: empty here).
    pub fn decode(key: &[u8], raw: &[u8]) -> Result<Self, MetaError> {
        if let Some(refs) = std::str::from_utf8(raw).ok().and_then(|t| t.parse().ok()) {
            return Ok(Self {
                refs,
                holders: Vec::new(),
                size: 0,
                crc: None,
                inline: false,
            });
        }
        decode(key, raw)
    }
}

/// A gateway being drained: every blob it holds is moved to others, and no new copy goes to
/// it. Progress is kept here by whichever gateway does the moving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    pub node: NodeId,
    /// Wall-clock time the drain was asked for.
    pub requested: Nanos,
    /// Set once a pass that began after every transaction that could still place a copy on the
    /// node found nothing left on it.
    #[serde(default)]
    pub drained: bool,
    #[serde(default)]
    pub blobs_left: u64,
    #[serde(default)]
    pub bytes_left: u64,
    #[serde(default)]
    pub blobs_moved: u64,
    #[serde(default)]
    pub bytes_moved: u64,
}

/// A blob of which no good copy is left anywhere, and the objects it belonged to: reported,
/// never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostBlob {
    pub found: Nanos,
    /// The gateways that held it, all missing it or holding a damaged copy.
    pub holders: Vec<NodeId>,
    /// `bucket/key` (and ` version <id>` when versioned) of every object or part using it.
    pub objects: Vec<String>,
}

pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// An object head as stored: its listing prefix (`head_prefix`), then its JSON; a head whose
/// segments and parts live in its manifest is written without them, whether or not they were
/// loaded.
pub fn encode_head(head: &ObjectHead) -> Vec<u8> {
    let json = if head.manifest.is_none() || (head.segments.is_empty() && head.parts.is_empty()) {
        encode(head)
    } else {
        encode(&head.clone_without_segments())
    };
    crate::head_prefix::encode(head, &json)
}

/// What a listing shows of a stored head: from its prefix, or its JSON if it has none.
pub fn decode_listed(key: &[u8], raw: &[u8]) -> Result<ListedHead, MetaError> {
    match crate::head_prefix::listed(raw) {
        Some(listed) => Ok(listed),
        None => decode(key, raw),
    }
}

impl ObjectHead {
    /// Every field but `segments` and `parts` (left empty): no copy of a long segment list.
    pub fn clone_without_segments(&self) -> ObjectHead {
        ObjectHead {
            size: self.size,
            etag: self.etag.clone(),
            modified: self.modified,
            headers: self.headers.clone(),
            user_metadata: self.user_metadata.clone(),
            checksum: self.checksum.clone(),
            segments: Vec::new(),
            version_id: self.version_id.clone(),
            parts: Vec::new(),
            delete_marker: self.delete_marker,
            order: self.order.clone(),
            null_order: self.null_order.clone(),
            tags: self.tags.clone(),
            sse: self.sse.clone(),
            encryption: self.encryption.clone(),
            manifest: self.manifest.clone(),
        }
    }

    /// How many parts the object was completed from (0 for a single PUT), loaded or not.
    pub fn part_count(&self) -> usize {
        self.manifest
            .as_ref()
            .map_or(self.parts.len(), |m| m.parts as usize)
    }

    /// Whether `segments` and `parts` are all there: inline, or loaded from the manifest.
    pub fn segments_loaded(&self) -> bool {
        self.manifest.as_ref().is_none_or(|m| {
            self.segments.len() == m.segments as usize && self.parts.len() == m.parts as usize
        })
    }
}

/// Decodes a record (an object head's listing prefix, if any, is skipped).
pub fn decode<T: DeserializeOwned>(key: &[u8], raw: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(crate::head_prefix::strip(raw))
        .map_err(|e| MetaError::Backend(format!("corrupt record at {}: {e}", String::from_utf8_lossy(key))))
}

/// What a RenameObject with an idempotency token did, so a retry can answer the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameTokenRecord {
    /// The request's parameters, canonicalised: a retry must match them exactly.
    pub fingerprint: String,
    pub etag: String,
    pub expires: Nanos,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_record_reads_the_bare_count_of_earlier_releases() {
        let legacy = BlobRecord::decode(b"R", b"3").unwrap();
        assert_eq!((legacy.refs, legacy.holders.len(), legacy.crc), (3, 0, None));
        let record = BlobRecord {
            refs: 2,
            holders: vec![NodeId::parse("gw-0").unwrap(), NodeId::parse("gw-1").unwrap()],
            size: 10,
            crc: Some(42),
            inline: false,
        };
        assert_eq!(BlobRecord::decode(b"R", &encode(&record)).unwrap(), record);
        assert!(BlobRecord::decode(b"R", b"{broken").is_err());
    }

    #[test]
    fn newer_versions_sort_first_and_ids_parse_back() {
        let old = VersionOrder::new(Nanos(1_000));
        let new = VersionOrder::new(Nanos(2_000));
        assert!(new < old);
        assert_eq!(VersionOrder::parse(new.as_str()), Some(new));
        assert_eq!(VersionOrder::parse("null"), None);
        assert_eq!(VersionOrder::parse("ZZ"), None);
    }

    #[test]
    fn a_version_is_placed_after_the_current_one_whatever_its_clock_says() {
        let current = VersionOrder::new(Nanos(5_000));
        let late = VersionOrder::new(Nanos(9_000));
        assert_eq!(
            late.clone().newer_than(&current),
            late,
            "a newer clock keeps its order"
        );
        for behind in [Nanos(1_000), Nanos(5_000)] {
            let placed = VersionOrder::new(behind).newer_than(&current);
            assert!(placed < current, "placed before (newer than) the current version");
            assert!(placed > VersionOrder::new(Nanos(5_002)), "and only just");
        }
    }
}
