//! The rollout state machine: pure, deterministic, no I/O and no clock of its own.
//!
//! ```text
//! start ──► Pending ──Applied──► Shadow ──► Step(0) ──► … ──► Step(n-1) ──► Baking ──► Promoted
//!                                   │          │                 │            │
//!                                   └──────────┴── Regressed, ───┴────────────┴──► RolledBack
//!                                                  source down past grace,
//!                                                  deadline, Abort
//!   any non-terminal ──OutsideChange / Pause──► (paused) ──Resume──► same or adopted phase
//!   an action that keeps failing ──► Failed
//!   a gated increase ──► hold (AwaitingApproval) ──Promote──► the increase
//!                                                 └─timeout──► on_timeout (roll back/hold/advance)
//!   an increase outside the policy's promotion windows ──► hold (Frozen) until a window opens
//! ```
//!
//! Every output is a function of (policy, state, input, now). The runner calls the judge before
//! a [`Input::Tick`], applies each [`Action`] through the traffic controller and reports the
//! result back as [`Input::Applied`], [`Input::ApplyFailed`] or [`Input::OutsideChange`].
//! A phase begins only when its traffic is confirmed applied. See daemon/docs/rollout.md.

mod machine;
mod text;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::judge::{JudgeState, Verdict};
use crate::model::{EndpointRef, Split};

pub use machine::{MAX_APPLY_ATTEMPTS, advance, increase_blocked, is_terminal, start};
pub use text::count;

/// Where a rollout is. Paused is not a phase: it is [`RolloutState::paused`] on top of the phase
/// the rollout will resume in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Created; the first traffic change is in flight.
    Pending,
    /// The canary receives mirrored copies of live requests; live traffic unchanged.
    Shadow,
    /// The canary serves `plan.steps[i].traffic_percent` of live traffic.
    Step(usize),
    /// All live traffic on the canary; the baseline kept (at 0%) for the bake time.
    Baking,
    /// Terminal: the canary serves everything and baked without regression.
    Promoted,
    /// Terminal: all live traffic is back on the baseline.
    RolledBack,
    /// Terminal: canaryd could not carry out a traffic change (or could not start); traffic is
    /// wherever the endpoint last reported it, and a human must look.
    Failed,
}

impl Phase {
    /// Lower-case label for logs and journals (`step 3`, 1-based).
    pub fn label(&self) -> String {
        match self {
            Phase::Pending => "pending".into(),
            Phase::Shadow => "shadow".into(),
            Phase::Step(i) => format!("step {}", i + 1),
            Phase::Baking => "baking".into(),
            Phase::Promoted => "promoted".into(),
            Phase::RolledBack => "rolled back".into(),
            Phase::Failed => "failed".into(),
        }
    }
}

/// A traffic change emitted but not yet confirmed applied. While it exists the rollout's phase
/// is the phase *before* the change and `expected_split` the split before it; after a restart
/// the runner re-applies it through the controller, which reads the endpoint first and so
/// never repeats a change that already took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// The split being applied.
    pub split: Split,
    /// The phase that begins once it is applied.
    pub target: Phase,
    /// Why it was decided (repeated in the decision that confirms it).
    pub why: String,
    /// When it was first emitted.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// Failed attempts so far.
    pub failures: u32,
    pub last_error: Option<String>,
}

/// Why a rollout is paused and how to resume it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseInfo {
    pub reason: String,
    /// The phase the rollout was in.
    pub resume_phase: Phase,
    /// The endpoint's split as last reported while paused.
    pub observed: Split,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// Why the last decision held, so that a hold repeated every interval is not reported as news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCause {
    /// A traffic change failed and is being retried.
    RetryingChange,
    SourceError,
    NotIngestedYet,
    NoTraffic,
    /// The source answered but the runner passed no verdict.
    NoVerdict,
    /// The judge has no data in an arm.
    NoData,
    /// Minimum duration or minimum requests not reached yet.
    WaitingForMinimums,
    /// Minimums met, judge still inconclusive, policy says hold.
    Inconclusive,
    /// Baking, bake time not over yet.
    Baking,
    /// Resume refused: the endpoint's traffic matches no phase.
    CannotResume,
    /// The phase's rule would move traffic forward, but increases are frozen
    /// ([`TickInput::frozen`], e.g. a firing alert), or the policy's promotion windows do not
    /// allow an increase now.
    Frozen,
    /// The phase's rule would make an increase that the policy's gate reserves for an operator:
    /// waiting for `Input::Promote` (see [`RolloutState::awaiting_approval_since`]).
    AwaitingApproval,
    /// The gate waited its whole timeout and the policy says to keep holding.
    ApprovalOverdue,
}

/// One rollout's whole state; JSON round-trippable (the store keeps it as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    pub id: String,
    pub endpoint: EndpointRef,
    /// Deployment names, lower case (as Azure reports traffic keys).
    pub baseline: String,
    pub canary: String,
    pub phase: Phase,
    #[serde(with = "time::serde::rfc3339")]
    pub phase_started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Canary requests (live, or mirrored in the shadow phase) seen in complete windows of the
    /// current phase.
    pub step_canary_requests: u64,
    /// Start of the current run of source errors / not-ingested windows.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub source_errors_since: Option<OffsetDateTime>,
    /// When the current step first met its minimums with the judge still inconclusive.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub inconclusive_since: Option<OffsetDateTime>,
    /// The split canaryd last confirmed on the endpoint.
    pub expected_split: Split,
    /// A traffic change in flight (see [`PendingChange`]).
    #[serde(default)]
    pub pending: Option<PendingChange>,
    #[serde(default)]
    pub paused: Option<PauseInfo>,
    /// Total time spent paused; the overall deadline is extended by it.
    #[serde(default)]
    pub paused_total: Duration,
    /// Since when a gated increase waits for approval (an operator's promote); cleared when
    /// it is approved, times out into an action, or the phase ends.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub awaiting_approval_since: Option<OffsetDateTime>,
    /// Total time gates waited for approval in finished waits; like pauses, it extends the
    /// overall deadline (a human's pace is not the canary's fault).
    #[serde(default)]
    pub approval_wait_total: Duration,
    /// Since when the policy's promotion windows hold back an increase the rule wants (until
    /// the next tick that is not held by them).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub window_held_since: Option<OffsetDateTime>,
    /// Total time of finished window holds; it extends the overall deadline, so a rollout
    /// waiting over a weekend or a freeze is not rolled back for it.
    #[serde(default)]
    pub window_held_total: Duration,
    /// Cause of the last hold (None after any other decision).
    #[serde(default)]
    pub last_hold: Option<HoldCause>,
    /// Why the rollout ended, once terminal.
    #[serde(default)]
    pub final_reason: Option<String>,
    /// The judge's accumulated state; the runner updates it with `judge::evaluate` before each
    /// tick. The state machine keeps nothing else about statistics.
    pub judge: JudgeState,
}

/// What the metrics source said about the window behind a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// A complete window: the verdict counts.
    Ok,
    /// The window is not fully ingested yet: hold; counts toward the source-error grace.
    NotIngestedYet,
    /// The source works and the window is complete, but nobody called the endpoint: hold; never
    /// a failure (the overall deadline still applies).
    NoTraffic,
    /// The source failed (HTTP error, throttling, partial result, malformed table): hold, then
    /// roll back after `failure.source_error_grace`.
    Error(String),
}

/// One interval's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickInput {
    pub source: SourceStatus,
    /// The judge's verdict on the accumulated data, when the runner called it.
    pub verdict: Option<Verdict>,
    /// Canary requests in this window (mirrored requests in the shadow phase).
    pub canary_requests: u64,
    /// Why traffic may not increase right now (e.g. an Azure Monitor alert firing on the
    /// endpoint). A tick whose rule would advance or promote holds instead; rollbacks are never
    /// blocked.
    #[serde(default)]
    pub frozen: Option<String>,
}

/// Everything that can happen to a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    Tick(TickInput),
    /// The controller applied (or found already applied) the pending change; `split` is what the
    /// endpoint reported afterwards.
    Applied {
        split: Split,
    },
    /// The pending change did not take effect; the endpoint is verified to still be at
    /// `expected_split` (the runner re-reads it when the error leaves that unknown).
    ApplyFailed {
        error: String,
    },
    /// Someone else moved the endpoint's traffic.
    OutsideChange {
        observed: Split,
    },
    Pause {
        reason: String,
    },
    Resume,
    /// Manual rollback.
    Abort {
        reason: String,
    },
    /// An Azure Monitor alert fired on the endpoint: roll back at once, like [`Input::Abort`],
    /// with the alert (rule, severity, values) as the reason.
    Alert {
        reason: String,
    },
    /// Manual promotion: move to the next phase now (shadow → step 1, step → next step or
    /// 100%, baking → promoted), whatever the minimums and the judge say; it also approves a
    /// gate that is waiting. Promotion windows do not hold it back (an explicit operator
    /// action). Refused while paused or while a traffic change is in flight.
    Promote {
        by: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The rollout started; its first traffic change is emitted.
    Start,
    /// Nothing changes this interval (see [`HoldCause`]); a retried change is also a hold.
    Hold,
    /// Traffic moves forward: shadow → first step, step → next step, last step → 100%.
    Advance,
    /// Bake over without regression: the rollout ends promoted.
    Promote,
    /// All live traffic back to the baseline (emitted, or immediate when already there).
    RollBack,
    Pause,
    Resume,
    /// The rollout ends failed.
    Fail,
    /// An emitted change took effect; the next phase begins (or the rollback finished).
    Complete,
    /// The input changes nothing (e.g. any input to a finished rollout).
    Noop,
}

impl DecisionKind {
    pub fn label(self) -> &'static str {
        match self {
            DecisionKind::Start => "start",
            DecisionKind::Hold => "hold",
            DecisionKind::Advance => "advance",
            DecisionKind::Promote => "promote",
            DecisionKind::RollBack => "roll back",
            DecisionKind::Pause => "pause",
            DecisionKind::Resume => "resume",
            DecisionKind::Fail => "fail",
            DecisionKind::Complete => "complete",
            DecisionKind::Noop => "noop",
        }
    }
}

/// What was decided and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub kind: DecisionKind,
    /// One sentence with the numbers.
    pub reason: String,
    /// False when this decision repeats the previous one (the same hold for the same cause, or
    /// a no-op): journal it, but do not notify again.
    pub changed: bool,
}

/// A side effect for the runner to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Make the endpoint's live and mirrored traffic exactly `split` (the runner passes
    /// `state.expected_split` as the split it expects to find).
    SetSplit { split: Split, why: String },
}

/// The result of one [`start`] or [`advance`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub state: RolloutState,
    pub actions: Vec<Action>,
    pub decision: Decision,
}
