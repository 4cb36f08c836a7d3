//! `peers`: large objects PUT through one gateway of a store, then GET through the same gateway
//! (its own volume) and through another (`--peer-endpoint`), which streams them from the first:
//! what reading across gateways costs. Needs a store of several gateways (Stowage: `gateway serve
//! --gateways 2`, or two pods of an ObjectStore).

use anyhow::Context as _;

use super::BenchContext;
use super::large::{get_objects, put_objects};
use super::report::{Measurement, ScenarioReport, human_bytes};

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let (count, size) = (ctx.settings.large_count, ctx.settings.large_size);
    let peer = ctx
        .peer_client
        .as_ref()
        .context("the peers scenario needs --peer-endpoint (another gateway of the same store)")?;
    let size_u64 = u64::try_from(size)?;
    let mut report = ScenarioReport::new(
        "peers",
        format!(
            "{count} x {} PUT through --endpoint, GET through it and through --peer-endpoint",
            human_bytes(size_u64)
        ),
    );
    let prefix = ctx.scenario_prefix("peers");
    let put = put_objects(&ctx.client, &ctx.bucket, &prefix, count, size).await?;
    report
        .measurements
        .push(Measurement::from_run("PUT", 1, Some(size_u64), &put));
    let local = get_objects(&ctx.client, &ctx.bucket, &prefix, count, size).await?;
    report
        .measurements
        .push(Measurement::from_run("GET local", 1, Some(size_u64), &local));
    let remote = get_objects(peer, &ctx.bucket, &prefix, count, size).await?;
    report
        .measurements
        .push(Measurement::from_run("GET via peer", 1, Some(size_u64), &remote));
    let rate = |run: &super::driver::Run| run.bytes as f64 / run.elapsed.as_secs_f64().max(1e-9);
    report.figure("peer GET / local GET", rate(&remote) / rate(&local), "x");
    Ok(report)
}
