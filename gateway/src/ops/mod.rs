//! S3 operations over the metadata store and the blob volume, one concern per module. Nothing
//! here knows HTTP; errors are S3 errors because that is the vocabulary of every caller.

mod blob_copy;
mod blob_index;
mod bucket;
mod copy;
mod dead_spaces;
pub mod drain;
pub mod expire;
mod frees;
pub mod inline;
mod key_locks;
mod landing;
pub mod list;
pub mod manifest;
pub mod multipart;
mod object;
pub mod precondition;
mod refs;
mod rename;
pub mod repair;
mod replicas;
mod sealed;
mod sealed_read;
mod segments;
mod tagging;
mod txn;
mod verified_read;
pub mod version;
pub mod versions;

use std::sync::Arc;

use crate::blob::BlobStore;
use crate::clock::SharedClock;
use crate::cluster::Cluster;
use crate::kms::KeyService;
use crate::meta::MetaStore;
use key_locks::KeyLocks;

pub use copy::{Copied, CopyRequest, copy_of_delete_marker};
pub use inline::BodyOf;
pub use list::{ListEntry, ListPage, ListQuery};
pub use object::{NewObject, Upload};
pub use rename::{RenameOutcome, RenameRequest, RenameSource};
pub use sealed::{PlainStream, Sealing};
pub use txn::{Durability, read_only, transact, transact_with};

/// Everything an operation needs: where metadata and bytes live, and what time it is.
#[derive(Clone)]
pub struct Store {
    pub meta: Arc<dyn MetaStore>,
    /// This gateway's volume.
    pub blobs: BlobStore,
    /// The store's other gateways, and where blobs are.
    pub cluster: Arc<Cluster>,
    pub clock: SharedClock,
    pub region: String,
    /// Wraps and opens the data keys of SSE-S3 and SSE-KMS blobs.
    pub keys: Arc<dyn KeyService>,
    locks: Arc<KeyLocks>,
    /// The smallest part but the last a completion accepts (`multipart::MIN_PART_SIZE`).
    min_part_size: u64,
    /// The largest body kept in the metadata store, as stored (`inline`).
    inline_max: u64,
}

impl Store {
    pub fn new(
        meta: Arc<dyn MetaStore>,
        blobs: BlobStore,
        cluster: Arc<Cluster>,
        clock: SharedClock,
        region: String,
        keys: Arc<dyn KeyService>,
    ) -> Self {
        Self {
            meta,
            blobs,
            cluster,
            clock,
            region,
            keys,
            locks: Arc::default(),
            min_part_size: multipart::MIN_PART_SIZE,
            inline_max: inline::DEFAULT_MAX,
        }
    }

    /// Keeps whole-object bodies of up to `bytes` as stored in the metadata store (0: none).
    pub fn with_inline_max(self, bytes: u64) -> Self {
        Self {
            inline_max: bytes,
            ..self
        }
    }

    /// Accepts parts down to `bytes` (benchmarks and tests of objects with thousands of parts).
    pub fn with_min_part_size(self, bytes: u64) -> Self {
        Self {
            min_part_size: bytes,
            ..self
        }
    }
}

/// A one-gateway store over `dir` for unit tests.
#[cfg(test)]
pub async fn test_store(meta: Arc<dyn MetaStore>, dir: &std::path::Path, clock: SharedClock) -> Store {
    let config = crate::cluster::ClusterConfig {
        node_id: crate::cluster::NodeId::parse("test-0").expect("valid id"),
        peer_url: "http://127.0.0.1:1".into(),
        volume: dir.to_owned(),
        blobs: BlobStore::open(dir).expect("opening the volume"),
        high_water: 0.95,
        copies: 1,
        free_grace: std::time::Duration::ZERO,
        liveness: std::time::Duration::from_secs(15),
        peer_tls: None,
    };
    let cluster = Cluster::join(&*meta, config, crate::cluster::PeerKey::new([0; 32]))
        .await
        .expect("joining a fresh store");
    let master = crate::auth::secrets::MasterKeys::new(
        crate::auth::secrets::MasterKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .expect("a 32-byte key"),
        Vec::new(),
    );
    let keys = Arc::new(crate::kms::managed::ManagedKeys::new(
        meta.clone(),
        master,
        clock.clone(),
        "us-east-1".into(),
    ));
    Store::new(
        meta,
        BlobStore::open(dir).expect("opening the volume"),
        Arc::new(cluster),
        clock,
        "us-east-1".into(),
        keys,
    )
}
