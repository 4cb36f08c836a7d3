//! The benchmark's bucket: created when missing, and emptied of one run's keys on request.

use anyhow::{Context, anyhow};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use super::driver::closed_loop;

/// The one region where CreateBucket must not name its location.
const DEFAULT_REGION: &str = "us-east-1";

/// Creates `bucket` unless it already exists (and is ours).
pub async fn ensure_bucket(client: &Client, bucket: &str, region: &str) -> anyhow::Result<()> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    // Stores differ for us-east-1: AWS refuses an explicit us-east-1 constraint, Stowage in its
    // strict mode requires one (its product documentation says so). Name it, and retry without
    // it only when the endpoint refuses it.
    let with_location = client.create_bucket().bucket(bucket).create_bucket_configuration(
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build(),
    );
    let result = match with_location.send().await {
        Err(e)
            if region == DEFAULT_REGION
                && e.as_service_error().and_then(|s| s.meta().code())
                    == Some("InvalidLocationConstraint") =>
        {
            client.create_bucket().bucket(bucket).send().await
        }
        other => other,
    };
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow!("create bucket {bucket}: {}", DisplayErrorContext(e))),
    }
}

/// Deletes every object under `prefix`; returns how many there were. Plain DeleteObject calls,
/// so it works on endpoints without DeleteObjects.
pub async fn delete_prefix(
    client: &Client,
    bucket: &str,
    prefix: &str,
    concurrency: usize,
) -> anyhow::Result<usize> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow!("list {prefix}: {}", DisplayErrorContext(e)))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned)),
        );
    }
    let count = keys.len();
    let (client, bucket) = (client.clone(), bucket.to_owned());
    let keys = std::sync::Arc::new(keys);
    closed_loop(count, concurrency, move |i| {
        let (client, bucket, keys) = (client.clone(), bucket.clone(), keys.clone());
        async move {
            let key = &keys[i];
            client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| anyhow!("{}", DisplayErrorContext(e)))
                .with_context(|| format!("delete {key}"))?;
            Ok(0)
        }
    })
    .await?;
    Ok(count)
}
