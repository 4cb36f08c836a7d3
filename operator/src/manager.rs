//! The manager: what `operator run` does. Serves health and metrics at once, campaigns for the
//! leader lease (when enabled), and runs the controllers only while it leads. Losing the lease
//! ends the run with an error, so the process exits and nothing acts without the lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::controller::{self, Config, Context};
use crate::leader::{LeaderElector, LeaseConfig};
use crate::metrics::Metrics;
use crate::server::{self, Health};

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub controller: Config,
    /// Where /healthz, /readyz and /metrics are served; none in tests that run in-process.
    pub http_addr: Option<SocketAddr>,
    /// Leader election; `None` runs the controllers at once (one replica, or tests).
    pub lease: Option<LeaseConfig>,
    /// This replica's name, for Events and the lease.
    pub instance: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the leader lease was lost; stopping so that only the new leader acts")]
    LeaseLost,
    #[error("serving health and metrics failed: {0}")]
    Server(#[from] std::io::Error),
}

/// Makes ring rustls's process-wide crypto provider, before any TLS client is built. (Built in
/// the workspace, rustls also has aws-lc-rs from the AWS SDK and would refuse to pick one.)
pub fn install_crypto_provider() {
    // Already installed (a second call, or a test harness that did it) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs until `shutdown` completes (Ok) or the lease is lost (Err).
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let shutdown: Shared<BoxFuture<'static, ()>> = shutdown.boxed().shared();
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(addr) = options.http_addr {
        let health = Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        };
        server::spawn(addr, health, shutdown.clone()).await?;
    }
    let ctx = Arc::new(Context::new(
        client.clone(),
        options.controller,
        metrics.clone(),
        options.instance,
    ));
    ready.store(true, Ordering::Relaxed);

    let Some(lease) = options.lease else {
        controller::run(ctx, shutdown).await;
        return Ok(());
    };
    let mut elector = LeaderElector::new(client, lease);
    tokio::select! {
        () = elector.acquire() => {}
        () = shutdown.clone() => return Ok(()),
    }
    metrics.leader.set(1);
    let result = tokio::select! {
        () = controller::run(ctx, shutdown.clone()) => Ok(()),
        () = elector.keep_renewing() => Err(RunError::LeaseLost),
    };
    metrics.leader.set(0);
    result
}
