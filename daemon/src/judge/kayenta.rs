//! Kayenta's judge (`NetflixACAJudge-v1.0`), faithfully: policy option `judge: kayenta`.
//!
//! Users moving over from Spinnaker's Kayenta keep their canary configs and get the same
//! classifications and scores; the project also benchmarks its sequential judge against this
//! one. Pure: time series in, verdict with evidence out.
//!
//! Per metric ([`classify_metric`]): missing points removed (or replaced by 0), outliers
//! optionally removed per arm by a widened IQR rule, then a Mann-Whitney shift estimate and
//! 98% interval for canary − baseline. **High** when the metric may increase, the interval's
//! lower bound exceeds 0.25·|estimate| and the effect size (mean ratio or CLES) reaches
//! `allowedIncrease`; **Low** the mirror image; otherwise **Pass**. An arm without data is
//! **Nodata** (**NodataFailMetric** with `mustHaveData`). Critical metrics flag a failure
//! of the whole canary.
//!
//! Scoring ([`score_metrics`]): each group scores 100·Pass/(Pass + High + Low +
//! NodataFailMetric); the summary is the weighted sum, groups without a configured weight
//! sharing what the weights leave of 100; a critical failure or ≥ 50% Nodata metrics give 0.
//! Thresholds turn the score into Pass / Marginal / Fail.
//!
//! Where this follows Kayenta's code rather than the shared statistics core, and the few
//! deliberate differences, are in `daemon/docs/kayenta.md`.

mod classify;
mod config;
mod preprocess;
mod rank_test;
mod score;

use serde::{Deserialize, Serialize};

pub use classify::{
    ArmSummary, Classification, ClassifierParameters, KAYENTA_CONFIDENCE_LEVEL, KAYENTA_TOLERANCE,
    MetricClassification, ShiftEstimate, classify_metric, classify_metric_with,
};
pub use config::{
    AnalysisConfigurations, CanaryOptions, ClassifierConfig, DEFAULT_OUTLIER_FACTOR, Direction,
    EffectSizeConfig, EffectSizeMeasure, KayentaConfig, MetricConfig, NanStrategy, OutlierConfig,
    OutlierStrategy, ScoreThresholds,
};
pub use preprocess::{mean_ratio, outlier_fences, percentile_r7, tukey_fences};
pub use rank_test::{
    ROOT_TOLERANCE, RankTestError, ShiftInterval, cles, rank_statistic_z, shift_interval,
};
pub use score::{
    GroupScore, NODATA_THRESHOLD_PERCENT, ScoreClassification, ScoreSummary, round_half_up_2,
    score_metrics,
};

/// One metric's time series: one value per interval (e.g. the interval's p99 latency or error
/// rate) for each arm; NaN marks a missing interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    /// Matches [`MetricConfig::name`].
    pub name: String,
    pub baseline: Vec<f64>,
    pub canary: Vec<f64>,
}

/// The judgement of one canary run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KayentaResult {
    /// Summary score, 0–100, two decimals.
    pub score: f64,
    /// The score against the thresholds.
    pub classification: ScoreClassification,
    /// Why the score was forced to 0, if it was.
    pub reason: Option<String>,
    pub groups: Vec<GroupScore>,
    /// Every configured metric, in config order (muted ones included, unscored).
    pub metrics: Vec<MetricClassification>,
    /// A critical metric failed, so the score is 0.
    pub critical_failure: bool,
    /// At least half of the scored metrics had no data, so the score is 0.
    pub too_many_nodata: bool,
}

/// Why a judgement could not be made (Kayenta would fail the judge stage).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KayentaError {
    #[error("kayenta config does not parse: {0}")]
    Parse(String),
    #[error("metric {0:?} is configured twice")]
    DuplicateMetricConfig(String),
    #[error("series for metric {0:?} given twice")]
    DuplicateSeries(String),
    #[error("series {0:?} has no metric in the canary config")]
    UnknownMetric(String),
    #[error("metric {metric:?}: outliers.outlierFactor must be > 0, got {factor}")]
    InvalidOutlierFactor { metric: String, factor: f64 },
    #[error("{field} must be a finite number, got {value}")]
    NonFinite { field: String, value: f64 },
}

/// Judges a canary run as Kayenta's `NetflixACAJudge`: classifies every configured metric
/// (a metric with no series given is judged on empty arms, i.e. as a query that returned
/// nothing), scores them and applies the thresholds.
///
/// Errors on an invalid config, a series whose name is not configured, or a series given
/// twice.
pub fn judge(
    config: &KayentaConfig,
    metrics: &[MetricSeries],
) -> Result<KayentaResult, KayentaError> {
    config.validate()?;
    for (index, series) in metrics.iter().enumerate() {
        if metrics[..index].iter().any(|s| s.name == series.name) {
            return Err(KayentaError::DuplicateSeries(series.name.clone()));
        }
        if !config.metrics.iter().any(|m| m.name == series.name) {
            return Err(KayentaError::UnknownMetric(series.name.clone()));
        }
    }

    let classifications: Vec<MetricClassification> = config
        .metrics
        .iter()
        .map(
            |metric| match metrics.iter().find(|s| s.name == metric.name) {
                Some(series) => classify_metric(metric, &series.baseline, &series.canary),
                None => classify_metric(metric, &[], &[]),
            },
        )
        .collect();

    let summary = score_metrics(&config.classifier, &classifications);
    Ok(KayentaResult {
        score: summary.score,
        classification: config.classifier.score_thresholds.classify(summary.score),
        reason: summary.reason,
        groups: summary.groups,
        metrics: classifications,
        critical_failure: summary.critical_failure,
        too_many_nodata: summary.too_many_nodata,
    })
}
