//! `large`: large objects PUT from one in-memory buffer, then GET with the body streamed and
//! discarded; throughput dominates. One request at a time, so MB/s is per stream.
//!
//! PUT is measured three ways: `PUT` as the SDK for Rust sends it by default over plain HTTP (the
//! payload's SHA-256, computed over the whole body before the first byte is sent, signed, and its
//! default CRC32 checksum), `PUT-S` with the payload signed chunk by chunk as it streams and a
//! CRC32 trailer ([`super::signed_put`]), and `PUT-U` with `UNSIGNED-PAYLOAD` and no checksum,
//! which leaves the server only its own digests (MD5 for the ETag, the CRC64NVME it stores) to
//! compute. The kinds alternate, one object each in turn, so all meet the machine in the same
//! state: on a VM whose freed memory goes back to the host, whichever ran last wrote its page
//! cache into memory the host had to hand back first, at half the speed. Beside each kind, the
//! CPU the whole machine spent on it ([`super::machine_cpu`]) and the rate that CPU allows on
//! this machine's cores, whatever overlaps.

use anyhow::{anyhow, ensure};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::BenchContext;
use super::driver::{Run, closed_loop};
use super::machine_cpu::CpuMeter;
use super::payload::pattern;
use super::report::{Measurement, ScenarioReport, human_bytes};

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let settings = &ctx.settings;
    let size = settings.large_size;
    let size_u64 = u64::try_from(size)?;
    let mut report = ScenarioReport::new(
        "large",
        format!(
            "{} x {}, PUT then streamed GET, one at a time",
            settings.large_count,
            human_bytes(size_u64)
        ),
    );
    let prefix = ctx.scenario_prefix("large");
    let unsigned_prefix = format!("{prefix}unsigned/");
    let streamed_prefix = format!("{prefix}streamed/");
    let (mut unsigned, mut put, mut streamed) = (Run::default(), Run::default(), Run::default());
    let mut cpu = [CpuMeter::default(); 4];
    // One buffer for every PUT of every kind: cloning `Bytes` shares it.
    let body = Bytes::from(pattern(size));
    for i in 0..settings.large_count {
        let keys = i..i + 1;
        let (c, b) = (&ctx.client, &ctx.bucket);
        let u = put_objects_as(
            c,
            b,
            &unsigned_prefix,
            keys.clone(),
            body.clone(),
            Payload::Unsigned,
        );
        unsigned.absorb(cpu[0].measure(u).await?);
        let s = super::signed_put::put_objects(ctx, &streamed_prefix, keys.clone(), body.clone());
        streamed.absorb(cpu[1].measure(s).await?);
        let p = put_objects_as(c, b, &prefix, keys, body.clone(), Payload::SdkDefault);
        put.absorb(cpu[2].measure(p).await?);
    }
    let get = cpu[3]
        .measure(get_objects(
            &ctx.client,
            &ctx.bucket,
            &prefix,
            settings.large_count,
            size,
        ))
        .await?;
    for (name, run, meter) in [
        ("PUT-U", &unsigned, cpu[0]),
        ("PUT-S", &streamed, cpu[1]),
        ("PUT", &put, cpu[2]),
        ("GET", &get, cpu[3]),
    ] {
        report
            .measurements
            .push(Measurement::from_run(name, 1, Some(size_u64), run));
        report_cpu(&mut report, name, meter, run.latencies.len(), size_u64);
    }
    Ok(report)
}

/// The machine's CPU time per operation of one kind, and the rate it allows at most: an
/// operation cannot take less wall time than that CPU time spread over every core.
fn report_cpu(report: &mut ScenarioReport, name: &str, meter: CpuMeter, ops: usize, size: u64) {
    let Some(ms) = meter.ms_per_op(ops) else {
        return;
    };
    let cores = super::machine_cpu::cores().unwrap_or(1);
    report.figure(&format!("{name}: CPU of the whole machine per op"), ms, "ms");
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let ceiling = size as f64 / (ms / 1000.0 / cores as f64) / 1_000_000.0;
    report.figure(
        &format!("{name}: at most, with that CPU on {cores} cores"),
        ceiling,
        "MB/s",
    );
}

/// How a PUT's payload is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// As the SDK sends it by default: the payload hash signed, its default checksum attached.
    SdkDefault,
    /// `UNSIGNED-PAYLOAD`, no checksum.
    Unsigned,
}

/// PUTs `count` objects of `size` bytes under `prefix` (keys `<prefix>0000`, ...), one at a time,
/// from one buffer.
pub async fn put_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    count: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let body = Bytes::from(pattern(size));
    put_objects_as(client, bucket, prefix, 0..count, body, Payload::SdkDefault).await
}

/// PUTs `body` under the keys numbered `keys`, sending the payload as `payload` says.
pub async fn put_objects_as(
    client: &Client,
    bucket: &str,
    prefix: &str,
    keys: std::ops::Range<usize>,
    body: Bytes,
    payload: Payload,
) -> anyhow::Result<Run> {
    let size_u64 = u64::try_from(body.len())?;
    let client = match payload {
        Payload::SdkDefault => client.clone(),
        Payload::Unsigned => Client::from_conf(
            client
                .config()
                .to_builder()
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .build(),
        ),
    };
    let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
    let first = keys.start;
    closed_loop(keys.len(), 1, move |i| {
        let (client, bucket, body) = (client.clone(), bucket.clone(), body.clone());
        let key = format!("{prefix}{:04}", first + i);
        async move {
            let put = client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(body));
            let sent = match payload {
                Payload::SdkDefault => put.send().await,
                Payload::Unsigned => put.customize().disable_payload_signing().send().await,
            };
            sent.map_err(|e| anyhow!("PUT {key}: {}", DisplayErrorContext(e)))?;
            Ok(size_u64)
        }
    })
    .await
}

/// GETs the objects [`put_objects`] wrote, one at a time, streaming and discarding the bodies.
pub async fn get_objects(
    client: &Client,
    bucket: &str,
    prefix: &str,
    count: usize,
    size: usize,
) -> anyhow::Result<Run> {
    let size_u64 = u64::try_from(size)?;
    let (client, bucket, prefix) = (client.clone(), bucket.to_owned(), prefix.to_owned());
    closed_loop(count, 1, move |i| {
        let (client, bucket) = (client.clone(), bucket.clone());
        let key = format!("{prefix}{i:04}");
        async move {
            let received = get_streamed(&client, &bucket, &key).await?;
            ensure!(
                received == size_u64,
                "GET {key}: {received} bytes, expected {size_u64}"
            );
            Ok(received)
        }
    })
    .await
}

/// GETs an object, streaming its body and discarding it; returns the bytes received.
pub async fn get_streamed(client: &Client, bucket: &str, key: &str) -> anyhow::Result<u64> {
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow!("GET {key}: {}", DisplayErrorContext(e)))?;
    let mut body = object.body;
    let mut received = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| anyhow!("GET {key} body: {e}"))?
    {
        received += chunk.len() as u64;
    }
    Ok(received)
}
