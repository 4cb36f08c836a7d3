//! `multipart`: one large object uploaded as concurrent parts, then completed; throughput of the
//! whole upload, and the completion's own latency (a store that stitches parts by metadata
//! completes in milliseconds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use tokio::task::JoinSet;

use super::BenchContext;
use super::payload::pattern;
use super::report::{ScenarioReport, human_bytes};

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.settings;
    let (total, part_size, concurrency) = (s.multipart_size, s.multipart_part_size, s.multipart_concurrency);
    let parts = total.div_ceil(part_size);
    let mut report = ScenarioReport::new(
        "multipart",
        format!(
            "{} in {parts} parts of {}, {concurrency} at a time, then CompleteMultipartUpload",
            human_bytes(total as u64),
            human_bytes(part_size as u64)
        ),
    );
    let key = format!("{}object", ctx.scenario_prefix("multipart"));
    let (uploaded, complete) = upload_in_parts(ctx, &key, total, part_size, concurrency).await?;
    let whole = uploaded + complete;
    report.figure(
        "upload MB/s (parts + complete)",
        total as f64 / whole.as_secs_f64() / 1e6,
        "MB/s",
    );
    report.figure("parts upload", uploaded.as_secs_f64(), "s");
    report.figure("CompleteMultipartUpload", complete.as_secs_f64() * 1e3, "ms");
    Ok(report)
}

/// Uploads `total` bytes under `key` as parts of `part_size`, `concurrency` at a time, from one
/// part-sized buffer (the client's memory stays flat), then completes them. Returns how long the
/// upload took, from its creation to its last part, and how long the completion took.
pub(super) async fn upload_in_parts(
    ctx: &BenchContext,
    key: &str,
    total: usize,
    part_size: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let parts = total.div_ceil(part_size);
    let started = Instant::now();
    let upload_id = ctx
        .client
        .create_multipart_upload()
        .bucket(&ctx.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow!("CreateMultipartUpload: {}", DisplayErrorContext(e)))?
        .upload_id
        .ok_or_else(|| anyhow!("no upload id"))?;
    let body = Bytes::from(pattern(part_size));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for n in 1..=parts {
        let len = part_size.min(total - (n - 1) * part_size);
        let (client, bucket, key, id, body) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            key.to_owned(),
            upload_id.clone(),
            body.slice(..len),
        );
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            let number = i32::try_from(n)?;
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| anyhow!("UploadPart {n}: {}", DisplayErrorContext(e)))?;
            Ok::<_, anyhow::Error>(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag)
                    .build(),
            )
        });
    }
    let mut completed = Vec::with_capacity(parts);
    while let Some(done) = tasks.join_next().await {
        completed.push(done??);
    }
    completed.sort_by_key(|p| p.part_number);
    let uploaded = started.elapsed();
    let complete_started = Instant::now();
    ctx.client
        .complete_multipart_upload()
        .bucket(&ctx.bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("CompleteMultipartUpload: {}", DisplayErrorContext(e)))?;
    Ok((uploaded, complete_started.elapsed()))
}
