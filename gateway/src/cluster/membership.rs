//! Which gateways the store has, learnt from the metadata store: each gateway writes its own
//! record (peer URL, volume room, heartbeat) and reads everyone's. A gateway whose heartbeat is
//! older than the liveness window is taken for down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::{NodeId, NodeRecord};
use crate::blob::BlobStore;
use crate::meta::{MetaError, MetaResult, MetaStore, keys, transact};
use crate::model::{self, DrainRecord, Nanos};

/// The setting that names the gateway holding every blob recorded before blob references named
/// their holders: the store's one gateway then, which is the first to start after the upgrade.
pub const LEGACY_HOLDER: &str = "legacy-holder";
/// More gateways than any store has: the view is one scan.
const MAX_NODES: usize = 10_000;

pub struct Membership {
    me: NodeId,
    peer_url: String,
    blobs: BlobStore,
    volume_token: String,
    liveness: Duration,
    legacy: NodeId,
    view: RwLock<View>,
    /// The gateway last ran with another volume (a lost disk): its blobs are to be repaired.
    volume_replaced: AtomicBool,
}

#[derive(Default)]
struct View {
    nodes: BTreeMap<NodeId, NodeRecord>,
    /// Gateways being drained: no new copy goes to them.
    draining: BTreeSet<NodeId>,
}

fn now() -> Nanos {
    Nanos::from_time(SystemTime::now().into())
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("the volume: {0}")]
    Volume(String),
    #[error(
        "node id {id} is in use by a live gateway with another volume (at {peer_url}): every gateway of a store needs its own node id"
    )]
    Duplicate { id: NodeId, peer_url: String },
}

impl Membership {
    /// Registers this gateway and learns the others (and who holds the legacy blobs). Refuses a
    /// node id that a live gateway with another volume already has: the two would take each
    /// other's blobs for their own.
    pub async fn join(
        meta: &dyn MetaStore,
        me: NodeId,
        peer_url: String,
        blobs: BlobStore,
        volume_token: String,
        liveness: Duration,
    ) -> Result<Self, JoinError> {
        let legacy = transact(meta, &me, |txn, me| {
            Box::pin(async move {
                let key = keys::setting(LEGACY_HOLDER);
                if let Some(raw) = txn.get(&key).await? {
                    return model::decode::<NodeId>(&key, &raw);
                }
                txn.put(&key, &model::encode(me)).await?;
                Ok::<_, MetaError>(me.clone())
            })
        })
        .await?;
        let membership = Self {
            me,
            peer_url,
            blobs,
            volume_token,
            liveness,
            legacy,
            view: RwLock::new(View::default()),
            volume_replaced: AtomicBool::new(false),
        };
        membership.refresh(meta).await?;
        let holder = membership.with_view(|v| v.nodes.get(&membership.me).cloned());
        if let Some(other) = holder
            && other.volume != membership.volume_token
        {
            if membership.is_live_record(&other, now()) {
                return Err(JoinError::Duplicate {
                    id: other.id,
                    peer_url: other.peer_url,
                });
            }
            tracing::warn!(node = %membership.me, "this gateway's volume is not the one it had: its blobs will be repaired from other copies");
            membership.volume_replaced.store(true, Ordering::Relaxed);
        }
        membership.heartbeat(meta).await?;
        Ok(membership)
    }

    /// This gateway's record as of now: its volume's room read this moment.
    pub fn my_record(&self) -> NodeRecord {
        let room = self.blobs.room();
        NodeRecord {
            id: self.me.clone(),
            peer_url: self.peer_url.clone(),
            capacity: room.capacity,
            free: room.free,
            heartbeat: now(),
            volume: self.volume_token.clone(),
        }
    }

    /// Publishes this gateway's record with a fresh heartbeat, then re-reads everyone's.
    pub async fn heartbeat(&self, meta: &dyn MetaStore) -> MetaResult<()> {
        let record = self.my_record();
        let key = keys::node(self.me.as_str());
        let value = model::encode(&record);
        transact(meta, &(key, value), |txn, (key, value)| {
            Box::pin(async move { txn.put(key, value).await })
        })
        .await?;
        self.refresh(meta).await
    }

    /// Re-reads every gateway's record.
    pub async fn refresh(&self, meta: &dyn MetaStore) -> MetaResult<()> {
        let mut txn = meta.begin_read().await?;
        let (start, end) = keys::all_nodes();
        let rows = txn.scan(&start, &end, MAX_NODES).await;
        let _ = txn.rollback().await;
        let mut txn = meta.begin_read().await?;
        let (start, end) = keys::all_drains();
        let drains = txn.scan(&start, &end, MAX_NODES).await;
        let _ = txn.rollback().await;
        let mut view = View::default();
        for (k, v) in rows? {
            let record: NodeRecord = model::decode(&k, &v)?;
            view.nodes.insert(record.id.clone(), record);
        }
        for (k, v) in drains? {
            let drain: DrainRecord = model::decode(&k, &v)?;
            view.draining.insert(drain.node);
        }
        if let Ok(mut current) = self.view.write() {
            *current = view;
        }
        Ok(())
    }

    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// The holders a reference names; a reference written before holders were recorded names
    /// none and is held by the legacy holder.
    pub fn resolve<'a>(&'a self, holders: &'a [NodeId]) -> &'a [NodeId] {
        if holders.is_empty() {
            std::slice::from_ref(&self.legacy)
        } else {
            holders
        }
    }

    pub fn holds_locally(&self, holders: &[NodeId]) -> bool {
        self.resolve(holders).contains(&self.me)
    }

    /// Whether this gateway found another volume than the one it last ran with (and has not yet
    /// been repaired since).
    pub fn volume_replaced(&self) -> bool {
        self.volume_replaced.load(Ordering::Relaxed)
    }

    pub fn repaired(&self) {
        self.volume_replaced.store(false, Ordering::Relaxed);
    }

    pub fn is_draining(&self, id: &NodeId) -> bool {
        self.with_view(|v| v.draining.contains(id))
    }

    /// Every registered gateway, live or not.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.with_view(|v| v.nodes.values().cloned().collect())
    }

    pub fn is_live(&self, id: &NodeId) -> bool {
        let now = now();
        self.with_view(|v| v.nodes.get(id).is_some_and(|r| self.is_live_record(r, now)))
    }

    /// Live gateways other than this one that may take new copies (not draining).
    pub fn placeable_peers(&self) -> Vec<NodeRecord> {
        let now = now();
        self.with_view(|v| {
            v.nodes
                .values()
                .filter(|r| r.id != self.me && !v.draining.contains(&r.id) && self.is_live_record(r, now))
                .cloned()
                .collect()
        })
    }

    fn with_view<T>(&self, f: impl FnOnce(&View) -> T) -> T {
        match self.view.read() {
            Ok(view) => f(&view),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn is_live_record(&self, record: &NodeRecord, now: Nanos) -> bool {
        let age = Duration::from_nanos(u64::try_from(now.0.saturating_sub(record.heartbeat.0)).unwrap_or(0));
        age <= self.liveness
    }

    pub fn peer_url(&self, id: &NodeId) -> Option<String> {
        self.with_view(|v| v.nodes.get(id).map(|r| r.peer_url.clone()))
    }

    /// Where to read a blob from, best first: this gateway's volume, then live holders, then
    /// holders that look down (a stale view is better tried than not).
    pub fn read_order(&self, holders: &[NodeId]) -> Vec<Source> {
        let now = now();
        let holders = self.resolve(holders);
        let mut local = Vec::new();
        let mut live = Vec::new();
        let mut rest = Vec::new();
        self.with_view(|v| {
            for id in holders {
                if *id == self.me {
                    local.push(Source::Local);
                    continue;
                }
                match v.nodes.get(id) {
                    Some(r) if self.is_live_record(r, now) => {
                        live.push(Source::Peer(id.clone(), r.peer_url.clone()))
                    }
                    Some(r) => rest.push(Source::Peer(id.clone(), r.peer_url.clone())),
                    None => {}
                }
            }
        });
        local.into_iter().chain(live).chain(rest).collect()
    }
}

/// One place a blob can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local,
    Peer(NodeId, String),
}
