//! Striped per-key write locks. Writers of one key in one gateway take turns instead of racing
//! optimistic transactions that all but one must retry: under a hot key, retries would starve an
//! unconditional PUT into a spurious 409. Conflicts between gateways (TiKV) still go through the
//! transaction's conflict detection and retries.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

/// Enough stripes that unrelated keys rarely share one; each is a few bytes.
const STRIPES: usize = 4096;

pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    fn stripe(bucket: &str, key: &str) -> usize {
        let mut h = DefaultHasher::new();
        (bucket, key).hash(&mut h);
        (h.finish() % STRIPES as u64) as usize
    }

    /// Locks every `(bucket, key)` given, in stripe order (so two multi-key writers cannot
    /// deadlock), each stripe once.
    pub async fn lock(&self, keys: &[(&str, &str)]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = keys.iter().map(|(b, k)| Self::stripe(b, k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.stripes[s].lock().await);
        }
        guards
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_same_key_locked_from_two_tasks_takes_turns() {
        let locks = Arc::new(KeyLocks::default());
        let held = locks.lock(&[("b", "k")]).await;
        let other = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = other.lock(&[("b", "k")]).await;
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn overlapping_multi_key_locks_do_not_deadlock() {
        let locks = Arc::new(KeyLocks::default());
        let mut tasks = Vec::new();
        for i in 0..50 {
            let locks = locks.clone();
            tasks.push(tokio::spawn(async move {
                let keys = if i % 2 == 0 {
                    [("b", "x"), ("b", "y")]
                } else {
                    [("b", "y"), ("b", "x")]
                };
                let _g = locks.lock(&keys).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
}
