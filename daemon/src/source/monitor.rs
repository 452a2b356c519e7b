//! The Azure Monitor source: the endpoint's platform metrics, per minute, by deployment.
//!
//! Azure Monitor only has per-minute aggregates (percentiles, counts), never the requests
//! themselves, so a window becomes one point per minute per arm of each series in
//! [`MONITOR_SERIES`], and the judging is Kayenta-style over those series ([`judge_series`]).
//! The sequential tests (rank shift, quantile confidence sequences, error e-processes) need
//! request-level latencies: use the Log Analytics source for them.
//!
//! Two requests per window (a metric may only be split by dimensions it has):
//! 1. `RequestLatency` (mean) and `RequestLatency_P50/P90/P95/P99`, `aggregation=Average`,
//!    split by `deployment`;
//! 2. `RequestsPerMinute`, `aggregation=Total`, split by `deployment`, `statusCode` and
//!    `modelStatusCode`: the status code alone cannot tell a model error (424 + model 500)
//!    from throttling (429), both `4xx`, so each series is classified exactly as the judge
//!    classifies a request (`judge::ErrorKind::of`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::log_analytics::arm_totals;
use super::{
    Arm, Freshness, SourceError, WindowObservation, WindowRequest, arm_of, check_request, floor_end,
};
use crate::azure::monitor::{MetricsClient, MetricsQuery, MetricsResponse};
use crate::judge::evaluate::kayenta_verdict;
use crate::judge::kayenta::{self, KayentaConfig, MetricSeries};
use crate::judge::observation::{ArmObservation, ErrorKind, Observation, RequestSample};
use crate::judge::verdict::{Outcome, Verdict};

const API: &str = "Azure Monitor";

/// The series this source delivers, one point per minute per arm (names as the Kayenta judge
/// knows them, see `judge::evaluate::KAYENTA_SERIES`).
pub const MONITOR_SERIES: &[&str] = &[
    "latency_mean",
    "latency_p50",
    "latency_p90",
    "latency_p95",
    "latency_p99",
    "requests",
    "error_rate",
    "gateway_5xx_rate",
    "model_error_rate",
    "throttle_rate",
];

/// Latency metrics and the series each one feeds.
const LATENCY_METRICS: &[(&str, &str)] = &[
    ("RequestLatency", "latency_mean"),
    ("RequestLatency_P50", "latency_p50"),
    ("RequestLatency_P90", "latency_p90"),
    ("RequestLatency_P95", "latency_p95"),
    ("RequestLatency_P99", "latency_p99"),
];

const REQUESTS_METRIC: &str = "RequestsPerMinute";

/// Series per metric allowed in an answer; an answer with this many may have been cut, so it
/// is refused rather than undercounted.
const TOP: u32 = 200;

/// Reads windows from the metrics of the endpoint.
#[derive(Debug, Clone)]
pub struct AzureMonitorSource {
    client: MetricsClient,
    ingestion_delay: Duration,
}

/// One arm's per-minute values.
#[derive(Debug, Clone, Default)]
struct MinuteCounts {
    requests: f64,
    gateway_5xx: f64,
    model: f64,
    throttled: f64,
}

impl AzureMonitorSource {
    pub fn new(client: MetricsClient, ingestion_delay: Duration) -> Self {
        Self {
            client,
            ingestion_delay,
        }
    }

    /// `now − ingestion delay`, floored to the minute (points are per minute).
    pub fn closed_window_end(&self, now: OffsetDateTime) -> OffsetDateTime {
        floor_end(now, self.ingestion_delay, 60)
    }

    /// The two requests of a window.
    pub fn queries_for(&self, request: &WindowRequest) -> [MetricsQuery; 2] {
        let deployments = format!(
            "(deployment eq '{}' or deployment eq '{}')",
            odata_value(&request.baseline),
            odata_value(&request.canary)
        );
        let base = MetricsQuery {
            resource_id: request.endpoint.resource_id(),
            metric_names: LATENCY_METRICS.iter().map(|(m, _)| m.to_string()).collect(),
            start: request.start,
            end: request.end,
            interval: "PT1M".into(),
            aggregations: vec!["Average".into()],
            filter: Some(deployments.clone()),
            top: Some(TOP),
        };
        let requests = MetricsQuery {
            metric_names: vec![REQUESTS_METRIC.into()],
            aggregations: vec!["Total".into()],
            filter: Some(format!(
                "{deployments} and statusCode eq '*' and modelStatusCode eq '*'"
            )),
            ..base.clone()
        };
        [base, requests]
    }

    /// Reads the window's per-minute metrics. Every failure is a [`SourceError`].
    pub async fn observe(&self, request: &WindowRequest) -> Result<WindowObservation, SourceError> {
        check_request(request)?;
        let [latency_query, requests_query] = self.queries_for(request);
        let query = format!(
            "GET {}\nGET {}",
            self.client.url(&latency_query),
            self.client.url(&requests_query)
        );
        let latency = self
            .client
            .get(&latency_query)
            .await
            .map_err(|e| SourceError::azure(API, e))?;
        let requests = self
            .client
            .get(&requests_query)
            .await
            .map_err(|e| SourceError::azure(API, e))?;
        let mapped = map_metrics(request, &latency, &requests)?;
        tracing::debug!(
            endpoint = %request.endpoint,
            baseline = %request.baseline,
            canary = %request.canary,
            freshness = mapped.freshness.label(),
            baseline_requests = mapped.observation.baseline.requests,
            canary_requests = mapped.observation.canary.requests,
            "Azure Monitor window observed"
        );
        Ok(WindowObservation {
            observation: mapped.observation,
            freshness: mapped.freshness,
            query,
            raw_counts: mapped.raw_counts,
            series: mapped.series,
        })
    }
}

/// A value inside an OData string literal ('' escapes a quote).
fn odata_value(value: &str) -> String {
    value.replace('\'', "''")
}

/// The mapped answers of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedMetrics {
    pub observation: Observation,
    pub freshness: Freshness,
    pub raw_counts: serde_json::Value,
    pub series: Vec<MetricSeries>,
}

/// Maps the latency and request-count answers of a window to per-minute series and counts.
pub fn map_metrics(
    request: &WindowRequest,
    latency: &MetricsResponse,
    requests: &MetricsResponse,
) -> Result<MappedMetrics, SourceError> {
    let malformed = |detail: String| SourceError::Malformed { api: API, detail };
    // Minute slots of the window, by the minute's start (unix seconds).
    let first = request.start.unix_timestamp().div_euclid(60) * 60;
    let end = request.end.unix_timestamp();
    let minutes: Vec<i64> = (0..)
        .map(|i| first + 60 * i)
        .take_while(|t| *t < end)
        .collect();
    let slot = |at: Option<OffsetDateTime>, metric: &str| -> Result<Option<usize>, SourceError> {
        let at = at.ok_or_else(|| malformed(format!("{metric} has a point without timeStamp")))?;
        Ok(minutes
            .binary_search(&(at.unix_timestamp().div_euclid(60) * 60))
            .ok())
    };
    let arm_index = |name: Option<&str>, metric: &str| -> Result<usize, SourceError> {
        let name = name.ok_or_else(|| {
            malformed(format!(
                "{metric} has a series without the deployment dimension"
            ))
        })?;
        match arm_of(request, name) {
            Some(Arm::Baseline) => Ok(0),
            Some(Arm::Canary) => Ok(1),
            None => Err(SourceError::UnknownDeployment {
                api: API,
                found: name.to_string(),
                baseline: request.baseline.clone(),
                canary: request.canary.clone(),
            }),
        }
    };

    // Latency series: [series][arm][minute].
    let mut latency_points: BTreeMap<&str, [Vec<f64>; 2]> = BTreeMap::new();
    for (metric_name, series_name) in LATENCY_METRICS {
        let metric = latency
            .metric(metric_name)
            .ok_or_else(|| malformed(format!("the answer has no {metric_name} metric")))?;
        check_top(metric.timeseries.len(), metric_name)?;
        let mut arms = [vec![f64::NAN; minutes.len()], vec![f64::NAN; minutes.len()]];
        for series in &metric.timeseries {
            let arm = arm_index(series.dimension("deployment"), metric_name)?;
            for point in &series.points {
                if let (Some(i), Some(value)) = (slot(point.time, metric_name)?, point.average) {
                    arms[arm][i] = value;
                }
            }
        }
        latency_points.insert(series_name, arms);
    }

    // Request counts by kind: [arm][minute].
    let metric = requests
        .metric(REQUESTS_METRIC)
        .ok_or_else(|| malformed(format!("the answer has no {REQUESTS_METRIC} metric")))?;
    check_top(metric.timeseries.len(), REQUESTS_METRIC)?;
    let mut counts = [
        vec![MinuteCounts::default(); minutes.len()],
        vec![MinuteCounts::default(); minutes.len()],
    ];
    for series in &metric.timeseries {
        let arm = arm_index(series.dimension("deployment"), REQUESTS_METRIC)?;
        let code = |dimension: &str| -> Result<Option<u16>, SourceError> {
            match series.dimension(dimension).map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => text.parse::<u16>().map(Some).map_err(|_| {
                    malformed(format!(
                        "{REQUESTS_METRIC} has {dimension} {text:?}, not an HTTP status code"
                    ))
                }),
            }
        };
        let kind = ErrorKind::of(&RequestSample {
            latency_ms: 0.0,
            status_code: code("statusCode")?,
            model_status_code: code("modelStatusCode")?,
        });
        for point in &series.points {
            let Some(i) = slot(point.time, REQUESTS_METRIC)? else {
                continue;
            };
            let Some(total) = point.total else { continue };
            if !(total.is_finite() && total >= 0.0) {
                return Err(malformed(format!(
                    "{REQUESTS_METRIC} total {total} is not a count"
                )));
            }
            let minute = &mut counts[arm][i];
            minute.requests += total;
            match kind {
                Some(ErrorKind::Gateway5xx) => minute.gateway_5xx += total,
                Some(ErrorKind::Model) => minute.model += total,
                Some(ErrorKind::Throttled) => minute.throttled += total,
                Some(ErrorKind::All) | None => {}
            }
        }
    }

    // Series, one point per minute per arm.
    let rate = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { f64::NAN };
    let per_minute = |f: &dyn Fn(&MinuteCounts) -> f64| -> [Vec<f64>; 2] {
        [
            counts[0].iter().map(f).collect(),
            counts[1].iter().map(f).collect(),
        ]
    };
    let mut series = Vec::with_capacity(MONITOR_SERIES.len());
    for name in MONITOR_SERIES {
        let [baseline, canary] = match *name {
            "requests" => per_minute(&|m| m.requests),
            "error_rate" => per_minute(&|m| rate(m.gateway_5xx + m.model, m.requests)),
            "gateway_5xx_rate" => per_minute(&|m| rate(m.gateway_5xx, m.requests)),
            "model_error_rate" => per_minute(&|m| rate(m.model, m.requests)),
            "throttle_rate" => per_minute(&|m| rate(m.throttled, m.requests)),
            latency_name => latency_points
                .get(latency_name)
                .cloned()
                .unwrap_or_else(|| [vec![f64::NAN; minutes.len()], vec![f64::NAN; minutes.len()]]),
        };
        series.push(MetricSeries {
            name: name.to_string(),
            baseline,
            canary,
        });
    }

    // The window's totals for the judge's error checks; no latency histogram from here.
    let totals = |arm: &[MinuteCounts]| ArmObservation {
        latency: vec![0.0; request.buckets.len()],
        requests: arm.iter().map(|m| m.requests).sum::<f64>().round() as u64,
        errors_5xx: arm.iter().map(|m| m.gateway_5xx).sum::<f64>().round() as u64,
        model_errors: arm.iter().map(|m| m.model).sum::<f64>().round() as u64,
        throttled: arm.iter().map(|m| m.throttled).sum::<f64>().round() as u64,
    };
    let (baseline, canary) = (totals(&counts[0]), totals(&counts[1]));
    // Metrics carry no ingestion marker: a closed window counts as ingested.
    let freshness = request.freshness(true, baseline.requests, canary.requests);
    let raw_counts = json!({
        "source": "azure_monitor",
        "window_start": super::kql::iso_utc(request.start),
        "window_end": super::kql::iso_utc(request.end),
        "freshness": freshness.label(),
        "minutes": minutes.len(),
        "baseline": arm_totals(&request.baseline, &baseline),
        "canary": arm_totals(&request.canary, &canary),
    });
    Ok(MappedMetrics {
        observation: Observation {
            window_start_unix_s: request.start.unix_timestamp(),
            window_end_unix_s: request.end.unix_timestamp(),
            buckets: request.buckets.clone(),
            baseline,
            canary,
        },
        freshness,
        raw_counts,
        series,
    })
}

fn check_top(count: usize, metric: &str) -> Result<(), SourceError> {
    if count >= TOP as usize {
        return Err(SourceError::Malformed {
            api: API,
            detail: format!(
                "{metric} came back with {count} series, the most a request asks for: the answer may be cut short"
            ),
        });
    }
    Ok(())
}

/// Appends one window's per-minute series to the rollout's accumulated series (by name).
pub fn append_series(accumulated: &mut Vec<MetricSeries>, window: &[MetricSeries]) {
    for series in window {
        match accumulated.iter_mut().find(|s| s.name == series.name) {
            Some(existing) => {
                existing.baseline.extend_from_slice(&series.baseline);
                existing.canary.extend_from_slice(&series.canary);
            }
            None => accumulated.push(series.clone()),
        }
    }
}

/// Judges the per-minute series accumulated so far with Kayenta's judge, mapped to a
/// [`Verdict`] as `judge::evaluate` maps its Kayenta method: score Fail → Regressed,
/// Marginal → Inconclusive, Pass → Safe; every metric without data → NoData. Series the
/// config does not name are ignored; a configured metric Azure Monitor cannot supply makes the
/// verdict Inconclusive with the reason (never a pass).
pub fn judge_series(config: &KayentaConfig, series: &[MetricSeries]) -> Verdict {
    let inconclusive = |summary: String| Verdict {
        overall: Outcome::Inconclusive,
        checks: Vec::new(),
        summary,
    };
    if let Some(missing) = config
        .metrics
        .iter()
        .find(|m| !MONITOR_SERIES.contains(&m.name.as_str()))
    {
        return inconclusive(format!(
            "INCONCLUSIVE: Kayenta metric '{}' cannot be computed from Azure Monitor's per-minute metrics; use one of {} (or the Log Analytics source)",
            missing.name,
            MONITOR_SERIES.join(", ")
        ));
    }
    let configured: Vec<MetricSeries> = series
        .iter()
        .filter(|s| config.metrics.iter().any(|m| m.name == s.name))
        .cloned()
        .collect();
    let result = match kayenta::judge(config, &configured) {
        Ok(result) => result,
        Err(error) => {
            return inconclusive(format!("INCONCLUSIVE: the Kayenta judge refused: {error}"));
        }
    };
    let points = |name: &str| -> (u64, u64) {
        configured
            .iter()
            .find(|s| s.name == name)
            .map(|s| {
                let present = |v: &[f64]| v.iter().filter(|x| x.is_finite()).count() as u64;
                (present(&s.baseline), present(&s.canary))
            })
            .unwrap_or((0, 0))
    };
    let minutes = configured
        .iter()
        .map(|s| s.baseline.len().max(s.canary.len()))
        .max()
        .unwrap_or(0);
    kayenta_verdict(
        config,
        &result,
        points,
        &format!("{minutes} one-minute points from Azure Monitor"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KayentaConfig {
        KayentaConfig::from_yaml_str(
            "metrics:\n  - name: latency_p99\n    groups: [latency]\n    analysisConfigurations:\n      canary: {direction: increase}\n  - name: error_rate\n    groups: [errors]\n    analysisConfigurations:\n      canary: {direction: increase}\nclassifier:\n  groupWeights: {latency: 50, errors: 50}\n  scoreThresholds: {pass: 75, marginal: 60}\n",
        )
        .expect("valid config")
    }

    fn series(name: &str, baseline: f64, canary: f64, n: usize) -> MetricSeries {
        // Small deterministic wiggle so the rank test has spread.
        let wiggle = |base: f64| {
            (0..n)
                .map(|i| base * (1.0 + 0.01 * ((i * 7 % 5) as f64 - 2.0)))
                .collect()
        };
        MetricSeries {
            name: name.into(),
            baseline: wiggle(baseline),
            canary: wiggle(canary),
        }
    }

    #[test]
    fn slow_canary_fails_and_equal_passes() {
        let mut accumulated = Vec::new();
        for _ in 0..3 {
            append_series(
                &mut accumulated,
                &[
                    series("latency_p99", 100.0, 200.0, 10),
                    series("error_rate", 0.01, 0.01, 10),
                    series("requests", 100.0, 10.0, 10),
                ],
            );
        }
        assert_eq!(accumulated[0].canary.len(), 30);
        let verdict = judge_series(&config(), &accumulated);
        assert_eq!(verdict.overall, Outcome::Regressed, "{}", verdict.summary);
        assert!(
            verdict
                .checks
                .iter()
                .any(|c| c.name == "kayenta_latency_p99"
                    && c.outcome == Outcome::Regressed
                    && c.n_canary == 30)
        );
        let same = judge_series(
            &config(),
            &[
                series("latency_p99", 100.0, 100.0, 30),
                series("error_rate", 0.01, 0.01, 30),
            ],
        );
        assert_eq!(same.overall, Outcome::Safe, "{}", same.summary);
    }

    #[test]
    fn unavailable_metric_is_inconclusive_not_a_pass() {
        let config = KayentaConfig::from_yaml_str(
            "metrics:\n  - name: latency_p99.9\n    groups: [latency]\nclassifier:\n  scoreThresholds: {pass: 75, marginal: 50}\n",
        )
        .expect("valid config");
        let verdict = judge_series(&config, &[series("latency_p99", 1.0, 1.0, 5)]);
        assert_eq!(verdict.overall, Outcome::Inconclusive);
        assert!(
            verdict.summary.contains("latency_p99.9"),
            "{}",
            verdict.summary
        );
    }
}
