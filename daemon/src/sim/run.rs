//! One simulated rollout: the daemon's own state machine on a simulated clock, fed one
//! generated window per interval and one verdict per look from the method under test.
//! And many of them, in parallel, deterministically.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::OffsetDateTime;

use super::methods::{MethodContext, MethodKind, MethodState};
use super::scenario::{RateSpec, Scenario};
use super::traffic::{ScenarioModel, draw_arm, poisson, rate_at};
use crate::judge::histogram::LogBuckets;
use crate::judge::{Observation, Outcome};
use crate::model::{EndpointRef, Split};
use crate::policy::Policy;
use crate::rollout::{
    Action, DecisionKind, Input, Phase, RolloutState, SourceStatus, TickInput, Transition, advance,
    is_terminal, start,
};

const BASELINE: &str = "blue";
const CANARY: &str = "green";

/// How one rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Promoted,
    /// Rolled back on a Regressed verdict.
    RolledBackByJudge,
    /// Rolled back for any other reason (deadline, inconclusive timeout, source trouble).
    RolledBackOther,
    /// Failed, or still running at the simulation's horizon.
    Unfinished,
}

/// What one rollout did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub outcome: RunOutcome,
    /// Minutes from the start to the end (promotion or rollback).
    pub end_minutes: f64,
    /// Judged looks when the judge rolled back (1-based).
    pub rollback_look: Option<usize>,
    /// The judge's rollback came in a window after the regression's onset.
    pub after_onset: bool,
    /// Minutes from the onset to the judge's rollback.
    pub detection_minutes: Option<f64>,
    /// Canary requests served before the judge's rollback (all of them, and those after onset).
    pub canary_requests: u64,
    pub bad_requests: u64,
    /// Smallest Bonferroni-adjusted p-value of a fixed-horizon method over the run.
    pub min_adjusted_p: f64,
}

/// Everything a scenario's runs share.
#[derive(Debug, Clone)]
pub struct ScenarioSetup {
    pub policy: Arc<Policy>,
    /// The policy as the fixed-horizon methods run it: without early promotion. A fixed-horizon
    /// test that has not rejected has proven nothing, so (like a Kayenta analysis, which runs
    /// for its configured lifetime) it passes a step at the step's scheduled end, never before.
    pub fixed_horizon_policy: Arc<Policy>,
    pub scenario: Arc<Scenario>,
    pub model: Arc<ScenarioModel>,
    pub buckets: LogBuckets,
    /// Interval index past which a run stops as unfinished.
    pub horizon: usize,
}

impl ScenarioSetup {
    pub fn new(policy: Arc<Policy>, scenario: Arc<Scenario>, buckets: LogBuckets) -> Self {
        let plan = &policy.plan;
        let interval = plan.interval.max(Duration::from_secs(1));
        // The deadline bounds the way to 100%, the bake time the rest; a margin for holds.
        let total = plan.deadline + policy.after_promotion.bake_time + interval * 10;
        let horizon = (total.as_secs_f64() / interval.as_secs_f64()).ceil() as usize;
        let model = ScenarioModel::new(&scenario, &buckets, interval, horizon + 1);
        let mut fixed_horizon_policy = (*policy).clone();
        fixed_horizon_policy.plan.early_promotion = false;
        ScenarioSetup {
            policy,
            fixed_horizon_policy: Arc::new(fixed_horizon_policy),
            scenario,
            model: Arc::new(model),
            buckets,
            horizon,
        }
    }
}

/// The seed of one run: a mix of the user's seed, the scenario's name and the run index, so
/// that a run's traffic does not depend on thread count, method or other scenarios.
pub fn run_seed(seed: u64, scenario: &str, run: u64) -> u64 {
    // FNV-1a over the name, then SplitMix64 finalisation of the combination.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in scenario.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(hash)
        .wrapping_add(run.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Confirms every traffic change at once, as a controller that never fails would.
fn apply(policy: &Policy, mut transition: Transition, now: OffsetDateTime) -> Transition {
    while let Some(Action::SetSplit { split, .. }) = transition.actions.first().cloned() {
        let decision = transition.decision.clone();
        transition = advance(policy, &transition.state, &Input::Applied { split }, now);
        // Keep the decision that caused the change (the caller classifies rollbacks by it).
        if transition.decision.kind == DecisionKind::Complete {
            transition.decision = decision;
        }
    }
    transition
}

fn share(split: &Split, deployment: &str) -> f64 {
    f64::from(split.traffic_of(deployment)) / 100.0
}

/// Draws interval `k`'s window for the traffic `split` (live shares, plus the canary's mirrored
/// share): requests per arm ~ Poisson(rate × share × interval), then latencies and errors.
/// A bursty scenario draws whether this interval is a burst first.
pub fn generate_window<R: Rng + ?Sized>(
    rng: &mut R,
    setup: &ScenarioSetup,
    k: usize,
    split: &Split,
    diurnal_phase: f64,
) -> Observation {
    let scenario = &*setup.scenario;
    let interval = setup.model.interval;
    let model = setup.model.at(k);
    let burst = match scenario.rate {
        RateSpec::Bursty { probability, .. } if probability > 0.0 => {
            rng.random::<f64>() < probability
        }
        _ => false,
    };
    let rate = rate_at(&scenario.rate, interval * k as u32, diurnal_phase, burst);
    let expected = rate * interval.as_secs_f64();
    let canary_share = share(split, CANARY) + f64::from(split.mirror_of(CANARY)) / 100.0;
    let baseline_share = share(split, BASELINE);
    let canary_n = poisson(rng, expected * canary_share);
    let baseline_n = poisson(rng, expected * baseline_share);
    let t0 = sim_start();
    let window_start = t0 + interval * k as u32;
    Observation {
        window_start_unix_s: window_start.unix_timestamp(),
        window_end_unix_s: (window_start + interval).unix_timestamp(),
        buckets: setup.buckets.clone(),
        baseline: draw_arm(rng, baseline_n, &model.baseline, &model.baseline_errors),
        canary: draw_arm(rng, canary_n, &model.canary, &model.canary_errors),
    }
}

/// The simulated clock's start (any fixed instant: only differences matter).
fn sim_start() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The baseline and canary deployment names in simulated splits.
pub const DEPLOYMENTS: (&str, &str) = (BASELINE, CANARY);

/// Simulates one rollout.
pub fn simulate_run(
    setup: &ScenarioSetup,
    context: &MethodContext,
    method: MethodKind,
    seed: u64,
) -> RunRecord {
    let policy = match method {
        MethodKind::KayentaStyle | MethodKind::Pocock => &*setup.fixed_horizon_policy,
        MethodKind::Policy | MethodKind::Oracle => &*setup.policy,
    };
    let scenario = &*setup.scenario;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let diurnal_phase: f64 = rng.random();
    let interval = setup.model.interval;
    let t0 = sim_start();
    let endpoint = EndpointRef {
        subscription: "sim".into(),
        resource_group: "sim".into(),
        workspace: "sim".into(),
        endpoint: "sim".into(),
    };
    let first = start(
        policy,
        &endpoint,
        BASELINE,
        CANARY,
        &Split::all_to(BASELINE),
        t0,
    );
    let mut state: RolloutState = apply(policy, first, t0).state;
    let mut method_state = MethodState::new(method);
    let onset = scenario.canary.onset;
    let (mut canary_total, mut bad_total, mut looks) = (0u64, 0u64, 0usize);
    let mut record = RunRecord {
        outcome: RunOutcome::Unfinished,
        end_minutes: f64::NAN,
        rollback_look: None,
        after_onset: false,
        detection_minutes: None,
        canary_requests: 0,
        bad_requests: 0,
        min_adjusted_p: 1.0,
    };
    for k in 0..setup.horizon {
        if is_terminal(&state.phase) {
            break;
        }
        let window_start = t0 + interval * k as u32;
        let now = window_start + interval;
        let model = setup.model.at(k);
        let observation = generate_window(&mut rng, setup, k, &state.expected_split, diurnal_phase);
        let (canary_n, baseline_n) = (observation.canary.requests, observation.baseline.requests);
        let baseline_share = share(&state.expected_split, BASELINE);
        // The runner's freshness rule: a complete window where an arm that should have traffic
        // served none is "no traffic", never judged.
        let no_traffic = canary_n == 0 || (baseline_share > 0.0 && baseline_n == 0);
        let verdict = if no_traffic {
            None
        } else {
            looks += 1;
            Some(method_state.look(context, &mut state.judge, &observation, model))
        };
        let regressed = verdict
            .as_ref()
            .is_some_and(|v| v.overall == Outcome::Regressed);
        canary_total += canary_n;
        if model.after_onset {
            bad_total += canary_n;
        }
        let tick = Input::Tick(TickInput {
            source: if no_traffic {
                SourceStatus::NoTraffic
            } else {
                SourceStatus::Ok
            },
            verdict,
            canary_requests: canary_n,
            frozen: None,
        });
        let transition = apply(policy, advance(policy, &state, &tick, now), now);
        if transition.decision.kind == DecisionKind::RollBack && regressed {
            record.rollback_look = Some(looks);
            record.after_onset = model.after_onset && !scenario.is_acceptable();
            if record.after_onset {
                record.detection_minutes = Some(
                    (interval * (k as u32 + 1))
                        .saturating_sub(onset)
                        .as_secs_f64()
                        / 60.0,
                );
            }
            record.canary_requests = canary_total;
            record.bad_requests = bad_total;
        }
        state = transition.state;
        if is_terminal(&state.phase) {
            record.end_minutes = (interval * (k as u32 + 1)).as_secs_f64() / 60.0;
        }
    }
    record.outcome = match state.phase {
        Phase::Promoted => RunOutcome::Promoted,
        Phase::RolledBack if record.rollback_look.is_some() => RunOutcome::RolledBackByJudge,
        Phase::RolledBack => RunOutcome::RolledBackOther,
        _ => RunOutcome::Unfinished,
    };
    if record.outcome != RunOutcome::RolledBackByJudge {
        record.canary_requests = canary_total;
        record.bad_requests = bad_total;
    }
    record.min_adjusted_p = method_state.min_adjusted_p;
    record
}

/// Runs `runs` rollouts of one scenario and method on `threads` threads; the records come back
/// in run order whatever the thread count. `progress` is called once per finished run.
pub fn simulate_runs(
    setup: &ScenarioSetup,
    context: &MethodContext,
    method: MethodKind,
    seed: u64,
    runs: u64,
    threads: usize,
    progress: &(dyn Fn() + Sync),
) -> Vec<RunRecord> {
    let next = AtomicUsize::new(0);
    let total = runs as usize;
    let mut records: Vec<(usize, RunRecord)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let run = next.fetch_add(1, Ordering::Relaxed);
                        if run >= total {
                            break;
                        }
                        let seed = run_seed(seed, &setup.scenario.name, run as u64);
                        mine.push((run, simulate_run(setup, context, method, seed)));
                        progress();
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    records.sort_by_key(|(run, _)| *run);
    records.into_iter().map(|(_, record)| record).collect()
}
