//! `list`: create many keys at high concurrency, then time listing all of them with
//! ListObjectsV2 in pages of 1,000 (S3's maximum page): plainly (`LIST`), with `fetch-owner`
//! (`LIST-O`), and with the delimiter `/` that folds them into their 100 directories (`LIST-D`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use super::BenchContext;
use super::driver::{Run, closed_loop};
use super::report::{Measurement, ScenarioReport};

/// Keys per ListObjectsV2 page.
const PAGE_SIZE: i32 = 1000;
/// Directories the keys are spread over (`<prefix><dir>/<n>`), what `LIST-D` folds them into.
const DIRS: usize = 100;

/// How a listing is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    Plain,
    FetchOwner,
    Delimited,
}

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let settings = &ctx.settings;
    let keys = settings.list_keys;
    let mut report = ScenarioReport::new(
        "list",
        format!(
            "{keys} empty objects created at concurrency {}, then listed in pages of {PAGE_SIZE}",
            settings.list_concurrency
        ),
    );
    let prefix = ctx.scenario_prefix("list");

    let (client, bucket, key_prefix) = (ctx.client.clone(), ctx.bucket.clone(), prefix.clone());
    let create = closed_loop(keys, settings.list_concurrency, move |i| {
        let (client, bucket) = (client.clone(), bucket.clone());
        let key = format!("{key_prefix}{:02}/{i:08}", i % DIRS);
        async move {
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from_static(b""))
                .send()
                .await
                .map_err(|e| anyhow!("PUT {key}: {}", DisplayErrorContext(e)))?;
            Ok(0)
        }
    })
    .await?;
    report.measurements.push(Measurement::from_run(
        "PUT",
        settings.list_concurrency,
        Some(0),
        &create,
    ));

    for (label, how) in [
        ("LIST", Listing::Plain),
        ("LIST-O", Listing::FetchOwner),
        ("LIST-D", Listing::Delimited),
    ] {
        let (listing, listed) = list_all(ctx, &prefix, how).await?;
        let expected = if how == Listing::Delimited {
            keys.min(DIRS)
        } else {
            keys
        };
        ensure!(
            listed == expected,
            "{label}: listed {listed} entries under {prefix}, expected {expected}"
        );
        report
            .measurements
            .push(Measurement::from_run(label, 1, None, &listing));
        let secs = listing.elapsed.as_secs_f64();
        match how {
            Listing::Plain => {
                #[allow(clippy::cast_precision_loss)] // key counts far below 2^52
                let keys_per_sec = if secs > 0.0 { listed as f64 / secs } else { 0.0 };
                report.figure("list all keys", secs, "s");
                report.figure("keys listed per second", keys_per_sec, "keys/s");
            }
            Listing::FetchOwner => report.figure("list all keys with owners", secs, "s"),
            Listing::Delimited => report.figure("list all keys folded by '/'", secs, "s"),
        }
    }
    Ok(report)
}

/// Lists every key (or common prefix) under `prefix`, one page after another; each page is one
/// timed operation.
async fn list_all(ctx: &BenchContext, prefix: &str, how: Listing) -> anyhow::Result<(Run, usize)> {
    let mut pages: Vec<Duration> = Vec::new();
    let mut listed = 0usize;
    let mut token: Option<String> = None;
    let started = Instant::now();
    loop {
        let page_started = Instant::now();
        let page = ctx
            .client
            .list_objects_v2()
            .bucket(&ctx.bucket)
            .prefix(prefix)
            .max_keys(PAGE_SIZE)
            .set_fetch_owner((how == Listing::FetchOwner).then_some(true))
            .set_delimiter((how == Listing::Delimited).then(|| "/".to_owned()))
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| anyhow!("list {prefix}: {}", DisplayErrorContext(e)))?;
        pages.push(page_started.elapsed());
        listed += page.contents().len() + page.common_prefixes().len();
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok((
        Run {
            latencies: pages,
            bytes: 0,
            elapsed: started.elapsed(),
        },
        listed,
    ))
}
