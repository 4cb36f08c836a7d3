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
pub mod store;

mod error;

use std::sync::Arc;
use std::time::Duration;

pub use error::Error;
use futures::{Future, StreamExt};
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};

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

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub backoff: backoff::Backoff,
}

impl Context {
    pub fn new(client: Client, config: Config, metrics: Arc<Metrics>, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: crate::resources::MANAGER.to_owned(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            metrics,
            backoff: backoff::Backoff::default(),
        }
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
