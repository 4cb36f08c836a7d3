//! `policy`: what bucket-policy evaluation costs a request. A user of the bucket's org (created
//! through Stowage's admin API: the root identity bypasses policies) GETs a small object with no
//! policy, then with a 20-statement policy none of whose statements applies, so every request
//! evaluates all of them.

use anyhow::{anyhow, ensure};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use http::Method;

use super::BenchContext;
use super::driver::closed_loop;
use super::report::{Measurement, ScenarioReport};
use crate::RawClient;

pub const STATEMENTS: usize = 20;

fn twenty_statements(bucket: &str) -> String {
    let statements: Vec<serde_json::Value> = (0..STATEMENTS)
        .map(|i| {
            serde_json::json!({
                "Sid": format!("S{i}"),
                "Effect": if i % 2 == 0 { "Deny" } else { "Allow" },
                "Principal": {"AWS": [format!("arn:aws:iam::other-org-{i}:root")]},
                "Action": ["s3:GetObject", "s3:PutObject", format!("s3:List*")],
                "Resource": [format!("arn:aws:s3:::{bucket}/prefix-{i}/*"), format!("arn:aws:s3:::{bucket}/*")],
                "Condition": {"IpAddress": {"aws:SourceIp": [format!("10.{i}.0.0/16")]}}
            })
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let gets = ctx.settings.small_ops;
    let mut report = ScenarioReport::new(
        "policy",
        format!("{gets} GETs of a 4 KiB object, without and with a {STATEMENTS}-statement policy"),
    );
    let (access_key, secret_key) = ctx.credentials.clone();
    let admin = RawClient::new(&ctx.endpoint, ctx.region(), access_key, secret_key);
    let who = admin
        .request(Method::GET, "/_stowage/admin/v1/whoami")
        .send()
        .await;
    ensure!(
        who.status == 200,
        "this scenario needs Stowage's admin API and root credentials: {}",
        who.text()
    );
    let org = serde_json::from_slice::<serde_json::Value>(&who.body)?["org"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = format!("s3bench-{}", ctx.prefix.trim_matches('/').replace('/', "-"));
    let created = admin
        .request(Method::POST, "/_stowage/admin/v1/users")
        .header("content-type", "application/json")
        .body(serde_json::json!({"name": name, "org": org}).to_string())
        .send()
        .await;
    ensure!(created.status == 200, "creating a bench user: {}", created.text());
    let user: serde_json::Value = serde_json::from_slice(&created.body)?;
    let key = user["accessKeyId"].as_str().unwrap_or_default();
    let secret = user["secretAccessKey"].as_str().unwrap_or_default();
    let client = crate::s3_client(&ctx.endpoint, ctx.region(), key, secret, |b| {
        b.force_path_style(true)
    });

    let object = format!("{}object", ctx.scenario_prefix("policy"));
    client
        .put_object()
        .bucket(&ctx.bucket)
        .key(&object)
        .body(ByteStream::from(vec![7u8; 4096]))
        .send()
        .await
        .map_err(|e| anyhow!("PUT: {}", DisplayErrorContext(e)))?;

    let mut p50 = Vec::new();
    for with_policy in [false, true] {
        if with_policy {
            ctx.client
                .put_bucket_policy()
                .bucket(&ctx.bucket)
                .policy(twenty_statements(&ctx.bucket))
                .send()
                .await
                .map_err(|e| anyhow!("PutBucketPolicy: {}", DisplayErrorContext(e)))?;
        }
        let (c, b, k) = (client.clone(), ctx.bucket.clone(), object.clone());
        let run = closed_loop(gets, 1, move |_| {
            let (c, b, k) = (c.clone(), b.clone(), k.clone());
            async move {
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
                    .map_err(|e| anyhow!("GET body: {e}"))?
                    .into_bytes()
                    .len() as u64)
            }
        })
        .await?;
        let label = if with_policy {
            format!("GET, {STATEMENTS}-stmt policy")
        } else {
            "GET, no policy".to_owned()
        };
        let m = Measurement::from_run(&label, 1, Some(4096), &run);
        p50.push(m.latency.as_ref().map_or(0.0, |l| l.p50_ms));
        report.measurements.push(m);
    }
    ctx.client
        .delete_bucket_policy()
        .bucket(&ctx.bucket)
        .send()
        .await
        .ok();
    if let [without, with] = p50[..] {
        report.figure(
            "GET p50 with/without policy",
            with / without.max(f64::EPSILON),
            "x",
        );
    }
    Ok(report)
}
