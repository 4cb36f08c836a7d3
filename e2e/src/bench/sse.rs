//! `sse`: large-object throughput with SSE-C (customer-provided keys) against without, on the
//! same endpoint. Needs an endpoint that accepts SSE-C over this connection (Stowage:
//! `--allow-sse-c-over-http`).

use anyhow::{anyhow, ensure};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use md5::{Digest as _, Md5};

use super::BenchContext;
use super::driver::closed_loop;
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let (count, size) = (ctx.settings.large_count, ctx.settings.large_size);
    let mut report = ScenarioReport::new(
        "sse",
        format!(
            "{count} x {} PUT then GET, plain and with SSE-C",
            human_bytes(size as u64)
        ),
    );
    let raw: [u8; 32] = rand::random();
    let (key, key_md5) = (B64.encode(raw), B64.encode(Md5::digest(raw)));
    let body = Bytes::from(pattern(size));
    let mut mbps = Vec::new();
    for sealed in [false, true] {
        let prefix = ctx.scenario_prefix(if sealed { "sse/sealed" } else { "sse/plain" });
        let sse = sealed.then(|| (key.clone(), key_md5.clone()));
        let (c, b, p, body2, sse2) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            prefix.clone(),
            body.clone(),
            sse.clone(),
        );
        let put = closed_loop(count, 1, move |i| {
            let (c, b, body, sse) = (c.clone(), b.clone(), body2.clone(), sse2.clone());
            let k = format!("{p}{i}");
            async move {
                let mut req = c.put_object().bucket(b).key(&k).body(ByteStream::from(body));
                if let Some((key, md5)) = sse {
                    req = req
                        .sse_customer_algorithm("AES256")
                        .sse_customer_key(key)
                        .sse_customer_key_md5(md5);
                }
                req.send()
                    .await
                    .map_err(|e| anyhow!("PUT {k}: {}", DisplayErrorContext(e)))?;
                Ok(size as u64)
            }
        })
        .await?;
        let (c, b, p, sse2) = (
            ctx.client.clone(),
            ctx.bucket.clone(),
            prefix.clone(),
            sse.clone(),
        );
        let get = closed_loop(count, 1, move |i| {
            let (c, b, sse) = (c.clone(), b.clone(), sse2.clone());
            let k = format!("{p}{i}");
            async move {
                let mut req = c.get_object().bucket(b).key(&k);
                if let Some((key, md5)) = sse {
                    req = req
                        .sse_customer_algorithm("AES256")
                        .sse_customer_key(key)
                        .sse_customer_key_md5(md5);
                }
                let mut out = req
                    .send()
                    .await
                    .map_err(|e| anyhow!("GET {k}: {}", DisplayErrorContext(e)))?
                    .body;
                let mut received = 0u64;
                while let Some(chunk) = out.try_next().await.map_err(|e| anyhow!("GET {k} body: {e}"))? {
                    received += chunk.len() as u64;
                }
                ensure!(received == size as u64, "GET {k}: {received} bytes");
                Ok(received)
            }
        })
        .await?;
        let label = if sealed { "SSE-C" } else { "plain" };
        let (put, get) = (
            Measurement::from_run(&format!("PUT {label}"), 1, Some(size as u64), &put),
            Measurement::from_run(&format!("GET {label}"), 1, Some(size as u64), &get),
        );
        mbps.push((put.mb_per_sec, get.mb_per_sec));
        report.measurements.push(put);
        report.measurements.push(get);
    }
    if let [(pp, pg), (sp, sg)] = mbps[..] {
        report.figure("SSE-C PUT / plain PUT", sp / pp.max(f64::EPSILON), "x");
        report.figure("SSE-C GET / plain GET", sg / pg.max(f64::EPSILON), "x");
    }
    Ok(report)
}
