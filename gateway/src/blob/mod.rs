//! Object bytes on the volume: immutable files named by ids that never repeat.

mod read;
mod store;
pub mod sweeper;

pub use read::BlobStream;
pub use store::{BlobId, BlobStore, Observer, Room, WriteError, Written};
