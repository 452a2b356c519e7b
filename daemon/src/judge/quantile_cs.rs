//! Latency tails, anytime-valid: time-uniform confidence sequences for a quantile of each arm
//! (after Howard & Ramdas, "Sequential estimation of quantiles with applications to A/B-testing",
//! Bernoulli 2022) and the two-arm comparison built on them.
//!
//! **Bounds for one arm.** For a fixed point x the number of requests at or below x is a
//! binomial count with success probability F(x). The lower bound on the q-quantile is the
//! largest bin value at which the e-process for "F(x) ≥ q" (a discrete mixture of likelihood
//! ratios over alternatives below q, see [`anytime`](super::anytime)) has reached 1/α'; the upper
//! bound is the smallest bin value at which the one for "F(x) < q" has. Both are wrong only if
//! one fixed e-process, at the true quantile, ever crosses: probability ≤ α' over all looks,
//! with ties, without asymptotics, and for arms of any and growing size. Bounds are bin values
//! (the bucket's geometric midpoint), so their resolution is the bucket growth factor.
//!
//! **Two arms.** With margin m (policy `max_increase`):
//! * Regressed ("canary's q-quantile > (1+m) × baseline's" proven) when
//!   lower_C > (1+m)·upper_B;
//! * Safe ("canary's q-quantile < (1+m) × baseline's" proven) when upper_C < (1+m)·lower_B.
//!
//! Each side uses α' = α_check/2 per arm, so each decision errs with probability ≤ α_check.
//! The cumulative histograms of each arm are used (each arm is a sample from its own
//! distribution; changing traffic shares only change how fast each arm grows).

use super::anytime::{QuantileMixtures, quantile_bound_indices_with};
use super::spec::QuantileSpec;
use super::verdict::{CheckResult, Interval, Outcome};

/// Time-uniform bounds and the empirical value of one arm's quantile (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileBounds {
    /// 0 when no bin qualifies yet.
    pub lower: f64,
    /// +∞ when no bin qualifies yet.
    pub upper: f64,
    /// Empirical quantile (smallest bin with cumulative share ≥ q), NaN without data.
    pub estimate: f64,
    pub n: f64,
}

/// Bounds on the q-quantile of binned data (`values` increasing, `counts` per bin), each side
/// at level `alpha_each`.
pub fn quantile_bounds(values: &[f64], counts: &[f64], q: f64, alpha_each: f64) -> QuantileBounds {
    quantile_bounds_with(
        values,
        counts,
        q,
        alpha_each,
        &QuantileMixtures::new(q),
        &mut Vec::new(),
    )
}

/// Running sums of `counts`, equal bit for bit to summing them one by one in f64.
pub fn cumulative_counts(counts: &[f64]) -> Vec<f64> {
    let mut cumulative = Vec::with_capacity(counts.len());
    cumulative_counts_into(counts, &mut cumulative);
    cumulative
}

/// [`cumulative_counts`] into a reused buffer. Whole counts in [0, 2^52) whose total stays
/// below 2^53 (request counts) make every partial sum an exact integer, so any grouping gives
/// the sequential sums: blocks of eight are summed locally and then offset by the running total
/// (one dependent add per block instead of one per bin). Other counts are summed one by one.
pub fn cumulative_counts_into(counts: &[f64], cumulative: &mut Vec<f64>) {
    const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    const SHIFT: f64 = 4_503_599_627_370_496.0; // 2^52: (x + 2^52) − 2^52 rounds x to an integer
    cumulative.clear();
    cumulative.reserve(counts.len());
    // Branch-free so that it vectorises; NaN fails every comparison.
    let whole = counts.iter().fold(true, |ok, &c| {
        ok & (0.0..SHIFT).contains(&c) & ((c + SHIFT) - SHIFT == c)
    });
    if whole {
        exact_running_sums(counts, cumulative);
        let running = cumulative.last().copied().unwrap_or(0.0);
        // Rounding is monotone: a total that reached 2^53 anywhere still does at the end.
        if running < EXACT_LIMIT {
            return;
        }
        cumulative.clear();
    }
    let mut running = 0.0;
    for &count in counts {
        running += count;
        cumulative.push(running);
    }
}

/// Appends the running sums of `counts`, which must be whole with a total below 2^53 (every
/// partial sum is then exact): blocks of eight summed locally, then offset by the total so far.
pub(super) fn exact_running_sums(counts: &[f64], out: &mut Vec<f64>) {
    let blocks = counts.chunks_exact(8);
    let rest = blocks.remainder();
    let mut running = 0.0f64;
    for block in blocks {
        let mut local = [0.0f64; 8];
        let mut sum = 0.0f64;
        for (slot, &count) in local.iter_mut().zip(block) {
            sum += count;
            *slot = sum;
        }
        out.extend(local.iter().map(|partial| running + partial));
        running += sum;
    }
    for &count in rest {
        running += count;
        out.push(running);
    }
}

/// [`quantile_bounds`] with the mixtures for q built by the caller (shared by both arms and
/// kept between looks) and a reused buffer for the running sums.
pub(crate) fn quantile_bounds_with(
    values: &[f64],
    counts: &[f64],
    q: f64,
    alpha_each: f64,
    mixtures: &QuantileMixtures,
    cumulative: &mut Vec<f64>,
) -> QuantileBounds {
    cumulative_counts_into(counts, cumulative);
    let cumulative = &cumulative[..];
    let n = cumulative.last().copied().unwrap_or(0.0);
    let estimate = if n > 0.0 {
        let index = cumulative
            .partition_point(|&c| c < q * n)
            .min(values.len().saturating_sub(1));
        values.get(index).copied().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    let (lower, upper) = quantile_bound_indices_with(cumulative, mixtures, alpha_each);
    QuantileBounds {
        lower: lower.and_then(|i| values.get(i)).copied().unwrap_or(0.0),
        upper: upper
            .and_then(|i| values.get(i))
            .copied()
            .unwrap_or(f64::INFINITY),
        estimate,
        n,
    }
}

/// A label like `p99` or `p99.9`.
pub fn quantile_label(q: f64) -> String {
    let percent = q * 100.0;
    if (percent - percent.round()).abs() < 1e-9 {
        format!("p{}", percent.round())
    } else {
        format!("p{}", (percent * 1000.0).round() / 1000.0)
    }
}

/// The two-arm quantile check on cumulative histograms.
pub fn judge_quantile(
    spec: &QuantileSpec,
    alpha: f64,
    values: &[f64],
    baseline: &[f64],
    canary: &[f64],
) -> CheckResult {
    judge_quantile_with(
        spec,
        alpha,
        values,
        baseline,
        canary,
        &mut QuantileCache::default(),
    )
}

/// What the quantile checks can reuse from look to look: the mixtures of each q (they depend
/// on q alone) and the buffer for the running sums.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuantileCache {
    mixtures: Vec<(u64, QuantileMixtures)>,
    cumulative: Vec<f64>,
}

impl QuantileCache {
    /// The mixtures for q (built on first use) and the running-sum buffer.
    pub(crate) fn for_quantile(&mut self, q: f64) -> (&QuantileMixtures, &mut Vec<f64>) {
        let position = match self
            .mixtures
            .iter()
            .position(|(bits, _)| *bits == q.to_bits())
        {
            Some(position) => position,
            None => {
                // A few specs' worth (see `LookCache`).
                if self.mixtures.len() >= 16 {
                    self.mixtures.clear();
                }
                self.mixtures.push((q.to_bits(), QuantileMixtures::new(q)));
                self.mixtures.len() - 1
            }
        };
        (&self.mixtures[position].1, &mut self.cumulative)
    }
}

/// [`judge_quantile`] with the mixtures and buffer kept by the caller.
pub(crate) fn judge_quantile_with(
    spec: &QuantileSpec,
    alpha: f64,
    values: &[f64],
    baseline: &[f64],
    canary: &[f64],
    cache: &mut QuantileCache,
) -> CheckResult {
    let (mixtures, cumulative) = cache.for_quantile(spec.q);
    let label = quantile_label(spec.q);
    let name = format!("latency_{label}");
    let factor = 1.0 + spec.max_increase;
    let alpha_each = alpha / 2.0;
    let base = quantile_bounds_with(values, baseline, spec.q, alpha_each, mixtures, cumulative);
    let cand = quantile_bounds_with(values, canary, spec.q, alpha_each, mixtures, cumulative);
    let (n_baseline, n_canary) = (base.n as u64, cand.n as u64);
    if base.n <= 0.0 || cand.n <= 0.0 {
        return CheckResult::no_data(
            name,
            factor,
            alpha,
            n_baseline,
            n_canary,
            format!("no latency data yet (baseline {n_baseline}, canary {n_canary} requests)"),
        );
    }
    let regressed = cand.lower > factor * base.upper;
    let safe = cand.upper < factor * base.lower;
    let outcome = if regressed {
        Outcome::Regressed
    } else if safe {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let ratio = cand.estimate / base.estimate;
    // The ratio interval implied by the two bands (each arm at α/2 per side).
    let interval = Interval {
        lower: if base.upper.is_finite() {
            cand.lower / base.upper
        } else {
            0.0
        },
        upper: if base.lower > 0.0 {
            cand.upper / base.lower
        } else {
            f64::INFINITY
        },
    };
    let limit = format!("{factor:.2}× baseline");
    let bands = format!(
        "canary {label} {:.1} ms [{}, {}], baseline {:.1} ms [{}, {}] ({:.1}% anytime bands)",
        cand.estimate,
        format_ms(cand.lower),
        format_ms(cand.upper),
        base.estimate,
        format_ms(base.lower),
        format_ms(base.upper),
        100.0 * (1.0 - alpha_each)
    );
    let reason = match outcome {
        Outcome::Regressed => format!(
            "{label} regressed: canary's lower bound {} ms exceeds {limit} upper bound {:.1} ms; {bands}",
            format_ms(cand.lower),
            factor * base.upper
        ),
        Outcome::Safe => format!(
            "{label} within {limit}: canary's upper bound {} ms is below {:.1} ms; {bands}",
            format_ms(cand.upper),
            factor * base.lower
        ),
        _ => format!(
            "{label} ratio {ratio:.3} (limit {factor:.2}); bands overlap, hold: {bands}; tails need more requests ({n_canary} canary, {n_baseline} baseline)"
        ),
    };
    CheckResult {
        name,
        outcome,
        estimate: Some(ratio),
        interval: Some(interval),
        n_baseline,
        n_canary,
        threshold: factor,
        statistic: None,
        e_value: None,
        e_value_safe: None,
        alpha,
        reason,
        mann_whitney: None,
    }
}

fn format_ms(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        "∞".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal};

    const GROWTH: f64 = 1.02;

    fn values() -> Vec<f64> {
        (0..800).map(|k| GROWTH.powf(k as f64 + 0.5)).collect()
    }

    fn sample_into(
        counts: &mut [f64],
        rng: &mut ChaCha8Rng,
        n: usize,
        dist: &impl Distribution<f64>,
    ) {
        for _ in 0..n {
            let x: f64 = dist.sample(rng);
            let index = ((x.ln() / GROWTH.ln()).floor().max(0.0) as usize).min(counts.len() - 1);
            counts[index] += 1.0;
        }
    }

    /// A mixture whose body is identical but whose slowest 3% are 2.5× slower: the p99 moves a lot,
    /// the median not at all.
    fn tail_heavy(rng: &mut ChaCha8Rng, counts: &mut [f64], n: usize) {
        let body = LogNormal::new(100.0_f64.ln(), 0.3).expect("valid");
        let tail = LogNormal::new(400.0_f64.ln(), 0.2).expect("valid");
        let tail_n = n * 3 / 100;
        sample_into(counts, rng, n - tail_n, &body);
        sample_into(counts, rng, tail_n, &tail);
    }

    /// The bounds as they were computed before the shared mixtures and integer running sums.
    fn reference_bounds(values: &[f64], counts: &[f64], q: f64, alpha_each: f64) -> QuantileBounds {
        let mut cumulative = Vec::new();
        let mut running = 0.0;
        for &count in counts {
            running += count;
            cumulative.push(running);
        }
        let n = running;
        let estimate = if n > 0.0 {
            let index = cumulative
                .partition_point(|&c| c < q * n)
                .min(values.len() - 1);
            values[index]
        } else {
            f64::NAN
        };
        let (lower, upper) =
            crate::judge::anytime::quantile_bound_indices_cumulative(&cumulative, q, alpha_each);
        QuantileBounds {
            lower: lower.map_or(0.0, |i| values[i]),
            upper: upper.map_or(f64::INFINITY, |i| values[i]),
            estimate,
            n,
        }
    }

    #[test]
    fn bounds_equal_the_sequential_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let dist = LogNormal::new(100.0_f64.ln(), 0.7).expect("valid");
        let mut whole = vec![0.0; 800];
        sample_into(&mut whole, &mut rng, 30_000, &dist);
        // Fractional and huge counts take the floating-point running sum.
        let fractional: Vec<f64> = whole.iter().map(|c| c * 0.37).collect();
        let mut huge = whole.clone();
        huge[400] = 1e16;
        let empty = vec![0.0; 800];
        for counts in [&whole, &fractional, &huge, &empty] {
            let sequential: Vec<f64> = counts
                .iter()
                .scan(0.0, |running, c| {
                    *running += c;
                    Some(*running)
                })
                .collect();
            assert_eq!(cumulative_counts(counts), sequential);
            for q in [0.5, 0.9, 0.99, 0.999] {
                let ours = quantile_bounds(&values(), counts, q, 0.01);
                let reference = reference_bounds(&values(), counts, q, 0.01);
                assert_eq!(ours.lower, reference.lower);
                assert_eq!(ours.upper, reference.upper);
                assert_eq!(ours.n, reference.n);
                assert!(ours.estimate == reference.estimate || counts == &empty);
            }
        }
    }

    #[test]
    fn bounds_cover_the_truth_and_shrink() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dist = LogNormal::new(100.0_f64.ln(), 0.5).expect("valid");
        let true_p90 = (100.0_f64.ln() + 0.5 * 1.2815515655446004).exp();
        let mut counts = vec![0.0; 800];
        sample_into(&mut counts, &mut rng, 500, &dist);
        let small = quantile_bounds(&values(), &counts, 0.9, 0.025);
        sample_into(&mut counts, &mut rng, 20_000, &dist);
        let large = quantile_bounds(&values(), &counts, 0.9, 0.025);
        for bounds in [small, large] {
            assert!(
                bounds.lower <= true_p90 * GROWTH && bounds.upper >= true_p90 / GROWTH,
                "{bounds:?} vs {true_p90}"
            );
        }
        assert!(large.upper - large.lower < small.upper - small.lower);
    }

    #[test]
    fn tail_only_change_is_caught() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let body = LogNormal::new(100.0_f64.ln(), 0.3).expect("valid");
        let mut baseline = vec![0.0; 800];
        let mut canary = vec![0.0; 800];
        sample_into(&mut baseline, &mut rng, 20_000, &body);
        tail_heavy(&mut rng, &mut canary, 5_000);
        let spec = QuantileSpec {
            q: 0.99,
            max_increase: 0.15,
            weight: 1.0,
        };
        let result = judge_quantile(&spec, 0.01, &values(), &baseline, &canary);
        assert_eq!(result.outcome, Outcome::Regressed, "{}", result.reason);
        // The median check of the same data sees nothing beyond a 15% margin.
        let median = QuantileSpec { q: 0.5, ..spec };
        let result = judge_quantile(&median, 0.01, &values(), &baseline, &canary);
        assert_ne!(result.outcome, Outcome::Regressed, "{}", result.reason);
    }

    #[test]
    fn identical_arms_are_not_regressed_and_become_safe_with_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let dist = LogNormal::new(100.0_f64.ln(), 0.5).expect("valid");
        let mut baseline = vec![0.0; 800];
        let mut canary = vec![0.0; 800];
        sample_into(&mut baseline, &mut rng, 50_000, &dist);
        sample_into(&mut canary, &mut rng, 50_000, &dist);
        let spec = QuantileSpec {
            q: 0.99,
            max_increase: 0.15,
            weight: 1.0,
        };
        let result = judge_quantile(&spec, 0.01, &values(), &baseline, &canary);
        assert_eq!(result.outcome, Outcome::Safe, "{}", result.reason);
        let few = judge_quantile(&spec, 0.01, &values(), &baseline, &vec![1.0; 800][..]);
        assert_ne!(few.outcome, Outcome::Safe);
        let none = judge_quantile(&spec, 0.01, &values(), &baseline, &[0.0; 800]);
        assert_eq!(none.outcome, Outcome::NoData);
    }
}
