//! `versions`: GET latency of a key with many versions against a key with one, in a versioned
//! bucket. Reading the latest version should not depend on how many older ones exist.

use anyhow::anyhow;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use bytes::Bytes;

use super::BenchContext;
use super::driver::closed_loop;
use super::report::{Measurement, ScenarioReport};

const BODY: &[u8] = b"version body";

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.settings;
    let mut report = ScenarioReport::new(
        "versions",
        format!(
            "GET of a key with {} versions vs a key with 1, {} GETs each",
            s.versions_count, s.versions_gets
        ),
    );
    let bucket = format!("{}-versioned", ctx.bucket);
    super::bucket::ensure_bucket(&ctx.client, &bucket, ctx.region()).await?;
    ctx.client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("PutBucketVersioning: {}", DisplayErrorContext(e)))?;
    let prefix = ctx.scenario_prefix("versions");
    let (many, one) = (format!("{prefix}many"), format!("{prefix}one"));

    let (client, b, k) = (ctx.client.clone(), bucket.clone(), many.clone());
    closed_loop(s.versions_count, 16, move |_| {
        let (client, b, k) = (client.clone(), b.clone(), k.clone());
        async move {
            client
                .put_object()
                .bucket(b)
                .key(k)
                .body(ByteStream::from(Bytes::from_static(BODY)))
                .send()
                .await
                .map_err(|e| anyhow!("PUT version: {}", DisplayErrorContext(e)))?;
            Ok(0)
        }
    })
    .await?;
    ctx.client
        .put_object()
        .bucket(&bucket)
        .key(&one)
        .body(ByteStream::from_static(BODY))
        .send()
        .await
        .map_err(|e| anyhow!("PUT: {}", DisplayErrorContext(e)))?;

    let mut p50 = Vec::new();
    for (label, key) in [
        ("GET 1 version".to_owned(), one),
        (format!("GET {} versions", s.versions_count), many),
    ] {
        let (client, b) = (ctx.client.clone(), bucket.clone());
        let run = closed_loop(s.versions_gets, 1, move |_| {
            let (client, b, key) = (client.clone(), b.clone(), key.clone());
            async move {
                let out = client
                    .get_object()
                    .bucket(b)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| anyhow!("GET: {}", DisplayErrorContext(e)))?;
                let body = out.body.collect().await.map_err(|e| anyhow!("GET body: {e}"))?;
                Ok(body.into_bytes().len() as u64)
            }
        })
        .await?;
        let m = Measurement::from_run(&label, 1, Some(BODY.len() as u64), &run);
        p50.push(m.latency.as_ref().map_or(0.0, |l| l.p50_ms));
        report.measurements.push(m);
    }
    if let [one, many] = p50[..] {
        report.figure("GET p50 many/one", many / one.max(f64::EPSILON), "x");
    }
    Ok(report)
}
