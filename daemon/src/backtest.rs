//! `canaryd backtest`: replays a policy over an export of `AmlOnlineEndpointTrafficLog` and says,
//! interval by interval, what the daemon would have decided and why. The same pieces as the
//! daemon: windows → `judge::Observation` over `source::default_buckets()` with
//! `judge::ErrorKind`'s classification → `judge::evaluate` → `rollout::advance`. See
//! `daemon/docs/backtest.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::azure::log_analytics::{QueryTable, parse_query_response};
use crate::judge::observation::{ErrorKind, Observation, RequestSample};
use crate::judge::{Outcome, evaluate};
use crate::model::Split;
use crate::policy::{DeploymentSelector, Policy};
use crate::rollout::{self, Action, DecisionKind, Input, Phase, SourceStatus, TickInput};
use crate::source::{Freshness, WindowRequest, default_buckets};

/// The latency column the daemon's default window query histograms (`source::kql`).
pub const DURATION_COLUMN: &str = "TotalDurationMs";
/// Columns every export must have.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "TimeGenerated",
    "DeploymentName",
    "ResponseCode",
    DURATION_COLUMN,
];

/// One request of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub time: OffsetDateTime,
    /// Lower case (deployment names are case-insensitive, as in ARM and the KQL).
    pub deployment: String,
    pub endpoint: Option<String>,
    pub sample: RequestSample,
}

/// Why a backtest could not run. Every variant names the file, where, and the fix.
#[derive(Debug, Error)]
pub enum BacktestError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}; fix: {fix}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
        fix: String,
    },
    #[error("{path}: {location}: {message}; fix: {fix}")]
    Json {
        path: PathBuf,
        location: String,
        message: String,
        fix: String,
    },
    #[error("{path}: {message}; fix: {fix}")]
    Logs {
        path: PathBuf,
        message: String,
        fix: String,
    },
}

/// Reads an export: the query API's JSON response when the file ends in `.json` or starts with
/// `{`, else CSV with a header.
pub fn read_logs(path: &Path) -> Result<Vec<LogRow>, BacktestError> {
    let text = std::fs::read_to_string(path).map_err(|source| BacktestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    if is_json {
        read_json(path, &text)
    } else {
        read_csv(path, &text)
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&text.replacen(' ', "T", 1), &Rfc3339).ok())
        .or_else(|| {
            OffsetDateTime::parse(&format!("{}Z", text.replacen(' ', "T", 1)), &Rfc3339).ok()
        })
}

/// A status code cell: empty is absent; a number (possibly written `200.0`) is the code.
fn parse_code(text: &str) -> Result<Option<u16>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(code) = text.parse::<u16>() {
        return Ok(Some(code));
    }
    match text.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && (0.0..=999.0).contains(&v) => Ok(Some(v as u16)),
        _ => Err(()),
    }
}

fn parse_duration_ms(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

/// Where the columns a backtest reads sit in an export (names matched case-insensitively).
struct LogColumns {
    time: usize,
    deployment: usize,
    code: usize,
    duration: usize,
    model: Option<usize>,
    endpoint: Option<usize>,
}

impl LogColumns {
    /// The positions in `names`, or the [`REQUIRED_COLUMNS`] that are missing.
    fn locate<S: AsRef<str>>(names: &[S]) -> Result<Self, Vec<&'static str>> {
        let find = |name: &str| {
            names
                .iter()
                .position(|n| n.as_ref().eq_ignore_ascii_case(name))
        };
        match (
            find("TimeGenerated"),
            find("DeploymentName"),
            find("ResponseCode"),
            find(DURATION_COLUMN),
        ) {
            (Some(time), Some(deployment), Some(code), Some(duration)) => Ok(LogColumns {
                time,
                deployment,
                code,
                duration,
                model: find("ModelStatusCode"),
                endpoint: find("EndpointName"),
            }),
            _ => Err(REQUIRED_COLUMNS
                .iter()
                .copied()
                .filter(|c| find(c).is_none())
                .collect()),
        }
    }
}

fn read_csv(path: &Path, text: &str) -> Result<Vec<LogRow>, BacktestError> {
    let error = |line: u64, message: String, fix: &str| BacktestError::Csv {
        path: path.to_path_buf(),
        line,
        message,
        fix: fix.to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            error(
                1,
                format!("cannot read the header: {e}"),
                "save the export as CSV with a header line",
            )
        })?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    let columns = LogColumns::locate(&names).map_err(|missing| {
        error(
            1,
            format!(
                "missing column(s) {} (the header has {})",
                missing.join(", "),
                names.join(", ")
            ),
            &format!(
                "export AmlOnlineEndpointTrafficLog with at least {}",
                REQUIRED_COLUMNS.join(", ")
            ),
        )
    })?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            error(
                line,
                format!("malformed CSV: {e}"),
                "every row needs the header's number of fields",
            )
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |c: usize| record.get(c).unwrap_or("");
        let time = parse_time(cell(columns.time)).ok_or_else(|| {
            error(
                line,
                format!(
                    "column TimeGenerated: {:?} is not a date and time",
                    cell(columns.time)
                ),
                "write ISO 8601 UTC times such as 2026-01-01T10:00:00.000Z",
            )
        })?;
        let deployment = cell(columns.deployment).to_ascii_lowercase();
        if deployment.is_empty() {
            return Err(error(
                line,
                "column DeploymentName is empty".into(),
                "every request row names the deployment that served it",
            ));
        }
        let status_code = parse_code(cell(columns.code)).map_err(|()| {
            error(
                line,
                format!(
                    "column ResponseCode: {:?} is not an HTTP status code",
                    cell(columns.code)
                ),
                "give the numeric code, e.g. 200",
            )
        })?;
        let model_status_code = match columns.model {
            Some(c) => parse_code(cell(c)).map_err(|()| {
                error(
                    line,
                    format!("column ModelStatusCode: {:?} is not a status code", cell(c)),
                    "give the numeric code, e.g. 200, or leave it empty",
                )
            })?,
            None => None,
        };
        let latency_ms = parse_duration_ms(cell(columns.duration)).ok_or_else(|| {
            error(
                line,
                format!(
                    "column {DURATION_COLUMN}: {:?} is not a non-negative number of milliseconds",
                    cell(columns.duration)
                ),
                "give the request's duration in ms, e.g. 120",
            )
        })?;
        rows.push(LogRow {
            time,
            deployment,
            endpoint: columns.endpoint.map(|c| cell(c).to_string()),
            sample: RequestSample {
                latency_ms,
                status_code,
                model_status_code,
            },
        });
    }
    Ok(rows)
}

fn read_json(path: &Path, text: &str) -> Result<Vec<LogRow>, BacktestError> {
    let error = |location: String, message: String, fix: &str| BacktestError::Json {
        path: path.to_path_buf(),
        location,
        message,
        fix: fix.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        error(
            format!("line {} column {}", e.line(), e.column()),
            format!("not JSON: {e}"),
            "give the Log Analytics query API's response as is",
        )
    })?;
    let table: QueryTable = parse_query_response(&value).map_err(|e| {
        error(
            "tables".into(),
            e.to_string(),
            "give the query API's response: {\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[…],\"rows\":[…]}]}",
        )
    })?;
    let names = table.column_names();
    let columns = LogColumns::locate(&names).map_err(|missing| {
        error(
            "columns".into(),
            format!(
                "missing column(s) {} (the table has {})",
                missing.join(", "),
                names.join(", ")
            ),
            &format!(
                "query AmlOnlineEndpointTrafficLog with at least {}",
                REQUIRED_COLUMNS.join(", ")
            ),
        )
    })?;
    let mut rows = Vec::with_capacity(table.len());
    for row in 0..table.len() {
        let at = |name: &str| format!("row {row}, column {name}");
        let time = table
            .datetime(row, columns.time)
            .ok()
            .flatten()
            .ok_or_else(|| {
                error(
                    at("TimeGenerated"),
                    "not a date and time".into(),
                    "give ISO 8601 UTC times such as 2026-01-01T10:00:00Z",
                )
            })?;
        let deployment = table
            .str(row, columns.deployment)
            .ok()
            .flatten()
            .map(str::to_ascii_lowercase)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                error(
                    at("DeploymentName"),
                    "missing or empty".into(),
                    "every request row names the deployment that served it",
                )
            })?;
        let code = |c: usize, name: &str| -> Result<Option<u16>, BacktestError> {
            match table.f64(row, c) {
                Ok(None) => Ok(None),
                Ok(Some(v)) if v.fract() == 0.0 && (0.0..=999.0).contains(&v) => Ok(Some(v as u16)),
                _ => Err(error(
                    at(name),
                    "not an HTTP status code".into(),
                    "give the numeric code, e.g. 200",
                )),
            }
        };
        let status_code = code(columns.code, "ResponseCode")?;
        let model_status_code = match columns.model {
            Some(c) => code(c, "ModelStatusCode")?,
            None => None,
        };
        let latency_ms = table
            .f64(row, columns.duration)
            .ok()
            .flatten()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                error(
                    at(DURATION_COLUMN),
                    "not a non-negative number of milliseconds".into(),
                    "give the request's duration in ms",
                )
            })?;
        let endpoint = columns
            .endpoint
            .and_then(|c| table.str(row, c).ok().flatten().map(String::from));
        rows.push(LogRow {
            time,
            deployment,
            endpoint,
            sample: RequestSample {
                latency_ms,
                status_code,
                model_status_code,
            },
        });
    }
    Ok(rows)
}

/// Requests and time span of one deployment in the export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentSeen {
    pub name: String,
    pub requests: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub first: OffsetDateTime,
}

/// Picks the baseline and canary: the flags, else the policy's named selectors, else auto (the
/// deployment serving first — the most requests on a tie — is the baseline, and exactly one
/// other deployment must exist).
pub fn choose_arms(
    path: &Path,
    rows: &[LogRow],
    policy: &Policy,
    baseline_flag: Option<&str>,
    canary_flag: Option<&str>,
) -> Result<(String, String), BacktestError> {
    let mut seen: BTreeMap<String, DeploymentSeen> = BTreeMap::new();
    for row in rows {
        let entry = seen
            .entry(row.deployment.clone())
            .or_insert_with(|| DeploymentSeen {
                name: row.deployment.clone(),
                requests: 0,
                first: row.time,
            });
        entry.requests += 1;
        entry.first = entry.first.min(row.time);
    }
    let listing = || {
        seen.values()
            .map(|d| format!("{} ({} requests)", d.name, d.requests))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pick = |flag: Option<&str>, selector: &DeploymentSelector, role: &str| {
        let name = flag
            .map(str::to_string)
            .or_else(|| selector.name().map(str::to_string))
            .map(|n| n.trim().to_ascii_lowercase());
        match name {
            Some(name) if !seen.contains_key(&name) => Err(BacktestError::Logs {
                path: path.to_path_buf(),
                message: format!(
                    "the {role} deployment '{name}' has no requests in the logs (deployments: {})",
                    listing()
                ),
                fix: format!("name one of them with --{role} NAME"),
            }),
            other => Ok(other),
        }
    };
    let baseline = pick(baseline_flag, &policy.baseline, "baseline")?;
    let canary = pick(canary_flag, &policy.canary, "canary")?;
    let baseline = match baseline {
        Some(name) => name,
        None => {
            seen.values()
                .filter(|d| canary.as_deref() != Some(d.name.as_str()))
                .min_by(|a, b| a.first.cmp(&b.first).then(b.requests.cmp(&a.requests)))
                .map(|d| d.name.clone())
                .ok_or_else(|| {
                    BacktestError::Logs {
                path: path.to_path_buf(),
                message: format!("no baseline deployment in the logs (deployments: {})", listing()),
                fix: "export both deployments' requests, or name them with --baseline and --canary"
                    .into(),
            }
                })?
        }
    };
    let canary = match canary {
        Some(name) => name,
        None => {
            let others: Vec<&DeploymentSeen> =
                seen.values().filter(|d| d.name != baseline).collect();
            match others.as_slice() {
                [one] => one.name.clone(),
                _ => {
                    return Err(BacktestError::Logs {
                        path: path.to_path_buf(),
                        message: format!(
                            "cannot tell the canary: baseline '{baseline}' and {} other deployment(s) (deployments: {})",
                            others.len(),
                            listing()
                        ),
                        fix: "name it with --canary NAME (and --baseline NAME)".into(),
                    });
                }
            }
        }
    };
    if baseline == canary {
        return Err(BacktestError::Logs {
            path: path.to_path_buf(),
            message: format!("baseline and canary are the same deployment '{canary}'"),
            fix: "name two different deployments with --baseline and --canary".into(),
        });
    }
    Ok((baseline, canary))
}

/// A latency percentile of one arm's raw requests in a window (ms); None without requests.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// One arm's figures in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmFigures {
    pub requests: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Gateway 5xx + model errors over requests (the judge's `all` kind).
    pub error_rate: Option<f64>,
}

impl ArmFigures {
    fn of(samples: &[RequestSample]) -> Self {
        let mut latencies: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let errors = samples
            .iter()
            .filter(|s| {
                matches!(
                    ErrorKind::of(s),
                    Some(ErrorKind::Gateway5xx | ErrorKind::Model)
                )
            })
            .count();
        ArmFigures {
            requests: samples.len() as u64,
            p50_ms: percentile(&latencies, 0.5),
            p99_ms: percentile(&latencies, 0.99),
            error_rate: (!samples.is_empty()).then(|| errors as f64 / samples.len() as f64),
        }
    }
}

/// One replayed interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalReport {
    #[serde(with = "time::serde::rfc3339")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub window_end: OffsetDateTime,
    /// The phase the machine was in during the window (`step 1`, `shadow`, `baking`).
    pub phase: String,
    pub baseline: ArmFigures,
    pub canary: ArmFigures,
    /// The canary's share of both arms' requests in the logs.
    pub canary_share_observed: Option<f64>,
    /// The canary's share the machine's split would have given (live percent, or mirrored
    /// percent in the shadow phase, as a fraction of all requests).
    pub canary_share_expected: f64,
    /// Set when the logs' share is far from the machine's (the data is history: the policy
    /// would have routed traffic differently).
    pub split_note: Option<String>,
    /// `complete` or `no_traffic` (the daemon's freshness rule).
    pub window: String,
    /// The judge's overall outcome; None when the window was not judged (no traffic).
    pub verdict: Option<Outcome>,
    pub verdict_summary: Option<String>,
    pub decision: DecisionKind,
    pub reason: String,
}

/// How the replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacktestOutcome {
    Promoted,
    RolledBack,
    /// The logs ended first.
    Running,
    /// The machine ended failed (e.g. an invalid traffic change).
    Failed,
}

/// The replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    pub policy: String,
    pub logs: String,
    pub baseline: String,
    pub canary: String,
    pub interval_s: f64,
    pub intervals: Vec<IntervalReport>,
    pub outcome: BacktestOutcome,
    /// The phase at the end.
    pub final_phase: String,
    /// When the terminal decision was taken (the window's end), if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// One sentence: "would have rolled back at 10:42: …".
    pub conclusion: String,
}

/// How far the observed share may drift from the machine's before the report says so:
/// 3 binomial standard deviations, and at least 2 percentage points.
fn share_differs(observed: f64, expected: f64, requests: u64) -> bool {
    let sd = (expected * (1.0 - expected) / requests.max(1) as f64).sqrt();
    (observed - expected).abs() > (3.0 * sd).max(0.02)
}

fn hhmm(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// Replays `policy` over `rows` with `baseline` and `canary` (lower case).
pub fn replay(
    policy: &Policy,
    logs: &Path,
    rows: &[LogRow],
    baseline: &str,
    canary: &str,
) -> Result<BacktestReport, BacktestError> {
    let target = &policy.target.endpoint;
    let rows: Vec<&LogRow> = rows
        .iter()
        .filter(|r| {
            r.endpoint
                .as_deref()
                .is_none_or(|e| e.is_empty() || e.eq_ignore_ascii_case(target))
        })
        .filter(|r| r.deployment == baseline || r.deployment == canary)
        .collect();
    let Some(first_canary) = rows
        .iter()
        .filter(|r| r.deployment == canary)
        .map(|r| r.time)
        .min()
    else {
        return Err(BacktestError::Logs {
            path: logs.to_path_buf(),
            message: format!(
                "no request of the canary '{canary}' at endpoint '{target}' in the logs"
            ),
            fix: "export the rollout's time range, or name the canary with --canary".into(),
        });
    };
    let last = rows.iter().map(|r| r.time).max().unwrap_or(first_canary);
    let interval = policy.plan.interval;
    let step = time::Duration::try_from(interval).unwrap_or(time::Duration::MINUTE);
    let buckets = default_buckets();

    // The rollout begins at the first canary request; every traffic change takes effect at once.
    let mut transition = rollout::start(
        policy,
        &policy.target,
        baseline,
        canary,
        &Split::all_to(baseline),
        first_canary,
    );
    transition = apply_all(policy, transition, first_canary);
    let mut state = transition.state;
    let mut intervals = Vec::new();
    let mut window_start = first_canary;
    let mut sorted = rows;
    sorted.sort_by_key(|r| r.time);
    let mut next_row = sorted.partition_point(|r| r.time < window_start);
    let mut decided_at = None;
    // A window the logs end inside is partial (the daemon never judges an open window); one
    // that ends within a second of the last row is taken as complete.
    let logs_end = last + time::Duration::SECOND;
    while !rollout::is_terminal(&state.phase) && window_start + step <= logs_end {
        let window_end = window_start + step;
        let phase_label = state.phase.label();
        let (mut base_samples, mut canary_samples) = (Vec::new(), Vec::new());
        while next_row < sorted.len() && sorted[next_row].time < window_end {
            let row = sorted[next_row];
            if row.deployment == canary {
                canary_samples.push(row.sample);
            } else {
                base_samples.push(row.sample);
            }
            next_row += 1;
        }
        let request = WindowRequest {
            endpoint: policy.target.clone(),
            baseline: baseline.to_string(),
            canary: canary.to_string(),
            start: window_start,
            end: window_end,
            buckets: buckets.clone(),
            baseline_expected: state.expected_split.traffic_of(baseline) > 0
                || state.expected_split.mirror_of(baseline) > 0,
        };
        let freshness =
            request.freshness(true, base_samples.len() as u64, canary_samples.len() as u64);
        let (source, verdict) = match freshness {
            Freshness::Complete => {
                let observation = Observation::from_samples(
                    buckets.clone(),
                    window_start.unix_timestamp(),
                    window_end.unix_timestamp(),
                    &base_samples,
                    &canary_samples,
                );
                let verdict = evaluate(&policy.judge, &mut state.judge, &observation);
                (SourceStatus::Ok, Some(verdict))
            }
            _ => (SourceStatus::NoTraffic, None),
        };
        let tick = Input::Tick(TickInput {
            source,
            verdict: verdict.clone(),
            canary_requests: canary_samples.len() as u64,
            frozen: None,
        });
        let expected_share = expected_canary_share(&state.expected_split, baseline, canary);
        let total = (base_samples.len() + canary_samples.len()) as u64;
        let observed_share = (total > 0).then(|| canary_samples.len() as f64 / total as f64);
        let split_note = observed_share
            .filter(|o| share_differs(*o, expected_share, total))
            .map(|o| {
                format!(
                    "the logs show the canary at {:.1}% of requests; the policy's split would have given {:.1}%",
                    o * 100.0,
                    expected_share * 100.0
                )
            });
        let ticked = rollout::advance(policy, &state, &tick, window_end);
        let decision = ticked.decision.clone();
        let ticked = apply_all(policy, ticked, window_end);
        state = ticked.state;
        intervals.push(IntervalReport {
            window_start,
            window_end,
            phase: phase_label,
            baseline: ArmFigures::of(&base_samples),
            canary: ArmFigures::of(&canary_samples),
            canary_share_observed: observed_share,
            canary_share_expected: expected_share,
            split_note,
            window: freshness.label().to_string(),
            verdict: verdict.as_ref().map(|v| v.overall),
            verdict_summary: verdict.map(|v| v.summary),
            decision: decision.kind,
            reason: decision.reason,
        });
        if rollout::is_terminal(&state.phase) {
            decided_at = Some(window_end);
        }
        window_start = window_end;
    }
    let outcome = match state.phase {
        Phase::Promoted => BacktestOutcome::Promoted,
        Phase::RolledBack => BacktestOutcome::RolledBack,
        Phase::Failed => BacktestOutcome::Failed,
        _ => BacktestOutcome::Running,
    };
    let last_reason = intervals
        .iter()
        .rev()
        .find(|i| {
            matches!(
                i.decision,
                DecisionKind::RollBack | DecisionKind::Promote | DecisionKind::Fail
            )
        })
        .map(|i| i.reason.clone())
        .or_else(|| state.final_reason.clone())
        .unwrap_or_default();
    let conclusion = match (outcome, decided_at) {
        (BacktestOutcome::RolledBack, Some(at)) => {
            format!("would have rolled back at {}: {last_reason}", hhmm(at))
        }
        (BacktestOutcome::Promoted, Some(at)) => {
            format!("would have promoted at {}: {last_reason}", hhmm(at))
        }
        (BacktestOutcome::Failed, _) => format!("would have failed: {last_reason}"),
        _ => format!(
            "still running when the logs end at {} ({}, traffic {})",
            hhmm(last),
            state.phase.label(),
            state.expected_split
        ),
    };
    Ok(BacktestReport {
        policy: policy.name.clone(),
        logs: logs.display().to_string(),
        baseline: baseline.to_string(),
        canary: canary.to_string(),
        interval_s: interval.as_secs_f64(),
        intervals,
        outcome,
        final_phase: state.phase.label(),
        decided_at,
        conclusion,
    })
}

/// The canary's fraction of both arms' requests under `split`: live percent, or in the shadow
/// phase mirrored copies m/(100 + m) of all requests logged.
fn expected_canary_share(split: &Split, baseline: &str, canary: &str) -> f64 {
    let live = f64::from(split.traffic_of(canary));
    let mirrored = f64::from(split.mirror_of(canary));
    let base = f64::from(split.traffic_of(baseline));
    let total = live + base + mirrored;
    if total <= 0.0 {
        0.0
    } else {
        (live + mirrored) / total
    }
}

/// Confirms every SetSplit at once (the replay's controller always succeeds).
fn apply_all(
    policy: &Policy,
    mut transition: rollout::Transition,
    now: OffsetDateTime,
) -> rollout::Transition {
    // A change may lead to another only through ticks; one confirmation per action suffices.
    for _ in 0..4 {
        let Some(Action::SetSplit { split, .. }) = transition.actions.first().cloned() else {
            break;
        };
        let decision = transition.decision.clone();
        let mut applied =
            rollout::advance(policy, &transition.state, &Input::Applied { split }, now);
        // Keep the decision that moved traffic (its reason says why); the confirmation only
        // says the traffic took effect.
        applied.decision = decision;
        transition = applied;
    }
    transition
}

/// The replay as a text table and the conclusion.
pub fn render_text(report: &BacktestReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Backtest of policy '{}' on {}: baseline {}, canary {}, interval {}",
        report.policy,
        report.logs,
        report.baseline,
        report.canary,
        crate::plan::fmt_secs(report.interval_s)
    );
    let _ = writeln!(
        out,
        "{:<17} {:<8} {:>7} {:>7} {:>7} {:>15} {:>15} {:>15} {:<12} {:<9}",
        "window",
        "phase",
        "n base",
        "n can",
        "share",
        "p50 base/can",
        "p99 base/can",
        "err% base/can",
        "verdict",
        "decision"
    );
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}", v * 100.0));
    for i in &report.intervals {
        let _ = writeln!(
            out,
            "{:<17} {:<8} {:>7} {:>7} {:>7} {:>15} {:>15} {:>15} {:<12} {:<9}",
            format!("{}-{}", hhmm(i.window_start), hhmm(i.window_end)),
            i.phase,
            i.baseline.requests,
            i.canary.requests,
            i.canary_share_observed
                .map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
            format!("{}/{}", ms(i.baseline.p50_ms), ms(i.canary.p50_ms)),
            format!("{}/{}", ms(i.baseline.p99_ms), ms(i.canary.p99_ms)),
            format!(
                "{}/{}",
                pct(i.baseline.error_rate),
                pct(i.canary.error_rate)
            ),
            i.verdict
                .map_or("not judged".to_string(), |v| v.label().to_lowercase()),
            i.decision.label()
        );
        let _ = writeln!(out, "    {}", i.reason);
        if let Some(note) = &i.split_note {
            let _ = writeln!(out, "    note: {note}");
        }
    }
    let _ = writeln!(out, "{}", report.conclusion);
    out
}
