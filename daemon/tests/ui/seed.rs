//! A realistic rollout in a store, written the way the runner writes it: the real state machine
//! (`rollout::start` / `advance`) and the real judge (`judge::evaluate`) over synthetic
//! one-minute windows, every transition journaled (decision, action, then its result) and the
//! state persisted. The canary is as good as the baseline at 10% and turns slow and failing at
//! 50%, so the judge proves a regression and the rollout is rolled back.
#![allow(dead_code)] // each test binary uses a different part

use std::time::Duration;

use canaryd::judge::{Observation, RequestSample, evaluate};
use canaryd::model::Split;
use canaryd::policy::{Policy, parse_str};
use canaryd::rollout::{
    Action, Input, Phase, RolloutState, SourceStatus, TickInput, Transition, advance, is_terminal,
    start,
};
use canaryd::runner::WindowFigures;
use canaryd::store::{JournalEntry, RolloutRecord, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub const POLICY_FILE_NAME: &str = "checkout.yaml";

pub const POLICY_YAML: &str = "\
# Checkout ranking model: 10% then 50% then everything.
name: checkout
target:
  subscription: 00000000-0000-4000-8000-0000000000aa
  resource_group: rg-shop
  workspace: ws-shop
  endpoint: checkout
source:
  log_analytics:
    workspace_id: 5b1c0f0e-7a3d-4e61-9c1a-2f4d6b8a0c11
    ingestion_delay: 5m
plan:
  steps: [10, 50, 100]
  min_duration: 4m
  min_canary_requests: 200
  interval: 1m
  deadline: 2h
judge:
  alpha: 0.05
  checks:
    latency: { max_increase: 0.10 }
    quantiles:
      - { q: 0.99, max_increase: 0.15 }
    errors:
      - { kind: model, max_ratio: 2.0 }
failure:
  on_inconclusive: advance
  inconclusive_limit: never
after_promotion:
  bake_time: 10m
";

/// Requests per minute on the whole endpoint.
const REQUESTS_PER_MINUTE: u32 = 2400;

/// What was written, for the assertions.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub policy: Policy,
    pub rollout_id: String,
    /// The figures journaled for each judged window, in order.
    pub figures: Vec<WindowFigures>,
    /// Journal entries written.
    pub entries: usize,
    pub final_state: RolloutState,
}

pub fn policy() -> Policy {
    parse_str(POLICY_YAML, std::path::Path::new(POLICY_FILE_NAME))
        .expect("the seed policy is valid")
}

/// Writes one rollout (started 2026-03-02 09:00 UTC) into `store`.
pub fn seed(store: &Store) -> Seeded {
    let policy = policy();
    let mut now = time::macros::datetime!(2026-03-02 09:00 UTC);
    let mut rng = ChaCha8Rng::seed_from_u64(20260302);
    let mut entries = 0;
    let mut figures = Vec::new();

    let transition = start(
        &policy,
        &policy.target,
        "blue",
        "green",
        &Split::all_to("blue"),
        now,
    );
    let mut state = handle(
        store,
        &policy,
        transition,
        Value::Null,
        None,
        now,
        &mut entries,
    );

    for _ in 0..40 {
        if is_terminal(&state.phase) {
            break;
        }
        now += Duration::from_secs(60);
        let window_start = now - Duration::from_secs(60);
        let canary_share = state.expected_split.traffic_of(&state.canary);
        // The regression ships with the 50% step.
        let regressed = matches!(state.phase, Phase::Step(index) if index >= 1);
        let observation = window(&mut rng, window_start, now, canary_share, regressed);
        let verdict = evaluate(&policy.judge, &mut state.judge, &observation);
        let window_figures = WindowFigures::of(&observation);
        figures.push(window_figures);
        let raw_counts = json!({
            "rows": 4,
            "figures": window_figures,
        });
        let context = Some(Context {
            window: (window_start, now),
            query: "AmlOnlineEndpointTrafficLog | where TimeGenerated >= datetime(…)".to_string(),
            evidence: serde_json::to_value(&verdict).expect("a verdict serializes"),
        });
        let tick = Input::Tick(TickInput {
            source: SourceStatus::Ok,
            verdict: Some(verdict),
            canary_requests: observation.canary.requests,
            frozen: None,
        });
        let transition = advance(&policy, &state, &tick, now);
        state = handle(
            store,
            &policy,
            transition,
            raw_counts,
            context,
            now,
            &mut entries,
        );
    }
    Seeded {
        rollout_id: state.id.clone(),
        policy,
        figures,
        entries,
        final_state: state,
    }
}

/// A rollout that has only just started (10% on the canary, no window judged yet); returns
/// its id.
pub fn seed_just_started(store: &Store) -> String {
    let policy = policy();
    let now = time::macros::datetime!(2026-03-03 14:00 UTC);
    let transition = start(
        &policy,
        &policy.target,
        "blue",
        "green",
        &Split::all_to("blue"),
        now,
    );
    let mut entries = 0;
    handle(
        store,
        &policy,
        transition,
        Value::Null,
        None,
        now,
        &mut entries,
    )
    .id
}

struct Context {
    window: (OffsetDateTime, OffsetDateTime),
    query: String,
    evidence: Value,
}

/// As the runner's `handle`: journal, persist, apply the first action (always successfully
/// here), feed the result back, until nothing more is to be done.
fn handle(
    store: &Store,
    policy: &Policy,
    mut transition: Transition,
    mut raw_counts: Value,
    mut context: Option<Context>,
    now: OffsetDateTime,
    entries: &mut usize,
) -> RolloutState {
    loop {
        let action = transition.actions.first().cloned();
        let entry = JournalEntry {
            id: 0,
            rollout_id: transition.state.id.clone(),
            at: now,
            policy_hash: policy.content_hash.clone(),
            window_start: context.as_ref().map(|c| c.window.0),
            window_end: context.as_ref().map(|c| c.window.1),
            query: context.as_ref().map(|c| c.query.clone()),
            raw_counts: raw_counts.clone(),
            evidence: context
                .as_ref()
                .map(|c| c.evidence.clone())
                .unwrap_or(Value::Null),
            decision: format!(
                "{}: {}",
                transition.decision.kind.label(),
                transition.decision.reason
            ),
            action: action
                .as_ref()
                .map(|a| serde_json::to_value(a).expect("an action serializes")),
            result: None,
        };
        let journal_id = store.append_journal(&entry).expect("journal append");
        *entries += 1;
        store
            .upsert_rollout(&RolloutRecord {
                id: transition.state.id.clone(),
                policy_name: policy.name.clone(),
                policy_hash: policy.content_hash.clone(),
                endpoint: transition.state.endpoint.to_string(),
                canary: transition.state.canary.clone(),
                active: !is_terminal(&transition.state.phase),
                state: serde_json::to_value(&transition.state).expect("a state serializes"),
                updated_at: now,
            })
            .expect("rollout upsert");
        let Some(Action::SetSplit { split, .. }) = action else {
            return transition.state;
        };
        let input = Input::Applied { split };
        store
            .set_journal_result(
                journal_id,
                &serde_json::to_value(&input).expect("an input serializes"),
            )
            .expect("journal result");
        transition = advance(policy, &transition.state, &input, now);
        raw_counts = Value::Null;
        context = None;
    }
}

/// One minute of traffic: the canary gets `canary_share`% of it.
fn window(
    rng: &mut ChaCha8Rng,
    start: OffsetDateTime,
    end: OffsetDateTime,
    canary_share: u32,
    regressed: bool,
) -> Observation {
    let canary_requests = REQUESTS_PER_MINUTE * canary_share / 100;
    let baseline_requests = REQUESTS_PER_MINUTE - canary_requests;
    let baseline = samples(rng, baseline_requests, 42.0, 0.004);
    let canary = if regressed {
        samples(rng, canary_requests, 52.0, 0.02)
    } else {
        samples(rng, canary_requests, 42.0, 0.004)
    };
    Observation::from_samples(
        canaryd::source::default_buckets(),
        start.unix_timestamp(),
        end.unix_timestamp(),
        &baseline,
        &canary,
    )
}

fn samples(
    rng: &mut ChaCha8Rng,
    n: u32,
    median_ms: f64,
    model_error_rate: f64,
) -> Vec<RequestSample> {
    let latency = LogNormal::new(median_ms.ln(), 0.45).expect("valid log-normal");
    (0..n)
        .map(|_| {
            let latency_ms = latency.sample(rng);
            let failed = rand::Rng::random_bool(rng, model_error_rate);
            RequestSample {
                latency_ms,
                status_code: Some(if failed { 500 } else { 200 }),
                model_status_code: Some(if failed { 500 } else { 200 }),
            }
        })
        .collect()
}
