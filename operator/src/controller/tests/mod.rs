//! The reconcilers against a mocked API server (every Kubernetes request asserted, in order) and
//! a recording fake store (every S3 and admin call asserted).

mod bucket;
mod bucket_config;

mod objectstore;
mod real_gateway;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use serde_json::Value;

use super::{Config, Context};
use crate::fixtures::api_server::{Expect, Seen, core_path, events_path};
use crate::metrics::Metrics;
use crate::resources::object_store::{AdminCredentials, AdminSecretData, admin_secret};

pub const ROOT_KEY: &str = "AKROOT";

/// A context whose Kubernetes client is the mock and whose stores are all at `store_url`.
pub fn context(client: Client, store_url: Option<&str>) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        Config {
            gateway_image: "img:1".into(),
            store_endpoint_override: store_url.map(str::to_owned),
            namespace: None,
        },
        Arc::new(Metrics::default()),
        Some("operator-0".into()),
    ))
}

/// Like [`context`], with the Bucket controller's cache holding `buckets` (what its watch would
/// have listed).
pub fn context_with_buckets(
    client: Client,
    store_url: Option<&str>,
    buckets: &[crate::crd::Bucket],
) -> Arc<Context> {
    use kube::runtime::watcher::Event;
    let ctx = context(client, store_url);
    let mut writer = ctx.take_bucket_writer().expect("not taken yet");
    writer.apply_watcher_event(&Event::Init);
    for bucket in buckets {
        writer.apply_watcher_event(&Event::InitApply(bucket.clone()));
    }
    writer.apply_watcher_event(&Event::InitDone);
    ctx
}

/// The admin Secret of store `photos`, as the operator would have made it.
pub fn photos_admin_secret() -> Secret {
    let mut secret = admin_secret(
        &crate::fixtures::store("photos"),
        &AdminSecretData {
            credentials: AdminCredentials {
                access_key_id: ROOT_KEY.into(),
                secret_access_key: "SKROOT".into(),
            },
            peer_secret: "PS".into(),
        },
    );
    secret.metadata.uid = Some(PHOTOS_ADMIN_UID.into());
    secret
}

/// The uid the API server gave the admin Secret of store `photos`.
pub const PHOTOS_ADMIN_UID: &str = "0d5f3c2e-admin-secret-uid";

/// Base64 of 32 bytes of 7: the master key of store `photos`.
pub const PHOTOS_MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// The master key Secret of store `photos`, as the operator would have made it.
pub fn photos_master_key_secret() -> Secret {
    use crate::resources::master_key::{self, MasterKey};
    master_key::secret(
        &crate::fixtures::store("photos"),
        &MasterKey {
            key: PHOTOS_MASTER_KEY.into(),
            previous: None,
            write: false,
            staging: false,
        },
    )
}

pub fn get_master_key_secret() -> Expect {
    Expect::get(core_path("secrets", "photos-master-key")).respond(photos_master_key_secret())
}

pub fn get_admin_secret() -> Expect {
    Expect::get(core_path("secrets", "photos-admin")).respond(photos_admin_secret())
}

pub fn event() -> Expect {
    Expect::post(events_path())
}

/// The reason of a published Event.
pub fn reason(seen: &Seen) -> &str {
    seen.body["reason"].as_str().unwrap_or_default()
}

/// The type (Normal, Warning) of a published Event.
pub fn event_type(seen: &Seen) -> &str {
    seen.body["type"].as_str().unwrap_or_default()
}

pub fn str_of<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// A status apply on `obj` (at `path`), answered with `obj` carrying the applied status.
pub fn status_patch(path: String, obj: &impl serde::Serialize) -> Expect {
    let stored = serde_json::to_value(obj).expect("JSON");
    Expect::patch(path).map(move |body: &Value| {
        let mut out = stored.clone();
        out["status"] = body["status"].clone();
        out
    })
}
