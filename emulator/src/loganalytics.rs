//! The Log Analytics query API: `POST /v1/workspaces/{workspaceId}/query` (and the `GET`
//! form with `?query=&timespan=`), answering the emulated `AmlOnlineEndpointTrafficLog`
//! through the KQL subset in [`crate::kql`]. Bearer-token checks happen in `server.rs`
//! before these handlers run.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::clock::unix_us;
use crate::faults::LogAnalyticsFault;
use crate::kql::{self, KqlError, QueryScope, ResultTable, Visibility};
use crate::state::EmulatorState;

/// Azure's documented cap on result rows; beyond it the answer is partial.
pub const MAX_RESULT_ROWS: usize = 500_000;

pub fn router() -> Router<Arc<EmulatorState>> {
    Router::new().route(
        "/v1/workspaces/{workspace_id}/query",
        post(query_post).get(query_get),
    )
}

#[derive(Debug, Deserialize)]
struct QueryRequest {
    query: Option<String>,
    timespan: Option<String>,
    /// Cross-workspace queries; refused rather than answered from one workspace.
    workspaces: Option<serde_json::Value>,
}

async fn query_post(
    State(state): State<Arc<EmulatorState>>,
    Path(workspace_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadArgumentError",
                "The request had some invalid properties",
                Some((
                    "InvalidJsonError",
                    &format!("The request body is not valid JSON: {e}"),
                )),
            );
        }
    };
    answer(state, workspace_id, request).await
}

async fn query_get(
    State(state): State<Arc<EmulatorState>>,
    Path(workspace_id): Path<String>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let request = QueryRequest {
        query: params.get("query").cloned(),
        timespan: params.get("timespan").cloned(),
        workspaces: params
            .get("workspaces")
            .map(|w| serde_json::Value::from(w.as_str())),
    };
    answer(state, workspace_id, request).await
}

async fn answer(
    state: Arc<EmulatorState>,
    workspace_id: String,
    request: QueryRequest,
) -> Response {
    let fault = state.faults().take_log_analytics();
    match fault {
        Some(LogAnalyticsFault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::info!(
                status = status.as_u16(),
                "Log Analytics fault: error status"
            );
            return error_response(status, fault_code(status), fault_message(status), None);
        }
        Some(LogAnalyticsFault::Timeout { delay_ms }) => {
            tracing::info!(delay_ms, "Log Analytics fault: gateway timeout");
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
            return error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "GatewayTimeout",
                "The gateway did not receive a response from the query service within the specified time period",
                None,
            );
        }
        Some(LogAnalyticsFault::Partial) | None => {}
    }
    let Some(query) = request.query.filter(|q| !q.trim().is_empty()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BadArgumentError",
            "The request had some invalid properties",
            Some(("MissingQueryError", "The 'query' property is required")),
        );
    };
    if request.workspaces.is_some() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BadArgumentError",
            "The request had some invalid properties",
            Some((
                "SemanticError",
                "cross-workspace queries ('workspaces') are not supported by the emulator",
            )),
        );
    }
    let now = state.now();
    let time_range = match request.timespan.as_deref().map(|t| parse_timespan(t, now)) {
        None => None,
        Some(Ok(range)) => Some(range),
        Some(Err(message)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadArgumentError",
                "The request had some invalid properties",
                Some(("InvalidTimespanError", &message)),
            );
        }
    };
    let snapshot = state.logs.snapshot();
    let known = snapshot.endpoints.iter().any(|e| {
        e.log_analytics_workspace_id
            .eq_ignore_ascii_case(&workspace_id)
    });
    if !known {
        return error_response(
            StatusCode::NOT_FOUND,
            "WorkspaceNotFoundError",
            &format!("Workspace '{workspace_id}' could not be found"),
            None,
        );
    }
    let settings = state.settings();
    let lag_spikes_us = state
        .faults()
        .lag_spikes()
        .iter()
        .map(|(from, until, extra)| {
            (
                unix_us(*from),
                unix_us(*until),
                (extra.whole_microseconds()).clamp(0, i128::from(i64::MAX)) as i64,
            )
        })
        .collect();
    let scope = QueryScope {
        now_us: unix_us(now),
        workspace_id: Some(workspace_id),
        time_range_us: time_range,
        visibility: Some(Visibility {
            now_us: unix_us(now),
            ingestion_delay_us: (settings.ingestion_delay_s.max(0.0) * 1e6) as i64,
        }),
        lag_spikes_us,
        row_limit: Some(MAX_RESULT_ROWS),
    };
    let started = std::time::Instant::now();
    // Queries over a large log are CPU work; keep them off the async workers.
    let outcome =
        tokio::task::spawn_blocking(move || kql::execute(&query, &snapshot, &scope)).await;
    let result = match outcome {
        Ok(Ok(table)) => table,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "KQL query refused");
            return query_error(&e);
        }
        Err(join) => {
            tracing::error!(error = %join, "KQL evaluation panicked");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "An internal error occurred while evaluating the query",
                None,
            );
        }
    };
    tracing::debug!(
        rows = result.rows.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "KQL query answered"
    );
    let partial_fault = matches!(fault, Some(LogAnalyticsFault::Partial));
    success_response(result, partial_fault)
}

/// 200 with `tables`; with a top-level `error` too when the result is partial.
fn success_response(mut result: ResultTable, partial_fault: bool) -> Response {
    let mut partial = result.truncated;
    if partial_fault {
        let keep = result.rows.len() / 2;
        result.rows.truncate(keep);
        partial = true;
    }
    let columns: Vec<serde_json::Value> = result
        .columns
        .iter()
        .map(|(name, ty)| serde_json::json!({"name": name, "type": ty.name()}))
        .collect();
    #[derive(serde::Serialize)]
    struct Table<'a> {
        name: &'static str,
        columns: Vec<serde_json::Value>,
        rows: &'a [Vec<kql::Value>],
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        tables: [Table<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<serde_json::Value>,
    }
    let error = partial.then(|| {
        let detail = format!(
            "Query result set has exceeded the internal limit of {MAX_RESULT_ROWS} records (E_QUERY_RESULT_SET_TOO_LARGE); the result is partial"
        );
        serde_json::json!({
            "code": "PartialError",
            "message": "Query result set has exceeded the internal limit; there were some errors when processing your query",
            "correlationId": correlation_id(),
            "details": [{"code": "EngineError", "message": detail, "severity": "Error"}],
            "innererror": {"code": "EngineError", "message": detail},
        })
    });
    let body = Body {
        tables: [Table {
            name: "PrimaryResult",
            columns,
            rows: &result.rows,
        }],
        error,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => json_bytes(StatusCode::OK, bytes),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a query result");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "The query result could not be serialised",
                None,
            )
        }
    }
}

fn query_error(e: &KqlError) -> Response {
    let message = match e {
        KqlError::Syntax { .. } => "A recognition error occurred in the query.",
        _ => "The request had some invalid properties",
    };
    error_response(
        StatusCode::BAD_REQUEST,
        "BadArgumentError",
        message,
        Some((e.inner_code(), &e.to_string())),
    )
}

/// The Log Analytics error shape:
/// `{"error":{"message","code","correlationId","innererror":{"code","message"}}}`.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    inner: Option<(&str, &str)>,
) -> Response {
    let mut error = serde_json::json!({
        "message": message,
        "code": code,
        "correlationId": correlation_id(),
    });
    if let (Some((inner_code, inner_message)), Some(obj)) = (inner, error.as_object_mut()) {
        obj.insert(
            "innererror".into(),
            serde_json::json!({"code": inner_code, "message": inner_message}),
        );
    }
    let bytes = serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_default();
    json_bytes(status, bytes)
}

fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn fault_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        502 => "BadGateway",
        503 => "ServiceUnavailableError",
        504 => "GatewayTimeout",
        429 => "ThrottledError",
        _ => "InternalServerError",
    }
}

fn fault_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        502 => "The gateway received an invalid response from the query service",
        503 => "The service is temporarily unavailable; retry later",
        504 => {
            "The gateway did not receive a response from the query service within the specified time period"
        }
        429 => "Too many requests; retry later",
        _ => "An internal error occurred while processing the query",
    }
}

fn correlation_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let a: u32 = rng.random();
    let b: u16 = rng.random();
    let c: u16 = rng.random::<u16>() & 0x0fff | 0x4000;
    let d: u16 = rng.random::<u16>() & 0x3fff | 0x8000;
    let e: u64 = rng.random::<u64>() & 0xffff_ffff_ffff;
    format!("{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}")
}

/// The API's `timespan`: an ISO 8601 duration ending now (`PT15M`), `start/end`,
/// `start/duration` or `duration/end`. Returns `[from, until)` in unix µs.
pub fn parse_timespan(text: &str, now: OffsetDateTime) -> Result<(i64, i64), String> {
    let invalid =
        || format!("Invalid timespan '{text}': expected an ISO 8601 duration or interval");
    let text = text.trim();
    let (from, until) = match text.split_once('/') {
        None => {
            let d = parse_iso_duration(text).ok_or_else(invalid)?;
            let until = unix_us(now);
            (until.saturating_sub(d), until)
        }
        Some((a, b)) => {
            let start = parse_instant(a);
            let end = parse_instant(b);
            match (start, end) {
                (Some(s), Some(e)) => (s, e),
                (Some(s), None) => (
                    s,
                    s.saturating_add(parse_iso_duration(b).ok_or_else(invalid)?),
                ),
                (None, Some(e)) => (
                    e.saturating_sub(parse_iso_duration(a).ok_or_else(invalid)?),
                    e,
                ),
                (None, None) => return Err(invalid()),
            }
        }
    };
    if from > until {
        return Err(format!(
            "Invalid timespan '{text}': the start is after the end"
        ));
    }
    Ok((from, until))
}

fn parse_instant(s: &str) -> Option<i64> {
    kql::value::parse_datetime(s).map(|ticks| ticks / kql::value::TICKS_PER_US)
}

/// `P[nD][T[nH][nM][n.nS]]` (and `nW`) in µs. Years and months have no fixed length and are
/// refused.
pub fn parse_iso_duration(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix(['P', 'p'])?;
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for ch in rest.chars() {
        match ch {
            'T' | 't' if number.is_empty() && !in_time => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if ch == ',' { '.' } else { ch }),
            unit => {
                let n: f64 = number.parse().ok()?;
                number.clear();
                let seconds = match (in_time, unit.to_ascii_uppercase()) {
                    (false, 'W') => 7.0 * 86_400.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return None,
                };
                total += n * seconds;
                any = true;
            }
        }
    }
    if !number.is_empty() || !any || !total.is_finite() {
        return None;
    }
    Some((total * 1e6).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_parse_to_microseconds() {
        assert_eq!(parse_iso_duration("PT15M"), Some(15 * 60 * 1_000_000));
        assert_eq!(
            parse_iso_duration("P1DT2H"),
            Some((86_400 + 7200) * 1_000_000)
        );
        assert_eq!(parse_iso_duration("PT0.5S"), Some(500_000));
        assert_eq!(parse_iso_duration("P1W"), Some(7 * 86_400 * 1_000_000));
        assert_eq!(
            parse_iso_duration("P1M"),
            None,
            "months have no fixed length"
        );
        assert_eq!(parse_iso_duration("PT"), None);
        assert_eq!(parse_iso_duration("15M"), None);
    }

    #[test]
    fn timespans_are_relative_to_now_or_explicit_intervals() {
        let now = time::macros::datetime!(2026-01-01 01:00 UTC);
        let now_us = unix_us(now);
        assert_eq!(
            parse_timespan("PT15M", now),
            Ok((now_us - 900_000_000, now_us))
        );
        let start = unix_us(time::macros::datetime!(2026-01-01 00:00 UTC));
        assert_eq!(
            parse_timespan("2026-01-01T00:00:00Z/2026-01-01T00:15:00Z", now),
            Ok((start, start + 900_000_000))
        );
        assert_eq!(
            parse_timespan("2026-01-01T00:00:00Z/PT1H", now),
            Ok((start, start + 3_600_000_000))
        );
        assert_eq!(
            parse_timespan("PT1H/2026-01-01T01:00:00Z", now),
            Ok((start, start + 3_600_000_000))
        );
        assert!(parse_timespan("yesterday", now).is_err());
        assert!(parse_timespan("2026-01-02T00:00:00Z/2026-01-01T00:00:00Z", now).is_err());
    }
}
