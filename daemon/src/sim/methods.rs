//! The methods compared side by side. Each gives a [`Verdict`] per look that drives the same
//! rollout state machine:
//!
//! * `policy`: the policy's own judge (`judge::evaluate`).
//! * `kayenta-style`: fixed-horizon tests re-run on the cumulative data at every look, each
//!   check at level a / checks (Bonferroni); Regressed when any rejects, otherwise Safe.
//! * `pocock`: the same statistics at Pocock's constant nominal level for K planned looks;
//!   after look K it can no longer reject (Inconclusive).
//! * `oracle`: Wald's SPRT knowing the true baseline and canary distributions.

use std::str::FromStr;
use std::sync::Arc;

use crate::judge::binomial::binomial_sf;
use crate::judge::histogram::BinnedPair;
use crate::judge::mann_whitney::{mann_whitney, normal_sf};
use crate::judge::observation::{ArmObservation, ErrorKind, Observation};
use crate::judge::spec::{AbsoluteMetric, JudgeSpec};
use crate::judge::{CheckResult, JudgeState, Outcome, Verdict, evaluate};

use super::pocock::{Sides, pocock_constant};
use super::traffic::IntervalModel;

/// A method's name on the command line and in results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MethodKind {
    Policy,
    KayentaStyle,
    Pocock,
    Oracle,
}

impl MethodKind {
    pub const ALL: [MethodKind; 4] = [
        MethodKind::Policy,
        MethodKind::KayentaStyle,
        MethodKind::Pocock,
        MethodKind::Oracle,
    ];

    pub fn label(self) -> &'static str {
        match self {
            MethodKind::Policy => "policy",
            MethodKind::KayentaStyle => "kayenta-style",
            MethodKind::Pocock => "pocock",
            MethodKind::Oracle => "oracle",
        }
    }
}

impl FromStr for MethodKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MethodKind::ALL
            .into_iter()
            .find(|m| m.label() == text.trim())
            .ok_or_else(|| {
                format!(
                    "unknown method {text:?}; the methods are {}",
                    MethodKind::ALL.map(MethodKind::label).join(", ")
                )
            })
    }
}

/// p-values of the fixed-horizon tests, one per check of the policy, on cumulative data.
/// Each is the one-sided p-value for "the canary is worse than the check allows".
pub fn fixed_horizon_p_values(
    spec: &JudgeSpec,
    log_values: &[f64],
    values: &[f64],
    baseline: &ArmObservation,
    canary: &ArmObservation,
) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let checks = &spec.checks;
    if let Some(latency) = &checks.latency {
        // Mann-Whitney of canary/(1 + margin) against the baseline, on ln(latency).
        let p = BinnedPair::from_counts(
            log_values.to_vec(),
            baseline.latency.clone(),
            canary.latency.clone(),
        )
        .ok()
        .map(|pair| pair.canary_shifted(-(1.0 + latency.max_increase).ln()))
        .and_then(|pair| mann_whitney(&pair))
        .map_or(1.0, |mw| mw.p_greater);
        out.push(("latency_shift".to_string(), p));
    }
    for quantile in &checks.quantiles {
        // Canary requests above (1 + margin) × the baseline's q-quantile: under the null at
        // most a share 1 − q of them.
        let p = match histogram_quantile(values, &baseline.latency, quantile.q) {
            Some(baseline_q) => {
                let limit = baseline_q * (1.0 + quantile.max_increase);
                exceedance_p_value(values, &canary.latency, limit, 1.0 - quantile.q)
            }
            None => 1.0,
        };
        out.push((format!("latency_p{}", quantile.q * 100.0), p));
    }
    for error in &checks.errors {
        let (c, n_c) = (canary.errors(error.kind), canary.requests);
        let (b, n_b) = (baseline.errors(error.kind), baseline.requests);
        let p = if n_c == 0 || n_b == 0 {
            1.0
        } else if let Some(ratio) = error.max_ratio {
            // Conditional binomial: given c + b errors, the canary's share under a rate ratio
            // of exactly `ratio`.
            let share = ratio * n_c as f64 / (ratio * n_c as f64 + n_b as f64);
            binomial_sf(c, c + b, share)
        } else {
            let limit = b as f64 / n_b as f64 + error.max_increase_pp.unwrap_or(0.0) / 100.0;
            binomial_sf(c, n_c, limit.min(1.0))
        };
        out.push((format!("errors_{}", error.kind.label()), p));
    }
    for absolute in &checks.absolute {
        let p = match absolute.parsed_metric() {
            Ok(AbsoluteMetric::LatencyQuantileMs(q)) => {
                exceedance_p_value(values, &canary.latency, absolute.max, 1.0 - q)
            }
            Ok(AbsoluteMetric::ErrorRate(kind)) => {
                let errors = match kind {
                    ErrorKind::All => canary.errors_5xx + canary.model_errors,
                    kind => canary.errors(kind),
                };
                binomial_sf(errors, canary.requests, absolute.max.clamp(0.0, 1.0))
            }
            Err(_) => 1.0,
        };
        out.push((format!("absolute_{}", absolute.metric), p));
    }
    out
}

/// The q-quantile of a histogram (the value of the bucket where the cumulative count reaches
/// q·n); None when empty.
fn histogram_quantile(values: &[f64], counts: &[f64], q: f64) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let target = q * total;
    let mut seen = 0.0;
    for (value, count) in values.iter().zip(counts) {
        seen += count;
        if seen >= target {
            return Some(*value);
        }
    }
    values.last().copied()
}

/// P(Bin(n, share) ≥ k) for the k canary requests above `limit`.
fn exceedance_p_value(values: &[f64], counts: &[f64], limit: f64, share: f64) -> f64 {
    let n: f64 = counts.iter().sum();
    let above: f64 = values
        .iter()
        .zip(counts)
        .filter(|(v, _)| **v > limit)
        .map(|(_, c)| c)
        .sum();
    binomial_sf(above as u64, n as u64, share)
}

/// Shared inputs of every method for one scenario.
#[derive(Debug, Clone)]
pub struct MethodContext {
    pub spec: JudgeSpec,
    /// Bucket representative values and their logarithms.
    pub values: Arc<Vec<f64>>,
    pub log_values: Arc<Vec<f64>>,
    /// Kayenta-style per-look level (split over checks by Bonferroni).
    pub kayenta_level: f64,
    /// Pocock: planned looks and the per-look, per-check nominal level.
    pub pocock_looks: usize,
    pub pocock_level: f64,
    /// Oracle SPRT error rates.
    pub oracle_alpha: f64,
    pub oracle_beta: f64,
}

impl MethodContext {
    /// `pocock_looks` = the looks in the plan's minimum duration.
    pub fn new(
        spec: &JudgeSpec,
        values: Vec<f64>,
        kayenta_level: f64,
        pocock_looks: usize,
    ) -> Self {
        let checks = check_count(spec).max(1);
        let constant = pocock_constant(pocock_looks.max(1), spec.alpha / checks as f64, Sides::One);
        let log_values = values.iter().map(|v| v.ln()).collect();
        MethodContext {
            spec: spec.clone(),
            values: Arc::new(values),
            log_values: Arc::new(log_values),
            kayenta_level,
            pocock_looks,
            pocock_level: normal_sf(constant),
            oracle_alpha: spec.alpha,
            oracle_beta: 0.2,
        }
    }
}

/// Number of checks in a judge spec.
pub fn check_count(spec: &JudgeSpec) -> usize {
    let c = &spec.checks;
    usize::from(c.latency.is_some()) + c.quantiles.len() + c.errors.len() + c.absolute.len()
}

/// One method's state over one rollout.
#[derive(Debug, Clone)]
pub struct MethodState {
    pub kind: MethodKind,
    baseline: ArmObservation,
    canary: ArmObservation,
    looks: usize,
    /// Smallest Bonferroni-adjusted p-value seen (fixed-horizon methods): the run rejects at
    /// any per-look level above it.
    pub min_adjusted_p: f64,
    /// Oracle: log-likelihood ratio so far and whether it has stopped for H0.
    llr: f64,
    accepted_null: bool,
}

impl MethodState {
    pub fn new(kind: MethodKind) -> Self {
        MethodState {
            kind,
            baseline: ArmObservation::default(),
            canary: ArmObservation::default(),
            looks: 0,
            min_adjusted_p: 1.0,
            llr: 0.0,
            accepted_null: false,
        }
    }

    /// The verdict at this look; `judge` is the rollout's judge state (the policy method's).
    pub fn look(
        &mut self,
        context: &MethodContext,
        judge: &mut JudgeState,
        observation: &Observation,
        model: &IntervalModel,
    ) -> Verdict {
        self.looks += 1;
        if self.kind == MethodKind::Policy {
            return evaluate(&context.spec, judge, observation);
        }
        // A fixed-horizon comparison needs both arms over the same interval: once the baseline
        // serves nothing (the bake after promotion), comparing new canary requests with old
        // baseline requests would blame the canary for any drift since, so such windows add
        // nothing and decide nothing (Kayenta has no baseline series to compare then either).
        if matches!(self.kind, MethodKind::KayentaStyle | MethodKind::Pocock)
            && (observation.baseline.requests == 0 || observation.canary.requests == 0)
        {
            return verdict(
                Outcome::Inconclusive,
                Vec::new(),
                "an arm served no requests in this window: nothing to compare",
            );
        }
        self.baseline.accumulate(&observation.baseline);
        self.canary.accumulate(&observation.canary);
        if self.baseline.requests == 0 || self.canary.requests == 0 {
            return verdict(Outcome::NoData, Vec::new(), "an arm has no requests yet");
        }
        match self.kind {
            MethodKind::KayentaStyle | MethodKind::Pocock => self.fixed_horizon(context),
            MethodKind::Oracle => self.oracle(context, observation, model),
            MethodKind::Policy => unreachable!("handled above"),
        }
    }

    fn fixed_horizon(&mut self, context: &MethodContext) -> Verdict {
        let p_values = fixed_horizon_p_values(
            &context.spec,
            &context.log_values,
            &context.values,
            &self.baseline,
            &self.canary,
        );
        let checks = p_values.len().max(1) as f64;
        let (level, can_reject) = match self.kind {
            MethodKind::Pocock => (context.pocock_level, self.looks <= context.pocock_looks),
            _ => (context.kayenta_level / checks, true),
        };
        let min_p = p_values.iter().map(|(_, p)| *p).fold(1.0, f64::min);
        if can_reject {
            self.min_adjusted_p = self.min_adjusted_p.min(min_p * checks);
        }
        let results: Vec<CheckResult> = p_values
            .iter()
            .map(|(name, p)| {
                let outcome = if can_reject && *p < level {
                    Outcome::Regressed
                } else if can_reject {
                    Outcome::Safe
                } else {
                    Outcome::Inconclusive
                };
                let mut check = CheckResult::no_data(
                    name.clone(),
                    level,
                    level,
                    self.baseline.requests,
                    self.canary.requests,
                    format!("p = {p:.3e} against {level:.3e} per look"),
                );
                check.outcome = outcome;
                check.statistic = Some(*p);
                check
            })
            .collect();
        let overall = Outcome::combine(results.iter().map(|c| c.outcome));
        let summary = if can_reject {
            format!("smallest p = {min_p:.3e} (level {level:.3e} per look and check)")
        } else {
            format!(
                "past the {} planned looks: no more rejections",
                context.pocock_looks
            )
        };
        verdict(overall, results, summary)
    }

    fn oracle(
        &mut self,
        context: &MethodContext,
        observation: &Observation,
        model: &IntervalModel,
    ) -> Verdict {
        let canary = &observation.canary;
        let latency: f64 = canary
            .latency
            .iter()
            .zip(model.oracle_log_ratio.iter())
            .filter(|(c, _)| **c > 0.0)
            .map(|(c, r)| c * r)
            .sum();
        let (h0, h1) = (&model.oracle_null_errors, &model.oracle_errors);
        let ok = canary.requests - canary.model_errors - canary.errors_5xx - canary.throttled;
        let term = |count: u64, p0: f64, p1: f64| {
            if count == 0 || p0 == p1 {
                0.0
            } else {
                count as f64 * (p1.max(1e-300).ln() - p0.max(1e-300).ln())
            }
        };
        let errors = term(canary.model_errors, h0.model, h1.model)
            + term(canary.errors_5xx, h0.gateway_5xx, h1.gateway_5xx)
            + term(canary.throttled, h0.throttled, h1.throttled)
            + term(
                ok,
                1.0 - h0.model - h0.gateway_5xx - h0.throttled,
                1.0 - h1.model - h1.gateway_5xx - h1.throttled,
            );
        self.llr += latency + errors;
        let (alpha, beta) = (context.oracle_alpha, context.oracle_beta);
        let upper = ((1.0 - beta) / alpha).ln();
        let lower = (beta / (1.0 - alpha)).ln();
        if self.llr <= lower {
            self.accepted_null = true;
        }
        let overall = if self.llr >= upper {
            Outcome::Regressed
        } else if self.accepted_null {
            Outcome::Safe
        } else {
            Outcome::Inconclusive
        };
        let summary = format!(
            "log-likelihood ratio {:.3} (reject at {upper:.3}, accept at {lower:.3})",
            self.llr
        );
        verdict(overall, Vec::new(), summary)
    }
}

fn verdict(overall: Outcome, checks: Vec<CheckResult>, summary: impl Into<String>) -> Verdict {
    Verdict {
        overall,
        checks,
        summary: summary.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for kind in MethodKind::ALL {
            assert_eq!(kind.label().parse::<MethodKind>(), Ok(kind));
        }
        assert!("kayenta".parse::<MethodKind>().is_err());
    }

    #[test]
    fn histogram_quantile_and_exceedance() {
        let values = [1.0, 2.0, 3.0, 4.0];
        let counts = [10.0, 10.0, 10.0, 70.0];
        assert_eq!(histogram_quantile(&values, &counts, 0.25), Some(3.0));
        assert_eq!(histogram_quantile(&values, &counts, 0.2), Some(2.0));
        // 70 of 100 above 3.5 where at most 1% should be: overwhelming evidence.
        assert!(exceedance_p_value(&values, &counts, 3.5, 0.01) < 1e-10);
        // None above 10: no evidence.
        assert_eq!(exceedance_p_value(&values, &counts, 10.0, 0.01), 1.0);
    }
}
