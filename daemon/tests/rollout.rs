//! The rollout state machine, driven the way the runner drives it: ticks with verdicts built
//! directly, each emitted traffic change answered with Applied or ApplyFailed.

use std::path::PathBuf;
use std::time::Duration;

use canaryd::judge::{CheckResult, JudgeSpec, Outcome, Verdict};
use canaryd::model::{EndpointRef, Split, TrafficMap};
use canaryd::policy::{
    AfterPromotion, CronWindow, DeploymentSelector, FailurePolicy, GateConfirm, GateTimeoutAction,
    Gates, InconclusiveAction, Plan, Policy, PromotionWindows, ShadowPhase, SourceSpec, Step,
};
use canaryd::rollout::{
    Action, DecisionKind, HoldCause, Input, MAX_APPLY_ATTEMPTS, Phase, RolloutState, SourceStatus,
    TickInput, Transition, advance, increase_blocked, is_terminal, start,
};
use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

const MINUTE: Duration = Duration::from_secs(60);

fn endpoint() -> EndpointRef {
    EndpointRef {
        subscription: "sub".into(),
        resource_group: "rg".into(),
        workspace: "ws".into(),
        endpoint: "ep".into(),
    }
}

/// 5 → 10 → 25 → 50 → 100, 5 minutes and 200 canary requests each, 1 minute interval,
/// 4 h deadline, 10 min source grace, hold on inconclusive (30 min limit, then roll back),
/// 30 min bake.
fn policy() -> Policy {
    Policy {
        name: "ep".into(),
        path: PathBuf::from("ep.yaml"),
        content_hash: "0".repeat(64),
        target: endpoint(),
        baseline: DeploymentSelector::Auto,
        canary: DeploymentSelector::Auto,
        source: SourceSpec::AzureMonitor {
            ingestion_delay: Duration::from_secs(180),
        },
        plan: Plan {
            shadow: None,
            steps: [5, 10, 25, 50, 100]
                .into_iter()
                .map(|traffic_percent| Step {
                    traffic_percent,
                    min_duration: 5 * MINUTE,
                    min_canary_requests: 200,
                })
                .collect(),
            interval: MINUTE,
            deadline: 240 * MINUTE,
            early_promotion: false,
            gates: Default::default(),
            promotion_windows: None,
        },
        judge: JudgeSpec::default(),
        failure: FailurePolicy {
            source_error_grace: 10 * MINUTE,
            on_inconclusive: InconclusiveAction::Hold,
            inconclusive_limit: Some(30 * MINUTE),
            on_inconclusive_timeout: InconclusiveAction::RollBack,
        },
        after_promotion: AfterPromotion {
            bake_time: 30 * MINUTE,
        },
    }
}

fn with_shadow(mut policy: Policy) -> Policy {
    policy.plan.shadow = Some(ShadowPhase {
        mirror_percent: 20,
        duration: 10 * MINUTE,
        min_canary_requests: 500,
    });
    policy
}

fn split(pairs: &[(&str, u32)], mirror: &[(&str, u32)]) -> Split {
    let map = |pairs: &[(&str, u32)]| -> TrafficMap {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    Split::new(map(pairs), map(mirror))
}

fn step_split(canary_percent: u32) -> Split {
    split(
        &[("blue", 100 - canary_percent), ("green", canary_percent)],
        &[],
    )
}

fn verdict(overall: Outcome) -> Verdict {
    let mut check = CheckResult::no_data("latency_shift", 1.1, 0.05, 5000, 400, String::new());
    check.outcome = overall;
    check.estimate = Some(1.02);
    check.reason = match overall {
        Outcome::Regressed => "canary/baseline 1.31× [1.22, 1.40], above the 1.10× limit".into(),
        Outcome::Safe => "canary/baseline 1.01× [0.97, 1.05], within the 1.10× limit".into(),
        Outcome::Inconclusive => "canary/baseline 1.04× [0.92, 1.18], not decided yet".into(),
        Outcome::NoData => "no requests in the canary arm".into(),
    };
    Verdict {
        overall,
        checks: vec![check],
        summary: format!("{} (test verdict)", overall.label()),
    }
}

fn tick(source: SourceStatus, outcome: Option<Outcome>, canary_requests: u64) -> Input {
    Input::Tick(TickInput {
        source,
        verdict: outcome.map(verdict),
        canary_requests,
        frozen: None,
    })
}

fn ok(outcome: Outcome, canary_requests: u64) -> Input {
    tick(SourceStatus::Ok, Some(outcome), canary_requests)
}

fn set_splits(t: &Transition) -> Vec<Split> {
    t.actions
        .iter()
        .map(|Action::SetSplit { split, .. }| split.clone())
        .collect()
}

/// A runner stand-in: keeps the state, the simulated time, and every transition.
struct Rollout {
    policy: Policy,
    state: RolloutState,
    now: OffsetDateTime,
    /// Every SetSplit emitted, in order.
    emitted: Vec<Split>,
    history: Vec<Transition>,
}

impl Rollout {
    fn start(policy: Policy) -> Self {
        Self::start_at(
            policy,
            OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
    }

    fn start_at(policy: Policy, now: OffsetDateTime) -> Self {
        let t = start(
            &policy,
            &endpoint(),
            "blue",
            "green",
            &Split::all_to("blue"),
            now,
        );
        let mut rollout = Rollout {
            policy,
            state: t.state.clone(),
            now,
            emitted: Vec::new(),
            history: Vec::new(),
        };
        rollout.record(t);
        rollout
    }

    fn record(&mut self, t: Transition) -> Transition {
        for action in set_splits(&t) {
            assert!(action.validate().is_ok(), "invalid split {action}");
            self.emitted.push(action);
        }
        self.state = t.state.clone();
        self.history.push(t.clone());
        t
    }

    fn feed(&mut self, input: Input) -> Transition {
        let t = advance(&self.policy, &self.state, &input, self.now);
        self.record(t)
    }

    /// Feeds `input`; every change it emits is confirmed applied.
    fn feed_applied(&mut self, input: Input) -> Transition {
        let t = self.feed(input);
        for split in set_splits(&t) {
            self.feed(Input::Applied { split });
        }
        t
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
    }

    /// Waits one minute, then ticks (and applies whatever it emits).
    fn minute(&mut self, input: Input) -> Transition {
        self.wait(MINUTE);
        self.feed_applied(input)
    }

    fn apply_first(&mut self) {
        let split = self
            .state
            .pending
            .as_ref()
            .expect("a change in flight")
            .split
            .clone();
        self.feed(Input::Applied { split });
    }
}

#[test]
fn a_good_canary_walks_every_step_to_promoted() {
    let mut r = Rollout::start(policy());
    assert_eq!(r.history[0].decision.kind, DecisionKind::Start);
    assert_eq!(
        r.state.phase,
        Phase::Pending,
        "a phase begins only when applied"
    );
    assert_eq!(r.state.expected_split, Split::all_to("blue"));
    r.apply_first();
    assert_eq!(r.state.phase, Phase::Step(0));
    let mut advanced_at = Vec::new();
    for _ in 0..200 {
        if is_terminal(&r.state.phase) {
            break;
        }
        let phase_started = r.state.phase_started_at;
        let before = r.state.phase;
        let t = r.minute(ok(Outcome::Safe, 100));
        if t.decision.kind == DecisionKind::Advance {
            let in_phase = r.now - phase_started;
            advanced_at.push((before, in_phase));
        }
    }
    assert_eq!(r.state.phase, Phase::Promoted);
    assert_eq!(
        r.emitted,
        vec![
            step_split(5),
            step_split(10),
            step_split(25),
            step_split(50),
            Split::all_to("green"),
        ]
    );
    assert_eq!(r.state.expected_split, Split::all_to("green"));
    // Five advances (the last into the bake), each after the 5 minute minimum.
    assert_eq!(advanced_at.len(), 5, "{advanced_at:?}");
    for (phase, in_phase) in &advanced_at {
        assert!(
            *in_phase >= time::Duration::minutes(5),
            "{phase:?} after {in_phase}"
        );
    }
    let promote = r.history.last().expect("decisions");
    assert_eq!(promote.decision.kind, DecisionKind::Promote);
    assert!(
        promote.decision.reason.contains("bake"),
        "{}",
        promote.decision.reason
    );
    // Nothing happens to a promoted rollout.
    let t = r.minute(ok(Outcome::Regressed, 100));
    assert!(t.actions.is_empty());
    assert_eq!(t.decision.kind, DecisionKind::Noop);
}

#[test]
fn decisions_say_why_with_the_numbers() {
    let mut r = Rollout::start(policy());
    r.apply_first();
    let mut last = None;
    for _ in 0..5 {
        last = Some(r.minute(ok(Outcome::Safe, 1706)));
    }
    let t = last.expect("ticks");
    assert_eq!(t.decision.kind, DecisionKind::Advance);
    let reason = &t.decision.reason;
    for part in [
        "step 1/5 (5%)",
        "1.01× [0.97, 1.05]",
        "8,530 canary requests over 5m",
        "advancing to 10%",
    ] {
        assert!(reason.contains(part), "{reason:?} lacks {part:?}");
    }
}

#[test]
fn never_advances_before_the_minimum_without_early_promotion() {
    let mut r = Rollout::start(policy());
    r.apply_first();
    for minute in 1..5 {
        let t = r.minute(ok(Outcome::Safe, 10_000));
        assert!(
            t.actions.is_empty(),
            "minute {minute}: {}",
            t.decision.reason
        );
        assert_eq!(t.decision.kind, DecisionKind::Hold);
    }
    let t = r.minute(ok(Outcome::Safe, 10_000));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
}

#[test]
fn early_promotion_needs_a_safe_verdict_and_the_minimum_requests() {
    let mut p = policy();
    p.plan.early_promotion = true;
    let mut r = Rollout::start(p);
    r.apply_first();
    // Safe but only 150 of 200 requests: hold.
    let t = r.minute(ok(Outcome::Safe, 150));
    assert!(t.actions.is_empty(), "{}", t.decision.reason);
    // Inconclusive with enough requests: hold (early promotion is for proven safety only).
    let t = r.minute(ok(Outcome::Inconclusive, 100));
    assert!(t.actions.is_empty(), "{}", t.decision.reason);
    // Safe with 250 ≥ 200 at minute 3 of 5: advance to the next step, not straight to 100%.
    let t = r.minute(ok(Outcome::Safe, 0));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    assert!(t.decision.reason.contains("early"), "{}", t.decision.reason);
    assert_eq!(r.state.phase, Phase::Step(1));
    // The new step's request count starts from zero.
    assert_eq!(r.state.step_canary_requests, 0);
    let t = r.minute(ok(Outcome::Safe, 199));
    assert!(t.actions.is_empty());
    let t = r.minute(ok(Outcome::Safe, 1));
    assert_eq!(set_splits(&t), vec![step_split(25)]);
}

/// Walks a rollout to `phase` with safe verdicts.
fn walk_to(policy: Policy, phase: Phase) -> Rollout {
    let mut r = Rollout::start(policy);
    r.apply_first();
    for _ in 0..200 {
        if r.state.phase == phase {
            return r;
        }
        r.minute(ok(Outcome::Safe, 100));
    }
    panic!("never reached {phase:?}; at {:?}", r.state.phase);
}

#[test]
fn a_regression_rolls_back_from_any_phase_with_one_action() {
    let phases = [
        (with_shadow(policy()), Phase::Shadow),
        (policy(), Phase::Step(0)),
        (policy(), Phase::Step(2)),
        (policy(), Phase::Step(4)),
        (policy(), Phase::Baking),
    ];
    for (p, phase) in phases {
        let mut r = walk_to(p, phase);
        let t = r.minute(ok(Outcome::Regressed, 50));
        assert_eq!(t.decision.kind, DecisionKind::RollBack, "{phase:?}");
        assert_eq!(set_splits(&t), vec![Split::all_to("blue")], "{phase:?}");
        assert!(
            t.decision.reason.contains("1.31× [1.22, 1.40]"),
            "the failing check's reason is quoted: {}",
            t.decision.reason
        );
        assert_eq!(r.state.phase, Phase::RolledBack, "{phase:?}");
        assert_eq!(r.state.expected_split, Split::all_to("blue"));
        let t = r.minute(ok(Outcome::Safe, 50));
        assert!(t.actions.is_empty());
    }
}

#[test]
fn a_regression_before_the_first_change_applies_rolls_back_without_moving_traffic() {
    let mut r = Rollout::start(policy());
    r.feed(Input::ApplyFailed {
        error: "conflict".into(),
    });
    let t = r.minute(ok(Outcome::Regressed, 0));
    // The endpoint is verified still at blue=100%, yet a pending change could have been
    // re-sent, so the rollback is sent too; the controller finds it already in place.
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert_eq!(r.state.phase, Phase::RolledBack);
}

#[test]
fn a_source_outage_holds_then_rolls_back_after_the_grace() {
    let mut r = walk_to(policy(), Phase::Step(1));
    let started = r.now;
    for _ in 0..9 {
        // The runner may still pass the judge's last (safe) verdict: never progress on it.
        let t = r.minute(tick(
            SourceStatus::Error("HTTP 503 from Log Analytics".into()),
            Some(Outcome::Safe),
            0,
        ));
        assert!(t.actions.is_empty(), "{}", t.decision.reason);
        assert_eq!(t.decision.kind, DecisionKind::Hold);
        assert_eq!(r.state.phase, Phase::Step(1));
    }
    // First error at +1m; the 10 minute grace ends at +11m.
    let t = r.minute(tick(SourceStatus::Error("HTTP 503".into()), None, 0));
    assert!(t.actions.is_empty(), "{}", t.decision.reason);
    let t = r.minute(tick(SourceStatus::Error("HTTP 503".into()), None, 0));
    assert_eq!(r.now - started, time::Duration::minutes(11));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert!(
        t.decision.reason.contains("metrics source down for 10m"),
        "{}",
        t.decision.reason
    );
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
}

#[test]
fn a_good_window_ends_the_outage_clock() {
    let mut r = walk_to(policy(), Phase::Step(1));
    for _ in 0..8 {
        r.minute(tick(SourceStatus::Error("timeout".into()), None, 0));
    }
    r.minute(ok(Outcome::Inconclusive, 10));
    assert_eq!(r.state.source_errors_since, None);
    for _ in 0..8 {
        let t = r.minute(tick(SourceStatus::Error("timeout".into()), None, 0));
        assert!(t.actions.is_empty(), "{}", t.decision.reason);
    }
}

#[test]
fn not_ingested_yet_holds_and_counts_toward_the_grace() {
    let mut r = walk_to(policy(), Phase::Step(0));
    for _ in 0..10 {
        let t = r.minute(tick(SourceStatus::NotIngestedYet, None, 0));
        assert!(t.actions.is_empty());
        assert_eq!(t.decision.kind, DecisionKind::Hold);
    }
    let t = r.minute(tick(SourceStatus::NotIngestedYet, None, 0));
    assert_eq!(
        t.decision.kind,
        DecisionKind::RollBack,
        "{}",
        t.decision.reason
    );
}

#[test]
fn no_traffic_holds_without_failing_until_the_deadline() {
    let mut r = walk_to(policy(), Phase::Step(0));
    let mut rolled_back_at = None;
    for minute in 1..=300 {
        let t = r.minute(tick(SourceStatus::NoTraffic, Some(Outcome::NoData), 0));
        if !t.actions.is_empty() {
            assert_eq!(t.decision.kind, DecisionKind::RollBack);
            assert!(
                t.decision.reason.contains("deadline"),
                "{}",
                t.decision.reason
            );
            rolled_back_at = Some(minute);
            break;
        }
        assert_eq!(t.decision.kind, DecisionKind::Hold);
    }
    assert_eq!(r.state.phase, Phase::RolledBack);
    // Only the deadline (4 h from the start) ended it: step 1 began at the start.
    assert_eq!(rolled_back_at, Some(240));
}

#[test]
fn repeated_holds_are_not_news() {
    let mut r = walk_to(policy(), Phase::Step(0));
    let first = r.minute(tick(SourceStatus::NoTraffic, None, 0));
    assert!(first.decision.changed);
    let second = r.minute(tick(SourceStatus::NoTraffic, None, 0));
    assert!(!second.decision.changed, "{}", second.decision.reason);
    let other = r.minute(tick(SourceStatus::Error("403".into()), None, 0));
    assert!(other.decision.changed);
}

#[test]
fn inconclusive_holds_then_applies_the_timeout_action() {
    let mut r = walk_to(policy(), Phase::Step(1));
    // Minimums met at minute 5; the 30 minute limit runs from there.
    for minute in 1..35 {
        let t = r.minute(ok(Outcome::Inconclusive, 100));
        assert!(
            t.actions.is_empty(),
            "minute {minute}: {}",
            t.decision.reason
        );
    }
    let t = r.minute(ok(Outcome::Inconclusive, 100));
    assert_eq!(
        t.decision.kind,
        DecisionKind::RollBack,
        "{}",
        t.decision.reason
    );
    assert!(
        t.decision.reason.contains("still inconclusive 30m"),
        "{}",
        t.decision.reason
    );
}

#[test]
fn inconclusive_may_advance_or_roll_back_per_policy() {
    let mut advance_policy = policy();
    advance_policy.failure.on_inconclusive = InconclusiveAction::Advance;
    let mut r = walk_to(advance_policy, Phase::Step(1));
    for _ in 0..4 {
        assert!(r.minute(ok(Outcome::Inconclusive, 100)).actions.is_empty());
    }
    let t = r.minute(ok(Outcome::Inconclusive, 100));
    assert_eq!(set_splits(&t), vec![step_split(25)]);

    let mut rollback_policy = policy();
    rollback_policy.failure.on_inconclusive = InconclusiveAction::RollBack;
    let mut r = walk_to(rollback_policy, Phase::Step(1));
    for _ in 0..4 {
        assert!(r.minute(ok(Outcome::Inconclusive, 100)).actions.is_empty());
    }
    let t = r.minute(ok(Outcome::Inconclusive, 100));
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);

    // Not enough requests: not yet "inconclusive at the end of the step".
    let mut rollback_policy = policy();
    rollback_policy.failure.on_inconclusive = InconclusiveAction::RollBack;
    let mut r = walk_to(rollback_policy, Phase::Step(1));
    for _ in 0..10 {
        assert!(r.minute(ok(Outcome::Inconclusive, 10)).actions.is_empty());
    }
}

#[test]
fn no_data_never_moves_traffic() {
    let mut p = policy();
    p.failure.on_inconclusive = InconclusiveAction::Advance;
    let mut r = walk_to(p, Phase::Step(1));
    for _ in 0..60 {
        let t = r.minute(ok(Outcome::NoData, 100));
        assert!(t.actions.is_empty(), "{}", t.decision.reason);
    }
}

#[test]
fn the_deadline_rolls_back_a_stalled_rollout() {
    let mut p = policy();
    p.failure.inconclusive_limit = None;
    let mut r = walk_to(p, Phase::Step(2));
    let mut last = None;
    while !is_terminal(&r.state.phase) {
        last = Some(r.minute(ok(Outcome::Inconclusive, 100)));
    }
    let t = last.expect("ticks");
    assert_eq!(r.state.phase, Phase::RolledBack);
    assert!(
        t.decision.reason.contains("deadline of 4h"),
        "{}",
        t.decision.reason
    );
    assert_eq!(r.emitted.last(), Some(&Split::all_to("blue")));
}

#[test]
fn the_shadow_phase_mirrors_then_starts_the_first_step_without_a_mirror() {
    let mut r = Rollout::start(with_shadow(policy()));
    let shadow = split(&[("blue", 100)], &[("green", 20)]);
    assert_eq!(r.emitted, vec![shadow.clone()]);
    r.apply_first();
    assert_eq!(r.state.phase, Phase::Shadow);
    // Safe and 10 minutes, but only 450 of 500 mirrored requests: hold.
    for _ in 0..10 {
        let t = r.minute(ok(Outcome::Inconclusive, 45));
        assert!(t.actions.is_empty(), "{}", t.decision.reason);
    }
    // Inconclusive is enough at the end of the shadow phase (no regression on mirrored traffic).
    let t = r.minute(ok(Outcome::Inconclusive, 50));
    assert_eq!(set_splits(&t), vec![step_split(5)]);
    assert!(step_split(5).mirror.is_empty());
    assert_eq!(r.state.phase, Phase::Step(0));
}

#[test]
fn an_outside_change_pauses_without_fighting_and_resume_continues() {
    let mut r = walk_to(policy(), Phase::Step(1));
    let theirs = split(&[("blue", 70), ("green", 30)], &[]);
    let t = r.minute(Input::OutsideChange {
        observed: theirs.clone(),
    });
    assert_eq!(t.decision.kind, DecisionKind::Pause);
    assert!(t.actions.is_empty());
    assert!(
        t.decision.reason.contains(
            "traffic changed outside canaryd: expected blue=90% green=10%, found blue=70% green=30%"
        ),
        "{}",
        t.decision.reason
    );
    // Paused: nothing acts, not even a regression.
    for input in [ok(Outcome::Regressed, 100), ok(Outcome::Safe, 1000)] {
        let t = r.minute(input);
        assert!(t.actions.is_empty());
        assert!(!t.decision.changed);
    }
    // 70/30 is no phase of the plan: resume refuses.
    let t = r.minute(Input::Resume);
    assert!(t.actions.is_empty());
    assert!(r.state.paused.is_some(), "{}", t.decision.reason);
    // Someone sets 75/25 (step 3): resume adopts it.
    r.minute(Input::OutsideChange {
        observed: step_split(25),
    });
    let t = r.minute(Input::Resume);
    assert_eq!(
        t.decision.kind,
        DecisionKind::Resume,
        "{}",
        t.decision.reason
    );
    assert!(
        t.actions.is_empty(),
        "resume never moves traffic when adopting"
    );
    assert_eq!(r.state.phase, Phase::Step(2));
    assert_eq!(r.state.expected_split, step_split(25));
    // And continues from there.
    let mut next = None;
    for _ in 0..5 {
        next = Some(r.minute(ok(Outcome::Safe, 100)));
    }
    assert_eq!(set_splits(&next.expect("ticks")), vec![step_split(50)]);
}

#[test]
fn manual_pause_resume_and_abort() {
    let mut r = walk_to(policy(), Phase::Step(1));
    let t = r.minute(Input::Pause {
        reason: "incident 42".into(),
    });
    assert_eq!(t.decision.kind, DecisionKind::Pause);
    r.wait(60 * MINUTE);
    let t = r.feed(Input::Resume);
    assert_eq!(t.decision.kind, DecisionKind::Resume);
    assert_eq!(r.state.phase, Phase::Step(1));
    assert_eq!(r.state.paused_total, 60 * MINUTE);
    // The resumed step starts its minimum afresh.
    for _ in 0..4 {
        assert!(r.minute(ok(Outcome::Safe, 100)).actions.is_empty());
    }
    let t = r.minute(Input::Abort {
        reason: "customer complaint".into(),
    });
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert!(
        t.decision
            .reason
            .contains("aborted by operator: customer complaint")
    );
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert_eq!(r.state.phase, Phase::RolledBack);
}

fn frozen(outcome: Outcome, canary_requests: u64, why: &str) -> Input {
    Input::Tick(TickInput {
        source: SourceStatus::Ok,
        verdict: Some(verdict(outcome)),
        canary_requests,
        frozen: Some(why.into()),
    })
}

#[test]
fn a_freeze_holds_every_increase_but_never_a_rollback() {
    let mut r = walk_to(policy(), Phase::Step(1));
    // Minimums met and safe: the step would advance, but an alert is firing.
    for _ in 0..6 {
        let t = r.minute(frozen(Outcome::Safe, 100, "alert green-p99 firing"));
        assert!(t.actions.is_empty(), "{}", t.decision.reason);
        assert_eq!(t.decision.kind, DecisionKind::Hold);
    }
    assert_eq!(r.state.phase, Phase::Step(1));
    assert_eq!(r.state.last_hold, Some(HoldCause::Frozen));
    let last = r.history.last().expect("decisions");
    assert!(
        last.decision.reason.contains("alert green-p99 firing"),
        "{}",
        last.decision.reason
    );
    // Only the first frozen hold is news (the step's first minutes were waiting holds).
    let frozen_holds: Vec<bool> = r
        .history
        .iter()
        .filter(|t| t.decision.reason.contains("frozen"))
        .map(|t| t.decision.changed)
        .collect();
    assert!(frozen_holds.len() >= 2, "{frozen_holds:?}");
    assert_eq!(frozen_holds.iter().filter(|changed| **changed).count(), 1);
    // Requests kept counting while frozen; once the freeze ends the step advances at once.
    let t = r.minute(ok(Outcome::Safe, 0));
    assert_eq!(set_splits(&t), vec![step_split(25)]);
    // A regression under a freeze still rolls back.
    let t = r.minute(frozen(Outcome::Regressed, 100, "window closed"));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
}

#[test]
fn a_manual_promote_moves_to_the_next_phase_now() {
    let mut r = walk_to(policy(), Phase::Step(1));
    // Minimums not met, judge inconclusive: only an operator can move it.
    let t = r.feed_applied(Input::Promote { by: "alice".into() });
    assert_eq!(t.decision.kind, DecisionKind::Advance);
    assert!(
        t.decision.reason.contains("promoted manually by alice"),
        "{}",
        t.decision.reason
    );
    assert_eq!(set_splits(&t), vec![step_split(25)]);
    assert_eq!(r.state.phase, Phase::Step(2));
    // Refused while a change is in flight.
    let t = r.feed(Input::Promote { by: "bob".into() });
    assert_eq!(set_splits(&t), vec![step_split(50)]);
    let again = r.feed(Input::Promote { by: "bob".into() });
    assert_eq!(again.decision.kind, DecisionKind::Noop);
    assert!(
        again.decision.reason.contains("in flight"),
        "{}",
        again.decision.reason
    );
    r.apply_first();
    // Refused while paused.
    r.feed(Input::Pause {
        reason: "look".into(),
    });
    let t = r.feed(Input::Promote { by: "bob".into() });
    assert_eq!(t.decision.kind, DecisionKind::Noop);
    assert!(t.actions.is_empty());
    r.feed(Input::Resume);
    // From baking it ends the bake.
    let mut r = walk_to(policy(), Phase::Baking);
    let t = r.feed(Input::Promote { by: "carol".into() });
    assert_eq!(t.decision.kind, DecisionKind::Promote);
    assert_eq!(r.state.phase, Phase::Promoted);
    assert!(t.actions.is_empty());
}

#[test]
fn abort_while_paused_rolls_back_from_what_the_endpoint_shows() {
    let mut r = walk_to(policy(), Phase::Step(1));
    let theirs = split(&[("blue", 60), ("green", 40)], &[]);
    r.minute(Input::OutsideChange {
        observed: theirs.clone(),
    });
    let t = r.feed(Input::Abort {
        reason: "stop".into(),
    });
    // The controller will expect to find their split, not ours.
    assert_eq!(t.state.expected_split, theirs);
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);

    // Someone already moved everything back: the abort records the rollback, no action.
    let mut r = walk_to(policy(), Phase::Step(1));
    r.minute(Input::OutsideChange {
        observed: Split::all_to("blue"),
    });
    let t = r.feed(Input::Abort {
        reason: "done by hand".into(),
    });
    assert!(t.actions.is_empty());
    assert_eq!(r.state.phase, Phase::RolledBack);
}

#[test]
fn a_failing_change_is_retried_then_fails_without_a_half_state() {
    let mut r = walk_to(policy(), Phase::Step(0));
    for _ in 0..4 {
        r.minute(ok(Outcome::Safe, 100));
    }
    r.wait(MINUTE);
    let t = r.feed(ok(Outcome::Safe, 100));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    for attempt in 1..MAX_APPLY_ATTEMPTS {
        let t = r.feed(Input::ApplyFailed {
            error: "LRO Failed: InternalServerError".into(),
        });
        assert_eq!(t.decision.kind, DecisionKind::Hold);
        assert!(t.actions.is_empty());
        assert_eq!(r.state.phase, Phase::Step(0), "no half state");
        assert_eq!(r.state.expected_split, step_split(5));
        // The next tick re-sends the same change, whatever the verdict.
        r.wait(MINUTE);
        let t = r.feed(ok(Outcome::Inconclusive, 100));
        assert!(!t.decision.changed, "a retry is not news");
        assert_eq!(set_splits(&t), vec![step_split(10)], "attempt {attempt}");
    }
    let t = r.feed(Input::ApplyFailed {
        error: "LRO Failed: InternalServerError".into(),
    });
    assert_eq!(t.decision.kind, DecisionKind::Fail);
    assert_eq!(r.state.phase, Phase::Failed);
    assert_eq!(r.state.expected_split, step_split(5));
    assert!(
        t.decision
            .reason
            .contains("traffic stays at blue=95% green=5%")
    );
    assert!(r.minute(ok(Outcome::Regressed, 1)).actions.is_empty());
}

#[test]
fn a_retry_that_succeeds_continues_the_plan() {
    let mut r = Rollout::start(policy());
    r.feed(Input::ApplyFailed {
        error: "HTTP 409 conflict".into(),
    });
    assert_eq!(r.state.phase, Phase::Pending);
    r.minute(ok(Outcome::NoData, 0)); // re-sends step 1 and applies it
    assert_eq!(r.state.phase, Phase::Step(0));
    assert_eq!(r.emitted, vec![step_split(5), step_split(5)]);
}

#[test]
fn applied_with_a_different_split_is_an_outside_change() {
    let mut r = Rollout::start(policy());
    let t = r.feed(Input::Applied {
        split: step_split(50),
    });
    assert_eq!(t.decision.kind, DecisionKind::Pause);
    assert!(r.state.paused.is_some());
}

#[test]
fn start_refuses_an_endpoint_not_all_on_the_baseline() {
    let p = policy();
    let now = OffsetDateTime::UNIX_EPOCH;
    for current in [
        step_split(10),
        split(&[("blue", 100)], &[("red", 10)]),
        split(&[("blue", 50), ("red", 50)], &[]),
    ] {
        let t = start(&p, &endpoint(), "blue", "green", &current, now);
        assert_eq!(t.state.phase, Phase::Failed, "{current}");
        assert!(t.actions.is_empty());
        assert!(
            t.decision.reason.contains("cannot start"),
            "{}",
            t.decision.reason
        );
    }
    let t = start(&p, &endpoint(), "blue", "blue", &Split::all_to("blue"), now);
    assert_eq!(t.state.phase, Phase::Failed);
}

#[test]
fn state_survives_json_and_gives_identical_transitions() {
    let mut p = with_shadow(policy());
    p.plan.early_promotion = true;
    let mut r = walk_to(p.clone(), Phase::Step(1));
    r.minute(ok(Outcome::Inconclusive, 120));
    r.minute(tick(SourceStatus::Error("503".into()), None, 0));
    let json = serde_json::to_string(&r.state).expect("serializes");
    let restored: RolloutState = serde_json::from_str(&json).expect("reads back");
    assert_eq!(restored, r.state);
    let inputs = vec![
        ok(Outcome::Safe, 100),
        ok(Outcome::Inconclusive, 100),
        tick(SourceStatus::NotIngestedYet, None, 0),
        ok(Outcome::Safe, 500),
        Input::Applied {
            split: step_split(25),
        },
        ok(Outcome::Safe, 500),
        Input::ApplyFailed { error: "x".into() },
        ok(Outcome::Regressed, 10),
    ];
    let (mut a, mut b) = (r.state.clone(), restored);
    let mut now = r.now;
    for input in &inputs {
        now += MINUTE;
        let ta = advance(&p, &a, input, now);
        let tb = advance(&p, &b, input, now);
        assert_eq!(ta, tb);
        // And through JSON at every step.
        let json = serde_json::to_string(&tb.state).expect("serializes");
        b = serde_json::from_str(&json).expect("reads back");
        a = ta.state;
    }
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------------
// Properties over random verdict / source / runner sequences

#[derive(Debug, Clone)]
enum Event {
    Tick {
        source: u8,
        outcome: Option<Outcome>,
        requests: u64,
    },
    Outside(u8),
    Pause,
    Resume,
    Abort,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Safe),
        3 => Just(Outcome::Inconclusive),
        1 => Just(Outcome::NoData),
        1 => Just(Outcome::Regressed),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        30 => (0u8..8, proptest::option::weighted(0.9, outcome()), 0u64..400)
            .prop_map(|(source, outcome, requests)| Event::Tick { source, outcome, requests }),
        1 => (0u8..4).prop_map(Event::Outside),
        1 => Just(Event::Pause),
        2 => Just(Event::Resume),
        1 => Just(Event::Abort),
    ]
}

fn inconclusive_action() -> impl Strategy<Value = InconclusiveAction> {
    prop_oneof![
        Just(InconclusiveAction::Hold),
        Just(InconclusiveAction::Advance),
        Just(InconclusiveAction::RollBack),
    ]
}

fn random_policy() -> impl Strategy<Value = Policy> {
    (
        any::<bool>(),
        any::<bool>(),
        inconclusive_action(),
        inconclusive_action(),
        proptest::option::of(1u32..40),
    )
        .prop_map(|(shadow, early, on_inconclusive, on_timeout, limit)| {
            let mut p = if shadow {
                with_shadow(policy())
            } else {
                policy()
            };
            p.plan.early_promotion = early;
            p.failure.on_inconclusive = on_inconclusive;
            p.failure.on_inconclusive_timeout = on_timeout;
            p.failure.inconclusive_limit = limit.map(|m| m * MINUTE);
            p
        })
}

/// The runner answers every change: applied, or failed (verified not applied).
fn answer(r: &mut Rollout, t: &Transition, apply: bool) -> Result<(), TestCaseError> {
    for split in set_splits(t) {
        let input = if apply {
            Input::Applied { split }
        } else {
            Input::ApplyFailed {
                error: "boom".into(),
            }
        };
        let before = r.state.clone();
        let t = r.feed(input);
        prop_assert!(t.actions.is_empty());
        if t.state.expected_split != before.expected_split {
            prop_assert_eq!(t.decision.kind, DecisionKind::Complete);
        }
    }
    Ok(())
}

fn canary_live(split: &Split) -> u32 {
    split.traffic_of("green")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn traffic_only_moves_as_the_evidence_allows(
        policy in random_policy(),
        events in proptest::collection::vec((event(), 0u32..6, proptest::bool::weighted(0.8)), 1..250),
    ) {
        let mut r = Rollout::start(policy.clone());
        let first = r.history[0].clone();
        answer(&mut r, &first, true)?;
        for (event, minutes, apply) in events {
            r.wait(minutes * MINUTE);
            let before = r.state.clone();
            let input = match &event {
                Event::Tick { source, outcome, requests } => tick(
                    match source {
                        0 => SourceStatus::Error("503".into()),
                        1 => SourceStatus::NotIngestedYet,
                        2 => SourceStatus::NoTraffic,
                        _ => SourceStatus::Ok,
                    },
                    *outcome,
                    *requests,
                ),
                Event::Outside(which) => Input::OutsideChange {
                    observed: match which {
                        0 => step_split(25),
                        1 => split(&[("blue", 70), ("green", 30)], &[]),
                        2 => Split::all_to("blue"),
                        _ => before.expected_split.clone(),
                    },
                },
                Event::Pause => Input::Pause { reason: "test".into() },
                Event::Resume => Input::Resume,
                Event::Abort => Input::Abort { reason: "test".into() },
            };
            let t = r.feed(input.clone());
            let splits = set_splits(&t);
            // A terminal rollout emits nothing; a paused one only on Resume / Abort.
            if is_terminal(&before.phase) {
                prop_assert!(splits.is_empty());
                prop_assert_eq!(t.decision.kind, DecisionKind::Noop);
            }
            if before.paused.is_some() && !matches!(input, Input::Resume | Input::Abort { .. }) {
                prop_assert!(splits.is_empty(), "paused rollout acted: {}", t.decision.reason);
            }
            prop_assert!(splits.len() <= 1);
            let retried = before.pending.as_ref().map(|p| p.split.clone());
            for s in &splits {
                prop_assert!(s.validate().is_ok(), "invalid split {}", s);
                let from = before
                    .paused
                    .as_ref()
                    .map_or(&before.expected_split, |p| &p.observed);
                if *s == Split::all_to("blue") {
                    // The only way down.
                    prop_assert!(
                        matches!(t.decision.kind, DecisionKind::RollBack | DecisionKind::Hold),
                        "{:?}: {}", t.decision.kind, t.decision.reason
                    );
                    continue;
                }
                // The canary's live share never decreases except by rolling back.
                prop_assert!(canary_live(s) >= canary_live(from), "{} → {}", from, s);
                if let Input::Tick(tick) = &input
                    && canary_live(s) > canary_live(from)
                    && Some(s) != retried.as_ref()
                {
                    let outcome = tick.verdict.as_ref().map(|v| v.overall);
                    prop_assert_eq!(&tick.source, &SourceStatus::Ok, "advanced on a bad source");
                    let allowed = match outcome {
                        Some(Outcome::Safe) => true,
                        Some(Outcome::Inconclusive) => {
                            before.phase == Phase::Shadow
                                || policy.failure.on_inconclusive == InconclusiveAction::Advance
                                || policy.failure.on_inconclusive_timeout == InconclusiveAction::Advance
                        }
                        _ => false,
                    };
                    prop_assert!(allowed, "advanced on {:?}: {}", outcome, t.decision.reason);
                    prop_assert_eq!(t.decision.kind, DecisionKind::Advance);
                }
            }
            answer(&mut r, &t, apply)?;
        }
    }
}

/// The deadline bounds the way to 100%: it must not roll back a canary that is merely baking.
/// (At 100% the baseline serves nothing; the source reports such windows as complete.)
#[test]
fn baking_promotes_even_past_the_deadline() {
    let mut p = policy();
    p.plan.deadline = 25 * MINUTE + 2 * MINUTE; // just enough to reach 100%, not to bake
    let mut r = walk_to(p, Phase::Baking);
    let emitted_before = r.emitted.len();
    for _ in 0..40 {
        if r.state.phase == Phase::Promoted {
            break;
        }
        r.minute(ok(Outcome::Safe, 100));
    }
    assert_eq!(r.state.phase, Phase::Promoted, "{:?}", r.state.final_reason);
    assert_eq!(
        r.emitted.len(),
        emitted_before,
        "promotion moves no traffic"
    );
    assert_eq!(r.state.expected_split, step_split(100));
}

#[test]
fn a_regression_while_baking_still_rolls_back_after_the_deadline() {
    let mut p = policy();
    p.plan.deadline = 27 * MINUTE;
    let mut r = walk_to(p, Phase::Baking);
    r.minute(ok(Outcome::Safe, 100));
    r.wait(10 * MINUTE);
    let t = r.feed_applied(ok(Outcome::Regressed, 50));
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert_eq!(r.state.phase, Phase::RolledBack);
}

/// Found by the property test: an abort whose rollback failed leaves the traffic at what the
/// outside change set while the phase is still the old one; a pause and resume must then follow
/// the traffic (25% is step 3), never send the stale step's 5% split.
#[test]
fn resume_after_a_failed_abort_follows_the_traffic_not_the_stale_phase() {
    let mut r = Rollout::start(policy());
    r.apply_first();
    r.feed(Input::OutsideChange {
        observed: step_split(25),
    });
    let t = r.feed(Input::Abort {
        reason: "test".into(),
    });
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    r.feed(Input::ApplyFailed {
        error: "boom".into(),
    });
    r.feed(Input::Pause {
        reason: "test".into(),
    });
    let t = r.feed(Input::Resume);
    assert_eq!(t.decision.kind, DecisionKind::Resume);
    assert_eq!(r.state.phase, Phase::Step(2));
    assert_eq!(r.state.expected_split, step_split(25));
    for _ in 0..10 {
        let t = r.minute(ok(Outcome::Safe, 300));
        for split in set_splits(&t) {
            assert!(canary_live(&split) >= 25, "went down to {split}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Promotion windows and gates

fn windows(timezone: &str, allow: Option<&[&str]>, freeze: &[&str]) -> PromotionWindows {
    let cron = |text: &&str| text.parse::<CronWindow>().expect("a cron expression");
    PromotionWindows {
        timezone: timezone.parse().expect("a timezone"),
        allow: allow.map(|list| list.iter().map(cron).collect()),
        freeze: freeze.iter().map(cron).collect(),
    }
}

fn business_hours(mut policy: Policy) -> Policy {
    policy.plan.promotion_windows = Some(windows("UTC", Some(&["* 9-16 * * Mon-Fri"]), &[]));
    policy
}

/// Started at `at`, the first step applied, then safe ticks every minute until the rule would
/// leave step 1 (5 minutes).
fn five_minutes_into_step_one(policy: Policy, at: OffsetDateTime) -> (Rollout, Transition) {
    let mut r = Rollout::start_at(policy, at);
    r.apply_first();
    let mut last = None;
    for _ in 0..5 {
        last = Some(r.minute(ok(Outcome::Safe, 100)));
    }
    (r, last.expect("ticks"))
}

#[test]
fn a_window_blocks_a_promotion_but_not_a_rollback() {
    // Friday 2027-01-15 16:56 UTC: step 1 meets its minimums at 17:01, after the window.
    let (mut r, t) =
        five_minutes_into_step_one(business_hours(policy()), datetime!(2027-01-15 16:56 UTC));
    assert_eq!(r.now, datetime!(2027-01-15 17:01 UTC));
    assert_eq!(t.decision.kind, DecisionKind::Hold);
    assert_eq!(r.state.last_hold, Some(HoldCause::Frozen));
    assert!(t.actions.is_empty());
    assert_eq!(r.state.expected_split, step_split(5));
    assert!(
        t.decision.reason.contains("would advance")
            && t.decision
                .reason
                .contains("outside the allowed windows `* 9-16 * * Mon-Fri` (UTC)")
            && t.decision
                .reason
                .contains("the next window opens Mon 2027-01-18 09:00 UTC (in 2d15h59m)"),
        "{}",
        t.decision.reason
    );
    // The same hold again is not news.
    let again = r.minute(ok(Outcome::Safe, 100));
    assert!(!again.decision.changed && again.actions.is_empty());
    // A regression outside the window still rolls back at once.
    let t = r.minute(ok(Outcome::Regressed, 100));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert_eq!(r.state.phase, Phase::RolledBack);
    // So does an abort.
    let (mut r, _) =
        five_minutes_into_step_one(business_hours(policy()), datetime!(2027-01-15 16:56 UTC));
    let t = r.feed(Input::Abort {
        reason: "stop".into(),
    });
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
}

#[test]
fn time_held_by_a_window_does_not_count_toward_the_deadline() {
    // 4h deadline; held from Friday 17:01 to Monday 09:00.
    let (mut r, _) =
        five_minutes_into_step_one(business_hours(policy()), datetime!(2027-01-15 16:56 UTC));
    while r.now < datetime!(2027-01-18 08:50 UTC) {
        r.wait(10 * MINUTE);
        let t = r.feed_applied(ok(Outcome::Safe, 10));
        assert_eq!(t.decision.kind, DecisionKind::Hold, "{}", t.decision.reason);
        assert_eq!(r.state.last_hold, Some(HoldCause::Frozen));
    }
    r.now = datetime!(2027-01-18 08:59 UTC);
    assert_eq!(
        r.state.window_held_since,
        Some(datetime!(2027-01-15 17:01 UTC))
    );
    let t = r.minute(ok(Outcome::Safe, 10));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    assert_eq!(r.state.window_held_since, None);
    let held = datetime!(2027-01-18 09:00 UTC) - datetime!(2027-01-15 17:01 UTC);
    assert_eq!(r.state.window_held_total, held.unsigned_abs());
    // 5 minutes ran before the hold: the deadline comes 3h55m after the window opened.
    r.wait(234 * MINUTE);
    let t = r.feed(ok(Outcome::Inconclusive, 10));
    assert!(
        !t.decision.reason.contains("deadline"),
        "{}",
        t.decision.reason
    );
    let t = r.minute(ok(Outcome::Inconclusive, 10));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert!(
        t.decision.reason.contains("deadline of 4h passed")
            && t.decision
                .reason
                .contains("2d15h held by the promotion windows"),
        "{}",
        t.decision.reason
    );
}

#[test]
fn an_increase_goes_ahead_at_the_first_tick_after_the_window_opens() {
    let mut p = business_hours(policy());
    p.plan.deadline = 4 * 24 * 60 * MINUTE;
    let (mut r, t) = five_minutes_into_step_one(p, datetime!(2027-01-15 16:56 UTC));
    assert_eq!(t.decision.kind, DecisionKind::Hold);
    // Through the weekend, ticking every 10 minutes: still held, traffic unchanged.
    while r.now < datetime!(2027-01-18 08:50 UTC) {
        r.wait(10 * MINUTE);
        let t = r.feed_applied(ok(Outcome::Safe, 10));
        assert!(t.actions.is_empty(), "{}: {}", r.now, t.decision.reason);
    }
    r.now = datetime!(2027-01-18 08:59 UTC);
    let t = r.feed_applied(ok(Outcome::Safe, 10));
    assert_eq!(t.decision.kind, DecisionKind::Hold);
    assert!(
        t.decision.reason.contains("(in 1m)"),
        "{}",
        t.decision.reason
    );
    let t = r.minute(ok(Outcome::Safe, 10));
    assert_eq!(r.now, datetime!(2027-01-18 09:00 UTC));
    assert_eq!(
        t.decision.kind,
        DecisionKind::Advance,
        "{}",
        t.decision.reason
    );
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    assert_eq!(r.state.phase, Phase::Step(1));
}

#[test]
fn a_freeze_inside_an_allow_window_blocks_and_names_the_next_opening() {
    let mut p = policy();
    // Working hours, but no changes over lunch.
    p.plan.promotion_windows = Some(windows(
        "UTC",
        Some(&["* 9-16 * * Mon-Fri"]),
        &["* 12 * * *"],
    ));
    let (mut r, t) = five_minutes_into_step_one(p, datetime!(2027-01-15 11:58 UTC));
    assert_eq!(r.now, datetime!(2027-01-15 12:03 UTC));
    assert_eq!(r.state.last_hold, Some(HoldCause::Frozen));
    assert!(
        t.decision
            .reason
            .contains("in the freeze `* 12 * * *` (UTC)")
            && t.decision
                .reason
                .contains("the next window opens Fri 2027-01-15 13:00 UTC (in 57m)"),
        "{}",
        t.decision.reason
    );
    r.now = datetime!(2027-01-15 13:00 UTC);
    let t = r.feed_applied(ok(Outcome::Safe, 10));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
}

#[test]
fn windows_are_read_in_their_timezone() {
    let mut p = policy();
    p.plan.promotion_windows = Some(windows("+02:00", Some(&["* 9-16 * * *"]), &[]));
    // 06:55 UTC is 08:55 at +02:00: closed until 07:00 UTC.
    let (mut r, t) = five_minutes_into_step_one(p.clone(), datetime!(2027-01-15 06:54 UTC));
    assert_eq!(r.now, datetime!(2027-01-15 06:59 UTC));
    assert!(
        t.decision
            .reason
            .contains("the next window opens Fri 2027-01-15 09:00 +02:00 (in 1m)")
            && t.decision.reason.contains("(UTC+02:00)"),
        "{}",
        t.decision.reason
    );
    let t = r.minute(ok(Outcome::Safe, 10));
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    // West of UTC: -05:30 puts 09:00 local at 14:30 UTC.
    p.plan.promotion_windows = Some(windows("-05:30", Some(&["* 9-16 * * *"]), &[]));
    assert!(increase_blocked(&p, datetime!(2027-01-15 14:29 UTC)).is_some());
    assert_eq!(increase_blocked(&p, datetime!(2027-01-15 14:30 UTC)), None);
    let blocked = increase_blocked(&p, datetime!(2027-01-15 22:30 UTC)).expect("17:00 local");
    assert!(blocked.contains("Sat 2027-01-16 09:00 -05:30"), "{blocked}");
}

#[test]
fn increase_blocked_tells_the_runner_when_not_to_start() {
    assert_eq!(
        increase_blocked(&policy(), datetime!(2027-01-16 03:00 UTC)),
        None
    );
    let p = business_hours(policy());
    assert_eq!(increase_blocked(&p, datetime!(2027-01-15 10:00 UTC)), None);
    let why = increase_blocked(&p, datetime!(2027-01-16 03:00 UTC)).expect("Saturday");
    assert!(why.contains("Mon 2027-01-18 09:00 UTC"), "{why}");
    let mut never = policy();
    never.plan.promotion_windows = Some(windows("UTC", None, &["* * * * *"]));
    let why = increase_blocked(&never, datetime!(2027-01-16 03:00 UTC)).expect("always frozen");
    assert!(
        why.ends_with("no allowed minute in the next 8 days"),
        "{why}"
    );
}

#[test]
fn a_window_and_an_alert_freeze_give_both_reasons() {
    let (mut r, _) =
        five_minutes_into_step_one(business_hours(policy()), datetime!(2027-01-15 16:56 UTC));
    let t = r.minute(frozen(Outcome::Safe, 100, "alert green-p99 firing"));
    assert!(
        t.decision
            .reason
            .contains("alert green-p99 firing; outside the allowed windows"),
        "{}",
        t.decision.reason
    );
}

#[test]
fn an_explicit_promote_goes_ahead_outside_a_window_and_says_so() {
    let (mut r, _) =
        five_minutes_into_step_one(business_hours(policy()), datetime!(2027-01-15 16:56 UTC));
    let t = r.feed_applied(Input::Promote { by: "alice".into() });
    assert_eq!(t.decision.kind, DecisionKind::Advance);
    assert_eq!(set_splits(&t), vec![step_split(10)]);
    assert!(
        t.decision
            .reason
            .contains("an explicit promote goes ahead outside the promotion windows"),
        "{}",
        t.decision.reason
    );
}

fn gated(confirm: GateConfirm, timeout: Option<Duration>, on_timeout: GateTimeoutAction) -> Policy {
    let mut p = policy();
    p.plan.gates = Gates {
        confirm,
        timeout,
        on_timeout,
    };
    p
}

/// Safe ticks every minute until the rollout holds for approval (or ends).
fn until_awaiting(r: &mut Rollout) -> Transition {
    for _ in 0..100 {
        let t = r.minute(ok(Outcome::Safe, 100));
        if r.state.last_hold == Some(HoldCause::AwaitingApproval) || is_terminal(&r.state.phase) {
            return t;
        }
    }
    panic!("never awaited approval; at {:?}", r.state.phase);
}

#[test]
fn a_final_gate_waits_before_100_percent_then_a_promote_approves_it() {
    let mut r = Rollout::start(gated(
        GateConfirm::Final,
        Some(240 * MINUTE),
        GateTimeoutAction::RollBack,
    ));
    r.apply_first();
    let t = until_awaiting(&mut r);
    // Every step up to 50% went ahead on the judge alone.
    assert_eq!(
        r.emitted,
        vec![
            step_split(5),
            step_split(10),
            step_split(25),
            step_split(50)
        ]
    );
    assert_eq!(r.state.phase, Phase::Step(3));
    assert!(t.actions.is_empty() && t.decision.changed);
    assert_eq!(r.state.awaiting_approval_since, Some(r.now));
    let id = r.state.id.clone();
    assert!(
        t.decision
            .reason
            .contains("the policy's gate (confirm: final) needs approval")
            && t.decision
                .reason
                .contains(&format!("run `canaryd promote {id}`"))
            && t.decision
                .reason
                .contains("after 4h without approval the policy rolls back"),
        "{}",
        t.decision.reason
    );
    // Waiting: the same hold, not news, traffic unchanged.
    for _ in 0..30 {
        let t = r.minute(ok(Outcome::Safe, 100));
        assert_eq!(r.state.last_hold, Some(HoldCause::AwaitingApproval));
        assert!(!t.decision.changed && t.actions.is_empty());
    }
    assert!(
        r.history
            .last()
            .unwrap()
            .decision
            .reason
            .contains("awaiting approval for 30m")
    );
    let t = r.feed_applied(Input::Promote { by: "alice".into() });
    assert_eq!(t.decision.kind, DecisionKind::Advance);
    assert_eq!(set_splits(&t), vec![Split::all_to("green")]);
    assert!(
        t.decision
            .reason
            .contains("approved by alice after 30m awaiting approval"),
        "{}",
        t.decision.reason
    );
    assert_eq!(r.state.phase, Phase::Step(4));
    assert_eq!(r.state.awaiting_approval_since, None);
    assert_eq!(r.state.approval_wait_total, 30 * MINUTE);
    // 100% to the bake and the bake to promoted are not increases: no more gates.
    for _ in 0..60 {
        if is_terminal(&r.state.phase) {
            break;
        }
        r.minute(ok(Outcome::Safe, 100));
    }
    assert_eq!(r.state.phase, Phase::Promoted);
    assert!(
        r.history
            .iter()
            .any(|t| t.decision.reason.contains("baking for 30m"))
    );
}

#[test]
fn a_final_gate_on_a_plan_ending_below_100_waits_at_the_last_step_then_the_bake_starts() {
    let mut p = gated(GateConfirm::Final, None, GateTimeoutAction::RollBack);
    p.plan.steps.pop();
    let mut r = Rollout::start(p);
    r.apply_first();
    let t = until_awaiting(&mut r);
    assert_eq!(r.state.phase, Phase::Step(3), "the last step, 50%");
    assert!(
        t.decision.reason.contains("the gate waits with no timeout"),
        "{}",
        t.decision.reason
    );
    let t = r.feed_applied(Input::Promote { by: "alice".into() });
    assert_eq!(set_splits(&t), vec![Split::all_to("green")]);
    assert_eq!(r.state.phase, Phase::Baking);
}

#[test]
fn an_every_step_gate_waits_before_each_increase() {
    let mut r = Rollout::start(with_shadow(gated(
        GateConfirm::EveryStep,
        Some(60 * MINUTE),
        GateTimeoutAction::RollBack,
    )));
    r.apply_first();
    assert_eq!(r.state.phase, Phase::Shadow);
    let mut approvals = 0;
    while !is_terminal(&r.state.phase) && approvals < 10 {
        let t = r.minute(ok(Outcome::Safe, 200));
        if r.state.last_hold == Some(HoldCause::AwaitingApproval) {
            assert!(t.actions.is_empty());
            r.wait(5 * MINUTE);
            let t = r.feed_applied(Input::Promote { by: "bob".into() });
            assert_eq!(t.decision.kind, DecisionKind::Advance);
            approvals += 1;
        }
    }
    assert_eq!(r.state.phase, Phase::Promoted);
    // Shadow → 5%, 5 → 10, 10 → 25, 25 → 50, 50 → 100: five approvals, each traffic change one.
    assert_eq!(approvals, 5);
    assert_eq!(
        &r.emitted[1..],
        &[
            step_split(5),
            step_split(10),
            step_split(25),
            step_split(50),
            Split::all_to("green")
        ]
    );
    assert_eq!(r.state.approval_wait_total, 25 * MINUTE);
}

#[test]
fn a_gate_timeout_rolls_back_holds_or_advances_as_the_policy_says() {
    let timeout = Some(30 * MINUTE);
    // roll_back
    let mut r = Rollout::start(gated(
        GateConfirm::Final,
        timeout,
        GateTimeoutAction::RollBack,
    ));
    r.apply_first();
    until_awaiting(&mut r);
    r.wait(29 * MINUTE);
    let t = r.feed(ok(Outcome::Safe, 100));
    assert_eq!(t.decision.kind, DecisionKind::Hold, "{}", t.decision.reason);
    let t = r.minute(ok(Outcome::Safe, 100));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert!(
        t.decision.reason.contains(
            "no approval within the gate's 30m timeout (waited 30m); the policy rolls back"
        ),
        "{}",
        t.decision.reason
    );
    assert_eq!(r.state.phase, Phase::RolledBack);

    // hold: reported once, then quiet; a promote still approves.
    let mut r = Rollout::start(gated(GateConfirm::Final, timeout, GateTimeoutAction::Hold));
    r.apply_first();
    until_awaiting(&mut r);
    r.wait(30 * MINUTE);
    let t = r.feed(ok(Outcome::Safe, 100));
    assert_eq!(r.state.last_hold, Some(HoldCause::ApprovalOverdue));
    assert!(t.decision.changed && t.actions.is_empty());
    assert!(
        t.decision.reason.contains("keeps holding at"),
        "{}",
        t.decision.reason
    );
    for _ in 0..5 {
        let t = r.minute(ok(Outcome::Safe, 100));
        assert!(!t.decision.changed && t.actions.is_empty());
    }
    let t = r.feed_applied(Input::Promote { by: "carol".into() });
    assert_eq!(set_splits(&t), vec![Split::all_to("green")]);

    // advance: the increase happens without approval…
    let mut r = Rollout::start(gated(
        GateConfirm::Final,
        timeout,
        GateTimeoutAction::Advance,
    ));
    r.apply_first();
    until_awaiting(&mut r);
    r.wait(30 * MINUTE);
    let t = r.feed_applied(ok(Outcome::Safe, 100));
    assert_eq!(t.decision.kind, DecisionKind::Advance);
    assert_eq!(set_splits(&t), vec![Split::all_to("green")]);
    assert!(
        t.decision.reason.contains("advances without approval"),
        "{}",
        t.decision.reason
    );
    assert_eq!(r.state.phase, Phase::Step(4));

    // …but not outside a promotion window.
    let mut p = business_hours(gated(
        GateConfirm::Final,
        timeout,
        GateTimeoutAction::Advance,
    ));
    p.plan.deadline = 4 * 24 * 60 * MINUTE;
    let mut r = Rollout::start_at(p, datetime!(2027-01-15 15:00 UTC));
    r.apply_first();
    until_awaiting(&mut r);
    r.now = datetime!(2027-01-15 18:00 UTC);
    let t = r.feed_applied(ok(Outcome::Safe, 100));
    assert_eq!(r.state.last_hold, Some(HoldCause::Frozen));
    assert!(t.actions.is_empty());
    assert!(
        t.decision.reason.contains("advances without approval")
            && t.decision.reason.contains("Mon 2027-01-18 09:00 UTC"),
        "{}",
        t.decision.reason
    );
    r.now = datetime!(2027-01-18 09:00 UTC);
    let t = r.feed_applied(ok(Outcome::Safe, 100));
    assert_eq!(set_splits(&t), vec![Split::all_to("green")]);
}

#[test]
fn a_regression_while_a_gate_waits_rolls_back() {
    let mut r = Rollout::start(gated(GateConfirm::Final, None, GateTimeoutAction::Hold));
    r.apply_first();
    until_awaiting(&mut r);
    r.minute(ok(Outcome::Safe, 100));
    let t = r.minute(ok(Outcome::Regressed, 100));
    assert_eq!(t.decision.kind, DecisionKind::RollBack);
    assert_eq!(set_splits(&t), vec![Split::all_to("blue")]);
    assert_eq!(r.state.phase, Phase::RolledBack);
    assert_eq!(r.state.awaiting_approval_since, None);
}

#[test]
fn time_waiting_at_a_gate_does_not_count_toward_the_deadline() {
    let mut p = gated(GateConfirm::Final, None, GateTimeoutAction::RollBack);
    p.plan.deadline = 60 * MINUTE;
    let mut r = Rollout::start(p);
    r.apply_first();
    until_awaiting(&mut r);
    let at_gate = r.now - r.state.started_at;
    // Three hours at the gate: far past the 1h deadline, still waiting.
    for _ in 0..18 {
        r.wait(10 * MINUTE);
        let t = r.feed(ok(Outcome::Safe, 100));
        assert_eq!(
            r.state.last_hold,
            Some(HoldCause::AwaitingApproval),
            "{}",
            t.decision.reason
        );
    }
    r.feed_applied(Input::Promote { by: "dave".into() });
    assert_eq!(r.state.approval_wait_total, 180 * MINUTE);
    // The rest of the deadline is still there after the wait …
    let left = time::Duration::minutes(60) - at_gate;
    r.wait(Duration::try_from(left).unwrap() - MINUTE);
    let t = r.feed(ok(Outcome::Safe, 10));
    assert!(
        !t.decision.reason.contains("deadline"),
        "{}",
        t.decision.reason
    );
    // … and then it applies.
    let t = r.minute(ok(Outcome::Safe, 10));
    assert!(
        t.decision.reason.contains("deadline of 1h passed")
            && t.decision.reason.contains("3h awaiting approval"),
        "{}",
        t.decision.reason
    );
}

#[test]
fn gate_state_survives_json_and_old_states_read_without_it() {
    let mut r = Rollout::start(gated(GateConfirm::Final, None, GateTimeoutAction::Hold));
    r.apply_first();
    until_awaiting(&mut r);
    r.state.approval_wait_total = 7 * MINUTE;
    let json = serde_json::to_string(&r.state).expect("serializes");
    assert!(json.contains("\"awaiting_approval_since\":\""), "{json}");
    let restored: RolloutState = serde_json::from_str(&json).expect("reads back");
    assert_eq!(restored, r.state);
    let last_hold = serde_json::to_value(HoldCause::AwaitingApproval).expect("serializes");
    assert_eq!(last_hold, serde_json::json!("awaiting_approval"));
    // A state written before gates existed has neither field.
    let mut old: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let fields = old.as_object_mut().expect("an object");
    fields.remove("awaiting_approval_since");
    fields.remove("approval_wait_total");
    fields.remove("window_held_since");
    fields.remove("window_held_total");
    fields.insert(
        "last_hold".into(),
        serde_json::json!("waiting_for_minimums"),
    );
    let old: RolloutState = serde_json::from_value(old).expect("old states still read");
    assert_eq!(old.awaiting_approval_since, None);
    assert_eq!(old.approval_wait_total, Duration::ZERO);
    assert_eq!(old.window_held_total, Duration::ZERO);
    // And such a state meets the gate afresh at its next tick.
    let t = advance(&r.policy, &old, &ok(Outcome::Safe, 100), r.now + MINUTE);
    assert_eq!(t.state.last_hold, Some(HoldCause::AwaitingApproval));
    assert!(t.decision.changed);
}

fn gate_confirm() -> impl Strategy<Value = GateConfirm> {
    prop_oneof![
        Just(GateConfirm::None),
        Just(GateConfirm::Final),
        Just(GateConfirm::EveryStep),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Under random gates and business-hours windows, with operators promoting at random:
    /// a tick never increases traffic outside a window, never makes a gated increase unless the
    /// gate timed out into `advance`, and a regression always rolls back.
    #[test]
    fn gates_and_windows_hold_back_only_increases(
        policy in random_policy(),
        confirm in gate_confirm(),
        timeout in proptest::option::of(5u32..90),
        on_timeout in prop_oneof![
            Just(GateTimeoutAction::RollBack),
            Just(GateTimeoutAction::Hold),
            Just(GateTimeoutAction::Advance),
        ],
        start_minute in 0u64..(7 * 24 * 60),
        events in proptest::collection::vec(
            (proptest::option::weighted(0.95, event()), 0u32..30, proptest::bool::weighted(0.9)),
            1..200,
        ),
    ) {
        let mut policy = business_hours(policy);
        policy.plan.gates = Gates { confirm, timeout: timeout.map(|m| m * MINUTE), on_timeout };
        let start = datetime!(2027-01-11 00:00 UTC) + Duration::from_secs(start_minute * 60);
        let mut r = Rollout::start_at(policy.clone(), start);
        let first = r.history[0].clone();
        answer(&mut r, &first, true)?;
        for (event, minutes, apply) in events {
            r.wait(minutes * MINUTE);
            let before = r.state.clone();
            let input = match &event {
                None => Input::Promote { by: "op".into() },
                Some(Event::Tick { source, outcome, requests }) => tick(
                    if *source == 0 { SourceStatus::Error("503".into()) } else { SourceStatus::Ok },
                    *outcome,
                    *requests,
                ),
                Some(Event::Outside(_)) => Input::OutsideChange { observed: step_split(25) },
                Some(Event::Pause) => Input::Pause { reason: "test".into() },
                Some(Event::Resume) => Input::Resume,
                Some(Event::Abort) => Input::Abort { reason: "test".into() },
            };
            let t = r.feed(input.clone());
            if let Input::Tick(tick) = &input
                && !is_terminal(&before.phase)
                && before.paused.is_none()
                && tick.verdict.as_ref().is_some_and(|v| v.overall == Outcome::Regressed)
            {
                prop_assert!(
                    matches!(t.decision.kind, DecisionKind::RollBack)
                        || t.state.pending.as_ref().is_some_and(|p| p.target == Phase::RolledBack),
                    "{:?}: {}", t.decision.kind, t.decision.reason
                );
            }
            let retried = before.pending.as_ref().map(|p| p.split.clone());
            for s in set_splits(&t) {
                let from = canary_live(&before.expected_split);
                let increase = canary_live(&s) > from;
                if !increase || Some(&s) == retried.as_ref() || !matches!(input, Input::Tick(_)) {
                    continue;
                }
                prop_assert_eq!(
                    increase_blocked(&policy, r.now), None,
                    "increased outside a window: {}", t.decision.reason
                );
                let gated = match confirm {
                    GateConfirm::None => false,
                    GateConfirm::Final => canary_live(&s) == 100,
                    GateConfirm::EveryStep => true,
                };
                if gated {
                    let timed_out = on_timeout == GateTimeoutAction::Advance
                        && before.awaiting_approval_since.is_some_and(|since| {
                            timeout.is_some_and(|m| r.now - since >= time::Duration::minutes(m.into()))
                        });
                    prop_assert!(timed_out, "a gated increase without approval: {}", t.decision.reason);
                }
            }
            answer(&mut r, &t, apply)?;
        }
    }
}
