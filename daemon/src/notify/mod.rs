//! Outgoing notifications: a webhook message (generic JSON, Microsoft Teams or Slack) for each
//! changed rollout decision, saying what happened and why, with the numbers.
//!
//! ```text
//! let notifier = Notifier::start(&config.notify)?;          // None when no webhook is set
//! if let Some(n) = &notifier { n.send(&event); }             // never blocks, never fails
//! if let Some(n) = &notifier { n.flush(Duration::from_secs(10)).await.ok(); } // on shutdown
//! ```
//!
//! `send` only renders and enqueues (one bounded queue per webhook, oldest dropped when full);
//! a background task per webhook posts in order and retries. Webhook URLs are secrets: only
//! their host is ever logged. See daemon/docs/notify.md.

mod config;
mod delivery;
mod format;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use thiserror::Error;

pub use config::{
    ALL_DECISIONS, DEFAULT_DECISIONS, DecisionFilter, NotifyConfig, WebhookConfig, WebhookFormat,
};
pub use format::{one_line, render, rollout_link};

use crate::runner::RunnerEvent;
use delivery::{Channel, Hub, Message, RetryPolicy};

/// Why notifications could not be started or flushed.
#[derive(Debug, Error)]
pub enum NotifyError {
    /// A configuration value that cannot be used; `key` is its path (`notify.webhooks[0].url`).
    #[error("`{key}`: {problem} — fix: {fix}")]
    Invalid {
        key: String,
        problem: String,
        fix: String,
    },
    #[error("notifications need a Tokio runtime; start the notifier from async code")]
    NoRuntime,
    #[error("cannot build the HTTP client for webhooks: {0}")]
    Client(String),
    /// [`Notifier::flush`] ran out of time.
    #[error("{pending} notification(s) still undelivered after {waited:?}")]
    FlushTimeout { pending: usize, waited: Duration },
}

/// Delivery counters of one webhook since start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    pub name: String,
    /// Messages accepted into the queue.
    pub queued: u64,
    /// Accepted by the receiver (2xx).
    pub delivered: u64,
    /// Rejected (4xx other than 408/429), out of attempts, or abandoned at shutdown.
    pub failed: u64,
    /// Dropped unsent because the queue was full.
    pub dropped: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Waiting or being posted now.
    pub pending: usize,
}

/// Sends rollout decisions to the configured webhooks. Cheap to clone; the background tasks
/// stop (after the message in flight) when the last clone is dropped.
#[derive(Clone)]
pub struct Notifier {
    hub: Arc<Hub>,
    status_url: Option<Arc<str>>,
    _close: Arc<CloseOnDrop>,
}

struct CloseOnDrop(Arc<Hub>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        for channel in &self.0.channels {
            channel.wake();
        }
    }
}

impl Notifier {
    /// Validates `config`, reads any `url_file`, and starts one delivery task per webhook on
    /// the current Tokio runtime. `Ok(None)` when no webhook is configured.
    pub fn start(config: &NotifyConfig) -> Result<Option<Notifier>, NotifyError> {
        let (status_url, webhooks) = config.resolve()?;
        if webhooks.is_empty() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("canaryd/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            // A webhook that redirects is misconfigured; following would turn the POST into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| NotifyError::Client(error.without_url().to_string()))?;
        let hub = Arc::new(Hub {
            channels: webhooks
                .into_iter()
                .map(|hook| Channel::new(hook, config.queue_capacity))
                .collect(),
            client,
            retry: RetryPolicy {
                max_attempts: config.max_attempts,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
                max_retry_after: config.max_retry_after,
            },
            closed: Default::default(),
            progress: Default::default(),
        });
        for (index, channel) in hub.channels.iter().enumerate() {
            tracing::info!(webhook = %channel.hook.name, host = %channel.hook.host(), format = ?channel.hook.format, decisions = ?channel.hook.decisions, "sending notifications");
            runtime.spawn(delivery::run_channel(hub.clone(), index));
        }
        Ok(Some(Notifier {
            hub: hub.clone(),
            status_url: status_url.map(Arc::from),
            _close: Arc::new(CloseOnDrop(hub)),
        }))
    }

    /// Queues `event` for every webhook that wants its decision kind; returns how many did.
    /// Repeats (`changed: false`) are never sent. Never blocks on the network: when a queue
    /// is full its oldest message is dropped (counted and logged).
    pub fn send(&self, event: &RunnerEvent) -> usize {
        if !event.changed {
            return 0;
        }
        let mut queued = 0;
        for channel in &self.hub.channels {
            if !channel.hook.decisions.contains(event.decision.as_str()) {
                continue;
            }
            let body = render(channel.hook.format, event, self.status_url.as_deref());
            let body = match serde_json::to_vec(&body) {
                Ok(body) => body,
                Err(error) => {
                    tracing::error!(webhook = %channel.hook.name, %error, "cannot encode the notification; skipped");
                    continue;
                }
            };
            let message = Message {
                body,
                rollout_id: event.rollout_id.clone(),
                decision: event.decision.clone(),
            };
            if let Some(dropped) = channel.push(message) {
                tracing::warn!(
                    webhook = %channel.hook.name,
                    host = %channel.hook.host(),
                    dropped_rollout = %dropped.rollout_id,
                    dropped_decision = %dropped.decision,
                    dropped_total = channel.counters.dropped.load(Ordering::Relaxed),
                    capacity = channel.capacity,
                    "notification queue full; dropped the oldest message"
                );
            }
            queued += 1;
        }
        queued
    }

    /// Waits until every queued message is delivered or given up, at most `timeout` (for a
    /// graceful shutdown). Messages keep being posted after a timeout.
    pub async fn flush(&self, timeout: Duration) -> Result<(), NotifyError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check so a message finishing in between still wakes us.
            let progress = self.hub.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let pending = self.hub.pending();
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                let pending = self.hub.pending();
                if pending == 0 {
                    return Ok(());
                }
                return Err(NotifyError::FlushTimeout {
                    pending,
                    waited: timeout,
                });
            }
        }
    }

    /// Counters per webhook, in configuration order.
    pub fn stats(&self) -> Vec<WebhookStats> {
        self.hub
            .channels
            .iter()
            .map(|channel| {
                let counters = &channel.counters;
                WebhookStats {
                    name: channel.hook.name.clone(),
                    queued: counters.queued.load(Ordering::Relaxed),
                    delivered: counters.delivered.load(Ordering::Relaxed),
                    failed: counters.failed.load(Ordering::Relaxed),
                    dropped: counters.dropped.load(Ordering::Relaxed),
                    retries: counters.retries.load(Ordering::Relaxed),
                    pending: channel.pending(),
                }
            })
            .collect()
    }
}
