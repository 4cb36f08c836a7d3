//! The one conformance suite every metadata backend runs (embedded and TiKV).
//!
//! Each check states one property of the [`MetaStore`] contract and panics, naming the backend
//! and the check, when the store violates it. Every call works under its own random key prefix,
//! so the suite can run against a shared, non-empty store, even several times at once.

use std::collections::hash_map::RandomState;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::keys::prefix_end;
use super::store::{Key, MetaError, MetaResult, MetaStore, MetaTxn, Value};

/// Concurrency of [`many_concurrent_increments_lose_nothing`]: enough tasks to keep every
/// runtime worker contending for one key, few enough to finish in seconds with a real fsync.
const INCREMENT_TASKS: u64 = 16;
const INCREMENTS_PER_TASK: u64 = 25;

/// Retries of one increment before the check calls it a livelock. Each conflict means some
/// other increment committed, so a fair store needs far fewer than this.
const MAX_INCREMENT_ATTEMPTS: usize = 10_000;

/// Whether a backend fails a transaction whose scanned range another transaction inserted into
/// (a phantom). The one property the suite lets a backend lack: fjall tracks scanned ranges;
/// TiKV locks keys, never ranges, so it detects changes to the keys a scan returned
/// ([`read_write_conflict_on_scanned_keys`]) but not inserts between them. No operation of the
/// gateway relies on phantom detection (docs/tikv.md says why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phantoms {
    Detected,
    Undetected,
}

/// Runs every check against `store`, one after another; the phantom check only where
/// `phantoms` says the backend detects them.
pub async fn run_all(store: Arc<dyn MetaStore>, phantoms: Phantoms) {
    committed_writes_are_visible(&*store).await;
    rolled_back_writes_are_invisible(&*store).await;
    commit_is_all_or_nothing(&*store).await;
    reads_come_from_one_snapshot(&*store).await;
    concurrent_writers_to_one_key_conflict(&*store).await;
    blind_writes_to_one_key_conflict(&*store).await;
    read_write_conflict_on_read_key(&*store).await;
    read_write_conflict_on_scanned_keys(&*store).await;
    if phantoms == Phantoms::Detected {
        read_write_conflict_on_scanned_range(&*store).await;
    }
    disjoint_transactions_both_commit(&*store).await;
    scan_is_ordered_and_limited(&*store).await;
    scan_sees_own_writes_and_deletes(&*store).await;
    scan_visit_lends_what_scan_returns(&*store).await;
    many_concurrent_increments_lose_nothing(store).await;
}

/// Puts, overwrites and deletes that committed are what later transactions read.
pub async fn committed_writes_are_visible(store: &dyn MetaStore) {
    let c = Check::new(store, "committed_writes_are_visible");
    let (a, b, missing) = (c.key(b"a"), c.key(b"b"), c.key(b"missing"));

    c.commit_puts(&[(&a, b"1"), (&b, b"2")]).await;
    assert_eq!(
        c.read(&a).await.as_deref(),
        Some(&b"1"[..]),
        "{c}: a committed put must be visible"
    );
    assert_eq!(
        c.read(&b).await.as_deref(),
        Some(&b"2"[..]),
        "{c}: a committed put must be visible"
    );
    assert_eq!(
        c.read(&missing).await,
        None,
        "{c}: a key never written must read as absent"
    );

    let mut txn = c.begin().await;
    c.ok(txn.put(&a, b"1 again").await);
    c.ok(txn.delete(&b).await);
    c.ok(txn.commit().await);
    assert_eq!(
        c.read(&a).await.as_deref(),
        Some(&b"1 again"[..]),
        "{c}: a committed overwrite must be visible"
    );
    assert_eq!(c.read(&b).await, None, "{c}: a committed delete must be visible");
}

/// Writes of a rolled-back or dropped transaction leave no trace and hold nothing up.
pub async fn rolled_back_writes_are_invisible(store: &dyn MetaStore) {
    let c = Check::new(store, "rolled_back_writes_are_invisible");
    let (kept, fresh) = (c.key(b"kept"), c.key(b"fresh"));
    c.commit_puts(&[(&kept, b"old")]).await;

    let mut rolled_back = c.begin().await;
    c.ok(rolled_back.put(&kept, b"rolled back").await);
    c.ok(rolled_back.put(&fresh, b"rolled back").await);
    c.ok(rolled_back.rollback().await);

    let mut dropped = c.begin().await;
    c.ok(dropped.delete(&kept).await);
    c.ok(dropped.put(&fresh, b"dropped").await);
    drop(dropped);

    assert_eq!(
        c.read(&kept).await.as_deref(),
        Some(&b"old"[..]),
        "{c}: a rolled-back write must not apply"
    );
    assert_eq!(
        c.read(&fresh).await,
        None,
        "{c}: an uncommitted write must not apply"
    );
    // Neither left a lock behind: the same keys commit at once.
    c.commit_puts(&[(&kept, b"new"), (&fresh, b"new")]).await;
    assert_eq!(
        c.read(&fresh).await.as_deref(),
        Some(&b"new"[..]),
        "{c}: keys must be writable after a rollback"
    );
}

/// A transaction that loses a conflict applies none of its writes, not even the ones to keys
/// nobody else touched.
pub async fn commit_is_all_or_nothing(store: &dyn MetaStore) {
    let c = Check::new(store, "commit_is_all_or_nothing");
    let (contended, doomed) = (c.key(b"contended"), c.key(b"doomed"));
    let (x, y) = (c.key(b"x"), c.key(b"y"));
    c.commit_puts(&[(&contended, b"seed"), (&doomed, b"still here")])
        .await;

    let mut loser = c.begin().await;
    c.ok(loser.get(&contended).await);
    let mut winner = c.begin().await;
    c.ok(winner.put(&contended, b"winner").await);
    c.ok(winner.commit().await);

    c.ok(loser.put(&x, b"loser").await);
    c.ok(loser.put(&y, b"loser").await);
    c.ok(loser.delete(&doomed).await);
    c.ok(loser.put(&contended, b"loser").await);
    c.conflict(loser.commit().await);

    assert_eq!(
        c.read(&x).await,
        None,
        "{c}: a conflicting commit must apply none of its puts"
    );
    assert_eq!(
        c.read(&y).await,
        None,
        "{c}: a conflicting commit must apply none of its puts"
    );
    assert_eq!(
        c.read(&doomed).await.as_deref(),
        Some(&b"still here"[..]),
        "{c}: a conflicting commit must apply none of its deletes"
    );
    assert_eq!(
        c.read(&contended).await.as_deref(),
        Some(&b"winner"[..]),
        "{c}: the winner's write must stand"
    );
}

/// A transaction reads one snapshot: commits made after it began stay invisible to it.
pub async fn reads_come_from_one_snapshot(store: &dyn MetaStore) {
    let c = Check::new(store, "reads_come_from_one_snapshot");
    let (k, a, b) = (c.key(b"k"), c.key(b"range/a"), c.key(b"range/b"));
    let (start, end) = c.range(b"range/");
    c.commit_puts(&[(&k, b"before"), (&a, b"before")]).await;

    let mut reader = c.begin().await;
    assert_eq!(
        c.ok(reader.get(&k).await).as_deref(),
        Some(&b"before"[..]),
        "{c}: first read"
    );
    let mut writer = c.begin().await;
    c.ok(writer.put(&k, b"after").await);
    c.ok(writer.put(&b, b"after").await);
    c.ok(writer.commit().await);

    assert_eq!(
        c.ok(reader.get(&k).await).as_deref(),
        Some(&b"before"[..]),
        "{c}: a read must not see a commit made after the transaction began"
    );
    assert_eq!(
        c.ok(reader.scan(&start, &end, 10).await),
        vec![(a, b"before".to_vec())],
        "{c}: a scan must not see a commit made after the transaction began"
    );
    c.ok(reader.rollback().await);
}

/// Two transactions that read and then write one key: exactly one commits.
pub async fn concurrent_writers_to_one_key_conflict(store: &dyn MetaStore) {
    let c = Check::new(store, "concurrent_writers_to_one_key_conflict");
    let k = c.key(b"k");
    c.commit_puts(&[(&k, b"0")]).await;

    let mut first = c.begin().await;
    let mut second = c.begin().await;
    c.ok(first.get(&k).await);
    c.ok(second.get(&k).await);
    c.ok(first.put(&k, b"first").await);
    c.ok(second.put(&k, b"second").await);

    c.ok(first.commit().await);
    c.conflict(second.commit().await);
    assert_eq!(
        c.read(&k).await.as_deref(),
        Some(&b"first"[..]),
        "{c}: only the winner's write must apply"
    );
}

/// Two transactions that write one key without reading it: exactly one commits (the contract
/// says "touch", and TiKV's optimistic transactions detect write-write conflicts).
pub async fn blind_writes_to_one_key_conflict(store: &dyn MetaStore) {
    let c = Check::new(store, "blind_writes_to_one_key_conflict");
    let (put_key, delete_key) = (c.key(b"put"), c.key(b"delete"));
    c.commit_puts(&[(&delete_key, b"seed")]).await;

    let mut first = c.begin().await;
    let mut second = c.begin().await;
    c.ok(first.put(&put_key, b"first").await);
    c.ok(first.put(&delete_key, b"first").await);
    c.ok(second.put(&put_key, b"second").await);
    c.ok(first.commit().await);
    c.conflict(second.commit().await);

    let mut deleter = c.begin().await;
    let mut writer = c.begin().await;
    c.ok(deleter.delete(&delete_key).await);
    c.ok(writer.put(&delete_key, b"writer").await);
    c.ok(writer.commit().await);
    c.conflict(deleter.commit().await);

    assert_eq!(
        c.read(&put_key).await.as_deref(),
        Some(&b"first"[..]),
        "{c}: only the winner's put must apply"
    );
    assert_eq!(
        c.read(&delete_key).await.as_deref(),
        Some(&b"writer"[..]),
        "{c}: the losing delete must not apply"
    );
}

/// A transaction that read a key (present or absent) cannot commit after another transaction
/// committed a write to it, even if it writes only elsewhere: that prevents write skew.
pub async fn read_write_conflict_on_read_key(store: &dyn MetaStore) {
    let c = Check::new(store, "read_write_conflict_on_read_key");
    let (present, absent, elsewhere) = (c.key(b"present"), c.key(b"absent"), c.key(b"elsewhere"));
    c.commit_puts(&[(&present, b"seed")]).await;

    for read in [&present, &absent] {
        let mut reader = c.begin().await;
        c.ok(reader.get(read).await);
        let mut writer = c.begin().await;
        c.ok(writer.put(read, b"writer").await);
        c.ok(writer.commit().await);

        c.ok(reader.put(&elsewhere, b"reader").await);
        c.conflict(reader.commit().await);
    }
    assert_eq!(
        c.read(&elsewhere).await,
        None,
        "{c}: a reader that conflicted must apply nothing"
    );
}

/// A transaction that scanned a range cannot commit after another transaction committed an
/// overwrite or a delete of a key the scan returned, even if it writes only elsewhere.
pub async fn read_write_conflict_on_scanned_keys(store: &dyn MetaStore) {
    let c = Check::new(store, "read_write_conflict_on_scanned_keys");
    let (a, cc) = (c.key(b"range/a"), c.key(b"range/c"));
    let elsewhere = c.key(b"elsewhere");
    let (start, end) = c.range(b"range/");
    c.commit_puts(&[(&a, b"a"), (&cc, b"c")]).await;

    let mut scanner = c.begin().await;
    assert_eq!(
        c.ok(scanner.scan(&start, &end, 100).await).len(),
        2,
        "{c}: the seeded range"
    );
    let mut overwriter = c.begin().await;
    c.ok(overwriter.put(&cc, b"overwritten").await);
    c.ok(overwriter.commit().await);
    c.ok(scanner.put(&elsewhere, b"scanner").await);
    c.conflict(scanner.commit().await);

    let mut scanner = c.begin().await;
    c.ok(scanner.scan(&start, &end, 100).await);
    let mut deleter = c.begin().await;
    c.ok(deleter.delete(&a).await);
    c.ok(deleter.commit().await);
    c.ok(scanner.put(&elsewhere, b"scanner").await);
    c.conflict(scanner.commit().await);

    assert_eq!(
        c.read(&elsewhere).await,
        None,
        "{c}: a scanner that conflicted must apply nothing"
    );
}

/// A transaction that scanned a range cannot commit after another transaction committed an
/// insert into it (a phantom), even if it writes only elsewhere. Only for backends that detect
/// phantoms ([`Phantoms`]).
pub async fn read_write_conflict_on_scanned_range(store: &dyn MetaStore) {
    let c = Check::new(store, "read_write_conflict_on_scanned_range");
    let (a, b, cc) = (c.key(b"range/a"), c.key(b"range/b"), c.key(b"range/c"));
    let elsewhere = c.key(b"elsewhere");
    let (start, end) = c.range(b"range/");
    c.commit_puts(&[(&a, b"a"), (&cc, b"c")]).await;

    for empty_first in [false, true] {
        let mut scanner = c.begin().await;
        if empty_first {
            // An empty scan ("is the bucket empty?") registers its range all the same.
            let (gap_start, gap_end) = (c.key(b"range/b"), c.key(b"range/b\xFF"));
            assert!(
                c.ok(scanner.scan(&gap_start, &gap_end, 100).await).is_empty(),
                "{c}: the gap"
            );
        } else {
            assert_eq!(
                c.ok(scanner.scan(&start, &end, 100).await).len(),
                2,
                "{c}: the seeded range"
            );
        }
        let mut inserter = c.begin().await;
        c.ok(inserter.put(&b, b"phantom").await);
        c.ok(inserter.commit().await);
        c.ok(scanner.put(&elsewhere, b"scanner").await);
        c.conflict(scanner.commit().await);

        let mut remover = c.begin().await;
        c.ok(remover.delete(&b).await);
        c.ok(remover.commit().await);
    }

    assert_eq!(
        c.read(&elsewhere).await,
        None,
        "{c}: a scanner that conflicted must apply nothing"
    );
}

/// Concurrent transactions whose reads, scans and writes do not overlap all commit.
pub async fn disjoint_transactions_both_commit(store: &dyn MetaStore) {
    let c = Check::new(store, "disjoint_transactions_both_commit");
    let (one, two) = (c.key(b"one/k"), c.key(b"two/k"));
    let (one_start, one_end) = c.range(b"one/");
    let (two_start, two_end) = c.range(b"two/");
    c.commit_puts(&[(&one, b"0"), (&two, b"0")]).await;

    let mut first = c.begin().await;
    let mut second = c.begin().await;
    c.ok(first.get(&one).await);
    c.ok(first.scan(&one_start, &one_end, 10).await);
    c.ok(second.get(&two).await);
    c.ok(second.scan(&two_start, &two_end, 10).await);
    c.ok(first.put(&one, b"first").await);
    c.ok(second.put(&two, b"second").await);

    c.ok(first.commit().await);
    c.ok(second.commit().await);
    assert_eq!(
        c.read(&one).await.as_deref(),
        Some(&b"first"[..]),
        "{c}: both commits must apply"
    );
    assert_eq!(
        c.read(&two).await.as_deref(),
        Some(&b"second"[..]),
        "{c}: both commits must apply"
    );
}

/// `scan` returns pairs in unsigned byte order (0x00 and 0xFF included), at most `limit` of
/// them, with `end` excluded; an empty or reversed range and a zero limit return nothing.
pub async fn scan_is_ordered_and_limited(store: &dyn MetaStore) {
    let c = Check::new(store, "scan_is_ordered_and_limited");
    let suffixes: [&[u8]; 12] = [
        b"ab",
        &[0xFF],
        &[0x00, 0xFF],
        b"a",
        &[0x80],
        &[0x00],
        &[0xFF, 0xFF],
        &[0x7F],
        b"a\0",
        &[0x01],
        &[0xFF, 0x00],
        &[0x00, 0x00],
    ];
    let mut expected: Vec<(Key, Value)> = suffixes.iter().map(|s| (c.key(s), s.to_vec())).collect();
    let mut txn = c.begin().await;
    for (k, v) in &expected {
        c.ok(txn.put(k, v).await);
    }
    c.ok(txn.commit().await);
    expected.sort();

    let (start, end) = c.range(b"");
    let mut txn = c.begin().await;
    assert_eq!(
        c.ok(txn.scan(&start, &end, 100).await),
        expected,
        "{c}: a scan must return keys in byte order"
    );
    assert_eq!(
        c.ok(txn.scan(&start, &end, 3).await),
        expected[..3],
        "{c}: a scan must stop at its limit"
    );

    let (from, to) = (c.key(&[0x01]), c.key(&[0xFF]));
    let inside: Vec<_> = expected
        .iter()
        .filter(|(k, _)| *k >= from && *k < to)
        .cloned()
        .collect();
    let got = c.ok(txn.scan(&from, &to, 100).await);
    assert_eq!(got, inside, "{c}: a scan must cover [start, end)");
    assert_eq!(
        got.first().map(|(k, _)| k),
        Some(&from),
        "{c}: a scan must include its start key"
    );
    assert!(
        !got.iter().any(|(k, _)| *k == to),
        "{c}: a scan must exclude its end key"
    );

    assert!(
        c.ok(txn.scan(&from, &from, 100).await).is_empty(),
        "{c}: start == end is an empty range"
    );
    assert!(
        c.ok(txn.scan(&to, &from, 100).await).is_empty(),
        "{c}: start > end is an empty range"
    );
    assert!(
        c.ok(txn.scan(&start, &end, 0).await).is_empty(),
        "{c}: limit 0 returns nothing"
    );
    let (gap_start, gap_end) = (c.key(b"b"), c.key(b"c"));
    assert!(
        c.ok(txn.scan(&gap_start, &gap_end, 100).await).is_empty(),
        "{c}: a range without keys"
    );
    c.ok(txn.rollback().await);
}

/// A scan sees the transaction's own puts, overwrites and deletes, and deleted keys do not
/// count towards the limit; after commit, everyone sees the same.
pub async fn scan_sees_own_writes_and_deletes(store: &dyn MetaStore) {
    let c = Check::new(store, "scan_sees_own_writes_and_deletes");
    let [a, b, cc, d, e] = [b"a", b"b", b"c", b"d", b"e"].map(|s| c.key(s));
    let (start, end) = c.range(b"");
    c.commit_puts(&[(&a, b"1"), (&b, b"2"), (&cc, b"3")]).await;

    let mut txn = c.begin().await;
    c.ok(txn.delete(&b).await);
    c.ok(txn.put(&a, b"10").await);
    c.ok(txn.put(&d, b"4").await);
    c.ok(txn.put(&e, b"written then deleted").await);
    c.ok(txn.delete(&e).await);
    let expected = vec![(a, b"10".to_vec()), (cc, b"3".to_vec()), (d, b"4".to_vec())];
    assert_eq!(
        c.ok(txn.scan(&start, &end, 100).await),
        expected,
        "{c}: a scan must see its own writes"
    );
    assert_eq!(
        c.ok(txn.scan(&start, &end, 2).await),
        expected[..2],
        "{c}: deleted keys must not count towards the limit"
    );
    assert_eq!(
        c.ok(txn.get(&b).await),
        None,
        "{c}: a read must see its own delete"
    );
    c.ok(txn.commit().await);

    assert_eq!(
        c.scan_committed(&start, &end).await,
        expected,
        "{c}: the committed scan"
    );
}

/// `scan_visit` hands over exactly what `scan` returns, in a transaction with its own writes
/// and in a read-only snapshot, and stops where the visitor does.
pub async fn scan_visit_lends_what_scan_returns(store: &dyn MetaStore) {
    let c = Check::new(store, "scan_visit_lends_what_scan_returns");
    let [a, b, cc, d, e] = [b"a", b"b", b"c", b"d", b"e"].map(|s| c.key(s));
    let (start, end) = c.range(b"");
    c.commit_puts(&[(&a, b"1"), (&b, b"2"), (&cc, b"3"), (&e, b"5")])
        .await;

    let mut txn = c.begin().await;
    c.ok(txn.delete(&b).await);
    c.ok(txn.put(&d, b"4").await);
    let scanned = c.ok(txn.scan(&start, &end, 100).await);
    assert_eq!(
        c.visit_all(&mut *txn, &start, &end, 100).await,
        scanned,
        "{c}: scan_visit must see the transaction's own writes, as scan does"
    );
    assert_eq!(
        c.visit_all(&mut *txn, &start, &end, 2).await,
        scanned[..2],
        "{c}: scan_visit must stop at its limit"
    );
    assert_eq!(
        c.visit_all(&mut *txn, &start, &start, 100).await,
        [],
        "{c}: scan_visit of an empty range"
    );
    let mut seen = Vec::new();
    let handed = c.ok(txn
        .scan_visit(&start, &end, 100, &mut |k, _| {
            seen.push(k.to_vec());
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await);
    assert_eq!(handed, 2, "{c}: scan_visit must count what it handed over");
    assert_eq!(
        seen,
        [a.clone(), cc.clone()],
        "{c}: scan_visit must stop when told"
    );
    c.ok(txn.commit().await);

    let mut snapshot = c.ok(store.begin_read().await);
    assert_eq!(
        c.visit_all(&mut *snapshot, &start, &end, 100).await,
        c.ok(snapshot.scan(&start, &end, 100).await),
        "{c}: scan_visit in a snapshot"
    );
    assert_eq!(
        c.visit_all(&mut *snapshot, &start, &end, 100).await,
        [
            (a, b"1".to_vec()),
            (cc, b"3".to_vec()),
            (d, b"4".to_vec()),
            (e, b"5".to_vec())
        ],
        "{c}: scan_visit in a snapshot sees the committed state"
    );
    c.ok(snapshot.rollback().await);
}

/// Many tasks incrementing one counter, retrying on conflict, lose no increment.
pub async fn many_concurrent_increments_lose_nothing(store: Arc<dyn MetaStore>) {
    const NAME: &str = "many_concurrent_increments_lose_nothing";
    let counter = Check::new(&*store, NAME).key(b"counter");
    let tasks: Vec<_> = (0..INCREMENT_TASKS)
        .map(|_| {
            let (store, counter) = (store.clone(), counter.clone());
            tokio::spawn(async move {
                let c = Check::new(&*store, NAME);
                for _ in 0..INCREMENTS_PER_TASK {
                    increment(&c, &counter).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an increment task panicked");
    }

    let c = Check::new(&*store, NAME);
    let value = c.read(&counter).await.map(|v| decode_counter(&c, &v));
    assert_eq!(
        value,
        Some(INCREMENT_TASKS * INCREMENTS_PER_TASK),
        "{c}: increments were lost"
    );
}

/// Adds one to the counter at `key`, retrying from scratch on conflict.
async fn increment(c: &Check<'_>, key: &[u8]) {
    for _ in 0..MAX_INCREMENT_ATTEMPTS {
        let mut txn = c.begin().await;
        let current = c.ok(txn.get(key).await).map_or(0, |v| decode_counter(c, &v));
        c.ok(txn.put(key, &(current + 1).to_be_bytes()).await);
        match txn.commit().await {
            Ok(()) => return,
            Err(MetaError::Conflict) => continue,
            Err(e) => panic!("{c}: an increment failed with {e}"),
        }
    }
    panic!("{c}: an increment conflicted {MAX_INCREMENT_ATTEMPTS} times in a row");
}

fn decode_counter(c: &Check<'_>, bytes: &[u8]) -> u64 {
    let bytes = bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{c}: the counter is not 8 bytes: {bytes:?}"));
    u64::from_be_bytes(bytes)
}

/// One run of one check: the store, the check's name for messages, and its key prefix.
struct Check<'a> {
    store: &'a dyn MetaStore,
    name: &'static str,
    prefix: Key,
}

impl std::fmt::Display for Check<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} store, {}", self.store.backend(), self.name)
    }
}

impl<'a> Check<'a> {
    fn new(store: &'a dyn MetaStore, name: &'static str) -> Self {
        let prefix = format!("conformance/{name}/{:016x}/", unique_id()).into_bytes();
        Self { store, name, prefix }
    }

    fn key(&self, suffix: &[u8]) -> Key {
        [&self.prefix[..], suffix].concat()
    }

    /// The range of every key of this check whose suffix starts with `suffix`.
    fn range(&self, suffix: &[u8]) -> (Key, Key) {
        let start = self.key(suffix);
        let end = prefix_end(&start);
        (start, end)
    }

    /// Unwraps a result the check expects to succeed.
    fn ok<T>(&self, result: MetaResult<T>) -> T {
        result.unwrap_or_else(|e| panic!("{self}: unexpected error: {e}"))
    }

    fn conflict<T: Debug>(&self, result: MetaResult<T>) {
        assert!(
            matches!(result, Err(MetaError::Conflict)),
            "{self}: expected a conflict, got {result:?}"
        );
    }

    async fn begin(&self) -> Box<dyn MetaTxn> {
        self.ok(self.store.begin().await)
    }

    async fn commit_puts(&self, pairs: &[(&Key, &[u8])]) {
        let mut txn = self.begin().await;
        for (k, v) in pairs {
            self.ok(txn.put(k, v).await);
        }
        self.ok(txn.commit().await);
    }

    /// Reads `key` in a transaction of its own.
    async fn read(&self, key: &[u8]) -> Option<Value> {
        let mut txn = self.begin().await;
        let value = self.ok(txn.get(key).await);
        self.ok(txn.rollback().await);
        value
    }

    async fn scan_committed(&self, start: &[u8], end: &[u8]) -> Vec<(Key, Value)> {
        let mut txn = self.begin().await;
        let pairs = self.ok(txn.scan(start, end, usize::MAX).await);
        self.ok(txn.rollback().await);
        pairs
    }

    /// Every pair `scan_visit` hands over, copied out.
    async fn visit_all(
        &self,
        txn: &mut dyn MetaTxn,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Vec<(Key, Value)> {
        let mut pairs = Vec::new();
        let handed = self.ok(txn
            .scan_visit(start, end, limit, &mut |k, v| {
                pairs.push((k.to_vec(), v.to_vec()));
                ControlFlow::Continue(())
            })
            .await);
        assert_eq!(
            handed,
            pairs.len(),
            "{self}: scan_visit must count what it handed over"
        );
        pairs
    }
}

/// Unique within the process (a counter) and, with high probability, across processes sharing
/// a store (std's randomly keyed hasher, plus the time), without a dependency on `rand`.
fn unique_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(nanos);
    hasher.finish()
}
