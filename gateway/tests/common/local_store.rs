//! N gateways of one store in this process (as `gateway serve --gateways N` runs them), each on
//! its own port with its own volume, talking real HTTP to each other; a test can stop one and
//! start it again. On TiKV (`TIKV_PD_ENDPOINTS`) they share a fresh prefix of that cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use clap::Parser as _;
use gateway::config::{Cli, Command, ServeArgs};
use gateway::server::{RunningGateway, Shared, start_gateway, volume_of};
use tempfile::TempDir;

use super::blob_files_in;

/// How long background work (frees on other gateways, liveness) may take to be seen.
pub const SETTLE: Duration = Duration::from_secs(20);

/// N gateways of one store in this process.
pub struct LocalStore {
    _dir: TempDir,
    pub args: ServeArgs,
    pub shared: Shared,
    gateways: Vec<Option<RunningGateway>>,
}

impl LocalStore {
    pub async fn start(n: usize, extra: &[&str]) -> Self {
        Self::start_prepared(n, extra, |_| {}).await
    }

    /// Starts the store after `prepare` has seen its data directory (volume of gateway 0;
    /// gateway i > 0 has `gateway-<i>` in it).
    pub async fn start_prepared(n: usize, extra: &[&str], prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(dir.path());
        let mut argv: Vec<String> = [
            "gateway",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-interval",
            "1",
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.push(dir.path().display().to_string());
        argv.extend(["--gateways".to_owned(), n.to_string()]);
        argv.extend(super::meta_args());
        argv.extend(extra.iter().map(|s| s.to_string()));
        let Command::Serve(args) = Cli::parse_from(argv).command else {
            unreachable!("serve arguments")
        };
        let args = *args;
        let shared = Shared::open(&args).await.expect("open store");
        let mut gateways = Vec::new();
        for i in 0..n {
            gateways.push(Some(
                start_gateway(&args, &shared, i).await.expect("start gateway"),
            ));
        }
        Self {
            _dir: dir,
            args,
            shared,
            gateways,
        }
    }

    pub fn gateway(&self, i: usize) -> &RunningGateway {
        self.gateways[i].as_ref().expect("gateway is running")
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}", self.gateway(i).addr)
    }

    pub fn client(&self, i: usize) -> Client {
        let root = self.shared.root();
        e2e::s3_client(
            &self.endpoint(i),
            "us-east-1",
            &root.access_key_id,
            &root.secret_access_key,
            |b| b,
        )
    }

    pub fn volume(&self, i: usize) -> PathBuf {
        volume_of(&self.args, i)
    }

    pub fn blobs_on(&self, i: usize) -> usize {
        blob_files_in(&self.volume(i))
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(gw) = self.gateways[i].take() {
            gw.stop().await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        self.stop(i).await;
        self.gateways[i] = Some(
            start_gateway(&self.args, &self.shared, i)
                .await
                .expect("restart gateway"),
        );
    }
}

pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed)) as u8
                ^ seed
        })
        .collect()
}

/// Waits until `check` holds, or fails with `what` after [`SETTLE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {SETTLE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
