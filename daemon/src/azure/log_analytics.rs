//! The Log Analytics query API: `POST {base}/v1/workspaces/{workspaceId}/query` with
//! `{"query", "timespan"}`, answered with `{"tables":[{"name","columns","rows"}]}`.
//!
//! A 200 that also carries a top-level `error` is a partial result (truncated, or part of the
//! query failed): it is an error here, never data. Error bodies (`{"error":{"message","code",
//! "innererror"}}`) become [`AzureError::Status`] with their code and message; 429 and 5xx are
//! retried by [`AzureHttp`].

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http::read_json;
use super::{AzureError, AzureHttp, LOG_ANALYTICS_SCOPE, RetryPolicy};

/// Code given to a partial result (HTTP 200 with a top-level `error`) when the body names none.
pub const PARTIAL_RESULT_CODE: &str = "PartialError";

/// A client of one Log Analytics API base URL (e.g. `https://api.loganalytics.io`).
#[derive(Debug, Clone)]
pub struct LogAnalyticsClient {
    base_url: String,
    http: AzureHttp,
}

impl LogAnalyticsClient {
    /// A client getting Log Analytics tokens from `credential`.
    pub fn new(base_url: &str, credential: Arc<dyn TokenCredential>, retry: RetryPolicy) -> Self {
        Self::with_http(
            base_url,
            AzureHttp::new(credential, LOG_ANALYTICS_SCOPE, retry),
        )
    }

    /// A client over a prepared HTTP layer (its scope must be the Log Analytics one).
    pub fn with_http(base_url: &str, http: AzureHttp) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs `kql` in workspace `workspace_id` (the workspace's customer id, a GUID).
    /// `timespan` (ISO 8601 duration or `start/end`) is applied by the service on top of the
    /// query's own time filters. Returns the first (primary) result table.
    pub async fn query(
        &self,
        workspace_id: &str,
        kql: &str,
        timespan: Option<&str>,
    ) -> Result<QueryTable, AzureError> {
        if workspace_id.is_empty() || workspace_id.contains(['/', '?', '#']) {
            return Err(AzureError::Config(format!(
                "Log Analytics workspace id {workspace_id:?} is not a workspace GUID"
            )));
        }
        let url = format!("{}/v1/workspaces/{workspace_id}/query", self.base_url);
        let mut body = serde_json::json!({ "query": kql });
        if let Some(timespan) = timespan {
            body["timespan"] = Value::from(timespan);
        }
        let response = self.http.send(Method::POST, &url, Some(&body)).await?;
        let answer: Value = read_json(response).await?;
        parse_query_response(&answer)
    }
}

/// Parses a query answer: refuses partial results, reads `tables[0]`.
pub fn parse_query_response(answer: &Value) -> Result<QueryTable, AzureError> {
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        let code = text(error, "code").unwrap_or_else(|| PARTIAL_RESULT_CODE.to_string());
        let mut message = text(error, "message").unwrap_or_default();
        if let Some(inner) = error.get("innererror")
            && let Some(inner_message) = text(inner, "message")
        {
            message = format!("{message} ({inner_message})");
        }
        return Err(AzureError::Status {
            status: 200,
            code,
            message: format!("partial result refused (HTTP 200 with an error): {message}"),
        });
    }
    #[derive(Deserialize)]
    struct Answer {
        tables: Vec<RawTable>,
    }
    #[derive(Deserialize)]
    struct RawTable {
        #[serde(default)]
        name: String,
        columns: Vec<RawColumn>,
        rows: Vec<Vec<Value>>,
    }
    #[derive(Deserialize)]
    struct RawColumn {
        name: String,
        #[serde(default, alias = "columnType", rename = "type")]
        column_type: String,
    }
    let parsed: Answer = Answer::deserialize(answer).map_err(|e| {
        AzureError::InvalidResponse(format!("Log Analytics answer has no readable tables: {e}"))
    })?;
    let table = parsed.tables.into_iter().next().ok_or_else(|| {
        AzureError::InvalidResponse("Log Analytics answer has an empty `tables` list".into())
    })?;
    let columns: Vec<QueryColumn> = table
        .columns
        .into_iter()
        .map(|c| QueryColumn {
            name: c.name,
            column_type: c.column_type,
        })
        .collect();
    for (index, row) in table.rows.iter().enumerate() {
        if row.len() != columns.len() {
            return Err(AzureError::InvalidResponse(format!(
                "Log Analytics row {index} has {} cells for {} columns",
                row.len(),
                columns.len()
            )));
        }
    }
    Ok(QueryTable {
        name: table.name,
        columns,
        rows: table.rows,
    })
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryColumn {
    pub name: String,
    /// Kusto type name: `string`, `long`, `int`, `real`, `datetime`, `bool`, `timespan`, …
    pub column_type: String,
}

/// One result table: column descriptions and rows of JSON cells (every row has one cell per
/// column; checked on parsing).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTable {
    pub name: String,
    pub columns: Vec<QueryColumn>,
    pub rows: Vec<Vec<Value>>,
}

/// A cell that is not what the reader asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error("the result has no column {column:?} (columns: {available})")]
    MissingColumn { column: String, available: String },
    #[error("row {row}, column {column:?}: expected {expected}, got {found}")]
    WrongType {
        row: usize,
        column: String,
        expected: &'static str,
        found: String,
    },
}

impl QueryTable {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// Index of a column (exact name: Kusto names are case-sensitive).
    pub fn column(&self, name: &str) -> Result<usize, CellError> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| CellError::MissingColumn {
                column: name.to_string(),
                available: self.column_names().join(", "),
            })
    }

    fn cell(&self, row: usize, column: usize) -> &Value {
        self.rows
            .get(row)
            .and_then(|r| r.get(column))
            .unwrap_or(&Value::Null)
    }

    fn wrong(&self, row: usize, column: usize, expected: &'static str) -> CellError {
        let found = self.cell(row, column).to_string();
        CellError::WrongType {
            row,
            column: self
                .columns
                .get(column)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            expected,
            found: found.chars().take(80).collect(),
        }
    }

    /// A string cell; None for null.
    pub fn str(&self, row: usize, column: usize) -> Result<Option<&str>, CellError> {
        match self.cell(row, column) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(self.wrong(row, column, "a string")),
        }
    }

    /// A number cell; None for null. Numbers given as strings (older answers) are accepted, as
    /// are Kusto's non-finite spellings `NaN`, `Infinity`, `-Infinity`.
    pub fn f64(&self, row: usize, column: usize) -> Result<Option<f64>, CellError> {
        match self.cell(row, column) {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(row, column, "a number")),
            Value::String(s) => match s.trim() {
                "" => Ok(None),
                "NaN" => Ok(Some(f64::NAN)),
                "Infinity" => Ok(Some(f64::INFINITY)),
                "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
                text => text
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| self.wrong(row, column, "a number")),
            },
            _ => Err(self.wrong(row, column, "a number")),
        }
    }

    /// An integer cell; None for null. Accepts integers given as strings and integral reals.
    pub fn i64(&self, row: usize, column: usize) -> Result<Option<i64>, CellError> {
        match self.cell(row, column) {
            Value::Null => Ok(None),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return Ok(Some(i));
                }
                match n.as_f64() {
                    Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
                    _ => Err(self.wrong(row, column, "an integer")),
                }
            }
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => {
                let text = s.trim();
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Some(i));
                }
                match text.parse::<f64>() {
                    Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(x as i64)),
                    _ => Err(self.wrong(row, column, "an integer")),
                }
            }
            _ => Err(self.wrong(row, column, "an integer")),
        }
    }

    /// A non-negative count; None for null.
    pub fn count(&self, row: usize, column: usize) -> Result<Option<u64>, CellError> {
        match self.i64(row, column)? {
            None => Ok(None),
            Some(i) => u64::try_from(i)
                .map(Some)
                .map_err(|_| self.wrong(row, column, "a non-negative count")),
        }
    }

    /// A datetime cell (ISO 8601 / RFC 3339); None for null.
    pub fn datetime(&self, row: usize, column: usize) -> Result<Option<OffsetDateTime>, CellError> {
        match self.str(row, column) {
            Ok(None) => Ok(None),
            Ok(Some(text)) if text.trim().is_empty() => Ok(None),
            Ok(Some(text)) => OffsetDateTime::parse(text.trim(), &Rfc3339)
                .map(Some)
                .map_err(|_| self.wrong(row, column, "an ISO 8601 datetime")),
            Err(_) => Err(self.wrong(row, column, "an ISO 8601 datetime")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_tables_with_numbers_as_strings() {
        let table = parse_query_response(&json!({"tables":[{"name":"PrimaryResult",
            "columns":[{"name":"DeploymentName","type":"string"},{"name":"n","type":"long"},
                       {"name":"p","type":"real"},{"name":"latest","type":"datetime"}],
            "rows":[["blue",1200,"48.5","2026-01-01T00:00:00.1234567Z"],["green","130",null,null]]}]}))
        .expect("parses");
        let (name, n, p, latest) = (
            table.column("DeploymentName").expect("column"),
            table.column("n").expect("column"),
            table.column("p").expect("column"),
            table.column("latest").expect("column"),
        );
        assert_eq!(table.str(0, name).expect("str"), Some("blue"));
        assert_eq!(table.count(1, n).expect("count"), Some(130));
        assert_eq!(table.f64(0, p).expect("f64"), Some(48.5));
        assert_eq!(table.f64(1, p).expect("f64"), None);
        let at = table.datetime(0, latest).expect("datetime").expect("set");
        assert_eq!(at.nanosecond(), 123_456_700);
        assert!(table.column("missing").is_err());
        assert!(table.count(0, name).is_err());
    }

    #[test]
    fn partial_results_and_ragged_rows_are_errors() {
        let partial = parse_query_response(&json!({"tables":[{"name":"PrimaryResult",
            "columns":[{"name":"n","type":"long"}],"rows":[[1]]}],
            "error":{"code":"PartialError","message":"Query result set has exceeded the internal limit"}}))
        .expect_err("partial");
        assert!(
            matches!(&partial, AzureError::Status { code, .. } if code == "PartialError"),
            "{partial:?}"
        );
        let ragged = parse_query_response(&json!({"tables":[{"name":"PrimaryResult",
            "columns":[{"name":"n","type":"long"}],"rows":[[1, 2]]}]}));
        assert!(matches!(ragged, Err(AzureError::InvalidResponse(_))));
        assert!(parse_query_response(&json!({"tables":[]})).is_err());
        assert!(parse_query_response(&json!({"nope":1})).is_err());
    }
}
