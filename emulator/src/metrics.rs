//! The Azure Monitor metrics API for online endpoints (and their deployments), computed from
//! the emulated request log:
//! `GET {resourceId}/providers/Microsoft.Insights/metrics?api-version=2024-02-01&metricnames=…
//! &timespan=start/end&interval=PT1M&aggregation=Average&$filter=deployment eq '*'`.
//!
//! Platform metrics are one-minute samples: `RequestLatency_Pxx` is the percentile of the
//! minute's `TotalDurationMs` (nearest rank), `RequestsPerMinute` the minute's request count.
//! A coarser interval aggregates those minute samples (average, total, count, maximum,
//! minimum over the minutes that had data); `RequestLatency` aggregates the requests
//! themselves. Rows become visible after the same ingestion delay as in Log Analytics
//! (`settings.ingestion_delay_s`; lag-spike faults are not applied to metrics).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::arm::{ArmFailure, QueryParams};
use crate::clock::{from_unix_us, rfc3339};
use crate::logstore::LogSnapshot;
use crate::model::EndpointKey;
use crate::state::EmulatorState;

/// api-versions of `Microsoft.Insights/metrics` the emulator accepts, newest first.
pub const METRICS_API_VERSIONS: &[&str] = &[
    "2024-02-01",
    "2023-10-01",
    "2021-05-01",
    "2019-07-01",
    "2018-01-01",
];

/// Azure Monitor answers at most this many metric names per request.
pub const MAX_METRIC_NAMES: usize = 20;
/// Time series per metric when the request gives no `top`.
const DEFAULT_TOP: usize = 10;
const ENDPOINT_NAMESPACE: &str = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints";
const DEPLOYMENT_NAMESPACE: &str =
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments";

#[derive(Debug, Clone, Copy, PartialEq)]
enum MetricKind {
    /// Per-request latency.
    Latency,
    /// A per-minute percentile of latency.
    LatencyPercentile(f64),
    /// Per-minute request count.
    RequestsPerMinute,
}

#[derive(Debug)]
struct MetricDef {
    name: &'static str,
    localized: &'static str,
    description: &'static str,
    unit: &'static str,
    kind: MetricKind,
    dimensions: &'static [Dimension],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dimension {
    Deployment,
    StatusCode,
    StatusCodeClass,
    ModelStatusCode,
}

impl Dimension {
    const ALL: [Dimension; 4] = [
        Self::Deployment,
        Self::StatusCode,
        Self::StatusCodeClass,
        Self::ModelStatusCode,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Deployment => "deployment",
            Self::StatusCode => "statusCode",
            Self::StatusCodeClass => "statusCodeClass",
            Self::ModelStatusCode => "modelStatusCode",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }
}

const LATENCY_DIMENSIONS: &[Dimension] = &[Dimension::Deployment];
const REQUEST_DIMENSIONS: &[Dimension] = &Dimension::ALL;

const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "RequestLatency",
        localized: "Request Latency",
        description: "The complete interval of time taken for a request to be responded",
        unit: "MilliSeconds",
        kind: MetricKind::Latency,
        dimensions: LATENCY_DIMENSIONS,
    },
    MetricDef {
        name: "RequestLatency_P50",
        localized: "Request Latency P50",
        description: "The median request latency, per minute",
        unit: "MilliSeconds",
        kind: MetricKind::LatencyPercentile(50.0),
        dimensions: LATENCY_DIMENSIONS,
    },
    MetricDef {
        name: "RequestLatency_P90",
        localized: "Request Latency P90",
        description: "The 90th percentile of request latency, per minute",
        unit: "MilliSeconds",
        kind: MetricKind::LatencyPercentile(90.0),
        dimensions: LATENCY_DIMENSIONS,
    },
    MetricDef {
        name: "RequestLatency_P95",
        localized: "Request Latency P95",
        description: "The 95th percentile of request latency, per minute",
        unit: "MilliSeconds",
        kind: MetricKind::LatencyPercentile(95.0),
        dimensions: LATENCY_DIMENSIONS,
    },
    MetricDef {
        name: "RequestLatency_P99",
        localized: "Request Latency P99",
        description: "The 99th percentile of request latency, per minute",
        unit: "MilliSeconds",
        kind: MetricKind::LatencyPercentile(99.0),
        dimensions: LATENCY_DIMENSIONS,
    },
    MetricDef {
        name: "RequestsPerMinute",
        localized: "Requests Per Minute",
        description: "The number of requests sent to the online endpoint within a minute",
        unit: "Count",
        kind: MetricKind::RequestsPerMinute,
        dimensions: REQUEST_DIMENSIONS,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregation {
    Average,
    Total,
    Count,
    Maximum,
    Minimum,
}

impl Aggregation {
    const ALL: [Aggregation; 5] = [
        Self::Average,
        Self::Total,
        Self::Count,
        Self::Maximum,
        Self::Minimum,
    ];

    fn field(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Total => "total",
            Self::Count => "count",
            Self::Maximum => "maximum",
            Self::Minimum => "minimum",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.field().eq_ignore_ascii_case(name.trim()))
    }
}

/// One `$filter` clause: a dimension split by all values (`'*'`) or restricted to some.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DimensionFilter {
    dimension: Dimension,
    /// Lower-cased; `None` means every value (`'*'`).
    values: Option<Vec<String>>,
}

fn bad_request(message: impl Into<String>) -> ArmFailure {
    ArmFailure::bad_request(message, None)
}

/// Parses `dim eq 'v' and (dim2 eq 'a' or dim2 eq 'b')`.
fn parse_filter(filter: &str) -> Result<Vec<DimensionFilter>, ArmFailure> {
    let mut filters: Vec<DimensionFilter> = Vec::new();
    for clause in split_keyword(filter, "and") {
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        let mut dimension = None;
        let mut values: Option<Vec<String>> = Some(Vec::new());
        for term in split_keyword(clause, "or") {
            let term = term
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim();
            let mut parts = term.splitn(3, ' ');
            let (Some(name), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad_request(format!(
                    "Invalid $filter term '{term}': expected \"<dimension> eq '<value>'\"."
                )));
            };
            if !op.eq_ignore_ascii_case("eq") {
                return Err(bad_request(format!(
                    "Invalid $filter operator '{op}' in '{term}': only 'eq' is supported."
                )));
            }
            let value = value.trim();
            let Some(value) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
                return Err(bad_request(format!(
                    "Invalid $filter value {value} in '{term}': values are quoted with '."
                )));
            };
            let dim = Dimension::parse(name)
                .ok_or_else(|| bad_request(format!("Unknown dimension '{name}' in $filter.")))?;
            if dimension.is_some_and(|d| d != dim) {
                return Err(bad_request(format!(
                    "Invalid $filter clause '{clause}': 'or' joins values of one dimension."
                )));
            }
            dimension = Some(dim);
            if value == "*" {
                values = None;
            } else if let Some(v) = values.as_mut() {
                v.push(value.to_ascii_lowercase());
            }
        }
        let Some(dimension) = dimension else {
            return Err(bad_request("Empty $filter clause."));
        };
        if filters.iter().any(|f| f.dimension == dimension) {
            return Err(bad_request(format!(
                "Dimension '{}' appears twice in $filter.",
                dimension.name()
            )));
        }
        filters.push(DimensionFilter { dimension, values });
    }
    Ok(filters)
}

/// Splits on a keyword surrounded by whitespace, case-insensitively, outside quotes.
fn split_keyword<'a>(text: &'a str, keyword: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i, mut quoted) = (0, 0, false);
    let k = keyword.len();
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted
            && bytes[i].is_ascii_whitespace()
            && i + 1 + k < bytes.len()
            && text[i + 1..i + 1 + k].eq_ignore_ascii_case(keyword)
            && bytes[i + 1 + k].is_ascii_whitespace()
        {
            parts.push(&text[start..i]);
            i += 1 + k;
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

/// `start/end`, `start/duration`, `duration/end` or a duration ending now, parsed as the Log
/// Analytics API parses its `timespan`; an hour ending now when absent.
fn parse_timespan(
    text: Option<&str>,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), ArmFailure> {
    let Some(text) = text else {
        return Ok((now - time::Duration::hours(1), now));
    };
    let (from_us, until_us) = crate::loganalytics::parse_timespan(text, now).map_err(|_| {
        bad_request(format!(
            "Invalid timespan '{text}': use 'start/end' in ISO 8601 (e.g. 2026-01-01T00:00:00Z/2026-01-01T00:15:00Z) or a duration such as PT1H."
        ))
    })?;
    let (start, end) = (from_unix_us(from_us), from_unix_us(until_us));
    if end <= start {
        return Err(bad_request(format!(
            "Invalid timespan '{text}': the end must be after the start."
        )));
    }
    Ok((start, end))
}

/// Time grains Azure Monitor offers (seconds); `FULL` is the whole timespan.
const TIME_GRAINS: &[(&str, i64)] = &[
    ("PT1M", 60),
    ("PT5M", 300),
    ("PT15M", 900),
    ("PT30M", 1_800),
    ("PT1H", 3_600),
    ("PT6H", 21_600),
    ("PT12H", 43_200),
    ("P1D", 86_400),
];

/// Nearest-rank percentile of sorted values, as the KQL engine computes `percentile()`.
fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    sorted
        .get(crate::kql::nearest_rank_index(sorted.len(), p))
        .map(|v| f64::from(*v))
}

/// Per minute (unix seconds of its start), the latencies of the requests in it.
type MinuteSamples = BTreeMap<i64, Vec<u32>>;
/// Series by their dimension values.
type SeriesData = BTreeMap<Vec<String>, MinuteSamples>;

struct MetricsRequest {
    metrics: Vec<&'static MetricDef>,
    /// Average unless the request names others.
    aggregations: Vec<Aggregation>,
    start: OffsetDateTime,
    end: OffsetDateTime,
    interval_label: String,
    /// Bucket length in seconds.
    interval_s: i64,
    full: bool,
    filters: Vec<DimensionFilter>,
    top: usize,
}

fn parse_request(
    params: &QueryParams,
    now: OffsetDateTime,
    deployment_scope: bool,
) -> Result<MetricsRequest, ArmFailure> {
    let names = params
        .get("metricnames")
        .map(|n| {
            n.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Err(bad_request(
            "The 'metricnames' query parameter is required.",
        ));
    }
    if names.len() > MAX_METRIC_NAMES {
        return Err(bad_request(format!(
            "Requested {} metrics; at most {MAX_METRIC_NAMES} metric names are allowed per request.",
            names.len()
        )));
    }
    let valid = || {
        METRICS
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let namespace = if deployment_scope {
        DEPLOYMENT_NAMESPACE
    } else {
        ENDPOINT_NAMESPACE
    };
    let mut metrics = Vec::with_capacity(names.len());
    for name in names {
        let def = METRICS
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                bad_request(format!(
                    "Failed to find metric configuration for provider: Microsoft.MachineLearningServices, resource type: {namespace}, metric: {name}. Valid metrics: {}",
                    valid()
                ))
            })?;
        metrics.push(def);
    }
    let aggregations = match params.get("aggregation") {
        None | Some("") => vec![Aggregation::Average],
        Some(list) => {
            let mut out = Vec::new();
            for name in list.split(',') {
                let a = Aggregation::parse(name).ok_or_else(|| {
                    bad_request(format!(
                        "Invalid aggregation '{name}': use Average, Total, Count, Maximum or Minimum."
                    ))
                })?;
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            out
        }
    };
    let (start, end) = parse_timespan(params.get("timespan"), now)?;
    let interval = params.get("interval").unwrap_or("PT1M");
    let (interval_label, interval_s, full) = if interval.eq_ignore_ascii_case("FULL") {
        (
            "FULL".to_string(),
            (end - start).whole_seconds().max(1),
            true,
        )
    } else {
        let (label, seconds) = TIME_GRAINS
            .iter()
            .find(|(label, _)| label.eq_ignore_ascii_case(interval))
            .ok_or_else(|| {
                bad_request(format!(
                    "Invalid interval '{interval}': supported time grains are {} and FULL.",
                    TIME_GRAINS
                        .iter()
                        .map(|(l, _)| *l)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        (label.to_string(), *seconds, false)
    };
    let filters = match params.get("$filter") {
        None | Some("") => Vec::new(),
        Some(f) => parse_filter(f)?,
    };
    for f in &filters {
        if deployment_scope && f.dimension == Dimension::Deployment {
            return Err(bad_request(
                "Deployment metrics have no 'deployment' dimension: the resource is the deployment.",
            ));
        }
        if let Some(m) = metrics
            .iter()
            .find(|m| !m.dimensions.contains(&f.dimension))
        {
            return Err(bad_request(format!(
                "Metric: {} does not support requested dimension combination: {}, supported ones are: {}",
                m.name,
                f.dimension.name(),
                m.dimensions
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
    }
    let top = match params.get("top") {
        None => DEFAULT_TOP,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| bad_request(format!("Invalid top '{t}'.")))?,
    };
    Ok(MetricsRequest {
        metrics,
        aggregations,
        start,
        end,
        interval_label,
        interval_s,
        full,
        filters,
        top,
    })
}

fn dimension_value(snapshot: &LogSnapshot, row: &crate::model::RequestRow, d: Dimension) -> String {
    match d {
        Dimension::Deployment => snapshot.string(row.deployment).to_ascii_lowercase(),
        Dimension::StatusCode => row.response_code.to_string(),
        Dimension::StatusCodeClass => format!("{}xx", row.response_code / 100),
        Dimension::ModelStatusCode => row.model_status_code.to_string(),
    }
}

/// Collects the visible rows of the endpoint (and deployment) in the timespan, split by the
/// filter's dimensions, per minute.
fn collect(
    snapshot: &LogSnapshot,
    endpoint_name: &str,
    deployment: Option<&str>,
    request: &MetricsRequest,
    visible_before_us: i64,
) -> SeriesData {
    let start_us = request.start.unix_timestamp() * 1_000_000;
    let end_us = (request.end.unix_timestamp() * 1_000_000).min(visible_before_us);
    let endpoint_ids: Vec<u32> = snapshot
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| e.endpoint_name.eq_ignore_ascii_case(endpoint_name))
        .map(|(i, _)| i as u32)
        .collect();
    let mut data = SeriesData::new();
    for row in snapshot.rows() {
        if row.time_us < start_us || row.time_us >= end_us || !endpoint_ids.contains(&row.endpoint)
        {
            continue;
        }
        if let Some(d) = deployment
            && !snapshot.string(row.deployment).eq_ignore_ascii_case(d)
        {
            continue;
        }
        let mut key = Vec::with_capacity(request.filters.len());
        let mut keep = true;
        for f in &request.filters {
            let v = dimension_value(snapshot, row, f.dimension);
            if f.values.as_ref().is_some_and(|vals| !vals.contains(&v)) {
                keep = false;
                break;
            }
            key.push(v);
        }
        if !keep {
            continue;
        }
        let minute = row.time_us.div_euclid(60_000_000) * 60;
        data.entry(key)
            .or_default()
            .entry(minute)
            .or_default()
            .push(row.total_duration_ms);
    }
    data
}

/// Aggregates one bucket of one series; `None` when the bucket has no data.
fn aggregate(
    kind: MetricKind,
    minutes: &mut dyn Iterator<Item = &Vec<u32>>,
    aggregation: Aggregation,
) -> Option<f64> {
    let samples: Vec<f64> = match kind {
        MetricKind::Latency => minutes.flatten().map(|v| f64::from(*v)).collect(),
        MetricKind::RequestsPerMinute => minutes.map(|m| m.len() as f64).collect(),
        MetricKind::LatencyPercentile(p) => minutes
            .filter_map(|m| {
                let mut sorted = m.clone();
                sorted.sort_unstable();
                percentile(&sorted, p)
            })
            .collect(),
    };
    if samples.is_empty() {
        return None;
    }
    let total: f64 = samples.iter().sum();
    Some(match aggregation {
        Aggregation::Average => total / samples.len() as f64,
        Aggregation::Total => total,
        Aggregation::Count => samples.len() as f64,
        Aggregation::Maximum => samples.iter().copied().fold(f64::MIN, f64::max),
        Aggregation::Minimum => samples.iter().copied().fold(f64::MAX, f64::min),
    })
}

fn build_response(
    request: &MetricsRequest,
    data: &SeriesData,
    resource_id: &str,
    namespace: &str,
    location: &str,
) -> Value {
    let first = if request.full {
        request.start.unix_timestamp()
    } else {
        request
            .start
            .unix_timestamp()
            .div_euclid(request.interval_s)
            * request.interval_s
    };
    let end = request.end.unix_timestamp();
    let buckets: Vec<i64> = (0..)
        .map(|i| first + i * request.interval_s)
        .take_while(|t| *t < end)
        .collect();
    // Most requests first, as Azure orders series by default; ties by dimension values.
    let mut series: Vec<(&Vec<String>, &MinuteSamples)> = data.iter().collect();
    series.sort_by(|a, b| {
        let count = |s: &MinuteSamples| s.values().map(Vec::len).sum::<usize>();
        count(b.1).cmp(&count(a.1)).then_with(|| a.0.cmp(b.0))
    });
    series.truncate(request.top);
    let no_dimensions = MinuteSamples::new();
    let empty_key: Vec<String> = Vec::new();
    if request.filters.is_empty() && series.is_empty() {
        series.push((&empty_key, &no_dimensions));
    }
    let mut cost = 0usize;
    let value: Vec<Value> = request
        .metrics
        .iter()
        .map(|metric| {
            let timeseries: Vec<Value> = series
                .iter()
                .map(|(key, minutes)| {
                    let metadata: Vec<Value> = request
                        .filters
                        .iter()
                        .zip(key.iter())
                        .map(|(f, v)| {
                            json!({
                                "name": {"value": f.dimension.name(), "localizedValue": f.dimension.name()},
                                "value": v,
                            })
                        })
                        .collect();
                    let points: Vec<Value> = buckets
                        .iter()
                        .map(|&t| {
                            let mut point = serde_json::Map::new();
                            let stamp = OffsetDateTime::from_unix_timestamp(t)
                                .map(rfc3339)
                                .unwrap_or_default();
                            point.insert("timeStamp".into(), json!(stamp));
                            for a in &request.aggregations {
                                // FULL is one bucket: every collected minute belongs to it,
                                // even one that starts before an unaligned timespan start.
                                let bucket_end = if request.full {
                                    i64::MAX
                                } else {
                                    t + request.interval_s
                                };
                                let bucket_start = if request.full { i64::MIN } else { t };
                                let mut in_bucket =
                                    minutes.range(bucket_start..bucket_end).map(|(_, v)| v);
                                if let Some(x) = aggregate(metric.kind, &mut in_bucket, *a) {
                                    point.insert(a.field().into(), json!(x));
                                }
                            }
                            Value::Object(point)
                        })
                        .collect();
                    cost += points.len();
                    json!({"metadatavalues": metadata, "data": points})
                })
                .collect();
            json!({
                "id": format!("{resource_id}/providers/Microsoft.Insights/metrics/{}", metric.name),
                "type": "Microsoft.Insights/metrics",
                "name": {"value": metric.name, "localizedValue": metric.localized},
                "displayDescription": metric.description,
                "unit": metric.unit,
                "timeseries": timeseries,
                "errorCode": "Success",
            })
        })
        .collect();
    json!({
        "cost": cost,
        "timespan": format!("{}/{}", rfc3339(request.start), rfc3339(request.end)),
        "interval": request.interval_label,
        "namespace": namespace,
        "resourceregion": location,
        "value": value,
    })
}

/// Answers a metrics request for an endpoint (or one of its deployments); the caller has
/// checked the token, the api-version and that the resource exists.
pub fn respond(
    state: &EmulatorState,
    key: &EndpointKey,
    deployment: Option<&str>,
    location: &str,
    path: &str,
    params: &QueryParams,
) -> Result<Response, ArmFailure> {
    let now = state.now();
    let request = parse_request(params, now, deployment.is_some())?;
    let delay = time::Duration::seconds_f64(state.settings().ingestion_delay_s.max(0.0));
    let visible_before_us = ((now - delay).unix_timestamp_nanos() / 1_000) as i64;
    let snapshot = state.logs.snapshot();
    let data = collect(
        &snapshot,
        &key.endpoint,
        deployment,
        &request,
        visible_before_us,
    );
    let resource_id = path
        .trim_end_matches('/')
        .rsplitn(4, '/')
        .nth(3)
        .unwrap_or(path);
    let namespace = if deployment.is_some() {
        DEPLOYMENT_NAMESPACE
    } else {
        ENDPOINT_NAMESPACE
    };
    let body = build_response(&request, &data, resource_id, namespace, location);
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7], 99.0), Some(7.0));
        assert_eq!(percentile(&[10, 20, 30], 50.0), Some(20.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn filters_parse_with_and_or_and_any_case() {
        let f = parse_filter(
            "Deployment eq '*' AND (statusCodeClass eq '5xx' or StatusCodeClass eq '4XX')",
        )
        .unwrap();
        assert_eq!(
            f,
            vec![
                DimensionFilter {
                    dimension: Dimension::Deployment,
                    values: None
                },
                DimensionFilter {
                    dimension: Dimension::StatusCodeClass,
                    values: Some(vec!["5xx".into(), "4xx".into()])
                },
            ]
        );
        assert!(parse_filter("deployment ne 'blue'").is_err());
        assert!(parse_filter("region eq 'x'").is_err());
        assert!(parse_filter("deployment eq blue").is_err());
    }

    #[test]
    fn timespans() {
        let now = time::macros::datetime!(2026-01-01 01:00 UTC);
        let (s, e) = parse_timespan(Some("PT30M"), now).unwrap();
        assert_eq!((s, e), (now - time::Duration::minutes(30), now));
        let (s, e) =
            parse_timespan(Some("2026-01-01T00:00:00Z/2026-01-01T00:15:00Z"), now).unwrap();
        assert_eq!(e - s, time::Duration::minutes(15));
        assert!(parse_timespan(Some("2026-01-01T00:15:00Z/2026-01-01T00:00:00Z"), now).is_err());
    }
}
