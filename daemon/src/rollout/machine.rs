//! [`start`] and [`advance`]: the whole decision logic of a rollout. Pure: (policy, state,
//! input, now) in, (state, actions, decision) out.

use std::time::Duration;

use time::OffsetDateTime;

use super::text::{count, duration, elapsed, evidence};
use super::{
    Action, Decision, DecisionKind, HoldCause, Input, PauseInfo, PendingChange, Phase,
    RolloutState, SourceStatus, TickInput, Transition,
};
use crate::judge::{JudgeState, Outcome, Verdict};
use crate::model::{EndpointRef, Split, TrafficMap};
use crate::policy::{GateConfirm, GateTimeoutAction, InconclusiveAction, Policy};

/// Failed attempts at one traffic change before the rollout ends [`Phase::Failed`] (failures
/// continuing past `failure.source_error_grace` end it sooner).
pub const MAX_APPLY_ATTEMPTS: u32 = 5;

/// Promoted, rolled back or failed: nothing more happens.
pub fn is_terminal(phase: &Phase) -> bool {
    matches!(phase, Phase::Promoted | Phase::RolledBack | Phase::Failed)
}

/// Begins a rollout of `canary` against `baseline` on an endpoint whose traffic is `current`.
/// Emits the first traffic change (the shadow mirror, or the first step); the first phase begins
/// when the runner reports it [`Input::Applied`]. Refuses (ends [`Phase::Failed`], no action)
/// unless all live traffic is on the baseline with no mirror.
pub fn start(
    policy: &Policy,
    endpoint: &EndpointRef,
    baseline: &str,
    canary: &str,
    current: &Split,
    now: OffsetDateTime,
) -> Transition {
    let baseline = baseline.to_ascii_lowercase();
    let canary = canary.to_ascii_lowercase();
    let state = RolloutState {
        id: format!("{endpoint}/{canary}@{}", now.unix_timestamp()),
        endpoint: endpoint.clone(),
        baseline: baseline.clone(),
        canary: canary.clone(),
        phase: Phase::Pending,
        phase_started_at: now,
        started_at: now,
        step_canary_requests: 0,
        source_errors_since: None,
        inconclusive_since: None,
        expected_split: current.clone(),
        pending: None,
        paused: None,
        paused_total: Duration::ZERO,
        awaiting_approval_since: None,
        approval_wait_total: Duration::ZERO,
        window_held_since: None,
        window_held_total: Duration::ZERO,
        last_hold: None,
        final_reason: None,
        judge: JudgeState::default(),
    };
    if baseline == canary {
        return fail(
            state,
            format!(
                "cannot start: baseline and canary are the same deployment '{canary}'; name two different deployments"
            ),
        );
    }
    if policy.plan.steps.is_empty() {
        return fail(
            state,
            "cannot start: the policy's plan has no traffic steps; add at least one step".into(),
        );
    }
    if *current != Split::all_to(&baseline) {
        return fail(
            state,
            format!(
                "cannot start: endpoint traffic is {current}; canaryd starts a rollout only from {baseline}=100% with no mirror, so it never takes traffic from a deployment it does not manage"
            ),
        );
    }
    first_change(policy, state, now, DecisionKind::Start)
}

/// Why the policy's promotion windows forbid a traffic increase at `now` (and when the next
/// window opens), or `None` when an increase may go ahead. The runner asks before starting a
/// rollout, whose first change is an increase; ticks check it themselves.
pub fn increase_blocked(policy: &Policy, now: OffsetDateTime) -> Option<String> {
    let windows = policy.plan.promotion_windows.as_ref()?;
    let block = windows.blocked(now)?;
    Some(windows.describe_block(&block, now))
}

/// One step of the state machine. Terminal states ignore every input; paused rollouts act only
/// on Resume and Abort.
pub fn advance(
    policy: &Policy,
    state: &RolloutState,
    input: &Input,
    now: OffsetDateTime,
) -> Transition {
    let state = state.clone();
    if is_terminal(&state.phase) {
        let reason = format!(
            "rollout already ended ({}); input ignored",
            state.phase.label()
        );
        return noop(state, reason);
    }
    match input {
        Input::Abort { reason } => abort(state, format!("aborted by operator: {reason}"), now),
        Input::Alert { reason } => abort(state, reason.clone(), now),
        Input::Pause { reason } => pause(state, format!("paused by operator: {reason}"), now),
        Input::Resume => resume(policy, state, now),
        Input::OutsideChange { observed } => outside_change(policy, state, observed, now),
        _ if state.paused.is_some() => {
            let why = state
                .paused
                .as_ref()
                .map(|p| p.reason.clone())
                .unwrap_or_default();
            noop(
                state,
                format!("paused ({why}); input ignored until resume or abort"),
            )
        }
        Input::Applied { split } => applied(policy, state, split, now),
        Input::ApplyFailed { error } => apply_failed(policy, state, error, now),
        Input::Promote { by } => manual_promote(policy, state, by, now),
        Input::Tick(tick) => {
            let mut window_held = false;
            let mut t = on_tick(policy, state, tick, now, &mut window_held);
            if !window_held {
                end_window_hold(&mut t.state, now);
            }
            t
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ticks

/// One tick's rules; `window_held` is set when the policy's promotion windows held back an
/// increase (the time until the next tick that is not held extends the deadline).
fn on_tick(
    policy: &Policy,
    mut s: RolloutState,
    tick: &TickInput,
    now: OffsetDateTime,
    window_held: &mut bool,
) -> Transition {
    let here = describe(policy, &s, s.phase);
    // A proven regression wins over everything, whatever the source said about this window.
    if let Some(verdict) = &tick.verdict
        && verdict.overall == Outcome::Regressed
    {
        let reason = format!("{here}: canary regressed — {}", evidence(verdict));
        return roll_back(s, reason, now);
    }
    let deadline = deadline_of(policy, &s, now);
    let running = elapsed(now, s.started_at);
    // The deadline bounds the way to 100%; once there, the bake time bounds the rest.
    if running >= deadline && s.phase != Phase::Baking {
        let waited = approval_waited(&s, now);
        let mut excluded = Vec::new();
        if !s.paused_total.is_zero() {
            excluded.push(format!("{} of it paused", duration(s.paused_total)));
        }
        if !waited.is_zero() {
            excluded.push(format!("{} awaiting approval", duration(waited)));
        }
        let held = window_held_for(&s, now);
        if !held.is_zero() {
            excluded.push(format!("{} held by the promotion windows", duration(held)));
        }
        let reason = format!(
            "{here}: deadline of {} passed ({} since the rollout started{}) before promotion",
            duration(policy.plan.deadline),
            duration(running),
            if excluded.is_empty() {
                String::new()
            } else {
                format!(", {}", excluded.join(", "))
            }
        );
        return roll_back(s, reason, now);
    }
    if let Some(pending) = &s.pending {
        let reason = format!(
            "{here}: retrying the traffic change to {} (attempt {} of {MAX_APPLY_ATTEMPTS}{})",
            pending.split,
            pending.failures + 1,
            pending
                .last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
        let action = Action::SetSplit {
            split: pending.split.clone(),
            why: pending.why.clone(),
        };
        return hold(s, HoldCause::RetryingChange, reason, vec![action]);
    }
    if s.phase == Phase::Pending {
        // Only reachable from a hand-edited state: the first change is always pending here.
        return first_change(policy, s, now, DecisionKind::Start);
    }
    match &tick.source {
        SourceStatus::Error(error) => {
            return source_trouble(
                policy,
                s,
                HoldCause::SourceError,
                format!("metrics source error: {error}"),
                now,
            );
        }
        SourceStatus::NotIngestedYet => {
            return source_trouble(
                policy,
                s,
                HoldCause::NotIngestedYet,
                "the window is not fully ingested yet".into(),
                now,
            );
        }
        SourceStatus::NoTraffic => {
            s.source_errors_since = None;
            let reason = format!(
                "{here}: no requests reached the endpoint in the window; holding at {} (not a failure; {} left before the deadline)",
                s.expected_split,
                duration(deadline.saturating_sub(running))
            );
            return hold(s, HoldCause::NoTraffic, reason, Vec::new());
        }
        SourceStatus::Ok => {
            s.source_errors_since = None;
            s.step_canary_requests = s.step_canary_requests.saturating_add(tick.canary_requests);
        }
    }
    let Some(verdict) = &tick.verdict else {
        let reason = format!(
            "{here}: the window is complete but no verdict was given; holding at {}",
            s.expected_split
        );
        return hold(s, HoldCause::NoVerdict, reason, Vec::new());
    };
    let before = s.clone();
    let transition = if s.awaiting_approval_since.is_some() {
        // The rule already chose the gated increase; only a regression (above), source trouble
        // (above) or the gate's own timeout change anything now.
        gate_wait(policy, s, now)
    } else {
        let transition = match s.phase {
            Phase::Shadow => shadow_tick(policy, s, verdict, now),
            Phase::Step(index) => step_tick(policy, s, index, verdict, now),
            Phase::Baking => bake_tick(policy, s, verdict, now),
            Phase::Pending | Phase::Promoted | Phase::RolledBack | Phase::Failed => {
                noop(s, format!("{here}: nothing to judge"))
            }
        };
        match gated(policy, &before, &transition) {
            true => await_approval(policy, before.clone(), &transition, now),
            false => transition,
        }
    };
    // Alerts freeze advances and promotions; windows hold back only real increases.
    let alert = tick.frozen.as_ref().filter(|_| {
        matches!(
            transition.decision.kind,
            DecisionKind::Advance | DecisionKind::Promote
        )
    });
    let window = increases(&before, &transition)
        .then(|| increase_blocked(policy, now))
        .flatten();
    if alert.is_none() && window.is_none() {
        return transition;
    }
    let why = alert
        .cloned()
        .into_iter()
        .chain(window.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let reason = format!(
        "{here}: would {} ({}), but traffic increases are frozen: {why}; holding at {}",
        transition.decision.kind.label(),
        transition.decision.reason,
        before.expected_split
    );
    let mut before = before;
    // A gate that timed out into `advance` is still waiting: its wait already extends the
    // deadline, so the window hold does not count the same time twice.
    if window.is_some() && before.awaiting_approval_since.is_none() {
        *window_held = true;
        before.window_held_since.get_or_insert(now);
    }
    hold(before, HoldCause::Frozen, reason, Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Gates

/// Whether `transition` is an increase that the policy's gate reserves for an operator.
fn gated(policy: &Policy, before: &RolloutState, transition: &Transition) -> bool {
    let canary = &before.canary;
    let from = before.expected_split.traffic_of(canary);
    transition.actions.iter().any(|action| match action {
        Action::SetSplit { split, .. } => {
            let to = split.traffic_of(canary);
            to > from
                && match policy.plan.gates.confirm {
                    GateConfirm::None => false,
                    GateConfirm::Final => to == 100,
                    GateConfirm::EveryStep => true,
                }
        }
    })
}

/// Whether `transition` gives the canary more live or mirrored traffic than it had.
fn increases(before: &RolloutState, transition: &Transition) -> bool {
    let canary = &before.canary;
    let current = &before.expected_split;
    transition.actions.iter().any(|action| match action {
        Action::SetSplit { split, .. } => {
            split.traffic_of(canary) > current.traffic_of(canary)
                || split.mirror_of(canary) > current.mirror_of(canary)
        }
    })
}

/// Holds a gated increase (`transition`, which is not carried out) until approved.
fn await_approval(
    policy: &Policy,
    mut before: RolloutState,
    transition: &Transition,
    now: OffsetDateTime,
) -> Transition {
    let here = describe(policy, &before, before.phase);
    before.awaiting_approval_since = Some(now);
    let split = transition
        .actions
        .iter()
        .map(|Action::SetSplit { split, .. }| split.to_string())
        .next()
        .unwrap_or_default();
    let reason = format!(
        "{here}: would {} ({}), but the policy's gate ({}) needs approval before traffic goes to {split}; {}",
        transition.decision.kind.label(),
        transition.decision.reason,
        gate_label(policy),
        approval_hint(policy, &before)
    );
    hold(before, HoldCause::AwaitingApproval, reason, Vec::new())
}

/// A tick while a gate waits: keep waiting, or apply `on_timeout` once the timeout has passed.
fn gate_wait(policy: &Policy, mut s: RolloutState, now: OffsetDateTime) -> Transition {
    let here = describe(policy, &s, s.phase);
    let gates = &policy.plan.gates;
    let since = *s.awaiting_approval_since.get_or_insert(now);
    let waited = elapsed(now, since);
    let Some(timeout) = gates.timeout.filter(|timeout| waited >= *timeout) else {
        let reason = format!(
            "{here}: awaiting approval for {} at {}; {}",
            duration(waited),
            s.expected_split,
            approval_hint(policy, &s)
        );
        return hold(s, HoldCause::AwaitingApproval, reason, Vec::new());
    };
    let overdue = format!(
        "{here}: no approval within the gate's {} timeout (waited {})",
        duration(timeout),
        duration(waited)
    );
    match gates.on_timeout {
        GateTimeoutAction::RollBack => {
            roll_back(s, format!("{overdue}; the policy rolls back"), now)
        }
        GateTimeoutAction::Advance => {
            let reason = format!("{overdue}; the policy advances without approval");
            end_approval_wait(&mut s, now);
            promote_next(policy, s, reason, now)
        }
        GateTimeoutAction::Hold => {
            let reason = format!(
                "{overdue}; the policy keeps holding at {} — run `canaryd promote {}` to approve or `canaryd abort {}` to roll back",
                s.expected_split, s.id, s.id
            );
            hold(s, HoldCause::ApprovalOverdue, reason, Vec::new())
        }
    }
}

/// `final gate` / `every-step gate`.
fn gate_label(policy: &Policy) -> &'static str {
    match policy.plan.gates.confirm {
        GateConfirm::None => "no gate",
        GateConfirm::Final => "confirm: final",
        GateConfirm::EveryStep => "confirm: every_step",
    }
}

/// What to run, and what happens if nobody does.
fn approval_hint(policy: &Policy, s: &RolloutState) -> String {
    let gates = &policy.plan.gates;
    let timeout = match gates.timeout {
        Some(timeout) => format!(
            "after {} without approval the policy {}",
            duration(timeout),
            match gates.on_timeout {
                GateTimeoutAction::RollBack => "rolls back",
                GateTimeoutAction::Hold => "keeps holding",
                GateTimeoutAction::Advance => "advances anyway",
            }
        ),
        None => "the gate waits with no timeout".to_string(),
    };
    format!(
        "run `canaryd promote {}` to approve or `canaryd abort {}` to roll back ({timeout})",
        s.id, s.id
    )
}

/// Time gates have waited for approval, the current wait included.
fn approval_waited(s: &RolloutState, now: OffsetDateTime) -> Duration {
    let current = s
        .awaiting_approval_since
        .map_or(Duration::ZERO, |since| elapsed(now, since));
    s.approval_wait_total.saturating_add(current)
}

/// Ends a gate's wait (approved, timed out into an action, paused, or the phase ended).
fn end_approval_wait(s: &mut RolloutState, now: OffsetDateTime) {
    if let Some(since) = s.awaiting_approval_since.take() {
        s.approval_wait_total = s.approval_wait_total.saturating_add(elapsed(now, since));
    }
}

/// Time the promotion windows held back an increase, the current hold included.
fn window_held_for(s: &RolloutState, now: OffsetDateTime) -> Duration {
    let current = s
        .window_held_since
        .map_or(Duration::ZERO, |since| elapsed(now, since));
    s.window_held_total.saturating_add(current)
}

/// Ends a run of ticks held by the promotion windows.
fn end_window_hold(s: &mut RolloutState, now: OffsetDateTime) {
    if let Some(since) = s.window_held_since.take() {
        s.window_held_total = s.window_held_total.saturating_add(elapsed(now, since));
    }
}

/// The overall deadline, extended by time paused, time gates waited for approval and time the
/// promotion windows held an increase back: none of them says anything about the canary.
fn deadline_of(policy: &Policy, s: &RolloutState, now: OffsetDateTime) -> Duration {
    policy
        .plan
        .deadline
        .saturating_add(s.paused_total)
        .saturating_add(approval_waited(s, now))
        .saturating_add(window_held_for(s, now))
}

/// Source errors and not-ingested windows hold, then roll back once they have lasted the grace.
fn source_trouble(
    policy: &Policy,
    mut s: RolloutState,
    cause: HoldCause,
    what: String,
    now: OffsetDateTime,
) -> Transition {
    let here = describe(policy, &s, s.phase);
    let since = *s.source_errors_since.get_or_insert(now);
    let down = elapsed(now, since);
    let grace = policy.failure.source_error_grace;
    if down >= grace {
        let reason = format!(
            "{here}: metrics source down for {} (grace {}): {what}",
            duration(down),
            duration(grace)
        );
        return roll_back(s, reason, now);
    }
    let reason = format!(
        "{here}: {what}; holding at {} ({} of the {} grace before rolling back)",
        s.expected_split,
        duration(down),
        duration(grace)
    );
    hold(s, cause, reason, Vec::new())
}

fn shadow_tick(
    policy: &Policy,
    s: RolloutState,
    verdict: &Verdict,
    now: OffsetDateTime,
) -> Transition {
    let here = describe(policy, &s, s.phase);
    let Some(shadow) = &policy.plan.shadow else {
        let reason = format!("{here}: the policy no longer has a shadow phase");
        return to_first_step(policy, s, reason, now);
    };
    let in_phase = elapsed(now, s.phase_started_at);
    let requests_met = s.step_canary_requests >= shadow.min_canary_requests;
    let duration_met = in_phase >= shadow.duration;
    let progress = format!(
        "{} mirrored requests over {}",
        count(s.step_canary_requests),
        duration(in_phase)
    );
    match verdict.overall {
        Outcome::Safe if requests_met && (duration_met || policy.plan.early_promotion) => {
            let early = if duration_met {
                ""
            } else {
                " before the shadow duration (early promotion)"
            };
            let reason = format!(
                "{here}: {}; {progress}; safe on mirrored traffic{early}",
                evidence(verdict)
            );
            to_first_step(policy, s, reason, now)
        }
        Outcome::Inconclusive if requests_met && duration_met => {
            let reason = format!(
                "{here}: no regression on mirrored traffic ({}); {progress}",
                evidence(verdict)
            );
            to_first_step(policy, s, reason, now)
        }
        Outcome::NoData => {
            let reason = format!("{here}: {}; {progress}; holding", verdict.summary);
            hold(s, HoldCause::NoData, reason, Vec::new())
        }
        _ => {
            let missing = missing(
                requests_met,
                duration_met,
                shadow.min_canary_requests,
                shadow.duration,
            );
            let reason = format!(
                "{here}: {} so far ({}); {progress}, waiting for {missing}",
                verdict.overall.label().to_lowercase(),
                evidence(verdict)
            );
            hold(s, HoldCause::WaitingForMinimums, reason, Vec::new())
        }
    }
}

fn step_tick(
    policy: &Policy,
    mut s: RolloutState,
    index: usize,
    verdict: &Verdict,
    now: OffsetDateTime,
) -> Transition {
    let here = describe(policy, &s, s.phase);
    let Some(step) = policy.plan.steps.get(index) else {
        // The policy was edited to fewer steps than this rollout has walked: the walk is done.
        let reason = format!("{here}: the policy's plan now ends before this step");
        return to_baking(policy, s, reason, now);
    };
    let next = next_target(policy, index);
    let in_step = elapsed(now, s.phase_started_at);
    let requests_met = s.step_canary_requests >= step.min_canary_requests;
    let duration_met = in_step >= step.min_duration;
    let progress = format!(
        "{} canary requests over {}",
        count(s.step_canary_requests),
        duration(in_step)
    );
    let waiting = missing(
        requests_met,
        duration_met,
        step.min_canary_requests,
        step.min_duration,
    );
    match verdict.overall {
        Outcome::Safe if requests_met && duration_met => {
            let reason = format!(
                "{here}: {}; {progress}; safe → advancing to {next}",
                evidence(verdict)
            );
            forward(policy, s, index, reason, now)
        }
        Outcome::Safe if requests_met && policy.plan.early_promotion => {
            let reason = format!(
                "{here}: {}; {progress}; proven safe before the {} minimum → advancing early to {next}",
                evidence(verdict),
                duration(step.min_duration)
            );
            forward(policy, s, index, reason, now)
        }
        Outcome::Safe => {
            let reason = format!(
                "{here}: safe so far ({}); {progress}, waiting for {waiting}",
                evidence(verdict)
            );
            hold(s, HoldCause::WaitingForMinimums, reason, Vec::new())
        }
        Outcome::NoData => {
            // No evidence at all is never a reason to move traffic, either way.
            let reason = format!("{here}: {}; {progress}; holding", verdict.summary);
            hold(s, HoldCause::NoData, reason, Vec::new())
        }
        Outcome::Inconclusive if !(requests_met && duration_met) => {
            let reason = format!(
                "{here}: inconclusive so far ({}); {progress}, waiting for {waiting}",
                evidence(verdict)
            );
            hold(s, HoldCause::WaitingForMinimums, reason, Vec::new())
        }
        Outcome::Inconclusive => {
            let since = *s.inconclusive_since.get_or_insert(now);
            let over = elapsed(now, since);
            let (action, why) = match policy.failure.inconclusive_limit {
                Some(limit) if over >= limit => (
                    policy.failure.on_inconclusive_timeout,
                    format!(
                        "still inconclusive {} after the step's minimums were met (limit {})",
                        duration(over),
                        duration(limit)
                    ),
                ),
                _ => (
                    policy.failure.on_inconclusive,
                    "inconclusive after the step's minimums".to_string(),
                ),
            };
            let detail = format!("{here}: {why} ({}); {progress}", evidence(verdict));
            match action {
                InconclusiveAction::Advance => {
                    let reason = format!(
                        "{detail}; the policy advances on inconclusive → advancing to {next}"
                    );
                    forward(policy, s, index, reason, now)
                }
                InconclusiveAction::RollBack => {
                    let reason = format!("{detail}; the policy rolls back on inconclusive");
                    roll_back(s, reason, now)
                }
                InconclusiveAction::Hold => {
                    let left =
                        deadline_of(policy, &s, now).saturating_sub(elapsed(now, s.started_at));
                    let reason = format!(
                        "{detail}; the policy holds ({} left before the deadline)",
                        duration(left)
                    );
                    hold(s, HoldCause::Inconclusive, reason, Vec::new())
                }
            }
        }
        Outcome::Regressed => {
            let reason = format!("{here}: canary regressed — {}", evidence(verdict));
            roll_back(s, reason, now)
        }
    }
}

fn bake_tick(
    policy: &Policy,
    mut s: RolloutState,
    verdict: &Verdict,
    now: OffsetDateTime,
) -> Transition {
    let bake = policy.after_promotion.bake_time;
    let baked = elapsed(now, s.phase_started_at);
    if baked >= bake {
        let reason = format!(
            "baked {} at 100% (bake time {}) with no regression ({}); promoted — {} kept at 0%",
            duration(baked),
            duration(bake),
            evidence(verdict),
            s.baseline
        );
        s.phase = Phase::Promoted;
        s.phase_started_at = now;
        s.final_reason = Some(reason.clone());
        return decide(s, DecisionKind::Promote, reason, Vec::new());
    }
    let reason = format!(
        "baking: {} of {} at 100% with no regression ({}); {} kept at 0% for rollback",
        duration(baked),
        duration(bake),
        evidence(verdict),
        s.baseline
    );
    hold(s, HoldCause::Baking, reason, Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Moving traffic

/// The first change: the shadow mirror, or step 1.
fn first_change(
    policy: &Policy,
    s: RolloutState,
    now: OffsetDateTime,
    kind: DecisionKind,
) -> Transition {
    let (canary, baseline) = (s.canary.clone(), s.baseline.clone());
    match &policy.plan.shadow {
        Some(shadow) => {
            let split = shadow_split(&s, shadow.mirror_percent);
            let why = format!(
                "starting {canary} against {baseline}: shadow phase mirroring {}% of live traffic to {canary} for at least {} and {} mirrored requests; live traffic unchanged",
                shadow.mirror_percent,
                duration(shadow.duration),
                count(shadow.min_canary_requests)
            );
            emit(s, split, Phase::Shadow, why, now, kind)
        }
        None => {
            let Some(step) = policy.plan.steps.first() else {
                return fail(
                    s,
                    "the policy's plan has no traffic steps; add at least one step".into(),
                );
            };
            let split = step_split(&s, step.traffic_percent);
            let why = format!(
                "starting {canary} against {baseline}: step 1/{} sends {}% of live traffic to {canary}",
                policy.plan.steps.len(),
                step.traffic_percent
            );
            emit(s, split, Phase::Step(0), why, now, kind)
        }
    }
}

fn to_first_step(
    policy: &Policy,
    s: RolloutState,
    reason: String,
    now: OffsetDateTime,
) -> Transition {
    let Some(step) = policy.plan.steps.first() else {
        return fail(
            s,
            "the policy's plan has no traffic steps; add at least one step".into(),
        );
    };
    let split = step_split(&s, step.traffic_percent);
    let why = format!(
        "{reason} → advancing to step 1/{} ({}%), mirror off",
        policy.plan.steps.len(),
        step.traffic_percent
    );
    emit(s, split, Phase::Step(0), why, now, DecisionKind::Advance)
}

/// From step `index` to the next step, or to the bake after the last.
fn forward(
    policy: &Policy,
    s: RolloutState,
    index: usize,
    reason: String,
    now: OffsetDateTime,
) -> Transition {
    match policy.plan.steps.get(index + 1) {
        Some(step) => {
            let split = step_split(&s, step.traffic_percent);
            emit(
                s,
                split,
                Phase::Step(index + 1),
                reason,
                now,
                DecisionKind::Advance,
            )
        }
        None => to_baking(policy, s, reason, now),
    }
}

/// All live traffic to the canary (the baseline stays deployed at 0%), then the bake.
fn to_baking(
    policy: &Policy,
    mut s: RolloutState,
    reason: String,
    now: OffsetDateTime,
) -> Transition {
    let split = Split::all_to(&s.canary);
    if s.pending.is_none() && s.expected_split == split {
        // The last step was 100%: the bake begins at once.
        s.phase = Phase::Baking;
        restart_phase(&mut s, now);
        let reason = format!(
            "{reason}; baking for {}",
            duration(policy.after_promotion.bake_time)
        );
        return decide(s, DecisionKind::Advance, reason, Vec::new());
    }
    emit(s, split, Phase::Baking, reason, now, DecisionKind::Advance)
}

/// All live traffic back to the baseline, no mirror.
fn roll_back(mut s: RolloutState, reason: String, now: OffsetDateTime) -> Transition {
    end_approval_wait(&mut s, now);
    let split = Split::all_to(&s.baseline);
    if let Some(pending) = &s.pending
        && pending.target == Phase::RolledBack
    {
        // Already rolling back: send it again rather than start a second change.
        let action = Action::SetSplit {
            split: pending.split.clone(),
            why: pending.why.clone(),
        };
        let reason = format!(
            "still rolling back ({}); re-sending {}",
            pending.why, pending.split
        );
        return hold(s, HoldCause::RetryingChange, reason, vec![action]);
    }
    if s.pending.is_none() && s.expected_split == split {
        s.phase = Phase::RolledBack;
        s.phase_started_at = now;
        let reason = format!(
            "{reason}; traffic already all on {} — rolled back",
            s.baseline
        );
        s.final_reason = Some(reason.clone());
        return decide(s, DecisionKind::RollBack, reason, Vec::new());
    }
    let why = format!(
        "{reason} → rolling back: all live traffic to {}, no mirror",
        s.baseline
    );
    emit(
        s,
        split,
        Phase::RolledBack,
        why,
        now,
        DecisionKind::RollBack,
    )
}

/// Emits one traffic change and records it as pending. A split that Azure would reject is never
/// sent: the rollout fails instead, with traffic left where it is.
fn emit(
    mut s: RolloutState,
    split: Split,
    target: Phase,
    why: String,
    now: OffsetDateTime,
    kind: DecisionKind,
) -> Transition {
    if let Err(error) = split.validate() {
        let reason = format!(
            "refusing to send traffic {split}: {error}; fix the policy — traffic stays at {}",
            s.expected_split
        );
        return fail(s, reason);
    }
    s.pending = Some(PendingChange {
        split: split.clone(),
        target,
        why: why.clone(),
        since: now,
        failures: 0,
        last_error: None,
    });
    let action = Action::SetSplit {
        split,
        why: why.clone(),
    };
    decide(s, kind, why, vec![action])
}

// ---------------------------------------------------------------------------------------------
// Results of actions, outside changes, manual control

fn applied(policy: &Policy, mut s: RolloutState, split: &Split, now: OffsetDateTime) -> Transition {
    let Some(pending) = s.pending.take() else {
        if *split == s.expected_split {
            let reason = format!("traffic already {split}; nothing in flight");
            return noop(s, reason);
        }
        return outside_change(policy, s, split, now);
    };
    if *split != pending.split {
        // The controller verifies what it wrote, so this is someone else's change.
        return outside_change(policy, s, split, now);
    }
    s.expected_split = split.clone();
    s.phase = pending.target;
    restart_phase(&mut s, now);
    if s.phase == Phase::RolledBack {
        let reason = format!("rolled back: traffic now {split} ({})", pending.why);
        s.final_reason = Some(reason.clone());
        return decide(s, DecisionKind::Complete, reason, Vec::new());
    }
    let reason = format!(
        "traffic now {split}; {} begins",
        describe(policy, &s, s.phase)
    );
    decide(s, DecisionKind::Complete, reason, Vec::new())
}

fn apply_failed(
    policy: &Policy,
    mut s: RolloutState,
    error: &str,
    now: OffsetDateTime,
) -> Transition {
    let expected = s.expected_split.clone();
    let Some(pending) = s.pending.as_mut() else {
        return noop(
            s,
            format!("a traffic change failed but none was in flight: {error}"),
        );
    };
    pending.failures += 1;
    pending.last_error = Some(error.to_string());
    let trying = elapsed(now, pending.since);
    let (target, failures) = (pending.split.clone(), pending.failures);
    let out_of_time = failures > 1 && trying >= policy.failure.source_error_grace;
    if failures >= MAX_APPLY_ATTEMPTS || out_of_time {
        let reason = format!(
            "gave up setting traffic to {target} after {failures} failed attempts over {}: {error}; traffic stays at {expected} — a human must look",
            duration(trying)
        );
        return fail(s, reason);
    }
    let reason = format!(
        "traffic change to {target} failed (attempt {failures} of {MAX_APPLY_ATTEMPTS}): {error}; holding at {expected}, retrying at the next interval"
    );
    hold(s, HoldCause::RetryingChange, reason, Vec::new())
}

fn outside_change(
    policy: &Policy,
    mut s: RolloutState,
    observed: &Split,
    now: OffsetDateTime,
) -> Transition {
    if let Some(paused) = s.paused.as_mut() {
        if paused.observed == *observed {
            return noop(s, format!("paused; traffic still {observed}"));
        }
        paused.observed = observed.clone();
        let reason = format!("paused; traffic changed again outside canaryd, now {observed}");
        return Transition {
            state: s,
            actions: Vec::new(),
            decision: Decision {
                kind: DecisionKind::Noop,
                reason,
                changed: true,
            },
        };
    }
    if *observed == s.expected_split {
        // A change in flight has not taken effect yet: nothing outside happened.
        return noop(s, format!("traffic is {observed} as expected"));
    }
    if s.pending.as_ref().is_some_and(|p| p.split == *observed) {
        // The change in flight did take effect (e.g. a read after a lost response).
        return applied(policy, s, observed, now);
    }
    let changing = s
        .pending
        .as_ref()
        .map(|p| format!(" while changing it to {}", p.split))
        .unwrap_or_default();
    let reason = format!(
        "traffic changed outside canaryd: expected {}, found {observed}{changing}",
        s.expected_split
    );
    s.paused = Some(PauseInfo {
        reason: reason.clone(),
        resume_phase: s.phase,
        observed: observed.clone(),
        since: now,
    });
    s.pending = None;
    // Paused time extends the deadline on its own; a gate is asked again after resuming.
    end_approval_wait(&mut s, now);
    end_window_hold(&mut s, now);
    let reason = format!("{reason}; paused without touching it, until resume or abort");
    decide(s, DecisionKind::Pause, reason, Vec::new())
}

fn pause(mut s: RolloutState, reason: String, now: OffsetDateTime) -> Transition {
    if s.paused.is_some() {
        return noop(s, "already paused".into());
    }
    s.paused = Some(PauseInfo {
        reason: reason.clone(),
        resume_phase: s.phase,
        observed: s.expected_split.clone(),
        since: now,
    });
    // A change in flight is dropped: ApplyFailed already told us it did not take effect.
    s.pending = None;
    // Paused time extends the deadline on its own; a gate is asked again after resuming.
    end_approval_wait(&mut s, now);
    end_window_hold(&mut s, now);
    let reason = format!(
        "{reason}; traffic left at {}, no action until resume or abort",
        s.expected_split
    );
    decide(s, DecisionKind::Pause, reason, Vec::new())
}

fn resume(policy: &Policy, mut s: RolloutState, now: OffsetDateTime) -> Transition {
    let Some(paused) = s.paused.clone() else {
        return noop(s, "not paused; nothing to resume".into());
    };
    // The remembered phase is trusted only while the traffic is still that phase's own split
    // (an abort whose rollback did not land leaves them apart); otherwise the traffic decides.
    let adopted = if paused.observed == s.expected_split
        && phase_split(policy, &s, paused.resume_phase).is_none_or(|own| own == paused.observed)
    {
        Some(paused.resume_phase)
    } else {
        adopt(policy, &s, &paused.observed)
    };
    let Some(phase) = adopted else {
        let reason = format!(
            "cannot resume: traffic is {}, which matches no phase of the plan (canaryd left it at {}); set it to one of the plan's splits, or abort",
            paused.observed, s.expected_split
        );
        return hold(s, HoldCause::CannotResume, reason, Vec::new());
    };
    s.paused = None;
    s.paused_total = s.paused_total.saturating_add(elapsed(now, paused.since));
    let adopting = paused.observed != s.expected_split;
    s.expected_split = paused.observed.clone();
    s.phase = phase;
    if phase == Phase::Pending {
        return first_change(policy, s, now, DecisionKind::Resume);
    }
    restart_phase(&mut s, now);
    let here = describe(policy, &s, phase);
    let reason = if adopting {
        format!(
            "resumed: traffic {} matches {here}; continuing from there, the phase's minimums start afresh",
            s.expected_split
        )
    } else {
        format!(
            "resumed at {here} with traffic {}; the phase's minimums start afresh",
            s.expected_split
        )
    };
    decide(s, DecisionKind::Resume, reason, Vec::new())
}

/// The split a phase of the plan sends; None for phases that have none of their own.
fn phase_split(policy: &Policy, s: &RolloutState, phase: Phase) -> Option<Split> {
    match phase {
        Phase::Shadow => policy
            .plan
            .shadow
            .as_ref()
            .map(|shadow| shadow_split(s, shadow.mirror_percent)),
        Phase::Step(index) => policy
            .plan
            .steps
            .get(index)
            .map(|step| step_split(s, step.traffic_percent)),
        Phase::Baking => Some(Split::all_to(&s.canary)),
        Phase::Pending | Phase::Promoted | Phase::RolledBack | Phase::Failed => None,
    }
}

/// The phase of the plan whose traffic is exactly `observed`, if any. All traffic on the
/// baseline is not adopted: that is a rollback by hand, and Abort records it as one.
fn adopt(policy: &Policy, s: &RolloutState, observed: &Split) -> Option<Phase> {
    if let Some(shadow) = &policy.plan.shadow
        && shadow_split(s, shadow.mirror_percent) == *observed
    {
        return Some(Phase::Shadow);
    }
    if let Some(index) = policy
        .plan
        .steps
        .iter()
        .position(|step| step_split(s, step.traffic_percent) == *observed)
    {
        return Some(Phase::Step(index));
    }
    (Split::all_to(&s.canary) == *observed).then_some(Phase::Baking)
}

/// An operator's promotion: the next phase now. Paused rollouts and changes in flight refuse it.
fn manual_promote(policy: &Policy, s: RolloutState, by: &str, now: OffsetDateTime) -> Transition {
    let here = describe(policy, &s, s.phase);
    if let Some(pending) = &s.pending {
        let reason = format!(
            "{here}: promotion by {by} refused: a traffic change to {} is in flight; try again once it is applied",
            pending.split
        );
        return noop(s, reason);
    }
    let mut s = s;
    let mut reason = match s.awaiting_approval_since {
        Some(since) => format!(
            "{here}: approved by {by} after {} awaiting approval",
            duration(elapsed(now, since))
        ),
        None => format!("{here}: promoted manually by {by}"),
    };
    end_approval_wait(&mut s, now);
    let before = s.clone();
    let transition = promote_next(policy, s, reason.clone(), now);
    // Windows hold back the automation, not an operator's explicit promote; the decision says
    // that it went ahead outside them.
    match increase_blocked(policy, now) {
        Some(blocked) if increases(&before, &transition) => {
            reason.push_str(&format!(
                " (an explicit promote goes ahead outside the promotion windows: {blocked})"
            ));
            promote_next(policy, before, reason, now)
        }
        _ => transition,
    }
}

/// The next phase now: shadow → step 1, step → next step (or 100% and the bake), baking →
/// promoted.
fn promote_next(
    policy: &Policy,
    s: RolloutState,
    reason: String,
    now: OffsetDateTime,
) -> Transition {
    let here = describe(policy, &s, s.phase);
    match s.phase {
        Phase::Shadow => to_first_step(policy, s, reason, now),
        Phase::Step(index) => {
            let next = next_target(policy, index);
            forward(
                policy,
                s,
                index,
                format!("{reason} → advancing to {next}"),
                now,
            )
        }
        Phase::Baking => {
            let mut s = s;
            let reason = format!(
                "{reason}: bake ended early after {}; promoted — {} kept at 0%",
                duration(elapsed(now, s.phase_started_at)),
                s.baseline
            );
            s.phase = Phase::Promoted;
            s.phase_started_at = now;
            s.final_reason = Some(reason.clone());
            decide(s, DecisionKind::Promote, reason, Vec::new())
        }
        Phase::Pending | Phase::Promoted | Phase::RolledBack | Phase::Failed => {
            noop(s, format!("{here}: nothing to promote"))
        }
    }
}

/// Rolls back from any non-terminal state, paused or not; `reason` is the whole cause.
fn abort(mut s: RolloutState, reason: String, now: OffsetDateTime) -> Transition {
    if let Some(paused) = s.paused.take() {
        s.expected_split = paused.observed;
        s.paused_total = s.paused_total.saturating_add(elapsed(now, paused.since));
        s.pending = None;
    }
    roll_back(s, reason, now)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn step_split(s: &RolloutState, canary_percent: u32) -> Split {
    let canary_percent = canary_percent.min(100);
    Split::new(
        TrafficMap::from([
            (s.baseline.clone(), 100 - canary_percent),
            (s.canary.clone(), canary_percent),
        ]),
        TrafficMap::new(),
    )
}

fn shadow_split(s: &RolloutState, mirror_percent: u32) -> Split {
    Split::new(
        TrafficMap::from([(s.baseline.clone(), 100)]),
        TrafficMap::from([(s.canary.clone(), mirror_percent)]),
    )
}

/// A new phase starts its clock and its counts.
fn restart_phase(s: &mut RolloutState, now: OffsetDateTime) {
    end_approval_wait(s, now);
    s.phase_started_at = now;
    s.step_canary_requests = 0;
    s.inconclusive_since = None;
    s.source_errors_since = None;
}

/// `step 3/5 (25%)`, `shadow (mirror 10%)`, `baking`.
fn describe(policy: &Policy, s: &RolloutState, phase: Phase) -> String {
    match phase {
        Phase::Shadow => match &policy.plan.shadow {
            Some(shadow) => format!("shadow (mirror {}%)", shadow.mirror_percent),
            None => "shadow".into(),
        },
        Phase::Step(index) => {
            let percent = policy
                .plan
                .steps
                .get(index)
                .map(|step| step.traffic_percent)
                .unwrap_or_else(|| s.expected_split.traffic_of(&s.canary));
            format!(
                "step {}/{} ({percent}%)",
                index + 1,
                policy.plan.steps.len()
            )
        }
        other => other.label(),
    }
}

/// What comes after step `index`, for the decision sentence.
fn next_target(policy: &Policy, index: usize) -> String {
    match policy.plan.steps.get(index + 1) {
        Some(step) => format!("{}%", step.traffic_percent),
        None => format!(
            "100% and the {} bake",
            duration(policy.after_promotion.bake_time)
        ),
    }
}

fn missing(requests_met: bool, duration_met: bool, requests: u64, min: Duration) -> String {
    match (requests_met, duration_met) {
        (false, false) => format!(
            "the minimum {} and {} canary requests",
            duration(min),
            count(requests)
        ),
        (false, true) => format!("{} canary requests", count(requests)),
        (true, false) => format!("the minimum {}", duration(min)),
        (true, true) => "a safe verdict".into(),
    }
}

fn decide(
    mut s: RolloutState,
    kind: DecisionKind,
    reason: String,
    actions: Vec<Action>,
) -> Transition {
    s.last_hold = None;
    Transition {
        state: s,
        actions,
        decision: Decision {
            kind,
            reason,
            changed: true,
        },
    }
}

fn hold(mut s: RolloutState, cause: HoldCause, reason: String, actions: Vec<Action>) -> Transition {
    let changed = s.last_hold != Some(cause);
    s.last_hold = Some(cause);
    Transition {
        state: s,
        actions,
        decision: Decision {
            kind: DecisionKind::Hold,
            reason,
            changed,
        },
    }
}

fn noop(s: RolloutState, reason: String) -> Transition {
    Transition {
        state: s,
        actions: Vec::new(),
        decision: Decision {
            kind: DecisionKind::Noop,
            reason,
            changed: false,
        },
    }
}

fn fail(mut s: RolloutState, reason: String) -> Transition {
    s.phase = Phase::Failed;
    s.pending = None;
    s.paused = None;
    s.final_reason = Some(reason.clone());
    decide(s, DecisionKind::Fail, reason, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AfterPromotion, FailurePolicy, Plan, ShadowPhase, SourceSpec, Step};

    fn policy(shadow: bool) -> Policy {
        Policy {
            name: "p".into(),
            path: "p.yaml".into(),
            content_hash: String::new(),
            target: endpoint(),
            baseline: crate::policy::DeploymentSelector::Auto,
            canary: crate::policy::DeploymentSelector::Auto,
            source: SourceSpec::AzureMonitor {
                ingestion_delay: Duration::ZERO,
            },
            plan: Plan {
                shadow: shadow.then_some(ShadowPhase {
                    mirror_percent: 10,
                    duration: Duration::from_secs(600),
                    min_canary_requests: 10,
                }),
                steps: [10, 50, 100]
                    .into_iter()
                    .map(|traffic_percent| Step {
                        traffic_percent,
                        min_duration: Duration::from_secs(300),
                        min_canary_requests: 10,
                    })
                    .collect(),
                interval: Duration::from_secs(60),
                deadline: Duration::from_secs(7200),
                early_promotion: false,
                gates: Default::default(),
                promotion_windows: None,
            },
            judge: crate::judge::JudgeSpec::default(),
            failure: FailurePolicy::default(),
            after_promotion: AfterPromotion::default(),
        }
    }

    fn endpoint() -> EndpointRef {
        EndpointRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            workspace: "ws".into(),
            endpoint: "ep".into(),
        }
    }

    fn started(policy: &Policy) -> RolloutState {
        start(
            policy,
            &endpoint(),
            "Blue",
            "Green",
            &Split::all_to("blue"),
            OffsetDateTime::UNIX_EPOCH,
        )
        .state
    }

    #[test]
    fn adopts_only_splits_of_the_plan() {
        let p = policy(true);
        let s = started(&p);
        assert_eq!(s.canary, "green", "names are lower-cased like Azure's keys");
        assert_eq!(adopt(&p, &s, &step_split(&s, 50)), Some(Phase::Step(1)));
        assert_eq!(adopt(&p, &s, &step_split(&s, 100)), Some(Phase::Step(2)));
        assert_eq!(adopt(&p, &s, &shadow_split(&s, 10)), Some(Phase::Shadow));
        assert_eq!(adopt(&p, &s, &shadow_split(&s, 20)), None);
        assert_eq!(adopt(&p, &s, &step_split(&s, 30)), None);
        assert_eq!(adopt(&p, &s, &Split::all_to("blue")), None);
        // Without a 100% step, all-on-canary is the bake.
        let mut short = policy(false);
        short.plan.steps.pop();
        assert_eq!(
            adopt(&short, &s, &Split::all_to("green")),
            Some(Phase::Baking)
        );
    }

    #[test]
    fn phases_are_described_for_people() {
        let p = policy(true);
        let s = started(&p);
        assert_eq!(describe(&p, &s, Phase::Step(1)), "step 2/3 (50%)");
        assert_eq!(describe(&p, &s, Phase::Shadow), "shadow (mirror 10%)");
        assert_eq!(describe(&p, &s, Phase::Baking), "baking");
        assert_eq!(next_target(&p, 0), "50%");
        assert_eq!(next_target(&p, 2), "100% and the 30m bake");
        assert_eq!(
            missing(false, true, 1200, Duration::from_secs(300)),
            "1,200 canary requests"
        );
    }

    #[test]
    fn a_plan_ending_below_100_sends_the_canary_to_100_before_baking() {
        let mut p = policy(false);
        p.plan.steps.pop();
        let mut s = started(&p);
        s.phase = Phase::Step(1);
        s.expected_split = step_split(&s, 50);
        s.pending = None;
        let t = forward(&p, s, 1, "done".into(), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(
            t.actions,
            vec![Action::SetSplit {
                split: Split::all_to("green"),
                why: "done".into()
            }]
        );
        assert_eq!(t.state.pending.map(|p| p.target), Some(Phase::Baking));
    }

    #[test]
    fn invalid_splits_are_never_sent() {
        let mut p = policy(true);
        if let Some(shadow) = p.plan.shadow.as_mut() {
            shadow.mirror_percent = 60;
        }
        let t = start(
            &p,
            &endpoint(),
            "blue",
            "green",
            &Split::all_to("blue"),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert!(t.actions.is_empty());
        assert_eq!(t.state.phase, Phase::Failed);
        assert!(
            t.decision.reason.contains("at most 50%"),
            "{}",
            t.decision.reason
        );
    }

    #[test]
    fn wire_forms_are_stable() {
        assert_eq!(
            serde_json::to_string(&Phase::Step(2)).expect("serializes"),
            r#"{"step":2}"#
        );
        assert_eq!(
            serde_json::to_string(&Phase::RolledBack).expect("serializes"),
            r#""rolled_back""#
        );
        assert_eq!(
            serde_json::to_string(&Input::Resume).expect("serializes"),
            r#""resume""#
        );
        let input = Input::Tick(TickInput {
            source: SourceStatus::Error("503".into()),
            verdict: None,
            canary_requests: 3,
            frozen: None,
        });
        let json = serde_json::to_string(&input).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Input>(&json).expect("reads back"),
            input
        );
    }
}
