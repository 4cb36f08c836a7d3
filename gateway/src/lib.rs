//! Stowage gateway: the S3 data plane.
//!
//! Requests flow one way: HTTP -> s3s (routing, SigV4) -> [`s3`] (DTO translation) -> [`ops`]
//! (one transaction per operation) -> [`meta`] + [`blob`].

pub mod admin;
pub mod auth;
pub mod blob;
pub mod checksum;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod credentials;
pub mod errors;
pub mod head_prefix;
pub mod heap_tuning;
pub mod http_server;
pub mod kms;
pub mod lifecycle;
pub mod md5_asm;
pub mod md5_thread;
pub mod meta;
pub mod metrics;
pub mod model;
pub mod names;
pub mod ops;
pub mod s3;
pub mod server;
pub mod sse;
pub mod tls;
