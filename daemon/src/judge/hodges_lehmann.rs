//! Hodges-Lehmann shift (canary − baseline) and its confidence interval on binned data, equal
//! to R's `wilcox.test(x = canary, y = baseline, conf.int = TRUE, exact = FALSE)`.
//!
//! R defines both through W(d), the Mann-Whitney statistic of (canary − d) against baseline:
//! dz(d) = U(d) − n_C·n_B/2, and solves with `uniroot` (tol 1e-4)
//! - the estimate: dz(d)/σ(d) = 0 (no continuity correction);
//! - the bounds: (dz(d) − ½·sign(dz(d)))/σ(d) = ±z_{1−α/2}.
//!
//! These are step functions of d that jump only where d equals a pairwise difference
//! v_i − v_j, and between jumps σ(d) = σ₀, the σ with ties inside each arm only. So the roots
//! are order statistics of the M = n_C·n_B differences (weights c_i·b_j), found exactly here:
//! - estimate: the zero set of dz is [D_lo, D_hi] with D_lo the smallest d with
//!   #{diffs ≤ d} ≥ M/2 and D_hi the smallest with #{diffs ≤ d} > M/2; the estimate is its
//!   midpoint, the classic median of differences. (R's uniroot stops at whichever point of
//!   [D_lo, D_hi] it first evaluates, so R's estimate lies in that set ± tol.)
//! - lower bound: D_(k) with k = ⌈M/2 − ½ − z·σ₀⌉; upper: D_(k) with k = ⌈M/2 + ½ + z·σ₀⌉,
//!   each clamped to [D_(1), D_(M)] as R returns `mumin`/`mumax` there.
//!
//! Caveat: exactly at a difference point R's σ(d) also counts the new cross-arm ties, so W can
//! take an isolated value there; with heavy ties Brent could stop at such a point if it landed
//! on it exactly. On the 53 committed R cases (many with integer-ms ties) ours agrees with R
//! within uniroot's tolerance.
//!
//! Each count #{diffs ≤ d} is O(bins) with a two-pointer walk over prefix sums; the order
//! statistic is found by bisection over the ordered bit patterns of f64 (≤ 64 counts, exact).

use serde::{Deserialize, Serialize};

use super::binomial::standard_normal_quantile;
use super::histogram::{BinnedPair, LogBuckets, from_order_key, order_key};
#[cfg(test)]
use super::mann_whitney::RankSums;
use super::mann_whitney::{ArmSums, mann_whitney};
use super::quantile_cs::exact_running_sums;

/// Hodges-Lehmann shift estimate (canary − baseline) with a two-sided interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HodgesLehmann {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
}

/// The nonzero bins of each arm, ready for counting pairwise differences.
struct Differences {
    canary_values: Vec<f64>,
    canary_counts: Vec<f64>,
    baseline_values: Vec<f64>,
    /// baseline_at_or_after[j] = Σ_{j' ≥ j} b_j'.
    baseline_at_or_after: Vec<f64>,
    n_canary: f64,
    n_baseline: f64,
}

impl Differences {
    fn new(values: &[f64], baseline: &[f64], canary: &[f64]) -> Option<Differences> {
        let mut canary_values = Vec::new();
        let mut canary_counts = Vec::new();
        let mut baseline_values = Vec::new();
        let mut baseline_counts = Vec::new();
        for ((value, b), c) in values.iter().zip(baseline).zip(canary) {
            if *c > 0.0 {
                canary_values.push(*value);
                canary_counts.push(*c);
            }
            if *b > 0.0 {
                baseline_values.push(*value);
                baseline_counts.push(*b);
            }
        }
        if canary_values.is_empty() || baseline_values.is_empty() {
            return None;
        }
        let mut baseline_at_or_after = vec![0.0; baseline_counts.len() + 1];
        for j in (0..baseline_counts.len()).rev() {
            baseline_at_or_after[j] = baseline_at_or_after[j + 1] + baseline_counts[j];
        }
        Some(Differences {
            n_canary: canary_counts.iter().sum(),
            n_baseline: baseline_at_or_after[0],
            canary_values,
            canary_counts,
            baseline_values,
            baseline_at_or_after,
        })
    }

    fn smallest(&self) -> f64 {
        self.canary_values[0] - self.baseline_values[self.baseline_values.len() - 1]
    }

    fn largest(&self) -> f64 {
        self.canary_values[self.canary_values.len() - 1] - self.baseline_values[0]
    }

    /// Weight of pairs with v_i − v_j ≤ d. For each canary value the qualifying baseline
    /// values are a suffix (v_j ≥ v_i − d); the suffix start only moves right as v_i grows.
    /// Floating subtraction is monotone, so this agrees with comparing computed differences.
    fn weight_at_or_below(&self, d: f64) -> f64 {
        let mut start = 0;
        let mut total = 0.0;
        for (value, count) in self.canary_values.iter().zip(&self.canary_counts) {
            while start < self.baseline_values.len() && value - self.baseline_values[start] > d {
                start += 1;
            }
            total += count * self.baseline_at_or_after[start];
        }
        total
    }

    /// Smallest difference d with `reached(weight_at_or_below(d))`, for a predicate that turns
    /// true as the weight grows; D_(M) when it never does before the largest difference.
    fn first_difference_where(&self, reached: impl Fn(f64) -> bool) -> f64 {
        let (mut low, mut high) = (order_key(self.smallest()), order_key(self.largest()));
        while low < high {
            let mid = low + (high - low) / 2;
            if reached(self.weight_at_or_below(from_order_key(mid))) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        from_order_key(low)
    }

    /// D_(k): the smallest difference with at least weight k at or below it.
    fn order_statistic(&self, k: f64) -> f64 {
        self.first_difference_where(|weight| weight >= k)
    }

    /// Midpoint of the zero set of dz (the median of the differences).
    fn median(&self) -> f64 {
        let half = self.n_canary * self.n_baseline / 2.0;
        let low = self.first_difference_where(|weight| weight >= half);
        // The upper median is `low` itself when its weight already passes M/2, else the next
        // larger difference: one O(bins) walk instead of a second search.
        let high = if self.weight_at_or_below(low) > half {
            low
        } else {
            self.next_difference_above(low)
        };
        low + (high - low) / 2.0
    }

    /// Smallest difference v_i − v_j strictly greater than `d` (`d` itself if none is).
    fn next_difference_above(&self, d: f64) -> f64 {
        let mut best = f64::INFINITY;
        // For each canary value the differences above d come from baseline values below
        // v_i − d; the largest such baseline value gives the smallest of them. As v_i grows
        // that boundary only moves right.
        let mut end = 0;
        for value in &self.canary_values {
            while end < self.baseline_values.len() && value - self.baseline_values[end] > d {
                end += 1;
            }
            if end > 0 {
                best = best.min(value - self.baseline_values[end - 1]);
            }
        }
        if best.is_finite() { best } else { d }
    }
}

fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// σ₀² = n_C·n_B/12·((N+1) − (Σ(c³−c) + Σ(b³−b))/(N(N−1))): the Mann-Whitney variance away
/// from any cross-arm tie, i.e. with ties inside each arm only.
fn sigma_within_arm_ties(pair_baseline: &[f64], pair_canary: &[f64]) -> f64 {
    let n_c: f64 = pair_canary.iter().sum();
    let n_b: f64 = pair_baseline.iter().sum();
    let tie_term: f64 = pair_canary
        .iter()
        .chain(pair_baseline)
        .map(|t| (t * t - 1.0) * t)
        .sum();
    sigma_from_sums(n_c, n_b, tie_term)
}

/// σ₀ from the arm sizes and Σ(t³ − t) over both arms' bins (one expression for both paths, so
/// equal sums give bit-equal σ₀ and hence equal orders k).
fn sigma_from_sums(n_c: f64, n_b: f64, tie_term: f64) -> f64 {
    super::mann_whitney::tie_corrected_variance(n_c, n_b, tie_term)
        .max(0.0)
        .sqrt()
}

fn hodges_lehmann_on(
    values: &[f64],
    baseline: &[f64],
    canary: &[f64],
    confidence: f64,
) -> Option<HodgesLehmann> {
    if !valid_confidence(confidence) {
        return None;
    }
    let differences = Differences::new(values, baseline, canary)?;
    let z = standard_normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let sigma = sigma_within_arm_ties(baseline, canary);
    let half = differences.n_canary * differences.n_baseline / 2.0;
    // Where the continuity-corrected statistic crosses ±z (module docs).
    let lower_order = (half - 0.5 - z * sigma).ceil();
    let upper_order = (half + 0.5 + z * sigma).ceil();
    Some(HodgesLehmann {
        estimate: differences.median(),
        lower: differences.order_statistic(lower_order),
        upper: differences.order_statistic(upper_order),
        confidence,
    })
}

/// Hodges-Lehmann shift canary − baseline with R's asymptotic (continuity- and tie-corrected)
/// interval. None when either arm is empty or the confidence is outside (0, 1). When every
/// observation is tied the interval is the single difference (R refuses this case).
pub fn hodges_lehmann(pair: &BinnedPair, confidence: f64) -> Option<HodgesLehmann> {
    hodges_lehmann_on(&pair.values, &pair.baseline, &pair.canary, confidence)
}

/// Hodges-Lehmann on ln(values), returned as exp(·): the ratio canary/baseline (e.g. 1.10 for
/// "10% slower") with its interval. None when any occupied bin has a value ≤ 0.
pub fn hodges_lehmann_ratio(pair: &BinnedPair, confidence: f64) -> Option<HodgesLehmann> {
    let occupied = |i: usize| pair.baseline[i] > 0.0 || pair.canary[i] > 0.0;
    if (0..pair.len()).any(|i| occupied(i) && pair.values[i] <= 0.0) {
        return None;
    }
    let (mut values, mut baseline, mut canary) = (Vec::new(), Vec::new(), Vec::new());
    for i in (0..pair.len()).filter(|&i| occupied(i)) {
        values.push(pair.values[i].ln());
        baseline.push(pair.baseline[i]);
        canary.push(pair.canary[i]);
    }
    let log_shift = hodges_lehmann_on(&values, &baseline, &canary, confidence)?;
    Some(HodgesLehmann {
        estimate: log_shift.estimate.exp(),
        lower: log_shift.lower.exp(),
        upper: log_shift.upper.exp(),
        confidence,
    })
}

/// Below 2^53 every integer is an f64 and sums of integers are exact in any order.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;
/// Counts below 2^26 have an exact square, so each (t² − 1)·t is exact when the total is.
const COUNT_LIMIT: f64 = 67_108_864.0;
/// Below this log growth the general path's rounding noise in ln v could reorder lattice steps.
const MIN_LOG_GROWTH: f64 = 1e-6;

/// First and last index with a nonzero count (NaN and negatives count as nonzero so that the
/// validity check below sees them).
fn occupied_range(counts: &[f64]) -> Option<(usize, usize)> {
    let first = counts.iter().position(|&c| c != 0.0)?;
    let last = counts.iter().rposition(|&c| c != 0.0)?;
    Some((first, last))
}

/// Σ counts and Σ(t² − 1)·t when every count is a whole number in [0, 2^26) and both sums stay
/// below 2^53: then every partial sum is exact, so these equal the general path's sequential
/// sums bit for bit whatever the order. None otherwise. Lanes so that the loop vectorises.
pub(crate) fn exact_arm_sums(counts: &[f64]) -> Option<(f64, f64)> {
    const SHIFT: f64 = 4_503_599_627_370_496.0; // 2^52: (x + 2^52) − 2^52 rounds x to an integer
    // Whole and in [0, 2^26): one mask per count (NaN fails every comparison), a branch-free
    // fold so that it vectorises.
    let whole = counts.iter().fold(true, |ok, &t| {
        ok & (0.0..COUNT_LIMIT).contains(&t) & ((t + SHIFT) - SHIFT == t)
    });
    if !whole {
        return None;
    }
    // Per lane Σ t and Σ(t² − 1)·t.
    let mut total = [0.0f64; 4];
    let mut ties = [0.0f64; 4];
    let chunks = counts.chunks_exact(4);
    let rest = chunks.remainder();
    for chunk in chunks {
        for k in 0..4 {
            let t = chunk[k];
            total[k] += t;
            ties[k] += (t * t - 1.0) * t;
        }
    }
    let [mut total, mut ties] = [total, ties].map(|lanes| lanes.iter().sum::<f64>());
    for &t in rest {
        total += t;
        ties += (t * t - 1.0) * t;
    }
    // Terms are ≥ −0 and whole, so a rounded partial sum would leave a total ≥ 2^53 (rounding is
    // monotone): checking the final sums suffices.
    (total < EXACT_LIMIT && ties < EXACT_LIMIT).then_some((total, ties))
}

/// Σ a_k·b_k over the common length, eight independent lanes (exact where the callers use it:
/// whole counts whose products and sums stay below 2^53, so the order is free).
#[inline]
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    let mut lanes = [0.0f64; 8];
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    let tail: f64 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f64>() + tail
}

/// Pairwise differences of log-bucket indices d = i − j (canary i, baseline j), weights c_i·b_j.
/// On log buckets ln v_i − ln v_j = (i − j)·ln g, so d orders the differences exactly as the
/// general path orders their logarithms.
struct Lattice<'a> {
    /// Canary counts over its occupied range [canary_first, …].
    canary: &'a [f64],
    canary_first: isize,
    /// canary_before[i − canary_first] = Σ_{i' < i} c_i' (one entry more than `canary`).
    canary_before: Vec<f64>,
    /// The baseline's occupied range [baseline_first, baseline_last].
    baseline_first: isize,
    baseline_last: isize,
    /// baseline_from[j − baseline_first] = Σ_{j' ≥ j} b_j' over the occupied range.
    baseline_from: Vec<f64>,
    n_baseline: f64,
    /// (d, count) already evaluated: the three searches meet around the same few levels.
    memo: Vec<(isize, f64)>,
}

impl Lattice<'_> {
    fn smallest(&self) -> isize {
        self.canary_first - self.baseline_last
    }

    fn largest(&self) -> isize {
        self.canary_first + self.canary.len() as isize - 1 - self.baseline_first
    }

    /// Weight of pairs with i − j ≤ d, i.e. j ≥ i − d: canary bins up to baseline_first + d see
    /// the whole baseline, those past baseline_last + d none, those between a suffix sum.
    fn count_uncached(&self, d: isize) -> f64 {
        let len = self.canary.len() as isize;
        // Canary offsets (from canary_first) of the three parts.
        let full_end = (self.baseline_first + d + 1 - self.canary_first).clamp(0, len);
        let partial_end = (self.baseline_last + d + 1 - self.canary_first).clamp(full_end, len);
        let full = self.n_baseline * self.canary_before[full_end as usize];
        // Baseline offset for canary offset `full_end`: i − d − baseline_first.
        let start = (self.canary_first + full_end - d - self.baseline_first)
            .clamp(0, self.baseline_from.len() as isize) as usize;
        let canary = &self.canary[full_end as usize..partial_end as usize];
        let suffix = &self.baseline_from[start..];
        full + dot(canary, suffix)
    }

    fn count(&mut self, d: isize) -> f64 {
        if let Some(&(_, count)) = self.memo.iter().find(|(level, _)| *level == d) {
            return count;
        }
        let count = self.count_uncached(d);
        self.memo.push((d, count));
        count
    }

    /// Smallest d with count(d) ≥ k (the largest difference when none is, as the general path
    /// clamps), searched by galloping from `start` and then bisecting the bracket.
    fn first_level(&mut self, k: f64, start: isize) -> isize {
        let (smallest, largest) = (self.smallest(), self.largest());
        let start = start.clamp(smallest, largest);
        // Invariant of the bisection: the answer lies in [low, high].
        let (mut low, mut high);
        if self.count(start) >= k {
            high = start;
            let mut step = 1;
            loop {
                let probe = high - step;
                if probe < smallest {
                    low = smallest;
                    break;
                }
                if self.count(probe) >= k {
                    high = probe;
                    step *= 2;
                } else {
                    low = probe + 1;
                    break;
                }
            }
        } else {
            let mut below = start;
            let mut step = 1;
            loop {
                let probe = below + step;
                if probe >= largest {
                    high = largest;
                    break;
                }
                if self.count(probe) >= k {
                    high = probe;
                    break;
                }
                below = probe;
                step *= 2;
            }
            // `start` may already be the largest difference: then it is the (clamped) answer.
            low = (below + 1).min(high);
        }
        while low < high {
            let mid = low + (high - low) / 2;
            if self.count(mid) >= k {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        low
    }
}

/// Lattice positions of the estimate (in half steps: the midpoint of two levels) and the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LatticeLevels {
    estimate_half_steps: isize,
    /// The lower median's level (where the search for the estimate ends).
    low: isize,
    lower: isize,
    upper: isize,
}

/// The exact lattice search, or None when the counts leave the exact-integer range (the caller
/// then takes the general path).
#[cfg(test)]
fn lattice_levels(baseline: &[f64], canary: &[f64], confidence: f64) -> Option<LatticeLevels> {
    lattice_levels_from(baseline, canary, confidence, None, None)
}

/// [`lattice_levels`], each search starting from `start`'s level when given (the previous
/// look's: the levels move little from look to look). Every search returns the smallest level
/// whose exact count reaches its order, which does not depend on where it starts, so neither
/// does the result. `arms`, when given, are the sums [`exact_arm_sums`] would compute over
/// these arms before its final check (from the caller's pass over the same bins).
fn lattice_levels_from(
    baseline: &[f64],
    canary: &[f64],
    confidence: f64,
    start: Option<LatticeLevels>,
    arms: Option<ArmSums>,
) -> Option<LatticeLevels> {
    let (canary_first, canary_last) = occupied_range(canary)?;
    let (baseline_first, baseline_last) = occupied_range(baseline)?;
    let canary = &canary[canary_first..=canary_last];
    let baseline = &baseline[baseline_first..=baseline_last];
    // Over the occupied ranges the sums are the same (the bins left out hold zeros).
    let checked = |total: f64, ties: f64| {
        (total < EXACT_LIMIT && ties < EXACT_LIMIT).then_some((total, ties))
    };
    let ((n_canary, canary_ties), (n_baseline, baseline_ties)) = match arms {
        Some(arms) => (
            checked(arms.n_canary, arms.canary_ties)?,
            checked(arms.n_baseline, arms.baseline_ties)?,
        ),
        None => (exact_arm_sums(canary)?, exact_arm_sums(baseline)?),
    };
    let pairs = n_canary * n_baseline;
    if pairs >= EXACT_LIMIT || (canary_ties + baseline_ties) >= EXACT_LIMIT {
        return None;
    }
    // Whole counts below 2^53 in total: every running sum is an exact integer, whatever the
    // grouping (blocked sums, shorter chains).
    let mut canary_before = Vec::with_capacity(canary.len() + 1);
    canary_before.push(0.0);
    exact_running_sums(canary, &mut canary_before);
    // Σ_{j' ≥ j} b_j' = n_B − Σ_{j' ≤ j} b_j' + b_j, exact integers again.
    let mut baseline_from = Vec::with_capacity(baseline.len());
    exact_running_sums(baseline, &mut baseline_from);
    for (slot, &b) in baseline_from.iter_mut().zip(baseline) {
        *slot = (n_baseline - *slot) + b;
    }
    let mut lattice = Lattice {
        canary,
        canary_first: canary_first as isize,
        canary_before,
        baseline_first: baseline_first as isize,
        baseline_last: baseline_last as isize,
        baseline_from,
        n_baseline,
        memo: Vec::with_capacity(32),
    };
    // The same orders as the general path (bit-equal sums, same expressions).
    let z = standard_normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let sigma = sigma_from_sums(n_canary, n_baseline, canary_ties + baseline_ties);
    let half = pairs / 2.0;
    let lower_order = (half - 0.5 - z * sigma).ceil();
    let upper_order = (half + 0.5 + z * sigma).ceil();
    // Start from the difference of the arms' medians: for a shift it is the answer.
    let median_index =
        |cumulative: &[f64], target: f64| cumulative.partition_point(|&c| c < target) as isize;
    let canary_median =
        canary_first as isize + median_index(&lattice.canary_before[1..], n_canary / 2.0);
    // Last baseline bin whose suffix still holds half the baseline (suffix sums fall).
    let baseline_median = baseline_first as isize
        + lattice
            .baseline_from
            .partition_point(|&c| c >= n_baseline / 2.0)
            .max(1) as isize
        - 1;
    let low_start = start.map_or(canary_median - baseline_median, |start| start.low);
    let low = lattice.first_level(half, low_start);
    // Upper median: `low` when its count already passes M/2, else the next occupied level,
    // the first whose count exceeds low's (every occupied pair weighs a whole c·b ≥ 1; the
    // count stays below M there, so such a level exists).
    let low_count = lattice.count(low);
    let high = if low_count > half {
        low
    } else {
        lattice.first_level(low_count + 1.0, low)
    };
    let lower = lattice.first_level(lower_order, start.map_or(low, |start| start.lower));
    let upper = lattice.first_level(upper_order, start.map_or(high, |start| start.upper));
    Some(LatticeLevels {
        estimate_half_steps: low + high,
        low,
        lower,
        upper,
    })
}

/// [`hodges_lehmann_ratio`] on a log bucket scheme (bin values min·g^(i+½)), exact on the
/// integer lattice of bucket-index differences: ln v_i − ln v_j = (i − j)·ln g, so every
/// order statistic is found by integer searches of O(occupied bins) counts (≈ a dozen in all,
/// galloping out from the estimate). Same order statistics as the general path on the same
/// bins (the values differ from it only by its rounding of ln v). Counts outside the exact
/// integer range (fractional, or ≥ 2^53 pairs) take the general path. None when an arm is
/// empty, a count is invalid, the lengths differ from the scheme, or the confidence is outside
/// (0, 1).
pub fn hodges_lehmann_log_buckets(
    buckets: &LogBuckets,
    baseline: &[f64],
    canary: &[f64],
    confidence: f64,
) -> Option<HodgesLehmann> {
    hodges_lehmann_log_buckets_from(buckets, baseline, canary, confidence, &mut None, None)
}

/// [`hodges_lehmann_log_buckets`] starting its searches from `previous` (the levels of the
/// last call, e.g. the previous look's), which it replaces with this call's. The result does
/// not depend on the start (see [`lattice_levels_from`]); only the number of counts does.
/// `arms`: each arm's sums as `RankSums::exact_over_bins_with_arms` returns them for these
/// bins, when the caller has them.
pub(crate) fn hodges_lehmann_log_buckets_from(
    buckets: &LogBuckets,
    baseline: &[f64],
    canary: &[f64],
    confidence: f64,
    previous: &mut Option<LatticeLevels>,
    arms: Option<ArmSums>,
) -> Option<HodgesLehmann> {
    if !valid_confidence(confidence)
        || baseline.len() != buckets.len()
        || canary.len() != buckets.len()
    {
        return None;
    }
    let log_growth = buckets.growth().ln();
    let levels = if log_growth >= MIN_LOG_GROWTH {
        lattice_levels_from(baseline, canary, confidence, *previous, arms)
    } else {
        None
    };
    *previous = levels;
    let Some(levels) = levels else {
        let pair =
            BinnedPair::from_log_buckets(buckets, baseline.to_vec(), canary.to_vec()).ok()?;
        return hodges_lehmann_ratio(&pair, confidence);
    };
    let ratio = |steps: f64| (steps * log_growth).exp();
    Some(HodgesLehmann {
        estimate: ratio(levels.estimate_half_steps as f64 / 2.0),
        lower: ratio(levels.lower as f64),
        upper: ratio(levels.upper as f64),
        confidence,
    })
}

/// Moses' interval as statistics.md states it: order statistics k = ⌊M/2 − z_{1−α/2}·σ⌋ and
/// M − k + 1 of the differences, σ the tie-corrected Mann-Whitney σ; the estimate is the
/// median of the differences. None when an arm is empty or the confidence is outside (0, 1).
pub fn moses_interval(pair: &BinnedPair, confidence: f64) -> Option<HodgesLehmann> {
    if !valid_confidence(confidence) {
        return None;
    }
    let differences = Differences::new(&pair.values, &pair.baseline, &pair.canary)?;
    let test = mann_whitney(pair)?;
    let z = standard_normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let pairs = differences.n_canary * differences.n_baseline;
    let k = (pairs / 2.0 - z * test.std_dev()).floor().max(1.0);
    Some(HodgesLehmann {
        estimate: differences.median(),
        lower: differences.order_statistic(k),
        upper: differences.order_statistic(pairs - k + 1.0),
        confidence,
    })
}

/// The k-th smallest (1-based, weights c_i·b_j) of the pairwise differences canary − baseline.
/// None when an arm is empty.
pub fn difference_order_statistic(pair: &BinnedPair, k: f64) -> Option<f64> {
    let differences = Differences::new(&pair.values, &pair.baseline, &pair.canary)?;
    Some(differences.order_statistic(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_differences(baseline: &[f64], canary: &[f64]) -> Vec<f64> {
        let mut differences: Vec<f64> = canary
            .iter()
            .flat_map(|c| baseline.iter().map(move |b| c - b))
            .collect();
        differences.sort_by(f64::total_cmp);
        differences
    }

    #[test]
    fn estimate_is_median_of_differences() {
        let baseline = [1.0, 2.0, 2.0, 5.0, 7.5];
        let canary = [2.5, 3.0, 9.0, 4.0];
        let differences = all_differences(&baseline, &canary);
        let m = differences.len();
        let median = (differences[m / 2 - 1] + differences[m / 2]) / 2.0;
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let result = hodges_lehmann(&pair, 0.95).expect("data");
        assert_eq!(result.estimate, median);
        assert!(result.lower <= result.estimate && result.estimate <= result.upper);
        for k in 1..=m {
            assert_eq!(
                difference_order_statistic(&pair, k as f64),
                Some(differences[k - 1])
            );
        }
    }

    #[test]
    fn ratio_of_scaled_canary() {
        let baseline: Vec<f64> = (1..=40).map(|i| f64::from(i) * 1.7).collect();
        let canary: Vec<f64> = baseline.iter().map(|v| v * 1.25).collect();
        let pair = BinnedPair::from_samples(&baseline, &canary);
        let ratio = hodges_lehmann_ratio(&pair, 0.9).expect("positive data");
        assert!((ratio.estimate - 1.25).abs() < 1e-12);
        assert!(ratio.lower < 1.25 && ratio.upper > 1.25);
    }

    /// One arm's counts over `bins` log buckets: many empty bins, many small counts (ties
    /// within and across arms) and some large ones.
    fn sparse_counts(bins: usize) -> impl proptest::strategy::Strategy<Value = Vec<f64>> {
        use proptest::prelude::*;
        prop::collection::vec(
            prop_oneof![
                4 => Just(0.0),
                3 => (1u32..4).prop_map(f64::from),
                1 => (1u32..3000).prop_map(f64::from),
            ],
            bins,
        )
    }

    fn lattice_case()
    -> impl proptest::strategy::Strategy<Value = (LogBuckets, Vec<f64>, Vec<f64>, f64)> {
        use proptest::prelude::*;
        (
            1usize..150,
            prop::sample::select(vec![1.001, 1.01, 1.02, 1.1, 1.5]),
            prop::sample::select(vec![0.05, 1.0, 7.3]),
            prop::sample::select(vec![0.5, 0.9, 0.95, 0.99]),
        )
            .prop_flat_map(|(bins, growth, min, confidence)| {
                (
                    Just(LogBuckets::new(min, growth, bins).expect("valid scheme")),
                    sparse_counts(bins),
                    sparse_counts(bins),
                    Just(confidence),
                )
            })
    }

    /// The lattice level of a ratio the general path returned, and how far it sits from it.
    fn level_of(ratio: f64, buckets: &LogBuckets, steps_per_level: f64) -> (isize, f64) {
        let steps = steps_per_level * ratio.ln() / buckets.growth().ln();
        (steps.round() as isize, (steps - steps.round()).abs())
    }

    /// `exact_arm_sums` as it was before the mask check (sums of |rounding|, min and max).
    fn reference_exact_arm_sums(counts: &[f64]) -> Option<(f64, f64)> {
        const SHIFT: f64 = 4_503_599_627_370_496.0;
        let mut total = [0.0f64; 4];
        let mut ties = [0.0f64; 4];
        let mut off_integer = [0.0f64; 4];
        let mut low = [0.0f64; 4];
        let mut high = [0.0f64; 4];
        let chunks = counts.chunks_exact(4);
        let rest = chunks.remainder();
        for chunk in chunks {
            for k in 0..4 {
                let t = chunk[k];
                total[k] += t;
                ties[k] += (t * t - 1.0) * t;
                off_integer[k] += ((t + SHIFT) - SHIFT - t).abs();
                low[k] = if t < low[k] { t } else { low[k] };
                high[k] = if t > high[k] { t } else { high[k] };
            }
        }
        let [mut total, mut ties, mut off_integer] =
            [total, ties, off_integer].map(|lanes| lanes.iter().sum::<f64>());
        let mut low = low.iter().fold(0.0f64, |a, &b| if b < a { b } else { a });
        let mut high = high.iter().fold(0.0f64, |a, &b| if b > a { b } else { a });
        for &t in rest {
            total += t;
            ties += (t * t - 1.0) * t;
            off_integer += ((t + SHIFT) - SHIFT - t).abs();
            low = if t < low { t } else { low };
            high = if t > high { t } else { high };
        }
        let exact = off_integer == 0.0
            && low >= 0.0
            && high < COUNT_LIMIT
            && total < EXACT_LIMIT
            && ties < EXACT_LIMIT;
        exact.then_some((total, ties))
    }

    /// The mask check accepts and sums exactly what the old lanes did, over 5,000 generated
    /// arms (whole, fractional, negative, −0, NaN, infinite, at and past 2^26, sums near 2^53).
    #[test]
    fn exact_arm_sums_equal_the_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(23);
        let specials = [
            0.5,
            -1.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            COUNT_LIMIT,
            COUNT_LIMIT - 1.0,
            1e-300,
        ];
        let mut accepted = 0;
        for case in 0..5_000 {
            let len = rng.random_range(0..200);
            let scale = [3.0, 1e3, 1e5, 6.7e7][case % 4];
            let mut counts: Vec<f64> = (0..len)
                .map(|_| (rng.random::<f64>() * scale).floor())
                .collect();
            if len > 0 && case % 3 == 0 {
                let index = rng.random_range(0..len);
                counts[index] = specials[rng.random_range(0..specials.len())];
            }
            let ours = exact_arm_sums(&counts);
            let reference = reference_exact_arm_sums(&counts);
            assert_eq!(
                ours.map(|(a, b)| (a.to_bits(), b.to_bits())),
                reference.map(|(a, b)| (a.to_bits(), b.to_bits())),
                "{counts:?}"
            );
            accepted += usize::from(ours.is_some());
        }
        assert!(accepted > 1_000 && accepted < 4_900, "{accepted}");
    }

    /// Smallest level above `d` holding an occupied pair (`d` itself if none): for each occupied
    /// canary bin, the nearest occupied baseline bin below i − d. (The reference for the count
    /// search that replaced it.)
    fn next_level_above(lattice: &Lattice, baseline: &[f64], d: isize) -> isize {
        let mut best = isize::MAX;
        let mut j = lattice.baseline_first;
        let mut previous_occupied = None;
        for (offset, &c) in lattice.canary.iter().enumerate() {
            if c == 0.0 {
                continue;
            }
            let i = lattice.canary_first + offset as isize;
            while j <= lattice.baseline_last && j < i - d {
                if baseline[(j - lattice.baseline_first) as usize] > 0.0 {
                    previous_occupied = Some(j);
                }
                j += 1;
            }
            if let Some(j) = previous_occupied {
                best = best.min(i - j);
            }
        }
        if best == isize::MAX { d } else { best }
    }

    fn total(counts: &[f64]) -> f64 {
        counts.iter().sum()
    }

    /// The upper median as it was found before: `low` when its count passes M/2, else the
    /// next occupied level by a walk over the bins.
    fn reference_upper_median(baseline: &[f64], canary: &[f64], low: isize, half: f64) -> isize {
        let (canary_first, canary_last) = occupied_range(canary).expect("canary");
        let (baseline_first, baseline_last) = occupied_range(baseline).expect("baseline");
        let canary = &canary[canary_first..=canary_last];
        let baseline = &baseline[baseline_first..=baseline_last];
        let n_baseline = total(baseline);
        // The running sums as they were computed before (in integers).
        let mut canary_before = vec![0.0];
        let mut running = 0u64;
        for &c in canary {
            running += c as u64;
            canary_before.push(running as f64);
        }
        let mut baseline_from = vec![0.0; baseline.len()];
        let mut running = 0u64;
        for (slot, &b) in baseline_from.iter_mut().zip(baseline).rev() {
            running += b as u64;
            *slot = running as f64;
        }
        let mut blocked_before = vec![0.0];
        exact_running_sums(canary, &mut blocked_before);
        assert_eq!(blocked_before, canary_before);
        let mut blocked_from = Vec::new();
        exact_running_sums(baseline, &mut blocked_from);
        for (slot, &b) in blocked_from.iter_mut().zip(baseline) {
            *slot = (n_baseline - *slot) + b;
        }
        assert_eq!(blocked_from, baseline_from);
        let lattice = Lattice {
            canary,
            canary_first: canary_first as isize,
            canary_before,
            baseline_first: baseline_first as isize,
            baseline_last: baseline_last as isize,
            baseline_from,
            n_baseline,
            memo: Vec::new(),
        };
        if lattice.count_uncached(low) > half {
            low
        } else {
            next_level_above(&lattice, baseline, low)
        }
    }

    fn assert_same_as_general(
        buckets: &LogBuckets,
        baseline: &[f64],
        canary: &[f64],
        confidence: f64,
    ) {
        let pair = BinnedPair::from_log_buckets(buckets, baseline.to_vec(), canary.to_vec())
            .expect("valid counts");
        let general = hodges_lehmann_ratio(&pair, confidence);
        let lattice = hodges_lehmann_log_buckets(buckets, baseline, canary, confidence);
        assert_eq!(
            general.is_some(),
            lattice.is_some(),
            "{baseline:?} {canary:?}"
        );
        let (Some(general), Some(lattice)) = (general, lattice) else {
            return;
        };
        let levels = lattice_levels(baseline, canary, confidence).expect("whole counts");
        // Any start gives the same levels, and the upper median is the next occupied level.
        for shift in [-1000, -37, -3, -1, 0, 1, 2, 64, 5000] {
            let start = LatticeLevels {
                estimate_half_steps: 0,
                low: levels.low + shift,
                lower: levels.lower - shift,
                upper: levels.upper + 2 * shift,
            };
            let warm = lattice_levels_from(baseline, canary, confidence, Some(start), None);
            assert_eq!(warm, Some(levels), "start shifted by {shift}");
        }
        // The arm sums of the Mann-Whitney pass give the same levels.
        if let Some((_, arms)) = RankSums::exact_over_bins_with_arms(baseline, canary) {
            let shared = lattice_levels_from(baseline, canary, confidence, None, arms);
            assert_eq!(shared, Some(levels));
        }
        assert_eq!(
            levels.estimate_half_steps - levels.low,
            reference_upper_median(
                baseline,
                canary,
                levels.low,
                (total(baseline) * total(canary)) / 2.0
            )
        );
        // Same order statistics: the general path's answers sit on the lattice levels found
        // (up to its rounding of ln v, far below one step).
        for (ratio, level, steps) in [
            (general.estimate, levels.estimate_half_steps, 2.0),
            (general.lower, levels.lower, 1.0),
            (general.upper, levels.upper, 1.0),
        ] {
            let (general_level, off) = level_of(ratio, buckets, steps);
            assert_eq!(general_level, level, "{general:?} {levels:?}");
            assert!(off < 1e-6, "{ratio} is {off} off the lattice");
        }
        for (a, b) in [
            (general.estimate, lattice.estimate),
            (general.lower, lattice.lower),
            (general.upper, lattice.upper),
        ] {
            assert!((a - b).abs() <= 1e-9 * a, "{general:?} {lattice:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn lattice_equals_general_path((buckets, baseline, canary, confidence) in lattice_case()) {
            assert_same_as_general(&buckets, &baseline, &canary, confidence);
        }
    }

    #[test]
    fn lattice_equals_general_path_on_shifted_and_single_bins() {
        let buckets = LogBuckets::new(0.1, 1.01, 2000).expect("valid scheme");
        // A canary 37 buckets slower than a baseline spread over ~600 buckets, far from where
        // the search starts guessing only if the medians lied; plus every bin occupied once.
        let bump = |centre: f64, scale: f64| -> Vec<f64> {
            (0..2000)
                .map(|k| {
                    let x = (k as f64 - centre) / 100.0;
                    1.0 + (scale * (-0.5 * x * x).exp()).floor()
                })
                .collect()
        };
        assert_same_as_general(&buckets, &bump(900.0, 400.0), &bump(937.0, 40.0), 0.95);
        // Bimodal canary: the median difference is far from the difference of medians.
        let mut canary = vec![0.0; 2000];
        canary[100] = 50.0;
        canary[1900] = 49.0;
        assert_same_as_general(&buckets, &bump(1000.0, 300.0), &canary, 0.95);
        // One occupied bin per arm: a degenerate interval on one level.
        let mut single = vec![0.0; 2000];
        single[500] = 3.0;
        let mut other = vec![0.0; 2000];
        other[480] = 1.0;
        assert_same_as_general(&buckets, &other, &single, 0.95);
        let one = hodges_lehmann_log_buckets(&buckets, &other, &single, 0.95).expect("data");
        assert!((one.estimate - 1.01f64.powi(20)).abs() < 1e-12);
        assert_eq!(one.lower, one.estimate);
    }

    #[test]
    fn fractional_or_invalid_counts_take_the_general_path() {
        let buckets = LogBuckets::new(1.0, 1.02, 50).expect("valid scheme");
        let baseline: Vec<f64> = (0..50).map(|k| 0.5 + f64::from(k % 7)).collect();
        let canary: Vec<f64> = (0..50).map(|k| f64::from((k + 3) % 5)).collect();
        // Not whole counts: no lattice fast path, and the result is the general one exactly.
        assert!(lattice_levels(&baseline, &canary, 0.95).is_none());
        let pair = BinnedPair::from_log_buckets(&buckets, baseline.clone(), canary.clone())
            .expect("valid counts");
        assert_eq!(
            hodges_lehmann_log_buckets(&buckets, &baseline, &canary, 0.95),
            hodges_lehmann_ratio(&pair, 0.95)
        );
        let mut negative = canary.clone();
        negative[10] = -1.0;
        assert!(hodges_lehmann_log_buckets(&buckets, &baseline, &negative, 0.95).is_none());
        assert!(hodges_lehmann_log_buckets(&buckets, &baseline, &canary[1..], 0.95).is_none());
        assert!(hodges_lehmann_log_buckets(&buckets, &baseline, &canary, 1.0).is_none());
        assert!(hodges_lehmann_log_buckets(&buckets, &baseline, &[0.0; 50], 0.95).is_none());
    }

    #[test]
    fn empty_or_bad_confidence_is_none() {
        let pair = BinnedPair::from_samples(&[1.0], &[]);
        assert!(hodges_lehmann(&pair, 0.95).is_none());
        let pair = BinnedPair::from_samples(&[1.0], &[2.0]);
        assert!(hodges_lehmann(&pair, 1.0).is_none());
        assert!(moses_interval(&pair, 0.95).is_some());
    }
}
