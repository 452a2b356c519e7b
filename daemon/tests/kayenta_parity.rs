//! Parity of canaryd's Kayenta judge with Kayenta (spinnaker/kayenta).
//!
//! Part 1 replays the inputs of Kayenta's own test suites and checks that canaryd reaches the
//! values and classifications those suites assert:
//! - `kayenta-mannwhitney/.../MannWhitneySuite.scala`: every case (interval bounds and estimate
//!   to 1e-6, statistic values at the search bounds);
//! - `kayenta-judge/.../ClassifierSuite.scala`: every Mann-Whitney classifier case;
//! - `kayenta-judge/.../ScorerSuite.scala`: every weighted-sum scorer case;
//! - `kayenta-judge/.../StatisticSuite.scala`: the CLES cases;
//! - `kayenta-judge/.../DetectorSuite.scala`: the IQR NIST case.
//!
//! Part 2 checks behaviours of `NetflixACAJudge` that Kayenta's suites do not pin (config
//! defaults, preprocessing, scoring rules), from the behaviour read in its source.
//!
//! The data arrays at the end are the suites' inputs.

use canaryd::judge::kayenta::{
    CanaryOptions, Classification, ClassifierConfig, ClassifierParameters, Direction,
    EffectSizeConfig, EffectSizeMeasure, KayentaConfig, KayentaError, KayentaResult,
    MetricClassification, MetricConfig, MetricSeries, NanStrategy, OutlierConfig, OutlierStrategy,
    ROOT_TOLERANCE, ScoreClassification, ScoreThresholds, classify_metric, classify_metric_with,
    cles, judge, outlier_fences, rank_statistic_z, score_metrics, shift_interval, tukey_fences,
};
use std::collections::BTreeMap;

const E: f64 = 1e-6;

/// Parses one of the comma-separated data blocks at the end of this file.
fn values(text: &str) -> Vec<f64> {
    text.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().expect("data block holds numbers"))
        .collect()
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected} ± {tolerance}"
    );
}

// ---------------------------------------------------------------------------------------------
// MannWhitneySuite
// ---------------------------------------------------------------------------------------------

#[test]
fn mw_suite_small_separated_samples() {
    let interval = shift_interval(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
    assert_close(interval.lower, 6.0, E, "lower");
    assert_close(interval.upper, 39.0, E, "upper");
    assert_close(interval.estimate, 22.5, E, "estimate");
}

#[test]
fn mw_suite_statistic_on_problem_case() {
    // "Wilcoxon Diff Function": wilcoxonDiff(μ, 0, x, y) at μ = 0 and μ = 5.
    let z0 = rank_statistic_z(&values(PROBLEM_CANARY), &values(PROBLEM_BASELINE), 0.0).unwrap();
    let z5 = rank_statistic_z(&values(PROBLEM_CANARY), &values(PROBLEM_BASELINE), 5.0).unwrap();
    assert_close(z0, -1.229416, E, "z at 0");
    assert_close(z5, -35.80606, E, "z at 5");
}

#[test]
fn mw_suite_problem_case_values_near_tolerance() {
    // Values ≈ 0.0333 differing in the 6th digit: the 1e-4 root tolerance dominates, and
    // Kayenta pins the resulting (inexact) bounds.
    let interval =
        shift_interval(&values(PROBLEM_CANARY), &values(PROBLEM_BASELINE), 0.98).unwrap();
    assert_close(interval.lower, -1.4808028936386108e-5, E, "lower");
    assert_close(interval.upper, 1.808255910873413e-5, E, "upper");
    assert_close(interval.estimate, 1.808255910873413e-5, E, "estimate");
}

#[test]
fn mw_suite_tie_out_with_r() {
    let interval = shift_interval(&values(R_TIE_CANARY), &values(R_TIE_BASELINE), 0.95).unwrap();
    assert_close(interval.lower, -0.500002521696696, E, "lower");
    assert_close(interval.upper, -3.486287505871302e-5, E, "upper");
    assert_close(interval.estimate, -0.4999393907180323, 1e-4, "estimate");
}

#[test]
fn mw_suite_tie_out_with_r_large() {
    let interval = shift_interval(
        &values(R_TIE_LARGE_CANARY),
        &values(R_TIE_LARGE_BASELINE),
        0.98,
    )
    .unwrap();
    assert_close(interval.lower, -0.4999173250549087, E, "lower");
    assert_close(interval.upper, -6.912685789769486e-6, E, "upper");
    assert_close(interval.estimate, -3.45044082729315e-5, 1e-4, "estimate");
}

#[test]
fn mw_suite_intermediate_values() {
    let (x, y) = (&values(SPARSE_CANARY)[..], &values(SPARSE_BASELINE)[..]);
    let z = 1.9599639845400536;
    let at = |shift: f64| rank_statistic_z(x, y, shift).unwrap();
    let (mu_min, mu_max) = (-3.124999999999986, 5.555555555555557);
    assert_close(at(mu_min) - z, 17.090968923762254, E, "f lower, +z");
    assert_close(at(mu_max) - z, -20.997687930433106, E, "f upper, +z");
    assert_close(at(mu_min) + z, 21.01089689284236, E, "f lower, -z");
    assert_close(at(mu_max) + z, -17.077759961353, E, "f upper, -z");
    let interval = shift_interval(x, y, 0.95).unwrap();
    assert_close(interval.lower, 3.521755377702165e-5, E, "lower");
    assert_close(interval.upper, 2.02456461662334e-5, E, "upper");
    assert_close(interval.estimate, 2.6279243045155653e-5, E, "estimate");
}

// ---------------------------------------------------------------------------------------------
// ClassifierSuite (MannWhitneyClassifier with the suite's tolerance / confidence)
// ---------------------------------------------------------------------------------------------

/// A classifier case: Kayenta's `MannWhitneyClassifier(tolerance, confLevel,
/// effectSizeThresholds = (decrease, increase), criticalThresholds = (decrease, increase),
/// measure)` applied with a direction, NaN strategy and critical flag.
struct Case {
    tolerance: f64,
    confidence: f64,
    effect: (f64, f64),
    critical_thresholds: (f64, f64),
    measure: EffectSizeMeasure,
    direction: Direction,
    nan_strategy: NanStrategy,
    critical: bool,
}

impl Case {
    fn new(tolerance: f64, confidence: f64) -> Self {
        Self {
            tolerance,
            confidence,
            effect: (1.0, 1.0),
            critical_thresholds: (1.0, 1.0),
            measure: EffectSizeMeasure::MeanRatio,
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            critical: false,
        }
    }
    fn effect(mut self, decrease: f64, increase: f64) -> Self {
        self.effect = (decrease, increase);
        self
    }
    fn critical_thresholds(mut self, decrease: f64, increase: f64) -> Self {
        self.critical_thresholds = (decrease, increase);
        self
    }
    fn cles(mut self) -> Self {
        self.measure = EffectSizeMeasure::Cles;
        self
    }
    fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }
    fn replace_nan(mut self) -> Self {
        self.nan_strategy = NanStrategy::Replace;
        self
    }
    fn critical(mut self) -> Self {
        self.critical = true;
        self
    }
    fn run(&self, baseline: &[f64], canary: &[f64]) -> MetricClassification {
        let options = CanaryOptions {
            direction: self.direction,
            critical: self.critical,
            nan_strategy: self.nan_strategy,
            effect_size: EffectSizeConfig {
                measure: self.measure,
                allowed_decrease: Some(self.effect.0),
                allowed_increase: Some(self.effect.1),
                critical_decrease: Some(self.critical_thresholds.0),
                critical_increase: Some(self.critical_thresholds.1),
            },
            ..CanaryOptions::default()
        };
        let config = MetricConfig::new("metric", &["group"]).with_options(options);
        let parameters = ClassifierParameters {
            tolerance: self.tolerance,
            confidence_level: self.confidence,
        };
        classify_metric_with(&config, baseline, canary, &parameters)
    }
}

fn suite() -> Case {
    Case::new(0.10, 0.95)
}

#[test]
fn classifier_suite_pass_high_low_either() {
    let pass = suite().run(&values(BASELINE_NEAR_10), &values(CANARY_NEAR_10));
    assert_eq!(pass.classification, Classification::Pass, "{}", pass.reason);
    let high = suite().run(&values(BASELINE_NEAR_10), &values(CANARY_NEAR_20));
    assert_eq!(high.classification, Classification::High, "{}", high.reason);
    let low = suite().run(&values(BASELINE_NEAR_20), &values(CANARY_NEAR_10));
    assert_eq!(low.classification, Classification::Low, "{}", low.reason);
}

#[test]
fn classifier_suite_directions() {
    let increase = suite().direction(Direction::Increase);
    let decrease = suite().direction(Direction::Decrease);
    // A decrease is ignored when only increases count, and vice versa.
    let r = increase.run(&values(BASELINE_NEAR_20), &values(CANARY_NEAR_10));
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    let r = decrease.run(&values(BASELINE_NEAR_10), &values(CANARY_NEAR_20));
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    let r = increase.run(&values(BASELINE_NEAR_10), &values(CANARY_NEAR_20));
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert!(!r.critical);
    let r = decrease.run(&values(BASELINE_NEAR_20), &values(CANARY_NEAR_10));
    assert_eq!(r.classification, Classification::Low, "{}", r.reason);
}

#[test]
fn classifier_suite_sparse_error_rates() {
    // "High Metric (Large Input)": mostly zeros. Kayenta calls it High because the lower
    // bound lands at +3.5e-5 (root tolerance) while 0.10·|estimate| ≈ 2.6e-6.
    let r = suite().run(&values(SPARSE_BASELINE), &values(SPARSE_CANARY));
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert!(!r.critical);
    // "Mean Ratio Effect Size: Pass (Large Input)": the same data pass with allowedIncrease 5.
    let r = suite()
        .effect(1.0, 5.0)
        .run(&values(SPARSE_BASELINE), &values(SPARSE_CANARY));
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
}

#[test]
fn classifier_suite_mean_ratio_effect_size() {
    let r = suite()
        .effect(0.8, 1.2)
        .run(&[1.0, 2.2, 1.1, 2.5, 3.0], &[20.0, 22.0, 21.0, 25.0, 30.0]);
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    let r = suite()
        .effect(0.8, 1.2)
        .direction(Direction::Decrease)
        .run(&values(BASELINE_NEAR_20), &values(CANARY_NEAR_10));
    assert_eq!(r.classification, Classification::Low, "{}", r.reason);
    let r = suite().effect(0.5, 1.0).run(
        &[20.0, 22.0, 21.0, 25.0, 30.0],
        &[10.0, 12.2, 10.1, 12.5, 23.0],
    );
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
}

#[test]
fn classifier_suite_cles_effect_size() {
    let cles_case = |decrease, increase| Case::new(0.20, 0.98).cles().effect(decrease, increase);
    let r = cles_case(0.5, 0.8).run(&values(CLES_PASS_BASELINE), &values(CLES_PASS_CANARY));
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    let r = cles_case(0.2, 0.8).run(&values(CLES_HIGH_BASELINE), &values(CLES_HIGH_CANARY));
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    let r = cles_case(0.2, 0.8).run(&values(CLES_LOW_BASELINE), &values(CLES_LOW_CANARY));
    assert_eq!(r.classification, Classification::Low, "{}", r.reason);
}

#[test]
fn classifier_suite_critical_effect_size() {
    let baseline = [1.0, 2.2, 1.1, 2.5, 3.0];
    let canary = [20.0, 22.0, 21.0, 25.0, 30.0];
    let r = suite()
        .critical()
        .critical_thresholds(1.0, 1.2)
        .run(&baseline, &canary);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::High, true),
        "{}",
        r.reason
    );

    let r = suite()
        .critical()
        .critical_thresholds(1.2, 1.0)
        .run(&[10.0, 20.2, 10.1, 20.5, 30.0], &[2.0, 2.0, 2.0, 2.0, 3.0]);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Low, true),
        "{}",
        r.reason
    );

    // High but below criticalIncrease 13: not a critical failure.
    let r = suite()
        .critical()
        .effect(1.0, 5.0)
        .critical_thresholds(1.0, 13.0)
        .run(&baseline, &canary);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::High, false),
        "{}",
        r.reason
    );

    // Effect below allowedIncrease 13: Pass, so not critical either.
    let r = suite()
        .critical()
        .effect(1.0, 13.0)
        .critical_thresholds(1.0, 15.0)
        .run(&baseline, &canary);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Pass, false),
        "{}",
        r.reason
    );

    // Default thresholds (1.0): any critical High fails.
    let r = suite().critical().run(&baseline, &canary);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::High, true),
        "{}",
        r.reason
    );
}

#[test]
fn classifier_suite_ties_and_identical_data() {
    let decrease = suite().direction(Direction::Decrease);
    let r = decrease.run(&[1.0, 1.0], &[1.0, 1.0, 1.0]);
    assert_eq!(r.classification, Classification::Pass, "tied: {}", r.reason);
    let r = decrease.run(&[5.0, 4.0, 3.0, 2.0, 1.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        r.classification,
        Classification::Pass,
        "identical: {}",
        r.reason
    );
    assert_eq!(r.deviation, 1.0);
    let r = decrease.run(&[1.0; 5], &[0.0, 1.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        r.classification,
        Classification::Pass,
        "leading zero: {}",
        r.reason
    );
    let r = suite().run(&[1.0; 5], &[1.0, 1.0, 1.0, 1.0, 10.0]);
    assert_eq!(
        r.classification,
        Classification::Pass,
        "majority tied: {}",
        r.reason
    );
}

#[test]
fn classifier_suite_tied_ranks_use_noise() {
    let r = suite().run(&[1.0; 5], &[10.0; 5]);
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert!(r.noise_added);
    let r = suite().run(&[0.0; 5], &[10.0; 5]);
    assert_eq!(
        r.classification,
        Classification::High,
        "with zeros: {}",
        r.reason
    );
}

#[test]
fn classifier_suite_missing_data() {
    let decrease = suite().direction(Direction::Decrease);
    let r = decrease.run(&[1.0, 2.0, 3.0, 4.0, 5.0], &[]);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Nodata, false)
    );
    let r = decrease.critical().run(&[1.0, 2.0, 3.0, 4.0, 5.0], &[]);
    assert_eq!(
        (r.classification, r.critical),
        (Classification::Nodata, true)
    );
    let r = suite()
        .direction(Direction::Decrease)
        .replace_nan()
        .run(&[1.0, 2.0, 3.0, 4.0, 5.0], &[]);
    assert_eq!(r.classification, Classification::Pass);
    let r = suite()
        .direction(Direction::Decrease)
        .critical()
        .run(&[], &[]);
    assert!(!r.reason.is_empty());
}

#[test]
fn classifier_suite_zero_means() {
    let peaks = [54.9, 54.5, 55.1, 55.6, 57.4];
    let r = suite().effect(0.8, 1.2).run(&[0.0; 5], &peaks);
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert!(r.deviation.is_nan());
    let r = suite().effect(0.8, 1.2).run(&peaks, &[0.0; 5]);
    assert_eq!(r.classification, Classification::Low, "{}", r.reason);
    assert!(r.deviation.is_nan());
    let r = suite()
        .critical_thresholds(0.8, 1.2)
        .replace_nan()
        .critical()
        .run(&[0.0; 10], &values(ZERO_MEAN_CRITICAL_CANARY));
    assert_eq!(
        (r.classification, r.critical),
        (Classification::High, true),
        "{}",
        r.reason
    );
    let r = suite().effect(0.8, 1.2).run(&[0.0; 5], &[0.0; 5]);
    assert_eq!(r.classification, Classification::Pass);
    assert_eq!(r.deviation, 1.0);
}

// ---------------------------------------------------------------------------------------------
// StatisticSuite (CLES) and DetectorSuite (IQR, NIST data)
// ---------------------------------------------------------------------------------------------

#[test]
fn statistic_suite_cles() {
    let ramp = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(cles(&ramp, &ramp), 0.5);
    assert_eq!(
        cles(
            &values(CLES_NO_OVERLAP_CANARY),
            &values(CLES_NO_OVERLAP_BASELINE)
        ),
        0.0
    );
    assert_close(
        cles(
            &values(CLES_STAT_HIGH_CANARY),
            &values(CLES_STAT_HIGH_BASELINE),
        ),
        0.771,
        0.001,
        "high",
    );
    assert_close(
        cles(
            &values(CLES_STAT_LOW_CANARY),
            &values(CLES_STAT_LOW_BASELINE),
        ),
        0.12,
        1e-12,
        "low",
    );
}

#[test]
fn detector_suite_iqr_nist() {
    let nist = values(NIST_IQR);
    let (lower, upper) = tukey_fences(&nist, 1.5);
    let flagged: Vec<usize> = (0..nist.len())
        .filter(|&i| nist[i] < lower || nist[i] > upper)
        .collect();
    assert_eq!(flagged, vec![nist.len() - 1]);
    // The judge widens the fences to the 1st/99th percentiles and uses factor 3 by default.
    let (wide_lower, wide_upper) = outlier_fences(&nist, 3.0);
    assert!(wide_lower <= lower && wide_upper >= upper);
}

// ---------------------------------------------------------------------------------------------
// ScorerSuite (WeightedSumScorer)
// ---------------------------------------------------------------------------------------------

fn labelled(
    name: &str,
    groups: &[&str],
    label: Classification,
    critical: bool,
) -> MetricClassification {
    let mut metric = classify_metric(&MetricConfig::new(name, groups), &[], &[]);
    metric.classification = label;
    metric.critical = critical;
    metric
}

fn classifier(weights: &[(&str, f64)]) -> ClassifierConfig {
    ClassifierConfig {
        group_weights: weights.iter().map(|(g, w)| ((*g).to_owned(), *w)).collect(),
        score_thresholds: ScoreThresholds {
            pass: 75.0,
            marginal: 50.0,
        },
    }
}

#[test]
fn scorer_suite_single_group() {
    use Classification::*;
    let unweighted = classifier(&[]);
    let score = |metrics: &[MetricClassification]| score_metrics(&unweighted, metrics).score;
    assert_eq!(score(&[labelled("a", &["g"], Pass, false)]), 100.0);
    assert_eq!(score(&[labelled("a", &["g"], High, false)]), 0.0);
    assert_eq!(
        score(&[
            labelled("a", &["g"], Pass, false),
            labelled("b", &["g"], High, false)
        ]),
        50.0
    );
    assert_eq!(
        score(&[
            labelled("a", &["g"], Pass, false),
            labelled("b", &["g"], High, false),
            labelled("c", &["g"], Low, false),
        ]),
        33.33
    );
}

#[test]
fn scorer_suite_nodata_groups() {
    use Classification::*;
    let unweighted = classifier(&[]);
    let single = score_metrics(&unweighted, &[labelled("a", &["nodata"], Nodata, false)]);
    assert_eq!(single.groups.len(), 1);
    assert_eq!(single.groups[0].score, 0.0);
    assert_eq!(single.score, 0.0);

    // One Nodata of three metrics is under 50%: the empty group counts as 100 in the summary.
    let two_groups = score_metrics(
        &unweighted,
        &[
            labelled("a", &["pass"], Pass, false),
            labelled("b", &["pass"], Pass, false),
            labelled("c", &["nodata"], Nodata, false),
        ],
    );
    let mut group_scores: Vec<f64> = two_groups.groups.iter().map(|g| g.score).collect();
    group_scores.sort_by(f64::total_cmp);
    assert_eq!(group_scores, vec![0.0, 100.0]);
    assert_eq!(two_groups.score, 100.0);
}

#[test]
fn scorer_suite_weights() {
    use Classification::*;
    let weighted = classifier(&[("group-1", 75.0), ("group-2", 25.0)]);
    let summary = score_metrics(
        &weighted,
        &[
            labelled("a", &["group-1"], Pass, false),
            labelled("b", &["group-1"], Pass, false),
            labelled("c", &["group-2"], High, false),
        ],
    );
    assert_eq!(summary.score, 75.0);

    let equal = classifier(&[("group-1", 50.0), ("group-2", 50.0)]);
    let summary = score_metrics(
        &equal,
        &[
            labelled("a", &["group-1"], Pass, false),
            labelled("b", &["group-1"], High, false),
            labelled("c", &["group-2"], High, false),
        ],
    );
    assert_eq!(summary.score, 25.0);
    let summary = score_metrics(
        &equal,
        &[
            labelled("a", &["group-1"], Pass, false),
            labelled("b", &["group-1"], Nodata, false),
            labelled("c", &["group-2"], High, false),
        ],
    );
    assert_eq!(summary.score, 50.0);

    let unequal = classifier(&[("group1", 15.0), ("group2", 85.0)]);
    let summary = score_metrics(
        &unequal,
        &[
            labelled("a", &["group1"], High, false),
            labelled("b", &["group1"], Low, false),
            labelled("c", &["group1"], Pass, false),
            labelled("d", &["group2"], High, false),
        ],
    );
    assert_eq!(summary.score, 5.0);
}

#[test]
fn scorer_suite_critical() {
    use Classification::*;
    let unweighted = classifier(&[]);
    let summary = score_metrics(
        &unweighted,
        &[
            labelled("a", &["g"], Pass, false),
            labelled("b", &["g"], High, true),
        ],
    );
    assert_eq!(summary.score, 0.0);
    assert!(summary.critical_failure);
    // A critical metric that passes does not fail the canary.
    let summary = score_metrics(
        &unweighted,
        &[
            labelled("a", &["g"], Low, false),
            labelled("b", &["g"], Pass, true),
        ],
    );
    assert_eq!(summary.score, 50.0);
    assert!(!summary.critical_failure);
    // A critical metric without data does.
    let summary = score_metrics(
        &unweighted,
        &[
            labelled("a", &["g"], Pass, false),
            labelled("b", &["g"], Nodata, true),
        ],
    );
    assert_eq!(summary.score, 0.0);
    assert!(summary.critical_failure);
}

// ---------------------------------------------------------------------------------------------
// Part 2: NetflixACAJudge behaviour (config, preprocessing, scoring) through canaryd's API
// ---------------------------------------------------------------------------------------------

/// Deterministic, distinct, spread values: a baseline with a stable centre.
fn series(centre: f64, spread: f64, n: usize, phase: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            // A permutation of evenly spaced offsets in [-1, 1], so values are distinct.
            let k = (i * 7 + phase) % n;
            centre + spread * (2.0 * k as f64 / (n as f64 - 1.0) - 1.0)
        })
        .collect()
}

fn options() -> CanaryOptions {
    CanaryOptions::default()
}

fn metric(options: CanaryOptions) -> MetricConfig {
    MetricConfig::new("latency_p99", &["latency"]).with_options(options)
}

#[test]
fn parses_a_pasted_kayenta_config_with_defaults() {
    let json = r#"{
      "name": "my-canary", "description": "pasted", "configVersion": "1",
      "applications": ["ad-hoc"], "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
      "templates": {},
      "metrics": [
        {"name": "latency_p99", "query": {"type": "prometheus", "metricName": "x"},
         "groups": ["latency"], "scopeName": "default",
         "analysisConfigurations": {"canary": {"direction": "increase", "critical": true,
            "effectSize": {"allowedIncrease": 1.1, "criticalIncrease": 1.5}}}},
        {"name": "error_rate", "groups": ["errors"], "analysisConfigurations": {}}
      ],
      "classifier": {"groupWeights": {"latency": 60, "errors": 40},
                     "scoreThresholds": {"pass": 75, "marginal": 50}}
    }"#;
    let config = KayentaConfig::from_yaml_str(json).expect("parses");
    let latency = config.metrics[0].options();
    assert_eq!(latency.direction, Direction::Increase);
    assert!(latency.critical);
    assert_eq!(latency.effect_size.allowed_increase(), 1.1);
    assert_eq!(latency.effect_size.critical_increase(), 1.5);
    // Unset thresholds take the measure's default.
    assert_eq!(latency.effect_size.allowed_decrease(), 1.0);
    let errors = config.metrics[1].options();
    assert_eq!(errors.direction, Direction::Either);
    assert_eq!(errors.nan_strategy, NanStrategy::Remove);
    assert_eq!(errors.outliers.strategy, OutlierStrategy::Keep);
    assert_eq!(errors.outliers.outlier_factor, 3.0);
    assert!(!errors.must_have_data && !errors.critical && !errors.muted);
    assert_eq!(errors.effect_size.measure, EffectSizeMeasure::MeanRatio);
    assert_eq!(config.classifier.group_weights["latency"], 60.0);
}

#[test]
fn cles_defaults_to_one_half_and_snake_case_is_accepted() {
    let yaml = r#"
metrics:
  - name: latency_p99
    groups: [latency]
    analysis_configurations:
      canary:
        nan_strategy: replace
        must_have_data: true
        effect_size: { measure: cles }
        outliers: { strategy: remove, outlier_factor: 1.5 }
classifier:
  score_thresholds: { pass: 90, marginal: 60 }
"#;
    let config = KayentaConfig::from_yaml_str(yaml).expect("parses");
    let options = config.metrics[0].options();
    assert_eq!(options.effect_size.allowed_increase(), 0.5);
    assert_eq!(options.effect_size.critical_decrease(), 0.5);
    assert_eq!(options.nan_strategy, NanStrategy::Replace);
    assert!(options.must_have_data);
    assert_eq!(options.outliers.outlier_factor, 1.5);
    assert!(config.classifier.group_weights.is_empty());
}

#[test]
fn rejects_unknown_fields_bad_values_and_missing_thresholds() {
    let typo = "metrics: [{name: a, analysisConfigurations: {canary: {directon: increase}}}]\nclassifier: {scoreThresholds: {pass: 75, marginal: 50}}";
    assert!(matches!(
        KayentaConfig::from_yaml_str(typo),
        Err(KayentaError::Parse(_))
    ));
    let bad_value = "metrics: [{name: a, analysisConfigurations: {canary: {direction: up}}}]\nclassifier: {scoreThresholds: {pass: 75, marginal: 50}}";
    assert!(matches!(
        KayentaConfig::from_yaml_str(bad_value),
        Err(KayentaError::Parse(_))
    ));
    let no_thresholds = "metrics: [{name: a}]\nclassifier: {groupWeights: {}}";
    assert!(matches!(
        KayentaConfig::from_yaml_str(no_thresholds),
        Err(KayentaError::Parse(_))
    ));
    let zero_factor = "metrics: [{name: a, analysisConfigurations: {canary: {outliers: {strategy: remove, outlierFactor: 0}}}}]\nclassifier: {scoreThresholds: {pass: 75, marginal: 50}}";
    assert!(matches!(
        KayentaConfig::from_yaml_str(zero_factor),
        Err(KayentaError::InvalidOutlierFactor { .. })
    ));
    let twice =
        "metrics: [{name: a}, {name: a}]\nclassifier: {scoreThresholds: {pass: 75, marginal: 50}}";
    assert!(matches!(
        KayentaConfig::from_yaml_str(twice),
        Err(KayentaError::DuplicateMetricConfig(_))
    ));
}

#[test]
fn high_low_pass_follow_the_interval_and_tolerance() {
    let baseline = series(100.0, 10.0, 30, 0);
    let slower: Vec<f64> = series(130.0, 10.0, 30, 3);
    let faster: Vec<f64> = series(70.0, 10.0, 30, 3);
    // Same spread, centre 0.5 higher: a permutation would be caught as identical data.
    let same = series(100.5, 10.0, 30, 5);

    let high = classify_metric(&metric(options()), &baseline, &slower);
    assert_eq!(high.classification, Classification::High, "{}", high.reason);
    let hl = high.hodges_lehmann.expect("interval");
    assert!(
        hl.lower > 0.25 * hl.estimate.abs() && hl.lower <= hl.estimate && hl.estimate <= hl.upper
    );
    assert_close(hl.estimate, 30.0, 2.0, "shift");
    assert_eq!(hl.confidence, 0.98);
    assert!(high.deviation > 1.2 && high.p_value.expect("p") < 1e-6);

    let low = classify_metric(&metric(options()), &baseline, &faster);
    assert_eq!(low.classification, Classification::Low, "{}", low.reason);

    let pass = classify_metric(&metric(options()), &baseline, &same);
    assert_eq!(pass.classification, Classification::Pass, "{}", pass.reason);
    let hl = pass.hodges_lehmann.expect("interval");
    assert!(hl.lower <= 0.25 * hl.estimate.abs());
}

#[test]
fn a_significant_shift_inside_the_tolerance_band_passes() {
    // Shift ≈ 2 with a spread of 20 around 100: the interval is wide, so its lower bound
    // cannot clear 0.25·|estimate| unless the data say so; here it does not.
    let baseline = series(100.0, 20.0, 12, 0);
    let canary = series(102.0, 20.0, 12, 1);
    let r = classify_metric(&metric(options()), &baseline, &canary);
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
}

#[test]
fn direction_filters_high_and_low() {
    let baseline = series(100.0, 10.0, 30, 0);
    let slower = series(130.0, 10.0, 30, 3);
    let with = |direction| {
        classify_metric(
            &metric(CanaryOptions {
                direction,
                ..options()
            }),
            &baseline,
            &slower,
        )
        .classification
    };
    assert_eq!(with(Direction::Either), Classification::High);
    assert_eq!(with(Direction::Increase), Classification::High);
    assert_eq!(with(Direction::Decrease), Classification::Pass);
    let faster = series(70.0, 10.0, 30, 3);
    let with_faster = |direction| {
        classify_metric(
            &metric(CanaryOptions {
                direction,
                ..options()
            }),
            &baseline,
            &faster,
        )
        .classification
    };
    assert_eq!(with_faster(Direction::Increase), Classification::Pass);
    assert_eq!(with_faster(Direction::Decrease), Classification::Low);
}

#[test]
fn allowed_increase_holds_a_small_real_increase_at_pass() {
    // Canary 5% slower, clearly significant (tight spread).
    let baseline = series(100.0, 1.0, 30, 0);
    let canary: Vec<f64> = baseline.iter().map(|v| v * 1.05).collect();
    let default = classify_metric(&metric(options()), &baseline, &canary);
    assert_eq!(
        default.classification,
        Classification::High,
        "{}",
        default.reason
    );
    assert_close(default.deviation, 1.05, 1e-9, "mean ratio");
    let tolerant = CanaryOptions {
        effect_size: EffectSizeConfig {
            allowed_increase: Some(1.10),
            ..EffectSizeConfig::default()
        },
        ..options()
    };
    let r = classify_metric(&metric(tolerant), &baseline, &canary);
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    assert!(r.reason.contains("allowedIncrease"), "{}", r.reason);
}

#[test]
fn cles_and_mean_ratio_judge_the_same_shift_differently() {
    // Every canary point above every baseline point (CLES 1) but only 3% higher on average.
    let baseline = series(100.0, 1.0, 20, 0);
    let canary: Vec<f64> = series(103.0, 1.0, 20, 0);
    let ratio = CanaryOptions {
        effect_size: EffectSizeConfig {
            allowed_increase: Some(1.05),
            ..EffectSizeConfig::default()
        },
        ..options()
    };
    let r = classify_metric(&metric(ratio), &baseline, &canary);
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    let by_cles = CanaryOptions {
        effect_size: EffectSizeConfig {
            measure: EffectSizeMeasure::Cles,
            allowed_increase: Some(0.9),
            ..EffectSizeConfig::default()
        },
        ..options()
    };
    let r = classify_metric(&metric(by_cles), &baseline, &canary);
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert_eq!(r.effect_size, Some(1.0));
    assert_eq!(r.effect_size_measure, EffectSizeMeasure::Cles);
}

#[test]
fn outlier_removal_drops_a_spike_that_would_inflate_the_mean_ratio() {
    // A 3% shift (significant) plus one huge canary spike: the spike pushes the mean ratio
    // over allowedIncrease 1.1; removing outliers brings it back under.
    let baseline = series(100.0, 1.0, 30, 0);
    let mut canary = series(103.0, 1.0, 30, 0);
    canary[10] = 2_000.0;
    let effect = EffectSizeConfig {
        allowed_increase: Some(1.1),
        ..EffectSizeConfig::default()
    };
    let kept = classify_metric(
        &metric(CanaryOptions {
            effect_size: effect,
            ..options()
        }),
        &baseline,
        &canary,
    );
    assert_eq!(kept.classification, Classification::High, "{}", kept.reason);
    assert_eq!(kept.canary.outliers_removed, 0);
    let removed = classify_metric(
        &metric(CanaryOptions {
            effect_size: effect,
            outliers: OutlierConfig {
                strategy: OutlierStrategy::Remove,
                outlier_factor: 3.0,
            },
            ..options()
        }),
        &baseline,
        &canary,
    );
    assert_eq!(
        removed.classification,
        Classification::Pass,
        "{}",
        removed.reason
    );
    assert_eq!(removed.canary.outliers_removed, 1);
    assert_eq!(removed.canary.count, 29);
    assert_eq!(removed.baseline.outliers_removed, 0);
}

#[test]
fn nan_remove_ignores_gaps_and_nan_replace_counts_them_as_zero() {
    let baseline = series(100.0, 5.0, 20, 0);
    let mut canary = series(100.0, 5.0, 20, 3);
    // Most canary intervals missing: as zeros they dominate the canary arm.
    for i in (0..20).filter(|i| i % 5 != 0) {
        canary[i] = f64::NAN;
    }
    let removed = classify_metric(&metric(options()), &baseline, &canary);
    assert_eq!(
        removed.classification,
        Classification::Pass,
        "{}",
        removed.reason
    );
    assert_eq!(removed.canary.count, 4);
    let replaced = classify_metric(
        &metric(CanaryOptions {
            nan_strategy: NanStrategy::Replace,
            ..options()
        }),
        &baseline,
        &canary,
    );
    assert_eq!(replaced.canary.count, 20);
    assert_eq!(
        replaced.classification,
        Classification::Low,
        "{}",
        replaced.reason
    );
}

#[test]
fn missing_data_paths() {
    let baseline = series(100.0, 5.0, 10, 0);
    let all_nan = vec![f64::NAN; 10];
    let plain = classify_metric(&metric(options()), &baseline, &all_nan);
    assert_eq!(
        (plain.classification, plain.critical),
        (Classification::Nodata, false)
    );
    let required = classify_metric(
        &metric(CanaryOptions {
            must_have_data: true,
            ..options()
        }),
        &baseline,
        &all_nan,
    );
    assert_eq!(required.classification, Classification::NodataFailMetric);
    assert!(required.is_data_required && !required.critical);
    // Critical wins over mustHaveData: Nodata flagged critical.
    let critical = classify_metric(
        &metric(CanaryOptions {
            must_have_data: true,
            critical: true,
            ..options()
        }),
        &baseline,
        &all_nan,
    );
    assert_eq!(
        (critical.classification, critical.critical),
        (Classification::Nodata, true)
    );
}

#[test]
fn one_point_per_arm_is_an_error_that_is_not_scored() {
    let r = classify_metric(&metric(options()), &[1.0], &[2.0]);
    assert_eq!(r.classification, Classification::Error, "{}", r.reason);
    let config = KayentaConfig::new(
        vec![metric(options()), MetricConfig::new("errors", &["errors"])],
        classifier(&[]),
    );
    let result = judge(
        &config,
        &[
            MetricSeries {
                name: "latency_p99".into(),
                baseline: vec![1.0],
                canary: vec![2.0],
            },
            MetricSeries {
                name: "errors".into(),
                baseline: series(1.0, 0.1, 10, 0),
                canary: series(1.0, 0.1, 10, 3),
            },
        ],
    )
    .expect("judged");
    // The Error group has no counted metric, so it contributes 100 like an all-Nodata group.
    assert_eq!(result.metrics[0].classification, Classification::Error);
    assert_eq!(result.metrics[1].classification, Classification::Pass);
    assert_eq!(result.score, 100.0);
}

fn judge_labels(config: &KayentaConfig, shifts: &[(&str, f64)]) -> KayentaResult {
    let series_list: Vec<MetricSeries> = shifts
        .iter()
        .map(|(name, shift)| {
            let baseline = series(100.0, 5.0, 20, 0);
            let canary = if shift.is_nan() {
                vec![f64::NAN; 20]
            } else {
                series(100.0 + shift, 5.0, 20, 3)
            };
            MetricSeries {
                name: (*name).to_owned(),
                baseline,
                canary,
            }
        })
        .collect();
    judge(config, &series_list).expect("judged")
}

#[test]
fn judge_scores_with_weights_and_shares_the_rest() {
    // Groups a (weight 60), b and c unweighted: each gets (100 − 60)/2 = 20.
    let config = KayentaConfig::new(
        vec![
            MetricConfig::new("m1", &["a"]),
            MetricConfig::new("m2", &["a"]),
            MetricConfig::new("m3", &["b"]),
            MetricConfig::new("m4", &["c"]),
        ],
        classifier(&[("a", 60.0)]),
    );
    let result = judge_labels(
        &config,
        &[("m1", 0.0), ("m2", 50.0), ("m3", 0.0), ("m4", 50.0)],
    );
    let labels: Vec<Classification> = result.metrics.iter().map(|m| m.classification).collect();
    use Classification::*;
    assert_eq!(labels, vec![Pass, High, Pass, High]);
    let weights: BTreeMap<&str, f64> = result
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.weight))
        .collect();
    assert_eq!(
        weights,
        BTreeMap::from([("a", 60.0), ("b", 20.0), ("c", 20.0)])
    );
    // 0.6·50 + 0.2·100 + 0.2·0 = 50.
    assert_eq!(result.score, 50.0);
    assert_eq!(result.classification, ScoreClassification::Marginal);
    assert!(!result.critical_failure && !result.too_many_nodata);
}

#[test]
fn judge_thresholds_pass_marginal_fail() {
    let config = |pass, marginal| {
        let mut classifier = classifier(&[]);
        classifier.score_thresholds = ScoreThresholds { pass, marginal };
        KayentaConfig::new(
            vec![
                MetricConfig::new("m1", &["g"]),
                MetricConfig::new("m2", &["g"]),
                MetricConfig::new("m3", &["g"]),
                MetricConfig::new("m4", &["g"]),
            ],
            classifier,
        )
    };
    let shifts = [("m1", 0.0), ("m2", 0.0), ("m3", 0.0), ("m4", 50.0)];
    let at = |pass, marginal| judge_labels(&config(pass, marginal), &shifts);
    assert_eq!(at(75.0, 50.0).score, 75.0);
    assert_eq!(at(75.0, 50.0).classification, ScoreClassification::Pass);
    assert_eq!(at(80.0, 50.0).classification, ScoreClassification::Marginal);
    assert_eq!(at(90.0, 80.0).classification, ScoreClassification::Fail);
    let thresholds = ScoreThresholds {
        pass: 80.0,
        marginal: 75.0,
    };
    assert!(thresholds.interim_aborts(75.0));
    assert!(!thresholds.final_passes(75.0));
}

#[test]
fn judge_critical_failure_zeroes_the_score() {
    let critical = MetricConfig::new("m1", &["g"]).with_options(CanaryOptions {
        critical: true,
        ..options()
    });
    let config = KayentaConfig::new(
        vec![
            critical,
            MetricConfig::new("m2", &["g"]),
            MetricConfig::new("m3", &["h"]),
        ],
        classifier(&[]),
    );
    let result = judge_labels(&config, &[("m1", 50.0), ("m2", 0.0), ("m3", 0.0)]);
    assert!(result.critical_failure);
    assert_eq!(result.score, 0.0);
    assert_eq!(result.classification, ScoreClassification::Fail);
    assert!(
        result.reason.as_deref().unwrap_or("").contains("critical"),
        "{:?}",
        result.reason
    );
    // The same High without `critical` only costs its group.
    let config = KayentaConfig::new(
        vec![
            MetricConfig::new("m1", &["g"]),
            MetricConfig::new("m2", &["g"]),
            MetricConfig::new("m3", &["h"]),
        ],
        classifier(&[]),
    );
    let result = judge_labels(&config, &[("m1", 50.0), ("m2", 0.0), ("m3", 0.0)]);
    assert_eq!(result.score, 75.0);
}

#[test]
fn judge_half_nodata_zeroes_the_score() {
    let config = |n: usize| {
        KayentaConfig::new(
            (1..=n)
                .map(|i| MetricConfig::new(format!("m{i}"), &["g"]))
                .collect(),
            classifier(&[]),
        )
    };
    // 1 of 2 without data: exactly 50% → 0.
    let result = judge_labels(&config(2), &[("m1", f64::NAN), ("m2", 0.0)]);
    assert!(result.too_many_nodata);
    assert_eq!(result.score, 0.0);
    // 1 of 3: under 50% → the others decide.
    let result = judge_labels(&config(3), &[("m1", f64::NAN), ("m2", 0.0), ("m3", 0.0)]);
    assert!(!result.too_many_nodata);
    assert_eq!(result.score, 100.0);
    // NodataFailMetric does not count as Nodata, but fails its group.
    let required = MetricConfig::new("m1", &["g"]).with_options(CanaryOptions {
        must_have_data: true,
        ..options()
    });
    let config = KayentaConfig::new(
        vec![required, MetricConfig::new("m2", &["g"])],
        classifier(&[]),
    );
    let result = judge_labels(&config, &[("m1", f64::NAN), ("m2", 0.0)]);
    assert!(!result.too_many_nodata);
    assert_eq!(result.score, 50.0);
}

#[test]
fn judge_leaves_muted_metrics_out_and_treats_absent_series_as_no_data() {
    let muted = MetricConfig::new("m1", &["g"]).with_options(CanaryOptions {
        muted: true,
        ..options()
    });
    let config = KayentaConfig::new(
        vec![
            muted,
            MetricConfig::new("m2", &["g"]),
            MetricConfig::new("m3", &["g"]),
        ],
        classifier(&[]),
    );
    let result = judge_labels(&config, &[("m1", 50.0), ("m2", 0.0), ("m3", 0.0)]);
    assert_eq!(result.metrics[0].classification, Classification::High);
    assert!(result.metrics[0].muted);
    assert_eq!(result.score, 100.0);
    assert_eq!(result.groups[0].high, 0);

    // m3 has no series: it is judged as a query that returned nothing.
    let result = judge_labels(&config, &[("m1", 0.0), ("m2", 0.0)]);
    assert_eq!(result.metrics[2].classification, Classification::Nodata);
    // Of the two scored metrics one has no data: 50% → 0.
    assert_eq!(result.score, 0.0);

    let unknown = judge(
        &config,
        &[MetricSeries {
            name: "nope".into(),
            baseline: vec![1.0],
            canary: vec![1.0],
        }],
    );
    assert!(matches!(unknown, Err(KayentaError::UnknownMetric(_))));
}

// ---------------------------------------------------------------------------------------------
// Cross-check with the shared statistics core
// ---------------------------------------------------------------------------------------------

#[test]
fn interval_agrees_with_the_exact_core_within_the_root_tolerance() {
    use canaryd::judge::histogram::BinnedPair;
    use canaryd::judge::hodges_lehmann::hodges_lehmann;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    // Kayenta root-finds what the core computes exactly (order statistics of the pairwise
    // differences); on untied data the two may differ only by Brent's stopping tolerance.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut draw = |n: usize, shift: f64| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                100.0 * (0.3 * z).exp() + shift
            })
            .collect()
    };
    for round in 0..20 {
        let shift = f64::from(round);
        let baseline = draw(40, 0.0);
        let canary = draw(15, shift);
        let kayenta = shift_interval(&canary, &baseline, 0.98).expect("kayenta interval");
        let exact = hodges_lehmann(&BinnedPair::from_samples(&baseline, &canary), 0.98)
            .expect("core interval");
        let slack = ROOT_TOLERANCE;
        assert_close(kayenta.lower, exact.lower, slack, "lower");
        assert_close(kayenta.upper, exact.upper, slack, "upper");
        assert!(
            kayenta.estimate >= exact.lower && kayenta.estimate <= exact.upper,
            "estimate {} outside [{}, {}]",
            kayenta.estimate,
            exact.lower,
            exact.upper
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn any_point() -> impl proptest::strategy::Strategy<Value = f64> {
    use proptest::prelude::*;
    prop_oneof![
        8 => -1e6..1e6f64,
        1 => Just(f64::NAN),
        1 => Just(0.0),
        1 => prop::sample::select(vec![f64::INFINITY, f64::NEG_INFINITY, 1e300, -0.0]),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any series, however broken, yields a classification and never panics; a High or Low
    /// always carries the interval that justifies it.
    #[test]
    fn any_series_is_classified(
        baseline in proptest::collection::vec(any_point(), 0..25),
        canary in proptest::collection::vec(any_point(), 0..25),
        replace in proptest::bool::ANY,
        remove_outliers in proptest::bool::ANY,
    ) {
        let options = CanaryOptions {
            nan_strategy: if replace { NanStrategy::Replace } else { NanStrategy::Remove },
            outliers: OutlierConfig {
                strategy: if remove_outliers { OutlierStrategy::Remove } else { OutlierStrategy::Keep },
                outlier_factor: 3.0,
            },
            ..CanaryOptions::default()
        };
        let r = classify_metric(&MetricConfig::new("m", &["g"]).with_options(options), &baseline, &canary);
        proptest::prop_assert!(!r.reason.is_empty());
        if let Some(hl) = r.hodges_lehmann {
            let bound = 0.25 * hl.estimate.abs();
            match r.classification {
                Classification::High => proptest::prop_assert!(hl.lower > bound),
                Classification::Low => proptest::prop_assert!(hl.upper < -bound),
                _ => {}
            }
        }
    }

    /// Without weights, critical metrics or Nodata, the summary is the mean of the group
    /// scores, within [0, 100], rounded to two decimals.
    #[test]
    fn unweighted_score_is_the_mean_of_group_scores(
        labels in proptest::collection::vec((0usize..3, 0usize..4), 1..30),
    ) {
        use Classification::*;
        let metrics: Vec<MetricClassification> = labels
            .iter()
            .enumerate()
            .map(|(i, (label, group))| {
                let label = [Pass, High, Low][*label];
                labelled(&format!("m{i}"), &[["a", "b", "c", "d"][*group]], label, false)
            })
            .collect();
        let summary = score_metrics(&classifier(&[]), &metrics);
        let mean = summary.groups.iter().map(|g| g.score).sum::<f64>() / summary.groups.len() as f64;
        proptest::prop_assert!((0.0..=100.0).contains(&summary.score));
        proptest::prop_assert!((summary.score - mean).abs() <= 0.005 + 1e-9);
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs of Kayenta's test suites, as written there (ClassifierSuite, MannWhitneySuite,
// StatisticSuite, DetectorSuite)
// ---------------------------------------------------------------------------------------------

const CANARY_NEAR_10: &str = "
9.7767343120109462, 10.587071850477695, 7.8375506388901766, 9.3243326886113884,
8.3774505409784421, 8.9359264399606282, 8.2707663324728511, 9.7484308126716925,
11.623746715547156, 9.2753442679633942, 8.1538047749171518, 10.562020975754294,
13.498135575451835, 11.054419256110332, 6.9538903590055092, 12.521008342195479,
9.0216358603546443, 4.9234856699531662, 11.251360203607172, 11.598449508040337,
8.435232204668182, 11.110228516867279, 10.70063380164755, 8.9212773652115249,
10.086167067942661, 11.42107515483087, 9.3792347813644952, 7.7980320148552593,
10.62339807275746, 11.909642062063739
";
const BASELINE_NEAR_10: &str = "
11.1453586774086, 9.9618059885597017, 7.068574306369829, 7.3012661810483657,
9.7944630265656727, 9.6037918603687302, 6.1867793350339388, 12.345599159550174,
10.371891733859533, 8.6094300785016724, 9.913162673361084, 10.361375299003466,
14.206800387518818, 10.946153754753301, 10.215876627044048, 11.739760899484603,
10.907627468626439, 12.823353694464775, 8.1018609771732137, 8.4981616408804932,
12.113441374697231, 13.272210809932028, 10.114579381663297, 6.9463958767978067,
6.2105278541727778, 10.160401684903775, 8.3457712066455461, 8.383822063895833,
7.0020205070083765, 10.755757401808442
";
const CANARY_NEAR_20: &str = "
20.878412601720026, 21.78550581191622, 19.70828084717019, 15.859946903461562,
19.510058772176841, 19.392005525270303, 22.926528314912101, 17.156530276709894,
18.655117916226171, 23.422607911610392, 24.055817684156644, 22.62689958516501,
21.979472967817678, 21.659318607218694, 20.067707574072426, 22.119570836305414,
16.44037132663307, 21.559622826341268, 21.000181443489218, 17.779369411412663,
17.806006358943584, 18.537200618386109, 20.555550300210797, 19.552928184468378,
21.771118944087092, 21.809622806176627, 20.961762909905271, 20.977571577503021,
19.106303205498794, 16.976918966987078
";
const BASELINE_NEAR_20: &str = "
20.758113589510348, 22.802059629464559, 20.612340363492208, 20.973274654749986,
23.469237330498622, 21.53133988954805, 21.767353687439805, 18.308050730374301,
19.062145167827566, 25.879498436001779, 18.982629726336128, 19.387920182269266,
18.995398251246982, 24.228420230932805, 20.050985172694688, 18.2340451091756,
17.870515494460435, 23.058103863806618, 18.400259567501134, 16.971352091177167,
19.467529066052151, 17.90465423342031, 17.553948617825831, 16.104611843907193,
24.38171081433039, 15.919294339922635, 20.479409626304697, 19.08307201492406,
17.455788050722866, 18.853826823235142
";
const SPARSE_CANARY: &str = "
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6666666666666572, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
3.7037037037036811, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5625000000000142, 0.0, 0.0, 0.0, 0.0,
3.3333333333333428, 0.0, 1.7543859649122737, 0.0, 1.8518518518518476, 0.0, 0.0,
1.8518518518518476, 0.0, 0.0, 1.5151515151515156, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 1.7857142857142776, 1.3333333333333286, 0.0, 3.1250000000000142, 1.9607843137255117,
1.4492753623188293, 2.4390243902438868, 1.6393442622950687, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 1.6129032258064484, 1.9607843137255117, 1.5873015873015817, 0.0, 0.0,
2.8169014084507182, 0.0, 0.0, 3.0303030303030454, 0.0, 0.0, 3.3898305084745743, 0.0, 0.0,
1.234567901234584, 0.0, 0.0, 0.0, 0.0, 1.7241379310344769, 0.0, 0.0, 0.0, 0.0,
1.6949152542372872, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.470588235294116, 0.0, 0.0,
1.3698630136986196, 3.225806451612911, 1.7543859649122879, 3.4482758620689538, 0.0,
3.3333333333333428, 0.0, 0.0, 0.0, 1.818181818181813, 0.0, 0.0, 1.4285714285714448, 0.0, 0.0,
1.8867924528301927, 2.0000000000000284, 0.0, 0.0, 0.0, 2.985074626865682, 0.0, 0.0,
1.6666666666666714, 0.0, 0.0, 1.5625, 1.9230769230769198, 0.0, 1.8518518518518619, 0.0,
2.7027027027027088, 0.0, 0.0, 0.0, 1.3513513513513544, 0.0, 1.818181818181813, 0.0,
1.6666666666666572, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.818181818181813, 0.0,
1.4285714285714164, 0.0, 0.0, 4.1095890410959015, 0.0, 0.0, 0.0, 1.8518518518518619, 0.0,
0.0, 1.8518518518518476, 1.3888888888888857, 0.0, 0.0, 0.0, 0.0, 1.8867924528301785,
1.4285714285714164, 0.0, 0.0, 1.5625, 1.8867924528301927, 0.0, 0.0, 0.0, 0.0,
2.040816326530603, 1.818181818181813, 0.0, 0.0, 1.6393442622950687, 0.0, 1.7241379310344769,
1.5151515151515156, 2.564102564102555, 0.0, 0.0, 0.0, 0.0, 5.5555555555555571, 0.0, 0.0,
4.0816326530612059, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.5714285714285836, 0.0,
2.040816326530603, 3.1746031746031633, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
";
const SPARSE_BASELINE: &str = "
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5625000000000142, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 1.3888888888888857, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
1.5384615384615614, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 1.4925373134328339, 0.0, 0.0, 0.0, 1.6949152542373014, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.470588235294116, 0.0, 0.0, 0.0, 0.0, 1.7543859649122879,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.8518518518518619, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6393442622950687, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
1.7241379310344769, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 1.5873015873015817, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 1.4925373134328339, 0.0, 0.0, 0.0, 3.1249999999999858, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.4925373134328339, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.9850746268656536, 0.0,
2.5000000000000284, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
0.0, 0.0, 0.0, 0.0, 1.7857142857142776, 0.0, 0.0, 0.0
";
const CLES_PASS_CANARY: &str = "
0.00000000e+00, 0.00000000e+00, 1.46580998e-04, 0.00000000e+00, 0.00000000e+00,
0.00000000e+00, 7.94701987e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
2.68889486e-05, 0.00000000e+00, 0.00000000e+00, 2.64935753e-05, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 2.61608895e-05, 1.27824931e-04, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 2.54511211e-05, 2.58665287e-05, 7.63339355e-05,
0.00000000e+00, 2.54239443e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
2.61001201e-05, 5.20101940e-05, 0.00000000e+00, 2.64452319e-05, 5.27551370e-05,
7.83719533e-05, 5.19467027e-05, 2.58344528e-05, 2.58899676e-05, 0.00000000e+00,
2.59497613e-05, 2.57938043e-05, 7.78553448e-05, 2.60593110e-05, 2.61001201e-05,
0.00000000e+00, 0.00000000e+00, 2.59349551e-05, 2.60559160e-05, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
2.58819267e-05, 0.00000000e+00, 2.58825965e-05, 2.57572635e-05, 2.56877906e-05
";
const CLES_PASS_BASELINE: &str = "
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 2.91528191e-05, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 2.98284862e-05, 5.99916012e-05, 0.00000000e+00,
5.92276712e-05, 0.00000000e+00, 2.98053709e-05, 0.00000000e+00, 2.97309350e-05,
5.92153960e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 2.92800047e-05,
0.00000000e+00, 2.94550810e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
5.83958656e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
2.88600289e-05, 2.90334756e-05, 2.91740817e-05, 0.00000000e+00, 0.00000000e+00,
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 2.92765758e-05,
0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00,
2.94637596e-05, 5.89136326e-05, 0.00000000e+00, 0.00000000e+00, 0.00000000e+00
";
const CLES_HIGH_CANARY: &str = "
0.00689808, 0.00568664, 0.00680876, 0.00642045, 0.00561825, 0.00472294, 0.00398378,
0.00392403, 0.00421201, 0.0047529, 0.00460853, 0.00439888, 0.00561875, 0.01998866, 0.0124369,
0.00624391, 0.00444361, 0.00442059, 0.00372095, 0.00540736, 0.00715402, 0.00425974,
0.00414409, 0.01172436, 0.0125959, 0.00371891, 0.00429855, 0.00369876, 0.00325709,
0.00415943, 0.00371754, 0.00445212, 0.00521721, 0.00443938, 0.00380859, 0.01602997,
0.00788885, 0.0038155, 0.00326921, 0.00336928, 0.00365917, 0.00333869, 0.00427639,
0.00355911, 0.00381224, 0.00360057, 0.00349305, 0.00401164, 0.00351947, 0.00356299, 0.003407,
0.00414397, 0.00393346, 0.00413318, 0.00359041, 0.00366314, 0.00309383, 0.00383733,
0.00363324, 0.00280674
";
const CLES_HIGH_BASELINE: &str = "
0.00081956, 0.00239282, 0.00133685, 0.00094917, 0.00029518, 0.00035344, 0.00048194,
0.00034893, 0.0003202, 0.00079814, 0.00090881, 0.00072599, 0.00037819, 0.00038286,
0.00057604, 0.00064821, 0.00032194, 0.0002245, 0.00025202, 0.00071997, 0.00022721,
0.00042578, 0.00042496, 0.00045613, 0.00037072, 0.0003317, 0.00032889, 0.00032749,
0.00036093, 0.00029285, 0.00038401, 0.00044467, 0.00071086, 0.00036692, 0.00052079,
0.00074974, 0.00128791, 0.00062046, 0.00086345, 0.00118563, 0.00103379, 0.00028913,
0.00057628, 0.00057943, 0.00048735, 0.00029409, 0.0002005, 0.00016612, 0.00089312,
0.00059367, 0.00061706, 0.00163313, 0.00097784, 0.00029305, 0.00058839, 0.00085212,
0.00048298, 0.00035546, 0.00025866, 0.00038767
";
const CLES_LOW_CANARY: &str = "
24.24693907, 26.13330099, 22.50056744, 24.36646841, 23.19935673, 19.43801304, 20.99654102,
18.90793651, 21.31949881, 21.83528381, 21.64211206, 23.13365968, 21.09163134, 19.45540615,
20.74783158, 22.25527831, 19.82051791, 20.9865487, 19.94450026, 23.2904056, 18.18408424,
22.13843542, 19.42896044, 19.84140464, 23.91557662, 21.00981557, 21.8594633, 23.11630163,
22.95700392, 17.80045135
";
const CLES_LOW_BASELINE: &str = "
25.09626848, 26.15032198, 24.88431438, 24.18870163, 22.14684987, 28.01743443, 21.29910501,
27.24688773, 28.64187535, 27.03504445, 24.67888311, 22.35137878, 27.41640397, 26.00225548,
23.02118534, 25.99647292, 22.77446912, 25.56704719, 25.57025827, 21.2721602, 23.12987357,
24.59111604, 27.48865016, 27.21967755, 23.5951111, 22.5429607, 25.83015564, 23.31965305,
24.3911644, 25.11468194
";
const ZERO_MEAN_CRITICAL_CANARY: &str = "
0.05000000074505806, 0.05000000074505806, 0.01666666753590107, 0.01666666753590107,
0.01666666753590107, 0.05000000074505806, 0.03333333507180214, 0.05000000260770321,
0.05000000260770321, 0.13333333656191826
";
const R_TIE_BASELINE: &str = "
1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5,
2.5, 2.0, 2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0,
2.0, 2.0, 2.0, 2.0, 5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0,
3.5, 3.0, 54.5, 3.0, 5.0, 6.0, 3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0, 2.5, 3.5,
3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5, 3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0
";
const R_TIE_CANARY: &str = "
2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0,
2.0, 1.5, 2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5,
3.0, 3.5, 2.5, 6.5, 2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5,
2.0, 4.0, 2.5, 2.0, 2.5, 3.5, 4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0, 7.0, 4.5,
5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0, 3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0
";
const R_TIE_LARGE_CANARY: &str = "
1.5, 2.0, 5.0, 1.5, 1.5, 8.5, 1.0, 1.0, 2.0, 1.0, 1.5, 0.5, 2.0, 1.5, 2.0, 1.5, 1.0, 2.5,
1.5, 1.5, 2.0, 1.5, 1.5, 1.5, 2.0, 2.0, 1.0, 5.5, 1.5, 2.0, 1.5, 1.5, 1.0, 2.5, 1.0, 2.0,
1.5, 1.5, 2.0, 2.0, 1.5, 1.5, 1.0, 1.0, 2.0, 0.5, 1.5, 0.5, 3.5, 1.5, 3.0, 19.0, 0.5, 1.5,
0.5, 1.5, 2.0, 1.5, 1.5, 1.5, 1.5, 2.0, 1.5, 2.0, 2.0, 1.5, 1.0, 1.5, 1.0, 2.0, 1.0, 2.0,
1.5, 1.5, 3.0, 2.0, 1.5, 1.5, 0.5, 2.0, 1.5, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 1.5, 1.0,
1.0, 2.0, 1.5, 1.5, 1.5, 0.5, 1.5, 1.5, 0.5, 1.0, 1.5, 1.5, 1.5, 1.0, 2.0, 2.0, 2.0, 1.5,
1.0, 1.5, 1.0, 1.0, 1.5, 3.5, 2.0, 1.5, 1.0, 2.0, 1.5, 5.5, 0.5, 2.0, 3.5, 1.5, 1.0, 2.0,
0.5, 2.5, 1.0, 1.5, 0.5, 2.0, 2.0, 1.0, 0.5, 1.5, 1.0, 1.5, 0.5, 0.5, 1.0, 1.5, 1.0, 1.5,
0.5, 1.5, 1.0, 1.0, 0.5, 1.0, 0.5, 4.0, 1.0, 1.5, 2.0, 5.5, 1.5, 0.5, 2.0, 1.0, 1.5, 1.0,
1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2.0, 0.5, 1.5, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0
";
const R_TIE_LARGE_BASELINE: &str = "
1.5, 1.5, 1.0, 2.0, 1.5, 1.5, 1.5, 2.0, 1.0, 1.0, 2.0, 1.5, 1.5, 1.0, 1.5, 1.5, 1.5, 1.5,
1.5, 2.0, 1.0, 1.5, 3.0, 2.0, 1.0, 1.5, 1.5, 1.5, 2.0, 1.5, 1.0, 1.0, 1.5, 2.5, 2.0, 0.0,
1.0, 2.0, 2.0, 1.5, 3.0, 2.0, 1.0, 2.5, 0.5, 1.5, 0.5, 2.5, 2.0, 1.5, 1.5, 2.0, 1.0, 4.5,
2.5, 0.5, 2.5, 1.5, 1.5, 1.0, 2.0, 1.0, 2.5, 1.5, 2.0, 1.5, 3.0, 1.5, 1.5, 1.5, 1.5, 2.0,
1.0, 2.5, 1.0, 1.5, 2.5, 1.5, 2.5, 2.0, 1.5, 1.5, 1.5, 2.5, 1.0, 7.5, 1.5, 3.0, 5.5, 1.0,
1.5, 2.0, 1.0, 1.5, 2.5, 2.5, 1.0, 1.0, 2.5, 1.5, 1.5, 3.0, 4.0, 1.0, 1.5, 2.0, 1.5, 1.5,
1.5, 2.5, 1.5, 3.5, 2.5, 1.5, 2.0, 1.0, 4.0, 1.5, 1.0, 1.5, 2.5, 2.5, 2.0, 2.5, 1.5, 1.5,
2.0, 1.0, 1.5, 2.0, 1.5, 1.0, 2.5, 1.5, 1.5, 2.0, 2.0, 1.0, 1.5, 2.5, 0.5, 2.0, 2.5, 2.0,
1.0, 2.0, 0.5, 1.5, 1.0, 2.5, 1.0, 1.5, 1.0, 7.0, 1.0, 3.5, 1.5, 2.0, 1.5, 1.5, 2.0, 3.0,
1.5, 1.5, 2.0, 1.5, 2.0, 1.5, 4.0, 2.0, 1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 2.0, 1.0, 1.5, 0.5
";
const PROBLEM_CANARY: &str = "
0.033331573009490967, 0.033331431448459625, 0.033340621739625931, 0.033327482640743256,
0.033333081752061844, 0.033337771892547607, 0.033327873796224594, 0.033327061682939529,
0.03333958238363266, 0.033333584666252136, 0.033334124833345413, 0.033332068473100662,
0.033346410840749741, 0.033320359885692596, 0.033335521817207336, 0.033327478915452957,
0.033337440341711044, 0.033335164189338684, 0.033331591635942459, 0.033333487808704376,
0.03333389014005661, 0.033332936465740204, 0.033342763781547546, 0.033325422555208206,
0.033330779522657394, 0.033329371362924576, 0.033336970955133438, 0.033333104103803635,
0.03333364799618721, 0.03333389014005661, 0.03333389014005661, 0.033332463353872299,
0.033333174884319305, 0.033335234969854355, 0.033331751823425293, 0.033333010971546173,
0.033331908285617828, 0.033334992825984955, 0.033332701772451401, 0.033334597945213318,
0.033331673592329025, 0.033334437757730484, 0.03333737701177597, 0.033331122249364853,
0.033332377672195435, 0.03333277627825737, 0.033333729952573776, 0.033333413302898407,
0.033345699310302734, 0.033322576433420181, 0.033331170678138733, 0.033333808183670044,
0.033335316926240921, 0.033331751823425293, 0.033332537859678268, 0.033333729952573776,
0.033332463353872299, 0.033333174884319305, 0.033333335071802139, 0.033334285020828247,
0.033332541584968567, 0.033338405191898346, 0.033329933881759644, 0.033332135528326035,
0.03333277627825737, 0.033333729952573776, 0.033334363251924515, 0.033331591635942459,
0.033333487808704376, 0.033331986516714096, 0.033334042876958847, 0.033334918320178986,
0.033330719918012619, 0.033335227519273758, 0.033331356942653656, 0.033331505954265594,
0.033342603594064713, 0.033325426280498505, 0.03333267942070961, 0.033333968371152878,
0.033332463353872299, 0.033334124833345413, 0.033330641686916351, 0.03333427757024765,
0.033333573490381241, 0.033333808183670044, 0.033338643610477448, 0.033328983932733536,
0.033332452178001404, 0.033336184918880463, 0.033330962061882019, 0.033332377672195435,
0.033332303166389465, 0.03334268182516098, 0.033325903117656708, 0.03333180770277977,
0.033333335071802139, 0.033333335071802139, 0.033329054713249207, 0.033335939049720764,
0.033334847539663315, 0.033333495259284973, 0.033332381397485733, 0.033332698047161102,
0.033333729952573776, 0.03333389014005661, 0.033335790038108826, 0.033330883830785751,
0.033332377672195435, 0.033333253115415573, 0.033332858234643936, 0.033333729952573776,
0.033332936465740204, 0.03333277627825737, 0.033332303166389465, 0.03333364799618721,
0.033334363251924515, 0.033333968371152878, 0.033332936465740204, 0.033333729952573776,
0.033334840089082718, 0.033328346908092499, 0.033335302025079727, 0.033334288746118546,
0.033333413302898407, 0.033332858234643936, 0.03333277627825737, 0.03333277627825737,
0.033334203064441681, 0.033333495259284973, 0.033333335071802139, 0.033333335071802139,
0.033333808183670044, 0.033333413302898407, 0.0333409383893013, 0.033326059579849243,
0.033332839608192444, 0.033329691737890244, 0.033334117382764816, 0.033333573490381241,
0.033332858234643936, 0.033339906483888626, 0.03332732617855072, 0.033332604914903641,
0.033332940191030502, 0.03333277627825737, 0.033333253115415573, 0.033333335071802139,
0.033332858234643936, 0.033333253115415573, 0.033340461552143097, 0.03332788497209549,
0.033330783247947693, 0.033329766243696213, 0.033332295715808868, 0.03333277627825737,
0.033334203064441681, 0.033333495259284973, 0.033333808183670044, 0.033333413302898407,
0.033333335071802139, 0.033332858234643936, 0.03333277627825737, 0.033333726227283478,
0.033332463353872299, 0.033334121108055115, 0.033332545310258865, 0.03333364799618721,
0.033332940191030502, 0.033331826329231262, 0.033333566039800644, 0.033334363251924515,
0.033333495259284973, 0.033333335071802139, 0.033333335071802139, 0.033332858234643936,
0.033333726227283478, 0.033333413302898407, 0.033332381397485733, 0.033334121108055115,
0.033333495259284973, 0.033332858234643936, 0.033333726227283478, 0.033334840089082718,
0.033331673592329025, 0.033333010971546173, 0.033338084816932678, 0.03333556279540062,
0.033327396959066391, 0.033332288265228271, 0.033332381397485733, 0.033332698047161102,
0.033334203064441681, 0.03333301842212677, 0.033333726227283478, 0.033332940191030502,
0.033332303166389465, 0.03333364799618721, 0.03333389014005661, 0.033333413302898407,
0.033332858234643936, 0.033333253115415573, 0.033332858234643936, 0.033333253115415573,
0.033333808183670044, 0.033332940191030502, 0.033333726227283478, 0.033332940191030502,
0.033333253115415573, 0.033333808183670044, 0.03333389014005661, 0.033333413302898407,
0.033332381397485733, 0.03333364799618721, 0.03333389014005661, 0.033332940191030502,
0.033333253115415573, 0.033333335071802139, 0.03333570808172226, 0.033331360667943954,
0.033332455903291702, 0.033333253115415573, 0.033333808183670044, 0.033333413302898407,
0.033334285020828247, 0.033332068473100662, 0.0333406962454319, 0.033326543867588043,
0.033331491053104401, 0.033333726227283478, 0.033331990242004395, 0.033333566039800644,
0.033334840089082718, 0.033333573490381241, 0.033330958336591721, 0.033333878964185715,
0.03333301842212677, 0.033335153013467789, 0.033331755548715591, 0.033333010971546173,
0.033333808183670044, 0.033335313200950623, 0.033331755548715591, 0.033331587910652161,
0.033334042876958847, 0.033333495259284973, 0.033331908285617828, 0.033333092927932739,
0.033333808183670044, 0.033333413302898407, 0.033331435173749924, 0.033334437757730484,
0.033334050327539444, 0.033332940191030502, 0.033340856432914734, 0.033325120806694031,
0.033331722021102905, 0.033337607979774475, 0.033331207931041718, 0.033333323895931244,
0.033332940191030502, 0.033334203064441681, 0.033333495259284973, 0.033334285020828247,
0.03333301842212677, 0.03333277627825737, 0.03333277627825737, 0.033333253115415573,
0.033333335071802139, 0.033333808183670044, 0.03333389014005661, 0.033332940191030502,
0.033332303166389465, 0.033336970955133438, 0.033330176025629044, 0.033333640545606613,
0.033333495259284973, 0.033333808183670044, 0.033333413302898407, 0.033330008387565613,
0.033333245664834976, 0.033332940191030502, 0.033333253115415573, 0.033333335071802139,
0.033333335071802139, 0.033332858234643936, 0.033334203064441681, 0.033333495259284973,
0.033332858234643936, 0.033333253115415573, 0.033333335071802139, 0.033332385122776031,
0.03333364799618721, 0.033332463353872299, 0.033334121108055115, 0.03333301842212677,
0.03333277627825737, 0.033335626125335693, 0.033332310616970062, 0.033332142978906631,
0.03333364799618721, 0.033332463353872299, 0.03333364799618721, 0.033332940191030502,
0.033334203064441681, 0.033332068473100662, 0.033334515988826752, 0.033333100378513336,
0.033333253115415573, 0.033332858234643936, 0.033334203064441681, 0.033333495259284973,
0.033332858234643936, 0.03333277627825737, 0.03333277627825737, 0.033334203064441681,
0.033333495259284973, 0.033333335071802139, 0.033332858234643936, 0.033333726227283478,
0.033333413302898407, 0.033333335071802139, 0.033333335071802139, 0.033332858234643936,
0.033333253115415573, 0.033333808183670044, 0.03333389014005661, 0.033338163048028946,
0.03332844004034996, 0.033332839608192444, 0.033333413302898407, 0.033333335071802139,
0.033332385122776031, 0.033332698047161102, 0.033333253115415573, 0.033333808183670044,
0.033333413302898407, 0.033333335071802139, 0.033333335071802139, 0.033332858234643936,
0.033333726227283478, 0.033333413302898407, 0.033332858234643936, 0.033333726227283478,
0.033332463353872299, 0.033334121108055115, 0.033332545310258865, 0.03333364799618721,
0.033332940191030502, 0.033333253115415573, 0.033333335071802139, 0.033332385122776031,
0.033333171159029007, 0.033333808183670044, 0.033331040292978287, 0.033334828913211823,
0.03333413228392601, 0.033333413302898407, 0.033336181193590164, 0.033331442624330521,
0.033331979066133499, 0.03333364799618721, 0.033333413302898407, 0.033333335071802139,
0.033332858234643936, 0.033333253115415573, 0.033333808183670044, 0.033332463353872299,
0.03333364799618721, 0.033335790038108826, 0.033331360667943954, 0.033331979066133499,
0.033333171159029007, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033332858234643936, 0.033333253115415573, 0.033333808183670044, 0.033333413302898407,
0.033332858234643936, 0.033333726227283478, 0.033333413302898407, 0.033332858234643936,
0.033339425921440125, 0.033327259123325348, 0.033333070576190948, 0.033333495259284973,
0.033331908285617828, 0.033334515988826752, 0.033333577215671539, 0.033332858234643936,
0.033333726227283478, 0.03333389014005661, 0.033333413302898407, 0.033332858234643936,
0.033342275768518448, 0.033325843513011932, 0.033331800252199173, 0.033333335071802139,
0.033333335071802139, 0.033337131142616272, 0.033330179750919342, 0.033332686871290207,
0.033332858234643936, 0.033333253115415573, 0.033333335071802139, 0.033333808183670044,
0.033333413302898407, 0.033333335071802139, 0.033333808183670044, 0.033333413302898407,
0.033332858234643936, 0.033332303166389465, 0.033334121108055115, 0.033333968371152878,
0.033332463353872299, 0.033334121108055115, 0.033332545310258865, 0.033333171159029007,
0.033334281295537949, 0.03333301842212677, 0.033337052911520004, 0.033330179750919342,
0.033332686871290207, 0.033332385122776031, 0.033334121108055115, 0.033333495259284973,
0.033332858234643936, 0.033334203064441681, 0.03333301842212677, 0.03333277627825737,
0.033333253115415573, 0.033333335071802139, 0.033333808183670044, 0.033333413302898407,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332858234643936, 0.033333726227283478,
0.033332940191030502, 0.033333726227283478, 0.033332940191030502, 0.03333277627825737,
0.033333253115415573, 0.033332858234643936, 0.033333253115415573, 0.033333335071802139,
0.033333808183670044, 0.033332940191030502, 0.033333253115415573, 0.033333808183670044,
0.033332940191030502, 0.033333726227283478, 0.033332940191030502, 0.033333253115415573,
0.033333335071802139, 0.033331435173749924, 0.033333010971546173, 0.033329535275697708,
0.033333159983158112, 0.033333413302898407, 0.033332385122776031, 0.033332698047161102,
0.033333253115415573, 0.033333335071802139, 0.03333808109164238, 0.033328920602798462,
0.033332917839288712, 0.033333413302898407, 0.033333808183670044, 0.033332463353872299,
0.03333364799618721, 0.03333389014005661, 0.033332940191030502, 0.033333253115415573,
0.033339031040668488, 0.033328130841255188, 0.033332757651805878, 0.033337213099002838,
0.033329706639051437, 0.033333081752061844, 0.033333413302898407, 0.033333335071802139,
0.033331435173749924, 0.033333010971546173, 0.033333808183670044, 0.033332940191030502,
0.033333253115415573, 0.033333335071802139, 0.033332858234643936, 0.033333253115415573,
0.033334281295537949, 0.033332545310258865, 0.033329848200082779, 0.033336564898490906,
0.033333979547023773, 0.033333808183670044, 0.033332940191030502, 0.03333277627825737,
0.033333726227283478, 0.033332463353872299, 0.033333644270896912, 0.033333413302898407,
0.033336181193590164, 0.033329073339700699, 0.033333472907543182, 0.033331595361232758,
0.033333484083414078, 0.033334363251924515, 0.033333022147417068, 0.033333253115415573,
0.033332858234643936, 0.033333726227283478, 0.033332940191030502, 0.033333726227283478,
0.03333389014005661, 0.033332940191030502, 0.03333277627825737, 0.033333253115415573,
0.033333335071802139, 0.033333808183670044, 0.033333413302898407, 0.033332858234643936,
0.033333253115415573, 0.033333335071802139, 0.033333335071802139, 0.033333808183670044,
0.033332465144098967, 0.033334121108055115, 0.033333495264656968, 0.033332858748650482,
0.033333726953703811, 0.033332940191030502, 0.033332777787036881, 0.033331830054521561,
0.033333090317706336, 0.033332858794946005, 0.033332777787036881, 0.033334203064441681,
0.033333495357252649, 0.033333335071802139, 0.033332858794946005, 0.033333253115415573,
0.033332858804205112, 0.033332777787036881, 0.033332777787036881, 0.033333726805555658,
0.033332940191030502, 0.033333726805555658, 0.033332467079162598, 0.033334121108055115,
0.033332546407406537, 0.033333171227625746, 0.033333808183670044, 0.03333341438098042,
0.033332858831982427, 0.033334203064441681, 0.033333022147417068, 0.033333726805555658,
0.033332467079162598, 0.033333645735534205, 0.03333341438098042, 0.033344251231490589,
0.033324278891086578, 0.033330522477626801, 0.033334121108055115, 0.033332072198390961,
0.033334513638891838, 0.033333101983028871, 0.033332777787036881, 0.033333253115415573,
0.033333335071802139, 0.033333808183670044, 0.033333414390239832, 0.033332858841241535,
0.033332303320019754, 0.03333364565220226, 0.033341009169816971, 0.033336527645587921,
0.033324641098801053, 0.033331319689750671, 0.033332777787036881, 0.033333726731481585,
0.033332940191030502, 0.033332303338537345, 0.033333645596647629, 0.03333341442727749,
0.033333808183670044, 0.033332940191030502, 0.033333253115415573, 0.033333335071802139,
0.033333335071802139, 0.03333285887827795, 0.033333253115415573, 0.033332858887537058,
0.033333253115415573, 0.033333335071802139, 0.033332858896796165, 0.033341795206069946,
0.033326250666029227, 0.033332348047677852, 0.033332940191030502, 0.033333726657407511,
0.033332467079162598, 0.033333645513315691, 0.033332940191030502, 0.033330880273087206,
0.033333402127027512, 0.033332467079162598, 0.0333336453466518, 0.033332940191030502,
0.033333253115415573, 0.033332858970869003, 0.033332777787036881, 0.033333726490740845,
0.033333414529131036, 0.033333808183670044, 0.033332940191030502, 0.033333253115415573,
0.033333335071802139, 0.033332385122776031, 0.033333645263319854, 0.033333414538390456,
0.033333808183670044, 0.033333414529131036, 0.033345197304432403, 0.033322077244520187,
0.033332483243073328, 0.033333577215671539, 0.033332385122776031, 0.033332222259258026,
0.033334121108055115, 0.033332547111110236, 0.033333645207765224, 0.033332940231481367,
0.033334200782976497, 0.033332547111110236, 0.033333645207765224, 0.033333414556909281,
0.033331912010908127, 0.033334039151668549, 0.033333022147417068, 0.033333726416666772,
0.033332940249999887, 0.033333253115415573, 0.033332859026423634, 0.033333726398148252,
0.033333414575428107, 0.033333335071802139, 0.033332859026423634, 0.033333253115415573,
0.033332859035682734, 0.033333726379629738, 0.03333389014005661, 0.033332940268518407,
0.033333253115415573, 0.033332385122776031, 0.033333645096655963, 0.033332940305555447,
0.033333726361111218, 0.033334363251924515, 0.033332549035549164, 0.033333645124433285,
0.033333414584687519, 0.033332859035682734, 0.033332777787036881, 0.033333253115415573,
0.033333335071802139, 0.033333808183670044, 0.033332940305555447, 0.033332777787036881,
0.033333253115415573, 0.033332859063460049, 0.033332777787036881, 0.033334200588528817,
0.033341560901615219, 0.033325701951980591, 0.033332739025354385, 0.033333970179990124,
0.033331044018268585, 0.033332452560300749, 0.033333253115415573, 0.033333335071802139,
0.033332859109755579, 0.033333726231481585, 0.033332940435185074, 0.033333253115415573,
0.033336654305458069, 0.033330108970403671, 0.033332683145999908, 0.033333335071802139,
0.033333808183670044, 0.033332940453703594, 0.033333253115415573, 0.033333808183670044,
0.03333389014005661, 0.033332467079162598, 0.033332698047161102, 0.033334200421859368,
0.033333496005422403, 0.033332859119014686, 0.033327562574424409, 0.033332830194092361,
0.03333389014005661, 0.033332940657407301, 0.033333726227283478, 0.033332466560742027,
0.033333170431355995, 0.033333807443087012, 0.033333414779135206, 0.033331437015310092,
0.033334429722471248, 0.033333577706663113, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.03334234412193491, 0.03332539570553001,
0.033331704616979527, 0.033333333333333333, 0.033333807433827599, 0.033330096462569674,
0.033332288741132837, 0.033335148044441272, 0.033332237194690327, 0.03333308879000494,
0.033332859304196778, 0.033333725842592699, 0.03333294082407396, 0.033333725842592699,
0.033333414853210515, 0.033338548696890728, 0.033329488482097963, 0.033332518376566866,
0.033332385272342772, 0.033333170283212782, 0.033341394089436455, 0.033327606021646888,
0.033331636961632112, 0.033333251816173429, 0.033333333333333333, 0.033333333333333333,
0.033333807378271116, 0.03333294080555544, 0.033333251816173429, 0.033333333333333333,
0.033333333333333333, 0.033332385290860675, 0.033333644291113837, 0.03333294084259248,
0.033334199866294552, 0.033342031603039952, 0.033325791087950536, 0.033331784795925731,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033339022804560907,
0.033341424390571209, 0.033321279221429051, 0.033331051361216613, 0.033333333333333326,
0.033332859322714986, 0.033333725805555658, 0.03333341487172934, 0.033333333333333326,
0.03333380735975229, 0.03333294084259248, 0.033333251797655221, 0.033332859322714986,
0.033333725805555658, 0.033331518924051777, 0.033334903111118086, 0.033333185492607796,
0.033333725805555658, 0.033332940861111, 0.033333725805555658, 0.033332466866292487,
0.033332696235558942, 0.033334199782959831, 0.033332074474682581, 0.033333088623346607,
0.033333333333333333, 0.033332859359751409, 0.033334673739125756, 0.033332630043832891,
0.033333644180004576, 0.033332940916666554, 0.033333725750000105, 0.033332940916666554,
0.033333725750000105, 0.033342423576329321, 0.033324926195972791, 0.033332094662882922,
0.033333414908766998, 0.033332385401968083, 0.033333170153587471, 0.033332859378269616,
0.033333725694444545, 0.033333888898148298, 0.033332467005179063, 0.033339332868476623,
0.033328705070809879, 0.033332828388867759, 0.033332940953703594, 0.033332777787036881,
0.033333725694444545, 0.033333414927285823, 0.033333333333333333, 0.033333807304195807,
0.033332940953703594, 0.033333725712963072, 0.033333414918026411, 0.033332859369010509,
0.033332303847771146, 0.033333644068895316, 0.033333888898148298, 0.033333414927285823,
0.033333333333333333, 0.033333807304195807, 0.033332467005179063, 0.033333644096672631,
0.033333414927285823, 0.033333333333333333, 0.033332859378269616, 0.03333325173284149,
0.033333333333333333, 0.033332859387528724, 0.033329460673500177, 0.033332679938971099,
0.033333333333333333, 0.033332385624182899, 0.033333643791122171, 0.033336732443948879,
0.033331535375235768, 0.0333329249877325, 0.033332859461601562, 0.033332777787036881,
0.033333251640250437, 0.033333333333333333
";
const PROBLEM_BASELINE: &str = "
0.033332832157611847, 0.033334780484437943, 0.033332996070384979, 0.033332277089357376,
0.033333722501993179, 0.033332888036966324, 0.033333279192447662, 0.033333335071802139,
0.033332832157611847, 0.033333778381347656, 0.03333389014005661, 0.033332888036966324,
0.033333279192447662, 0.033331830054521561, 0.033333670347929001, 0.03333389014005661,
0.033333387225866318, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.03333238884806633, 0.033333223313093185, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033333279192447662,
0.033333834260702133, 0.033333387225866318, 0.033328328281641006, 0.033332783728837967,
0.033333335071802139, 0.033333834260702133, 0.033332888036966324, 0.03333277627825737,
0.033333778381347656, 0.03333389014005661, 0.03333238884806633, 0.033333223313093185,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033332277089357376,
0.033333722501993179, 0.033333387225866318, 0.033333335071802139, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033331833779811859,
0.033333167433738708, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033334333449602127, 0.033332444727420807, 0.033332221210002899,
0.033333722501993179, 0.033333387225866318, 0.033332832157611847, 0.033333778381347656,
0.033333387225866318, 0.033332832157611847, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033333778381347656,
0.033333387225866318, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333834260702133, 0.033332888036966324, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033331330865621567, 0.033333111554384232,
0.033333834260702133, 0.033332888036966324, 0.033333778381347656, 0.033332888036966324,
0.033333279192447662, 0.033333335071802139, 0.033332832157611847, 0.033333279192447662,
0.033332832157611847, 0.033333279192447662, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033333387225866318, 0.033332832157611847, 0.033333279192447662,
0.033333834260702133, 0.033332888036966324, 0.03333277627825737, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033329330384731293,
0.03333389014005661, 0.033332444727420807, 0.033332724124193192, 0.033333279192447662,
0.033333834260702133, 0.033332888036966324, 0.033333279192447662, 0.033333335071802139,
0.033332832157611847, 0.033333279192447662, 0.033333834260702133, 0.033332888036966324,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333834260702133, 0.033333387225866318,
0.033332832157611847, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332332968711853,
0.033334724605083466, 0.033332999795675278, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033331833779811859, 0.033334165811538696, 0.033333443105220795,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333834260702133, 0.033332888036966324, 0.033333279192447662,
0.033333335071802139, 0.033333834260702133, 0.03333238884806633, 0.033334221690893173,
0.033332444727420807, 0.033333223313093185, 0.033333335071802139, 0.033333335071802139,
0.033334333449602127, 0.033332444727420807, 0.033333223313093185, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033332888036966324, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033331334590911865, 0.033333610743284225,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033332832157611847, 0.033333279192447662, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332332968711853, 0.033334221690893173, 0.033332943916320801,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033333834260702133,
0.03333389014005661, 0.03333238884806633, 0.033333223313093185, 0.033332832157611847,
0.033333279192447662, 0.033333335071802139, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332332968711853, 0.033334720879793167, 0.033333998173475266,
0.03333238884806633, 0.033332724124193192, 0.033333279192447662, 0.033334333449602127,
0.033332444727420807, 0.033333223313093185, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332832157611847, 0.033333778381347656, 0.033332888036966324,
0.033333778381347656, 0.033333387225866318, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033332832157611847, 0.033333778381347656, 0.033332888036966324,
0.033333279192447662, 0.033333834260702133, 0.033332888036966324, 0.033333279192447662,
0.033333834260702133, 0.033333387225866318, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033334333449602127, 0.033332444727420807, 0.033332724124193192,
0.033333279192447662, 0.033331833779811859, 0.033335167914628983, 0.033333055675029755,
0.033333279192447662, 0.033333834260702133, 0.033332888036966324, 0.033333778381347656,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033334333449602127,
0.033332444727420807, 0.033333722501993179, 0.033332888036966324, 0.033333778381347656,
0.033333387225866318, 0.033332832157611847, 0.033333279192447662, 0.033333335071802139,
0.033332832157611847, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333834260702133, 0.033332888036966324, 0.033333279192447662,
0.033333335071802139, 0.033332832157611847, 0.033333778381347656, 0.033332888036966324,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033331833779811859,
0.033333167433738708, 0.033333335071802139, 0.033333335071802139, 0.033331833779811859,
0.033333167433738708, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033333778381347656,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332832157611847, 0.033333279192447662, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033334333449602127, 0.033331945538520813,
0.033333666622638702, 0.03333389014005661, 0.033332888036966324, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332332968711853,
0.033334221690893173, 0.033332943916320801, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033332888036966324, 0.03333277627825737, 0.033333778381347656,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332332968711853, 0.033333223313093185, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033332832157611847, 0.033333778381347656, 0.033332888036966324,
0.03333277627825737, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332832157611847, 0.03333277627825737, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333834260702133, 0.033332888036966324,
0.033333279192447662, 0.033332832157611847, 0.03333277627825737, 0.033333279192447662,
0.033332832157611847, 0.033333279192447662, 0.033333834260702133, 0.033331390470266342,
0.033333111554384232, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033332832157611847, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332832157611847, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033334333449602127, 0.033332444727420807, 0.033333223313093185,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332832157611847,
0.033333279192447662, 0.033330835402011871, 0.033334553241729736, 0.033333498984575272,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033334333449602127,
0.033332444727420807, 0.033333223313093185, 0.033333335071802139, 0.033333335071802139,
0.033334333449602127, 0.033332444727420807, 0.033333223313093185, 0.033333335071802139,
0.033333335071802139, 0.033334333449602127, 0.033332444727420807, 0.033333722501993179,
0.033333390951156616, 0.033332832157611847, 0.033333279192447662, 0.033333834260702133,
0.033332888036966324, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332832157611847, 0.033333279192447662,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033332832157611847, 0.033331278711557388, 0.033333111554384232, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333834260702133, 0.033332889490740619,
0.033333279192447662, 0.033332833647216988, 0.033333778381347656, 0.033333390951156616,
0.033333335071802139, 0.033333335071802139, 0.033332833647216988, 0.033333778381347656,
0.033332889509259132, 0.033333279192447662, 0.033333335071802139, 0.033332833656476095,
0.033333279192447662, 0.033333834260702133, 0.033333390951156616, 0.033332833656476095,
0.033333778381347656, 0.033332889527777652, 0.033332777787036881, 0.033333279192447662,
0.033333335071802139, 0.033329837024211884, 0.033332442109572306, 0.03333427757024765,
0.03333244603703605, 0.033333722501993179, 0.033333390951156616, 0.03333283373980804,
0.033333279192447662, 0.033333335071802139, 0.033332833749067141, 0.033332777787036881,
0.033333279192447662, 0.033333834260702133, 0.03333389014005661, 0.033332390145348903,
0.033333221374102343, 0.033333335071802139, 0.033333834260702133, 0.033332889731481352,
0.033333778381347656, 0.033332889731481352, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033332833767585356,
0.033333778381347656, 0.033332889749999872, 0.033333778381347656, 0.033333390951156616,
0.033332833767585356, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333834260702133,
0.033332889749999872, 0.033333778381347656, 0.033332889749999872, 0.033333279192447662,
0.033333335071802139, 0.033333834260702133, 0.033332889749999872, 0.033333279192447662,
0.033333834260702133, 0.033332889749999872, 0.033333279192447662, 0.033333335071802139,
0.033333335071802139, 0.033333834260702133, 0.033332889749999872, 0.033333778381347656,
0.033332889749999872, 0.033333279192447662, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333834260702133, 0.033333390951156616, 0.033332833767585356,
0.033333279192447662, 0.033333335071802139, 0.033333834260702133, 0.033332889749999872,
0.033333279192447662, 0.033333834260702133, 0.033332889749999872, 0.033333279192447662,
0.033333335071802139, 0.033332833776844456, 0.033332777787036881, 0.033332777787036881,
0.033333277315748443, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033332833804621771, 0.033333778381347656,
0.033332889824073945, 0.033333277306489335, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033332889824073945, 0.033333277306489335, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033332833813880879, 0.033333277297230235, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333335071802139, 0.033333335071802139, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033332889842592466, 0.033333277297230235, 0.033333335071802139,
0.033328339457511902, 0.033332273364067078, 0.033333277195380082, 0.033333834260702133,
0.033332891762256622, 0.033333277195380082, 0.033333335071802139, 0.033333335071802139,
0.033333834260702133, 0.033332891762256622, 0.033333778381347656, 0.033332891762256622,
0.033333277195380082, 0.033333834260702133, 0.033332891762256622, 0.033333778381347656,
0.033332891762256622, 0.033328783119491459, 0.033332329243421555, 0.033332278487928045,
0.033333220837083212, 0.033333834260702133, 0.033332891762256622, 0.033333776398148267,
0.033332890268518392, 0.033332777787036881, 0.033332777787036881, 0.033333277065752606,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033332834054617608, 0.033333277056493506, 0.03333333333333334, 0.03333333333333334,
0.03333333333333334, 0.033332834063876715, 0.033333277047234398, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333832610173128, 0.033332890342592472, 0.033333277047234398, 0.033332834073135816,
0.033332777787036881, 0.033333277028716184, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333832591654296, 0.033332890379629498,
0.033332777787036881, 0.033333277019457083, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333832582394883, 0.033331891964711084, 0.033333663572325638,
0.033333389658346153, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033332834110172231, 0.033330781097819687, 0.03333305145867474, 0.033333333333333333,
0.033333832517578994, 0.033332890527777652, 0.033333276954643346, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333832517578994,
0.033332890527777652, 0.033333276954643346, 0.033332834165726868, 0.033333276945384238,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033332834174985969, 0.033333276936125138, 0.033333832499060162, 0.033332890564814692,
0.033333776101851967, 0.033333389723162049, 0.033332834174985969, 0.033333276936125138,
0.033333832499060162, 0.033332890564814692, 0.033333276936125138, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333832499060162, 0.033332890564814692,
0.033333276936125138, 0.033333333333333333, 0.033333832499060162, 0.033333389723162049,
0.033333333333333333, 0.033333333333333333, 0.033332834174985969, 0.033333776101851967,
0.033332890564814692, 0.033333276936125138, 0.033333333333333333, 0.033333832499060162,
0.033332890564814692, 0.033333276936125138, 0.033332834184245076, 0.033333776083333454,
0.033332890583333205, 0.03333327692686603, 0.033333333333333333, 0.033333832489800749,
0.033332890583333205, 0.03333327692686603, 0.033333333333333333, 0.033333333333333333,
0.033333832489800749, 0.033332890583333205, 0.03333327692686603, 0.033332834193504184,
0.033333776064814934, 0.033332890601851725, 0.033333276917606923, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333333333333333, 0.033333333333333333,
0.033333333333333333, 0.033333333333333333, 0.033333832480541337, 0.033332890601851725,
0.033333276917606923, 0.033332834202763284
";
const CLES_NO_OVERLAP_CANARY: &str = "
2.27776335, 2.61149434, 3.26894105, 2.91672701, 1.40656921, 2.18292082, 3.47901292,
3.00034118, 3.02402043, 4.69912745
";
const CLES_NO_OVERLAP_BASELINE: &str = "
25.31531073, 25.19450817, 24.6288846, 24.37991861, 26.40999244, 25.28524759, 24.99788745,
26.13841676, 22.93604649, 24.56817832
";
const CLES_STAT_HIGH_CANARY: &str = "
29.17644856, 25.16947646, 25.88467948, 29.4900454, 27.05622757, 26.13307864, 27.2711558,
26.69139944, 29.05412377, 26.39818697, 26.68312641, 24.99600187, 27.99524816, 22.57278291,
23.72798196, 25.82821505, 28.26624521, 28.02370228, 24.1792213, 26.02914828, 25.90970275,
31.18337461, 27.44254942, 29.93347686, 26.70848069, 28.12191913, 27.39257837, 30.17636627,
29.60240485, 30.10635388
";
const CLES_STAT_HIGH_BASELINE: &str = "
24.69397578, 25.37120574, 25.86186148, 26.93804252, 22.72232309, 24.15894084, 24.80842752,
26.07830794, 27.35323988, 23.25110886, 24.65909111, 23.88299016, 21.34817847, 26.33198082,
23.39498829, 26.6734461, 25.33769589, 23.92348759, 25.29740715, 24.21381887, 28.1697053,
22.2271772, 27.16612837, 25.16639243, 26.85955896, 27.13421926, 25.43350074, 26.32130314,
23.8854011, 27.86180318
";
const CLES_STAT_LOW_CANARY: &str = "
22.58442682, 18.83161858, 22.34282944, 18.52177725, 19.41399147, 21.77120485, 24.33796385,
22.16390531, 23.781802, 21.38514296, 22.2205035, 22.06152361, 21.30313392, 21.59652134,
22.38394223, 24.68882792, 20.58916439, 21.03137302, 22.26213957, 23.76485986, 20.56271226,
24.56567102, 19.86055958, 22.18967677, 20.31475409, 19.2634656, 24.60283585, 20.41729998,
20.62069798, 22.53448767
";
const CLES_STAT_LOW_BASELINE: &str = "
23.15322873, 22.09179077, 26.56410603, 23.0971542, 24.26372276, 25.6461273, 29.42730472,
22.08630097, 29.15257054, 25.8096766, 24.62191338, 23.67398895, 23.63946085, 26.44684325,
25.76230914, 25.41279862, 22.64005862, 24.58898152, 25.01968457, 25.03695883, 23.79864705,
26.60180151, 25.99405034, 22.46726084, 28.31843786, 24.30152484, 22.83713467, 21.92380184,
23.44735223, 29.15676219
";
const NIST_IQR: &str = "
30, 171, 184, 201, 212, 250, 265, 270, 272, 289, 305, 306, 322, 322, 336, 346, 351, 370, 390,
404, 409, 411, 436, 437, 439, 441, 444, 448, 451, 453, 470, 480, 482, 487, 494, 495, 499,
503, 514, 521, 522, 527, 548, 550, 559, 560, 570, 572, 574, 578, 585, 592, 592, 607, 616,
618, 621, 629, 637, 638, 640, 656, 668, 707, 709, 719, 737, 739, 752, 758, 766, 792, 792,
794, 802, 818, 830, 832, 843, 858, 860, 869, 918, 925, 953, 991, 1000, 1005, 1068, 1441
";
