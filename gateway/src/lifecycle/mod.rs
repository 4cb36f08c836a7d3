//! Bucket lifecycle: rules (pure) and the worker that applies them.

pub mod rules;
pub mod worker;
