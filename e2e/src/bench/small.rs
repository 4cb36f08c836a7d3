//! `small`: small objects PUT, then GET back, at each concurrency level; per-request overhead
//! and latency dominate.

use anyhow::{anyhow, ensure};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::BenchContext;
use super::driver::closed_loop;
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
    let body = Bytes::from(pattern(size));

    for &concurrency in &settings.small_concurrency {
        let prefix = format!("{}c{concurrency}/", ctx.scenario_prefix("small"));

        let (client, bucket, key_prefix, body) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            prefix.clone(),
            body.clone(),
        );
        let put = closed_loop(settings.small_ops, concurrency, move |i| {
            let (client, bucket, body) = (client.clone(), bucket.clone(), body.clone());
            let key = format!("{key_prefix}{i:08}");
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
        .await?;
        report
            .measurements
            .push(Measurement::from_run("PUT", concurrency, Some(size_u64), &put));

        let (client, bucket, key_prefix) = (ctx.client.clone(), ctx.bucket.clone(), prefix);
        let get = closed_loop(settings.small_ops, concurrency, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let key = format!("{key_prefix}{i:08}");
            async move {
                let object = client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| anyhow!("GET {key}: {}", DisplayErrorContext(e)))?;
                let data = object
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
        .await?;
        report
            .measurements
            .push(Measurement::from_run("GET", concurrency, Some(size_u64), &get));
    }
    Ok(report)
}
