//! The Azure Monitor metrics API (an ARM route, ARM token):
//! `GET {metrics_base}{resourceId}/providers/Microsoft.Insights/metrics?api-version=2024-02-01
//! &metricnames=…&timespan=start/end&interval=PT1M&aggregation=…&$filter=…&top=…`.
//!
//! The answer's `value[]` holds one entry per metric with `timeseries[]`, each split by the
//! filtered dimensions (`metadatavalues`, names matched case-insensitively) and holding one
//! point per interval; an empty interval carries only `timeStamp`. An `errorCode` other than
//! `Success` makes the whole answer an error.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use reqwest::Method;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http::read_json;
use super::{ARM_SCOPE, AzureError, AzureHttp, RetryPolicy};
use crate::source::kql::iso_utc;

/// The metrics API version canaryd speaks.
pub const METRICS_API_VERSION: &str = "2024-02-01";

/// One metrics request.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// ARM resource id (`/subscriptions/…/onlineEndpoints/{ep}`).
    pub resource_id: String,
    /// 1 to 20 metric names, e.g. `RequestLatency_P99`.
    pub metric_names: Vec<String>,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// ISO 8601 time grain, e.g. `PT1M`.
    pub interval: String,
    /// Aggregations, e.g. `Average`, `Total`.
    pub aggregations: Vec<String>,
    /// OData `$filter`, e.g. `deployment eq '*'`.
    pub filter: Option<String>,
    /// Maximum number of series per metric (Azure's default is 10).
    pub top: Option<u32>,
}

impl MetricsQuery {
    /// The request's path and query string (appended to the metrics base URL).
    pub fn path_and_query(&self) -> String {
        let mut params: Vec<(&str, String)> = vec![
            ("api-version", METRICS_API_VERSION.to_string()),
            ("metricnames", self.metric_names.join(",")),
            (
                "timespan",
                format!("{}/{}", iso_utc(self.start), iso_utc(self.end)),
            ),
            ("interval", self.interval.clone()),
            ("aggregation", self.aggregations.join(",")),
        ];
        if let Some(filter) = &self.filter {
            params.push(("$filter", filter.clone()));
        }
        if let Some(top) = self.top {
            params.push(("top", top.to_string()));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!(
            "{}/providers/Microsoft.Insights/metrics?{}",
            self.resource_id.trim_end_matches('/'),
            query.join("&")
        )
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// One point of a series: the interval's start and whichever aggregations it carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPoint {
    pub time: Option<OffsetDateTime>,
    pub average: Option<f64>,
    pub total: Option<f64>,
    pub count: Option<f64>,
    pub maximum: Option<f64>,
    pub minimum: Option<f64>,
}

impl MetricPoint {
    /// True when the interval had no data (only `timeStamp`).
    pub fn is_empty(&self) -> bool {
        self.average.is_none()
            && self.total.is_none()
            && self.count.is_none()
            && self.maximum.is_none()
            && self.minimum.is_none()
    }
}

/// One series: its dimension values (keys lower-cased) and its points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricTimeSeries {
    pub dimensions: BTreeMap<String, String>,
    pub points: Vec<MetricPoint>,
}

impl MetricTimeSeries {
    /// A dimension's value, the name matched case-insensitively.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.dimensions
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One metric of the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValues {
    pub name: String,
    pub unit: String,
    pub timeseries: Vec<MetricTimeSeries>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsResponse {
    pub interval: String,
    pub metrics: Vec<MetricValues>,
}

impl MetricsResponse {
    /// A metric by name (case-insensitive).
    pub fn metric(&self, name: &str) -> Option<&MetricValues> {
        self.metrics
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }
}

/// A client of the metrics API under one base URL (ARM's, by default).
#[derive(Debug, Clone)]
pub struct MetricsClient {
    base_url: String,
    http: AzureHttp,
}

impl MetricsClient {
    /// A client getting ARM tokens from `credential`.
    pub fn new(base_url: &str, credential: Arc<dyn TokenCredential>, retry: RetryPolicy) -> Self {
        Self::with_http(base_url, AzureHttp::new(credential, ARM_SCOPE, retry))
    }

    /// A client over a prepared HTTP layer (its scope must be ARM's).
    pub fn with_http(base_url: &str, http: AzureHttp) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The full URL `query` is sent to.
    pub fn url(&self, query: &MetricsQuery) -> String {
        format!("{}{}", self.base_url, query.path_and_query())
    }

    /// Runs one metrics request.
    pub async fn get(&self, query: &MetricsQuery) -> Result<MetricsResponse, AzureError> {
        if query.metric_names.is_empty() || query.metric_names.len() > 20 {
            return Err(AzureError::Config(format!(
                "a metrics request names 1 to 20 metrics, not {}",
                query.metric_names.len()
            )));
        }
        let response = self.http.send(Method::GET, &self.url(query), None).await?;
        let answer: serde_json::Value = read_json(response).await?;
        parse_metrics_response(&answer)
    }
}

/// Parses a metrics answer; a metric whose `errorCode` is not `Success` is an error.
pub fn parse_metrics_response(answer: &serde_json::Value) -> Result<MetricsResponse, AzureError> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        interval: String,
        value: Vec<RawMetric>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawMetric {
        name: RawName,
        #[serde(default)]
        unit: String,
        #[serde(default)]
        timeseries: Vec<RawSeries>,
        #[serde(default)]
        error_code: Option<String>,
        #[serde(default)]
        error_message: Option<String>,
    }
    #[derive(Deserialize)]
    struct RawName {
        value: String,
    }
    #[derive(Deserialize)]
    struct RawSeries {
        #[serde(default)]
        metadatavalues: Vec<RawMetadata>,
        #[serde(default)]
        data: Vec<RawPoint>,
    }
    #[derive(Deserialize)]
    struct RawMetadata {
        name: RawName,
        #[serde(default)]
        value: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawPoint {
        time_stamp: Option<String>,
        average: Option<f64>,
        total: Option<f64>,
        count: Option<f64>,
        maximum: Option<f64>,
        minimum: Option<f64>,
    }

    let raw: Raw = Raw::deserialize(answer).map_err(|e| {
        AzureError::InvalidResponse(format!("metrics answer is not the documented shape: {e}"))
    })?;
    let mut metrics = Vec::with_capacity(raw.value.len());
    for metric in raw.value {
        if let Some(code) = metric.error_code.as_deref()
            && !code.eq_ignore_ascii_case("Success")
        {
            return Err(AzureError::Status {
                status: 200,
                code: code.to_string(),
                message: format!(
                    "metric {} failed: {}",
                    metric.name.value,
                    metric.error_message.unwrap_or_default()
                ),
            });
        }
        let mut timeseries = Vec::with_capacity(metric.timeseries.len());
        for series in metric.timeseries {
            let dimensions = series
                .metadatavalues
                .into_iter()
                .map(|m| {
                    (
                        m.name.value.to_ascii_lowercase(),
                        m.value.unwrap_or_default(),
                    )
                })
                .collect();
            let mut points = Vec::with_capacity(series.data.len());
            for point in series.data {
                let time = match point.time_stamp {
                    Some(text) => Some(OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
                        AzureError::InvalidResponse(format!(
                            "metric {}: timeStamp {text:?} is not ISO 8601",
                            metric.name.value
                        ))
                    })?),
                    None => None,
                };
                points.push(MetricPoint {
                    time,
                    average: point.average,
                    total: point.total,
                    count: point.count,
                    maximum: point.maximum,
                    minimum: point.minimum,
                });
            }
            timeseries.push(MetricTimeSeries { dimensions, points });
        }
        metrics.push(MetricValues {
            name: metric.name.value,
            unit: metric.unit,
            timeseries,
        });
    }
    Ok(MetricsResponse {
        interval: raw.interval,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn builds_the_documented_url() {
        let query = MetricsQuery {
            resource_id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep".into(),
            metric_names: vec!["RequestLatency_P99".into(), "RequestsPerMinute".into()],
            start: datetime!(2026-01-01 00:00 UTC),
            end: datetime!(2026-01-01 00:15 UTC),
            interval: "PT1M".into(),
            aggregations: vec!["Average".into()],
            filter: Some("deployment eq '*'".into()),
            top: Some(50),
        };
        let path = query.path_and_query();
        assert!(path.starts_with("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep/providers/Microsoft.Insights/metrics?api-version=2024-02-01&metricnames=RequestLatency_P99%2CRequestsPerMinute&timespan=2026-01-01T00%3A00%3A00.0000000Z%2F2026-01-01T00%3A15%3A00.0000000Z&interval=PT1M"), "{path}");
        assert!(
            path.ends_with("&%24filter=deployment%20eq%20%27%2A%27&top=50"),
            "{path}"
        );
    }

    #[test]
    fn parses_series_and_refuses_failed_metrics() {
        let answer = json!({"cost":0,"timespan":"x","interval":"PT1M","value":[{"id":"i","type":"t",
            "name":{"value":"RequestLatency_P99","localizedValue":"Request Latency P99"},"unit":"MilliSeconds",
            "errorCode":"Success","timeseries":[{"metadatavalues":[{"name":{"value":"Deployment","localizedValue":"deployment"},"value":"green"}],
            "data":[{"timeStamp":"2026-01-01T00:00:00Z","average":61.2},{"timeStamp":"2026-01-01T00:01:00Z"}]}]}]});
        let parsed = parse_metrics_response(&answer).expect("parses");
        let metric = parsed.metric("requestlatency_p99").expect("metric");
        let series = &metric.timeseries[0];
        assert_eq!(series.dimension("DEPLOYMENT"), Some("green"));
        assert_eq!(series.points[0].average, Some(61.2));
        assert!(series.points[1].is_empty());
        let mut failed = answer.clone();
        failed["value"][0]["errorCode"] = json!("Throttled");
        assert!(matches!(
            parse_metrics_response(&failed),
            Err(AzureError::Status { code, .. }) if code == "Throttled"
        ));
    }
}
