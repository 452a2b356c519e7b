//! `canaryd simulate`: Monte Carlo rollouts through the daemon's own judge and state machine on
//! a simulated clock (no HTTP), with competing methods side by side. Pure: files are read by
//! the caller. See daemon/docs/simulate.md.

pub mod methods;
pub mod pocock;
pub mod results;
pub mod run;
pub mod scenario;
pub mod traffic;

use std::sync::Arc;

use serde::Serialize;

use crate::policy::Policy;
use methods::{MethodContext, MethodKind, check_count};
use results::{MethodResult, calibrated_level, summarize};
use run::{RunRecord, ScenarioSetup, simulate_runs};
use scenario::Scenario;

/// Name of the calibrated Kayenta-style row.
pub const KAYENTA_CALIBRATED: &str = "kayenta-style-calibrated";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub runs: u64,
    pub seed: u64,
    pub methods: Vec<MethodKind>,
    /// Tune the Kayenta-style level so that its worst false-rollback rate over the scenarios to
    /// promote equals the policy judge's, and add a row with it.
    pub calibrate: bool,
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulateError {
    #[error("runs must be at least 1")]
    NoRuns,
    #[error("no methods to compare")]
    NoMethods,
    #[error(
        "--calibrate needs at least one scenario whose canary should be promoted (A/A, or `expect: promote`) to measure false rollbacks on"
    )]
    NoAcceptableScenario,
}

/// Parameters shared by every row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationSummary {
    pub policy: String,
    pub alpha: f64,
    pub runs: u64,
    pub seed: u64,
    pub methods: Vec<String>,
    /// Kayenta-style per-look level (before the Bonferroni split over checks).
    pub kayenta_level: f64,
    pub calibrated_kayenta_level: Option<f64>,
    /// The policy judge's false rollbacks on its worst scenario to promote: what the calibrated
    /// Kayenta-style row is matched to (per scenario, out of `runs`).
    pub calibration_target_rollbacks: Option<u64>,
    pub pocock_looks: usize,
    /// Pocock's nominal per-look level for each check.
    pub pocock_level: f64,
    pub checks: usize,
}

/// Everything a simulation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Simulation {
    pub summary: SimulationSummary,
    pub results: Vec<MethodResult>,
}

/// Planned looks for the group-sequential method: the plan's minimum duration over its
/// interval.
pub fn planned_looks(policy: &Policy) -> usize {
    let interval = policy.plan.interval.as_secs_f64().max(1.0);
    ((policy.plan.minimum_total().as_secs_f64() / interval).round() as usize).max(1)
}

/// Runs every scenario under every method; `progress` is told how many runs there will be
/// and then called after each.
pub fn simulate(
    policy: &Policy,
    scenarios: &[Scenario],
    options: &SimulateOptions,
    start_progress: &dyn Fn(u64),
    progress: &(dyn Fn() + Sync),
) -> Result<Simulation, SimulateError> {
    if options.runs == 0 {
        return Err(SimulateError::NoRuns);
    }
    if options.methods.is_empty() {
        return Err(SimulateError::NoMethods);
    }
    let acceptable_count = scenarios.iter().filter(|s| s.is_acceptable()).count();
    if options.calibrate && acceptable_count == 0 {
        return Err(SimulateError::NoAcceptableScenario);
    }
    let policy_arc = Arc::new(policy.clone());
    let buckets = crate::source::default_buckets();
    let setups: Vec<ScenarioSetup> = scenarios
        .iter()
        .map(|s| ScenarioSetup::new(policy_arc.clone(), Arc::new(s.clone()), buckets.clone()))
        .collect();
    let looks = planned_looks(policy);
    let context = MethodContext::new(&policy.judge, buckets.values(), policy.judge.alpha, looks);
    let mut methods = options.methods.clone();
    methods.sort();
    methods.dedup();
    let has = |kind| methods.contains(&kind);
    // Passes: each method on every scenario; calibration adds a policy pass on the scenarios to
    // promote (unless already there), a never-rejecting Kayenta-style pass on them and the
    // calibrated pass.
    let scenario_count = scenarios.len() as u64;
    let mut total = methods.len() as u64 * scenario_count;
    if options.calibrate {
        total +=
            acceptable_count as u64 * (1 + u64::from(!has(MethodKind::Policy))) + scenario_count;
    }
    start_progress(total * options.runs);
    let run_all = |setup: &ScenarioSetup, context: &MethodContext, kind| -> Vec<RunRecord> {
        simulate_runs(
            setup,
            context,
            kind,
            options.seed,
            options.runs,
            options.threads,
            progress,
        )
    };
    let level_of = |kind| match kind {
        MethodKind::KayentaStyle => Some(context.kayenta_level),
        MethodKind::Pocock => Some(context.pocock_level),
        _ => None,
    };
    let mut results = Vec::new();
    let mut policy_acceptable: Vec<Vec<RunRecord>> = Vec::new();
    for setup in &setups {
        for &kind in &methods {
            let records = run_all(setup, &context, kind);
            let scenario = &setup.scenario;
            results.push(summarize(
                &scenario.name,
                kind.label(),
                scenario.is_aa(),
                scenario.is_acceptable(),
                level_of(kind),
                &records,
            ));
            if kind == MethodKind::Policy && scenario.is_acceptable() {
                policy_acceptable.push(records);
            }
        }
    }
    let mut calibrated_kayenta_level = None;
    let mut calibration_target_rollbacks = None;
    if options.calibrate {
        if policy_acceptable.is_empty() {
            for setup in setups.iter().filter(|s| s.scenario.is_acceptable()) {
                policy_acceptable.push(run_all(setup, &context, MethodKind::Policy));
            }
        }
        // A judge's false-rollback rate is its worst over the canaries it should promote (a
        // test's size is its largest rejection rate under the null): A/A, and canaries that sit
        // exactly on a margin, where rollbacks are likeliest. Each scenario has `runs` runs.
        let target: u64 = policy_acceptable
            .iter()
            .map(|records| {
                records
                    .iter()
                    .filter(|r| r.outcome == run::RunOutcome::RolledBackByJudge)
                    .count() as u64
            })
            .max()
            .unwrap_or(0);
        let never_rejecting = MethodContext {
            kayenta_level: 0.0,
            ..context.clone()
        };
        // The largest level at which no scenario to promote has more than `target` rollbacks.
        let level = setups
            .iter()
            .filter(|s| s.scenario.is_acceptable())
            .map(|setup| {
                let min_p: Vec<f64> = run_all(setup, &never_rejecting, MethodKind::KayentaStyle)
                    .iter()
                    .map(|r| r.min_adjusted_p)
                    .collect();
                calibrated_level(&min_p, target)
            })
            .fold(1.0, f64::min);
        calibrated_kayenta_level = Some(level);
        calibration_target_rollbacks = Some(target);
        let calibrated = MethodContext {
            kayenta_level: level,
            ..context.clone()
        };
        for setup in &setups {
            let records = run_all(setup, &calibrated, MethodKind::KayentaStyle);
            let scenario = &setup.scenario;
            results.push(summarize(
                &scenario.name,
                KAYENTA_CALIBRATED,
                scenario.is_aa(),
                scenario.is_acceptable(),
                Some(level),
                &records,
            ));
        }
        // Rows grouped by scenario, in the order scenarios were given.
        results.sort_by_key(|r| {
            scenarios
                .iter()
                .position(|s| s.name == r.scenario)
                .unwrap_or(usize::MAX)
        });
    }
    let mut method_names: Vec<String> = methods.iter().map(|m| m.label().to_string()).collect();
    if options.calibrate {
        method_names.push(KAYENTA_CALIBRATED.to_string());
    }
    Ok(Simulation {
        summary: SimulationSummary {
            policy: policy.name.clone(),
            alpha: policy.judge.alpha,
            runs: options.runs,
            seed: options.seed,
            methods: method_names,
            kayenta_level: context.kayenta_level,
            calibrated_kayenta_level,
            calibration_target_rollbacks,
            pocock_looks: looks,
            pocock_level: context.pocock_level,
            checks: check_count(&policy.judge),
        },
        results,
    })
}
