//! `atrest`: what encryption at rest costs. The same large (64 MiB) and small (4 KiB) PUTs and
//! GETs against `--endpoint`, a gateway that seals with SSE-S3 (Stowage's default), and
//! `--plain-endpoint`, one of the same build started with `--sse-s3-default=false`, interleaved
//! so both see the same machine; reports sealed / plain.

use anyhow::{Context as _, anyhow, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;

use super::BenchContext;
use super::bucket::ensure_bucket;
use super::driver::{Run, closed_loop};
use super::large::{get_objects, put_objects};
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

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

async fn small_puts(
    client: &Client,
    bucket: &str,
    prefix: &str,
    ops: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let body = Bytes::from(pattern(size));
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    closed_loop(ops, SMALL_CONCURRENCY, move |i| {
        let (client, bucket, body) = (client.clone(), bucket.clone(), body.clone());
        let key = format!("{prefix}{i:08}");
        async move {
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| anyhow!("PUT {key}: {}", DisplayErrorContext(e)))?;
            Ok(size as u64)
        }
    })
    .await
}

async fn small_gets(
    client: &Client,
    bucket: &str,
    prefix: &str,
    ops: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    closed_loop(ops, SMALL_CONCURRENCY, move |i| {
        let (client, bucket) = (client.clone(), bucket.clone());
        let key = format!("{prefix}{i:08}");
        async move {
            let data = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| anyhow!("GET {key}: {}", DisplayErrorContext(e)))?
                .body
                .collect()
                .await
                .map_err(|e| anyhow!("GET {key} body: {e}"))?
                .into_bytes();
            ensure!(data.len() == size, "GET {key}: {} bytes", data.len());
            Ok(size as u64)
        }
    })
    .await
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

    let mut runs: Vec<(bool, &str, usize, Run)> = Vec::new();
    for (sealed, client) in [(false, plain), (true, &ctx.client)] {
        let p = format!("{prefix}{}/large/", if sealed { "sealed" } else { "plain" });
        runs.push((
            sealed,
            "PUT",
            1,
            put_objects(client, &ctx.bucket, &p, s.large_count, large).await?,
        ));
    }
    for (sealed, client) in [(false, plain), (true, &ctx.client)] {
        let p = format!("{prefix}{}/large/", if sealed { "sealed" } else { "plain" });
        runs.push((
            sealed,
            "GET",
            1,
            get_objects(client, &ctx.bucket, &p, s.large_count, large).await?,
        ));
    }
    for (sealed, client) in [(false, plain), (true, &ctx.client)] {
        let p = format!("{prefix}{}/small/", if sealed { "sealed" } else { "plain" });
        runs.push((
            sealed,
            "PUT",
            SMALL_CONCURRENCY,
            small_puts(client, &ctx.bucket, &p, s.small_ops, small).await?,
        ));
    }
    for (sealed, client) in [(false, plain), (true, &ctx.client)] {
        let p = format!("{prefix}{}/small/", if sealed { "sealed" } else { "plain" });
        runs.push((
            sealed,
            "GET",
            SMALL_CONCURRENCY,
            small_gets(client, &ctx.bucket, &p, s.small_ops, small).await?,
        ));
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
    let ratio = |i: usize| rates[i + 1] / rates[i].max(f64::EPSILON);
    report.figure(
        &format!("SSE-S3 / plain {} PUT MB/s", human_bytes(large as u64)),
        ratio(0),
        "x",
    );
    report.figure(
        &format!("SSE-S3 / plain {} GET MB/s", human_bytes(large as u64)),
        ratio(2),
        "x",
    );
    report.figure(
        &format!("SSE-S3 / plain {} PUT ops/s", human_bytes(small as u64)),
        ratio(4),
        "x",
    );
    report.figure(
        &format!("SSE-S3 / plain {} GET ops/s", human_bytes(small as u64)),
        ratio(6),
        "x",
    );
    Ok(report)
}
