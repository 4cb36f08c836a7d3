//! Settling a commit whose outcome is unknown (its reply was lost, it timed out, it failed
//! after the prewrite), the way TiKV's own clients settle another transaction's locks: by the
//! primary key.
//!
//! Percolator commits a transaction at one point, the commit of its primary key; secondaries
//! are committed afterwards, or by whoever finds their locks, to match the primary. A blind
//! rollback of every key (tikv-client's `Transaction::rollback`) is therefore wrong after an
//! uncertain commit: TiKV rolls back a secondary's lock without looking at the primary, so a
//! transaction whose primary committed could lose its secondaries (an object head without its
//! blob reference: the sweeper would later free a live blob).
//!
//! Instead, every key the transaction may have locked is handed to tikv-client's lock resolver
//! as a lock of this transaction with a TTL of 0 (TiKV's signal to resolve it at once rather than
//! wait for the TTL). The resolver asks the primary for the transaction's status — committing it
//! is then final, or it is rolled back for good (a rollback record also fences a delayed
//! prewrite) — and resolves each key to match. Only then is the transaction's own rollback sent:
//! with no lock of it left, a rollback changes nothing that committed and TiKV answers it with
//! `Committed`, which is how the outcome is learnt. If the resolver cannot finish, nothing is
//! rolled back: the outcome stays unknown (503 to the client) and TiKV's lock resolution settles
//! the keys later, by the same rule. One exception: a primary that holds no trace of the
//! transaction (it never prewrote) means it did not commit, and the rollback settles it.

use std::collections::BTreeSet;
use std::time::Duration;

use tikv_client::{Backoff, ProtoLockInfo, TimestampExt, Transaction, TransactionClient};

use super::retry;

/// Resolving the locks (a status check of the primary, a resolve per region).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The transaction's own rollback, once every key is settled.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The keys a transaction has locked or written, and which of them is its primary.
///
/// tikv-client 0.4 takes as primary the first key that is locked (`get_for_update`,
/// `lock_keys`) or written (`put`, `delete`); plain snapshot reads (`get`, our `peek`) do not
/// count. [`TxnKeys::touch`] is called at exactly those points, so its first key is the one
/// tikv-client prewrites as primary. (The dependency is pinned to 0.4.0 for this.)
#[derive(Debug, Default)]
pub struct TxnKeys {
    primary: Option<Vec<u8>>,
    keys: BTreeSet<Vec<u8>>,
}

impl TxnKeys {
    /// `key` (as sent to TiKV, prefix included) is locked or written by the transaction.
    pub fn touch(&mut self, key: &[u8]) {
        if self.primary.is_none() {
            self.primary = Some(key.to_vec());
        }
        self.keys.insert(key.to_vec());
    }

    /// Every key as a lock of the transaction started at `start_version`, to resolve now.
    fn locks(&self, start_version: u64) -> Vec<ProtoLockInfo> {
        let Some(primary) = &self.primary else {
            return Vec::new();
        };
        self.keys
            .iter()
            .map(|key| ProtoLockInfo {
                primary_lock: primary.clone(),
                lock_version: start_version,
                key: key.clone(),
                // TTL 0: resolve at once, as TiKV asks for locks a pessimistic prewrite meets.
                lock_ttl: 0,
                ..ProtoLockInfo::default()
            })
            .collect()
    }
}

/// What a failed commit turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    RolledBack,
    Committed,
    Unknown,
}

/// Settles `txn` after a commit that failed or went unanswered; see the module comment.
pub async fn settle(client: &TransactionClient, txn: &mut Transaction, keys: &TxnKeys) -> Settled {
    let start = txn.start_timestamp();
    let locks = keys.locks(start.version());
    if !locks.is_empty() {
        let resolve = async {
            let now = client.current_timestamp().await?;
            client
                .resolve_locks(locks, now, Backoff::no_jitter_backoff(50, 1_000, 5))
                .await
        };
        match tokio::time::timeout(RESOLVE_TIMEOUT, resolve).await {
            Ok(Ok(live)) if live.is_empty() => {}
            // The primary holds no lock and no record of the transaction: its prewrite never
            // landed (a conflict, or its store unreachable, while other regions took theirs), so
            // it did not commit, and nothing will commit it now (only this commit would have).
            // The resolver should then check again asking TiKV to leave a rollback record, but
            // tikv-client 0.4 misses the error in the shape its own request plan returns and
            // fails; so would every reader meeting one of the transaction's other locks, until
            // GC reached them hours later. The rollback below settles it: it rolls back every
            // key, and its record on the primary fences a prewrite still in flight.
            Ok(Err(e)) if retry::txn_not_found(&e, start.version()) => {}
            Ok(Ok(live)) => {
                tracing::warn!(
                    locks = live.len(),
                    "a failed TiKV commit left locks that stay live"
                );
                return Settled::Unknown;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "resolving the locks of a failed TiKV commit failed");
                return Settled::Unknown;
            }
            Err(_) => {
                tracing::warn!("resolving the locks of a failed TiKV commit timed out");
                return Settled::Unknown;
            }
        }
    }
    match tokio::time::timeout(ROLLBACK_TIMEOUT, txn.rollback()).await {
        Ok(Ok(())) => Settled::RolledBack,
        Ok(Err(e)) if retry::rollback_found_commit(&e) => Settled::Committed,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "rolling back a settled TiKV commit failed");
            Settled::Unknown
        }
        Err(_) => {
            tracing::warn!("rolling back a settled TiKV commit timed out");
            Settled::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_key_touched_is_the_primary_of_every_lock() {
        let mut keys = TxnKeys::default();
        for k in [&b"p/b"[..], b"p/a", b"p/c", b"p/a"] {
            keys.touch(k);
        }
        let locks = keys.locks(42);
        assert_eq!(
            locks.iter().map(|l| l.key.as_slice()).collect::<Vec<_>>(),
            [&b"p/a"[..], b"p/b", b"p/c"]
        );
        assert!(
            locks
                .iter()
                .all(|l| l.primary_lock == b"p/b" && l.lock_version == 42 && l.lock_ttl == 0)
        );
    }

    #[test]
    fn a_transaction_that_touched_nothing_has_nothing_to_resolve() {
        assert!(TxnKeys::default().locks(1).is_empty());
    }
}
