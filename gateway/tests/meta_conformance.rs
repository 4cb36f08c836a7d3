//! The metadata conformance suite (`gateway::meta::conformance`) against the embedded store,
//! each check on a fresh store, plus a crash test: a commit that returned survives `kill -9`;
//! and against TiKV (module `tikv`) whenever `TIKV_PD_ENDPOINTS` is set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use gateway::meta::MetaStore;
use gateway::meta::conformance::{self, Phantoms};
use gateway::meta::fjall::EmbeddedStore;
use tempfile::TempDir;

/// A fresh embedded store; the directory lives as long as the fixture.
struct Fresh {
    store: Arc<dyn MetaStore>,
    _dir: TempDir,
}

fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
    Fresh {
        store: Arc::new(store),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_writes_are_visible() {
    conformance::committed_writes_are_visible(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolled_back_and_dropped_writes_are_invisible() {
    conformance::rolled_back_writes_are_invisible(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflicting_commit_applies_none_of_its_writes() {
    conformance::commit_is_all_or_nothing(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_reads_one_snapshot() {
    conformance::reads_come_from_one_snapshot(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_read_then_write_transactions_on_one_key_have_one_winner() {
    conformance::concurrent_writers_to_one_key_conflict(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_blind_writes_to_one_key_have_one_winner() {
    conformance::blind_writes_to_one_key_conflict(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_to_a_read_key_fails_the_reader() {
    conformance::read_write_conflict_on_read_key(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_to_a_scanned_key_fails_the_scanner() {
    conformance::read_write_conflict_on_scanned_keys(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_into_a_scanned_range_fails_the_scanner() {
    conformance::read_write_conflict_on_scanned_range(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_transactions_both_commit() {
    conformance::disjoint_transactions_both_commit(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scan_is_ordered_limited_and_end_exclusive() {
    conformance::scan_is_ordered_and_limited(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scan_sees_own_writes_and_deletes() {
    conformance::scan_sees_own_writes_and_deletes(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scan_visit_lends_what_scan_returns() {
    conformance::scan_visit_lends_what_scan_returns(&*fresh().store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_increments_lose_nothing() {
    conformance::many_concurrent_increments_lose_nothing(fresh().store).await;
}

/// The suite's checks keep to their own keys, so they can share one store (as on TiKV).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_suite_passes_twice_at_once_on_one_store() {
    let fixture = fresh();
    tokio::join!(
        conformance::run_all(fixture.store.clone(), Phantoms::Detected),
        conformance::run_all(fixture.store.clone(), Phantoms::Detected)
    );
}

/// The same checks on TiKV, each under a fresh random store prefix of the cluster at
/// `TIKV_PD_ENDPOINTS` (`host:port[,host:port...]`; TLS from `STOWAGE_TIKV_CA`/`_CERT`/`_KEY`).
/// Without it every test prints a notice and passes.
mod tikv {
    use std::sync::Arc;

    use gateway::meta::MetaStore;
    use gateway::meta::conformance::{self, Phantoms};
    use gateway::meta::tikv::{self, TlsPaths};

    const ENDPOINTS_ENV: &str = "TIKV_PD_ENDPOINTS";

    /// A store on a fresh prefix, or `None` (after a notice) when no cluster is configured.
    async fn store(test: &str) -> Option<Arc<dyn MetaStore>> {
        let Ok(endpoints) = std::env::var(ENDPOINTS_ENV) else {
            eprintln!("{ENDPOINTS_ENV} is not set: skipping {test} on TiKV");
            return None;
        };
        let env = |name: &str| std::env::var_os(name).map(Into::into);
        let tls = TlsPaths::from_parts(
            env("STOWAGE_TIKV_CA"),
            env("STOWAGE_TIKV_CERT"),
            env("STOWAGE_TIKV_KEY"),
        )
        .expect("TLS settings");
        let prefix = format!("conformance-{:016x}", rand::random::<u64>());
        let store = tikv::open(&format!("tikv://{endpoints}/{prefix}"), tls)
            .await
            .unwrap_or_else(|e| panic!("{ENDPOINTS_ENV}={endpoints}: {e}"));
        Some(Arc::new(store))
    }

    /// One test per check, named like the check.
    macro_rules! on_tikv {
        ($($check:ident),* $(,)?) => {$(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                if let Some(store) = store(stringify!($check)).await {
                    conformance::$check(&*store).await;
                }
            }
        )*};
    }

    on_tikv!(
        committed_writes_are_visible,
        rolled_back_writes_are_invisible,
        commit_is_all_or_nothing,
        reads_come_from_one_snapshot,
        concurrent_writers_to_one_key_conflict,
        blind_writes_to_one_key_conflict,
        read_write_conflict_on_read_key,
        read_write_conflict_on_scanned_keys,
        disjoint_transactions_both_commit,
        scan_is_ordered_and_limited,
        scan_sees_own_writes_and_deletes,
        scan_visit_lends_what_scan_returns,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_increments_lose_nothing() {
        if let Some(store) = store("many_concurrent_increments_lose_nothing").await {
            conformance::many_concurrent_increments_lose_nothing(store).await;
        }
    }

    /// TiKV locks keys, not ranges: a phantom does not fail the scanner (see
    /// `conformance::Phantoms`). This pins that down, so the day it changes the suite says so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn phantoms_are_not_detected() {
        let Some(store) = store("phantoms_are_not_detected").await else {
            return;
        };
        let check = tokio::spawn(async move {
            conformance::read_write_conflict_on_scanned_range(&*store).await;
        });
        assert!(
            check.await.is_err(),
            "TiKV now detects phantoms: run the phantom check on it (Phantoms::Detected)"
        );
    }

    /// The whole suite twice at once on one cluster: the checks keep to their own keys.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_whole_suite_passes_twice_at_once_on_one_cluster() {
        let Some(store) = store("the_whole_suite_passes_twice_at_once_on_one_cluster").await else {
            return;
        };
        tokio::join!(
            conformance::run_all(store.clone(), Phantoms::Undetected),
            conformance::run_all(store.clone(), Phantoms::Undetected)
        );
    }
}

/// Where the crash child keeps its store; unset in normal runs, so the child does nothing.
const CRASH_DIR_ENV: &str = "STOWAGE_META_CRASH_DIR";
const CRASH_CHILD: &str = "crash_child_commits_then_waits_to_be_killed";
/// Printed by the child once every commit has returned.
const COMMITTED_MARKER: &str = "STOWAGE-META-CRASH-CHILD-COMMITTED";
const CRASH_TXNS: usize = 100;
/// How long the parent waits for the child's marker (a cold start of the test binary included).
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

fn crash_key(i: usize) -> Vec<u8> {
    format!("crash/{i:03}").into_bytes()
}

fn crash_value(i: usize) -> Vec<u8> {
    format!("committed {i}").into_bytes()
}

#[test]
fn committed_transaction_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("current test binary"))
        .args(["--exact", CRASH_CHILD, "--nocapture", "--include-ignored"])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the crash child");

    let stdout = child.stdout.take().expect("child stdout");
    let (marker_seen, marker) = mpsc::channel();
    std::thread::spawn(move || {
        let found = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains(COMMITTED_MARKER));
        let _ = marker_seen.send(found);
    });
    let outcome = marker.recv_timeout(CHILD_TIMEOUT);
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert_eq!(outcome, Ok(true), "the child never reported its commits");

    let values = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(read_crash_values(dir.path()));
    let expected: Vec<_> = (0..CRASH_TXNS).map(|i| (crash_key(i), crash_value(i))).collect();
    assert_eq!(values, expected, "a committed transaction was lost to kill -9");
}

async fn read_crash_values(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let store = EmbeddedStore::open(dir).expect("reopen the killed store");
    let mut txn = store.begin().await.expect("begin");
    txn.scan(b"crash/", b"crash0", usize::MAX).await.expect("scan")
}

/// Run by [`committed_transaction_survives_kill_9`] in a child process (on a current-thread
/// runtime, so the store calls fjall directly rather than through `block_in_place`).
#[tokio::test]
#[ignore = "the child half of committed_transaction_survives_kill_9"]
async fn crash_child_commits_then_waits_to_be_killed() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let store = EmbeddedStore::open(Path::new(&dir)).expect("open");
    for i in 0..CRASH_TXNS {
        let mut txn = store.begin().await.expect("begin");
        txn.put(&crash_key(i), &crash_value(i)).await.expect("put");
        txn.commit().await.expect("commit");
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{COMMITTED_MARKER}").expect("print the marker");
    stdout.flush().expect("flush the marker");
    // Outlive the parent's kill; never exit cleanly on our own if the parent is slow.
    tokio::time::sleep(CHILD_TIMEOUT).await;
}
