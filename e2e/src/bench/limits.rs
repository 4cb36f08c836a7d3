//! `limits`: what this machine allows, measured in the same run as the scenarios it bounds.
//!
//! - the sequential write rate of the data directory's filesystem, as
//!   `dd if=/dev/zero of=FILE bs=1M count=N conv=fdatasync` measures it (the time includes the
//!   final `fdatasync`, so the page cache does not flatter it; earlier dirty data is synced
//!   first, so its write-back does not slow the test);
//! - the single-core rate of each digest a PUT may compute: MD5 (the ETag), SHA-256 (a signed
//!   payload), CRC32, CRC32C and CRC64NVME (checksums), with the same implementations the
//!   gateway uses (MD5 is AWS-LC's assembly; RustCrypto's portable MD5 is shown beside it).
//!
//! A large PUT can go no faster than the lower of the disk rate and the MD5 rate (MD5 cannot be
//! split across cores), which is what `large` is compared against. A PUT as the SDK sends it
//! over plain HTTP goes slower still wherever the client shares the machine: the SDK hashes the
//! whole payload (SHA-256 for the signature, CRC32 for its checksum) before it sends a byte, and
//! the server's MD5 cannot start before the bytes arrive, so the two add up; that bound is
//! reported beside the other.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::BenchContext;
use super::report::ScenarioReport;

/// Bytes per `write` of the disk test: dd's `bs=1M`.
const DISK_BLOCK: usize = 1024 * 1024;
/// Bytes hashed per digest: enough for a stable rate, small enough to take well under a second
/// for the slowest (MD5).
const HASH_BYTES: usize = 256 * 1024 * 1024;
/// Bytes per `update`: the size a PUT's batches hand to the hashers.
const HASH_BLOCK: usize = 1024 * 1024;
/// Decimal megabyte, as throughput is quoted everywhere in the report.
const MB: f64 = 1_000_000.0;

pub async fn run(ctx: &BenchContext) -> anyhow::Result<ScenarioReport> {
    let settings = &ctx.settings;
    let dir = settings.limits_dir.clone();
    let disk_bytes = settings.limits_disk_mib * DISK_BLOCK;
    let mut report = ScenarioReport::new(
        "limits",
        format!(
            "this machine: {} MiB written to {} with fdatasync (dd bs=1M conv=fdatasync), \
             {} MiB hashed per digest on one core",
            settings.limits_disk_mib,
            dir.display(),
            HASH_BYTES >> 20
        ),
    );
    let disk = tokio::task::spawn_blocking(move || disk_write_rate(&dir, disk_bytes)).await??;
    report.figure("disk write (fdatasync)", disk, "MB/s");
    let rates = tokio::task::spawn_blocking(hash_rates).await?;
    for (name, rate) in &rates {
        report.figure(&format!("{name} one core"), *rate, "MB/s");
    }
    let rate_of = |digest: &str| {
        rates
            .iter()
            .find(|(name, _)| *name == digest)
            .map_or(0.0, |(_, r)| *r)
    };
    let limit = disk.min(rate_of(GATEWAY_MD5));
    report.figure("large PUT limit: min(disk, MD5)", limit, "MB/s");
    let sdk = one_after_another(&[rate_of("SHA-256"), rate_of("CRC32"), limit]);
    report.figure(
        "SDK PUT limit: SHA-256 + CRC32 on the client, then min(disk, MD5)",
        sdk,
        "MB/s",
    );
    Ok(report)
}

/// `dd bs=1M count=N conv=fdatasync` into a temporary file in `dir`, removed afterwards.
fn disk_write_rate(dir: &Path, bytes: usize) -> anyhow::Result<f64> {
    let path: PathBuf = dir.join(format!(".s3bench-dd-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        // Not zeros: a filesystem that compresses or dedups would flatter them.
        let block: Vec<u8> = (0..DISK_BLOCK).map(|i| (i * 31 % 251) as u8).collect();
        // Whatever earlier scenarios (or runs) left dirty would be written back during the test
        // and make the disk look slower than it is: flush it first.
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let started = Instant::now();
        for _ in 0..bytes / DISK_BLOCK {
            file.write_all(&block)?;
        }
        file.sync_data()?;
        Ok(rate(bytes, started.elapsed()))
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// The MD5 the gateway computes, which bounds a large PUT.
const GATEWAY_MD5: &str = "MD5 (AWS-LC asm)";

/// Single-core MB/s of every digest a PUT may compute.
fn hash_rates() -> Vec<(&'static str, f64)> {
    let block: Vec<u8> = (0..HASH_BLOCK).map(|i| (i * 7 % 253) as u8).collect();
    let blocks = HASH_BYTES / HASH_BLOCK;
    let timed = |update: &mut dyn FnMut(&[u8])| {
        let started = Instant::now();
        for _ in 0..blocks {
            update(&block);
        }
        rate(HASH_BYTES, started.elapsed())
    };
    let mut md5 = Md5::new();
    let mut sha256 = Sha256::new();
    let mut crcs = [
        ("CRC32", CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc)),
        ("CRC32C", CrcDigest::new(CrcAlgorithm::Crc32Iscsi)),
        ("CRC64NVME", CrcDigest::new(CrcAlgorithm::Crc64Nvme)),
    ];
    // SAFETY: `MD5_CTX` is plain data that `MD5_Init` fully initializes; each `MD5_Update`
    // reads exactly the block it is given, and `MD5_Final` writes 16 bytes into `lc_digest`.
    let mut lc_digest = [0u8; 16];
    let mut lc: aws_lc_sys::MD5_CTX = unsafe { std::mem::zeroed() };
    unsafe { aws_lc_sys::MD5_Init(&mut lc) };
    let lc_rate = timed(&mut |b| unsafe {
        aws_lc_sys::MD5_Update(&mut lc, b.as_ptr().cast(), b.len());
    });
    unsafe { aws_lc_sys::MD5_Final(lc_digest.as_mut_ptr(), &mut lc) };
    let mut rates = vec![
        (GATEWAY_MD5, lc_rate),
        ("MD5 (md-5, portable)", timed(&mut |b| md5.update(b))),
        ("SHA-256", timed(&mut |b| sha256.update(b))),
    ];
    for (name, crc) in &mut crcs {
        rates.push((*name, timed(&mut |b| crc.update(b))));
    }
    let portable: [u8; 16] = md5.finalize().into();
    assert_eq!(lc_digest, portable, "both MD5s hashed the same bytes");
    // Keep the digests observable so none of the loops can be optimised away.
    std::hint::black_box((sha256.finalize(), crcs.map(|(_, c)| c.finalize())));
    rates
}

/// The rate of stages that each take every byte in turn, one finishing before the next starts.
fn one_after_another(rates: &[f64]) -> f64 {
    if rates.iter().any(|r| *r <= 0.0) {
        return 0.0;
    }
    1.0 / rates.iter().map(|r| 1.0 / r).sum::<f64>()
}

fn rate(bytes: usize, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let bytes = bytes as f64;
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { bytes / secs / MB } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_one_after_another_add_their_times() {
        assert!((one_after_another(&[1000.0, 1000.0]) - 500.0).abs() < 1e-9);
        assert!((one_after_another(&[1000.0, 1000.0, 500.0]) - 250.0).abs() < 1e-9);
        assert!(one_after_another(&[1000.0, 0.0]).abs() < f64::EPSILON);
    }

    #[test]
    fn disk_rate_is_measured_and_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mbps = disk_write_rate(dir.path(), 4 * DISK_BLOCK).expect("disk rate");
        assert!(mbps > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0);
    }
}
