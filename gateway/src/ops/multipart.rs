//! Multipart uploads. Each part is a blob with its own record; completion writes one object
//! head that lists the parts' blobs in order, in one transaction: no byte moves, whatever the
//! size. Parts hold blob references like objects do, so the sweeper never takes a part, and an
//! abort or a completion frees exactly the parts no object uses.

use std::collections::{BTreeMap, HashSet};

use crate::md5_asm::Md5;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::list::common_prefix;
use super::object::Upload;
use super::precondition::WriteConditions;
use super::version::{self, NewRefs};
use super::{Store, bucket, read_only, refs, transact};
use crate::blob::BlobId;
use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumKind, combine_crcs, composite};
use crate::errors::from_meta;
use crate::meta::MetaTxn;
use crate::meta::keys::{self, Space};
use crate::model::{self, ContentHeaders, Nanos, ObjectHead, PartRecord, PartSummary, Segment, UploadRecord};

/// S3's smallest part, for every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's part numbers run from 1 to 10,000.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Parts read per scan while completing or aborting.
const PART_BATCH: usize = 1000;

pub fn no_such_upload() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

fn invalid_part(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidPart, msg.into())
}

pub struct NewUpload {
    pub key: String,
    pub tags: Vec<(String, String)>,
    pub sse: Option<crate::sse::KeyFingerprint>,
    /// SSE-S3 / SSE-KMS, resolved (key id) when the upload is created.
    pub encryption: Option<crate::model::ServerSide>,
    pub owner: String,
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_kind: Option<ChecksumKind>,
}

/// A part named in CompleteMultipartUpload.
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    /// The part checksum the client sent along, in the upload's algorithm.
    pub checksum: Option<String>,
}

pub struct Completion {
    pub parts: Vec<CompletedPart>,
    pub conditions: WriteConditions,
    /// A whole-object checksum the client asks to verify.
    pub expected: Option<(ChecksumAlgorithm, String)>,
    pub expected_kind: Option<ChecksumKind>,
    pub expected_size: Option<u64>,
}

pub struct UploadQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max_uploads: usize,
}

pub enum UploadEntry {
    Upload(Box<UploadRecord>),
    Prefix(String),
}

pub struct UploadPage {
    pub entries: Vec<UploadEntry>,
    pub truncated: bool,
}

/// An upload of the bucket named `bucket` (`NoSuchBucket` before `NoSuchUpload`), and the
/// bucket's space.
async fn load_upload(
    txn: &mut dyn MetaTxn,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> S3Result<(Space, UploadRecord)> {
    let space = bucket::space_of(txn, bucket).await?;
    let k = keys::upload(&space, key, upload_id);
    match txn.get(&k).await.map_err(from_meta)? {
        Some(raw) => Ok((space, model::decode(&k, &raw).map_err(from_meta)?)),
        None => Err(no_such_upload()),
    }
}

/// Every part of an upload, in part-number order.
async fn all_parts(txn: &mut dyn MetaTxn, upload_id: &str) -> S3Result<Vec<(Vec<u8>, PartRecord)>> {
    let prefix = keys::parts_prefix(upload_id);
    let end = keys::prefix_end(&prefix);
    let mut start = prefix;
    let mut out = Vec::new();
    loop {
        let batch = txn.scan(&start, &end, PART_BATCH).await.map_err(from_meta)?;
        let full = batch.len() == PART_BATCH;
        for (k, v) in batch {
            let record = model::decode(&k, &v).map_err(from_meta)?;
            start = keys::successor(&k);
            out.push((k, record));
        }
        if !full {
            return Ok(out);
        }
    }
}

/// Deletes an upload and its part records; returns the part blobs that lost their last reference.
pub(super) async fn remove_upload(
    txn: &mut dyn MetaTxn,
    space: &Space,
    upload: &UploadRecord,
) -> S3Result<Vec<BlobId>> {
    let parts = all_parts(txn, &upload.upload_id).await?;
    remove_upload_keeping(txn, space, upload, parts, &HashSet::new()).await
}

/// [`remove_upload`] of an upload whose `parts` were read already, except that the references of
/// the parts in `kept` are not released: they pass to the object the upload completed.
async fn remove_upload_keeping(
    txn: &mut dyn MetaTxn,
    space: &Space,
    upload: &UploadRecord,
    parts: Vec<(Vec<u8>, PartRecord)>,
    kept: &HashSet<u32>,
) -> S3Result<Vec<BlobId>> {
    let mut freed = Vec::new();
    for (k, part) in parts {
        txn.delete(&k).await.map_err(from_meta)?;
        if kept.contains(&part.number) {
            continue;
        }
        if refs::release(txn, &part.blob, &part.holders)
            .await
            .map_err(from_meta)?
        {
            freed.push(part.blob);
        }
    }
    txn.delete(&keys::upload(space, &upload.key, &upload.upload_id))
        .await
        .map_err(from_meta)?;
    Ok(freed)
}

/// The object's checksum from its parts': CRC combine for FULL_OBJECT, checksum of checksums
/// for COMPOSITE.
fn object_checksum(upload: &UploadRecord, parts: &[&PartRecord]) -> S3Result<Checksum> {
    let alg = upload.checksum_algorithm;
    let value = match upload.checksum_kind {
        ChecksumKind::FullObject => {
            let pairs: Vec<(&str, u64)> = parts.iter().map(|p| (p.checksum.as_str(), p.size)).collect();
            combine_crcs(alg, &pairs)
        }
        ChecksumKind::Composite => {
            let values: Vec<&str> = parts.iter().map(|p| p.checksum.as_str()).collect();
            composite(alg, &values)
        }
    };
    let value =
        value.ok_or_else(|| crate::errors::internal("multipart checksum", "malformed part checksum"))?;
    Ok(Checksum {
        algorithm: alg,
        value,
        kind: upload.checksum_kind,
    })
}

/// `<hex md5 of the parts' binary md5s>-<parts>`, as S3 computes multipart ETags.
fn multipart_etag(parts: &[&PartRecord]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(hex::decode(&p.etag).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(md5.finalize()), parts.len())
}

/// The ETag a completion naming these parts produces, from the part ETags the client lists.
fn listed_etag(parts: &[CompletedPart]) -> Option<String> {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(hex::decode(p.etag.trim_matches('"')).ok()?);
    }
    Some(format!("{}-{}", hex::encode(md5.finalize()), parts.len()))
}

/// Whether `head` is the object a completion naming `parts` made: same part numbers, same ETag.
fn made_by(head: &ObjectHead, parts: &[CompletedPart]) -> bool {
    head.parts.len() == parts.len()
        && head.parts.iter().zip(parts).all(|(h, p)| h.number == p.number)
        && listed_etag(parts).is_some_and(|e| e == head.etag)
}

fn check_completion(
    upload: &UploadRecord,
    completion: &Completion,
    stored: &BTreeMap<u32, &PartRecord>,
    min_part_size: u64,
) -> S3Result<()> {
    if completion.parts.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::MalformedXML,
            "You must specify at least one part",
        ));
    }
    if completion.parts.windows(2).any(|w| w[0].number >= w[1].number) {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidPartOrder,
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    if let Some(kind) = completion.expected_kind
        && kind != upload.checksum_kind
    {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            format!(
                "The upload was created with checksum type {}",
                upload.checksum_kind.as_str()
            ),
        ));
    }
    // Every named part must exist with its ETag before sizes are judged, as S3 reports them.
    let mut chosen = Vec::with_capacity(completion.parts.len());
    for wanted in &completion.parts {
        let part = stored.get(&wanted.number).ok_or_else(|| {
            invalid_part(format!(
                "Part {} was not uploaded or its ETag does not match.",
                wanted.number
            ))
        })?;
        if part.etag != wanted.etag.trim_matches('"') {
            return Err(invalid_part(format!(
                "The ETag of part {} does not match.",
                wanted.number
            )));
        }
        if wanted.checksum.as_ref().is_some_and(|c| *c != part.checksum) {
            return Err(invalid_part(format!(
                "The checksum of part {} does not match.",
                wanted.number
            )));
        }
        chosen.push(part);
    }
    if let Some((_, all_but_last)) = chosen.split_last()
        && let Some(small) = all_but_last.iter().find(|p| p.size < min_part_size)
    {
        return Err(S3Error::with_message(
            S3ErrorCode::EntityTooSmall,
            format!(
                "Part {} is smaller than the minimum allowed size of 5 MiB.",
                small.number
            ),
        ));
    }
    Ok(())
}

impl Store {
    pub async fn create_upload(&self, bucket: &str, new: NewUpload) -> S3Result<UploadRecord> {
        let algorithm = new.checksum_algorithm.unwrap_or(ChecksumAlgorithm::Crc64Nvme);
        let kind = new.checksum_kind.unwrap_or(ChecksumKind::default_for(algorithm));
        if !kind.allowed_for(algorithm) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The {} checksum algorithm does not support checksum type {}",
                    algorithm.as_str(),
                    kind.as_str()
                ),
            ));
        }
        let record = UploadRecord {
            key: new.key,
            upload_id: uuid::Uuid::now_v7().simple().to_string(),
            initiated: Nanos::from_time(self.clock.now()),
            owner: new.owner,
            headers: new.headers,
            user_metadata: new.user_metadata,
            checksum_algorithm: algorithm,
            checksum_kind: kind,
            checksum_requested: new.checksum_algorithm.is_some(),
            tags: new.tags,
            sse: new.sse,
            encryption: new.encryption,
        };
        transact(&*self.meta, &(bucket, &record), |txn, (bucket, record)| {
            Box::pin(async move {
                let space = bucket::space_of(txn, bucket).await?;
                let k = keys::upload(&space, &record.key, &record.upload_id);
                txn.put(&k, &model::encode(*record)).await.map_err(from_meta)
            })
        })
        .await?;
        Ok(record)
    }

    /// Looks an upload up (before a part's body is read).
    pub async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadRecord> {
        read_only(
            &*self.meta,
            &(bucket, key, upload_id),
            |txn, (bucket, key, upload_id)| {
                Box::pin(async move { Ok(load_upload(txn, bucket, key, upload_id).await?.1) })
            },
        )
        .await
    }

    /// Records an uploaded body as part `number`, replacing an earlier upload of that number.
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Upload,
    ) -> S3Result<PartRecord> {
        let part = PartRecord {
            number,
            size: body.digests.size,
            seal: body.segment.seal.clone(),
            holders: body.segment.holders.clone(),
            crc: body.segment.crc,
            etag: super::object::body_etag(&body),
            modified: Nanos::from_time(self.clock.now()),
            blob: body.segment.blob.clone(),
            checksum: body.digests.checksum.value.clone(),
        };
        let args = (bucket, key, upload_id, &part);
        let result = transact(&*self.meta, &args, |txn, (bucket, key, upload_id, part)| {
            Box::pin(async move {
                load_upload(txn, bucket, key, upload_id).await?;
                let k = keys::part(upload_id, part.number);
                let old: Option<PartRecord> = match txn.get(&k).await.map_err(from_meta)? {
                    Some(raw) => Some(model::decode(&k, &raw).map_err(from_meta)?),
                    None => None,
                };
                txn.put(&k, &model::encode(*part)).await.map_err(from_meta)?;
                let new = refs::NewRef {
                    blob: &part.blob,
                    holders: &part.holders,
                    stored_size: model::stored_size(part.size, part.seal.is_some()),
                    crc: part.crc,
                    inline: None,
                };
                refs::add(txn, new).await.map_err(from_meta)?;
                match old {
                    Some(old)
                        if refs::release(txn, &old.blob, &old.holders)
                            .await
                            .map_err(from_meta)? =>
                    {
                        Ok(vec![old.blob])
                    }
                    _ => Ok(Vec::new()),
                }
            })
        })
        .await;
        match result {
            Ok(freed) => {
                self.free(&freed).await;
                Ok(part)
            }
            Err(e) => {
                self.discard_unless_unknown(&body, &e).await;
                Err(e)
            }
        }
    }

    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        completion: &Completion,
    ) -> S3Result<ObjectHead> {
        let now = Nanos::from_time(self.clock.now());
        let min_part_size = self.min_part_size;
        let _turn = self.locks.lock(&[(bucket, key)]).await;
        let args = (bucket, key, upload_id, completion, now);
        let (head, freed) = transact(
            &*self.meta,
            &args,
            |txn, (bucket, key, upload_id, completion, now)| {
                Box::pin(async move {
                    let record = bucket::load_for_write(txn, bucket).await?;
                    let (space, upload) = load_upload(txn, bucket, key, upload_id).await?;
                    let stored = all_parts(txn, upload_id).await?;
                    let by_number: BTreeMap<u32, &PartRecord> =
                        stored.iter().map(|(_, p)| (p.number, p)).collect();
                    check_completion(&upload, completion, &by_number, min_part_size)?;
                    let chosen: Vec<&PartRecord> =
                        completion.parts.iter().map(|p| by_number[&p.number]).collect();

                    let checksum = object_checksum(&upload, &chosen)?;
                    if let Some((alg, value)) = &completion.expected
                        && (*alg != checksum.algorithm
                            || value.split('-').next() != checksum.value.split('-').next())
                    {
                        return Err(S3Error::with_message(
                            S3ErrorCode::BadDigest,
                            format!(
                                "The {} you specified did not match the calculated checksum.",
                                alg.as_str()
                            ),
                        ));
                    }
                    let size: u64 = chosen.iter().map(|p| p.size).sum();
                    if completion.expected_size.is_some_and(|s| s != size) {
                        return Err(S3Error::with_message(
                            S3ErrorCode::InvalidRequest,
                            format!("x-amz-mp-object-size does not match the object's size of {size} bytes"),
                        ));
                    }
                    let head = ObjectHead {
                        size,
                        etag: multipart_etag(&chosen),
                        modified: *now,
                        headers: upload.headers.clone(),
                        user_metadata: upload.user_metadata.clone(),
                        checksum,
                        segments: chosen
                            .iter()
                            .map(|p| Segment {
                                blob: p.blob.clone(),
                                size: p.size,
                                seal: p.seal.clone(),
                                holders: p.holders.clone(),
                                crc: p.crc,
                                inline: false,
                                bytes: None,
                            })
                            .collect(),
                        version_id: None,
                        parts: chosen
                            .iter()
                            .map(|p| PartSummary {
                                number: p.number,
                                size: p.size,
                                checksum: p.checksum.clone(),
                            })
                            .collect(),
                        delete_marker: false,
                        order: Default::default(),
                        null_order: None,
                        tags: upload.tags.clone(),
                        sse: upload.sse.clone(),
                        encryption: upload.encryption.clone(),
                        manifest: None,
                    };
                    let old = version::current(txn, &space, key).await?;
                    completion.conditions.check(version::live(old.clone()).as_ref())?;
                    // Each part record holds one reference to its blob; the chosen parts' pass to
                    // the object as their records go, so no count is read or written for them
                    // (on TiKV, a read each: this keeps a 10,000-part completion to a few round
                    // trips).
                    let (head, mut freed) =
                        version::publish_with(txn, &record, key, old.as_ref(), head, *now, NewRefs::Held)
                            .await?;
                    let kept: HashSet<u32> = completion.parts.iter().map(|p| p.number).collect();
                    freed.extend(remove_upload_keeping(txn, &space, &upload, stored, &kept).await?);
                    Ok((head, freed))
                })
            },
        )
        .await?;
        self.free(&freed).await;
        Ok(head)
    }

    /// The object an earlier completion of these parts made, if it is still the key's current
    /// object: a client retrying a completion whose response was lost (the upload record is
    /// gone by then) gets the same answer again, as from AWS, instead of `NoSuchUpload`.
    pub async fn completed_upload(
        &self,
        bucket: &str,
        key: &str,
        parts: &[CompletedPart],
    ) -> S3Result<Option<ObjectHead>> {
        read_only(&*self.meta, &(bucket, key), |txn, (bucket, key)| {
            Box::pin(async move {
                let space = bucket::load(txn, bucket).await?.space();
                Ok(version::live(version::current(txn, &space, key).await?))
            })
        })
        .await
        .map(|head| head.filter(|h| made_by(h, parts)))
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<()> {
        let freed = transact(
            &*self.meta,
            &(bucket, key, upload_id),
            |txn, (bucket, key, upload_id)| {
                Box::pin(async move {
                    let (space, upload) = load_upload(txn, bucket, key, upload_id).await?;
                    remove_upload(txn, &space, &upload).await
                })
            },
        )
        .await?;
        self.free(&freed).await;
        Ok(())
    }

    /// Parts after `marker`, at most `max`; and whether more follow.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> S3Result<(UploadRecord, Vec<PartRecord>, bool)> {
        let args = (bucket, key, upload_id, marker, max);
        read_only(
            &*self.meta,
            &args,
            |txn, (bucket, key, upload_id, marker, max)| {
                Box::pin(async move {
                    let (_, upload) = load_upload(txn, bucket, key, upload_id).await?;
                    let start = keys::part(upload_id, marker.saturating_add(1));
                    let end = keys::prefix_end(&keys::parts_prefix(upload_id));
                    let batch = txn.scan(&start, &end, max + 1).await.map_err(from_meta)?;
                    let truncated = batch.len() > *max;
                    let parts = batch
                        .iter()
                        .take(*max)
                        .map(|(k, v)| model::decode(k, v).map_err(from_meta))
                        .collect::<S3Result<Vec<PartRecord>>>()?;
                    Ok((upload, parts, truncated))
                })
            },
        )
        .await
    }

    pub async fn list_uploads(&self, bucket: &str, q: &UploadQuery<'_>) -> S3Result<UploadPage> {
        read_only(&*self.meta, &(bucket, q), |txn, (bucket, q)| {
            Box::pin(async move {
                let space = bucket::load(txn, bucket).await?.space();
                let range_start = keys::uploads_prefix(&space, q.prefix);
                let end = keys::prefix_end(&range_start);
                let mut cursor = range_start;
                if let Some(marker) = q.key_marker.filter(|m| !m.is_empty()) {
                    let after = match q.upload_id_marker.filter(|m| !m.is_empty()) {
                        Some(id) => keys::successor(&keys::upload(&space, marker, id)),
                        None => keys::prefix_end(&keys::upload(&space, marker, "")),
                    };
                    cursor = cursor.max(after);
                }
                let mut entries = Vec::new();
                let mut truncated = false;
                'scan: loop {
                    let batch = txn
                        .scan(&cursor, &end, q.max_uploads + 1)
                        .await
                        .map_err(from_meta)?;
                    if batch.is_empty() {
                        break;
                    }
                    for (k, v) in &batch {
                        if entries.len() == q.max_uploads {
                            truncated = true;
                            break 'scan;
                        }
                        let upload: UploadRecord = model::decode(k, v).map_err(from_meta)?;
                        let folded = common_prefix(&upload.key, q.prefix, q.delimiter).map(str::to_owned);
                        match folded {
                            Some(common) => {
                                cursor = keys::prefix_end(&keys::uploads_prefix(&space, &common));
                                // A page that ended on this prefix resumes with it as the key
                                // marker: it was shown already.
                                if q.key_marker.is_none_or(|m| common.as_str() > m) {
                                    entries.push(UploadEntry::Prefix(common));
                                }
                                continue 'scan;
                            }
                            None => {
                                cursor = keys::successor(k);
                                entries.push(UploadEntry::Upload(Box::new(upload)));
                            }
                        }
                    }
                    if batch.len() <= q.max_uploads {
                        break;
                    }
                }
                if !truncated && entries.len() == q.max_uploads && q.max_uploads > 0 {
                    truncated = !txn.scan(&cursor, &end, 1).await.map_err(from_meta)?.is_empty();
                }
                Ok(UploadPage { entries, truncated })
            })
        })
        .await
    }
}
