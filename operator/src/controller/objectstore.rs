//! ObjectStore reconciler: applies the gateways' StatefulSet, Services, ConfigMap, admin Secret and
//! PodDisruptionBudget, then asks the S3 endpoint whether it is ready.

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
    let (condition, ready_replicas, action) = match &applied {
        Ok((credentials, stateful_set, tls)) => {
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
    report(store, ctx, condition, ready_replicas).await?;
    applied.map(|_| action)
}

/// Applies everything the store owns; returns its admin credentials and the StatefulSet as stored.
async fn apply_owned(
    store: &ObjectStore,
    ctx: &Context,
) -> Result<(AdminCredentials, StatefulSet, Option<ServingTls>), Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    let existing = secrets.get_opt(&admin_secret_name(&store.name_any())).await?;
    let tls = super::store::serving_tls(ctx, store).await?;
    let owned = desired::owned(
        store,
        &ctx.config.gateway_image,
        existing.as_ref(),
        AdminSecretData::generate(),
        tls.as_ref(),
    );
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
    Ok((credentials, stateful_set, tls))
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
