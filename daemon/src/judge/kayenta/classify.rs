//! Kayenta's `MannWhitneyClassifier`: one metric, two time series, one classification.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::config::{EffectSizeMeasure, MetricConfig, NanStrategy};
use super::preprocess::{mean, mean_ratio, transform};
use super::rank_test::{cles, shift_interval};

/// Kayenta's tolerance: the interval must clear 0.25·|estimate| (fixed in `NetflixACAJudge`).
pub const KAYENTA_TOLERANCE: f64 = 0.25;
/// Kayenta's confidence level for the shift interval (fixed in `NetflixACAJudge`).
pub const KAYENTA_CONFIDENCE_LEVEL: f64 = 0.98;
/// Scale of the noise Kayenta adds to two constant arms, relative to each arm's value.
const DEGENERATE_NOISE_SCALE: f64 = 1e-5;
/// Fixed seed for that noise: Kayenta's is unseeded; a fixed one keeps the judge pure.
const DEGENERATE_NOISE_SEED: u64 = 0x004b_6179_656e_7461;

/// A metric's classification, with Kayenta's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Classification {
    /// No significant change in a direction that matters.
    Pass,
    /// The canary is significantly higher (and the effect size is large enough).
    High,
    /// The canary is significantly lower (and the effect size is large enough).
    Low,
    /// An arm had no data (after removing NaN); does not count in group scores.
    Nodata,
    /// No data on a `mustHaveData` metric: counts as a failing metric.
    NodataFailMetric,
    /// The test could not be computed (e.g. every value tied at a trial shift, as with one
    /// point per arm); Kayenta logs "Metric Classification Failed" and leaves it unscored.
    Error,
}

/// The shift (canary − baseline) and its confidence interval, as Kayenta computes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShiftEstimate {
    /// Root of the centred rank statistic: the Hodges-Lehmann shift within 1e-4.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
}

/// What the classifier saw of one arm after preprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Points kept after the NaN and outlier strategies.
    pub count: usize,
    /// Mean of the kept points (0 when none, as Kayenta reports it).
    pub mean: f64,
    /// Points dropped as outliers.
    pub outliers_removed: usize,
}

/// Kayenta's classifier constants. `NetflixACAJudge` always uses the defaults (0.25, 0.98);
/// other values exist to reproduce Kayenta's own classifier tests (0.10, 0.95).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierParameters {
    pub tolerance: f64,
    pub confidence_level: f64,
}

impl Default for ClassifierParameters {
    fn default() -> Self {
        Self {
            tolerance: KAYENTA_TOLERANCE,
            confidence_level: KAYENTA_CONFIDENCE_LEVEL,
        }
    }
}

/// The verdict on one metric, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricClassification {
    pub name: String,
    /// Groups the metric scores in.
    pub groups: Vec<String>,
    pub classification: Classification,
    /// Why, with the numbers.
    pub reason: String,
    /// Canary mean / baseline mean (Kayenta's reported "ratio"): 1.0 when the test was not
    /// needed, NaN when a mean is 0.
    pub deviation: f64,
    /// The configured effect size (mean ratio or CLES) when the test ran; NaN when a mean is 0.
    pub effect_size: Option<f64>,
    pub effect_size_measure: EffectSizeMeasure,
    /// Shift estimate and interval when the test ran.
    pub hodges_lehmann: Option<ShiftEstimate>,
    /// Two-sided p-value of "no shift" when the test ran (evidence only; Kayenta decides on
    /// the interval).
    pub p_value: Option<f64>,
    /// Kayenta's `critical` flag: this result alone fails the canary (critical metric that is
    /// High/Low beyond its critical effect size, or has no data).
    pub critical: bool,
    /// The metric is configured `critical`.
    pub is_critical_metric: bool,
    /// The metric is configured `mustHaveData`.
    pub is_data_required: bool,
    /// The metric is configured `muted` (reported, not scored).
    pub muted: bool,
    pub baseline: ArmSummary,
    pub canary: ArmSummary,
    /// Both arms were constant, so Kayenta's tiny Gaussian noise was added before the test.
    pub noise_added: bool,
}

/// Classifies one metric as Kayenta's `NetflixACAJudge` does (tolerance 0.25, confidence
/// 0.98). `baseline` and `canary` are the metric's time series, one value per interval, NaN
/// for a missing interval. Never fails: what Kayenta reports as an error is
/// [`Classification::Error`].
pub fn classify_metric(
    config: &MetricConfig,
    baseline: &[f64],
    canary: &[f64],
) -> MetricClassification {
    classify_metric_with(config, baseline, canary, &ClassifierParameters::default())
}

/// [`classify_metric`] with explicit classifier constants.
pub fn classify_metric_with(
    config: &MetricConfig,
    baseline: &[f64],
    canary: &[f64],
    parameters: &ClassifierParameters,
) -> MetricClassification {
    let options = config.options();
    let outliers = options.outliers;
    let (canary_values, canary_outliers) = transform(
        canary,
        options.nan_strategy,
        outliers.strategy,
        outliers.outlier_factor,
    );
    let (baseline_values, baseline_outliers) = transform(
        baseline,
        options.nan_strategy,
        outliers.strategy,
        outliers.outlier_factor,
    );

    let mut result = MetricClassification {
        name: config.name.clone(),
        groups: config.groups.clone(),
        classification: Classification::Pass,
        reason: String::new(),
        deviation: 1.0,
        effect_size: None,
        effect_size_measure: options.effect_size.measure,
        hodges_lehmann: None,
        p_value: None,
        critical: false,
        is_critical_metric: options.critical,
        is_data_required: options.must_have_data,
        muted: options.muted,
        baseline: summarize(&baseline_values, baseline_outliers),
        canary: summarize(&canary_values, canary_outliers),
        noise_added: false,
    };

    // What Kayenta would reject before classifying (it throws outside its error handler).
    if let Err(error) = config.validate() {
        result.classification = Classification::Error;
        result.reason = format!("Metric Classification Failed: {error}");
        return result;
    }

    if canary_values.is_empty() || baseline_values.is_empty() {
        let counts = format!(
            "canary has {} points, baseline {}",
            canary_values.len(),
            baseline_values.len()
        );
        match options.nan_strategy {
            NanStrategy::Remove if options.must_have_data && !options.critical => {
                result.classification = Classification::NodataFailMetric;
                result.reason = format!(
                    "Missing data for {} ({counts}) and mustHaveData is set",
                    config.name
                );
            }
            NanStrategy::Remove => {
                result.classification = Classification::Nodata;
                result.critical = options.critical;
                result.reason = format!("Missing data for {} ({counts})", config.name);
                if options.critical {
                    result.reason.push_str("; the metric is critical");
                }
            }
            // Kayenta passes an empty arm when missing points are replaced by zeros.
            NanStrategy::Replace => {
                result.reason =
                    format!("no data ({counts}); with nanStrategy replace Kayenta passes it");
            }
        }
        return result;
    }

    let mut canary_sorted = canary_values.clone();
    let mut baseline_sorted = baseline_values.clone();
    canary_sorted.sort_by(f64::total_cmp);
    baseline_sorted.sort_by(f64::total_cmp);
    if canary_sorted == baseline_sorted {
        result.reason = "the canary and baseline data are identical".to_owned();
        return result;
    }
    if canary_sorted.first() == canary_sorted.last()
        && baseline_sorted.first() == baseline_sorted.last()
        && canary_sorted.first() == baseline_sorted.first()
    {
        result.reason = "every canary and baseline value is the same".to_owned();
        return result;
    }

    compare(
        config,
        canary_values,
        baseline_values,
        &canary_sorted,
        &baseline_sorted,
        parameters,
        result,
    )
}

fn summarize(values: &[f64], outliers_removed: usize) -> ArmSummary {
    ArmSummary {
        count: values.len(),
        mean: if values.is_empty() { 0.0 } else { mean(values) },
        outliers_removed,
    }
}

/// Kayenta's Mann-Whitney comparison and critical check, for two non-empty arms that are not
/// identical.
fn compare(
    config: &MetricConfig,
    canary_values: Vec<f64>,
    baseline_values: Vec<f64>,
    canary_sorted: &[f64],
    baseline_sorted: &[f64],
    parameters: &ClassifierParameters,
    mut result: MetricClassification,
) -> MetricClassification {
    let options = config.options();
    let effect = &options.effect_size;

    // Two constant arms: Kayenta breaks the degenerate ranking with Gaussian noise scaled to
    // 1e-5 of each arm's value (an arm at 0 stays 0).
    let constant = |sorted: &[f64]| sorted.first() == sorted.last();
    let (canary_values, baseline_values) = if constant(canary_sorted) && constant(baseline_sorted) {
        result.noise_added = true;
        let mut rng = ChaCha8Rng::seed_from_u64(DEGENERATE_NOISE_SEED);
        (
            add_noise(&canary_values, &mut rng),
            add_noise(&baseline_values, &mut rng),
        )
    } else {
        (canary_values, baseline_values)
    };

    let interval = match shift_interval(
        &canary_values,
        &baseline_values,
        parameters.confidence_level,
    ) {
        Ok(interval) => interval,
        Err(error) => {
            result.classification = Classification::Error;
            result.reason = format!("Metric Classification Failed: {error}");
            return result;
        }
    };
    let deviation = mean_ratio(&canary_values, &baseline_values);
    let effect_size = match effect.measure {
        EffectSizeMeasure::MeanRatio => deviation,
        EffectSizeMeasure::Cles => cles(&canary_values, &baseline_values),
    };
    result.deviation = deviation;
    result.effect_size = Some(effect_size);
    result.p_value = Some(interval.p_two_sided);
    result.hodges_lehmann = Some(ShiftEstimate {
        estimate: interval.estimate,
        lower: interval.lower,
        upper: interval.upper,
        confidence: parameters.confidence_level,
    });

    let bound = parameters.tolerance * interval.estimate.abs();
    // An effect size that cannot be computed (a zero mean) does not block a High / Low.
    let large_increase = effect_size.is_nan() || effect_size >= effect.allowed_increase();
    let large_decrease = effect_size.is_nan() || effect_size <= effect.allowed_decrease();
    let significant_increase = interval.lower > bound;
    let significant_decrease = interval.upper < -bound;
    let is_high = options.direction.allows_increase() && significant_increase && large_increase;
    let is_low = options.direction.allows_decrease() && significant_decrease && large_decrease;

    let measure = match effect.measure {
        EffectSizeMeasure::MeanRatio => "mean ratio",
        EffectSizeMeasure::Cles => "CLES",
    };
    let evidence = format!(
        "shift {} ({}% CI [{}, {}]), tolerance band ±{} = {}·|estimate|, {measure} {}, p = {}",
        num(interval.estimate),
        num(parameters.confidence_level * 100.0),
        num(interval.lower),
        num(interval.upper),
        num(bound),
        num(parameters.tolerance),
        num(effect_size),
        num(interval.p_two_sided),
    );

    if is_high {
        result.classification = Classification::High;
        result.reason = format!(
            "{evidence}; the interval lies above the band and {measure} ≥ allowedIncrease {}",
            num(effect.allowed_increase())
        );
        if options.critical && (effect_size.is_nan() || effect_size >= effect.critical_increase()) {
            result.critical = true;
            result.reason.push_str(&format!(
                "; critical: {measure} ≥ criticalIncrease {}",
                num(effect.critical_increase())
            ));
        }
    } else if is_low {
        result.classification = Classification::Low;
        result.reason = format!(
            "{evidence}; the interval lies below the band and {measure} ≤ allowedDecrease {}",
            num(effect.allowed_decrease())
        );
        if options.critical && (effect_size.is_nan() || effect_size <= effect.critical_decrease()) {
            result.critical = true;
            result.reason.push_str(&format!(
                "; critical: {measure} ≤ criticalDecrease {}",
                num(effect.critical_decrease())
            ));
        }
    } else {
        let why = if significant_increase && !options.direction.allows_increase() {
            "an increase, which direction decrease ignores".to_owned()
        } else if significant_decrease && !options.direction.allows_decrease() {
            "a decrease, which direction increase ignores".to_owned()
        } else if significant_increase {
            format!(
                "an increase, but {measure} < allowedIncrease {}",
                num(effect.allowed_increase())
            )
        } else if significant_decrease {
            format!(
                "a decrease, but {measure} > allowedDecrease {}",
                num(effect.allowed_decrease())
            )
        } else {
            "no change beyond the band".to_owned()
        };
        result.classification = Classification::Pass;
        result.reason = format!("{evidence}; {why}");
    }
    result
}

fn add_noise(values: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let scale = values.first().copied().unwrap_or(0.0) * DEGENERATE_NOISE_SCALE;
    values
        .iter()
        .map(|v| {
            let z: f64 = StandardNormal.sample(rng);
            v + z * scale
        })
        .collect()
}

/// Four significant digits, plain notation where readable.
pub(crate) fn num(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if !(-4..=9).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arms_are_judged_the_same_every_time() {
        let config = MetricConfig::new("m", &["g"]);
        let first = classify_metric(&config, &[3.0; 6], &[5.0; 6]);
        let second = classify_metric(&config, &[3.0; 6], &[5.0; 6]);
        assert!(first.noise_added);
        assert_eq!(first.classification, Classification::High);
        assert_eq!(first, second);
    }

    #[test]
    fn early_exits_report_a_unit_deviation_and_no_test() {
        let config = MetricConfig::new("m", &["g"]);
        let identical = classify_metric(&config, &[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]);
        assert_eq!(identical.classification, Classification::Pass);
        assert_eq!(identical.deviation, 1.0);
        assert!(identical.hodges_lehmann.is_none() && identical.p_value.is_none());
    }

    #[test]
    fn numbers_are_short_and_readable() {
        assert_eq!(num(32.850_000_1), "32.85");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-0.000_123_456), "-0.0001235");
        assert_eq!(num(6.8e-8), "6.800e-8");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
