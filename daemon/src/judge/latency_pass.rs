//! One pass over a look's latency bins for the latency shift check: it adds the window's
//! counts to the cumulative histograms (as [`ArmObservation::accumulate`] does) and, on the
//! way, gathers every sum the check needs from the bins: the window's arm sizes and tie sums
//! and its baseline's running counts (for the window's rank merge, [`window_sums`]), and the
//! cumulative Mann-Whitney sums and arm sums (for the descriptive evidence).
//!
//! Every sum here is taken only when each count is a whole number and every partial sum stays
//! an exact integer (or half of one): then the order of summation cannot change a bit, and the
//! results equal the sequential ones of `sequential::exact_sums` and
//! `RankSums::exact_over_bins_with_arms`. Otherwise the sums are None and the caller takes
//! those paths (which then accept or refuse as before). Each sum runs in its own short loop
//! with its lanes in registers, so that it vectorises.
//!
//! [`ArmObservation::accumulate`]: super::observation::ArmObservation::accumulate

use super::hodges_lehmann::dot;
use super::mann_whitney::{ArmSums, RankSums};
use super::sequential::WindowSums;

/// 2^52: (x + 2^52) − 2^52 rounds x in [0, 2^52) to an integer; halves are exact below it.
const SHIFT: f64 = 4_503_599_627_370_496.0;
/// 2^53: every integer below it is an f64.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;
/// 2^26: the square of a smaller whole count is exact.
#[cfg(test)]
const COUNT_LIMIT: f64 = 67_108_864.0;

/// One arm's size and Σ(t² − 1)·t over its bins, for each arm of a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowArms {
    pub(crate) n_baseline: f64,
    pub(crate) baseline_ties: f64,
    pub(crate) n_canary: f64,
    pub(crate) canary_ties: f64,
}

/// What [`accumulate_latency`] gathers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PassSums {
    /// The window's arm sums when every window count is whole in [0, 2^26) and the sums stay
    /// below 2^53 (what `exact_arm_sums` accepts for each arm).
    pub(crate) window: Option<WindowArms>,
    /// `RankSums::exact_over_bins_with_arms` of the cumulative histograms after the window
    /// was added, when it is Some and each arm's Σ t³ is below 2^53 (request counts are far
    /// below; past it the caller takes that function's path).
    pub(crate) cumulative: Option<(RankSums, Option<ArmSums>)>,
}

/// Adds the window's latency counts to the cumulative ones (`cumulative[k] += window[k]`, the
/// same operations as [`ArmObservation::accumulate`]) and gathers [`PassSums`]. `window_below`
/// and `cumulative_below` receive the running counts of the window's baseline and of the
/// cumulative baseline after the addition, entry p = Σ_{k<p} baseline[k] (one more entry than
/// bins), valid when `window` (`cumulative`) is Some. All four histograms must have one
/// length; otherwise nothing is added and the sums are None.
///
/// [`ArmObservation::accumulate`]: super::observation::ArmObservation::accumulate
pub(crate) fn accumulate_latency(
    cumulative_baseline: &mut [f64],
    cumulative_canary: &mut [f64],
    window_baseline: &[f64],
    window_canary: &[f64],
    window_below: &mut Vec<f64>,
    cumulative_below: &mut Vec<f64>,
) -> PassSums {
    let none = PassSums {
        window: None,
        cumulative: None,
    };
    let len = window_baseline.len();
    if window_canary.len() != len
        || cumulative_baseline.len() != len
        || cumulative_canary.len() != len
    {
        return none;
    }
    let cumulative_ok = add_and_check(
        cumulative_baseline,
        cumulative_canary,
        window_baseline,
        window_canary,
    );
    let (cumulative_baseline, cumulative_canary) = (&*cumulative_baseline, &*cumulative_canary);
    running_counts(window_baseline, window_below);
    running_counts(cumulative_baseline, cumulative_below);
    let n_baseline = cumulative_below[len];
    let w_baseline = window_below[len];
    let (window_ok, w_canary, w_baseline_ties, w_canary_ties) =
        window_arm_sums(window_baseline, window_canary);
    let CumulativeSums {
        n_canary,
        u_below,
        pairs_tied,
        cross_ties,
        baseline_cubes,
        canary_cubes,
    } = cumulative_sums(cumulative_baseline, cumulative_canary, cumulative_below);
    // Every term is ≥ −0 and whole (or half of one): rounding is monotone, so sums that end
    // below the limits were exact all along, and sums whose exact value passes a limit end at
    // or past it in any order. The same checks as the sequential paths therefore accept the
    // same sums, with the same values.
    let window = (window_ok
        && w_baseline < EXACT_LIMIT
        && w_baseline_ties < EXACT_LIMIT
        && w_canary < EXACT_LIMIT
        && w_canary_ties < EXACT_LIMIT)
        .then_some(WindowArms {
            n_baseline: w_baseline,
            baseline_ties: w_baseline_ties,
            n_canary: w_canary,
            canary_ties: w_canary_ties,
        });
    // With Σ b³ and Σ c³ below 2^53 (which also bounds every count below 2^18 and each arm's
    // size by its cube sum) every sum below is exact: Σ(b³ − b) = Σ b³ − n_B, likewise for the
    // canary, Σ(t³ − t) = Σ(b³ − b) + Σ(c³ − c) + 3·Σ bc(b + c) for t = b + c, and
    // U = Σ c·B_< + ½·Σ bc, all the sequential sums' exact values. When a cube sum reaches
    // 2^53 the caller takes the sequential path instead (which may still accept: Σ(b³ − b)
    // can stay below the limit by n_B).
    let baseline_ties = baseline_cubes - n_baseline;
    let canary_ties = canary_cubes - n_canary;
    let ties = (baseline_ties + canary_ties) + 3.0 * cross_ties;
    let u = u_below + 0.5 * pairs_tied;
    let cumulative_exact = cumulative_ok
        && baseline_cubes < EXACT_LIMIT
        && canary_cubes < EXACT_LIMIT
        && n_baseline * n_canary < SHIFT
        && ties < EXACT_LIMIT;
    let cumulative = cumulative_exact.then(|| {
        let sums = RankSums::from_exact_sums(n_baseline, n_canary, u, ties);
        // Every count is below 2^18 (see `add_and_check`), as the lattice needs.
        let arms = Some(ArmSums {
            n_baseline,
            baseline_ties,
            n_canary,
            canary_ties,
        });
        (sums, arms)
    });
    PassSums { window, cumulative }
}

/// Whether every window count is whole and ≥ 0, and the window's Σ c, Σ(b² − 1)·b and
/// Σ(c² − 1)·c, in four lanes (the sums are exact when the counts are whole below 2^26 and
/// the sums below 2^53; otherwise unused). A count ≥ 2^26 (or +∞) needs no check of its own:
/// its term (t² − 1)·t is ≥ 2^78, so its arm's tie sum ends ≥ 2^53 and is refused.
#[inline(never)]
fn window_arm_sums(baseline: &[f64], canary: &[f64]) -> (bool, f64, f64, f64) {
    // A fold of its own per arm (short, so that it vectorises), then the sums.
    let whole = |ok: bool, &c: &f64| ok & (c >= 0.0) & ((c + SHIFT) - SHIFT == c);
    let ok = baseline.iter().fold(true, whole) && canary.iter().fold(true, whole);
    let (mut n_canary, mut baseline_ties, mut canary_ties) =
        ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let len = baseline.len().min(canary.len());
    let blocks = len / 4 * 4;
    for (b, c) in baseline[..blocks]
        .chunks_exact(4)
        .zip(canary[..blocks].chunks_exact(4))
    {
        for k in 0..4 {
            n_canary[k] += c[k];
            baseline_ties[k] += (b[k] * b[k] - 1.0) * b[k];
            canary_ties[k] += (c[k] * c[k] - 1.0) * c[k];
        }
    }
    let lanes = |sums: [f64; 4]| (sums[0] + sums[1]) + (sums[2] + sums[3]);
    let (mut n_canary, mut baseline_ties, mut canary_ties) =
        (lanes(n_canary), lanes(baseline_ties), lanes(canary_ties));
    for k in blocks..len {
        let (b, c) = (baseline[k], canary[k]);
        n_canary += c;
        baseline_ties += (b * b - 1.0) * b;
        canary_ties += (c * c - 1.0) * c;
    }
    (ok, n_canary, baseline_ties, canary_ties)
}

/// The cumulative histograms' sums, each over all bins (see [`cumulative_sums`]).
struct CumulativeSums {
    /// Σ c.
    n_canary: f64,
    /// Σ c·B_<, B_< the baseline below the bin.
    u_below: f64,
    /// Σ b·c.
    pairs_tied: f64,
    /// Σ b·c·(b + c).
    cross_ties: f64,
    /// Σ b³ and Σ c³.
    baseline_cubes: f64,
    canary_cubes: f64,
}

/// [`CumulativeSums`] in four lanes, with `below` the baseline's running counts (exact when
/// the counts are whole and the cube sums below 2^53; otherwise unused).
#[inline(never)]
fn cumulative_sums(baseline: &[f64], canary: &[f64], below: &[f64]) -> CumulativeSums {
    let (mut n_canary, mut u_below, mut pairs_tied) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let (mut cross_ties, mut baseline_cubes, mut canary_cubes) =
        ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let len = baseline.len().min(canary.len()).min(below.len());
    let blocks = len / 4 * 4;
    for ((b, c), below) in baseline[..blocks]
        .chunks_exact(4)
        .zip(canary[..blocks].chunks_exact(4))
        .zip(below[..blocks].chunks_exact(4))
    {
        for k in 0..4 {
            n_canary[k] += c[k];
            u_below[k] += c[k] * below[k];
            let pairs = b[k] * c[k];
            pairs_tied[k] += pairs;
            cross_ties[k] += pairs * (b[k] + c[k]);
            baseline_cubes[k] += b[k] * b[k] * b[k];
            canary_cubes[k] += c[k] * c[k] * c[k];
        }
    }
    let lanes = |sums: [f64; 4]| (sums[0] + sums[1]) + (sums[2] + sums[3]);
    let mut sums = CumulativeSums {
        n_canary: lanes(n_canary),
        u_below: lanes(u_below),
        pairs_tied: lanes(pairs_tied),
        cross_ties: lanes(cross_ties),
        baseline_cubes: lanes(baseline_cubes),
        canary_cubes: lanes(canary_cubes),
    };
    for k in blocks..len {
        let (b, c) = (baseline[k], canary[k]);
        let pairs = b * c;
        sums.n_canary += c;
        sums.u_below += c * below[k];
        sums.pairs_tied += pairs;
        sums.cross_ties += pairs * (b + c);
        sums.baseline_cubes += b * b * b;
        sums.canary_cubes += c * c * c;
    }
    sums
}

/// `cumulative[k] += window[k]` for both arms, and whether every new cumulative count is
/// whole and ≥ 0, by branch-free running checks in four lanes (see [`check`]). Counts ≥ 2^18
/// (+∞ included) need no check of their own: their cube alone passes 2^53, which refuses the
/// sums; so every accepted count is below 2^26, as the lattice needs.
#[inline(never)]
fn add_and_check(
    cumulative_baseline: &mut [f64],
    cumulative_canary: &mut [f64],
    window_baseline: &[f64],
    window_canary: &[f64],
) -> bool {
    let (mut whole, mut low) = ([true; 4], [0.0f64; 4]);
    let len = window_baseline.len();
    let blocks = len / 4 * 4;
    let lanes = cumulative_baseline[..blocks]
        .chunks_exact_mut(4)
        .zip(cumulative_canary[..blocks].chunks_exact_mut(4))
        .zip(window_baseline[..blocks].chunks_exact(4))
        .zip(window_canary[..blocks].chunks_exact(4));
    for (((b, c), wb), wc) in lanes {
        for k in 0..4 {
            b[k] += wb[k];
            c[k] += wc[k];
            (whole[k], low[k]) = check(check((whole[k], low[k]), b[k]), c[k]);
        }
    }
    let mut checked = (
        whole.iter().all(|&w| w),
        low.iter().fold(0.0f64, |a, &b| if b < a { b } else { a }),
    );
    for k in blocks..len {
        cumulative_baseline[k] += window_baseline[k];
        cumulative_canary[k] += window_canary[k];
        checked = check(check(checked, cumulative_baseline[k]), cumulative_canary[k]);
    }
    let (whole, low) = checked;
    whole && low >= 0.0
}

/// One count into a running check (all whole so far, smallest so far): `(x + 2^52) − 2^52`
/// gives x back exactly when x is whole (for |x| < 2^52; NaN never; −∞, which the smallest
/// rejects, and counts ≥ 2^52 may pass). The smallest starts at 0 and skips NaN.
#[inline(always)]
fn check((whole, low): (bool, f64), x: f64) -> (bool, f64) {
    (
        whole & ((x + SHIFT) - SHIFT == x),
        if x < low { x } else { low },
    )
}

/// `out[p]` = Σ_{k<p} counts[k], one entry more than `counts` (replacing `out`'s contents):
/// blocks of four summed locally, then offset by the total so far. Exact (so equal to the
/// sequential sums) when the counts are whole with a total below 2^53; otherwise unused.
#[inline(never)]
fn running_counts(counts: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.reserve(counts.len() + 1);
    let blocks = counts.chunks_exact(4);
    let rest = blocks.remainder();
    let mut running = 0.0f64;
    for block in blocks {
        let local = [
            0.0,
            block[0],
            block[0] + block[1],
            (block[0] + block[1]) + block[2],
        ];
        out.extend(local.map(|partial| running + partial));
        running += local[3] + block[3];
    }
    for &count in rest {
        out.push(running);
        running += count;
    }
    out.push(running);
}

/// Where each canary bin's value divided by a canary scale, x_j = v_j/scale, falls among the
/// bin values: the baseline position p_j = #{k : v_k < x_j} and whether v_{p_j} = x_j, as
/// `exact_sums`' forward pointer finds them, kept as runs along which the position steps by
/// 0 or 1 per bin. On log-spaced bins x_j sits a constant number of bins down, so after a few
/// bins that fall below every value the whole histogram is one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaselinePositions {
    len: usize,
    runs: Vec<PositionRun>,
}

/// Canary bins `canary_start..canary_start + len`, positions `position_start + i·step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PositionRun {
    canary_start: usize,
    len: usize,
    position_start: usize,
    step: usize,
    tied: bool,
}

impl BaselinePositions {
    /// From the bin values, their quotients `scaled` = values / scale, and whether the values
    /// are finite and strictly increasing. None when they are not, a quotient is not finite
    /// (where `exact_sums` refuses), the lengths differ, or the positions make too many runs
    /// to be worth it.
    pub(crate) fn new(values: &[f64], scaled: &[f64], ordered: bool) -> Option<BaselinePositions> {
        let len = values.len();
        if !ordered || scaled.len() != len {
            return None;
        }
        let mut runs: Vec<PositionRun> = Vec::new();
        let mut position = 0usize;
        for (j, &x) in scaled.iter().enumerate() {
            if !x.is_finite() {
                return None;
            }
            // The pointer walk of `exact_sums`.
            while position < len && values[position] < x {
                position += 1;
            }
            let tied = position < len && values[position] == x;
            // Positions never fall (x_j grows with j), so the step from the run's last one is ≥ 0.
            let extended = match runs.last_mut() {
                Some(run) if run.tied == tied => {
                    let step = position - (run.position_start + (run.len - 1) * run.step);
                    let fits = if run.len == 1 {
                        step <= 1
                    } else {
                        step == run.step
                    };
                    if fits {
                        run.step = step;
                        run.len += 1;
                    }
                    fits
                }
                _ => false,
            };
            if !extended {
                runs.push(PositionRun {
                    canary_start: j,
                    len: 1,
                    position_start: position,
                    step: 0,
                    tied,
                });
            }
        }
        (runs.len() <= len / 4 + 16).then_some(BaselinePositions { len, runs })
    }
}

/// The window's rank merge sums (`exact_sums` of `sequential`) from the pass's arm sums and
/// the baseline's running counts `below`, and the canary's positions among the baseline for
/// the scale: U = Σ_j c_j·(B_<(p_j) + ½·b_{p_j} when tied), cross ties Σ 3·b·c·(b + c) over
/// tied bins. Every term is whole or half of one and below the limits `exact_sums` checks,
/// so the sums are its own, bit for bit, and accepted exactly when it accepts them. None
/// when it would refuse (the caller then runs it, or the sequential merge).
pub(crate) fn window_sums(
    arms: WindowArms,
    positions: &BaselinePositions,
    below: &[f64],
    baseline: &[f64],
    canary: &[f64],
) -> Option<WindowSums> {
    const EXACT_LIMIT: f64 = SHIFT; // 2^52: halves are exact too
    let len = positions.len;
    if baseline.len() != len || canary.len() != len || below.len() != len + 1 {
        return None;
    }
    if arms.n_baseline * arms.n_canary >= EXACT_LIMIT {
        return None;
    }
    // U = whole + ½·tied_pairs: c_j·B_<(p_j) are whole and at most n_B·n_C < 2^52 in total,
    // c_j·b_{p_j} whole with half of their total at most U.
    let (mut whole, mut tied_pairs, mut cross_ties) = (0.0f64, 0.0f64, 0.0f64);
    for run in &positions.runs {
        let counts = &canary[run.canary_start..run.canary_start + run.len];
        let start = run.position_start;
        if run.step == 1 {
            whole += dot(counts, &below[start..start + run.len]);
            if run.tied {
                let tied = &baseline[start..start + run.len];
                tied_pairs += dot(counts, tied);
                for (&b, &c) in tied.iter().zip(counts) {
                    cross_ties += 3.0 * b * c * (b + c);
                }
            }
        } else {
            let n: f64 = counts.iter().sum();
            whole += below[start] * n;
            if run.tied {
                let b = baseline[start];
                tied_pairs += b * n;
                for &c in counts {
                    cross_ties += 3.0 * b * c * (b + c);
                }
            }
        }
    }
    let u = whole + 0.5 * tied_pairs;
    let tie_sum = arms.baseline_ties + arms.canary_ties + cross_ties;
    (u < EXACT_LIMIT && tie_sum < EXACT_LIMIT).then_some(WindowSums {
        u,
        tie_sum,
        n_baseline: arms.n_baseline,
        n_canary: arms.n_canary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::hodges_lehmann::exact_arm_sums;
    use crate::judge::sequential::exact_sums;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Counts as they come: mostly whole (sparse or dense, small or near the exactness limits),
    /// some −0, and one special value now and then (fractional, negative, NaN, ±∞, 2^26).
    fn counts(rng: &mut ChaCha8Rng, len: usize, case: usize) -> Vec<f64> {
        let scale = [1.0, 4.0, 100.0, 1e5, 6e7, 3e12][case % 6];
        let occupancy = [1.0, 0.5, 0.05][case % 3];
        let mut counts: Vec<f64> = (0..len)
            .map(|_| {
                if rng.random::<f64>() >= occupancy {
                    if rng.random::<bool>() { 0.0 } else { -0.0 }
                } else {
                    (rng.random::<f64>() * scale).floor()
                }
            })
            .collect();
        if len > 0 && rng.random::<f64>() < 0.15 {
            let specials = [
                0.5,
                -1.0,
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                COUNT_LIMIT,
                COUNT_LIMIT - 1.0,
                SHIFT,
                1e-300,
            ];
            let index = rng.random_range(0..len);
            counts[index] = specials[rng.random_range(0..specials.len())];
        }
        counts
    }

    fn bits(values: &[f64]) -> Vec<u64> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// The pass adds the window as `ArmObservation::accumulate` does and gathers what
    /// `exact_arm_sums` (window) and `RankSums::exact_over_bins_with_arms` (cumulative) give,
    /// bit for bit, over 6,000 generated looks, accepting exactly when they do (but for
    /// cumulative arms whose cube sum reaches 2^53, handed to the sequential path); the
    /// running counts are the sequential ones.
    #[test]
    fn pass_equals_the_separate_sums_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(59);
        let (mut window_cases, mut cumulative_cases, mut arm_cases) = (0, 0, 0);
        let mut handed_over = 0;
        let cases = 6_000;
        for case in 0..cases {
            let len = rng.random_range(0..240);
            let window_baseline = counts(&mut rng, len, case);
            let window_canary = counts(&mut rng, len, case / 6);
            // Earlier looks' totals: mostly request-like, now and then past the limits.
            let old = |case: usize| if case % 4 == 0 { case } else { case % 3 };
            let old_baseline = counts(&mut rng, len, old(case + 1));
            let old_canary = counts(&mut rng, len, old(case + 2));
            let (mut baseline, mut canary) = (old_baseline.clone(), old_canary.clone());
            let (mut window_below, mut cumulative_below) = (Vec::new(), Vec::new());
            let pass = accumulate_latency(
                &mut baseline,
                &mut canary,
                &window_baseline,
                &window_canary,
                &mut window_below,
                &mut cumulative_below,
            );
            // The reference: the accumulation, then the separate sums.
            let (mut expected_baseline, mut expected_canary) = (old_baseline, old_canary);
            for (total, count) in expected_baseline.iter_mut().zip(&window_baseline) {
                *total += count;
            }
            for (total, count) in expected_canary.iter_mut().zip(&window_canary) {
                *total += count;
            }
            assert_eq!(bits(&baseline), bits(&expected_baseline), "case {case}");
            assert_eq!(bits(&canary), bits(&expected_canary), "case {case}");
            let window = exact_arm_sums(&window_baseline).zip(exact_arm_sums(&window_canary));
            assert_eq!(
                pass.window.map(|w| {
                    [w.n_baseline, w.baseline_ties, w.n_canary, w.canary_ties].map(f64::to_bits)
                }),
                window.map(|((n_b, t_b), (n_c, t_c))| [n_b, t_b, n_c, t_c].map(f64::to_bits)),
                "case {case}"
            );
            let cumulative = RankSums::exact_over_bins_with_arms(&baseline, &canary);
            // Refused by the pass only where an arm's cube sum reaches 2^53 (the look then
            // takes the sequential path).
            let cubes = |counts: &[f64]| counts.iter().map(|c| c * c * c).sum::<f64>();
            if pass.cumulative.is_none() && cumulative.is_some() {
                assert!(
                    cubes(&baseline) >= EXACT_LIMIT || cubes(&canary) >= EXACT_LIMIT,
                    "case {case}"
                );
                handed_over += 1;
            } else {
                assert_eq!(
                    pass.cumulative.map(|(sums, _)| sums.to_bits()),
                    cumulative.map(|(sums, _)| sums.to_bits()),
                    "case {case}"
                );
            }
            // The arm sums matter below 2^53 (the lattice refuses them otherwise).
            if let (Some((_, ours)), Some((_, reference))) = (pass.cumulative, cumulative) {
                let usable = |arms: Option<ArmSums>| {
                    arms.filter(|a| a.baseline_ties < EXACT_LIMIT && a.canary_ties < EXACT_LIMIT)
                        .map(|a| {
                            [a.n_baseline, a.baseline_ties, a.n_canary, a.canary_ties]
                                .map(f64::to_bits)
                        })
                };
                assert_eq!(usable(ours), usable(reference), "case {case}");
                arm_cases += usize::from(usable(ours).is_some());
            }
            let sequential_below = |counts: &[f64]| {
                let mut running = 0.0;
                let mut below = vec![0.0];
                for count in counts {
                    running += count;
                    below.push(running);
                }
                below
            };
            if let Some(window) = pass.window {
                assert_eq!(
                    bits(&window_below),
                    bits(&sequential_below(&window_baseline))
                );
                assert_eq!(window_below[len].to_bits(), window.n_baseline.to_bits());
                window_cases += 1;
            }
            if pass.cumulative.is_some() {
                assert_eq!(bits(&cumulative_below), bits(&sequential_below(&baseline)));
                cumulative_cases += 1;
            }
        }
        assert!(handed_over < cases / 50, "{handed_over}");
        // Both outcomes of every check were exercised.
        for taken in [window_cases, cumulative_cases, arm_cases] {
            assert!(taken > cases / 10 && taken < cases * 19 / 20, "{taken}");
        }
        // Histograms of different lengths are left alone.
        let (mut baseline, mut canary) = (vec![1.0; 3], vec![1.0; 4]);
        let pass = accumulate_latency(
            &mut baseline,
            &mut canary,
            &[1.0; 4],
            &[1.0; 4],
            &mut Vec::new(),
            &mut Vec::new(),
        );
        assert_eq!((pass.window, pass.cumulative), (None, None));
        assert_eq!((baseline, canary), (vec![1.0; 3], vec![1.0; 4]));
    }

    /// The window's rank merge from the positions equals `exact_sums`' pointer walk bit for
    /// bit, and refuses exactly when it does, over 8,000 generated windows: log-spaced values
    /// (margins 0, where every canary bin is tied, to 900%, and a canary scale below 1),
    /// unevenly spaced values, and the counts of `counts`.
    #[test]
    fn window_sums_equal_the_pointer_walk_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(61);
        let (mut accepted, mut refused, mut without_positions) = (0, 0, 0);
        for case in 0..8_000 {
            let len = rng.random_range(0..200);
            let values: Vec<f64> = if case % 5 == 4 {
                // Uneven spacing (ties and runs of every shape).
                let mut value = 0.5;
                (0..len)
                    .map(|_| {
                        value += [0.25, 0.5, 1.0, 3.0][rng.random_range(0..4)];
                        value
                    })
                    .collect()
            } else {
                let growth = [1.01, 1.02, 1.1, 1.5][case % 4];
                let mut value = 0.1 * f64::sqrt(growth);
                (0..len)
                    .map(|_| {
                        let current = value;
                        value *= growth;
                        current
                    })
                    .collect()
            };
            let scale = [1.0, 1.05, 1.1, 1.3, 2.0, 10.0, 0.8, 1.0 + 1e-12][case % 8];
            let scaled: Vec<f64> = values.iter().map(|v| v / scale).collect();
            let baseline = counts(&mut rng, len, case);
            let canary = counts(&mut rng, len, case / 3);
            let Some(positions) = BaselinePositions::new(&values, &scaled, true) else {
                without_positions += 1;
                continue;
            };
            let direct = exact_sums(&values, &scaled, true, &baseline, &canary);
            let arms = exact_arm_sums(&baseline).zip(exact_arm_sums(&canary)).map(
                |((n_baseline, baseline_ties), (n_canary, canary_ties))| WindowArms {
                    n_baseline,
                    baseline_ties,
                    n_canary,
                    canary_ties,
                },
            );
            let mut below = vec![0.0];
            let mut running = 0.0;
            for b in &baseline {
                running += b;
                below.push(running);
            }
            let ours =
                arms.and_then(|arms| window_sums(arms, &positions, &below, &baseline, &canary));
            let sums_bits = |sums: Option<WindowSums>| {
                sums.map(|s| [s.u, s.tie_sum, s.n_baseline, s.n_canary].map(f64::to_bits))
            };
            assert_eq!(
                sums_bits(ours),
                sums_bits(direct),
                "case {case} scale {scale}"
            );
            if ours.is_some() {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(accepted > 1_200 && refused > 1_200, "{accepted} {refused}");
        assert!(without_positions < 1_000, "{without_positions}");
    }

    /// On the bench's scheme (2,000 bins of 1%) and the default 5% margin the positions are a
    /// few bins below every value, then one run a constant five bins down.
    #[test]
    fn log_spaced_positions_are_one_run() {
        let (growth, len) = (1.01f64, 2_000);
        let mut value = 0.1 * growth.sqrt();
        let values: Vec<f64> = (0..len)
            .map(|_| {
                let current = value;
                value *= growth;
                current
            })
            .collect();
        let scaled: Vec<f64> = values.iter().map(|v| v / 1.05).collect();
        let positions = BaselinePositions::new(&values, &scaled, true).expect("ordered");
        assert_eq!(positions.runs.len(), 2, "{:?}", &positions.runs);
        assert_eq!(positions.runs[1].step, 1);
        assert_eq!(
            positions.runs[1].canary_start - positions.runs[1].position_start,
            4
        );
        // Unordered values or a non-finite quotient: no positions.
        assert!(BaselinePositions::new(&values, &scaled, false).is_none());
        let mut infinite = scaled.clone();
        infinite[7] = f64::INFINITY;
        assert!(BaselinePositions::new(&values, &infinite, true).is_none());
    }
}
