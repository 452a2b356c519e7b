//! Scenario files: named descriptions of an endpoint's traffic and of how the canary differs
//! from the baseline (daemon/docs/simulate.md).
//!
//! ```yaml
//! scenarios:
//!   - name: latency-1.25x
//!     rate: { steady: { rps: 30 } }
//!     latency: { lognormal: { median_ms: 120, sigma: 0.5 } }
//!     errors: { model: 0.005 }
//!     canary: { latency_multiplier: 1.25 }
//! ```
//!
//! Unknown fields are errors; every error names file:line and the fix, like the policy loader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::duration::serde_duration;
use crate::policy::locate;

/// A scenario file that could not be loaded: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message} — fix: {fix}", path.display(), position.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub fix: String,
}

/// The file: one or more scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenarios: Vec<Scenario>,
}

/// One scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Requests per second reaching the endpoint (both arms together).
    #[serde(with = "serde_yaml_ng::with::singleton_map")]
    pub rate: RateSpec,
    /// The baseline's latency distribution (the canary's before onset).
    #[serde(with = "serde_yaml_ng::with::singleton_map")]
    pub latency: LatencySpec,
    /// Per-request error probabilities of the baseline (and of the canary unless it overrides).
    #[serde(default)]
    pub errors: ErrorRates,
    /// How the canary differs; absent (or all defaults) for an A/A scenario.
    #[serde(default)]
    pub canary: CanaryDifference,
    /// Latency change over time that hits both arms alike.
    #[serde(default)]
    pub drift: Option<DriftSpec>,
    /// The alternative the oracle tests on an A/A scenario (it has no true regression to know).
    #[serde(default)]
    pub oracle_alternative: Option<OracleAlternative>,
    /// What a good judge does with this canary. Defaults to `promote` for an A/A scenario and
    /// `roll_back` otherwise; `promote` on a canary that differs states that the difference is
    /// within the policy's margins (e.g. exactly 5% slower under a 5% latency margin), so any
    /// judge rollback is a false rollback.
    #[serde(default)]
    pub expect: Option<Expectation>,
}

/// What a good judge does with a scenario's canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    Promote,
    RollBack,
}

/// Request rate over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RateSpec {
    /// The same rate all day.
    Steady { rps: f64 },
    /// rps · (1 + amplitude · sin(2π t / period)), the rollout starting at a random phase.
    Diurnal {
        rps: f64,
        amplitude: f64,
        #[serde(with = "serde_duration", default = "one_day")]
        period: Duration,
    },
    /// rps, but each interval is a burst with probability `probability`, at `multiplier` × rps.
    Bursty {
        rps: f64,
        multiplier: f64,
        probability: f64,
    },
}

fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// A latency distribution (milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LatencySpec {
    /// ln(latency) ~ N(ln median, sigma²).
    Lognormal { median_ms: f64, sigma: f64 },
    /// A log-normal body; a fraction `tail_fraction` of requests instead follows a Pareto tail
    /// with index `tail_index`, starting at the body's (1 − tail_fraction) quantile.
    HeavyTail {
        median_ms: f64,
        sigma: f64,
        tail_fraction: f64,
        tail_index: f64,
    },
    /// A mixture of log-normals, e.g. cache hits and misses.
    Bimodal { components: Vec<MixtureComponent> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixtureComponent {
    pub weight: f64,
    pub median_ms: f64,
    pub sigma: f64,
}

/// Per-request probabilities of each error kind (a request has at most one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRates {
    #[serde(default)]
    pub model: f64,
    #[serde(default)]
    pub gateway_5xx: f64,
    #[serde(default)]
    pub throttled: f64,
}

/// The canary's error rates where they differ from the baseline's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorOverrides {
    #[serde(default)]
    pub model: Option<f64>,
    #[serde(default)]
    pub gateway_5xx: Option<f64>,
    #[serde(default)]
    pub throttled: Option<f64>,
}

/// How the canary differs from the baseline after `onset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryDifference {
    /// Every canary latency multiplied by this.
    #[serde(default = "one")]
    pub latency_multiplier: f64,
    /// Only latencies above a baseline quantile multiplied.
    #[serde(default)]
    pub tail: Option<TailChange>,
    #[serde(default)]
    pub errors: ErrorOverrides,
    /// Time after the rollout starts when the difference begins; before it the canary equals
    /// the baseline.
    #[serde(with = "serde_duration", default = "zero")]
    pub onset: Duration,
}

impl Default for CanaryDifference {
    fn default() -> Self {
        CanaryDifference {
            latency_multiplier: 1.0,
            tail: None,
            errors: ErrorOverrides::default(),
            onset: Duration::ZERO,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn zero() -> Duration {
    Duration::ZERO
}

/// Latencies above the baseline's `above_quantile` multiplied by `multiplier`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailChange {
    pub above_quantile: f64,
    pub multiplier: f64,
}

/// Common drift: both arms' latencies multiplied by a factor that ramps linearly from 1 at the
/// rollout's start to `latency_multiplier` after `over`, then stays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    pub latency_multiplier: f64,
    #[serde(with = "serde_duration")]
    pub over: Duration,
}

/// The regression the oracle's SPRT tests against on an A/A scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleAlternative {
    #[serde(default = "one")]
    pub latency_multiplier: f64,
    /// Canary model-error rate as a multiple of the baseline's.
    #[serde(default = "one")]
    pub error_ratio: f64,
}

impl Scenario {
    /// True when the canary never differs from the baseline.
    pub fn is_aa(&self) -> bool {
        let c = &self.canary;
        c.latency_multiplier == 1.0
            && c.tail.is_none_or(|t| t.multiplier == 1.0)
            && [
                (c.errors.model, self.errors.model),
                (c.errors.gateway_5xx, self.errors.gateway_5xx),
                (c.errors.throttled, self.errors.throttled),
            ]
            .iter()
            .all(|(over, base)| over.is_none_or(|o| o == *base))
    }

    /// True when the canary should be promoted: every judge rollback is a false rollback.
    pub fn is_acceptable(&self) -> bool {
        self.expect
            .map_or(self.is_aa(), |expect| expect == Expectation::Promote)
    }

    /// The canary's error rates after onset.
    pub fn canary_errors(&self) -> ErrorRates {
        let o = &self.canary.errors;
        ErrorRates {
            model: o.model.unwrap_or(self.errors.model),
            gateway_5xx: o.gateway_5xx.unwrap_or(self.errors.gateway_5xx),
            throttled: o.throttled.unwrap_or(self.errors.throttled),
        }
    }
}

/// A semantic problem: the field's key path, what is wrong and the fix.
struct Problem {
    field: String,
    message: String,
    fix: String,
}

fn problem(field: String, message: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
        fix: fix.into(),
    }
}

/// Reads, parses and validates a scenario file.
pub fn load_file(path: &Path) -> Result<ScenarioFile, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the scenario file: {error}"),
        fix: "check the path and its permissions (and that it is UTF-8 text)".into(),
    })?;
    parse_str(&text, path)
}

/// Parses and validates scenario text; `path` names it in errors.
pub fn parse_str(text: &str, path: &Path) -> Result<ScenarioFile, ScenarioError> {
    let file: ScenarioFile = serde_yaml_ng::from_str(text).map_err(|error| ScenarioError {
        path: path.to_path_buf(),
        position: error.location().map(|l| (l.line(), l.column())),
        message: error.to_string(),
        fix: "see daemon/docs/simulate.md for the scenario format (unknown fields are errors)"
            .into(),
    })?;
    validate(&file).map_err(|p| ScenarioError {
        path: path.to_path_buf(),
        position: locate::locate(text, &p.field),
        message: format!("{}: {}", p.field, p.message),
        fix: p.fix,
    })?;
    Ok(file)
}

fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

fn probability(value: f64) -> bool {
    (0.0..1.0).contains(&value)
}

fn validate(file: &ScenarioFile) -> Result<(), Problem> {
    if file.scenarios.is_empty() {
        return Err(problem(
            "scenarios".into(),
            "no scenarios",
            "add at least one scenario under `scenarios:`",
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in file.scenarios.iter().enumerate() {
        let at = |field: &str| format!("scenarios[{i}].{field}");
        if s.name.trim().is_empty() || !names.insert(s.name.clone()) {
            return Err(problem(
                at("name"),
                format!("scenario name {:?} is empty or used twice", s.name),
                "give every scenario its own non-empty name",
            ));
        }
        validate_rate(&s.rate).map_err(|(f, m, x)| problem(at(&format!("rate.{f}")), m, x))?;
        validate_latency(&s.latency)
            .map_err(|(f, m, x)| problem(at(&format!("latency.{f}")), m, x))?;
        let c = &s.canary;
        for (field, value) in [
            ("errors.model", s.errors.model),
            ("errors.gateway_5xx", s.errors.gateway_5xx),
            ("errors.throttled", s.errors.throttled),
            ("canary.errors.model", c.errors.model.unwrap_or(0.0)),
            (
                "canary.errors.gateway_5xx",
                c.errors.gateway_5xx.unwrap_or(0.0),
            ),
            ("canary.errors.throttled", c.errors.throttled.unwrap_or(0.0)),
        ] {
            if !probability(value) {
                return Err(problem(
                    at(field),
                    format!("{value} is not a probability"),
                    "use a fraction in [0, 1), e.g. 0.005 for 0.5%",
                ));
            }
        }
        for rates in [s.errors, s.canary_errors()] {
            if rates.model + rates.gateway_5xx + rates.throttled >= 1.0 {
                return Err(problem(
                    at("errors"),
                    "error rates add up to 100% or more",
                    "each request has at most one error kind: keep their sum below 1",
                ));
            }
        }
        if !positive(c.latency_multiplier) {
            return Err(problem(
                at("canary.latency_multiplier"),
                format!("{} is not a positive number", c.latency_multiplier),
                "use e.g. 1.25 for a 25% slower canary (1 = no change)",
            ));
        }
        if let Some(tail) = &c.tail
            && !(probability(tail.above_quantile)
                && tail.above_quantile > 0.0
                && positive(tail.multiplier))
        {
            return Err(problem(
                at("canary.tail"),
                "needs above_quantile in (0, 1) and a positive multiplier",
                "e.g. `tail: { above_quantile: 0.95, multiplier: 1.5 }`",
            ));
        }
        if let Some(drift) = &s.drift
            && (!positive(drift.latency_multiplier) || drift.over.is_zero())
        {
            return Err(problem(
                at("drift"),
                "needs a positive latency_multiplier and a non-zero `over`",
                "e.g. `drift: { latency_multiplier: 1.2, over: 2h }`",
            ));
        }
        if let Some(alt) = &s.oracle_alternative
            && !(positive(alt.latency_multiplier) && positive(alt.error_ratio))
        {
            return Err(problem(
                at("oracle_alternative"),
                "needs positive latency_multiplier and error_ratio",
                "e.g. `oracle_alternative: { latency_multiplier: 1.10 }`",
            ));
        }
        if s.is_aa() && s.expect == Some(Expectation::RollBack) {
            return Err(problem(
                at("expect"),
                "an A/A scenario (no canary difference) has nothing to roll back",
                "remove `expect`, or give the canary a difference under `canary:`",
            ));
        }
        if s.is_acceptable() {
            match &s.oracle_alternative {
                Some(alt) if alt.latency_multiplier != 1.0 || alt.error_ratio != 1.0 => {}
                _ => {
                    return Err(problem(
                        at("oracle_alternative"),
                        "a scenario whose canary should be promoted (A/A, or `expect: promote`) must state the oracle's alternative",
                        "add e.g. `oracle_alternative: { latency_multiplier: 1.10 }`",
                    ));
                }
            }
        }
    }
    Ok(())
}

type FieldProblem = (&'static str, String, &'static str);

fn validate_rate(rate: &RateSpec) -> Result<(), FieldProblem> {
    let rps = match rate {
        RateSpec::Steady { rps } => *rps,
        RateSpec::Diurnal {
            rps,
            amplitude,
            period,
        } => {
            if !(0.0..1.0).contains(amplitude) {
                return Err((
                    "diurnal.amplitude",
                    format!("{amplitude} is outside [0, 1)"),
                    "the rate must stay positive: use e.g. 0.5 for ±50%",
                ));
            }
            if period.is_zero() {
                return Err(("diurnal.period", "is zero".into(), "use e.g. 24h"));
            }
            *rps
        }
        RateSpec::Bursty {
            rps,
            multiplier,
            probability: p,
        } => {
            if !positive(*multiplier) || !(0.0..=1.0).contains(p) {
                return Err((
                    "bursty",
                    "needs a positive multiplier and a probability in [0, 1]".into(),
                    "e.g. `bursty: { rps: 20, multiplier: 4, probability: 0.1 }`",
                ));
            }
            *rps
        }
    };
    if !positive(rps) {
        return Err((
            "rps",
            format!("{rps} is not a positive rate"),
            "requests per second reaching the endpoint, e.g. 30",
        ));
    }
    Ok(())
}

fn validate_latency(latency: &LatencySpec) -> Result<(), FieldProblem> {
    let fix = "medians in milliseconds (> 0) and sigma (> 0, typically 0.3–0.8)";
    let ok = |median: f64, sigma: f64| positive(median) && positive(sigma);
    match latency {
        LatencySpec::Lognormal { median_ms, sigma } => {
            if !ok(*median_ms, *sigma) {
                return Err(("lognormal", "invalid median_ms or sigma".into(), fix));
            }
        }
        LatencySpec::HeavyTail {
            median_ms,
            sigma,
            tail_fraction,
            tail_index,
        } => {
            let tail_ok = *tail_fraction > 0.0 && *tail_fraction < 0.5;
            if !(ok(*median_ms, *sigma) && tail_ok && positive(*tail_index)) {
                return Err((
                    "heavy_tail",
                    "invalid median_ms, sigma, tail_fraction or tail_index".into(),
                    "tail_fraction in (0, 0.5), tail_index > 0 (e.g. 1.5); medians in ms",
                ));
            }
        }
        LatencySpec::Bimodal { components } => {
            if components.is_empty()
                || components
                    .iter()
                    .any(|c| !ok(c.median_ms, c.sigma) || !positive(c.weight))
            {
                return Err((
                    "bimodal.components",
                    "needs at least one component, each with positive weight, median_ms and sigma"
                        .into(),
                    fix,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "scenarios:
  - name: aa
    rate: { steady: { rps: 30 } }
    latency: { lognormal: { median_ms: 120, sigma: 0.5 } }
    oracle_alternative: { latency_multiplier: 1.1 }
  - name: slow
    rate: { diurnal: { rps: 30, amplitude: 0.5, period: 24h } }
    latency: { heavy_tail: { median_ms: 100, sigma: 0.4, tail_fraction: 0.01, tail_index: 1.5 } }
    errors: { model: 0.005 }
    canary: { latency_multiplier: 1.25, errors: { model: 0.015 }, onset: 10m }
";

    #[test]
    fn parses_a_valid_file() {
        let file = parse_str(GOOD, Path::new("s.yaml")).expect("valid");
        assert_eq!(file.scenarios.len(), 2);
        assert!(file.scenarios[0].is_aa());
        assert!(!file.scenarios[1].is_aa());
        assert_eq!(file.scenarios[1].canary.onset, Duration::from_secs(600));
        assert_eq!(file.scenarios[1].canary_errors().model, 0.015);
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let bad = GOOD.replace("sigma: 0.4", "sigma: -0.4");
        let error = parse_str(&bad, Path::new("s.yaml")).expect_err("negative sigma");
        assert_eq!(error.position.map(|p| p.0), Some(8), "{error}");
        assert!(error.to_string().contains("fix:"), "{error}");
        let unknown = GOOD.replace("errors: { model: 0.005 }", "errrors: { model: 0.005 }");
        let error = parse_str(&unknown, Path::new("s.yaml")).expect_err("unknown field");
        assert_eq!(error.position.map(|p| p.0), Some(9), "{error}");
        let no_alt = GOOD.replace("    oracle_alternative: { latency_multiplier: 1.1 }\n", "");
        let error = parse_str(&no_alt, Path::new("s.yaml")).expect_err("A/A without alt");
        assert!(error.message.contains("oracle_alternative"), "{error}");
    }

    #[test]
    fn expect_marks_a_canary_to_promote_and_is_checked() {
        let file = parse_str(GOOD, Path::new("s.yaml")).expect("valid");
        assert!(file.scenarios[0].is_acceptable(), "A/A defaults to promote");
        assert!(
            !file.scenarios[1].is_acceptable(),
            "a difference defaults to roll back"
        );
        let at_margin = GOOD.replace(
            "onset: 10m }\n",
            "onset: 10m }\n    expect: promote\n    oracle_alternative: { latency_multiplier: 1.1 }\n",
        );
        let file = parse_str(&at_margin, Path::new("s.yaml")).expect("valid");
        assert!(file.scenarios[1].is_acceptable() && !file.scenarios[1].is_aa());
        let no_alt = GOOD.replace("onset: 10m }\n", "onset: 10m }\n    expect: promote\n");
        let error = parse_str(&no_alt, Path::new("s.yaml")).expect_err("promote without alt");
        assert!(error.message.contains("oracle_alternative"), "{error}");
        let nothing_to_detect = GOOD.replace(
            "oracle_alternative: { latency_multiplier: 1.1 }\n",
            "oracle_alternative: { latency_multiplier: 1.1 }\n    expect: roll_back\n",
        );
        let error = parse_str(&nothing_to_detect, Path::new("s.yaml")).expect_err("A/A roll_back");
        assert!(error.message.contains("expect"), "{error}");
        assert!(error.to_string().contains("fix:"), "{error}");
    }
}
