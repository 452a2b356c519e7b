//! Azure clients: identity, one retrying HTTP layer, ARM (online endpoints), Log Analytics
//! and Azure Monitor metrics. Every base URL is configurable; the defaults are the public
//! cloud's. Tokens come from `azure_identity` (cached and refreshed by the crate) and never
//! appear in logs or error messages.

pub mod arm;
pub mod credential;
pub mod http;
pub mod log_analytics;
pub mod monitor;

pub use http::{AzureHttp, RetryPolicy};

/// Token scope of Azure Resource Manager (also the Azure Monitor metrics API).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// Token scope of the Log Analytics query API.
pub const LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";

/// Public-cloud defaults for the configurable base URLs.
pub const DEFAULT_ARM_BASE_URL: &str = "https://management.azure.com";
pub const DEFAULT_LOG_ANALYTICS_BASE_URL: &str = "https://api.loganalytics.io";

/// Everything that can go wrong talking to Azure. Messages never contain a token or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AzureError {
    /// The credential could not be built, or could not produce a token (identity endpoint
    /// refused us, CLI not logged in, …). Not retried here: the azure_identity pipeline
    /// already retries transient identity-endpoint failures.
    #[error("Azure credential error: {0}")]
    Credential(String),
    /// HTTP 401 from the API: the token was refused. Never retried.
    #[error("unauthorized (HTTP 401) {code}: {message}")]
    Unauthorized { code: String, message: String },
    /// A non-success answer that is not retried, or still failing after the last attempt.
    /// `code`/`message` come from the `{"error":{"code","message"}}` body when there is one.
    #[error("HTTP {status} {code}: {message}")]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// The request never got an HTTP answer (connection refused, reset, timeout).
    #[error("transport error: {0}")]
    Transport(String),
    /// An answer we could not understand (not JSON, missing fields, wrong types).
    #[error("unexpected response: {0}")]
    InvalidResponse(String),
    /// A URL or option that cannot work (bad base URL, nextLink to another host, …).
    #[error("configuration error: {0}")]
    Config(String),
}

impl AzureError {
    /// True for answers worth trying again later (throttling, server errors, no connection).
    /// The HTTP layer has already retried these; callers use this to tell "Azure is having
    /// a bad minute, hold" from "this request is wrong".
    pub fn is_transient(&self) -> bool {
        match self {
            AzureError::Status { status, .. } => http::is_retryable_status(*status),
            AzureError::Transport(_) => true,
            _ => false,
        }
    }

    /// True when Azure throttled the request (HTTP 429).
    pub fn is_throttled(&self) -> bool {
        matches!(self, AzureError::Status { status: 429, .. })
    }

    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Status { status, .. } => Some(*status),
            AzureError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}
