//! Kayenta canary configuration, as users paste it from Kayenta.
//!
//! Field names are Kayenta's (camelCase); snake_case aliases are accepted. Defaults are the ones
//! `NetflixACAJudge` applies when a key is absent. Kayenta's descriptive fields (`name`, `query`,
//! `judge`, …) are accepted and ignored so that a whole Kayenta canary config can be pasted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::KayentaError;

/// Kayenta's IQR fence factor when `outliers.outlierFactor` is absent.
pub const DEFAULT_OUTLIER_FACTOR: f64 = 3.0;

/// A Kayenta canary config: the metrics to judge and how to score them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KayentaConfig {
    /// The metrics, each with its groups and canary analysis options.
    pub metrics: Vec<MetricConfig>,
    /// Group weights and score thresholds.
    pub classifier: ClassifierConfig,

    // Kayenta's descriptive fields: accepted so a stored Kayenta config parses as is; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "config_version"
    )]
    pub config_version: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_timestamp: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_timestamp: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_timestamp_iso: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_timestamp_iso: Option<serde_json::Value>,
}

impl KayentaConfig {
    /// Parses a canary config from YAML or JSON (JSON is read as YAML) and validates it.
    pub fn from_yaml_str(text: &str) -> Result<Self, KayentaError> {
        let config: Self =
            serde_yaml_ng::from_str(text).map_err(|e| KayentaError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// A config with the given metrics and classifier and no descriptive fields.
    pub fn new(metrics: Vec<MetricConfig>, classifier: ClassifierConfig) -> Self {
        Self {
            metrics,
            classifier,
            name: None,
            id: None,
            description: None,
            config_version: None,
            applications: None,
            judge: None,
            templates: None,
            created_timestamp: None,
            updated_timestamp: None,
            created_timestamp_iso: None,
            updated_timestamp_iso: None,
        }
    }

    /// Rejects what Kayenta would fail on at judgement time (an outlier factor ≤ 0), what it
    /// would resolve ambiguously (two metrics with one name) and non-finite numbers.
    pub fn validate(&self) -> Result<(), KayentaError> {
        let mut seen = std::collections::BTreeSet::new();
        for metric in &self.metrics {
            if !seen.insert(metric.name.as_str()) {
                return Err(KayentaError::DuplicateMetricConfig(metric.name.clone()));
            }
            metric.validate()?;
        }
        for (group, weight) in &self.classifier.group_weights {
            require_finite(&format!("classifier.groupWeights.{group}"), *weight)?;
        }
        let thresholds = &self.classifier.score_thresholds;
        require_finite("classifier.scoreThresholds.pass", thresholds.pass)?;
        require_finite("classifier.scoreThresholds.marginal", thresholds.marginal)?;
        Ok(())
    }
}

fn require_finite(field: &str, value: f64) -> Result<(), KayentaError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(KayentaError::NonFinite {
            field: field.to_owned(),
            value,
        })
    }
}

/// `classifier`: how metric classifications become a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Weight (percent) of each group in the summary score. Groups not listed share equally
    /// what the listed weights leave of 100.
    #[serde(default, alias = "group_weights")]
    pub group_weights: BTreeMap<String, f64>,
    /// Pass / marginal thresholds on the summary score. Kayenta takes them from the execution
    /// request and refuses to run without them; here they live in the config and are required.
    #[serde(alias = "score_thresholds")]
    pub score_thresholds: ScoreThresholds,
}

/// Score thresholds: score ≥ `pass` → Pass, ≥ `marginal` → Marginal, otherwise Fail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreThresholds {
    pub pass: f64,
    pub marginal: f64,
}

/// One metric of the canary config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricConfig {
    /// Matches [`super::MetricSeries::name`].
    pub name: String,
    /// Groups the metric scores in (a metric may be in several, or none).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Kayenta nests the judge options under `analysisConfigurations.canary`.
    #[serde(default, alias = "analysis_configurations")]
    pub analysis_configurations: AnalysisConfigurations,

    // Kayenta's query definition and scope: accepted, unused (canaryd supplies the series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "scope_name")]
    pub scope_name: Option<serde_json::Value>,
}

impl MetricConfig {
    /// A metric with Kayenta's default options.
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        Self {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            analysis_configurations: AnalysisConfigurations::default(),
            query: None,
            scope_name: None,
        }
    }

    /// The same metric with the given canary options.
    pub fn with_options(mut self, options: CanaryOptions) -> Self {
        self.analysis_configurations.canary = options;
        self
    }

    /// The canary analysis options (shorthand for `analysis_configurations.canary`).
    pub fn options(&self) -> &CanaryOptions {
        &self.analysis_configurations.canary
    }

    /// Rejects an outlier factor ≤ 0 when outliers are removed (Kayenta's detector refuses
    /// it) and non-finite effect-size thresholds.
    pub fn validate(&self) -> Result<(), KayentaError> {
        let options = self.options();
        let factor = options.outliers.outlier_factor;
        // Kayenta's IQR detector requires a positive factor (and only builds one when removing).
        if options.outliers.strategy == OutlierStrategy::Remove
            && (factor.is_nan() || factor <= 0.0)
        {
            return Err(KayentaError::InvalidOutlierFactor {
                metric: self.name.clone(),
                factor,
            });
        }
        let effect = &options.effect_size;
        for (field, value) in [
            ("allowedIncrease", effect.allowed_increase),
            ("allowedDecrease", effect.allowed_decrease),
            ("criticalIncrease", effect.critical_increase),
            ("criticalDecrease", effect.critical_decrease),
        ] {
            if let Some(value) = value {
                require_finite(&format!("{}.effectSize.{field}", self.name), value)?;
            }
        }
        Ok(())
    }
}

/// `analysisConfigurations`: Kayenta reads only its `canary` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfigurations {
    #[serde(default)]
    pub canary: CanaryOptions,
}

/// `analysisConfigurations.canary`: the per-metric judge options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryOptions {
    /// Which change counts against the canary. Default `either`.
    #[serde(default)]
    pub direction: Direction,
    /// A High/Low (or missing data) on a critical metric fails the whole canary. Default false.
    #[serde(default)]
    pub critical: bool,
    /// Missing data counts as a failing metric (`NodataFailMetric`). Default false.
    #[serde(default, alias = "must_have_data")]
    pub must_have_data: bool,
    /// Muted metrics are classified and reported but left out of the score. Default false.
    #[serde(default)]
    pub muted: bool,
    /// What to do with missing points. Default `remove`.
    #[serde(default, alias = "nan_strategy")]
    pub nan_strategy: NanStrategy,
    /// Effect-size measure and thresholds.
    #[serde(default, alias = "effect_size")]
    pub effect_size: EffectSizeConfig,
    /// Outlier handling. Default: keep.
    #[serde(default)]
    pub outliers: OutlierConfig,
}

/// `direction`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only a higher canary is a failure (latency, errors).
    Increase,
    /// Only a lower canary is a failure (throughput, success rate).
    Decrease,
    /// Both are failures.
    #[default]
    Either,
}

impl Direction {
    pub(crate) fn allows_increase(self) -> bool {
        matches!(self, Direction::Increase | Direction::Either)
    }
    pub(crate) fn allows_decrease(self) -> bool {
        matches!(self, Direction::Decrease | Direction::Either)
    }
}

/// `nanStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NanStrategy {
    /// Drop missing points; an arm left empty is `Nodata`.
    #[default]
    Remove,
    /// Replace missing points with 0.0; an empty arm then passes.
    Replace,
}

/// `effectSize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EffectSizeConfig {
    /// Default `meanRatio`.
    #[serde(default)]
    pub measure: EffectSizeMeasure,
    /// A High needs effect size ≥ this. Default 1.0 (meanRatio) or 0.5 (cles).
    #[serde(
        default,
        alias = "allowed_increase",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_increase: Option<f64>,
    /// A Low needs effect size ≤ this. Default 1.0 (meanRatio) or 0.5 (cles).
    #[serde(
        default,
        alias = "allowed_decrease",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_decrease: Option<f64>,
    /// A critical High fails the canary when effect size ≥ this. Default as `allowedIncrease`'s.
    #[serde(
        default,
        alias = "critical_increase",
        skip_serializing_if = "Option::is_none"
    )]
    pub critical_increase: Option<f64>,
    /// A critical Low fails the canary when effect size ≤ this. Default as `allowedDecrease`'s.
    #[serde(
        default,
        alias = "critical_decrease",
        skip_serializing_if = "Option::is_none"
    )]
    pub critical_decrease: Option<f64>,
}

impl EffectSizeConfig {
    fn default_threshold(&self) -> f64 {
        match self.measure {
            EffectSizeMeasure::MeanRatio => 1.0,
            EffectSizeMeasure::Cles => 0.5,
        }
    }
    /// `allowedIncrease` or its default.
    pub fn allowed_increase(&self) -> f64 {
        self.allowed_increase
            .unwrap_or_else(|| self.default_threshold())
    }
    /// `allowedDecrease` or its default.
    pub fn allowed_decrease(&self) -> f64 {
        self.allowed_decrease
            .unwrap_or_else(|| self.default_threshold())
    }
    /// `criticalIncrease` or its default.
    pub fn critical_increase(&self) -> f64 {
        self.critical_increase
            .unwrap_or_else(|| self.default_threshold())
    }
    /// `criticalDecrease` or its default.
    pub fn critical_decrease(&self) -> f64 {
        self.critical_decrease
            .unwrap_or_else(|| self.default_threshold())
    }
}

/// `effectSize.measure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EffectSizeMeasure {
    /// Canary mean / baseline mean (NaN, and so ignored, when either mean is 0).
    #[default]
    #[serde(rename = "meanRatio", alias = "mean_ratio")]
    MeanRatio,
    /// Common-language effect size: P(canary > baseline) + ½·P(tie).
    #[serde(rename = "cles")]
    Cles,
}

/// `outliers`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierConfig {
    /// Default `keep`.
    #[serde(default)]
    pub strategy: OutlierStrategy,
    /// IQR fence factor. Default 3.0.
    #[serde(default = "default_outlier_factor", alias = "outlier_factor")]
    pub outlier_factor: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            strategy: OutlierStrategy::Keep,
            outlier_factor: DEFAULT_OUTLIER_FACTOR,
        }
    }
}

fn default_outlier_factor() -> f64 {
    DEFAULT_OUTLIER_FACTOR
}

/// `outliers.strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutlierStrategy {
    /// Drop points outside the fences (per arm).
    Remove,
    #[default]
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_config_reads_back_identically() {
        let yaml = "metrics:\n  - name: p99\n    groups: [latency]\n    analysisConfigurations:\n      canary:\n        direction: increase\n        effectSize: { measure: cles, allowedIncrease: 0.7 }\n        outliers: { strategy: remove }\nclassifier:\n  groupWeights: { latency: 100 }\n  scoreThresholds: { pass: 75, marginal: 50 }\n";
        let config = KayentaConfig::from_yaml_str(yaml).expect("parses");
        let json = serde_json::to_string(&config).expect("serializes");
        let back: KayentaConfig = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, config);
        assert!(json.contains("\"allowedIncrease\":0.7"), "{json}");
        assert_eq!(
            config.metrics[0].options().outliers.outlier_factor,
            DEFAULT_OUTLIER_FACTOR
        );
    }

    #[test]
    fn empty_options_take_kayenta_defaults() {
        let options = CanaryOptions::default();
        assert_eq!(options.direction, Direction::Either);
        assert_eq!(options.nan_strategy, NanStrategy::Remove);
        assert_eq!(options.outliers.strategy, OutlierStrategy::Keep);
        assert_eq!(options.effect_size.allowed_increase(), 1.0);
        assert_eq!(options.effect_size.critical_decrease(), 1.0);
        assert!(!options.critical && !options.must_have_data && !options.muted);
    }
}
