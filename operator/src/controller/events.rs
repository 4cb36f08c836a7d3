//! Kubernetes Events for what the operator did (Normal) and what went wrong (Warning). An Event
//! that cannot be published is logged, never a reason to fail a reconcile.

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};

/// Publishes an Event about `obj`.
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

pub async fn normal<K: Resource<DynamicType = ()>>(recorder: &Recorder, obj: &K, reason: &str, note: String) {
    publish(recorder, obj, EventType::Normal, reason, reason, note).await;
}

pub async fn warning<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
    obj: &K,
    reason: &str,
    note: String,
) {
    publish(recorder, obj, EventType::Warning, reason, "Reconcile", note).await;
}
