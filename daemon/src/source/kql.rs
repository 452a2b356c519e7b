//! The KQL canaryd sends to Log Analytics: the default window query, the placeholders a
//! policy's own query may use, and the column contract every window query's result meets.
//! `daemon/docs/sources.md` explains the same query for operators.

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use crate::judge::histogram::LogBuckets;

/// The default window query, as a template over [`PLACEHOLDERS`] (a policy's own query uses the
/// same placeholders and must return the same columns, [`RESULT_COLUMNS`]). Line by line (the
/// numbering of `daemon/docs/sources.md`):
///
/// 1. A comment naming the query in the journal and in the workspace's query audit.
/// 2. `let windowStart = {start};` — the window's inclusive start, a `datetime(…)` literal.
/// 3. `let windowEnd = {end};` — the window's exclusive end, already `now − ingestion delay`.
/// 4. `AmlOnlineEndpointTrafficLog` — one row per scoring request.
/// 5. `where TimeGenerated >= windowStart` — nothing before the window. There is deliberately
///    **no** upper time bound: rows after `windowEnd` are read too, for freshness (line 14).
///    The request's `timespan` caps the scan at `windowEnd` + one hour.
/// 6. `where EndpointName =~ {endpoint}` — this endpoint only (case-insensitively, as ARM).
/// 7. `extend InWindow = …` — a row counts when it is before `windowEnd` and was served by the
///    baseline or the canary (`in~`: deployment names are case-insensitive). Every other row
///    of the endpoint (later rows, a shadow or third deployment) only feeds `latest`.
/// 8. `extend Code, ModelCode` — `toint()` because some producers log the codes as strings.
/// 9. `extend ModelError = …` — the model failed (`ModelStatusCode` ≥ 500; Azure ML then
///    answers 424). `isnotnull(…) and` keeps a missing code from turning the flag into null,
///    which `not()` would propagate.
/// 10. `n` — requests in the group.
/// 11. `errors_5xx` — a 5xx `ResponseCode` that is not a model error.
/// 12. `model_errors`.
/// 13. `throttled` — 429 that is not a model error. Lines 11-13 classify a request exactly as
///     the judge does (`judge::ErrorKind::of`): model error first, then throttling, then
///     gateway 5xx; each request in at most one kind.
/// 14. `latest = max(TimeGenerated)` — the newest *ingested* row of the endpoint in the group;
///     its maximum over all rows tells whether ingestion has passed `windowEnd`.
/// 15. `by DeploymentName = iff(InWindow, tolower(DeploymentName), "")` — the baseline's and the
///     canary's rows by deployment; everything outside the window in one row named `""`.
/// 16. `bucket = iff(InWindow, {bucket}, -1)` — the log-spaced latency bucket of
///     `TotalDurationMs` ([`LogBuckets::kql_bucket_expr`]); `-1` on the freshness row.
///
/// The result has at most 2 × buckets + 1 rows, however much traffic the endpoint serves, and
/// uses only KQL that both Azure and the emulator's documented subset accept.
pub const DEFAULT_WINDOW_QUERY: &str = r#"// canaryd window query: latency histogram and error counts per deployment, plus ingestion freshness
let windowStart = {start};
let windowEnd = {end};
AmlOnlineEndpointTrafficLog
| where TimeGenerated >= windowStart
| where EndpointName =~ {endpoint}
| extend InWindow = TimeGenerated < windowEnd and DeploymentName in~ {deployments}
| extend Code = toint(ResponseCode), ModelCode = toint(ModelStatusCode)
| extend ModelError = isnotnull(ModelCode) and ModelCode >= 500
| summarize n = countif(InWindow),
    errors_5xx = countif(InWindow and not(ModelError) and Code >= 500),
    model_errors = countif(InWindow and ModelError),
    throttled = countif(InWindow and not(ModelError) and Code == 429),
    latest = max(TimeGenerated)
    by DeploymentName = iff(InWindow, tolower(DeploymentName), ""),
    bucket = iff(InWindow, {bucket}, -1)"#;

/// The placeholders a window query template may use, and what each expands to.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{endpoint}",
        "the endpoint name as a KQL string literal, e.g. \"my-ep\"",
    ),
    ("{baseline}", "the baseline deployment as a string literal"),
    ("{canary}", "the canary deployment as a string literal"),
    (
        "{deployments}",
        "both deployments as a KQL list, e.g. (\"blue\", \"green\")",
    ),
    (
        "{start}",
        "the window's inclusive start, e.g. datetime(2026-01-01T00:00:00.0000000Z)",
    ),
    (
        "{end}",
        "the window's exclusive end (now − ingestion delay)",
    ),
    (
        "{bucket}",
        "an integer expression giving the latency bucket (0 … buckets−1) of TotalDurationMs",
    ),
    (
        "{bucket:Column}",
        "the same for another duration column in ms, e.g. {bucket:ResponseDurationMs}",
    ),
];

/// The columns a window query returns, in any order, and nothing else:
///
/// | column | type | meaning |
/// |---|---|---|
/// | `DeploymentName` | string | the baseline or the canary (any case); `""` on rows that only carry `latest` |
/// | `bucket` | int/long | latency bucket 0 … buckets−1; `-1` or null on `""` rows |
/// | `n` | int/long | requests of the deployment in the window in this bucket |
/// | `errors_5xx` | int/long | gateway 5xx among them (not model errors) |
/// | `model_errors` | int/long | model errors among them (`ModelStatusCode` ≥ 500) |
/// | `throttled` | int/long | throttled among them (429, not model errors) |
/// | `latest` | datetime | newest ingested `TimeGenerated` of the endpoint the row covers (null when none) |
pub const RESULT_COLUMNS: &[&str] = &[
    "DeploymentName",
    "bucket",
    "n",
    "errors_5xx",
    "model_errors",
    "throttled",
    "latest",
];

/// Everything a template's placeholders expand to for one window.
#[derive(Debug, Clone)]
pub struct WindowQueryParams<'a> {
    pub endpoint: &'a str,
    pub baseline: &'a str,
    pub canary: &'a str,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub buckets: &'a LogBuckets,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown placeholder {placeholder} at byte {offset}; known placeholders: {known} (write {{{{ and }}}} for literal braces)"
    )]
    UnknownPlaceholder {
        placeholder: String,
        offset: usize,
        known: String,
    },
    #[error("placeholder starting at byte {offset} is not closed with '}}'")]
    Unclosed { offset: usize },
    #[error(
        "{{bucket:{column}}} names no valid column (use a column name such as TotalDurationMs)"
    )]
    BadBucketColumn { column: String },
    #[error("the query does not use {placeholder}: {why}")]
    MissingPlaceholder {
        placeholder: &'static str,
        why: &'static str,
    },
}

/// Placeholders every template must use: without them the result cannot be for this rollout's
/// window and endpoint.
const REQUIRED: &[(&str, &str)] = &[
    (
        "{start}",
        "the result must cover the requested window, not a fixed time range",
    ),
    (
        "{end}",
        "rows at or after the window's end must not be counted as in the window",
    ),
    (
        "{endpoint}",
        "rows of other endpoints in the workspace would be counted",
    ),
];

/// Checks a template without rendering it: every placeholder known, the required ones present.
pub fn validate_template(template: &str) -> Result<(), TemplateError> {
    let mut used = Vec::new();
    walk(template, |piece| {
        if let Piece::Placeholder(name, offset) = piece {
            check_placeholder(name, offset)?;
            used.push(name.to_string());
        }
        Ok(())
    })?;
    for (placeholder, why) in REQUIRED {
        let bare = &placeholder[1..placeholder.len() - 1];
        if !used.iter().any(|u| u == bare) {
            return Err(TemplateError::MissingPlaceholder { placeholder, why });
        }
    }
    Ok(())
}

/// Expands a template's placeholders for one window. `{{` and `}}` stand for literal braces.
pub fn render(template: &str, params: &WindowQueryParams<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 512);
    walk(template, |piece| {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(name, offset) => {
                check_placeholder(name, offset)?;
                out.push_str(&expand(name, params));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The default query for one window.
pub fn default_window_query(params: &WindowQueryParams<'_>) -> String {
    // The default template is known-good (a unit test renders it); fall back to the error
    // text only to keep this infallible for callers, never reached.
    render(DEFAULT_WINDOW_QUERY, params).unwrap_or_else(|e| format!("// {e}"))
}

/// A KQL string literal (double-quoted, backslash escapes).
pub fn kql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const TICKS_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");

/// A UTC timestamp as Log Analytics writes them (100 ns ticks), e.g.
/// `2026-01-01T00:00:00.0000000Z`.
pub fn iso_utc(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(TICKS_FORMAT)
        .unwrap_or_else(|_| format!("{}Z", utc.unix_timestamp()))
}

/// A KQL datetime literal.
pub fn kql_datetime(at: OffsetDateTime) -> String {
    format!("datetime({})", iso_utc(at))
}

enum Piece<'a> {
    Text(&'a str),
    /// Name without braces, byte offset of the `{`.
    Placeholder(&'a str, usize),
}

fn walk<'a>(
    template: &'a str,
    mut visit: impl FnMut(Piece<'a>) -> Result<(), TemplateError>,
) -> Result<(), TemplateError> {
    let bytes = template.as_bytes();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                visit(Piece::Text(&template[text_start..i + 1]))?;
                i += 2;
                text_start = i;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                visit(Piece::Text(&template[text_start..i + 1]))?;
                i += 2;
                text_start = i;
            }
            b'{' => {
                let close = template[i..]
                    .find('}')
                    .ok_or(TemplateError::Unclosed { offset: i })?;
                visit(Piece::Text(&template[text_start..i]))?;
                visit(Piece::Placeholder(&template[i + 1..i + close], i))?;
                i += close + 1;
                text_start = i;
            }
            _ => i += 1,
        }
    }
    visit(Piece::Text(&template[text_start..]))
}

fn check_placeholder(name: &str, offset: usize) -> Result<(), TemplateError> {
    match name {
        "endpoint" | "baseline" | "canary" | "deployments" | "start" | "end" | "bucket" => Ok(()),
        _ => match name.strip_prefix("bucket:") {
            Some(column) => {
                let valid = column
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && column
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Ok(())
                } else {
                    Err(TemplateError::BadBucketColumn {
                        column: column.to_string(),
                    })
                }
            }
            None => Err(TemplateError::UnknownPlaceholder {
                placeholder: format!("{{{name}}}"),
                offset,
                known: PLACEHOLDERS
                    .iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        },
    }
}

fn expand(name: &str, params: &WindowQueryParams<'_>) -> String {
    match name {
        "endpoint" => kql_string(params.endpoint),
        "baseline" => kql_string(params.baseline),
        "canary" => kql_string(params.canary),
        "deployments" => {
            let mut list = String::from("(");
            let _ = write!(
                list,
                "{}, {})",
                kql_string(params.baseline),
                kql_string(params.canary)
            );
            list
        }
        "start" => kql_datetime(params.start),
        "end" => kql_datetime(params.end),
        "bucket" => params.buckets.kql_bucket_expr("TotalDurationMs"),
        other => {
            let column = other.strip_prefix("bucket:").unwrap_or("TotalDurationMs");
            params.buckets.kql_bucket_expr(column)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn params(buckets: &LogBuckets) -> WindowQueryParams<'_> {
        WindowQueryParams {
            endpoint: "my-ep",
            baseline: "blue",
            canary: "green",
            start: datetime!(2026-01-01 00:00 UTC),
            end: datetime!(2026-01-01 00:05:00.5 UTC),
            buckets,
        }
    }

    #[test]
    fn default_query_renders_every_placeholder() {
        let buckets = LogBuckets::new(0.5, 1.02, 710).expect("valid");
        validate_template(DEFAULT_WINDOW_QUERY).expect("default template is valid");
        let query = render(DEFAULT_WINDOW_QUERY, &params(&buckets)).expect("renders");
        assert!(!query.contains('{') && !query.contains('}'), "{query}");
        assert!(query.contains("let windowStart = datetime(2026-01-01T00:00:00.0000000Z);"));
        assert!(query.contains("let windowEnd = datetime(2026-01-01T00:05:00.5000000Z);"));
        assert!(query.contains("EndpointName =~ \"my-ep\""));
        assert!(query.contains("in~ (\"blue\", \"green\")"));
        assert!(query.contains(&buckets.kql_bucket_expr("TotalDurationMs")));
    }

    #[test]
    fn templates_are_checked() {
        let unknown = validate_template("T | where x == {endpont} {start} {end} {endpoint}")
            .expect_err("typo");
        assert!(unknown.to_string().contains("{endpont}"), "{unknown}");
        let missing = validate_template("T | where EndpointName == {endpoint} and t < {end}")
            .expect_err("no start");
        assert!(missing.to_string().contains("{start}"), "{missing}");
        assert!(matches!(
            validate_template("{start"),
            Err(TemplateError::Unclosed { offset: 0 })
        ));
        assert!(matches!(
            validate_template("{bucket:1x} {start} {end} {endpoint}"),
            Err(TemplateError::BadBucketColumn { .. })
        ));
        let buckets = LogBuckets::new(1.0, 1.1, 10).expect("valid");
        let text = render(
            "{{x}} {bucket:ResponseDurationMs} {canary}",
            &params(&buckets),
        )
        .expect("renders");
        assert!(
            text.starts_with("{x} iff(todouble(ResponseDurationMs)"),
            "{text}"
        );
        assert!(text.ends_with("\"green\""));
    }

    #[test]
    fn string_literals_are_escaped() {
        assert_eq!(kql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
