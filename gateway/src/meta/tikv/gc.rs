//! MVCC garbage collection for a store on TiKV without TiDB.
//!
//! TiKV keeps every version of every key until the cluster's GC safe point passes it. PD holds
//! the safe point and TiKV's GC workers poll it, but advancing it is TiDB's job, and there is no
//! TiDB here: without [`spawn_gc`], every overwrite and delete stays on disk forever.
//!
//! The gateway advances it to `now - max_age`, never past the start of the oldest transaction
//! still running in this gateway ([`ActiveTxns`]). Transactions of other gateways are protected
//! by a cap on every transaction's life ([`MAX_TXN_LIFETIME`]) far below the smallest
//! `max_age` ([`MIN_MAX_AGE`]): no transaction anywhere can be older than the safe point.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tikv_client::{Timestamp, TimestampExt};
use tokio::task::JoinHandle;

use super::TikvStore;

/// How long versions are kept by default: long enough to read back an incident, short enough
/// that a busy store does not carry days of dead versions.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3 * 60 * 60);

/// How often the safe point moves (TiDB's default GC run interval).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// No transaction of the gateway lives longer than this: operations that outlive it fail
/// ([`super::TikvTxn`]). A gateway transaction takes milliseconds; completing a 10,000-part
/// upload, seconds.
pub const MAX_TXN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The smallest `max_age` accepted: twice the longest transaction, so that one gateway's safe
/// point can never pass the start of another gateway's running transaction.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(2 * MAX_TXN_LIFETIME.as_secs());

/// Resolving every expired lock of the cluster and updating PD can take a while on a big
/// cluster; it must still end before the next run.
const GC_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Bits of a TSO timestamp below its physical part (milliseconds).
const PHYSICAL_SHIFT: u32 = 18;

/// Start timestamps of this gateway's running transactions (with multiplicity).
#[derive(Debug, Default)]
pub struct ActiveTxns {
    starts: Mutex<BTreeMap<u64, usize>>,
}

impl ActiveTxns {
    /// Records a running transaction until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, start: u64) -> Registration {
        *self.lock().entry(start).or_insert(0) += 1;
        Registration {
            active: self.clone(),
            start,
        }
    }

    /// The start of the oldest running transaction.
    pub fn oldest(&self) -> Option<u64> {
        self.lock().keys().next().copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        // The map is consistent after every statement: a panic elsewhere cannot corrupt it.
        self.starts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running transaction's entry in [`ActiveTxns`]; dropping it ends the entry.
#[derive(Debug)]
pub struct Registration {
    active: Arc<ActiveTxns>,
    start: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut starts = self.active.lock();
        if let Some(n) = starts.get_mut(&self.start) {
            *n -= 1;
            if *n == 0 {
                starts.remove(&self.start);
            }
        }
    }
}

/// The safe point to advance to at TSO time `now`: `now - max_age`, held at the oldest
/// running transaction's start (reading at the safe point itself stays valid).
pub fn safe_point(now: u64, max_age: Duration, oldest_running: Option<u64>) -> u64 {
    let age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
    let physical = (now >> PHYSICAL_SHIFT).saturating_sub(age_ms);
    let by_age = physical << PHYSICAL_SHIFT;
    oldest_running.map_or(by_age, |oldest| by_age.min(oldest))
}

/// Advances the cluster's GC safe point every `interval` (the first time after one interval,
/// so restarts do not hammer PD), keeping `max_age` of history (at least [`MIN_MAX_AGE`]).
/// Failures are logged and retried at the next run.
pub fn spawn_gc(store: TikvStore, interval: Duration, max_age: Duration) -> JoinHandle<()> {
    if max_age < MIN_MAX_AGE {
        tracing::warn!(
            requested_secs = max_age.as_secs(),
            used_secs = MIN_MAX_AGE.as_secs(),
            "TiKV GC max age raised to the minimum (twice the longest transaction)"
        );
    }
    let max_age = max_age.max(MIN_MAX_AGE);
    let interval = interval.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut advanced = 0;
        loop {
            tick.tick().await;
            match run_once(&store, max_age, advanced).await {
                Ok(Some(sp)) => advanced = sp,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "advancing the TiKV GC safe point failed"),
            }
        }
    })
}

/// One GC run: the new safe point, or `None` if it would not move.
async fn run_once(store: &TikvStore, max_age: Duration, advanced: u64) -> Result<Option<u64>, String> {
    let now = tokio::time::timeout(GC_TIMEOUT, store.client.current_timestamp())
        .await
        .map_err(|_| "PD did not give a timestamp in time".to_owned())?
        .map_err(|e| e.to_string())?
        .version();
    let sp = safe_point(now, max_age, store.active.oldest());
    if sp <= advanced {
        return Ok(None);
    }
    let accepted = tokio::time::timeout(GC_TIMEOUT, store.client.gc(Timestamp::from_version(sp)))
        .await
        .map_err(|_| format!("GC did not finish within {GC_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    if accepted {
        tracing::info!(
            safe_point = sp,
            max_age_secs = max_age.as_secs(),
            "advanced the TiKV GC safe point"
        );
    } else {
        // Another gateway (or a TiDB sharing the cluster) already moved it further.
        tracing::debug!(safe_point = sp, "PD kept a newer GC safe point");
    }
    Ok(Some(sp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(physical_ms: u64, logical: u64) -> u64 {
        (physical_ms << PHYSICAL_SHIFT) | logical
    }

    #[test]
    fn the_safe_point_trails_now_by_max_age() {
        let now = ts(10_800_000 + 5_000, 7);
        assert_eq!(safe_point(now, DEFAULT_MAX_AGE, None), ts(5_000, 0));
    }

    #[test]
    fn the_safe_point_never_passes_the_oldest_running_transaction() {
        let now = ts(10_800_000 + 5_000, 0);
        assert_eq!(safe_point(now, DEFAULT_MAX_AGE, Some(ts(4_000, 3))), ts(4_000, 3));
        assert_eq!(safe_point(now, DEFAULT_MAX_AGE, Some(ts(6_000, 0))), ts(5_000, 0));
    }

    #[test]
    fn a_young_cluster_keeps_everything() {
        assert_eq!(safe_point(ts(1_000, 0), DEFAULT_MAX_AGE, None), 0);
        assert_eq!(safe_point(ts(1_000, 0), Duration::MAX, None), 0);
    }

    #[test]
    fn the_oldest_running_transaction_is_tracked_until_its_guard_drops() {
        let active = Arc::new(ActiveTxns::default());
        assert_eq!(active.oldest(), None);
        let newer = active.register(20);
        let old = active.register(10);
        let old_twin = active.register(10);
        assert_eq!(active.oldest(), Some(10));
        drop(old);
        assert_eq!(
            active.oldest(),
            Some(10),
            "a second transaction started at 10 still runs"
        );
        drop(old_twin);
        assert_eq!(active.oldest(), Some(20));
        drop(newer);
        assert_eq!(active.oldest(), None);
    }

    #[test]
    fn max_age_leaves_room_for_the_longest_transaction() {
        assert!(MIN_MAX_AGE >= MAX_TXN_LIFETIME * 2);
        assert!(DEFAULT_MAX_AGE >= MIN_MAX_AGE);
    }
}
