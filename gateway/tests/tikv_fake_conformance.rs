//! The metadata conformance suite on the TiKV backend, against the in-process fake TiKV
//! (`stowage-fake-tikv`): the real tikv-client and the real `TikvStore`, over gRPC, with no
//! cluster to install. It runs everywhere, and it is what makes the fault tests
//! (`tikv_commit_faults.rs`) worth trusting: a fake that passes the suite a real TiKV passes
//! behaves like one where it matters.

use std::sync::Arc;

use fake_tikv::{Config, FakeTikv};
use gateway::meta::conformance::{self, Phantoms};
use gateway::meta::tikv;
use gateway::meta::{MetaError, MetaStore};

/// A store on a fresh fake cluster; the cluster lives as long as the fixture.
struct Fresh {
    store: Arc<dyn MetaStore>,
    tikv: FakeTikv,
}

async fn fresh(config: Config) -> Fresh {
    let declines_one_pc = config.decline_one_pc;
    let tikv = FakeTikv::start_with(config);
    let url = format!("tikv://{}/conformance", tikv.pd_endpoint());
    let store = tikv::open(&url, None).await.expect("open the store on the fake");
    if declines_one_pc {
        // The first commit meets the declined one-phase commit: it is rolled back, reported
        // as a conflict (the caller retries), and the store commits in two phases from then on.
        let mut txn = store.begin().await.expect("begin");
        txn.put(b"warm-up", b"1").await.expect("put");
        assert!(matches!(txn.commit().await, Err(MetaError::Conflict)));
    }
    Fresh {
        store: Arc::new(store),
        tikv,
    }
}

/// Two-phase commits (1PC declined, as by TiKV before 5.0), and regions split between the
/// suite's checks, so its checks run concurrently in different regions.
fn two_phase() -> Config {
    Config {
        splits: vec![
            b"conformance/conformance/d".to_vec(),
            b"conformance/conformance/r".to_vec(),
        ],
        decline_one_pc: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_suite_passes_with_one_phase_commits() {
    let f = fresh(Config::default()).await;
    conformance::run_all(f.store.clone(), Phantoms::Undetected).await;
    assert!(f.tikv.locks().is_empty(), "locks left: {:?}", f.tikv.locks());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_suite_passes_with_two_phase_commits() {
    let f = fresh(two_phase()).await;
    conformance::run_all(f.store.clone(), Phantoms::Undetected).await;
    assert!(f.tikv.locks().is_empty(), "locks left: {:?}", f.tikv.locks());
    assert!(f.tikv.calls("KvCommit") > 0, "no two-phase commit ran");
}

/// As on TiKV: keys are locked, ranges are not (see `meta_conformance.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phantoms_are_not_detected() {
    let f = fresh(Config::default()).await;
    let store = f.store.clone();
    let check = tokio::spawn(async move {
        conformance::read_write_conflict_on_scanned_range(&*store).await;
    });
    assert!(check.await.is_err(), "the fake detects phantoms; TiKV does not");
}
