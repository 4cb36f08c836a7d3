//! `atrest`: what encryption at rest costs. The same large (64 MiB) and small (4 KiB) PUTs and
//! GETs against `--endpoint`, a gateway that seals with SSE-S3 (Stowage's default), and
//! `--plain-endpoint`, one of the same build started with `--sse-s3-default=false`, interleaved
//! so both see the same machine; reports sealed / plain.

use anyhow::{Context as _, anyhow, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::BenchContext;
use super::bucket::ensure_bucket;
use super::driver::Run;
use super::large::{get_objects, put_objects};
use super::report::{Measurement, ScenarioReport, human_bytes};
use super::small::{get_small, put_small};

/// Small requests in flight: enough to load the gateway, few enough for a small machine.
const SMALL_CONCURRENCY: usize = 16;

/// Fails unless `client`'s endpoint stores a new object with (or without) SSE-S3, so the
/// comparison compares what it says.
async fn check_mode(client: &Client, bucket: &str, key: &str, sealed: bool) -> anyhow::Result<()> {
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"probe"))
        .send()
        .await
        .map_err(|e| anyhow!("PUT {key}: {}", DisplayErrorContext(e)))?;
    let got = out.server_side_encryption() == Some(&ServerSideEncryption::Aes256);
    ensure!(
        got == sealed,
        "{} stores new objects {}: start it {}",
        if sealed { "--endpoint" } else { "--plain-endpoint" },
        if got { "with SSE-S3" } else { "in the clear" },
        if sealed {
            "with SSE-S3 on (the default)"
        } else {
            "with --sse-s3-default=false"
        }
    );
    Ok(())
}

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let plain = ctx.plain_client.as_ref().context(
        "the atrest scenario needs --plain-endpoint (a gateway started with --sse-s3-default=false)",
    )?;
    let s = &ctx.settings;
    let (large, small) = (s.large_size, s.small_size);
    let mut report = ScenarioReport::new(
        "atrest",
        format!(
            "{} x {} and {} x {} (concurrency {SMALL_CONCURRENCY}), SSE-S3 (--endpoint) against plain (--plain-endpoint)",
            s.large_count,
            human_bytes(large as u64),
            s.small_ops,
            human_bytes(small as u64)
        ),
    );
    ensure_bucket(plain, &ctx.bucket, ctx.region()).await?;
    let prefix = ctx.scenario_prefix("atrest");
    check_mode(&ctx.client, &ctx.bucket, &format!("{prefix}probe"), true).await?;
    check_mode(plain, &ctx.bucket, &format!("{prefix}probe"), false).await?;

    // Each phase against plain, then sealed, so the two see the machine in the same state.
    let mut runs: Vec<(bool, &str, usize, Run)> = Vec::new();
    for (op, concurrency) in [
        ("PUT", 1),
        ("GET", 1),
        ("PUT", SMALL_CONCURRENCY),
        ("GET", SMALL_CONCURRENCY),
    ] {
        for (sealed, client) in [(false, plain), (true, &ctx.client)] {
            let p = format!(
                "{prefix}{}/{}/",
                if sealed { "sealed" } else { "plain" },
                if concurrency == 1 { "large" } else { "small" }
            );
            let (bucket, ops) = (&ctx.bucket, s.small_ops);
            let run = match (op, concurrency) {
                ("PUT", 1) => put_objects(client, bucket, &p, s.large_count, large).await?,
                ("GET", 1) => get_objects(client, bucket, &p, s.large_count, large).await?,
                ("PUT", _) => put_small(client, bucket, &p, ops, concurrency, small).await?,
                _ => get_small(client, bucket, &p, ops, concurrency, small).await?,
            };
            runs.push((sealed, op, concurrency, run));
        }
    }
    let mut rates = Vec::new();
    for (sealed, op, concurrency, run) in &runs {
        let size = if *concurrency == 1 { large } else { small } as u64;
        let label = format!(
            "{op} {} {}",
            human_bytes(size),
            if *sealed { "SSE-S3" } else { "plain" }
        );
        let m = Measurement::from_run(&label, *concurrency, Some(size), run);
        rates.push(if *concurrency == 1 {
            m.mb_per_sec
        } else {
            m.ops_per_sec
        });
        report.measurements.push(m);
    }
    // `runs` holds each phase as a (plain, sealed) pair.
    let phases = [
        ("PUT", large, "MB/s"),
        ("GET", large, "MB/s"),
        ("PUT", small, "ops/s"),
        ("GET", small, "ops/s"),
    ];
    for (i, (op, size, unit)) in phases.into_iter().enumerate() {
        let ratio = rates[2 * i + 1] / rates[2 * i].max(f64::EPSILON);
        let label = format!("SSE-S3 / plain {} {op} {unit}", human_bytes(size as u64));
        report.figure(&label, ratio, "x");
    }
    Ok(report)
}
