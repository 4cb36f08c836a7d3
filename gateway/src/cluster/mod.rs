//! One store, many gateways: who the gateways are (registered in the metadata store, the only
//! membership there is), how they prove to each other who they are, and how bytes held by one
//! gateway's volume reach another.

pub mod membership;
pub mod node;
pub mod peer_api;
pub mod peer_auth;
pub mod peer_client;
pub mod placement;

pub use membership::Membership;
pub use node::{NodeId, NodeRecord};
pub use peer_auth::PeerKey;
pub use peer_client::PeerClient;

use std::path::PathBuf;

use crate::blob::BlobStore;
use std::time::Duration;

use crate::meta::MetaStore;
use membership::JoinError;

/// How this gateway takes part in its store.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: NodeId,
    pub peer_url: String,
    /// The volume's root.
    pub volume: PathBuf,
    /// The volume's blobs (their room is published in the heartbeat).
    pub blobs: BlobStore,
    /// The share of a volume's capacity past which it takes no new blob (0 to 1).
    pub high_water: f64,
    /// Copies kept of every new blob, this gateway's included (1 to 3).
    pub copies: usize,
    /// How long a freed blob stays readable: longer than any read of it may take.
    pub free_grace: Duration,
    /// A gateway whose heartbeat is older than this is taken for down.
    pub liveness: Duration,
    /// How peers are verified when the store serves TLS (`https` peer URLs); `None` when it
    /// does not.
    pub peer_tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// This gateway's view of the store's gateways and its means of reaching them.
pub struct Cluster {
    pub membership: Membership,
    pub peers: PeerClient,
    /// What this gateway's volume upkeep (scrub, repair, drain) did.
    pub volume_metrics: crate::metrics::VolumeMetrics,
    pub copies: usize,
    pub free_grace: Duration,
    pub high_water: f64,
}

impl Cluster {
    pub async fn join(meta: &dyn MetaStore, config: ClusterConfig, key: PeerKey) -> Result<Self, JoinError> {
        let token = node::volume_token(&config.volume).map_err(|e| JoinError::Volume(e.to_string()))?;
        let peers = PeerClient::new(key, config.peer_tls);
        let membership = Membership::join(
            meta,
            config.node_id,
            config.peer_url,
            config.blobs,
            token,
            config.liveness,
        )
        .await?;
        Ok(Self {
            membership,
            peers,
            volume_metrics: Default::default(),
            copies: config.copies.clamp(1, 3),
            free_grace: config.free_grace,
            high_water: config.high_water,
        })
    }

    pub fn me(&self) -> &NodeId {
        self.membership.me()
    }
}
