//! Per-object exponential backoff for failed reconciliations: an unreachable gateway is retried
//! after 5 s, 10 s, 20 s ... up to 5 minutes, and the count resets on the first success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const BASE: Duration = Duration::from_secs(5);
pub const MAX: Duration = Duration::from_secs(300);

/// The delay before retry number `attempt` (1 for the first retry).
pub fn delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BASE.saturating_mul(1 << doublings).min(MAX)
}

/// Failure counts by object.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records a failure of `key` and returns how long to wait before retrying.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key.to_owned()).or_default();
        *count = count.saturating_add(1);
        delay(*count)
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let seconds: Vec<u64> = (1..=9).map(|n| delay(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(delay(u32::MAX), MAX);
    }

    #[test]
    fn success_resets_the_count() {
        let backoff = Backoff::default();
        assert_eq!(backoff.failed("a"), Duration::from_secs(5));
        assert_eq!(backoff.failed("a"), Duration::from_secs(10));
        assert_eq!(backoff.failed("b"), Duration::from_secs(5));
        backoff.succeeded("a");
        assert_eq!(backoff.failed("a"), Duration::from_secs(5));
    }
}
