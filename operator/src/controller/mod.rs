//! The reconcilers, one file per kind, and what they share: the [`Context`], the [`Error`] enum,
//! server-side apply, finalizers, Events and backoff. Each reconcile reads top to bottom: read
//! what is, compute what should be with [`crate::resources`], apply it, report it in the status.

pub mod apply;
pub mod backoff;
pub mod bucket;
pub mod bucket_config;
pub mod events;
pub mod finalizer;
pub mod lifecycle;
pub mod objectstore;
pub mod policy;
pub mod scale_down;
pub mod store;

mod error;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::Error;
use futures::{Future, Stream, StreamExt};
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use serde::de::DeserializeOwned;

use crate::crd::Bucket;
use crate::metrics::Metrics;

/// How often a healthy resource is checked again anyway (drift in the store, lost events).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Operator settings the reconcilers need.
#[derive(Clone, Debug)]
pub struct Config {
    /// Gateway image for ObjectStores that do not name one.
    pub gateway_image: String,
    /// Talk to every store at this URL instead of its Service (e2e, or an operator outside the
    /// cluster).
    pub store_endpoint_override: Option<String>,
    /// Only watch this namespace (all when unset).
    pub namespace: Option<String>,
}

/// The label every object the operator makes carries: watches of owned kinds select on it, so
/// the operator caches its own Secrets, not every Secret of the cluster.
pub const OWNED_SELECTOR: &str = "app.kubernetes.io/managed-by=stowage-operator";

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub backoff: backoff::Backoff,
    /// Every watched Bucket, as the Bucket controller's watch last saw it: claims on a bucket
    /// name are checked here rather than by listing the namespace on every reconcile.
    pub buckets: Store<Bucket>,
    /// What fills `buckets`; taken by the Bucket controller when it starts.
    bucket_writer: Mutex<Option<Writer<Bucket>>>,
}

impl Context {
    pub fn new(client: Client, config: Config, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: crate::resources::MANAGER.to_owned(),
            instance,
        };
        let (buckets, bucket_writer) = reflector::store();
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics,
            backoff: backoff::Backoff::default(),
            buckets,
            bucket_writer: Mutex::new(Some(bucket_writer)),
        }
    }

    /// The writer of [`Context::buckets`]; `None` once taken (one Bucket controller per context).
    pub fn take_bucket_writer(&self) -> Option<Writer<Bucket>> {
        self.bucket_writer.lock().ok()?.take()
    }

    /// The Api for `K` in the watched namespace, or in all namespaces.
    pub fn watched_api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.config.namespace {
            Some(ns) => kube::Api::namespaced(self.client.clone(), ns),
            None => kube::Api::all(self.client.clone()),
        }
    }
}

/// A controller's trigger: the watch of its own kind, reflected into `writer`, passing an object
/// on only when its `metadata.generation` changed (a spec change, or the start of deletion, which
/// bumps it). The operator's own status and finalizer writes leave the generation alone, so they
/// do not re-trigger the reconcile that made them.
pub fn spec_changes<K>(
    api: kube::Api<K>,
    writer: Writer<K>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default())
}

/// `kind/namespace/name`: the backoff key of an object.
pub fn object_key<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
    use kube::ResourceExt;
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// Retry a failed reconcile after a per-object exponential backoff.
pub fn error_policy<K: kube::Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.backoff.failed(&object_key(obj.as_ref()));
    tracing::warn!(object = %object_key(obj.as_ref()), error = %error, reason = error.reason(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs `reconcile` timed and counted, and resets the object's backoff when it succeeds.
pub async fn measured<K, F>(kind: &'static str, obj: &K, ctx: &Context, reconcile: F) -> Result<Action, Error>
where
    K: kube::Resource<DynamicType = ()>,
    F: Future<Output = Result<Action, Error>>,
{
    let measure = ctx.metrics.measure(kind);
    let result = reconcile.await;
    measure.finish(&result);
    if result.is_ok() {
        ctx.backoff.succeeded(&object_key(obj));
    }
    result
}

/// Runs the four controllers until `shutdown` completes.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + Clone + 'static) {
    tokio::join!(
        drain(
            "ObjectStore",
            objectstore::controller(ctx.clone(), shutdown.clone())
        ),
        drain("Bucket", bucket::controller(ctx.clone(), shutdown.clone())),
        drain(
            "BucketPolicy",
            bucket_config::controller::<crate::crd::BucketPolicy>(ctx.clone(), shutdown.clone())
        ),
        drain(
            "LifecycleRule",
            bucket_config::controller::<crate::crd::LifecycleRule>(ctx.clone(), shutdown)
        ),
    );
}

/// Consumes a controller's results; reconcile failures were logged by [`error_policy`] already.
async fn drain<T, E: std::fmt::Display>(
    kind: &'static str,
    stream: impl futures::Stream<Item = Result<T, E>>,
) {
    stream
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(kind, error = %e, "controller event");
            }
        })
        .await;
}

#[cfg(test)]
mod tests;
