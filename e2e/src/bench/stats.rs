//! Latency percentiles over the exact samples of a run (a few thousand durations: sorting them
//! is cheaper than being approximately right).

use std::time::Duration;

use serde::Serialize;

/// Latency distribution of one measurement, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// `None` for no samples.
    pub fn from_samples(samples: &[Duration]) -> Option<LatencySummary> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        let total: Duration = sorted.iter().sum();
        let count = sorted.len();
        let count_u32 = u32::try_from(count).unwrap_or(u32::MAX);
        Some(LatencySummary {
            count,
            min_ms: millis(first),
            mean_ms: millis(total / count_u32),
            p50_ms: millis(percentile(&sorted, 50.0)),
            p99_ms: millis(percentile(&sorted, 99.0)),
            max_ms: millis(last),
        })
    }
}

/// Nearest-rank percentile of ascending `sorted` samples: the smallest sample that at least `p`
/// percent of the samples do not exceed. `p` is clamped to 0..=100; panics on no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "percentile of no samples");
    debug_assert!(sorted.is_sorted(), "samples must be sorted");
    let n = sorted.len();
    // rank = ceil(p/100 * n), at least 1. The float is a count of samples, well inside f64's
    // exact integer range, and `as` saturates.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let samples = ms(1..=100);
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&samples, 99.5), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(1));
    }

    #[test]
    fn p99_of_two_thousand_is_the_1980th() {
        let samples = ms(1..=2000);
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(1980));
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(1000));
    }

    #[test]
    fn small_sets_round_up() {
        assert_eq!(percentile(&ms([7]), 50.0), Duration::from_millis(7));
        assert_eq!(percentile(&ms([1, 2]), 50.0), Duration::from_millis(1));
        assert_eq!(percentile(&ms([1, 2]), 51.0), Duration::from_millis(2));
        assert_eq!(percentile(&ms([1, 2, 3]), 99.0), Duration::from_millis(3));
    }

    #[test]
    fn summary_sorts_and_averages() {
        let summary = LatencySummary::from_samples(&ms([30, 10, 20, 40])).expect("samples");
        assert_eq!(summary.count, 4);
        assert!((summary.min_ms - 10.0).abs() < 1e-9);
        assert!((summary.mean_ms - 25.0).abs() < 1e-9);
        assert!((summary.p50_ms - 20.0).abs() < 1e-9);
        assert!((summary.p99_ms - 40.0).abs() < 1e-9);
        assert!((summary.max_ms - 40.0).abs() < 1e-9);
        assert_eq!(LatencySummary::from_samples(&[]), None);
    }
}
