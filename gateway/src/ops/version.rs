//! The versions of a key, and the only code that writes or removes them.
//!
//! Every version (object or delete marker) is a record at `V(space, key, order)`, newest
//! first (the space is the bucket's, `keys::Space`); the current one is copied at
//! `O(space, key)` so reading the latest is one point
//! read, however many versions exist. Blob references belong to the `V` records. A bucket whose
//! versioning was never set keeps exactly one version per key, the `null` one, so listing
//! versions is one scan in every bucket.

use s3s::{S3Error, S3ErrorCode, S3Result};

use super::{manifest, refs};
use crate::blob::BlobId;
use crate::errors::from_meta;
use crate::meta::MetaTxn;
use crate::meta::keys::{self, Space};
use crate::model::{self, BucketRecord, Nanos, ObjectHead, VersionOrder, VersioningState};

/// A version named by a request's `versionId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionRef {
    Null,
    Order(VersionOrder),
}

impl VersionRef {
    pub fn parse(version_id: &str) -> S3Result<Self> {
        if version_id == "null" {
            return Ok(Self::Null);
        }
        VersionOrder::parse(version_id).map(Self::Order).ok_or_else(|| {
            S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid version id specified")
        })
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Null => "null",
            Self::Order(o) => o.as_str(),
        }
    }
}

/// What a DELETE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// The version removed or the delete marker created (`null` included), when the bucket is
    /// versioned or a version was named.
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

fn id_of(head: &ObjectHead) -> String {
    head.version_id.clone().unwrap_or_else(|| "null".to_owned())
}

/// The key's current record (possibly a delete marker), with its segments and parts.
pub async fn current(txn: &mut dyn MetaTxn, space: &Space, key: &str) -> S3Result<Option<ObjectHead>> {
    let head = current_head(txn, space, key).await?;
    loaded(txn, head).await
}

/// The key's current record as stored: an object of many parts without its segments and parts
/// (`manifest`), for reads that load only what they serve.
pub async fn current_head(txn: &mut dyn MetaTxn, space: &Space, key: &str) -> S3Result<Option<ObjectHead>> {
    let k = keys::object(space, key);
    match txn.get(&k).await.map_err(from_meta)? {
        Some(raw) => Ok(Some(model::decode(&k, &raw).map_err(from_meta)?)),
        None => Ok(None),
    }
}

async fn loaded(txn: &mut dyn MetaTxn, head: Option<ObjectHead>) -> S3Result<Option<ObjectHead>> {
    match head {
        Some(mut head) => {
            manifest::load(txn, &mut head).await?;
            Ok(Some(head))
        }
        None => Ok(None),
    }
}

/// The current record if it is an object (a delete marker means "no object").
pub fn live(head: Option<ObjectHead>) -> Option<ObjectHead> {
    head.filter(|h| !h.delete_marker)
}

async fn at(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    order: &VersionOrder,
) -> S3Result<Option<ObjectHead>> {
    let head = at_head(txn, space, key, order).await?;
    loaded(txn, head).await
}

async fn at_head(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    order: &VersionOrder,
) -> S3Result<Option<ObjectHead>> {
    let k = keys::version(space, key, order.as_bytes());
    match txn.get(&k).await.map_err(from_meta)? {
        Some(raw) => Ok(Some(model::decode(&k, &raw).map_err(from_meta)?)),
        None => Ok(None),
    }
}

async fn resolve(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    v: &VersionRef,
) -> S3Result<Option<VersionOrder>> {
    Ok(match v {
        VersionRef::Order(o) => Some(o.clone()),
        VersionRef::Null => current(txn, space, key).await?.and_then(|h| h.null_order),
    })
}

/// One named version of a key, if it exists, with its segments and parts.
pub async fn load(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    v: &VersionRef,
) -> S3Result<Option<ObjectHead>> {
    match resolve(txn, space, key, v).await? {
        Some(order) => at(txn, space, key, &order).await,
        None => Ok(None),
    }
}

/// [`load`] as stored (see [`current_head`]).
pub async fn load_head(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    v: &VersionRef,
) -> S3Result<Option<ObjectHead>> {
    match resolve(txn, space, key, v).await? {
        Some(order) => at_head(txn, space, key, &order).await,
        None => Ok(None),
    }
}

/// Removes one version record and its blob references; returns it and the blobs freed.
async fn drop_version(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    order: &VersionOrder,
) -> S3Result<(Option<ObjectHead>, Vec<BlobId>)> {
    let Some(version) = at(txn, space, key, order).await? else {
        return Ok((None, Vec::new()));
    };
    txn.delete(&keys::version(space, key, order.as_bytes()))
        .await
        .map_err(from_meta)?;
    let mut freed = Vec::new();
    for seg in &version.segments {
        if refs::release(txn, &seg.blob, &seg.holders)
            .await
            .map_err(from_meta)?
        {
            freed.push(seg.blob.clone());
        }
    }
    manifest::delete(txn, &version).await?;
    Ok((Some(version), freed))
}

async fn put_current(txn: &mut dyn MetaTxn, space: &Space, key: &str, head: &ObjectHead) -> S3Result<()> {
    txn.put(&keys::object(space, key), &model::encode_head(head))
        .await
        .map_err(from_meta)
}

/// Whether a new version's blob references are to be counted now, or were counted already and
/// pass to it (the parts of a completed upload: their records' references become the object's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewRefs {
    Add,
    Held,
}

/// Writes `new` as the newest version of `key`, as the bucket's versioning state says: a new
/// version id when enabled; otherwise it becomes the `null` version, replacing the previous one.
/// `old` is the key's current record, read in this transaction. Returns the record now current
/// and the blobs that lost their last reference.
pub async fn publish(
    txn: &mut dyn MetaTxn,
    bucket: &BucketRecord,
    key: &str,
    old: Option<&ObjectHead>,
    new: ObjectHead,
    now: Nanos,
) -> S3Result<(ObjectHead, Vec<BlobId>)> {
    publish_with(txn, bucket, key, old, new, now, NewRefs::Add).await
}

/// [`publish`], saying whether the new version's blob references are already counted.
pub async fn publish_with(
    txn: &mut dyn MetaTxn,
    bucket: &BucketRecord,
    key: &str,
    old: Option<&ObjectHead>,
    mut new: ObjectHead,
    now: Nanos,
    new_refs: NewRefs,
) -> S3Result<(ObjectHead, Vec<BlobId>)> {
    new.order = match old {
        Some(old) => VersionOrder::new(now).newer_than(&old.order),
        None => VersionOrder::new(now),
    };
    new.null_order = None;
    let previous_null = old.and_then(|o| o.null_order.clone());
    let null_order = match bucket.versioning {
        Some(VersioningState::Enabled) => {
            new.version_id = Some(new.order.as_str().to_owned());
            previous_null.clone()
        }
        Some(VersioningState::Suspended) | None => {
            new.version_id = None;
            Some(new.order.clone())
        }
    };
    let space = bucket.space();
    manifest::spill(txn, &mut new).await?;
    // References first: the new version may share blobs with the one it replaces.
    txn.put(
        &keys::version(&space, key, new.order.as_bytes()),
        &model::encode_head(&new),
    )
    .await
    .map_err(from_meta)?;
    if new_refs == NewRefs::Add {
        for seg in &new.segments {
            refs::add(txn, refs::NewRef::of(seg)).await.map_err(from_meta)?;
        }
    }
    let mut freed = Vec::new();
    if bucket.versioning != Some(VersioningState::Enabled)
        && let Some(n) = &previous_null
    {
        freed = drop_version(txn, &space, key, n).await?.1;
    }
    let mut current = new;
    current.null_order = null_order;
    put_current(txn, &space, key, &current).await?;
    Ok((current, freed))
}

/// DELETE without a version id: removes the object in a bucket that never versioned, adds a
/// delete marker in one that does.
pub async fn delete_current(
    txn: &mut dyn MetaTxn,
    bucket: &BucketRecord,
    key: &str,
    old: Option<&ObjectHead>,
    now: Nanos,
) -> S3Result<(Deleted, Vec<BlobId>)> {
    if bucket.versioning.is_none() {
        let Some(old) = old else {
            return Ok((Deleted::default(), Vec::new()));
        };
        let space = bucket.space();
        let (_, freed) = drop_version(txn, &space, key, &old.order).await?;
        txn.delete(&keys::object(&space, key)).await.map_err(from_meta)?;
        return Ok((Deleted::default(), freed));
    }
    let marker = ObjectHead::delete_marker(now);
    let (current, freed) = publish(txn, bucket, key, old, marker, now).await?;
    Ok((
        Deleted {
            version_id: Some(id_of(&current)),
            delete_marker: true,
        },
        freed,
    ))
}

/// DELETE with a version id: removes exactly that version (or marker); the next newest becomes
/// current when it was the latest. Deleting a version that does not exist succeeds.
pub async fn delete_version(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    v: &VersionRef,
) -> S3Result<(Deleted, Vec<BlobId>)> {
    let mut deleted = Deleted {
        version_id: Some(v.id().to_owned()),
        delete_marker: false,
    };
    let current = current(txn, space, key).await?;
    let order = match v {
        VersionRef::Order(o) => Some(o.clone()),
        VersionRef::Null => current.as_ref().and_then(|h| h.null_order.clone()),
    };
    let Some(order) = order else {
        return Ok((deleted, Vec::new()));
    };
    let (removed, freed) = drop_version(txn, space, key, &order).await?;
    let Some(removed) = removed else {
        return Ok((deleted, freed));
    };
    deleted.delete_marker = removed.delete_marker;
    if let Some(current) = current {
        let null_order = current.null_order.clone().filter(|n| *n != order);
        if current.order == order {
            let prefix = keys::version(space, key, &[]);
            let next = txn
                .scan(&prefix, &keys::prefix_end(&prefix), 1)
                .await
                .map_err(from_meta)?;
            match next.first() {
                Some((k, raw)) => {
                    let mut promoted: ObjectHead = model::decode(k, raw).map_err(from_meta)?;
                    promoted.null_order = null_order;
                    put_current(txn, space, key, &promoted).await?;
                }
                None => txn.delete(&keys::object(space, key)).await.map_err(from_meta)?,
            }
        } else if current.null_order.as_ref() == Some(&order) {
            put_current(
                txn,
                space,
                key,
                &ObjectHead {
                    null_order,
                    ..current
                },
            )
            .await?;
        }
    }
    Ok((deleted, freed))
}

/// Removes the key's only (`null`) version outright: a rename's source in a bucket that never
/// versioned. The caller has already referenced its blobs elsewhere.
pub async fn remove_unversioned(
    txn: &mut dyn MetaTxn,
    space: &Space,
    key: &str,
    current: &ObjectHead,
) -> S3Result<Vec<BlobId>> {
    let (_, freed) = drop_version(txn, space, key, &current.order).await?;
    txn.delete(&keys::object(space, key)).await.map_err(from_meta)?;
    Ok(freed)
}
