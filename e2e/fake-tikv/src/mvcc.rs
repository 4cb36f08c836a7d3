//! The store's data: Percolator over MVCC, as TiKV runs it (`src/storage/txn/actions` and
//! `commands` of TiKV), reduced to what optimistic transactions use.
//!
//! Per key: at most one lock (a prewritten, uncommitted write: primary, start timestamp, TTL,
//! the write itself), and write records by commit timestamp (a put, a delete, a lock that
//! changed nothing, or a rollback, kept at the rolled-back transaction's start timestamp so that
//! a late prewrite of it is refused). Every command checks everything first and applies only
//! if it succeeds as a whole, as a TiKV command does (its writes go in one batch, or not at all).
//!
//! Error variants carry what TiKV's `KeyError` reports for them; `kv.rs` turns them into protos.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

pub type Key = Vec<u8>;

/// What a prewritten lock will write when it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockKind {
    Put(Vec<u8>),
    Delete,
    /// A key only read (tikv-client's `lock_keys`): commits as a `Lock` record.
    Lock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub primary: Key,
    pub start_ts: u64,
    /// Milliseconds after the start timestamp's physical time.
    pub ttl: u64,
    pub kind: LockKind,
    pub txn_size: u64,
    /// 0 unless set by the prewrite or pushed by a reader (TiKV pushes only non-zero ones).
    pub min_commit_ts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    Put(Vec<u8>),
    Delete,
    Lock,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub start_ts: u64,
    pub kind: WriteKind,
}

/// The transaction a prewrite is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrewriteTxn {
    pub primary: Key,
    pub start_ts: u64,
    pub ttl: u64,
    /// Keys of the transaction in the region (reported in lock infos).
    pub txn_size: u64,
    pub min_commit_ts: u64,
}

/// A mutation of a prewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    Put(Key, Vec<u8>),
    Delete(Key),
    Lock(Key),
    /// A put that fails if the key exists.
    Insert(Key, Vec<u8>),
    /// Fails if the key exists; writes nothing.
    CheckNotExists(Key),
}

impl Mutation {
    pub fn key(&self) -> &Key {
        match self {
            Mutation::Put(k, _)
            | Mutation::Delete(k)
            | Mutation::Lock(k)
            | Mutation::Insert(k, _)
            | Mutation::CheckNotExists(k) => k,
        }
    }
}

/// Why a command failed, as TiKV's `KeyError` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyErr {
    /// The key is locked by another transaction (the reader or writer should resolve it).
    Locked {
        key: Key,
        lock: Lock,
    },
    WriteConflict {
        start_ts: u64,
        conflict_start_ts: u64,
        conflict_commit_ts: u64,
        key: Key,
        primary: Key,
        /// `write_conflict::Reason`: 1 optimistic, 3 the transaction itself was rolled back.
        reason: i32,
    },
    AlreadyExist {
        key: Key,
    },
    /// A commit found neither its lock nor its commit record (it was rolled back).
    TxnLockNotFound {
        start_ts: u64,
        commit_ts: u64,
        key: Key,
    },
    /// A rollback of a key the transaction committed.
    Committed {
        start_ts: u64,
        commit_ts: u64,
        key: Key,
    },
    /// CheckTxnStatus found no trace of the transaction on its primary.
    TxnNotFound {
        start_ts: u64,
        primary: Key,
    },
    CommitTsExpired {
        start_ts: u64,
        attempted: u64,
        key: Key,
        min_commit_ts: u64,
    },
    /// CheckTxnStatus was sent to a key whose lock names another primary.
    PrimaryMismatch {
        key: Key,
        lock: Lock,
    },
}

/// The outcome of a successful prewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prewritten {
    /// Locks written; commit follows.
    Locked,
    /// One-phase commit: committed at this timestamp.
    OnePc(u64),
    /// The transaction had already committed (a resent prewrite): nothing written.
    AlreadyCommitted(u64),
}

/// A transaction's state as CheckTxnStatus reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnStatus {
    /// Still locked (the lock, and whether its min commit timestamp was pushed).
    Locked(Lock, bool),
    Committed(u64),
    /// Rolled back, earlier or now (`rolled_now`: by this check, and why: TTL or no lock).
    RolledBack(Option<RolledNow>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolledNow {
    TtlExpired,
    LockNotExist,
}

/// What a key holds for a transaction (for tests: "all or nothing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    Locked,
    Committed(u64),
    RolledBack,
    /// No lock and no record of the transaction.
    Absent,
}

/// Bits of a timestamp below its physical part (milliseconds).
pub const PHYSICAL_SHIFT: u32 = 18;

fn physical(ts: u64) -> u64 {
    ts >> PHYSICAL_SHIFT
}

#[derive(Debug, Default)]
pub struct Mvcc {
    locks: BTreeMap<Key, Lock>,
    /// Per key, by commit timestamp.
    writes: BTreeMap<Key, BTreeMap<u64, Write>>,
    /// Bookkeeping for tests, no part of the semantics: the keys each transaction prewrote.
    prewritten: BTreeMap<u64, BTreeSet<Key>>,
}

impl Mvcc {
    /// The value of `key` at `ts`, or the lock that hides it.
    pub fn get(&self, key: &[u8], ts: u64) -> Result<Option<Vec<u8>>, KeyErr> {
        self.check_read_lock(key, ts)?;
        Ok(self.value_at(key, ts))
    }

    /// Keys in `[start, end)` (`end` empty: unbounded) with a value at `ts`, ascending or
    /// descending, at most `limit`; a key hidden by a lock gives its error in place of a value
    /// (and counts toward the limit), as TiKV's scanner does.
    pub fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        ts: u64,
        reverse: bool,
    ) -> Vec<(Key, Result<Vec<u8>, KeyErr>)> {
        let upper = if end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end.to_vec())
        };
        let range = (Bound::Included(start.to_vec()), upper);
        let mut keys: BTreeSet<&Key> = self.locks.range(range.clone()).map(|(k, _)| k).collect();
        keys.extend(self.writes.range(range).map(|(k, _)| k));
        let ordered: Box<dyn Iterator<Item = &&Key>> = if reverse {
            Box::new(keys.iter().rev())
        } else {
            Box::new(keys.iter())
        };
        let mut out = Vec::new();
        for key in ordered {
            if out.len() >= limit {
                break;
            }
            match self.check_read_lock(key, ts) {
                Err(e) => out.push(((*key).clone(), Err(e))),
                Ok(()) => {
                    if let Some(v) = self.value_at(key, ts) {
                        out.push(((*key).clone(), Ok(v)));
                    }
                }
            }
        }
        out
    }

    /// TiKV's `check_ts_conflict`: a lock hides a key from readers at or after its start,
    /// unless it only locks (no value), or its min commit timestamp was pushed past the reader.
    fn check_read_lock(&self, key: &[u8], ts: u64) -> Result<(), KeyErr> {
        match self.locks.get(key) {
            Some(lock) if lock.start_ts <= ts && lock.kind != LockKind::Lock && lock.min_commit_ts <= ts => {
                Err(KeyErr::Locked {
                    key: key.to_vec(),
                    lock: lock.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The newest put or delete committed at or before `ts`.
    fn value_at(&self, key: &[u8], ts: u64) -> Option<Vec<u8>> {
        let writes = self.writes.get(key)?;
        for (_, w) in writes.range(..=ts).rev() {
            match &w.kind {
                WriteKind::Put(v) => return Some(v.clone()),
                WriteKind::Delete => return None,
                WriteKind::Lock | WriteKind::Rollback => continue,
            }
        }
        None
    }

    /// The record `start_ts` left on `key`: its commit timestamp, or a rollback.
    fn commit_record(&self, key: &[u8], start_ts: u64) -> Option<(u64, &Write)> {
        let writes = self.writes.get(key)?;
        writes
            .range(start_ts..)
            .find(|(_, w)| w.start_ts == start_ts)
            .map(|(ts, w)| (*ts, w))
    }

    /// Prewrites `mutations` of `txn`; with `one_pc_commit_ts`, commits them at once at the
    /// timestamp it gives (taken only if the prewrite succeeds).
    pub fn prewrite(
        &mut self,
        txn: &PrewriteTxn,
        mutations: &[Mutation],
        one_pc_commit_ts: Option<&mut dyn FnMut() -> u64>,
    ) -> Result<Prewritten, Vec<KeyErr>> {
        let PrewriteTxn {
            primary,
            start_ts,
            ttl,
            txn_size,
            min_commit_ts,
        } = txn;
        let (primary, start_ts) = (primary.as_slice(), *start_ts);
        let mut locked = Vec::new();
        let mut new_locks = Vec::new();
        for m in mutations {
            let key = m.key();
            match self.locks.get(key) {
                // A resent prewrite: the lock is already there.
                Some(l) if l.start_ts == start_ts => continue,
                Some(l) => {
                    locked.push(KeyErr::Locked {
                        key: key.clone(),
                        lock: l.clone(),
                    });
                    continue;
                }
                None => {}
            }
            // TiKV's `check_for_newer_version`, then `check_committed_record_on_err`.
            if let Some((&commit_ts, newest)) = self.writes.get(key).and_then(|w| w.iter().next_back()) {
                if commit_ts == start_ts && newest.kind == WriteKind::Rollback {
                    return Err(vec![KeyErr::WriteConflict {
                        start_ts,
                        conflict_start_ts: newest.start_ts,
                        conflict_commit_ts: commit_ts,
                        key: key.clone(),
                        primary: primary.to_vec(),
                        reason: 3,
                    }]);
                }
                if commit_ts > start_ts {
                    if let Some((own, w)) = self.commit_record(key, start_ts)
                        && w.kind != WriteKind::Rollback
                    {
                        return Ok(Prewritten::AlreadyCommitted(own));
                    }
                    return Err(vec![KeyErr::WriteConflict {
                        start_ts,
                        conflict_start_ts: newest.start_ts,
                        conflict_commit_ts: commit_ts,
                        key: key.clone(),
                        primary: primary.to_vec(),
                        reason: 1,
                    }]);
                }
            }
            let kind = match m {
                Mutation::Put(_, v) => LockKind::Put(v.clone()),
                Mutation::Delete(_) => LockKind::Delete,
                Mutation::Lock(_) => LockKind::Lock,
                Mutation::Insert(..) | Mutation::CheckNotExists(_) => {
                    if self.value_at(key, u64::MAX).is_some() {
                        return Err(vec![KeyErr::AlreadyExist { key: key.clone() }]);
                    }
                    match m {
                        Mutation::Insert(_, v) => LockKind::Put(v.clone()),
                        _ => continue,
                    }
                }
            };
            new_locks.push((
                key.clone(),
                Lock {
                    primary: primary.to_vec(),
                    start_ts,
                    ttl: *ttl,
                    kind,
                    txn_size: *txn_size,
                    min_commit_ts: *min_commit_ts,
                },
            ));
        }
        if !locked.is_empty() {
            return Err(locked);
        }
        self.prewritten
            .entry(start_ts)
            .or_default()
            .extend(mutations.iter().map(|m| m.key().clone()));
        match one_pc_commit_ts {
            None => {
                self.locks.extend(new_locks);
                Ok(Prewritten::Locked)
            }
            Some(next_ts) => {
                let commit_ts = next_ts();
                for (key, lock) in new_locks {
                    self.put_write(key, commit_ts, committed(&lock));
                }
                // Locks of an earlier prewrite of the same keys (a resend) commit too.
                for m in mutations {
                    if self.locks.get(m.key()).is_some_and(|l| l.start_ts == start_ts) {
                        let lock = self.locks.remove(m.key()).expect("just seen");
                        self.put_write(m.key().clone(), commit_ts, committed(&lock));
                    }
                }
                Ok(Prewritten::OnePc(commit_ts))
            }
        }
    }

    /// Commits `keys` of `start_ts` at `commit_ts` (TiKV's `commit`): a key already committed by
    /// it is fine; one whose lock is gone without a commit record fails the command.
    pub fn commit(&mut self, keys: &[Key], start_ts: u64, commit_ts: u64) -> Result<(), KeyErr> {
        let mut to_commit = Vec::new();
        for key in keys {
            match self.locks.get(key) {
                Some(l) if l.start_ts == start_ts => {
                    if commit_ts < l.min_commit_ts {
                        return Err(KeyErr::CommitTsExpired {
                            start_ts,
                            attempted: commit_ts,
                            key: key.clone(),
                            min_commit_ts: l.min_commit_ts,
                        });
                    }
                    to_commit.push(key.clone());
                }
                _ => match self.commit_record(key, start_ts) {
                    Some((_, w)) if w.kind != WriteKind::Rollback => {}
                    _ => {
                        return Err(KeyErr::TxnLockNotFound {
                            start_ts,
                            commit_ts,
                            key: key.clone(),
                        });
                    }
                },
            }
        }
        for key in to_commit {
            let lock = self.locks.remove(&key).expect("checked above");
            self.put_write(key, commit_ts, committed(&lock));
        }
        Ok(())
    }

    /// Rolls back `keys` of `start_ts` (TiKV's `Rollback` command, `cleanup` per key): removes
    /// its locks and leaves rollback records, even where it has no lock (a later prewrite must
    /// fail). A key it committed fails the whole command with `Committed`.
    pub fn rollback(&mut self, keys: &[Key], start_ts: u64) -> Result<(), KeyErr> {
        for key in keys {
            let own_lock = self.locks.get(key).is_some_and(|l| l.start_ts == start_ts);
            if !own_lock
                && let Some((commit_ts, w)) = self.commit_record(key, start_ts)
                && w.kind != WriteKind::Rollback
            {
                return Err(KeyErr::Committed {
                    start_ts,
                    commit_ts,
                    key: key.clone(),
                });
            }
        }
        for key in keys {
            self.roll_back_key(key, start_ts);
        }
        Ok(())
    }

    /// Removes `start_ts`'s lock on `key`, if any, and records the rollback (unless there is one).
    fn roll_back_key(&mut self, key: &[u8], start_ts: u64) {
        if self.locks.get(key).is_some_and(|l| l.start_ts == start_ts) {
            self.locks.remove(key);
        }
        if self.commit_record(key, start_ts).is_none() {
            self.put_write(
                key.to_vec(),
                start_ts,
                Write {
                    start_ts,
                    kind: WriteKind::Rollback,
                },
            );
        }
    }

    /// TiKV's `CheckTxnStatus` on the primary of `lock_ts`. A lock past its TTL at `current_ts`
    /// (`u64::MAX`: any lock) is rolled back; so is a transaction that left no trace, if asked
    /// (`rollback_if_not_exist`), else it is `TxnNotFound`.
    pub fn check_txn_status(
        &mut self,
        primary: &[u8],
        lock_ts: u64,
        caller_start_ts: u64,
        current_ts: u64,
        rollback_if_not_exist: bool,
        verify_is_primary: bool,
    ) -> Result<TxnStatus, KeyErr> {
        if let Some(lock) = self.locks.get(primary).filter(|l| l.start_ts == lock_ts) {
            if verify_is_primary && lock.primary != primary {
                return Err(KeyErr::PrimaryMismatch {
                    key: primary.to_vec(),
                    lock: lock.clone(),
                });
            }
            if physical(lock.start_ts) + lock.ttl < physical(current_ts) {
                self.roll_back_key(primary, lock_ts);
                return Ok(TxnStatus::RolledBack(Some(RolledNow::TtlExpired)));
            }
            let lock = self.locks.get_mut(primary).expect("just seen");
            if lock.min_commit_ts != 0 && caller_start_ts != u64::MAX && caller_start_ts >= lock.min_commit_ts
            {
                lock.min_commit_ts = (caller_start_ts + 1).max(current_ts);
            }
            let pushed = caller_start_ts != 0 && lock.min_commit_ts > caller_start_ts;
            return Ok(TxnStatus::Locked(lock.clone(), pushed));
        }
        match self.commit_record(primary, lock_ts) {
            Some((_, w)) if w.kind == WriteKind::Rollback => Ok(TxnStatus::RolledBack(None)),
            Some((commit_ts, _)) => Ok(TxnStatus::Committed(commit_ts)),
            None if rollback_if_not_exist => {
                self.roll_back_key(primary, lock_ts);
                Ok(TxnStatus::RolledBack(Some(RolledNow::LockNotExist)))
            }
            None => Err(KeyErr::TxnNotFound {
                start_ts: lock_ts,
                primary: primary.to_vec(),
            }),
        }
    }

    /// TiKV's `ResolveLock`: every lock in `[start, end)` (`end` empty: unbounded) of a
    /// transaction in `txns` (start -> commit timestamp, 0 for rolled back) is committed or
    /// rolled back to match; with `keys`, only those keys.
    pub fn resolve(
        &mut self,
        start: &[u8],
        end: &[u8],
        txns: &BTreeMap<u64, u64>,
        keys: Option<&[Key]>,
    ) -> Result<(), KeyErr> {
        let in_range = |k: &[u8]| k >= start && (end.is_empty() || k < end);
        let targets: Vec<(Key, u64, u64)> = self
            .locks
            .iter()
            .filter(|(k, _)| in_range(k) && keys.is_none_or(|ks| ks.contains(*k)))
            .filter_map(|(k, l)| txns.get(&l.start_ts).map(|&c| (k.clone(), l.start_ts, c)))
            .collect();
        for (key, start_ts, commit_ts) in &targets {
            if *commit_ts != 0 {
                self.commit(std::slice::from_ref(key), *start_ts, *commit_ts)?;
            } else {
                self.roll_back_key(key, *start_ts);
            }
        }
        Ok(())
    }

    /// TiKV's `TxnHeartBeat`: raises the primary lock's TTL to `advise` and returns it.
    pub fn heart_beat(&mut self, primary: &[u8], start_ts: u64, advise: u64) -> Result<u64, KeyErr> {
        match self.locks.get_mut(primary).filter(|l| l.start_ts == start_ts) {
            Some(lock) => {
                lock.ttl = lock.ttl.max(advise);
                Ok(lock.ttl)
            }
            None => Err(KeyErr::TxnNotFound {
                start_ts,
                primary: primary.to_vec(),
            }),
        }
    }

    fn put_write(&mut self, key: Key, commit_ts: u64, write: Write) {
        let writes = self.writes.entry(key).or_default();
        // Timestamps all come from one oracle, so a commit never lands on another transaction's
        // start (where TiKV would mark an overlapped rollback).
        writes.entry(commit_ts).or_insert(write);
    }

    // Introspection for tests.

    /// Every lock, by key.
    pub fn locks(&self) -> Vec<(Key, Lock)> {
        self.locks.iter().map(|(k, l)| (k.clone(), l.clone())).collect()
    }

    /// What each key `start_ts` prewrote holds for it now.
    pub fn txn_keys(&self, start_ts: u64) -> BTreeMap<Key, KeyState> {
        let Some(keys) = self.prewritten.get(&start_ts) else {
            return BTreeMap::new();
        };
        keys.iter()
            .map(|k| {
                let state = if self.locks.get(k).is_some_and(|l| l.start_ts == start_ts) {
                    KeyState::Locked
                } else {
                    match self.commit_record(k, start_ts) {
                        Some((_, w)) if w.kind == WriteKind::Rollback => KeyState::RolledBack,
                        Some((ts, _)) => KeyState::Committed(ts),
                        None => KeyState::Absent,
                    }
                };
                (k.clone(), state)
            })
            .collect()
    }

    /// The newest committed value of every key under `prefix` (locks ignored).
    pub fn committed(&self, prefix: &[u8]) -> BTreeMap<Key, Vec<u8>> {
        self.writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, _)| self.value_at(k, u64::MAX).map(|v| (k.clone(), v)))
            .collect()
    }
}

fn committed(lock: &Lock) -> Write {
    Write {
        start_ts: lock.start_ts,
        kind: match &lock.kind {
            LockKind::Put(v) => WriteKind::Put(v.clone()),
            LockKind::Delete => WriteKind::Delete,
            LockKind::Lock => WriteKind::Lock,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Mutation {
        Mutation::Put(k.into(), v.into())
    }

    fn txn(primary: &str, start_ms: u64, size: u64) -> PrewriteTxn {
        PrewriteTxn {
            primary: key(primary),
            start_ts: ts(start_ms),
            ttl: 3000,
            txn_size: size,
            min_commit_ts: 0,
        }
    }

    fn key(k: &str) -> Key {
        k.as_bytes().to_vec()
    }

    /// Timestamps with a physical part, so TTLs mean something.
    fn ts(ms: u64) -> u64 {
        ms << PHYSICAL_SHIFT
    }

    #[test]
    fn a_committed_write_is_visible_from_its_commit_timestamp_on() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("a", 10, 1), &[put("a", "1")], None).unwrap();
        assert!(matches!(m.get(b"a", ts(11)), Err(KeyErr::Locked { .. })));
        assert_eq!(
            m.get(b"a", ts(9)),
            Ok(None),
            "a lock does not hide older snapshots"
        );
        m.commit(&[key("a")], ts(10), ts(12)).unwrap();
        assert_eq!(m.get(b"a", ts(11)), Ok(None));
        assert_eq!(m.get(b"a", ts(12)), Ok(Some(b"1".to_vec())));
    }

    #[test]
    fn a_prewrite_after_a_newer_commit_conflicts() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("a", 10, 1), &[put("a", "1")], None).unwrap();
        m.commit(&[key("a")], ts(10), ts(12)).unwrap();
        let err = m.prewrite(&txn("a", 11, 1), &[put("a", "2")], None).unwrap_err();
        assert!(
            matches!(&err[..], [KeyErr::WriteConflict { reason: 1, .. }]),
            "{err:?}"
        );
    }

    #[test]
    fn a_resent_prewrite_of_a_committed_transaction_reports_the_commit() {
        let mut m = Mvcc::default();
        let mut next = || ts(12);
        m.prewrite(&txn("a", 10, 1), &[put("a", "1")], Some(&mut next))
            .unwrap();
        let again = m.prewrite(&txn("a", 10, 1), &[put("a", "1")], Some(&mut next));
        assert_eq!(again, Ok(Prewritten::AlreadyCommitted(ts(12))));
    }

    #[test]
    fn rolling_back_a_committed_key_fails_and_changes_nothing() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("a", 10, 2), &[put("a", "1"), put("b", "2")], None)
            .unwrap();
        m.commit(&[key("a")], ts(10), ts(12)).unwrap();
        let err = m.rollback(&[key("b"), key("a")], ts(10)).unwrap_err();
        assert!(matches!(err, KeyErr::Committed { commit_ts, .. } if commit_ts == ts(12)));
        assert_eq!(
            m.txn_keys(ts(10))[&key("b")],
            KeyState::Locked,
            "the command is atomic"
        );
    }

    #[test]
    fn a_commit_after_a_rollback_fails() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("a", 10, 1), &[put("a", "1")], None).unwrap();
        m.rollback(&[key("a")], ts(10)).unwrap();
        let err = m.commit(&[key("a")], ts(10), ts(12)).unwrap_err();
        assert!(matches!(err, KeyErr::TxnLockNotFound { .. }));
        let late = m.prewrite(&txn("a", 10, 1), &[put("a", "1")], None).unwrap_err();
        assert!(
            matches!(&late[..], [KeyErr::WriteConflict { reason: 3, .. }]),
            "{late:?}"
        );
    }

    #[test]
    fn check_txn_status_follows_the_primary() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("p", 10, 2), &[put("p", "1"), put("s", "2")], None)
            .unwrap();
        let live = m
            .check_txn_status(b"p", ts(10), ts(11), ts(100), false, true)
            .unwrap();
        assert!(matches!(live, TxnStatus::Locked(_, false)));
        m.commit(&[key("p")], ts(10), ts(12)).unwrap();
        let status = m
            .check_txn_status(b"p", ts(10), 0, u64::MAX, false, true)
            .unwrap();
        assert_eq!(status, TxnStatus::Committed(ts(12)));
        m.resolve(b"", b"", &BTreeMap::from([(ts(10), ts(12))]), None)
            .unwrap();
        assert_eq!(m.get(b"s", ts(13)), Ok(Some(b"2".to_vec())));
        assert!(m.locks().is_empty());
    }

    #[test]
    fn check_txn_status_rolls_back_an_expired_primary() {
        let mut m = Mvcc::default();
        m.prewrite(&txn("p", 10, 1), &[put("p", "1")], None).unwrap();
        let status = m
            .check_txn_status(b"p", ts(10), 0, u64::MAX, false, true)
            .unwrap();
        assert_eq!(status, TxnStatus::RolledBack(Some(RolledNow::TtlExpired)));
        assert_eq!(m.txn_keys(ts(10))[&key("p")], KeyState::RolledBack);
        let missing = m.check_txn_status(b"q", ts(20), 0, u64::MAX, false, true);
        assert!(matches!(missing, Err(KeyErr::TxnNotFound { .. })));
    }

    #[test]
    fn scans_report_locks_in_place_and_skip_deleted_keys() {
        let mut m = Mvcc::default();
        m.prewrite(
            &txn("a", 10, 3),
            &[put("a", "1"), put("b", "2"), put("c", "3")],
            None,
        )
        .unwrap();
        m.commit(&[key("a"), key("b"), key("c")], ts(10), ts(11)).unwrap();
        m.prewrite(&txn("b", 12, 1), &[Mutation::Delete(key("b"))], None)
            .unwrap();
        m.commit(&[key("b")], ts(12), ts(13)).unwrap();
        m.prewrite(&txn("c", 14, 1), &[put("c", "4")], None).unwrap();
        let got = m.scan(b"a", b"", 10, ts(15), false);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (key("a"), Ok(b"1".to_vec())));
        assert!(matches!(&got[1], (k, Err(KeyErr::Locked { .. })) if k == b"c"));
        let back = m.scan(b"a", b"c", 10, ts(13), true);
        assert_eq!(back, vec![(key("a"), Ok(b"1".to_vec()))]);
    }
}
