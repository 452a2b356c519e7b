//! The emulator's own control API under `/_emulator/` (no authentication, JSON): load a
//! scenario, read the traffic history and the live state, inject and clear faults, read and
//! advance the simulated clock, expire tokens. Documented in `emulator/docs/routes.md`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::faults::Fault;
use crate::scenario::Scenario;
use crate::state::{EmulatorState, FaultError};

/// Routes relative to `/_emulator`.
pub fn router() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/scenario", post(load_scenario))
        .route("/traffic-history", get(traffic_history))
        .route("/faults", post(inject_fault).delete(clear_faults))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/state", get(world_state))
        .route("/tokens/expire", post(expire_tokens))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `POST /_emulator/scenario`: a YAML (or JSON, which is YAML) scenario replaces the world.
async fn load_scenario(State(state): State<Arc<EmulatorState>>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(StatusCode::BAD_REQUEST, "the scenario must be UTF-8 text");
    };
    let scenario = match Scenario::from_yaml_str(text) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Err(e) = scenario.load_into(&state) {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let endpoints: Vec<String> = state
        .world()
        .endpoints
        .values()
        .map(|e| e.name.clone())
        .collect();
    ok(json!({"loaded": true, "endpoints": endpoints, "now": rfc3339(state.now())}))
}

/// `GET /_emulator/traffic-history`: every applied split, oldest first.
async fn traffic_history(State(state): State<Arc<EmulatorState>>) -> Response {
    crate::arm::settle_operations(&state);
    let world = state.world();
    ok(json!({ "changes": world.history }))
}

/// `POST /_emulator/faults`: one `Fault` (JSON, tagged by `kind`).
async fn inject_fault(State(state): State<Arc<EmulatorState>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a fault: {e}")),
    };
    match state.inject_fault(&fault) {
        Ok(()) => ok(json!({"injected": fault})),
        Err(e @ (FaultError::UnknownEndpoint(_) | FaultError::UnknownDeployment { .. })) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
    }
}

/// `DELETE /_emulator/faults`: forgets every pending fault.
async fn clear_faults(State(state): State<Arc<EmulatorState>>) -> Response {
    state.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

fn clock_body(state: &EmulatorState) -> Value {
    json!({
        "now": rfc3339(state.now()),
        "manual": state.clock.is_manual(),
        "scale": state.clock.scale(),
    })
}

/// `GET /_emulator/clock`
async fn clock(State(state): State<Arc<EmulatorState>>) -> Response {
    ok(clock_body(&state))
}

/// `POST /_emulator/clock/advance` with `{"seconds": N}`: manual clocks only.
async fn advance_clock(State(state): State<Arc<EmulatorState>>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    let Some(seconds) = request
        .get("seconds")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"seconds\": N} with N a non-negative number",
        );
    };
    if !state.clock.advance(time::Duration::seconds_f64(seconds)) {
        return error(
            StatusCode::CONFLICT,
            "the clock is scaled (it follows the wall clock) and cannot be advanced",
        );
    }
    // Generating the skipped time is CPU work: keep it off the async workers. The generator
    // settles operations slot by slot, so rows switch split when the operation ended; the
    // final settle covers the tail of the advance that is shorter than one slot.
    let generating = state.clone();
    if let Err(e) =
        tokio::task::spawn_blocking(move || crate::generator::catch_up(&generating)).await
    {
        tracing::error!(error = %e, "traffic catch-up after a clock advance failed");
    }
    crate::arm::settle_operations(&state);
    ok(clock_body(&state))
}

/// `GET /_emulator/state`: endpoints with their split, provisioning state and deployments.
async fn world_state(State(state): State<Arc<EmulatorState>>) -> Response {
    crate::arm::settle_operations(&state);
    let world = state.world();
    let endpoints: Vec<Value> = world
        .endpoints
        .values()
        .map(|e| {
            let deployments: Vec<Value> = e
                .deployments
                .values()
                .map(|d| {
                    json!({
                        "name": d.name,
                        "provisioningState": d.provisioning_state.as_str(),
                        "capacity": d.capacity,
                    })
                })
                .collect();
            json!({
                "id": e.resource_id(),
                "name": e.name,
                "provisioningState": e.provisioning_state.as_str(),
                "traffic": e.traffic,
                "mirrorTraffic": e.mirror_traffic,
                "deployments": deployments,
            })
        })
        .collect();
    ok(json!({
        "now": rfc3339(state.now()),
        "endpoints": endpoints,
        "operationsInProgress": state.arm.in_progress(),
        "logRows": state.logs.len(),
    }))
}

/// `POST /_emulator/tokens/expire`: every issued token becomes expired.
async fn expire_tokens(State(state): State<Arc<EmulatorState>>) -> Response {
    let expired = state.tokens.expire_all();
    ok(json!({ "expired": expired }))
}
