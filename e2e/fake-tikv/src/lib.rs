//! A fake TiKV cluster for tests: one PD and one TiKV store in this process, on a loopback port,
//! speaking the real gRPC protocol (kvproto's `pdpb.PD` and `tikvpb.Tikv`), so the unmodified
//! tikv-client (and the gateway's TiKV backend on it, in this process or another) talks to it as
//! to a cluster. Test-only: nothing is durable, and only what tikv-client 0.4 sends for
//! optimistic transactions is implemented (see `kv.rs`), with TiKV's Percolator semantics
//! (`mvcc.rs`).
//!
//! Why it exists: no TiKV binary is available where the tests run, tikv-client's own mocks are
//! private to it, and the behaviour worth testing (a commit whose answer is lost after the
//! primary committed, settled by the primary's status) needs faults placed between TiKV applying
//! a request and the client hearing of it. [`Fault`] places them.
//!
//! ```no_run
//! let tikv = fake_tikv::FakeTikv::start();
//! let url = format!("tikv://{}/store", tikv.pd_endpoint());
//! ```

mod cluster;
mod codec;
mod faults;
mod grpc;
mod kv;
mod mvcc;
mod pd;
mod proto;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use faults::{CommitFault, Fault};
pub use mvcc::KeyState;

use cluster::{Cluster, lock};

/// How the cluster is laid out.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Region boundaries (raw keys): no splits is one region holding every key. A transaction
    /// whose keys span regions cannot commit in one phase (tikv-client falls back to 2PC), and
    /// its locks are resolved and rolled back region by region, as on a real cluster.
    pub splits: Vec<Vec<u8>>,
    /// Answer prewrites that ask for one-phase commit as TiKV before 5.0 did: as plain
    /// prewrites (locks written, nothing committed). tikv-client then reports the commit
    /// failed and the gateway uses two-phase commits from then on.
    pub decline_one_pc: bool,
}

/// A lock left in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockView {
    pub key: Vec<u8>,
    pub primary: Vec<u8>,
    pub start_ts: u64,
}

/// A running fake cluster; dropping it stops it.
pub struct FakeTikv {
    cluster: Arc<Cluster>,
    _server: grpc::Server,
}

impl FakeTikv {
    /// One region, no faults.
    pub fn start() -> FakeTikv {
        FakeTikv::start_with(Config::default())
    }

    pub fn start_with(config: Config) -> FakeTikv {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let cluster = Arc::new(Cluster::new(addr, config.splits, !config.decline_one_pc));
        let server = grpc::Server::start(listener, cluster.clone()).expect("start the fake TiKV");
        FakeTikv {
            cluster,
            _server: server,
        }
    }

    /// The PD endpoint, `127.0.0.1:<port>` (as in `tikv://<endpoint>/<prefix>`).
    pub fn pd_endpoint(&self) -> String {
        self.cluster.addr.to_string()
    }

    /// Arms `fault` (replacing any earlier one); it picks its victim at the next matching
    /// prewrite.
    pub fn inject(&self, fault: Fault) {
        lock(&self.cluster.faults).inject(fault);
    }

    /// Lets requests that settle the victim through again.
    pub fn heal(&self) {
        lock(&self.cluster.faults).heal();
    }

    /// The start timestamp of the fault's victim, once it prewrote.
    pub fn victim(&self) -> Option<u64> {
        lock(&self.cluster.faults).victim()
    }

    /// The requests the faults lost so far (method names, in order).
    pub fn lost(&self) -> Vec<&'static str> {
        lock(&self.cluster.faults).lost()
    }

    /// How many times `method` (e.g. `KvCheckTxnStatus`, `GetRegion`) was called.
    pub fn calls(&self, method: &str) -> u64 {
        self.cluster.calls(method)
    }

    /// Every lock in the store.
    pub fn locks(&self) -> Vec<LockView> {
        lock(&self.cluster.data)
            .locks()
            .into_iter()
            .map(|(key, l)| LockView {
                key,
                primary: l.primary,
                start_ts: l.start_ts,
            })
            .collect()
    }

    /// What each key the transaction `start_ts` prewrote holds for it now.
    pub fn txn_keys(&self, start_ts: u64) -> BTreeMap<Vec<u8>, KeyState> {
        lock(&self.cluster.data).txn_keys(start_ts)
    }

    /// The newest committed value of every key starting with `prefix` (locks ignored: what
    /// the store holds once every lock is settled as committed data says).
    pub fn committed(&self, prefix: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        lock(&self.cluster.data).committed(prefix)
    }
}
