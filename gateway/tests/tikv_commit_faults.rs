//! Commits whose outcome the gateway cannot see, on the TiKV backend: a real gateway process on
//! the in-process fake TiKV (`stowage-fake-tikv`), driven through the S3 API, with faults
//! placed between TiKV applying a commit and the gateway hearing of it.
//!
//! Whatever happened, the gateway must settle the transaction by its primary key
//! (`meta/tikv/settle.rs`): every record an operation wrote commits with it, or none does; the
//! client hears success or 503, never success for a half-applied write; no lock is left that a
//! reader could not resolve. What is checked after each fault: the fake's own view of the
//! transaction (every key it prewrote committed, or every one rolled back; no locks), the
//! records themselves (the object head, its version record, its blob reference counts), and the
//! S3 view (GET returns the bytes, ListObjectVersions agrees).
//!
//! Regions: with one region a gateway transaction commits in one phase (1PC), so its answer is
//! all there is to lose. Split at `f/P`, an object's head (`O` records) lives in one region and
//! its version and blob reference (`V`, `R`) in another: the transaction commits in two phases,
//! its primary (the head, read first) in the first region, and a lost commit answer leaves the
//! other region's records locked. A blind rollback of such a transaction rolls them back while
//! the head stays committed, which these tests catch.

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use fake_tikv::{CommitFault, Config, FakeTikv, Fault, KeyState};
use gateway::model::ObjectHead;

/// The gateway's store prefix on the fake cluster.
const PREFIX: &str = "f";
const B: &str = "faults";

/// One region: every transaction commits in one phase.
fn one_region() -> Config {
    Config::default()
}

/// Heads in the first region, versions and blob references in the second (see the module).
fn two_regions() -> Config {
    Config {
        splits: vec![format!("{PREFIX}/P").into_bytes()],
        ..Config::default()
    }
}

/// A fake cluster, a gateway on it and a client that does not retry (so each call shows what
/// the gateway answered to that one request).
struct Rig {
    // Field order is drop order: the gateway stops before its cluster.
    gw: Gateway,
    tikv: FakeTikv,
    client: Client,
}

async fn rig(config: Config) -> Rig {
    let tikv = FakeTikv::start_with(config);
    let url = format!("tikv://{}/{PREFIX}", tikv.pd_endpoint());
    let gw = start_with_args(&["--meta", &url]);
    let client = gw.client_with(|b| b.retry_config(RetryConfig::disabled()));
    create_bucket(&client, B).await;
    Rig { gw, tikv, client }
}

impl Rig {
    /// Arms a fault on the next transaction that writes a key containing `needle`.
    fn inject(&self, needle: &str, commit: CommitFault, block_resolution: bool) {
        self.tikv.inject(Fault {
            needle: needle.as_bytes().to_vec(),
            commit,
            block_resolution,
        });
    }

    /// The victim's keys (readable) and what each holds for it, once it prewrote.
    fn victim_keys(&self) -> BTreeMap<String, KeyState> {
        let victim = self.tikv.victim().expect("the fault found its transaction");
        self.tikv
            .txn_keys(victim)
            .into_iter()
            .map(|(k, state)| (k.escape_ascii().to_string(), state))
            .collect()
    }

    /// Reads every key the victim touched through a TiKV client, as any later reader would,
    /// resolving the locks it meets.
    async fn read_victim_keys(&self) {
        let client = tikv_client::TransactionClient::new(vec![self.tikv.pd_endpoint()])
            .await
            .expect("a client of the fake");
        let victim = self.tikv.victim().expect("the fault found its transaction");
        let mut snapshot = client.snapshot(
            client.current_timestamp().await.expect("a timestamp"),
            tikv_client::TransactionOptions::new_optimistic(),
        );
        for key in self.tikv.txn_keys(victim).into_keys() {
            snapshot.get(key).await.expect("read after healing");
        }
    }

    fn assert_no_locks(&self) {
        let locks = self.tikv.locks();
        assert!(locks.is_empty(), "locks left: {locks:?}\n{}", self.gw.log());
    }

    /// Every key the victim wrote committed, at one timestamp.
    fn assert_victim_committed(&self) {
        let keys = self.victim_keys();
        let stamps: Vec<_> = keys
            .values()
            .map(|s| match s {
                KeyState::Committed(ts) => *ts,
                other => panic!("victim not wholly committed: {keys:?} ({other:?})"),
            })
            .collect();
        assert!(stamps.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    }

    /// Every key the victim wrote rolled back (or never written).
    fn assert_victim_rolled_back(&self) {
        let keys = self.victim_keys();
        assert!(
            keys.values()
                .all(|s| matches!(s, KeyState::RolledBack | KeyState::Absent)),
            "victim not wholly rolled back: {keys:?}"
        );
    }

    /// The records of the object `key` as committed: its head and its versions.
    fn records(&self, key: &str) -> (Option<ObjectHead>, Vec<ObjectHead>) {
        let all = self.tikv.committed(format!("{PREFIX}/").as_bytes());
        let of = |tag: &str, raw: &[u8]| {
            let rest = &raw[PREFIX.len() + 1..];
            rest.starts_with(tag.as_bytes()) && contains(rest, key.as_bytes())
        };
        let decode = |k: &[u8], v: &[u8]| gateway::model::decode::<ObjectHead>(k, v).expect("a record");
        // `O<space>\0\x01<key>`: the key is the whole tail.
        let head = all
            .iter()
            .find(|(k, _)| of("O", k) && k.ends_with(key.as_bytes()))
            .map(|(k, v)| decode(k, v));
        let versions = all
            .iter()
            .filter(|(k, _)| of("V", k))
            .map(|(k, v)| decode(k, v))
            .collect();
        (head, versions)
    }

    /// Committed blob reference counts, by blob id.
    fn blob_refs(&self) -> BTreeMap<String, u64> {
        let prefix = format!("{PREFIX}/R");
        self.tikv
            .committed(prefix.as_bytes())
            .into_iter()
            .map(|(k, v)| {
                let id = String::from_utf8(k[prefix.len()..].to_vec()).expect("a blob id");
                let record = gateway::model::BlobRecord::decode(&k, &v).expect("a blob record");
                (id, record.refs)
            })
            .collect()
    }

    /// The object `key` is whole: its head, one version record per version, and a reference
    /// for each of its blobs; GET returns `body`; ListObjectVersions lists its versions.
    async fn assert_object_whole(&self, key: &str, body: &[u8], versions: usize) {
        let (head, records) = self.records(key);
        let head = head.unwrap_or_else(|| panic!("no head for {key}"));
        assert_eq!(records.len(), versions, "version records of {key}: {records:?}");
        let refs = self.blob_refs();
        for seg in &head.segments {
            assert!(
                refs.get(seg.blob.as_str()).is_some_and(|&n| n >= 1),
                "{key}'s blob {} has no reference: {refs:?}",
                seg.blob.as_str()
            );
        }
        assert_eq!(get(&self.client, B, key).await, body);
        let listed = self
            .client
            .list_object_versions()
            .bucket(B)
            .prefix(key)
            .send()
            .await
            .expect("ListObjectVersions");
        let listed = listed.versions().iter().filter(|v| v.key() == Some(key)).count();
        assert_eq!(listed, versions, "ListObjectVersions of {key}");
    }

    /// Nothing of the object `key` exists.
    async fn assert_object_absent(&self, key: &str) {
        let (head, records) = self.records(key);
        assert!(
            head.is_none() && records.is_empty(),
            "{key}: {head:?} {records:?}"
        );
        assert_s3_error(
            self.client.get_object().bucket(B).key(key).send().await,
            "NoSuchKey",
            404,
        );
        let listed = self
            .client
            .list_object_versions()
            .bucket(B)
            .prefix(key)
            .send()
            .await
            .expect("ListObjectVersions");
        assert!(listed.versions().is_empty(), "{key}: {:?}", listed.versions());
    }

    async fn put(&self, key: &str, body: &[u8]) -> Result<(), (String, u16)> {
        self.client
            .put_object()
            .bucket(B)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(s3_error)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_phase_commit_whose_answer_is_lost_is_learnt_as_committed() {
    let rig = rig(one_region()).await;
    rig.inject("victim", CommitFault::LoseReply, false);

    let answered = rig.put("victim", b"the bytes").await;
    assert_eq!(answered, Ok(()), "the settle learns the commit happened");
    assert!(rig.tikv.lost().contains(&"KvPrewrite"), "{:?}", rig.tikv.lost());

    rig.assert_victim_committed();
    rig.assert_no_locks();
    rig.assert_object_whole("victim", b"the bytes", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_after_the_primary_committed_commits_the_secondaries() {
    let rig = rig(two_regions()).await;
    rig.inject("victim", CommitFault::LoseReply, false);

    let answered = rig.put("victim", b"the bytes").await;
    assert_eq!(answered, Ok(()), "the settle learns the commit happened");
    assert!(
        rig.tikv.lost().contains(&"KvCommit"),
        "two-phase: {:?}",
        rig.tikv.lost()
    );

    rig.assert_victim_committed();
    rig.assert_no_locks();
    rig.assert_object_whole("victim", b"the bytes", 1).await;
    // Settled by the primary's status, its locks resolved to match.
    assert!(rig.tikv.calls("KvCheckTxnStatus") > 0 && rig.tikv.calls("KvResolveLock") > 0);
}

/// CopyObject shares the source's blob: its transaction reads the source head (its primary, a
/// lock-only key) and writes the copy's head, version and the blob's reference count. Losing
/// the count's increment would let deleting the source free bytes the copy still uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_copy_in_a_versioned_bucket_keeps_the_shared_blob_counted() {
    let rig = rig(two_regions()).await;
    enable_versioning(&rig.client, B).await;
    rig.put("source", b"shared bytes").await.expect("put the source");
    rig.inject("victim-copy", CommitFault::LoseReply, false);

    let answered = rig
        .client
        .copy_object()
        .bucket(B)
        .key("victim-copy")
        .copy_source(format!("{B}/source"))
        .send()
        .await
        .map(|_| ())
        .map_err(s3_error);
    assert_eq!(answered, Ok(()), "the settle learns the commit happened");
    assert!(rig.tikv.lost().contains(&"KvCommit"), "{:?}", rig.tikv.lost());

    rig.assert_victim_committed();
    rig.assert_no_locks();
    rig.assert_object_whole("victim-copy", b"shared bytes", 1).await;
    let (copy, _) = rig.records("victim-copy");
    let blob = copy.expect("the copy's head").segments[0]
        .blob
        .as_str()
        .to_owned();
    assert_eq!(rig.blob_refs().get(&blob), Some(&2), "source and copy both count");

    // Deleting every version of the source leaves the copy's bytes in place.
    let versions = rig
        .client
        .list_object_versions()
        .bucket(B)
        .prefix("source")
        .send()
        .await
        .expect("list the source's versions");
    for v in versions.versions() {
        rig.client
            .delete_object()
            .bucket(B)
            .key("source")
            .set_version_id(v.version_id().map(str::to_owned))
            .send()
            .await
            .expect("delete a source version");
    }
    assert_eq!(get(&rig.client, B, "victim-copy").await, b"shared bytes");
}

/// A PUT whose commit `fault` stops before anything committed (the `lost` request never
/// reached the store): 503, the whole transaction rolled back, no lock left, and the key free, so
/// a new write of it goes through at once.
async fn assert_refused_put_is_rolled_back(fault: CommitFault, lost: &'static str) {
    let rig = rig(two_regions()).await;
    rig.inject("victim", fault, false);

    let answered = rig.put("victim", b"the bytes").await;
    assert_eq!(answered.map_err(|e| e.1), Err(503));
    assert!(rig.tikv.lost().contains(&lost), "{:?}", rig.tikv.lost());

    rig.assert_victim_rolled_back();
    rig.assert_no_locks();
    rig.assert_object_absent("victim").await;
    rig.put("victim", b"again").await.expect("a later put");
    rig.assert_object_whole("victim", b"again", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_lost_before_the_primary_committed_rolls_everything_back() {
    assert_refused_put_is_rolled_back(CommitFault::LoseRequest, "KvCommit").await;
}

/// A store unreachable for the primary's prewrite while the other region took its share: the
/// primary never holds a trace of the transaction, its secondaries are locked. tikv-client 0.4's
/// resolver cannot settle that (see `settle.rs`): the settle must roll it back itself, or the
/// secondaries stay locked, unreadable, until GC reaches them hours later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_primary_never_prewrote_is_rolled_back_whole() {
    assert_refused_put_is_rolled_back(CommitFault::LosePrimaryPrewrite, "KvPrewrite").await;
}

/// The primary committed, the answer was lost, and the cluster cannot be asked how the
/// transaction ended (status checks and lock resolution lost too): the gateway must answer
/// 503 and roll nothing back. Once the cluster heals, the first reader that meets a leftover
/// lock settles it by the primary, as TiKV's clients do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_that_cannot_be_learnt_is_left_to_lock_resolution() {
    let rig = rig(two_regions()).await;
    rig.inject("victim", CommitFault::LoseReply, true);

    let answered = rig.put("victim", b"the bytes").await;
    assert_eq!(answered.map_err(|e| e.1), Err(503));
    let lost = rig.tikv.lost();
    assert!(
        lost.contains(&"KvCommit") && lost.contains(&"KvCheckTxnStatus"),
        "{lost:?}"
    );
    assert!(
        !lost.contains(&"KvBatchRollback"),
        "a rollback was attempted: {lost:?}"
    );

    // Nothing was rolled back: the primary (the head) committed, the rest is still locked.
    let keys = rig.victim_keys();
    assert!(
        keys.values()
            .all(|s| matches!(s, KeyState::Committed(_) | KeyState::Locked)),
        "{keys:?}"
    );
    assert!(
        keys.values().any(|s| matches!(s, KeyState::Committed(_))),
        "{keys:?}"
    );
    assert!(keys.values().any(|s| *s == KeyState::Locked), "{keys:?}");

    rig.tikv.heal();
    // ListObjectVersions reads the version record, meets its lock and resolves it.
    let listed = rig
        .client
        .list_object_versions()
        .bucket(B)
        .prefix("victim")
        .send()
        .await
        .expect("ListObjectVersions after healing");
    assert_eq!(listed.versions().len(), 1, "{:?}", listed.versions());
    // The transaction also wrote the holder index, which no S3 call reads: any later reader (a
    // drain, a repair pass) resolves it the same way.
    rig.read_victim_keys().await;

    rig.assert_victim_committed();
    rig.assert_no_locks();
    rig.assert_object_whole("victim", b"the bytes", 1).await;
}
