//! The judge's entry point: [`evaluate`] one look (one window's observation) against a policy's
//! [`JudgeSpec`], carrying a serializable [`JudgeState`] between looks.
//!
//! **Sequential judge (default).** Checks and their methods: latency shift
//! ([`sequential`](super::sequential)), latency quantiles ([`quantile_cs`](super::quantile_cs)),
//! error rates ([`error_rate`](super::error_rate)), absolute limits ([`absolute`](super::absolute)).
//! The family-wise α is split over the checks by weight (Bonferroni: α_i = α·w_i/Σw); each check
//! controls its own false "Regressed" (and, separately, false "Safe") at α_i over all looks, so
//! the chance that any check ever falsely rolls back is ≤ α. Overall: any Regressed → Regressed;
//! every check Safe → Safe; every check NoData → NoData; otherwise Inconclusive (hold).
//!
//! **Kayenta judge (`method: kayenta`).** Each look appends one point per arm to per-interval
//! series (see [`KAYENTA_SERIES`]) and Kayenta's classifier and scorer run over the whole series
//! so far. Score classification Fail → Regressed, Marginal → Inconclusive, Pass → Safe; all
//! metrics without data → NoData. No correction for repeated looks (that is Kayenta's behaviour).

use serde::{Deserialize, Serialize};

use super::absolute::judge_absolute_with;
use super::error_rate::{ErrorRatioState, ErrorTotals, judge_errors};
use super::histogram::LogBuckets;
use super::hodges_lehmann::{LatticeLevels, hodges_lehmann_log_buckets_from};
use super::kayenta::{self, Classification, KayentaConfig, MetricSeries, ScoreClassification};
use super::latency_pass::{BaselinePositions, PassSums, accumulate_latency, window_sums};
use super::mann_whitney::{ArmSums, RankSums};
use super::observation::{ArmObservation, ErrorKind, Observation};
use super::quantile_cs::{QuantileCache, judge_quantile_with};
use super::sequential::{LatencyShiftState, MixtureBoundary, decide};
use super::spec::{JudgeMethod, JudgeSpec, LatencyShiftSpec};
use super::verdict::{
    CheckResult, HodgesLehmannEvidence, Interval, MannWhitneyEvidence, Outcome, Verdict,
};

/// Confidence of the descriptive Hodges-Lehmann interval reported with the latency check.
pub const HODGES_LEHMANN_CONFIDENCE: f64 = 0.95;

/// Everything that must persist between looks, so the daemon can journal and resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeState {
    /// Looks evaluated so far.
    pub looks: u32,
    /// The bucket scheme of the accumulated histograms (fixed for a rollout).
    pub buckets: Option<LogBuckets>,
    /// Cumulative counts of each arm.
    pub baseline: ArmObservation,
    pub canary: ArmObservation,
    /// The latency shift check's rank processes.
    pub latency_shift: LatencyShiftState,
    /// One e-process state per `checks.errors` entry, in order.
    pub error_ratios: Vec<ErrorRatioState>,
    /// Per-interval series for the Kayenta judge.
    pub kayenta_series: Vec<KayentaSeries>,
    /// Values derived from the spec and the bucket scheme alone, kept between looks so that a
    /// look does not rebuild them; never journaled (rebuilt after a resume).
    #[serde(skip)]
    cache: LookCache,
}

/// See [`JudgeState::cache`]. Equal to every other cache: it only holds what can be rebuilt,
/// so two states with the same journaled fields judge the same.
#[derive(Debug, Clone, Default)]
struct LookCache {
    /// The scheme `values` were computed for.
    buckets: Option<LogBuckets>,
    /// [`bucket_values`] of `buckets`.
    values: Vec<f64>,
    /// Whether `values` are finite and strictly increasing.
    values_ordered: bool,
    quantiles: QuantileCache,
    /// The last look's Hodges-Lehmann lattice levels: where the next look's searches start.
    lattice: Option<LatticeLevels>,
    /// (scale bits, `values` / scale, where those fall among `values`) for the latency
    /// check's canary scales.
    scaled: Vec<(u64, Vec<f64>, Option<BaselinePositions>)>,
    /// The running counts of the window's and the cumulative baseline, from the look's pass
    /// over the bins (buffers kept so that a look does not allocate them).
    window_below: Vec<f64>,
    cumulative_below: Vec<f64>,
}

impl PartialEq for LookCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl LookCache {
    /// The bucket values of `buckets`, computed when the scheme is new to the cache.
    fn values(&mut self, buckets: &LogBuckets) -> &[f64] {
        self.parts(buckets, &[]).values
    }

    /// The bucket values (also divided by each of `scales`), the quantile checks' cache and
    /// the last lattice levels.
    fn parts(&mut self, buckets: &LogBuckets, scales: &[f64]) -> LookParts<'_> {
        if self.buckets.as_ref() != Some(buckets) {
            self.values = bucket_values(buckets);
            self.values_ordered = self.values.iter().fold(true, |ok, v| ok & v.is_finite())
                && self
                    .values
                    .windows(2)
                    .fold(true, |ok, w| ok & (w[0] < w[1]));
            self.buckets = Some(buckets.clone());
            self.scaled.clear();
        }
        // A few specs' worth: a caller that changes the margins every look does not grow it.
        if self.scaled.len() + scales.len() > 8 {
            self.scaled.clear();
        }
        for &scale in scales {
            if !self
                .scaled
                .iter()
                .any(|(bits, ..)| *bits == scale.to_bits())
            {
                let scaled: Vec<f64> = self.values.iter().map(|value| value / scale).collect();
                let positions = BaselinePositions::new(&self.values, &scaled, self.values_ordered);
                self.scaled.push((scale.to_bits(), scaled, positions));
            }
        }
        LookParts {
            values: &self.values,
            values_ordered: self.values_ordered,
            scaled: &self.scaled,
            window_below: &self.window_below,
            quantiles: &mut self.quantiles,
            lattice: &mut self.lattice,
        }
    }
}

/// The parts of a [`LookCache`] one look uses.
struct LookParts<'a> {
    values: &'a [f64],
    values_ordered: bool,
    scaled: &'a [(u64, Vec<f64>, Option<BaselinePositions>)],
    window_below: &'a [f64],
    quantiles: &'a mut QuantileCache,
    lattice: &'a mut Option<LatticeLevels>,
}

/// One Kayenta metric's per-interval points; None marks an interval where the arm had no data
/// (stored as None rather than NaN so that the state survives a JSON journal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KayentaSeries {
    pub name: String,
    pub baseline: Vec<Option<f64>>,
    pub canary: Vec<Option<f64>>,
}

impl KayentaSeries {
    /// Kayenta's form: NaN for a missing point.
    pub fn to_metric_series(&self) -> MetricSeries {
        let values =
            |points: &[Option<f64>]| points.iter().map(|p| p.unwrap_or(f64::NAN)).collect();
        MetricSeries {
            name: self.name.clone(),
            baseline: values(&self.baseline),
            canary: values(&self.canary),
        }
    }
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

impl JudgeState {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Series the Kayenta judge can be given (one point per arm per interval): `latency_mean`,
/// `latency_pNN` (any percentile, e.g. `latency_p99`, `latency_p99.9`), `error_rate`
/// (gateway 5xx + model), `gateway_5xx_rate`, `model_error_rate`, `throttle_rate`, `requests`.
pub const KAYENTA_SERIES: &str = "latency_mean, latency_pNN (e.g. latency_p99), error_rate, gateway_5xx_rate, model_error_rate, throttle_rate, requests";

/// The value of a named Kayenta series for one arm in one window (NaN when the arm is empty);
/// None for a name the judge cannot supply.
pub fn kayenta_series_value(name: &str, values: &[f64], arm: &ArmObservation) -> Option<f64> {
    let rate = |errors: u64| {
        if arm.requests == 0 {
            f64::NAN
        } else {
            errors as f64 / arm.requests as f64
        }
    };
    match name {
        "error_rate" => return Some(rate(arm.errors(ErrorKind::All))),
        "gateway_5xx_rate" => return Some(rate(arm.errors_5xx)),
        "model_error_rate" => return Some(rate(arm.model_errors)),
        "throttle_rate" => return Some(rate(arm.throttled)),
        "requests" => return Some(arm.requests as f64),
        _ => {}
    }
    let n = arm.latency_count();
    if name == "latency_mean" {
        let total: f64 = values.iter().zip(&arm.latency).map(|(v, c)| v * c).sum();
        return Some(if n > 0.0 { total / n } else { f64::NAN });
    }
    let q = name
        .strip_prefix("latency_p")
        .and_then(|digits| digits.parse::<f64>().ok())
        .filter(|p| *p > 0.0 && *p < 100.0)?
        / 100.0;
    if n <= 0.0 {
        return Some(f64::NAN);
    }
    let mut running = 0.0;
    for (value, count) in values.iter().zip(&arm.latency) {
        running += count;
        if running >= q * n {
            return Some(*value);
        }
    }
    values.last().copied()
}

/// Representative bucket values, computed by repeated multiplication (cheap; equal to
/// [`LogBuckets::value_of`] up to rounding).
pub fn bucket_values(buckets: &LogBuckets) -> Vec<f64> {
    let mut value = buckets.min_ms() * buckets.growth().sqrt();
    (0..buckets.len())
        .map(|_| {
            let current = value;
            value *= buckets.growth();
            current
        })
        .collect()
}

/// Judges one look. `observation` holds one window's counts; `state` accumulates them.
/// The spec should have passed [`JudgeSpec::validate`]; invalid parts are reported as
/// Inconclusive checks, never as passes.
pub fn evaluate(spec: &JudgeSpec, state: &mut JudgeState, observation: &Observation) -> Verdict {
    evaluate_with(spec, state, observation, true)
}

/// [`evaluate`]; `one_pass`: whether the latency shift check may gather its sums in the pass
/// that accumulates the bins (the tests compare with the separate paths).
fn evaluate_with(
    spec: &JudgeSpec,
    state: &mut JudgeState,
    observation: &Observation,
    one_pass: bool,
) -> Verdict {
    if let Some(buckets) = &state.buckets
        && *buckets != observation.buckets
    {
        return Verdict {
            overall: Outcome::Inconclusive,
            checks: Vec::new(),
            summary: format!(
                "INCONCLUSIVE: the observation's latency buckets ({} from {} ms, growth {}) differ from the rollout's ({} from {} ms, growth {}); look ignored",
                observation.buckets.len(),
                observation.buckets.min_ms(),
                observation.buckets.growth(),
                buckets.len(),
                buckets.min_ms(),
                buckets.growth()
            ),
        };
    }
    let bins = observation.buckets.len();
    if observation.baseline.latency.len() != bins || observation.canary.latency.len() != bins {
        return Verdict {
            overall: Outcome::Inconclusive,
            checks: Vec::new(),
            summary: format!(
                "INCONCLUSIVE: latency histograms have {} (baseline) and {} (canary) bins, the buckets {bins}; look ignored",
                observation.baseline.latency.len(),
                observation.canary.latency.len()
            ),
        };
    }
    state.buckets = Some(observation.buckets.clone());
    state.looks += 1;

    // Taken out of the state for the look so that the checks can borrow both.
    let mut cache = std::mem::take(&mut state.cache);
    // The latency shift check gathers its sums in the pass that accumulates the bins.
    let pass =
        if one_pass && spec.method == JudgeMethod::Sequential && spec.checks.latency.is_some() {
            accumulate_with_pass(
                state,
                observation,
                &mut cache.window_below,
                &mut cache.cumulative_below,
            )
        } else {
            state.baseline.accumulate(&observation.baseline);
            state.canary.accumulate(&observation.canary);
            None
        };
    let verdict = match spec.method {
        JudgeMethod::Sequential => evaluate_sequential(spec, state, observation, &mut cache, pass),
        JudgeMethod::Kayenta => {
            let values = cache.values(&observation.buckets);
            evaluate_kayenta(spec, state, observation, values)
        }
    };
    state.cache = cache;
    verdict
}

/// What [`ArmObservation::accumulate`] does to both arms, with the latency bins added by
/// [`accumulate_latency`], whose sums it returns (None when the histograms' lengths differ
/// even after growing, and the bins were added one by one).
fn accumulate_with_pass(
    state: &mut JudgeState,
    observation: &Observation,
    window_below: &mut Vec<f64>,
    cumulative_below: &mut Vec<f64>,
) -> Option<PassSums> {
    let bins = observation.baseline.latency.len();
    for (total, window) in [
        (&mut state.baseline, &observation.baseline),
        (&mut state.canary, &observation.canary),
    ] {
        total.grow_latency(window.latency.len());
        total.accumulate_counts(window);
    }
    let (baseline, canary) = (&mut state.baseline.latency, &mut state.canary.latency);
    if baseline.len() == bins && canary.len() == bins && observation.canary.latency.len() == bins {
        return Some(accumulate_latency(
            baseline,
            canary,
            &observation.baseline.latency,
            &observation.canary.latency,
            window_below,
            cumulative_below,
        ));
    }
    for (total, window) in [
        (baseline, &observation.baseline.latency),
        (canary, &observation.canary.latency),
    ] {
        for (total, count) in total.iter_mut().zip(window) {
            *total += count;
        }
    }
    None
}

fn evaluate_sequential(
    spec: &JudgeSpec,
    state: &mut JudgeState,
    observation: &Observation,
    cache: &mut LookCache,
    pass: Option<PassSums>,
) -> Verdict {
    let scales = spec
        .checks
        .latency
        .as_ref()
        .map(|latency| [1.0 + latency.max_increase, 1.0 + latency.promote_margin()]);
    let LookParts {
        values,
        values_ordered,
        scaled,
        window_below,
        quantiles,
        lattice,
    } = cache.parts(
        &observation.buckets,
        scales.as_ref().map_or(&[], |s| &s[..]),
    );
    let scaled_by = |scale: f64| {
        scaled
            .iter()
            .find(|(bits, ..)| *bits == scale.to_bits())
            .map_or(&[][..], |(_, values, _)| &values[..])
    };
    let positions_by = |scale: f64| {
        scaled
            .iter()
            .find(|(bits, ..)| *bits == scale.to_bits())
            .and_then(|(_, _, positions)| positions.as_ref())
    };
    let checks_spec = &spec.checks;
    let total_weight: f64 = checks_spec.latency.iter().map(|l| l.weight).sum::<f64>()
        + checks_spec.quantiles.iter().map(|q| q.weight).sum::<f64>()
        + checks_spec.errors.iter().map(|e| e.weight).sum::<f64>()
        + checks_spec.absolute.iter().map(|a| a.weight).sum::<f64>();
    let share = |weight: f64| spec.alpha * weight / total_weight.max(f64::MIN_POSITIVE);
    let mut checks = Vec::new();

    if let Some(latency) = &checks_spec.latency {
        let (window_baseline, window_canary) =
            (&observation.baseline.latency, &observation.canary.latency);
        // The window's rank merges from the pass's sums: what `update_scaled` computes when
        // its exact path applies (the same bits); otherwise it runs.
        let window = |scale: f64| {
            let arms = pass.as_ref()?.window?;
            window_sums(
                arms,
                positions_by(scale)?,
                window_below,
                window_baseline,
                window_canary,
            )
        };
        let increments = window(1.0 + latency.max_increase).and_then(|regress| {
            // With the default promote margin (= max_increase) both processes are one merge.
            let safe = if latency.promote_margin() == latency.max_increase {
                regress
            } else {
                window(1.0 + latency.promote_margin())?
            };
            Some((regress.increment(), safe.increment()))
        });
        match increments {
            Some((regress, safe)) => state.latency_shift.add(regress, safe),
            None => state.latency_shift.update_scaled(
                latency,
                values,
                values_ordered,
                scaled_by(1.0 + latency.max_increase),
                scaled_by(1.0 + latency.promote_margin()),
                window_baseline,
                window_canary,
            ),
        }
        checks.push(judge_latency_shift(
            latency,
            share(latency.weight),
            &state.latency_shift,
            values,
            values_ordered,
            state,
            lattice,
            pass.and_then(|pass| pass.cumulative),
        ));
    }
    for quantile in &checks_spec.quantiles {
        checks.push(judge_quantile_with(
            quantile,
            share(quantile.weight),
            values,
            &state.baseline.latency,
            &state.canary.latency,
            quantiles,
        ));
    }
    state
        .error_ratios
        .resize_with(checks_spec.errors.len(), ErrorRatioState::default);
    for (errors, ratio_state) in checks_spec.errors.iter().zip(state.error_ratios.iter_mut()) {
        if let Some(max_ratio) = errors.max_ratio {
            ratio_state.update(
                max_ratio,
                observation.canary.requests,
                observation.baseline.requests,
                observation.canary.errors(errors.kind),
                observation.baseline.errors(errors.kind),
            );
        }
        let totals = ErrorTotals {
            kind: errors.kind,
            baseline_requests: state.baseline.requests,
            canary_requests: state.canary.requests,
            baseline_errors: state.baseline.errors(errors.kind),
            canary_errors: state.canary.errors(errors.kind),
        };
        checks.push(judge_errors(
            errors,
            share(errors.weight),
            ratio_state,
            &totals,
        ));
    }
    for absolute in &checks_spec.absolute {
        let alpha = share(absolute.weight);
        match absolute.parsed_metric() {
            Ok(metric) => checks.push(judge_absolute_with(
                absolute,
                metric,
                alpha,
                values,
                &state.canary,
                quantiles,
            )),
            Err(error) => checks.push(CheckResult {
                outcome: Outcome::Inconclusive,
                ..CheckResult::no_data(
                    format!("absolute_{}", absolute.metric),
                    absolute.max,
                    alpha,
                    state.baseline.requests,
                    state.canary.requests,
                    format!("misconfigured: {error}"),
                )
            }),
        }
    }
    let overall = Outcome::combine(checks.iter().map(|c| c.outcome));
    let summary = summarize(overall, &checks, state);
    Verdict {
        overall,
        checks,
        summary,
    }
}

/// `cumulative`: `RankSums::exact_over_bins_with_arms` of the cumulative histograms when the
/// look's pass found it (computed here otherwise).
#[allow(clippy::too_many_arguments)]
fn judge_latency_shift(
    spec: &LatencyShiftSpec,
    alpha: f64,
    shift: &LatencyShiftState,
    values: &[f64],
    values_ordered: bool,
    state: &JudgeState,
    lattice: &mut Option<LatticeLevels>,
    cumulative: Option<(RankSums, Option<ArmSums>)>,
) -> CheckResult {
    let name = "latency_shift";
    // The evidence needs the checks `BinnedPair::from_counts` makes (equal lengths, finite
    // increasing values, finite non-negative counts), done here without copying the bins
    // (the values' once per bucket scheme, the counts' by branch-free folds that vectorise).
    let (baseline, canary) = (&state.baseline.latency, &state.canary.latency);
    let counts_valid = |counts: &[f64]| {
        counts
            .iter()
            .fold(true, |ok, c| ok & c.is_finite() & (*c >= 0.0))
    };
    let shape_valid =
        values.len() == baseline.len() && values.len() == canary.len() && values_ordered;
    // The same sums as `mann_whitney` on that pair (its arm sizes are the sequential sums
    // `latency_count` would recompute). The exact path accepts only whole counts in [0, 2^52),
    // so when it succeeds the counts need no further check.
    let (exact, arms) = match shape_valid
        .then(|| cumulative.or_else(|| RankSums::exact_over_bins_with_arms(baseline, canary)))
        .flatten()
    {
        Some((sums, arms)) => (Some(sums), arms),
        None => (None, None),
    };
    let valid =
        shape_valid && (exact.is_some() || (counts_valid(baseline) && counts_valid(canary)));
    let mw = valid
        .then(|| {
            exact
                .unwrap_or_else(|| RankSums::sequential_over_bins(baseline, canary))
                .finish()
        })
        .flatten();
    let (n_baseline, n_canary) = match &mw {
        Some(m) => (m.n_baseline as u64, m.n_canary as u64),
        None => (
            state.baseline.latency_count() as u64,
            state.canary.latency_count() as u64,
        ),
    };
    let threshold = 1.0 + spec.max_increase;
    let boundary = MixtureBoundary::new(spec, alpha);
    let Some(decision) = decide(&boundary, shift) else {
        return CheckResult::no_data(
            name,
            threshold,
            alpha,
            n_baseline,
            n_canary,
            format!(
                "no window yet with requests in both arms (baseline {n_baseline}, canary {n_canary})"
            ),
        );
    };
    // The exact lattice search on the bucket scheme (the same order statistics as
    // `hodges_lehmann_ratio` on these bins, without its real-valued bisections).
    let hl = state
        .buckets
        .as_ref()
        .filter(|_| valid)
        .and_then(|buckets| {
            hodges_lehmann_log_buckets_from(
                buckets,
                baseline,
                canary,
                HODGES_LEHMANN_CONFIDENCE,
                lattice,
                arms,
            )
        })
        .map(|h| HodgesLehmannEvidence {
            estimate: h.estimate,
            lower: h.lower,
            upper: h.upper,
        });
    let outcome = if decision.regressed {
        Outcome::Regressed
    } else if decision.safe {
        Outcome::Safe
    } else {
        Outcome::Inconclusive
    };
    let shift_text = hl
        .map(|h| {
            format!(
                "median ratio canary/baseline {:.3} [{:.3}, {:.3}] (Hodges-Lehmann, {:.0}%)",
                h.estimate,
                h.lower,
                h.upper,
                100.0 * HODGES_LEHMANN_CONFIDENCE
            )
        })
        .unwrap_or_else(|| "no Hodges-Lehmann estimate".to_string());
    let threshold_e = 1.0 / alpha;
    let margin_pct = 100.0 * spec.max_increase;
    let promote_pct = 100.0 * spec.promote_margin();
    let reason = match outcome {
        Outcome::Regressed => format!(
            "canary proven more than {margin_pct:.1}% slower: rank statistic {:.2}σ past the margin crosses the anytime boundary {:.2}σ (e-value {:.3e} ≥ {threshold_e:.0}); {shift_text}",
            decision.z_regress,
            decision.z_boundary,
            decision.log_e_regress.exp()
        ),
        Outcome::Safe => format!(
            "canary proven within {promote_pct:.1}% of baseline: rank statistic {:.2}σ below the margin crosses the boundary {:.2}σ (e-value {:.3e} ≥ {threshold_e:.0}); {shift_text}",
            -decision.z_safe,
            decision.z_boundary,
            decision.log_e_safe.exp()
        ),
        _ => format!(
            "hold: {shift_text}; rank statistic {:.2}σ vs margin {margin_pct:.1}% and {:.2}σ vs promote margin {promote_pct:.1}%, boundary {:.2}σ (e-values {:.2} / {:.2}, need {threshold_e:.0}); {n_canary} canary, {n_baseline} baseline requests",
            decision.z_regress,
            -decision.z_safe,
            decision.z_boundary,
            decision.log_e_regress.exp(),
            decision.log_e_safe.exp()
        ),
    };
    CheckResult {
        name: name.to_string(),
        outcome,
        estimate: hl.map(|h| h.estimate),
        interval: hl.map(|h| Interval {
            lower: h.lower,
            upper: h.upper,
        }),
        n_baseline,
        n_canary,
        threshold,
        statistic: Some(decision.z_regress),
        e_value: Some(decision.log_e_regress.exp()),
        e_value_safe: Some(decision.log_e_safe.exp()),
        alpha,
        reason,
        mann_whitney: mw.map(|m| MannWhitneyEvidence {
            u: m.u_canary,
            z: m.z_greater,
            p_value: m.p_greater,
            cles: m.cles,
            hodges_lehmann: hl,
        }),
    }
}

fn summarize(overall: Outcome, checks: &[CheckResult], state: &JudgeState) -> String {
    let counts = format!(
        "look {}, {} canary / {} baseline requests",
        state.looks, state.canary.requests, state.baseline.requests
    );
    let deciding: Vec<&CheckResult> = match overall {
        Outcome::Regressed => checks
            .iter()
            .filter(|c| c.outcome == Outcome::Regressed)
            .collect(),
        Outcome::Safe | Outcome::NoData => Vec::new(),
        Outcome::Inconclusive => checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Inconclusive | Outcome::NoData))
            .collect(),
    };
    let detail = deciding
        .iter()
        .map(|c| format!("{}: {}", c.name, c.reason))
        .collect::<Vec<_>>()
        .join(" | ");
    match overall {
        Outcome::Regressed => format!("REGRESSED ({counts}) — {detail}"),
        Outcome::Safe => format!(
            "SAFE ({counts}) — all {} checks proven within their limits",
            checks.len()
        ),
        Outcome::NoData => format!("NO DATA ({counts}) — nothing to judge yet; not a failure"),
        Outcome::Inconclusive => format!("INCONCLUSIVE, hold ({counts}) — waiting on {detail}"),
    }
}

fn evaluate_kayenta(
    spec: &JudgeSpec,
    state: &mut JudgeState,
    observation: &Observation,
    values: &[f64],
) -> Verdict {
    let Some(config) = &spec.kayenta else {
        return Verdict {
            overall: Outcome::Inconclusive,
            checks: Vec::new(),
            summary:
                "INCONCLUSIVE: method is kayenta but the policy has no `kayenta:` canary config"
                    .to_string(),
        };
    };
    if let Err(message) = append_kayenta_points(config, state, observation, values) {
        return Verdict {
            overall: Outcome::Inconclusive,
            checks: Vec::new(),
            summary: format!("INCONCLUSIVE: {message}"),
        };
    }
    let series: Vec<MetricSeries> = state
        .kayenta_series
        .iter()
        .map(KayentaSeries::to_metric_series)
        .collect();
    let result = match kayenta::judge(config, &series) {
        Ok(result) => result,
        Err(error) => {
            return Verdict {
                overall: Outcome::Inconclusive,
                checks: Vec::new(),
                summary: format!("INCONCLUSIVE: the Kayenta judge refused: {error}"),
            };
        }
    };
    let series_len = |name: &str| {
        let n = state
            .kayenta_series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.baseline.len() as u64)
            .unwrap_or(0);
        (n, n)
    };
    kayenta_verdict(
        config,
        &result,
        series_len,
        &format!("{} intervals", state.looks),
    )
}

/// Maps a Kayenta result to a [`Verdict`], for every path that judges Kayenta-style (the
/// `kayenta` method here, the Azure Monitor source): score Fail → Regressed, Marginal →
/// Inconclusive, Pass → Safe; every metric without data → NoData. `points` gives a metric's
/// (baseline, canary) point counts; `series` says what the points are, for the summary.
pub fn kayenta_verdict(
    config: &KayentaConfig,
    result: &kayenta::KayentaResult,
    points: impl Fn(&str) -> (u64, u64),
    series: &str,
) -> Verdict {
    let checks: Vec<CheckResult> = result
        .metrics
        .iter()
        .map(|metric| {
            let outcome = match metric.classification {
                Classification::High | Classification::Low | Classification::NodataFailMetric => {
                    Outcome::Regressed
                }
                Classification::Pass => Outcome::Safe,
                Classification::Nodata => Outcome::NoData,
                Classification::Error => Outcome::Inconclusive,
            };
            let (n_baseline, n_canary) = points(&metric.name);
            CheckResult {
                name: format!("kayenta_{}", metric.name),
                outcome,
                estimate: Some(metric.deviation),
                interval: metric.hodges_lehmann.as_ref().map(|h| Interval {
                    lower: h.lower,
                    upper: h.upper,
                }),
                n_baseline,
                n_canary,
                threshold: metric.effect_size.unwrap_or(f64::NAN),
                statistic: metric.p_value,
                e_value: None,
                e_value_safe: None,
                alpha: 1.0 - kayenta::KAYENTA_CONFIDENCE_LEVEL,
                reason: format!(
                    "{:?}{}: {} (canary/baseline mean ratio {:.3} over {n_canary}/{n_baseline} points)",
                    metric.classification,
                    if metric.muted { " (muted)" } else { "" },
                    metric.reason,
                    metric.deviation
                ),
                mann_whitney: None,
            }
        })
        .collect();
    let all_no_data = !checks.is_empty() && checks.iter().all(|c| c.outcome == Outcome::NoData);
    let overall = if all_no_data {
        Outcome::NoData
    } else {
        match result.classification {
            ScoreClassification::Fail => Outcome::Regressed,
            ScoreClassification::Marginal => Outcome::Inconclusive,
            ScoreClassification::Pass => Outcome::Safe,
        }
    };
    let thresholds = config.classifier.score_thresholds;
    let summary = format!(
        "{} (Kayenta score {:.2}: {:?}; pass ≥ {}, marginal ≥ {}; {series}){}",
        overall.label(),
        result.score,
        result.classification,
        thresholds.pass,
        thresholds.marginal,
        result
            .reason
            .as_ref()
            .map(|r| format!(" — {r}"))
            .unwrap_or_default()
    );
    Verdict {
        overall,
        checks,
        summary,
    }
}

fn append_kayenta_points(
    config: &KayentaConfig,
    state: &mut JudgeState,
    observation: &Observation,
    values: &[f64],
) -> Result<(), String> {
    for metric in &config.metrics {
        let baseline = kayenta_series_value(&metric.name, values, &observation.baseline);
        let canary = kayenta_series_value(&metric.name, values, &observation.canary);
        let (Some(baseline), Some(canary)) = (baseline, canary) else {
            return Err(format!(
                "Kayenta metric '{}' has no source in canaryd; name it one of {KAYENTA_SERIES}",
                metric.name
            ));
        };
        let (baseline, canary) = (finite(baseline), finite(canary));
        match state
            .kayenta_series
            .iter_mut()
            .find(|s| s.name == metric.name)
        {
            Some(series) => {
                series.baseline.push(baseline);
                series.canary.push(canary);
            }
            None => state.kayenta_series.push(KayentaSeries {
                name: metric.name.clone(),
                baseline: vec![baseline],
                canary: vec![canary],
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::observation::RequestSample;
    use crate::judge::spec::{
        AbsoluteSpec, ChecksSpec, ErrorRateSpec, LatencyShiftSpec, QuantileSpec,
    };
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal};

    fn buckets() -> LogBuckets {
        LogBuckets::new(1.0, 1.02, 600).expect("valid buckets")
    }

    fn samples(rng: &mut ChaCha8Rng, n: usize, median: f64, error_rate: f64) -> Vec<RequestSample> {
        let dist = LogNormal::new(median.ln(), 0.5).expect("valid");
        (0..n)
            .map(|_| {
                let failed = rng.random::<f64>() < error_rate;
                RequestSample {
                    latency_ms: dist.sample(rng),
                    status_code: Some(if failed { 500 } else { 200 }),
                    model_status_code: Some(if failed { 500 } else { 200 }),
                }
            })
            .collect()
    }

    fn run(
        spec: &JudgeSpec,
        looks: usize,
        seed: u64,
        canary_median: f64,
        canary_errors: f64,
    ) -> (Verdict, JudgeState) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut state = JudgeState::new();
        let mut verdict = None;
        for look in 0..looks {
            let baseline = samples(&mut rng, 900, 100.0, 0.01);
            let canary = samples(&mut rng, 100, canary_median, canary_errors);
            let observation = Observation::from_samples(
                buckets(),
                look as i64 * 60,
                (look as i64 + 1) * 60,
                &baseline,
                &canary,
            );
            verdict = Some(evaluate(spec, &mut state, &observation));
        }
        (verdict.expect("at least one look"), state)
    }

    #[test]
    fn slow_canary_is_regressed_with_evidence() {
        let spec = JudgeSpec::default();
        let (verdict, _) = run(&spec, 12, 1, 140.0, 0.01);
        assert_eq!(verdict.overall, Outcome::Regressed, "{}", verdict.summary);
        let latency = verdict
            .checks
            .iter()
            .find(|c| c.name == "latency_shift")
            .expect("latency check");
        let mw = latency.mann_whitney.expect("Mann-Whitney evidence");
        assert!(mw.p_value < 1e-6 && mw.z > 3.0, "{mw:?}");
        let hl = mw.hodges_lehmann.expect("HL");
        assert!(hl.lower > 1.2 && hl.upper < 1.6, "{hl:?}");
        assert!(verdict.summary.contains("latency_shift"));
        // Verdicts are journaled: infinite bounds and e-values must survive JSON.
        let json = serde_json::to_string(&verdict).expect("serializes");
        let back: Verdict = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.checks.len(), verdict.checks.len());
        let (read, written) = (
            back.checks[0].mann_whitney.expect("read back"),
            verdict.checks[0].mann_whitney.expect("written"),
        );
        assert!((read.z - written.z).abs() <= 1e-12 * written.z.abs());
        assert!(
            back.checks
                .iter()
                .any(|c| c.interval.is_some_and(|i| i.upper.is_infinite()))
                == verdict
                    .checks
                    .iter()
                    .any(|c| c.interval.is_some_and(|i| i.upper.is_infinite()))
        );
        assert_eq!(back.overall, verdict.overall);
    }

    #[test]
    fn latency_evidence_equals_the_binned_pair_path() {
        use crate::judge::histogram::BinnedPair;
        use crate::judge::hodges_lehmann::hodges_lehmann_ratio;
        use crate::judge::mann_whitney::mann_whitney;
        let spec = JudgeSpec::default();
        for (seed, median) in [(21, 100.0), (22, 125.0), (23, 90.0)] {
            let (verdict, state) = run(&spec, 4, seed, median, 0.01);
            let latency = verdict
                .checks
                .iter()
                .find(|c| c.name == "latency_shift")
                .expect("latency check");
            let evidence = latency.mann_whitney.expect("evidence");
            // What the check computed before: a validated pair, then the general algorithms.
            let pair = BinnedPair::from_counts(
                bucket_values(&buckets()),
                state.baseline.latency.clone(),
                state.canary.latency.clone(),
            )
            .expect("valid");
            let mw = mann_whitney(&pair).expect("data");
            assert_eq!(evidence.u, mw.u_canary);
            assert_eq!(evidence.z, mw.z_greater);
            assert_eq!(evidence.p_value, mw.p_greater);
            assert_eq!(evidence.cles, mw.cles);
            assert_eq!(latency.n_canary, mw.n_canary as u64);
            let general = hodges_lehmann_ratio(&pair, HODGES_LEHMANN_CONFIDENCE).expect("data");
            let lattice = evidence.hodges_lehmann.expect("HL");
            // Same order statistics; the values differ only by the general path's rounding of
            // ln v (bucket values are repeated products here), far below one 2% step.
            for (a, b) in [
                (general.estimate, lattice.estimate),
                (general.lower, lattice.lower),
                (general.upper, lattice.upper),
            ] {
                assert!((a - b).abs() <= 1e-9 * a, "{general:?} {lattice:?}");
            }
        }
    }

    /// The look's cached scaled values give the rank processes of `LatencyShiftState::update`
    /// (also with a promote margin of its own, so two scales), look after look.
    #[test]
    fn cached_look_gives_the_same_rank_processes() {
        let spec = JudgeSpec {
            checks: ChecksSpec {
                latency: Some(LatencyShiftSpec {
                    promote_margin: Some(0.03),
                    ..LatencyShiftSpec::default()
                }),
                ..ChecksSpec::default()
            },
            ..JudgeSpec::default()
        };
        let latency = spec.checks.latency.clone().expect("latency check");
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let mut state = JudgeState::new();
        let mut direct = LatencyShiftState::default();
        let values = bucket_values(&buckets());
        for look in 0..8 {
            let observation = Observation::from_samples(
                buckets(),
                look * 60,
                (look + 1) * 60,
                &samples(&mut rng, 900, 100.0, 0.01),
                &samples(&mut rng, 100, 104.0, 0.01),
            );
            evaluate(&spec, &mut state, &observation);
            direct.update(
                &latency,
                &values,
                &observation.baseline.latency,
                &observation.canary.latency,
            );
            assert_eq!(state.latency_shift, direct);
            assert_eq!(
                state.latency_shift.safe.s.to_bits(),
                direct.safe.s.to_bits()
            );
        }
    }

    /// Looks judged with the latency sums gathered in the accumulating pass give the verdicts
    /// and states of the separate paths, bit for bit: 600 generated rollouts of 6 looks over
    /// three bucket schemes, margins 0 (every canary bin tied to a baseline bin), 5% and 30%
    /// with promote margins of their own, sparse and dense whole counts, windows without
    /// canary or baseline traffic, and counts the exact paths refuse (fractional, negative,
    /// NaN, past 2^26).
    #[test]
    fn one_pass_look_equals_the_separate_paths_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(53);
        let schemes = [
            LogBuckets::new(0.1, 1.01, 400).expect("valid"),
            LogBuckets::new(1.0, 1.02, 257).expect("valid"),
            LogBuckets::new(2.0, 1.5, 31).expect("valid"),
        ];
        let (mut exact_windows, mut refused_windows) = (0, 0);
        for case in 0..600 {
            let buckets = schemes[case % 3].clone();
            let bins = buckets.len();
            let (max_increase, promote_margin) = [
                (0.0, None),
                (0.05, None),
                (0.05, Some(0.02)),
                (0.3, Some(0.0)),
            ][case % 4];
            let spec = JudgeSpec {
                checks: ChecksSpec {
                    latency: Some(LatencyShiftSpec {
                        max_increase,
                        promote_margin,
                        ..LatencyShiftSpec::default()
                    }),
                    quantiles: if case % 5 == 0 {
                        vec![QuantileSpec {
                            q: 0.9,
                            max_increase: 0.1,
                            weight: 1.0,
                        }]
                    } else {
                        Vec::new()
                    },
                    ..ChecksSpec::default()
                },
                ..JudgeSpec::default()
            };
            let (mut one_pass, mut separate) = (JudgeState::new(), JudgeState::new());
            for look in 0..6 {
                let mut arm = |requests: f64, occupancy: f64, scale: f64| -> ArmObservation {
                    let latency: Vec<f64> = (0..bins)
                        .map(|_| {
                            if rng.random::<f64>() < occupancy {
                                (rng.random::<f64>() * scale).floor()
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let total = latency.iter().sum::<f64>();
                    ArmObservation {
                        requests: if total.is_finite() { total as u64 } else { 0 },
                        model_errors: (requests * 0.01) as u64,
                        latency,
                        ..ArmObservation::default()
                    }
                };
                let mut baseline = arm(5_000.0, [1.0, 0.3, 0.05][look % 3], 40.0);
                let mut canary = arm(500.0, [0.6, 1.0, 0.1][case % 3], 6.0);
                match (case + look) % 9 {
                    0 => canary.latency.fill(0.0),
                    1 => baseline.latency.fill(0.0),
                    2 => canary.latency[case % bins] = 0.5,
                    3 => baseline.latency[look % bins] = -1.0,
                    4 => canary.latency[bins / 2] = f64::NAN,
                    5 => baseline.latency[bins - 1] = 67_108_864.0,
                    6 => canary.latency[0] = 3e7,
                    _ => {}
                }
                let observation = Observation {
                    window_start_unix_s: look as i64 * 60,
                    window_end_unix_s: (look as i64 + 1) * 60,
                    buckets: buckets.clone(),
                    baseline,
                    canary,
                };
                let ours = evaluate_with(&spec, &mut one_pass, &observation, true);
                let reference = evaluate_with(&spec, &mut separate, &observation, false);
                assert_eq!(
                    format!("{ours:?}"),
                    format!("{reference:?}"),
                    "case {case} look {look}"
                );
                assert_eq!(
                    serde_json::to_string(&one_pass).expect("serializes"),
                    serde_json::to_string(&separate).expect("serializes"),
                    "case {case} look {look}"
                );
                assert_eq!(
                    (
                        one_pass.latency_shift.regress.s.to_bits(),
                        one_pass.latency_shift.regress.v.to_bits(),
                        one_pass.latency_shift.safe.s.to_bits(),
                        one_pass.latency_shift.safe.v.to_bits(),
                    ),
                    (
                        separate.latency_shift.regress.s.to_bits(),
                        separate.latency_shift.regress.v.to_bits(),
                        separate.latency_shift.safe.s.to_bits(),
                        separate.latency_shift.safe.v.to_bits(),
                    )
                );
                let whole = |counts: &[f64]| {
                    counts
                        .iter()
                        .all(|c| (0.0..67_108_864.0).contains(c) && c.fract() == 0.0)
                };
                if whole(&observation.baseline.latency) && whole(&observation.canary.latency) {
                    exact_windows += 1;
                } else {
                    refused_windows += 1;
                }
            }
        }
        assert!(
            exact_windows > 1_500 && refused_windows > 500,
            "{exact_windows} {refused_windows}"
        );
    }

    #[test]
    fn identical_arms_are_not_regressed() {
        let spec = JudgeSpec::default();
        let (verdict, state) = run(&spec, 12, 2, 100.0, 0.01);
        assert_ne!(verdict.overall, Outcome::Regressed, "{}", verdict.summary);
        assert_eq!(state.looks, 12);
        assert_eq!(state.canary.requests, 1200);
        // The alpha split adds up to the family-wise alpha.
        let total: f64 = verdict.checks.iter().map(|c| c.alpha).sum();
        assert!((total - spec.alpha).abs() < 1e-12);
    }

    #[test]
    fn tail_only_change_is_caught_by_the_quantile_check_not_the_shift_check() {
        let spec = JudgeSpec::default();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let body = LogNormal::new(100.0_f64.ln(), 0.3).expect("valid");
        let tail = LogNormal::new(500.0_f64.ln(), 0.2).expect("valid");
        let mut state = JudgeState::new();
        let mut verdict = None;
        for look in 0..10 {
            let baseline: Vec<RequestSample> = (0..2_000)
                .map(|_| RequestSample::ok(body.sample(&mut rng)))
                .collect();
            // 3% of the canary's requests are five times slower; the rest is unchanged.
            let canary: Vec<RequestSample> = (0..1_000)
                .map(|i| {
                    RequestSample::ok(if i % 100 < 3 {
                        tail.sample(&mut rng)
                    } else {
                        body.sample(&mut rng)
                    })
                })
                .collect();
            let observation = Observation::from_samples(
                buckets(),
                look * 60,
                (look + 1) * 60,
                &baseline,
                &canary,
            );
            verdict = Some(evaluate(&spec, &mut state, &observation));
        }
        let verdict = verdict.expect("looks");
        let outcome = |name: &str| {
            verdict
                .checks
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.outcome)
                .expect("check present")
        };
        assert_eq!(
            outcome("latency_p99"),
            Outcome::Regressed,
            "{}",
            verdict.summary
        );
        assert_ne!(
            outcome("latency_shift"),
            Outcome::Regressed,
            "{}",
            verdict.summary
        );
        assert_eq!(verdict.overall, Outcome::Regressed);
    }

    #[test]
    fn model_errors_zero_on_baseline_are_caught() {
        let spec = JudgeSpec {
            checks: ChecksSpec {
                latency: None,
                quantiles: Vec::new(),
                errors: vec![ErrorRateSpec {
                    kind: ErrorKind::Model,
                    max_ratio: Some(2.0),
                    max_increase_pp: None,
                    weight: 1.0,
                }],
                absolute: Vec::new(),
            },
            ..JudgeSpec::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut state = JudgeState::new();
        let baseline = samples(&mut rng, 1900, 100.0, 0.0);
        let canary = samples(&mut rng, 100, 100.0, 0.08);
        let observation = Observation::from_samples(buckets(), 0, 60, &baseline, &canary);
        let verdict = evaluate(&spec, &mut state, &observation);
        assert_eq!(verdict.overall, Outcome::Regressed, "{}", verdict.summary);
    }

    #[test]
    fn no_canary_traffic_is_no_data_not_failure() {
        let spec = JudgeSpec::default();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut state = JudgeState::new();
        let baseline = samples(&mut rng, 500, 100.0, 0.01);
        let observation = Observation::from_samples(buckets(), 0, 60, &baseline, &[]);
        let verdict = evaluate(&spec, &mut state, &observation);
        assert_eq!(verdict.overall, Outcome::NoData, "{}", verdict.summary);
    }

    #[test]
    fn state_round_trips_and_resumes_identically() {
        let spec = JudgeSpec {
            checks: ChecksSpec {
                absolute: vec![AbsoluteSpec {
                    metric: "p99_ms".to_string(),
                    max: 1000.0,
                    weight: 1.0,
                }],
                quantiles: vec![QuantileSpec {
                    q: 0.9,
                    max_increase: 0.1,
                    weight: 1.0,
                }],
                ..ChecksSpec::default()
            },
            ..JudgeSpec::default()
        };
        let (_, state) = run(&spec, 3, 5, 100.0, 0.01);
        let json = serde_json::to_string(&state).expect("serializes");
        let mut restored: JudgeState = serde_json::from_str(&json).expect("deserializes");
        let mut original = state.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let observation = Observation::from_samples(
            buckets(),
            0,
            60,
            &samples(&mut rng, 900, 100.0, 0.01),
            &samples(&mut rng, 100, 100.0, 0.01),
        );
        assert_eq!(
            evaluate(&spec, &mut original, &observation),
            evaluate(&spec, &mut restored, &observation)
        );
    }

    #[test]
    fn changed_buckets_are_refused() {
        let spec = JudgeSpec::default();
        let (_, mut state) = run(&spec, 1, 7, 100.0, 0.01);
        let other = LogBuckets::new(1.0, 1.05, 300).expect("valid");
        let observation = Observation::from_samples(
            other,
            0,
            60,
            &[RequestSample::ok(5.0)],
            &[RequestSample::ok(5.0)],
        );
        let verdict = evaluate(&spec, &mut state, &observation);
        assert_eq!(verdict.overall, Outcome::Inconclusive);
        assert_eq!(state.looks, 1, "a refused look is not counted");
    }

    #[test]
    fn kayenta_method_judges_per_interval_series() {
        let spec: JudgeSpec = serde_yaml_ng::from_str(
            "method: kayenta\nkayenta:\n  metrics:\n    - name: latency_p90\n      groups: [latency]\n      analysisConfigurations:\n        canary: {direction: increase, critical: true}\n    - name: error_rate\n      groups: [errors]\n      analysisConfigurations:\n        canary: {direction: increase}\n  classifier:\n    groupWeights: {latency: 50, errors: 50}\n    scoreThresholds: {pass: 75, marginal: 50}\n",
        )
        .expect("parses");
        spec.validate().expect("valid");
        let (slow, state) = run(&spec, 10, 8, 150.0, 0.01);
        assert_eq!(slow.overall, Outcome::Regressed, "{}", slow.summary);
        assert_eq!(state.kayenta_series.len(), 2);
        assert_eq!(state.kayenta_series[0].canary.len(), 10);
        // The state survives a JSON journal (missing points as null; serde_json's default
        // float parsing may differ in the last bit, hence the tolerance).
        let journaled: JudgeState =
            serde_json::from_str(&serde_json::to_string(&state).expect("serializes"))
                .expect("reads back");
        for (read, written) in journaled.kayenta_series.iter().zip(&state.kayenta_series) {
            assert_eq!(read.name, written.name);
            for (a, b) in read.canary.iter().zip(&written.canary) {
                assert!(
                    a.zip(*b)
                        .is_none_or(|(a, b)| (a - b).abs() <= 1e-12 * b.abs()),
                    "{a:?} {b:?}"
                );
            }
        }
        assert!(
            slow.checks
                .iter()
                .any(|c| c.name == "kayenta_latency_p90" && c.outcome == Outcome::Regressed)
        );
        let (same, _) = run(&spec, 10, 9, 100.0, 0.01);
        assert_ne!(same.overall, Outcome::Regressed, "{}", same.summary);
        let unknown: JudgeSpec = serde_yaml_ng::from_str(
            "method: kayenta\nkayenta:\n  metrics: [{name: cpu}]\n  classifier: {scoreThresholds: {pass: 75, marginal: 50}}\n",
        )
        .expect("parses");
        let error = unknown.validate().expect_err("cpu has no source");
        assert!(error.to_string().contains("latency_pNN"), "{error}");
    }

    #[test]
    fn kayenta_series_values() {
        let values = bucket_values(&buckets());
        let arm = ArmObservation::from_samples(
            &buckets(),
            &[RequestSample::ok(10.0), RequestSample::ok(20.0)],
        );
        let mean = kayenta_series_value("latency_mean", &values, &arm).expect("known");
        assert!((mean - 15.0).abs() < 0.5, "{mean}");
        assert_eq!(kayenta_series_value("error_rate", &values, &arm), Some(0.0));
        assert!(kayenta_series_value("cpu", &values, &arm).is_none());
        let p99 = kayenta_series_value("latency_p99", &values, &arm).expect("known");
        assert!((p99 / 20.0 - 1.0).abs() < 0.03, "{p99}");
    }
}
