//! Prometheus metrics, served at `/_stowage/metrics`: requests by method and status class, and
//! what the lifecycle worker did.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`.
    pub status: String,
}

#[derive(Default)]
pub struct LifecycleMetrics {
    pub objects_expired: Counter,
    pub versions_removed: Counter,
    pub delete_markers_removed: Counter,
    pub uploads_aborted: Counter,
    pub bytes_freed: Counter,
    /// Unix seconds of the end of the last complete pass over every bucket.
    pub last_full_pass: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    pub node: String,
}

/// What this gateway's volume upkeep did: scrubs, repairs, drains it worked on.
#[derive(Clone, Default)]
pub struct VolumeMetrics {
    pub scrubbed_bytes: Counter,
    pub copies_damaged: Counter,
    pub copies_missing: Counter,
    pub copies_repaired: Counter,
    /// Blobs of which no gateway has a good copy.
    pub lost_blobs: Gauge,
    pub drain_blobs_left: Family<NodeLabels, Gauge>,
    pub drain_bytes_left: Family<NodeLabels, Gauge>,
    pub drain_blobs_moved: Family<NodeLabels, Counter>,
    pub drain_bytes_moved: Family<NodeLabels, Counter>,
}

impl VolumeMetrics {
    fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("volume");
        r.register(
            "scrubbed_bytes",
            "Bytes re-read and checked by scrubs",
            self.scrubbed_bytes.clone(),
        );
        r.register(
            "copies_damaged",
            "Copies found damaged (quarantined)",
            self.copies_damaged.clone(),
        );
        r.register(
            "copies_missing",
            "Copies found missing",
            self.copies_missing.clone(),
        );
        r.register(
            "copies_repaired",
            "Copies fetched again from another holder",
            self.copies_repaired.clone(),
        );
        r.register(
            "lost_blobs",
            "Blobs no gateway has a good copy of",
            self.lost_blobs.clone(),
        );
        let d = registry.sub_registry_with_prefix("drain");
        d.register(
            "blobs_left",
            "Blobs a draining gateway still holds",
            self.drain_blobs_left.clone(),
        );
        d.register(
            "bytes_left",
            "Bytes a draining gateway still holds",
            self.drain_bytes_left.clone(),
        );
        d.register(
            "blobs_moved",
            "Blobs moved off draining gateways",
            self.drain_blobs_moved.clone(),
        );
        d.register(
            "bytes_moved",
            "Bytes moved off draining gateways",
            self.drain_bytes_moved.clone(),
        );
    }

    fn gauge(value: u64) -> i64 {
        i64::try_from(value).unwrap_or(i64::MAX)
    }

    pub fn drain_progress(
        &self,
        node: &str,
        blobs_left: u64,
        bytes_left: u64,
        blobs_moved: u64,
        bytes_moved: u64,
    ) {
        let labels = NodeLabels {
            node: node.to_owned(),
        };
        self.drain_blobs_left
            .get_or_create(&labels)
            .set(Self::gauge(blobs_left));
        self.drain_bytes_left
            .get_or_create(&labels)
            .set(Self::gauge(bytes_left));
        self.drain_blobs_moved.get_or_create(&labels).inc_by(blobs_moved);
        self.drain_bytes_moved.get_or_create(&labels).inc_by(bytes_moved);
    }

    pub fn set_lost(&self, blobs: u64) {
        self.lost_blobs.set(Self::gauge(blobs));
    }
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RequestLabels, Histogram>,
    pub lifecycle: LifecycleMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("stowage");
        let requests = Family::<RequestLabels, Counter>::default();
        // 100 µs to ~13 s.
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register("requests", "S3 requests served", requests.clone());
        registry.register("request_duration_seconds", "S3 request latency", latency.clone());
        let lifecycle = LifecycleMetrics::default();
        let lc = registry.sub_registry_with_prefix("lifecycle");
        lc.register(
            "objects_expired",
            "Current objects expired",
            lifecycle.objects_expired.clone(),
        );
        lc.register(
            "versions_removed",
            "Noncurrent versions removed",
            lifecycle.versions_removed.clone(),
        );
        lc.register(
            "delete_markers_removed",
            "Expired delete markers removed",
            lifecycle.delete_markers_removed.clone(),
        );
        lc.register(
            "uploads_aborted",
            "Incomplete multipart uploads aborted",
            lifecycle.uploads_aborted.clone(),
        );
        lc.register(
            "bytes_freed",
            "Bytes of blobs freed",
            lifecycle.bytes_freed.clone(),
        );
        lc.register(
            "last_full_pass_timestamp_seconds",
            "End of the last full pass",
            lifecycle.last_full_pass.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            lifecycle,
        }
    }
}

impl Metrics {
    /// Metrics that also report `volume`'s upkeep.
    pub fn with_volume(volume: &VolumeMetrics) -> Self {
        let mut metrics = Self::default();
        volume.register(&mut metrics.registry);
        metrics
    }

    pub fn observe(&self, method: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            status: format!("{}xx", status / 100),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_in_prometheus_text() {
        let m = Metrics::default();
        m.observe("GET", 200, 0.001);
        m.lifecycle.objects_expired.inc_by(3);
        let text = m.render();
        assert!(
            text.contains("stowage_requests_total{method=\"GET\",status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("stowage_lifecycle_objects_expired_total 3"),
            "{text}"
        );
    }
}
