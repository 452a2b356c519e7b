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
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct RankSums {
    n_baseline: f64,
    n_canary: f64,
    u_canary: f64,
    tie_term: f64,
}

impl RankSums {
    /// The sums from their parts, as one pass over the bins found them exactly (see
    /// `latency_pass`).
    pub(crate) fn from_exact_sums(
        n_baseline: f64,
        n_canary: f64,
        u_canary: f64,
        tie_term: f64,
    ) -> RankSums {
        RankSums {
            n_baseline,
            n_canary,
            u_canary,
            tie_term,
        }
    }

    /// The sums' bits (n_B, n_C, U_C, Σ(t³ − t)), for bit-for-bit comparisons.
    #[cfg(test)]
    pub(crate) fn to_bits(self) -> [u64; 4] {
        [
            self.n_baseline.to_bits(),
            self.n_canary.to_bits(),
            self.u_canary.to_bits(),
            self.tie_term.to_bits(),
        ]
    }

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

    /// The sums over whole bins (`baseline[k]`, `canary[k]` in increasing value order), equal
    /// bit for bit to pushing them one by one.
    #[cfg(test)]
    pub(crate) fn over_bins(baseline: &[f64], canary: &[f64]) -> RankSums {
        Self::exact_over_bins(baseline, canary)
            .unwrap_or_else(|| Self::sequential_over_bins(baseline, canary))
    }

    /// [`RankSums::over_bins`] when every count is whole in [0, 2^52) and the sums stay exact
    /// (which also makes every count finite and non-negative); None otherwise.
    #[cfg(test)]
    pub(crate) fn exact_over_bins(baseline: &[f64], canary: &[f64]) -> Option<RankSums> {
        let len = baseline.len().min(canary.len());
        exact_rank_sums(&baseline[..len], &canary[..len]).map(|(sums, _)| sums)
    }

    /// [`RankSums::exact_over_bins`] on arms of equal length, with each arm's Σ t and
    /// Σ(t² − 1)·t (what `exact_arm_sums` returns for it, unchecked against 2^53) when every
    /// count is also below 2^26; None as the first when the exact path does not apply.
    pub(crate) fn exact_over_bins_with_arms(
        baseline: &[f64],
        canary: &[f64],
    ) -> Option<(RankSums, Option<ArmSums>)> {
        if baseline.len() != canary.len() {
            return None;
        }
        exact_rank_sums(baseline, canary)
    }

    /// [`RankSums::over_bins`] by pushing the bins one by one.
    pub(crate) fn sequential_over_bins(baseline: &[f64], canary: &[f64]) -> RankSums {
        let mut sums = RankSums::default();
        for (b, c) in baseline.iter().zip(canary) {
            sums.push(*b, *c);
        }
        sums
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

/// [`RankSums`] when every count is a whole number in [0, 2^52), the arm sizes stay below
/// 2^53, n_C·n_B below 2^52 and Σ(t³ − t) below 2^53: every term and partial sum is then an
/// exact integer (U a multiple of ½ below 2^52), so any grouping gives the sequential sums.
/// Blocks of four bins take their baseline positions B_<k from a local prefix plus one running
/// total, and the sums go to four lanes (short dependency chains). None otherwise.
fn exact_rank_sums(baseline: &[f64], canary: &[f64]) -> Option<(RankSums, Option<ArmSums>)> {
    const SHIFT: f64 = 4_503_599_627_370_496.0; // 2^52: (x + 2^52) − 2^52 rounds x to an integer
    const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    const COUNT_LIMIT: f64 = 67_108_864.0; // 2^26
    let whole = |ok: bool, &c: &f64| ok & (0.0..SHIFT).contains(&c) & ((c + SHIFT) - SHIFT == c);
    if !(baseline.iter().fold(true, whole) && canary.iter().fold(true, whole)) {
        return None;
    }
    let small = |ok: bool, &c: &f64| ok & (c < COUNT_LIMIT);
    let small = baseline.iter().fold(true, small) && canary.iter().fold(true, small);
    let (mut u, mut ties, mut n_canary) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let (mut baseline_ties, mut canary_ties) = ([0.0f64; 4], [0.0f64; 4]);
    let mut below = 0.0f64;
    let (baseline_blocks, canary_blocks) = (baseline.chunks_exact(4), canary.chunks_exact(4));
    let (baseline_rest, canary_rest) = (baseline_blocks.remainder(), canary_blocks.remainder());
    for (b, c) in baseline_blocks.zip(canary_blocks) {
        // Baseline counts before each bin of the block, from the block's start.
        let before = [0.0, b[0], b[0] + b[1], (b[0] + b[1]) + b[2]];
        for k in 0..4 {
            u[k] += c[k] * ((below + before[k]) + 0.5 * b[k]);
            let t = b[k] + c[k];
            ties[k] += (t * t - 1.0) * t;
            n_canary[k] += c[k];
            baseline_ties[k] += (b[k] * b[k] - 1.0) * b[k];
            canary_ties[k] += (c[k] * c[k] - 1.0) * c[k];
        }
        below += before[3] + b[3];
    }
    let lanes = |sums: [f64; 4]| (sums[0] + sums[1]) + (sums[2] + sums[3]);
    let mut sums = RankSums {
        n_baseline: below,
        n_canary: lanes(n_canary),
        u_canary: lanes(u),
        tie_term: lanes(ties),
    };
    let (mut baseline_ties, mut canary_ties) = (lanes(baseline_ties), lanes(canary_ties));
    for (b, c) in baseline_rest.iter().zip(canary_rest) {
        sums.push(*b, *c);
        baseline_ties += (b * b - 1.0) * b;
        canary_ties += (c * c - 1.0) * c;
    }
    // Rounding is monotone and every term is ≥ 0 (or −0): sums that stay below the limits at
    // the end were exact all along, and n_C·n_B < 2^52 bounds U and each of its terms.
    let exact = sums.n_baseline < EXACT_LIMIT
        && sums.n_canary < EXACT_LIMIT
        && sums.n_baseline * sums.n_canary < SHIFT
        && sums.tie_term < EXACT_LIMIT;
    // With counts below 2^26 each (t² − 1)·t is exact while the sums stay below 2^53 (the
    // caller checks them as `exact_arm_sums` does); the arm sizes were checked above.
    let arms = small.then_some(ArmSums {
        n_baseline: sums.n_baseline,
        baseline_ties,
        n_canary: sums.n_canary,
        canary_ties,
    });
    exact.then_some((sums, arms))
}

/// Each arm's size and Σ(t² − 1)·t over its bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ArmSums {
    pub(crate) n_baseline: f64,
    pub(crate) baseline_ties: f64,
    pub(crate) n_canary: f64,
    pub(crate) canary_ties: f64,
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

    fn sequential_sums(baseline: &[f64], canary: &[f64]) -> RankSums {
        let mut sums = RankSums::default();
        for (b, c) in baseline.iter().zip(canary) {
            sums.push(*b, *c);
        }
        sums
    }

    fn bits(sums: &RankSums) -> [u64; 4] {
        [
            sums.n_baseline.to_bits(),
            sums.n_canary.to_bits(),
            sums.u_canary.to_bits(),
            sums.tie_term.to_bits(),
        ]
    }

    /// The blocked sums equal the sequential ones bit for bit over 3,000 generated pairs:
    /// sparse and dense whole counts, large counts near the exactness limits, fractional,
    /// negative-zero, NaN and infinite counts, lengths that are not multiples of four.
    #[test]
    fn blocked_sums_equal_the_sequential_sums_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        let (mut exact_cases, mut arm_cases) = (0, 0);
        for case in 0..3_000 {
            let len = rng.random_range(0..300);
            let scale = [1.0, 100.0, 1e6, 1e9, 3e12][case % 5];
            let arm = |rng: &mut rand_chacha::ChaCha8Rng| -> Vec<f64> {
                (0..len)
                    .map(|_| {
                        if rng.random::<f64>() < 0.4 {
                            return if rng.random::<bool>() { 0.0 } else { -0.0 };
                        }
                        (rng.random::<f64>() * scale).floor()
                    })
                    .collect()
            };
            let mut baseline = arm(&mut rng);
            let mut canary = arm(&mut rng);
            if len > 0 && case % 7 == 0 {
                let index = rng.random_range(0..len);
                canary[index] =
                    [0.5, f64::NAN, f64::INFINITY, -1.0, 4_503_599_627_370_496.0][case % 5];
            }
            if case % 11 == 0 {
                baseline.truncate(len / 2);
            }
            let exact = exact_rank_sums(
                &baseline[..baseline.len().min(canary.len())],
                &canary[..baseline.len().min(canary.len())],
            )
            .is_some();
            exact_cases += usize::from(exact);
            // The arm sums it hands the lattice are `exact_arm_sums`' whenever that accepts.
            if baseline.len() == canary.len()
                && let Some((_, Some(arms))) =
                    RankSums::exact_over_bins_with_arms(&baseline, &canary)
            {
                use crate::judge::hodges_lehmann::exact_arm_sums;
                const LIMIT: f64 = 9_007_199_254_740_992.0;
                for (counts, n, ties) in [
                    (&baseline, arms.n_baseline, arms.baseline_ties),
                    (&canary, arms.n_canary, arms.canary_ties),
                ] {
                    let checked = (n < LIMIT && ties < LIMIT).then_some((n, ties));
                    let direct = exact_arm_sums(counts);
                    assert_eq!(
                        checked.map(|(a, b)| (a.to_bits(), b.to_bits())),
                        direct.map(|(a, b)| (a.to_bits(), b.to_bits())),
                        "case {case}"
                    );
                }
                arm_cases += 1;
            }
            let blocked = RankSums::over_bins(&baseline, &canary);
            let sequential = sequential_sums(&baseline, &canary);
            let same = bits(&blocked) == bits(&sequential)
                || (blocked.u_canary.is_nan() && sequential.u_canary.is_nan());
            assert!(same, "case {case}: {blocked:?} vs {sequential:?}");
        }
        // Both paths were exercised.
        assert!(exact_cases > 1_000 && exact_cases < 2_900, "{exact_cases}");
        assert!(arm_cases > 500, "{arm_cases}");
    }

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
