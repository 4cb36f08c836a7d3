//! The admin API's view of the store's gateways: registration, room, liveness, drain progress;
//! and of blobs no gateway has a good copy of.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::cluster::{NodeId, NodeRecord};
use crate::errors::custom;
use crate::model::{DrainRecord, Nanos};
use crate::ops::Store;
use crate::ops::drain::no_such_node;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainView {
    /// `draining` or `drained`.
    state: &'static str,
    requested: String,
    blobs_left: u64,
    bytes_left: u64,
    blobs_moved: u64,
    bytes_moved: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    id: String,
    peer_url: String,
    live: bool,
    capacity: u64,
    free: u64,
    heartbeat: String,
    drain: Option<DrainView>,
}

fn rfc3339(t: Nanos) -> String {
    t.to_time().format(&Rfc3339).unwrap_or_default()
}

fn drain_view(d: DrainRecord) -> DrainView {
    DrainView {
        state: if d.drained { "drained" } else { "draining" },
        requested: rfc3339(d.requested),
        blobs_left: d.blobs_left,
        bytes_left: d.bytes_left,
        blobs_moved: d.blobs_moved,
        bytes_moved: d.bytes_moved,
    }
}

pub fn node_id(raw: &str) -> Result<NodeId, s3s::S3Error> {
    NodeId::parse(raw).ok_or_else(|| {
        custom(
            "InvalidArgument",
            http::StatusCode::BAD_REQUEST,
            format!("{raw:?} is not a node id"),
        )
    })
}

async fn view_of(store: &Store, node: NodeRecord) -> s3s::S3Result<NodeView> {
    let drain = store.drain_record(&node.id).await?.map(drain_view);
    Ok(NodeView {
        live: store.cluster.membership.is_live(&node.id),
        id: node.id.to_string(),
        peer_url: node.peer_url,
        capacity: node.capacity,
        free: node.free,
        heartbeat: rfc3339(node.heartbeat),
        drain,
    })
}

pub async fn list(store: &Store) -> s3s::S3Result<Vec<NodeView>> {
    store
        .cluster
        .membership
        .refresh(&*store.meta)
        .await
        .map_err(crate::errors::from_meta)?;
    let mut out = Vec::new();
    for node in store.cluster.membership.nodes() {
        out.push(view_of(store, node).await?);
    }
    Ok(out)
}

pub async fn view(store: &Store, id: &NodeId) -> s3s::S3Result<NodeView> {
    store
        .cluster
        .membership
        .refresh(&*store.meta)
        .await
        .map_err(crate::errors::from_meta)?;
    let node = store
        .cluster
        .membership
        .nodes()
        .into_iter()
        .find(|n| n.id == *id)
        .ok_or_else(|| no_such_node(id.as_str()))?;
    view_of(store, node).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LostView {
    blob: String,
    found: String,
    holders: Vec<String>,
    objects: Vec<String>,
}

pub async fn lost(store: &Store) -> s3s::S3Result<serde_json::Value> {
    let lost: Vec<LostView> = store
        .lost_blobs()
        .await?
        .into_iter()
        .map(|(blob, l)| LostView {
            blob: blob.to_string(),
            found: rfc3339(l.found),
            holders: l.holders.iter().map(ToString::to_string).collect(),
            objects: l.objects,
        })
        .collect();
    Ok(serde_json::json!({ "lost": lost }))
}
