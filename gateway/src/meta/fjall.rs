//! The embedded metadata backend: fjall's optimistic transactions on the local disk.
//!
//! fjall checks, at commit, every key a transaction read and every range it scanned against
//! the writes of transactions that committed since it began (serializable snapshot isolation).
//! It does not, by itself, make two blind writes to one key conflict; the contract (and TiKV)
//! does, so [`EmbeddedTxn::put`] and [`EmbeddedTxn::delete`] also read the key they write.
//!
//! fjall is synchronous and a commit waits for `fsync`, so every call goes through [`blocking`].
//! Commits write their journal entry under fjall's commit lock and then wait for a shared
//! `fsync` ([`GroupSync`]): concurrent writers pay for one sync between them, not one each.

use std::path::Path;
use std::sync::Arc;

use ::fjall::{
    Conflict, KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, OptimisticWriteTx,
    PersistMode, Readable,
};
use async_trait::async_trait;
use tokio::runtime::{Handle, RuntimeFlavor};

use super::group_sync::GroupSync;
use super::store::{Key, MetaError, MetaResult, MetaStore, MetaTxn, Value, Visitor, visit_pairs};

/// All metadata lives in one keyspace: the key layout (`meta::keys`) separates the tables.
const KEYSPACE: &str = "meta";

/// `fsync` (data and metadata) before a commit returns, so a committed transaction survives a
/// power loss, not only a process crash (the sync is shared, see [`GroupSync`]). fjall preallocates its journal, so `SyncData` would
/// likely do on ext4/xfs; `SyncAll` does not depend on the filesystem under the volume.
const COMMIT_DURABILITY: PersistMode = PersistMode::SyncAll;

/// fjall asserts (panics) on an empty key or one longer than `u16::MAX` bytes.
const MAX_KEY_LEN: usize = u16::MAX as usize;

/// fjall stores value lengths as `u32`.
const MAX_VALUE_LEN: usize = u32::MAX as usize;

/// The metadata store in a local directory. Cheap to clone: handles share one database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: OptimisticTxDatabase,
    keyspace: OptimisticTxKeyspace,
    sync: Arc<GroupSync>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, replaying its journal after a crash.
    pub fn open(dir: &Path) -> MetaResult<Self> {
        let db = OptimisticTxDatabase::builder(dir).open().map_err(backend)?;
        let keyspace = db
            .keyspace(KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(backend)?;
        Ok(Self {
            db,
            keyspace,
            sync: Arc::default(),
        })
    }
}

#[async_trait]
impl MetaStore for EmbeddedStore {
    async fn begin(&self) -> MetaResult<Box<dyn MetaTxn>> {
        // Beginning takes the lock that a commit holds through its journal write, so it may block.
        let tx = blocking(|| self.db.write_tx()).map_err(backend)?;
        Ok(Box::new(EmbeddedTxn {
            tx: tx.durability(None),
            keyspace: self.keyspace.clone(),
            durable: Some((self.db.clone(), self.sync.clone())),
        }))
    }

    async fn begin_read(&self) -> MetaResult<Box<dyn MetaTxn>> {
        // A snapshot: no commit lock to wait for, no conflict tracking to pay for.
        Ok(Box::new(SnapshotTxn {
            snapshot: self.db.read_tx(),
            keyspace: self.keyspace.clone(),
        }))
    }

    async fn begin_deferred(&self) -> MetaResult<Box<dyn MetaTxn>> {
        let tx = blocking(|| self.db.write_tx()).map_err(backend)?;
        Ok(Box::new(EmbeddedTxn {
            tx: tx.durability(None),
            keyspace: self.keyspace.clone(),
            durable: None,
        }))
    }

    async fn flush(&self) -> MetaResult<()> {
        blocking(|| self.db.persist(COMMIT_DURABILITY)).map_err(backend)
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }
}

/// A read-only view of the store as of its creation.
pub struct SnapshotTxn {
    snapshot: ::fjall::Snapshot,
    keyspace: OptimisticTxKeyspace,
}

fn read_only_error() -> MetaError {
    MetaError::Backend("a read-only transaction cannot write".to_owned())
}

#[async_trait]
impl MetaTxn for SnapshotTxn {
    async fn get(&mut self, key: &[u8]) -> MetaResult<Option<Value>> {
        let value = blocking(|| self.snapshot.get(&self.keyspace, key)).map_err(backend)?;
        Ok(value.map(|v| v.to_vec()))
    }

    async fn put(&mut self, _key: &[u8], _value: &[u8]) -> MetaResult<()> {
        Err(read_only_error())
    }

    async fn delete(&mut self, _key: &[u8]) -> MetaResult<()> {
        Err(read_only_error())
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> MetaResult<Vec<(Key, Value)>> {
        if limit == 0 || start >= end {
            return Ok(Vec::new());
        }
        blocking(|| {
            self.snapshot
                .range(&self.keyspace, start..end)
                .take(limit)
                .map(|guard| guard.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)
    }

    async fn scan_visit(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> MetaResult<usize> {
        if limit == 0 || start >= end {
            return Ok(0);
        }
        blocking(|| visit_range(self.snapshot.range(&self.keyspace, start..end), limit, visit))
    }

    async fn commit(self: Box<Self>) -> MetaResult<()> {
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> MetaResult<()> {
        Ok(())
    }
}

/// An open fjall transaction. Dropping it discards its writes (fjall keeps them in a private
/// memtable until commit).
pub struct EmbeddedTxn {
    tx: OptimisticWriteTx,
    keyspace: OptimisticTxKeyspace,
    /// What makes the commit durable before it returns; `None` for a deferred transaction.
    durable: Option<(OptimisticTxDatabase, Arc<GroupSync>)>,
}

impl EmbeddedTxn {
    /// Registers `key` as read, so that a concurrent commit writing it conflicts with us.
    fn mark_read(&self, key: &[u8]) -> MetaResult<()> {
        blocking(|| self.tx.contains_key(&self.keyspace, key)).map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl MetaTxn for EmbeddedTxn {
    async fn get(&mut self, key: &[u8]) -> MetaResult<Option<Value>> {
        let value = blocking(|| self.tx.get(&self.keyspace, key)).map_err(backend)?;
        Ok(value.map(|v| v.to_vec()))
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> MetaResult<()> {
        check_key(key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(MetaError::Backend(format!(
                "value of {} bytes is too large",
                value.len()
            )));
        }
        self.mark_read(key)?;
        self.tx.insert(&self.keyspace, key, value);
        Ok(())
    }

    async fn delete(&mut self, key: &[u8]) -> MetaResult<()> {
        check_key(key)?;
        self.mark_read(key)?;
        self.tx.remove(&self.keyspace, key);
        Ok(())
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> MetaResult<Vec<(Key, Value)>> {
        // An empty range reads nothing, so there is nothing to register. It must not reach
        // fjall either: a reversed range would panic in its conflict check, under its commit
        // lock.
        if limit == 0 || start >= end {
            return Ok(Vec::new());
        }
        // fjall registers the whole [start, end) for conflicts, even past the last pair a
        // limited scan returns: conservative (a write beyond it also conflicts), never unsafe.
        // The iterator merges the transaction's own writes and deletes.
        blocking(|| {
            self.tx
                .range(&self.keyspace, start..end)
                .take(limit)
                .map(|guard| guard.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(backend)
    }

    async fn scan_visit(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> MetaResult<usize> {
        // As `scan`: nothing for an empty range, the whole range registered otherwise.
        if limit == 0 || start >= end {
            return Ok(0);
        }
        blocking(|| visit_range(self.tx.range(&self.keyspace, start..end), limit, visit))
    }

    async fn commit(self: Box<Self>) -> MetaResult<()> {
        let EmbeddedTxn { tx, durable, .. } = *self;
        match blocking(|| tx.commit()) {
            Ok(Ok(())) => {}
            Ok(Err(Conflict)) => return Err(MetaError::Conflict),
            Err(e) => return Err(backend(e)),
        }
        match durable {
            Some((db, group)) => group
                .durable(|| blocking(|| db.persist(COMMIT_DURABILITY)))
                .await
                .map_err(backend),
            None => Ok(()),
        }
    }

    async fn rollback(self: Box<Self>) -> MetaResult<()> {
        let EmbeddedTxn { tx, .. } = *self;
        tx.rollback();
        Ok(())
    }
}

/// Runs synchronous fjall work without stalling the async runtime: on a multi-thread runtime
/// the worker hands its other tasks away for the duration; elsewhere (a current-thread runtime,
/// where that is impossible, or no runtime) the call runs directly.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Lends up to `limit` pairs of `range` to `visit`: fjall's keys and values are shared slices,
/// so nothing is copied.
fn visit_range(range: ::fjall::Iter, limit: usize, visit: &mut Visitor<'_>) -> MetaResult<usize> {
    visit_pairs(range.take(limit).map(|g| g.into_inner().map_err(backend)), visit)
}

/// Rejects keys fjall would panic on.
fn check_key(key: &[u8]) -> MetaResult<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(MetaError::Backend(format!(
            "key of {} bytes is outside the embedded store's 1..={MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(())
}

fn backend(e: ::fjall::Error) -> MetaError {
    MetaError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn keys_fjall_cannot_hold_are_errors_not_panics() {
        let (_dir, store) = store();
        let mut txn = store.begin().await.expect("begin");
        assert!(matches!(txn.put(b"", b"v").await, Err(MetaError::Backend(_))));
        assert!(matches!(
            txn.delete(&vec![b'k'; MAX_KEY_LEN + 1]).await,
            Err(MetaError::Backend(_))
        ));
        txn.put(&vec![b'k'; MAX_KEY_LEN], b"v")
            .await
            .expect("longest key");
        txn.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn reversed_scan_range_is_empty_and_commit_still_works() {
        let (_dir, store) = store();
        let mut txn = store.begin().await.expect("begin");
        assert!(txn.scan(b"z", b"a", 10).await.expect("scan").is_empty());
        txn.put(b"k", b"v").await.expect("put");
        txn.commit().await.expect("commit");
    }

    #[tokio::test]
    async fn committed_data_survives_reopening() {
        let (dir, store) = store();
        let mut txn = store.begin().await.expect("begin");
        txn.put(b"k", b"v").await.expect("put");
        txn.commit().await.expect("commit");
        drop(store);

        let store = EmbeddedStore::open(dir.path()).expect("reopen");
        let mut txn = store.begin().await.expect("begin");
        assert_eq!(txn.get(b"k").await.expect("get"), Some(b"v".to_vec()));
    }
}
