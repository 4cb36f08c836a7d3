//! The metadata-store contract: serializable transactions over an ordered byte-key space.
//!
//! Every backend (embedded fjall, TiKV) implements exactly this, and one conformance suite
//! (`meta::conformance`) holds them all to it. A commit applies every write or none; two
//! transactions that touch the same key cannot both commit: the loser gets
//! [`MetaError::Conflict`], which callers turn into a retry or `409 ConditionalRequestConflict`.

use std::ops::ControlFlow;

use async_trait::async_trait;

pub type Key = Vec<u8>;
pub type Value = Vec<u8>;

/// What [`MetaTxn::scan_visit`] hands each pair to, lent for the call; it breaks to stop.
pub type Visitor<'a> = dyn for<'k> FnMut(&'k [u8], &'k [u8]) -> ControlFlow<()> + Send + 'a;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Another transaction committed a write to a key this one read or wrote.
    #[error("transaction conflict")]
    Conflict,
    /// The backend cannot be reached (or timed out); the transaction did not commit.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure (I/O, corruption, protocol).
    #[error("metadata store error: {0}")]
    Backend(String),
}

pub type MetaResult<T> = Result<T, MetaError>;

/// A transactional, ordered key-value store.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Starts a serializable (optimistic) transaction.
    async fn begin(&self) -> MetaResult<Box<dyn MetaTxn>>;

    /// Starts a transaction that only reads, from a consistent snapshot. It never waits for
    /// other commits; writing through it is an error.
    async fn begin_read(&self) -> MetaResult<Box<dyn MetaTxn>> {
        self.begin().await
    }

    /// Starts a transaction whose commit need not be durable on its own: it becomes durable at
    /// the next [`MetaStore::flush`] (or any later durable commit). For idempotent background
    /// work, whose loss in a crash is only work to redo.
    async fn begin_deferred(&self) -> MetaResult<Box<dyn MetaTxn>> {
        self.begin().await
    }

    /// Makes every commit so far durable.
    async fn flush(&self) -> MetaResult<()> {
        Ok(())
    }

    /// Short backend name for logs and metrics (`embedded`, `tikv`).
    fn backend(&self) -> &'static str;

    /// How long after a transaction's start its commit may still land. Zero where a commit
    /// conflicts with every write to what the transaction read (the embedded store); on TiKV,
    /// where [`MetaTxn::peek`] claims nothing, the longest a transaction lives plus its commit.
    fn longest_commit(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// One open transaction. Reads see the transaction's own writes. Every key read (and every
/// range scanned) is checked for conflicts at commit.
///
/// A transaction must end with [`MetaTxn::commit`] or [`MetaTxn::rollback`]; dropping it rolls
/// back.
#[async_trait]
pub trait MetaTxn: Send {
    async fn get(&mut self, key: &[u8]) -> MetaResult<Option<Value>>;

    /// Reads `key` from the transaction's snapshot without claiming it: a concurrent commit to
    /// it does not fail this transaction, and other transactions that only peek at it never
    /// conflict with one another through it. For records whose existence is a precondition but
    /// which the transaction does not need unchanged until commit (the bucket of an object
    /// write): on TiKV, a claimed read is a lock that would serialize every writer of a bucket.
    async fn peek(&mut self, key: &[u8]) -> MetaResult<Option<Value>> {
        self.get(key).await
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> MetaResult<()>;

    async fn delete(&mut self, key: &[u8]) -> MetaResult<()>;

    /// Up to `limit` pairs with `start <= key < end`, in ascending key order.
    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> MetaResult<Vec<(Key, Value)>>;

    /// The pairs [`MetaTxn::scan`] would return, handed to `visit` one at a time until it breaks,
    /// and how many it was handed. A backend that holds the pairs in memory lends them rather
    /// than copying each key and value out: a listing page reads a thousand heads for a few
    /// fields each. The range counts as read (for conflicts) as with `scan`, whether or not
    /// `visit` stops early.
    async fn scan_visit(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> MetaResult<usize> {
        let pairs = self.scan(start, end, limit).await?;
        visit_pairs(pairs.iter().map(|(k, v)| Ok((k, v))), visit)
    }

    /// Applies every write atomically and durably, or returns [`MetaError::Conflict`] and
    /// applies none.
    async fn commit(self: Box<Self>) -> MetaResult<()>;

    async fn rollback(self: Box<Self>) -> MetaResult<()>;
}

/// Hands `pairs` to `visit` until it breaks or one fails to read; how many it was handed.
pub(super) fn visit_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl Iterator<Item = MetaResult<(K, V)>>,
    visit: &mut Visitor<'_>,
) -> MetaResult<usize> {
    let mut handed = 0;
    for pair in pairs {
        let (key, value) = pair?;
        handed += 1;
        if visit(key.as_ref(), value.as_ref()).is_break() {
            break;
        }
    }
    Ok(handed)
}
