//! S3 operations over the metadata store and the blob volume, one concern per module. Nothing
//! here knows HTTP; errors are S3 errors because that is the vocabulary of every caller.

mod bucket;
mod copy;
pub mod expire;
mod key_locks;
pub mod list;
pub mod multipart;
mod object;
pub mod precondition;
mod refs;
mod rename;
mod sealed;
mod tagging;
mod txn;
pub mod version;
pub mod versions;

use std::sync::Arc;

use crate::blob::BlobStore;
use crate::clock::SharedClock;
use crate::meta::MetaStore;
use key_locks::KeyLocks;

pub use copy::{Copied, CopyRequest, copy_of_delete_marker};
pub use list::{ListEntry, ListPage, ListQuery};
pub use object::{NewObject, Upload};
pub use rename::{RenameOutcome, RenameRequest, RenameSource};
pub use sealed::PlainStream;
pub use txn::{Durability, read_only, transact, transact_with};

/// Everything an operation needs: where metadata and bytes live, and what time it is.
#[derive(Clone)]
pub struct Store {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: BlobStore,
    pub clock: SharedClock,
    pub region: String,
    locks: Arc<KeyLocks>,
}

impl Store {
    pub fn new(meta: Arc<dyn MetaStore>, blobs: BlobStore, clock: SharedClock, region: String) -> Self {
        Self {
            meta,
            blobs,
            clock,
            region,
            locks: Arc::default(),
        }
    }
}
