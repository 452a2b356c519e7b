//! How the HTTP server reaches the running rollouts: one command channel per endpoint worker.
//!
//! Manual commands (pause, resume, promote, abort) and alert wake-ups are delivered to the
//! endpoint's worker, which applies them at once (not at its next interval) under the endpoint
//! lock and through the same journal-then-controller path as its own decisions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::model::EndpointRef;
use crate::policy::Policy;
use crate::rollout::RolloutState;
use crate::store::{Store, StoreError};

/// How long a control request waits for the worker (which may be following a long-running
/// traffic change) before answering that the command is still being applied.
pub const CONTROL_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A manual command on one rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum ControlRequest {
    Pause { reason: String },
    Resume { reason: String },
    Promote { by: String },
    Abort { reason: String },
}

impl ControlRequest {
    pub fn name(&self) -> &'static str {
        match self {
            ControlRequest::Pause { .. } => "pause",
            ControlRequest::Resume { .. } => "resume",
            ControlRequest::Promote { .. } => "promote",
            ControlRequest::Abort { .. } => "abort",
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlOutcome {
    pub rollout_id: String,
    pub command: &'static str,
    /// The decision's kind (`pause`, `resume`, `advance`, `roll back`, …).
    pub decision: String,
    pub reason: String,
    /// The phase after the command (and any traffic change it caused).
    pub phase: String,
    pub paused: bool,
    pub canary_percent: u32,
}

/// Why a command was not carried out.
#[derive(Debug, Error)]
pub enum ControlError {
    #[error("no rollout with id '{0}'")]
    NotFound(String),
    #[error("rollout '{id}' has ended ({phase}); nothing to {command}")]
    Terminal {
        id: String,
        phase: String,
        command: &'static str,
    },
    #[error(
        "rollout '{id}' is not driven by a running policy (endpoint {endpoint}); fix: restore its policy file in the policies directory"
    )]
    NotDriven { id: String, endpoint: String },
    /// The state machine refused the command (e.g. promote while paused).
    #[error("{command} refused: {reason}")]
    Refused {
        command: &'static str,
        reason: String,
    },
    #[error(
        "the command was delivered but its outcome is not known yet ({0}); read the rollout to see it"
    )]
    Pending(String),
    #[error("state database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Failed(String),
}

/// A command for one endpoint's worker.
#[derive(Debug)]
pub(crate) enum Command {
    Control {
        rollout_id: String,
        request: ControlRequest,
        reply: oneshot::Sender<Result<ControlOutcome, ControlError>>,
    },
    /// An alert fired or resolved: look at the firing alerts now.
    Alerts,
}

/// What the supervisor last found for one policy file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyStatus {
    pub file: String,
    /// The policy's name when it loaded.
    pub name: Option<String>,
    pub endpoint: Option<String>,
    /// Why the file was rejected (invalid, or a second policy for one endpoint).
    pub error: Option<String>,
}

impl PolicyStatus {
    /// The status of `path`: its policy when it loaded, and why it was rejected if it was.
    pub fn new(path: &Path, policy: Option<&Policy>, error: Option<String>) -> Self {
        PolicyStatus {
            file: path.display().to_string(),
            name: policy.map(|p| p.name.clone()),
            endpoint: policy.map(|p| p.target.to_string()),
            error,
        }
    }
}

/// Shared between the runner and the HTTP server.
#[derive(Debug, Default)]
pub struct ControlHub {
    workers: Mutex<HashMap<EndpointRef, mpsc::UnboundedSender<Command>>>,
    policies: Mutex<Option<BTreeMap<PathBuf, PolicyStatus>>>,
}

impl ControlHub {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn register(&self, endpoint: EndpointRef, sender: mpsc::UnboundedSender<Command>) {
        lock(&self.workers).insert(endpoint, sender);
    }

    pub(crate) fn unregister(&self, endpoint: &EndpointRef) {
        lock(&self.workers).remove(endpoint);
    }

    pub(crate) fn set_policies(&self, policies: BTreeMap<PathBuf, PolicyStatus>) {
        *lock(&self.policies) = Some(policies);
    }

    /// Every policy file of the last scan; None before the first scan finished.
    pub fn policies(&self) -> Option<Vec<PolicyStatus>> {
        lock(&self.policies)
            .as_ref()
            .map(|p| p.values().cloned().collect())
    }

    /// Endpoints with a running worker.
    pub fn endpoints(&self) -> Vec<EndpointRef> {
        lock(&self.workers).keys().cloned().collect()
    }

    /// Wakes the workers of the endpoints `wanted` selects to look at the firing alerts;
    /// returns those endpoints.
    pub fn wake_for_alerts(&self, wanted: impl Fn(&EndpointRef) -> bool) -> Vec<EndpointRef> {
        let workers = lock(&self.workers);
        let mut woken = Vec::new();
        for (endpoint, sender) in workers.iter() {
            if wanted(endpoint) && sender.send(Command::Alerts).is_ok() {
                woken.push(endpoint.clone());
            }
        }
        woken
    }

    /// Delivers a manual command to the worker of the rollout's endpoint and waits for what it
    /// did.
    pub async fn control(
        &self,
        store: &Store,
        rollout_id: &str,
        request: ControlRequest,
    ) -> Result<ControlOutcome, ControlError> {
        let record = store
            .rollout(rollout_id)?
            .ok_or_else(|| ControlError::NotFound(rollout_id.to_string()))?;
        let state: RolloutState = serde_json::from_value(record.state).map_err(|error| {
            ControlError::Failed(format!(
                "the stored state of rollout {rollout_id} cannot be read: {error}"
            ))
        })?;
        if !record.active {
            return Err(ControlError::Terminal {
                id: rollout_id.to_string(),
                phase: state.phase.label(),
                command: request.name(),
            });
        }
        let sender = lock(&self.workers)
            .get(&state.endpoint)
            .cloned()
            .ok_or_else(|| ControlError::NotDriven {
                id: rollout_id.to_string(),
                endpoint: state.endpoint.to_string(),
            })?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Command::Control {
                rollout_id: rollout_id.to_string(),
                request,
                reply,
            })
            .map_err(|_| ControlError::NotDriven {
                id: rollout_id.to_string(),
                endpoint: state.endpoint.to_string(),
            })?;
        match tokio::time::timeout(CONTROL_REPLY_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ControlError::Pending(
                "the rollout's task restarted while handling it".into(),
            )),
            Err(_) => Err(ControlError::Pending(format!(
                "no answer within {} s; a traffic change may still be in progress",
                CONTROL_REPLY_TIMEOUT.as_secs()
            ))),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
