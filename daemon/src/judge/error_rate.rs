//! Error rates, anytime-valid, under a traffic split that changes between windows.
//!
//! **Relative limit (`max_ratio`): conditional binomial e-process.** In window w, given the
//! e_w errors of both arms, the canary's count is c_w ~ Bin(e_w, π_w(δ)) with
//! π_w(δ) = r_w·e^δ/(r_w·e^δ + 1), r_w = n_C,w/n_B,w and δ the log rate ratio (Poisson rates;
//! statistics.md). With δ₀ = ln(max_ratio):
//! * Regressed rejects H0_r: δ ≤ δ₀ ("canary rate ≤ max_ratio × baseline rate") with
//!   E_r = Σ_j g_j Π_w LR_w(δ₀ + Δ_j), LR_w(δ) = [π_w(δ)/π_w(δ₀)]^{c_w}·[(1−π_w(δ))/(1−π_w(δ₀))]^{e_w−c_w},
//!   a discrete prior g over [`RATIO_GRID_LEN`] offsets Δ_j from 0.05 to ≈9 (rate ratios
//!   ×1.05 … ×8000 beyond the limit). g puts [`FOCUS_WEIGHT`] on the four offsets 0.2 … 0.57
//!   (ratios ×1.2 … ×1.8 beyond the limit, e.g. 2.4–3.5× the baseline's errors under
//!   `max_ratio: 2`: the regressions worth catching fast) and spreads the rest evenly over the
//!   others, which keep far larger and far smaller changes covered. Concentrating the prior
//!   costs ln(4/0.9) ≈ 1.5 nats at the favoured ratios instead of ln 16 ≈ 2.8 for a uniform one;
//!   in `canaryd simulate` it raised the share of 0.5% → 1.5% error regressions caught by the
//!   default policy at 30 rps from 33% to about half (benchmarks/). Each product is a supermartingale for every δ ≤ δ₀ (its
//!   one-window mean is ≤ 1 whenever the true π_w ≤ π_w(δ₀)), whatever the shares and the
//!   baseline rate, so E_r is an e-process: reject when E_r ≥ 1/α.
//! * Safe rejects H0_s: δ ≥ δ₀ with the mirror mixture over δ₀ − Δ_j: an anytime-valid proof
//!   that the ratio is below the limit.
//!
//! Windows without errors carry no information about the ratio, so zero errors never reject and
//! never prove safety (0 errors in 200 requests is a hold); a baseline without errors while the
//! canary has many is caught because c_w = e_w is unlikely when π_w(δ₀) is small.
//!
//! **Absolute limit (`max_increase_pp`).** Time-uniform bounds on each arm's rate (Bernoulli
//! e-processes, [`anytime`](super::anytime)): Regressed when lower_C > upper_B + Δ, Safe when
//! upper_C < lower_B + Δ, each arm at α/2 per side.

use serde::{Deserialize, Serialize};

use super::anytime::{log_sum_exp, proportion_bounds};
use super::binomial::wilson;
use super::observation::ErrorKind;
use super::spec::ErrorRateSpec;
use super::verdict::{CheckResult, Interval, Outcome};

/// Number of alternatives in the prior over δ.
pub const RATIO_GRID_LEN: usize = 16;

fn ratio_offset(index: usize) -> f64 {
    0.05 * std::f64::consts::SQRT_2.powi(index as i32)
}

/// The prior's mass on the favoured offsets (indices [`FOCUS`], Δ = 0.2 … 0.57).
pub const FOCUS_WEIGHT: f64 = 0.9;
const FOCUS: std::ops::RangeInclusive<usize> = 4..=7;

/// ln g_j of every offset and ln Σ_j g_j (0 but for rounding), computed once.
static LN_PRIOR: std::sync::LazyLock<([f64; RATIO_GRID_LEN], f64)> =
    std::sync::LazyLock::new(|| {
        let weights: [f64; RATIO_GRID_LEN] = std::array::from_fn(ln_prior_weight);
        (weights, log_sum_exp(weights.iter().copied()))
    });

/// ln g_j: [`FOCUS_WEIGHT`] shared by the favoured offsets, the rest by the others.
fn ln_prior_weight(index: usize) -> f64 {
    let focused = FOCUS.end() - FOCUS.start() + 1;
    if FOCUS.contains(&index) {
        (FOCUS_WEIGHT / focused as f64).ln()
    } else {
        ((1.0 - FOCUS_WEIGHT) / (RATIO_GRID_LEN - focused) as f64).ln()
    }
}

/// What the ratio check keeps between looks: ln Π_w LR_w for each alternative, both directions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRatioState {
    pub log_products_regress: Vec<f64>,
    pub log_products_safe: Vec<f64>,
    /// Windows with at least one error.
    pub windows_with_errors: u32,
    /// The last window's share ratio r = n_C/n_B (used to say how far from Safe).
    pub last_share_ratio: Option<f64>,
}

impl Default for ErrorRatioState {
    fn default() -> Self {
        ErrorRatioState {
            log_products_regress: vec![0.0; RATIO_GRID_LEN],
            log_products_safe: vec![0.0; RATIO_GRID_LEN],
            windows_with_errors: 0,
            last_share_ratio: None,
        }
    }
}

fn canary_share(share_ratio: f64, delta: f64) -> f64 {
    let odds = share_ratio * delta.exp();
    odds / (odds + 1.0)
}

/// ln LR of one window for an alternative share against the null share.
fn window_log_lr(canary_errors: f64, total_errors: f64, alternative: f64, null: f64) -> f64 {
    let baseline_errors = total_errors - canary_errors;
    let mut value = 0.0;
    if canary_errors > 0.0 {
        value += canary_errors * (alternative / null).ln();
    }
    if baseline_errors > 0.0 {
        value += baseline_errors * ((1.0 - alternative) / (1.0 - null)).ln();
    }
    value
}

impl ErrorRatioState {
    /// Adds one window's counts.
    pub fn update(
        &mut self,
        max_ratio: f64,
        canary_requests: u64,
        baseline_requests: u64,
        canary_errors: u64,
        baseline_errors: u64,
    ) {
        if canary_requests == 0 || baseline_requests == 0 {
            return;
        }
        let share_ratio = canary_requests as f64 / baseline_requests as f64;
        self.last_share_ratio = Some(share_ratio);
        let total = (canary_errors + baseline_errors) as f64;
        if total == 0.0 {
            return;
        }
        self.windows_with_errors += 1;
        let null_delta = max_ratio.ln();
        let null = canary_share(share_ratio, null_delta);
        let canary = canary_errors as f64;
        for j in 0..RATIO_GRID_LEN {
            let up = canary_share(share_ratio, null_delta + ratio_offset(j));
            let down = canary_share(share_ratio, null_delta - ratio_offset(j));
            self.log_products_regress[j] += window_log_lr(canary, total, up, null);
            self.log_products_safe[j] += window_log_lr(canary, total, down, null);
        }
    }

    /// ln E for "regressed" and for "safe".
    pub fn log_e_values(&self) -> (f64, f64) {
        // Less ln Σ g_j (0 but for rounding), so that no evidence is exactly E = 1.
        let (ln_weights, ln_total) = &*LN_PRIOR;
        let weighted = |products: &[f64]| {
            log_sum_exp(products.iter().zip(ln_weights).map(|(p, w)| p + w)) - ln_total
        };
        (
            weighted(&self.log_products_regress),
            weighted(&self.log_products_safe),
        )
    }

    /// About how many more errors on the baseline alone (none on the canary, at the last share)
    /// would prove Safe; None when the ratio check has never seen both arms.
    pub fn baseline_errors_to_safe(&self, max_ratio: f64, log_threshold: f64) -> Option<u64> {
        let share_ratio = self.last_share_ratio?;
        let null_delta = max_ratio.ln();
        let null = canary_share(share_ratio, null_delta);
        (0..RATIO_GRID_LEN)
            .filter_map(|j| {
                let down = canary_share(share_ratio, null_delta - ratio_offset(j));
                let per_error = ((1.0 - down) / (1.0 - null)).ln();
                let missing = log_threshold - LN_PRIOR.0[j] - self.log_products_safe[j];
                (per_error > 0.0).then(|| (missing / per_error).ceil().max(0.0) as u64)
            })
            .min()
    }
}

/// Cumulative counts of one error kind for both arms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorTotals {
    pub kind: ErrorKind,
    pub baseline_requests: u64,
    pub canary_requests: u64,
    pub baseline_errors: u64,
    pub canary_errors: u64,
}

impl ErrorTotals {
    fn rates(&self) -> (f64, f64) {
        (
            self.baseline_errors as f64 / self.baseline_requests.max(1) as f64,
            self.canary_errors as f64 / self.canary_requests.max(1) as f64,
        )
    }
}

pub fn check_name(kind: ErrorKind) -> String {
    format!("errors_{}", kind.label())
}

/// The ratio check from its state and the cumulative totals.
pub fn judge_error_ratio(
    max_ratio: f64,
    alpha: f64,
    state: &ErrorRatioState,
    totals: &ErrorTotals,
) -> CheckResult {
    let name = check_name(totals.kind);
    let (n_baseline, n_canary) = (totals.baseline_requests, totals.canary_requests);
    if n_baseline == 0 || n_canary == 0 {
        return CheckResult::no_data(
            name,
            max_ratio,
            alpha,
            n_baseline,
            n_canary,
            format!("no requests yet (baseline {n_baseline}, canary {n_canary})"),
        );
    }
    let log_threshold = (1.0 / alpha).ln();
    let (log_regress, log_safe) = state.log_e_values();
    let outcome = if log_regress >= log_threshold {
        Outcome::Regressed
    } else if log_safe >= log_threshold {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let (baseline_rate, canary_rate) = totals.rates();
    // Descriptive, fixed-sample rate ratio and interval (O(1)): Wilson on the canary's share
    // of the errors, mapped by RR = π/(1−π)·n_B/n_C (statistics.md). The decision uses the
    // e-processes above.
    let total_errors = totals.canary_errors + totals.baseline_errors;
    let to_ratio = |share: f64| {
        if share >= 1.0 {
            f64::INFINITY
        } else {
            share / (1.0 - share) * n_baseline as f64 / n_canary as f64
        }
    };
    let (estimate, interval) = if total_errors > 0 {
        let (lower, upper) = wilson(totals.canary_errors, total_errors, 1.0 - alpha);
        let ratio = if totals.baseline_errors == 0 {
            f64::INFINITY
        } else {
            canary_rate / baseline_rate
        };
        (
            Some(ratio),
            Some(Interval {
                lower: to_ratio(lower),
                upper: to_ratio(upper),
            }),
        )
    } else {
        (None, None)
    };
    let kind = totals.kind.label();
    let counts = format!(
        "canary {}/{} ({:.3}%), baseline {}/{} ({:.3}%)",
        totals.canary_errors,
        n_canary,
        100.0 * canary_rate,
        totals.baseline_errors,
        n_baseline,
        100.0 * baseline_rate
    );
    let threshold_e = 1.0 / alpha;
    let reason = match outcome {
        Outcome::Regressed => format!(
            "{kind} errors above {max_ratio}× baseline: e-value {:.3e} ≥ {threshold_e:.0}; {counts}",
            log_regress.exp()
        ),
        Outcome::Safe => format!(
            "{kind} errors proven below {max_ratio}× baseline: e-value {:.3e} ≥ {threshold_e:.0}; {counts}",
            log_safe.exp()
        ),
        _ if totals.canary_errors + totals.baseline_errors == 0 => {
            let needed = state
                .baseline_errors_to_safe(max_ratio, log_threshold)
                .map(|k| {
                    format!("; Safe would need about {k} baseline errors with none on the canary")
                })
                .unwrap_or_default();
            format!(
                "no {kind} errors on either arm yet: no evidence about the ratio, hold ({counts}){needed}"
            )
        }
        _ => {
            let needed = state
                .baseline_errors_to_safe(max_ratio, log_threshold)
                .map(|k| format!(", or about {k} more baseline-only errors for Safe"))
                .unwrap_or_default();
            format!(
                "{kind} error ratio {} (limit {max_ratio}); e-values {:.2} (regressed) and {:.2} (safe), both below {threshold_e:.0}; hold{needed}; {counts}",
                estimate
                    .map(|r| format!("{r:.2}"))
                    .unwrap_or_else(|| "n/a".to_string()),
                log_regress.exp(),
                log_safe.exp()
            )
        }
    };
    CheckResult {
        name,
        outcome,
        estimate,
        interval,
        n_baseline,
        n_canary,
        threshold: max_ratio,
        statistic: Some(log_regress),
        e_value: Some(log_regress.exp()),
        e_value_safe: Some(log_safe.exp()),
        alpha,
        reason,
        mann_whitney: None,
    }
}

/// The absolute-difference check (`max_increase_pp`) on cumulative totals.
pub fn judge_error_difference(
    max_increase_pp: f64,
    alpha: f64,
    totals: &ErrorTotals,
) -> CheckResult {
    let name = check_name(totals.kind);
    let (n_baseline, n_canary) = (totals.baseline_requests, totals.canary_requests);
    let margin = max_increase_pp / 100.0;
    if n_baseline == 0 || n_canary == 0 {
        return CheckResult::no_data(
            name,
            margin,
            alpha,
            n_baseline,
            n_canary,
            format!("no requests yet (baseline {n_baseline}, canary {n_canary})"),
        );
    }
    let alpha_each = alpha / 2.0;
    let (canary_low, canary_high) =
        proportion_bounds(totals.canary_errors as f64, n_canary as f64, alpha_each);
    let (base_low, base_high) =
        proportion_bounds(totals.baseline_errors as f64, n_baseline as f64, alpha_each);
    let outcome = if canary_low > base_high + margin {
        Outcome::Regressed
    } else if canary_high < base_low + margin {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let (baseline_rate, canary_rate) = totals.rates();
    let kind = totals.kind.label();
    let pct = |x: f64| format!("{:.3}%", 100.0 * x);
    let bands = format!(
        "canary {} [{}, {}] of {n_canary}, baseline {} [{}, {}] of {n_baseline} (anytime bands)",
        pct(canary_rate),
        pct(canary_low),
        pct(canary_high),
        pct(baseline_rate),
        pct(base_low),
        pct(base_high)
    );
    let reason = match outcome {
        Outcome::Regressed => format!(
            "{kind} error rate more than {max_increase_pp} pp above baseline: canary lower bound {} > {}; {bands}",
            pct(canary_low),
            pct(base_high + margin)
        ),
        Outcome::Safe => format!(
            "{kind} error rate within {max_increase_pp} pp of baseline: canary upper bound {} < {}; {bands}",
            pct(canary_high),
            pct(base_low + margin)
        ),
        _ => format!(
            "{kind} error rate difference {:+.3} pp (limit {max_increase_pp}); bands overlap, hold: {bands}",
            100.0 * (canary_rate - baseline_rate)
        ),
    };
    CheckResult {
        name,
        outcome,
        estimate: Some(canary_rate - baseline_rate),
        interval: Some(Interval {
            lower: canary_low - base_high,
            upper: canary_high - base_low,
        }),
        n_baseline,
        n_canary,
        threshold: margin,
        statistic: None,
        e_value: None,
        e_value_safe: None,
        alpha,
        reason,
        mann_whitney: None,
    }
}

/// Dispatches on the spec's limit.
pub fn judge_errors(
    spec: &ErrorRateSpec,
    alpha: f64,
    state: &ErrorRatioState,
    totals: &ErrorTotals,
) -> CheckResult {
    match (spec.max_ratio, spec.max_increase_pp) {
        (Some(ratio), _) => judge_error_ratio(ratio, alpha, state, totals),
        (None, Some(pp)) => judge_error_difference(pp, alpha, totals),
        (None, None) => judge_error_ratio(1.0, alpha, state, totals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Binomial, Distribution};

    fn totals(state_windows: &[(u64, u64, u64, u64)]) -> ErrorTotals {
        let mut totals = ErrorTotals {
            kind: ErrorKind::Model,
            baseline_requests: 0,
            canary_requests: 0,
            baseline_errors: 0,
            canary_errors: 0,
        };
        for &(nc, nb, c, b) in state_windows {
            totals.canary_requests += nc;
            totals.baseline_requests += nb;
            totals.canary_errors += c;
            totals.baseline_errors += b;
        }
        totals
    }

    fn run(max_ratio: f64, windows: &[(u64, u64, u64, u64)]) -> CheckResult {
        let mut state = ErrorRatioState::default();
        for &(nc, nb, c, b) in windows {
            state.update(max_ratio, nc, nb, c, b);
        }
        judge_error_ratio(max_ratio, 0.05, &state, &totals(windows))
    }

    #[test]
    fn zero_errors_on_baseline_with_many_on_canary_is_caught() {
        let result = run(2.0, &[(100, 1900, 4, 0), (200, 1800, 6, 0)]);
        assert_eq!(result.outcome, Outcome::Regressed, "{}", result.reason);
    }

    #[test]
    fn prior_is_a_probability_and_favours_the_planned_ratios() {
        let total: f64 = (0..RATIO_GRID_LEN).map(|j| ln_prior_weight(j).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12, "weights sum to {total}");
        assert!((ratio_offset(*FOCUS.start()) - 0.2).abs() < 1e-12);
        assert!((ratio_offset(*FOCUS.end()) - 0.4 * std::f64::consts::SQRT_2).abs() < 1e-12);
        // 3× the baseline's errors under max_ratio 2 (ln 1.5 beyond the limit), equal shares,
        // the same counts every window: the weighted prior proves the regression in fewer
        // windows than the uniform prior it replaced.
        let threshold = (1.0f64 / 0.05).ln();
        let windows_to_reject = |log_e: &dyn Fn(&ErrorRatioState) -> f64| {
            let mut state = ErrorRatioState::default();
            (1..=200)
                .find(|_| {
                    state.update(2.0, 1000, 1000, 6, 2);
                    log_e(&state) >= threshold
                })
                .expect("rejects within 200 windows")
        };
        let weighted = windows_to_reject(&|s| s.log_e_values().0);
        let uniform = windows_to_reject(&|s| {
            log_sum_exp(s.log_products_regress.iter().copied()) - (RATIO_GRID_LEN as f64).ln()
        });
        assert!(
            weighted < uniform,
            "weighted {weighted} vs uniform {uniform} windows"
        );
    }

    #[test]
    fn zero_errors_is_a_hold_with_a_distance() {
        let result = run(2.0, &[(200, 3800, 0, 0)]);
        assert_eq!(result.outcome, Outcome::Inconclusive);
        assert!(
            result.reason.contains("baseline errors"),
            "{}",
            result.reason
        );
        assert_eq!(result.e_value, Some(1.0));
    }

    #[test]
    fn a_lower_canary_rate_is_eventually_safe() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut windows = Vec::new();
        for _ in 0..20 {
            let (nc, nb) = (2_000u64, 2_000u64);
            let c = Binomial::new(nc, 0.005).expect("valid").sample(&mut rng);
            let b = Binomial::new(nb, 0.01).expect("valid").sample(&mut rng);
            windows.push((nc, nb, c, b));
        }
        let result = run(1.5, &windows);
        assert_eq!(result.outcome, Outcome::Safe, "{}", result.reason);
    }

    #[test]
    fn equal_rates_under_changing_shares_rarely_reject() {
        // 300 runs × 20 windows at shares 5 → 50%; the e-process may cross 1/0.05 in ≤ 5% of
        // runs: the upper end of the 95% Clopper-Pearson interval must be ≤ 0.05.
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let shares = [0.05, 0.10, 0.25, 0.50];
        let runs = 300;
        let mut rejected = 0;
        for _ in 0..runs {
            let mut state = ErrorRatioState::default();
            for w in 0..20 {
                let share = shares[w * shares.len() / 20];
                let nc = (2000.0 * share) as u64;
                let nb = 2000 - nc;
                let c = Binomial::new(nc, 0.01).expect("valid").sample(&mut rng);
                let b = Binomial::new(nb, 0.01).expect("valid").sample(&mut rng);
                state.update(1.0, nc, nb, c, b);
                if state.log_e_values().0 >= 20.0_f64.ln() {
                    rejected += 1;
                    break;
                }
            }
        }
        let (_, upper) = crate::judge::binomial::clopper_pearson(rejected, runs, 0.95);
        assert!(
            upper <= 0.05,
            "rejections {rejected}/{runs}, 95% upper bound {upper}"
        );
    }

    #[test]
    fn difference_check_uses_both_bands() {
        let up = judge_error_difference(0.5, 0.05, &totals(&[(20_000, 20_000, 600, 100)]));
        assert_eq!(up.outcome, Outcome::Regressed, "{}", up.reason);
        let same = judge_error_difference(0.5, 0.05, &totals(&[(20_000, 20_000, 100, 100)]));
        assert_eq!(same.outcome, Outcome::Safe, "{}", same.reason);
        let small = judge_error_difference(0.5, 0.05, &totals(&[(200, 200, 0, 0)]));
        assert_eq!(small.outcome, Outcome::Inconclusive, "{}", small.reason);
    }
}
