//! Assembles the gateway: metadata store, blob volume, the s3s service with our auth, the admin
//! routes, background workers, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::error_handling::HandleError;
use axum::http::StatusCode;
use axum::routing::get;
use axum::serve::ListenerExt;
use s3s::service::S3ServiceBuilder;

use crate::admin::{self, api::AdminState};
use crate::auth::access::{Access, AccessCheck, KeyLookup};
use crate::auth::identity::Identities;
use crate::auth::secrets::MasterKey;
use crate::blob::BlobStore;
use crate::clock::SystemClock;
use crate::config::ServeArgs;
use crate::credentials::{self, Origin};
use crate::lifecycle::worker::{Worker, WorkerConfig};
use crate::meta::MetaStore;
use crate::meta::fjall::EmbeddedStore;
use crate::meta::tikv::{self, TikvUrl, TlsPaths};
use crate::metrics::Metrics;
use crate::ops::Store;
use crate::s3::envelope::envelope;
use crate::s3::{Gateway, RenameRoute, VirtualHosts};

/// Admin routes live under a path no bucket can have (bucket names cannot contain `_`).
pub const HEALTH_PATH: &str = "/_stowage/health";
pub const READY_PATH: &str = "/_stowage/ready";
pub const METRICS_PATH: &str = "/_stowage/metrics";

async fn open_meta(args: &ServeArgs) -> anyhow::Result<Arc<dyn MetaStore>> {
    match args.meta.as_str() {
        "embedded" => {
            let dir = args.data_dir.join("meta");
            let store = EmbeddedStore::open(&dir)
                .with_context(|| format!("opening metadata in {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        url if TikvUrl::is_tikv(url) => {
            let tls = TlsPaths::from_parts(
                args.tikv.ca.clone(),
                args.tikv.cert.clone(),
                args.tikv.key.clone(),
            )?;
            let store = tikv::open(url, tls).await.context("opening TiKV metadata")?;
            if args.tikv.gc_max_age > 0 {
                let max_age = std::time::Duration::from_secs(args.tikv.gc_max_age);
                tikv::spawn_gc(store.clone(), tikv::DEFAULT_GC_INTERVAL, max_age);
            }
            Ok(Arc::new(store))
        }
        other => {
            bail!("unknown metadata backend {other:?}: use `embedded` or `tikv://pd1:2379,pd2:2379/<prefix>`")
        }
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let (root, origin) = credentials::root(&args.data_dir, ServeArgs::root_from_env())
        .context("resolving root credentials")?;
    if matches!(origin, Origin::Generated) {
        // Printed once, on the start that created them; they are kept in the data directory.
        println!(
            "Generated root credentials (stored in {}):\n  AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}",
            args.data_dir.join("root-credentials.json").display(),
            root.access_key_id,
            root.secret_access_key
        );
    }

    let store = Store::new(
        open_meta(&args).await?,
        BlobStore::open(&args.data_dir).context("opening blob volume")?,
        Arc::new(SystemClock),
        args.region.clone(),
    );

    let metrics = Arc::new(Metrics::default());
    let master_key_path = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("master.key"));
    let master = MasterKey::load_or_create(&master_key_path)
        .with_context(|| format!("loading the master key {}", master_key_path.display()))?;
    let identities = Arc::new(Identities::new(
        store.meta.clone(),
        store.clock.clone(),
        master,
        root,
        args.root_org.clone(),
    ));
    let access = Arc::new(Access::new(store.clone(), identities.clone()));

    let s3 = {
        let gateway = Gateway::new(
            store.clone(),
            access.clone(),
            args.lifecycle_day(),
            args.require_location_constraint,
        )
        .allow_sse_c_over_http(args.allow_sse_c_over_http);
        let mut b = S3ServiceBuilder::new(gateway);
        b.set_auth(KeyLookup(identities.clone()));
        b.set_access(AccessCheck(access.clone()));
        if let Some(domain) = &args.domain {
            b.set_host(VirtualHosts::new(domain));
        }
        let route_host: Option<Box<dyn s3s::host::S3Host>> = args
            .domain
            .as_deref()
            .map(|d| Box::new(VirtualHosts::new(d)) as Box<dyn s3s::host::S3Host>);
        b.set_route(RenameRoute::new(store.clone(), access.clone(), route_host));
        b.build()
    };
    let s3 = HandleError::new(s3, |e: s3s::HttpError| async move {
        tracing::error!(error = ?e, "S3 service failed");
        StatusCode::INTERNAL_SERVER_ERROR
    });

    let ready_store = store.clone();
    let render = metrics.clone();
    let app = Router::new()
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(METRICS_PATH, get(move || async move { render.render() }))
        .route(
            READY_PATH,
            get(move || {
                let store = ready_store.clone();
                async move {
                    match store.list_buckets().await {
                        Ok(_) => (StatusCode::OK, "ready"),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "metadata store unavailable"),
                    }
                }
            }),
        )
        .merge(admin::api::router(AdminState {
            identities,
            clock: store.clock.clone(),
        }))
        .fallback_service(s3)
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), envelope));

    tokio::spawn(sweep_forever(store.clone(), args.clone()));
    let worker = WorkerConfig {
        day: args.lifecycle_day(),
        interval: Duration::from_secs(args.lifecycle_interval.max(1)),
        max_actions_per_sec: args.lifecycle_max_actions_per_sec,
    };
    tokio::spawn(Worker::new(store.clone(), worker, metrics.clone()).run());

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?
        // Responses are written as headers then body: without TCP_NODELAY a small body waits
        // for the client's delayed ACK (~40 ms) behind the headers.
        .tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
    tracing::info!(listen = %args.listen, data_dir = %args.data_dir.display(), meta = store.meta.backend(), "serving S3");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped: in-flight requests finished");
    Ok(())
}

async fn sweep_forever(store: Store, args: ServeArgs) {
    let mut tick = tokio::time::interval(args.sweep_interval());
    loop {
        tick.tick().await;
        let check = |id| {
            let store = store.clone();
            async move {
                store
                    .blob_is_referenced(&id)
                    .await
                    .map_err(|e| e.to_string().into())
            }
        };
        match store.blobs.sweep(args.sweep_grace(), check).await {
            Ok(r) if r.removed > 0 => {
                tracing::info!(examined = r.examined, removed = r.removed, "blob sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "blob sweep failed"),
        }
        match store.prune_rename_tokens().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "expired rename tokens"),
            Err(e) => tracing::warn!(error = %e, "rename token pruning failed"),
        }
    }
}

/// SIGTERM (Kubernetes) or Ctrl-C: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
