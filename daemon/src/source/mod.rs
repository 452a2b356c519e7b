//! Metrics sources: one closed window of both deployments' traffic, read from Log Analytics
//! (request logs → latency histogram + error counts, judged by the sequential tests) or from
//! Azure Monitor platform metrics (per-minute aggregates → Kayenta-style series).
//!
//! Every failure — HTTP errors, throttling after the retries, partial results, malformed or
//! unexpected tables — is a [`SourceError`], never data. The runner holds traffic on a source
//! error (and rolls back only after the policy's grace period); it never judges half a window.
//! See `daemon/docs/sources.md`.

pub mod kql;
pub mod log_analytics;
pub mod monitor;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::azure::{AzureError, RetryPolicy};
use crate::config::AzureConfig;
use crate::judge::histogram::LogBuckets;
use crate::judge::kayenta::MetricSeries;
use crate::judge::observation::Observation;
use crate::model::EndpointRef;
use crate::policy::SourceSpec;

pub use log_analytics::LogAnalyticsSource;
pub use monitor::{AzureMonitorSource, append_series, judge_series};

/// Smallest latency bucket edge of [`default_buckets`], in ms.
pub const DEFAULT_BUCKET_MIN_MS: f64 = 0.5;
/// Growth between bucket edges: 2% wide buckets, so a latency ratio is resolved to ~2%.
pub const DEFAULT_BUCKET_GROWTH: f64 = 1.02;
/// 0.5 ms · 1.02^710 ≈ 640 s: covers every request Azure ML lets run (its request timeout is
/// at most 5 minutes); anything slower still lands in the last bucket.
pub const DEFAULT_BUCKET_COUNT: usize = 710;

/// The latency buckets canaryd's default query histograms `TotalDurationMs` into.
pub fn default_buckets() -> LogBuckets {
    LogBuckets::new(
        DEFAULT_BUCKET_MIN_MS,
        DEFAULT_BUCKET_GROWTH,
        DEFAULT_BUCKET_COUNT,
    )
    .unwrap_or_else(|e| unreachable!("the default bucket constants are valid: {e}"))
}

/// One window to observe: `[start, end)` of both deployments of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRequest {
    pub endpoint: EndpointRef,
    pub baseline: String,
    pub canary: String,
    pub start: OffsetDateTime,
    /// Exclusive; at most [`MetricsSource::closed_window_end`] of the current time.
    pub end: OffsetDateTime,
    /// The rollout's bucket scheme (fixed for a rollout; the judge refuses a change).
    pub buckets: LogBuckets,
    /// Whether the current split sends the baseline any traffic (live or mirrored). At 100% on
    /// the canary (the last step, the bake) it serves nothing by design, and a window without
    /// baseline requests is still complete.
    pub baseline_expected: bool,
}

impl WindowRequest {
    /// The freshness rule both sources share: not ingested until the newest row reaches the
    /// window's end; no traffic when a deployment the split sends traffic to served nothing.
    pub fn freshness(
        &self,
        ingested_past_end: bool,
        baseline_requests: u64,
        canary_requests: u64,
    ) -> Freshness {
        if !ingested_past_end {
            Freshness::NotIngestedYet
        } else if canary_requests == 0 || (self.baseline_expected && baseline_requests == 0) {
            Freshness::NoTraffic
        } else {
            Freshness::Complete
        }
    }
}

/// Whether a window's data is all there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Ingestion has passed the window's end and every deployment the split sends traffic to
    /// served requests in it.
    Complete,
    /// The newest ingested row of the endpoint is older than the window's end: rows may still
    /// arrive. Hold and query the same window again later; the observation is empty.
    NotIngestedYet,
    /// Ingestion has passed the window's end but a deployment the split sends traffic to served
    /// no request in it. The observation holds what there is (e.g. the baseline's counts).
    NoTraffic,
}

impl Freshness {
    pub fn label(self) -> &'static str {
        match self {
            Freshness::Complete => "complete",
            Freshness::NotIngestedYet => "not_ingested_yet",
            Freshness::NoTraffic => "no_traffic",
        }
    }
}

/// One observed window, ready for the judge and the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowObservation {
    /// The window's counts (one window only; the judge accumulates).
    pub observation: Observation,
    pub freshness: Freshness,
    /// The exact query text (Log Analytics) or request URLs (Azure Monitor) sent.
    pub query: String,
    /// Per deployment totals and freshness facts, for the journal.
    pub raw_counts: serde_json::Value,
    /// Azure Monitor's per-minute series of this window (see [`monitor::MONITOR_SERIES`]);
    /// empty for Log Analytics.
    pub series: Vec<MetricSeries>,
}

/// Why a window could not be observed. Never data: the caller holds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The API failed (after the HTTP layer's retries), throttled us, or refused the token.
    #[error("{api} request failed: {error}")]
    Azure {
        api: &'static str,
        error: AzureError,
    },
    /// HTTP 200 carrying an error: the result is incomplete and is not used.
    #[error("{api} returned a partial result ({code}): {message}")]
    PartialResult {
        api: &'static str,
        code: String,
        message: String,
    },
    /// The result does not follow the column contract (missing/extra columns, bad cells,
    /// buckets out of range, inconsistent counts).
    #[error("{api} result is malformed: {detail}")]
    Malformed { api: &'static str, detail: String },
    /// The result names a deployment that is neither the baseline nor the canary.
    #[error(
        "{api} result has rows for deployment {found:?}, which is neither the baseline {baseline:?} nor the canary {canary:?}"
    )]
    UnknownDeployment {
        api: &'static str,
        found: String,
        baseline: String,
        canary: String,
    },
    /// The policy's custom query cannot be used.
    #[error(
        "the policy's Log Analytics query is invalid: {0} (see the column contract in daemon/docs/sources.md)"
    )]
    InvalidQuery(#[from] kql::TemplateError),
    /// The window request itself is wrong (a caller bug or a bad policy).
    #[error("invalid window request: {0}")]
    InvalidRequest(String),
}

impl SourceError {
    /// True when trying the same window again later may succeed (throttling, server errors,
    /// partial results, no connection).
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Azure { error, .. } => error.is_transient(),
            SourceError::PartialResult { .. } => true,
            _ => false,
        }
    }

    fn azure(api: &'static str, error: AzureError) -> Self {
        match error {
            AzureError::Status {
                status: 200,
                code,
                message,
            } => SourceError::PartialResult { api, code, message },
            error => SourceError::Azure { api, error },
        }
    }
}

/// Where a rollout's metrics come from.
#[derive(Debug, Clone)]
pub enum MetricsSource {
    LogAnalytics(LogAnalyticsSource),
    AzureMonitor(AzureMonitorSource),
}

impl MetricsSource {
    /// The source a policy names, with the daemon's base URLs and credential.
    pub fn from_spec(
        spec: &SourceSpec,
        azure: &AzureConfig,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<MetricsSource, SourceError> {
        Self::from_spec_with_retry(spec, azure, credential, RetryPolicy::default())
    }

    /// [`Self::from_spec`] with an explicit retry policy for the HTTP layer.
    pub fn from_spec_with_retry(
        spec: &SourceSpec,
        azure: &AzureConfig,
        credential: Arc<dyn TokenCredential>,
        retry: RetryPolicy,
    ) -> Result<MetricsSource, SourceError> {
        match spec {
            SourceSpec::LogAnalytics {
                workspace_id,
                ingestion_delay,
                query,
            } => Ok(MetricsSource::LogAnalytics(LogAnalyticsSource::new(
                crate::azure::log_analytics::LogAnalyticsClient::new(
                    &azure.log_analytics_base_url,
                    credential,
                    retry,
                ),
                workspace_id,
                *ingestion_delay,
                query.clone(),
            )?)),
            SourceSpec::AzureMonitor { ingestion_delay } => {
                Ok(MetricsSource::AzureMonitor(AzureMonitorSource::new(
                    crate::azure::monitor::MetricsClient::new(
                        &azure.metrics_base_url,
                        credential,
                        retry,
                    ),
                    *ingestion_delay,
                )))
            }
        }
    }

    /// Observes one window. See [`LogAnalyticsSource::observe`] and
    /// [`AzureMonitorSource::observe`].
    pub async fn observe(&self, request: &WindowRequest) -> Result<WindowObservation, SourceError> {
        let started = std::time::Instant::now();
        let result = match self {
            MetricsSource::LogAnalytics(source) => source.observe(request).await,
            MetricsSource::AzureMonitor(source) => source.observe(request).await,
        };
        crate::server::metrics::record_source_query(
            self.kind(),
            started.elapsed(),
            result.is_err(),
        );
        result
    }

    /// The latest window end that is closed at `now`: `now − ingestion delay`, floored to whole
    /// seconds (Log Analytics) or whole minutes (Azure Monitor, whose points are per minute).
    pub fn closed_window_end(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            MetricsSource::LogAnalytics(source) => source.closed_window_end(now),
            MetricsSource::AzureMonitor(source) => source.closed_window_end(now),
        }
    }

    /// True when the source delivers per-minute series to be judged with
    /// [`monitor::judge_series`] (Azure Monitor) rather than latency histograms for
    /// `judge::evaluate` (Log Analytics).
    pub fn judges_by_series(&self) -> bool {
        matches!(self, MetricsSource::AzureMonitor(_))
    }

    /// Short name for logs and the journal: `log_analytics` or `azure_monitor`.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricsSource::LogAnalytics(_) => "log_analytics",
            MetricsSource::AzureMonitor(_) => "azure_monitor",
        }
    }
}

/// `now − delay`, floored to a multiple of `granularity_s` seconds.
pub(crate) fn floor_end(
    now: OffsetDateTime,
    delay: Duration,
    granularity_s: i64,
) -> OffsetDateTime {
    let delay = time::Duration::try_from(delay).unwrap_or(time::Duration::MAX);
    let end = now.checked_sub(delay).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let seconds = end.unix_timestamp().div_euclid(granularity_s) * granularity_s;
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Checks what every source needs of a request.
pub(crate) fn check_request(request: &WindowRequest) -> Result<(), SourceError> {
    if request.end <= request.start {
        return Err(SourceError::InvalidRequest(format!(
            "window end {} is not after its start {}",
            kql::iso_utc(request.end),
            kql::iso_utc(request.start)
        )));
    }
    for (role, name) in [("baseline", &request.baseline), ("canary", &request.canary)] {
        if name.trim().is_empty() {
            return Err(SourceError::InvalidRequest(format!(
                "the {role} deployment name is empty"
            )));
        }
    }
    if request.baseline.eq_ignore_ascii_case(&request.canary) {
        return Err(SourceError::InvalidRequest(format!(
            "baseline and canary are the same deployment {:?}",
            request.baseline
        )));
    }
    Ok(())
}

/// Which arm a deployment name (any case) is, if either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    Baseline,
    Canary,
}

pub(crate) fn arm_of(request: &WindowRequest, name: &str) -> Option<Arm> {
    if name.eq_ignore_ascii_case(&request.baseline) {
        Some(Arm::Baseline)
    } else if name.eq_ignore_ascii_case(&request.canary) {
        Some(Arm::Canary)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn default_buckets_cover_sub_millisecond_to_minutes() {
        let buckets = default_buckets();
        assert_eq!(buckets.index_of(0.1), 0);
        assert!(buckets.upper_edge(buckets.len() - 1) > 300_000.0);
        // Neighbouring buckets are 2% apart.
        assert!((buckets.upper_edge(100) / buckets.lower_edge(100) - 1.02).abs() < 1e-12);
    }

    #[test]
    fn window_ends_are_floored() {
        let now = datetime!(2026-01-01 00:10:42.7 UTC);
        assert_eq!(
            floor_end(now, Duration::from_secs(120), 1),
            datetime!(2026-01-01 00:08:42 UTC)
        );
        assert_eq!(
            floor_end(now, Duration::from_secs(120), 60),
            datetime!(2026-01-01 00:08 UTC)
        );
    }
}
