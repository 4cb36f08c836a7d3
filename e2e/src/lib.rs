//! End-to-end harness for Stowage: start real gateway processes and drive them with real clients.
//!
//! - [`Gateway`]: a gateway process per test, on a free port over a temporary data dir, with
//!   fresh root credentials; it hands out SDK clients ([`Gateway::client`]) and raw clients
//!   ([`Gateway::raw`]).
//! - [`RawClient`]: hand-built SigV4 requests for what an SDK will not send (wrong hashes,
//!   skewed clocks, every aws-chunked form, virtual-host `Host` headers, presigned URLs).
//! - [`tls`]: a test CA and clients that trust it, for gateways started with
//!   [`GatewayOptions::tls`].
//! - [`bench`]: the scenarios of the `s3bench` load generator.

pub mod bench;
pub mod chunked;
pub mod client;
pub mod gateway;
pub mod raw;
pub mod signed_stream;
pub mod sigv4;
pub mod tls;

pub use chunked::Corruption;
pub use client::s3_client;
pub use gateway::{Gateway, GatewayOptions, StartError};
pub use raw::{PayloadHash, RawClient, RawRequest, RawResponse, TransportError};
