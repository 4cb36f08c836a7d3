//! Bucket reconciler: creates and configures the bucket through its store's S3 API, issues the
//! application credentials through the admin API, and on deletion honours `deletionPolicy`.

use std::sync::Arc;
use std::time::Duration;

use futures::{Future, Stream};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams};
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
use crate::store_client::admin::AccessKey;
use crate::store_client::s3::{MAX_BATCH, ObjectVersion, Upload};
use crate::store_client::{Credentials, StoreClient, StoreError};

pub const KIND: &str = "Bucket";
pub const FINALIZER: &str = "stowage.dev/bucket";
/// DeleteObjects batches per reconcile while emptying a bucket, between status updates.
pub const BATCHES_PER_RECONCILE: usize = 5;

pub fn controller(
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Stream<Item = Result<(ObjectRef<Bucket>, Action), impl std::error::Error>> {
    let writer = ctx
        .take_bucket_writer()
        .expect("one Bucket controller per context");
    let buckets = ctx.buckets.clone();
    Controller::for_stream(
        super::spec_changes(ctx.watched_api::<Bucket>(), writer),
        buckets.clone(),
    )
    // A deleted or edited credentials Secret is re-issued at once, not at the next resync.
    .owns(
        ctx.watched_api::<Secret>(),
        watcher::Config::default().labels(super::OWNED_SELECTOR),
    )
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
    let conditions = conditions_of(bucket, &configured, &credentials);
    report(bucket, ctx, bucket.status.as_ref(), status, &conditions).await?;
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
    if let Err(lost) = ensure_sole_claim(bucket, ctx, &name) {
        status.claimed_by = None;
        return Err(lost);
    }
    status.claimed_by = bucket.uid();
    let observed = observe(&connected.client, &name).await?;
    for call in desired::plan(bucket, &connected.store.spec.region, &observed) {
        execute(&connected, &name, &call).await?;
        events::normal(&ctx.recorder, bucket, call_reason(&call), describe(&call, &name)).await;
    }
    status.bucket_name = Some(name.to_string());
    status.endpoint = Some(connected.address.endpoint.clone());
    Ok(Configured { connected, name })
}

/// Two Bucket resources must not manage one bucket (one's `Delete` would empty the other's): the
/// oldest claim wins. The claims are read from the controller's cache of Buckets.
fn ensure_sole_claim(bucket: &Bucket, ctx: &Context, name: &BucketName) -> Result<(), Error> {
    let namespace = bucket.namespace();
    let claim = |b: &Bucket| (b.creation_timestamp(), b.name_any());
    let all = ctx.buckets.state();
    let earlier = all.iter().find(|other| {
        other.namespace() == namespace
            && other.name_any() != bucket.name_any()
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

async fn execute(connected: &Connected, name: &BucketName, call: &BucketCall) -> Result<(), Error> {
    let client = &connected.client;
    match call {
        BucketCall::Create { location } => create_in_tenant_org(connected, name, location).await?,
        BucketCall::PutVersioning(v) => client.put_bucket_versioning(name, *v).await?,
        BucketCall::PutTagging(tags) => client.put_bucket_tagging(name, tags).await?,
        BucketCall::DeleteTagging => client.delete_bucket_tagging(name).await?,
    }
    Ok(())
}

/// Creates the bucket with a short-lived key of the store's tenant org, so that the tenant org
/// owns it and the bucket's application users (tenant members, never root-org members, who may
/// use the admin API) reach it without a policy. Everything else the operator does as root. A
/// gateway without identities (no admin API) gets the bucket created by root.
async fn create_in_tenant_org(
    connected: &Connected,
    name: &BucketName,
    location: &str,
) -> Result<(), StoreError> {
    let admin = &connected.client;
    let namespace = connected.store.namespace().unwrap_or_default();
    let store = connected.store.name_any();
    let user = desired::creator_user(&namespace, &store);
    let key = match admin
        .create_user(&user, &desired::tenant_org(&namespace, &store))
        .await
    {
        Ok(Some(key)) => key,
        Ok(None) => admin.create_key(&user, None).await?,
        Err(StoreError::AdminApiUnavailable { .. }) => return admin.create_bucket(name, location).await,
        Err(e) => return Err(e),
    };
    let creator = admin.with_credentials(Credentials {
        access_key_id: key.access_key_id.clone(),
        secret_access_key: key.secret_access_key,
    });
    let created = creator.create_bucket(name, location).await;
    admin.delete_key(&user, &key.access_key_id).await?;
    created
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
    let org = desired::tenant_org(
        &bucket.namespace().unwrap_or_default(),
        &bucket.spec.store_ref.name,
    );
    let user_keys = user_keys(client, &user, &org).await?;
    let existing = secrets.get_opt(&secret_name).await?;
    let (key, kept_from) = match desired::reusable_key(existing.as_ref(), &user_keys, &scope) {
        Some(key) => (key, existing.as_ref()),
        None => {
            let key = client.create_key(&user, Some(&scope)).await?;
            let note = format!(
                "issued key {} ({}) in Secret {secret_name}",
                key.access_key_id,
                spec.access.as_str()
            );
            events::normal(&ctx.recorder, bucket, "CredentialsIssued", note).await;
            (key, None)
        }
    };
    let secret =
        desired::credentials_secret(bucket, &secret_name, &configured.name, &configured.address, &key);
    apply::apply_over(&ctx.client, &secret, kept_from).await?;
    for stale in desired::stale_keys(&user_keys, &key.access_key_id) {
        client.delete_key(&user, &stale).await?;
    }
    status.credentials_secret = Some(secret_name);
    status.access_key_id = Some(key.access_key_id);
    Ok(())
}

/// The keys of the bucket's application user, creating the user (in the tenant org) if needed.
/// A new user comes with an unscoped key; it is listed so that it gets revoked as stale.
async fn user_keys(client: &StoreClient, user: &str, org: &str) -> Result<Vec<AccessKey>, Error> {
    if let Some(existing) = client.list_users().await?.into_iter().find(|u| u.user == user)
        && !existing.access_keys.is_empty()
    {
        return Ok(existing.access_keys);
    }
    Ok(client
        .create_user(user, org)
        .await?
        .map(|initial| AccessKey {
            access_key_id: initial.access_key_id,
            status: None,
            scope: None,
        })
        .into_iter()
        .collect())
}

fn ignore_not_found(e: kube::Error) -> Result<(), kube::Error> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e),
    }
}

/// Ready (everything requested is done), and CredentialsReady when credentials are requested.
fn conditions_of(
    bucket: &Bucket,
    configured: &Result<Configured, Error>,
    credentials: &Result<(), Error>,
) -> Vec<Desired> {
    let ready = match (configured, credentials) {
        (Err(e), _) | (_, Err(e)) => Desired::not_ready(e.reason(), e.to_string()),
        (Ok(c), Ok(())) => Desired::ready(
            reason::RECONCILED,
            format!(
                "bucket {} is configured in store {}",
                c.name, bucket.spec.store_ref.name
            ),
        ),
    };
    [ready]
        .into_iter()
        .chain(credentials_condition(bucket, configured, credentials))
        .collect()
}

fn credentials_condition(
    bucket: &Bucket,
    configured: &Result<Configured, Error>,
    credentials: &Result<(), Error>,
) -> Option<Desired> {
    let desired = match (&bucket.spec.credentials, configured, credentials) {
        (None, _, _) | (Some(_), Err(_), _) => return None,
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

/// Writes `status` with the `desired` conditions merged into those of `current` (the status as
/// last written), publishing an Event when Ready changes; returns what was written.
async fn report(
    bucket: &Bucket,
    ctx: &Context,
    current: Option<&BucketStatus>,
    mut status: BucketStatus,
    desired: &[Desired],
) -> Result<BucketStatus, Error> {
    let existing = current.map_or(&[][..], |s| &s.conditions[..]);
    // One Event per change of the Ready condition (which says what any other condition says).
    for condition in desired
        .iter()
        .filter(|d| d.type_ == conditions::READY && conditions::transitions(existing, d))
    {
        // Progress is news, not trouble.
        if condition.status || condition.reason == reason::DELETING {
            events::normal(&ctx.recorder, bucket, condition.reason, condition.message.clone()).await;
        } else {
            events::warning(&ctx.recorder, bucket, condition.reason, condition.message.clone()).await;
        }
    }
    status.conditions = conditions::merge(existing, desired, bucket.metadata.generation, Timestamp::now());
    if bucket.spec.credentials.is_none() {
        // Nothing requested, nothing to report (and a condition from before is stale).
        status.conditions.retain(|c| c.type_ != CREDENTIALS_READY);
    }
    status.observed_generation = bucket.metadata.generation;
    apply::status(&api(ctx, bucket), bucket, current, &status).await?;
    Ok(status)
}

/// Deletes one batch of versions (or, once none are left, aborts a batch of uploads) and counts it.
async fn delete_batch(
    client: &StoreClient,
    name: &BucketName,
    versions: &[ObjectVersion],
    uploads: &[Upload],
    progress: DeletionProgress,
) -> Result<DeletionProgress, Error> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut next = DeletionProgress {
        batches: progress.batches + 1,
        ..progress
    };
    if !versions.is_empty() {
        let outcome = client.delete_objects(name, versions).await?;
        if let Some((key, code, message)) = outcome.errors.first() {
            return Err(Error::StoreRejected(StoreError::Rejected {
                status: 200,
                code: code.clone(),
                message: format!("deleting {key:?}: {message}"),
            }));
        }
        next.objects_deleted += count(outcome.deleted);
    }
    for upload in uploads {
        client.abort_multipart_upload(name, upload).await?;
    }
    next.uploads_aborted += count(uploads.len());
    Ok(next)
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
                bucket.status.as_ref(),
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
    let claimed = bucket.status.as_ref().and_then(|s| s.claimed_by.as_ref()) == bucket.uid().as_ref();
    if bucket.spec.deletion_policy == DeletionPolicy::Delete
        && !(claimed && ensure_sole_claim(bucket, ctx, &name).is_ok())
    {
        // Checked again here, not only when configuring: a Bucket that lost the claim (it shows
        // Conflict) must never delete, let alone empty, the winner's bucket.
        let note = format!(
            "bucket {name} is managed by another Bucket resource (this one never held the claim): it is kept"
        );
        events::warning(&ctx.recorder, bucket, "NotClaimed", note).await;
        return Ok(Cleanup::Done);
    }
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
    // Each batch's report compares with the one before, so progress is one Event, not one per batch.
    let mut reported = bucket.status.clone();
    for _ in 0..BATCHES_PER_RECONCILE {
        let versions = client.list_object_versions(name, MAX_BATCH).await?;
        // Incomplete multipart uploads also keep a bucket from being deleted.
        let uploads = match versions.is_empty() {
            true => client.list_multipart_uploads(name, MAX_BATCH).await?,
            false => Vec::new(),
        };
        if versions.is_empty() && uploads.is_empty() {
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
        progress = delete_batch(client, name, &versions, &uploads, progress).await?;
        status.deletion = Some(progress.clone());
        let message = format!(
            "emptying bucket {name}: {} objects deleted and {} uploads aborted in {} batches",
            progress.objects_deleted, progress.uploads_aborted, progress.batches
        );
        let desired = [Desired::not_ready(reason::DELETING, message)];
        *status = report(bucket, ctx, reported.as_ref(), status.clone(), &desired).await?;
        reported = Some(status.clone());
    }
    Ok(Cleanup::Emptying)
}
