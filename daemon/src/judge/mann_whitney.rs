//! Mann-Whitney U test on binned data, exactly as `scipy.stats.mannwhitneyu(x=canary,
//! y=baseline, method="asymptotic", use_continuity=True)` computes it on the bin values as
//! data, in O(bins) (statistics.md, "Shared core").
//!
//! With canary counts c_k and baseline counts b_k over ordered bins, t_k = c_k + b_k,
//! N = n_C + n_B and B_<k = Σ_{j<k} b_j:
//! - U_C = Σ_k c_k·(B_<k + b_k/2), U_B = n_C·n_B − U_C;
//! - μ = n_C·n_B/2, σ² = n_C·n_B/12·((N+1) − Σ_k(t_k³ − t_k)/(N(N−1)));
//! - "greater" (canary larger): z = (U_C − μ − ½)/σ, p = Φ̄(z);
//!   "less": z = (U_B − μ − ½)/σ, p = Φ̄(z);
//!   "two-sided": z = (max(U_C, U_B) − μ − ½)/σ, p = min(1, 2·Φ̄(z)).
//!
//! When every observation has the same value σ² = 0; like scipy (which divides by zero under
//! `errstate(ignore)`), z = −∞ for every alternative and every p-value is 1.

use serde::{Deserialize, Serialize};

use super::histogram::{BinnedPair, merge_sorted_runs, sort_both_arms};

/// Which direction the alternative hypothesis claims, canary relative to baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// Canary stochastically smaller than baseline.
    Less,
    /// Canary stochastically larger than baseline (slower: the regression).
    Greater,
    /// Either direction.
    TwoSided,
}

/// Result of the asymptotic Mann-Whitney test, canary as scipy's `x`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    pub n_canary: f64,
    pub n_baseline: f64,
    /// U of the canary: pairs (canary, baseline) with canary larger, ties counted half.
    pub u_canary: f64,
    /// U of the baseline: n_C·n_B − U_C.
    pub u_baseline: f64,
    /// μ = n_C·n_B/2.
    pub mean: f64,
    /// Tie-corrected σ².
    pub variance: f64,
    pub z_greater: f64,
    pub z_less: f64,
    pub z_two_sided: f64,
    pub p_greater: f64,
    pub p_less: f64,
    pub p_two_sided: f64,
    /// Common-language effect size P(canary > baseline) + ½P(tie) = U_C/(n_C·n_B).
    pub cles: f64,
}

impl MannWhitney {
    /// z for one alternative.
    pub fn z(&self, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::Less => self.z_less,
            Alternative::Greater => self.z_greater,
            Alternative::TwoSided => self.z_two_sided,
        }
    }

    /// p-value for one alternative.
    pub fn p_value(&self, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::Less => self.p_less,
            Alternative::Greater => self.p_greater,
            Alternative::TwoSided => self.p_two_sided,
        }
    }

    /// σ = √variance.
    pub fn std_dev(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// σ² of U, tie-corrected (statistics.md): n_C·n_B/12·((N+1) − Σ(t³−t)/(N(N−1))), unclamped.
/// Same operation order as scipy's `_get_mwu_z`, so results agree to the last bits; every
/// rank statistic in the judge uses this one expression.
pub(crate) fn tie_corrected_variance(n_canary: f64, n_baseline: f64, tie_term: f64) -> f64 {
    let n = n_canary + n_baseline;
    n_canary * n_baseline / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))
}

/// Running sums over bins in increasing value order.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RankSums {
    n_baseline: f64,
    n_canary: f64,
    u_canary: f64,
    tie_term: f64,
}

impl RankSums {
    /// Adds the next bin (values must arrive in increasing order).
    #[inline]
    pub(crate) fn push(&mut self, baseline: f64, canary: f64) {
        // U_C gains c_k·(B_<k + b_k/2): each canary item beats every smaller baseline item
        // and half of the tied ones.
        self.u_canary += canary * (self.n_baseline + 0.5 * baseline);
        let ties = baseline + canary;
        self.tie_term += (ties * ties - 1.0) * ties;
        self.n_baseline += baseline;
        self.n_canary += canary;
    }

    pub(crate) fn finish(&self) -> Option<MannWhitney> {
        if !(self.n_canary > 0.0 && self.n_baseline > 0.0) {
            return None;
        }
        let (n1, n2) = (self.n_canary, self.n_baseline);
        let product = n1 * n2;
        let mean = product / 2.0;
        let variance = tie_corrected_variance(n1, n2, self.tie_term).max(0.0);
        let sigma = variance.sqrt();
        let u_canary = self.u_canary;
        let u_baseline = product - u_canary;
        let z_of = |u: f64| (u - mean - 0.5) / sigma;
        let z_greater = z_of(u_canary);
        let z_less = z_of(u_baseline);
        let z_two_sided = z_of(u_canary.max(u_baseline));
        Some(MannWhitney {
            n_canary: n1,
            n_baseline: n2,
            u_canary,
            u_baseline,
            mean,
            variance,
            z_greater,
            z_less,
            z_two_sided,
            p_greater: normal_sf(z_greater),
            p_less: normal_sf(z_less),
            p_two_sided: (2.0 * normal_sf(z_two_sided)).min(1.0),
            cles: u_canary / product,
        })
    }
}

/// Upper tail Φ̄(z) = ½·erfc(z/√2): keeps its relative accuracy far in the tail, where
/// 1 − Φ(z) would round to 0.
pub fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    0.5 * statrs::function::erf::erfc(z / std::f64::consts::SQRT_2)
}

/// Mann-Whitney on a binned pair, O(bins). None ("Nodata") when either arm is empty.
pub fn mann_whitney(pair: &BinnedPair) -> Option<MannWhitney> {
    let mut sums = RankSums::default();
    for (baseline, canary) in pair.baseline.iter().zip(&pair.canary) {
        sums.push(*baseline, *canary);
    }
    sums.finish()
}

/// Mann-Whitney on raw samples: sorts each arm once (NaN and infinities dropped) and runs the
/// binned computation over the distinct values without materialising the bins.
pub fn mann_whitney_samples(baseline: &[f64], canary: &[f64]) -> Option<MannWhitney> {
    let (baseline_sorted, canary_sorted) = sort_both_arms(baseline, canary);
    let mut sums = RankSums::default();
    merge_sorted_runs(&baseline_sorted, &canary_sorted, |_, b, c| sums.push(b, c));
    sums.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_arm_is_nodata() {
        assert!(mann_whitney_samples(&[], &[1.0]).is_none());
        assert!(mann_whitney_samples(&[1.0], &[]).is_none());
        assert!(mann_whitney_samples(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn all_tied_gives_p_one() {
        let result = mann_whitney_samples(&[5.0; 4], &[5.0; 3]).expect("both arms have data");
        assert_eq!(result.variance, 0.0);
        assert_eq!(result.p_greater, 1.0);
        assert_eq!(result.p_less, 1.0);
        assert_eq!(result.p_two_sided, 1.0);
        assert_eq!(result.cles, 0.5);
    }

    #[test]
    fn small_case_by_hand() {
        // canary {3, 4}, baseline {1, 2, 3}: U_C = 2.5 + 3 = 5.5 of 6 pairs.
        let result = mann_whitney_samples(&[1.0, 2.0, 3.0], &[3.0, 4.0]).expect("data");
        assert_eq!(result.u_canary, 5.5);
        assert_eq!(result.u_baseline, 0.5);
        assert_eq!(result.mean, 3.0);
        // σ² = 6/12·(6 − 6/20) = 2.85
        assert!((result.variance - 2.85).abs() < 1e-12);
        assert!((result.z_greater - 2.0 / 2.85f64.sqrt()).abs() < 1e-12);
        assert!(result.p_greater < result.p_two_sided);
    }
}
