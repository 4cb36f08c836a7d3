//! Group commit: one `fsync` makes every commit written before it durable, so commits that
//! arrive while a sync runs share the next one instead of queueing one sync each.
//!
//! A commit writes its journal entry without syncing, takes a ticket (tickets are handed out in
//! the order the writes completed), and waits until a sync that started after its ticket was
//! taken has finished. Whoever finds no sync running leads the next one, covering every ticket
//! taken so far; the others wait for it. Nothing is acknowledged before the sync that covers it,
//! so a crash loses only commits whose callers never heard back. (A concurrent reader may see a
//! commit during the milliseconds before its sync: such a write can still vanish in a crash, as
//! with any group commit; a write that depends on it is durable only together with it, since
//! the journal is synced in order.)

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, watch};

pub struct GroupSync {
    /// Tickets handed out: commits whose journal write has completed.
    written: AtomicU64,
    /// The highest ticket a finished sync covers.
    synced: watch::Sender<u64>,
    /// Held by the leader of the sync under way.
    leader: Mutex<()>,
}

impl Default for GroupSync {
    fn default() -> Self {
        Self {
            written: AtomicU64::new(0),
            synced: watch::Sender::new(0),
            leader: Mutex::new(()),
        }
    }
}

impl GroupSync {
    /// Called once a commit's journal write has completed; returns when a sync covers it.
    /// `sync` makes every completed journal write durable.
    pub async fn durable<E>(&self, sync: impl Fn() -> Result<(), E>) -> Result<(), E> {
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.subscribe();
        loop {
            if *synced.borrow_and_update() >= ticket {
                return Ok(());
            }
            if let Ok(leading) = self.leader.try_lock() {
                // Every ticket up to here was taken after its write completed: this sync covers
                // them all, ours included.
                let covered = self.written.load(Ordering::SeqCst);
                let result = sync();
                // Leadership is given up before the waiters hear of the sync, so each one that
                // wakes either finds itself covered or can lead the next sync (a waiter that
                // heard first and then found the lock still taken would wait for nothing).
                drop(leading);
                self.synced.send_modify(|s| {
                    if result.is_ok() {
                        *s = (*s).max(covered);
                    }
                });
                return result;
            }
            // The leader's sync may have started before our ticket: wait for it, then look again.
            if synced.changed().await.is_err() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    /// 64 commits at once: each returns only after a sync that began after its write, and far
    /// fewer syncs than commits run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_share_syncs_and_none_returns_before_one_covers_it() {
        let group = Arc::new(GroupSync::default());
        let writes = Arc::new(AtomicU64::new(0));
        let durable_upto = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (group, writes, durable_upto, syncs) =
                    (group.clone(), writes.clone(), durable_upto.clone(), syncs.clone());
                tokio::spawn(async move {
                    let mine = writes.fetch_add(1, Ordering::SeqCst) + 1;
                    group
                        .durable(|| {
                            let upto = writes.load(Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            syncs.fetch_add(1, Ordering::SeqCst);
                            durable_upto.fetch_max(upto, Ordering::SeqCst);
                            Ok::<_, ()>(())
                        })
                        .await
                        .unwrap();
                    assert!(
                        durable_upto.load(Ordering::SeqCst) >= mine,
                        "acknowledged before durable"
                    );
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let syncs = syncs.load(Ordering::SeqCst);
        assert!(syncs < 32, "{syncs} syncs for 64 commits");
    }

    /// Rounds of commits racing the end of each other's syncs: none waits forever (a waiter
    /// that hears of a sync just before its leader lets go must still get one of its own).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_commit_waits_forever_behind_a_finished_sync() {
        let group = Arc::new(GroupSync::default());
        for _ in 0..200 {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let group = group.clone();
                    tokio::spawn(async move { group.durable(|| Ok::<_, ()>(())).await })
                })
                .collect();
            for t in tasks {
                tokio::time::timeout(Duration::from_secs(5), t)
                    .await
                    .expect("no commit waits forever")
                    .unwrap()
                    .unwrap();
            }
        }
    }

    #[tokio::test]
    async fn a_failed_sync_is_the_leaders_error_and_the_next_commit_syncs_again() {
        let group = GroupSync::default();
        assert_eq!(group.durable(|| Err("disk")).await, Err("disk"));
        let syncs = AtomicUsize::new(0);
        group
            .durable(|| {
                syncs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, &str>(())
            })
            .await
            .unwrap();
        assert_eq!(syncs.load(Ordering::SeqCst), 1);
    }
}
