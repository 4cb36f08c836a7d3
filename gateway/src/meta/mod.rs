//! Object metadata: one transactional-store contract, its key layout and its backends.

pub mod conformance;
pub mod fjall;
mod group_sync;
pub mod keys;
pub mod store;
pub mod tikv;
mod transact;

pub use store::{Key, MetaError, MetaResult, MetaStore, MetaTxn, Value, Visitor};
pub use transact::{backoff_after_conflict, transact};
