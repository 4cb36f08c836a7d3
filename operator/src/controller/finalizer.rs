//! Finalizers: added before the operator creates anything outside Kubernetes, removed once the
//! cleanup is done. Both are merge patches guarded by the object's resourceVersion, so a stale
//! view of the finalizer list is refused rather than overwriting someone else's change.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Error;

pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

fn patch_finalizers<K>(obj: &K, finalizers: Vec<String>) -> serde_json::Value
where
    K: Resource,
{
    json!({
        "metadata": {
            "resourceVersion": obj.resource_version(),
            "finalizers": finalizers,
        }
    })
}

/// Adds `finalizer` unless present.
pub async fn ensure<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(obj, finalizer) {
        return Ok(());
    }
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(finalizer.to_owned());
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch_finalizers(obj, finalizers)),
    )
    .await?;
    Ok(())
}

/// Removes `finalizer` if present: the API server may then delete the object.
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !has(obj, finalizer) {
        return Ok(());
    }
    let finalizers = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch_finalizers(obj, finalizers)),
    )
    .await?;
    Ok(())
}
