//! s3bench: drive any S3 endpoint with aws-sdk-s3 (default settings) and report throughput and
//! latency per scenario.
//!
//! ```text
//! s3bench --endpoint http://127.0.0.1:9000 --access-key AK --secret-key SK \
//!     [--scenario small --scenario list] [--json] [--cleanup]
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use clap::Parser;
use e2e::bench::bucket::{delete_prefix, ensure_bucket};
use e2e::bench::{BenchContext, BenchSettings, Report, Scenario};

/// Bytes in a MiB, the unit of `--large-size`.
const MIB: usize = 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Load generator for S3 endpoints: small-object latency, large-object throughput, listing"
)]
struct Args {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "S3BENCH_ENDPOINT")]
    endpoint: String,
    /// Another gateway of the same store, for the `peers` scenario.
    #[arg(long)]
    peer_endpoint: Option<String>,
    /// A gateway started with `--sse-s3-default=false` (same credentials), for the `atrest`
    /// scenario: SSE-S3 at `--endpoint` against plain here.
    #[arg(long)]
    plain_endpoint: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket to work in; created if missing.
    #[arg(long, default_value = "s3bench")]
    bucket: String,
    /// Scenario to run (repeatable); all of them when omitted.
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Operations per concurrency level in `small` (PUT and GET each).
    #[arg(long, default_value_t = 2000)]
    small_ops: usize,
    /// Object size in bytes in `small`.
    #[arg(long, default_value_t = 4096)]
    small_size: usize,
    /// Concurrency levels of `small`, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    small_concurrency: Vec<usize>,
    /// Objects PUT and GET in `large`.
    #[arg(long, default_value_t = 3)]
    large_count: usize,
    /// MiB of 1 MiB objects the `drain` scenario puts on `--endpoint` and drains.
    #[arg(long, default_value_t = 1024)]
    drain_mib: usize,
    /// Object size in MiB in `large`.
    #[arg(long, default_value_t = 64)]
    large_size: usize,
    /// Keys created and then listed in `list`.
    #[arg(long, default_value_t = 10_000)]
    list_keys: usize,
    /// Concurrency used to create the keys of `list`.
    #[arg(long, default_value_t = 64)]
    list_concurrency: usize,
    /// CopyObject and RenameObject calls per object size in `metaops`.
    #[arg(long, default_value_t = 50)]
    metaops_ops: usize,
    /// Size in MiB of the large object in `metaops`.
    #[arg(long, default_value_t = 1024)]
    metaops_large_size: usize,
    /// Object size in MiB in `multipart`.
    #[arg(long, default_value_t = 1024)]
    multipart_size: usize,
    /// Part size in MiB in `multipart`.
    #[arg(long, default_value_t = 16)]
    multipart_part_size: usize,
    /// Parts uploaded at once in `multipart`.
    #[arg(long, default_value_t = 8)]
    multipart_concurrency: usize,
    /// Objects expired by a lifecycle rule in `lifecycle` (run it against a gateway started with
    /// `--lifecycle-day-seconds 1 --lifecycle-interval 1`).
    #[arg(long, default_value_t = 100_000)]
    lifecycle_objects: usize,
    /// Versions written to one key in `versions`.
    #[arg(long, default_value_t = 10_000)]
    versions_count: usize,
    /// GETs timed per key in `versions`.
    #[arg(long, default_value_t = 1000)]
    versions_gets: usize,
    /// A directory on the gateway's data volume, where `limits` measures the disk's write rate
    /// (the gateway's `--data-dir`).
    #[arg(long, default_value = ".")]
    limits_dir: std::path::PathBuf,
    /// MiB written by the disk test of `limits`.
    #[arg(long, default_value_t = 1024)]
    limits_disk_mib: usize,
    /// Parts of the object of `hugeparts`.
    #[arg(long, default_value_t = 10_000)]
    hugeparts_parts: usize,
    /// Bytes per part in `hugeparts` (the gateway must accept parts this small).
    #[arg(long, default_value_t = 1024)]
    hugeparts_part_size: usize,
    /// Timed requests of each kind in `hugeparts`.
    #[arg(long, default_value_t = 100)]
    hugeparts_reps: usize,
    /// Key prefix of this run (default: s3bench/<unix millis>/).
    #[arg(long)]
    prefix: Option<String>,
    /// Delete this run's objects afterwards.
    #[arg(long)]
    cleanup: bool,
    /// Address buckets virtual-host style instead of path style.
    #[arg(long)]
    virtual_host: bool,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.small_concurrency.iter().all(|&c| c > 0) && args.list_concurrency > 0,
        "concurrency levels must be positive"
    );
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios.clone()
    };
    let path_style = !args.virtual_host;
    let client = e2e::s3_client(
        &args.endpoint,
        &args.region,
        &args.access_key,
        &args.secret_key,
        |builder| builder.force_path_style(path_style),
    );
    ensure_bucket(&client, &args.bucket, &args.region).await?;

    let prefix = match &args.prefix {
        Some(prefix) => prefix.clone(),
        None => format!(
            "s3bench/{}/",
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
        ),
    };
    let ctx = BenchContext {
        client,
        bucket: args.bucket.clone(),
        prefix: prefix.clone(),
        region: args.region.clone(),
        endpoint: args.endpoint.clone(),
        credentials: (args.access_key.clone(), args.secret_key.clone()),
        plain_client: args.plain_endpoint.as_deref().map(|endpoint| {
            e2e::s3_client(
                endpoint,
                &args.region,
                &args.access_key,
                &args.secret_key,
                |builder| builder.force_path_style(path_style),
            )
        }),
        peer_client: args.peer_endpoint.as_deref().map(|endpoint| {
            e2e::s3_client(
                endpoint,
                &args.region,
                &args.access_key,
                &args.secret_key,
                |builder| builder.force_path_style(path_style),
            )
        }),
        settings: BenchSettings {
            small_ops: args.small_ops,
            small_size: args.small_size,
            small_concurrency: args.small_concurrency.clone(),
            large_count: args.large_count,
            drain_mib: args.drain_mib,
            large_size: args
                .large_size
                .checked_mul(MIB)
                .context("--large-size is too large")?,
            list_keys: args.list_keys,
            list_concurrency: args.list_concurrency,
            metaops_ops: args.metaops_ops,
            metaops_large_size: args
                .metaops_large_size
                .checked_mul(MIB)
                .context("--metaops-large-size is too large")?,
            multipart_size: args
                .multipart_size
                .checked_mul(MIB)
                .context("--multipart-size is too large")?,
            multipart_part_size: args
                .multipart_part_size
                .checked_mul(MIB)
                .context("--multipart-part-size is too large")?,
            multipart_concurrency: args.multipart_concurrency.max(1),
            lifecycle_objects: args.lifecycle_objects,
            versions_count: args.versions_count,
            versions_gets: args.versions_gets,
            limits_dir: args.limits_dir.clone(),
            limits_disk_mib: args.limits_disk_mib.max(1),
            hugeparts_parts: args.hugeparts_parts,
            hugeparts_part_size: args.hugeparts_part_size,
            hugeparts_reps: args.hugeparts_reps,
        },
    };

    let mut report = Report {
        endpoint: args.endpoint.clone(),
        bucket: args.bucket.clone(),
        prefix,
        scenarios: Vec::new(),
    };
    for scenario in scenarios {
        // Progress goes to stderr so `--json` output stays parseable.
        eprintln!("s3bench: running {}", scenario.name());
        let result = scenario
            .run(&ctx)
            .await
            .with_context(|| format!("scenario {}", scenario.name()))?;
        report.scenarios.push(result);
    }

    if args.cleanup {
        let deleted = delete_prefix(&ctx.client, &ctx.bucket, &ctx.prefix, args.list_concurrency).await?;
        eprintln!("s3bench: deleted {deleted} objects under {}", ctx.prefix);
    }

    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
