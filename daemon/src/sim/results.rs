//! Figures per scenario and method, from the runs' records.

use serde::Serialize;

use super::run::{RunOutcome, RunRecord};
use crate::judge::binomial::clopper_pearson;

/// One (scenario, method) row: the object `canaryd simulate --json` prints per line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodResult {
    pub scenario: String,
    pub method: String,
    /// Whether the scenario is A/A (no canary difference).
    pub aa: bool,
    /// Whether the canary should be promoted (A/A, or a difference within the policy's
    /// margins): every judge rollback is then a false rollback.
    pub acceptable: bool,
    pub runs: u64,
    /// Per-look level of the fixed-horizon methods (per look, before the split over checks for
    /// kayenta-style; per look and check for pocock); null for the others.
    pub level: Option<f64>,
    pub promoted: u64,
    pub rolled_back_by_judge: u64,
    pub rolled_back_other: u64,
    pub unfinished: u64,
    /// Judge rollbacks before the regression's onset (regression scenarios with an onset).
    pub rolled_back_before_onset: u64,
    /// A/A only: judge rollbacks / runs, with its 95% Clopper-Pearson interval.
    pub false_rollback_rate: Option<f64>,
    pub false_rollback_ci: Option<[f64; 2]>,
    /// Regression scenarios only: judge rollbacks after onset / runs.
    pub detection_rate: Option<f64>,
    /// Over detections: minutes from onset to rollback, canary requests served before it
    /// (since the start) and bad requests (canary requests after onset).
    pub median_detection_minutes: Option<f64>,
    pub p90_detection_minutes: Option<f64>,
    pub median_detection_canary_requests: Option<f64>,
    pub p90_detection_canary_requests: Option<f64>,
    pub median_bad_requests: Option<f64>,
    pub p90_bad_requests: Option<f64>,
    /// Over promoted runs: minutes from start to promotion (bake time included).
    pub median_promotion_minutes: Option<f64>,
    pub p90_promotion_minutes: Option<f64>,
    /// For the plots: detection times, and the look index of each judge rollback.
    #[serde(skip)]
    pub detection_minutes: Vec<f64>,
    #[serde(skip)]
    pub rollback_looks: Vec<usize>,
}

/// The q-quantile by the nearest-rank rule; None when empty.
pub fn nearest_rank(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Aggregates one scenario's runs of one method.
pub fn summarize(
    scenario: &str,
    method: &str,
    aa: bool,
    acceptable: bool,
    level: Option<f64>,
    records: &[RunRecord],
) -> MethodResult {
    let runs = records.len() as u64;
    let count =
        |outcome: RunOutcome| records.iter().filter(|r| r.outcome == outcome).count() as u64;
    let judge = count(RunOutcome::RolledBackByJudge);
    let detections: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.outcome == RunOutcome::RolledBackByJudge && r.after_onset)
        .collect();
    let detection_minutes: Vec<f64> = detections
        .iter()
        .filter_map(|r| r.detection_minutes)
        .collect();
    let canary: Vec<f64> = detections
        .iter()
        .map(|r| r.canary_requests as f64)
        .collect();
    let bad: Vec<f64> = detections.iter().map(|r| r.bad_requests as f64).collect();
    let promotion: Vec<f64> = records
        .iter()
        .filter(|r| r.outcome == RunOutcome::Promoted)
        .map(|r| r.end_minutes)
        .collect();
    let (false_rollback_rate, false_rollback_ci) = if acceptable && runs > 0 {
        let (low, high) = clopper_pearson(judge, runs, 0.95);
        (Some(judge as f64 / runs as f64), Some([low, high]))
    } else {
        (None, None)
    };
    MethodResult {
        scenario: scenario.to_string(),
        method: method.to_string(),
        aa,
        acceptable,
        runs,
        level,
        promoted: count(RunOutcome::Promoted),
        rolled_back_by_judge: judge,
        rolled_back_other: count(RunOutcome::RolledBackOther),
        unfinished: count(RunOutcome::Unfinished),
        rolled_back_before_onset: if acceptable {
            0
        } else {
            judge - detections.len() as u64
        },
        false_rollback_rate,
        false_rollback_ci,
        detection_rate: (!acceptable && runs > 0).then(|| detections.len() as f64 / runs as f64),
        median_detection_minutes: nearest_rank(&detection_minutes, 0.5),
        p90_detection_minutes: nearest_rank(&detection_minutes, 0.9),
        median_detection_canary_requests: nearest_rank(&canary, 0.5),
        p90_detection_canary_requests: nearest_rank(&canary, 0.9),
        median_bad_requests: nearest_rank(&bad, 0.5),
        p90_bad_requests: nearest_rank(&bad, 0.9),
        median_promotion_minutes: nearest_rank(&promotion, 0.5),
        p90_promotion_minutes: nearest_rank(&promotion, 0.9),
        detection_minutes,
        rollback_looks: records.iter().filter_map(|r| r.rollback_look).collect(),
    }
}

/// The per-look level at which exactly `target` of the runs would have been rolled back, from
/// each run's smallest Bonferroni-adjusted p-value over a never-rejecting pass (rejection at
/// level a ⇔ min p < a, and the trajectory up to the first rejection does not depend on a).
/// The rate is a monotone step function of a, so this is where a bisection on a converges,
/// found exactly: the (target+1)-th smallest p-value (1 when target ≥ runs).
pub fn calibrated_level(min_adjusted_p: &[f64], target: u64) -> f64 {
    let mut sorted = min_adjusted_p.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(target as usize).copied().unwrap_or(1.0).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(nearest_rank(&values, 0.5), Some(3.0));
        assert_eq!(nearest_rank(&values, 0.9), Some(5.0));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn calibrated_level_rejects_exactly_the_target() {
        let min_p = [0.2, 0.001, 0.05, 0.01, 0.5];
        for target in 0..=5u64 {
            let a = calibrated_level(&min_p, target);
            let rejected = min_p.iter().filter(|p| **p < a).count() as u64;
            assert_eq!(rejected, target, "a = {a}");
        }
    }
}
