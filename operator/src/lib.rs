//! The Stowage operator: reconciles `ObjectStore`, `Bucket`, `BucketPolicy` and `LifecycleRule`
//! resources into running gateways and configured buckets.
//!
//! - [`crd`]: the resource types (the CRDs in `crds/` are generated from them).
//! - [`resources`]: pure desired state: Kubernetes objects, S3 calls, policy JSON, lifecycle XML.
//! - [`store_client`]: signed S3 and admin API calls to a store's gateways.
//! - [`controller`]: the reconcilers, thin layers that read, compute with [`resources`], and apply.

pub mod bucket_name;
pub mod cli;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod crd_yaml;
#[cfg(test)]
pub mod fixtures;
pub mod leader;
pub mod manager;
pub mod metrics;
pub mod resources;
pub mod server;
pub mod store_client;
pub mod telemetry;
