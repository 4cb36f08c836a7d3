//! Listing objects: one ordered range scan per page, with `CommonPrefixes` folded by skipping
//! the scan past each prefix rather than reading the keys under it.
//!
//! A listed object is read as a [`ListedHead`] (size, ETag, time, checksum): the rest of its
//! head is skipped, not built, and the segments of an object of many parts are not in the head
//! at all (`manifest`), so a page costs the same whatever the objects hold.

use s3s::S3Result;

use super::{Store, bucket, read_only};
use crate::errors::from_meta;
use crate::meta::keys;
use crate::model::{self, ListedHead};

/// S3's page size limit.
pub const MAX_KEYS: usize = 1000;
/// Keys read by the first scan after a common prefix was folded: the keys under one prefix are
/// skipped, not read, so a delimiter listing reads a few keys per prefix rather than a page.
/// Each scan that folds nothing reads [`PROBE_GROWTH`] times more, up to the page.
const FOLD_PROBE: usize = 8;
const PROBE_GROWTH: usize = 4;

pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Resume at this key (inclusive), as raw key bytes: a continuation point.
    pub resume: Option<Vec<u8>>,
    /// Only keys (and common prefixes) strictly after this one: `start-after` / `marker`.
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

#[derive(Debug)]
pub enum ListEntry {
    Object(String, ListedHead),
    Prefix(String),
}

impl ListEntry {
    pub fn name(&self) -> &str {
        match self {
            Self::Object(k, _) | Self::Prefix(k) => k,
        }
    }
}

#[derive(Debug)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    /// Where the next page starts (raw key bytes, inclusive) when the listing is truncated.
    pub resume: Option<Vec<u8>>,
    /// The bucket's owner (read with the page: `fetch-owner` costs no second read).
    pub owner: String,
}

impl Store {
    pub async fn list_objects(&self, bucket: &str, q: &ListQuery<'_>) -> S3Result<ListPage> {
        read_only(&*self.meta, &(bucket, q), |txn, (bucket, q)| {
            Box::pin(async move {
                let record = bucket::load(txn, bucket).await?;
                let space = record.space();
                let base_len = keys::object(&space, "").len();
                let range_start = keys::object(&space, q.prefix);
                let end = keys::prefix_end(&range_start);
                let mut cursor = range_start.clone();
                let mut from = |raw: &[u8]| {
                    let k = keys::object(&space, "")
                        .into_iter()
                        .chain(raw.iter().copied())
                        .collect::<Vec<_>>();
                    if k > cursor {
                        cursor = k;
                    }
                };
                if let Some(resume) = &q.resume {
                    from(resume);
                }
                if let Some(after) = q.after {
                    from(&keys::successor(after.as_bytes()));
                }

                let mut entries = Vec::new();
                let mut truncated = false;
                let mut probe: Option<usize> = None;
                'pages: while entries.len() < q.max_keys {
                    let want = q.max_keys - entries.len() + 1;
                    let limit = probe.map_or(want, |p| p.min(want));
                    let batch = txn.scan(&cursor, &end, limit).await.map_err(from_meta)?;
                    let exhausted = batch.len() < limit;
                    // The last key taken: the cursor moves past it once, not at every key.
                    let mut taken: Option<&[u8]> = None;
                    for (raw, value) in &batch {
                        if entries.len() == q.max_keys {
                            truncated = true;
                            if let Some(last) = taken {
                                cursor = keys::successor(last);
                            }
                            break 'pages;
                        }
                        let Some(key) = keys::object_key_of(&space, raw) else {
                            continue;
                        };
                        let folded = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                            let rest = &key[q.prefix.len()..];
                            rest.find(d).map(|i| &key[..q.prefix.len() + i + d.len()])
                        });
                        match folded {
                            Some(common) => {
                                if q.after.is_none_or(|a| common > a) {
                                    entries.push(ListEntry::Prefix(common.to_owned()));
                                }
                                cursor = keys::prefix_end(&keys::object(&space, common));
                                probe = Some(FOLD_PROBE);
                                continue 'pages;
                            }
                            None => {
                                taken = Some(raw);
                                let head: ListedHead = model::decode_listed(raw, value).map_err(from_meta)?;
                                // A key whose current version is a delete marker has no object.
                                if !head.delete_marker {
                                    entries.push(ListEntry::Object(key.to_owned(), head));
                                }
                            }
                        }
                    }
                    if let Some(last) = taken {
                        cursor = keys::successor(last);
                    }
                    if exhausted {
                        break;
                    }
                    probe = probe.map(|p| p.saturating_mul(PROBE_GROWTH));
                }
                if !truncated && entries.len() == q.max_keys && q.max_keys > 0 {
                    // Filled the page exactly: is anything left?
                    truncated = !txn.scan(&cursor, &end, 1).await.map_err(from_meta)?.is_empty();
                }
                let resume = truncated.then(|| cursor[base_len..].to_vec());
                Ok(ListPage {
                    entries,
                    resume,
                    owner: record.owner,
                })
            })
        })
        .await
    }
}
