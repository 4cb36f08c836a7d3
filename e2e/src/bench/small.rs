//! `small`: small objects PUT, then GET back, at each concurrency level; per-request overhead
//! and latency dominate.

use anyhow::{anyhow, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::BenchContext;
use super::driver::{Run, closed_loop};
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let settings = &ctx.settings;
    let size = settings.small_size;
    let size_u64 = u64::try_from(size)?;
    let mut report = ScenarioReport::new(
        "small",
        format!(
            "{} objects, PUT then GET, {} ops per concurrency level",
            human_bytes(size_u64),
            settings.small_ops
        ),
    );
    for &concurrency in &settings.small_concurrency {
        let prefix = format!("{}c{concurrency}/", ctx.scenario_prefix("small"));
        let put = put_small(
            &ctx.client,
            &ctx.bucket,
            &prefix,
            settings.small_ops,
            concurrency,
            size,
        )
        .await?;
        report
            .measurements
            .push(Measurement::from_run("PUT", concurrency, Some(size_u64), &put));
        let get = get_small(
            &ctx.client,
            &ctx.bucket,
            &prefix,
            settings.small_ops,
            concurrency,
            size,
        )
        .await?;
        report
            .measurements
            .push(Measurement::from_run("GET", concurrency, Some(size_u64), &get));
    }
    Ok(report)
}

/// PUTs `ops` objects of `size` bytes under `prefix` (keys `<prefix>00000000`, ...), `concurrency`
/// at a time, from one buffer.
pub async fn put_small(
    client: &Client,
    bucket: &str,
    prefix: &str,
    ops: usize,
    concurrency: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let size_u64 = u64::try_from(size)?;
    let body = Bytes::from(pattern(size));
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    closed_loop(ops, concurrency, move |i| {
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
            Ok(size_u64)
        }
    })
    .await
}

/// GETs back what [`put_small`] wrote, `concurrency` at a time, checking each body's length.
pub async fn get_small(
    client: &Client,
    bucket: &str,
    prefix: &str,
    ops: usize,
    concurrency: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let size_u64 = u64::try_from(size)?;
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    closed_loop(ops, concurrency, move |i| {
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
            ensure!(
                data.len() == size,
                "GET {key}: {} bytes, expected {size}",
                data.len()
            );
            Ok(size_u64)
        }
    })
    .await
}
