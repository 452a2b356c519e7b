//! The `[notify]` section of the daemon configuration and its validation.
//!
//! Webhook URLs of Slack and Teams are bearer secrets (whoever has one can post), so they are
//! redacted in `Debug`, never serialized and never logged; only their host is.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::NotifyError;
use crate::policy::duration::serde_duration;
use crate::rollout::DecisionKind;

pub const DEFAULT_QUEUE_CAPACITY: usize = 256;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Every decision kind; `decisions = ["all"]` stands for these minus `noop`.
pub const ALL_DECISIONS: [DecisionKind; 10] = [
    DecisionKind::Start,
    DecisionKind::Hold,
    DecisionKind::Advance,
    DecisionKind::Promote,
    DecisionKind::RollBack,
    DecisionKind::Pause,
    DecisionKind::Resume,
    DecisionKind::Fail,
    DecisionKind::Complete,
    DecisionKind::Noop,
];

/// Sent when a webhook lists no `decisions`: every changed decision except `complete` (the
/// confirmation that an announced change took effect) and `noop`.
pub const DEFAULT_DECISIONS: [DecisionKind; 8] = [
    DecisionKind::Start,
    DecisionKind::Hold,
    DecisionKind::Advance,
    DecisionKind::Promote,
    DecisionKind::RollBack,
    DecisionKind::Pause,
    DecisionKind::Resume,
    DecisionKind::Fail,
];

/// `[notify]`: outgoing webhooks on rollout decisions. Empty by default (nothing is sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Public base URL of the status page; messages link to `{status_url}/rollouts/{id}`.
    pub status_url: Option<String>,
    pub webhooks: Vec<WebhookConfig>,
    /// Messages waiting per webhook; when full the oldest is dropped (and counted).
    pub queue_capacity: usize,
    /// Attempts per message, the first included.
    pub max_attempts: u32,
    /// Per-request timeout (connect + response).
    #[serde(with = "serde_duration")]
    pub request_timeout: Duration,
    /// First retry delay; doubled per attempt, with jitter.
    #[serde(with = "serde_duration")]
    pub initial_backoff: Duration,
    /// Longest computed retry delay.
    #[serde(with = "serde_duration")]
    pub max_backoff: Duration,
    /// Longest wait a receiver's `Retry-After` can impose (longer asks are cut to this).
    #[serde(with = "serde_duration")]
    pub max_retry_after: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            status_url: None,
            webhooks: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

/// One `[[notify.webhooks]]` entry.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Shown in logs instead of the URL.
    pub name: String,
    pub format: WebhookFormat,
    /// The webhook URL (a secret for Slack and Teams); or give `url_file`.
    #[serde(default, skip_serializing)]
    pub url: Option<String>,
    /// A file holding the URL (e.g. a mounted secret), read once at start.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Decision kinds to send (`start`, `hold`, `advance`, `promote`, `roll_back`, `pause`,
    /// `resume`, `fail`, `complete`, or `all`); none given: [`DEFAULT_DECISIONS`].
    #[serde(default)]
    pub decisions: Option<Vec<DecisionFilter>>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("url_file", &self.url_file)
            .field("decisions", &self.decisions)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The event as JSON plus a one-line `text`.
    Generic,
    /// A message with an Adaptive Card attachment (Teams Workflows / incoming webhooks).
    Teams,
    /// Slack incoming-webhook JSON: `text` plus mrkdwn `blocks`.
    Slack,
}

// By hand so that a wrong value is answered with the valid ones (the config crate's own enum
// errors do not list them).
impl<'de> Deserialize<'de> for WebhookFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "generic" => Ok(WebhookFormat::Generic),
            "teams" => Ok(WebhookFormat::Teams),
            "slack" => Ok(WebhookFormat::Slack),
            _ => Err(D::Error::custom(format!(
                "unknown webhook format '{text}'; use \"generic\", \"teams\" or \"slack\""
            ))),
        }
    }
}

/// An entry of `decisions`: one kind, or `all` (every kind but `noop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionFilter {
    All,
    Kind(DecisionKind),
}

impl Serialize for DecisionFilter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DecisionFilter::All => serializer.serialize_str("all"),
            DecisionFilter::Kind(kind) => kind.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for DecisionFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // `roll_back` as in the journal, `roll back` as in the messages: both are fine.
        let wanted = text.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        if wanted == "all" {
            return Ok(DecisionFilter::All);
        }
        ALL_DECISIONS
            .iter()
            .find(|kind| kind.label() == wanted)
            .map(|kind| DecisionFilter::Kind(*kind))
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown decision '{text}' in decisions; use \"all\" or any of start, hold, \
                     advance, promote, roll_back, pause, resume, fail, complete"
                ))
            })
    }
}

/// A webhook ready to use: URL read and checked, decision set resolved.
#[derive(Clone)]
pub(crate) struct ResolvedWebhook {
    pub name: String,
    pub format: WebhookFormat,
    pub url: reqwest::Url,
    pub decisions: BTreeSet<DecisionKindKey>,
}

impl ResolvedWebhook {
    /// The host alone, safe to log (the path and query of Slack/Teams URLs are the secret).
    pub fn host(&self) -> String {
        match (self.url.host_str(), self.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => "<no host>".to_string(),
        }
    }
}

/// `DecisionKind` is not `Ord`; its label is a stable key.
pub(crate) type DecisionKindKey = &'static str;

impl NotifyConfig {
    /// Checks every value serde cannot and reads `url_file`s. Errors name the key
    /// (`notify.webhooks[1].url`) and the fix.
    pub(crate) fn resolve(&self) -> Result<(Option<String>, Vec<ResolvedWebhook>), NotifyError> {
        let invalid = |key: String, problem: String, fix: &str| NotifyError::Invalid {
            key,
            problem,
            fix: fix.to_string(),
        };
        let status_url = match &self.status_url {
            None => None,
            Some(text) => {
                check_http_url(text).map_err(|problem| {
                    invalid(
                        "notify.status_url".into(),
                        problem,
                        "give the status page's public base URL, e.g. https://canaryd.example.com",
                    )
                })?;
                Some(text.trim().trim_end_matches('/').to_string())
            }
        };
        if self.queue_capacity == 0 {
            return Err(invalid(
                "notify.queue_capacity".into(),
                "is 0".into(),
                "give at least 1 (default 256)",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid(
                "notify.max_attempts".into(),
                "is 0".into(),
                "give at least 1 (default 5; 1 means no retries)",
            ));
        }
        for (key, value) in [
            ("notify.request_timeout", self.request_timeout),
            ("notify.initial_backoff", self.initial_backoff),
            ("notify.max_backoff", self.max_backoff),
            ("notify.max_retry_after", self.max_retry_after),
        ] {
            if value.is_zero() {
                return Err(invalid(
                    key.into(),
                    "is zero".into(),
                    "give a positive duration such as 10s",
                ));
            }
        }
        if self.initial_backoff > self.max_backoff {
            return Err(invalid(
                "notify.initial_backoff".into(),
                "is longer than notify.max_backoff".into(),
                "make initial_backoff at most max_backoff",
            ));
        }
        let mut names = BTreeSet::new();
        let mut webhooks = Vec::with_capacity(self.webhooks.len());
        for (index, hook) in self.webhooks.iter().enumerate() {
            let at = |field: &str| format!("notify.webhooks[{index}].{field}");
            let name = hook.name.trim();
            if name.is_empty() {
                return Err(invalid(
                    at("name"),
                    "is empty".into(),
                    "name the webhook (it is logged instead of its secret URL)",
                ));
            }
            if !names.insert(name.to_string()) {
                return Err(invalid(
                    at("name"),
                    format!("'{name}' is used by another webhook"),
                    "give each webhook its own name",
                ));
            }
            let (url_key, text) = match (&hook.url, &hook.url_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        at("url"),
                        "is given together with url_file".into(),
                        "keep one of url and url_file",
                    ));
                }
                (None, None) => {
                    return Err(invalid(
                        at("url"),
                        "is missing".into(),
                        "give url, or url_file naming a file that holds it",
                    ));
                }
                (Some(url), None) => (at("url"), url.clone()),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|error| {
                        invalid(
                            at("url_file"),
                            format!("cannot read {}: {error}", path.display()),
                            "give a readable file holding the webhook URL",
                        )
                    })?;
                    (at("url_file"), text.trim().to_string())
                }
            };
            // The problem text never repeats the URL: it is a secret.
            let url = check_http_url(&text).map_err(|problem| {
                invalid(
                    url_key,
                    problem,
                    "give the full webhook URL as the service shows it (https://…)",
                )
            })?;
            let decisions = match &hook.decisions {
                None => DEFAULT_DECISIONS.iter().map(|k| k.label()).collect(),
                Some(list) if list.is_empty() => {
                    return Err(invalid(
                        at("decisions"),
                        "is empty, so nothing would ever be sent".into(),
                        "list decision kinds, use [\"all\"], or remove the key for the default",
                    ));
                }
                Some(list) => {
                    let mut set = BTreeSet::new();
                    for filter in list {
                        match filter {
                            DecisionFilter::All => set.extend(
                                ALL_DECISIONS
                                    .iter()
                                    .filter(|k| **k != DecisionKind::Noop)
                                    .map(|k| k.label()),
                            ),
                            DecisionFilter::Kind(kind) => {
                                set.insert(kind.label());
                            }
                        }
                    }
                    set
                }
            };
            webhooks.push(ResolvedWebhook {
                name: name.to_string(),
                format: hook.format,
                url,
                decisions,
            });
        }
        Ok((status_url, webhooks))
    }
}

/// Parses an absolute http(s) URL with a host. The error does not quote the URL.
fn check_http_url(text: &str) -> Result<reqwest::Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty".into());
    }
    let url = reqwest::Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "has scheme '{}', only http and https are sent",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(url)
}
