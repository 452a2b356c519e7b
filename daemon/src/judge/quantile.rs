//! A quantile with a distribution-free confidence interval from order statistics.
//!
//! The estimate is the inverse empirical CDF X_(⌈q·n⌉) (Hyndman-Fan type 1). The interval
//! [X_(l), X_(u)] uses P(X_(l) ≤ ξ_q) = P(Bin(n, q) ≥ l) and P(X_(u) ≥ ξ_q) = P(Bin(n, q) ≤ u−1)
//! (e.g. David & Nagaraja, "Order Statistics", §7.1): l is the largest order with
//! P(Bin(n, q) ≤ l−1) ≤ α/2 and u the smallest with P(Bin(n, q) ≤ u−1) ≥ 1 − α/2, so the
//! coverage is at least the confidence for any continuous distribution (ties only make the
//! interval more conservative). When too few observations exist for a side, that bound is
//! infinite: the data cannot bound it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::binomial::binomial_cdf;
use super::histogram::sorted_finite;

/// Why a quantile could not be estimated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QuantileError {
    #[error("no observations")]
    Empty,
    #[error("{values} values but {counts} counts")]
    LengthMismatch { values: usize, counts: usize },
    #[error("values must be finite and strictly increasing (index {0})")]
    NotIncreasing(usize),
    #[error("counts must be whole non-negative numbers (index {index}: {count})")]
    InvalidCount { index: usize, count: f64 },
    #[error("quantile must be in (0, 1) (got {0})")]
    InvalidQuantile(f64),
    #[error("confidence must be in (0, 1) (got {0})")]
    InvalidConfidence(f64),
}

/// A quantile estimate with its order-statistic confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileEstimate {
    pub estimate: f64,
    /// X_(l), or −∞ when even X_(1) is too high to be a lower bound at this confidence.
    pub lower: f64,
    /// X_(u), or +∞ when even X_(n) is too low to be an upper bound at this confidence.
    pub upper: f64,
    /// Number of observations.
    pub n: f64,
}

/// The `q`-quantile of a histogram (`counts[i]` observations at `values[i]`, values strictly
/// increasing) with a two-sided `confidence` interval.
pub fn quantile_with_interval(
    values: &[f64],
    counts: &[f64],
    q: f64,
    confidence: f64,
) -> Result<QuantileEstimate, QuantileError> {
    if values.len() != counts.len() {
        return Err(QuantileError::LengthMismatch {
            values: values.len(),
            counts: counts.len(),
        });
    }
    if !(q > 0.0 && q < 1.0) {
        return Err(QuantileError::InvalidQuantile(q));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(QuantileError::InvalidConfidence(confidence));
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(QuantileError::NotIncreasing(index));
    }
    // Finite (checked above), so `>=` negates `<`.
    if let Some(index) = values.windows(2).position(|w| w[0] >= w[1]) {
        return Err(QuantileError::NotIncreasing(index + 1));
    }
    if let Some(index) = counts
        .iter()
        .position(|c| !(c.is_finite() && *c >= 0.0 && c.fract() == 0.0))
    {
        return Err(QuantileError::InvalidCount {
            index,
            count: counts[index],
        });
    }
    let total: f64 = counts.iter().sum();
    if total == 0.0 {
        return Err(QuantileError::Empty);
    }
    let n = total as u64;
    let half_alpha = (1.0 - confidence) / 2.0;
    let estimate_order = ((q * total).ceil() as u64).clamp(1, n);
    // l: largest order with P(Bin(n, q) ≤ l−1) ≤ α/2. The cdf increases in l, so search.
    let lower_order = last_order_with(n, |order| binomial_cdf(order - 1, n, q) <= half_alpha);
    // u: smallest order with P(Bin(n, q) ≤ u−1) ≥ 1 − α/2.
    let upper_order = last_order_with(n, |order| binomial_cdf(order - 1, n, q) < 1.0 - half_alpha)
        .map_or(Some(1), |order| (order < n).then_some(order + 1));
    let value_at = |order: u64| order_statistic(values, counts, order as f64);
    Ok(QuantileEstimate {
        estimate: value_at(estimate_order),
        lower: lower_order.map_or(f64::NEG_INFINITY, value_at),
        upper: upper_order.map_or(f64::INFINITY, value_at),
        n: total,
    })
}

/// The same on raw samples (NaN and infinities dropped).
pub fn quantile_with_interval_samples(
    samples: &[f64],
    q: f64,
    confidence: f64,
) -> Result<QuantileEstimate, QuantileError> {
    let sorted = sorted_finite(samples);
    let mut values: Vec<f64> = Vec::new();
    let mut counts: Vec<f64> = Vec::new();
    for value in sorted {
        match values.last() {
            Some(last) if *last == value => {
                if let Some(count) = counts.last_mut() {
                    *count += 1.0;
                }
            }
            _ => {
                values.push(value);
                counts.push(1.0);
            }
        }
    }
    quantile_with_interval(&values, &counts, q, confidence)
}

/// Largest order in 1..=n for which `holds` is true, given `holds` is true on a prefix.
fn last_order_with(n: u64, holds: impl Fn(u64) -> bool) -> Option<u64> {
    if !holds(1) {
        return None;
    }
    let (mut good, mut bad) = (1u64, n + 1);
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if holds(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

/// The value of the `order`-th smallest observation (1-based) of a histogram.
fn order_statistic(values: &[f64], counts: &[f64], order: f64) -> f64 {
    let mut cumulative = 0.0;
    for (value, count) in values.iter().zip(counts) {
        cumulative += count;
        if cumulative >= order {
            return *value;
        }
    }
    values.last().copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_hundred_has_the_textbook_interval() {
        // For n = 100, q = ½, 95%: the classic interval is [X_(40), X_(61)].
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let estimate = quantile_with_interval_samples(&samples, 0.5, 0.95).expect("data");
        assert_eq!(estimate.estimate, 50.0);
        assert_eq!(estimate.lower, 40.0);
        assert_eq!(estimate.upper, 61.0);
        assert_eq!(estimate.n, 100.0);
    }

    #[test]
    fn too_few_samples_leave_the_tail_unbounded() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let estimate = quantile_with_interval_samples(&samples, 0.99, 0.95).expect("data");
        assert_eq!(estimate.upper, f64::INFINITY);
        assert!(estimate.lower <= estimate.estimate);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(quantile_with_interval(&[1.0], &[0.0], 0.5, 0.9).is_err());
        assert!(quantile_with_interval(&[1.0], &[1.5], 0.5, 0.9).is_err());
        assert!(quantile_with_interval(&[1.0], &[1.0], 1.0, 0.9).is_err());
        assert!(quantile_with_interval(&[2.0, 1.0], &[1.0, 1.0], 0.5, 0.9).is_err());
    }
}
