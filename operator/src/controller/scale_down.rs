//! The effectful half of a scale-down (the plan is `resources::scale_down`): asks the store's
//! admin API which gateways there are, and, once the StatefulSet is applied at the planned size,
//! starts and cancels drains and removes the gateways that are drained and gone (volume claim
//! first, then registration). A failed call never fails the reconcile: it is reported on the
//! `Draining` condition and planned again on the next one.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Preconditions};

use super::{Context, Error, events};
use crate::conditions::Desired;
use crate::crd::ObjectStore;
use crate::resources::scale_down::{self, Done, Inputs, Nodes, Plan, Removal};
use crate::resources::{MANAGER, object_store::COMPONENT};
use crate::store_client::StoreClient;
use crate::store_client::admin::NodeView;

/// A plan and what it was made from.
#[derive(Debug)]
pub struct Scaling {
    pub plan: Plan,
    /// The StatefulSet's size before this reconcile.
    current: Option<i32>,
    /// The gateways as listed, when they were.
    nodes: Option<Vec<NodeView>>,
}

/// What carrying out a plan gave: the condition to report, `status.leavingGateways`, and
/// whether to look again soon.
#[derive(Debug)]
pub struct Outcome {
    pub condition: Option<Desired>,
    pub leaving: Vec<String>,
    pub settling: bool,
}

/// Lists the store's gateways (none exist before the StatefulSet does) and plans the
/// StatefulSet's size and the node calls.
pub async fn plan(
    store: &ObjectStore,
    current: Option<i32>,
    client: Result<&StoreClient, &Error>,
) -> Scaling {
    let listed = match (current, client) {
        (None, _) => None,
        (Some(_), Ok(client)) => Some(client.list_nodes().await.map_err(|e| {
            let e = Error::from(e);
            (e.reason(), e.to_string())
        })),
        (Some(_), Err(e)) => Some(Err((e.reason(), e.to_string()))),
    };
    let name = store.name_any();
    let nodes = match &listed {
        None => Nodes::NotAsked,
        Some(Ok(nodes)) => Nodes::Listed(nodes),
        Some(Err((reason, message))) => {
            // Only a pending scale-down needs the answer; then the plan reports it.
            tracing::debug!(store = %name, error = %message, "listing the gateways failed");
            Nodes::Unavailable {
                reason,
                message: message.clone(),
            }
        }
    };
    let plan = scale_down::plan(&Inputs {
        store: &name,
        desired: store.spec.replicas,
        current,
        nodes,
        requested: leaving_gateways(store),
    });
    Scaling {
        plan,
        current,
        nodes: listed.and_then(Result::ok),
    }
}

fn leaving_gateways(store: &ObjectStore) -> &[String] {
    store.status.as_ref().map_or(&[], |s| &s.leaving_gateways[..])
}

/// Carries out the node calls of `scaling`, after the StatefulSet was applied at
/// `scaling.plan.replicas`.
pub async fn carry_out(
    ctx: &Context,
    store: &ObjectStore,
    client: Result<&StoreClient, &Error>,
    scaling: Scaling,
) -> Outcome {
    let Scaling { plan, current, nodes } = scaling;
    match current {
        Some(current) if plan.replicas < current => {
            let note = format!(
                "StatefulSet lowered from {current} to {} gateways: every leaving gateway is drained",
                plan.replicas
            );
            events::normal(&ctx.recorder, store, "ScaledDown", note).await;
        }
        Some(current) if plan.replicas > current.max(store.spec.replicas) => {
            let note = format!(
                "StatefulSet raised from {current} to {} gateways: a gateway above spec.replicas holds \
                 blobs and must hand them over before it goes",
                plan.replicas
            );
            events::warning(&ctx.recorder, store, "RestartedToDrain", note).await;
        }
        _ => {}
    }
    let mut done = Done::default();
    let failure = match client {
        Ok(client) => node_calls(ctx, store, client, &plan, &mut done).await.err(),
        // Only a plan made without a listing reaches here, and it has no calls.
        Err(_) => None,
    };
    let leaving = scale_down::requested_after(leaving_gateways(store), nodes.as_deref(), &done);
    let settling = plan.settling || failure.is_some();
    let condition = match failure {
        None => plan.condition,
        Some(e) => {
            events::warning(&ctx.recorder, store, e.reason(), e.to_string()).await;
            let (status, before) = plan
                .condition
                .map_or((true, String::new()), |c| (c.status, format!("{}; ", c.message)));
            Some(Desired {
                type_: crate::conditions::DRAINING,
                status,
                reason: e.reason(),
                message: format!("{before}{e}"),
            })
        }
    };
    Outcome {
        condition,
        leaving,
        settling,
    }
}

/// Every call of the plan, stopping at the first failure (the next reconcile plans again).
async fn node_calls(
    ctx: &Context,
    store: &ObjectStore,
    client: &StoreClient,
    plan: &Plan,
    done: &mut Done,
) -> Result<(), Error> {
    for id in &plan.drain {
        let node = client.drain_node(id).await?;
        tracing::info!(store = %store.name_any(), node = %id, "drain started");
        events::normal(
            &ctx.recorder,
            store,
            "DrainStarted",
            format!(
                "draining {id} before the StatefulSet goes down to {} gateways ({} free of {})",
                store.spec.replicas,
                scale_down::bytes(node.free),
                scale_down::bytes(node.capacity)
            ),
        )
        .await;
        done.drained.push(id.clone());
    }
    for id in &plan.undrain {
        client.undrain_node(id).await?;
        events::normal(
            &ctx.recorder,
            store,
            "DrainCancelled",
            format!("{id} stays: spec.replicas is {}", store.spec.replicas),
        )
        .await;
        done.undrained.push(id.clone());
    }
    for removal in &plan.remove {
        let claim = match delete_claim(ctx, store, removal).await? {
            Claim::Deleted => format!("deleted its volume claim {}", removal.claim),
            Claim::Missing => format!("its volume claim {} was gone already", removal.claim),
            Claim::NotOurs => format!(
                "left its volume claim {}, which does not carry this store's labels",
                removal.claim
            ),
        };
        client.forget_node(&removal.node).await?;
        events::normal(
            &ctx.recorder,
            store,
            "GatewayRemoved",
            format!(
                "{} was drained and has stopped: {claim}; its registration is forgotten",
                removal.node
            ),
        )
        .await;
        done.forgotten.push(removal.node.clone());
    }
    Ok(())
}

/// What became of a removed gateway's volume claim.
enum Claim {
    Deleted,
    Missing,
    NotOurs,
}

/// Deletes a drained gateway's volume claim, if it is this store's (made from its StatefulSet's
/// claim template, which carries the operator's labels); a missing claim is the goal. The uid
/// precondition makes sure the claim deleted is the one looked at.
async fn delete_claim(ctx: &Context, store: &ObjectStore, removal: &Removal) -> Result<Claim, Error> {
    let claims: Api<PersistentVolumeClaim> =
        Api::namespaced(ctx.client.clone(), &store.namespace().unwrap_or_default());
    let Some(claim) = claims.get_opt(&removal.claim).await? else {
        return Ok(Claim::Missing);
    };
    let labels = claim.labels();
    let ours = labels.get("app.kubernetes.io/managed-by").map(String::as_str) == Some(MANAGER)
        && labels.get("app.kubernetes.io/instance") == Some(&store.name_any())
        && labels.get("app.kubernetes.io/component").map(String::as_str) == Some(COMPONENT);
    if !ours {
        tracing::warn!(claim = %removal.claim, "not deleting a volume claim without this store's labels");
        return Ok(Claim::NotOurs);
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: claim.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match claims.delete(&removal.claim, &params).await {
        Ok(_) => Ok(Claim::Deleted),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Claim::Missing),
        Err(e) => Err(e.into()),
    }
}
