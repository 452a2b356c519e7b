//! The daemon's HTTP server: health, readiness, Prometheus metrics, the Azure Monitor alert
//! webhook and the manual-control API. See daemon/docs/server.md.
//!
//! Route auth (see [`auth`]): `/healthz` and `/readyz` are open (probes); reads (`/metrics`,
//! `GET /api/v1/rollouts…`, and any router wrapped by [`with_read_auth`]) take the read or the
//! control token; mutations (`POST /api/v1/rollouts/{id}/{command}`) the control token; the
//! alert webhook its own secret.

pub mod alerts;
pub mod auth;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use azure_core::credentials::TokenCredential;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::DaemonConfig;
use crate::rollout::RolloutState;
use crate::runner::{ControlError, ControlHub, ControlRequest, RunnerOptions};
use crate::store::{AlertCondition, JournalEntry, RolloutRecord, Store};

pub use auth::Auth;

/// How long `/readyz` waits for a token before calling the credential not ready.
pub const TOKEN_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the handlers share.
pub struct ServerContext {
    pub store: Arc<Store>,
    pub hub: Arc<ControlHub>,
    pub credential: Arc<dyn TokenCredential>,
    pub clock: SharedClock,
    pub auth: Arc<Auth>,
}

/// All routes of the daemon's server.
pub fn router(context: Arc<ServerContext>) -> Router {
    let auth = context.auth.clone();
    let (context_store, auth_for_pages) = (context.store.clone(), auth.clone());
    let reads = with_read_auth(
        Router::new()
            .route("/metrics", get(get_metrics))
            .route("/api/v1/rollouts", get(list_rollouts))
            .route("/api/v1/rollouts/{*id}", get(get_rollout))
            .with_state(context.clone()),
        auth.clone(),
    );
    let control = Router::new()
        .route("/api/v1/rollouts/{*id}", post(post_control))
        .with_state(context.clone())
        .layer(from_fn_with_state(auth.clone(), auth::require_control));
    let alerts = Router::new()
        .route("/api/v1/alerts", post(post_alert))
        .with_state(context.clone())
        .layer(from_fn_with_state(auth, auth::require_alert));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(context)
        .merge(reads)
        .merge(with_read_auth(
            crate::ui::router(context_store),
            auth_for_pages,
        ))
        .merge(control)
        .merge(alerts)
}

/// Puts `router` (e.g. the status page) under the read auth of the API: the read or control
/// token as a bearer header, `?token=`, or the `canaryd_token` cookie.
pub fn with_read_auth(router: Router, auth: Arc<Auth>) -> Router {
    router.layer(from_fn_with_state(auth, auth::require_read))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The daemon with its server: opens the store and builds the credential (unless `options`
/// gives them), reads the server's tokens, serves on `listener` and runs the runner until
/// `shutdown`.
pub async fn run_daemon(
    config: DaemonConfig,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    mut options: RunnerOptions,
) -> anyhow::Result<()> {
    let address = listener
        .local_addr()
        .context("reading the listener's address")?;
    let auth = Auth::from_config(&config.server, address.ip().is_loopback())
        .context("reading the server's tokens")?;
    let store = match options.store.clone() {
        Some(store) => store,
        None => Arc::new(crate::runner::open_store(&config)?),
    };
    let credential = match options.credential.clone() {
        Some(credential) => credential,
        None => crate::azure::credential::build_credential(&config.azure.credential)
            .context("building the Azure credential")?,
    };
    let hub = options.hub.clone().unwrap_or_default();
    options.store = Some(store.clone());
    options.credential = Some(credential.clone());
    options.hub = Some(hub.clone());
    log_auth(&auth, address);
    let context = Arc::new(ServerContext {
        store,
        hub,
        credential,
        clock: clock.clone(),
        auth: Arc::new(auth),
    });
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(context), async move {
        let _ = server_stopped.await;
    }));
    let result = crate::runner::run_with(config, clock, shutdown, options).await;
    let _ = stop_server.send(());
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(error))) => tracing::warn!("the HTTP server stopped with an error: {error}"),
        Ok(_) => {}
        Err(_) => tracing::warn!("the HTTP server did not stop in time"),
    }
    result
}

fn log_auth(auth: &Auth, address: SocketAddr) {
    tracing::info!(
        %address,
        control_api = if auth.control.is_some() { "enabled" } else { "disabled (no control token)" },
        reads = match (&auth.read, auth.loopback) {
            (Some(_), _) => "read token",
            (None, true) => "open (loopback listener, no read token)",
            (None, false) => "control token only",
        },
        alert_webhook = if auth.alert.is_some() { "enabled" } else { "disabled (no alert token)" },
        "HTTP server listening"
    );
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!("HTTP request failed: {error}");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({ "error": error.to_string() }),
    )
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({ "status": "alive" }))
}

async fn readyz(State(context): State<Arc<ServerContext>>) -> Response {
    let store = match context.store.schema_version() {
        Ok(version) => json!({ "ok": true, "schema_version": version }),
        Err(error) => json!({ "ok": false, "error": error.to_string() }),
    };
    let probe = context
        .credential
        .get_token(&[crate::azure::ARM_SCOPE], None);
    let credential = match tokio::time::timeout(TOKEN_PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => json!({ "ok": true }),
        Ok(Err(error)) => {
            json!({ "ok": false, "error": format!("no token for Resource Manager: {error}") })
        }
        Err(_) => {
            json!({ "ok": false, "error": format!("no token for Resource Manager within {} s", TOKEN_PROBE_TIMEOUT.as_secs()) })
        }
    };
    let policies = context.hub.policies();
    let policies_ok = policies
        .as_ref()
        .is_some_and(|list| list.iter().all(|p| p.error.is_none()));
    let ready = store["ok"] == json!(true) && credential["ok"] == json!(true) && policies_ok;
    let body = json!({
        "ready": ready,
        "store": store,
        "credential": credential,
        "policies_scanned": policies.is_some(),
        "policies": policies.unwrap_or_default(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body)
}

async fn get_metrics(State(context): State<Arc<ServerContext>>) -> Response {
    match metrics::render(&context.store) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => internal(error),
    }
}

/// One row of `GET /api/v1/rollouts`.
#[derive(Debug, Serialize)]
pub struct RolloutSummary {
    pub id: String,
    pub policy: String,
    pub endpoint: String,
    pub baseline: String,
    pub canary: String,
    pub phase: String,
    pub active: bool,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub canary_percent: u32,
    pub expected_split: crate::model::Split,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    pub last_decision: Option<LastDecision>,
}

#[derive(Debug, Serialize)]
pub struct LastDecision {
    pub kind: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

fn summary(
    record: &RolloutRecord,
    state: &RolloutState,
    last: Option<&JournalEntry>,
) -> RolloutSummary {
    RolloutSummary {
        id: record.id.clone(),
        policy: record.policy_name.clone(),
        endpoint: state.endpoint.to_string(),
        baseline: state.baseline.clone(),
        canary: state.canary.clone(),
        phase: state.phase.label(),
        active: record.active,
        paused: state.paused.is_some(),
        paused_reason: state.paused.as_ref().map(|p| p.reason.clone()),
        canary_percent: state.expected_split.traffic_of(&state.canary),
        expected_split: state.expected_split.clone(),
        started_at: state.started_at,
        updated_at: record.updated_at,
        last_decision: last.map(|entry| {
            // The journal writes "kind: reason".
            let (kind, reason) = entry
                .decision
                .split_once(": ")
                .unwrap_or(("", entry.decision.as_str()));
            LastDecision {
                kind: kind.to_string(),
                reason: reason.to_string(),
                at: entry.at,
            }
        }),
    }
}

fn read_state(record: &RolloutRecord) -> Result<RolloutState, String> {
    serde_json::from_value(record.state.clone()).map_err(|error| {
        format!(
            "the stored state of rollout {} cannot be read: {error}",
            record.id
        )
    })
}

async fn list_rollouts(State(context): State<Arc<ServerContext>>) -> Response {
    let records = match context.store.rollouts(false) {
        Ok(records) => records,
        Err(error) => return internal(error),
    };
    let mut rows = Vec::with_capacity(records.len());
    // Newest first: what an operator looks for.
    for record in records.iter().rev() {
        let state = match read_state(record) {
            Ok(state) => state,
            Err(error) => return internal(error),
        };
        let last = match context.store.latest_journal(&record.id) {
            Ok(last) => last,
            Err(error) => return internal(error),
        };
        rows.push(summary(record, &state, last.as_ref()));
    }
    json_response(StatusCode::OK, json!({ "rollouts": rows }))
}

async fn get_rollout(
    State(context): State<Arc<ServerContext>>,
    Path(id): Path<String>,
) -> Response {
    let record = match context.store.rollout(&id) {
        Ok(Some(record)) => record,
        Ok(None) => {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("no rollout with id '{id}'; fix: list them with GET /api/v1/rollouts") }),
            );
        }
        Err(error) => return internal(error),
    };
    let state = match read_state(&record) {
        Ok(state) => state,
        Err(error) => return internal(error),
    };
    let journal = match context.store.journal(&id) {
        Ok(journal) => journal,
        Err(error) => return internal(error),
    };
    let row = summary(&record, &state, journal.last());
    json_response(
        StatusCode::OK,
        json!({ "rollout": row, "state": record.state, "journal": journal }),
    )
}

/// `POST /api/v1/rollouts/{id}/{pause|resume|promote|abort}` with `{"reason": "…"}`.
async fn post_control(
    State(context): State<Arc<ServerContext>>,
    Path(target): Path<String>,
    body: Bytes,
) -> Response {
    let Some((id, command)) = target.rsplit_once('/') else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({ "error": "POST /api/v1/rollouts/{id}/{pause|resume|promote|abort}" }),
        );
    };
    let reason = match control_reason(&body) {
        Ok(reason) => reason,
        Err(error) => {
            return json_response(StatusCode::BAD_REQUEST, json!({ "error": error }));
        }
    };
    let request = match command {
        "pause" => ControlRequest::Pause { reason },
        "resume" => ControlRequest::Resume { reason },
        "promote" => ControlRequest::Promote {
            by: format!("API ({reason})"),
        },
        "abort" => ControlRequest::Abort { reason },
        other => {
            return json_response(
                StatusCode::NOT_FOUND,
                json!({ "error": format!("unknown command '{other}'; use pause, resume, promote or abort") }),
            );
        }
    };
    let name = request.name();
    tracing::info!(rollout = %id, command = name, "manual command received");
    match context.hub.control(&context.store, id, request).await {
        Ok(outcome) => {
            tracing::info!(rollout = %id, command = name, decision = %outcome.decision, "{}", outcome.reason);
            json_response(StatusCode::OK, json!(outcome))
        }
        Err(error) => {
            let status = match &error {
                ControlError::NotFound(_) => StatusCode::NOT_FOUND,
                ControlError::Terminal { .. }
                | ControlError::NotDriven { .. }
                | ControlError::Refused { .. } => StatusCode::CONFLICT,
                ControlError::Pending(_) => StatusCode::ACCEPTED,
                ControlError::Store(_) | ControlError::Failed(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            };
            tracing::warn!(rollout = %id, command = name, "manual command not carried out: {error}");
            json_response(
                status,
                json!({ "error": error.to_string(), "rollout_id": id, "command": name }),
            )
        }
    }
}

/// The `reason` of a control body; an empty body or no `reason` gives a default.
fn control_reason(body: &[u8]) -> Result<String, String> {
    const DEFAULT: &str = "no reason given";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DEFAULT.into());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| format!("the body is not JSON ({error}); send {{\"reason\": \"…\"}}"))?;
    match value.get("reason") {
        None | Some(Value::Null) => Ok(DEFAULT.into()),
        Some(Value::String(reason)) if reason.trim().is_empty() => Ok(DEFAULT.into()),
        Some(Value::String(reason)) => Ok(reason.trim().to_string()),
        Some(_) => Err("`reason` must be a string".into()),
    }
}

/// `POST /api/v1/alerts`: an Azure Monitor alert (common alert schema).
async fn post_alert(State(context): State<Arc<ServerContext>>, body: Bytes) -> Response {
    let alert = match alerts::parse_alert(&body, context.clock.now()) {
        Ok(alert) => alert,
        Err(error) => {
            tracing::warn!("malformed alert refused: {error}");
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("malformed alert: {error}"), "field": error.field() }),
            );
        }
    };
    let recorded = match context.store.record_alert(&alert) {
        Ok(recorded) => recorded,
        Err(error) => return internal(error),
    };
    let condition = alert.condition.as_str();
    metrics::record_alert(condition, if recorded { "recorded" } else { "duplicate" });
    if !recorded {
        return json_response(
            StatusCode::OK,
            json!({
                "outcome": "duplicate",
                "alert_id": alert.alert_id,
                "condition": condition,
                "action": "none: this notification was already received",
            }),
        );
    }
    tracing::warn!(alert = %alert.alert_id, condition, "{}", alert.summary);
    let woken = match alert.condition {
        AlertCondition::Fired => context
            .hub
            .wake_for_alerts(|endpoint| alert.targets(endpoint)),
        AlertCondition::Resolved => Vec::new(),
    };
    let concerned: Vec<String> = match context.store.rollouts(true) {
        Ok(records) => records
            .iter()
            .filter_map(|record| read_state(record).ok())
            .filter(|state| alert.concerns(&state.endpoint, &state.canary))
            .map(|state| state.id)
            .collect(),
        Err(error) => return internal(error),
    };
    let action = match (alert.condition, concerned.is_empty()) {
        (AlertCondition::Fired, false) => {
            "rolling back the concerned rollouts; traffic increases frozen while the alert fires"
        }
        (AlertCondition::Fired, true) => {
            "recorded; no rollout in progress is concerned (new rollouts on the targeted endpoints wait until it resolves)"
        }
        (AlertCondition::Resolved, _) => "recorded; the freeze this alert caused is lifted",
    };
    json_response(
        StatusCode::OK,
        json!({
            "outcome": "recorded",
            "alert_id": alert.alert_id,
            "condition": condition,
            "summary": alert.summary,
            "rollouts": concerned,
            "endpoints_woken": woken.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "action": action,
        }),
    )
}
