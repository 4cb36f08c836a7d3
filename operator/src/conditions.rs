//! Status conditions: the `Ready` condition and its reasons, and the rule that a condition's
//! `lastTransitionTime` moves only when its status changes (so a reconcile that changes nothing
//! writes the same status again).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
/// Bucket only: the application credentials Secret is up to date.
pub const CREDENTIALS_READY: &str = "CredentialsReady";
/// ObjectStore only: gateways a scale-down removes are being drained (see
/// `resources::scale_down`); the StatefulSet is lowered once this is `False`.
pub const DRAINING: &str = "Draining";

/// Why a condition is what it is, when all is well or in progress (CamelCase, also the Event
/// reason). Failures use the name of the [`crate::controller::Error`] variant instead.
pub mod reason {
    pub const RECONCILED: &str = "Reconciled";
    pub const GATEWAYS_READY: &str = "GatewaysReady";
    pub const GATEWAYS_NOT_READY: &str = "GatewaysNotReady";
    pub const DELETING: &str = "Deleting";
    /// `Draining=True`: leaving gateways still hold blobs.
    pub const DRAIN_IN_PROGRESS: &str = "DrainInProgress";
    /// `Draining=False`: leaving gateways are drained and wait to be removed once they stop.
    pub const DRAINED: &str = "Drained";
    /// `Draining=False`: no gateway is leaving.
    pub const NO_DRAIN: &str = "NoDrain";
}

/// A condition as the reconciler wants it, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Desired {
    pub fn ready(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: READY,
            status: true,
            reason,
            message: message.into(),
        }
    }

    pub fn not_ready(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: READY,
            status: false,
            reason,
            message: message.into(),
        }
    }

    pub fn with_type(mut self, type_: &'static str) -> Self {
        self.type_ = type_;
        self
    }
}

fn status_word(status: bool) -> &'static str {
    if status { "True" } else { "False" }
}

/// The conditions after applying `desired` to `existing`: a condition keeps its
/// `lastTransitionTime` unless its status flips; conditions of other types are kept as they are.
pub fn merge(
    existing: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| !desired.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in desired {
        let status = status_word(d.status);
        let previous = existing.iter().find(|c| c.type_ == d.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: d.type_.to_owned(),
            status: status.to_owned(),
            reason: d.reason.to_owned(),
            message: d.message.clone(),
            last_transition_time,
            observed_generation: generation,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Whether the `type_` condition's status changes from `existing` to `desired` (an Event-worthy
/// transition); a first condition counts as a change.
pub fn transitions(existing: &[Condition], desired: &Desired) -> bool {
    existing
        .iter()
        .find(|c| c.type_ == desired.type_)
        .is_none_or(|c| c.status != status_word(desired.status) || c.reason != desired.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("valid")
    }

    #[test]
    fn first_condition_gets_now() {
        let merged = merge(&[], &[Desired::ready(reason::RECONCILED, "ok")], Some(3), at(100));
        assert_eq!(
            merged,
            vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "Reconciled".into(),
                message: "ok".into(),
                last_transition_time: Time(at(100)),
                observed_generation: Some(3),
            }]
        );
    }

    #[test]
    fn same_status_keeps_transition_time_but_updates_reason_and_message() {
        let first = merge(&[], &[Desired::not_ready("StoreNotReady", "a")], Some(1), at(100));
        let second = merge(
            &first,
            &[Desired::not_ready("StoreUnreachable", "b")],
            Some(2),
            at(200),
        );
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].reason, "StoreUnreachable");
        assert_eq!(second[0].message, "b");
        assert_eq!(second[0].observed_generation, Some(2));
    }

    #[test]
    fn flipped_status_moves_transition_time() {
        let first = merge(&[], &[Desired::not_ready("StoreNotReady", "a")], Some(1), at(100));
        let second = merge(
            &first,
            &[Desired::ready(reason::RECONCILED, "ok")],
            Some(1),
            at(200),
        );
        assert_eq!(second[0].last_transition_time, Time(at(200)));
        assert_eq!(second[0].status, "True");
    }

    #[test]
    fn other_types_are_kept_and_order_is_stable() {
        let creds = Desired::ready(reason::RECONCILED, "issued").with_type(CREDENTIALS_READY);
        let first = merge(
            &[],
            &[Desired::ready(reason::RECONCILED, "ok"), creds],
            None,
            at(1),
        );
        let second = merge(
            &first,
            &[Desired::not_ready("StoreUnreachable", "down")],
            None,
            at(2),
        );
        let types: Vec<_> = second.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["CredentialsReady", "Ready"]);
        assert_eq!(second[0], first[0]);
    }

    #[test]
    fn transitions_notices_status_or_reason_changes_only() {
        let existing = merge(&[], &[Desired::ready(reason::RECONCILED, "ok")], None, at(1));
        assert!(!transitions(
            &existing,
            &Desired::ready(reason::RECONCILED, "other message")
        ));
        assert!(transitions(
            &existing,
            &Desired::not_ready("StoreUnreachable", "x")
        ));
        assert!(transitions(&[], &Desired::ready(reason::RECONCILED, "ok")));
    }
}
