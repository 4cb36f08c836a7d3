//! From a `storeRef` to a signed client for that store: the ObjectStore must exist and be Ready,
//! and its admin Secret must hold the root credentials.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::{Context, Error};
use crate::crd::{ObjectStore, ready_status};
use crate::resources::bucket::StoreAddress;
use crate::resources::object_store::{AdminCredentials, admin_secret_name, endpoint};
use crate::resources::store_tls::ServingTls;
use crate::store_client::{Credentials, StoreClient};

/// A store the operator can talk to.
#[derive(Debug)]
pub struct Connected {
    pub store: ObjectStore,
    pub client: StoreClient,
    /// Where applications reach it (the credentials Secret says this, not the override).
    pub address: StoreAddress,
}

/// Connects to a Ready store.
pub async fn connect(ctx: &Context, namespace: &str, name: &str) -> Result<Connected, Error> {
    let store = get(ctx, namespace, name)
        .await?
        .ok_or_else(|| Error::StoreNotFound(name.to_owned()))?;
    if ready_status(store.status.as_ref().map_or(&[], |s| &s.conditions[..])) != Some("True") {
        return Err(Error::StoreNotReady(name.to_owned()));
    }
    client_for(ctx, store).await
}

/// For cleanup: `None` if the store is gone or going (nothing left to clean up in it); a store
/// that is merely not Ready still gets a client, since its gateways may well answer.
pub async fn connect_for_cleanup(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<Connected>, Error> {
    match get(ctx, namespace, name).await? {
        Some(store) if store.metadata.deletion_timestamp.is_none() => client_for(ctx, store).await.map(Some),
        _ => Ok(None),
    }
}

async fn get(ctx: &Context, namespace: &str, name: &str) -> Result<Option<ObjectStore>, Error> {
    let stores: Api<ObjectStore> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(stores.get_opt(name).await?)
}

async fn client_for(ctx: &Context, store: ObjectStore) -> Result<Connected, Error> {
    let namespace = store.metadata.namespace.clone().unwrap_or_default();
    let name = store.metadata.name.clone().unwrap_or_default();
    let secret_name = admin_secret_name(&name);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let credentials = secrets
        .get_opt(&secret_name)
        .await?
        .as_ref()
        .and_then(AdminCredentials::from_secret)
        .ok_or(Error::AdminSecretMissing(secret_name))?;
    let url = ctx
        .config
        .store_endpoint_override
        .clone()
        .unwrap_or_else(|| endpoint(&store));
    let tls = serving_tls(ctx, &store).await?;
    let ca_pem = tls.and_then(|t| t.ca_pem);
    let client = StoreClient::new(
        &url,
        &store.spec.region,
        Credentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
        },
    )?
    .trusting(ca_pem.as_deref())?;
    Ok(Connected {
        address: StoreAddress::of(&store, ca_pem),
        client,
        store,
    })
}

/// What the store's TLS Secret holds, for a store with `spec.tls`; an error names what is wrong
/// with it (missing, or without a certificate or key).
pub async fn serving_tls(ctx: &Context, store: &ObjectStore) -> Result<Option<ServingTls>, Error> {
    let Some(spec) = &store.spec.tls else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(
        ctx.client.clone(),
        &store.metadata.namespace.clone().unwrap_or_default(),
    );
    let secret = secrets.get_opt(&spec.secret_name).await?.ok_or_else(|| {
        Error::TlsSecretInvalid(format!(
            "the TLS Secret {:?} (spec.tls.secretName) does not exist",
            spec.secret_name
        ))
    })?;
    ServingTls::from_secret(&secret)
        .map(Some)
        .map_err(Error::TlsSecretInvalid)
}
