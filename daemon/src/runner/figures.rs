//! Human-readable figures of one observed window (p50, p99, error rate per arm), for the live
//! view and the journal's readers. The judge works on the full histograms; these are only shown.

use serde::Serialize;

use crate::judge::histogram::LogBuckets;
use crate::judge::{ArmObservation, Observation};

/// One arm in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ArmFigures {
    pub requests: u64,
    /// Bucket-midpoint estimates from the latency histogram; None without latency data.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// (5xx + model errors) / requests; None without requests.
    pub error_rate: Option<f64>,
}

/// Both arms in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowFigures {
    pub window_start_unix_s: i64,
    pub window_end_unix_s: i64,
    pub baseline: ArmFigures,
    pub canary: ArmFigures,
}

impl WindowFigures {
    pub fn of(observation: &Observation) -> Self {
        WindowFigures {
            window_start_unix_s: observation.window_start_unix_s,
            window_end_unix_s: observation.window_end_unix_s,
            baseline: arm_figures(&observation.buckets, &observation.baseline),
            canary: arm_figures(&observation.buckets, &observation.canary),
        }
    }
}

fn arm_figures(buckets: &LogBuckets, arm: &ArmObservation) -> ArmFigures {
    let error_rate = (arm.requests > 0)
        .then(|| (arm.errors_5xx + arm.model_errors) as f64 / arm.requests as f64);
    ArmFigures {
        requests: arm.requests,
        p50_ms: quantile(buckets, &arm.latency, 0.50),
        p99_ms: quantile(buckets, &arm.latency, 0.99),
        error_rate,
    }
}

/// The midpoint of the bucket holding the `q` quantile of the histogram `counts`.
pub fn quantile(buckets: &LogBuckets, counts: &[f64], q: f64) -> Option<f64> {
    let total: f64 = counts.iter().filter(|c| c.is_finite() && **c > 0.0).sum();
    if total <= 0.0 {
        return None;
    }
    let target = q * total;
    let mut cumulative = 0.0;
    for (index, count) in counts.iter().enumerate() {
        if count.is_finite() && *count > 0.0 {
            cumulative += count;
        }
        if cumulative >= target {
            return Some(buckets.value_of(index.min(buckets.len().saturating_sub(1))));
        }
    }
    Some(buckets.value_of(buckets.len().saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_bucket_holding_them() {
        let buckets = LogBuckets::new(1.0, 2.0, 8).expect("valid buckets");
        // 50 requests in bucket 3, 49 in bucket 4, 1 in bucket 7.
        let mut counts = vec![0.0; 8];
        counts[3] = 50.0;
        counts[4] = 49.0;
        counts[7] = 1.0;
        assert_eq!(quantile(&buckets, &counts, 0.5), Some(buckets.value_of(3)));
        assert_eq!(quantile(&buckets, &counts, 0.99), Some(buckets.value_of(4)));
        assert_eq!(quantile(&buckets, &counts, 1.0), Some(buckets.value_of(7)));
        assert_eq!(quantile(&buckets, &[0.0; 8], 0.5), None);
    }

    #[test]
    fn error_rate_counts_gateway_and_model_errors_not_throttling() {
        let buckets = LogBuckets::new(1.0, 2.0, 4).expect("valid buckets");
        let arm = ArmObservation {
            latency: vec![0.0, 100.0, 0.0, 0.0],
            requests: 100,
            errors_5xx: 3,
            model_errors: 2,
            throttled: 7,
        };
        let figures = arm_figures(&buckets, &arm);
        assert_eq!(figures.error_rate, Some(0.05));
        assert_eq!(figures.requests, 100);
    }
}
