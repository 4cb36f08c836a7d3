//! `multipart`: one large object uploaded as concurrent parts, then completed; throughput of the
//! whole upload, and the completion's own latency (a store that stitches parts by metadata
//! completes in milliseconds).

use std::sync::Arc;
use std::time::Instant;

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
    let started = Instant::now();
    let upload_id = ctx
        .client
        .create_multipart_upload()
        .bucket(&ctx.bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| anyhow!("CreateMultipartUpload: {}", DisplayErrorContext(e)))?
        .upload_id
        .ok_or_else(|| anyhow!("no upload id"))?;
    // One part-sized buffer shared by every part: the client's memory stays flat.
    let body = Bytes::from(pattern(part_size));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for n in 1..=parts {
        let len = part_size.min(total - (n - 1) * part_size);
        let (client, bucket, key, id, body) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            key.clone(),
            upload_id.clone(),
            body.slice(..len),
        );
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            let out = client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(id)
                .part_number(n as i32)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| anyhow!("UploadPart {n}: {}", DisplayErrorContext(e)))?;
            Ok::<_, anyhow::Error>(
                CompletedPart::builder()
                    .part_number(n as i32)
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
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("CompleteMultipartUpload: {}", DisplayErrorContext(e)))?;
    let complete = complete_started.elapsed();
    let whole = started.elapsed();
    report.figure(
        "upload MB/s (parts + complete)",
        total as f64 / whole.as_secs_f64() / 1e6,
        "MB/s",
    );
    report.figure("parts upload", uploaded.as_secs_f64(), "s");
    report.figure("CompleteMultipartUpload", complete.as_secs_f64() * 1e3, "ms");
    Ok(report)
}
