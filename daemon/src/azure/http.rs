//! One retrying, authenticated HTTP layer for every Azure API the daemon calls.
//!
//! Each request carries a fresh bearer token from the credential (the crate answers from its
//! cache until the token is within 300 s of expiry). 429, 500, 502, 503, 504 and connection
//! failures are retried with exponential backoff and full jitter, or after exactly the
//! `Retry-After` / `x-ms-retry-after-ms` the service asked for. Sleeps are wall-clock time
//! (tokio), because that is the time Azure's `Retry-After` is in.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use azure_core::credentials::TokenCredential;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::AzureError;

/// How hard to retry a request that failed transiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles on each further attempt.
    pub base_delay: Duration,
    /// No single wait is longer than this. A `Retry-After` asking for more makes the request
    /// fail now (the caller holds and tries on its next tick) instead of blocking a rollout.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter backoff before attempt `attempt + 1`: uniform in
    /// `[0, min(max_delay, base_delay · 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let ceiling_us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        if ceiling_us == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(rand::rng().random_range(0..=ceiling_us))
    }
}

/// Statuses worth retrying: throttling and transient server failures.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// The process-wide HTTP client. Building a TLS client loads the platform's root certificates
/// (tens of milliseconds), so every `AzureHttp` shares this one (reqwest clients are cheap
/// handles to one connection pool).
fn shared_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("canaryd/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .build()
                // Only fails when the TLS backend cannot initialise; a client without it still
                // serves http:// (loopback) and makes https:// requests fail with a clear error.
                .unwrap_or_else(|_| reqwest::Client::new())
        })
        .clone()
}

/// An authenticated client for one token scope (one API).
#[derive(Clone)]
pub struct AzureHttp {
    client: reqwest::Client,
    credential: Arc<dyn TokenCredential>,
    scope: String,
    retry: RetryPolicy,
    request_timeout: Duration,
}

impl std::fmt::Debug for AzureHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureHttp")
            .field("scope", &self.scope)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl AzureHttp {
    /// A client getting tokens for `scope` (e.g. [`super::ARM_SCOPE`]) from `credential`.
    pub fn new(credential: Arc<dyn TokenCredential>, scope: &str, retry: RetryPolicy) -> Self {
        Self {
            client: shared_client(),
            credential,
            scope: scope.to_string(),
            retry,
            request_timeout: Duration::from_secs(120),
        }
    }

    /// Uses `client` instead of the shared one.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// Time limit of one attempt (default 120 s; Log Analytics may need more).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Sends `body` (as JSON) with a bearer token, retrying transient failures. Returns the
    /// response when its status is a success (2xx); anything else is an [`AzureError`].
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, AzureError> {
        self.send_with_headers(method, url, body, &[]).await
    }

    /// [`Self::send`] with extra request headers (e.g. `Prefer: wait=600`).
    pub async fn send_with_headers(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, AzureError> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let last = attempt >= max_attempts;
            let failure = match self.send_once(method.clone(), url, body, headers).await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let asked = retry_after(response.headers());
                    let error = error_from_response(response).await;
                    if !is_retryable_status(status.as_u16()) || last {
                        return Err(error);
                    }
                    (error, asked)
                }
                Err(error) => {
                    if !last && is_retryable_transport(&error, &method) {
                        (AzureError::from(error), None)
                    } else {
                        return Err(error.into());
                    }
                }
            };
            let (error, asked) = failure;
            let delay = match asked {
                Some(asked) if asked > self.retry.max_delay => {
                    tracing::warn!(
                        %method, path = path_of(url), retry_after_ms = asked.as_millis() as u64,
                        "Azure asked to wait longer than the retry policy allows; giving up for now"
                    );
                    return Err(error);
                }
                Some(asked) => asked,
                None => self.retry.backoff(attempt),
            };
            tracing::warn!(
                %method, path = path_of(url), attempt, delay_ms = delay.as_millis() as u64,
                error = %error, "transient Azure failure, retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt, no retry: any HTTP answer except 401 comes back as a response (callers
    /// that must see a non-2xx status, e.g. an LRO `Location` poll, use this).
    pub async fn send_single(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, AzureError> {
        let response = self
            .send_once(method, url, body, &[])
            .await
            .map_err(AzureError::from)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(error_from_response(response).await);
        }
        Ok(response)
    }

    /// Sends one attempt. A credential failure is never retried here.
    async fn send_once(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response, SendError> {
        let token = self
            .credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map_err(|e| SendError::Credential(format!("no token for {}: {e}", self.scope)))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.token.secret()))
            .map_err(|_| SendError::Credential("the token is not a valid header value".into()))?;
        bearer.set_sensitive(true);
        let mut request = self
            .client
            .request(method, url)
            .header(AUTHORIZATION, bearer)
            .timeout(self.request_timeout);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let result = request.send().await;
        crate::server::metrics::record_azure_request(
            &self.scope,
            result.as_ref().ok().map(|r| r.status().as_u16()),
        );
        result.map_err(SendError::Http)
    }
}

/// Why one attempt got no HTTP answer.
#[derive(Debug)]
enum SendError {
    Credential(String),
    Http(reqwest::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Credential(m) => write!(f, "{m}"),
            SendError::Http(e) => write!(f, "{e}"),
        }
    }
}

impl From<SendError> for AzureError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Credential(m) => AzureError::Credential(m),
            SendError::Http(e) => AzureError::Transport(e.to_string()),
        }
    }
}

/// Connection failures are always safe to retry (the request never reached the server);
/// other transport failures (timeouts mid-request) only for reads.
fn is_retryable_transport(error: &SendError, method: &Method) -> bool {
    match error {
        SendError::Credential(_) => false,
        SendError::Http(e) => {
            e.is_connect()
                || (matches!(*method, Method::GET | Method::HEAD)
                    && (e.is_timeout() || e.is_request()))
        }
    }
}

/// The wait a response asks for: `x-ms-retry-after-ms` / `retry-after-ms` (milliseconds),
/// else `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<f64>().ok())
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = parse_http_date(value)?;
    Some(
        SystemTime::from(at)
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
fn parse_http_date(value: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, &format)
        .ok()
        .map(|t| t.assume_utc())
}

/// Turns a non-success response into an error, reading the ARM (`{"error":{"code","message"}}`)
/// or Log Analytics (`{"error":{"message","code","innererror":{…}}}`) body when present.
pub async fn error_from_response(response: Response) -> AzureError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let (code, message) = parse_error_body(&body).unwrap_or_else(|| {
        (
            status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', ""),
            truncate(body.trim(), 500),
        )
    });
    if status == StatusCode::UNAUTHORIZED {
        AzureError::Unauthorized { code, message }
    } else {
        AzureError::Status {
            status: status.as_u16(),
            code,
            message,
        }
    }
}

/// `(code, message)` of an Azure error body.
pub fn parse_error_body(body: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    let field = |v: &serde_json::Value, name: &str| {
        v.get(name).and_then(|s| s.as_str()).map(str::to_string)
    };
    let code = field(error, "code").unwrap_or_else(|| "Error".into());
    let mut message = field(error, "message").unwrap_or_default();
    if let Some(inner) = error.get("innererror") {
        let inner_code = field(inner, "code");
        let inner_message = field(inner, "message");
        if inner_code.is_some() || inner_message.is_some() {
            message = format!(
                "{message} ({}: {})",
                inner_code.unwrap_or_default(),
                inner_message.unwrap_or_default()
            );
        }
    }
    Some((code, truncate(&message, 1000)))
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

/// Reads a success response's JSON body.
pub async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, AzureError> {
    let url = path_of(response.url().as_str()).to_string();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AzureError::Transport(format!("reading the answer of {url}: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        AzureError::InvalidResponse(format!("the answer of {url} is not the expected JSON: {e}"))
    })
}

/// The path of a URL, for logs (no host, no query string).
fn path_of(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = without_scheme
        .find('/')
        .map_or("/", |i| &without_scheme[i..]);
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        };
        for attempt in 1..10 {
            assert!(policy.backoff(attempt) <= Duration::from_millis(250));
        }
        assert!(policy.backoff(1) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut past = HeaderMap::new();
        past.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&past), Some(Duration::ZERO));
        let mut junk = HeaderMap::new();
        junk.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&junk), None);
    }

    #[test]
    fn error_bodies_of_both_apis() {
        assert_eq!(
            parse_error_body(
                r#"{"error":{"code":"Conflict","message":"busy","target":null,"details":[]}}"#
            ),
            Some(("Conflict".into(), "busy".into()))
        );
        let (code, message) = parse_error_body(
            r#"{"error":{"message":"bad query","code":"BadArgumentError","innererror":{"code":"SyntaxError","message":"line 1"}}}"#,
        )
        .unwrap();
        assert_eq!(code, "BadArgumentError");
        assert!(message.contains("SyntaxError") && message.contains("line 1"));
        assert_eq!(parse_error_body("<html>"), None);
    }

    #[test]
    fn paths_for_logs_drop_host_and_query() {
        assert_eq!(path_of("https://h/a/b?x=1"), "/a/b");
        assert_eq!(path_of("http://h"), "/");
    }
}
