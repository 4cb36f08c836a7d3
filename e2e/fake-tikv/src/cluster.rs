//! The shared state of the fake cluster (regions, timestamp oracle, data, faults) and the
//! routing of gRPC calls to PD or TiKV. Both services listen on one address: their paths differ.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::faults::Faults;
use crate::grpc::{Handler, Reply, UNIMPLEMENTED};
use crate::mvcc::{Mvcc, PHYSICAL_SHIFT};
use crate::proto::metapb;
use crate::{codec, kv, pd};

pub const CLUSTER_ID: u64 = 7;
pub const STORE_ID: u64 = 1;
const FIRST_REGION_ID: u64 = 2;
const PEER_ID_OFFSET: u64 = 1000;

/// A region: `[start, end)` in raw keys, `end` empty for the last.
#[derive(Debug, Clone)]
struct Region {
    id: u64,
    start: Vec<u8>,
    end: Vec<u8>,
}

#[derive(Debug, Default)]
struct Oracle {
    physical: u64,
    logical: u64,
}

pub struct Cluster {
    pub addr: SocketAddr,
    regions: Vec<Region>,
    oracle: Mutex<Oracle>,
    safe_point: Mutex<u64>,
    pub data: Mutex<Mvcc>,
    pub faults: Mutex<Faults>,
    /// Whether prewrites that ask for one-phase commit get it.
    pub one_pc: bool,
    calls: Mutex<BTreeMap<String, u64>>,
}

/// Locks a mutex; the state stays consistent across a panicking test thread.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// A cluster whose regions are split at `splits` (raw keys).
    pub fn new(addr: SocketAddr, mut splits: Vec<Vec<u8>>, one_pc: bool) -> Cluster {
        splits.sort();
        splits.dedup();
        splits.retain(|s| !s.is_empty());
        let mut bounds = vec![Vec::new()];
        bounds.extend(splits);
        let regions = bounds
            .iter()
            .enumerate()
            .map(|(i, start)| Region {
                id: FIRST_REGION_ID + i as u64,
                start: start.clone(),
                end: bounds.get(i + 1).cloned().unwrap_or_default(),
            })
            .collect();
        Cluster {
            addr,
            regions,
            oracle: Mutex::default(),
            safe_point: Mutex::default(),
            data: Mutex::default(),
            faults: Mutex::default(),
            one_pc,
            calls: Mutex::default(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `count` fresh timestamps, as the physical part and the logical part of the last one.
    pub fn timestamps(&self, count: u32) -> (u64, u64) {
        let count = u64::from(count);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut o = lock(&self.oracle);
        if now > o.physical {
            o.physical = now;
            o.logical = 0;
        }
        if o.logical + count >= 1 << PHYSICAL_SHIFT {
            o.physical += 1;
            o.logical = 0;
        }
        o.logical += count;
        (o.physical, o.logical)
    }

    /// One fresh timestamp, as a version.
    pub fn timestamp(&self) -> u64 {
        let (physical, logical) = self.timestamps(1);
        (physical << PHYSICAL_SHIFT) | logical
    }

    pub fn advance_safe_point(&self, to: u64) -> u64 {
        let mut sp = lock(&self.safe_point);
        *sp = (*sp).max(to);
        *sp
    }

    /// The region holding raw `key`, as PD describes it (bounds encoded).
    pub fn region_of(&self, key: &[u8]) -> Option<metapb::Region> {
        self.regions
            .iter()
            .find(|r| r.start.as_slice() <= key && (r.end.is_empty() || key < r.end.as_slice()))
            .map(describe)
    }

    pub fn region(&self, id: u64) -> Option<metapb::Region> {
        self.regions.iter().find(|r| r.id == id).map(describe)
    }

    /// The raw bounds of region `id`.
    pub fn bounds(&self, id: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        self.regions
            .iter()
            .find(|r| r.id == id)
            .map(|r| (r.start.clone(), r.end.clone()))
    }

    pub fn calls(&self, method: &str) -> u64 {
        lock(&self.calls).get(method).copied().unwrap_or(0)
    }

    fn count(&self, method: &str) {
        *lock(&self.calls).entry(method.to_owned()).or_default() += 1;
    }
}

fn describe(r: &Region) -> metapb::Region {
    let encode = |k: &[u8]| {
        if k.is_empty() {
            Vec::new()
        } else {
            codec::encode(k)
        }
    };
    metapb::Region {
        id: r.id,
        start_key: encode(&r.start),
        end_key: encode(&r.end),
        region_epoch: Some(metapb::RegionEpoch {
            conf_ver: 1,
            version: 1,
        }),
        peers: vec![metapb::Peer {
            id: PEER_ID_OFFSET + r.id,
            store_id: STORE_ID,
        }],
    }
}

impl Handler for Cluster {
    fn unary(&self, path: &str, message: &[u8]) -> Reply {
        if let Some(method) = path.strip_prefix(pd::SERVICE) {
            self.count(method);
            pd::unary(self, method, message)
        } else if let Some(method) = path.strip_prefix(kv::SERVICE) {
            self.count(method);
            kv::unary(self, method, message)
        } else {
            Reply::Status(UNIMPLEMENTED, format!("no service for {path}"))
        }
    }

    fn is_stream(&self, path: &str) -> bool {
        path == pd::TSO
    }

    fn each(&self, _path: &str, message: &[u8]) -> Reply {
        self.count("Tso");
        pd::tso(self, message)
    }
}
