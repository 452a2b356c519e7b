//! Binomial tails and intervals for error counts (statistics.md, "Error rates on small counts").
//!
//! Tails are sums of probability masses starting from the bin at the tail's edge, walking away
//! from the mean with the ratio pmf(j+1)/pmf(j) = (n−j)/(j+1)·p/q. The first mass comes from
//! Loader's saddle-point formula (C. Loader, "Fast and accurate computation of binomial
//! probabilities", 2000), which keeps full relative accuracy where ln-gamma differences would
//! cancel. Summing the smaller tail directly keeps relative accuracy for tiny tails; the larger
//! tail is one minus the smaller. Cost: O(min(n, √(npq)·9)) terms.

use serde::{Deserialize, Serialize};

/// ln(√(2π)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Stirling's error ln(n!) − ln(√(2πn)·(n/e)^n).
fn stirling_error(n: f64) -> f64 {
    if n <= 15.0 {
        // Small n: direct from ln Γ; the result is O(1/n) and ln Γ(n+1) is small, so no
        // cancellation worth noting.
        statrs::function::gamma::ln_gamma(n + 1.0) - (n + 0.5) * n.ln() + n - LN_SQRT_2PI
    } else {
        // Asymptotic series 1/(12n) − 1/(360n³) + 1/(1260n⁵) − 1/(1680n⁷) + 1/(1188n⁹).
        let n2 = n * n;
        (1.0 / 12.0
            - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - 1.0 / (1188.0 * n2)) / n2) / n2) / n2)
            / n
    }
}

/// Deviance term x·ln(x/m) + m − x, by a series when x ≈ m (Loader 2000).
fn deviance(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let mut sum = (x - m) * v;
        let mut term = 2.0 * x * v;
        let v2 = v * v;
        for j in 1..1000 {
            term *= v2;
            let next = sum + term / (2 * j + 1) as f64;
            if next == sum {
                return next;
            }
            sum = next;
        }
        sum
    } else {
        x * (x / m).ln() + m - x
    }
}

/// P(X = k) for X ~ Bin(n, p), with q = 1 − p passed separately for accuracy.
fn pmf(k: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if k == 0.0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    if k == 0.0 {
        return (n * (-p).ln_1p()).exp();
    }
    if k == n {
        return (n * p.ln()).exp();
    }
    let log_core = stirling_error(n)
        - stirling_error(k)
        - stirling_error(n - k)
        - deviance(k, n * p)
        - deviance(n - k, n * q);
    let log_front = 2.0 * LN_SQRT_2PI + k.ln() + (-k / n).ln_1p();
    (log_core - 0.5 * log_front).exp()
}

/// Σ pmf(j) for j from `start` stepping by `step` (+1 or −1) within [0, n] while terms matter.
fn tail_sum(start: u64, upward: bool, n: u64, p: f64, q: f64) -> f64 {
    let nf = n as f64;
    let mut j = start;
    let mut term = pmf(j as f64, nf, p, q);
    let mut sum = 0.0;
    loop {
        sum += term;
        if upward {
            if j >= n {
                break;
            }
            term *= (nf - j as f64) / (j as f64 + 1.0) * (p / q);
            j += 1;
        } else {
            if j == 0 {
                break;
            }
            term *= j as f64 / (nf - j as f64 + 1.0) * (q / p);
            j -= 1;
        }
        // Terms only shrink once past the mode, which a tail sum started at the edge is.
        if term <= sum * 1e-17 || term == 0.0 {
            break;
        }
    }
    sum
}

fn valid_probability(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

/// P(X ≥ k) for X ~ Bin(n, p). NaN when p is outside [0, 1].
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if !valid_probability(p) {
        return f64::NAN;
    }
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let q = 1.0 - p;
    if p == 0.0 {
        return 0.0;
    }
    if q == 0.0 {
        return 1.0;
    }
    let mean = n as f64 * p;
    if k as f64 >= mean {
        // Upper tail from k upward: terms decrease from the first.
        tail_sum(k, true, n, p, q).min(1.0)
    } else {
        // P(X ≥ k) = 1 − P(X ≤ k−1), the lower tail summed downward from k−1.
        (1.0 - tail_sum(k - 1, false, n, p, q)).max(0.0)
    }
}

/// P(X ≤ k) for X ~ Bin(n, p). NaN when p is outside [0, 1].
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if !valid_probability(p) {
        return f64::NAN;
    }
    if k >= n {
        return 1.0;
    }
    let q = 1.0 - p;
    if p == 0.0 {
        return 1.0;
    }
    if q == 0.0 {
        return 0.0;
    }
    let mean = n as f64 * p;
    if (k as f64) < mean {
        tail_sum(k, false, n, p, q).min(1.0)
    } else {
        (1.0 - tail_sum(k + 1, true, n, p, q)).max(0.0)
    }
}

/// Smallest p in [0, 1] with `increasing(p) ≥ target`, by bisection on the bit patterns of
/// f64 (exact to one ulp, at most 64 steps).
fn invert_increasing(target: f64, increasing: impl Fn(f64) -> f64) -> f64 {
    // Non-negative f64 order like their bit patterns.
    let (mut low, mut high) = (0u64, 1.0f64.to_bits());
    while low < high {
        let mid = low + (high - low) / 2;
        if increasing(f64::from_bits(mid)) >= target {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    f64::from_bits(low)
}

fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// Exact (Clopper-Pearson) two-sided interval for a proportion after k successes in n:
/// lower = Beta(α/2; k, n−k+1) solved as P(X ≥ k | p) = α/2, upper = Beta(1−α/2; k+1, n−k)
/// solved as P(X ≤ k | p) = α/2. (0, 1) when n = 0; (NaN, NaN) for a confidence outside (0, 1)
/// or k > n.
pub fn clopper_pearson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if !valid_confidence(confidence) || k > n {
        return (f64::NAN, f64::NAN);
    }
    let half_alpha = (1.0 - confidence) / 2.0;
    let lower = if k == 0 {
        0.0
    } else {
        invert_increasing(half_alpha, |p| binomial_sf(k, n, p))
    };
    let upper = if k == n {
        1.0
    } else {
        // P(X ≤ k | p) decreases in p; 1 − it increases. Solve on the exact lower tail
        // through its complement's order: smallest p with cdf(k; p) ≤ α/2.
        invert_increasing(-half_alpha, |p| -binomial_cdf(k, n, p))
    };
    (lower, upper)
}

/// Wilson score interval for a proportion:
/// (p̂ + z²/2n)/(1 + z²/n) ± z/(1 + z²/n)·√(p̂(1−p̂)/n + z²/4n²), clipped to [0, 1].
/// (0, 1) when n = 0; (NaN, NaN) for a confidence outside (0, 1) or k > n.
pub fn wilson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if !valid_confidence(confidence) || k > n {
        return (f64::NAN, f64::NAN);
    }
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = standard_normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let nf = n as f64;
    let p_hat = k as f64 / nf;
    let z2 = z * z;
    let denominator = 1.0 + z2 / nf;
    let centre = (p_hat + z2 / (2.0 * nf)) / denominator;
    let half_width = z / denominator * (p_hat * (1.0 - p_hat) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // At k = 0 (k = n) the bound is exactly 0 (1); the subtraction would leave rounding dust.
    let lower = if k == 0 {
        0.0
    } else {
        (centre - half_width).max(0.0)
    };
    let upper = if k == n {
        1.0
    } else {
        (centre + half_width).min(1.0)
    };
    (lower, upper)
}

/// Φ⁻¹(p) for the standard normal.
pub(crate) fn standard_normal_quantile(p: f64) -> f64 {
    // Φ⁻¹(p) = −√2·erfc⁻¹(2p).
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Conditional test for a rate increase: given e = c + b errors in both arms, the canary's
/// share is Bin(e, π₀) with π₀ = n_C/(n_C + n_B) when both arms have the same error rate
/// (Poisson rates), so p = P(Bin(e, π₀) ≥ c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionalBinomial {
    pub canary_errors: u64,
    pub canary_n: u64,
    pub baseline_errors: u64,
    pub baseline_n: u64,
    /// π₀ = n_C/(n_C + n_B): the canary's share of errors under "no difference".
    pub null_share: f64,
    /// P(Bin(e, π₀) ≥ c): evidence that the canary's rate is higher. 1 when e = 0.
    pub p_value_greater: f64,
    /// (c/n_C)/(b/n_B); +∞ when b = 0 < c, NaN when there are no errors at all.
    pub rate_ratio: f64,
}

impl ConditionalBinomial {
    /// Rate-ratio interval: Clopper-Pearson on the canary's share π of the errors, mapped by
    /// RR = π/(1−π)·n_B/n_C. (0, +∞) when there are no errors.
    pub fn rate_ratio_interval(&self, confidence: f64) -> (f64, f64) {
        let total = self.canary_errors + self.baseline_errors;
        let (share_low, share_high) = clopper_pearson(self.canary_errors, total, confidence);
        let to_ratio = |share: f64| {
            if share >= 1.0 {
                f64::INFINITY
            } else {
                share / (1.0 - share) * self.baseline_n as f64 / self.canary_n as f64
            }
        };
        (to_ratio(share_low), to_ratio(share_high))
    }
}

/// The conditional binomial test; None when either arm served no requests or an arm reports
/// more errors than requests.
pub fn conditional_binomial_test(
    canary_errors: u64,
    canary_n: u64,
    baseline_errors: u64,
    baseline_n: u64,
) -> Option<ConditionalBinomial> {
    if canary_n == 0 || baseline_n == 0 || canary_errors > canary_n || baseline_errors > baseline_n
    {
        return None;
    }
    let null_share = canary_n as f64 / (canary_n as f64 + baseline_n as f64);
    let total = canary_errors + baseline_errors;
    let p_value_greater = binomial_sf(canary_errors, total, null_share);
    let canary_rate = canary_errors as f64 / canary_n as f64;
    let baseline_rate = baseline_errors as f64 / baseline_n as f64;
    let rate_ratio = if total == 0 {
        f64::NAN
    } else {
        canary_rate / baseline_rate
    };
    Some(ConditionalBinomial {
        canary_errors,
        canary_n,
        baseline_errors,
        baseline_n,
        null_share,
        p_value_greater,
        rate_ratio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pmf_by_ln_gamma(k: u64, n: u64, p: f64) -> f64 {
        use statrs::function::gamma::ln_gamma;
        let (k, n) = (k as f64, n as f64);
        (ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
            + k * p.ln()
            + (n - k) * (1.0 - p).ln())
        .exp()
    }

    #[test]
    fn pmf_matches_ln_gamma_form_on_small_n() {
        for (k, n, p) in [(3u64, 10u64, 0.3), (0, 5, 0.2), (17, 40, 0.41), (5, 5, 0.9)] {
            let exact = pmf_by_ln_gamma(k, n, p);
            let fast = pmf(k as f64, n as f64, p, 1.0 - p);
            assert!((fast - exact).abs() <= 1e-12 * exact, "{k} {n} {p}");
        }
    }

    #[test]
    fn tails_are_complementary() {
        for (k, n, p) in [(3u64, 10u64, 0.3), (40, 100, 0.5), (1, 1000, 0.001)] {
            let total = binomial_sf(k, n, p) + binomial_cdf(k - 1, n, p);
            assert!((total - 1.0).abs() < 1e-13);
        }
        assert_eq!(binomial_sf(0, 10, 0.5), 1.0);
        assert_eq!(binomial_sf(11, 10, 0.5), 0.0);
        assert!(binomial_sf(1, 10, 1.5).is_nan());
    }

    #[test]
    fn clopper_pearson_bounds_hit_their_tails() {
        let (lower, upper) = clopper_pearson(3, 50, 0.95);
        assert!((binomial_sf(3, 50, lower) - 0.025).abs() < 1e-12);
        assert!((binomial_cdf(3, 50, upper) - 0.025).abs() < 1e-12);
        assert_eq!(clopper_pearson(0, 50, 0.95).0, 0.0);
        assert_eq!(clopper_pearson(50, 50, 0.95).1, 1.0);
    }

    #[test]
    fn zero_errors_in_200_bound_the_rate_near_one_and_a_half_percent() {
        let (_, upper) = clopper_pearson(0, 200, 0.95);
        assert!(upper > 0.015 && upper < 0.02, "{upper}");
        let (low, high) = wilson(0, 200, 0.95);
        assert_eq!(low, 0.0);
        assert!(high > 0.01 && high < 0.03);
    }

    #[test]
    fn conditional_test_flags_more_canary_errors() {
        let worse = conditional_binomial_test(20, 1000, 20, 19_000).expect("data");
        let same = conditional_binomial_test(1, 1000, 19, 19_000).expect("data");
        assert!(worse.p_value_greater < 1e-6);
        assert!(same.p_value_greater > 0.3);
        let (low, high) = worse.rate_ratio_interval(0.95);
        assert!(low > 1.0 && high > worse.rate_ratio && worse.rate_ratio > low);
        assert!(conditional_binomial_test(0, 0, 1, 10).is_none());
        let none = conditional_binomial_test(0, 100, 0, 100).expect("data");
        assert_eq!(none.p_value_greater, 1.0);
    }
}
