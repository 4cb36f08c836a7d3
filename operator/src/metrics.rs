//! Prometheus metrics: reconciliations, their errors and their duration per kind, and whether
//! this replica leads. Served as text on `/metrics`.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::controller::Error;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    /// The [`Error`] variant's name.
    pub error: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub reconciliations: Family<KindLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub leader: Gauge<i64, AtomicI64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stowage_operator");
        let reconciliations = Family::<KindLabels, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        // 5 ms to ~20 s: a reconcile is a few API calls, or a batch of deletions.
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 13))
        });
        let leader = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "reconciliations",
            "Reconciliations run, by kind",
            reconciliations.clone(),
        );
        registry.register(
            "reconciliation_errors",
            "Reconciliations that failed, by kind and error",
            failures.clone(),
        );
        registry.register(
            "reconciliation_duration_seconds",
            "Time a reconciliation took, by kind",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Self {
            registry,
            reconciliations,
            failures,
            duration,
            leader,
        }
    }
}

impl Metrics {
    /// Starts timing one reconciliation of `kind`; [`Measure::finish`] records it.
    pub fn measure(&self, kind: &'static str) -> Measure<'_> {
        self.reconciliations.get_or_create(&KindLabels { kind }).inc();
        Measure {
            metrics: self,
            kind,
            start: Instant::now(),
        }
    }

    pub fn failed(&self, kind: &'static str, error: &Error) {
        self.failures
            .get_or_create(&ErrorLabels {
                kind,
                error: error.reason(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// One reconciliation being timed.
pub struct Measure<'a> {
    metrics: &'a Metrics,
    kind: &'static str,
    start: Instant,
}

impl Measure<'_> {
    pub fn finish<T>(self, result: &Result<T, Error>) {
        self.metrics
            .duration
            .get_or_create(&KindLabels { kind: self.kind })
            .observe(self.start.elapsed().as_secs_f64());
        if let Err(e) = result {
            self.metrics.failed(self.kind, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_errors_and_durations_per_kind() {
        let metrics = Metrics::default();
        metrics.measure("Bucket").finish::<()>(&Ok(()));
        metrics
            .measure("Bucket")
            .finish::<()>(&Err(Error::StoreNotFound("s".into())));
        let text = metrics.render();
        assert!(
            text.contains("stowage_operator_reconciliations_total{kind=\"Bucket\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "stowage_operator_reconciliation_errors_total{kind=\"Bucket\",error=\"StoreNotFound\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("stowage_operator_reconciliation_duration_seconds_count{kind=\"Bucket\"} 2"),
            "{text}"
        );
        assert!(text.contains("stowage_operator_leader 0"), "{text}");
    }
}
