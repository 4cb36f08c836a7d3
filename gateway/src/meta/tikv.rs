//! The TiKV metadata backend: the [`MetaStore`] contract over tikv-client's optimistic
//! transactions, so any number of gateways share one consistent namespace.
//!
//! How the contract maps onto TiKV's transactions (Percolator: snapshot isolation):
//! - Reads come from the snapshot at the transaction's start timestamp. Commit is a two-phase
//!   commit whose prewrite fails on any key someone committed since that timestamp: two
//!   transactions that write one key cannot both commit.
//! - Snapshot isolation alone lets a transaction commit after another one wrote a key it only
//!   *read* (write skew). So every key read, present or absent, and every key a scan returns,
//!   is also locked with [`Transaction::lock_keys`]: it joins the commit as a lock that changes
//!   nothing, and the prewrite checks it like a write. The price: two transactions that read one
//!   key and both write something conflict as well (docs/tikv.md).
//! - Ranges cannot be locked: a key inserted into a scanned range after the scan (a phantom)
//!   does not fail the scanner. No operation of the gateway relies on that (docs/tikv.md), and
//!   the conformance suite runs the phantom check only where it holds
//!   ([`conformance::Phantoms`](super::conformance::Phantoms)).
//! - Nothing reaches TiKV before commit: puts and deletes are buffered, so rolling back or
//!   dropping a transaction costs no request. A transaction that wrote nothing "commits" without
//!   a request too: its reads came from one snapshot, a serial point of its own.
//! - Commit is one round (1PC) when every key of the transaction lives in one region, else
//!   two-phase: see [`transaction_options`].

pub mod gc;
mod prefix;
mod retry;
mod settle;
pub mod url;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tikv_client::{
    CheckLevel, Config, KvPair, TimestampExt, Transaction, TransactionClient, TransactionOptions,
};

use super::store::{Key, MetaError, MetaResult, MetaStore, MetaTxn, Value};
use gc::{ActiveTxns, MAX_TXN_LIFETIME, Registration};
use retry::{CALL_RETRIES, Failure, classify};
use settle::{Settled, TxnKeys};

pub use gc::{DEFAULT_INTERVAL as DEFAULT_GC_INTERVAL, DEFAULT_MAX_AGE as DEFAULT_GC_MAX_AGE, spawn_gc};
pub use prefix::StorePrefix;
pub use url::{ConfigError, TikvUrl, TlsPaths};

/// Startup gives up on PD after this: a gateway pointed at the wrong address says so at once.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One gRPC request (tikv-client's own timeout, per attempt).
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// One read or `begin`, tikv-client's internal retries and ours ([`CALL_RETRIES`]) included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One commit: prewrite of every region, a timestamp, the primary's commit.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Keys fetched per scan request. Listing 1,000 keys (a page of ListObjects asks for 1,001) is
/// one request per region touched.
const SCAN_PAGE: usize = 2048;

/// A scan page of large records (object heads with many parts) exceeds gRPC's default 4 MiB.
const MAX_GRPC_MESSAGE: usize = 64 << 20;

/// Metadata in a TiKV cluster, under one key prefix. Cheap to clone: clones share the client.
#[derive(Clone)]
pub struct TikvStore {
    client: TransactionClient,
    prefix: Arc<StorePrefix>,
    active: Arc<ActiveTxns>,
    /// Whether transactions ask for 1PC; off for good once TiKV declines it.
    one_pc: Arc<AtomicBool>,
}

/// Connects to the cluster named by `url` (`tikv://pd1:2379,pd2:2379/<prefix>`), over mutual
/// TLS when `tls` is given. Fails within [`CONNECT_TIMEOUT`] when PD does not answer.
pub async fn open(url: &str, tls: Option<TlsPaths>) -> MetaResult<TikvStore> {
    let url: TikvUrl = url
        .parse()
        .map_err(|e: ConfigError| MetaError::Backend(e.to_string()))?;
    let prefix = StorePrefix::new(&url.prefix).map_err(|e| MetaError::Backend(e.to_string()))?;
    let mut config = Config::default()
        .with_timeout(RPC_TIMEOUT)
        .with_grpc_max_decoding_message_size(MAX_GRPC_MESSAGE);
    if let Some(tls) = &tls {
        for (what, path) in [("CA", &tls.ca), ("certificate", &tls.cert), ("key", &tls.key)] {
            std::fs::File::open(path).map_err(|e| {
                MetaError::Backend(format!("cannot read the TiKV TLS {what} {}: {e}", path.display()))
            })?;
        }
        config = config.with_security(&tls.ca, &tls.cert, &tls.key);
    }

    let pd = url.pd_endpoints.join(",");
    let connect = async {
        let client = TransactionClient::new_with_config(url.pd_endpoints.clone(), config).await?;
        // Connected is not serving: ask for a timestamp, as every transaction will.
        client.current_timestamp().await?;
        Ok::<_, tikv_client::Error>(client)
    };
    let client = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            return Err(MetaError::Unavailable(format!(
                "cannot reach PD at {pd}: {}",
                describe(&e)
            )));
        }
        Err(_) => {
            return Err(MetaError::Unavailable(format!(
                "PD at {pd} did not answer within {CONNECT_TIMEOUT:?}"
            )));
        }
    };
    tracing::info!(pd = %pd, prefix = prefix.name(), "connected to TiKV");
    Ok(TikvStore {
        client,
        prefix: Arc::new(prefix),
        active: Arc::default(),
        one_pc: Arc::new(AtomicBool::new(true)),
    })
}

impl TikvStore {
    /// The store's key prefix (without the separator).
    pub fn prefix(&self) -> &str {
        self.prefix.name()
    }
}

/// Optimistic (tikv-client's default is pessimistic). No drop check: tikv-client panics when
/// an open transaction is dropped, but here nothing reaches TiKV before commit, so a dropped
/// transaction is a rolled-back one, and [`TikvTxn::commit`] rolls back whatever a failed commit
/// left behind.
///
/// With `one_pc`, a transaction whose keys all fall in one region (and one 16 KiB prewrite batch)
/// commits in its prewrite: one round trip instead of prewrite, a timestamp from PD and the
/// primary's commit. tikv-client asks for it only when a single request carries every key, so a
/// transaction across regions falls back to 2PC on its own; the commit timestamp then comes from
/// TiKV (above every timestamp it has served a read at), which keeps reads after a commit seeing
/// it. Typical gateway transactions (a bucket record, an object head and version, a blob
/// reference) are a few KiB under one store prefix: 1PC until the store's tables span regions.
///
/// Not async commit: tikv-client 0.4 leaves `max_commit_ts` unset and unwraps a missing
/// `min_commit_ts` when TiKV falls back, and it gains nothing over 1PC for one region.
fn transaction_options(one_pc: bool) -> TransactionOptions {
    let options = TransactionOptions::new_optimistic().drop_check(CheckLevel::None);
    if one_pc { options.try_one_pc() } else { options }
}

#[async_trait]
impl MetaStore for TikvStore {
    async fn begin(&self) -> MetaResult<Box<dyn MetaTxn>> {
        let txn = within(CALL_TIMEOUT, "begin", async {
            let mut attempts = Attempts::new("begin");
            loop {
                let options = transaction_options(self.one_pc.load(Ordering::Relaxed));
                match self.client.begin_with_options(options).await {
                    Ok(txn) => return Ok(txn),
                    Err(e) => attempts.after(e).await?,
                }
            }
        })
        .await?;
        let running = self.active.register(txn.start_timestamp().version());
        Ok(Box::new(TikvTxn {
            txn,
            client: self.client.clone(),
            keys: TxnKeys::default(),
            prefix: self.prefix.clone(),
            one_pc: self.one_pc.clone(),
            wrote: false,
            started: Instant::now(),
            _running: running,
        }))
    }

    fn backend(&self) -> &'static str {
        "tikv"
    }

    /// A transaction refuses work past [`MAX_TXN_LIFETIME`], its commit then takes at most
    /// [`COMMIT_TIMEOUT`].
    fn longest_commit(&self) -> Duration {
        MAX_TXN_LIFETIME + COMMIT_TIMEOUT
    }
}

/// An open optimistic transaction. Its writes live in tikv-client's buffer until commit.
pub struct TikvTxn {
    txn: Transaction,
    /// For settling a failed commit ([`settle`]).
    client: TransactionClient,
    /// What the commit will prewrite, primary first: what a failed commit must settle.
    keys: TxnKeys,
    prefix: Arc<StorePrefix>,
    one_pc: Arc<AtomicBool>,
    /// Whether a put or delete was buffered (locks of reads alone need no commit).
    wrote: bool,
    started: Instant,
    /// Holds the GC safe point at this transaction's start while it runs.
    _running: Registration,
}

impl TikvTxn {
    /// Refuses work past [`MAX_TXN_LIFETIME`]: the GC of another gateway may have removed the
    /// versions this transaction's snapshot needs.
    fn check_alive(&self) -> MetaResult<()> {
        if self.started.elapsed() > MAX_TXN_LIFETIME {
            return Err(MetaError::Unavailable(format!(
                "transaction older than {MAX_TXN_LIFETIME:?}"
            )));
        }
        Ok(())
    }

    /// One page of a scan (locks not yet taken), with retries.
    async fn scan_page(&mut self, from: &[u8], to: &[u8], limit: usize) -> MetaResult<Vec<KvPair>> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let txn = &mut self.txn;
        within(CALL_TIMEOUT, "scan", async {
            let mut attempts = Attempts::new("scan");
            loop {
                match txn.scan(from.to_vec()..to.to_vec(), limit).await {
                    Ok(pairs) => return Ok(pairs.collect::<Vec<_>>()),
                    Err(e) => attempts.after(e).await?,
                }
            }
        })
        .await
    }

    /// Settles a failed commit by its primary key (see [`settle`]).
    async fn settle_failed_commit(&mut self) -> Settled {
        settle::settle(&self.client, &mut self.txn, &self.keys).await
    }
}

#[async_trait]
impl MetaTxn for TikvTxn {
    async fn get(&mut self, key: &[u8]) -> MetaResult<Option<Value>> {
        self.check_alive()?;
        let key = self.prefix.encode(key);
        self.keys.touch(&key);
        let txn = &mut self.txn;
        within(CALL_TIMEOUT, "get", async {
            let mut attempts = Attempts::new("get");
            loop {
                // Optimistic `get_for_update` = `lock_keys` (buffered, no request) + `get`.
                match txn.get_for_update(key.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(e) => attempts.after(e).await?,
                }
            }
        })
        .await
    }

    async fn peek(&mut self, key: &[u8]) -> MetaResult<Option<Value>> {
        self.check_alive()?;
        let key = self.prefix.encode(key);
        let txn = &mut self.txn;
        within(CALL_TIMEOUT, "peek", async {
            let mut attempts = Attempts::new("peek");
            loop {
                // A plain snapshot read: no lock joins the commit.
                match txn.get(key.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(e) => attempts.after(e).await?,
                }
            }
        })
        .await
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> MetaResult<()> {
        self.check_alive()?;
        let key = self.prefix.encode(key);
        self.keys.touch(&key);
        self.txn
            .put(key, value.to_vec())
            .await
            .map_err(|e| MetaError::Backend(format!("put: {e}")))?;
        self.wrote = true;
        Ok(())
    }

    async fn delete(&mut self, key: &[u8]) -> MetaResult<()> {
        self.check_alive()?;
        let key = self.prefix.encode(key);
        self.keys.touch(&key);
        self.txn
            .delete(key)
            .await
            .map_err(|e| MetaError::Backend(format!("delete: {e}")))?;
        self.wrote = true;
        Ok(())
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> MetaResult<Vec<(Key, Value)>> {
        self.check_alive()?;
        let Some((mut from, to)) = self.prefix.range(start, end) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while out.len() < limit {
            let want = (limit - out.len()).min(SCAN_PAGE);
            let pairs = self.scan_page(&from, &to, want).await?;
            let exhausted = pairs.len() < want;
            let returned: Vec<tikv_client::Key> = pairs.iter().map(|p| p.0.clone()).collect();
            for key in &returned {
                self.keys.touch(key.as_ref().into());
            }
            self.txn
                .lock_keys(returned)
                .await
                .map_err(|e| MetaError::Backend(format!("scan: {e}")))?;
            for KvPair(raw, value) in pairs {
                let raw: Vec<u8> = raw.into();
                let key = self.prefix.decode(&raw).ok_or_else(|| {
                    MetaError::Backend(format!("scan returned a key outside the store: {raw:?}"))
                })?;
                out.push((key.to_vec(), value));
                from = raw;
                from.push(0);
            }
            if exhausted || from >= to {
                break;
            }
        }
        Ok(out)
    }

    async fn commit(mut self: Box<Self>) -> MetaResult<()> {
        self.check_alive()?;
        if !self.wrote {
            return Ok(());
        }
        let (failure, message) = match tokio::time::timeout(COMMIT_TIMEOUT, self.txn.commit()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(tikv_client::Error::OnePcFailure)) => {
                // TiKV declined 1PC (one older than 5.0) and kept the prewrite as plain locks.
                // Nothing committed: 2PC from now on, and the caller's retry uses it.
                tracing::warn!("TiKV declined a one-phase commit: using two-phase commits");
                self.one_pc.store(false, Ordering::Relaxed);
                self.settle_failed_commit().await;
                return Err(MetaError::Conflict);
            }
            Ok(Err(e)) => (classify(&e), describe(&e)),
            Err(_) => (
                Failure::Undetermined,
                format!("no answer within {COMMIT_TIMEOUT:?}"),
            ),
        };
        // Settling releases the prewrite's locks now rather than when they expire, and learns
        // the outcome of a commit the error leaves open.
        match (self.settle_failed_commit().await, failure) {
            (Settled::Committed, _) => {
                tracing::info!(error = %message, "a TiKV commit reported as failed had committed");
                Ok(())
            }
            // Lost in the prewrite (or our locks were resolved away): nothing was applied. A
            // lock that outlived the client's backoff is another transaction's, mid-commit.
            (_, Failure::Conflict | Failure::Locked) => Err(MetaError::Conflict),
            // Left to TiKV's lock resolution, which settles every key by the primary: the write
            // is either whole or absent, and the client is told to retry.
            (Settled::Unknown, _) => Err(MetaError::Unavailable(format!(
                "TiKV commit outcome unknown ({message}); TiKV will settle it"
            ))),
            (Settled::RolledBack, Failure::Fatal) => {
                Err(MetaError::Backend(format!("TiKV commit: {message}")))
            }
            (Settled::RolledBack, Failure::Transient | Failure::Undetermined) => Err(MetaError::Unavailable(
                format!("TiKV commit: {message} (rolled back)"),
            )),
        }
    }

    async fn rollback(self: Box<Self>) -> MetaResult<()> {
        // Nothing was sent to TiKV: the buffer goes with the transaction.
        Ok(())
    }
}

/// An error for people: tikv-client prefixes its internal errors with the source file and line.
fn describe(e: &tikv_client::Error) -> String {
    match e {
        tikv_client::Error::InternalError { message } => match message.split_once("]: ") {
            Some((location, text)) if location.starts_with('[') => text.to_owned(),
            _ => message.clone(),
        },
        e => e.to_string(),
    }
}

/// Runs one call under its deadline; a call that outlives it is the cluster being unavailable.
async fn within<T>(limit: Duration, what: &str, call: impl Future<Output = MetaResult<T>>) -> MetaResult<T> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(MetaError::Unavailable(format!(
            "TiKV {what}: no answer within {limit:?}"
        )))
    })
}

/// The attempts of one idempotent call (a read, `begin`) under [`CALL_RETRIES`].
struct Attempts {
    what: &'static str,
    made: u32,
}

impl Attempts {
    fn new(what: &'static str) -> Self {
        Self { what, made: 1 }
    }

    /// After a failed attempt: waits and returns `Ok` to try again, or the error to report.
    async fn after(&mut self, e: tikv_client::Error) -> MetaResult<()> {
        self.made += 1;
        match classify(&e) {
            Failure::Conflict => Err(MetaError::Conflict),
            Failure::Fatal | Failure::Undetermined => Err(MetaError::Backend(format!(
                "TiKV {}: {}",
                self.what,
                describe(&e)
            ))),
            Failure::Transient | Failure::Locked => match CALL_RETRIES.delay(self.made, rand::random()) {
                Some(pause) => {
                    tracing::debug!(call = self.what, attempt = self.made, error = %e, "retrying a TiKV call");
                    tokio::time::sleep(pause).await;
                    Ok(())
                }
                None => Err(MetaError::Unavailable(format!(
                    "TiKV {} failed {} times: {}",
                    self.what,
                    CALL_RETRIES.attempts,
                    describe(&e)
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// Startup must fail well within this (the connect timeout plus slack).
    const FAIL_FAST: Duration = Duration::from_secs(CONNECT_TIMEOUT.as_secs() + 3);

    fn unavailable_within_fail_fast(started: Instant, result: MetaResult<TikvStore>) -> String {
        let elapsed = started.elapsed();
        assert!(elapsed < FAIL_FAST, "took {elapsed:?}");
        match result {
            Err(MetaError::Unavailable(msg)) => msg,
            Err(e) => panic!("expected unavailable, got {e}"),
            Ok(_) => panic!("connected to nothing"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_fails_fast_when_nothing_listens_at_pd() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let result = open(&format!("tikv://127.0.0.1:{port}/s"), None).await;
        let msg = unavailable_within_fail_fast(started, result);
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_fails_fast_when_pd_accepts_but_never_answers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accept and hold every connection without a word, as a hung PD would.
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().map_while(Result::ok).take(64).collect();
            std::thread::sleep(FAIL_FAST * 2);
            drop(held);
        });
        let started = Instant::now();
        let result = open(&format!("tikv://127.0.0.1:{port}/s"), None).await;
        let msg = unavailable_within_fail_fast(started, result);
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    }

    #[test]
    fn transactions_are_optimistic_with_or_without_1pc() {
        let plain = TransactionOptions::new_optimistic().drop_check(CheckLevel::None);
        assert_eq!(transaction_options(false), plain);
        assert_eq!(transaction_options(true), plain.clone().try_one_pc());
        assert!(!transaction_options(true).is_pessimistic());
    }

    #[test]
    fn internal_errors_lose_their_source_location() {
        let e = tikv_client::Error::InternalError {
            message: "[/root/.cargo/tikv-client/src/pd/cluster.rs:209]: PD cluster failed to respond".into(),
        };
        assert_eq!(describe(&e), "PD cluster failed to respond");
        let plain = tikv_client::Error::InternalError {
            message: "no leader".into(),
        };
        assert_eq!(describe(&plain), "no leader");
    }

    #[tokio::test]
    async fn open_refuses_a_malformed_url_without_connecting() {
        let err = open("tikv://pd:2379", None).await.err().expect("no prefix");
        assert!(
            matches!(&err, MetaError::Backend(m) if m.contains("prefix")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn open_names_a_missing_tls_file() {
        let tls = TlsPaths {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/tls.crt".into(),
            key: "/nonexistent/tls.key".into(),
        };
        let err = open("tikv://127.0.0.1:1/s", Some(tls))
            .await
            .err()
            .expect("no files");
        assert!(
            matches!(&err, MetaError::Backend(m) if m.contains("/nonexistent/ca.pem")),
            "{err}"
        );
    }
}
