//! The `judge:` section of a rollout policy (YAML), its defaults and its validation.
//!
//! ```yaml
//! judge:
//!   method: sequential          # or kayenta
//!   alpha: 0.05                 # family-wise false-rollback rate, all looks and checks
//!   checks:
//!     latency: { max_increase: 0.10 }
//!     quantiles: [ { q: 0.99, max_increase: 0.15 } ]
//!     errors: [ { kind: model, max_ratio: 2.0 } ]
//!     absolute: [ { metric: p99_ms, max: 300 } ]
//! ```
//!
//! Unknown fields are errors (a misconfigured check must not pass silently).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::kayenta::KayentaConfig;
use super::observation::ErrorKind;

/// Which judge decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeMethod {
    /// Anytime-valid tests (default): valid however often the daemon looks.
    #[default]
    Sequential,
    /// Kayenta's NetflixACAJudge over per-interval series, for users moving over from Kayenta.
    Kayenta,
}

/// The policy's `judge:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    #[serde(default)]
    pub method: JudgeMethod,
    /// Family-wise false-rollback rate over all looks and all checks (sequential judge).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub checks: ChecksSpec,
    /// Options of the Kayenta judge (`method: kayenta`).
    #[serde(default)]
    pub kayenta: Option<KayentaConfig>,
}

fn default_alpha() -> f64 {
    0.05
}

impl Default for JudgeSpec {
    fn default() -> Self {
        JudgeSpec {
            method: JudgeMethod::Sequential,
            alpha: default_alpha(),
            checks: ChecksSpec::default(),
            kayenta: None,
        }
    }
}

/// The checks of the sequential judge. With no `checks:` at all the defaults apply: a latency
/// shift check (10% margin), a p99 check (15%) and a model-error ratio check (2×).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    #[serde(default)]
    pub latency: Option<LatencyShiftSpec>,
    #[serde(default)]
    pub quantiles: Vec<QuantileSpec>,
    #[serde(default)]
    pub errors: Vec<ErrorRateSpec>,
    #[serde(default)]
    pub absolute: Vec<AbsoluteSpec>,
}

impl Default for ChecksSpec {
    fn default() -> Self {
        ChecksSpec {
            latency: Some(LatencyShiftSpec::default()),
            quantiles: vec![QuantileSpec {
                q: 0.99,
                max_increase: 0.15,
                weight: 1.0,
            }],
            errors: vec![ErrorRateSpec {
                kind: ErrorKind::Model,
                max_ratio: Some(2.0),
                max_increase_pp: None,
                weight: 1.0,
            }],
            absolute: Vec::new(),
        }
    }
}

/// Latency location shift (Mann-Whitney with a normal-mixture boundary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyShiftSpec {
    /// Relative margin: Regressed means "canary proven slower than (1 + max_increase) × baseline".
    #[serde(default = "default_latency_margin")]
    pub max_increase: f64,
    /// Safe (early promotion) means "canary proven faster than (1 + promote_margin) × baseline".
    /// Defaults to `max_increase`; must not exceed it.
    #[serde(default)]
    pub promote_margin: Option<f64>,
    /// Planning: a canary this much slower *beyond the margin* should be caught quickly; with
    /// `planning_log_sigma` it fixes the information at which the boundary is tightest.
    #[serde(default = "default_detect_increase")]
    pub detect_increase: f64,
    /// Planning: spread (standard deviation) of ln(latency); 0.5 is typical of model serving.
    #[serde(default = "default_log_sigma")]
    pub planning_log_sigma: f64,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_latency_margin() -> f64 {
    0.05
}
fn default_detect_increase() -> f64 {
    0.10
}
fn default_log_sigma() -> f64 {
    0.5
}
fn default_weight() -> f64 {
    1.0
}

impl Default for LatencyShiftSpec {
    fn default() -> Self {
        LatencyShiftSpec {
            max_increase: default_latency_margin(),
            promote_margin: None,
            detect_increase: default_detect_increase(),
            planning_log_sigma: default_log_sigma(),
            weight: default_weight(),
        }
    }
}

impl LatencyShiftSpec {
    pub fn promote_margin(&self) -> f64 {
        self.promote_margin.unwrap_or(self.max_increase)
    }
}

/// A quantile of latency, compared with time-uniform confidence sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileSpec {
    /// The quantile, e.g. 0.99.
    pub q: f64,
    /// Regressed means "canary's q-quantile proven above (1 + max_increase) × baseline's".
    pub max_increase: f64,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// An error rate of one kind, canary against baseline. Exactly one of `max_ratio` (relative,
/// conditional binomial e-process) or `max_increase_pp` (absolute difference in percentage
/// points, confidence sequences on each arm) must be given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRateSpec {
    pub kind: ErrorKind,
    #[serde(default)]
    pub max_ratio: Option<f64>,
    #[serde(default)]
    pub max_increase_pp: Option<f64>,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// A metric with a fixed limit, judged on the canary alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsoluteSpec {
    /// `p50_ms`, `p95_ms`, `p99_ms`, `p99.9_ms` (any `pNN_ms`), `error_rate` (gateway 5xx + model),
    /// `model_error_rate`, `gateway_5xx_rate`, `throttle_rate`.
    pub metric: String,
    /// Upper limit (milliseconds for latency quantiles, a fraction for rates).
    pub max: f64,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// What an absolute check measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AbsoluteMetric {
    LatencyQuantileMs(f64),
    ErrorRate(ErrorKind),
}

impl AbsoluteSpec {
    /// Parses `metric`.
    pub fn parsed_metric(&self) -> Result<AbsoluteMetric, SpecError> {
        let metric = self.metric.trim();
        let rate = match metric {
            "error_rate" => Some(ErrorKind::All),
            "model_error_rate" => Some(ErrorKind::Model),
            "gateway_5xx_rate" => Some(ErrorKind::Gateway5xx),
            "throttle_rate" => Some(ErrorKind::Throttled),
            _ => None,
        };
        if let Some(kind) = rate {
            return Ok(AbsoluteMetric::ErrorRate(kind));
        }
        let percentile = metric
            .strip_prefix('p')
            .and_then(|rest| rest.strip_suffix("_ms"))
            .and_then(|digits| digits.parse::<f64>().ok())
            .filter(|p| *p > 0.0 && *p < 100.0);
        match percentile {
            Some(p) => Ok(AbsoluteMetric::LatencyQuantileMs(p / 100.0)),
            None => Err(SpecError::invalid(
                "checks.absolute[].metric",
                format!("unknown metric '{metric}'"),
                "use p50_ms, p95_ms, p99_ms, p99.9_ms (any pNN_ms), error_rate, model_error_rate, gateway_5xx_rate or throttle_rate",
            )),
        }
    }
}

/// A policy value the judge cannot use.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("judge.{field}: {problem}; {fix}")]
pub struct SpecError {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl SpecError {
    fn invalid(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        SpecError {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

fn check_range(field: &str, value: f64, low: f64, high: f64, fix: &str) -> Result<(), SpecError> {
    if value.is_finite() && value > low && value < high {
        Ok(())
    } else {
        Err(SpecError::invalid(
            field,
            format!("{value} is outside ({low}, {high})"),
            fix,
        ))
    }
}

fn check_weight(field: &str, weight: f64) -> Result<(), SpecError> {
    check_range(
        field,
        weight,
        0.0,
        f64::INFINITY,
        "give a positive weight (default 1)",
    )
}

impl JudgeSpec {
    /// Checks every value; the first problem found is returned with its field and a fix.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_range(
            "alpha",
            self.alpha,
            0.0,
            0.5,
            "use a false-rollback rate such as 0.05",
        )?;
        if self.method == JudgeMethod::Sequential && self.checks.is_empty() {
            return Err(SpecError::invalid(
                "checks",
                "no checks are configured",
                "add at least one of latency, quantiles, errors or absolute (or omit `checks` for the defaults)",
            ));
        }
        if self.method == JudgeMethod::Kayenta {
            let Some(config) = &self.kayenta else {
                return Err(SpecError::invalid(
                    "kayenta",
                    "method is kayenta but no canary config is given",
                    "add a `kayenta:` section with `metrics` and `classifier` (Kayenta's canary config)",
                ));
            };
            config.validate().map_err(|error| {
                SpecError::invalid("kayenta", error.to_string(), "fix the canary config")
            })?;
            let empty = super::observation::ArmObservation::default();
            for (i, metric) in config.metrics.iter().enumerate() {
                if super::evaluate::kayenta_series_value(&metric.name, &[], &empty).is_none() {
                    return Err(SpecError::invalid(
                        format!("kayenta.metrics[{i}].name"),
                        format!("canaryd has no series named '{}'", metric.name),
                        format!("name it one of {}", super::evaluate::KAYENTA_SERIES),
                    ));
                }
            }
        }
        if let Some(latency) = &self.checks.latency {
            check_range(
                "checks.latency.max_increase",
                latency.max_increase,
                -1.0,
                10.0,
                "give a relative margin, e.g. 0.10 for 'at most 10% slower' (0 for 'not slower')",
            )?;
            if latency.max_increase < 0.0 {
                return Err(SpecError::invalid(
                    "checks.latency.max_increase",
                    format!("{} is negative", latency.max_increase),
                    "use 0 or a positive margin",
                ));
            }
            let promote = latency.promote_margin();
            if !(0.0..=latency.max_increase).contains(&promote) {
                return Err(SpecError::invalid(
                    "checks.latency.promote_margin",
                    format!(
                        "{promote} is outside [0, max_increase = {}]",
                        latency.max_increase
                    ),
                    "promote only when proven within a margin no larger than max_increase",
                ));
            }
            check_range(
                "checks.latency.detect_increase",
                latency.detect_increase,
                0.0,
                10.0,
                "give the relative slowdown beyond the margin that must be caught fast, e.g. 0.10",
            )?;
            check_range(
                "checks.latency.planning_log_sigma",
                latency.planning_log_sigma,
                0.0,
                10.0,
                "give the standard deviation of ln(latency), typically 0.3-1.0",
            )?;
            check_weight("checks.latency.weight", latency.weight)?;
        }
        for (i, quantile) in self.checks.quantiles.iter().enumerate() {
            let field = |name: &str| format!("checks.quantiles[{i}].{name}");
            check_range(
                &field("q"),
                quantile.q,
                0.0,
                1.0,
                "give a quantile such as 0.99",
            )?;
            check_range(
                &field("max_increase"),
                quantile.max_increase,
                -1.0,
                10.0,
                "give a relative margin such as 0.15",
            )?;
            if quantile.max_increase < 0.0 {
                return Err(SpecError::invalid(
                    field("max_increase"),
                    "negative margin",
                    "use 0 or more",
                ));
            }
            check_weight(&field("weight"), quantile.weight)?;
        }
        for (i, errors) in self.checks.errors.iter().enumerate() {
            let field = |name: &str| format!("checks.errors[{i}].{name}");
            match (errors.max_ratio, errors.max_increase_pp) {
                (Some(ratio), None) => check_range(
                    &field("max_ratio"),
                    ratio,
                    0.0,
                    1e6,
                    "give the allowed canary/baseline rate ratio, e.g. 1.5 (≥ 1 to tolerate no increase)",
                )?,
                (None, Some(pp)) => check_range(
                    &field("max_increase_pp"),
                    pp,
                    -1e-12,
                    100.0,
                    "give the allowed increase in percentage points, e.g. 0.5",
                )?,
                _ => {
                    return Err(SpecError::invalid(
                        format!("checks.errors[{i}]"),
                        "needs exactly one of max_ratio or max_increase_pp",
                        "keep one of them",
                    ));
                }
            }
            check_weight(&field("weight"), errors.weight)?;
        }
        for (i, absolute) in self.checks.absolute.iter().enumerate() {
            let metric = absolute.parsed_metric().map_err(|mut error| {
                error.field = format!("checks.absolute[{i}].metric");
                error
            })?;
            let field = format!("checks.absolute[{i}].max");
            match metric {
                AbsoluteMetric::LatencyQuantileMs(_) => check_range(
                    &field,
                    absolute.max,
                    0.0,
                    f64::INFINITY,
                    "give a limit in milliseconds",
                )?,
                AbsoluteMetric::ErrorRate(_) => check_range(
                    &field,
                    absolute.max,
                    0.0,
                    1.0,
                    "give a rate as a fraction, e.g. 0.01 for 1%",
                )?,
            }
            check_weight(&format!("checks.absolute[{i}].weight"), absolute.weight)?;
        }
        Ok(())
    }
}

impl ChecksSpec {
    pub fn is_empty(&self) -> bool {
        self.latency.is_none()
            && self.quantiles.is_empty()
            && self.errors.is_empty()
            && self.absolute.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JudgeSpec, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(text)
    }

    #[test]
    fn defaults_are_sequential_and_valid() {
        let spec = parse("alpha: 0.01\n").expect("parses");
        assert_eq!(spec.method, JudgeMethod::Sequential);
        assert_eq!(spec.alpha, 0.01);
        assert!(spec.checks.latency.is_some());
        spec.validate().expect("defaults validate");
    }

    #[test]
    fn full_section_parses() {
        let spec = parse(
            "method: sequential\nchecks:\n  latency: {max_increase: 0.1, promote_margin: 0.05}\n  quantiles: [{q: 0.99, max_increase: 0.15}]\n  errors: [{kind: gateway_5xx, max_ratio: 2}, {kind: throttled, max_increase_pp: 0.5}]\n  absolute: [{metric: p99_ms, max: 300}, {metric: error_rate, max: 0.01}]\n",
        )
        .expect("parses");
        spec.validate().expect("valid");
        assert_eq!(spec.checks.errors[1].kind, ErrorKind::Throttled);
        assert_eq!(
            spec.checks.absolute[0].parsed_metric().expect("metric"),
            AbsoluteMetric::LatencyQuantileMs(0.99)
        );
    }

    #[test]
    fn unknown_fields_are_errors_with_a_location() {
        let error = parse("checks:\n  latency: {max_increse: 0.1}\n").expect_err("typo must fail");
        assert!(error.to_string().contains("max_increse"), "{error}");
        assert!(error.location().is_some());
    }

    #[test]
    fn bad_values_name_the_field_and_the_fix() {
        let spec = parse("alpha: 1.5\n").expect("parses");
        let error = spec.validate().expect_err("alpha 1.5 is invalid");
        assert_eq!(error.field, "alpha");
        let spec = parse("checks:\n  errors: [{kind: model, max_ratio: 2, max_increase_pp: 1}]\n")
            .expect("parses");
        let error = spec.validate().expect_err("both limits");
        assert!(error.to_string().contains("exactly one"), "{error}");
        let spec = parse("checks:\n  absolute: [{metric: p99_seconds, max: 1}]\n").expect("parses");
        let error = spec.validate().expect_err("bad metric");
        assert!(error.field.contains("absolute[0].metric"), "{error}");
        let spec = parse("checks:\n  latency: {max_increase: 0.05, promote_margin: 0.1}\n")
            .expect("parses");
        assert!(spec.validate().is_err());
    }
}
