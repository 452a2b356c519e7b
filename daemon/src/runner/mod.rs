//! The daemon's loop: policies in, traffic changes out, every decision journaled first.
//!
//! A supervisor rescans the policies directory; each valid policy gets its own task (a
//! [`worker`]) that, every `plan.interval` of the injected clock, discovers or resumes the
//! endpoint's rollout, observes one closed metrics window, asks the judge, advances the pure
//! state machine, journals the decision and only then carries out its traffic change. A bad
//! policy is logged once and skipped; a failing or panicking worker never stops the others.
//! See daemon/docs/runner.md.

pub mod control;
mod figures;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use azure_core::credentials::TokenCredential;
use serde::Serialize;
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};

use crate::clock::SharedClock;
use crate::config::DaemonConfig;
use crate::model::{EndpointRef, Split};
use crate::policy::Policy;
use crate::store::Store;

pub use control::{ControlError, ControlHub, ControlOutcome, ControlRequest, PolicyStatus};
pub use figures::{ArmFigures, WindowFigures};

/// How often the policies directory is rescanned when no policy gives a shorter interval.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(60);
/// Wall time a graceful stop waits for queued notifications.
pub const NOTIFY_FLUSH_GRACE: Duration = Duration::from_secs(5);
/// Wall time a graceful stop waits for in-flight ticks (a traffic change being followed).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What embedding code (the demo) may add to a run.
#[derive(Default, Clone)]
pub struct RunnerOptions {
    /// Use this store instead of opening `config.state_db`.
    pub store: Option<Arc<Store>>,
    /// Receives one event per decision.
    pub events: Option<mpsc::UnboundedSender<RunnerEvent>>,
    /// Where the HTTP server reaches the workers (manual control, alerts, policy status).
    pub hub: Option<Arc<ControlHub>>,
    /// Use this credential instead of building one from the config.
    pub credential: Option<Arc<dyn TokenCredential>>,
}

/// One decision, as the demo's live view and `--json` output show it.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerEvent {
    /// Simulated time of the decision (RFC 3339).
    pub at: String,
    pub policy: String,
    pub endpoint: String,
    pub rollout_id: String,
    pub baseline: String,
    pub canary: String,
    /// `step 2`, `baking`, `promoted`, … (see `rollout::Phase::label`).
    pub phase: String,
    /// The split canaryd last confirmed on the endpoint.
    pub traffic: Split,
    /// Live percent on the canary.
    pub canary_percent: u32,
    /// `advance`, `hold`, `roll back`, … (see `rollout::DecisionKind::label`).
    pub decision: String,
    pub reason: String,
    /// False when this repeats the previous decision.
    pub changed: bool,
    /// The judge's overall outcome on the data so far, when it was asked.
    pub verdict: Option<String>,
    /// The window behind the decision, when one was observed.
    pub window: Option<WindowFigures>,
    pub terminal: bool,
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(
    config: DaemonConfig,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    run_with(config, clock, shutdown, RunnerOptions::default()).await
}

/// [`run`] with a store and an event sink supplied by the caller.
pub async fn run_with(
    config: DaemonConfig,
    clock: SharedClock,
    shutdown: impl Future<Output = ()> + Send,
    options: RunnerOptions,
) -> anyhow::Result<()> {
    let store = match options.store {
        Some(store) => store,
        None => Arc::new(open_store(&config)?),
    };
    let credential = match options.credential {
        Some(credential) => credential,
        None => crate::azure::credential::build_credential(&config.azure.credential)
            .context("building the Azure credential")?,
    };
    let hub = options.hub.unwrap_or_default();
    let notifier = crate::notify::Notifier::start(&config.notify)
        .context("starting the notifications ([notify] in the config)")?;
    let shared = Arc::new(Shared {
        config,
        clock,
        store,
        credential,
        events: options.events,
        notifier,
        hub,
        endpoint_locks: std::sync::Mutex::new(HashMap::new()),
    });
    tracing::info!(
        policies_dir = %shared.config.policies_dir.display(),
        state_db = %shared.config.state_db.display(),
        arm = %shared.config.azure.arm_base_url,
        "canaryd running"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut supervisor = Supervisor {
        shared: shared.clone(),
        stop: stop_rx.clone(),
        workers: HashMap::new(),
        reported: HashMap::new(),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let interval = supervisor.pass().await;
        tokio::select! {
            () = &mut shutdown => break,
            () = shared.clock.sleep(interval) => {}
        }
    }
    let _ = stop_tx.send(true);
    supervisor.stop_all().await;
    if let Some(notifier) = &shared.notifier
        && let Err(error) = notifier.flush(NOTIFY_FLUSH_GRACE).await
    {
        tracing::warn!("stopping with notifications undelivered: {error}");
    }
    tracing::info!("canaryd stopped");
    Ok(())
}

/// Opens (creating its directory) and migrates the configured state database.
pub fn open_store(config: &DaemonConfig) -> anyhow::Result<Store> {
    if let Some(parent) = config.state_db.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the state directory {}", parent.display()))?;
    }
    Store::open(&config.state_db)
        .with_context(|| format!("opening the state db {}", config.state_db.display()))
}

/// What every worker shares.
pub(crate) struct Shared {
    pub config: DaemonConfig,
    pub clock: SharedClock,
    pub store: Arc<Store>,
    pub credential: Arc<dyn TokenCredential>,
    pub events: Option<mpsc::UnboundedSender<RunnerEvent>>,
    /// Outgoing webhooks on changed decisions; sending only queues.
    pub notifier: Option<crate::notify::Notifier>,
    pub hub: Arc<ControlHub>,
    /// One lock per endpoint so that an old and a new worker of an edited policy never act on
    /// the same endpoint at the same time.
    endpoint_locks: std::sync::Mutex<HashMap<EndpointRef, Arc<AsyncMutex<()>>>>,
}

impl Shared {
    pub fn endpoint_lock(&self, endpoint: &EndpointRef) -> Arc<AsyncMutex<()>> {
        let mut locks = self
            .endpoint_locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(endpoint.clone()).or_default().clone()
    }
}

struct WorkerHandle {
    content_hash: String,
    endpoint: EndpointRef,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

struct Supervisor {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    workers: HashMap<PathBuf, WorkerHandle>,
    /// The last problem reported per policy file, so each is logged once (until it changes).
    reported: HashMap<PathBuf, String>,
}

impl Supervisor {
    /// One discovery pass over the policies directory; returns when to look again.
    async fn pass(&mut self) -> Duration {
        let dir = self.shared.config.policies_dir.clone();
        let loaded = match tokio::task::spawn_blocking(move || crate::policy::load_dir(&dir)).await
        {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "reading the policies directory panicked; keeping the running policies");
                return DEFAULT_DISCOVERY_INTERVAL;
            }
        };
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut endpoints: HashMap<EndpointRef, PathBuf> = HashMap::new();
        let mut next = DEFAULT_DISCOVERY_INTERVAL;
        let mut statuses: BTreeMap<PathBuf, PolicyStatus> = BTreeMap::new();
        for (path, result) in loaded {
            seen.insert(path.clone());
            let policy = match result {
                Ok(policy) => policy,
                Err(error) => {
                    let message = error.to_string();
                    statuses.insert(
                        path.clone(),
                        PolicyStatus::new(&path, None, Some(message.clone())),
                    );
                    if self.reported.get(&path) != Some(&message) {
                        if self.workers.contains_key(&path) {
                            tracing::error!(policy_file = %path.display(), "invalid policy: {message}; the rollout keeps running under the last valid version of this file");
                        } else {
                            tracing::error!(policy_file = %path.display(), "invalid policy skipped: {message}");
                        }
                        self.reported.insert(path.clone(), message);
                    }
                    continue;
                }
            };
            if let Some(other) = endpoints.get(&policy.target) {
                let message = format!(
                    "endpoint {} is already managed by policy {}",
                    policy.target,
                    other.display()
                );
                statuses.insert(
                    path.clone(),
                    PolicyStatus::new(
                        &path,
                        Some(&policy),
                        Some(format!("{message}; fix: keep one policy per endpoint")),
                    ),
                );
                if self.reported.get(&path) != Some(&message) {
                    tracing::error!(policy_file = %path.display(), endpoint = %policy.target, "policy skipped: {message}; fix: keep one policy per endpoint");
                    self.reported.insert(path.clone(), message);
                }
                continue;
            }
            endpoints.insert(policy.target.clone(), path.clone());
            if self.reported.remove(&path).is_some() {
                tracing::info!(policy_file = %path.display(), "policy is valid again");
            }
            next = next.min(policy.plan.interval);
            statuses.insert(path.clone(), PolicyStatus::new(&path, Some(&policy), None));
            self.ensure_worker(path, policy);
        }
        self.shared.hub.set_policies(statuses);
        let gone: Vec<PathBuf> = self
            .workers
            .keys()
            .filter(|path| !seen.contains(*path))
            .cloned()
            .collect();
        for path in gone {
            if let Some(worker) = self.workers.remove(&path) {
                tracing::warn!(policy_file = %path.display(), endpoint = %worker.endpoint, "policy file removed; its rollout is no longer driven (traffic stays where it is)");
                self.shared.hub.unregister(&worker.endpoint);
                let _ = worker.stop.send(true);
            }
        }
        self.reported.retain(|path, _| seen.contains(path));
        next.max(Duration::from_secs(1))
    }

    /// Starts the policy's worker unless the same version already runs; restarts a worker that
    /// ended (panicked) or whose file changed.
    fn ensure_worker(&mut self, path: PathBuf, policy: Policy) {
        if let Some(existing) = self.workers.get(&path) {
            let finished = existing.task.is_finished();
            if !finished && existing.content_hash == policy.content_hash {
                return;
            }
            if finished {
                tracing::error!(policy_file = %path.display(), endpoint = %existing.endpoint, "rollout task ended unexpectedly; restarting it from the store");
            } else {
                tracing::info!(policy_file = %path.display(), endpoint = %existing.endpoint, "policy changed; restarting its task with the new version");
                let _ = existing.stop.send(true);
            }
            if existing.endpoint != policy.target {
                self.shared.hub.unregister(&existing.endpoint);
            }
        } else {
            tracing::info!(policy_file = %path.display(), endpoint = %policy.target, policy = %policy.name, "watching endpoint");
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let content_hash = policy.content_hash.clone();
        let endpoint = policy.target.clone();
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        self.shared.hub.register(endpoint.clone(), command_tx);
        let task = tokio::spawn(worker::run_worker(
            self.shared.clone(),
            policy,
            stop_rx,
            self.stop.clone(),
            command_rx,
        ));
        self.workers.insert(
            path,
            WorkerHandle {
                content_hash,
                endpoint,
                stop: stop_tx,
                task,
            },
        );
    }

    async fn stop_all(&mut self) {
        for worker in self.workers.values() {
            let _ = worker.stop.send(true);
        }
        for (path, worker) in self.workers.drain() {
            let abort = worker.task.abort_handle();
            match tokio::time::timeout(SHUTDOWN_GRACE, worker.task).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(policy_file = %path.display(), endpoint = %worker.endpoint, "rollout task did not stop in time; abandoning it (its pending change is verified on the next start)");
                    abort.abort();
                }
            }
        }
    }
}
