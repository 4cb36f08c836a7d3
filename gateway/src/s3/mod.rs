//! The S3 protocol boundary: s3s parses and verifies requests; this module translates its DTOs
//! to operations and back, authenticates keys, and completes every response.

mod acl;
pub mod attributes_etag;
mod bucket_api;
mod checksum_request;
mod conditions;
pub mod date_header;
mod encryption_api;
pub(crate) mod encryption_request;
pub mod envelope;
mod host;
pub mod lenient_range;
mod lifecycle_api;
mod list_api;
mod listing;
mod multipart_api;
mod object_api;
mod object_io;
mod object_lock;
pub mod post_form;
mod public_access_api;
mod rename_route;
pub mod repeated_metadata;
pub(crate) mod request;
mod service;
pub mod signature_gate;
mod sse_request;
mod tags;

pub use host::VirtualHosts;
pub use rename_route::RenameRoute;
pub use service::Gateway;
