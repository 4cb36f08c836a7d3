//! Assembles the gateway: metadata store, blob volume, the s3s service with our auth, the admin
//! routes, background workers, and graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::error_handling::HandleError;
use axum::http::StatusCode;
use axum::routing::get;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admin::{self, api::AdminState};
use crate::auth::access::{Access, AccessCheck, KeyLookup};
use crate::auth::identity::Identities;
use crate::auth::master_keys;
use crate::auth::secrets::{MasterKey, MasterKeys};
use crate::blob::BlobStore;
use crate::clock::SystemClock;
use crate::cluster::node::claim_volume;
use crate::cluster::peer_api::{self, PeerState};
use crate::cluster::{Cluster, ClusterConfig, NodeId, PeerKey};
use crate::config::ServeArgs;
use crate::credentials::{self, AccessKey, Origin};
use crate::http_server;
use crate::kms::KeyService as _;
use crate::kms::managed::ManagedKeys;
use crate::lifecycle::worker::{Worker, WorkerConfig};
use crate::meta::MetaStore;
use crate::meta::fjall::EmbeddedStore;
use crate::meta::tikv::{self, TikvUrl, TlsPaths};
use crate::metrics::Metrics;
use crate::ops::Store;
use crate::s3::attributes_etag::unquoted_attributes_etag;
use crate::s3::date_header::date_header;
use crate::s3::envelope::envelope;
use crate::s3::lenient_range::lenient_range;
use crate::s3::post_form::post_form;
use crate::s3::repeated_metadata::join_repeated_metadata;
use crate::s3::signature_gate::signature_gate;
use crate::s3::{Gateway, RenameRoute, VirtualHosts};
use crate::tls::{self, CertFiles, ServingCert};

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

/// What the gateways of one process share: the metadata store and the store's secrets.
#[derive(Clone)]
pub struct Shared {
    pub meta: Arc<dyn MetaStore>,
    master: MasterKeys,
    root: AccessKey,
    peer_key: PeerKey,
    /// The key service of SSE-S3 and SSE-KMS (shared so its opened keys are cached once).
    pub keys: Arc<ManagedKeys>,
    tls: Option<ServerTls>,
}

/// TLS of the gateways of one process: one certificate, served on every S3 port and used to
/// reach peers.
#[derive(Clone)]
struct ServerTls {
    cert: Arc<ServingCert>,
    acceptor: tokio_rustls::TlsAcceptor,
    peers: Arc<rustls::ClientConfig>,
}

impl ServerTls {
    fn load(args: &crate::config::TlsArgs) -> anyhow::Result<Option<Self>> {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            return Ok(None);
        };
        let cert = ServingCert::load(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        })
        .context("loading --tls-cert/--tls-key")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(cert.clone())?);
        let peers = tls::peer_client_config(args.ca.as_deref(), &cert).context("loading --tls-ca")?;
        Ok(Some(Self {
            cert,
            acceptor,
            peers,
        }))
    }
}

impl Shared {
    /// Opens the metadata store and loads (or creates) the store's credentials and keys.
    pub async fn open(args: &ServeArgs) -> anyhow::Result<Self> {
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
        let master_key_path = args
            .master_key_file
            .clone()
            .unwrap_or_else(|| args.data_dir.join("master.key"));
        let sealing = MasterKey::load_or_create(&master_key_path)
            .with_context(|| format!("loading the master key {}", master_key_path.display()))?;
        let mut extra = Vec::new();
        for path in &args.extra_master_key_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the extra master key {}", path.display()))?;
            extra.push(
                MasterKey::from_base64(&text)
                    .with_context(|| format!("the extra master key {}", path.display()))?,
            );
        }
        let master = MasterKeys::new(sealing, extra);
        let peer_key = match &args.cluster.peer_secret_file {
            Some(path) => PeerKey::from_secret(
                &std::fs::read(path)
                    .with_context(|| format!("reading the peer secret {}", path.display()))?,
            ),
            None => PeerKey::new(master.sealing().derive(PEER_KEY_LABEL)),
        };
        let tls = ServerTls::load(&args.tls)?;
        let meta = open_meta(args).await?;
        master_keys::verify(&*meta, &master)
            .await
            .with_context(|| format!("checking the master key {}", master_key_path.display()))?;
        let resealed = master_keys::reseal(&*meta, &master)
            .await
            .context("re-sealing secrets under the master key")?;
        if resealed > 0 {
            tracing::info!(resealed, "re-sealed access-key secrets under the new master key");
        }
        let keys = Arc::new(ManagedKeys::new(
            meta.clone(),
            master.clone(),
            Arc::new(SystemClock),
            args.region.clone(),
        ));
        let resealed = keys
            .reseal()
            .await
            .context("re-sealing encryption keys under the master key")?;
        if resealed > 0 {
            tracing::info!(resealed, "re-sealed encryption keys under the new master key");
        }
        Ok(Self {
            meta,
            master,
            root,
            peer_key,
            tls,
            keys,
        })
    }
}

impl Shared {
    /// The root credentials (generated on first start unless given).
    pub fn root(&self) -> &AccessKey {
        &self.root
    }
}

/// Names the peer key derived from the master key.
const PEER_KEY_LABEL: &str = "stowage peer requests v1";

/// One gateway serving: stop it to close its port and end its background work.
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub node_id: NodeId,
    pub store: Store,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl RunningGateway {
    /// Stops accepting, lets in-flight requests finish, and ends the background work.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "server task failed");
        }
        for worker in self.workers {
            worker.abort();
        }
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if Duration::from_secs(args.sweep_grace) < crate::config::MIN_SWEEP_GRACE {
        tracing::warn!(
            given = args.sweep_grace,
            used = crate::config::MIN_SWEEP_GRACE.as_secs(),
            "--sweep-grace raised to its floor: a shorter grace could sweep an upload in flight"
        );
    }
    let shared = Shared::open(&args).await?;
    let mut gateways = Vec::new();
    for index in 0..usize::from(args.cluster.gateways) {
        gateways.push(start_gateway(&args, &shared, index).await?);
    }
    shutdown_signal().await;
    futures::future::join_all(gateways.into_iter().map(RunningGateway::stop)).await;
    if let Err(e) = shared.meta.flush().await {
        tracing::warn!(error = %e, "final metadata flush failed");
    }
    tracing::info!("stopped: in-flight requests finished");
    Ok(())
}

/// The volume of gateway `index` of this process: the data directory itself for the first (so a
/// single-gateway store keeps its layout), a directory in it for the others.
pub fn volume_of(args: &ServeArgs, index: usize) -> PathBuf {
    match index {
        0 => args.data_dir.clone(),
        i => args.data_dir.join(format!("gateway-{i}")),
    }
}

fn node_id_of(args: &ServeArgs, volume: &Path, index: usize) -> anyhow::Result<NodeId> {
    let (base, explicit) = match &args.cluster.node_id {
        Some(id) => (
            NodeId::parse(id)
                .with_context(|| format!("--node-id {id:?}: lowercase letters, digits, '-' and '.'"))?,
            true,
        ),
        None => (
            std::env::var("HOSTNAME")
                .ok()
                .and_then(|h| NodeId::from_hostname(&h))
                .or_else(|| NodeId::parse("gateway"))
                .context("no default node id")?,
            false,
        ),
    };
    let wanted = match index {
        0 => base,
        i => NodeId::parse(&format!("{base}-{i}")).context("node id too long")?,
    };
    Ok(claim_volume(volume, wanted, explicit)?)
}

/// Starts gateway `index` of this process (see `--gateways`).
pub async fn start_gateway(
    args: &ServeArgs,
    shared: &Shared,
    index: usize,
) -> anyhow::Result<RunningGateway> {
    let volume = volume_of(args, index);
    std::fs::create_dir_all(&volume).with_context(|| format!("creating volume {}", volume.display()))?;
    let node_id = node_id_of(args, &volume, index)?;
    let port = match args.listen.port() {
        0 => 0,
        p => p
            .checked_add(u16::try_from(index).unwrap_or(u16::MAX))
            .context("--gateways runs past the last port")?,
    };
    let listen = SocketAddr::new(args.listen.ip(), port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if shared.tls.is_some() { "https" } else { "http" };
    let peer_url = match (&args.cluster.peer_url, args.cluster.gateways) {
        (Some(url), 1) => {
            if !url.starts_with(&format!("{scheme}://")) {
                bail!("--peer-url {url:?} must start with {scheme}:// (the S3 port serves {scheme})");
            }
            url.clone()
        }
        _ => {
            let ip = if addr.ip().is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                addr.ip()
            };
            format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
        }
    };

    let mut blobs = BlobStore::open(&volume)
        .context("opening blob volume")?
        .with_body_deadline(Duration::from_secs(args.body_timeout.max(1)));
    if let Some(quota) = args.cluster.volume_quota {
        blobs = blobs.with_quota(quota).context("measuring the volume's blobs")?;
    }
    let config = ClusterConfig {
        node_id: node_id.clone(),
        peer_url,
        volume: volume.clone(),
        blobs: blobs.clone(),
        high_water: f64::from(args.cluster.volume_high_water) / 100.0,
        copies: usize::from(args.cluster.blob_copies),
        free_grace: Duration::from_secs(args.cluster.free_grace),
        liveness: 3 * args.heartbeat_interval() + Duration::from_secs(1),
        peer_tls: shared.tls.as_ref().map(|t| t.peers.clone()),
    };
    let cluster = Cluster::join(&*shared.meta, config, shared.peer_key.clone())
        .await
        .context("registering the gateway in the metadata store")?;
    let store = Store::new(
        shared.meta.clone(),
        blobs.clone(),
        Arc::new(cluster),
        Arc::new(SystemClock),
        args.region.clone(),
        shared.keys.clone(),
    )
    .with_min_part_size(args.min_part_size)
    .with_inline_max(args.inline_max_size);
    let metrics = Arc::new(Metrics::with_volume(&store.cluster.volume_metrics));
    let app = app(
        args,
        shared,
        &store,
        &metrics,
        PeerState {
            blobs,
            key: shared.peer_key.clone(),
            high_water: f64::from(args.cluster.volume_high_water) / 100.0,
        },
    );

    let mut workers = vec![
        tokio::spawn(sweep_forever(store.clone(), args.clone())),
        tokio::spawn(heartbeat_forever(store.clone(), args.heartbeat_interval())),
        tokio::spawn(free_forever(store.clone())),
        tokio::spawn(drain_forever(store.clone(), args.heartbeat_interval())),
        tokio::spawn(upkeep_forever(
            store.clone(),
            Duration::from_secs(args.cluster.scrub_interval),
            args.cluster.scrub_rate,
        )),
        tokio::spawn(
            Worker::new(
                store.clone(),
                WorkerConfig {
                    day: args.lifecycle_day(),
                    interval: Duration::from_secs(args.lifecycle_interval.max(1)),
                    max_actions_per_sec: args.lifecycle_max_actions_per_sec,
                },
                metrics.clone(),
            )
            .run(),
        ),
    ];

    if let Some(tls) = &shared.tls {
        workers.push(tokio::spawn(tls.cert.clone().watch()));
    }

    tracing::info!(listen = %addr, node = %node_id, volume = %volume.display(), meta = store.meta.backend(), tls = shared.tls.is_some(), "serving S3");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let deadlines = http_server::Deadlines {
        header: Duration::from_secs(args.header_timeout.max(1)),
        idle: Duration::from_secs(args.idle_timeout.max(1)),
    };
    let acceptor = shared.tls.as_ref().map(|t| t.acceptor.clone());
    let server = tokio::spawn(http_server::serve(
        listener,
        app,
        deadlines,
        acceptor,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(RunningGateway {
        addr,
        node_id,
        store,
        shutdown,
        server,
        workers,
    })
}

/// The routes of one gateway: health, metrics, admin, the peer endpoint, and S3 for the rest.
fn app(args: &ServeArgs, shared: &Shared, store: &Store, metrics: &Arc<Metrics>, peer: PeerState) -> Router {
    let identities = Arc::new(Identities::new(
        store.meta.clone(),
        store.clock.clone(),
        shared.master.clone(),
        shared.root.clone(),
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
        .allow_sse_c_over_http(args.allow_sse_c_over_http)
        .default_sse(args.sse_s3_default);
        let mut b = S3ServiceBuilder::new(gateway);
        b.set_auth(KeyLookup(identities.clone()));
        b.set_access(AccessCheck(access.clone()));
        let mut limits = s3s::config::S3Config::default();
        limits.post_object_max_file_size = args.max_form_upload_size;
        b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(limits))));
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
    Router::new()
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
            keys: store.keys.clone(),
            store: store.clone(),
        }))
        .merge(peer_api::router(peer))
        .fallback_service(s3)
        .layer(axum::middleware::from_fn(unquoted_attributes_etag))
        .layer(axum::middleware::from_fn(post_form))
        .layer(axum::middleware::from_fn(lenient_range))
        .layer(axum::middleware::from_fn(join_repeated_metadata))
        .layer(axum::middleware::from_fn(date_header))
        .layer(axum::middleware::from_fn(signature_gate))
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), envelope))
}

/// Keeps this gateway's record fresh, and its view of the others.
async fn heartbeat_forever(store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if let Err(e) = store.cluster.membership.heartbeat(&*store.meta).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
    }
}

/// Moves blobs off draining gateways this gateway is responsible for.
async fn drain_forever(store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        match store.drain_round().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(moved = n, "moved blobs off draining gateways"),
            Err(e) => tracing::warn!(error = %e, "draining failed; will retry"),
        }
    }
}

/// Keeps this gateway's copies whole: once at start the holder index is completed (stores from
/// earlier releases) and a replaced volume refilled from other copies; then a scrub every
/// `scrub_interval` (none when zero) at `scrub_rate` bytes per second.
async fn upkeep_forever(store: Store, scrub_interval: Duration, scrub_rate: u64) {
    while let Err(e) = store.index_holders().await {
        tracing::warn!(error = %e, "indexing blob holders failed; will retry");
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    if store.cluster.membership.volume_replaced() {
        let began = std::time::Instant::now();
        match store.repair_pass(None).await {
            Ok(r) => {
                let seconds = began.elapsed().as_secs_f64();
                tracing::info!(
                    missing = r.missing,
                    repaired = r.repaired,
                    bytes = r.repaired_bytes,
                    lost = r.lost,
                    seconds,
                    mb_per_s = r.repaired_bytes as f64 / 1e6 / seconds.max(1e-9),
                    "replaced volume repaired"
                );
                store.cluster.membership.repaired();
            }
            Err(e) => {
                tracing::warn!(error = %e, "repairing the replaced volume failed; the next scrub retries")
            }
        }
    }
    if scrub_interval.is_zero() {
        return;
    }
    let mut tick = tokio::time::interval(scrub_interval);
    tick.tick().await; // the first tick is now: the first scrub waits a whole interval
    loop {
        tick.tick().await;
        match store.repair_pass(Some(scrub_rate)).await {
            Ok(r) => tracing::info!(
                checked = r.checked,
                damaged = r.damaged,
                missing = r.missing,
                repaired = r.repaired,
                lost = r.lost,
                "scrub pass"
            ),
            Err(e) => tracing::warn!(error = %e, "scrub failed"),
        }
    }
}

/// Frees this gateway's blobs as their grace periods end.
async fn free_forever(store: Store) {
    let every = (store.cluster.free_grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match store.drain_frees().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(freed = n, "freed blobs"),
            Err(e) => tracing::warn!(error = %e, "freeing blobs failed"),
        }
    }
}

async fn sweep_forever(store: Store, args: ServeArgs) {
    let mut tick = tokio::time::interval(args.sweep_interval());
    loop {
        tick.tick().await;
        let check = |id| {
            let store = store.clone();
            async move { store.blob_is_kept(&id).await.map_err(|e| e.to_string().into()) }
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
        match store.sweep_dead_spaces().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(removed = n, "removed records written into deleted buckets"),
            Err(e) => tracing::warn!(error = %e, "sweeping deleted buckets failed"),
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
