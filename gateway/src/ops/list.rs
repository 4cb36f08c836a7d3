//! Listing objects: one ordered range scan per page, with `CommonPrefixes` folded by skipping
//! the scan past each prefix rather than reading the keys under it.
//!
//! A listed object is read as a [`ListedHead`] (size, ETag, time, checksum): the rest of its
//! head is skipped, not built, and the segments of an object of many parts are not in the head
//! at all (`manifest`), so a page costs the same whatever the objects hold.

use std::ops::ControlFlow;

use s3s::S3Result;

use super::{Store, bucket, read_only};
use crate::errors::from_meta;
use crate::meta::{MetaError, keys};
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

/// Why one scan of a listing page stopped.
pub(super) enum Stop {
    /// It ran to its limit or to the end of the range.
    Exhausted,
    /// The page is full, with more to come.
    Full,
    /// It folded a common prefix; the scan goes on past the prefix's keys.
    Folded(Vec<u8>),
    Failed(MetaError),
}

/// What a listing does after one scan.
pub(super) enum Next {
    /// The range is read to its end.
    Done,
    /// The page is full, with more to come.
    Truncated,
    /// A common prefix was folded; the cursor is past its keys.
    Folded,
    /// The scan ran to its limit; more may follow.
    Scanned,
}

impl Stop {
    /// Moves `cursor` past what one scan consumed (the last record it took, or the keys under
    /// a folded prefix) and says what comes next. `visited` is what the scan was handed of the
    /// `limit` it asked for.
    pub(super) fn settle(
        self,
        cursor: &mut Vec<u8>,
        taken: &[u8],
        visited: usize,
        limit: usize,
    ) -> Result<Next, MetaError> {
        if !taken.is_empty() {
            *cursor = keys::successor(taken);
        }
        match self {
            Stop::Failed(e) => Err(e),
            Stop::Full => Ok(Next::Truncated),
            Stop::Folded(past) => {
                *cursor = past;
                Ok(Next::Folded)
            }
            Stop::Exhausted if visited < limit => Ok(Next::Done),
            Stop::Exhausted => Ok(Next::Scanned),
        }
    }
}

/// The common prefix `key` folds into under `delimiter`: the key up to and including the first
/// delimiter after `prefix`. None without a delimiter (or an empty one) or when there is none.
pub(super) fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let at = key.get(prefix.len()..)?.find(d)?;
    Some(&key[..prefix.len() + at + d.len()])
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
                // The last object key a scan took: the cursor moves past it once, not at every key.
                let mut taken = Vec::new();
                while entries.len() < q.max_keys {
                    let want = q.max_keys - entries.len() + 1;
                    let limit = probe.map_or(want, |p| p.min(want));
                    let mut stop = Stop::Exhausted;
                    taken.clear();
                    // The heads are read where the store holds them, not copied out: a page
                    // needs a few fields of each.
                    let visited = txn
                        .scan_visit(&cursor, &end, limit, &mut |raw, value| {
                            if entries.len() == q.max_keys {
                                stop = Stop::Full;
                                return ControlFlow::Break(());
                            }
                            let Some(key) = keys::object_key_of(&space, raw) else {
                                return ControlFlow::Continue(());
                            };
                            if let Some(common) = common_prefix(key, q.prefix, q.delimiter) {
                                if q.after.is_none_or(|a| common > a) {
                                    entries.push(ListEntry::Prefix(common.to_owned()));
                                }
                                stop = Stop::Folded(keys::prefix_end(&keys::object(&space, common)));
                                return ControlFlow::Break(());
                            }
                            taken.clear();
                            taken.extend_from_slice(raw);
                            match model::decode_listed(raw, value) {
                                // A key whose current version is a delete marker has no object.
                                Ok(head) if head.delete_marker => {}
                                Ok(head) => entries.push(ListEntry::Object(key.to_owned(), head)),
                                Err(e) => {
                                    stop = Stop::Failed(e);
                                    return ControlFlow::Break(());
                                }
                            }
                            ControlFlow::Continue(())
                        })
                        .await
                        .map_err(from_meta)?;
                    match stop
                        .settle(&mut cursor, &taken, visited, limit)
                        .map_err(from_meta)?
                    {
                        Next::Done => break,
                        Next::Truncated => {
                            truncated = true;
                            break;
                        }
                        Next::Folded => probe = Some(FOLD_PROBE),
                        Next::Scanned => probe = probe.map(|p| p.saturating_mul(PROBE_GROWTH)),
                    }
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
