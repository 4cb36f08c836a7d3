//! `lifecycle`: how fast a lifecycle rule expires many objects, and what that does to client
//! latency meanwhile. Needs a gateway whose lifecycle day is short (Stowage:
//! `--lifecycle-day-seconds 1 --lifecycle-interval 1`), so the rule comes due at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};

use super::BenchContext;
use super::driver::{closed_loop, until_stopped};
use super::report::{Measurement, ScenarioReport};

const GET_CONCURRENCY: usize = 4;
const UNLOADED_GETS: usize = 4000;

fn get_op(ctx: &BenchContext, key: &str) -> impl Fn(usize) -> BoxedGet + Send + Sync + 'static {
    let (c, b, k) = (ctx.client.clone(), ctx.bucket.clone(), key.to_owned());
    move |_| {
        let (c, b, k) = (c.clone(), b.clone(), k.clone());
        Box::pin(async move {
            let out = c
                .get_object()
                .bucket(b)
                .key(k)
                .send()
                .await
                .map_err(|e| anyhow!("GET: {}", DisplayErrorContext(e)))?;
            Ok(out
                .body
                .collect()
                .await
                .map_err(|e| anyhow!("body: {e}"))?
                .into_bytes()
                .len() as u64)
        })
    }
}

type BoxedGet = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<u64>> + Send>>;

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let n = ctx.settings.lifecycle_objects;
    let mut report = ScenarioReport::new(
        "lifecycle",
        format!(
            "{n} objects expired by one rule, with {GET_CONCURRENCY} clients GETting a 4 KiB object meanwhile"
        ),
    );
    let prefix = ctx.scenario_prefix("lifecycle");
    let probe = format!("{}probe", ctx.scenario_prefix("lifecycle-probe"));
    ctx.client
        .put_object()
        .bucket(&ctx.bucket)
        .key(&probe)
        .body(ByteStream::from(vec![1u8; 4096]))
        .send()
        .await
        .map_err(|e| anyhow!("PUT probe: {}", DisplayErrorContext(e)))?;
    let idle = closed_loop(UNLOADED_GETS, GET_CONCURRENCY, get_op(ctx, &probe)).await?;
    let unloaded = Measurement::from_run("GET, idle", GET_CONCURRENCY, Some(4096), &idle);

    let (c, b, p) = (ctx.client.clone(), ctx.bucket.clone(), prefix.clone());
    closed_loop(n, 64, move |i| {
        let (c, b, key) = (c.clone(), b.clone(), format!("{p}{i:07}"));
        async move {
            c.put_object()
                .bucket(b)
                .key(key)
                .body(ByteStream::from_static(b""))
                .send()
                .await
                .map_err(|e| anyhow!("PUT: {}", DisplayErrorContext(e)))?;
            Ok(0)
        }
    })
    .await?;

    let rule = LifecycleRule::builder()
        .id("s3bench-lifecycle")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(&prefix).build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()?;
    ctx.client
        .put_bucket_lifecycle_configuration()
        .bucket(&ctx.bucket)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build()?)
        .send()
        .await
        .map_err(|e| anyhow!("PutBucketLifecycleConfiguration: {}", DisplayErrorContext(e)))?;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(until_stopped(GET_CONCURRENCY, stop.clone(), get_op(ctx, &probe)));
    loop {
        let left = ctx
            .client
            .list_objects_v2()
            .bucket(&ctx.bucket)
            .prefix(&prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| anyhow!("LIST: {}", DisplayErrorContext(e)))?;
        if left.key_count.unwrap_or(0) == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(anyhow!(
                "objects were not expired within 10 minutes: is the gateway's lifecycle day short?"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expired_in = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = load.await??;
    ctx.client
        .delete_bucket_lifecycle()
        .bucket(&ctx.bucket)
        .send()
        .await
        .ok();
    report.figure("expired all objects", expired_in.as_secs_f64(), "s");
    report.figure(
        "objects expired per second",
        n as f64 / expired_in.as_secs_f64(),
        "objects/s",
    );
    let p99_idle = unloaded.latency.as_ref().map_or(0.0, |l| l.p99_ms);
    report.measurements.push(unloaded);
    if !during.latencies.is_empty() {
        let m = Measurement::from_run("GET, while expiring", GET_CONCURRENCY, Some(4096), &during);
        let p99 = m.latency.as_ref().map_or(0.0, |l| l.p99_ms);
        report.figure(
            "GET p99 while expiring / idle",
            p99 / p99_idle.max(f64::EPSILON),
            "x",
        );
        report.measurements.push(m);
    }
    Ok(report)
}
