//! The scenarios of `s3bench`, a load generator for any S3 endpoint.
//!
//! Each scenario is one module with one `run(&BenchContext) -> ScenarioReport` function and one
//! variant of [`Scenario`]; adding a scenario (copy, rename, multipart) means adding both. The
//! shared parts are the closed-loop [`driver`], the latency [`stats`] and the [`report`].

pub mod at_rest;
pub mod bucket;
pub mod context;
pub mod drain;
pub mod driver;
pub mod huge_parts;
pub mod large;
pub mod lifecycle;
pub mod limits;
pub mod list;
pub mod machine_cpu;
pub mod metadata_ops;
pub mod multipart;
pub mod payload;
pub mod peers;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod signed_put;
pub mod small;
pub mod sse;
pub mod stats;
pub mod versions;

pub use context::{BenchContext, BenchSettings};
pub use report::{Figure, Measurement, Report, ScenarioReport};
pub use scenario::Scenario;
