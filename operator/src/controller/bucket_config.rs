//! The reconciler shared by BucketPolicy and LifecycleRule: resources that each contribute part of
//! one per-bucket S3 document (the policy, the lifecycle configuration). Reconciling any of them
//! merges every live sibling of the same bucket and puts the result, or deletes the document when
//! none remain; a finalizer makes deletion re-apply the rest.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{Future, Stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::store::{self, Connected};
use super::{Context, Error, apply, error_policy, events, finalizer, measured};
use crate::bucket_name::BucketName;
use crate::conditions::{self, Desired, reason};
use crate::crd::Bucket;
use crate::store_client::{StoreClient, StoreError};

/// A resource kind that contributes to one per-bucket document.
pub trait BucketConfig:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    const FINALIZER: &'static str;
    /// The merged document.
    type Document: Send + Sync;
    type Status: Serialize + PartialEq + Send + Sync;

    /// The name of the Bucket resource it belongs to.
    fn bucket_ref(&self) -> &str;
    fn status(&self) -> Option<&Self::Status>;
    fn conditions(&self) -> &[Condition];
    /// The status to write: conditions, observed generation, where it was applied.
    fn new_status(&self, conditions: Vec<Condition>, applied_to: Option<&AppliedTo>) -> Self::Status;
    /// Merges the live siblings (this one included, unless it is being deleted) into the
    /// document, and names the ones left out with why.
    fn merge(bucket: &BucketName, items: &[Self]) -> (Option<Self::Document>, BTreeMap<String, String>);
    fn put(
        client: &StoreClient,
        bucket: &BucketName,
        document: &Self::Document,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete(
        client: &StoreClient,
        bucket: &BucketName,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where a document was applied: for the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedTo {
    pub bucket_name: String,
    pub store: String,
}

pub fn controller<T: BucketConfig>(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = Result<(ObjectRef<T>, Action), impl std::error::Error>> {
    let (items, writer) = reflector::store();
    Controller::for_stream(super::spec_changes(ctx.watched_api::<T>(), writer), items.clone())
        // The Bucket (being created, moving, Ready) re-triggers what configures it.
        .watches(
            ctx.watched_api::<Bucket>(),
            watcher::Config::default(),
            move |bucket| {
                let namespace = bucket.namespace();
                items
                    .state()
                    .into_iter()
                    .filter(|i| i.namespace() == namespace && i.bucket_ref() == bucket.name_any())
                    .map(|i| ObjectRef::from_obj(i.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<T>, error_policy, ctx)
}

#[tracing::instrument(skip_all, fields(kind = T::KIND, namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile<T: BucketConfig>(obj: Arc<T>, ctx: Arc<Context>) -> Result<Action, Error> {
    measured(T::KIND, obj.as_ref(), &ctx, reconcile_config(obj.as_ref(), &ctx)).await
}

async fn reconcile_config<T: BucketConfig>(obj: &T, ctx: &Context) -> Result<Action, Error> {
    let api: Api<T> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    if obj.meta().deletion_timestamp.is_some() {
        return cleanup(obj, ctx, &api).await;
    }
    finalizer::ensure(&api, obj, T::FINALIZER).await?;
    let applied = apply_merged(obj, ctx, &api).await;
    let condition = match &applied {
        Ok(to) => Desired::ready(
            reason::RECONCILED,
            format!("applied to bucket {} in store {}", to.bucket_name, to.store),
        ),
        Err(e) => Desired::not_ready(e.reason(), e.to_string()),
    };
    report(obj, ctx, &api, condition, applied.as_ref().ok()).await?;
    applied.map(|_| Action::requeue(super::RESYNC))
}

/// The Bucket named by `bucketRef`, once it exists in its store, and a client for the store.
async fn target(obj: &impl BucketConfig, ctx: &Context) -> Result<(BucketName, Connected), Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let buckets: Api<Bucket> = Api::namespaced(ctx.client.clone(), &namespace);
    let bucket = buckets
        .get_opt(obj.bucket_ref())
        .await?
        .ok_or_else(|| Error::BucketNotFound(obj.bucket_ref().to_owned()))?;
    let created = bucket
        .status
        .as_ref()
        .and_then(|s| s.bucket_name.as_deref())
        .filter(|_| bucket.metadata.deletion_timestamp.is_none());
    let name = created
        .and_then(|n| BucketName::parse(n).ok())
        .ok_or_else(|| Error::BucketNotReady(obj.bucket_ref().to_owned()))?;
    let connected = store::connect(ctx, &namespace, &bucket.spec.store_ref.name).await?;
    Ok((name, connected))
}

/// The live siblings: same bucket, not being deleted.
async fn siblings<T: BucketConfig>(obj: &T, api: &Api<T>) -> Result<Vec<T>, Error> {
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|i| i.bucket_ref() == obj.bucket_ref() && i.meta().deletion_timestamp.is_none())
        .collect())
}

/// Puts the merged document of the bucket (or deletes it when empty).
async fn put_merged<T: BucketConfig>(
    name: &BucketName,
    client: &StoreClient,
    items: &[T],
) -> Result<BTreeMap<String, String>, Error> {
    let (document, conflicts) = T::merge(name, items);
    match document {
        Some(document) => T::put(client, name, &document).await?,
        None => T::delete(client, name).await?,
    }
    Ok(conflicts)
}

async fn apply_merged<T: BucketConfig>(obj: &T, ctx: &Context, api: &Api<T>) -> Result<AppliedTo, Error> {
    let (name, connected) = target(obj, ctx).await?;
    let conflicts = put_merged(&name, &connected.client, &siblings(obj, api).await?).await?;
    if let Some(why) = conflicts.get(&obj.name_any()) {
        return Err(Error::Conflict(format!(
            "left out of bucket {name}'s configuration: {why}"
        )));
    }
    Ok(AppliedTo {
        bucket_name: name.to_string(),
        store: connected.store.name_any(),
    })
}

/// Re-applies the siblings without this one, then lets it go. With the Bucket or its store gone,
/// there is nothing to re-apply.
async fn cleanup<T: BucketConfig>(obj: &T, ctx: &Context, api: &Api<T>) -> Result<Action, Error> {
    if !finalizer::has(obj, T::FINALIZER) {
        return Ok(Action::await_change());
    }
    match target(obj, ctx).await {
        Ok((name, connected)) => {
            let rest: Vec<T> = siblings(obj, api)
                .await?
                .into_iter()
                .filter(|i| i.name_any() != obj.name_any())
                .collect();
            put_merged(&name, &connected.client, &rest).await?;
            let note = format!("removed from bucket {name}; {} remaining", rest.len());
            events::normal(&ctx.recorder, obj, "Removed", note).await;
        }
        Err(Error::BucketNotFound(_) | Error::BucketNotReady(_) | Error::StoreNotFound(_)) => {}
        Err(e) => return Err(e),
    }
    finalizer::remove(api, obj, T::FINALIZER).await?;
    Ok(Action::await_change())
}

async fn report<T: BucketConfig>(
    obj: &T,
    ctx: &Context,
    api: &Api<T>,
    condition: Desired,
    applied_to: Option<&AppliedTo>,
) -> Result<(), Error> {
    let existing = obj.conditions();
    if conditions::transitions(existing, &condition) {
        if condition.status {
            events::normal(&ctx.recorder, obj, condition.reason, condition.message.clone()).await;
        } else {
            events::warning(&ctx.recorder, obj, condition.reason, condition.message.clone()).await;
        }
    }
    let merged = conditions::merge(existing, &[condition], obj.meta().generation, Timestamp::now());
    let status = obj.new_status(merged, applied_to);
    apply::status(api, obj, obj.status(), &status).await
}
