//! Running a closure as one transaction until it commits, for the few small transactions below
//! the S3 layer (gateway registry, master-key bookkeeping); `ops::transact` is the S3 layer's,
//! with backoff and S3 errors.

use futures::future::BoxFuture;

use super::{MetaError, MetaStore, MetaTxn};

/// Commit attempts before a conflict is returned.
const ATTEMPTS: usize = 8;

/// Runs `f` in a transaction and commits it, running it again from the start when the commit
/// conflicts. `args` is handed to every attempt (the closure's future may borrow it).
pub async fn transact<A, T, E, F>(meta: &dyn MetaStore, args: &A, f: F) -> Result<T, E>
where
    A: Sync + ?Sized,
    E: From<MetaError>,
    F: for<'t> Fn(&'t mut dyn MetaTxn, &'t A) -> BoxFuture<'t, Result<T, E>>,
{
    for _ in 0..ATTEMPTS {
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
            Err(MetaError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(MetaError::Conflict.into())
}
