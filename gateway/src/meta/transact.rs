//! Running a closure as one transaction until it commits, for the few small transactions below
//! the S3 layer (gateway registry, master-key bookkeeping); `ops::transact` is the S3 layer's,
//! with backoff and S3 errors.

use futures::future::BoxFuture;

use super::{MetaError, MetaStore, MetaTxn};

/// Commit attempts before a conflict is returned.
const ATTEMPTS: u32 = 8;

/// Runs `f` in a transaction and commits it, running it again from the start when the commit
/// conflicts. `args` is handed to every attempt (the closure's future may borrow it).
pub async fn transact<A, T, E, F>(meta: &dyn MetaStore, args: &A, f: F) -> Result<T, E>
where
    A: Sync + ?Sized,
    E: From<MetaError>,
    F: for<'t> Fn(&'t mut dyn MetaTxn, &'t A) -> BoxFuture<'t, Result<T, E>>,
{
    for attempt in 0..ATTEMPTS {
        let mut txn = meta.begin().await?;
        let value = match f(&mut *txn, args).await {
            Ok(v) => v,
            Err(e) => {
                let _ = txn.rollback().await;
                return Err(e);
            }
        };
        match txn.commit().await {
            Ok(()) => return Ok(value),
            // Racers that all retried at once would meet again (a burst of first writes all
            // making the store's SSE-S3 key): a jittered wait spreads them.
            Err(MetaError::Conflict) => backoff_after_conflict(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(MetaError::Conflict.into())
}

/// The wait after the `attempt`-th commit of a transaction lost to a conflict: growing, and
/// jittered so that racers that lost together do not retry together.
pub async fn backoff_after_conflict(attempt: u32) {
    use rand::Rng as _;
    let base_us = 200u64 << attempt.min(8);
    let jitter = rand::rng().random_range(0..=base_us);
    tokio::time::sleep(std::time::Duration::from_micros(base_us + jitter)).await;
}
