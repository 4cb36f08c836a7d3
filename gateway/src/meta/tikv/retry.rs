//! What a tikv-client error means for the caller, and how often a failed call is tried again.
//!
//! tikv-client already retries inside a request (stale region cache, leader changes, locks it
//! can resolve) with its own short backoff. What escapes it is classified here: a lost race is a
//! [`Failure::Conflict`] (the caller retries the whole operation), a cluster that is briefly
//! unreachable or a lock that is still held is retried by us a bounded number of times, and what
//! remains becomes [`MetaError::Unavailable`](crate::meta::MetaError) or `Backend`.

use std::time::Duration;

use tikv_client::Error;

/// The meaning of a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// Worth another attempt: a region moved or split, a leader changed, PD or a TiKV store did
    /// not answer.
    Transient,
    /// A key stayed locked by another transaction longer than tikv-client waited.
    Locked,
    /// Anything else: a protocol mismatch, bad configuration, a bug. Retrying will not help.
    Fatal,
    /// Another transaction won. Nothing of this transaction was applied.
    Conflict,
    /// The primary key's commit was sent but its answer was lost: the transaction may have
    /// committed.
    Undetermined,
}

/// Classifies an error. Of several errors (one per region), the gravest decides, in the order
/// of [`Failure`]: a single conflict means the transaction lost.
pub fn classify(e: &Error) -> Failure {
    match e {
        Error::UndeterminedError(_) => Failure::Undetermined,
        Error::KeyError(k) => key_error(k),
        Error::ExtractedErrors(all) | Error::MultipleKeyErrors(all) => {
            all.iter().map(classify).max().unwrap_or(Failure::Fatal)
        }
        Error::PessimisticLockError { inner, .. } => classify(inner),
        Error::ResolveLockError(_) => Failure::Locked,
        Error::RegionError(_)
        | Error::LeaderNotFound { .. }
        | Error::RegionForKeyNotFound { .. }
        | Error::RegionForRangeNotFound { .. }
        | Error::RegionNotFoundInResponse { .. }
        | Error::NoCurrentRegions
        | Error::EntryNotFoundInRegionCache
        | Error::Grpc(_)
        | Error::GrpcAPI(_)
        | Error::Io(_)
        | Error::Channel(_)
        | Error::Canceled(_) => Failure::Transient,
        // tikv-client reports PD trouble (no leader, a closed TSO stream, "PD cluster failed to
        // respond") as internal errors: treat them as the cluster being unavailable.
        Error::InternalError { .. } => Failure::Transient,
        _ => Failure::Fatal,
    }
}

fn key_error(k: &tikv_client::ProtoKeyError) -> Failure {
    if let Some(c) = &k.conflict
        && c.start_ts != 0
        && c.conflict_ts == c.start_ts
    {
        // A conflict with itself: a resent prewrite met the transaction's own one-phase
        // commit, whose answer was lost. It did commit.
        Failure::Undetermined
    } else if k.conflict.is_some() || k.deadlock.is_some() || k.txn_not_found.is_some() {
        // A write conflict; or our locks were rolled back by another transaction that found
        // them expired (TxnNotFound, or TiKV's retryable TxnLockNotFound below).
        Failure::Conflict
    } else if !k.retryable.is_empty() {
        // TiKV's own "retry the transaction" verdict (WriteConflict, TxnLockNotFound).
        Failure::Conflict
    } else if k.locked.is_some() {
        Failure::Locked
    } else if k.commit_ts_expired.is_some() {
        Failure::Transient
    } else {
        Failure::Fatal
    }
}

/// Whether a rollback was refused because the transaction committed: TiKV answers a rollback
/// of a committed primary with its `Committed` error, carried only as text.
pub fn rollback_found_commit(e: &Error) -> bool {
    match e {
        Error::KeyError(k) => k.abort.contains("Committed {"),
        Error::ExtractedErrors(all) | Error::MultipleKeyErrors(all) => all.iter().any(rollback_found_commit),
        _ => false,
    }
}

/// Whether a status check found no trace of the transaction started at `start_ts` on its
/// primary (TiKV's `TxnNotFound`: no lock, no commit record, no rollback). tikv-client 0.4
/// returns it as a key error, in whatever nesting its request plan produced.
pub fn txn_not_found(e: &Error, start_ts: u64) -> bool {
    match e {
        Error::TxnNotFound(t) => t.start_ts == start_ts,
        Error::KeyError(k) => k.txn_not_found.as_ref().is_some_and(|t| t.start_ts == start_ts),
        Error::ExtractedErrors(all) | Error::MultipleKeyErrors(all) => {
            all.iter().any(|e| txn_not_found(e, start_ts))
        }
        _ => false,
    }
}

/// Bounded retries with exponential backoff and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

/// For reads and `begin`: tikv-client has already retried each of these for a second or two,
/// so a few more spaced attempts ride out a PD leader election (a few seconds) without making
/// a client wait long for a cluster that is really gone.
pub const CALL_RETRIES: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_delay: Duration::from_millis(50),
    max_delay: Duration::from_secs(1),
};

impl RetryPolicy {
    /// The pause before attempt `next` (2, 3, ...), or `None` when the attempts are used up.
    /// `jitter` in `[0, 1)` spreads the pause over its upper half ("equal jitter"), so callers
    /// that failed together do not retry together.
    pub fn delay(&self, next: u32, jitter: f64) -> Option<Duration> {
        if next < 2 || next > self.attempts {
            return None;
        }
        let doublings = (next - 2).min(20);
        let full = self
            .first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let half = full / 2;
        Some(half + half.mul_f64(jitter.clamp(0.0, 1.0)))
    }
}

#[cfg(test)]
mod tests {
    use tikv_client::{ProtoKeyError, ProtoRegionError};

    use super::*;

    fn key_error(f: impl FnOnce(&mut ProtoKeyError)) -> Error {
        let mut k = ProtoKeyError::default();
        f(&mut k);
        Error::KeyError(Box::new(k))
    }

    fn region_error() -> Error {
        Error::RegionError(Box::<ProtoRegionError>::default())
    }

    #[test]
    fn write_conflicts_and_rolled_back_locks_are_conflicts() {
        let cases = [
            key_error(|k| k.conflict = Some(Default::default())),
            key_error(|k| k.retryable = "Error(Txn(Error(Mvcc(Error(TxnLockNotFound".into()),
            key_error(|k| k.txn_not_found = Some(Default::default())),
            key_error(|k| k.deadlock = Some(Default::default())),
        ];
        for e in &cases {
            assert_eq!(classify(e), Failure::Conflict, "{e:?}");
        }
    }

    #[test]
    fn a_conflict_with_the_transaction_itself_means_it_committed() {
        let own = key_error(|k| {
            let c = k.conflict.insert(Default::default());
            (c.start_ts, c.conflict_ts, c.conflict_commit_ts) = (42, 42, 43);
        });
        assert_eq!(classify(&own), Failure::Undetermined);
    }

    #[test]
    fn a_rollback_refused_for_a_committed_primary_is_recognised() {
        let committed = Error::ExtractedErrors(vec![key_error(|k| {
            k.abort = "Error(Txn(Error(Mvcc(Error(Committed { start_ts: TimeStamp(42), commit_ts: \
                       TimeStamp(43), key: [115] })))))"
                .into();
        })]);
        assert!(rollback_found_commit(&committed));
        assert!(!rollback_found_commit(&key_error(
            |k| k.abort = "Error(Txn(Other))".into()
        )));
        assert!(!rollback_found_commit(&region_error()));
    }

    #[test]
    fn a_transaction_unknown_to_its_primary_is_recognised_in_any_nesting() {
        let not_found = |start_ts| {
            key_error(|k| {
                let t = k.txn_not_found.insert(Default::default());
                t.start_ts = start_ts;
            })
        };
        // As tikv-client 0.4's status check returns it.
        assert!(txn_not_found(&Error::MultipleKeyErrors(vec![not_found(42)]), 42));
        assert!(txn_not_found(&Error::ExtractedErrors(vec![not_found(42)]), 42));
        assert!(!txn_not_found(&not_found(41), 42), "another transaction's");
        assert!(!txn_not_found(
            &Error::MultipleKeyErrors(vec![region_error()]),
            42
        ));
    }

    #[test]
    fn a_lock_that_outlived_the_clients_backoff_is_locked() {
        assert_eq!(classify(&Error::ResolveLockError(vec![])), Failure::Locked);
        assert_eq!(
            classify(&key_error(|k| k.locked = Some(Default::default()))),
            Failure::Locked
        );
    }

    #[test]
    fn unreachable_or_moving_clusters_are_transient() {
        let cases = [
            region_error(),
            Error::LeaderNotFound {
                region: Default::default(),
            },
            Error::RegionForKeyNotFound { key: vec![1] },
            Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            Error::InternalError {
                message: "PD cluster failed to respond".into(),
            },
            key_error(|k| k.commit_ts_expired = Some(Default::default())),
        ];
        for e in &cases {
            assert_eq!(classify(e), Failure::Transient, "{e:?}");
        }
    }

    #[test]
    fn an_unknown_commit_outcome_is_undetermined() {
        let e = Error::UndeterminedError(Box::new(Error::Io(std::io::ErrorKind::TimedOut.into())));
        assert_eq!(classify(&e), Failure::Undetermined);
    }

    #[test]
    fn other_errors_are_fatal() {
        let cases = [
            key_error(|k| k.abort = "Txn(Mvcc(Committed".into()),
            key_error(|k| k.already_exist = Some(Default::default())),
            key_error(|_| {}),
            Error::StringError("2PC commitTS rejected by TiKV".into()),
            Error::OperationAfterCommitError,
            Error::ExtractedErrors(vec![]),
        ];
        for e in &cases {
            assert_eq!(classify(e), Failure::Fatal, "{e:?}");
        }
    }

    #[test]
    fn of_several_region_errors_the_gravest_decides() {
        let conflict = || key_error(|k| k.conflict = Some(Default::default()));
        let mixed = Error::ExtractedErrors(vec![
            region_error(),
            Error::MultipleKeyErrors(vec![conflict()]),
            Error::ResolveLockError(vec![]),
        ]);
        assert_eq!(classify(&mixed), Failure::Conflict);
        let flaky = Error::ExtractedErrors(vec![region_error(), Error::ResolveLockError(vec![])]);
        assert_eq!(classify(&flaky), Failure::Locked);
        let broken = Error::MultipleKeyErrors(vec![region_error(), key_error(|_| {})]);
        assert_eq!(classify(&broken), Failure::Fatal);
    }

    #[test]
    fn delays_double_up_to_the_cap_then_attempts_run_out() {
        let policy = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis());
        // No jitter: the lower half; full jitter: the whole pause.
        assert_eq!(ms(policy.delay(2, 0.0)), Some(50));
        assert_eq!(ms(policy.delay(2, 1.0)), Some(100));
        assert_eq!(ms(policy.delay(3, 1.0)), Some(200));
        assert_eq!(ms(policy.delay(4, 1.0)), Some(300));
        assert_eq!(ms(policy.delay(5, 0.5)), Some(225));
        assert_eq!(policy.delay(6, 0.5), None);
        assert_eq!(policy.delay(1, 0.5), None, "the first attempt does not wait");
    }

    #[test]
    fn the_call_policy_gives_up_within_seconds() {
        let worst: Duration = (2..=CALL_RETRIES.attempts)
            .map(|n| CALL_RETRIES.delay(n, 1.0).unwrap())
            .sum();
        assert!(worst <= Duration::from_secs(2), "{worst:?}");
        assert_eq!(CALL_RETRIES.delay(CALL_RETRIES.attempts + 1, 0.0), None);
    }
}
