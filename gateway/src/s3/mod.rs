//! The S3 protocol boundary: s3s parses and verifies requests; this module translates its DTOs
//! to operations and back, authenticates keys, and completes every response.

pub mod auth;
mod checksum_request;
pub mod envelope;
mod listing;
mod object_io;
mod service;

pub use service::Gateway;
