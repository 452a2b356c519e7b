//! Kayenta's Mann-Whitney interval, reproduced step for step.
//!
//! Kayenta (module `kayenta-mannwhitney`) ports R's `wilcox.test(x, y, conf.int = TRUE,
//! exact = FALSE, correct = TRUE)` with x = canary, y = baseline: the shift μ of the
//! canary is found where the continuity-corrected, tie-corrected rank statistic of
//! (x − μ, y) crosses ±z (interval) or 0 (estimate), by Brent's method with an **absolute**
//! tolerance of 1e-4 and at most 1000 iterations.
//!
//! Why not the shared core (`judge::hodges_lehmann`), which computes the exact
//! Hodges-Lehmann estimate and Moses interval on bins: Kayenta's answers differ from the
//! exact ones by up to the 1e-4 root-finding tolerance, and that matters to its decisions
//! on small-valued metrics (error rates, ratios near 0), where an interval bound that
//! should sit at 0 lands at ±5e-5 and flips `lower > 0.25·|estimate|`. Kayenta's own test
//! suite pins those inexact values. To classify as Kayenta does, this module repeats the
//! computation itself: same statistic, re-ranked at every trial shift (ties between x − μ
//! and y count in the variance), same bracketing rules, same Brent iteration.

use statrs::function::erf::erfc;
use std::cmp::Ordering;

/// Kayenta's absolute tolerance for the roots (R's `uniroot(tol = 1e-4)`).
pub const ROOT_TOLERANCE: f64 = 1e-4;
const MAX_ITERATIONS: usize = 1000;

/// Shift of the canary relative to the baseline (canary − baseline), as Kayenta computes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftInterval {
    /// Lower bound of the confidence interval.
    pub lower: f64,
    /// Upper bound of the confidence interval.
    pub upper: f64,
    /// Root of the statistic at z = 0 (≈ Hodges-Lehmann estimate, within the tolerance).
    pub estimate: f64,
    /// Two-sided asymptotic p-value of "no shift" (continuity- and tie-corrected; R's
    /// `wilcox.test` p-value). Kayenta does not use it; reported as evidence.
    pub p_two_sided: f64,
}

/// Why the interval cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum RankTestError {
    /// Kayenta's "cannot compute confidence interval when all observations are tied":
    /// at some trial shift every value of both arms is equal (e.g. one point per arm).
    #[error("all observations are tied at shift {shift}: the rank statistic has no variance")]
    AllTied { shift: f64 },
    /// An arm is empty.
    #[error("an arm has no observations")]
    Empty,
    /// Confidence level outside (0, 1).
    #[error("confidence level {0} is not in (0, 1)")]
    InvalidConfidence(f64),
}

/// Both arms, sorted once; every trial shift keeps the canary's order, so ranking is a merge.
struct ShiftedRanks {
    canary: Vec<f64>,
    baseline: Vec<f64>,
}

impl ShiftedRanks {
    fn new(canary: &[f64], baseline: &[f64]) -> Self {
        let mut canary = canary.to_vec();
        let mut baseline = baseline.to_vec();
        canary.sort_by(f64::total_cmp);
        baseline.sort_by(f64::total_cmp);
        Self { canary, baseline }
    }

    /// Kayenta's `wilcoxonDiff(μ, zq)`: (dz − ½·sign dz)/σ − zq, where dz is the canary's
    /// rank sum of (x − μ) among (x − μ, y) minus its null mean and σ is tie-corrected.
    fn standardized(&self, shift: f64, quantile: f64) -> Result<f64, RankTestError> {
        let n_canary = self.canary.len() as f64;
        let n_baseline = self.baseline.len() as f64;
        let (canary_rank_sum, tie_sum) = self.rank_sum_and_ties(shift);

        let dz = canary_rank_sum - n_canary * (n_canary + 1.0) / 2.0 - n_canary * n_baseline / 2.0;
        // Java's signum: 0 at 0 (Rust's f64::signum would give ±1).
        let correction = if dz > 0.0 {
            0.5
        } else if dz < 0.0 {
            -0.5
        } else {
            0.0
        };
        let sigma =
            crate::judge::mann_whitney::tie_corrected_variance(n_canary, n_baseline, tie_sum)
                .sqrt();
        if sigma == 0.0 {
            return Err(RankTestError::AllTied { shift });
        }
        Ok((dz - correction) / sigma - quantile)
    }

    /// Sum of the canary's mid-ranks and Σ(t³ − t) over tie groups, for (x − μ, y).
    fn rank_sum_and_ties(&self, shift: f64) -> (f64, f64) {
        let shifted = |i: usize| self.canary[i] - shift;
        let (n_canary, n_baseline) = (self.canary.len(), self.baseline.len());
        let (mut i, mut j) = (0usize, 0usize);
        let mut rank_sum = 0.0;
        let mut tie_sum = 0.0;
        let mut position = 0usize;
        while i < n_canary || j < n_baseline {
            // The smallest remaining value starts the next tie group.
            let value = match (i < n_canary, j < n_baseline) {
                (true, true) => {
                    let x = shifted(i);
                    if x.total_cmp(&self.baseline[j]) == Ordering::Greater {
                        self.baseline[j]
                    } else {
                        x
                    }
                }
                (true, false) => shifted(i),
                _ => self.baseline[j],
            };
            let mut canary_in_group = 0usize;
            while i < n_canary && shifted(i).total_cmp(&value) == Ordering::Equal {
                canary_in_group += 1;
                i += 1;
            }
            let mut baseline_in_group = 0usize;
            while j < n_baseline && self.baseline[j].total_cmp(&value) == Ordering::Equal {
                baseline_in_group += 1;
                j += 1;
            }
            let size = canary_in_group + baseline_in_group;
            // Mid-rank of ranks position+1 ..= position+size.
            let mid_rank = (2.0 * (position as f64 + 1.0) + size as f64 - 1.0) / 2.0;
            rank_sum += mid_rank * canary_in_group as f64;
            let t = size as f64;
            tie_sum += t.powi(3) - t;
            position += size;
        }
        (rank_sum, tie_sum)
    }
}

/// Kayenta's `MannWhitney.mannWhitneyUTest(canary, baseline, confidenceLevel)`.
pub fn shift_interval(
    canary: &[f64],
    baseline: &[f64],
    confidence_level: f64,
) -> Result<ShiftInterval, RankTestError> {
    if canary.is_empty() || baseline.is_empty() {
        return Err(RankTestError::Empty);
    }
    if !(confidence_level > 0.0 && confidence_level < 1.0) {
        return Err(RankTestError::InvalidConfidence(confidence_level));
    }
    let ranks = ShiftedRanks::new(canary, baseline);
    // Sorted copies give the extremes directly.
    let shift_min = ranks.canary[0] - ranks.baseline[ranks.baseline.len() - 1];
    let shift_max = ranks.canary[ranks.canary.len() - 1] - ranks.baseline[0];

    let alpha = 1.0 - confidence_level;
    let z_quantile = crate::judge::binomial::standard_normal_quantile(alpha / 2.0);

    let root = |quantile: f64| -> Result<f64, RankTestError> {
        let f_lower = ranks.standardized(shift_min, quantile)?;
        let f_upper = ranks.standardized(shift_max, quantile)?;
        if f_lower <= 0.0 {
            Ok(shift_min)
        } else if f_upper >= 0.0 {
            Ok(shift_max)
        } else {
            brent(shift_min, shift_max, f_lower, f_upper, |shift| {
                ranks.standardized(shift, quantile)
            })
        }
    };
    let lower = root(-z_quantile)?;
    let upper = root(z_quantile)?;

    // The estimate is solved without the endpoint checks, as in Kayenta.
    let f_lower = ranks.standardized(shift_min, 0.0)?;
    let f_upper = ranks.standardized(shift_max, 0.0)?;
    let estimate = brent(shift_min, shift_max, f_lower, f_upper, |shift| {
        ranks.standardized(shift, 0.0)
    })?;

    let z_at_zero = ranks.standardized(0.0, 0.0)?;
    let p_two_sided = (erfc(z_at_zero.abs() / std::f64::consts::SQRT_2)).min(1.0);

    Ok(ShiftInterval {
        lower,
        upper,
        estimate,
        p_two_sided,
    })
}

/// Kayenta's standardized rank statistic of (canary − shift) against baseline:
/// (dz − ½·sign dz)/σ, continuity- and tie-corrected (`wilcoxonDiff(shift, 0, x, y)`).
/// Decreasing in `shift`; the interval bounds are where it crosses ±z.
pub fn rank_statistic_z(
    canary: &[f64],
    baseline: &[f64],
    shift: f64,
) -> Result<f64, RankTestError> {
    if canary.is_empty() || baseline.is_empty() {
        return Err(RankTestError::Empty);
    }
    ShiftedRanks::new(canary, baseline).standardized(shift, 0.0)
}

/// Common-language effect size as Kayenta computes it: (canary rank sum − m(m+1)/2)/(m·n),
/// mid-ranks for ties, i.e. P(canary > baseline) + ½·P(tie).
pub fn cles(canary: &[f64], baseline: &[f64]) -> f64 {
    let ranks = ShiftedRanks::new(canary, baseline);
    let (rank_sum, _) = ranks.rank_sum_and_ties(0.0);
    let m = canary.len() as f64;
    let n = baseline.len() as f64;
    (2.0 * rank_sum - m * (m + 1.0)) / (2.0 * n * m)
}

/// commons-math `Precision.equals(x, 0.0)` (within one ulp of zero).
fn is_zero_within_ulp(x: f64) -> bool {
    x == 0.0 || x.abs() == f64::from_bits(1)
}

/// Brent's root finder (Brent 1973; the `zeroin` variant R's `uniroot` and Kayenta use):
/// bisection safeguarded inverse interpolation, stopping when the bracket is within
/// 2·ε·|b| + tol/2. Kept step for step so that the returned point is the one Kayenta gets.
fn brent<F>(ax: f64, bx: f64, fa: f64, fb: f64, f: F) -> Result<f64, RankTestError>
where
    F: Fn(f64) -> Result<f64, RankTestError>,
{
    let (mut a, mut b, mut c) = (ax, bx, ax);
    let (mut fa, mut fb, mut fc) = (fa, fb, fa);

    if is_zero_within_ulp(fa) {
        return Ok(a);
    }
    if is_zero_within_ulp(fb) {
        return Ok(b);
    }

    for _ in 0..=MAX_ITERATIONS {
        let previous_step = b - a;
        // Keep b the best guess: swap b and c when c is closer to a root.
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tolerance = 2.0 * f64::EPSILON * b.abs() + ROOT_TOLERANCE / 2.0;
        let mut new_step = (c - b) / 2.0;

        if new_step.abs() <= tolerance || is_zero_within_ulp(fb) {
            return Ok(b);
        }

        if previous_step.abs() >= tolerance && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                // Secant step.
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                // Inverse quadratic interpolation.
                let qa = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1.0));
                q = (qa - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < (0.75 * cb * q - (tolerance * q).abs() / 2.0)
                && p < (previous_step * q / 2.0).abs()
            {
                new_step = p / q;
            }
        }

        if new_step.abs() < tolerance {
            new_step = if new_step > 0.0 {
                tolerance
            } else {
                -tolerance
            };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b)?;
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    // Kayenta returns the last iterate when the iterations run out.
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_samples_reproduce_kayenta_small_case() {
        // Kayenta MannWhitneySuite "Mann-Whitney Confidence Interval & Estimate" (0.95).
        let interval = shift_interval(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95)
            .expect("interval");
        assert!((interval.lower - 6.0).abs() < 1e-6, "{interval:?}");
        assert!((interval.upper - 39.0).abs() < 1e-6, "{interval:?}");
        assert!((interval.estimate - 22.5).abs() < 1e-6, "{interval:?}");
    }

    #[test]
    fn one_point_per_arm_is_all_tied() {
        assert!(matches!(
            shift_interval(&[2.0], &[1.0], 0.98),
            Err(RankTestError::AllTied { .. })
        ));
    }

    #[test]
    fn standardized_statistic_matches_hand_computation() {
        // x = [3, 4], y = [1, 2] at μ = 0: rank sum 7, dz = 7 − 3 − 2 = 2,
        // σ = √(4/12 · 5) , z = (2 − 0.5)/σ.
        let ranks = ShiftedRanks::new(&[3.0, 4.0], &[1.0, 2.0]);
        let z = ranks.standardized(0.0, 0.0).expect("z");
        let expected = 1.5 / (4.0_f64 / 12.0 * 5.0).sqrt();
        assert!((z - expected).abs() < 1e-12);
        // At μ = 2 the pairs tie: (1,1),(2,2) → ties 2·(8 − 2) = 12, dz = 0.
        let tied = ranks.standardized(2.0, 0.0).expect("z");
        assert_eq!(tied, 0.0);
    }

    #[test]
    fn cles_counts_ties_half() {
        assert_eq!(cles(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.5);
        assert_eq!(cles(&[5.0, 6.0], &[1.0, 2.0]), 1.0);
        assert_eq!(cles(&[1.0], &[1.0, 2.0]), 0.25);
    }

    #[test]
    fn brent_finds_a_smooth_root_within_tolerance() {
        let root = brent(0.0, 3.0, -2.0, 7.0, |x| Ok(x * x - 2.0)).expect("root");
        assert!((root - std::f64::consts::SQRT_2).abs() < ROOT_TOLERANCE);
    }
}
