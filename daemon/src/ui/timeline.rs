//! The status page's data, built from the store alone: a list of rollouts, and for one rollout
//! its identity, traffic over time, the per-interval figures of both arms and every decision
//! with the judge's checks.
//!
//! Everything here tolerates journal entries written by older or newer daemons: a field that
//! cannot be read is left out of the view (and said so), never an error for the whole page.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;

use crate::judge::{CheckResult, Outcome, Verdict};
use crate::model::Split;
use crate::rollout::{Input, Phase, RolloutState, is_terminal};
use crate::store::{JournalEntry, RolloutRecord, Store, StoreError};

#[derive(Debug, Error)]
pub enum TimelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no rollout with id '{0}'")]
    NotFound(String),
}

/// One row of the rollout list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSummary {
    pub id: String,
    pub policy: String,
    pub endpoint: String,
    pub baseline: Option<String>,
    pub canary: String,
    /// Phase label (`step 2`, `promoted`, …); `unreadable` when the stored state is not.
    pub phase: String,
    pub paused: bool,
    pub active: bool,
    /// Live canary traffic the daemon last confirmed.
    pub canary_percent: Option<u32>,
    /// Mirrored canary traffic (shadow phase).
    pub mirror_percent: Option<u32>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub last_decision: Option<String>,
    /// Why some of this row is missing (an unreadable stored state).
    pub problem: Option<String>,
}

/// Who and what the rollout is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    pub policy_name: String,
    pub policy_hash: String,
    pub endpoint: String,
    pub baseline: String,
    pub canary: String,
}

/// Why and since when a rollout is paused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PausedView {
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// The endpoint's traffic from this moment on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrafficPoint {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub canary_percent: u32,
    pub baseline_percent: u32,
    /// Canary share of mirrored traffic (shadow phase).
    pub mirror_percent: u32,
    /// What set it: `start`, `applied`, `outside change`, `now`.
    pub cause: String,
}

/// One traffic change the daemon decided: the decision that emitted it and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub journal_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Decision kind (`start`, `advance`, `roll back`, …).
    pub kind: String,
    pub canary_percent: u32,
    pub mirror_percent: u32,
    pub why: Option<String>,
    /// `applied`, `failed: …`, `outside change`, `not attempted…`, or `unknown` while in flight.
    pub outcome: String,
    /// The phase that began once the change was applied, from the confirming decision.
    pub phase_began: Option<String>,
}

/// One arm's figures in one window (the runner's `WindowFigures`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmFigures {
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub p50_ms: Option<f64>,
    #[serde(default)]
    pub p99_ms: Option<f64>,
    #[serde(default)]
    pub error_rate: Option<f64>,
}

/// The shape the runner journals under `raw_counts.figures`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
struct WindowFigures {
    window_start_unix_s: i64,
    window_end_unix_s: i64,
    baseline: ArmFigures,
    canary: ArmFigures,
}

/// Canary against baseline over one judged window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalView {
    pub journal_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    pub baseline: ArmFigures,
    pub canary: ArmFigures,
    /// The judge's overall outcome at this look, when it judged.
    pub outcome: Option<Outcome>,
}

/// One journal entry as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionView {
    pub journal_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Decision kind (`hold`, `advance`, …), `note` for other journal lines.
    pub kind: String,
    /// The full decision sentence as journaled.
    pub text: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_end: Option<OffsetDateTime>,
    /// The traffic change it emitted, as text.
    pub action: Option<String>,
    /// What came of that change, as text.
    pub result: Option<String>,
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
    pub checks: Vec<CheckResult>,
    /// Why the evidence could not be shown, when it could not.
    pub evidence_problem: Option<String>,
    /// The metrics query behind the window.
    pub query: Option<String>,
}

/// Everything the rollout page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutView {
    pub identity: Identity,
    pub phase: String,
    pub active: bool,
    pub paused: Option<PausedView>,
    pub final_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub canary_percent: u32,
    pub mirror_percent: u32,
    pub traffic: Vec<TrafficPoint>,
    pub steps: Vec<StepView>,
    pub intervals: Vec<IntervalView>,
    pub decisions: Vec<DecisionView>,
}

/// Every rollout, most recently updated first.
pub fn rollout_list(store: &Store) -> Result<Vec<RolloutSummary>, TimelineError> {
    let mut rows: Vec<RolloutSummary> = store
        .rollouts(false)?
        .into_iter()
        .map(|record| {
            let last_decision = store
                .latest_journal(&record.id)
                .ok()
                .flatten()
                .map(|entry| entry.decision);
            summarize(record, last_decision)
        })
        .collect();
    rows.reverse();
    Ok(rows)
}

fn summarize(record: RolloutRecord, last_decision: Option<String>) -> RolloutSummary {
    match serde_json::from_value::<RolloutState>(record.state) {
        Ok(state) => RolloutSummary {
            id: record.id,
            policy: record.policy_name,
            endpoint: record.endpoint,
            baseline: Some(state.baseline.clone()),
            canary: record.canary,
            phase: state.phase.label(),
            paused: state.paused.is_some(),
            active: record.active,
            canary_percent: Some(state.expected_split.traffic_of(&state.canary)),
            mirror_percent: Some(state.expected_split.mirror_of(&state.canary)),
            started_at: Some(state.started_at),
            updated_at: record.updated_at,
            last_decision,
            problem: None,
        },
        Err(error) => RolloutSummary {
            id: record.id,
            policy: record.policy_name,
            endpoint: record.endpoint,
            baseline: None,
            canary: record.canary,
            phase: "unreadable".into(),
            paused: false,
            active: record.active,
            canary_percent: None,
            mirror_percent: None,
            started_at: None,
            updated_at: record.updated_at,
            last_decision,
            problem: Some(format!("stored state cannot be read: {error}")),
        },
    }
}

/// The view of one rollout.
pub fn rollout_view(store: &Store, id: &str) -> Result<RolloutView, TimelineError> {
    let record = store
        .rollout(id)?
        .ok_or_else(|| TimelineError::NotFound(id.to_string()))?;
    let journal = store.journal(id)?;
    let state = serde_json::from_value::<RolloutState>(record.state.clone()).map_err(|error| {
        StoreError::Corrupt {
            path: "state database".into(),
            what: "rollouts.state",
            row: record.id.clone(),
            problem: error.to_string(),
        }
    })?;
    Ok(build_view(&record, &state, &journal))
}

/// Builds the view from a rollout's record, its decoded state and its journal (oldest first).
pub fn build_view(
    record: &RolloutRecord,
    state: &RolloutState,
    journal: &[JournalEntry],
) -> RolloutView {
    let canary = state.canary.as_str();
    let baseline = state.baseline.as_str();
    let point = |at, split: &Split, cause: &str| TrafficPoint {
        at,
        canary_percent: split.traffic_of(canary),
        baseline_percent: split.traffic_of(baseline),
        mirror_percent: split.mirror_of(canary),
        cause: cause.to_string(),
    };

    // A rollout starts only when the baseline serves everything (the runner checks it).
    let mut traffic = vec![point(state.started_at, &Split::all_to(baseline), "start")];
    let mut steps: Vec<StepView> = Vec::new();
    let mut intervals = Vec::new();
    let mut decisions = Vec::with_capacity(journal.len());
    // Index in `steps` of the change waiting for its confirming "complete" decision.
    let mut awaiting_phase: Option<usize> = None;

    for entry in journal {
        let (kind, _) = split_decision(&entry.decision);
        let result = entry.result.as_ref().map(read_result);

        if let Some(split) = entry.action.as_ref().and_then(action_split) {
            let why = entry
                .action
                .as_ref()
                .and_then(|a| a.pointer("/set_split/why"))
                .and_then(Value::as_str)
                .map(str::to_string);
            steps.push(StepView {
                journal_id: entry.id,
                at: entry.at,
                kind: kind.clone(),
                canary_percent: split.traffic_of(canary),
                mirror_percent: split.mirror_of(canary),
                why,
                outcome: result
                    .as_ref()
                    .map(|r| r.text.clone())
                    .unwrap_or_else(|| "unknown (in flight)".into()),
                phase_began: None,
            });
            awaiting_phase = Some(steps.len() - 1);
        }
        if let Some(result) = &result
            && let Some(split) = &result.split
        {
            traffic.push(point(entry.at, split, result.cause));
        }
        if kind == "complete"
            && let Some(index) = awaiting_phase.take()
            && let Some(step) = steps.get_mut(index)
        {
            step.phase_began = Some(began_phase(&entry.decision));
        }
        if let Some(figures) = entry
            .raw_counts
            .get("figures")
            .and_then(|f| serde_json::from_value::<WindowFigures>(f.clone()).ok())
            && let (Some(start), Some(end)) = (
                unix_time(figures.window_start_unix_s),
                unix_time(figures.window_end_unix_s),
            )
        {
            intervals.push(IntervalView {
                journal_id: entry.id,
                window_start: start,
                window_end: end,
                baseline: figures.baseline,
                canary: figures.canary,
                outcome: read_verdict(&entry.evidence)
                    .ok()
                    .flatten()
                    .map(|v| v.overall),
            });
        }
        decisions.push(decision_view(entry, kind, result.map(|r| r.text)));
    }

    // Close the step line at the present (or at the end for a finished rollout).
    let last = traffic.last().map(|p| p.at).unwrap_or(state.started_at);
    let end = if is_terminal(&state.phase) {
        record.updated_at.max(last)
    } else {
        record
            .updated_at
            .max(journal.last().map(|e| e.at).unwrap_or(last))
    };
    traffic.push(point(end, &state.expected_split, "now"));

    RolloutView {
        identity: Identity {
            id: record.id.clone(),
            policy_name: record.policy_name.clone(),
            policy_hash: record.policy_hash.clone(),
            endpoint: record.endpoint.clone(),
            baseline: state.baseline.clone(),
            canary: state.canary.clone(),
        },
        phase: phase_text(state),
        active: record.active,
        paused: state.paused.as_ref().map(|p| PausedView {
            reason: p.reason.clone(),
            since: p.since,
        }),
        final_reason: state.final_reason.clone(),
        started_at: state.started_at,
        updated_at: record.updated_at,
        canary_percent: state.expected_split.traffic_of(canary),
        mirror_percent: state.expected_split.mirror_of(canary),
        traffic,
        steps,
        intervals,
        decisions,
    }
}

fn phase_text(state: &RolloutState) -> String {
    match state.phase {
        Phase::Step(_) | Phase::Shadow | Phase::Baking | Phase::Pending
            if state.paused.is_some() =>
        {
            format!("{} (paused)", state.phase.label())
        }
        _ => state.phase.label(),
    }
}

/// `"advance: reason"` → (`advance`, `reason`); a line without a known kind is a `note`.
fn split_decision(text: &str) -> (String, &str) {
    const KINDS: [&str; 11] = [
        "start",
        "hold",
        "advance",
        "promote",
        "roll back",
        "pause",
        "resume",
        "fail",
        "complete",
        "noop",
        "wait",
    ];
    if let Some((head, rest)) = text.split_once(": ")
        && KINDS.contains(&head)
    {
        return (head.to_string(), rest);
    }
    ("note".to_string(), text)
}

/// `"complete: traffic now …; step 2/5 (10%) begins"` → `step 2/5 (10%)`.
fn began_phase(decision: &str) -> String {
    if decision.starts_with("complete: rolled back") {
        return "rolled back".into();
    }
    decision
        .rsplit_once("; ")
        .map(|(_, tail)| tail.trim_end_matches(" begins").to_string())
        .unwrap_or_else(|| decision.to_string())
}

fn action_split(action: &Value) -> Option<Split> {
    serde_json::from_value(action.get("set_split")?.get("split")?.clone()).ok()
}

struct ReadResult {
    text: String,
    split: Option<Split>,
    cause: &'static str,
}

/// A journaled action result: an [`Input`] fed back to the machine, possibly wrapped as
/// verified after a restart, or a free-form `{"outcome": …}`.
fn read_result(value: &Value) -> ReadResult {
    let (input, prefix) = match value.get("verified_after_restart") {
        Some(inner) => (inner, "verified after a restart: "),
        None => (value, ""),
    };
    match serde_json::from_value::<Input>(input.clone()) {
        Ok(Input::Applied { split }) => ReadResult {
            text: format!("{prefix}applied ({split})"),
            split: Some(split),
            cause: "applied",
        },
        Ok(Input::OutsideChange { observed }) => ReadResult {
            text: format!("{prefix}someone else changed the traffic to {observed}"),
            split: Some(observed),
            cause: "outside change",
        },
        Ok(Input::ApplyFailed { error }) => ReadResult {
            text: format!("{prefix}failed: {error}"),
            split: None,
            cause: "failed",
        },
        _ => ReadResult {
            text: match value.get("outcome").and_then(Value::as_str) {
                Some(outcome) => outcome.to_string(),
                None => value.to_string(),
            },
            split: None,
            cause: "other",
        },
    }
}

/// The journaled evidence: a verdict, nothing (`null`), or something this version cannot read.
fn read_verdict(evidence: &Value) -> Result<Option<Verdict>, String> {
    if evidence.is_null() {
        return Ok(None);
    }
    serde_json::from_value::<Verdict>(evidence.clone())
        .map(Some)
        .map_err(|error| {
            format!("the journaled evidence is not a verdict this version reads: {error}")
        })
}

fn decision_view(entry: &JournalEntry, kind: String, result: Option<String>) -> DecisionView {
    let (verdict, evidence_problem) = match read_verdict(&entry.evidence) {
        Ok(verdict) => (verdict, None),
        Err(problem) => (None, Some(problem)),
    };
    let action = entry
        .action
        .as_ref()
        .map(|action| match action_split(action) {
            Some(split) => format!("set traffic to {split}"),
            None => action.to_string(),
        });
    let (outcome, summary, checks) = match verdict {
        Some(verdict) => (Some(verdict.overall), Some(verdict.summary), verdict.checks),
        None => (None, None, Vec::new()),
    };
    DecisionView {
        journal_id: entry.id,
        at: entry.at,
        kind,
        text: entry.decision.clone(),
        window_start: entry.window_start,
        window_end: entry.window_end,
        action,
        result,
        outcome,
        summary,
        checks,
        evidence_problem,
        query: entry.query.clone(),
    }
}

fn unix_time(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_split_into_kind_and_reason() {
        assert_eq!(
            split_decision("roll back: p99 regressed"),
            ("roll back".to_string(), "p99 regressed")
        );
        assert_eq!(
            split_decision("something else: x"),
            ("note".to_string(), "something else: x")
        );
        assert_eq!(
            began_phase("complete: traffic now blue=90% green=10%; step 2/5 (10%) begins"),
            "step 2/5 (10%)"
        );
    }

    #[test]
    fn results_are_read_in_every_journaled_form() {
        let applied = json!({"applied": {"split": {"traffic": {"blue": 90, "green": 10}}}});
        let read = read_result(&applied);
        assert_eq!(read.cause, "applied");
        assert_eq!(read.split.map(|s| s.traffic_of("green")), Some(10));

        let wrapped = json!({"verified_after_restart": applied});
        let read = read_result(&wrapped);
        assert!(read.text.starts_with("verified after a restart: applied"));
        assert!(read.split.is_some());

        let failed = read_result(&json!({"apply_failed": {"error": "409 conflict"}}));
        assert_eq!(failed.text, "failed: 409 conflict");
        assert!(failed.split.is_none());

        let other = read_result(&json!({"outcome": "not attempted"}));
        assert_eq!(other.text, "not attempted");
    }

    #[test]
    fn unreadable_evidence_is_reported_not_fatal() {
        assert_eq!(read_verdict(&Value::Null), Ok(None));
        assert!(read_verdict(&json!({"overall": "sideways"})).is_err());
    }
}
