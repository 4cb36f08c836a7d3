//! Bucket reconciler: creates and configures the bucket through its store's S3 API, issues the
//! application credentials through the admin API, and on deletion honours `deletionPolicy`.

use std::sync::Arc;
use std::time::Duration;

use futures::{Future, Stream};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::store::{self, Connected};
use super::{Context, Error, apply, error_policy, events, finalizer, measured};
use crate::bucket_name::BucketName;
use crate::conditions::{self, CREDENTIALS_READY, Desired, reason};
use crate::crd::{Bucket, BucketStatus, DeletionPolicy, DeletionProgress, ObjectStore};
use crate::resources::bucket::{self as desired, BucketCall, Observed};
use crate::store_client::StoreClient;
use crate::store_client::s3::MAX_BATCH;

pub const KIND: &str = "Bucket";
pub const FINALIZER: &str = "stowage.dev/bucket";
/// DeleteObjects batches per reconcile while emptying a bucket, between status updates.
pub const BATCHES_PER_RECONCILE: usize = 5;

pub fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = Result<(ObjectRef<Bucket>, Action), impl std::error::Error>> {
    let controller = Controller::new(ctx.watched_api::<Bucket>(), watcher::Config::default());
    let buckets = controller.store();
    controller
        // A store that changes (becomes Ready, say) re-triggers the buckets in it.
        .watches(
            ctx.watched_api::<ObjectStore>(),
            watcher::Config::default(),
            move |store| {
                let namespace = store.namespace();
                buckets
                    .state()
                    .into_iter()
                    .filter(|b| b.namespace() == namespace && b.spec.store_ref.name == store.name_any())
                    .map(|b| ObjectRef::from_obj(b.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
}

#[instrument(skip_all, fields(namespace = bucket.namespace(), name = bucket.name_any()))]
pub async fn reconcile(bucket: Arc<Bucket>, ctx: Arc<Context>) -> Result<Action, Error> {
    measured(KIND, bucket.as_ref(), &ctx, reconcile_bucket(&bucket, &ctx)).await
}

async fn reconcile_bucket(bucket: &Bucket, ctx: &Context) -> Result<Action, Error> {
    let api = api(ctx, bucket);
    if bucket.meta().deletion_timestamp.is_some() {
        return cleanup(bucket, ctx).await;
    }
    finalizer::ensure(&api, bucket, FINALIZER).await?;
    let mut status = bucket.status.clone().unwrap_or_default();

    let configured = configure(bucket, ctx, &mut status).await;
    let credentials = match &configured {
        Ok(connected) => issue_credentials(bucket, ctx, connected, &mut status).await,
        Err(_) => Ok(()),
    };
    let ready = match (&configured, &credentials) {
        (Err(e), _) | (_, Err(e)) => Desired::not_ready(e.reason(), e.to_string()),
        (Ok(c), Ok(())) => Desired::ready(
            reason::RECONCILED,
            format!(
                "bucket {} is configured in store {}",
                c.name, bucket.spec.store_ref.name
            ),
        ),
    };
    let credentials_condition = credentials_condition(bucket, &configured, &credentials);
    report(
        bucket,
        ctx,
        status,
        &[ready]
            .into_iter()
            .chain(credentials_condition)
            .collect::<Vec<_>>(),
    )
    .await?;
    configured?;
    credentials?;
    Ok(Action::requeue(super::RESYNC))
}

fn api(ctx: &Context, bucket: &Bucket) -> Api<Bucket> {
    Api::namespaced(ctx.client.clone(), &bucket.namespace().unwrap_or_default())
}

/// The bucket connected to its store, by name.
struct Configured {
    connected: Connected,
    name: BucketName,
}

impl std::ops::Deref for Configured {
    type Target = Connected;
    fn deref(&self) -> &Connected {
        &self.connected
    }
}

/// Creates the bucket if needed and brings versioning and tags to the spec.
async fn configure(bucket: &Bucket, ctx: &Context, status: &mut BucketStatus) -> Result<Configured, Error> {
    let name = desired::bucket_name(bucket).map_err(|e| Error::InvalidSpec(e.to_string()))?;
    let namespace = bucket.namespace().unwrap_or_default();
    let connected = store::connect(ctx, &namespace, &bucket.spec.store_ref.name).await?;
    ensure_sole_claim(bucket, ctx, &name).await?;
    let observed = observe(&connected.client, &name).await?;
    for call in desired::plan(bucket, &connected.store.spec.region, &observed) {
        execute(&connected.client, &name, &call).await?;
        events::normal(&ctx.recorder, bucket, call_reason(&call), describe(&call, &name)).await;
    }
    status.bucket_name = Some(name.to_string());
    status.endpoint = Some(connected.address.endpoint.clone());
    Ok(Configured { connected, name })
}

/// Two Bucket resources must not manage one bucket (one's `Delete` would empty the other's): the
/// oldest claim wins.
async fn ensure_sole_claim(bucket: &Bucket, ctx: &Context, name: &BucketName) -> Result<(), Error> {
    let all = api(ctx, bucket).list(&ListParams::default()).await?;
    let claim = |b: &Bucket| (b.creation_timestamp(), b.name_any());
    let earlier = all.items.iter().find(|other| {
        other.name_any() != bucket.name_any()
            && other.spec.store_ref == bucket.spec.store_ref
            && desired::bucket_name(other).is_ok_and(|n| &n == name)
            && claim(other) < claim(bucket)
    });
    match earlier {
        Some(other) => Err(Error::Conflict(format!(
            "Bucket {} already manages bucket {name} in store {}",
            other.name_any(),
            bucket.spec.store_ref.name
        ))),
        None => Ok(()),
    }
}

async fn observe(client: &StoreClient, name: &BucketName) -> Result<Observed, Error> {
    if !client.bucket_exists(name).await? {
        return Ok(Observed::default());
    }
    Ok(Observed {
        exists: true,
        versioning: client.get_bucket_versioning(name).await?,
        tags: client.get_bucket_tagging(name).await?,
    })
}

async fn execute(client: &StoreClient, name: &BucketName, call: &BucketCall) -> Result<(), Error> {
    match call {
        BucketCall::Create { location } => client.create_bucket(name, location).await?,
        BucketCall::PutVersioning(v) => client.put_bucket_versioning(name, *v).await?,
        BucketCall::PutTagging(tags) => client.put_bucket_tagging(name, tags).await?,
        BucketCall::DeleteTagging => client.delete_bucket_tagging(name).await?,
    }
    Ok(())
}

fn call_reason(call: &BucketCall) -> &'static str {
    match call {
        BucketCall::Create { .. } => "BucketCreated",
        BucketCall::PutVersioning(_) => "VersioningConfigured",
        BucketCall::PutTagging(_) | BucketCall::DeleteTagging => "TagsConfigured",
    }
}

fn describe(call: &BucketCall, name: &BucketName) -> String {
    match call {
        BucketCall::Create { location } => format!("created bucket {name} in region {location}"),
        BucketCall::PutVersioning(v) => format!("set versioning of {name} to {}", v.as_str()),
        BucketCall::PutTagging(tags) => format!("set {} tags on {name}", tags.len()),
        BucketCall::DeleteTagging => format!("removed the tags of {name}"),
    }
}

/// Keeps exactly one key, scoped to the bucket, in the credentials Secret; or, when the spec asks
/// for none, revokes what was issued.
async fn issue_credentials(
    bucket: &Bucket,
    ctx: &Context,
    configured: &Configured,
    status: &mut BucketStatus,
) -> Result<(), Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &bucket.namespace().unwrap_or_default());
    let wanted = desired::credentials_secret_name(bucket);
    if let Some(old) = status
        .credentials_secret
        .clone()
        .filter(|old| Some(old) != wanted.as_ref())
    {
        secrets
            .delete(&old, &DeleteParams::default())
            .await
            .map(drop)
            .or_else(ignore_not_found)?;
        status.credentials_secret = None;
    }
    let (Some(spec), Some(secret_name)) = (&bucket.spec.credentials, wanted) else {
        if status.access_key_id.take().is_some() {
            configured.client.delete_user(&desired::user_name(bucket)).await?;
        }
        return Ok(());
    };
    let client = &configured.client;
    let user = desired::user_name(bucket);
    let scope = desired::key_scope(&configured.name, spec.access);
    let mut user_keys = match client.list_users().await?.into_iter().find(|u| u.user == user) {
        Some(existing) => existing.access_keys,
        None => Vec::new(),
    };
    if user_keys.is_empty() {
        let org = client.whoami().await?.org;
        if let Some(initial) = client.create_user(&user, &org).await? {
            // Unscoped: revoked below once the scoped key is in place.
            user_keys.push(crate::store_client::admin::AccessKey {
                access_key_id: initial.access_key_id,
                status: None,
                scope: None,
            });
        }
    }
    let existing = secrets.get_opt(&secret_name).await?;
    let key = match desired::reusable_key(existing.as_ref(), &user_keys, &scope) {
        Some(key) => key,
        None => {
            let key = client.create_key(&user, &scope).await?;
            let note = format!(
                "issued key {} ({}) in Secret {secret_name}",
                key.access_key_id,
                spec.access.as_str()
            );
            events::normal(&ctx.recorder, bucket, "CredentialsIssued", note).await;
            key
        }
    };
    let secret =
        desired::credentials_secret(bucket, &secret_name, &configured.name, &configured.address, &key);
    apply::apply(&ctx.client, &secret).await?;
    for stale in desired::stale_keys(&user_keys, &key.access_key_id) {
        client.delete_key(&user, &stale).await?;
    }
    status.credentials_secret = Some(secret_name);
    status.access_key_id = Some(key.access_key_id);
    Ok(())
}

fn ignore_not_found(e: kube::Error) -> Result<(), kube::Error> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e),
    }
}

fn credentials_condition(
    bucket: &Bucket,
    configured: &Result<Configured, Error>,
    credentials: &Result<(), Error>,
) -> Option<Desired> {
    let desired = match (&bucket.spec.credentials, configured, credentials) {
        (None, _, _) => Desired::ready(reason::NOT_REQUESTED, "spec.credentials is not set"),
        (Some(_), Err(_), _) => return None,
        (Some(_), Ok(_), Err(e)) => Desired::not_ready(e.reason(), e.to_string()),
        (Some(spec), Ok(c), Ok(())) => Desired::ready(
            reason::RECONCILED,
            format!(
                "{} key for bucket {} in Secret {}",
                spec.access.as_str(),
                c.name,
                desired::credentials_secret_name(bucket).unwrap_or_default()
            ),
        ),
    };
    Some(desired.with_type(CREDENTIALS_READY))
}

async fn report(
    bucket: &Bucket,
    ctx: &Context,
    mut status: BucketStatus,
    desired: &[Desired],
) -> Result<(), Error> {
    let current = bucket.status.as_ref();
    let existing = current.map_or(&[][..], |s| &s.conditions[..]);
    for condition in desired.iter().filter(|d| conditions::transitions(existing, d)) {
        if condition.status {
            events::normal(&ctx.recorder, bucket, condition.reason, condition.message.clone()).await;
        } else {
            events::warning(&ctx.recorder, bucket, condition.reason, condition.message.clone()).await;
        }
    }
    status.conditions = conditions::merge(existing, desired, bucket.metadata.generation, Timestamp::now());
    status.observed_generation = bucket.metadata.generation;
    apply::status(&api(ctx, bucket), bucket, current, &status).await
}

/// What deletion did this round.
enum Cleanup {
    /// Nothing left to do: the finalizer goes.
    Done,
    /// A bucket being emptied: more batches to go.
    Emptying,
}

async fn cleanup(bucket: &Bucket, ctx: &Context) -> Result<Action, Error> {
    if !finalizer::has(bucket, FINALIZER) {
        return Ok(Action::await_change());
    }
    let namespace = bucket.namespace().unwrap_or_default();
    let mut status = bucket.status.clone().unwrap_or_default();
    let outcome = match store::connect_for_cleanup(ctx, &namespace, &bucket.spec.store_ref.name).await? {
        None => {
            let note = format!(
                "store {} is gone; nothing to clean up",
                bucket.spec.store_ref.name
            );
            events::normal(&ctx.recorder, bucket, "StoreGone", note).await;
            Ok(Cleanup::Done)
        }
        Some(connected) => clean_store(bucket, ctx, &connected, &mut status).await,
    };
    match outcome {
        Ok(Cleanup::Done) => {
            finalizer::remove(&api(ctx, bucket), bucket, FINALIZER).await?;
            Ok(Action::await_change())
        }
        Ok(Cleanup::Emptying) => Ok(Action::requeue(Duration::from_secs(1))),
        Err(e) => {
            report(
                bucket,
                ctx,
                status,
                &[Desired::not_ready(e.reason(), e.to_string())],
            )
            .await?;
            Err(e)
        }
    }
}

/// Revokes the bucket's credentials and applies the deletion policy.
async fn clean_store(
    bucket: &Bucket,
    ctx: &Context,
    connected: &Connected,
    status: &mut BucketStatus,
) -> Result<Cleanup, Error> {
    let issued = bucket
        .status
        .as_ref()
        .and_then(|s| s.access_key_id.as_ref())
        .is_some();
    if issued {
        connected.client.delete_user(&desired::user_name(bucket)).await?;
    }
    let name = desired::bucket_name(bucket).map_err(|e| Error::InvalidSpec(e.to_string()))?;
    match bucket.spec.deletion_policy {
        DeletionPolicy::Retain => {
            let note = format!("deletionPolicy Retain: bucket {name} and its objects are kept");
            events::normal(&ctx.recorder, bucket, "Retained", note).await;
            Ok(Cleanup::Done)
        }
        DeletionPolicy::Delete => empty_and_delete(bucket, ctx, &connected.client, &name, status).await,
    }
}

/// Deletes the bucket if empty; with `forceDelete`, empties it a few batches at a time first,
/// reporting progress in `status.deletion`.
async fn empty_and_delete(
    bucket: &Bucket,
    ctx: &Context,
    client: &StoreClient,
    name: &BucketName,
    status: &mut BucketStatus,
) -> Result<Cleanup, Error> {
    if !client.bucket_exists(name).await? {
        return Ok(Cleanup::Done);
    }
    let mut progress = status.deletion.clone().unwrap_or_default();
    for _ in 0..BATCHES_PER_RECONCILE {
        let batch = client.list_object_versions(name, MAX_BATCH).await?;
        if batch.is_empty() {
            client.delete_bucket(name).await?;
            let note = format!(
                "deleted bucket {name} ({} objects removed first)",
                progress.objects_deleted
            );
            events::normal(&ctx.recorder, bucket, "BucketDeleted", note).await;
            return Ok(Cleanup::Done);
        }
        if !bucket.spec.force_delete {
            return Err(Error::DeletionBlocked(name.to_string()));
        }
        let outcome = client.delete_objects(name, &batch).await?;
        if let Some((key, code, message)) = outcome.errors.first() {
            return Err(Error::StoreRejected(crate::store_client::StoreError::Rejected {
                status: 200,
                code: code.clone(),
                message: format!("deleting {key:?}: {message}"),
            }));
        }
        progress = DeletionProgress {
            objects_deleted: progress.objects_deleted + i64::try_from(outcome.deleted).unwrap_or(i64::MAX),
            batches: progress.batches + 1,
        };
        status.deletion = Some(progress.clone());
        let message = format!(
            "emptying bucket {name}: {} objects deleted in {} batches",
            progress.objects_deleted, progress.batches
        );
        report(
            bucket,
            ctx,
            status.clone(),
            &[Desired::not_ready(reason::DELETING, message)],
        )
        .await?;
    }
    Ok(Cleanup::Emptying)
}
