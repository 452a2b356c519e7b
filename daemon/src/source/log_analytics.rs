//! The Log Analytics source: one KQL query per window (default: [`kql::DEFAULT_WINDOW_QUERY`])
//! returning both deployments' latency histograms, error counts and ingestion freshness, mapped
//! into a judge [`Observation`].

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::kql::{self, RESULT_COLUMNS, WindowQueryParams};
use super::{
    Arm, Freshness, SourceError, WindowObservation, WindowRequest, arm_of, check_request, floor_end,
};
use crate::azure::log_analytics::{CellError, LogAnalyticsClient, QueryTable};
use crate::judge::observation::{ArmObservation, Observation};

const API: &str = "Log Analytics";

/// How far past the window's end the query reads rows, only to see how far ingestion has got
/// (the request's `timespan` ends there; the window's own end is in the KQL).
pub const FRESHNESS_HORIZON: Duration = Duration::from_secs(3600);

/// Reads windows from one Log Analytics workspace.
#[derive(Debug, Clone)]
pub struct LogAnalyticsSource {
    client: LogAnalyticsClient,
    workspace_id: String,
    ingestion_delay: Duration,
    /// The policy's own query template, if any (validated at construction).
    custom_query: Option<String>,
}

impl LogAnalyticsSource {
    /// A source over `client`; a custom query is checked here so a bad one fails at load.
    pub fn new(
        client: LogAnalyticsClient,
        workspace_id: &str,
        ingestion_delay: Duration,
        custom_query: Option<String>,
    ) -> Result<Self, SourceError> {
        if let Some(query) = &custom_query {
            kql::validate_template(query)?;
        }
        Ok(Self {
            client,
            workspace_id: workspace_id.to_string(),
            ingestion_delay,
            custom_query,
        })
    }

    /// `now − ingestion delay`, floored to whole seconds.
    pub fn closed_window_end(&self, now: OffsetDateTime) -> OffsetDateTime {
        floor_end(now, self.ingestion_delay, 1)
    }

    /// The query text for a window (what [`Self::observe`] sends).
    pub fn query_for(&self, request: &WindowRequest) -> Result<String, SourceError> {
        let params = WindowQueryParams {
            endpoint: &request.endpoint.endpoint,
            baseline: &request.baseline,
            canary: &request.canary,
            start: request.start,
            end: request.end,
            buckets: &request.buckets,
        };
        match &self.custom_query {
            Some(template) => Ok(kql::render(template, &params)?),
            None => Ok(kql::default_window_query(&params)),
        }
    }

    /// Runs the window query and maps its table. Errors (HTTP, throttling, partial results,
    /// tables breaking the column contract, rows of other deployments) are [`SourceError`]s.
    pub async fn observe(&self, request: &WindowRequest) -> Result<WindowObservation, SourceError> {
        check_request(request)?;
        let query = self.query_for(request)?;
        let horizon = time::Duration::try_from(FRESHNESS_HORIZON).unwrap_or(time::Duration::HOUR);
        let timespan = format!(
            "{}/{}",
            kql::iso_utc(request.start),
            kql::iso_utc(request.end + horizon)
        );
        let table = self
            .client
            .query(&self.workspace_id, &query, Some(&timespan))
            .await
            .map_err(|e| SourceError::azure(API, e))?;
        let mut observed = map_table(request, &table)?;
        observed.raw_counts["timespan"] = serde_json::Value::from(timespan);
        tracing::debug!(
            endpoint = %request.endpoint,
            baseline = %request.baseline,
            canary = %request.canary,
            rows = table.len(),
            freshness = observed.freshness.label(),
            baseline_requests = observed.observation.baseline.requests,
            canary_requests = observed.observation.canary.requests,
            "Log Analytics window observed"
        );
        Ok(WindowObservation {
            observation: observed.observation,
            freshness: observed.freshness,
            query,
            raw_counts: observed.raw_counts,
            series: Vec::new(),
        })
    }
}

/// The mapped table before the query text is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedWindow {
    pub observation: Observation,
    pub freshness: Freshness,
    pub raw_counts: serde_json::Value,
}

/// Maps a window query's result (the column contract of [`RESULT_COLUMNS`]) to an observation.
pub fn map_table(request: &WindowRequest, table: &QueryTable) -> Result<MappedWindow, SourceError> {
    let malformed = |detail: String| SourceError::Malformed { api: API, detail };
    let cell = |e: CellError| malformed(e.to_string());
    let extra: Vec<&str> = table
        .column_names()
        .into_iter()
        .filter(|name| !RESULT_COLUMNS.contains(name))
        .collect();
    if !extra.is_empty() {
        return Err(malformed(format!(
            "unexpected column(s) {}; a window query returns exactly {}",
            extra.join(", "),
            RESULT_COLUMNS.join(", ")
        )));
    }
    let column = |name: &str| {
        table.column(name).map_err(|_| {
            malformed(format!(
                "missing column {name}; a window query returns exactly {}",
                RESULT_COLUMNS.join(", ")
            ))
        })
    };
    let (c_deployment, c_bucket, c_n, c_5xx, c_model, c_throttled, c_latest) = (
        column("DeploymentName")?,
        column("bucket")?,
        column("n")?,
        column("errors_5xx")?,
        column("model_errors")?,
        column("throttled")?,
        column("latest")?,
    );

    let buckets = &request.buckets;
    let empty_arm = || ArmObservation {
        latency: vec![0.0; buckets.len()],
        ..ArmObservation::default()
    };
    let (mut baseline, mut canary) = (empty_arm(), empty_arm());
    let mut latest: Option<OffsetDateTime> = None;
    for row in 0..table.len() {
        let name = table.str(row, c_deployment).map_err(cell)?.unwrap_or("");
        let n = table.count(row, c_n).map_err(cell)?.unwrap_or(0);
        let errors_5xx = table.count(row, c_5xx).map_err(cell)?.unwrap_or(0);
        let model_errors = table.count(row, c_model).map_err(cell)?.unwrap_or(0);
        let throttled = table.count(row, c_throttled).map_err(cell)?.unwrap_or(0);
        if let Some(at) = table.datetime(row, c_latest).map_err(cell)? {
            latest = Some(latest.map_or(at, |l| l.max(at)));
        }
        if name.is_empty() {
            if n + errors_5xx + model_errors + throttled > 0 {
                return Err(malformed(format!(
                    "row {row} has DeploymentName \"\" (the freshness row) but counts requests; counts belong to the baseline's or canary's rows"
                )));
            }
            continue;
        }
        let arm = match arm_of(request, name) {
            Some(Arm::Baseline) => &mut baseline,
            Some(Arm::Canary) => &mut canary,
            None => {
                return Err(SourceError::UnknownDeployment {
                    api: API,
                    found: name.to_string(),
                    baseline: request.baseline.clone(),
                    canary: request.canary.clone(),
                });
            }
        };
        let bucket = table.i64(row, c_bucket).map_err(cell)?;
        let index = match bucket {
            Some(b) if b >= 0 && (b as u64) < buckets.len() as u64 => b as usize,
            other => {
                return Err(malformed(format!(
                    "row {row} ({name}) has bucket {}, outside 0..{} of the rollout's bucket scheme",
                    other.map_or("null".to_string(), |b| b.to_string()),
                    buckets.len() - 1
                )));
            }
        };
        if errors_5xx + model_errors + throttled > n {
            return Err(malformed(format!(
                "row {row} ({name}, bucket {index}) counts {errors_5xx} gateway 5xx + {model_errors} model errors + {throttled} throttled out of only {n} requests"
            )));
        }
        arm.latency[index] += n as f64;
        arm.requests += n;
        arm.errors_5xx += errors_5xx;
        arm.model_errors += model_errors;
        arm.throttled += throttled;
    }

    let ingested_past_end = latest.is_some_and(|at| at >= request.end);
    let freshness = request.freshness(ingested_past_end, baseline.requests, canary.requests);
    let raw_counts = json!({
        "source": "log_analytics",
        "window_start": kql::iso_utc(request.start),
        "window_end": kql::iso_utc(request.end),
        "freshness": freshness.label(),
        "latest_ingested": latest.map(kql::iso_utc),
        "result_rows": table.len(),
        "baseline": arm_totals(&request.baseline, &baseline),
        "canary": arm_totals(&request.canary, &canary),
    });
    if freshness == Freshness::NotIngestedYet {
        // Rows may still arrive for this window: it is observed again later, so nothing of it
        // may reach the judge now (the raw counts above keep what was seen, for the journal).
        baseline = empty_arm();
        canary = empty_arm();
    }
    Ok(MappedWindow {
        observation: Observation {
            window_start_unix_s: request.start.unix_timestamp(),
            window_end_unix_s: request.end.unix_timestamp(),
            buckets: buckets.clone(),
            baseline,
            canary,
        },
        freshness,
        raw_counts,
    })
}

pub(crate) fn arm_totals(deployment: &str, arm: &ArmObservation) -> serde_json::Value {
    json!({
        "deployment": deployment,
        "requests": arm.requests,
        "errors_5xx": arm.errors_5xx,
        "model_errors": arm.model_errors,
        "throttled": arm.throttled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::log_analytics::parse_query_response;
    use crate::judge::histogram::LogBuckets;
    use crate::model::EndpointRef;
    use time::macros::datetime;

    fn request() -> WindowRequest {
        WindowRequest {
            endpoint: EndpointRef {
                subscription: "s".into(),
                resource_group: "rg".into(),
                workspace: "ws".into(),
                endpoint: "my-ep".into(),
            },
            baseline: "blue".into(),
            canary: "Green".into(),
            start: datetime!(2026-01-01 00:00 UTC),
            end: datetime!(2026-01-01 00:05 UTC),
            buckets: LogBuckets::new(1.0, 2.0, 8).expect("valid"),
            baseline_expected: true,
        }
    }

    fn table(rows: serde_json::Value) -> QueryTable {
        parse_query_response(&json!({"tables":[{"name":"PrimaryResult","columns":[
            {"name":"DeploymentName","type":"string"},{"name":"bucket","type":"long"},
            {"name":"n","type":"long"},{"name":"errors_5xx","type":"long"},
            {"name":"model_errors","type":"long"},{"name":"throttled","type":"long"},
            {"name":"latest","type":"datetime"}],"rows": rows}]}))
        .expect("table parses")
    }

    #[test]
    fn maps_rows_to_arms_and_judges_freshness() {
        let mapped = map_table(
            &request(),
            &table(json!([
                ["blue", 3, 10, 1, 2, 0, "2026-01-01T00:04:59Z"],
                ["blue", "4", "5", "0", "0", "1", "2026-01-01T00:04:00Z"],
                ["green", 3, 4, 0, 1, 0, "2026-01-01T00:04:30Z"],
                ["", -1, 0, 0, 0, 0, "2026-01-01T00:05:30.5Z"],
            ])),
        )
        .expect("maps");
        assert_eq!(mapped.freshness, Freshness::Complete);
        let obs = &mapped.observation;
        assert_eq!(obs.baseline.requests, 15);
        assert_eq!(obs.baseline.latency[3], 10.0);
        assert_eq!(obs.baseline.latency[4], 5.0);
        assert_eq!(
            (
                obs.baseline.errors_5xx,
                obs.baseline.model_errors,
                obs.baseline.throttled
            ),
            (1, 2, 1)
        );
        assert_eq!(obs.canary.requests, 4);
        assert_eq!(obs.canary.latency.len(), 8);
        assert_eq!(mapped.raw_counts["canary"]["model_errors"], 1);
        assert_eq!(obs.window_end_unix_s - obs.window_start_unix_s, 300);
    }

    #[test]
    fn freshness_rules() {
        let stale = map_table(
            &request(),
            &table(json!([["blue", 3, 10, 0, 0, 0, "2026-01-01T00:04:59Z"]])),
        )
        .expect("maps");
        assert_eq!(stale.freshness, Freshness::NotIngestedYet);
        assert_eq!(stale.observation.baseline.requests, 0, "not judged");
        assert_eq!(
            stale.raw_counts["baseline"]["requests"], 10,
            "but journaled"
        );
        let quiet = map_table(
            &request(),
            &table(json!([
                ["blue", 3, 10, 0, 0, 0, "2026-01-01T00:04:59Z"],
                ["", -1, 0, 0, 0, 0, "2026-01-01T00:05:00Z"]
            ])),
        )
        .expect("maps");
        assert_eq!(quiet.freshness, Freshness::NoTraffic);
        assert_eq!(quiet.observation.baseline.requests, 10);
        let nothing = map_table(&request(), &table(json!([]))).expect("maps");
        assert_eq!(nothing.freshness, Freshness::NotIngestedYet);
    }

    #[test]
    fn a_baseline_the_split_sends_nothing_is_not_missing_traffic() {
        let at_full_canary = WindowRequest {
            baseline_expected: false,
            ..request()
        };
        let rows = json!([
            ["Green", 3, 10, 0, 0, 0, "2026-01-01T00:04:59Z"],
            ["", -1, 0, 0, 0, 0, "2026-01-01T00:05:00Z"]
        ]);
        let window = map_table(&at_full_canary, &table(rows.clone())).expect("maps");
        assert_eq!(window.freshness, Freshness::Complete);
        let expected = map_table(&request(), &table(rows)).expect("maps");
        assert_eq!(expected.freshness, Freshness::NoTraffic);
    }

    #[test]
    fn contract_violations_are_errors() {
        let err = |rows| map_table(&request(), &table(rows)).expect_err("refused");
        assert!(matches!(
            err(json!([["red", 0, 1, 0, 0, 0, null]])),
            SourceError::UnknownDeployment { .. }
        ));
        assert!(
            err(json!([["blue", 8, 1, 0, 0, 0, null]]))
                .to_string()
                .contains("bucket 8")
        );
        assert!(
            err(json!([["blue", 1, 1, 1, 1, 0, null]]))
                .to_string()
                .contains("out of only 1")
        );
        assert!(
            err(json!([["", -1, 3, 0, 0, 0, null]]))
                .to_string()
                .contains("freshness row")
        );
        assert!(
            err(json!([["blue", 1, "many", 0, 0, 0, null]]))
                .to_string()
                .contains("\"n\"")
        );
        let missing = parse_query_response(&json!({"tables":[{"name":"t","columns":[
            {"name":"DeploymentName","type":"string"},{"name":"n","type":"long"}],"rows":[]}]}))
        .expect("parses");
        assert!(
            map_table(&request(), &missing)
                .expect_err("missing columns")
                .to_string()
                .contains("missing column bucket")
        );
    }
}
