//! Absolute limits on the canary alone (`p99_ms < 300`, `error_rate < 0.01`).
//!
//! Fail only when the canary's lower bound exceeds the limit, pass only when its upper bound is
//! below it, otherwise hold. The bounds are distribution-free and **time-uniform**: for a
//! latency quantile the order-statistic confidence sequence of [`quantile_cs`](super::quantile_cs),
//! for a rate the Bernoulli e-process bounds of [`anytime`](super::anytime). A fixed-sample
//! Wilson or Clopper-Pearson interval recomputed at every look would overstate the evidence
//! (the repeated-looks problem), so the time-uniform ones are used; they are somewhat wider.
//! Each side is tested at the check's full α share (only one side can conclude).
//! Small samples are honest holds: 0 errors in 200 requests cannot prove a rate below 1%.

use super::anytime::{Side, bernoulli_log_e, proportion_bounds};
use super::observation::ArmObservation;
use super::quantile_cs::{QuantileCache, quantile_bounds_with, quantile_label};
use super::spec::{AbsoluteMetric, AbsoluteSpec};
use super::verdict::{CheckResult, Interval, Outcome};

/// Judges one absolute check on the canary's cumulative counts.
pub fn judge_absolute(
    spec: &AbsoluteSpec,
    metric: AbsoluteMetric,
    alpha: f64,
    values: &[f64],
    canary: &ArmObservation,
) -> CheckResult {
    judge_absolute_with(
        spec,
        metric,
        alpha,
        values,
        canary,
        &mut QuantileCache::default(),
    )
}

/// [`judge_absolute`] with the quantile mixtures and buffer kept by the caller.
pub(crate) fn judge_absolute_with(
    spec: &AbsoluteSpec,
    metric: AbsoluteMetric,
    alpha: f64,
    values: &[f64],
    canary: &ArmObservation,
    cache: &mut QuantileCache,
) -> CheckResult {
    match metric {
        AbsoluteMetric::LatencyQuantileMs(q) => {
            latency_limit(q, spec.max, alpha, values, &canary.latency, cache)
        }
        AbsoluteMetric::ErrorRate(kind) => {
            let name = format!("absolute_{}", spec.metric.trim());
            judge_rate_limit(&name, canary.errors(kind), canary.requests, spec.max, alpha)
        }
    }
}

/// "The canary's q-quantile is below `max_ms`."
pub fn judge_latency_limit(
    q: f64,
    max_ms: f64,
    alpha: f64,
    values: &[f64],
    canary: &[f64],
) -> CheckResult {
    latency_limit(
        q,
        max_ms,
        alpha,
        values,
        canary,
        &mut QuantileCache::default(),
    )
}

fn latency_limit(
    q: f64,
    max_ms: f64,
    alpha: f64,
    values: &[f64],
    canary: &[f64],
    cache: &mut QuantileCache,
) -> CheckResult {
    let label = quantile_label(q);
    let name = format!("absolute_{label}_ms");
    let (mixtures, cumulative) = cache.for_quantile(q);
    let bounds = quantile_bounds_with(values, canary, q, alpha, mixtures, cumulative);
    let n = bounds.n as u64;
    if n == 0 {
        return CheckResult::no_data(
            name,
            max_ms,
            alpha,
            0,
            0,
            "no canary latency data yet".to_string(),
        );
    }
    let outcome = if bounds.lower > max_ms {
        Outcome::Regressed
    } else if bounds.upper < max_ms {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let upper = if bounds.upper.is_finite() {
        format!("{:.1}", bounds.upper)
    } else {
        "∞".to_string()
    };
    let band = format!(
        "canary {label} {:.1} ms, anytime bounds [{:.1}, {upper}] ms from {n} requests",
        bounds.estimate, bounds.lower
    );
    let reason = match outcome {
        Outcome::Regressed => format!(
            "{label} above {max_ms} ms: lower bound {:.1} ms > {max_ms} ms; {band}",
            bounds.lower
        ),
        Outcome::Safe => {
            format!("{label} below {max_ms} ms: upper bound {upper} ms < {max_ms} ms; {band}")
        }
        _ => format!("{label} limit {max_ms} ms lies inside the bounds, hold; {band}"),
    };
    CheckResult {
        name,
        outcome,
        estimate: Some(bounds.estimate),
        interval: Some(Interval {
            lower: bounds.lower,
            upper: bounds.upper,
        }),
        n_baseline: 0,
        n_canary: n,
        threshold: max_ms,
        statistic: None,
        e_value: None,
        e_value_safe: None,
        alpha,
        reason,
        mann_whitney: None,
    }
}

/// "The canary's rate `errors/requests` is below `max_rate`."
pub fn judge_rate_limit(
    name: &str,
    errors: u64,
    requests: u64,
    max_rate: f64,
    alpha: f64,
) -> CheckResult {
    if requests == 0 {
        return CheckResult::no_data(
            name,
            max_rate,
            alpha,
            0,
            0,
            "no canary requests yet".to_string(),
        );
    }
    let (k, n) = (errors as f64, requests as f64);
    let log_threshold = (1.0 / alpha).ln();
    let log_regress = bernoulli_log_e(k, n, max_rate, Side::AtMost);
    let log_safe = bernoulli_log_e(k, n, max_rate, Side::AtLeast);
    let outcome = if log_regress >= log_threshold {
        Outcome::Regressed
    } else if log_safe >= log_threshold {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let (lower, upper) = proportion_bounds(k, n, alpha);
    let pct = |x: f64| format!("{:.3}%", 100.0 * x);
    let band = format!(
        "canary {errors}/{requests} = {}, anytime bounds [{}, {}]",
        pct(k / n),
        pct(lower),
        pct(upper)
    );
    let reason = match outcome {
        Outcome::Regressed => format!(
            "rate above {}: lower bound {} > limit; {band}",
            pct(max_rate),
            pct(lower)
        ),
        Outcome::Safe => format!(
            "rate below {}: upper bound {} < limit; {band}",
            pct(max_rate),
            pct(upper)
        ),
        _ => format!(
            "limit {} lies inside the bounds, hold; {band}",
            pct(max_rate)
        ),
    };
    CheckResult {
        name: name.to_string(),
        outcome,
        estimate: Some(k / n),
        interval: Some(Interval { lower, upper }),
        n_baseline: 0,
        n_canary: requests,
        threshold: max_rate,
        statistic: None,
        e_value: Some(log_regress.exp()),
        e_value_safe: Some(log_safe.exp()),
        alpha,
        reason,
        mann_whitney: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_of_two_hundred_is_a_hold_not_a_pass() {
        let result = judge_rate_limit("absolute_error_rate", 0, 200, 0.01, 0.05);
        assert_eq!(result.outcome, Outcome::Inconclusive, "{}", result.reason);
        let result = judge_rate_limit("absolute_error_rate", 0, 5_000, 0.01, 0.05);
        assert_eq!(result.outcome, Outcome::Safe, "{}", result.reason);
        let result = judge_rate_limit("absolute_error_rate", 60, 2_000, 0.01, 0.05);
        assert_eq!(result.outcome, Outcome::Regressed, "{}", result.reason);
    }

    #[test]
    fn latency_limit_uses_the_bounds() {
        let values: Vec<f64> = (1..=500).map(f64::from).collect();
        // 10,000 requests uniform on 1..=500 ms: p99 ≈ 495 ms.
        let counts = vec![20.0; 500];
        assert_eq!(
            judge_latency_limit(0.99, 400.0, 0.05, &values, &counts).outcome,
            Outcome::Regressed
        );
        assert_eq!(
            judge_latency_limit(0.5, 400.0, 0.05, &values, &counts).outcome,
            Outcome::Safe
        );
        // Three fast requests cannot prove a p99 below 400 ms ...
        let mut few = vec![0.0; 500];
        few[99] = 3.0;
        assert_eq!(
            judge_latency_limit(0.99, 400.0, 0.05, &values, &few).outcome,
            Outcome::Inconclusive
        );
        // ... but three requests all above 400 ms do prove the p99 is above it (0.01³ chance).
        let mut slow = vec![0.0; 500];
        slow[499] = 3.0;
        assert_eq!(
            judge_latency_limit(0.99, 400.0, 0.05, &values, &slow).outcome,
            Outcome::Regressed
        );
        assert_eq!(
            judge_latency_limit(0.99, 400.0, 0.05, &values, &[0.0; 500]).outcome,
            Outcome::NoData
        );
    }
}
