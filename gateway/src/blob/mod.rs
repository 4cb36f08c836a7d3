//! Object bytes on the volume: immutable files named by ids that never repeat.

mod check;
mod held_dir;
mod read;
mod store;
pub mod sweeper;

pub use check::{Verdict, check_copy, check_copy_paced};
pub use read::{BlobStream, READ_CHUNK};
pub use store::{BlobId, BlobStore, Observer, Room, WriteError, Written};
