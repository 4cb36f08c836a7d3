//! `hugeparts`: an object of many parts (10,000 by default, S3's maximum) against a one-part
//! object of the same size: does the number of parts cost CompleteMultipartUpload, HEAD, GET,
//! a Range read near the end, or a listing page that shows the object?
//!
//! Parts are small so the scenario measures metadata, not bytes; run it against a gateway that
//! accepts them (Stowage: `gateway serve --min-part-size 1`).

use anyhow::{anyhow, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use super::BenchContext;
use super::driver::{Run, closed_loop};
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

/// Parts uploaded at once.
const UPLOAD_CONCURRENCY: usize = 32;
/// Bytes read by the Range GET near the end of each object.
const TAIL: u64 = 1024;

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.settings;
    let (parts, part_size, reps) = (
        s.hugeparts_parts.max(1),
        s.hugeparts_part_size.max(1),
        s.hugeparts_reps.max(1),
    );
    let total = parts * part_size;
    let mut report = ScenarioReport::new(
        "hugeparts",
        format!(
            "an object of {parts} parts of {} against a one-part object of {}: {reps} HEAD, GET, \
             Range GET of the last {TAIL} B, and ListObjectsV2 of a prefix holding only it",
            human_bytes(part_size as u64),
            human_bytes(total as u64)
        ),
    );
    let prefix = ctx.scenario_prefix("hugeparts");
    let (huge, single) = (format!("{prefix}huge/object"), format!("{prefix}single/object"));

    let (upload, complete) =
        super::multipart::upload_in_parts(ctx, &huge, total, part_size, UPLOAD_CONCURRENCY).await?;
    report.figure("parts upload", upload.as_secs_f64(), "s");
    report.figure("CompleteMultipartUpload", complete.as_secs_f64() * 1e3, "ms");
    ctx.client
        .put_object()
        .bucket(&ctx.bucket)
        .key(&single)
        .body(ByteStream::from(pattern(total)))
        .send()
        .await
        .map_err(|e| anyhow!("PUT {single}: {}", DisplayErrorContext(e)))?;

    let size = total as u64;
    for (label, key, list_prefix) in [
        ("1", &single, format!("{prefix}single/")),
        ("N", &huge, format!("{prefix}huge/")),
    ] {
        let head = repeat(ctx, reps, key, move |c, b, k| async move {
            c.head_object()
                .bucket(b)
                .key(k)
                .send()
                .await
                .map_err(|e| anyhow!("HEAD: {}", DisplayErrorContext(e)))?;
            Ok(0)
        })
        .await?;
        report.measurements.push(Measurement::from_run(
            &format!("HEAD{label}"),
            1,
            Some(size),
            &head,
        ));
        // Streamed and discarded, as `large` reads: gathering hundreds of MiB into one buffer
        // would time the client's copies, not the object.
        let get = repeat(ctx, reps, key, move |c, b, k| async move {
            let got = super::large::get_streamed(&c, &b, &k).await?;
            ensure!(got == size, "GET: {got} bytes, expected {size}");
            Ok(got)
        })
        .await?;
        report
            .measurements
            .push(Measurement::from_run(&format!("GET{label}"), 1, Some(size), &get));
        let tail = repeat(ctx, reps, key, move |c, b, k| async move {
            let out = c
                .get_object()
                .bucket(b)
                .key(k)
                .range(format!("bytes={}-", size.saturating_sub(TAIL)))
                .send()
                .await
                .map_err(|e| anyhow!("Range GET: {}", DisplayErrorContext(e)))?;
            let got = out
                .body
                .collect()
                .await
                .map_err(|e| anyhow!("GET body: {e}"))?
                .into_bytes()
                .len() as u64;
            Ok(got)
        })
        .await?;
        report.measurements.push(Measurement::from_run(
            &format!("TAIL{label}"),
            1,
            Some(size),
            &tail,
        ));
        let list = repeat(ctx, reps, &list_prefix, move |c, b, p| async move {
            let out = c
                .list_objects_v2()
                .bucket(b)
                .prefix(p)
                .send()
                .await
                .map_err(|e| anyhow!("LIST: {}", DisplayErrorContext(e)))?;
            ensure!(out.contents().len() == 1, "LIST: {} keys", out.contents().len());
            Ok(0)
        })
        .await?;
        report
            .measurements
            .push(Measurement::from_run(&format!("LIST{label}"), 1, None, &list));
    }
    Ok(report)
}

/// `op(client, bucket, key)` `reps` times, one at a time.
async fn repeat<F, Fut>(ctx: &BenchContext, reps: usize, key: &str, op: F) -> anyhow::Result<Run>
where
    F: Fn(Client, String, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let (client, bucket, key) = (ctx.client.clone(), ctx.bucket.clone(), key.to_owned());
    closed_loop(reps, 1, move |_| op(client.clone(), bucket.clone(), key.clone())).await
}
