//! `drain`: what moving a gateway's bytes away costs. Objects are PUT through `--endpoint` (they
//! land on its volume), a GET load through `--peer-endpoint` measures latency idle, then the
//! `--endpoint` gateway is drained through Stowage's admin API while the same load runs: the
//! drain's rate, and the GET latency during it against idle. Needs a store of several gateways
//! (`gateway serve --gateways 3`), root credentials, and `--peer-endpoint`. The gateway is
//! undrained at the end, so the store is as it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client;
use http::Method;

use super::BenchContext;
use super::driver::{Run, until_stopped};
use super::large::put_objects;
use super::report::{Measurement, ScenarioReport, human_bytes};
use crate::RawClient;

/// Objects of the drain: 1 GiB of 1 MiB objects unless `--drain-mib` says otherwise.
const OBJECT: usize = 1024 * 1024;
/// GET workers of the load.
const LOAD: usize = 2;
/// How long the idle load runs.
const IDLE: Duration = Duration::from_secs(5);

async fn get_load(
    client: Client,
    bucket: String,
    prefix: String,
    count: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Run> {
    until_stopped(LOAD, stop, move |i| {
        let (client, bucket) = (client.clone(), bucket.clone());
        let key = format!("{prefix}{:04}", (i * 7919) % count);
        async move { super::large::get_streamed(&client, &bucket, &key).await }
    })
    .await
}

async fn admin_json(admin: &RawClient, method: Method, path: &str) -> anyhow::Result<serde_json::Value> {
    let resp = admin
        .request(method, &format!("/_stowage/admin/v1{path}"))
        .send()
        .await;
    if resp.status >= 300 {
        bail!("{path}: {} {}", resp.status, String::from_utf8_lossy(&resp.body));
    }
    Ok(serde_json::from_slice(&resp.body).unwrap_or(serde_json::Value::Null))
}

/// The node id of the gateway at `endpoint`: the registered node whose peer URL it is.
async fn node_at(admin: &RawClient, endpoint: &str) -> anyhow::Result<String> {
    let nodes = admin_json(admin, Method::GET, "/nodes").await?;
    let want = endpoint.trim_end_matches('/');
    nodes["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["peerUrl"].as_str().map(|u| u.trim_end_matches('/')) == Some(want))
        .and_then(|n| n["id"].as_str().map(str::to_owned))
        .with_context(|| {
            format!("no gateway of the store has the peer URL {want} (the drain scenario needs Stowage)")
        })
}

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let peer = ctx
        .peer_client
        .as_ref()
        .context("the drain scenario needs --peer-endpoint (another gateway of the same store)")?;
    let count = ctx.settings.drain_mib.max(1);
    let total = u64::try_from(count * OBJECT)?;
    let (access_key, secret_key) = &ctx.credentials;
    let admin = RawClient::new(&ctx.endpoint, ctx.region(), access_key, secret_key);
    let node = node_at(&admin, &ctx.endpoint).await?;
    let mut report = ScenarioReport::new(
        "drain",
        format!(
            "{count} x 1 MiB PUT through --endpoint ({node}), then {node} drained while {LOAD} \
             workers GET through --peer-endpoint ({} in all)",
            human_bytes(total)
        ),
    );
    let prefix = ctx.scenario_prefix("drain");
    let put = put_objects(&ctx.client, &ctx.bucket, &prefix, count, OBJECT).await?;
    report
        .measurements
        .push(Measurement::from_run("PUT", 1, Some(OBJECT as u64), &put));

    let stop = Arc::new(AtomicBool::new(false));
    let idle = {
        let load = get_load(
            peer.clone(),
            ctx.bucket.clone(),
            prefix.clone(),
            count,
            stop.clone(),
        );
        let timer = async {
            tokio::time::sleep(IDLE).await;
            stop.store(true, Ordering::Relaxed);
        };
        let (run, ()) = tokio::join!(load, timer);
        run?
    };
    report.measurements.push(Measurement::from_run(
        "GET idle",
        LOAD,
        Some(OBJECT as u64),
        &idle,
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(get_load(
        peer.clone(),
        ctx.bucket.clone(),
        prefix.clone(),
        count,
        stop.clone(),
    ));
    let began = Instant::now();
    admin_json(&admin, Method::POST, &format!("/nodes/{node}/drain")).await?;
    let moved = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let view = admin_json(&admin, Method::GET, &format!("/nodes/{node}")).await?;
        if view["drain"]["state"] == "drained" {
            break view["drain"]["bytesMoved"].as_u64().unwrap_or(0);
        }
        if began.elapsed() > Duration::from_secs(3600) {
            bail!("{node} did not drain within an hour: {view}");
        }
    };
    let drained_in = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = load.await??;
    admin_json(&admin, Method::POST, &format!("/nodes/{node}/undrain")).await?;

    report.measurements.push(Measurement::from_run(
        "GET during drain",
        LOAD,
        Some(OBJECT as u64),
        &during,
    ));
    let rate = moved as f64 / 1e6 / drained_in.as_secs_f64().max(1e-9);
    report.figure("drained", moved as f64 / 1e6, "MB");
    report.figure("drain time", drained_in.as_secs_f64(), "s");
    report.figure("drain rate", rate, "MB/s");
    let p = |run: &Run, q: f64| {
        let mut sorted = run.latencies.clone();
        sorted.sort();
        (!sorted.is_empty()).then(|| super::stats::millis(super::stats::percentile(&sorted, q)))
    };
    if let (Some(idle_p50), Some(idle_p99), Some(p50), Some(p99)) =
        (p(&idle, 50.0), p(&idle, 99.0), p(&during, 50.0), p(&during, 99.0))
    {
        report.figure("GET p50 during drain / idle", p50 / idle_p50.max(1e-9), "x");
        report.figure("GET p99 during drain / idle", p99 / idle_p99.max(1e-9), "x");
    }
    Ok(report)
}
