//! RenameObject: one transaction deletes the source key and writes the destination key pointing
//! at the same blobs. No bytes move; readers see exactly one of the two keys.

use std::time::Duration;

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::precondition::{ReadConditions, WriteConditions};
use super::version;
use super::{Store, bucket, transact};
use crate::errors::{custom, from_meta, no_such_key};
use crate::meta::MetaTxn;
use crate::meta::keys::{self, Space};
use crate::model::{self, Nanos, RenameTokenRecord};

/// How long a client token is remembered: longer than any client's retry loop, short enough that
/// tokens do not pile up (the sweeper prunes expired ones).
pub const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Where the source may be. Clients send `x-amz-rename-source` both as `/bucket/key` and as a
/// bare `/key`; the documented rule: when the value starts with the destination bucket's name and
/// a `/`, the rest is tried as the key first, then the whole value; otherwise the whole value is
/// the key. A value whose first segment names another existing bucket, and that is not a key
/// here, is a cross-bucket rename (`InvalidRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenameSource {
    pub candidates: Vec<String>,
    pub other_bucket: Option<String>,
}

impl RenameSource {
    /// `value` is the percent-decoded header without its leading `/`.
    pub fn resolve(value: &str, bucket: &str) -> Self {
        match value.split_once('/') {
            Some((first, rest)) if first == bucket && !rest.is_empty() => Self {
                candidates: vec![rest.to_owned(), value.to_owned()],
                other_bucket: None,
            },
            Some((first, rest)) if !rest.is_empty() => Self {
                candidates: vec![value.to_owned()],
                other_bucket: Some(first.to_owned()),
            },
            _ => Self {
                candidates: vec![value.to_owned()],
                other_bucket: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RenameRequest {
    pub bucket: String,
    pub source: RenameSource,
    pub dst_key: String,
    pub src_conditions: ReadConditions,
    pub dst_conditions: WriteConditions,
    pub client_token: Option<String>,
}

impl RenameRequest {
    /// A canonical form of every parameter that shapes the outcome.
    fn fingerprint(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.source, self.dst_key, self.src_conditions, self.dst_conditions
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameOutcome {
    pub etag: String,
    /// True when this answer is the remembered result of an earlier request with the same token.
    pub replayed: bool,
}

fn idempotency_mismatch() -> S3Error {
    custom(
        "IdempotencyParameterMismatch",
        http::StatusCode::BAD_REQUEST,
        "The client token was already used with different request parameters.",
    )
}

async fn remembered(
    txn: &mut dyn MetaTxn,
    space: &Space,
    req: &RenameRequest,
    token: &str,
    now: Nanos,
) -> S3Result<Option<RenameOutcome>> {
    let key = keys::token(space, token);
    let Some(raw) = txn.get(&key).await.map_err(from_meta)? else {
        return Ok(None);
    };
    let record: RenameTokenRecord = model::decode(&key, &raw).map_err(from_meta)?;
    if record.expires <= now {
        return Ok(None);
    }
    if record.fingerprint != req.fingerprint() {
        return Err(idempotency_mismatch());
    }
    Ok(Some(RenameOutcome {
        etag: record.etag,
        replayed: true,
    }))
}

impl Store {
    pub async fn rename_object(&self, req: &RenameRequest) -> S3Result<RenameOutcome> {
        let now = Nanos::from_time(self.clock.now());
        let mut touched: Vec<(&str, &str)> = req
            .source
            .candidates
            .iter()
            .map(|k| (req.bucket.as_str(), k.as_str()))
            .collect();
        touched.push((&req.bucket, &req.dst_key));
        let _turn = self.locks.lock(&touched).await;
        let (outcome, freed) = transact(&*self.meta, &(req, now), |txn, (req, now)| {
            Box::pin(async move {
                let record = bucket::load(txn, &req.bucket).await?;
                let space = record.space();
                if record.versioning.is_some() || record.versioning_ever_enabled {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidBucketState,
                        "RenameObject is not supported in buckets that have, or ever had, versioning enabled.",
                    ));
                }
                if let Some(token) = &req.client_token
                    && let Some(done) = remembered(txn, &space, req, token, *now).await?
                {
                    return Ok((done, Vec::new()));
                }

                let mut found = None;
                for key in &req.source.candidates {
                    if let Some(head) = version::live(version::current(txn, &space, key).await?) {
                        found = Some((key, head));
                        break;
                    }
                }
                let Some((src_key, src)) = found else {
                    if let Some(other) = &req.source.other_bucket
                        && txn.get(&keys::bucket(other)).await.map_err(from_meta)?.is_some()
                    {
                        return Err(S3Error::with_message(
                            S3ErrorCode::InvalidRequest,
                            "The source and destination of a rename must be in the same bucket.",
                        ));
                    }
                    return Err(no_such_key());
                };
                if *src_key == req.dst_key {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        "The source and destination of a rename must be different keys.",
                    ));
                }
                req.src_conditions.check_source(&src)?;
                let old = version::current(txn, &space, &req.dst_key).await?;
                req.dst_conditions.check(version::live(old.clone()).as_ref())?;

                // The destination references the source's blobs before the source lets go of
                // them, so their counts never touch zero: no byte moves.
                let etag = src.etag.clone();
                let (_, mut freed) =
                    version::publish(txn, &record, &req.dst_key, old.as_ref(), src.clone(), *now).await?;
                freed.extend(version::remove_unversioned(txn, &space, src_key, &src).await?);

                let outcome = RenameOutcome { etag: etag.clone(), replayed: false };
                if let Some(token) = &req.client_token {
                    let expires = Nanos(now.0.saturating_add(TOKEN_TTL.as_nanos() as i64));
                    let record = RenameTokenRecord { fingerprint: req.fingerprint(), etag, expires };
                    txn.put(&keys::token(&space, token), &model::encode(&record)).await.map_err(from_meta)?;
                }
                Ok((outcome, freed))
            })
        })
        .await?;
        self.free(&freed).await;
        Ok(outcome)
    }
}

/// Tokens examined per pruning transaction.
const PRUNE_BATCH: usize = 500;

impl Store {
    /// Deletes expired RenameObject tokens, one batch per transaction. Returns how many.
    pub async fn prune_rename_tokens(&self) -> S3Result<u64> {
        let now = Nanos::from_time(self.clock.now());
        let (mut start, end) = keys::all_tokens();
        let mut pruned = 0;
        loop {
            let (next, n) = transact(&*self.meta, &(&start, &end, now), |txn, (start, end, now)| {
                Box::pin(async move {
                    let batch = txn.scan(start, end, PRUNE_BATCH).await.map_err(from_meta)?;
                    let mut n = 0;
                    for (key, raw) in &batch {
                        let record: RenameTokenRecord = model::decode(key, raw).map_err(from_meta)?;
                        if record.expires <= *now {
                            txn.delete(key).await.map_err(from_meta)?;
                            n += 1;
                        }
                    }
                    let next =
                        (batch.len() == PRUNE_BATCH).then(|| batch.last().map(|(k, _)| keys::successor(k)));
                    Ok((next.flatten(), n))
                })
            })
            .await?;
            pruned += n;
            match next {
                Some(k) => start = k,
                None => return Ok(pruned),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_qualified_source_tries_the_key_then_the_whole_value() {
        let s = RenameSource::resolve("photos/2024/a.jpg", "photos");
        assert_eq!(
            s.candidates,
            vec!["2024/a.jpg".to_owned(), "photos/2024/a.jpg".to_owned()]
        );
        assert_eq!(s.other_bucket, None);
    }

    #[test]
    fn a_bare_key_is_a_key() {
        let s = RenameSource::resolve("a.txt", "photos");
        assert_eq!(s.candidates, vec!["a.txt".to_owned()]);
        let s = RenameSource::resolve("dir/a.txt", "photos");
        assert_eq!(s.candidates, vec!["dir/a.txt".to_owned()]);
        assert_eq!(s.other_bucket.as_deref(), Some("dir"));
    }
}
