//! What the judge sees at one look: one time window's counts for each arm, as the Log Analytics
//! source delivers them (a latency histogram over the shared log-spaced buckets of the KQL query,
//! plus request and error counts split by kind).
//!
//! An [`Observation`] holds the counts of **one window only** (windows do not overlap); the
//! judge accumulates them in its [`JudgeState`](super::evaluate::JudgeState).

use serde::{Deserialize, Serialize};

use super::histogram::LogBuckets;

/// One arm's counts in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmObservation {
    /// Request counts per latency bucket (same buckets for both arms).
    pub latency: Vec<f64>,
    /// All requests served in the window (including failed ones).
    pub requests: u64,
    /// Gateway 5xx responses not caused by the model (`ResponseCode` ≥ 500, `ModelStatusCode` < 500 or absent).
    pub errors_5xx: u64,
    /// Model errors (`ModelStatusCode` ≥ 500).
    pub model_errors: u64,
    /// Throttled requests (`ResponseCode` 429).
    pub throttled: u64,
}

/// Both arms' counts for one window `[window_start_unix_s, window_end_unix_s)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub window_start_unix_s: i64,
    pub window_end_unix_s: i64,
    pub buckets: LogBuckets,
    pub baseline: ArmObservation,
    pub canary: ArmObservation,
}

/// One request as a raw row (CLI input, tests, the simulator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestSample {
    pub latency_ms: f64,
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub model_status_code: Option<u16>,
}

impl RequestSample {
    pub fn ok(latency_ms: f64) -> Self {
        Self {
            latency_ms,
            status_code: Some(200),
            model_status_code: Some(200),
        }
    }
}

/// The error kinds the judge tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Gateway 5xx not caused by the model.
    #[serde(rename = "gateway_5xx")]
    Gateway5xx,
    /// The model itself failed (`ModelStatusCode` ≥ 500).
    Model,
    /// Throttling (429).
    Throttled,
    /// Gateway 5xx and model errors together (what "error rate" means for absolute checks).
    All,
}

impl ErrorKind {
    /// Classifies one request. A request counts in at most one kind; `All` is derived.
    pub fn of(sample: &RequestSample) -> Option<ErrorKind> {
        let model_failed = sample.model_status_code.is_some_and(|code| code >= 500);
        match sample.status_code {
            _ if model_failed => Some(ErrorKind::Model),
            Some(429) => Some(ErrorKind::Throttled),
            Some(code) if code >= 500 => Some(ErrorKind::Gateway5xx),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Gateway5xx => "gateway_5xx",
            ErrorKind::Model => "model",
            ErrorKind::Throttled => "throttled",
            ErrorKind::All => "all",
        }
    }
}

impl ArmObservation {
    /// Histograms raw samples over `buckets` and counts errors by kind.
    pub fn from_samples(buckets: &LogBuckets, samples: &[RequestSample]) -> Self {
        let mut arm = ArmObservation {
            latency: vec![0.0; buckets.len()],
            ..ArmObservation::default()
        };
        for sample in samples {
            arm.latency[buckets.index_of(sample.latency_ms)] += 1.0;
            arm.requests += 1;
            match ErrorKind::of(sample) {
                Some(ErrorKind::Gateway5xx) => arm.errors_5xx += 1,
                Some(ErrorKind::Model) => arm.model_errors += 1,
                Some(ErrorKind::Throttled) => arm.throttled += 1,
                Some(ErrorKind::All) | None => {}
            }
        }
        arm
    }

    /// Errors of one kind.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        match kind {
            ErrorKind::Gateway5xx => self.errors_5xx,
            ErrorKind::Model => self.model_errors,
            ErrorKind::Throttled => self.throttled,
            ErrorKind::All => self.errors_5xx + self.model_errors,
        }
    }

    /// Adds another window's counts (histograms must share buckets).
    pub fn accumulate(&mut self, other: &ArmObservation) {
        self.grow_latency(other.latency.len());
        for (total, count) in self.latency.iter_mut().zip(&other.latency) {
            *total += count;
        }
        self.accumulate_counts(other);
    }

    /// Extends the latency histogram with empty bins to at least `bins` bins (the first step
    /// of [`ArmObservation::accumulate`]).
    pub(crate) fn grow_latency(&mut self, bins: usize) {
        if self.latency.len() < bins {
            self.latency.resize(bins, 0.0);
        }
    }

    /// Adds another window's request and error counts (the part of
    /// [`ArmObservation::accumulate`] outside the latency histogram).
    pub(crate) fn accumulate_counts(&mut self, other: &ArmObservation) {
        self.requests += other.requests;
        self.errors_5xx += other.errors_5xx;
        self.model_errors += other.model_errors;
        self.throttled += other.throttled;
    }

    /// Requests in the latency histogram.
    pub fn latency_count(&self) -> f64 {
        self.latency.iter().sum()
    }
}

impl Observation {
    /// Builds one window's observation from raw request samples of each arm.
    pub fn from_samples(
        buckets: LogBuckets,
        window_start_unix_s: i64,
        window_end_unix_s: i64,
        baseline: &[RequestSample],
        canary: &[RequestSample],
    ) -> Self {
        let baseline = ArmObservation::from_samples(&buckets, baseline);
        let canary = ArmObservation::from_samples(&buckets, canary);
        Observation {
            window_start_unix_s,
            window_end_unix_s,
            buckets,
            baseline,
            canary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(latency_ms: f64, status: u16, model: Option<u16>) -> RequestSample {
        RequestSample {
            latency_ms,
            status_code: Some(status),
            model_status_code: model,
        }
    }

    #[test]
    fn errors_are_split_by_kind() {
        assert_eq!(
            ErrorKind::of(&sample(1.0, 500, Some(500))),
            Some(ErrorKind::Model)
        );
        assert_eq!(
            ErrorKind::of(&sample(1.0, 502, None)),
            Some(ErrorKind::Gateway5xx)
        );
        assert_eq!(
            ErrorKind::of(&sample(1.0, 429, None)),
            Some(ErrorKind::Throttled)
        );
        assert_eq!(ErrorKind::of(&sample(1.0, 200, Some(200))), None);
    }

    #[test]
    fn from_samples_counts_every_request_once() {
        let buckets = LogBuckets::new(1.0, 1.05, 200).expect("valid buckets");
        let samples = [
            sample(10.0, 200, Some(200)),
            sample(20.0, 500, Some(503)),
            sample(30.0, 503, None),
            sample(40.0, 429, None),
        ];
        let arm = ArmObservation::from_samples(&buckets, &samples);
        assert_eq!(arm.requests, 4);
        assert_eq!((arm.errors_5xx, arm.model_errors, arm.throttled), (1, 1, 1));
        assert_eq!(arm.latency_count(), 4.0);
        assert_eq!(arm.errors(ErrorKind::All), 2);
        let mut total = arm.clone();
        total.accumulate(&arm);
        assert_eq!(total.requests, 8);
        assert_eq!(total.latency_count(), 8.0);
    }
}
