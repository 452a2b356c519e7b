//! Kayenta's `WeightedSumScorer` and `ThresholdScoreClassifier`: metric classifications to a
//! summary score and a verdict.

use serde::{Deserialize, Serialize};

use super::classify::{Classification, MetricClassification};
use super::config::{ClassifierConfig, ScoreThresholds};

/// Kayenta fails the canary when at least this percentage of scored metrics is `Nodata`.
pub const NODATA_THRESHOLD_PERCENT: f64 = 50.0;

/// The verdict on a summary score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScoreClassification {
    Pass,
    Marginal,
    Fail,
}

impl ScoreThresholds {
    /// Kayenta's `ThresholdScoreClassifier`: ≥ pass → Pass, ≥ marginal → Marginal, else Fail.
    pub fn classify(&self, score: f64) -> ScoreClassification {
        if score >= self.pass {
            ScoreClassification::Pass
        } else if score >= self.marginal {
            ScoreClassification::Marginal
        } else {
            ScoreClassification::Fail
        }
    }

    /// Kayenta's standalone canary analysis stops at any interim score ≤ marginal (note:
    /// a score equal to `marginal` is "Marginal" to [`Self::classify`] yet aborts here).
    pub fn interim_aborts(&self, score: f64) -> bool {
        score <= self.marginal
    }

    /// Kayenta's final decision on the last score of a standalone canary analysis: not above
    /// marginal fails, below pass fails, otherwise passes.
    pub fn final_passes(&self, score: f64) -> bool {
        score > self.marginal && score >= self.pass
    }
}

/// One group's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    pub name: String,
    /// 100·Pass/(Pass + High + Low + NodataFailMetric); 0 when that denominator is 0.
    pub score: f64,
    /// No metric of the group counted (all Nodata / Error): the summary then counts the
    /// group as 100, as Kayenta does.
    pub no_data: bool,
    /// The weight (percent) the group had in the summary: its configured weight or its share
    /// of what the configured weights leave of 100.
    pub weight: f64,
    pub pass: usize,
    pub high: usize,
    pub low: usize,
    pub nodata: usize,
    pub nodata_fail: usize,
    pub error: usize,
}

impl GroupScore {
    /// Metrics of the group that were scored (muted ones are not).
    pub fn metric_count(&self) -> usize {
        self.pass + self.high + self.low + self.nodata + self.nodata_fail + self.error
    }
}

/// Summary score of a set of metric classifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// 0–100, rounded half-up to two decimals; 0 on a critical failure or too much Nodata.
    pub score: f64,
    pub groups: Vec<GroupScore>,
    /// A critical metric failed (anything but Pass with Kayenta's critical flag set).
    pub critical_failure: bool,
    /// At least half of the scored metrics were `Nodata`.
    pub too_many_nodata: bool,
    /// Why the score was forced to 0, if it was.
    pub reason: Option<String>,
}

/// Scores classifications as Kayenta's `WeightedSumScorer`, leaving out muted metrics.
pub fn score_metrics(
    classifier: &ClassifierConfig,
    metrics: &[MetricClassification],
) -> ScoreSummary {
    let scored: Vec<&MetricClassification> = metrics.iter().filter(|m| !m.muted).collect();
    let mut groups = group_scores(&scored);

    let weight_sum: f64 = classifier.group_weights.values().sum();
    let unweighted = groups
        .iter()
        .filter(|g| !classifier.group_weights.contains_key(&g.name))
        .count();
    let shared_weight = if unweighted > 0 {
        (100.0 - weight_sum) / unweighted as f64
    } else {
        0.0
    };
    for group in &mut groups {
        group.weight = classifier
            .group_weights
            .get(&group.name)
            .copied()
            .unwrap_or(shared_weight);
    }

    let critical = scored
        .iter()
        .find(|m| m.critical && m.classification != Classification::Pass);
    let nodata = scored
        .iter()
        .filter(|m| m.classification == Classification::Nodata)
        .count();
    // 0/0 is NaN and NaN ≥ 50 is false: no metrics is not "too many Nodata", as in Kayenta.
    let too_many_nodata = nodata as f64 / scored.len() as f64 * 100.0 >= NODATA_THRESHOLD_PERCENT;

    let (score, reason) = if let Some(failed) = critical {
        (
            0.0,
            Some(format!(
                "Canary Failed: critical metric {} is {:?} ({})",
                failed.name, failed.classification, failed.reason
            )),
        )
    } else if too_many_nodata {
        (
            0.0,
            Some(format!(
                "Canary Failed: {NODATA_THRESHOLD_PERCENT}% or more metrics returned NODATA ({nodata} of {})",
                scored.len()
            )),
        )
    } else {
        let total: f64 = groups
            .iter()
            .map(|g| {
                let effective = if g.no_data { 100.0 } else { g.score };
                effective * (g.weight / 100.0)
            })
            .sum();
        (round_half_up_2(total), None)
    };

    ScoreSummary {
        score,
        groups,
        critical_failure: critical.is_some(),
        too_many_nodata,
        reason,
    }
}

/// Groups in order of first appearance; a metric counts in every group it lists.
fn group_scores(metrics: &[&MetricClassification]) -> Vec<GroupScore> {
    let mut groups: Vec<GroupScore> = Vec::new();
    for metric in metrics {
        for name in &metric.groups {
            let index = match groups.iter().position(|g| &g.name == name) {
                Some(index) => index,
                None => {
                    groups.push(GroupScore {
                        name: name.clone(),
                        score: 0.0,
                        no_data: true,
                        weight: 0.0,
                        pass: 0,
                        high: 0,
                        low: 0,
                        nodata: 0,
                        nodata_fail: 0,
                        error: 0,
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            match metric.classification {
                Classification::Pass => group.pass += 1,
                Classification::High => group.high += 1,
                Classification::Low => group.low += 1,
                Classification::Nodata => group.nodata += 1,
                Classification::NodataFailMetric => group.nodata_fail += 1,
                Classification::Error => group.error += 1,
            }
        }
    }
    for group in &mut groups {
        let counted = group.pass + group.high + group.low + group.nodata_fail;
        group.no_data = counted == 0;
        group.score = if counted == 0 {
            0.0
        } else {
            group.pass as f64 / counted as f64 * 100.0
        };
    }
    groups
}

/// commons-math `Precision.round(x, 2)`: half-up (away from zero) on the decimal text of x,
/// so 1.005 becomes 1.01 as in Kayenta (binary rounding would give 1.0).
pub fn round_half_up_2(value: f64) -> f64 {
    if !value.is_finite() {
        return value;
    }
    // Rust's Display prints the shortest text that reads back as the same f64.
    let text = format!("{}", value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((text.as_str(), ""));
    if fraction.len() <= 2 {
        return value;
    }
    let kept: String = format!("{whole}{}", &fraction[..2]);
    let round_up = fraction.as_bytes()[2] >= b'5';
    // Work in hundredths as an integer-valued f64 (exact below 2^53).
    let Ok(hundredths) = kept.parse::<f64>() else {
        return value;
    };
    let hundredths = if round_up {
        hundredths + 1.0
    } else {
        hundredths
    };
    (hundredths / 100.0).copysign(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up_on_decimal_text() {
        assert_eq!(round_half_up_2(100.0 / 3.0), 33.33);
        assert_eq!(round_half_up_2(1.005), 1.01);
        assert_eq!(round_half_up_2(2.675), 2.68);
        assert_eq!(round_half_up_2(-1.005), -1.01);
        assert_eq!(round_half_up_2(66.666_666), 66.67);
        assert_eq!(round_half_up_2(75.0), 75.0);
        assert_eq!(round_half_up_2(99.994), 99.99);
        assert_eq!(round_half_up_2(99.995), 100.0);
    }

    #[test]
    fn thresholds_classify_and_abort() {
        let thresholds = ScoreThresholds {
            pass: 75.0,
            marginal: 50.0,
        };
        assert_eq!(thresholds.classify(75.0), ScoreClassification::Pass);
        assert_eq!(thresholds.classify(74.99), ScoreClassification::Marginal);
        assert_eq!(thresholds.classify(50.0), ScoreClassification::Marginal);
        assert_eq!(thresholds.classify(49.99), ScoreClassification::Fail);
        assert!(thresholds.interim_aborts(50.0));
        assert!(!thresholds.interim_aborts(50.01));
        assert!(!thresholds.final_passes(60.0));
        assert!(thresholds.final_passes(75.0));
    }
}
