//! One policy's task: discovery, resume, observe, judge, advance, journal, act.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use super::control::{Command, ControlError, ControlOutcome, ControlRequest};
use super::figures::WindowFigures;
use super::{RunnerEvent, Shared};
use crate::azure::arm::{ArmClient, ArmOptions};
use crate::controller::{ApplyOutcome, ControllerError, ControllerOptions, TrafficController};
use crate::judge::Verdict;
use crate::judge::kayenta::MetricSeries;
use crate::model::Split;
use crate::policy::{DeploymentSelector, Policy};
use crate::rollout::{
    self, Action, DecisionKind, Input, Phase, RolloutState, SourceStatus, TickInput, Transition,
    is_terminal,
};
use crate::source::{Freshness, MetricsSource, WindowObservation, WindowRequest};
use crate::store::{JournalEntry, RolloutRecord};

/// More chained transitions than this in one tick means the state machine and the controller
/// disagree; stop and try again next interval rather than spin.
const MAX_CHAINED_TRANSITIONS: usize = 8;

/// Runs until `stop` (this policy removed or replaced) or `shutdown` (the daemon stops).
/// Between ticks it answers `commands` (manual control, alerts) at once, under the endpoint
/// lock, without moving its next tick.
pub(super) async fn run_worker(
    shared: Arc<Shared>,
    policy: Policy,
    mut stop: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let endpoint = policy.target.to_string();
    let mut worker = match Worker::new(shared.clone(), policy) {
        Ok(worker) => worker,
        Err(error) => {
            tracing::error!(endpoint = %endpoint, "cannot start the rollout task: {error:#}");
            return;
        }
    };
    loop {
        if *stop.borrow() || *shutdown.borrow() {
            return;
        }
        {
            let lock = shared.endpoint_lock(&worker.policy.target);
            let _guard = lock.lock().await;
            if let Err(error) = worker.tick().await {
                tracing::error!(endpoint = %endpoint, policy = %worker.policy.name, "tick failed (traffic left where it is; retrying next interval): {error:#}");
            }
        }
        let mut next_tick = std::pin::pin!(shared.clock.sleep(worker.policy.plan.interval));
        let mut commands_open = true;
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = shutdown.changed() => return,
                () = &mut next_tick => break,
                command = commands.recv(), if commands_open => match command {
                    Some(command) => {
                        let lock = shared.endpoint_lock(&worker.policy.target);
                        let _guard = lock.lock().await;
                        worker.command(command).await;
                    }
                    // Replaced by a newer worker for this endpoint; it takes the commands.
                    None => commands_open = false,
                },
            }
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    policy: Policy,
    controller: TrafficController,
    source: MetricsSource,
    /// Things already said once (waiting for a baseline, a second new deployment, …).
    said: HashSet<String>,
    /// Cached end of the last consumed window of the active rollout (rollout id, end).
    last_window: Option<(String, OffsetDateTime)>,
    /// Azure Monitor series accumulated for the active rollout (rollout id, series).
    series: (String, Vec<MetricSeries>),
}

/// What a tick observed, for the journal and the live view.
#[derive(Default)]
struct TickContext {
    window: Option<(OffsetDateTime, OffsetDateTime)>,
    query: Option<String>,
    raw_counts: Value,
    verdict: Option<Verdict>,
    figures: Option<WindowFigures>,
}

impl Worker {
    fn new(shared: Arc<Shared>, policy: Policy) -> anyhow::Result<Self> {
        let arm = ArmClient::new(
            &shared.config.azure.arm_base_url,
            shared.credential.clone(),
            arm_options(shared.config.clock.time_scale),
        )?;
        let controller = TrafficController::new(arm, ControllerOptions::default());
        let source = MetricsSource::from_spec(
            &policy.source,
            &shared.config.azure,
            shared.credential.clone(),
        )?;
        Ok(Self {
            shared,
            policy,
            controller,
            source,
            said: HashSet::new(),
            last_window: None,
            series: (String::new(), Vec::new()),
        })
    }

    fn now(&self) -> OffsetDateTime {
        self.shared.clock.now()
    }

    /// Answers one command from the HTTP server.
    async fn command(&mut self, command: Command) {
        match command {
            Command::Alerts => {
                let result = match self.active_rollout() {
                    Ok(Some(state)) => self.settle_then(state).await,
                    Ok(None) => Ok(None),
                    Err(error) => Err(error),
                };
                let result = match result {
                    Ok(Some(state)) => self.abort_for_alerts(&state).await.map(|_| ()),
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                };
                if let Err(error) = result {
                    tracing::error!(endpoint = %self.policy.target, "acting on an alert failed (retried next interval): {error:#}");
                }
            }
            Command::Control {
                rollout_id,
                request,
                reply,
            } => {
                let outcome = self.control(&rollout_id, request).await;
                let _ = reply.send(outcome);
            }
        }
    }

    /// Verifies a change left without a result (after a restart) before acting on the
    /// rollout; returns its state afterwards (None once it ended).
    async fn settle_then(&mut self, state: RolloutState) -> anyhow::Result<Option<RolloutState>> {
        if let Some(entry) = self.shared.store.pending_action(&state.id)? {
            self.verify_interrupted(state, entry).await?;
            return self.active_rollout();
        }
        Ok(Some(state))
    }

    /// Rolls the rollout back when a firing alert concerns it; true when it did.
    async fn abort_for_alerts(&mut self, state: &RolloutState) -> anyhow::Result<bool> {
        if state
            .pending
            .as_ref()
            .is_some_and(|pending| pending.target == Phase::RolledBack)
        {
            return Ok(false);
        }
        let firing = self.shared.store.firing_alerts()?;
        let Some(alert) = firing
            .into_iter()
            .find(|alert| alert.concerns(&self.policy.target, &state.canary))
        else {
            return Ok(false);
        };
        tracing::warn!(endpoint = %self.policy.target, rollout = %state.id, alert = %alert.alert_id, "{}; rolling back", alert.summary);
        let transition = rollout::advance(
            &self.policy,
            state,
            &Input::Alert {
                reason: alert.summary.clone(),
            },
            self.now(),
        );
        let context = TickContext {
            raw_counts: json!({ "alert": alert }),
            ..TickContext::default()
        };
        self.handle(transition, context).await?;
        Ok(true)
    }

    /// Why traffic may not increase for `canary` on this endpoint: a firing alert concerning it.
    fn freeze_reason(&self, canary: &str) -> anyhow::Result<Option<String>> {
        let firing = self.shared.store.firing_alerts()?;
        Ok(firing
            .iter()
            .find(|alert| alert.concerns(&self.policy.target, canary))
            .map(|alert| format!("frozen while {}", alert.summary)))
    }

    /// Carries out a manual command on this endpoint's active rollout.
    async fn control(
        &mut self,
        rollout_id: &str,
        request: ControlRequest,
    ) -> Result<ControlOutcome, ControlError> {
        let command = request.name();
        let failed = |error: anyhow::Error| ControlError::Failed(format!("{error:#}"));
        let active = self
            .active_rollout()
            .map_err(failed)?
            .filter(|state| state.id == rollout_id);
        let Some(state) = active else {
            return Err(self.not_active(rollout_id, command)?);
        };
        let Some(mut state) = self.settle_then(state).await.map_err(failed)? else {
            return Err(self.not_active(rollout_id, command)?);
        };
        let (input, note) = match request {
            ControlRequest::Pause { reason } => (
                Input::Pause {
                    reason: reason.clone(),
                },
                reason,
            ),
            ControlRequest::Abort { reason } => (
                Input::Abort {
                    reason: reason.clone(),
                },
                reason,
            ),
            ControlRequest::Promote { by } => (Input::Promote { by: by.clone() }, by),
            ControlRequest::Resume { reason } => {
                // Runner contract: the machine must see where traffic really is first.
                if let Some(paused) = &state.paused {
                    let view =
                        self.controller
                            .read(&self.policy.target)
                            .await
                            .map_err(|error| {
                                ControlError::Failed(format!(
                                    "cannot read endpoint {} before resuming: {error}",
                                    self.policy.target
                                ))
                            })?;
                    if view.split != paused.observed {
                        let transition = rollout::advance(
                            &self.policy,
                            &state,
                            &Input::OutsideChange {
                                observed: view.split,
                            },
                            self.now(),
                        );
                        self.handle(transition, TickContext::default())
                            .await
                            .map_err(failed)?;
                        state = self
                            .active_rollout()
                            .map_err(failed)?
                            .filter(|s| s.id == rollout_id)
                            .ok_or_else(|| ControlError::NotFound(rollout_id.to_string()))?;
                    }
                }
                (Input::Resume, reason)
            }
        };
        let transition = rollout::advance(&self.policy, &state, &input, self.now());
        let decision = transition.decision.clone();
        if decision.kind == DecisionKind::Noop {
            return Err(ControlError::Refused {
                command,
                reason: decision.reason,
            });
        }
        let context = TickContext {
            raw_counts: json!({ "command": command, "note": note }),
            ..TickContext::default()
        };
        self.handle(transition, context).await.map_err(failed)?;
        let record = self
            .shared
            .store
            .rollout(rollout_id)?
            .ok_or_else(|| ControlError::NotFound(rollout_id.to_string()))?;
        let after: RolloutState = serde_json::from_value(record.state)
            .map_err(|error| ControlError::Failed(format!("reading the new state: {error}")))?;
        Ok(ControlOutcome {
            rollout_id: rollout_id.to_string(),
            command,
            decision: decision.kind.label().to_string(),
            reason: decision.reason,
            phase: after.phase.label(),
            paused: after.paused.is_some(),
            canary_percent: after.expected_split.traffic_of(&after.canary),
        })
    }

    /// Why a command cannot act on `rollout_id` here.
    fn not_active(
        &self,
        rollout_id: &str,
        command: &'static str,
    ) -> Result<ControlError, ControlError> {
        Ok(match self.shared.store.rollout(rollout_id)? {
            None => ControlError::NotFound(rollout_id.to_string()),
            Some(record) => {
                let phase = serde_json::from_value::<RolloutState>(record.state)
                    .map(|state| state.phase.label())
                    .unwrap_or_else(|_| "unreadable".into());
                if record.active {
                    ControlError::NotDriven {
                        id: rollout_id.to_string(),
                        endpoint: record.endpoint,
                    }
                } else {
                    ControlError::Terminal {
                        id: rollout_id.to_string(),
                        phase,
                        command,
                    }
                }
            }
        })
    }

    /// Logs `message` at warn level the first time `key` is seen.
    fn say_once(&mut self, key: String, message: &str) -> bool {
        if self.said.insert(key) {
            tracing::warn!(endpoint = %self.policy.target, policy = %self.policy.name, "{message}");
            true
        } else {
            false
        }
    }

    async fn tick(&mut self) -> anyhow::Result<()> {
        match self.active_rollout()? {
            Some(state) => self.drive(state).await,
            None => self.discover().await,
        }
    }

    /// The endpoint's active rollout in the store, if any.
    fn active_rollout(&self) -> anyhow::Result<Option<RolloutState>> {
        let endpoint = self.policy.target.to_string();
        let records = self.shared.store.endpoint_rollouts(&endpoint, true)?;
        let Some(record) = records.into_iter().next() else {
            return Ok(None);
        };
        let state: RolloutState = serde_json::from_value(record.state).map_err(|error| {
            anyhow::anyhow!(
                "stored state of rollout {} cannot be read ({error}); fix: inspect the state db",
                record.id
            )
        })?;
        Ok(Some(state))
    }

    /// Deployments of this endpoint that a rollout already handled (as canary or baseline).
    fn handled_deployments(&self) -> anyhow::Result<HashSet<String>> {
        let endpoint = self.policy.target.to_string();
        let mut handled = HashSet::new();
        for record in self.shared.store.endpoint_rollouts(&endpoint, false)? {
            handled.insert(record.canary.to_ascii_lowercase());
            if let Some(baseline) = record.state.get("baseline").and_then(Value::as_str) {
                handled.insert(baseline.to_ascii_lowercase());
            }
        }
        Ok(handled)
    }

    /// No active rollout: look for a canary and start one.
    async fn discover(&mut self) -> anyhow::Result<()> {
        let view = self.controller.read(&self.policy.target).await?;
        let baseline = match &self.policy.baseline {
            DeploymentSelector::Named(name) => name.to_ascii_lowercase(),
            DeploymentSelector::Auto => {
                let live: Vec<&String> = view.split.traffic.keys().collect();
                match live.as_slice() {
                    [only] => (*only).clone(),
                    [] => {
                        self.say_once(
                            "no-live".into(),
                            "no deployment serves live traffic; waiting for a baseline",
                        );
                        return Ok(());
                    }
                    _ => {
                        let message = format!(
                            "live traffic is split ({}); canaryd starts only when one deployment serves 100%",
                            view.split
                        );
                        self.say_once(format!("split:{}", view.split), &message);
                        return Ok(());
                    }
                }
            }
        };
        if view.split != Split::all_to(&baseline) {
            let message = format!(
                "endpoint traffic is {} and not {baseline}=100% with no mirror; waiting before starting a rollout",
                view.split
            );
            self.say_once(format!("not-baseline:{}", view.split), &message);
            return Ok(());
        }
        let handled = self.handled_deployments()?;
        let candidates: Vec<&crate::azure::arm::DeploymentInfo> = view
            .deployments
            .iter()
            .filter(|d| {
                let name = d.name.to_ascii_lowercase();
                d.is_succeeded()
                    && name != baseline
                    && view.split.traffic_of(&name) == 0
                    && !handled.contains(&name)
                    && match &self.policy.canary {
                        DeploymentSelector::Named(wanted) => wanted.eq_ignore_ascii_case(&name),
                        DeploymentSelector::Auto => true,
                    }
            })
            .collect();
        // The newest candidate wins; the others wait for the next rollout.
        let Some(canary) = candidates
            .iter()
            .max_by_key(|d| (d.created_at, d.name.clone()))
            .map(|d| d.name.to_ascii_lowercase())
        else {
            tracing::debug!(endpoint = %self.policy.target, "no new canary deployment");
            return Ok(());
        };
        if let Some(reason) = rollout::increase_blocked(&self.policy, self.now()) {
            // The first traffic change is an increase: wait for the promotion window.
            self.say_once(
                format!("window:{canary}"),
                &format!("not starting a rollout of '{canary}' yet: {reason}"),
            );
            return Ok(());
        }
        if let Some(reason) = self.freeze_reason(&canary)? {
            self.say_once(
                format!("frozen:{canary}:{reason}"),
                &format!("not starting a rollout of '{canary}': {reason}"),
            );
            return Ok(());
        }
        if candidates.len() > 1 {
            let others: Vec<String> = candidates
                .iter()
                .map(|d| d.name.to_ascii_lowercase())
                .filter(|n| *n != canary)
                .collect();
            tracing::warn!(endpoint = %self.policy.target, canary = %canary, waiting = ?others, "several new deployments; rolling out the newest, the others wait");
        }
        let now = self.now();
        tracing::info!(endpoint = %self.policy.target, baseline = %baseline, canary = %canary, "new canary found; starting a rollout");
        let transition = rollout::start(
            &self.policy,
            &self.policy.target,
            &baseline,
            &canary,
            &view.split,
            now,
        );
        self.last_window = None;
        self.handle(transition, TickContext::default()).await
    }

    /// An active rollout: verify a change that may or may not have been applied, then tick.
    async fn drive(&mut self, state: RolloutState) -> anyhow::Result<()> {
        let rollout_id = state.id.clone();
        // An intent journaled without a result means the process died while applying it.
        // Verify through the controller (it reads the endpoint first: AlreadyInPlace when it had
        // been applied), never blindly repeat it.
        if let Some(entry) = self.shared.store.pending_action(&rollout_id)? {
            return self.verify_interrupted(state, entry).await;
        }
        if self.abort_for_alerts(&state).await? {
            return Ok(());
        }
        let frozen = self.freeze_reason(&state.canary)?;
        if state.paused.is_some() {
            let reason = state
                .paused
                .as_ref()
                .map(|p| p.reason.clone())
                .unwrap_or_default();
            self.say_once(
                format!("paused:{rollout_id}"),
                &format!("rollout {rollout_id} is paused ({reason}); traffic left alone until it is resumed or aborted (`canaryd resume|abort {rollout_id}`)"),
            );
            return Ok(());
        }
        if let Some(observed) = self.note_second_deployment(&state).await
            && state.pending.is_none()
            && observed != state.expected_split
        {
            // Someone moved traffic behind canaryd's back: pause instead of fighting.
            tracing::warn!(endpoint = %self.policy.target, rollout = %rollout_id, expected = %state.expected_split, observed = %observed, "endpoint traffic changed outside canaryd; pausing the rollout");
            let transition = rollout::advance(
                &self.policy,
                &state,
                &Input::OutsideChange { observed },
                self.now(),
            );
            return self.handle(transition, TickContext::default()).await;
        }
        if state.pending.is_some() {
            // A change is being retried: the machine re-emits it on this tick; no window is
            // consumed (its data would belong to neither split).
            let tick = Input::Tick(TickInput {
                source: SourceStatus::NotIngestedYet,
                verdict: None,
                canary_requests: 0,
                frozen: frozen.clone(),
            });
            let transition = rollout::advance(&self.policy, &state, &tick, self.now());
            return self.handle(transition, TickContext::default()).await;
        }
        let start = self.window_start(&state)?;
        let now = self.now();
        let end = self.source.closed_window_end(now);
        if end <= start {
            tracing::debug!(endpoint = %self.policy.target, rollout = %rollout_id, "no closed window yet");
            return Ok(());
        }
        let request = WindowRequest {
            endpoint: self.policy.target.clone(),
            baseline: state.baseline.clone(),
            canary: state.canary.clone(),
            start,
            end,
            buckets: crate::source::default_buckets(),
            baseline_expected: state.expected_split.traffic_of(&state.baseline) > 0
                || state.expected_split.mirror_of(&state.baseline) > 0,
        };
        let mut state = state;
        let mut context = TickContext {
            window: Some((start, end)),
            ..TickContext::default()
        };
        let (source, canary_requests, consumed) = match self.source.observe(&request).await {
            Ok(observation) => self.judge_window(&mut state, observation, &mut context),
            Err(error) => {
                tracing::warn!(endpoint = %self.policy.target, rollout = %rollout_id, "metrics source error: {error}");
                context.raw_counts = json!({ "source_error": error.to_string() });
                (SourceStatus::Error(error.to_string()), 0, false)
            }
        };
        if !consumed {
            // The window is retried (and grown) next interval; it is journaled without bounds so
            // the contiguous-window chain stays exact.
            context.window = None;
        }
        let tick = Input::Tick(TickInput {
            source,
            verdict: context.verdict.clone(),
            canary_requests,
            frozen,
        });
        let transition = rollout::advance(&self.policy, &state, &tick, now);
        if consumed {
            self.last_window = Some((rollout_id, end));
        }
        self.handle(transition, context).await
    }

    /// Judges a window the source answered; returns (status, canary requests, consumed).
    fn judge_window(
        &mut self,
        state: &mut RolloutState,
        observation: WindowObservation,
        context: &mut TickContext,
    ) -> (SourceStatus, u64, bool) {
        context.query = Some(observation.query.clone());
        context.raw_counts = observation.raw_counts.clone();
        match observation.freshness {
            Freshness::NotIngestedYet => (SourceStatus::NotIngestedYet, 0, false),
            Freshness::NoTraffic => (SourceStatus::NoTraffic, 0, true),
            Freshness::Complete => {
                let verdict = if self.source.judges_by_series() {
                    // Kayenta-style: per-minute series accumulated over the rollout (in memory;
                    // after a restart the comparison starts again from the next window).
                    if self.series.0 != state.id {
                        self.series = (state.id.clone(), Vec::new());
                    }
                    crate::source::append_series(&mut self.series.1, &observation.series);
                    match &self.policy.judge.kayenta {
                        Some(kayenta) => crate::source::judge_series(kayenta, &self.series.1),
                        None => Verdict {
                            overall: crate::judge::Outcome::Inconclusive,
                            checks: Vec::new(),
                            summary: "the Azure Monitor source needs the policy's judge.kayenta section; fix: add one".into(),
                        },
                    }
                } else {
                    crate::judge::evaluate(
                        &self.policy.judge,
                        &mut state.judge,
                        &observation.observation,
                    )
                };
                context.figures = Some(WindowFigures::of(&observation.observation));
                context.verdict = Some(verdict);
                (
                    SourceStatus::Ok,
                    observation.observation.canary.requests,
                    true,
                )
            }
        }
    }

    /// Start of the next window: the end of the last consumed one (from memory, else the
    /// journal), else the moment the rollout's current phase began.
    fn window_start(&mut self, state: &RolloutState) -> anyhow::Result<OffsetDateTime> {
        if let Some((id, end)) = &self.last_window
            && *id == state.id
        {
            return Ok(*end);
        }
        let journaled = self
            .shared
            .store
            .journal(&state.id)?
            .into_iter()
            .filter_map(|entry| entry.window_end)
            .max();
        let start = journaled.unwrap_or(state.phase_started_at);
        self.last_window = Some((state.id.clone(), start));
        Ok(start)
    }

    /// Reads the endpoint; a second new deployment mid-rollout waits until this rollout ends
    /// (said and journaled once). Returns the endpoint's split when it is settled (not
    /// mid-update), None when it could not be read.
    async fn note_second_deployment(&mut self, state: &RolloutState) -> Option<Split> {
        let view = match self.controller.read(&self.policy.target).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(endpoint = %self.policy.target, rollout = %state.id, "cannot read the endpoint: {error}");
                return None;
            }
        };
        let settled = view
            .provisioning_state
            .eq_ignore_ascii_case("Succeeded")
            .then(|| view.split.clone());
        let Ok(handled) = self.handled_deployments() else {
            return settled;
        };
        for deployment in &view.deployments {
            let name = deployment.name.to_ascii_lowercase();
            if name == state.canary
                || name == state.baseline
                || handled.contains(&name)
                || !deployment.is_succeeded()
                || view.split.traffic_of(&name) > 0
                || view.split.mirror_of(&name) > 0
            {
                continue;
            }
            let message = format!(
                "new deployment '{name}' appeared while rollout {} of '{}' runs; it waits until this rollout ends",
                state.id, state.canary
            );
            if self.say_once(format!("second:{}:{name}", state.id), &message) {
                let entry = self.entry(
                    state,
                    &TickContext::default(),
                    format!("wait: {message}"),
                    None,
                );
                if let Err(error) = self.shared.store.append_journal(&entry) {
                    tracing::error!(endpoint = %self.policy.target, "journaling failed: {error}");
                }
            }
        }
        settled
    }

    /// After a restart: settle the change whose intent was journaled but whose result was not.
    /// The change in flight is the state's `pending` one: the state is saved after the intent
    /// is journaled and before the endpoint is touched, so an intent without a pending change
    /// was never sent.
    async fn verify_interrupted(
        &mut self,
        state: RolloutState,
        entry: JournalEntry,
    ) -> anyhow::Result<()> {
        let Some(desired) = state.pending.as_ref().map(|p| p.split.clone()) else {
            self.shared.store.set_journal_result(
                entry.id,
                &json!({ "outcome": "not attempted: the daemon stopped before saving the state" }),
            )?;
            return Ok(());
        };
        tracing::warn!(endpoint = %self.policy.target, rollout = %state.id, split = %desired, "verifying a traffic change interrupted by a restart");
        // None: still unknown (Azure unreachable); the intent stays pending until next interval.
        let Some(input) = self.apply(&state, &desired).await else {
            return Ok(());
        };
        self.shared
            .store
            .set_journal_result(entry.id, &json!({ "verified_after_restart": input }))?;
        let transition = rollout::advance(&self.policy, &state, &input, self.now());
        self.handle(transition, TickContext::default()).await
    }

    /// Journals, persists, then executes the transition's actions, feeding each result back
    /// into the state machine until nothing more is to be done.
    async fn handle(
        &mut self,
        mut transition: Transition,
        mut context: TickContext,
    ) -> anyhow::Result<()> {
        for _ in 0..MAX_CHAINED_TRANSITIONS {
            let action = transition.actions.first().cloned();
            let decision = format!(
                "{}: {}",
                transition.decision.kind.label(),
                transition.decision.reason
            );
            let entry = self.entry(
                &transition.state,
                &context,
                decision,
                action
                    .as_ref()
                    .map(|a| serde_json::to_value(a).unwrap_or(Value::Null)),
            );
            // Journal, then persist the state, BEFORE touching the endpoint.
            let journal_id = self.shared.store.append_journal(&entry)?;
            self.persist(&transition.state)?;
            self.report(&transition, &context);
            if transition.actions.len() > 1 {
                tracing::warn!(endpoint = %self.policy.target, "the state machine emitted {} actions; carrying out the first, the rest are re-decided next tick", transition.actions.len());
            }
            let Some(Action::SetSplit { split, .. }) = action else {
                return Ok(());
            };
            let Some(input) = self.apply(&transition.state, &split).await else {
                // Outcome unknown: the intent stays pending and is verified next interval.
                return Ok(());
            };
            self.shared
                .store
                .set_journal_result(journal_id, &serde_json::to_value(&input)?)?;
            transition = rollout::advance(&self.policy, &transition.state, &input, self.now());
            // Follow-up decisions carry no window of their own.
            context = TickContext::default();
        }
        tracing::error!(endpoint = %self.policy.target, rollout = %transition.state.id, "too many chained decisions in one tick; stopping until the next interval");
        Ok(())
    }

    /// Carries out one traffic change; None when whether it took effect is unknown.
    async fn apply(&self, state: &RolloutState, desired: &Split) -> Option<Input> {
        let endpoint = &self.policy.target;
        tracing::info!(endpoint = %endpoint, rollout = %state.id, from = %state.expected_split, to = %desired, "changing traffic");
        match self
            .controller
            .apply(endpoint, &state.expected_split, desired)
            .await
        {
            Ok(ApplyOutcome::Applied { observed })
            | Ok(ApplyOutcome::AlreadyInPlace { observed }) => {
                Some(Input::Applied { split: observed })
            }
            Ok(ApplyOutcome::OutsideChange { observed }) => {
                tracing::warn!(endpoint = %endpoint, rollout = %state.id, observed = %observed, "someone else changed the traffic; pausing the rollout");
                Some(Input::OutsideChange { observed })
            }
            Err(ControllerError::VerifyMismatch { observed }) => {
                Some(self.classify(state, desired, observed))
            }
            Err(
                error @ (ControllerError::OperationFailed { .. }
                | ControllerError::InvalidSplit(_)
                | ControllerError::DeploymentNotReady { .. }
                | ControllerError::EndpointBusy { .. }),
            ) => {
                tracing::warn!(endpoint = %endpoint, rollout = %state.id, "traffic change failed: {error}");
                Some(Input::ApplyFailed {
                    error: error.to_string(),
                })
            }
            Err(error) => {
                tracing::warn!(endpoint = %endpoint, rollout = %state.id, "traffic change outcome unknown ({error}); re-reading the endpoint");
                match self.controller.read(endpoint).await {
                    Ok(view) => Some(self.classify(state, desired, view.split)),
                    Err(read_error) => {
                        tracing::warn!(endpoint = %endpoint, rollout = %state.id, "cannot re-read the endpoint ({read_error}); verifying next interval");
                        None
                    }
                }
            }
        }
    }

    fn classify(&self, state: &RolloutState, desired: &Split, observed: Split) -> Input {
        if observed == *desired {
            Input::Applied { split: observed }
        } else if observed == state.expected_split {
            Input::ApplyFailed {
                error: format!("the endpoint still reports {observed}"),
            }
        } else {
            Input::OutsideChange { observed }
        }
    }

    fn entry(
        &self,
        state: &RolloutState,
        context: &TickContext,
        decision: String,
        action: Option<Value>,
    ) -> JournalEntry {
        JournalEntry {
            id: 0,
            rollout_id: state.id.clone(),
            at: self.now(),
            policy_hash: self.policy.content_hash.clone(),
            window_start: context.window.map(|w| w.0),
            window_end: context.window.map(|w| w.1),
            query: context.query.clone(),
            raw_counts: with_figures(&context.raw_counts, context.figures.as_ref()),
            evidence: context
                .verdict
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or(Value::Null),
            decision,
            action,
            result: None,
        }
    }

    fn persist(&self, state: &RolloutState) -> anyhow::Result<()> {
        let record = RolloutRecord {
            id: state.id.clone(),
            policy_name: self.policy.name.clone(),
            policy_hash: self.policy.content_hash.clone(),
            endpoint: state.endpoint.to_string(),
            canary: state.canary.clone(),
            active: !is_terminal(&state.phase),
            state: serde_json::to_value(state)?,
            updated_at: self.now(),
        };
        self.shared.store.upsert_rollout(&record)?;
        Ok(())
    }

    fn report(&self, transition: &Transition, context: &TickContext) {
        let state = &transition.state;
        let decision = &transition.decision;
        crate::server::metrics::record_decision(decision.kind.label());
        if decision.changed {
            tracing::info!(endpoint = %state.endpoint, rollout = %state.id, deployment = %state.canary, phase = %state.phase.label(), decision = decision.kind.label(), "{}", decision.reason);
        } else {
            tracing::debug!(endpoint = %state.endpoint, rollout = %state.id, deployment = %state.canary, phase = %state.phase.label(), decision = decision.kind.label(), "{}", decision.reason);
        }
        if self.shared.events.is_none() && self.shared.notifier.is_none() {
            return;
        }
        let event = RunnerEvent {
            at: self
                .now()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            policy: self.policy.name.clone(),
            endpoint: state.endpoint.endpoint.clone(),
            rollout_id: state.id.clone(),
            baseline: state.baseline.clone(),
            canary: state.canary.clone(),
            phase: state.phase.label(),
            traffic: state.expected_split.clone(),
            canary_percent: state.expected_split.traffic_of(&state.canary),
            decision: decision.kind.label().to_string(),
            reason: decision.reason.clone(),
            changed: decision.changed,
            verdict: context
                .verdict
                .as_ref()
                .map(|v| v.overall.label().to_string()),
            window: context.figures,
            terminal: is_terminal(&state.phase),
        };
        if let Some(notifier) = &self.shared.notifier {
            notifier.send(&event);
        }
        if let Some(events) = &self.shared.events {
            let _ = events.send(event);
        }
    }
}

/// The observation's raw counts with the window's figures under the key `figures` (the status
/// page and the report chart canary against baseline from the journal alone).
fn with_figures(raw_counts: &Value, figures: Option<&WindowFigures>) -> Value {
    let Some(figures) = figures.and_then(|f| serde_json::to_value(f).ok()) else {
        return raw_counts.clone();
    };
    match raw_counts {
        Value::Object(map) => {
            let mut map = map.clone();
            map.insert("figures".into(), figures);
            Value::Object(map)
        }
        Value::Null => json!({ "figures": figures }),
        other => json!({ "counts": other, "figures": figures }),
    }
}

/// ARM client tuning. On a compressed clock (demo, tests) the wall-time waits between LRO polls
/// shrink with it: Retry-After is given in the service's (simulated) seconds but the client
/// waits in wall time, so the wait is capped at one simulated second per poll; otherwise a
/// 1-second Retry-After would cost `time_scale` simulated seconds per poll.
fn arm_options(time_scale: f64) -> ArmOptions {
    let defaults = ArmOptions::default();
    if !(time_scale.is_finite() && time_scale > 1.0) {
        return defaults;
    }
    let poll_interval_min = defaults.poll_interval_min.div_f64(time_scale);
    ArmOptions {
        poll_interval_min,
        poll_interval_max: std::time::Duration::from_secs(1)
            .div_f64(time_scale)
            .max(poll_interval_min),
        lro_timeout: defaults
            .lro_timeout
            .div_f64(time_scale)
            .max(std::time::Duration::from_secs(10)),
        ..defaults
    }
}
