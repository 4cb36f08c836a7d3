//! Running a closure as one metadata transaction, retried on conflict.
//!
//! Every check and every write of an operation happen inside one transaction, so a retried
//! attempt re-evaluates preconditions against the state that beat it: the loser of an
//! `If-None-Match: *` race sees the winner's object and fails with 412, not a lost update.

use futures::future::BoxFuture;
use s3s::S3Result;

use crate::errors::{conditional_request_conflict, from_meta};
use crate::meta::{MetaError, MetaStore, MetaTxn, backoff_after_conflict};

/// Attempts before a conflict is reported as `409 ConditionalRequestConflict`. Writers of one
/// key in one gateway already take turns (`key_locks`); these retries absorb races with other
/// gateways and on shared records (bucket, blob reference counts).
const MAX_ATTEMPTS: u32 = 16;

/// Whether a transaction's commit must be durable before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Immediate,
    /// Durable at the next `MetaStore::flush` (idempotent background work only).
    Deferred,
}

/// Runs `f` in a transaction and commits it, retrying the whole closure on a commit conflict.
pub async fn transact<A, T, F>(meta: &dyn MetaStore, args: &A, f: F) -> S3Result<T>
where
    A: Sync + ?Sized,
    F: for<'t> Fn(&'t mut dyn MetaTxn, &'t A) -> BoxFuture<'t, S3Result<T>>,
{
    transact_with(meta, Durability::Immediate, args, f).await
}

pub async fn transact_with<A, T, F>(
    meta: &dyn MetaStore,
    durability: Durability,
    args: &A,
    f: F,
) -> S3Result<T>
where
    A: Sync + ?Sized,
    F: for<'t> Fn(&'t mut dyn MetaTxn, &'t A) -> BoxFuture<'t, S3Result<T>>,
{
    for attempt in 1..=MAX_ATTEMPTS {
        let begun = match durability {
            Durability::Immediate => meta.begin().await,
            Durability::Deferred => meta.begin_deferred().await,
        };
        let mut txn = begun.map_err(from_meta)?;
        let value = match f(&mut *txn, args).await {
            Ok(v) => v,
            Err(e) => {
                let _ = txn.rollback().await;
                return Err(e);
            }
        };
        match txn.commit().await {
            Ok(()) => return Ok(value),
            Err(MetaError::Conflict) => backoff_after_conflict(attempt).await,
            Err(e) => return Err(from_meta(e)),
        }
    }
    Err(conditional_request_conflict())
}

/// Runs `f` on a read-only snapshot.
pub async fn read_only<A, T, F>(meta: &dyn MetaStore, args: &A, f: F) -> S3Result<T>
where
    A: Sync + ?Sized,
    F: for<'t> FnOnce(&'t mut dyn MetaTxn, &'t A) -> BoxFuture<'t, S3Result<T>>,
{
    let mut txn = meta.begin_read().await.map_err(from_meta)?;
    let result = f(&mut *txn, args).await;
    let _ = txn.rollback().await;
    result
}
