//! Results: measurements per scenario, rendered as a table for people or JSON for machines.

use std::fmt::Write as _;

use serde::Serialize;

use super::driver::Run;
use super::stats::LatencySummary;

/// Decimal megabyte, as throughput is usually quoted.
const MB: f64 = 1_000_000.0;

/// One operation at one concurrency.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub operation: String,
    pub concurrency: usize,
    /// Bytes per object, when the operation moves objects.
    pub object_size: Option<u64>,
    pub ops: usize,
    pub bytes: u64,
    pub elapsed_secs: f64,
    pub ops_per_sec: f64,
    pub mb_per_sec: f64,
    pub latency: Option<LatencySummary>,
}

impl Measurement {
    pub fn from_run(operation: &str, concurrency: usize, object_size: Option<u64>, run: &Run) -> Measurement {
        let secs = run.elapsed.as_secs_f64();
        let per_sec = |amount: f64| if secs > 0.0 { amount / secs } else { 0.0 };
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (ops, bytes) = (run.latencies.len() as f64, run.bytes as f64);
        Measurement {
            operation: operation.to_owned(),
            concurrency,
            object_size,
            ops: run.latencies.len(),
            bytes: run.bytes,
            elapsed_secs: secs,
            ops_per_sec: per_sec(ops),
            mb_per_sec: per_sec(bytes) / MB,
            latency: LatencySummary::from_samples(&run.latencies),
        }
    }
}

/// A named number a scenario wants to headline (e.g. keys listed per second).
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub description: String,
    pub measurements: Vec<Measurement>,
    pub figures: Vec<Figure>,
}

impl ScenarioReport {
    pub fn new(scenario: &str, description: impl Into<String>) -> ScenarioReport {
        ScenarioReport {
            scenario: scenario.to_owned(),
            description: description.into(),
            measurements: Vec::new(),
            figures: Vec::new(),
        }
    }

    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "s3bench against {} (bucket {}, prefix {})",
            self.endpoint, self.bucket, self.prefix
        );
        for scenario in &self.scenarios {
            let _ = writeln!(out, "\n== {}: {}", scenario.scenario, scenario.description);
            if !scenario.measurements.is_empty() {
                let _ = writeln!(
                    out,
                    "  {:<6} {:>5} {:>8} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
                    "op", "conc", "ops", "size", "secs", "ops/s", "MB/s", "p50 ms", "p99 ms", "max ms"
                );
            }
            for m in &scenario.measurements {
                let size = m.object_size.map_or_else(|| "-".to_owned(), human_bytes);
                let latency = |pick: fn(&LatencySummary) -> f64| m.latency.as_ref().map_or(0.0, pick);
                let _ = writeln!(
                    out,
                    "  {:<6} {:>5} {:>8} {:>9} {:>9.3} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    m.operation,
                    m.concurrency,
                    m.ops,
                    size,
                    m.elapsed_secs,
                    m.ops_per_sec,
                    m.mb_per_sec,
                    latency(|l| l.p50_ms),
                    latency(|l| l.p99_ms),
                    latency(|l| l.max_ms),
                );
            }
            for figure in &scenario.figures {
                let _ = writeln!(out, "  {}: {:.3} {}", figure.name, figure.value, figure.unit);
            }
        }
        out
    }
}

/// `4096` -> `4 KiB`, `67108864` -> `64 MiB`; exact multiples only, else bytes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| bytes >= *unit && bytes.is_multiple_of(*unit))
        .map_or_else(
            || format!("{bytes} B"),
            |(unit, name)| format!("{} {name}", bytes / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_come_from_wall_time() {
        let run = Run {
            latencies: vec![Duration::from_millis(10); 100],
            bytes: 100 * 4096,
            elapsed: Duration::from_secs(2),
        };
        let m = Measurement::from_run("PUT", 16, Some(4096), &run);
        assert_eq!(m.ops, 100);
        assert!((m.ops_per_sec - 50.0).abs() < 1e-9);
        assert!((m.mb_per_sec - 0.2048).abs() < 1e-9);
        assert!((m.latency.expect("latency").p99_ms - 10.0).abs() < 1e-9);
    }

    #[test]
    fn empty_run_has_no_rates() {
        let m = Measurement::from_run("GET", 1, None, &Run::default());
        assert_eq!(m.ops_per_sec, 0.0);
        assert!(m.latency.is_none());
    }

    #[test]
    fn human_bytes_uses_exact_binary_units() {
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1536 B");
    }

    #[test]
    fn text_and_json_name_every_scenario() {
        let mut scenario = ScenarioReport::new("list", "10000 keys");
        scenario.figure("keys listed per second", 1234.5, "keys/s");
        let report = Report {
            endpoint: "http://127.0.0.1:9000".to_owned(),
            bucket: "b".to_owned(),
            prefix: "s3bench/1/".to_owned(),
            scenarios: vec![scenario],
        };
        assert!(
            report
                .to_text()
                .contains("keys listed per second: 1234.500 keys/s")
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
        assert_eq!(json["scenarios"][0]["scenario"], "list");
    }
}
