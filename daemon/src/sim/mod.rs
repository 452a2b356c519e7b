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
    /// Tune the Kayenta-style level on the A/A scenarios to the policy judge's false-rollback
    /// rate, and add a row with it.
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
        "--calibrate needs at least one A/A scenario (a scenario with no canary difference) to measure false rollbacks on"
    )]
    NoAaScenario,
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
    let aa_count = scenarios.iter().filter(|s| s.is_aa()).count();
    if options.calibrate && aa_count == 0 {
        return Err(SimulateError::NoAaScenario);
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
    // Passes: each method on every scenario; calibration adds a policy pass on A/A (unless
    // already there), a never-rejecting Kayenta-style pass on A/A and the calibrated pass.
    let scenario_count = scenarios.len() as u64;
    let mut total = methods.len() as u64 * scenario_count;
    if options.calibrate {
        total += aa_count as u64 * (1 + u64::from(!has(MethodKind::Policy))) + scenario_count;
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
    let mut policy_aa: Vec<Vec<RunRecord>> = Vec::new();
    for setup in &setups {
        for &kind in &methods {
            let records = run_all(setup, &context, kind);
            let scenario = &setup.scenario;
            results.push(summarize(
                &scenario.name,
                kind.label(),
                scenario.is_aa(),
                level_of(kind),
                &records,
            ));
            if kind == MethodKind::Policy && scenario.is_aa() {
                policy_aa.push(records);
            }
        }
    }
    let mut calibrated_kayenta_level = None;
    if options.calibrate {
        if policy_aa.is_empty() {
            for setup in setups.iter().filter(|s| s.scenario.is_aa()) {
                policy_aa.push(run_all(setup, &context, MethodKind::Policy));
            }
        }
        let target: u64 = policy_aa
            .iter()
            .flatten()
            .filter(|r| r.outcome == run::RunOutcome::RolledBackByJudge)
            .count() as u64;
        let never_rejecting = MethodContext {
            kayenta_level: 0.0,
            ..context.clone()
        };
        let min_p: Vec<f64> = setups
            .iter()
            .filter(|s| s.scenario.is_aa())
            .flat_map(|setup| run_all(setup, &never_rejecting, MethodKind::KayentaStyle))
            .map(|r| r.min_adjusted_p)
            .collect();
        let level = calibrated_level(&min_p, target);
        calibrated_kayenta_level = Some(level);
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
            pocock_looks: looks,
            pocock_level: context.pocock_level,
            checks: check_count(&policy.judge),
        },
        results,
    })
}
