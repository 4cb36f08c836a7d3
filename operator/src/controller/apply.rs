//! Server-side apply with the operator's field manager: owned objects, and the status
//! subresource of the operator's own resources. Applying the same desired state twice changes
//! nothing, which is what makes every reconcile idempotent.

use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Error;
use crate::resources::MANAGER;

fn params() -> PatchParams {
    // Force: the operator owns these fields; a conflicting manager is overruled, not obeyed.
    PatchParams::apply(MANAGER).force()
}

/// Applies a namespaced object (it carries its own apiVersion, kind, name and namespace) and
/// returns it as the API server stored it.
pub async fn apply<K>(client: &Client, obj: &K) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    Ok(api.patch(&obj.name_any(), &params(), &Patch::Apply(obj)).await?)
}

/// [`apply`] of an object built from `read` (credentials kept from it): over that very object,
/// its uid the precondition, or created when nothing was read. One deleted after it was read (to
/// rotate what it holds) must not come back with its old content: the API server refuses the
/// apply (409), and the retry reads again.
pub async fn apply_over<K>(client: &Client, obj: &K, read: Option<&K>) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let mut obj = obj.clone();
    obj.meta_mut().uid = read.and_then(|r| r.meta().uid.clone());
    apply(client, &obj).await
}

/// Applies `status` to `obj`'s status subresource, unless it already is exactly that.
pub async fn status<K, S>(api: &Api<K>, obj: &K, current: Option<&S>, status: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&obj.name_any(), &params(), &Patch::Apply(&patch))
        .await?;
    Ok(())
}
