//! Latency location shift, anytime-valid: a stratified Mann-Whitney statistic watched by the
//! one-sided normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon (Ann. Statist. 2021).
//!
//! **The process.** Each window w (one look's new requests) contributes the rank statistic of
//! its own requests, weighted as in van Elteren's stratified test:
//! s_w = (U_C,w − n_C,w·n_B,w/2)/(N_w+1), v_w = σ²_w/(N_w+1)², with σ²_w the tie-corrected
//! Mann-Whitney variance of the window. S = Σ s_w and V = Σ v_w are the cumulative process and
//! its variance process. Stratifying by window keeps the increments independent and centred under
//! the null even when the traffic share changes between windows (5 → 10 → 25 → 50%) and when
//! latency drifts with load over the day: every comparison is between requests served at the same
//! time. With the weight 1/(N+1), V ≈ (1/12)·Σ n_C n_B/N, i.e. information in "effective pairs".
//!
//! **The nulls.** With margin m (policy `max_increase`) the canary values of the window are divided
//! by (1+m) (on log-spaced bins a shift of −ln(1+m)) before ranking:
//! * Regressed rejects H0_r: "the canary's latency divided by (1+m) is stochastically no larger
//!   than the baseline's" (e.g. canary ≤ 10% slower), when log m(S_r, V_r) ≥ ln(1/α).
//! * Safe rejects H0_s: "the canary's latency divided by (1+p) is stochastically no smaller than
//!   the baseline's" (p = `promote_margin`), when log m(−S_s, V_s) ≥ ln(1/α): proven within the
//!   margin, grounds for early promotion.
//!
//! Under each null the process has non-positive drift, so the mixture is an (asymptotic)
//! e-process: the chance it *ever* crosses is ≤ α however many looks are taken.
//!
//! **Tuning.** ρ = v_opt/(2 ln(1/(2α)) + ln(1 + 2 ln(1/(2α)))) with v_opt the information at
//! which a fixed one-sided test at level α with 80% power would detect a canary slower by a
//! further `detect_increase` beyond the margin, for log-normal latency with spread
//! `planning_log_sigma`: θ − ½ = Φ(ln(1+d)/(σ√2)) − ½ is the shift's effect on P(C > B), the
//! drift of S per unit V is 12(θ − ½), so v_opt = (z_{1−α} + z_{0.8})² / (144 (θ − ½)²).
//!
//! Cost per look: one merge over the bins, O(bins).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use super::anytime::{mixture_rho, normal_mixture_boundary, normal_mixture_log_e};
use super::binomial::standard_normal_quantile;
use super::hodges_lehmann::exact_arm_sums;
use super::spec::LatencyShiftSpec;

/// A cumulative rank process and its variance process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RankProcess {
    pub s: f64,
    pub v: f64,
}

/// What the latency shift check keeps between looks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyShiftState {
    /// Canary scaled by 1/(1 + max_increase).
    pub regress: RankProcess,
    /// Canary scaled by 1/(1 + promote_margin).
    pub safe: RankProcess,
    /// Windows that had requests in both arms.
    pub windows: u32,
    /// The bin values divided by each canary scale, kept between looks; never journaled.
    #[serde(skip)]
    scaled: ScaledValues,
}

/// Bin values divided by a canary scale (the same divisions as the merge's, done once per
/// scheme and scale instead of once per look). Equal to every other: it only holds what can
/// be rebuilt.
#[derive(Debug, Clone, Default)]
struct ScaledValues {
    /// The values the entries were computed from.
    source: Vec<f64>,
    /// Whether `source` is what the merge sees: finite, strictly increasing.
    ordered: bool,
    /// (scale bits, values / scale).
    entries: Vec<(u64, Vec<f64>)>,
}

impl PartialEq for ScaledValues {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl ScaledValues {
    /// `values` / `scale`, and whether `values` are finite and strictly increasing.
    fn get(&mut self, values: &[f64], scale: f64) -> (&[f64], bool) {
        let same_source = self.source.len() == values.len()
            && self
                .source
                .iter()
                .zip(values)
                // Numeric equality (vectorises; ±0 compare and divide alike, NaN recomputes).
                .fold(true, |same, (a, b)| same & (a == b));
        if !same_source {
            self.source.clear();
            self.source.extend_from_slice(values);
            self.ordered = ordered(values);
            self.entries.clear();
        }
        let position = match self
            .entries
            .iter()
            .position(|(bits, _)| *bits == scale.to_bits())
        {
            Some(position) => position,
            None => {
                // A few specs' worth: changing margins every call does not grow it.
                if self.entries.len() >= 8 {
                    self.entries.clear();
                }
                let scaled = values.iter().map(|value| value / scale).collect();
                self.entries.push((scale.to_bits(), scaled));
                self.entries.len() - 1
            }
        };
        (&self.entries[position].1, self.ordered)
    }
}

/// Finite and strictly increasing (branch-free folds, so that they vectorise).
fn ordered(values: &[f64]) -> bool {
    values.iter().fold(true, |ok, v| ok & v.is_finite())
        && values.windows(2).fold(true, |ok, w| ok & (w[0] < w[1]))
}

/// One window's contribution to a rank process (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankIncrement {
    pub s: f64,
    pub v: f64,
    pub n_canary: f64,
    pub n_baseline: f64,
}

/// The van Elteren-weighted Mann-Whitney increment of one window, ranking the canary's bin
/// values divided by `canary_scale` against the baseline's. `values` are the bins' (increasing)
/// representative values. Ties are counted half and enter the variance (statistics.md).
/// None when an arm is empty.
pub fn rank_increment(
    values: &[f64],
    baseline: &[f64],
    canary: &[f64],
    canary_scale: f64,
) -> Option<RankIncrement> {
    let scaled: Vec<f64> = values.iter().map(|value| value / canary_scale).collect();
    let ordered = ordered(values);
    rank_increment_scaled(values, &scaled, ordered, baseline, canary, canary_scale)
}

/// [`rank_increment`] with `scaled[k] = values[k] / canary_scale` and `ordered` (the values
/// are finite and strictly increasing) computed by the caller.
fn rank_increment_scaled(
    values: &[f64],
    scaled: &[f64],
    ordered: bool,
    baseline: &[f64],
    canary: &[f64],
    canary_scale: f64,
) -> Option<RankIncrement> {
    let len = values.len().min(baseline.len()).min(canary.len());
    let (values, scaled, baseline, canary) = (
        &values[..len],
        &scaled[..len],
        &baseline[..len],
        &canary[..len],
    );
    match exact_sums(values, scaled, ordered, baseline, canary) {
        Some(sums) => sums.increment(),
        None => merged_sums(values, baseline, canary, canary_scale).increment(),
    }
}

/// The sums a window's increment is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowSums {
    pub(crate) u: f64,
    pub(crate) tie_sum: f64,
    pub(crate) n_baseline: f64,
    pub(crate) n_canary: f64,
}

impl WindowSums {
    pub(crate) fn increment(&self) -> Option<RankIncrement> {
        let WindowSums {
            u,
            tie_sum,
            n_baseline,
            n_canary,
        } = *self;
        let total = n_baseline + n_canary;
        if n_baseline <= 0.0 || n_canary <= 0.0 || total < 2.0 {
            return None;
        }
        let mean = n_canary * n_baseline / 2.0;
        let variance = super::mann_whitney::tie_corrected_variance(n_canary, n_baseline, tie_sum);
        let weight = 1.0 / (total + 1.0);
        Some(RankIncrement {
            s: (u - mean) * weight,
            v: variance.max(0.0) * weight * weight,
            n_canary,
            n_baseline,
        })
    }
}

/// The sums when every count is a whole number below 2^26 and U, Σ(t³ − t) and n_C·n_B stay
/// below 2^52: every partial sum is then an exact integer (or half of one), so any order of
/// summation gives the sequential merge's result bit for bit, and the merge can be split into
/// independent passes: Σ(t³ − t) = Σ(b³ − b) + Σ(c³ − c) + Σ_ties 3bc(b + c), and
/// U = Σ_j c_j·(B_<(x_j) + ½·b at x_j), x_j = v_j/scale, the baseline position found by one
/// forward pointer. None otherwise (the caller merges sequentially).
pub(super) fn exact_sums(
    values: &[f64],
    scaled: &[f64],
    ordered: bool,
    baseline: &[f64],
    canary: &[f64],
) -> Option<WindowSums> {
    const EXACT_LIMIT: f64 = 4_503_599_627_370_496.0; // 2^52: halves are exact too
    // Whole counts in [0, 2^26) with exact sums (vectorised lanes).
    let (n_baseline, baseline_ties) = exact_arm_sums(baseline)?;
    let (n_canary, canary_ties) = exact_arm_sums(canary)?;
    // The pointer walk below assumes what the merge sees: finite, strictly increasing values.
    if !ordered || n_baseline * n_canary >= EXACT_LIMIT {
        return None;
    }
    let (mut u, mut cross_ties) = (0.0f64, 0.0f64);
    let (mut position, mut below) = (0usize, 0.0f64);
    for (&x, &c) in scaled.iter().zip(canary) {
        if !x.is_finite() {
            return None;
        }
        while position < values.len() && values[position] < x {
            below += baseline[position];
            position += 1;
        }
        let tied = if position < values.len() && values[position] == x {
            baseline[position]
        } else {
            0.0
        };
        u += c * (below + 0.5 * tied);
        cross_ties += 3.0 * tied * c * (tied + c);
    }
    let tie_sum = baseline_ties + canary_ties + cross_ties;
    (u < EXACT_LIMIT && tie_sum < EXACT_LIMIT).then_some(WindowSums {
        u,
        tie_sum,
        n_baseline,
        n_canary,
    })
}

/// The sums by one sequential merge of the occupied bins (the reference order).
fn merged_sums(values: &[f64], baseline: &[f64], canary: &[f64], canary_scale: f64) -> WindowSums {
    let len = values.len();
    let (mut i, mut j) = (0usize, 0usize);
    let (mut below_baseline, mut u, mut tie_sum) = (0.0_f64, 0.0_f64, 0.0_f64);
    let (mut n_baseline, mut n_canary) = (0.0_f64, 0.0_f64);
    loop {
        while i < len && baseline[i] <= 0.0 {
            i += 1;
        }
        while j < len && canary[j] <= 0.0 {
            j += 1;
        }
        if i >= len && j >= len {
            break;
        }
        let baseline_value = if i < len { values[i] } else { f64::INFINITY };
        let canary_value = if j < len {
            values[j] / canary_scale
        } else {
            f64::INFINITY
        };
        if baseline_value < canary_value {
            let b = baseline[i];
            below_baseline += b;
            n_baseline += b;
            tie_sum += b * b * b - b;
            i += 1;
        } else if canary_value < baseline_value {
            let c = canary[j];
            u += c * below_baseline;
            n_canary += c;
            tie_sum += c * c * c - c;
            j += 1;
        } else {
            let (b, c) = (baseline[i], canary[j]);
            u += c * (below_baseline + 0.5 * b);
            below_baseline += b;
            n_baseline += b;
            n_canary += c;
            let t = b + c;
            tie_sum += t * t * t - t;
            i += 1;
            j += 1;
        }
    }
    WindowSums {
        u,
        tie_sum,
        n_baseline,
        n_canary,
    }
}

/// The information v_opt at which the boundary is tightest (module docs, "Tuning").
pub fn planning_information(spec: &LatencyShiftSpec, alpha: f64) -> f64 {
    let standard = Normal::standard();
    let shift =
        (1.0 + spec.detect_increase).ln() / (spec.planning_log_sigma * std::f64::consts::SQRT_2);
    let effect = (standard.cdf(shift) - 0.5).max(1e-6);
    let z_sum = standard_normal_quantile(1.0 - alpha) + standard_normal_quantile(0.8);
    z_sum * z_sum / (144.0 * effect * effect)
}

/// The boundary's parameters for one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixtureBoundary {
    pub rho: f64,
    /// ln(1/α): reject when log m reaches it.
    pub log_threshold: f64,
}

impl MixtureBoundary {
    pub fn new(spec: &LatencyShiftSpec, alpha: f64) -> Self {
        MixtureBoundary {
            rho: mixture_rho(planning_information(spec, alpha), alpha),
            log_threshold: (1.0 / alpha).ln(),
        }
    }

    pub fn log_e(&self, s: f64, v: f64) -> f64 {
        normal_mixture_log_e(s, v, self.rho)
    }

    /// The value of s at which the boundary is crossed for information v.
    pub fn crossing(&self, v: f64) -> f64 {
        normal_mixture_boundary(v, self.rho, self.log_threshold)
    }
}

impl LatencyShiftState {
    /// Adds one window (counts of that window only).
    pub fn update(
        &mut self,
        spec: &LatencyShiftSpec,
        values: &[f64],
        baseline: &[f64],
        canary: &[f64],
    ) {
        let regress_scale = 1.0 + spec.max_increase;
        let (scaled, ordered) = self.scaled.get(values, regress_scale);
        let regress =
            rank_increment_scaled(values, scaled, ordered, baseline, canary, regress_scale);
        // With the default promote margin (= max_increase) both processes are the same merge.
        let safe = if spec.promote_margin() == spec.max_increase {
            regress
        } else {
            let safe_scale = 1.0 + spec.promote_margin();
            let (scaled, ordered) = self.scaled.get(values, safe_scale);
            rank_increment_scaled(values, scaled, ordered, baseline, canary, safe_scale)
        };
        self.add(regress, safe);
    }

    /// [`LatencyShiftState::update`] with the values divided by 1 + `max_increase` and by
    /// 1 + `promote_margin`, and whether the values are finite and strictly increasing,
    /// supplied by the caller (the judge keeps them per bucket scheme).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update_scaled(
        &mut self,
        spec: &LatencyShiftSpec,
        values: &[f64],
        ordered: bool,
        regress_scaled: &[f64],
        safe_scaled: &[f64],
        baseline: &[f64],
        canary: &[f64],
    ) {
        let regress_scale = 1.0 + spec.max_increase;
        let regress = rank_increment_scaled(
            values,
            regress_scaled,
            ordered,
            baseline,
            canary,
            regress_scale,
        );
        let safe = if spec.promote_margin() == spec.max_increase {
            regress
        } else {
            let safe_scale = 1.0 + spec.promote_margin();
            rank_increment_scaled(values, safe_scaled, ordered, baseline, canary, safe_scale)
        };
        self.add(regress, safe);
    }

    /// Adds one window's increments to the regress and safe processes (both or neither).
    pub(crate) fn add(&mut self, regress: Option<RankIncrement>, safe: Option<RankIncrement>) {
        if let (Some(regress), Some(safe)) = (regress, safe) {
            self.regress.s += regress.s;
            self.regress.v += regress.v;
            self.safe.s += safe.s;
            self.safe.v += safe.v;
            self.windows += 1;
        }
    }
}

/// The decision of the latency shift check from its state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftDecision {
    pub regressed: bool,
    pub safe: bool,
    /// log e-value for "regressed" and for "safe".
    pub log_e_regress: f64,
    pub log_e_safe: f64,
    /// Normalised statistics S/√V of the two processes (z-like, descriptive).
    pub z_regress: f64,
    pub z_safe: f64,
    /// Where the boundary sits now, in the same normalised units.
    pub z_boundary: f64,
}

/// Applies the boundary to the current state. None when no window has had both arms.
pub fn decide(boundary: &MixtureBoundary, state: &LatencyShiftState) -> Option<ShiftDecision> {
    if state.windows == 0 || state.regress.v <= 0.0 || state.safe.v <= 0.0 {
        return None;
    }
    let log_e_regress = boundary.log_e(state.regress.s, state.regress.v);
    let log_e_safe = boundary.log_e(-state.safe.s, state.safe.v);
    Some(ShiftDecision {
        regressed: log_e_regress >= boundary.log_threshold,
        safe: log_e_safe >= boundary.log_threshold,
        log_e_regress,
        log_e_safe,
        z_regress: state.regress.s / state.regress.v.sqrt(),
        z_safe: state.safe.s / state.safe.v.sqrt(),
        z_boundary: boundary.crossing(state.regress.v) / state.regress.v.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal};

    /// Log-spaced bin values 1 ms · 1.02^k, and a sampler into them.
    fn bins() -> Vec<f64> {
        (0..600).map(|k| 1.02_f64.powi(k)).collect()
    }

    fn histogram(rng: &mut ChaCha8Rng, n: usize, median_ms: f64, sigma: f64) -> Vec<f64> {
        let values = bins();
        let mut counts = vec![0.0; values.len()];
        let dist = LogNormal::new(median_ms.ln(), sigma).expect("valid log-normal");
        for _ in 0..n {
            let x: f64 = dist.sample(rng);
            let index = ((x.ln() / 1.02_f64.ln()).round().max(0.0) as usize).min(values.len() - 1);
            counts[index] += 1.0;
        }
        counts
    }

    #[test]
    fn increment_matches_direct_pair_counting() {
        let values = [1.0, 2.0, 3.0, 4.0];
        let baseline = [1.0, 2.0, 0.0, 1.0];
        let canary = [0.0, 1.0, 2.0, 1.0];
        let inc = rank_increment(&values, &baseline, &canary, 1.0).expect("both arms");
        // Direct U: canary 2 vs baseline {1,2,2,4}: 1 + 2·0.5 = 2; each 3: 3 → 6; 4: 3 + 0.5 = 3.5.
        let u = 2.0 + 6.0 + 3.5;
        let (nc, nb) = (4.0, 4.0);
        assert!((inc.s - (u - nc * nb / 2.0) / 9.0).abs() < 1e-12, "{inc:?}");
        // Ties: value 2 (3), value 4 (2), value 1 (1), value 3 (2): Σ t³ − t = 24 + 6 + 0 + 6.
        let var = nc * nb / 12.0 * (9.0 - 36.0 / 56.0);
        assert!((inc.v - var / 81.0).abs() < 1e-12);
        // Scaling the canary by 2 makes every canary value half: U must drop.
        let scaled = rank_increment(&values, &baseline, &canary, 2.0).expect("both arms");
        assert!(scaled.s < inc.s);
        assert!(rank_increment(&values, &baseline, &[0.0; 4], 1.0).is_none());
    }

    /// The cached scaled values give the same processes as dividing at every look, also when
    /// the values or the margins change between looks.
    #[test]
    fn cached_scaled_values_give_the_same_processes() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        let other_values: Vec<f64> = bins().iter().map(|v| v * 1.5).collect();
        let specs = [
            LatencyShiftSpec::default(),
            LatencyShiftSpec {
                promote_margin: Some(0.03),
                ..LatencyShiftSpec::default()
            },
        ];
        for spec in &specs {
            let mut cached = LatencyShiftState::default();
            let (mut s_regress, mut v_regress, mut s_safe, mut v_safe) = (0.0, 0.0, 0.0, 0.0);
            for look in 0..12 {
                let values = if look % 4 == 3 {
                    other_values.clone()
                } else {
                    bins()
                };
                let baseline = histogram(&mut rng, 900, 100.0, 0.5);
                let canary = histogram(&mut rng, 100, 112.0, 0.5);
                cached.update(spec, &values, &baseline, &canary);
                let regress = rank_increment(&values, &baseline, &canary, 1.0 + spec.max_increase)
                    .expect("both arms");
                let safe = rank_increment(&values, &baseline, &canary, 1.0 + spec.promote_margin())
                    .expect("both arms");
                (s_regress, v_regress) = (s_regress + regress.s, v_regress + regress.v);
                (s_safe, v_safe) = (s_safe + safe.s, v_safe + safe.v);
                assert_eq!(cached.regress.s.to_bits(), f64::to_bits(s_regress));
                assert_eq!(cached.regress.v.to_bits(), f64::to_bits(v_regress));
                assert_eq!(cached.safe.s.to_bits(), f64::to_bits(s_safe));
                assert_eq!(cached.safe.v.to_bits(), f64::to_bits(v_safe));
            }
            assert_eq!(cached.windows, 12);
        }
    }

    #[test]
    fn split_sums_equal_the_sequential_merge() {
        let values = bins();
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let mut windows = Vec::new();
        for (n_baseline, n_canary) in [(900, 100), (50, 5), (20_000, 20_000), (3, 1)] {
            windows.push((
                histogram(&mut rng, n_baseline, 100.0, 0.5),
                histogram(&mut rng, n_canary, 110.0, 0.8),
            ));
        }
        // Heavy ties at the same bins (scale 1 puts every canary bin on a baseline bin).
        windows.push((vec![7.0; values.len()], vec![3.0; values.len()]));
        // Values the merge alone handles: fractional and huge counts.
        let (b, c) = windows[0].clone();
        windows.push((b.iter().map(|x| x * 0.5).collect(), c.clone()));
        let mut huge = c.clone();
        huge[300] = 1e9;
        windows.push((b, huge));
        for (baseline, canary) in &windows {
            for scale in [1.0, 1.02, 1.1, 1.0 / 1.1, 1.37] {
                let merged = merged_sums(&values, baseline, canary, scale);
                let scaled: Vec<f64> = values.iter().map(|v| v / scale).collect();
                if let Some(split) = exact_sums(&values, &scaled, true, baseline, canary) {
                    // Bit for bit, not just close.
                    assert_eq!(split, merged, "scale {scale}");
                }
                assert_eq!(
                    rank_increment(&values, baseline, canary, scale),
                    merged.increment()
                );
            }
        }
        // The split path is really taken for request counts.
        let (baseline, canary) = &windows[0];
        let scaled: Vec<f64> = values.iter().map(|v| v / 1.1).collect();
        assert!(exact_sums(&values, &scaled, true, baseline, canary).is_some());
        assert!(exact_sums(&values, &scaled, true, &windows[5].0, canary).is_none());
    }

    #[test]
    fn clear_regression_is_caught_and_identical_arms_are_not() {
        let spec = LatencyShiftSpec {
            max_increase: 0.0,
            ..LatencyShiftSpec::default()
        };
        let boundary = MixtureBoundary::new(&spec, 0.05);
        let values = bins();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut slow = LatencyShiftState::default();
        let mut same = LatencyShiftState::default();
        for _ in 0..10 {
            let baseline = histogram(&mut rng, 900, 100.0, 0.5);
            slow.update(
                &spec,
                &values,
                &baseline,
                &histogram(&mut rng, 100, 130.0, 0.5),
            );
            same.update(
                &spec,
                &values,
                &baseline,
                &histogram(&mut rng, 100, 100.0, 0.5),
            );
        }
        let slow = decide(&boundary, &slow).expect("data");
        assert!(slow.regressed && !slow.safe, "{slow:?}");
        let same = decide(&boundary, &same).expect("data");
        assert!(!same.regressed, "{same:?}");
    }

    #[test]
    fn within_margin_is_proven_safe_and_beyond_is_not() {
        let spec = LatencyShiftSpec {
            max_increase: 0.10,
            ..LatencyShiftSpec::default()
        };
        let boundary = MixtureBoundary::new(&spec, 0.05);
        let values = bins();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut faster = LatencyShiftState::default();
        let mut beyond = LatencyShiftState::default();
        for _ in 0..10 {
            let baseline = histogram(&mut rng, 1000, 100.0, 0.5);
            faster.update(
                &spec,
                &values,
                &baseline,
                &histogram(&mut rng, 1000, 95.0, 0.5),
            );
            beyond.update(
                &spec,
                &values,
                &baseline,
                &histogram(&mut rng, 1000, 130.0, 0.5),
            );
        }
        let faster = decide(&boundary, &faster).expect("data");
        assert!(faster.safe && !faster.regressed, "{faster:?}");
        let beyond = decide(&boundary, &beyond).expect("data");
        assert!(beyond.regressed && !beyond.safe, "{beyond:?}");
    }

    #[test]
    fn planning_information_shrinks_for_larger_effects() {
        let small = planning_information(
            &LatencyShiftSpec {
                detect_increase: 0.05,
                ..LatencyShiftSpec::default()
            },
            0.05,
        );
        let large = planning_information(
            &LatencyShiftSpec {
                detect_increase: 0.25,
                ..LatencyShiftSpec::default()
            },
            0.05,
        );
        assert!(small > 10.0 * large, "{small} {large}");
    }
}
