//! ListObjectVersions: one scan of the version records, newest first within each key.

use std::ops::ControlFlow;

use s3s::S3Result;

use super::list::{Next, Stop, common_prefix};
use super::version::VersionRef;
use super::{Store, bucket, read_only};
use crate::errors::from_meta;
use crate::meta::keys;
use crate::model::{self, ObjectHead};

pub struct VersionQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub version_marker: Option<VersionRef>,
    pub max_keys: usize,
}

pub enum VersionEntry {
    Version {
        key: String,
        head: Box<ObjectHead>,
        is_latest: bool,
    },
    Prefix(String),
}

pub struct VersionPage {
    pub entries: Vec<VersionEntry>,
    pub truncated: bool,
}

impl Store {
    pub async fn list_versions(&self, bucket: &str, q: &VersionQuery<'_>) -> S3Result<VersionPage> {
        read_only(&*self.meta, &(bucket, q), |txn, (bucket, q)| {
            Box::pin(async move {
                let space = bucket::load(txn, bucket).await?.space();
                let range_start = keys::versions_prefix(&space, q.prefix);
                let end = keys::prefix_end(&range_start);
                let mut cursor = range_start;
                // The key whose versions this page starts in the middle of: none of them is latest.
                let mut resumed_key = None;
                if let Some(marker) = q.key_marker.filter(|m| !m.is_empty()) {
                    let order = match &q.version_marker {
                        Some(VersionRef::Order(o)) => Some(o.clone()),
                        Some(VersionRef::Null) => super::version::current(txn, &space, marker)
                            .await?
                            .and_then(|h| h.null_order),
                        None => None,
                    };
                    let after = match order {
                        Some(o) => {
                            resumed_key = Some(marker.to_owned());
                            keys::successor(&keys::version(&space, marker, o.as_bytes()))
                        }
                        None => keys::prefix_end(&keys::version(&space, marker, &[])),
                    };
                    cursor = cursor.max(after);
                }

                let mut entries = Vec::new();
                let mut truncated = false;
                let mut last_key: Option<String> = resumed_key;
                // The last version record a scan took: the cursor moves past it once.
                let mut taken = Vec::new();
                loop {
                    let limit = q.max_keys + 1;
                    let mut stop = Stop::Exhausted;
                    taken.clear();
                    let visited = txn
                        .scan_visit(&cursor, &end, limit, &mut |raw, value| {
                            if entries.len() == q.max_keys {
                                stop = Stop::Full;
                                return ControlFlow::Break(());
                            }
                            let Some((key, _)) = keys::version_parts(&space, raw) else {
                                return ControlFlow::Continue(());
                            };
                            if let Some(common) = common_prefix(&key, q.prefix, q.delimiter) {
                                let common = common.to_owned();
                                // The scan stops here and goes on past the prefix's versions,
                                // which are skipped, not read.
                                stop =
                                    Stop::Folded(keys::prefix_end(&keys::versions_prefix(&space, &common)));
                                // A page that ended on this prefix resumes with it as the key
                                // marker: it was shown already.
                                if q.key_marker.is_none_or(|m| common.as_str() > m) {
                                    entries.push(VersionEntry::Prefix(common));
                                }
                                last_key = None;
                                return ControlFlow::Break(());
                            }
                            let head: ObjectHead = match model::decode(raw, value) {
                                Ok(head) => head,
                                Err(e) => {
                                    stop = Stop::Failed(e);
                                    return ControlFlow::Break(());
                                }
                            };
                            let is_latest = last_key.as_deref() != Some(key.as_str());
                            last_key = Some(key.clone());
                            taken.clear();
                            taken.extend_from_slice(raw);
                            entries.push(VersionEntry::Version {
                                key,
                                head: Box::new(head),
                                is_latest,
                            });
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
                        Next::Folded | Next::Scanned => {}
                    }
                }
                if !truncated && entries.len() == q.max_keys && q.max_keys > 0 {
                    truncated = !txn.scan(&cursor, &end, 1).await.map_err(from_meta)?.is_empty();
                }
                Ok(VersionPage { entries, truncated })
            })
        })
        .await
    }
}

/// The version id a listing shows for a record.
pub fn shown_id(head: &ObjectHead) -> &str {
    head.version_id.as_deref().unwrap_or("null")
}
