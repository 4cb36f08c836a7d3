//! `operator run` reconciles the stowage.dev resources; `operator crds` prints (or writes) their
//! CustomResourceDefinitions.

use anyhow::Context as _;
use clap::Parser;
use operator::cli::{Cli, Command, RunArgs};
use operator::controller::Config;
use operator::crd_yaml::{Layout, write_dir};
use operator::leader::LeaseConfig;
use operator::manager::{self, Options};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { out_dir, helm_dir } if out_dir.is_empty() && helm_dir.is_empty() => {
            print!("{}", operator::crd_yaml::render_all());
            Ok(())
        }
        Command::Crds { out_dir, helm_dir } => {
            let dirs = out_dir
                .into_iter()
                .map(|d| (d, Layout::Kustomize))
                .chain(helm_dir.into_iter().map(|d| (d, Layout::Helm)));
            for (dir, layout) in dirs {
                write_dir(&dir, layout).with_context(|| format!("writing CRDs to {}", dir.display()))?;
            }
            Ok(())
        }
        Command::Run(args) => run(*args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    operator::telemetry::init(&args.log_level, args.log_format == "json");
    manager::install_crypto_provider();
    let identity = args.identity.unwrap_or_else(hostname);
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster config or KUBECONFIG)")?;
    let options = Options {
        controller: Config {
            gateway_image: args.gateway_image,
            store_endpoint_override: args.store_endpoint_override,
            namespace: args.watch_namespace,
        },
        http_addr: Some(args.http_addr),
        lease: args
            .leader_election
            .then(|| LeaseConfig::new(&args.lease_name, &args.lease_namespace, &identity)),
        instance: Some(identity),
    };
    manager::run(client, options, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("operator-{}", std::process::id()))
}
