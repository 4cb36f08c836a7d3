//! ObjectStore reconciler: settles the master key (never regenerated over a store that had one,
//! see `resources::master_key`), applies the gateways' StatefulSet, Services, ConfigMap, admin
//! Secret and PodDisruptionBudget, then asks the S3 endpoint whether it is ready.

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

use super::{Context, Error, apply, error_policy, events, measured};
use crate::conditions::{self, Desired, reason};
use crate::crd::{ObjectStore, ObjectStoreStatus};
use crate::resources::master_key;
use crate::resources::object_store::{self as desired, AdminCredentials, AdminSecretData, admin_secret_name};
use crate::resources::store_tls::ServingTls;
use crate::store_client::{Credentials, StoreClient};

pub const KIND: &str = "ObjectStore";
/// While gateways are starting, look again this soon.
pub const NOT_READY_RECHECK: Duration = Duration::from_secs(10);

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
    let keys = applied
        .as_ref()
        .ok()
        .map(|a| (a.master_key_fingerprint.clone(), a.master_key_staged.clone()));
    let (condition, ready_replicas, action) = match &applied {
        Ok(Applied {
            credentials,
            stateful_set,
            tls,
            ..
        }) => {
            let ready_replicas = stateful_set
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let ca_pem = tls.as_ref().and_then(|t| t.ca_pem.as_deref());
            let probe = probe(store, ctx, credentials, ca_pem).await;
            let (condition, recheck) = readiness(store.spec.replicas, ready_replicas, probe);
            (condition, Some(ready_replicas), Action::requeue(recheck))
        }
        Err(e) => (
            Desired::not_ready(e.reason(), e.to_string()),
            None,
            Action::await_change(),
        ),
    };
    report(store, ctx, condition, ready_replicas, keys).await?;
    applied.map(|_| action)
}

/// What applying a store's objects gave.
struct Applied {
    credentials: AdminCredentials,
    /// As stored (its status counts ready gateways).
    stateful_set: StatefulSet,
    master_key_fingerprint: String,
    master_key_staged: Option<String>,
    tls: Option<ServingTls>,
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
    // Only a rotation under way needs to know how far the gateways' rollout got.
    let rolled_out = match staged {
        Some(_) => {
            let sets: Api<StatefulSet> =
                Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
            sets.get_opt(&store.name_any())
                .await?
                .is_some_and(|sts| master_key::rolled_out(&sts))
        }
        None => false,
    };
    let tls = super::store::serving_tls(ctx, store).await?;
    let key = master_key::plan(
        existing_key.as_ref(),
        existing.as_ref(),
        recorded,
        master_key::Rotation { staged, rolled_out },
        master_key::generate(),
    )
    .map_err(|refusal| Error::master_key(&refusal, &key_secret_name))?;
    let owned = desired::owned(
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
    apply::apply(&ctx.client, &owned.admin_secret).await?;
    apply::apply(&ctx.client, &owned.config_map).await?;
    apply::apply(&ctx.client, &owned.service).await?;
    apply::apply(&ctx.client, &owned.headless_service).await?;
    apply::apply(&ctx.client, &owned.pod_disruption_budget).await?;
    let stateful_set = apply::apply(&ctx.client, &owned.stateful_set).await?;
    Ok(Applied {
        credentials,
        stateful_set,
        master_key_fingerprint: key.fingerprint(),
        master_key_staged: key.staged(),
        tls,
    })
}

/// `GET /_stowage/ready` on the store's endpoint (or the override), verified with the store's CA
/// when it has TLS.
async fn probe(
    store: &ObjectStore,
    ctx: &Context,
    credentials: &AdminCredentials,
    ca_pem: Option<&str>,
) -> Result<(), String> {
    let url = ctx
        .config
        .store_endpoint_override
        .clone()
        .unwrap_or_else(|| desired::endpoint(store));
    let credentials = Credentials {
        access_key_id: credentials.access_key_id.clone(),
        secret_access_key: credentials.secret_access_key.clone(),
    };
    let client = StoreClient::new(&url, &store.spec.region, credentials)
        .and_then(|c| c.trusting(ca_pem))
        .map_err(|e| e.to_string())?;
    client.ready().await.map_err(|e| e.to_string())
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
    condition: Desired,
    ready_replicas: Option<i32>,
    // The master key's fingerprint and the one being staged, when the key was settled.
    master_keys: Option<(String, Option<String>)>,
) -> Result<(), Error> {
    let current = store.status.as_ref();
    let existing = current.map_or(&[][..], |s| &s.conditions[..]);
    if conditions::transitions(existing, &condition) {
        match condition.reason {
            reason::GATEWAYS_READY | reason::GATEWAYS_NOT_READY => {
                events::normal(&ctx.recorder, store, condition.reason, condition.message.clone()).await
            }
            _ => events::warning(&ctx.recorder, store, condition.reason, condition.message.clone()).await,
        }
    }
    let status = ObjectStoreStatus {
        conditions: conditions::merge(
            existing,
            &[condition],
            store.metadata.generation,
            Timestamp::now(),
        ),
        observed_generation: store.metadata.generation,
        ready_replicas: ready_replicas.or(current.and_then(|s| s.ready_replicas)),
        endpoint: Some(desired::endpoint(store)),
        admin_secret: Some(admin_secret_name(&store.name_any())),
        // Recorded once gateways were given the key; kept while it is refused.
        master_key_fingerprint: match &master_keys {
            Some((fingerprint, _)) => Some(fingerprint.clone()),
            None => current.and_then(|s| s.master_key_fingerprint.clone()),
        },
        master_key_staged: match master_keys {
            Some((_, staged)) => staged,
            None => current.and_then(|s| s.master_key_staged.clone()),
        },
    };
    let api: Api<ObjectStore> = Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    apply::status(&api, store, current, &status).await
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
