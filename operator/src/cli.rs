//! The `operator` command line: `operator run` (reconcile) and `operator crds` (print or write
//! the CRDs). Every `run` flag has an environment variable, which is how the Deployment and the
//! Helm chart configure it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "operator",
    version,
    about = "Stowage operator: object stores and buckets as Kubernetes resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile ObjectStore, Bucket, BucketPolicy and LifecycleRule resources.
    Run(Box<RunArgs>),
    /// Print the CRDs as YAML, or write them into directories, one file per CRD.
    Crds {
        /// A directory to write the CRDs and a kustomization.yaml listing them into (`crds/`).
        #[arg(long)]
        out_dir: Vec<PathBuf>,
        /// A Helm chart's crds/ directory to write the CRDs alone into.
        #[arg(long)]
        helm_dir: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Gateway image for ObjectStores that do not name one.
    #[arg(long, env = "STOWAGE_GATEWAY_IMAGE", default_value = concat!("ghcr.io/stowage/gateway:", env!("CARGO_PKG_VERSION")))]
    pub gateway_image: String,

    /// Reach every store at this URL instead of its in-cluster Service (an operator running
    /// outside the cluster, or e2e tests whose gateway is not a pod).
    #[arg(long, env = "STOWAGE_STORE_ENDPOINT_OVERRIDE")]
    pub store_endpoint_override: Option<String>,

    /// Watch only this namespace (all namespaces when unset).
    #[arg(long, env = "STOWAGE_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "STOWAGE_OPERATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,

    /// Take the leader lease before reconciling (needed with more than one replica).
    #[arg(long, env = "STOWAGE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the coordination.k8s.io Lease.
    #[arg(long, env = "STOWAGE_LEASE_NAME", default_value = "stowage-operator")]
    pub lease_name: String,

    /// Namespace of the Lease: the operator's own (downward API `POD_NAMESPACE`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// This replica's identity in the Lease and in Events (downward API `POD_NAME`).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Log level (overridden by `RUST_LOG`).
    #[arg(long, env = "STOWAGE_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format: `text` or `json`.
    #[arg(long, env = "STOWAGE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}
