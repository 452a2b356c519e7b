//! One background task per webhook: takes messages from its bounded queue in order and POSTs
//! each, retrying 5xx, 408, 429 and connection errors with exponential backoff and jitter
//! (honouring `Retry-After` up to the cap). Nothing here ever waits on the caller.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use tokio::sync::Notify;

use super::config::ResolvedWebhook;

/// How retries are spaced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `failed + 1` after `failed` failures: `initial · 2^(failed-1)`
    /// capped at `max_backoff`, then a uniformly random point in its upper half ("equal
    /// jitter"), so receivers recovering from an outage are not hit in lockstep.
    pub fn backoff(&self, failed: u32, rng: &mut impl Rng) -> Duration {
        let exponent = failed.saturating_sub(1).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = ceiling / 2;
        half + ceiling.saturating_sub(half).mul_f64(rng.random::<f64>())
    }

    /// A receiver's `Retry-After`, capped; `None` when absent or unreadable.
    pub fn retry_after(&self, headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
        parse_retry_after(headers, now).map(|d| d.min(self.max_retry_after))
    }
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP-date>` (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let wait = at - now;
    Some(if wait.is_negative() {
        Duration::ZERO
    } else {
        wait.unsigned_abs()
    })
}

/// Statuses worth another attempt: the receiver is overloaded, throttling or briefly down.
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// One message waiting to be posted.
pub(crate) struct Message {
    pub body: Vec<u8>,
    /// For logs: which rollout and decision this was.
    pub rollout_id: String,
    pub decision: String,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Message>,
    /// A message has been taken and is being posted (or retried).
    in_flight: bool,
}

/// Counters of one webhook (monotonic since start).
#[derive(Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retries: AtomicU64,
}

/// A webhook with its queue, shared by the notifier (producer) and its task (consumer).
pub(crate) struct Channel {
    pub hook: ResolvedWebhook,
    pub capacity: usize,
    state: Mutex<QueueState>,
    wake: Notify,
    pub counters: Counters,
}

impl Channel {
    pub fn new(hook: ResolvedWebhook, capacity: usize) -> Self {
        Channel {
            hook,
            capacity,
            state: Mutex::new(QueueState::default()),
            wake: Notify::new(),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic while holding this lock cannot leave the queue inconsistent (each
        // operation is one push or pop), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `message`; when the queue is full the oldest waiting message is dropped and
    /// returned so the caller can log it. Never blocks beyond a short lock.
    pub fn push(&self, message: Message) -> Option<Message> {
        let dropped = {
            let mut state = self.lock();
            let dropped = if state.items.len() >= self.capacity {
                state.items.pop_front()
            } else {
                None
            };
            state.items.push_back(message);
            dropped
        };
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if dropped.is_some() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // A stored permit means the task cannot miss this even if it is not waiting yet.
        self.wake.notify_one();
        dropped
    }

    /// Messages queued or being posted.
    pub fn pending(&self) -> usize {
        let state = self.lock();
        state.items.len() + usize::from(state.in_flight)
    }

    fn take(&self) -> Option<Message> {
        let mut state = self.lock();
        let message = state.items.pop_front();
        state.in_flight = message.is_some();
        message
    }

    fn done(&self) {
        self.lock().in_flight = false;
    }

    /// Wakes the task so it notices `closed`.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What every task shares with the notifier.
pub(crate) struct Hub {
    pub channels: Vec<Channel>,
    pub client: reqwest::Client,
    pub retry: RetryPolicy,
    /// Set when the last notifier handle is dropped: tasks end after the message in flight.
    pub closed: AtomicBool,
    /// Notified whenever a message leaves a queue for good (delivered, given up, dropped).
    pub progress: Notify,
}

impl Hub {
    pub fn pending(&self) -> usize {
        self.channels.iter().map(Channel::pending).sum()
    }
}

/// The task of `hub.channels[index]`.
pub(crate) async fn run_channel(hub: std::sync::Arc<Hub>, index: usize) {
    let Some(channel) = hub.channels.get(index) else {
        return;
    };
    loop {
        if hub.closed.load(Ordering::Acquire) {
            let left = channel.pending();
            if left > 0 {
                tracing::warn!(webhook = %channel.hook.name, host = %channel.hook.host(), undelivered = left, "notifier stopped; queued notifications abandoned");
            }
            return;
        }
        let Some(message) = channel.take() else {
            channel.wake.notified().await;
            continue;
        };
        post_with_retries(&hub, channel, &message).await;
        channel.done();
        hub.progress.notify_waiters();
    }
}

/// Posts one message until it is accepted, rejected for good, or out of attempts.
async fn post_with_retries(hub: &Hub, channel: &Channel, message: &Message) {
    let hook = &channel.hook;
    let host = hook.host();
    let max_attempts = hub.retry.max_attempts.max(1);
    for attempt in 1..=max_attempts {
        let result = hub
            .client
            .post(hook.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(message.body.clone())
            .send()
            .await;
        let (problem, server_wait) = match result {
            Ok(response) if response.status().is_success() => {
                channel.counters.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(webhook = %hook.name, %host, rollout = %message.rollout_id, decision = %message.decision, attempt, "notification delivered");
                return;
            }
            Ok(response) => {
                let status = response.status();
                if !is_retryable(status) {
                    channel.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(webhook = %hook.name, %host, rollout = %message.rollout_id, decision = %message.decision, status = status.as_u16(), "notification rejected by the receiver; not retried (check the webhook's URL and format)");
                    return;
                }
                let wait = hub
                    .retry
                    .retry_after(response.headers(), OffsetDateTime::now_utc());
                (format!("HTTP {}", status.as_u16()), wait)
            }
            // `without_url`: the URL of a Slack or Teams webhook is a secret.
            Err(error) => (describe(error.without_url()), None),
        };
        if attempt == max_attempts {
            channel.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %hook.name, %host, rollout = %message.rollout_id, decision = %message.decision, attempts = attempt, last_error = %problem, "notification not delivered; giving up");
            return;
        }
        let delay = server_wait.unwrap_or_else(|| hub.retry.backoff(attempt, &mut rand::rng()));
        tracing::info!(webhook = %hook.name, %host, rollout = %message.rollout_id, decision = %message.decision, attempt, error = %problem, retry_in_ms = delay.as_millis() as u64, "notification failed; retrying");
        channel.counters.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(delay).await;
        if hub.closed.load(Ordering::Acquire) {
            channel.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %hook.name, %host, rollout = %message.rollout_id, decision = %message.decision, "notifier stopped; notification abandoned");
            return;
        }
    }
}

/// The error and its causes on one line (the URL already stripped).
fn describe(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(20),
        }
    }

    #[test]
    fn backoff_doubles_within_its_jitter_band_and_stops_at_the_cap() {
        let policy = policy();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (failed, ceiling_s) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (4, 8.0),
            (5, 10.0),
            (40, 10.0),
        ] {
            for _ in 0..200 {
                let delay = policy.backoff(failed, &mut rng).as_secs_f64();
                assert!(
                    delay >= ceiling_s / 2.0 - 1e-9 && delay <= ceiling_s + 1e-9,
                    "failure {failed}: {delay}s outside [{}, {ceiling_s}]",
                    ceiling_s / 2.0
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let policy = policy();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let delays: Vec<Duration> = (0..50).map(|_| policy.backoff(3, &mut rng)).collect();
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 40, "{} distinct of 50", distinct.len());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let policy = policy();
        let now = OffsetDateTime::from_unix_timestamp(784_111_777).expect("valid time"); // Sun, 06 Nov 1994 08:49:37 GMT
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(
            policy.retry_after(&headers, now),
            Some(Duration::from_secs(3))
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(
            policy.retry_after(&headers, now),
            Some(Duration::from_secs(20))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:42 GMT"),
        );
        assert_eq!(
            policy.retry_after(&headers, now),
            Some(Duration::from_secs(5))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:30 GMT"),
        );
        assert_eq!(policy.retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(policy.retry_after(&headers, now), None);
        assert_eq!(policy.retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(is_retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(is_retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::REQUEST_TIMEOUT));
        assert!(!is_retryable(StatusCode::BAD_REQUEST));
        assert!(!is_retryable(StatusCode::NOT_FOUND));
        assert!(!is_retryable(StatusCode::FORBIDDEN));
    }
}
