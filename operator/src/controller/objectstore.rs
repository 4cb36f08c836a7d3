//! ObjectStore reconciler: settles the master key (never regenerated over a store that had one,
//! see `resources::master_key`), applies the gateways' StatefulSet (at the size a scale-down
//! allows, see `resources::scale_down`), Services, ConfigMap, admin Secret and
//! PodDisruptionBudget, carries out the scale-down's drains, then asks the S3 endpoint whether it
//! is ready.

use std::sync::Arc;
use std::time::Duration;

use futures::{Future, Stream};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{reflector, watcher};
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::{Context, Error, apply, error_policy, events, measured, scale_down};
use crate::conditions::{self, Desired, reason};
use crate::crd::{ObjectStore, ObjectStoreStatus};
use crate::resources::master_key;
use crate::resources::object_store::{self as desired, AdminCredentials, AdminSecretData, admin_secret_name};
use crate::store_client::{Credentials, StoreClient};

pub const KIND: &str = "ObjectStore";
/// While gateways are starting, look again this soon.
pub const NOT_READY_RECHECK: Duration = Duration::from_secs(10);
/// While gateways drain or wait to be removed, look again this soon (the `Draining` condition
/// reports progress, and the StatefulSet is lowered as soon as the drain is done).
pub const DRAIN_RECHECK: Duration = Duration::from_secs(5);

pub fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = Result<(kube::runtime::reflector::ObjectRef<ObjectStore>, Action), impl std::error::Error>>
{
    let (stores, writer) = reflector::store();
    let owned = || watcher::Config::default().labels(super::OWNED_SELECTOR);
    Controller::for_stream(
        super::spec_changes(ctx.watched_api::<ObjectStore>(), writer),
        stores,
    )
    // Ready replicas change on the StatefulSet's status.
    .owns(ctx.watched_api::<StatefulSet>(), owned())
    // A deleted or edited admin Secret is put back at once, not at the next resync.
    .owns(ctx.watched_api::<Secret>(), owned())
    // The master key's Secret has no owner (it outlives the store): found by its labels.
    .watches(
        ctx.watched_api::<Secret>(),
        watcher::Config::default().labels(&format!(
            "{},app.kubernetes.io/component={}",
            super::OWNED_SELECTOR,
            master_key::COMPONENT
        )),
        |secret: Secret| {
            let store = secret.labels().get("app.kubernetes.io/instance")?.clone();
            Some(reflector::ObjectRef::new(&store).within(&secret.namespace()?))
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
}

#[instrument(skip_all, fields(namespace = store.namespace(), name = store.name_any()))]
pub async fn reconcile(store: Arc<ObjectStore>, ctx: Arc<Context>) -> Result<Action, Error> {
    measured(KIND, store.as_ref(), &ctx, reconcile_store(&store, &ctx)).await
}

async fn reconcile_store(store: &ObjectStore, ctx: &Context) -> Result<Action, Error> {
    if store.meta().deletion_timestamp.is_some() {
        // Everything it owns carries an ownerReference: the garbage collector removes it.
        return Ok(Action::await_change());
    }
    let applied = apply_owned(store, ctx).await;
    let (conditions, reported, action) = match &applied {
        Ok(applied) => {
            let ready_replicas = applied
                .stateful_set
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let probe = match &applied.client {
                Ok(client) => client.ready().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let (ready, mut recheck) = readiness(store.spec.replicas, ready_replicas, probe);
            if applied.scaling.settling {
                recheck = recheck.min(DRAIN_RECHECK);
            }
            let mut conditions = vec![ready];
            conditions.extend(applied.scaling.condition.clone());
            let reported = Reported {
                ready_replicas,
                master_key_fingerprint: applied.master_key_fingerprint.clone(),
                master_key_staged: applied.master_key_staged.clone(),
                leaving_gateways: applied.scaling.leaving.clone(),
            };
            (conditions, Some(reported), Action::requeue(recheck))
        }
        Err(e) => (
            vec![Desired::not_ready(e.reason(), e.to_string())],
            None,
            Action::await_change(),
        ),
    };
    report(store, ctx, &conditions, reported).await?;
    applied.map(|_| action)
}

/// What applying a store's objects gave.
struct Applied {
    /// A client for the store's gateways, or why there is none.
    client: Result<StoreClient, Error>,
    /// As stored (its status counts ready gateways).
    stateful_set: StatefulSet,
    master_key_fingerprint: String,
    master_key_staged: Option<String>,
    scaling: scale_down::Outcome,
}

/// What a reconcile that applied the store's objects writes into its status besides conditions.
struct Reported {
    ready_replicas: i32,
    master_key_fingerprint: String,
    master_key_staged: Option<String>,
    leaving_gateways: Vec<String>,
}

/// Applies everything the store owns, once its master key is settled.
async fn apply_owned(store: &ObjectStore, ctx: &Context) -> Result<Applied, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    let existing = secrets.get_opt(&admin_secret_name(&store.name_any())).await?;
    let key_secret_name = master_key::secret_name(&store.name_any());
    let existing_key = secrets.get_opt(&key_secret_name).await?;
    let status = store.status.as_ref();
    let recorded = status.and_then(|s| s.master_key_fingerprint.as_deref());
    let staged = status.and_then(|s| s.master_key_staged.as_deref());
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    // A rotation needs to know how far the gateways' rollout got, a scale-down how many run.
    let existing_set = sets.get_opt(&store.name_any()).await?;
    let rolled_out = staged.is_some() && existing_set.as_ref().is_some_and(master_key::rolled_out);
    let tls = super::store::serving_tls(ctx, store).await?;
    let key = master_key::plan(
        existing_key.as_ref(),
        existing.as_ref(),
        recorded,
        master_key::Rotation { staged, rolled_out },
        master_key::generate(),
    )
    .map_err(|refusal| Error::master_key(&refusal, &key_secret_name))?;
    let mut owned = desired::owned(
        store,
        &ctx.config.gateway_image,
        existing.as_ref(),
        AdminSecretData::generate(),
        &key,
        tls.as_ref(),
    );
    if let Some(secret) = &owned.master_key_secret {
        // Written before anything that mounts it, and before the admin Secret of an older
        // release (which held the key) is applied without it.
        apply::apply(&ctx.client, secret).await?;
        if existing_key.is_none() {
            events::normal(
                &ctx.recorder,
                store,
                "MasterKeyCreated",
                format!(
                    "master key (fingerprint {}) in Secret {key_secret_name}, kept when the store is deleted",
                    key.fingerprint()
                ),
            )
            .await;
        }
    }
    if existing.is_none() {
        events::normal(
            &ctx.recorder,
            store,
            "AdminCredentialsCreated",
            format!(
                "generated root credentials in Secret {}",
                admin_secret_name(&store.name_any())
            ),
        )
        .await;
    }
    let credentials = AdminCredentials::from_secret(&owned.admin_secret).expect("built with both keys");
    apply::apply_over(&ctx.client, &owned.admin_secret, existing.as_ref()).await?;
    apply::apply(&ctx.client, &owned.config_map).await?;
    apply::apply(&ctx.client, &owned.service).await?;
    apply::apply(&ctx.client, &owned.headless_service).await?;
    apply::apply(&ctx.client, &owned.pod_disruption_budget).await?;
    let ca_pem = tls.as_ref().and_then(|t| t.ca_pem.as_deref());
    let client = store_client(store, ctx, &credentials, ca_pem);
    let current = existing_set.as_ref().map(|s| s.spec.replicas.unwrap_or(1));
    let scaling = scale_down::plan(store, current, client.as_ref()).await;
    // Not `spec.replicas`: leaving gateways keep running until they are drained.
    owned.stateful_set.spec.replicas = Some(scaling.plan.replicas);
    let stateful_set = apply::apply(&ctx.client, &owned.stateful_set).await?;
    let scaling = scale_down::carry_out(ctx, store, client.as_ref(), scaling).await;
    Ok(Applied {
        client,
        stateful_set,
        master_key_fingerprint: key.fingerprint(),
        master_key_staged: key.staged(),
        scaling,
    })
}

/// A client for the store's endpoint (or the override), verified with the store's CA when it has
/// TLS.
fn store_client(
    store: &ObjectStore,
    ctx: &Context,
    credentials: &AdminCredentials,
    ca_pem: Option<&str>,
) -> Result<StoreClient, Error> {
    let url = ctx
        .config
        .store_endpoint_override
        .clone()
        .unwrap_or_else(|| desired::endpoint(store));
    let credentials = Credentials {
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
    };
    Ok(StoreClient::new(&url, &store.spec.region, credentials)?.trusting(ca_pem)?)
}

/// Ready when the S3 endpoint answers its readiness check; otherwise look again soon.
pub fn readiness(replicas: i32, ready_replicas: i32, probe: Result<(), String>) -> (Desired, Duration) {
    let gateways = format!("{ready_replicas}/{replicas} gateways ready");
    match probe {
        Ok(()) => (
            Desired::ready(
                reason::GATEWAYS_READY,
                format!("{gateways}; the S3 endpoint answers"),
            ),
            super::RESYNC,
        ),
        Err(e) => (
            Desired::not_ready(reason::GATEWAYS_NOT_READY, format!("{gateways}; {e}")),
            NOT_READY_RECHECK,
        ),
    }
}

async fn report(
    store: &ObjectStore,
    ctx: &Context,
    conditions: &[Desired],
    // What applying gave; `None` keeps what the status says.
    reported: Option<Reported>,
) -> Result<(), Error> {
    let current = store.status.as_ref();
    let existing = current.map_or(&[][..], |s| &s.conditions[..]);
    for condition in conditions {
        if announced(existing, condition) {
            match condition.reason {
                reason::GATEWAYS_READY
                | reason::GATEWAYS_NOT_READY
                | reason::DRAIN_IN_PROGRESS
                | reason::DRAINED
                | reason::NO_DRAIN => {
                    events::normal(&ctx.recorder, store, condition.reason, condition.message.clone()).await
                }
                _ => events::warning(&ctx.recorder, store, condition.reason, condition.message.clone()).await,
            }
        }
    }
    let status = ObjectStoreStatus {
        conditions: conditions::merge(existing, conditions, store.metadata.generation, Timestamp::now()),
        observed_generation: store.metadata.generation,
        ready_replicas: reported
            .as_ref()
            .map(|r| r.ready_replicas)
            .or(current.and_then(|s| s.ready_replicas)),
        endpoint: Some(desired::endpoint(store)),
        admin_secret: Some(admin_secret_name(&store.name_any())),
        // Recorded once gateways were given the key; kept while it is refused.
        master_key_fingerprint: match &reported {
            Some(r) => Some(r.master_key_fingerprint.clone()),
            None => current.and_then(|s| s.master_key_fingerprint.clone()),
        },
        master_key_staged: match &reported {
            Some(r) => r.master_key_staged.clone(),
            None => current.and_then(|s| s.master_key_staged.clone()),
        },
        leaving_gateways: match reported {
            Some(r) => r.leaving_gateways,
            None => current.map(|s| s.leaving_gateways.clone()).unwrap_or_default(),
        },
    };
    let api: Api<ObjectStore> = Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    apply::status(&api, store, current, &status).await
}

/// Whether a condition is worth an Event: its status or reason changed. A store that never
/// scaled down gets `Draining=False` quietly.
fn announced(
    existing: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    condition: &Desired,
) -> bool {
    let first = !existing.iter().any(|c| c.type_ == condition.type_);
    let quiet = first && condition.type_ == conditions::DRAINING && condition.reason == reason::NO_DRAIN;
    conditions::transitions(existing, condition) && !quiet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_the_endpoint_answers() {
        let (condition, recheck) = readiness(3, 2, Ok(()));
        assert!(condition.status);
        assert_eq!(condition.reason, "GatewaysReady");
        assert_eq!(condition.message, "2/3 gateways ready; the S3 endpoint answers");
        assert_eq!(recheck, super::super::RESYNC);
    }

    #[test]
    fn not_ready_rechecks_soon_and_says_why() {
        let (condition, recheck) = readiness(1, 0, Err("connection refused".into()));
        assert!(!condition.status);
        assert_eq!(condition.reason, "GatewaysNotReady");
        assert_eq!(condition.message, "0/1 gateways ready; connection refused");
        assert_eq!(recheck, NOT_READY_RECHECK);
    }
}
