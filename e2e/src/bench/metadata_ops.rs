//! `metaops`: CopyObject and RenameObject latency for a small and a large object. A store that
//! implements both as metadata operations answers in the same time whatever the size; one that
//! moves bytes shows it here.

use anyhow::anyhow;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::BenchContext;
use super::driver::closed_loop;
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

pub const SMALL_SIZE: usize = 1024;

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let s = &ctx.settings;
    let mut report = ScenarioReport::new(
        "metaops",
        format!(
            "{} CopyObject and {} chained RenameObject calls, one at a time, on a {} and a {} object",
            s.metaops_ops,
            s.metaops_ops,
            human_bytes(SMALL_SIZE as u64),
            human_bytes(s.metaops_large_size as u64)
        ),
    );
    let mut p50s = Vec::new();
    for size in [SMALL_SIZE, s.metaops_large_size] {
        let prefix = format!("{}{size}/", ctx.scenario_prefix("metaops"));
        let source = format!("{prefix}source");
        ctx.client
            .put_object()
            .bucket(&ctx.bucket)
            .key(&source)
            .body(ByteStream::from(Bytes::from(pattern(size))))
            .send()
            .await
            .map_err(|e| anyhow!("PUT {source}: {}", DisplayErrorContext(e)))?;

        let (client, bucket, src, pfx) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            source.clone(),
            prefix.clone(),
        );
        let copies = closed_loop(s.metaops_ops, 1, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let (from, to) = (format!("{bucket}/{src}"), format!("{pfx}copy-{i}"));
            async move {
                client
                    .copy_object()
                    .bucket(bucket)
                    .key(&to)
                    .copy_source(from)
                    .send()
                    .await
                    .map_err(|e| anyhow!("COPY {to}: {}", DisplayErrorContext(e)))?;
                Ok(0)
            }
        })
        .await?;
        let copy = Measurement::from_run("COPY", 1, Some(size as u64), &copies);

        let (client, bucket, pfx) = (ctx.client.clone(), ctx.bucket.clone(), prefix.clone());
        let renames = closed_loop(s.metaops_ops, 1, move |i| {
            let (client, bucket) = (client.clone(), bucket.clone());
            let from = if i == 0 {
                format!("{pfx}source")
            } else {
                format!("{pfx}renamed-{}", i - 1)
            };
            let to = format!("{pfx}renamed-{i}");
            async move {
                client
                    .rename_object()
                    .bucket(&bucket)
                    .key(&to)
                    .rename_source(format!("/{bucket}/{from}"))
                    .send()
                    .await
                    .map_err(|e| anyhow!("RENAME {from} -> {to}: {}", DisplayErrorContext(e)))?;
                Ok(0)
            }
        })
        .await?;
        let rename = Measurement::from_run("RENAME", 1, Some(size as u64), &renames);
        p50s.push((
            copy.latency.as_ref().map_or(0.0, |l| l.p50_ms),
            rename.latency.as_ref().map_or(0.0, |l| l.p50_ms),
        ));
        report.measurements.push(copy);
        report.measurements.push(rename);
    }
    if let [(small_copy, small_rename), (large_copy, large_rename)] = p50s[..] {
        report.figure(
            "copy p50 large/small",
            large_copy / small_copy.max(f64::EPSILON),
            "x",
        );
        report.figure(
            "rename p50 large/small",
            large_rename / small_rename.max(f64::EPSILON),
            "x",
        );
    }
    Ok(report)
}
