//! Building blocks shared by the anytime-valid checks: the one-sided normal-mixture boundary
//! (Howard, Ramdas, McAuliffe & Sekhon, Ann. Statist. 2021, eq. for the "one-sided normal
//! mixture") and discrete-mixture e-processes for a Bernoulli proportion, from which
//! time-uniform bounds on quantiles and on rates follow (Howard & Ramdas, Bernoulli 2022).
//!
//! Every function here is pure and allocation-free.

use statrs::function::erf::erfc;

/// ln Φ(x), accurate in the far left tail where Φ underflows.
pub fn ln_normal_cdf(x: f64) -> f64 {
    if x > -30.0 {
        (0.5 * erfc(-x / std::f64::consts::SQRT_2)).ln()
    } else {
        // Mills-ratio asymptotic: Φ(x) ≈ φ(x)/|x| · (1 − 1/x²).
        -0.5 * x * x - (-x).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
            + (1.0 - 1.0 / (x * x)).ln()
    }
}

/// ln(1/(2α)) + the ρ tuning of Howard et al. (2021, Prop. 3 / eq. 3.10): the one-sided
/// normal-mixture boundary is tightest at intrinsic time v_opt when
/// ρ = v_opt / (2·ln(1/(2α)) + ln(1 + 2·ln(1/(2α)))).
pub fn mixture_rho(v_opt: f64, alpha: f64) -> f64 {
    let l = (1.0 / (2.0 * alpha)).ln().max(1e-9);
    v_opt / (2.0 * l + (1.0 + 2.0 * l).ln())
}

/// log m(s, v) of the one-sided normal mixture (half-normal prior on the drift, precision ρ):
/// ½·ln(4ρ/(v+ρ)) + s²/(2(v+ρ)) + ln Φ(s/√(v+ρ)).
/// It is an (asymptotic) e-process for "drift ≤ 0" of a process s with variance process v;
/// the test rejects when it reaches ln(1/α).
pub fn normal_mixture_log_e(s: f64, v: f64, rho: f64) -> f64 {
    let total = v + rho;
    0.5 * (4.0 * rho / total).ln() + s * s / (2.0 * total) + ln_normal_cdf(s / total.sqrt())
}

/// The smallest s at which `normal_mixture_log_e(s, v, rho) ≥ threshold` (found by bisection;
/// log m is increasing in s). Used to say how far a statistic is from its boundary.
///
/// The result is the 50-step bisection's (see the test reference), but most of its steps are
/// settled without evaluating log m: a few Newton steps find the crossing, and two evaluations
/// on either side of it with a margin of 10⁻¹² of the terms' size (thousands of times their
/// rounding error) prove every point left of the bracket below the threshold and every point
/// right of it above, as the bisection would find them. Only the steps inside the bracket
/// (a handful) evaluate log m. Without such a bracket, every step evaluates.
pub fn normal_mixture_boundary(v: f64, rho: f64, threshold: f64) -> f64 {
    let scale = (v + rho).sqrt();
    // normal_mixture_log_e(s, v, rho) with its s-free parts computed once (same operations in
    // the same order, so the same bits).
    let total = v + rho;
    let head = 0.5 * (4.0 * rho / total).ln();
    let log_e = |s: f64| head + s * s / (2.0 * total) + ln_normal_cdf(s / scale);
    let start = (-10.0 * scale, 10.0 * scale + 10.0);
    match crossing_bracket(&log_e, head, total, scale, threshold) {
        // Outside the bracket the outcome is known: −∞ and +∞ compare as log m does there.
        Some((below, above)) => bisect_crossing(start, threshold, |s| {
            if s <= below {
                f64::NEG_INFINITY
            } else if s >= above {
                f64::INFINITY
            } else {
                log_e(s)
            }
        }),
        None => bisect_crossing(start, threshold, log_e),
    }
}

/// The bisection of [`normal_mixture_boundary`]: doubles `high` until `log_e` reaches the
/// threshold there, then halves the bracket 50 times (far below any precision the report
/// needs) and returns its upper end.
fn bisect_crossing(
    (mut low, mut high): (f64, f64),
    threshold: f64,
    log_e: impl Fn(f64) -> f64,
) -> f64 {
    while log_e(high) < threshold {
        high *= 2.0;
    }
    for _ in 0..50 {
        let mid = 0.5 * (low + high);
        if log_e(mid) >= threshold {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

/// Points `below` < `above` around the crossing of log m (computed as `log_e`) with
/// `threshold` such that log m(below) < threshold − margin and log m(above) ≥ threshold +
/// margin, margin = 10⁻¹²·(1 + |head| + |threshold| + 2|ln Φ|). log m is increasing and its
/// computed value is within a few ulps of the terms' size of the true one, far inside the
/// margin, so every s ≤ below computes below the threshold and every s ≥ above at or above
/// it. None when the inputs are not finite, the crossing sits where ln Φ takes its asymptotic
/// branch (less accurate), or Newton's method does not settle (the caller then bisects with
/// every evaluation).
fn crossing_bracket(
    log_e: &impl Fn(f64) -> f64,
    head: f64,
    total: f64,
    scale: f64,
    threshold: f64,
) -> Option<(f64, f64)> {
    const SQRT_2PI: f64 = 2.506_628_274_631_000_7;
    if !(total > 0.0
        && total.is_finite()
        && scale > 0.0
        && head.is_finite()
        && threshold.is_finite())
    {
        return None;
    }
    // Newton from the large-s asymptote (ln Φ ≈ 0 there): s²/(2(v+ρ)) = threshold − head.
    let mut s = if threshold > head {
        scale * (2.0 * (threshold - head)).sqrt()
    } else {
        0.0
    };
    let (mut slope, mut ln_cdf) = (f64::NAN, f64::NAN);
    for _ in 0..16 {
        let x = s / scale;
        ln_cdf = ln_normal_cdf(x);
        let excess = head + s * s / (2.0 * total) + ln_cdf - threshold;
        // d/ds: s/(v+ρ) + φ(x)/(Φ(x)·√(v+ρ)).
        slope = s / total + (-0.5 * x * x - ln_cdf).exp() / (SQRT_2PI * scale);
        if !(slope > 0.0 && slope.is_finite() && excess.is_finite()) {
            return None;
        }
        let step = excess / slope;
        s -= step;
        if step.abs() <= 1e-15 * s.abs() + 1e-300 {
            break;
        }
    }
    let margin = 1e-12 * (1.0 + head.abs() + threshold.abs() + 2.0 * ln_cdf.abs());
    // A bracket whose ends move log m by about 8 margins, widened if that is not enough.
    let mut half_width = 8.0 * margin / slope;
    for _ in 0..4 {
        let (below, above) = (s - half_width, s + half_width);
        // Both ends, and so every evaluated point between them, away from ln Φ's asymptotic
        // branch (x < −30).
        if !(below.is_finite() && above.is_finite()) || below / scale < -20.0 {
            return None;
        }
        if log_e(below) < threshold - margin && log_e(above) >= threshold + margin {
            return Some((below, above));
        }
        half_width *= 16.0;
    }
    None
}

/// ln Σ exp(x_i), stable.
pub fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|x| exp_below_max(x - max)).sum::<f64>().ln()
}

/// e^d for d = x − max ≤ 0, without calling `exp` where it would underflow to exactly +0
/// (below ln 2^−1075 ≈ −745.13): far-off alternatives of the mixtures land there often, and
/// the libm's underflow path is its slowest.
#[inline]
fn exp_below_max(d: f64) -> f64 {
    if d < -746.0 { 0.0 } else { d.exp() }
}

/// Log-odds offsets of the alternatives in the discrete mixtures below: 21 points spaced by a
/// factor √2 from 0.01 to ≈10 (uniform weights). A discrete mixture of likelihood ratios, each a
/// (super)martingale under the null, is itself one (Ville's inequality then bounds the chance
/// it ever reaches 1/α by α); the grid costs ln 21 ≈ 3 nats against a perfectly tuned
/// alternative and adapts to effects from tiny to huge.
pub const LOG_ODDS_GRID_LEN: usize = 21;

pub fn log_odds_offset(index: usize) -> f64 {
    0.01 * std::f64::consts::SQRT_2.powi(index as i32)
}

/// [`log_odds_offset`] for every index, computed once (the same expression, so the same bits):
/// every mixture built at a new p0 needs all of them.
fn log_odds_offsets() -> &'static [f64; LOG_ODDS_GRID_LEN] {
    static OFFSETS: std::sync::LazyLock<[f64; LOG_ODDS_GRID_LEN]> =
        std::sync::LazyLock::new(|| std::array::from_fn(log_odds_offset));
    &OFFSETS
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Which one-sided null a Bernoulli e-process tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// H0: p ≥ p0; evidence comes from few successes (alternatives p' < p0).
    AtLeast,
    /// H0: p ≤ p0; evidence comes from many successes (alternatives p' > p0).
    AtMost,
}

/// ln E of a uniform discrete mixture of Bernoulli likelihood ratios (p'/p0)^k·((1−p')/(1−p0))^(n−k)
/// over alternatives p' on the far side of p0. Under the one-sided null each ratio is a
/// supermartingale (its one-step mean p·p'/p0 + (1−p)(1−p')/(1−p0) is ≤ 1 there), so the
/// mixture is an e-process valid at every n, with ties and any stopping rule.
///
/// Equal bit for bit to `BernoulliMixture::new(p0, side).log_e(successes, trials)`, but stops
/// building alternatives once the rest provably add exactly nothing: ln LR(x) = k·ln σ(x) +
/// (n − k)·ln(1 − σ(x)) − const is concave in the alternative's log-odds x, and the grid walks
/// x away from p0; once a computed term has fallen (by more than twice its rounding bound E)
/// below the previous one and lies more than 800 + 2E below the largest so far, every later
/// term is below the largest by more than 746, where `exp` underflows to exactly +0 (and none
/// of them can be the largest). Far-off alternatives of large arms land there.
pub fn bernoulli_log_e(successes: f64, trials: f64, p0: f64, side: Side) -> f64 {
    bernoulli_log_e_pruned(successes, trials, p0, side).0
}

/// [`bernoulli_log_e`] and the number of alternatives it built.
fn bernoulli_log_e_pruned(successes: f64, trials: f64, p0: f64, side: Side) -> (f64, usize) {
    if trials <= 0.0 {
        return (0.0, 0);
    }
    // The same constants, terms and expressions as `BernoulliMixture::new` and `terms`.
    let p0 = p0.clamp(1e-12, 1.0 - 1e-12);
    let base = logit(p0);
    let (ln_p0, ln_q0) = (p0.ln(), (1.0 - p0).ln());
    let failures = (trials - successes).max(0.0);
    let offsets = log_odds_offsets();
    // Concavity needs non-negative weights; finite, not astronomically large ones keep every
    // term finite.
    let prunable =
        successes.is_finite() && successes >= 0.0 && failures.is_finite() && trials < 1e250;
    // Rounding bound of a term: each of ln_alt − ln p0 and ln_not_alt − ln q0 is within a few
    // ulps of magnitudes ≤ |x| + |ln p0| + |ln q0| + 1 (libm's exp and ln_1p are within 1 ulp),
    // times the weights; 1e-13 is several hundred times that.
    let magnitude = base.abs() + offsets[LOG_ODDS_GRID_LEN - 1] + ln_p0.abs() + ln_q0.abs() + 4.0;
    let rounding = 1e-13 * (successes + failures) * magnitude;
    let mut terms = [0.0; LOG_ODDS_GRID_LEN];
    let mut built = 0;
    let (mut largest, mut previous) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (term, &offset) in terms.iter_mut().zip(offsets) {
        let x = match side {
            Side::AtLeast => base - offset,
            Side::AtMost => base + offset,
        };
        let e = x.exp();
        let (ln_alt, ln_not_alt) = if x >= 0.0 {
            let ln_1p_inverse = (1.0 / e).ln_1p();
            (-ln_1p_inverse, -x - ln_1p_inverse)
        } else {
            let ln_1p_e = e.ln_1p();
            (x - ln_1p_e, -ln_1p_e)
        };
        let (success_term, failure_term) = (ln_alt - ln_p0, ln_not_alt - ln_q0);
        *term = successes * success_term + failures * failure_term;
        built += 1;
        let value = *term;
        largest = largest.max(value);
        if prunable && value < previous - 2.0 * rounding && value + 2.0 * rounding < largest - 800.0
        {
            break;
        }
        previous = value;
    }
    (
        log_sum_exp(terms[..built].iter().copied()) - (LOG_ODDS_GRID_LEN as f64).ln(),
        built,
    )
}

/// The mixture of [`bernoulli_log_e`] for a fixed null p0 and side, with the per-alternative log
/// ratios precomputed: ln LR_j(k, n) = k·a_j + (n − k)·b_j, a_j = ln(p'_j/p0),
/// b_j = ln((1 − p'_j)/(1 − p0)). Evaluating it at many (k, n) is then cheap.
#[derive(Debug, Clone, Copy)]
pub struct BernoulliMixture {
    success_terms: [f64; LOG_ODDS_GRID_LEN],
    failure_terms: [f64; LOG_ODDS_GRID_LEN],
    /// A non-uniform prior ([`BernoulliMixture::for_quantile`]); None: uniform.
    prior: Option<WeightedPrior>,
}

/// ln g_j of a mixture's prior and ln Σ_j g_j (computed once).
#[derive(Debug, Clone, Copy)]
struct WeightedPrior {
    ln_weights: [f64; LOG_ODDS_GRID_LEN],
    ln_total: f64,
}

/// The share of a quantile mixture's prior on the alternatives it favours.
pub const QUANTILE_FOCUS_WEIGHT: f64 = 0.9;

impl BernoulliMixture {
    pub fn new(p0: f64, side: Side) -> Self {
        let p0 = p0.clamp(1e-12, 1.0 - 1e-12);
        let base = logit(p0);
        let (ln_p0, ln_q0) = (p0.ln(), (1.0 - p0).ln());
        let mut success_terms = [0.0; LOG_ODDS_GRID_LEN];
        let mut failure_terms = [0.0; LOG_ODDS_GRID_LEN];
        for (j, &offset) in log_odds_offsets().iter().enumerate() {
            let x = match side {
                Side::AtLeast => base - offset,
                Side::AtMost => base + offset,
            };
            // ln σ(x) = −ln(1 + e^−x), ln(1 − σ(x)) = −ln(1 + e^x): one exp, one ln_1p.
            let e = x.exp();
            let (ln_alt, ln_not_alt) = if x >= 0.0 {
                let ln_1p_inverse = (1.0 / e).ln_1p();
                (-ln_1p_inverse, -x - ln_1p_inverse)
            } else {
                let ln_1p_e = e.ln_1p();
                (x - ln_1p_e, -ln_1p_e)
            };
            success_terms[j] = ln_alt - ln_p0;
            failure_terms[j] = ln_not_alt - ln_q0;
        }
        BernoulliMixture {
            success_terms,
            failure_terms,
            prior: None,
        }
    }

    /// The mixture a quantile's bounds use: [`QUANTILE_FOCUS_WEIGHT`] of the prior on the ten
    /// offsets from c/11 to 2.3c, c = 0.08/√(q(1−q)) being three standard errors of a
    /// proportion near q after about 1,500 requests (0.8 for the p99: offsets 0.08 … 1.8, the
    /// distances its bounds resolve between a few hundred and ~150,000 requests), and the rest
    /// spread evenly over the eleven others. A uniform prior over all 21 offsets (0.01 … 10)
    /// pays ln 21 ≈ 3.0 nats wherever the evidence is; this one ln(10/0.9) ≈ 2.4 across that
    /// range and ln(11/0.1) ≈ 4.7 outside it, where a quantile bound either cannot exist yet
    /// or has requests to spare. It stays an e-process: any fixed prior summing to 1 does.
    pub fn for_quantile(q: f64, side: Side) -> Self {
        let mut mixture = BernoulliMixture::new(q, side);
        let p = q.clamp(1e-12, 1.0 - 1e-12);
        let focus = 0.08 / (p * (1.0 - p)).sqrt();
        let steps = (focus / log_odds_offset(0)).ln() / std::f64::consts::SQRT_2.ln();
        let centre = steps.round().clamp(0.0, (LOG_ODDS_GRID_LEN - 1) as f64) as usize;
        let (low, high) = (
            centre.saturating_sub(7),
            (centre + 2).min(LOG_ODDS_GRID_LEN - 1),
        );
        let focused = (high + 1 - low) as f64;
        let others = LOG_ODDS_GRID_LEN as f64 - focused;
        let ln_weights: [f64; LOG_ODDS_GRID_LEN] = std::array::from_fn(|j| {
            if (low..=high).contains(&j) {
                (QUANTILE_FOCUS_WEIGHT / focused).ln()
            } else {
                ((1.0 - QUANTILE_FOCUS_WEIGHT) / others).ln()
            }
        });
        mixture.prior = Some(WeightedPrior {
            ln_weights,
            ln_total: log_sum_exp(ln_weights.iter().copied()),
        });
        mixture
    }

    /// ln Σ_j g_j·LR_j for a non-uniform prior, less ln Σ_j g_j (0 but for rounding) so that no
    /// evidence is exactly E = 1.
    fn weighted_log_e(terms: &[f64; LOG_ODDS_GRID_LEN], prior: &WeightedPrior) -> f64 {
        log_sum_exp(terms.iter().zip(&prior.ln_weights).map(|(t, w)| t + w)) - prior.ln_total
    }

    /// Whether the weighted ln E reaches `log_threshold`: max_j ≤ LSE ≤ max_j + ln(len) decides
    /// most cases without any exponential, as for the uniform prior.
    fn weighted_rejects(
        terms: &[f64; LOG_ODDS_GRID_LEN],
        prior: &WeightedPrior,
        log_threshold: f64,
    ) -> bool {
        let max = terms
            .iter()
            .zip(&prior.ln_weights)
            .map(|(t, w)| t + w)
            .fold(f64::NEG_INFINITY, f64::max);
        let ln_len = (LOG_ODDS_GRID_LEN as f64).ln();
        if max - prior.ln_total >= log_threshold {
            return true;
        }
        if max + ln_len - prior.ln_total < log_threshold {
            return false;
        }
        Self::weighted_log_e(terms, prior) >= log_threshold
    }

    fn terms(&self, successes: f64, trials: f64) -> [f64; LOG_ODDS_GRID_LEN] {
        let failures = (trials - successes).max(0.0);
        let mut terms = [0.0; LOG_ODDS_GRID_LEN];
        for (j, term) in terms.iter_mut().enumerate() {
            *term = successes * self.success_terms[j] + failures * self.failure_terms[j];
        }
        terms
    }

    /// ln E after `successes` in `trials`.
    pub fn log_e(&self, successes: f64, trials: f64) -> f64 {
        if trials <= 0.0 {
            return 0.0;
        }
        let terms = self.terms(successes, trials);
        match &self.prior {
            Some(prior) => Self::weighted_log_e(&terms, prior),
            None => log_sum_exp(terms.iter().copied()) - (LOG_ODDS_GRID_LEN as f64).ln(),
        }
    }

    /// Whether ln E ≥ `log_threshold`. max_j ≤ LSE ≤ max_j + ln(len) decides most cases
    /// without any exponential.
    pub fn rejects(&self, successes: f64, trials: f64, log_threshold: f64) -> bool {
        if trials <= 0.0 {
            return log_threshold <= 0.0;
        }
        let terms = self.terms(successes, trials);
        if let Some(prior) = &self.prior {
            return Self::weighted_rejects(&terms, prior, log_threshold);
        }
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ln_len = (LOG_ODDS_GRID_LEN as f64).ln();
        if max - ln_len >= log_threshold {
            return true;
        }
        if max < log_threshold {
            return false;
        }
        log_sum_exp(terms.iter().copied()) - ln_len >= log_threshold
    }
}

/// Time-uniform lower and upper bounds on a proportion from the e-processes above, each side at
/// level `alpha_each`: lower = inf{p0 : "p ≤ p0" not rejected}, upper = sup{p0 : "p ≥ p0" not
/// rejected}. Found on the log-odds scale by the Illinois variant of regula falsi, bracketed
/// between the observed proportion (never rejected) and ±30 (about 1e-13).
pub fn proportion_bounds(successes: f64, trials: f64, alpha_each: f64) -> (f64, f64) {
    if trials <= 0.0 {
        return (0.0, 1.0);
    }
    let threshold = (1.0 / alpha_each).ln();
    let observed = (successes / trials).clamp(1e-12, 1.0 - 1e-12);
    let centre = logit(observed).clamp(-30.0, 30.0);
    // Log-odds standard error of the observed proportion: the bounds lie a few of these away,
    // so bracketing outward from the centre in doubling steps needs few evaluations.
    let step = (1.0 / (trials * observed * (1.0 - observed)).max(1e-9))
        .sqrt()
        .clamp(1e-3, 30.0);
    let lower_excess =
        |x: f64| bernoulli_log_e(successes, trials, logistic(x), Side::AtMost) - threshold;
    let lower = match outward_bracket(&lower_excess, centre, -step, -30.0) {
        Some(bracket) => logistic(illinois_root(&lower_excess, bracket)),
        None => 0.0,
    };
    let upper_excess =
        |x: f64| bernoulli_log_e(successes, trials, logistic(x), Side::AtLeast) - threshold;
    let upper = match outward_bracket(&upper_excess, centre, step, 30.0) {
        Some(bracket) => logistic(illinois_root(&upper_excess, bracket)),
        None => 1.0,
    };
    (lower.min(successes / trials), upper.max(successes / trials))
}

/// A sign change of `f` found by [`outward_bracket`], with the values of `f` already known
/// there (`f` is pure, so the root finder need not evaluate them again).
#[derive(Debug, Clone, Copy)]
struct Bracket {
    /// A point with f ≥ 0 and f there.
    rejected: (f64, f64),
    /// The last point with f < 0; f there unless it is the starting point (never evaluated).
    kept: (f64, Option<f64>),
}

/// Walks from `centre` (where `f` < 0) by `step`, doubling, until `f` ≥ 0 or `limit` is passed;
/// returns the point with f ≥ 0 and the last point with f < 0, or None when even `limit` is
/// not rejected.
fn outward_bracket(f: &impl Fn(f64) -> f64, centre: f64, step: f64, limit: f64) -> Option<Bracket> {
    let mut kept = (centre, None);
    let mut step = step;
    loop {
        let next = kept.0 + step;
        let beyond = (limit - next) * step.signum() <= 0.0;
        let next = if beyond { limit } else { next };
        let value = f(next);
        if value >= 0.0 {
            return Some(Bracket {
                rejected: (next, value),
                kept,
            });
        }
        if beyond {
            return None;
        }
        kept = (next, Some(value));
        step *= 2.0;
    }
}

/// A root of `f` in the bracket, where f differs in sign at its ends (Illinois method: regula
/// falsi that halves the stale end's weight; superlinear, never leaves the bracket). Returns
/// the end on the side where f ≥ 0 (the rejected side), so a bound never claims more than the
/// e-process proves.
fn illinois_root(f: &impl Fn(f64) -> f64, bracket: Bracket) -> f64 {
    let (mut a, mut fa) = bracket.rejected;
    let mut b = bracket.kept.0;
    let mut fb = bracket.kept.1.unwrap_or_else(|| f(b));
    let mut last_moved = 0i8;
    for _ in 0..100 {
        if (b - a).abs() < 1e-5 {
            break;
        }
        let secant = (a * fb - b * fa) / (fb - fa);
        let c = if secant.is_finite() && secant > a.min(b) && secant < a.max(b) {
            secant
        } else {
            0.5 * (a + b)
        };
        let fc = f(c);
        if (fc >= 0.0) == (fb >= 0.0) {
            b = c;
            fb = fc;
            if last_moved == 1 {
                fa /= 2.0;
            }
            last_moved = 1;
        } else {
            a = c;
            fa = fc;
            if last_moved == -1 {
                fb /= 2.0;
            }
            last_moved = -1;
        }
    }
    if fa >= 0.0 { a } else { b }
}

/// Time-uniform bounds on the q-quantile of a binned distribution (counts over ordered bin
/// values). The quantile Q(q) = inf{x : F(x) ≥ q}.
/// * lower: the largest bin value x with "F(x) ≥ q" rejected (few observations ≤ x). If the
///   truth were Q(q) ≤ x then F(x) ≥ q and the test at x could reject only if the test at
///   Q(q) itself (one fixed point) did: probability ≤ alpha_each over all looks.
/// * upper: the smallest bin value x with "F(x) < q" rejected (many observations ≤ x); the
///   mirror argument at Q(q)⁻ holds.
///
/// Returns bin indices (None when no bin qualifies: the bound is 0 or +∞). O(log bins) tests
/// after an O(bins) prefix sum.
pub fn quantile_bound_indices(
    counts: &[f64],
    q: f64,
    alpha_each: f64,
) -> (Option<usize>, Option<usize>) {
    let mut cumulative = Vec::with_capacity(counts.len());
    let mut running = 0.0;
    for &c in counts {
        running += c;
        cumulative.push(running);
    }
    quantile_bound_indices_cumulative(&cumulative, q, alpha_each)
}

/// As [`quantile_bound_indices`], from cumulative counts (non-decreasing).
pub fn quantile_bound_indices_cumulative(
    cumulative: &[f64],
    q: f64,
    alpha_each: f64,
) -> (Option<usize>, Option<usize>) {
    let n = cumulative.last().copied().unwrap_or(0.0);
    if n <= 0.0 {
        return (None, None);
    }
    quantile_bound_indices_with(cumulative, &QuantileMixtures::new(q), alpha_each)
}

/// The two one-sided Bernoulli mixtures at p0 = q that a quantile's bounds test: built once per
/// q and shared by both arms of a check (each costs 21 exponentials and 42 logarithms).
#[derive(Debug, Clone, Copy)]
pub struct QuantileMixtures {
    at_least: BernoulliMixture,
    at_most: BernoulliMixture,
}

impl QuantileMixtures {
    pub fn new(q: f64) -> Self {
        QuantileMixtures {
            at_least: BernoulliMixture::for_quantile(q, Side::AtLeast),
            at_most: BernoulliMixture::for_quantile(q, Side::AtMost),
        }
    }
}

/// As [`quantile_bound_indices_cumulative`] with the mixtures for q already built.
pub fn quantile_bound_indices_with(
    cumulative: &[f64],
    mixtures: &QuantileMixtures,
    alpha_each: f64,
) -> (Option<usize>, Option<usize>) {
    let n = cumulative.last().copied().unwrap_or(0.0);
    if n <= 0.0 {
        return (None, None);
    }
    let threshold = (1.0 / alpha_each).ln();
    let (at_least, at_most) = (&mixtures.at_least, &mixtures.at_most);
    let rejects_at_least = |k: usize| at_least.rejects(cumulative[k], n, threshold);
    let rejects_at_most = |k: usize| at_most.rejects(cumulative[k], n, threshold);
    // rejects_at_least holds on a prefix of the bins (the cumulative count only grows).
    let lower = last_true(cumulative.len(), rejects_at_least);
    // rejects_at_most is true on a suffix.
    let upper = first_true(cumulative.len(), rejects_at_most);
    (lower, upper)
}

/// Largest index in 0..len where a prefix-monotone predicate holds.
fn last_true(len: usize, predicate: impl Fn(usize) -> bool) -> Option<usize> {
    let (mut low, mut high) = (0usize, len); // predicate true on [0, low), false on [high, len)
    while low < high {
        let mid = low + (high - low) / 2;
        if predicate(mid) {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    low.checked_sub(1)
}

/// Smallest index in 0..len where a suffix-monotone predicate holds.
fn first_true(len: usize, predicate: impl Fn(usize) -> bool) -> Option<usize> {
    let (mut low, mut high) = (0usize, len);
    while low < high {
        let mid = low + (high - low) / 2;
        if predicate(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    (low < len).then_some(low)
}

#[cfg(test)]
mod quantile_prior_tests {
    use super::*;

    #[test]
    fn quantile_prior_is_a_probability_that_favours_resolvable_distances() {
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            for side in [Side::AtLeast, Side::AtMost] {
                let mixture = BernoulliMixture::for_quantile(q, side);
                let prior = mixture.prior.expect("weighted");
                let total: f64 = prior.ln_weights.iter().map(|w| w.exp()).sum();
                assert!((total - 1.0).abs() < 1e-12, "q {q}: weights sum to {total}");
                // No evidence (every likelihood ratio 1) is exactly E = 1.
                let none = [0.0; LOG_ODDS_GRID_LEN];
                assert_eq!(BernoulliMixture::weighted_log_e(&none, &prior), 0.0);
                // The shortcut bounds decide as the full sum does.
                for (k, n) in [(0.0, 10.0), (980.0, 1000.0), (999.0, 1000.0), (5.0, 5000.0)] {
                    let terms = mixture.terms(k, n);
                    for threshold in [0.5, 2.0, 4.0, 8.0] {
                        assert_eq!(
                            BernoulliMixture::weighted_rejects(&terms, &prior, threshold),
                            BernoulliMixture::weighted_log_e(&terms, &prior) >= threshold
                        );
                    }
                }
            }
        }
        // 1,500 requests, 98% of them at or below a point where "at least 99%" is the null
        // (log-odds distance 0.70, near the p99's c = 0.80): the quantile prior's evidence is
        // larger than the uniform prior's. Far outside its range (2,000,000 requests, distance
        // 0.02) it is smaller: the price of favouring the distances that matter.
        let evidence = |n: f64, share: f64| {
            let uniform = BernoulliMixture::new(0.99, Side::AtLeast).log_e(share * n, n);
            let focused = BernoulliMixture::for_quantile(0.99, Side::AtLeast).log_e(share * n, n);
            (uniform, focused)
        };
        let (u, f) = evidence(1500.0, 0.98);
        assert!(f > u + 0.5, "near c: focused {f} vs uniform {u}");
        let far = 1.0 / (1.0 + (-(logit(0.99) - 0.02)).exp());
        let (u, f) = evidence(2_000_000.0, far);
        assert!(f < u, "far from c: focused {f} vs uniform {u}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The rate bounds as they were computed before the offsets table, the shared ln_1p and
    /// the bracket handing its values to the root finder: the reference for the equality test.
    mod reference {
        use super::super::{LOG_ODDS_GRID_LEN, Side, logistic, logit};

        fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
            let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
            if max == f64::NEG_INFINITY {
                return max;
            }
            max + values.map(|x| (x - max).exp()).sum::<f64>().ln()
        }

        fn log_e(successes: f64, trials: f64, p0: f64, side: Side) -> f64 {
            if trials <= 0.0 {
                return 0.0;
            }
            let p0 = p0.clamp(1e-12, 1.0 - 1e-12);
            let base = logit(p0);
            let (ln_p0, ln_q0) = (p0.ln(), (1.0 - p0).ln());
            let failures = (trials - successes).max(0.0);
            let mut terms = [0.0; LOG_ODDS_GRID_LEN];
            for (j, term) in terms.iter_mut().enumerate() {
                let offset = 0.01 * std::f64::consts::SQRT_2.powi(j as i32);
                let x = match side {
                    Side::AtLeast => base - offset,
                    Side::AtMost => base + offset,
                };
                let e = x.exp();
                let (ln_alt, ln_not_alt) = if x >= 0.0 {
                    (-(1.0 / e).ln_1p(), -x - (1.0 / e).ln_1p())
                } else {
                    (x - e.ln_1p(), -e.ln_1p())
                };
                *term = successes * (ln_alt - ln_p0) + failures * (ln_not_alt - ln_q0);
            }
            log_sum_exp(terms.iter().copied()) - (LOG_ODDS_GRID_LEN as f64).ln()
        }

        fn outward_bracket(
            f: &impl Fn(f64) -> f64,
            centre: f64,
            step: f64,
            limit: f64,
        ) -> Option<(f64, f64)> {
            let mut kept = centre;
            let mut step = step;
            loop {
                let next = kept + step;
                let beyond = (limit - next) * step.signum() <= 0.0;
                let next = if beyond { limit } else { next };
                if f(next) >= 0.0 {
                    return Some((next, kept));
                }
                if beyond {
                    return None;
                }
                kept = next;
                step *= 2.0;
            }
        }

        fn illinois_root(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
            let (mut a, mut b) = (a, b);
            let (mut fa, mut fb) = (f(a), f(b));
            let mut last_moved = 0i8;
            for _ in 0..100 {
                if (b - a).abs() < 1e-5 {
                    break;
                }
                let secant = (a * fb - b * fa) / (fb - fa);
                let c = if secant.is_finite() && secant > a.min(b) && secant < a.max(b) {
                    secant
                } else {
                    0.5 * (a + b)
                };
                let fc = f(c);
                if (fc >= 0.0) == (fb >= 0.0) {
                    b = c;
                    fb = fc;
                    if last_moved == 1 {
                        fa /= 2.0;
                    }
                    last_moved = 1;
                } else {
                    a = c;
                    fa = fc;
                    if last_moved == -1 {
                        fb /= 2.0;
                    }
                    last_moved = -1;
                }
            }
            if fa >= 0.0 { a } else { b }
        }

        pub fn proportion_bounds(successes: f64, trials: f64, alpha_each: f64) -> (f64, f64) {
            if trials <= 0.0 {
                return (0.0, 1.0);
            }
            let threshold = (1.0 / alpha_each).ln();
            let observed = (successes / trials).clamp(1e-12, 1.0 - 1e-12);
            let centre = logit(observed).clamp(-30.0, 30.0);
            let step = (1.0 / (trials * observed * (1.0 - observed)).max(1e-9))
                .sqrt()
                .clamp(1e-3, 30.0);
            let lower_excess =
                |x: f64| log_e(successes, trials, logistic(x), Side::AtMost) - threshold;
            let lower = match outward_bracket(&lower_excess, centre, -step, -30.0) {
                Some((rejected, kept)) => logistic(illinois_root(&lower_excess, rejected, kept)),
                None => 0.0,
            };
            let upper_excess =
                |x: f64| log_e(successes, trials, logistic(x), Side::AtLeast) - threshold;
            let upper = match outward_bracket(&upper_excess, centre, step, 30.0) {
                Some((rejected, kept)) => logistic(illinois_root(&upper_excess, rejected, kept)),
                None => 1.0,
            };
            (lower.min(successes / trials), upper.max(successes / trials))
        }

        pub fn bernoulli_log_e(successes: f64, trials: f64, p0: f64, side: Side) -> f64 {
            log_e(successes, trials, p0, side)
        }
    }

    /// The premise of `exp_below_max`: the libm's exp is exactly +0 below −746 (checked on
    /// the platform the tests run on, at the edge and at 10,000 random points beyond it).
    #[test]
    fn exp_underflows_to_zero_below_the_cutoff() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let edge = [-746.0, f64::from_bits((-746.0f64).to_bits() + 1), -1e300];
        let random = (0..10_000).map(|_| -746.0 - rng.random::<f64>() * 1e4);
        for d in edge.into_iter().chain(random) {
            assert_eq!(d.exp().to_bits(), 0.0f64.to_bits(), "{d}");
            assert_eq!(exp_below_max(d).to_bits(), d.exp().to_bits());
        }
        assert!((-745.0f64).exp() > 0.0);
    }

    /// The pruned e-value equals the mixture's over all alternatives bit for bit, and the
    /// pruning happens: 20,000 nulls around the observed rate of arms of 10 to 10^9 trials.
    #[test]
    fn pruned_log_e_equals_the_full_mixture() {
        let mut rng = ChaCha8Rng::seed_from_u64(43);
        let mut pruned = 0;
        for case in 0..20_000 {
            let trials = 10f64.powf(1.0 + rng.random::<f64>() * 8.0).round();
            let rate = 10f64.powf(-4.0 * rng.random::<f64>());
            let successes = if case % 13 == 0 {
                0.0
            } else {
                (rate * trials).round()
            };
            // Nulls from far below to far above the observed rate (log-odds ±6).
            let observed = (successes / trials).clamp(1e-9, 1.0 - 1e-9);
            let x = (observed / (1.0 - observed)).ln() + 12.0 * rng.random::<f64>() - 6.0;
            let p0 = 1.0 / (1.0 + (-x).exp());
            for side in [Side::AtLeast, Side::AtMost] {
                let (ours, built) = bernoulli_log_e_pruned(successes, trials, p0, side);
                let full = BernoulliMixture::new(p0, side).log_e(successes, trials);
                assert_eq!(
                    ours.to_bits(),
                    full.to_bits(),
                    "{successes}/{trials} at {p0} {side:?}: built {built}"
                );
                assert_eq!(
                    full.to_bits(),
                    reference::bernoulli_log_e(successes, trials, p0, side).to_bits()
                );
                pruned += usize::from(built < LOG_ODDS_GRID_LEN);
            }
        }
        assert!(pruned > 5_000, "pruned {pruned} of 40,000");
    }

    /// Bit-for-bit the same bounds and e-values as before, over 20,000 generated cases: rates
    /// from 0 to 1 (and exactly 0 and 1), 1 to 10^9 trials, α from 10^-6 to 0.4.
    #[test]
    fn proportion_bounds_equal_the_reference_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        for case in 0..20_000 {
            let trials = 10f64.powf(rng.random::<f64>() * 9.0).round().max(1.0);
            let rate = match case % 10 {
                0 => 0.0,
                1 => 1.0,
                2 => 10f64.powf(-6.0 * rng.random::<f64>()),
                _ => rng.random::<f64>().powi(3),
            };
            let successes = (rate * trials).round();
            let alpha = 10f64.powf(-6.0 * rng.random::<f64>()) * 0.4;
            let ours = proportion_bounds(successes, trials, alpha);
            let old = reference::proportion_bounds(successes, trials, alpha);
            assert_eq!(
                (ours.0.to_bits(), ours.1.to_bits()),
                (old.0.to_bits(), old.1.to_bits()),
                "{successes}/{trials} at {alpha}: {ours:?} vs {old:?}"
            );
            let p0 = rng.random::<f64>();
            for side in [Side::AtLeast, Side::AtMost] {
                assert_eq!(
                    bernoulli_log_e(successes, trials, p0, side).to_bits(),
                    reference::bernoulli_log_e(successes, trials, p0, side).to_bits()
                );
            }
        }
    }

    /// The boundary as it was computed before the bracket: every bisection step evaluates.
    fn reference_normal_mixture_boundary(v: f64, rho: f64, threshold: f64) -> f64 {
        let scale = (v + rho).sqrt();
        let total = v + rho;
        let head = 0.5 * (4.0 * rho / total).ln();
        let log_e = |s: f64| head + s * s / (2.0 * total) + ln_normal_cdf(s / scale);
        let (mut low, mut high) = (-10.0 * scale, 10.0 * scale + 10.0);
        while log_e(high) < threshold {
            high *= 2.0;
        }
        for _ in 0..50 {
            let mid = 0.5 * (low + high);
            if log_e(mid) >= threshold {
                high = mid;
            } else {
                low = mid;
            }
        }
        high
    }

    /// The bracketed bisection returns the full bisection's f64 bit for bit over 40,000
    /// generated (v, ρ, threshold): information from 10⁻⁶ to 10¹², ρ from 10⁻⁴ to 10⁸,
    /// thresholds from −5 to 40 (crossings at negative, zero and large s), plus the values the
    /// judge meets (ρ from `mixture_rho`, thresholds ln(1/α)); and it is mostly taken.
    #[test]
    fn bracketed_boundary_equals_the_full_bisection_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(47);
        let mut bracketed = 0;
        let cases = 40_000;
        for case in 0..cases {
            let (v, rho, threshold) = if case % 2 == 0 {
                (
                    10f64.powf(rng.random_range(-6.0..12.0)),
                    10f64.powf(rng.random_range(-4.0..8.0)),
                    rng.random_range(-5.0..40.0),
                )
            } else {
                let alpha = 10f64.powf(rng.random_range(-6.0..-0.5));
                let v_opt = 10f64.powf(rng.random_range(0.0..6.0));
                (
                    10f64.powf(rng.random_range(-2.0..8.0)),
                    mixture_rho(v_opt, alpha),
                    (1.0 / alpha).ln(),
                )
            };
            let ours = normal_mixture_boundary(v, rho, threshold);
            let reference = reference_normal_mixture_boundary(v, rho, threshold);
            assert_eq!(
                ours.to_bits(),
                reference.to_bits(),
                "v {v} rho {rho} threshold {threshold}: {ours} vs {reference}"
            );
            let total = v + rho;
            let head = 0.5 * (4.0 * rho / total).ln();
            let scale = total.sqrt();
            let log_e = |s: f64| head + s * s / (2.0 * total) + ln_normal_cdf(s / scale);
            bracketed +=
                usize::from(crossing_bracket(&log_e, head, total, scale, threshold).is_some());
        }
        assert!(bracketed > cases * 99 / 100, "{bracketed} of {cases}");
        // Inputs without a bracket take the full bisection (the same function).
        for (v, rho, threshold) in [(f64::NAN, 1.0, 3.0), (1.0, 1.0, f64::INFINITY)] {
            let ours = normal_mixture_boundary(v, rho, threshold);
            let reference = reference_normal_mixture_boundary(v, rho, threshold);
            assert_eq!(ours.to_bits(), reference.to_bits());
        }
    }

    #[test]
    fn boundary_sits_where_the_log_e_crosses() {
        // The hoisted evaluation must be normal_mixture_log_e itself: the boundary is the
        // first point of the final bracket where it reaches the threshold.
        for (v, rho, threshold) in [(10.0, 3.0, 3.0), (1e4, 250.0, 5.0), (0.5, 40.0, 2.0)] {
            let boundary = normal_mixture_boundary(v, rho, threshold);
            assert!(normal_mixture_log_e(boundary, v, rho) >= threshold);
            let below = boundary - 1e-9 * boundary.abs().max(1.0);
            assert!(normal_mixture_log_e(below, v, rho) < threshold, "{v} {rho}");
        }
    }

    #[test]
    fn ln_normal_cdf_is_continuous_across_the_switch() {
        let left = ln_normal_cdf(-30.0 - 1e-9);
        let right = ln_normal_cdf(-30.0 + 1e-9);
        assert!((left - right).abs() < 1e-3, "{left} vs {right}");
        assert!((ln_normal_cdf(0.0) - 0.5_f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn mixture_boundary_grows_like_sqrt_v_log_v() {
        let rho = mixture_rho(1000.0, 0.05);
        let threshold = 20.0_f64.ln();
        let b1 = normal_mixture_boundary(1000.0, rho, threshold);
        let b2 = normal_mixture_boundary(100_000.0, rho, threshold);
        // Wider than a fixed z-test (1.645·√v), but of the same order.
        assert!(
            b1 > 1.645 * 1000.0_f64.sqrt() && b1 < 5.0 * 1000.0_f64.sqrt(),
            "{b1}"
        );
        assert!(
            b2 / b1 > 10.0,
            "boundary must grow at least like √v: {b1} {b2}"
        );
        assert!(normal_mixture_log_e(b1 * 1.001, 1000.0, rho) >= threshold);
    }

    #[test]
    fn proportion_bounds_cover_and_zero_of_two_hundred_is_not_tight() {
        let (lower, upper) = proportion_bounds(0.0, 200.0, 0.025);
        assert_eq!(lower, 0.0);
        assert!(
            upper > 0.015,
            "0/200 cannot bound the rate below 1.5%: {upper}"
        );
        let (lower, upper) = proportion_bounds(500.0, 10_000.0, 0.025);
        assert!(
            lower < 0.05 && upper > 0.05 && upper - lower < 0.03,
            "{lower} {upper}"
        );
    }

    #[test]
    fn proportion_bounds_sit_on_the_rejection_boundary() {
        let threshold = 40.0_f64.ln();
        let (lower, upper) = proportion_bounds(37.0, 1_000.0, 0.025);
        assert!(bernoulli_log_e(37.0, 1_000.0, lower, Side::AtMost) >= threshold);
        assert!(bernoulli_log_e(37.0, 1_000.0, lower * 1.01, Side::AtMost) < threshold);
        assert!(bernoulli_log_e(37.0, 1_000.0, upper, Side::AtLeast) >= threshold);
        assert!(bernoulli_log_e(37.0, 1_000.0, upper * 0.99, Side::AtLeast) < threshold);
    }

    /// 500 runs of 30 looks each at p = 0.3: the one-sided e-process for "p ≤ 0.3" may cross
    /// 1/α = 20 in at most 5% of runs; the upper end of the 95% Clopper-Pearson interval on the
    /// observed crossing rate must be ≤ 0.05.
    #[test]
    fn bernoulli_e_process_is_valid_over_many_looks() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let runs = 500;
        let mut crossed = 0;
        for _ in 0..runs {
            let (mut k, mut n) = (0.0, 0.0);
            for _look in 0..30 {
                for _ in 0..40 {
                    n += 1.0;
                    if rng.random::<f64>() < 0.3 {
                        k += 1.0;
                    }
                }
                if bernoulli_log_e(k, n, 0.3, Side::AtMost) >= 20.0_f64.ln() {
                    crossed += 1;
                    break;
                }
            }
        }
        let (_, upper) = crate::judge::binomial::clopper_pearson(crossed, runs, 0.95);
        assert!(
            upper <= 0.05,
            "crossings {crossed}/{runs}, 95% upper bound {upper}"
        );
    }

    #[test]
    fn quantile_bounds_bracket_the_true_quantile() {
        // 1000 observations uniform over bins 0..100: the median is bin ~49.
        let counts = vec![10.0; 100];
        let (lower, upper) = quantile_bound_indices(&counts, 0.5, 0.025);
        let (lower, upper) = (lower.expect("lower"), upper.expect("upper"));
        assert!(lower < 49 && upper >= 49, "{lower} {upper}");
        assert!(upper - lower < 20, "{lower} {upper}");
    }
}
