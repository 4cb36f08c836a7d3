//! Scaling a store down the Kubernetes way, as a pure plan.
//!
//! The gateways a lower `replicas` removes are the StatefulSet's highest ordinals, and each holds
//! blobs on its own volume that may be their only copy. So they are drained first (through the
//! admin API: the gateways move every blob a draining node holds to the others), the StatefulSet
//! keeps its size until every leaving gateway reports itself drained with nothing left, and only
//! then is it lowered. Once a leaving gateway has stopped (its heartbeat is no longer recent) its
//! volume claim is deleted and its registration forgotten. Raising `replicas` again cancels the
//! drains this operator started on the gateways that now stay.
//!
//! The plan is derived from what is read on every reconcile: `spec.replicas`, the StatefulSet's
//! `spec.replicas`, the gateways' own node views, and `status.leavingGateways` (the drains this
//! operator started, so that it never cancels a drain an administrator asked for). An operator
//! restarted mid-drain picks up where it was.
//!
//! A volume claim is deleted only for a gateway that says it is drained with no blob left, whose
//! pod is gone (not live, ordinal at or above the StatefulSet's size): a claim whose gateway was
//! never seen drained is never deleted. The StatefulSet's own claim retention stays `Retain`.

use std::collections::BTreeSet;

use super::object_store::DATA_VOLUME;
use crate::conditions::{Desired, reason};
use crate::store_client::admin::{DrainState, NodeView};

/// What the admin API said about the store's gateways.
#[derive(Clone, Debug)]
pub enum Nodes<'a> {
    /// Not asked: the StatefulSet does not exist yet, so there are no gateways.
    NotAsked,
    Listed(&'a [NodeView]),
    /// No answer; `reason` is the error's name (the condition reason), `message` the error.
    Unavailable {
        reason: &'static str,
        message: String,
    },
}

/// What a reconcile reads to plan a scale-down.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The store's name: the StatefulSet's, whose pods (and node ids) are `<store>-<ordinal>`.
    pub store: &'a str,
    /// `spec.replicas`.
    pub desired: i32,
    /// The StatefulSet's `spec.replicas`; `None` before it exists.
    pub current: Option<i32>,
    pub nodes: Nodes<'a>,
    /// `status.leavingGateways`: the gateways this operator asked to drain.
    pub requested: &'a [String],
}

/// A gateway that is gone for good: its volume claim, then its registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub node: String,
    pub claim: String,
}

/// What to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The StatefulSet's `spec.replicas` to apply.
    pub replicas: i32,
    /// Gateways to start draining (`POST nodes/{id}/drain`).
    pub drain: Vec<String>,
    /// Gateways whose drain to cancel (`POST nodes/{id}/undrain`).
    pub undrain: Vec<String>,
    /// Drained gateways that have stopped: delete the claim, then forget the node (in that
    /// order: the node's drained record is what says the claim may go, so it is kept until the
    /// claim is gone and a failed step is simply planned again).
    pub remove: Vec<Removal>,
    /// The `Draining` condition; `None` leaves it as it is (nothing is known).
    pub condition: Option<Desired>,
    /// Something is under way: look again soon rather than at the next resync.
    pub settling: bool,
}

/// The volume claim of the gateway with `ordinal` (the StatefulSet names claims
/// `<template>-<statefulset>-<ordinal>`).
pub fn claim_name(store: &str, ordinal: i32) -> String {
    format!("{DATA_VOLUME}-{store}-{ordinal}")
}

/// The ordinal of a node id that is one of `store`'s pod names (`<store>-<ordinal>`, decimal
/// without leading zeros, as the StatefulSet writes it); `None` for anything else, which the plan
/// leaves alone.
pub fn ordinal(store: &str, id: &str) -> Option<i32> {
    let digits = id.strip_prefix(store)?.strip_prefix('-')?;
    let n: i32 = digits.parse().ok()?;
    (n >= 0 && n.to_string() == digits).then_some(n)
}

pub fn plan(inputs: &Inputs<'_>) -> Plan {
    // The schema refuses `replicas: 0`: draining the last gateway leaves its bytes nowhere to go.
    let desired = inputs.desired.max(1);
    let nodes = match &inputs.nodes {
        Nodes::Listed(nodes) => *nodes,
        Nodes::NotAsked => return unknown(desired, inputs.current, None),
        Nodes::Unavailable { reason, message } => {
            let names = |from: i32, to: i32| {
                (from..to)
                    .map(|o| format!("{}-{o}", inputs.store))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let condition = inputs.current.filter(|&c| c > desired).map(|current| Desired {
                type_: crate::conditions::DRAINING,
                status: true,
                reason,
                message: format!(
                    "cannot drain {} for the scale-down from {current} to {desired}: {message}; the \
                     StatefulSet stays at {current}",
                    names(desired, current)
                ),
            });
            return unknown(desired, inputs.current, condition);
        }
    };
    let current = inputs.current.unwrap_or(desired);
    let mut ours: Vec<(i32, &NodeView)> = nodes
        .iter()
        .filter_map(|n| Some((ordinal(inputs.store, &n.id)?, n)))
        .collect();
    ours.sort_by_key(|(o, _)| *o);
    let leaving: Vec<(i32, &NodeView)> = ours.iter().copied().filter(|(o, _)| *o >= desired).collect();
    let holding: Vec<(i32, &NodeView)> = leaving.iter().copied().filter(|(_, n)| !n.is_drained()).collect();
    // Until every leaving gateway is drained the StatefulSet keeps them all running; one that
    // holds blobs above the current size (lowered without a drain, by hand or by an older
    // operator) is started again so that it can hand them over.
    let replicas = match holding.iter().map(|(o, _)| o + 1).max() {
        Some(highest) => current.max(highest),
        None => desired,
    };
    let drain = leaving
        .iter()
        .filter(|(_, n)| n.drain.is_none())
        .map(|(_, n)| n.id.clone())
        .collect();
    let undrain = ours
        .iter()
        .filter(|(o, n)| *o < desired && n.drain.is_some() && inputs.requested.contains(&n.id))
        .map(|(_, n)| n.id.clone())
        .collect::<Vec<_>>();
    let remove = leaving
        .iter()
        .filter(|(o, n)| n.is_drained() && !n.live && *o >= replicas)
        .map(|(o, n)| Removal {
            node: n.id.clone(),
            claim: claim_name(inputs.store, *o),
        })
        .collect();
    let condition = if holding.is_empty() {
        drained_condition(&leaving)
    } else {
        let progress: Vec<String> = leaving.iter().map(|(_, n)| progress(n)).collect();
        let keeps = if replicas > current {
            format!("the StatefulSet runs {replicas} gateways again so that they can hand their blobs over")
        } else {
            format!("the StatefulSet keeps {replicas} gateways until they are drained")
        };
        Desired {
            type_: crate::conditions::DRAINING,
            status: true,
            reason: reason::DRAIN_IN_PROGRESS,
            message: format!("draining {}; {keeps}", progress.join(", ")),
        }
    };
    Plan {
        replicas,
        drain,
        settling: !leaving.is_empty() || !undrain.is_empty(),
        undrain,
        remove,
        condition: Some(condition),
    }
}

/// Nothing known about the gateways: never lower the StatefulSet.
fn unknown(desired: i32, current: Option<i32>, condition: Option<Desired>) -> Plan {
    Plan {
        replicas: current.map_or(desired, |c| c.max(desired)),
        drain: Vec::new(),
        undrain: Vec::new(),
        remove: Vec::new(),
        settling: condition.is_some(),
        condition,
    }
}

/// `Draining=False` once no leaving gateway holds anything: some may still wait to stop.
fn drained_condition(leaving: &[(i32, &NodeView)]) -> Desired {
    let (reason, message) = if leaving.is_empty() {
        (reason::NO_DRAIN, "no gateway is leaving".to_owned())
    } else {
        let ids: Vec<&str> = leaving.iter().map(|(_, n)| n.id.as_str()).collect();
        (
            reason::DRAINED,
            format!(
                "{} drained; volume claims and registrations are removed once the gateways have stopped",
                ids.join(", ")
            ),
        )
    };
    Desired {
        type_: crate::conditions::DRAINING,
        status: false,
        reason,
        message,
    }
}

/// `demo-2: 12 blobs (3.4 KiB) left`, `demo-2: drain requested`, `demo-2: drained`.
fn progress(node: &NodeView) -> String {
    let Some(drain) = &node.drain else {
        return format!("{}: drain requested", node.id);
    };
    if node.is_drained() {
        return format!("{}: drained", node.id);
    }
    let blobs = match drain.blobs_left {
        1 => "1 blob".to_owned(),
        n => format!("{n} blobs"),
    };
    let state = match drain.state {
        DrainState::Unknown => " (drain state unknown to this operator)",
        DrainState::Draining | DrainState::Drained => "",
    };
    format!("{}: {blobs} ({}) left{state}", node.id, bytes(drain.bytes_left))
}

/// Bytes in binary units with one decimal: `3.4 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// What the node calls of a plan achieved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub drained: Vec<String>,
    pub undrained: Vec<String>,
    pub forgotten: Vec<String>,
}

/// `status.leavingGateways` after a reconcile: the drains this operator started that are still
/// on record (neither cancelled nor forgotten, by it or anyone). Without a listing nothing is
/// dropped.
pub fn requested_after(previous: &[String], listed: Option<&[NodeView]>, done: &Done) -> Vec<String> {
    let on_record =
        |id: &String| listed.is_none_or(|nodes| nodes.iter().any(|n| &n.id == id && n.drain.is_some()));
    let mut requested: BTreeSet<String> = previous.iter().filter(|id| on_record(id)).cloned().collect();
    requested.extend(done.drained.iter().cloned());
    for id in done.undrained.iter().chain(&done.forgotten) {
        requested.remove(id);
    }
    requested.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_client::admin::DrainView;

    fn node(id: &str, live: bool, drain: Option<(DrainState, u64, u64)>) -> NodeView {
        NodeView {
            id: id.into(),
            peer_url: format!("http://{id}.demo-headless.apps.svc:9000"),
            live,
            capacity: 1 << 30,
            free: 1 << 29,
            heartbeat: Some("2025-01-01T00:00:00Z".into()),
            drain: drain.map(|(state, blobs_left, bytes_left)| DrainView {
                state,
                requested: Some("2025-01-01T00:00:00Z".into()),
                blobs_left,
                bytes_left,
                blobs_moved: 0,
                bytes_moved: 0,
            }),
        }
    }

    fn up(id: &str) -> NodeView {
        node(id, true, None)
    }

    fn draining(id: &str, blobs: u64, bytes: u64) -> NodeView {
        node(id, true, Some((DrainState::Draining, blobs, bytes)))
    }

    fn drained(id: &str, live: bool) -> NodeView {
        node(id, live, Some((DrainState::Drained, 0, 0)))
    }

    fn plan_for(desired: i32, current: Option<i32>, nodes: &[NodeView], requested: &[&str]) -> Plan {
        let requested: Vec<String> = requested.iter().map(|s| (*s).to_owned()).collect();
        plan(&Inputs {
            store: "demo",
            desired,
            current,
            nodes: Nodes::Listed(nodes),
            requested: &requested,
        })
    }

    fn condition(plan: &Plan) -> (bool, &str, &str) {
        let c = plan.condition.as_ref().expect("a Draining condition");
        assert_eq!(c.type_, "Draining");
        (c.status, c.reason, c.message.as_str())
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ordinals_are_the_statefulset_pod_names_only() {
        assert_eq!(ordinal("demo", "demo-0"), Some(0));
        assert_eq!(ordinal("demo", "demo-12"), Some(12));
        for other in [
            "demo", "demo-", "demo-01", "demo-+1", "demo--1", "demo-1-0", "other-1", "demo1",
        ] {
            assert_eq!(ordinal("demo", other), None, "{other}");
        }
        assert_eq!(ordinal("demo-1", "demo-1-0"), Some(0));
        assert_eq!(claim_name("demo", 2), "data-demo-2");
    }

    #[test]
    fn a_fresh_store_is_created_at_its_size_without_asking_anyone() {
        let plan = plan(&Inputs {
            store: "demo",
            desired: 3,
            current: None,
            nodes: Nodes::NotAsked,
            requested: &[],
        });
        assert_eq!(
            plan,
            Plan {
                replicas: 3,
                drain: vec![],
                undrain: vec![],
                remove: vec![],
                condition: None,
                settling: false,
            }
        );
    }

    #[test]
    fn scaling_up_needs_no_drain() {
        let plan = plan_for(5, Some(3), &[up("demo-0"), up("demo-1"), up("demo-2")], &[]);
        assert_eq!(plan.replicas, 5);
        assert!(plan.drain.is_empty() && plan.undrain.is_empty() && plan.remove.is_empty());
        assert_eq!(condition(&plan), (false, "NoDrain", "no gateway is leaving"));
        assert!(!plan.settling);
    }

    #[test]
    fn lowering_replicas_drains_the_highest_ordinals_and_keeps_the_statefulset() {
        let plan = plan_for(
            2,
            Some(4),
            &[up("demo-0"), up("demo-1"), up("demo-2"), up("demo-3")],
            &[],
        );
        assert_eq!(plan.replicas, 4, "not lowered before the drain");
        assert_eq!(plan.drain, ids(&["demo-2", "demo-3"]));
        assert!(plan.undrain.is_empty() && plan.remove.is_empty());
        assert_eq!(
            condition(&plan),
            (
                true,
                "DrainInProgress",
                "draining demo-2: drain requested, demo-3: drain requested; the StatefulSet keeps 4 \
                 gateways until they are drained"
            )
        );
        assert!(plan.settling);
    }

    #[test]
    fn progress_is_reported_and_the_statefulset_waits_for_every_leaving_gateway() {
        let nodes = [
            up("demo-0"),
            up("demo-1"),
            draining("demo-2", 12, 3456),
            drained("demo-3", true),
        ];
        let plan = plan_for(2, Some(4), &nodes, &["demo-2", "demo-3"]);
        assert_eq!(plan.replicas, 4);
        assert!(
            plan.drain.is_empty(),
            "drains already under way are not asked again"
        );
        assert_eq!(
            condition(&plan).2,
            "draining demo-2: 12 blobs (3.4 KiB) left, demo-3: drained; the StatefulSet keeps 4 gateways \
             until they are drained"
        );
        let one = plan_for(
            2,
            Some(3),
            &[up("demo-0"), up("demo-1"), draining("demo-2", 1, 10)],
            &[],
        );
        assert!(
            condition(&one)
                .2
                .starts_with("draining demo-2: 1 blob (10 B) left;")
        );
    }

    #[test]
    fn drained_with_blobs_left_or_in_an_unknown_state_is_not_drained() {
        let odd = [
            up("demo-0"),
            node("demo-1", true, Some((DrainState::Drained, 2, 2048))),
            node("demo-2", true, Some((DrainState::Unknown, 0, 0))),
        ];
        let plan = plan_for(1, Some(3), &odd, &[]);
        assert_eq!(plan.replicas, 3);
        assert_eq!(
            condition(&plan).2,
            "draining demo-1: 2 blobs (2.0 KiB) left, demo-2: 0 blobs (0 B) left (drain state unknown to \
             this operator); the StatefulSet keeps 3 gateways until they are drained"
        );
    }

    #[test]
    fn once_every_leaving_gateway_is_drained_the_statefulset_is_lowered() {
        let nodes = [up("demo-0"), up("demo-1"), drained("demo-2", true)];
        let plan = plan_for(2, Some(3), &nodes, &["demo-2"]);
        assert_eq!(plan.replicas, 2);
        assert!(plan.remove.is_empty(), "its gateway still runs");
        assert_eq!(
            condition(&plan),
            (
                false,
                "Drained",
                "demo-2 drained; volume claims and registrations are removed once the gateways have stopped"
            )
        );
        assert!(plan.settling, "looks again until it can be removed");
    }

    #[test]
    fn a_drained_gateway_that_stopped_loses_its_claim_then_its_registration() {
        let nodes = [up("demo-0"), up("demo-1"), drained("demo-2", false)];
        let plan = plan_for(2, Some(2), &nodes, &["demo-2"]);
        assert_eq!(plan.replicas, 2);
        assert_eq!(
            plan.remove,
            [Removal {
                node: "demo-2".into(),
                claim: "data-demo-2".into()
            }]
        );
    }

    #[test]
    fn a_stopped_drained_gateway_inside_the_statefulset_is_not_removed() {
        // Lowering 4 -> 2 while demo-3 still drains: demo-2 is drained and its pod crashed, but
        // the StatefulSet still has a place for it.
        let nodes = [
            up("demo-0"),
            up("demo-1"),
            drained("demo-2", false),
            draining("demo-3", 1, 1),
        ];
        let plan = plan_for(2, Some(4), &nodes, &[]);
        assert_eq!(plan.replicas, 4);
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn a_never_drained_gateway_is_never_removed() {
        // Its pod is gone (an older operator lowered the StatefulSet without a drain): it is
        // started again and drained; its claim stays.
        let nodes = [up("demo-0"), up("demo-1"), node("demo-2", false, None)];
        let plan = plan_for(2, Some(2), &nodes, &[]);
        assert!(plan.remove.is_empty());
        assert_eq!(plan.drain, ids(&["demo-2"]));
        assert_eq!(plan.replicas, 3);
        assert_eq!(
            condition(&plan),
            (
                true,
                "DrainInProgress",
                "draining demo-2: drain requested; the StatefulSet runs 3 gateways again so that they can \
                 hand their blobs over"
            )
        );
        let still_draining = [
            up("demo-0"),
            node("demo-1", false, Some((DrainState::Draining, 5, 5))),
        ];
        let plan = plan_for(1, Some(1), &still_draining, &[]);
        assert!(plan.remove.is_empty());
        assert_eq!(plan.replicas, 2);
    }

    #[test]
    fn raising_replicas_again_cancels_the_drains_this_operator_started() {
        let nodes = [up("demo-0"), up("demo-1"), draining("demo-2", 3, 300)];
        let plan = plan_for(3, Some(3), &nodes, &["demo-2"]);
        assert_eq!(plan.undrain, ids(&["demo-2"]));
        assert_eq!(plan.replicas, 3);
        assert!(plan.drain.is_empty());
        assert_eq!(condition(&plan).1, "NoDrain");
        assert!(plan.settling, "until the undrain is seen");
        // Scale-up past a drained, stopped gateway: it comes back and takes blobs again.
        let nodes = [up("demo-0"), up("demo-1"), drained("demo-2", false)];
        let plan = plan_for(4, Some(2), &nodes, &["demo-2"]);
        assert_eq!((plan.replicas, plan.undrain), (4, ids(&["demo-2"])));
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn a_drain_an_administrator_asked_for_is_left_alone() {
        let nodes = [up("demo-0"), draining("demo-1", 3, 300), up("demo-2")];
        let plan = plan_for(3, Some(3), &nodes, &[]);
        assert!(plan.undrain.is_empty() && plan.drain.is_empty());
        assert_eq!(plan.replicas, 3);
        assert_eq!(condition(&plan).1, "NoDrain");
    }

    #[test]
    fn unregistered_leaving_ordinals_and_other_nodes_hold_nothing_to_wait_for() {
        // demo-2's pod never started (it never registered); `gateway-x` is not one of ours.
        let nodes = [up("demo-0"), up("demo-1"), draining("gateway-x", 9, 9)];
        let plan = plan_for(2, Some(3), &nodes, &[]);
        assert_eq!(plan.replicas, 2);
        assert!(plan.drain.is_empty());
        assert_eq!(condition(&plan).1, "NoDrain");
    }

    #[test]
    fn without_an_answer_from_the_gateways_the_statefulset_is_never_lowered() {
        let inputs = |desired, current| Inputs {
            store: "demo",
            desired,
            current,
            nodes: Nodes::Unavailable {
                reason: "StoreUnreachable",
                message: "store unreachable at http://demo: refused".into(),
            },
            requested: &[],
        };
        let pending = plan(&inputs(2, Some(4)));
        assert_eq!(pending.replicas, 4);
        assert!(pending.drain.is_empty() && pending.remove.is_empty());
        assert_eq!(
            condition(&pending),
            (
                true,
                "StoreUnreachable",
                "cannot drain demo-2, demo-3 for the scale-down from 4 to 2: store unreachable at \
                 http://demo: refused; the StatefulSet stays at 4"
            )
        );
        assert!(pending.settling);
        // Nothing pending: growing or staying needs no answer, and the condition is left as is.
        let growing = plan(&inputs(5, Some(4)));
        assert_eq!(
            (growing.replicas, growing.condition, growing.settling),
            (5, None, false)
        );
    }

    #[test]
    fn replicas_below_one_never_drains_the_last_gateway() {
        let plan = plan_for(0, Some(2), &[up("demo-0"), up("demo-1")], &[]);
        assert_eq!(plan.drain, ids(&["demo-1"]));
        assert_eq!(plan.replicas, 2);
    }

    #[test]
    fn the_record_of_requested_drains_follows_what_was_done() {
        let previous = ids(&["demo-1", "demo-2", "demo-3", "demo-4"]);
        let listed = [
            up("demo-0"),
            up("demo-1"),
            draining("demo-2", 1, 1),
            drained("demo-3", false),
        ];
        let done = Done {
            drained: ids(&["demo-5"]),
            undrained: ids(&["demo-2"]),
            forgotten: ids(&["demo-3"]),
        };
        assert_eq!(
            requested_after(&previous, Some(&listed), &done),
            ids(&["demo-5"]),
            "demo-1 was undrained by someone else, demo-4 is no longer registered"
        );
        assert_eq!(
            requested_after(&previous, None, &Done::default()),
            previous,
            "without a listing, nothing is dropped"
        );
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(3456), "3.4 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
    }
}
