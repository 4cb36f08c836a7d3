//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::credentials::AccessKey;

/// The shortest sweep grace period: an upload's blob is unreferenced until its commit, which
/// follows its last write by the copies to other gateways and the metadata commit; a body may
/// also pause for up to `--body-timeout` between writes. Ten minutes covers all of them with room.
pub const MIN_SWEEP_GRACE: Duration = Duration::from_secs(600);

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Stowage: an S3-compatible object store for Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the S3 API (boxed: it is many times the size of `Admin`).
    Serve(Box<ServeArgs>),
    /// Manage users, organizations and access keys of a running gateway (admin API client).
    Admin(crate::admin::cli::AdminArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the S3 API listens on.
    #[arg(long, env = "STOWAGE_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// Directory for object bytes, the embedded metadata store and generated credentials.
    #[arg(long, env = "STOWAGE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Metadata backend: `embedded` (in the data directory), or a TiKV cluster shared by any
    /// number of gateways, `tikv://pd1:2379,pd2:2379/<prefix>` (PD endpoints; the store's key
    /// prefix, [a-zA-Z0-9._-], lets several stores share one cluster).
    #[arg(long, env = "STOWAGE_META", default_value = "embedded")]
    pub meta: String,

    /// Settings of the TiKV backend (boxed: `Command`'s variants stay alike in size).
    #[command(flatten)]
    pub tikv: Box<TikvArgs>,

    /// The region this store serves (bucket LocationConstraint and SigV4 scope).
    #[arg(long, env = "STOWAGE_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Base domain for virtual-host-style addressing (`<bucket>.<domain>`); path style always works.
    #[arg(long, env = "STOWAGE_DOMAIN")]
    pub domain: Option<String>,

    /// Strict CreateBucket, as seed 002 documents it: a LocationConstraint is required and
    /// re-creating a bucket you own is `BucketAlreadyOwnedByYou`. The default answers as AWS does
    /// in us-east-1 (no constraint needed, re-creation is 200), so unconfigured clients work.
    #[arg(long, env = "STOWAGE_REQUIRE_LOCATION_CONSTRAINT", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_location_constraint: bool,

    /// Seconds between sweeps for orphaned blobs.
    #[arg(long, env = "STOWAGE_SWEEP_INTERVAL", default_value_t = 600)]
    pub sweep_interval: u64,

    /// Minimum age in seconds before an unreferenced blob is removed: longer than any PUT's
    /// write-to-commit window, so never below 600.
    #[arg(long, env = "STOWAGE_SWEEP_GRACE", default_value_t = 3600)]
    pub sweep_grace: u64,

    /// Seconds in a lifecycle "day" (86400). Shorter days let tests and demos watch rules act,
    /// like Ceph's `rgw_lc_debug_interval`.
    #[arg(long, env = "STOWAGE_LIFECYCLE_DAY_SECONDS", default_value_t = 86_400)]
    pub lifecycle_day_seconds: u64,

    /// Seconds between lifecycle passes.
    #[arg(long, env = "STOWAGE_LIFECYCLE_INTERVAL", default_value_t = 3600)]
    pub lifecycle_interval: u64,

    /// Upper bound on lifecycle actions per second, to leave capacity to clients.
    #[arg(long, env = "STOWAGE_LIFECYCLE_MAX_ACTIONS_PER_SEC", default_value_t = 2000)]
    pub lifecycle_max_actions_per_sec: u32,

    /// Accept SSE-C (customer-provided keys) over plain HTTP: for gateways behind a
    /// TLS-terminating ingress. Without it, SSE-C requests are refused, as S3 refuses them
    /// without TLS.
    #[arg(long, env = "STOWAGE_ALLOW_SSE_C_OVER_HTTP", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_sse_c_over_http: bool,

    /// Seal every write that asks for no encryption (in a bucket without default encryption)
    /// with SSE-S3, as AWS does. `--sse-s3-default=false` stores such objects in the clear: for
    /// stores whose volumes are encrypted otherwise. Either way, objects already stored stay
    /// readable.
    #[arg(long, env = "STOWAGE_SSE_S3_DEFAULT", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sse_s3_default: bool,

    /// The organization of the root identity (and of buckets it creates).
    #[arg(long, env = "STOWAGE_ROOT_ORG", default_value = "stowage")]
    pub root_org: String,

    /// File holding the base64 master key that seals access-key secrets at rest; created in the
    /// data directory when not given. Every gateway of a store must use the same key.
    #[arg(long, env = "STOWAGE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Further master keys that open secrets but seal none: the old key while rotating to a new
    /// one (`docs/admin-api.md` has the procedure), or the new one just before it becomes the
    /// sealing key. Repeatable, or comma-separated in the environment.
    #[arg(long, env = "STOWAGE_EXTRA_MASTER_KEY_FILES", value_delimiter = ',')]
    pub extra_master_key_file: Vec<PathBuf>,

    /// TLS on the S3 port and between gateways (boxed like `tikv`).
    #[command(flatten)]
    pub tls: Box<TlsArgs>,

    /// How this gateway takes part in a store of several (boxed like `tikv`).
    #[command(flatten)]
    pub cluster: Box<ClusterArgs>,

    /// Seconds a new connection may take to deliver its first request's headers before it is
    /// closed.
    #[arg(long, env = "STOWAGE_HEADER_TIMEOUT", default_value_t = 30)]
    pub header_timeout: u64,

    /// Seconds a keep-alive connection may wait to begin (and send the headers of) its next
    /// request before it is closed.
    #[arg(long, env = "STOWAGE_IDLE_TIMEOUT", default_value_t = 120)]
    pub idle_timeout: u64,

    /// Seconds a request body may send nothing before the request ends with `RequestTimeout`
    /// (and its partial upload is removed).
    #[arg(long, env = "STOWAGE_BODY_TIMEOUT", default_value_t = 60)]
    pub body_timeout: u64,

    /// Largest file in bytes a POST Object form may upload (larger is `400 EntityTooLarge`). The
    /// form parser holds the whole file in memory before the upload starts, unlike PUT, so this
    /// bounds what one form costs; larger files go by PUT or multipart upload.
    #[arg(long, env = "STOWAGE_MAX_FORM_UPLOAD_SIZE", default_value_t = 32 * 1024 * 1024)]
    pub max_form_upload_size: u64,

    /// Smallest size in bytes of a multipart upload's parts but the last (S3's is 5 MiB). Lower
    /// only for benchmarks and tests that build objects of thousands of parts.
    #[arg(long, env = "STOWAGE_MIN_PART_SIZE", default_value_t = crate::ops::multipart::MIN_PART_SIZE, hide = true)]
    pub min_part_size: u64,

    /// Whole objects of at most this many bytes as stored are kept in the metadata store, not
    /// on a volume: a small PUT then makes no file of its own. 0 keeps every object on volumes.
    #[arg(long, env = "STOWAGE_INLINE_MAX_SIZE", default_value_t = crate::ops::inline::DEFAULT_MAX)]
    pub inline_max_size: u64,

    /// Log format: `text` or `json`.
    #[arg(long, env = "STOWAGE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Identity, peers and copies of a gateway in a store of several.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// This gateway's stable name in its store (blob references record it). Default: the name
    /// its volume remembers, else the host name (a StatefulSet pod's name), else `gateway`.
    /// With `--gateways N`, gateway i > 0 is `<id>-<i>`.
    #[arg(long, env = "STOWAGE_NODE_ID")]
    pub node_id: Option<String>,

    /// The URL other gateways of the store reach this one at (its S3 port), e.g.
    /// `http://store-0.store-peers.ns.svc:9000`; `https://` exactly when --tls-cert is given.
    /// Default: `http(s)://` + the listen address (loopback when listening on all addresses).
    /// Ignored with `--gateways N` > 1.
    #[arg(long, env = "STOWAGE_PEER_URL")]
    pub peer_url: Option<String>,

    /// File holding the store-internal secret that signs gateway-to-gateway requests; every
    /// gateway of a store must have the same. Default: a key derived from the master key.
    #[arg(long, env = "STOWAGE_PEER_SECRET_FILE")]
    pub peer_secret_file: Option<PathBuf>,

    /// Copies kept of every new object's bytes, on as many gateways (1 to 3); a write is
    /// acknowledged when every copy is durable.
    #[arg(long, env = "STOWAGE_BLOB_COPIES", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub blob_copies: u8,

    /// Run this many gateways in this process, on consecutive ports from `--listen`, over the
    /// one embedded metadata store, each with its own volume (`<data-dir>/gateway-<i>` for
    /// i > 0): a multi-gateway store on one machine.
    #[arg(long, env = "STOWAGE_GATEWAYS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub gateways: u16,

    /// Seconds a deleted or overwritten object's bytes stay on the volume, so that reads which
    /// started before stream to the end; longer than any read may take.
    #[arg(long, env = "STOWAGE_FREE_GRACE", default_value_t = 900)]
    pub free_grace: u64,

    /// Seconds between heartbeats in the metadata store; a gateway silent for three of them is
    /// taken for down (its copies are read elsewhere and new copies go elsewhere).
    #[arg(long, env = "STOWAGE_HEARTBEAT_INTERVAL", default_value_t = 5)]
    pub heartbeat_interval: u64,

    /// Most bytes of blobs this gateway keeps on its volume, whatever the filesystem's size (a
    /// volume shared with other data). Default: the filesystem's own capacity.
    #[arg(long, env = "STOWAGE_VOLUME_QUOTA", value_name = "BYTES")]
    pub volume_quota: Option<u64>,

    /// Percent of a volume's capacity past which it takes no new blob, keeping room for the
    /// metadata store and for compaction; writes then go to gateways with room.
    #[arg(long, env = "STOWAGE_VOLUME_HIGH_WATER", value_name = "PERCENT", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub volume_high_water: u8,

    /// Seconds between the starts of scrub passes: each re-reads every blob on the volume and
    /// checks it against the CRC recorded when it was written, repairing a damaged or missing
    /// copy from another. 0: never.
    #[arg(
        long,
        env = "STOWAGE_SCRUB_INTERVAL",
        value_name = "SECONDS",
        default_value_t = 604_800
    )]
    pub scrub_interval: u64,

    /// Bytes per second a scrub reads at most, so it never competes with clients for the disk.
    #[arg(long, env = "STOWAGE_SCRUB_RATE", value_name = "BYTES_PER_SECOND", default_value_t = 32 * 1024 * 1024)]
    pub scrub_rate: u64,
}

/// TLS on the S3 port (and so on the peer endpoint, which shares it).
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first) served on the S3 port; with --tls-key, the port speaks
    /// only TLS (HTTP/1.1 and HTTP/2). Re-read when the file changes, for in-place rotation.
    #[arg(
        id = "tls_cert",
        long = "tls-cert",
        env = "STOWAGE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub cert: Option<PathBuf>,

    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        id = "tls_key",
        long = "tls-key",
        env = "STOWAGE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub key: Option<PathBuf>,

    /// PEM bundle of the CA(s) that other gateways' certificates are verified against. Default:
    /// the system's roots and the certificates of --tls-cert's own chain.
    #[arg(
        id = "tls_ca",
        long = "tls-ca",
        env = "STOWAGE_TLS_CA",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub ca: Option<PathBuf>,
}

/// TLS and garbage collection of the TiKV metadata backend (`--meta tikv://...`).
#[derive(Debug, Clone, Args)]
pub struct TikvArgs {
    /// PEM CA of a TLS-secured TiKV cluster (with --tikv-cert and --tikv-key).
    #[arg(long = "tikv-ca", env = "STOWAGE_TIKV_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// PEM client certificate for a TLS-secured TiKV cluster.
    #[arg(long = "tikv-cert", env = "STOWAGE_TIKV_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// PEM private key of --tikv-cert.
    #[arg(long = "tikv-key", env = "STOWAGE_TIKV_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Seconds of MVCC history TiKV keeps: the gateway advances the cluster's GC safe point to
    /// now minus this (at least 600); 0 leaves GC to someone else (a TiDB on the same cluster).
    #[arg(
        long = "tikv-gc-max-age",
        env = "STOWAGE_TIKV_GC_MAX_AGE",
        value_name = "SECONDS",
        default_value_t = 10_800
    )]
    pub gc_max_age: u64,
}

impl ServeArgs {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval.max(1))
    }

    pub fn lifecycle_day(&self) -> Duration {
        Duration::from_secs(self.lifecycle_day_seconds.max(1))
    }

    /// The sweep grace period, never below [`MIN_SWEEP_GRACE`].
    pub fn sweep_grace(&self) -> Duration {
        Duration::from_secs(self.sweep_grace).max(MIN_SWEEP_GRACE)
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.cluster.heartbeat_interval.max(1))
    }

    /// Root credentials from `STOWAGE_ROOT_ACCESS_KEY_ID` / `STOWAGE_ROOT_SECRET_ACCESS_KEY`.
    pub fn root_from_env() -> Option<AccessKey> {
        let id = std::env::var("STOWAGE_ROOT_ACCESS_KEY_ID")
            .ok()
            .filter(|s| !s.is_empty())?;
        let secret = std::env::var("STOWAGE_ROOT_SECRET_ACCESS_KEY")
            .ok()
            .filter(|s| !s.is_empty())?;
        Some(AccessKey {
            access_key_id: id,
            secret_access_key: secret,
        })
    }
}
